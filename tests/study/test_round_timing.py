"""Per-round phase timings: measured per phase, stored on the study, read back in order."""

from __future__ import annotations

import time

import optuna
import pytest

from optgan import keys
from optgan.study.round_timing import PHASES, RoundTimer, round_seconds, save_round_seconds


def test_phases_accumulate_and_unknown_phases_are_refused() -> None:
    timer = RoundTimer()
    with timer.phase("train"):
        time.sleep(0.02)
    with timer.phase("train"):
        time.sleep(0.01)
    with pytest.raises(RuntimeError), timer.phase("evaluate"):  # an error still closes the phase
        raise RuntimeError("boom")
    assert timer.seconds["train"] >= 0.03 and "evaluate" in timer.seconds
    assert timer.total == pytest.approx(sum(timer.seconds.values()))
    assert timer.describe().startswith(f"{timer.total:.1f} s (train ")
    with pytest.raises(ValueError, match="phases: " + ", ".join(PHASES)):
        with timer.phase("lunch"):
            pass


def test_stored_on_the_study_and_read_back_in_round_order() -> None:
    study = optuna.create_study()
    study.set_user_attr("unrelated", {"x": 1})
    for g, secs in ((10, 1.5), (2, 0.25)):
        timer = RoundTimer()
        timer.seconds = {"train": secs, "tell": 0.5}
        save_round_seconds(study, g, timer)
    assert study.user_attrs[keys.ROUND_SECONDS_PREFIX + "2"] == {"train": 0.25, "tell": 0.5, "total": 0.75}
    got = round_seconds(study)
    assert list(got) == [2, 10] and got[10] == {"train": 1.5, "tell": 0.5, "total": 2.0}
