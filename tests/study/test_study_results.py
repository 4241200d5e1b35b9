"""Reading a stage study back (`optgan.study.results`): rounds in slot order, per-round best and
mean, the G*/D* rule with FID and KID both objectives, ties."""

from __future__ import annotations

import optuna
import pytest
from _round_studies import round_study
from optuna.trial import TrialState

from optgan import keys
from optgan.study.results import choose_best, completed_rounds, round_summaries, rounds_of

optuna.logging.set_verbosity(optuna.logging.WARNING)


def test_rounds_hold_their_trials_in_slot_order() -> None:
    """A round's trials need not be numbered in slot order (a repaired ask re-creates a slot later)."""
    ok = TrialState.COMPLETE
    study = round_study([(0, 1, ok, [1.0, 1.0]), (0, 0, ok, [2.0, 2.0]), (1, 0, ok, [3.0, 3.0])],
                        ["minimize", "minimize"])
    groups = rounds_of(study)
    assert list(groups) == [0, 1]
    assert [t.user_attrs[keys.SLOT] for t in groups[0]] == [0, 1] and [t.number for t in groups[0]] == [1, 0]


def test_round_summaries_take_each_objectives_best_in_its_direction() -> None:
    ok, fail, running = TrialState.COMPLETE, TrialState.FAIL, TrialState.RUNNING
    study = round_study([(0, 0, ok, [5.0, 30.0]), (0, 1, ok, [7.0, 40.0]), (0, 2, fail, None), (0, 3, ok, [6.0, 20.0]),
                          (0, 4, running, None)], ["maximize", "minimize"])  # a running trial has not failed
    (summary,) = round_summaries(study, ["IS", "FID"], ["maximize", "minimize"])
    assert (summary.round, summary.n_complete, summary.n_failed) == (0, 3, 1)
    assert summary.best == {"IS": 7.0, "FID": 20.0}
    assert summary.mean == {"IS": pytest.approx(6.0), "FID": pytest.approx(30.0)}


def test_a_round_is_complete_once_all_its_population_is_finished() -> None:
    ok, fail, running = TrialState.COMPLETE, TrialState.FAIL, TrialState.RUNNING
    study = round_study([(0, 0, ok, [1.0]), (0, 1, fail, None),  # round 0: both finished
                          (1, 0, ok, [1.0]), (1, 1, running, None),  # round 1: one still running
                          (2, 0, ok, [1.0])], ["minimize"])  # round 2: one of two asked
    assert completed_rounds(study, population_size=2) == [0]


def test_choose_best_prefers_fid_over_kid_and_breaks_ties_by_trial_number() -> None:
    ok = TrialState.COMPLETE
    # (KID, FID, params_M): a front of three; the lowest KID is not the lowest FID
    study = round_study([(0, 0, ok, [0.1, 30.0, 1.0]), (0, 1, ok, [0.3, 20.0, 2.0]), (0, 2, ok, [0.2, 25.0, 0.5])],
                         ["minimize", "minimize", "minimize"])
    assert choose_best(study, ["KID", "FID", "params_M"]).number == 1
    # two equal trials on the front, both with the lowest FID: the earlier one, every time
    tie = round_study([(0, 0, ok, [25.0, 0.5]), (0, 1, ok, [20.0, 1.0]), (0, 2, ok, [20.0, 1.0])],
                      ["minimize", "minimize"])
    assert choose_best(tie, ["FID", "params_M"]).number == 1


def test_the_default_front_is_the_last_round_with_results() -> None:
    """A last round whose trials all failed (or still run) has no front: the round before is used."""
    from optgan.study.results import pareto_trials

    ok, fail = TrialState.COMPLETE, TrialState.FAIL
    study = round_study([(0, 0, ok, [2.0, 1.0]), (0, 1, ok, [1.0, 2.0]), (1, 0, fail, None), (1, 1, fail, None)],
                         ["minimize", "minimize"])
    assert [t.number for t in pareto_trials(study)] == [0, 1]
    assert choose_best(study, ["FID", "params_M"]).number == 1
