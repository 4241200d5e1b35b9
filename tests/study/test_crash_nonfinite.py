"""Non-finite values: a NaN/inf evaluation FAILs its trial with the reason as a user attr and the
search goes on (one round = one generation of P trials); non-finite training losses are counted
and reported; a round whose losses stay non-finite stops with one line and resumes — on SQLite
and PostgreSQL."""

from __future__ import annotations

import dataclasses
import logging
import math

import pytest
from _crash_support import (DRY, SMALL, assert_generations_full, assert_same_trials, create, small_reference,
                            snapshot)
from click.testing import CliRunner

from optgan import keys
from optgan.engines import synthetic
from optgan.engines.real import _check_stats
from optgan.errors import OptganError
from optgan.trainer.search_training import RoundStats
from optgan_cli.main import main

POP = 4  # SMALL's population


def _run(name: str, url: str):  # noqa: ANN202
    return CliRunner().invoke(main, ["run", name, "--storage", url])


def _nan_for_some(real):  # noqa: ANN001, ANN202
    def values(genotype, names, widths):  # noqa: ANN001, ANN202
        out = real(genotype, names, widths)
        if sum(map(ord, genotype.to_json())) % 3 == 0:  # about a third, deterministic
            out = [math.nan if n == "FID" else v for n, v in zip(names, out)]
        return out
    return values


def test_nan_evaluations_fail_their_trials_and_the_search_goes_on(storage_url, unique_name, tmp_path,
                                                                  monkeypatch) -> None:
    monkeypatch.setattr(synthetic, "synthetic_values", _nan_for_some(synthetic.synthetic_values))
    create(unique_name, storage_url, DRY, SMALL, tmp_path / "run")
    r = _run(unique_name, storage_url)
    assert r.exit_code == 0, r.stderr
    snap = snapshot(storage_url, unique_name)
    assert_generations_full(snap, POP)
    trials = [t for stage in snap.values() for t in stage]
    failed = [t for t in trials if t["state"] == "FAIL"]
    assert failed and len(failed) < len(trials)
    assert all(t[keys.FAIL_REASON] == "non-finite objective(s): FID" for t in failed)
    assert all(t["values"] and all(map(math.isfinite, t["values"])) for t in trials if t["state"] == "COMPLETE")


def test_evaluation_failure_reason_is_stored(storage_url, unique_name, tmp_path, monkeypatch) -> None:
    real = synthetic.SyntheticEngine.evaluate

    def evaluate(self, population):  # noqa: ANN001, ANN202
        out = real(self, population)
        return [dataclasses.replace(out[0], reason="generated images contain NaN or inf"), *out[1:]]

    monkeypatch.setattr(synthetic.SyntheticEngine, "evaluate", evaluate)
    create(unique_name, storage_url, DRY, SMALL, tmp_path / "run")
    assert _run(unique_name, storage_url).exit_code == 0
    snap = snapshot(storage_url, unique_name)
    assert_generations_full(snap, POP)
    for trials in snap.values():
        assert [t[keys.FAIL_REASON] for t in trials if t["state"] == "FAIL"] == \
            ["generated images contain NaN or inf"] * len({t[keys.GENERATION] for t in trials})
        assert all(t[keys.SLOT] == 0 for t in trials if t["state"] == "FAIL")


def test_nonfinite_steps_are_counted_and_reported(caplog) -> None:
    with caplog.at_level(logging.WARNING, "optgan.engines.real"):
        _check_stats(RoundStats(iterations=10, loss_d=1.0, loss_g=0.5, nonfinite_steps=3), "round 2", "s")
    assert "round 2: 3 optimizer steps skipped on non-finite losses" in caplog.text
    with pytest.raises(OptganError, match="round 2: every training loss was non-finite; the search stopped at its last "
                                          "checkpoint.*start a new search with lower learning rates .`optgan study show s`"):
        _check_stats(RoundStats(iterations=10, loss_d=math.nan, loss_g=math.inf, nonfinite_steps=20), "round 2", "s")


def test_a_round_with_only_nonfinite_losses_stops_resumably(storage_url, unique_name, tmp_path, monkeypatch) -> None:
    create(unique_name, storage_url, DRY, SMALL, tmp_path / "run")

    def train(self, population):  # noqa: ANN001, ANN202
        if self.stage == "gen" and self.rounds_done == 1:  # round 2 diverges
            _check_stats(RoundStats(8, math.nan, math.nan, 16), f"round {self.rounds_done + 1}", self.search.name)

    with monkeypatch.context() as m:
        m.setattr(synthetic.SyntheticEngine, "train", train)
        r = _run(unique_name, storage_url)
    assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1
    assert "round 2: every training loss was non-finite" in r.stderr
    r = _run(unique_name, storage_url)  # e.g. after lowering the learning rates; here: the same run
    assert r.exit_code == 0, r.stderr
    assert_same_trials(snapshot(storage_url, unique_name), small_reference())
