"""The stop line of a command: no stray blank line before it (click prints one for every stop, to
close a terminal's ``^C`` echo), except after a Ctrl-C on a terminal, where it ends that echo."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time

import pytest
from _crash_support import DRY, SMALL, create, subprocess_env


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.default_int_handler)  # whatever launched pytest (`cmd &` ignores it)


@pytest.mark.parametrize("signame, code", [("SIGTERM", 143), ("SIGINT", 130)])
def test_no_blank_line_before_the_stop_line_in_a_log(tmp_path, signame: str, code: int) -> None:
    url = f"sqlite:///{tmp_path / 'optgan.db'}"
    create("s", url, DRY, SMALL, tmp_path / "run")
    log = tmp_path / "stderr.log"
    with log.open("w") as stderr:
        p = subprocess.Popen([sys.executable, "-m", "optgan_cli", "run", "s", "--storage", url],
                             stdout=subprocess.DEVNULL, stderr=stderr, env=subprocess_env("train:sleep=60"),
                             preexec_fn=_default_sigint)
    # stopped once the run has logged a line (its first round), so that a line comes before the
    # stop line (under load in CI, 0.5 s after the lease was taken was once before any)
    deadline = time.monotonic() + 120
    while "round 1/" not in log.read_text() and time.monotonic() < deadline and p.poll() is None:
        time.sleep(0.1)
    time.sleep(0.5)
    p.send_signal(getattr(signal, signame))
    p.wait(timeout=60)
    err = log.read_text()
    lines = err.splitlines()
    assert p.returncode == code and lines[-1].startswith("error: stopped"), err
    assert lines[-2].strip(), f"a blank line before the stop line: {err[-300:]!r}"


def _read_terminal(fd: int, until: bytes | None = None, timeout_s: float = 600) -> bytes:
    """What the child writes to its terminal until it closes it, or until `until` is seen."""
    seen = b""
    deadline = time.monotonic() + timeout_s
    while (until is None or until not in seen) and time.monotonic() < deadline:
        if not select.select([fd], [], [], 0.1)[0]:
            continue
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    return seen


def test_ctrl_c_on_a_terminal_ends_the_echoed_line_first(tmp_path) -> None:
    import pty

    url = f"sqlite:///{tmp_path / 'optgan.db'}"
    create("t", url, DRY, SMALL, tmp_path / "run")
    env = subprocess_env("train:sleep=60")
    pid, fd = pty.fork()
    if pid == 0:  # the child: `optgan run` on a pseudo-terminal
        _default_sigint()
        os.execve(sys.executable, [sys.executable, "-m", "optgan_cli", "run", "t", "--storage", url], env)
    seen = b""
    try:
        # stopped once the run has logged its first round, so that a line comes before the stop
        # line (in CI, 0.5 s after the lease was taken was once before any line)
        seen = _read_terminal(fd, until=b"round 1/", timeout_s=120)
        time.sleep(0.5)
        os.kill(pid, signal.SIGINT)
        seen += _read_terminal(fd)
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 130
    text = seen.decode(errors="replace").replace("\r\n", "\n")
    assert "\n\nerror: stopped;" in text, text[-300:]


_WITH_ATEXIT_MARK = ("import atexit, pathlib, sys\n"
                     "mark = pathlib.Path(sys.argv.pop(1))\n"
                     "atexit.register(lambda: mark.write_text('finalized'))\n"
                     "from optgan_cli.entry import main\n"
                     "main()\n")


def test_a_stopped_command_exits_without_interpreter_finalization(tmp_path) -> None:
    """A stop ends the process with `os._exit` once its line is written: atexit hooks and the
    interpreter's finalization (where a C extension's thread left mid-call by the signal aborted
    the process with -6 once in CI) are skipped. A command that ends otherwise finalizes as usual."""
    url = f"sqlite:///{tmp_path / 'optgan.db'}"
    create("s", url, DRY, SMALL, tmp_path / "run")
    mark, log = tmp_path / "finalized", tmp_path / "stderr.log"
    done = subprocess.run([sys.executable, "-c", _WITH_ATEXIT_MARK, str(mark), "--version"], capture_output=True,
                          text=True, env=subprocess_env(), timeout=120)
    assert done.returncode == 0 and "optgan" in done.stdout and mark.read_text() == "finalized"
    mark.unlink()
    with log.open("w") as stderr:
        p = subprocess.Popen([sys.executable, "-c", _WITH_ATEXIT_MARK, str(mark), "run", "s", "--storage", url],
                             stdout=subprocess.DEVNULL, stderr=stderr, env=subprocess_env("train:sleep=60"))
    deadline = time.monotonic() + 120
    while "round 1/" not in log.read_text() and time.monotonic() < deadline and p.poll() is None:
        time.sleep(0.1)
    p.send_signal(signal.SIGTERM)
    p.wait(timeout=60)
    err = log.read_text()
    assert p.returncode == 143 and err.splitlines()[-1] == (
        "error: stopped by SIGTERM; the search resumes when the same command is run again"), err
    assert not mark.exists()  # no finalization
    r = subprocess.run([sys.executable, "-m", "optgan_cli", "status", "s", "--storage", url], capture_output=True,
                       text=True, env=subprocess_env(), timeout=120)
    assert r.returncode == 0 and "search s: not running" in r.stdout  # the lease was released before the exit
