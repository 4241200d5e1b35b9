"""`optgan.faults` and `optgan.study.storage` rules the crash and storage suites leave open (found
by mutation testing, round 12): how fault rules are parsed and counted, where a timer kill says the
run was, and the storage's messages, read-only engine and dry-run checks."""

from __future__ import annotations

import os
import sqlite3
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import optuna
import pytest
import sqlalchemy as sa

from optgan import faults
from optgan.errors import StorageError
from optgan.study.storage import (db_error_reason, open_storage, read_only_engine, refuse_if_read_only,
                                  study_names_for_create)
from optgan.study.storage_url import redact, scrub_passwords

DOCUMENTED_POINTS = ("run", "warmup", "train", "evaluate", "between_tells", "checkpoint_write", "create",
                     "create_commit", "move_copied", "move_marked")


@pytest.fixture
def kills(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The kills `faults.point` would do (recorded, not done); the rules are reset afterwards."""
    done: list[str] = []
    monkeypatch.setattr(faults, "_kill", done.append)
    yield done
    monkeypatch.delenv(faults.FAULT_ENV, raising=False)
    faults.reload()


def _rules(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setenv(faults.FAULT_ENV, text)
    faults.reload()


def test_hits_are_counted_per_point_and_reset_by_reload(kills: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """`train:2` fires at the second `train`, whatever other points were hit, and `reload`
    starts counting again."""
    _rules(monkeypatch, "train:2")
    faults.point("evaluate")
    faults.point("train")
    assert kills == []
    faults.point("train")
    assert kills == ["train#2"]
    faults.point("train")
    faults.reload()
    faults.point("train")
    assert kills == ["train#2"]


def test_rules_tolerate_spaces_and_empty_items(kills: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """`OPTGAN_FAULT=" evaluate:1 , ,train:1,"` is two rules (a shell-quoted list, a trailing comma)."""
    _rules(monkeypatch, " evaluate:1 , ,train:1,")
    faults.point("train")
    faults.point("evaluate")
    assert kills == ["train#1", "evaluate#1"]


def test_a_bad_rule_names_the_rule_and_every_point(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(faults.FAULT_ENV, "train:x")
    try:
        with pytest.raises(ValueError) as info:
            faults.reload()
    finally:
        monkeypatch.delenv(faults.FAULT_ENV)
        faults.reload()
    said = str(info.value)
    assert "bad rule 'train:x'" in said and "POINT:sleep=SECONDS" in said
    assert said.endswith(", ".join(DOCUMENTED_POINTS))


def test_an_immediate_timer_rule_is_accepted(kills: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    _rules(monkeypatch, "train:1+0")  # a delay of 0 s is an immediate kill
    faults.point("train")
    assert kills == ["train#1"]


@pytest.mark.parametrize("name", DOCUMENTED_POINTS)
def test_every_documented_point_takes_a_rule(name: str, kills: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    _rules(monkeypatch, f"{name}:1")
    faults.point(name)
    assert kills == [f"{name}#1"]


def test_a_delayed_kill_is_a_daemon_timer(kills: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """`train:1+0.5` starts one daemon timer at the first hit (a run that ends first is not held
    back), none at later hits, and kills nothing itself."""
    started: list[tuple[float, tuple, bool]] = []

    class Timer:
        def __init__(self, interval: float, function: object, args: tuple = ()) -> None:
            self.interval, self.args, self.daemon = interval, args, False

        def start(self) -> None:
            started.append((self.interval, self.args, self.daemon))

    monkeypatch.setattr(threading, "Timer", Timer)
    _rules(monkeypatch, "train:1+0.5")
    faults.point("train")
    faults.point("train")
    assert started == [(0.5, ("train#1+0.5s",), True)]
    assert kills == []


def _frames(*where: tuple[str, int, str]) -> SimpleNamespace | None:
    """A fake frame chain, innermost first, of (file, line, function)."""
    frame = None
    for path, line, function in reversed(where):
        frame = SimpleNamespace(f_code=SimpleNamespace(co_filename=path, co_name=function), f_lineno=line,
                                f_back=frame)
    return frame


@pytest.mark.parametrize(("chain", "expected"), [
    ((("/usr/lib/python3/threading.py", 300, "wait"), ("/src/optgan/study/runner.py", 10, "run_round"),
      ("/src/optgan/cli/main.py", 5, "main")), "study/runner.py:10 run_round"),
    ((("/usr/lib/python3/threading.py", 300, "wait"), ("/src/script.py", 3, "<module>")),
     "/usr/lib/python3/threading.py:300 wait"),
])
def test_a_timer_kill_names_the_innermost_optgan_frame(chain: tuple, expected: str,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The innermost optgan frame of the main thread, not an outer one; the innermost frame of
    all when optgan is nowhere on the stack."""
    monkeypatch.setattr(sys, "_current_frames", lambda: {threading.main_thread().ident: _frames(*chain)})
    assert faults._main_thread_location() == expected


def test_an_unparsable_url_loses_its_user_part_in_messages() -> None:
    assert redact("postgresql://u:secret@h:notaport/db") == "h:notaport/db"


def test_a_postgres_url_gets_a_hint() -> None:
    with pytest.raises(StorageError, match=r"back end 'postgres' .* not supported \(did you mean postgresql://…\?\)"):
        open_storage("postgres://u@h/db")


@pytest.mark.parametrize(("count", "shown"), [(4, "a, b, c, d"), (5, "a, b, c, d, …")])
def test_a_foreign_sqlite_database_names_four_of_its_tables(count: int, shown: str, tmp_path: Path) -> None:
    db = tmp_path / "other.db"
    with sqlite3.connect(db) as conn:
        for name in "abcde"[:count]:
            conn.execute(f"CREATE TABLE {name} (x INTEGER)")
    conn.close()
    with pytest.raises(StorageError) as info:
        open_storage(f"sqlite:///{db}")
    assert f"(tables: {shown}); give another file" in str(info.value)


def _database_with_search(tmp_path: Path) -> tuple[Path, str]:
    db = tmp_path / "db.sqlite"
    url = f"sqlite:///{db}"
    storage = open_storage(url)
    optuna.create_study(storage=storage, study_name="a")
    storage.engine.dispose()
    return db, url


@pytest.mark.parametrize(("version", "advice"), [
    ("v2.6.0.a", "upgrade it with `optuna storage upgrade --storage sqlite:///"),
    ("v99.0.0.a", "update optuna (`pip install -U optuna`)"),
])
def test_a_dry_run_create_refuses_another_optuna_schema(version: str, advice: str, tmp_path: Path) -> None:
    """`study create --dry-run` reads the names without Optuna: it checks the schema version itself."""
    db, url = _database_with_search(tmp_path)
    assert study_names_for_create(url) == {"a"}
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE alembic_version SET version_num = ?", (version,))
    conn.close()
    with pytest.raises(StorageError, match=f"its table schema \\({version}\\) is not the one optuna") as info:
        study_names_for_create(url)
    assert advice in str(info.value)


def test_a_dry_run_create_names_the_folder_that_cannot_be_written(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """An empty file is a new database: the folder it would be made in is what must be writable."""
    db = tmp_path / "ro" / "db.sqlite"
    db.parent.mkdir()
    db.touch()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode, *a, **k: False if mode & os.W_OK and str(path) == str(
        db.parent) else real_access(path, mode, *a, **k))
    with pytest.raises(StorageError, match=f"cannot create a search in sqlite:///{db}: {db.parent} cannot be written"):
        study_names_for_create(f"sqlite:///{db}")


def test_a_database_error_is_the_drivers_first_line_without_passwords() -> None:
    url = "postgresql://u:s3cret@h/db"
    wrapped = sa.exc.OperationalError("SELECT 1", {}, Exception('password "s3cret" refused\nDETAIL: more'))
    assert db_error_reason(wrapped, url) == 'password "***" refused'
    assert db_error_reason(ValueError(""), url) == "ValueError"


def test_the_read_only_engine_cannot_write(tmp_path: Path) -> None:
    folder = tmp_path / "my folder"  # quoted in the engine's URL, unquoted in the message
    folder.mkdir()
    db, url = _database_with_search(folder)
    engine = read_only_engine(url)
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT study_name FROM studies").scalars().all() == ["a"]
            with pytest.raises(sa.exc.OperationalError, match="readonly"):
                conn.exec_driver_sql("CREATE TABLE x (a INTEGER)")
        with pytest.raises(StorageError) as info:
            refuse_if_read_only(engine, "a")
    finally:
        engine.dispose()
    assert str(info.value).startswith(f"storage {db} cannot be written here (read-only file system or permissions): "
                                      "search 'a' can be inspected")


@pytest.mark.parametrize(("text", "scrubbed"), [("s3cret", "***"), ("refused: s3cret", "refused: ***"),
                                                ("s3cret@h refused", "***@h refused"), ("hs3cret", "hs3cret")])
def test_a_password_is_scrubbed_at_either_end_of_the_text_only_as_a_value(text: str, scrubbed: str) -> None:
    assert scrub_passwords(text, "postgresql://u:s3cret@h/db") == scrubbed
