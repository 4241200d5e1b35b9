"""Properties of the search flow and the study bookkeeping that earlier tests left open (mutation
testing, round 8): the round budget of `run_search`, the slots of a round, G* once fixed, the
G*/D* rule, round counts and the pictures' objective handling.

Each test states the property it checks; all are deterministic and take at most a few seconds
(in-memory Optuna studies where possible, a small synthetic search elsewhere).
"""

from __future__ import annotations

import pathlib
import types
import uuid

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState, create_trial

from optgan import keys, runner
from optgan.config.study import load_study_config
from optgan.errors import OptganError
from optgan.search_space import Genotype, param_distributions
from optgan.search_space.random import random_genotype
from optgan.study.create import create_search
from optgan.study.gen_star import GenChoice, fix_gen_star, resolve_gen_override

optuna.logging.set_verbosity(optuna.logging.WARNING)

ROOT = pathlib.Path(__file__).resolve().parents[2]
#: a synthetic search of two gen rounds and one disc round of four candidates (seconds to run)
#: `round_seed(0, "gen", 0)` as every earlier optgan drew it (a changed stream changes stored searches)
PINNED_ROUND_SEED = 3964924996
SMALL = ["sampler.population_size=4", "gen_stage.rounds=2", "disc_stage.rounds=1", "caps.gen={}",
         "pictures.sample_grid=false", "pictures.architecture=false", "pictures.rounds=false"]


def _search(tmp_path: pathlib.Path, *overrides: str):  # noqa: ANN202 - Search
    cfg = load_study_config(str(ROOT / "studies" / "dry-run.yaml"), [*SMALL, *overrides])
    return create_search(f"m{uuid.uuid4().hex[:8]}", cfg, f"sqlite:///{tmp_path / 'optgan.db'}", str(tmp_path / "run"))


def _gen_params(seed: int) -> dict[str, str]:
    return random_genotype("gen", np.random.default_rng(seed)).to_params()


def _add(study: optuna.Study, generation: int | None, slot: int, state: TrialState,
         values: list[float] | None = None, params: dict | None = None) -> None:
    """A trial of `generation` (None: untagged) in `slot`, with gen params (default: seed = slot)."""
    params = _gen_params(slot) if params is None else params
    dists = {k: param_distributions("gen")[k] for k in params}
    attrs = {} if generation is None else {keys.GENERATION: generation, keys.SLOT: slot}
    study.add_trial(create_trial(state=state, params=params, distributions=dists, user_attrs=attrs,
                                 values=values if state == TrialState.COMPLETE else None))


# ---------------------------------------------------------------------- the round budget (run_search)


def test_a_budget_spent_on_stage_gen_leaves_stage_disc_untouched(tmp_path) -> None:
    """`--max-rounds N` that stage gen uses up exactly stops the run before stage disc: G* is not
    fixed (it would be fixed for good) and no result is reported for stage disc."""
    search = _search(tmp_path)
    results = runner.run_search(search, ["gen", "disc"], max_rounds=2)
    assert [(r.stage, r.rounds_before, r.rounds_done) for r in results] == [("gen", 0, 2)]
    assert keys.GEN_STAR not in search.study("disc").user_attrs


def test_the_budget_counts_only_the_rounds_this_call_ran(tmp_path) -> None:
    """A stage resumed after k rounds spends only the rounds it runs now from `--max-rounds`: the
    rest goes to the next stage."""
    search = _search(tmp_path)
    runner.run_stage(search, "gen", max_rounds=1)
    results = runner.run_search(search, ["gen", "disc"], max_rounds=2)
    assert [(r.stage, r.rounds_before, r.rounds_done) for r in results] == [("gen", 1, 2), ("disc", 0, 1)]


def test_max_rounds_counts_from_where_the_stage_stands(tmp_path) -> None:
    """`max_rounds` is the number of rounds more, not the round to stop at: a second call with
    `max_rounds=1` after one round runs round 2."""
    search = _search(tmp_path, "gen_stage.rounds=3")
    runner.run_stage(search, "gen", max_rounds=1)
    second = runner.run_stage(search, "gen", max_rounds=1)
    assert (second.rounds_before, second.rounds_done, second.finished) == (1, 2, False)


def test_a_rerun_of_a_finished_search_reports_both_stages_finished(tmp_path, caplog) -> None:
    """With stage gen finished, a run of both stages does not claim to skip stage gen's rounds
    (none are left): it reports stage gen as finished, then stage disc; `status` counts each
    stage's rounds against its own total."""
    from optgan.study.summary import stage_status

    search = _search(tmp_path)
    runner.run_search(search, ["gen", "disc"])
    again = runner.run_search(search, ["gen", "disc"])
    assert [(r.stage, r.rounds_done, r.finished) for r in again] == [("gen", 2, True), ("disc", 1, True)]
    assert "remaining rounds are skipped" not in caplog.text
    assert [(stage_status(search, s)["rounds_done"], stage_status(search, s)["rounds_total"])
            for s in ("gen", "disc")] == [(2, 2), (1, 1)]


def test_an_early_g_star_makes_a_run_of_both_stages_skip_stage_gen(tmp_path) -> None:
    """Once stage disc runs with a G* given before stage gen finished, a run of both stages leaves
    stage gen's remaining rounds alone (they cannot change G*) and goes on with stage disc."""
    search = _search(tmp_path, "disc_stage.rounds=2")
    runner.run_stage(search, "gen", max_rounds=1)
    trial = search.study("gen").trials[0]
    runner.run_search(search, ["disc"], max_rounds=1, gen_override=Genotype.from_params("gen", trial.params))
    results = runner.run_search(search, ["gen", "disc"])
    assert [(r.stage, r.rounds_before, r.rounds_done) for r in results] == [("disc", 1, 2)]
    assert len(search.study("gen").trials) == 4


def test_a_lost_stage_state_is_rebuilt_even_when_the_study_is_complete(tmp_path) -> None:
    """A finished stage whose state file is gone is rebuilt (re-run from its stored trials, none
    told again), not reported done with no state."""
    search = _search(tmp_path)
    runner.run_stage(search, "gen")
    state = search.stage_dir("gen") / "synthetic.json"
    state.unlink()
    again = runner.run_stage(search, "gen")
    assert (again.rounds_before, again.rounds_done) == (0, 2)
    assert state.is_file() and len(search.study("gen").trials) == 8


def test_a_checkpoint_one_round_ahead_of_its_study_is_refused(tmp_path) -> None:
    """A checkpoint that holds a round the study has not completed (a database older than the run
    directory) stops the run before anything is asked."""
    search = _search(tmp_path, "gen_stage.rounds=3")
    runner.run_stage(search, "gen", max_rounds=1)
    (search.stage_dir("gen") / "synthetic.json").write_text('{"rounds_done": 2}')
    with pytest.raises(OptganError, match="holds 2 rounds but round 2 is not complete"):
        runner.run_stage(search, "gen")
    assert len(search.study("gen").trials) == 4


# ---------------------------------------------------------------------- a round's slots (population_trials)


def test_a_generation_holding_more_trials_than_the_population_is_refused() -> None:
    """More taken trials in a generation than the population size means a corrupted round (or a
    config changed under the study): refused, never trained with an oversized population."""
    study = optuna.create_study(directions=["maximize"])
    for slot in range(3):
        _add(study, 0, slot, TrialState.RUNNING)
    with pytest.raises(OptganError, match="more than the population size 2"):
        runner.population_trials(study, 0, 2, "gen")


def test_a_pruned_trial_keeps_its_slot() -> None:
    """RUNNING, COMPLETE, FAIL and PRUNED trials all hold a slot of their generation: a round with
    a pruned trial (e.g. marked in the dashboard) is not topped up with a new ask."""
    study = optuna.create_study(directions=["maximize"])
    _add(study, 0, 0, TrialState.COMPLETE, [1.0])
    _add(study, 0, 1, TrialState.PRUNED)
    trials = runner.population_trials(study, 0, 2, "gen")
    assert [t.number for t in trials] == [0, 1] and len(study.trials) == 2


# ---------------------------------------------------------------------- tells (_tell / _tell_one)


def _fake_run(tmp_path: pathlib.Path):  # noqa: ANN202
    """The config of the small search, and the parts of a search and an engine a tell reads."""
    cfg = load_study_config(str(ROOT / "studies" / "dry-run.yaml"), SMALL)
    search = types.SimpleNamespace(config=cfg, run_dir=tmp_path, name="s")
    engine = types.SimpleNamespace(widths=cfg.widths, extractor_label="test")
    return cfg, search, engine


def test_a_trial_that_failed_before_an_interruption_is_not_told_again(tmp_path, caplog) -> None:
    """A re-run round skips every trial it finished before the stop, a FAILED one too: nothing is
    written to it and no 'finished outside this run' warning is logged."""
    from optgan.engines.base import Evaluation

    _, search, engine = _fake_run(tmp_path)
    study = optuna.create_study(directions=["maximize", "minimize", "minimize"])
    _add(study, 0, 0, TrialState.FAIL)
    (failed,) = study.trials
    genotype = Genotype.from_params("gen", failed.params)
    runner._tell(study, [failed], [genotype], [Evaluation({"IS": 5.0, "FID": 20.0})], search, engine)
    assert study.trials[0].state == TrialState.FAIL and keys.PARAMS_M not in study.trials[0].user_attrs
    assert "finished outside" not in caplog.text


def test_non_finite_scores_and_a_failed_evaluation_fail_their_trials_with_a_reason(tmp_path) -> None:
    """A finite evaluation is told as the objectives in the config's order; an infinite FID (which
    Optuna would store) and an evaluation with a reason (e.g. NaN images) fail their trials, and
    the reason is stored on the trial."""
    from optgan.engines.base import Evaluation

    cfg, search, engine = _fake_run(tmp_path)
    assert list(cfg.objectives) == ["IS", "FID", "params_M"]
    study = optuna.create_study(directions=["maximize", "minimize", "minimize"])
    for slot in range(3):
        _add(study, 0, slot, TrialState.RUNNING)
    trials = study.trials
    population = [Genotype.from_params("gen", t.params) for t in trials]
    evaluations = [Evaluation({"IS": 5.0, "FID": 20.0}), Evaluation({"IS": 5.0, "FID": float("inf")}),
                   Evaluation({"IS": 6.0, "FID": 10.0}, reason="generated images hold NaN")]
    runner._tell(study, trials, population, evaluations, search, engine)
    ok, inf, nan = study.trials
    assert ok.state == TrialState.COMPLETE
    assert ok.values == pytest.approx([5.0, 20.0, ok.user_attrs[keys.PARAMS_M]])
    assert ok.user_attrs[keys.PARAMS_M] != ok.user_attrs[keys.FLOPS_M]
    assert (inf.state, nan.state) == (TrialState.FAIL, TrialState.FAIL)
    assert "FID" in inf.user_attrs[keys.FAIL_REASON]
    assert nan.user_attrs[keys.FAIL_REASON] == "generated images hold NaN"


# ---------------------------------------------------------------------- G* (fix_gen_star, resolve_gen_override)


def _gen_study(rounds: int, size: int = 4) -> optuna.Study:
    """Stage gen's study with `rounds` told rounds of `size`: in round g, slot s has FID 20 + s + g
    on a front (IS rises with FID): each round's first trial has its lowest FID, and round 0's
    FIDs are the lowest of all (values of earlier rounds are stale)."""
    study = optuna.create_study(directions=["maximize", "minimize", "minimize"], study_name="s:gen")
    for g in range(rounds):
        for s in range(size):
            _add(study, g, s, TrialState.COMPLETE, [10.0 + s, 20.0 + s + g, 1.0], params=_gen_params(10 * g + s))
    return study


def _g_star_search(gen: optuna.Study):  # noqa: ANN202
    cfg = load_study_config(str(ROOT / "studies" / "dry-run.yaml"), SMALL)
    return types.SimpleNamespace(name="s", config=cfg, study=lambda stage: gen)


def test_g_star_by_the_default_rule_is_stored_with_its_trial(tmp_path) -> None:
    """Without an override, G* is the lowest-FID trial of stage gen's last round's front; the disc
    study stores it and its source, which names the trial (`best`/`export` show that trial)."""
    from optgan.study.results import fixed_gen_star

    gen = _gen_study(2)
    disc = optuna.create_study(directions=["minimize"])
    star = fix_gen_star(_g_star_search(gen), disc, None)
    want = gen.trials[4]  # round 1, slot 0: FID 21 (trial 0 of round 0 had 20)
    assert star == Genotype.from_params("gen", want.params)
    fixed = fixed_gen_star(disc)
    assert (fixed.genotype, fixed.trial) == (star, 4) and fixed.source == "trial 4 of s:gen"


def test_a_stored_g_star_is_kept_and_another_one_refused() -> None:
    """Once stage disc has fixed G*, later runs use it (never the default rule again), accept the
    same override and refuse a different one; a G* from `--gen-trial 0` names trial 0."""
    from optgan.study.results import fixed_gen_star

    gen = _gen_study(2)
    search = _g_star_search(gen)
    disc = optuna.create_study(directions=["minimize"])
    chosen = Genotype.from_params("gen", gen.trials[0].params)  # not the rule's choice (trial 4)
    assert fix_gen_star(search, disc, GenChoice(chosen, "trial 0 of s:gen (--gen-trial)")) == chosen
    assert fixed_gen_star(disc).trial == 0
    assert fix_gen_star(search, disc, None) == chosen
    assert fix_gen_star(search, disc, chosen) == chosen
    with pytest.raises(OptganError, match="already runs with G"):
        fix_gen_star(search, disc, Genotype.from_params("gen", gen.trials[4].params))


def test_the_default_g_star_waits_for_every_round_of_stage_gen() -> None:
    """Stage gen one round short of its total: no G* by the default rule (it would be chosen from a
    stage that is still searching), and nothing is stored."""
    gen = _gen_study(1)  # 1 of 2 rounds
    disc = optuna.create_study(directions=["minimize"])
    with pytest.raises(OptganError, match="stage gen has 1/2 rounds"):
        fix_gen_star(_g_star_search(gen), disc, None)
    assert disc.user_attrs == {}


def test_gen_trial_names_a_trial_with_an_architecture() -> None:
    """`--gen-trial N` takes trial N's architecture; a trial without params (cut off while being
    asked) or a number the study does not hold is refused with the range it holds."""
    gen = _gen_study(1)
    search = _g_star_search(gen)
    gen.add_trial(create_trial(state=TrialState.RUNNING, params={}, distributions={}))  # trial 4, no params
    choice = resolve_gen_override(search, 2, None)
    assert choice.genotype == Genotype.from_params("gen", gen.trials[2].params)
    assert choice.source == "trial 2 of s:gen (--gen-trial)"
    for bad in (4, 5):
        with pytest.raises(OptganError, match=r"no such trial .*trials 0\.\.4"):
            resolve_gen_override(search, bad, None)
    assert resolve_gen_override(search, None, None) is None


# ---------------------------------------------------------------------- the real engine (best_index, restore)


def test_weight_resetting_ties_go_to_the_earlier_candidate() -> None:
    """Candidates tied on the lowest FID: the first of them (slot order) is the round's best, so
    the G copies are reset to the same one on every run; a candidate without scores does not
    change the key; and `end_round` passes that index."""
    from optgan.engines.base import Evaluation
    from optgan.engines.real import RealEngine, best_index

    tied = [Evaluation({"FID": 3.0}), Evaluation({"FID": 1.0}), Evaluation({"FID": 2.0}), Evaluation({"FID": 1.0})]
    assert best_index(tied, ["IS", "FID"]) == 1
    # a candidate that failed before it was scored has no values: the others are still ranked by FID
    assert best_index([Evaluation({}, reason="NaN images"), Evaluation({"FID": 2.0}), Evaluation({"FID": 1.0})],
                      ["IS", "FID"]) == 2
    calls = []
    engine = object.__new__(RealEngine)
    cfg = load_study_config(str(ROOT / "studies" / "dry-run.yaml"), SMALL)
    engine.search = types.SimpleNamespace(config=cfg)
    engine.trainer = types.SimpleNamespace(end_round=lambda population, best: calls.append(best))
    engine.end_round(["a", "b", "c"], [Evaluation({"FID": 1.0}), Evaluation({"FID": 2.0}), Evaluation({"FID": 3.0})])
    assert calls == [0]


def _bare_real_engine(tmp_path: pathlib.Path, stage: str):  # noqa: ANN202
    from optgan.engines.real import CHECKPOINT_NAME, RealEngine

    engine = object.__new__(RealEngine)  # the checkpoint steps only: no data, networks or metrics
    engine.stage, engine.rounds_done, engine.restored, engine.warmup_done = stage, 0, False, False
    engine.stage_dir = tmp_path / stage
    engine.stage_dir.mkdir(parents=True, exist_ok=True)
    engine.checkpoint_path = engine.stage_dir / CHECKPOINT_NAME
    loaded = []
    engine.trainer = types.SimpleNamespace(load_state_dict=loaded.append, warmup=lambda epochs: pytest.fail("warm-up"))
    return engine, loaded


def test_a_restored_checkpoint_brings_back_rounds_and_warm_up(tmp_path) -> None:
    """Restoring a stage's checkpoint brings back the trainer state, the rounds done and whether
    warm-up is done (a resume never warms up again); a checkpoint of the other stage is refused."""
    from optgan.errors import CheckpointError
    from optgan.trainer.checkpoint import atomic_torch_save

    engine, loaded = _bare_real_engine(tmp_path, "gen")
    atomic_torch_save({"format": 1, "stage": "gen", "rounds_done": 3, "warmup_done": True, "trainer": {"x": 1}},
                      str(engine.checkpoint_path))
    engine._restore()
    assert (engine.rounds_done, engine.warmup_done, engine.restored, loaded) == (3, True, True, [{"x": 1}])
    engine.search = types.SimpleNamespace(config=load_study_config(str(ROOT / "studies" / "dry-run.yaml"), SMALL))
    engine.prepare()  # warm-up done: nothing to do (the trainer's warm-up would fail the test)
    other, _ = _bare_real_engine(tmp_path, "disc")
    atomic_torch_save({"format": 1, "stage": "gen", "rounds_done": 1, "warmup_done": True, "trainer": {}},
                      str(other.checkpoint_path))
    with pytest.raises(CheckpointError, match="not a stage-disc checkpoint"):
        other._restore()


def test_g_star_starts_from_its_snapshot_only_when_the_snapshot_is_of_g_star(tmp_path) -> None:
    """Stage disc's G* weights: none to load when the stage's checkpoint exists; the start snapshot
    when it holds this G*; else stage gen's supernet, snapshotted only while the stage has no
    completed round (today's weights are not the start of a stage begun earlier)."""
    import torch

    from optgan.engines.real import G_STAR_START_NAME
    from optgan.trainer.checkpoint import atomic_torch_save

    engine, _ = _bare_real_engine(tmp_path, "disc")
    cfg = load_study_config(str(ROOT / "studies" / "dry-run.yaml"), SMALL)
    disc = optuna.create_study(directions=["minimize"])
    engine.search = types.SimpleNamespace(config=cfg, study=lambda stage: disc)
    engine._gen_supernet_state = lambda: "gen supernet now"
    a, b = (random_genotype("gen", np.random.default_rng(seed)) for seed in (1, 2))
    atomic_torch_save({"format": 1, "gen_star": a.to_json_dict(), "g_star": {"w": torch.ones(1)}},
                      str(engine.stage_dir / G_STAR_START_NAME))
    state, due = engine._g_star_weights(a)
    assert torch.equal(state["w"], torch.ones(1)) and due is False
    assert engine._g_star_weights(b) == ("gen supernet now", True)
    for slot in range(cfg.sampler.population_size):  # stage disc has a completed round
        disc.add_trial(create_trial(state=TrialState.COMPLETE, values=[1.0], user_attrs={keys.GENERATION: 0}))
    assert engine._g_star_weights(b) == ("gen supernet now", False)
    engine.checkpoint_path.write_bytes(b"")
    assert engine._g_star_weights(a) == (None, False)


def test_stage_disc_scores_its_rounds_with_its_own_latent_stream(tmp_path) -> None:
    """The real engine scores round k of a stage with that stage's round-k latent bank."""
    from optgan.engines.real import RealEngine

    seen = []
    engine = object.__new__(RealEngine)
    engine.stage, engine.rounds_done = "disc", 2
    engine.trainer = types.SimpleNamespace(candidates=lambda population: list(population))
    engine.evaluator = types.SimpleNamespace(evaluate=lambda c, **kw: seen.append(kw) or [])
    engine._record_inputs = lambda: None
    engine.evaluate(["a"])
    assert seen == [{"round_index": 2, "stage": "disc"}]


# ---------------------------------------------------------------------- latent banks (scoring)


def test_round_seeds_are_separate_streams_per_stage_and_round_and_pinned() -> None:
    """Each (seed, stage, round) has its own latent-bank seed, and the values are pinned: a
    resumed or extended search must draw the same latents as the one that stored its rounds."""
    from optgan.engines.scoring import round_seed

    seeds = {(s, st, r): round_seed(s, st, r) for s in (0, 1) for st in ("gen", "disc") for r in range(4)}
    assert len(set(seeds.values())) == len(seeds)
    assert round_seed(0, "gen", 0) == PINNED_ROUND_SEED


def test_a_candidates_grid_uses_the_first_latents_of_its_rounds_bank() -> None:
    """Every candidate is scored on the bank of (seed, stage, round); its sample grid shows the
    first `grid_images` latents of that bank; only the configured metrics are objectives, the
    evaluator's reason and labelled values are kept."""
    import torch

    from optgan.engines.scoring import PopulationScorer, round_seed
    from optgan.metrics.evaluator import make_latent_bank

    cfg = types.SimpleNamespace(seed=3, widths=types.SimpleNamespace(latent_dim=4),
                                metrics=types.SimpleNamespace(num_images=8, metrics=("FID",)),
                                pictures=types.SimpleNamespace(sample_grid=True, grid_images=2))
    banks, seen = [], []

    class Score:
        reason, values = "too few images", {"FID_test": 7.0}

        def metric(self, name: str) -> float:
            return {"FID": 7.0}[name]

    scorer = object.__new__(PopulationScorer)
    scorer.config = cfg
    scorer.evaluator = types.SimpleNamespace(device=torch.device("cpu"),
                                             evaluate=lambda candidates, bank: banks.append(bank) or [Score()])
    candidate = lambda z: (seen.append(z), torch.zeros(len(z), 3, 2, 2))[1]  # noqa: E731
    (ev,) = scorer.evaluate([candidate], round_index=5, stage="disc")
    want = make_latent_bank(8, 4, round_seed(3, "disc", 5))
    assert torch.equal(banks[0], want) and torch.equal(seen[0], want[:2])
    assert (ev.values, ev.reason, ev.attrs) == ({"FID": 7.0}, "too few images", {"FID_test": 7.0})
    assert ev.samples.shape == (2, 3, 2, 2) and ev.samples.dtype == torch.uint8


# ---------------------------------------------------------------------- the G*/D* rule and its front (results)


def _one_round(values: list[tuple[float, ...]], directions: list[str]) -> optuna.Study:
    study = optuna.create_study(directions=directions)
    for slot, v in enumerate(values):
        _add(study, 0, slot, TrialState.COMPLETE, list(v))
    return study


def test_the_front_and_the_choice_read_each_objective_in_its_direction() -> None:
    """The last round's front treats a maximised IS as higher-is-better, and the rule's key is FID,
    else KID, else IS (highest), else the first objective, each in its own direction."""
    from optgan.study.results import choose_best, pareto_trials

    # (IS ↑, params ↓): trial 2 (6, 3) is dominated by trial 1 (7, 2); trials 0 and 1 form the front
    study = _one_round([(5.0, 1.0), (7.0, 2.0), (6.0, 3.0)], ["maximize", "minimize"])
    assert [t.number for t in pareto_trials(study)] == [0, 1]
    assert choose_best(study, ["IS", "params_M"]).number == 1
    assert choose_best(_one_round([(9.0, 0.5), (1.0, 0.1)], ["maximize", "minimize"]), ["IS", "KID"]).number == 1
    assert choose_best(_one_round([(2.0, 1.0), (1.0, 3.0)], ["minimize", "minimize"]),
                       ["params_M", "flops_M"]).number == 1


def test_a_trial_record_gives_its_round_one_based_and_its_generation_zero_based() -> None:
    """`status --json`/`export` records: `round` as the log prints it (1-based), `generation` as
    stored (0-based)."""
    from optgan.study.results import trial_record

    study = optuna.create_study(directions=["maximize", "minimize", "minimize"])
    _add(study, 2, 0, TrialState.COMPLETE, [5.0, 20.0, 1.0])
    record = trial_record(study.trials[0], "gen", ["IS", "FID", "params_M"])
    assert (record["round"], record["generation"]) == (3, 2)
    assert record["values"] == {"IS": 5.0, "FID": 20.0, "params_M": 1.0}


# ---------------------------------------------------------------------- pictures


def test_pictures_turn_maximised_objectives_into_minimised_ones() -> None:
    """`to_minimization` negates exactly the maximised columns, and the pictures' front is the
    front in those directions (a higher IS is better)."""
    from optgan.study.pictures import nondominated_mask, to_minimization

    values = np.array([[5.0, 1.0], [7.0, 2.0], [6.0, 3.0]])
    np.testing.assert_array_equal(to_minimization(values, ["maximize", "minimize"]), [[-5, 1], [-7, 2], [-6, 3]])
    assert nondominated_mask(values, ["maximize", "minimize"]).tolist() == [True, True, False]
    assert nondominated_mask(values, ["minimize", "minimize"]).tolist() == [True, False, False]


def test_learning_curves_show_rounds_one_based(tmp_path, monkeypatch) -> None:
    """The learning curves' x axis counts rounds from 1, as the run's log prints them."""
    from optgan.study import pictures

    figures = []
    monkeypatch.setattr(pictures, "save_figure", lambda fig, path, **kw: figures.append(fig) or path)
    pictures.plot_learning_curves([0, 1, 2], {"FID": [3.0, 2.0, 1.0]}, {"FID": [4.0, 3.0, 2.0]}, ["minimize"],
                                  tmp_path / "c.png", hypervolume=[0.1, 0.2, 0.3])
    (fig,) = figures
    for ax in fig.axes:
        for line in ax.get_lines():
            assert list(line.get_xdata()) == [1, 2, 3]
