"""Mutation round 21: the dry-run engine, the engine helpers and the runner's round loop."""

from __future__ import annotations

import json
import logging
import pathlib
import uuid

import numpy as np
import optuna
import pytest

from optgan import keys, runner
from optgan.config.study import load_study_config
from optgan.engines.base import Evaluation, stage_net, stage_rounds
from optgan.engines.synthetic import SyntheticEngine
from optgan.errors import CheckpointError
from optgan.search_space.random import random_genotype
from optgan.study.create import create_search

ROOT = pathlib.Path(__file__).resolve().parents[2]
SMALL = ["sampler.population_size=4", "gen_stage.rounds=3", "disc_stage.rounds=2", "caps.gen={}",
         "pictures.sample_grid=false", "pictures.architecture=false", "pictures.rounds=false"]


def _search(tmp_path: pathlib.Path, *extra: str):  # noqa: ANN202
    tmp_path.mkdir(parents=True, exist_ok=True)
    cfg = load_study_config(str(ROOT / "studies" / "dry-run.yaml"), [*SMALL, *extra])
    return create_search(f"m{uuid.uuid4().hex[:8]}", cfg, f"sqlite:///{tmp_path / 'optgan.db'}",
                         str(tmp_path / "run"))


@pytest.mark.parametrize("bad", [-1, True])
def test_a_dry_run_state_with_a_bad_round_count_is_refused(tmp_path: pathlib.Path, bad: object) -> None:
    """`rounds_done` must be a non-negative int: -1 and a JSON boolean are refused, not restored."""
    search = _search(tmp_path)
    SyntheticEngine(search, "gen").save(0)
    (search.stage_dir("gen") / "synthetic.json").write_text(json.dumps({"rounds_done": bad}))
    with pytest.raises(CheckpointError, match="not a dry-run state"):
        SyntheticEngine(search, "gen")


def test_a_saved_dry_run_state_is_restored(tmp_path: pathlib.Path) -> None:
    """A saved engine holds the rounds it was given; a new one reads them back and is marked restored."""
    search = _search(tmp_path)
    fresh = SyntheticEngine(search, "gen")
    assert (fresh.rounds_done, fresh.restored) == (0, False)
    fresh.save(2)
    assert fresh.rounds_done == 2
    again = SyntheticEngine(search, "gen")
    assert (again.rounds_done, again.restored, again.rounds_total) == (2, True, 3)


def test_a_dry_run_removes_a_partial_write_of_its_state(tmp_path: pathlib.Path) -> None:
    """A temporary file left by a crash mid-write of `synthetic.json` is deleted when the engine starts."""
    search = _search(tmp_path)
    stage_dir = search.stage_dir("gen")
    stage_dir.mkdir(parents=True, exist_ok=True)
    stale = stage_dir / ".tmp-abc-synthetic.json"
    stale.write_text("{")
    SyntheticEngine(search, "gen")
    assert not stale.exists()


def test_a_dry_run_without_sample_grid_draws_no_samples(tmp_path: pathlib.Path) -> None:
    """`pictures.sample_grid=false`: evaluations carry no samples; with it, `grid_images` of them."""
    g = random_genotype("gen", np.random.default_rng(1))
    assert SyntheticEngine(_search(tmp_path), "gen").evaluate([g])[0].samples is None
    with_grid = SyntheticEngine(_search(tmp_path / "b", "pictures.sample_grid=true", "pictures.grid_images=3"), "gen")
    samples = with_grid.evaluate([g])[0].samples
    assert samples is not None and tuple(samples.shape[:2]) == (3, 3)


def _recording_engines(monkeypatch: pytest.MonkeyPatch, calls: list[str], evaluate=None):  # noqa: ANN001, ANN202
    make = runner.make_engine

    def recording(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        engine = make(*args, **kwargs)
        for name in ("prepare", "save"):
            method = getattr(engine, name)
            setattr(engine, name, lambda *a, _m=method, _n=name, **k: (calls.append(_n), _m(*a, **k))[1])
        if evaluate is not None:
            engine.evaluate = evaluate
        return engine

    monkeypatch.setattr(runner, "make_engine", recording)


def test_stage_result_is_finished_at_its_last_round() -> None:
    """A stage whose rounds done equal its total is finished; one short of it is not."""
    assert runner.StageResult("gen", 0, 2, 2).finished
    assert not runner.StageResult("gen", 0, 1, 2).finished


def test_a_one_round_budget_resumes_after_the_checkpoint(tmp_path: pathlib.Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """`max_rounds` counts from the checkpoint's round: two one-round calls run rounds 0 and then 1,
    and the resumed call evaluates and checkpoints round 1 only (no round before it is re-run)."""
    calls: list[str] = []
    _recording_engines(monkeypatch, calls)
    search = _search(tmp_path)
    assert runner.run_stage(search, "gen", max_rounds=1) == runner.StageResult("gen", 0, 1, 3)
    assert runner.run_stage(search, "gen", max_rounds=1) == runner.StageResult("gen", 1, 2, 3)
    assert {t.user_attrs[keys.GENERATION] for t in search.study("gen").trials} == {0, 1}
    assert calls == ["prepare", "save", "prepare", "save"]


def test_no_warm_up_without_a_round_to_run(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`prepare` (the real engine's warm-up) runs only when the call has a round to run."""
    calls: list[str] = []
    _recording_engines(monkeypatch, calls)
    search = _search(tmp_path)
    assert runner.run_stage(search, "gen", max_rounds=0) == runner.StageResult("gen", 0, 0, 3)
    assert calls == []
    runner.run_stage(search, "gen", max_rounds=1)
    assert calls == ["prepare", "save"]


def test_a_search_budget_counts_only_the_rounds_run_by_this_call(tmp_path: pathlib.Path) -> None:
    """`run_search(max_rounds=N)` spends N rounds over the stages, counting a resumed stage's new
    rounds only, and starts no stage once the budget is spent."""
    search = _search(tmp_path)
    runner.run_stage(search, "gen", max_rounds=1)
    results = runner.run_search(search, ["gen", "disc"], max_rounds=3)
    assert results == [runner.StageResult("gen", 1, 3, 3), runner.StageResult("disc", 0, 1, 2)]
    assert runner.run_search(search, ["gen", "disc"], max_rounds=1) == [runner.StageResult("gen", 3, 3, 3),
                                                                         runner.StageResult("disc", 1, 2, 2)]
    fresh = _search(tmp_path / "b")
    assert runner.run_search(fresh, ["gen", "disc"], max_rounds=3) == [runner.StageResult("gen", 0, 3, 3)]


def test_a_checkpoint_one_round_ahead_of_the_study_is_refused(tmp_path: pathlib.Path) -> None:
    """A checkpoint holding a round the study lacks (an older database) stops the run, naming the round."""
    search = _search(tmp_path)
    runner.run_stage(search, "gen", max_rounds=1)
    SyntheticEngine(search, "gen").save(2)
    with pytest.raises(runner.OptganError, match="holds 2 rounds but round 2 is not complete"):
        runner.run_stage(search, "gen", max_rounds=1)


def test_a_lost_checkpoint_is_warned_about_only_when_lost(tmp_path: pathlib.Path,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    """Rounds in the study but no checkpoint: a warning; a restored checkpoint: none."""
    search = _search(tmp_path)
    runner.run_stage(search, "gen", max_rounds=1)
    with caplog.at_level(logging.WARNING, logger="optgan.runner"):
        runner.run_stage(search, "gen", max_rounds=0)
    assert "no checkpoint" not in caplog.text
    (search.stage_dir("gen") / "synthetic.json").unlink()
    with caplog.at_level(logging.WARNING, logger="optgan.runner"):
        runner.run_stage(search, "gen", max_rounds=0)
    assert "no checkpoint, but the study holds 1 completed rounds" in caplog.text


def _running(study: optuna.Study, generation: int, slot: int, params: dict | None = None) -> None:
    from optuna.trial import create_trial

    from optgan.search_space.distributions import param_distributions

    dists = param_distributions("gen") if params is None else {}
    params = {n: d.choices[0] for n, d in dists.items()} if params is None else params
    study.add_trial(create_trial(state=optuna.trial.TrialState.RUNNING, params=params, distributions=dists,
                                 user_attrs={keys.GENERATION: generation, keys.SLOT: slot}))


def test_a_generation_with_one_trial_too_many_is_refused() -> None:
    """More taken trials than the population size in one generation is an error, not a silent overflow."""
    study = optuna.create_study(directions=["maximize"])
    for slot in range(3):
        _running(study, 0, slot)
    with pytest.raises(runner.OptganError, match="3 trials, more than the population size 2"):
        runner.population_trials(study, 0, 2, "gen")
    assert len(runner.population_trials(study, 0, 3, "gen")) == 3


def test_a_tagged_trial_cut_off_before_its_params_gets_them() -> None:
    """A RUNNING trial of the generation with no params (a crash mid-ask) gets all its params on resume."""
    from optgan.search_space.distributions import param_distributions

    study = optuna.create_study(directions=["maximize"])
    _running(study, 0, 0, params={})
    trials = runner.population_trials(study, 0, 1, "gen")
    assert len(trials) == 1 and set(trials[0].params) == set(param_distributions("gen"))


def test_a_trial_failed_before_an_interruption_is_not_told_again(caplog: pytest.LogCaptureFixture) -> None:
    """A re-run round skips a FAIL trial it told before the stop, as it skips COMPLETE ones."""
    study = optuna.create_study(directions=["maximize"])
    trial = study.ask()
    study.tell(trial, state=optuna.trial.TrialState.FAIL)
    runner._tell(study, [study.trials[0]], [None], [None], search=None, engine=None)  # type: ignore[arg-type]
    assert study.trials[0].user_attrs == {}
    assert "finished outside" not in caplog.text


def test_the_tells_store_attrs_and_fail_bad_candidates(tmp_path: pathlib.Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Evaluation attrs reach the trial; a reason or a non-finite objective makes it FAIL with a
    reason; a good one is COMPLETE with values in objective order (IS, FID, params_M)."""
    evs = [Evaluation({"IS": 5.0, "FID": 20.0}, attrs={"IS_std": 0.5}),
           Evaluation({"IS": 5.0, "FID": 20.0}, reason="out of memory"),
           Evaluation({"IS": float("nan"), "FID": 20.0}),
           Evaluation({"IS": 5.0})]
    _recording_engines(monkeypatch, [], evaluate=lambda population: evs)
    search = _search(tmp_path)
    runner.run_stage(search, "gen", max_rounds=1)
    trials = sorted(search.study("gen").trials, key=lambda t: t.user_attrs[keys.SLOT])
    S = optuna.trial.TrialState
    assert [t.state for t in trials] == [S.COMPLETE, S.FAIL, S.FAIL, S.FAIL]
    ok = trials[0]
    assert ok.user_attrs["IS_std"] == 0.5 and ok.values[:2] == [5.0, 20.0]
    assert ok.values[2] == pytest.approx(ok.user_attrs[keys.PARAMS_M]) and 1 < ok.values[2] < 100
    assert [t.user_attrs.get(keys.FAIL_REASON) for t in trials[1:]] == [
        "out of memory", "non-finite objective(s): IS", "non-finite objective(s): FID"]


def test_a_round_stores_its_seconds_and_is_durable_before_its_checkpoint(
        tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each round stores its phase timings on the study, and makes the study durable before the
    engine's checkpoint is written (a checkpoint never ahead of the durable study)."""
    calls: list[str] = []
    _recording_engines(monkeypatch, calls)
    durable = runner.make_durable
    monkeypatch.setattr(runner, "make_durable", lambda e: (calls.append("durable"), durable(e))[1])
    search = _search(tmp_path)
    runner.run_stage(search, "gen", max_rounds=2)
    assert calls == ["prepare", "durable", "save", "durable", "save"]
    seconds = search.study("gen").user_attrs
    assert {keys.ROUND_SECONDS_PREFIX + "0", keys.ROUND_SECONDS_PREFIX + "1"} <= set(seconds)
    assert "total" in seconds[keys.ROUND_SECONDS_PREFIX + "0"]


def test_stage_helpers_pick_the_stages_rounds_and_network(tmp_path: pathlib.Path) -> None:
    """`stage_rounds` reads each stage's own round count; `stage_net` maps gen→gen, disc→disc."""
    cfg = load_study_config(str(ROOT / "studies" / "dry-run.yaml"), SMALL)
    assert (stage_rounds(cfg, "gen"), stage_rounds(cfg, "disc")) == (3, 2)
    assert (stage_net("gen"), stage_net("disc")) == ("gen", "disc")


def test_a_finished_real_stage_is_read_from_its_checkpoint_and_skipped(tmp_path: pathlib.Path) -> None:
    """`saved_rounds` reads a real stage's `checkpoint.pt` (None for a dry run); a stage is finished
    only when the checkpoint holds every round AND each round is complete in the study, and a
    finished stage reports all its rounds as done before the call."""
    from types import SimpleNamespace as NS

    import torch
    from optuna.trial import create_trial

    from optgan.engines.base import saved_rounds

    study = optuna.create_study(directions=["maximize"])

    def stub(kind: str):  # noqa: ANN202
        cfg = NS(evaluation=NS(kind=kind), gen_stage=NS(rounds=2), disc_stage=NS(rounds=1),
                 sampler=NS(population_size=1), cpu_threads=None)
        return NS(config=cfg, stage_dir=lambda stage: tmp_path, study=lambda stage: study)

    torch.save({"rounds_done": 2}, tmp_path / "checkpoint.pt")
    assert saved_rounds(stub("real"), "gen") == 2
    assert saved_rounds(stub("synthetic"), "gen") is None
    study.add_trial(create_trial(state=optuna.trial.TrialState.COMPLETE, value=1.0,
                                 user_attrs={keys.GENERATION: 0, keys.SLOT: 0}))
    assert not runner._finished(stub("real"), study, "gen")  # round 1 is not in the study
    study.add_trial(create_trial(state=optuna.trial.TrialState.COMPLETE, value=1.0,
                                 user_attrs={keys.GENERATION: 1, keys.SLOT: 0}))
    assert not runner._finished(stub("synthetic"), study, "gen")
    assert runner._finished(stub("real"), study, "gen")
    assert runner.run_stage(stub("real"), "gen", max_rounds=1) == runner.StageResult("gen", 2, 2, 2)
    torch.save({"rounds_done": 1}, tmp_path / "checkpoint.pt")
    assert not runner._finished(stub("real"), study, "gen")


def test_a_dry_run_scores_each_metric_under_its_own_name(tmp_path: pathlib.Path) -> None:
    """Each metric objective gets its own synthetic value (IS is not FID's); size objectives are
    left to the runner."""
    from optgan.sampler.synthetic import synthetic_values

    search = _search(tmp_path, "objectives=[FID,IS,KID,params_M]")
    engine = SyntheticEngine(search, "gen")
    g = random_genotype("gen", np.random.default_rng(3))
    values = engine.evaluate([g])[0].values
    assert values == {m: synthetic_values(g, [m], engine.widths)[0] for m in ("FID", "IS", "KID")}


def test_the_round_scorer_keeps_only_configured_metrics_reasons_and_grid_size() -> None:
    """`PopulationScorer.evaluate` stores only `metrics.metrics`, keeps each candidate's failure
    reason and draws a grid of exactly `grid_images` from the round's bank."""
    from types import SimpleNamespace as NS

    import torch

    from optgan.engines.scoring import PopulationScorer

    all_scores = {"IS": 1.0, "FID": 2.0, "KID": 3.0}
    scores = [NS(metric=all_scores.__getitem__, reason=None, values={"FID": 2.0}),
              NS(metric=all_scores.__getitem__, reason="NaN images", values={})]
    scorer = object.__new__(PopulationScorer)
    scorer.config = NS(metrics=NS(num_images=8, metrics=("FID",)), widths=NS(latent_dim=4), seed=0,
                       pictures=NS(sample_grid=True, grid_images=3))
    scorer.evaluator = NS(evaluate=lambda candidates, bank: scores, device=torch.device("cpu"))
    seen: list[int] = []

    def candidate(z: torch.Tensor) -> torch.Tensor:
        seen.append(len(z))
        return torch.zeros(len(z), 3, 4, 4)

    good, bad = scorer.evaluate([candidate, candidate], round_index=1, stage="gen")
    assert good.values == {"FID": 2.0} and good.reason is None and good.attrs == {"FID": 2.0}
    assert bad.reason == "NaN images" and seen == [3, 3] and tuple(good.samples.shape) == (3, 3, 4, 4)


def test_a_real_disc_stage_needs_gen_supernet_own_checkpoint_or_a_fixed_g_star(tmp_path: pathlib.Path) -> None:
    """`check_stage_ready`: a real stage disc starts when stage gen's checkpoint, its own checkpoint,
    or a G* start snapshot with G* stored exists; a lone snapshot (no G* yet) is refused."""
    from types import SimpleNamespace as NS

    from optgan.engines.base import check_stage_ready
    from optgan.errors import OptganError

    disc_study = optuna.create_study()
    search = NS(name="s", config=NS(evaluation=NS(kind="real")), run_dir=tmp_path, storage_url="sqlite:///x.db",
                stage_dir=lambda stage: tmp_path / stage, study=lambda stage: disc_study)
    (tmp_path / "disc").mkdir()
    (tmp_path / "gen").mkdir()
    check_stage_ready(search, "gen")
    with pytest.raises(OptganError, match="needs stage gen's trained supernet"):
        check_stage_ready(search, "disc")
    (tmp_path / "disc" / "g_star_start.pt").write_bytes(b"x")
    with pytest.raises(OptganError, match="needs stage gen's trained supernet"):
        check_stage_ready(search, "disc")
    (tmp_path / "gen" / "checkpoint.pt").write_bytes(b"x")
    check_stage_ready(search, "disc")
    (tmp_path / "gen" / "checkpoint.pt").unlink()
    (tmp_path / "disc" / "checkpoint.pt").write_bytes(b"x")
    check_stage_ready(search, "disc")
