"""Rules of `optgan study create`, of what each round records and of the real engine that the other
tests leave open (found by mutation testing, round 16): `check_new_search` (the `--dry-run` checks)
refusing a bad name and a search of which only the disc stage study exists; `create_search`
refusing a bad name before anything is stored, storing the config's paths absolute, judging the run
directory before a new SQLite file is made, and keeping each objective's own direction; a trial's
sample grid capped at `pictures.grid_images`;
the real engine warming up once and saving it, restoring rounds, `warmup_done` and the trainer,
refusing another stage's checkpoint, recording its inputs when it evaluates, never picking a failed
candidate as the round's best (and the highest IS), and choosing where G* starts from.

Each test states the rule it checks; all are deterministic, CPU only and take at most a few
seconds (tmp_path storage, the synthetic `studies/dry-run.yaml` search, hand-built engines).
"""

from __future__ import annotations

import json
import math
import pathlib
import types
from typing import Any

import optuna
import pytest
import torch

from optgan import keys
from optgan.config.search import GenStageConfig
from optgan.config.study import StudyConfig, load_study_config
from optgan.engines import real
from optgan.engines.base import Evaluation
from optgan.engines.real import CHECKPOINT_NAME, G_STAR_START_NAME, RealEngine, best_index
from optgan.errors import CheckpointError, StorageError
from optgan.search_space import Genotype
from optgan.study import round_artifacts
from optgan.trainer.checkpoint import atomic_torch_save
from optgan.trainer.search_training import RoundStats
from optgan.study.create import check_new_search, create_search
from optgan.study.round_artifacts import record_trial_artifacts
from optgan.study.search import stage_study_name

optuna.logging.set_verbosity(optuna.logging.WARNING)

ROOT = pathlib.Path(__file__).resolve().parents[2]
SMALL = ["sampler.population_size=4", "gen_stage.rounds=2", "disc_stage.rounds=1", "caps.gen={}",
         "pictures.sample_grid=false", "pictures.architecture=false", "pictures.rounds=false"]


def _config(*overrides: str) -> StudyConfig:
    return load_study_config(str(ROOT / "studies" / "dry-run.yaml"), [*SMALL, *overrides])


def _url(tmp_path: pathlib.Path) -> str:
    return f"sqlite:///{tmp_path / 'optgan.db'}"


# ---------------------------------------------------------------------- study create (create.py)


def test_a_dry_run_refuses_a_bad_search_name(tmp_path: pathlib.Path) -> None:
    """`study create --dry-run` refuses a name the create would refuse (a path), storing nothing."""
    with pytest.raises(StorageError, match="search name '../evil' must be 1-100 letters"):
        check_new_search("../evil", _config(), _url(tmp_path))
    assert not (tmp_path / "optgan.db").exists()


def test_a_dry_run_refuses_a_name_whose_disc_study_alone_exists(tmp_path: pathlib.Path) -> None:
    """A search name is taken when either stage study exists, stage disc's alone included."""
    url = _url(tmp_path)
    optuna.create_study(study_name=stage_study_name("s", "disc"), storage=url)
    with pytest.raises(StorageError, match="a search named 's' already exists"):
        check_new_search("s", _config(), url)


def test_create_refuses_a_bad_name_before_storing_anything(tmp_path: pathlib.Path) -> None:
    """`create_search` itself refuses a name that is not a folder name: no database, no folder."""
    with pytest.raises(StorageError, match="search name 'a/b' must be 1-100 letters"):
        create_search("a/b", _config(), _url(tmp_path), str(tmp_path / "run"))
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_the_stored_config_has_absolute_paths(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Relative paths of the config are stored absolute (from the folder of the create), so a run
    started elsewhere finds the same files."""
    monkeypatch.chdir(tmp_path)
    search = create_search("s", _config("metrics.cache_dir=cache"), _url(tmp_path), str(tmp_path / "run"))
    stored = json.loads(search.study("gen").user_attrs[keys.CONFIG])
    assert stored["metrics"]["cache_dir"] == str(tmp_path / "cache")


def test_a_bad_run_directory_leaves_no_new_sqlite_file(tmp_path: pathlib.Path) -> None:
    """A run directory that cannot be used (a file) is refused before a new SQLite file is made."""
    (tmp_path / "run").write_text("a file")
    with pytest.raises(StorageError, match="is a file"):
        create_search("s", _config(), _url(tmp_path), str(tmp_path / "run"))
    assert not (tmp_path / "optgan.db").exists()


def test_each_objective_keeps_its_own_direction(tmp_path: pathlib.Path) -> None:
    """Both stage studies store the config's direction of every objective, in order (IS maximised,
    FID and params_M minimised), not the first objective's for all."""
    search = create_search("s", _config(), _url(tmp_path), str(tmp_path / "run"))
    maximize, minimize = optuna.study.StudyDirection.MAXIMIZE, optuna.study.StudyDirection.MINIMIZE
    for stage in ("gen", "disc"):
        assert search.study(stage).directions == [maximize, minimize, minimize]


# ---------------------------------------------------------------------- the real engine (engines/real.py)

G_STAR = Genotype.from_array("gen", [[1, 1, 1, 0, 2, 3, 1], [1, 1, 0, 1, 3, 0, 5], [0, 1, 0, 3, 0, 0, 3]])
OTHER_G = Genotype.from_array("gen", [[0, 1, 1, 0, 2, 3, 1], [1, 1, 0, 1, 3, 0, 5], [0, 1, 0, 3, 0, 0, 3]])


class _Trainer:
    """What the engine's round steps and checkpoints use of a trainer (no networks)."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.state: dict[str, torch.Tensor] = {"w": torch.arange(3.0)}

    def warmup(self, epochs: int) -> RoundStats:
        self.calls.append(("warmup", epochs))
        return RoundStats(4, 1.0, -1.0, 0)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.state

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.calls.append(("load", state))


def _engine(tmp_path: pathlib.Path, stage: str, config: StudyConfig | None = None) -> RealEngine:
    """A RealEngine of `stage` without data, networks or metrics, its stage folder `tmp_path`."""
    engine = object.__new__(RealEngine)
    engine.search = types.SimpleNamespace(config=config or StudyConfig(), name="s")
    engine.stage, engine.rounds_done, engine.restored, engine.warmup_done = stage, 0, False, False
    engine.stage_dir, engine.checkpoint_path = tmp_path, tmp_path / CHECKPOINT_NAME
    engine._unrecorded_inputs = {}
    engine.trainer = _Trainer()
    return engine


def test_warm_up_runs_once_and_is_checkpointed(tmp_path: pathlib.Path) -> None:
    """Stage gen warms up once: the warm-up is saved at once (a crash after it does not repeat it),
    and a resumed engine that restored `warmup_done` skips it."""
    config = StudyConfig(gen_stage=GenStageConfig(warmup_epochs=2))
    engine = _engine(tmp_path, "gen", config)
    engine.prepare()
    engine.prepare()
    assert engine.trainer.calls == [("warmup", 2)]
    resumed = _engine(tmp_path, "gen", config)
    resumed._restore()
    resumed.prepare()
    assert resumed.warmup_done and resumed.trainer.calls[0][0] == "load" and len(resumed.trainer.calls) == 1


def test_a_checkpoint_restores_rounds_warm_up_and_trainer(tmp_path: pathlib.Path) -> None:
    """A restore brings back the rounds done, `warmup_done` as saved (False too), the trainer's state,
    and marks the engine restored."""
    engine = _engine(tmp_path, "gen")
    engine.save(3)
    resumed = _engine(tmp_path, "gen")
    resumed.warmup_done = True
    resumed._restore()
    assert (resumed.rounds_done, resumed.warmup_done, resumed.restored) == (3, False, True)
    ((what, state),) = resumed.trainer.calls
    assert what == "load" and torch.equal(state["w"], torch.arange(3.0))


def test_another_stages_checkpoint_is_refused(tmp_path: pathlib.Path) -> None:
    """Stage disc refuses a stage-gen checkpoint found in its folder (a copied file), loading nothing."""
    _engine(tmp_path, "gen").save(2)
    engine = _engine(tmp_path, "disc")
    with pytest.raises(CheckpointError, match="is not a stage-disc checkpoint of this optgan version"):
        engine._restore()
    assert engine.trainer.calls == [] and engine.rounds_done == 0


def test_evaluate_records_the_runs_inputs_before_the_scores(tmp_path: pathlib.Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """The data and extractor a run found are recorded when it evaluates (before the tells), once."""
    recorded: list[dict[str, Any]] = []
    monkeypatch.setattr(real, "record_inputs", lambda search, pending: recorded.append(dict(pending)))
    engine = _engine(tmp_path, "gen")
    engine._unrecorded_inputs = {"data": "digits"}
    engine.trainer.candidates = lambda population: list(population)
    engine.evaluator = types.SimpleNamespace(evaluate=lambda c, round_index, stage: [Evaluation({"FID": 1.0})] * len(c))
    assert len(engine.evaluate(["a", "b"])) == 2
    assert recorded == [{"data": "digits"}] and engine._unrecorded_inputs == {}


def test_best_index_skips_failed_candidates_and_maximises_is() -> None:
    """A failed candidate is never the round's best, whatever its values; IS alone: the highest."""
    assert best_index([Evaluation({"FID": 1.0}, reason="out of memory"), Evaluation({"FID": 5.0})], ["FID"]) == 1
    assert best_index([Evaluation({"IS": 1.0}), Evaluation({"IS": 9.0}), Evaluation({"IS": math.nan})], ["IS"]) == 1
    assert best_index([Evaluation({"FID": 3.0}), Evaluation({"FID": 2.0}), Evaluation({"FID": 7.0})], ["FID"]) == 1


def _g_star_engine(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, rounds_done: list[int]) -> RealEngine:
    """A stage-disc engine whose stage gen supernet is `{"w": "now"}` and whose disc study has
    completed `rounds_done`."""
    from optgan.study import results

    engine = _engine(tmp_path, "disc")
    engine.search.study = lambda stage: None
    monkeypatch.setattr(results, "completed_rounds", lambda study, population_size: rounds_done)
    monkeypatch.setattr(engine, "_gen_supernet_state", lambda: {"w": "now"})
    return engine


def _snapshot(tmp_path: pathlib.Path, genotype: Genotype) -> None:
    atomic_torch_save({"format": 1, "gen_star": genotype.to_json_dict(), "g_star": {"w": torch.ones(2)}},
                      str(tmp_path / G_STAR_START_NAME))


def test_g_star_starts_from_its_snapshot_or_gen_now(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Stage disc's G* weights: none with a checkpoint (it holds them); the start snapshot when it is
    of this G*; else stage gen's supernet now, snapshotted only when the stage has no round yet."""
    engine = _g_star_engine(tmp_path, monkeypatch, [])
    assert engine._g_star_weights(G_STAR) == ({"w": "now"}, True)  # a new stage: snapshot it
    _snapshot(tmp_path, G_STAR)
    state, due = engine._g_star_weights(G_STAR)
    assert torch.equal(state["w"], torch.ones(2)) and due is False
    assert engine._g_star_weights(OTHER_G) == ({"w": "now"}, True)  # a snapshot of another G* is not used
    engine.checkpoint_path.write_bytes(b"")
    assert engine._g_star_weights(G_STAR) == (None, False)


def test_a_begun_stage_without_snapshot_takes_no_new_one(tmp_path: pathlib.Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A disc stage with rounds done but no snapshot (an older optgan) starts G* from stage gen's
    supernet now without recording it as the start (it is not)."""
    engine = _g_star_engine(tmp_path, monkeypatch, [0])
    assert engine._g_star_weights(G_STAR) == ({"w": "now"}, False)


# ---------------------------------------------------------------------- what a round records (round_artifacts.py)


def test_a_sample_grid_shows_at_most_grid_images(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A trial's sample grid holds `pictures.grid_images` of the images the engine returned, no more."""
    search = create_search("s", _config("pictures.sample_grid=true", "pictures.grid_images=4"), _url(tmp_path),
                           str(tmp_path / "run"))
    drawn: list[int] = []
    real_grid = round_artifacts.save_sample_grid
    monkeypatch.setattr(round_artifacts, "save_sample_grid",
                        lambda images, path: (drawn.append(len(images)), real_grid(images, path))[1])
    study = search.study("gen")
    trial = study._storage.get_trial(study.ask()._trial_id)
    samples = torch.zeros(10, 3, 8, 8, dtype=torch.uint8)
    ids = record_trial_artifacts(search, study, trial, G_STAR, Evaluation({"IS": 1.0}, samples=samples))
    assert set(ids) == {keys.SAMPLE_GRID_ARTIFACT} and drawn == [4]

