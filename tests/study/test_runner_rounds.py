"""The round loop's budget: `max_rounds` bounds the rounds of a call, never beyond the stage's total."""

from __future__ import annotations

import pathlib
import uuid

from optgan import keys, runner
from optgan.config.study import load_study_config
from optgan.runner import run_stage
from optgan.study.create import create_search

ROOT = pathlib.Path(__file__).resolve().parents[2]
SMALL = ["sampler.population_size=4", "gen_stage.rounds=2", "disc_stage.rounds=1", "caps.gen={}",
         "pictures.sample_grid=false", "pictures.architecture=false", "pictures.rounds=false"]


def test_a_round_budget_beyond_the_stage_stops_at_its_last_round(tmp_path: pathlib.Path) -> None:
    cfg = load_study_config(str(ROOT / "studies" / "dry-run.yaml"), SMALL)
    search = create_search(f"r{uuid.uuid4().hex[:8]}", cfg, f"sqlite:///{tmp_path / 'optgan.db'}", str(tmp_path / "run"))
    first = run_stage(search, "gen", max_rounds=1)
    assert (first.rounds_before, first.rounds_done, first.finished) == (0, 1, False)
    rest = run_stage(search, "gen", max_rounds=5)
    assert (rest.rounds_before, rest.rounds_done, rest.rounds_total, rest.finished) == (1, 2, 2, True)
    generations = {t.user_attrs.get(keys.GENERATION) for t in search.study("gen").trials}
    assert generations == {0, 1} and len(search.study("gen").trials) == 8


def test_a_round_resets_the_weights_before_its_checkpoint(tmp_path: pathlib.Path, monkeypatch) -> None:
    """Stage disc's weight-resetting (`end_round`) must be in the round's checkpoint: a resume
    from it continues from the reset copies, as the uninterrupted run does."""
    calls: list[str] = []
    make = runner.make_engine

    def recording(*args, **kwargs):
        engine = make(*args, **kwargs)
        for name in ("end_round", "save"):
            method = getattr(engine, name)
            setattr(engine, name, lambda *a, _m=method, _n=name, **k: (calls.append(_n), _m(*a, **k))[1])
        return engine

    monkeypatch.setattr(runner, "make_engine", recording)
    cfg = load_study_config(str(ROOT / "studies" / "dry-run.yaml"), SMALL)
    search = create_search(f"r{uuid.uuid4().hex[:8]}", cfg, f"sqlite:///{tmp_path / 'optgan.db'}", str(tmp_path / "run"))
    run_stage(search, "gen", max_rounds=1)
    assert calls[-2:] == ["end_round", "save"]


def test_a_rounds_trials_come_in_slot_order_not_trial_number_order() -> None:
    """After a crash cut a round's asks short, trial numbers need not follow the slots (the
    sampler's order of the population): the round trains and tells them by slot."""
    import optuna
    from optuna.trial import create_trial

    from optgan.search_space.distributions import param_distributions

    study = optuna.create_study(directions=["maximize"])
    dists = param_distributions("gen")
    for slot in (2, 0, 1):  # numbers 0, 1, 2 hold slots 2, 0, 1
        params = {name: dist.choices[0] for name, dist in dists.items()}
        study.add_trial(create_trial(state=optuna.trial.TrialState.RUNNING, params=params, distributions=dists,
                                     user_attrs={keys.GENERATION: 0, keys.SLOT: slot}))
    trials = runner.population_trials(study, 0, 3, "gen")
    assert [t.user_attrs[keys.SLOT] for t in trials] == [0, 1, 2]
    assert [t.number for t in trials] == [1, 2, 0]


def test_a_trial_told_before_an_interruption_is_not_told_again(caplog) -> None:
    """A re-run round skips the trials it told before the stop: nothing is written to them and no
    'finished outside this run' warning is logged."""
    import optuna

    study = optuna.create_study(directions=["maximize"])
    trial = study.ask()
    study.tell(trial, 1.0)
    told = study.trials[0]
    runner._tell(study, [told], [None], [None], search=None, engine=None)  # type: ignore[arg-type]
    assert study.trials[0].values == [1.0] and study.trials[0].user_attrs == {}
    assert "finished outside" not in caplog.text
