"""`optgan.atomic` details the crash tests do not pin down: the data is synced before the rename,
and cleaning up after a killed writer touches only that file's temporary files."""

from __future__ import annotations

import os

from optgan import atomic
from optgan.atomic import TMP_PREFIX, atomic_write_bytes, remove_partial_writes


def test_the_data_reaches_the_disk_before_the_rename(tmp_path, monkeypatch) -> None:
    events: list[str] = []
    sizes: list[int] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        events.append("fsync " + os.path.basename(os.readlink(f"/proc/self/fd/{fd}")) if os.path.isdir("/proc/self/fd")
                      else "fsync")
        sizes.append(os.fstat(fd).st_size)  # what the sync covers: Python's buffer must be written first
        real_fsync(fd)

    def replace(src, dst) -> None:  # noqa: ANN001
        events.append("replace")
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr(atomic, "_fsync_dir", lambda d: events.append("fsync dir"))
    atomic_write_bytes(tmp_path / "checkpoint.pt", b"x" * 100)
    assert events[-2:] == ["replace", "fsync dir"] and events[0].startswith("fsync")
    assert events[0] == "fsync" or events[0].startswith(f"fsync {TMP_PREFIX}")  # the temporary file itself
    assert sizes[0] == 100 and (tmp_path / "checkpoint.pt").read_bytes() == b"x" * 100


def test_removing_partial_writes_of_a_file_leaves_other_files_alone(tmp_path) -> None:
    mine, other = tmp_path / f"{TMP_PREFIX}a1checkpoint.pt", tmp_path / f"{TMP_PREFIX}b2synthetic.json"
    for f in (mine, other, tmp_path / "checkpoint.pt"):
        f.write_bytes(b"x")
    assert remove_partial_writes(tmp_path / "checkpoint.pt") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([other.name, "checkpoint.pt"])
    assert remove_partial_writes(tmp_path / "missing" / "x.pt") == 0


def test_a_file_in_the_way_of_the_folder_is_named_as_such(tmp_path) -> None:
    import pytest

    (tmp_path / "run").write_text("a file, not a folder")
    for path in (tmp_path / "run" / "checkpoint.pt", tmp_path / "run" / "gen" / "checkpoint.pt"):
        with pytest.raises(NotADirectoryError) as e:
            atomic_write_bytes(path, b"x")
        assert e.value.filename == str(path)  # the file asked for, not a temporary one


def test_a_folder_to_be_made_under_an_unwritable_parent_says_so(tmp_path, monkeypatch) -> None:
    from optgan.atomic import writable_dir_problem

    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode, *a, **k: False if str(path) == str(tmp_path) else
                        real_access(path, mode, *a, **k))
    assert writable_dir_problem(tmp_path / "new", create=False) == f"{tmp_path / 'new'} cannot be created ({tmp_path} is not writable)"
    assert not (tmp_path / "new").exists()
