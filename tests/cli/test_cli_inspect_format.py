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


def _status_text(monkeypatch, run: dict, rounds_checkpointed: int | None = 1) -> str:
    """`optgan status NAME` on a stand-in search: one stage with two rounds told, one in progress."""
    import types

    from click.testing import CliRunner

    from optgan_cli.main import main

    search = types.SimpleNamespace(labels=["FID"], storage=types.SimpleNamespace(engine=None))
    stage = {"stage": "gen", "rounds_done": 2, "rounds_total": 4, "rounds_checkpointed": rounds_checkpointed,
             "seconds_per_round": 30.0, "eta_seconds": 60.0,
             "rounds": [{"generation": g, "complete": 8, "failed": 0, "best": {"FID": 10.0 - g},
                         "mean": {"FID": 20.0 - g}, "seconds": {"total": 30.0}} for g in (0, 1)]
             + [{"generation": 2, "complete": 3, "failed": 0, "best": {"FID": 7.5}, "mean": {"FID": 9.0},
                 "seconds": None}],
             "in_progress": {"generation": 2, "asked": 8, "told": 3},
             "pareto": [{"trial": 12, "values": {"FID": 8.0}}], "waiting": []}
    monkeypatch.setattr("optgan.study.search.load_search", lambda name, storage: search)
    monkeypatch.setattr("optgan.study.move.moved_to", lambda storage, name: None)
    monkeypatch.setattr("optgan.study.lease.run_state", lambda engine, name: run)
    monkeypatch.setattr("optgan.study.summary.stage_status", lambda s, name: {**stage, "stage": name})
    r = CliRunner().invoke(main, ["status", "x"], catch_exceptions=False)
    assert r.exit_code == 0, r.stderr
    return r.stdout


def test_status_text_of_a_running_and_a_stopped_search(monkeypatch) -> None:
    running = _status_text(monkeypatch, {"state": "running", "pid": 7, "host": "h1", "running_for_s": 600,
                                         "heartbeat_age_s": 3})
    assert running.splitlines()[0] == "search x: running, PID 7 on host h1 for 10 min (heartbeat 3 s ago)"
    assert "stage gen: 2/4 rounds, 30.0 s/round, about 60 s left\n" in running  # a checkpoint trailing a live run is normal
    assert "  round   1: 8 ok, 0 failed | best FID=10 | mean FID=20 | 30.0 s\n" in running
    assert "  round   3: in progress, 3/8 asked trials told | so far: best FID=7.5 | mean FID=9\n" in running
    assert "  pareto: trial   12  FID=8\n" in running
    stale = _status_text(monkeypatch, {"state": "stale", "pid": 7, "host": "h1", "heartbeat_age_s": 7200})
    assert stale.splitlines()[0] == ("search x: not running (PID 7 on host h1 stopped without releasing its lease, "
                                     "heartbeat 2.0 h ago; the next `optgan run x` takes it over)")
    assert "stage gen: 2/4 rounds, 30.0 s/round, about 60 s left (the checkpoint holds 1: the next run retrains round 2" \
        in stale
    idle = _status_text(monkeypatch, {"state": "idle"}, rounds_checkpointed=2)
    assert idle.splitlines()[0] == "search x: not running" and "stage disc: 2/4 rounds, 30.0 s/round, about 60 s left\n" in idle
    unknown = _status_text(monkeypatch, {"state": "unknown"})
    assert unknown.splitlines()[0] == "search x: running or not (the run leases cannot be read here)"
