"""Storage details a bug would silently change (`optgan.study.storage`): which URL wins, how
SQLite connections are set up, what is refused."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from optgan.errors import StorageError
from optgan.study.storage import open_storage
from optgan.study.storage_url import DEFAULT_STORAGE, STORAGE_ENV, resolve_storage_url, sqlite_path


def test_an_explicit_storage_url_beats_the_environment(monkeypatch) -> None:
    monkeypatch.setenv(STORAGE_ENV, "sqlite:///from-env.db")
    assert resolve_storage_url("sqlite:///given.db") == "sqlite:///given.db"
    assert resolve_storage_url(None) == "sqlite:///from-env.db"
    monkeypatch.delenv(STORAGE_ENV)
    assert resolve_storage_url(None) == DEFAULT_STORAGE


def test_sqlite_connections_wait_for_a_busy_database_and_use_the_wal(tmp_path) -> None:
    """Every connection waits up to 60 s for a lock (a dashboard reading, a heartbeat) instead of
    SQLite's 5 s, runs with synchronous=NORMAL (`make_durable` syncs the log), in WAL mode."""
    storage = open_storage(f"sqlite:///{tmp_path / 'db.sqlite'}")
    try:
        with storage.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 60_000
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    finally:
        storage.engine.dispose()


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_an_in_memory_sqlite_database_is_refused(url: str) -> None:
    assert sqlite_path(url) is None
    with pytest.raises(StorageError, match="in-memory SQLite database"):
        open_storage(url)


def test_a_password_is_hidden_in_its_url_quoted_form_too() -> None:
    from optgan.study.storage_url import scrub_passwords

    url = "postgresql://u:p%40ss@db.example/optgan"  # the password is `p@ss`
    said = 'connection to "db.example" failed: password=p%40ss rejected; password=p@ss rejected'
    assert scrub_passwords(said, url) == 'connection to "db.example" failed: password=*** rejected; password=*** rejected'


def test_run_directories_go_next_to_an_sqlite_file_else_in_the_working_folder(tmp_path, monkeypatch) -> None:
    from optgan.study.storage_url import default_run_root

    monkeypatch.chdir(tmp_path)
    (tmp_path / "elsewhere").mkdir()
    assert default_run_root(f"sqlite:///{tmp_path / 'elsewhere' / 'db.sqlite'}") == tmp_path / "elsewhere" / "optgan-runs"
    assert default_run_root("postgresql://u@db.example/optgan") == tmp_path / "optgan-runs"


def test_make_durable_leaves_a_read_only_database_alone(tmp_path) -> None:
    """An SQLite file opened read-only (inspection) is never checkpointed: that would write."""
    from optgan.study.storage import make_durable

    open_storage(f"sqlite:///{tmp_path / 'db.sqlite'}").engine.dispose()
    engine = sa.create_engine(f"sqlite:///file:{tmp_path / 'db.sqlite'}?mode=ro&uri=true")
    statements: list[str] = []
    sa.event.listen(engine, "before_cursor_execute", lambda conn, cursor, sql, *args: statements.append(sql))
    make_durable(engine)
    assert statements == []
    engine.dispose()


@pytest.mark.parametrize("existing", [False, True])
def test_a_dry_run_create_refuses_a_place_that_cannot_be_written(existing: bool, tmp_path, monkeypatch) -> None:
    """`study create --dry-run` refuses what the real create would: a new database in a folder,
    or an existing database file, that cannot be written here."""
    import os

    from optgan.study.storage import study_names_for_create

    db = tmp_path / "ro" / "db.sqlite"
    db.parent.mkdir()
    if existing:
        open_storage(f"sqlite:///{db}").engine.dispose()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode, *a, **k: False if mode & os.W_OK and str(path).startswith(
        str(db.parent)) else real_access(path, mode, *a, **k))
    with pytest.raises(StorageError, match="cannot be written"):
        study_names_for_create(f"sqlite:///{db}")


def test_a_reading_command_never_creates_a_missing_database(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(StorageError, match=rf"storage sqlite:///typo.db does not exist \(no file typo.db in {tmp_path}\)"):
        open_storage("sqlite:///typo.db", create=False)
    assert not (tmp_path / "typo.db").exists()
