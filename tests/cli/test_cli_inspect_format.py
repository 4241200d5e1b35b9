"""Formatting helpers of `optgan status` (the command itself is tested end to end in tests/study)."""

from __future__ import annotations

from optgan_cli.inspect_cmd import _duration


def test_status_durations_read_well() -> None:
    assert [_duration(x) for x in (42.4, 89, 420, 5399, 12_600)] == ["42 s", "89 s", "7 min", "90 min", "3.5 h"]
