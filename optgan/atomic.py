"""Atomic file writes, torch-free: temporary file in the same folder, fsync, rename, folder fsync
(and the fsync of the parents of folders the write made).

A crash leaves either the old or the new file, never a torn one; what it can leave is a
temporary file (`.tmp-*<name>`), which :func:`remove_partial_writes` deletes (engines call it
when they open their run directory, under the search's run lease); elsewhere (metrics caches,
sample grids) the next write of the same file deletes such leftovers once they are an hour old. The `checkpoint_write`
fault point (:mod:`optgan.faults`) sits between writing the temporary file and the rename.
"""

from __future__ import annotations

import errno
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from optgan import faults

__all__ = ["TMP_PREFIX", "write_atomically", "atomic_write_bytes", "remove_partial_writes", "writable_dir_problem"]

TMP_PREFIX = ".tmp-"


def _process_umask() -> int:
    mask = os.umask(0o022)  # read it (Python 3.11 has no getter); at import, before any threads
    os.umask(mask)
    return mask


#: permissions of written files: what `open()` would give (mkstemp's own are 0600, owner only)
_FILE_MODE = 0o666 & ~_process_umask()


def write_atomically(path: str | os.PathLike, write: Callable[[BinaryIO], object], *,
                     fault_point: bool = True) -> None:
    """Call `write(f)` on a temporary file next to `path`, then move it to `path` atomically.

    `fault_point`: whether the write counts as a `checkpoint_write` of :mod:`optgan.faults`
    (caches that are rebuilt on a miss opt out, so crash tests hit the run's own files)."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    made = _missing_dirs(directory)
    try:
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=TMP_PREFIX, suffix=os.path.basename(path), dir=directory)
    except FileExistsError as e:  # a file where a folder of the path should be
        raise NotADirectoryError(errno.ENOTDIR, "Not a directory (a file is in the way)", path) from e
    except OSError as e:  # name the file the caller asked for, not the temporary one
        raise OSError(e.errno, e.strerror, path) from e
    try:
        os.fchmod(fd, _FILE_MODE)  # readable by whoever may read the folder, as a plain write would be
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            if fault_point:
                faults.point("checkpoint_write", partial_file=f)
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        if os.path.exists(tmp):
            os.unlink(tmp)
        cause = _os_error_in(e)  # e.g. torch's zip writer reports a full disk as a RuntimeError
        if cause is not None:  # name the file the caller asked for, not the temporary one
            raise OSError(cause.errno, cause.strerror, path) from e
        raise
    _fsync_dir(directory)
    for d in made:  # a folder made here: its entry in its parent must reach the disk too
        _fsync_dir(os.path.dirname(d))
    _remove_stale_temps(directory, os.path.basename(path))


#: a temporary file this old belongs to a writer that died (a live one finishes in seconds)
STALE_TMP_S = 3600.0


def _remove_stale_temps(directory: str, name: str) -> None:
    """Delete temporary files of `name` that killed writers left (caches and outputs have no
    run lease to clean them up under; a concurrent writer's fresh file is never touched)."""
    now = time.time()
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return
    for entry in entries:
        if entry.name.startswith(TMP_PREFIX) and entry.name.endswith(name):
            try:
                if now - entry.stat(follow_symlinks=False).st_mtime > STALE_TMP_S:
                    os.unlink(entry.path)
            except OSError:
                pass  # gone meanwhile, or not ours to delete


def _os_error_in(e: BaseException) -> OSError | None:
    """`e` if it is an OSError, else the OSError it was raised from or while handling (a writer
    that wraps the file system's refusal in its own error type), else None."""
    if not isinstance(e, Exception):  # Ctrl-C / a stop stays what it is
        return None
    seen: list[BaseException] = []
    while e is not None and all(e is not x for x in seen):
        if isinstance(e, OSError):
            return e
        seen.append(e)
        e = e.__cause__ or e.__context__  # type: ignore[assignment]
    return None


def _missing_dirs(directory: str) -> list[str]:
    """The folders of `directory`'s path that do not exist yet, deepest first."""
    missing: list[str] = []
    while not os.path.isdir(directory) and os.path.dirname(directory) != directory:
        missing.append(directory)
        directory = os.path.dirname(directory)
    return missing


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write `data` to `path` atomically."""
    write_atomically(path, lambda f: f.write(data))


def remove_partial_writes(path: str | os.PathLike) -> int:
    """Delete temporary files an interrupted :func:`write_atomically` of `path` left; returns how many.

    Only safe while no other process writes `path` (the run lease guarantees it for run files).
    """
    target = Path(path)
    if not target.parent.is_dir():
        return 0
    stale = list(target.parent.glob(f"{TMP_PREFIX}*{target.name}"))
    for tmp in stale:
        tmp.unlink(missing_ok=True)
    return len(stale)


def writable_dir_problem(path: str | os.PathLike, *, must_be_empty: bool = False, create: bool = True) -> str | None:
    """None when `path` is (or, with `create`, has been made) a writable folder, else what is wrong
    (for the caller's one-line error): a file, not creatable, not writable, or not empty. With
    `create=False` nothing is made: a missing folder is judged by its nearest existing parent."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        return f"{path} is a file"
    if must_be_empty and path.is_dir() and any(path.iterdir()):
        return f"{path} already holds files"
    if not create and not path.exists():
        parent = next(p for p in path.parents if p.exists())  # `/` always exists
        if not parent.is_dir():
            return f"{path} cannot be created (a file is in the way: {parent})"
        if not os.access(parent, os.W_OK | os.X_OK):
            return f"{path} cannot be created ({parent} is not writable)"
        try:  # os.access trusts root (and NFS root squash, read-only pseudo file systems do not): try it
            os.rmdir(tempfile.mkdtemp(prefix=TMP_PREFIX, dir=parent))
        except OSError as e:
            return f"{path} cannot be created ({e.strerror})"
        return None
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        return f"{path} cannot be created ({e.strerror})"
    if not os.access(path, os.W_OK | os.X_OK):
        return f"{path} is not writable"
    return None


def _fsync_dir(directory: str) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # e.g. platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
