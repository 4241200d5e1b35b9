"""The fault-injection hook (`optgan.faults`) and atomic writes (`optgan.atomic`): kills at the
N-th hit or a delay after it, sleeps, a checkpoint cut mid-write, and no cost when unset."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import pytest
from _crash_support import KILLED, subprocess_env

from optgan import faults
from optgan.atomic import atomic_write_bytes, remove_partial_writes


def _python(code: str, fault: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env=subprocess_env(fault))


def test_unset_is_a_no_op_and_cheap() -> None:
    assert not faults.active()
    t0 = time.perf_counter()
    for _ in range(100_000):
        faults.point("train")
    assert time.perf_counter() - t0 < 0.5  # ≈ 0.1 µs a call


# the last seven could never fire or would fail in the middle of a run: hits count from 1 and times
# are finite and non-negative (a sleep's: positive)
@pytest.mark.parametrize("rule", ["nowhere:1", "train", "train:x", "train:1+y", "train:0", "train:-3", "train:1+-2",
                                  "train:1+nan", "train:sleep=0", "train:sleep=-1", "train:sleep=inf"])
def test_bad_rules_are_refused(rule: str, monkeypatch) -> None:
    monkeypatch.setenv(faults.FAULT_ENV, rule)
    try:
        with pytest.raises(ValueError, match=re.escape(f"bad rule {rule!r}")):
            faults.reload()
    finally:
        monkeypatch.delenv(faults.FAULT_ENV)
        faults.reload()


def test_sleep_rule(monkeypatch) -> None:
    monkeypatch.setenv(faults.FAULT_ENV, "evaluate:sleep=0.05")
    faults.reload()
    try:
        t0 = time.perf_counter()
        faults.point("evaluate")
        faults.point("train")
        assert 0.05 <= time.perf_counter() - t0 < 1
    finally:
        monkeypatch.delenv(faults.FAULT_ENV)
        faults.reload()


def test_kill_at_the_nth_hit() -> None:
    r = _python("from optgan import faults\nfor i in range(3):\n    faults.point('train'); print(i, flush=True)",
                "evaluate:1,train:2")
    assert r.returncode == KILLED and r.stdout.split() == ["0"]
    assert "optgan fault: SIGKILL at train#2" in r.stderr


def test_kill_after_a_delay_reports_where_the_run_was() -> None:
    code = ("import time\nfrom optgan import faults\nfrom optgan.atomic import remove_partial_writes\n"
            "faults.point('train')\nwhile True:\n    remove_partial_writes('/nonexistent/x')\n")
    r = _python(code, "train:1+0.2")
    assert r.returncode == KILLED
    assert "optgan fault: SIGKILL at train#1+0.2s in atomic.py:" in r.stderr


def test_checkpoint_cut_mid_write_keeps_the_old_file(tmp_path) -> None:
    path = tmp_path / "checkpoint.pt"
    atomic_write_bytes(path, b"old" * 10)
    r = _python(f"from optgan.atomic import atomic_write_bytes\natomic_write_bytes({str(path)!r}, b'n' * 1000)",
                "checkpoint_write:1")
    assert r.returncode == KILLED
    assert path.read_bytes() == b"old" * 10
    (tmp,) = tmp_path.glob(".tmp-*checkpoint.pt")
    assert tmp.stat().st_size == 500  # half written
    assert remove_partial_writes(path) == 1 and sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pt"]


def test_atomic_writes_get_the_permissions_of_a_plain_write(tmp_path) -> None:
    """mkstemp makes 0600 files; a checkpoint in a shared folder must be readable like any file."""
    from optgan.atomic import atomic_write_bytes

    atomic_write_bytes(tmp_path / "a.bin", b"x")
    (tmp_path / "plain.bin").write_bytes(b"x")  # under the same umask
    assert (tmp_path / "a.bin").stat().st_mode & 0o777 == (tmp_path / "plain.bin").stat().st_mode & 0o777


def test_folders_an_atomic_write_makes_reach_the_disk(tmp_path, monkeypatch) -> None:
    """The written file's folder is fsync'ed after the rename, and so is the parent of every folder
    the write made (else a power loss can drop a new `<run_dir>/gen/` with its checkpoint)."""
    from optgan import atomic

    synced: list[str] = []
    monkeypatch.setattr(atomic, "_fsync_dir", synced.append)
    (tmp_path / "run").mkdir()
    atomic_write_bytes(tmp_path / "run" / "gen" / "sub" / "checkpoint.pt", b"x")
    assert synced == [str(tmp_path / "run" / "gen" / "sub"), str(tmp_path / "run" / "gen"), str(tmp_path / "run")]
    synced.clear()
    atomic_write_bytes(tmp_path / "run" / "gen" / "sub" / "checkpoint.pt", b"y")  # nothing made now
    assert synced == [str(tmp_path / "run" / "gen" / "sub")]


def test_temporary_files_of_killed_writers_are_cleaned_up_once_stale(tmp_path) -> None:
    """Caches and sample grids have no run lease to clean up under: the next write of a file
    deletes the temporary files killed writers left for it once they are an hour old, never a
    fresh one (a concurrent writer's) nor another file's."""
    from optgan.atomic import STALE_TMP_S, TMP_PREFIX

    old, fresh = (tmp_path / f"{TMP_PREFIX}{tag}stats.pt" for tag in ("a1", "b2"))
    other = tmp_path / f"{TMP_PREFIX}c3grid.png"
    for f in (old, fresh, other):
        f.write_bytes(b"partial")
    stale = time.time() - STALE_TMP_S - 60
    os.utime(old, (stale, stale))
    os.utime(other, (stale, stale))
    atomic_write_bytes(tmp_path / "stats.pt", b"whole")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([fresh.name, other.name, "stats.pt"])


def test_a_stop_during_a_write_stays_a_stop(tmp_path) -> None:
    """Ctrl-C (or the CLI's stop) raised while the writer handles an OSError is not turned into
    a file error: only real errors are traced back to the file system's refusal."""
    import errno

    from optgan.atomic import write_atomically

    def interrupted(f) -> None:  # noqa: ANN001
        try:
            raise OSError(errno.EINTR, "Interrupted system call")
        except OSError:
            raise KeyboardInterrupt from None

    with pytest.raises(KeyboardInterrupt):
        write_atomically(tmp_path / "x.pt", interrupted)
    assert list(tmp_path.iterdir()) == []
