"""Pictures stored by a run: trial artifacts + user attrs, round PNGs + study artifacts, study and
trial notes, `optgan report` — on a small synthetic search, on SQLite (and PostgreSQL when set)."""

from __future__ import annotations

import logging
import os
import pathlib
import re
import types
import uuid

import optuna
import pytest
import torch
from click.testing import CliRunner
from optuna.artifacts import get_all_artifact_meta
from optuna_dashboard import get_note

from optgan import keys
from optgan.config.study import load_study_config
from optgan.engines import Evaluation
from optgan.runner import run_search
from optgan.search_space import Genotype
from optgan.study import round_artifacts
from optgan.study.results import choose_best, pareto_trials
from optgan.study.round_artifacts import record_round, record_trial_artifacts
from optgan.study.create import create_search
from optgan.study.stage_pictures import stage_data
from optgan_cli.main import main

ROOT = pathlib.Path(__file__).resolve().parents[2]
SMALL = ["sampler.population_size=4", "gen_stage.rounds=2", "disc_stage.rounds=1", "caps.gen={}",
         "pictures.grid_images=9"]


def small_search(url: str, run_dir: pathlib.Path, extra: tuple[str, ...] = ()):  # noqa: ANN201
    cfg = load_study_config(str(ROOT / "studies" / "dry-run.yaml"), [*SMALL, *extra])
    return create_search(f"p{uuid.uuid4().hex[:8]}", cfg, url, str(run_dir))


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def finished(request, tmp_path_factory):  # noqa: ANN001, ANN201
    """A finished 2-round gen + 1-round disc synthetic search (pictures on)."""
    tmp = tmp_path_factory.mktemp(request.param)
    url = f"sqlite:///{tmp / 'optgan.db'}" if request.param == "sqlite" else os.environ.get("OPTGAN_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("PostgreSQL tests need OPTGAN_TEST_POSTGRES_URL (set by .ci/run)")
    search = small_search(url, tmp / "run")
    run_search(search, ["gen", "disc"])
    return search


def _note(study: optuna.Study, trial: optuna.trial.FrozenTrial | None = None) -> str:
    if trial is None:
        return get_note(study)
    return get_note(types.SimpleNamespace(study=study, storage=study._storage, _trial_id=trial._trial_id))


def test_every_trial_has_its_pictures_as_artifacts(finished) -> None:  # noqa: ANN001
    store = finished.run_dir / "artifacts"
    for stage in ("gen", "disc"):
        study = finished.study(stage)
        for t in study.get_trials():
            metas = {m.artifact_id: m for m in get_all_artifact_meta(t, storage=study._storage)}
            for key, prefix in ((keys.ARCH_PICTURE_ARTIFACT, "arch-trial-"), (keys.SAMPLE_GRID_ARTIFACT, "samples-trial-")):
                aid = t.user_attrs[key]
                assert metas[aid].filename == f"{prefix}{t.number:04d}.png" and metas[aid].mimetype == "image/png"
                assert 1_000 < (store / aid).stat().st_size < 300_000
        assert len(list((finished.run_dir / stage / "pictures" / "arch").glob("*.png"))) >= 1


def test_round_pictures_files_study_artifacts_and_front(finished) -> None:  # noqa: ANN001
    for stage, rounds in (("gen", 2), ("disc", 1)):
        study = finished.study(stage)
        folder = finished.run_dir / stage / "pictures"
        names = {f"pareto-round-{r:03d}.png" for r in range(1, rounds + 1)}
        names |= {f"learning-curves-round-{r:03d}.png" for r in range(1, rounds + 1)}
        assert names <= {p.name for p in folder.iterdir()}
        assert names == {m.filename for m in get_all_artifact_meta(study)}
        # the highlighted points of the last round's picture are the study's Pareto set
        data = stage_data(study)
        assert data.front_numbers(rounds - 1) == {t.number for t in pareto_trials(study)}


def test_study_note_summarises_setup_progress_and_choice(finished) -> None:  # noqa: ANN001
    gen = finished.study("gen")
    note = _note(gen)
    best = choose_best(gen, list(finished.config.objectives))
    assert f"Search `{finished.name}` — stage `gen`" in note and "**2/2 rounds** (finished)" in note
    for needle in ("IS_synthetic ↑, FID_synthetic ↓, params_M ↓", "4 per round, selection `nsga2`", f"`{finished.name}:disc`",
                   "| 2 | 4 | 0 |", "### Chosen architecture (G*)", f"Trial **{best.number}**",
                   best.user_attrs[keys.GENOTYPE], "lowest FID_synthetic on the last round's Pareto front"):
        assert needle in note, needle
    study_artifacts = {m.artifact_id for m in get_all_artifact_meta(gen)}
    assert f"/artifacts/{gen._study_id}/{best._trial_id}/{best.user_attrs[keys.ARCH_PICTURE_ARTIFACT]}" in note
    assert sum(f"/artifacts/{gen._study_id}/{a})" in note for a in study_artifacts) == 2  # latest Pareto + curves
    disc_note = _note(finished.study("disc"))
    assert "### Chosen architecture (D*)" in disc_note and "| G* | trial " in disc_note


def test_trial_notes_show_named_scores_lineage_and_pictures(finished) -> None:  # noqa: ANN001
    study = finished.study("gen")
    front = {t.number for t in pareto_trials(study)}
    for t in study.get_trials():
        note = _note(study, t)
        rnd = t.user_attrs[keys.GENERATION] + 1
        assert f"### Trial {t.number} · round {rnd} · {t.user_attrs[keys.ROLE]}" in note
        assert "| IS_synthetic ↑ | FID_synthetic ↓ | params_M ↓ |" in note  # a dry run's scores, labelled
        assert f"![sample grid](/artifacts/{study._study_id}/{t._trial_id}/{t.user_attrs[keys.SAMPLE_GRID_ARTIFACT]})" in note
        if rnd == 2:
            assert ("**on the Pareto front of round 2**" in note) == (t.number in front)


def test_report_writes_pictures_and_html(finished, tmp_path) -> None:  # noqa: ANN001
    out = tmp_path / "report"
    r = CliRunner().invoke(main, ["report", finished.name, "-o", str(out), "--storage", finished.storage_url],
                           catch_exceptions=False)
    assert r.exit_code == 0, r.output
    page = (out / "index.html").read_text()
    assert "Pareto front of round 2" in page and "Stage <code>disc</code>" in page
    gen = finished.study("gen")
    best = choose_best(gen, list(finished.config.objectives))
    assert f"<td>{best.number} ★</td>" in page
    for src in re.findall(r"src='([^']+)'", page):
        assert (out / src).is_file(), src
    assert (out / "gen" / f"samples-trial-{best.number:04d}.png").is_file()


def test_report_updates_its_own_search_only(finished, tmp_path) -> None:  # noqa: ANN001
    """An update redraws the stages (no picture of an earlier front stays); another search's
    report folder is refused (its pictures would mix with these)."""
    out = tmp_path / "report"

    def report(name: str):  # noqa: ANN202
        return CliRunner().invoke(main, ["report", name, "-o", str(out), "--storage", finished.storage_url])

    assert report(finished.name).exit_code == 0
    first = sorted(p.relative_to(out) for p in out.rglob("*"))
    (out / "gen" / "samples-trial-9999.png").write_bytes(b"an earlier front's picture")
    assert report(finished.name).exit_code == 0
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == first
    page = (out / "index.html").read_text()
    (out / "index.html").write_text(page.replace(f"optgan report: {finished.name}<", "optgan report: o&amp;ther<"))
    r = report(finished.name)
    assert r.exit_code == 2 and r.stderr.count("\n") == 1, r.output
    assert f"holds the report of search 'o&ther', not {finished.name!r}" in r.stderr


def test_running_trials_only_and_switches(tmp_path, caplog) -> None:  # noqa: ANN001
    """Artifacts go to RUNNING trials; config switches turn pictures off; told trials are refused
    with a warning, never an exception (a picture must not stop a search)."""
    url = f"sqlite:///{tmp_path / 'o.db'}"
    search = small_search(url, tmp_path / "run", ("pictures.architecture=false",))
    study = search.study("gen")
    trial = study.ask()
    g = Genotype.from_array("gen", [[1, 1, 1, 0, 2, 3, 1], [1, 1, 0, 1, 3, 0, 5], [0, 1, 0, 3, 0, 0, 3]])
    frozen = study._storage.get_trial(trial._trial_id)
    assert record_trial_artifacts(search, study, frozen, g, Evaluation({"IS": 1.0})) == {}  # no samples, no arch
    ev = Evaluation({"IS": 1.0}, samples=torch.zeros(4, 3, 8, 8, dtype=torch.uint8))
    ids = record_trial_artifacts(search, study, frozen, g, ev)
    assert set(ids) == {keys.SAMPLE_GRID_ARTIFACT}
    study.tell(trial, [1.0, 2.0, 3.0])
    with caplog.at_level(logging.WARNING, logger="optgan.study.round_artifacts"):
        assert record_trial_artifacts(search, study, study._storage.get_trial(trial._trial_id), g, ev) == {}
    assert "could not store its pictures" in caplog.text


def test_round_picture_failure_is_a_warning(tmp_path, caplog, monkeypatch) -> None:  # noqa: ANN001
    search = small_search(f"sqlite:///{tmp_path / 'o.db'}", tmp_path / "run")

    def boom(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise RuntimeError("no fonts")

    monkeypatch.setattr(round_artifacts, "stage_data", boom)
    with caplog.at_level(logging.WARNING, logger="optgan.study.round_artifacts"):
        assert record_round(search, "gen", search.study("gen"), 0) == {}
    assert "could not store the round pictures" in caplog.text


def test_a_lost_lease_stops_the_pictures_and_the_run(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    # pictures never stop a search, but a lost lease (or a database gone) must: no more writes
    import pytest

    from optgan.study.lease import LeaseLostError

    search = small_search(f"sqlite:///{tmp_path / 'o.db'}", tmp_path / "run")

    def lost(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise LeaseLostError("search 'x': this run lost its lease")

    monkeypatch.setattr(round_artifacts, "stage_data", lost)
    with pytest.raises(LeaseLostError):
        record_round(search, "gen", search.study("gen"), 0)
    study = search.study("gen")
    trial = study.ask()
    monkeypatch.setattr(study._storage, "set_trial_system_attr", lost)  # the picture's record
    g = Genotype.from_array("gen", [[1, 1, 1, 0, 2, 3, 1], [1, 1, 0, 1, 3, 0, 5], [0, 1, 0, 3, 0, 0, 3]])
    ev = Evaluation({"IS": 1.0}, samples=torch.zeros(4, 3, 8, 8, dtype=torch.uint8))
    with pytest.raises(LeaseLostError):
        record_trial_artifacts(search, study, study._storage.get_trial(trial._trial_id), g, ev)


def test_rerecording_a_round_reuses_its_uploaded_pictures(tmp_path: pathlib.Path) -> None:
    """An interrupted round is re-run after its pictures were uploaded: nothing is listed twice."""
    search = small_search(f"sqlite:///{tmp_path / 'optgan.db'}", tmp_path / "run")
    run_search(search, ["gen"], max_rounds=1)
    study = search.study("gen")
    before = sorted((m.filename, m.artifact_id) for m in get_all_artifact_meta(study, storage=study._storage))
    note = _note(study)
    assert len(before) == 2
    record_round(search, "gen", study, 0)  # what the re-run of round 1 does after its (skipped) tells
    after = sorted((m.filename, m.artifact_id) for m in get_all_artifact_meta(study, storage=study._storage))
    assert after == before and _note(study) == note


def test_choice_rule_names_the_metric_as_labelled() -> None:
    from optgan.study.round_artifacts import choice_rule

    objectives, directions = ["IS", "FID", "params_M"], ["maximize", "minimize", "minimize"]
    assert choice_rule(objectives, directions) == "lowest FID on the last round's Pareto front"
    labels = ["IS_classifier", "FID_classifier", "params_M"]
    assert choice_rule(objectives, directions, labels) == "lowest FID_classifier on the last round's Pareto front"
    assert choice_rule(["IS", "params_M"], ["maximize", "minimize"], ["IS_classifier", "params_M"]) == \
        "highest IS_classifier on the last round's Pareto front"


def test_report_and_dashboard_read_a_moved_run_directory(tmp_path: pathlib.Path, caplog, monkeypatch) -> None:  # noqa: ANN001
    """A run directory seen elsewhere than its stored path (another mount, a copy): `report
    --run-dir` and `dashboard --run-dir` read its pictures; a folder of another search is refused."""
    from optgan.study.artifacts import RunDirsArtifactStore, check_run_dirs

    url = f"sqlite:///{tmp_path / 'optgan.db'}"
    search = small_search(url, tmp_path / "run", ("gen_stage.rounds=1",))
    run_search(search, ["gen"])
    other = small_search(url, tmp_path / "run-other")
    (tmp_path / "run").rename(tmp_path / "mnt")

    def report(*extra: str) -> object:
        return CliRunner().invoke(main, ["report", search.name, "-o", str(tmp_path / "out"), "--storage", url, *extra],
                                  catch_exceptions=False)

    trial = search.study("gen").best_trials[0]
    grid = tmp_path / "out" / "gen" / f"samples-trial-{trial.number:04d}.png"
    with caplog.at_level(logging.WARNING):
        r = report()
        assert r.exit_code == 0
    assert not grid.exists() and "sample grid" not in caplog.text  # said once for the folder, not per trial
    assert "is not here; its pictures are left out (pass --run-dir DIR" in r.stderr
    r = report("--run-dir", str(tmp_path / "mnt"))
    assert r.exit_code == 0, r.output
    assert grid.is_file() and f"run directory <code>{tmp_path / 'mnt'}</code>" in (tmp_path / "out" / "index.html").read_text()
    from optgan import keys

    lost = tmp_path / "mnt" / "artifacts" / trial.user_attrs[keys.SAMPLE_GRID_ARTIFACT]
    lost.rename(tmp_path / "kept.png")  # one file lost in a folder that is there: said per trial
    with caplog.at_level(logging.WARNING):
        assert report("--run-dir", str(tmp_path / "mnt")).exit_code == 0
    assert f"trial {trial.number}: sample grid " in caplog.text
    (tmp_path / "kept.png").rename(lost)
    (tmp_path / "mnt" / "artifacts").rename(tmp_path / "kept")  # no pictures folder at all: said once
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert report("--run-dir", str(tmp_path / "mnt")).exit_code == 0
    assert "holds no artifacts folder: the report has no sample grids" in caplog.text
    assert "sample grid " not in caplog.text
    (tmp_path / "kept").rename(tmp_path / "mnt" / "artifacts")
    (tmp_path / "odd").mkdir()
    (tmp_path / "odd" / "search.json").write_text("[]")
    for wrong, needle in ((tmp_path / "run-other", f"belongs to search {other.name!r}"),
                          (tmp_path, "is not a run directory of an optgan search"),
                          (tmp_path / "odd", "search.json is not a search record")):
        r = report("--run-dir", str(wrong))
        assert r.exit_code == 2 and needle in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr

    artifact_id = trial.user_attrs[keys.SAMPLE_GRID_ARTIFACT]
    plain = RunDirsArtifactStore(search.storage, tmp_path / "uploads")
    with pytest.raises(optuna.artifacts.exceptions.ArtifactNotFound):
        plain.open_reader(artifact_id)
    moved = RunDirsArtifactStore(search.storage, tmp_path / "uploads", extra_run_dirs=check_run_dirs([tmp_path / "mnt"]))
    with moved.open_reader(artifact_id) as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    r = CliRunner().invoke(main, ["dashboard", "--run-dir", str(tmp_path), "--storage", url], catch_exceptions=False)
    assert r.exit_code == 2 and "is not a run directory of an optgan search" in r.stderr, r.stderr
    served = {}  # the command hands the extra folder to the server's artifact store

    def fake_serve(server: object, storage: object, artifact_store: object) -> None:
        served.update(port=server.server_port, artifact_store=artifact_store)  # type: ignore[attr-defined]

    from optgan_cli import dashboard_cmd

    monkeypatch.setattr(dashboard_cmd, "_serve", fake_serve)
    r = CliRunner().invoke(main, ["dashboard", "--port", "0", "--run-dir", str(tmp_path / "mnt"), "--storage", url],
                           catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert served["port"] > 0 and f"at http://127.0.0.1:{served['port']}/" in r.stderr  # --port 0: the port served
    with served["artifact_store"].open_reader(artifact_id) as f:
        assert f.read(4) == b"\x89PNG"
    import bottle  # a picture whose file is nowhere here: a 404 for the browser, not a server error

    with pytest.raises(bottle.HTTPError) as e:
        served["artifact_store"].open_reader("00000000-0000-0000-0000-000000000000")
    assert e.value.status_code == 404


def test_a_rescored_trial_replaces_its_pictures_in_place(tmp_path: pathlib.Path) -> None:
    """A trial cut off between its picture uploads and its tell is scored again by the re-run: its
    new pictures replace the old ones under the same ids (nothing listed twice or left unreferenced),
    stored exactly as `upload_artifact` stores them; a trial finished elsewhere keeps its files."""
    search = small_search(f"sqlite:///{tmp_path / 'optgan.db'}", tmp_path / "run")
    study = search.study("gen")
    trial = study._storage.get_trial(study.ask()._trial_id)  # as the round saw it: before any upload
    g = Genotype.from_array("gen", [[1, 1, 1, 0, 2, 3, 1], [1, 1, 0, 1, 3, 0, 5], [0, 1, 0, 3, 0, 0, 3]])
    store = search.run_dir / "artifacts"

    def score(value: int) -> dict[str, str]:
        samples = torch.full((9, 3, 8, 8), value, dtype=torch.uint8)
        return record_trial_artifacts(search, study, trial, g, Evaluation({"IS": 1.0}, samples=samples))

    # cut off between its two uploads (the arch picture's record and file stored, no user attrs yet)
    from optgan import atomic

    writes = []

    def stop_at_the_second(path, write, **kw):  # noqa: ANN001, ANN003, ANN202
        writes.append(path)
        if len(writes) == 2:
            raise KeyboardInterrupt
        return atomic.write_atomically(path, write, **kw)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(round_artifacts, "write_atomically", stop_at_the_second)
        with pytest.raises(KeyboardInterrupt):
            score(0)
    assert len(get_all_artifact_meta(study._storage.get_trial(trial._trial_id), storage=study._storage)) == 2
    assert keys.ARCH_PICTURE_ARTIFACT not in study._storage.get_trial(trial._trial_id).user_attrs
    first = score(0)
    metas_first = study._storage.get_trial(trial._trial_id).system_attrs
    grid_first = (store / first[keys.SAMPLE_GRID_ARTIFACT]).read_bytes()
    second = score(255)  # the re-run: other images (e.g. a different device), same trial
    assert second == first and len(first) == 2
    stored = study._storage.get_trial(trial._trial_id)
    assert stored.system_attrs == metas_first  # the records as upload_artifact wrote them
    assert {stored.user_attrs[k] for k in first} == set(first.values())
    assert sorted(m.artifact_id for m in get_all_artifact_meta(stored, storage=study._storage)) == sorted(first.values())
    grid = (store / first[keys.SAMPLE_GRID_ARTIFACT]).read_bytes()
    assert grid != grid_first and sorted(p.name for p in store.iterdir()) == sorted(first.values())

    # the ids are fixed per search, trial and picture: another trial (or search) gets others
    other = study._storage.get_trial(study.ask()._trial_id)
    assert round_artifacts.trial_artifact_id(search, other, keys.SAMPLE_GRID_ARTIFACT) not in first.values()
    twin = small_search(f"sqlite:///{tmp_path / 'optgan.db'}", tmp_path / "run-twin")
    assert round_artifacts.trial_artifact_id(twin, trial, keys.SAMPLE_GRID_ARTIFACT) not in first.values()

    # a replacement that fails mid-write (a full disk) keeps the old picture whole, no partial file left
    import errno

    def disk_full(path, write, **kw):  # noqa: ANN001, ANN003, ANN202
        def half(f):  # noqa: ANN001, ANN202
            f.write(b"\x89PNG half")
            raise OSError(errno.ENOSPC, "No space left on device")
        return atomic.write_atomically(path, half, **kw)

    before = {p.name: p.read_bytes() for p in store.iterdir()}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(round_artifacts, "write_atomically", disk_full)
        assert score(42) == {}
    assert {p.name: p.read_bytes() for p in store.iterdir()} == before

    study.tell(trial.number, state=optuna.trial.TrialState.FAIL)  # finished elsewhere: refused, files kept
    before = {p.name: p.read_bytes() for p in store.iterdir()}
    assert score(99) == {}
    assert {p.name: p.read_bytes() for p in store.iterdir()} == before
