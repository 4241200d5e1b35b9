"""`optgan.atomic` rules the crash suites leave open (found by mutation testing, round 11):
`writable_dir_problem`'s checks, the folder fsync and its file descriptor, errors raised while a
writer handles the file system's refusal, and the temporary files a failed write leaves."""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

import pytest

from optgan import atomic
from optgan.atomic import TMP_PREFIX, atomic_write_bytes, writable_dir_problem, write_atomically


def test_an_empty_folder_is_fine_and_a_non_empty_one_only_when_it_need_not_be_empty(tmp_path: Path) -> None:
    """`must_be_empty` refuses a folder with files (a run directory to be created), an empty one
    passes, and without `must_be_empty` a folder with files is as good as any."""
    assert writable_dir_problem(tmp_path, must_be_empty=True) is None
    (tmp_path / "x").write_text("x")
    assert writable_dir_problem(tmp_path, must_be_empty=True) == f"{tmp_path} already holds files"
    assert writable_dir_problem(tmp_path) is None


def test_create_false_makes_nothing_and_judges_the_nearest_existing_parent(tmp_path: Path) -> None:
    """A dry run (`create=False`) must not leave the folder (nor its probe) behind, yet say
    when a file stands where a parent folder should be."""
    target = tmp_path / "a" / "b"
    assert writable_dir_problem(target, create=False) is None
    assert list(tmp_path.iterdir()) == []  # neither a/ nor a probe folder was left
    (tmp_path / "f").write_text("a file")
    assert writable_dir_problem(tmp_path / "f" / "run", create=False) == (
        f"{tmp_path / 'f' / 'run'} cannot be created (a file is in the way: {tmp_path / 'f'})")


def test_create_false_on_an_existing_folder_still_checks_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An existing folder is judged as it is, whatever `create` says: an unwritable one is named."""
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode, *a, **k: False if str(path) == str(tmp_path) else
                        real_access(path, mode, *a, **k))
    assert writable_dir_problem(tmp_path, create=False) == f"{tmp_path} is not writable"
    assert writable_dir_problem(tmp_path) == f"{tmp_path} is not writable"


def test_create_false_tries_the_parent_as_os_access_trusts_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`os.access` says yes to root on a read-only file system: the dry run really makes (and
    removes) a probe folder, and reports the OS's refusal."""
    def refuse(*args: object, **kwargs: object) -> str:
        raise PermissionError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(tempfile, "mkdtemp", refuse)
    assert writable_dir_problem(tmp_path / "run", create=False) == (
        f"{tmp_path / 'run'} cannot be created (Read-only file system)")


def test_the_parent_must_be_writable_and_searchable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A parent without write permission is refused even when it can be read."""
    real_access = os.access

    def access(path: object, mode: int, *a: object, **k: object) -> bool:
        if str(path) == str(tmp_path):
            return not mode & os.W_OK  # readable, searchable, not writable
        return real_access(path, mode, *a, **k)

    monkeypatch.setattr(os, "access", access)
    assert writable_dir_problem(tmp_path / "new", create=False) == (
        f"{tmp_path / 'new'} cannot be created ({tmp_path} is not writable)")


def test_create_makes_the_missing_parents_too(tmp_path: Path) -> None:
    """`create=True` makes the whole missing path (a nested `--run-dir`)."""
    assert writable_dir_problem(tmp_path / "a" / "b" / "c") is None
    assert (tmp_path / "a" / "b" / "c").is_dir()


def test_a_folder_that_cannot_be_made_says_why(tmp_path: Path) -> None:
    """mkdir's refusal (a file in the way of a parent) is one line with the OS's reason."""
    (tmp_path / "f").write_text("a file")
    assert writable_dir_problem(tmp_path / "f" / "run") == f"{tmp_path / 'f' / 'run'} cannot be created (Not a directory)"


def test_the_folder_of_a_written_file_is_fsynced_and_its_descriptor_closed(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The rename reaches the disk only with an fsync of the folder itself; the folder's file
    descriptor is closed again (a long search writes thousands of files)."""
    if not os.path.isdir("/proc/self/fd"):
        pytest.skip("needs /proc/self/fd")
    synced: list[str] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    atomic_write_bytes(tmp_path / "warm.bin", b"x")  # imports and caches settle first
    before = len(os.listdir("/proc/self/fd"))
    monkeypatch.setattr(os, "fsync", fsync)
    for i in range(20):
        atomic_write_bytes(tmp_path / "a.bin", bytes([i]))
    monkeypatch.undo()
    assert str(tmp_path) in synced
    assert len(os.listdir("/proc/self/fd")) <= before


def test_an_error_raised_while_handling_the_refusal_names_the_file(tmp_path: Path) -> None:
    """A writer that turns the OS's OSError into its own error inside the `except` (implicit
    context, no `from`) still yields an OSError for the file asked for, not the temporary one."""
    def writer(f: object) -> None:
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError:
            raise RuntimeError("writer failed")  # noqa: B904 - the implicit context is the point

    with pytest.raises(OSError) as e:
        write_atomically(tmp_path / "stats.pt", writer)
    assert e.value.errno == errno.ENOSPC and e.value.filename == str(tmp_path / "stats.pt")
    assert list(tmp_path.iterdir()) == []  # the temporary file is gone too


def test_a_failed_rename_removes_the_temporary_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A crash at the rename (simulated) keeps the old file and deletes the temporary one, and
    the error names the file asked for."""
    atomic_write_bytes(tmp_path / "ck.pt", b"old")

    def replace(src: str, dst: str) -> None:
        raise OSError(errno.EIO, "Input/output error", src)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(OSError) as e:
        atomic_write_bytes(tmp_path / "ck.pt", b"new")
    monkeypatch.undo()
    assert e.value.filename == str(tmp_path / "ck.pt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck.pt"] and (tmp_path / "ck.pt").read_bytes() == b"old"


def test_a_fresh_temporary_file_of_a_concurrent_writer_survives_a_write(tmp_path: Path) -> None:
    """Only temporary files older than STALE_TMP_S are deleted: one a live writer holds right now stays."""
    live = tmp_path / f"{TMP_PREFIX}zz9stats.pt"
    live.write_bytes(b"in progress")
    atomic_write_bytes(tmp_path / "stats.pt", b"whole")
    assert live.exists() and atomic.STALE_TMP_S == 3600.0
