"""Formatting helpers of `optgan status` (the command itself is tested end to end in tests/study)."""

from __future__ import annotations

from optgan_cli.inspect_cmd import _duration


def test_status_durations_read_well() -> None:
    assert [_duration(x) for x in (42.4, 89, 420, 5399, 12_600)] == ["42 s", "89 s", "7 min", "90 min", "3.5 h"]


def test_status_says_how_the_checkpoint_and_the_study_differ() -> None:
    from optgan_cli.inspect_cmd import _behind

    def said(saved: int | None, done: int) -> str:
        return _behind({"rounds_checkpointed": saved, "rounds_done": done})

    assert said(None, 3) == "" and said(3, 3) == ""
    assert said(2, 3) == (" (the checkpoint holds 2: the next run retrains round 3 from the stored trials, "
                          "without telling them again)")
    assert "retrains rounds 2-3 " in said(1, 3)
    assert said(4, 3) == (" (the checkpoint holds 4, more than the study: a database older than the run "
                          "directory? the next run refuses it)")
