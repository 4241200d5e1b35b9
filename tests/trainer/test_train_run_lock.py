"""One `optgan train` per output folder (`optgan.trainer.run_lock`): a second process is refused in
one line naming the holder and touches nothing; a killed holder leaves no stale lock."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from optgan.trainer.final_outputs import RUN_MARKER
from optgan.trainer.run_lock import RunDirBusyError, RunDirLock, training_holder
from optgan_cli.main import main

_HOLD = """
import sys, time
from optgan.trainer.run_lock import RunDirLock
lock = RunDirLock.acquire(sys.argv[1], "x")
print("locked", flush=True)
time.sleep(600)
"""


def _holder(path: Path) -> subprocess.Popen:
    p = subprocess.Popen([sys.executable, "-c", _HOLD, str(path)], stdout=subprocess.PIPE, text=True)
    assert p.stdout is not None and p.stdout.readline().strip() == "locked"
    return p


def test_a_second_holder_is_refused_until_the_first_releases(tmp_path) -> None:
    path = tmp_path / RUN_MARKER
    first = RunDirLock.acquire(str(path), "output directory X")
    with pytest.raises(RunDirBusyError, match=rf"output directory X is being trained by PID {os.getpid()} on host "):
        RunDirLock.acquire(str(path), "output directory X")
    first.release()
    RunDirLock.acquire(str(path), "output directory X").release()


def test_a_killed_holder_leaves_no_stale_lock(tmp_path) -> None:
    path = tmp_path / RUN_MARKER
    p = _holder(path)
    with pytest.raises(RunDirBusyError, match=f"PID {p.pid} "):
        RunDirLock.acquire(str(path), "x")
    p.send_signal(signal.SIGKILL)
    p.wait(timeout=30)
    RunDirLock.acquire(str(path), "x").release()  # the kernel dropped the dead process's lock


def test_train_into_a_folder_another_process_trains_is_one_line_and_touches_nothing(tmp_path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "checkpoint-last.pt").write_bytes(b"the other run's checkpoint")
    p = _holder(out / RUN_MARKER)
    try:
        before = {f.name: f.read_bytes() for f in out.iterdir()}
        time.sleep(0.05)
        r = CliRunner().invoke(main, ["train", "--config", str(Path(__file__).parents[2] / "studies" / "train-quickstart.yaml"),
                                      "--out", str(out), "--no-progress"], catch_exceptions=False)
        assert r.exit_code == 2, (r.stdout, r.stderr)
        assert r.stderr.strip().splitlines() == [
            r.stderr.strip()] and f"is being trained by PID {p.pid} on host" in r.stderr and "another --out" in r.stderr
        assert {f.name: f.read_bytes() for f in out.iterdir()} == before
    finally:
        p.kill()
        p.wait(timeout=30)


def test_eval_of_a_folder_in_training_says_who_trains_it(tmp_path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    p = _holder(out / RUN_MARKER)
    try:
        assert training_holder(str(out / RUN_MARKER)).startswith(f"PID {p.pid} on host ")
        r = CliRunner().invoke(main, ["eval", str(out)], catch_exceptions=False)
        assert r.exit_code == 2 and f"yet: its training (PID {p.pid} on host " in r.stderr, r.stderr
        assert "saves one at the end of each epoch; retry later" in r.stderr
        r = CliRunner().invoke(main, ["train", "--config", str(Path(__file__).parents[2] / "studies" /
                                                               "train-quickstart.yaml"), "--out", str(out), "--dry-run"])
        assert r.exit_code == 2 and f"is being trained by PID {p.pid} on host " in r.stderr, r.stderr  # as the run
    finally:
        p.kill()
        p.wait(timeout=30)
    assert training_holder(str(out / RUN_MARKER)) is None and training_holder(str(tmp_path / "nope")) is None


def test_a_holder_probe_does_not_make_a_starting_run_refuse(tmp_path) -> None:
    """`training_holder` holds a shared lock for a moment: a run starting then waits it out."""
    import fcntl
    import threading

    path = tmp_path / RUN_MARKER
    path.write_text("{}")
    probe = os.open(path, os.O_RDONLY)
    fcntl.flock(probe, fcntl.LOCK_SH | fcntl.LOCK_NB)  # as a probe does, released 30 ms later
    threading.Timer(0.03, lambda: (fcntl.flock(probe, fcntl.LOCK_UN), os.close(probe))).start()
    RunDirLock.acquire(str(path), "x").release()
