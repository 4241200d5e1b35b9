"""One `optgan train` per output folder: an exclusive `flock` on the folder's run marker.

A second process training into the same folder (a command started twice, a scheduler that
requeued a job whose first copy still runs) would overwrite the first one's checkpoints and
history. The lock lives on `<out>/.optgan-train` (the marker that says the folder is a training
run), so it needs no other file; it records who holds it (PID, host, start time) for the
refusal message. The kernel drops a `flock` when its process dies, also by SIGKILL, so a
killed run never leaves a stale lock behind. On a file system without locks (an NFS mount
without its lock service) the run warns once and goes on unlocked.
"""

from __future__ import annotations

import datetime as dt
import errno
import json
import logging
import os
import socket
import time

from optgan.errors import OptganError

__all__ = ["RunDirBusyError", "RunDirLock", "UNKNOWN_HOLDER", "training_holder"]

log = logging.getLogger(__name__)

try:
    import fcntl
except ImportError:  # not POSIX: no lock (documented)
    fcntl = None  # type: ignore[assignment]


class RunDirBusyError(OptganError):
    """Another live process trains into the same output folder."""


class RunDirLock:
    """An exclusive lock on `path` held until :meth:`release` (or garbage collection)."""

    def __init__(self, fd: int | None) -> None:
        self._fd = fd

    @classmethod
    def acquire(cls, path: str, what: str) -> RunDirLock:
        """Lock `path` (created if missing); `what` names the folder in the refusal."""
        if fcntl is None:
            return cls(None)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            _flock_exclusive(fd)
        except OSError as e:
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                holder = _holder(fd)
                os.close(fd)
                raise RunDirBusyError(f"{what} is being trained by {holder}; wait for it to finish (or stop it), "
                                      "or train into another --out folder") from None
            os.close(fd)
            log.warning("cannot lock %s (%s): make sure only one `optgan train` writes to %s", path,
                        e.strerror or e, what)
            return cls(None)
        record = {"pid": os.getpid(), "host": socket.gethostname(),
                  "since": dt.datetime.now().astimezone().isoformat(timespec="seconds")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(record).encode(), 0)
        return cls(fd)

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def __del__(self) -> None:
        self.release()


def _flock_exclusive(fd: int, tries: int = 5) -> None:
    """`flock(LOCK_EX)` without waiting for a holder, yet past a :func:`training_holder` probe
    (it holds a shared lock for a moment): a few tries, 20 ms apart."""
    for attempt in range(tries):
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except OSError as e:
            if attempt == tries - 1 or e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            time.sleep(0.02)


#: what :func:`training_holder` says where it cannot tell (a file system without locks)
UNKNOWN_HOLDER = "unknown (no file locks here)"


def training_holder(path: str) -> str | None:
    """Who holds the lock on `path` now (`PID … on host …`), None when no process does (or there
    is no such file), :data:`UNKNOWN_HOLDER` where locks do not work. Takes no lock that outlives
    the call (a starting holder retries past it)."""
    if fcntl is None:
        return UNKNOWN_HOLDER
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError as e:
        return _holder(fd) if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES) else UNKNOWN_HOLDER
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _holder(fd: int) -> str:
    """`PID 123 on host gpu-07 (since …)` from the lock file, or `another process`."""
    try:
        record = json.loads(os.pread(fd, 4096, 0) or b"{}")
        return f"PID {int(record['pid'])} on host {record['host']} (since {record['since']})"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"
