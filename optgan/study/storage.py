"""Study storage: open Optuna's RDB storage and report problems in one line.

The URL is resolved, checked and redacted by :mod:`optgan.study.storage_url`. SQLite databases
are switched to WAL journaling with a long busy timeout, so a dashboard can read while a run
writes; a file that cannot be written is opened read-only. PostgreSQL URLs (`postgresql://…`)
use psycopg 3 with `pool_pre_ping`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pathlib
import sqlite3
import urllib.parse
import warnings

import optuna
import sqlalchemy
import sqlalchemy.exc
from sqlalchemy.engine import make_url

from optgan.errors import StorageError
from optgan.study.storage_url import (STORAGE_ENV, parse_storage_url, redact, resolve_storage_url, scrub_passwords,
                                      sqlite_path)

__all__ = ["open_storage", "make_durable", "refuse_if_read_only", "db_error_reason", "read_only_engine",
           "study_names_for_create"]

log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_S = 60


def open_storage(url: str | None = None, *, create: bool = True) -> optuna.storages.RDBStorage:
    """Open (and create, for SQLite) the RDB storage at `url`; failures become StorageError."""
    url = resolve_storage_url(url)
    safe = redact(url)
    parsed = parse_storage_url(url)
    backend = parsed.get_backend_name()
    engine_kwargs: dict = {"pool_pre_ping": True}
    read_only = None
    if backend == "sqlite":
        read_only = _prepare_sqlite(url, create=create)
        engine_kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_S}
        if read_only:  # inspection only (status, best, export, report, dashboard); writes are refused
            path = sqlite_path(url)
            assert path is not None  # read_only is only ever set for a database file
            uri = urllib.parse.quote(str(path.resolve()))
            url = f"sqlite:///file:{uri}?{read_only}&uri=true"
            log.debug("%s cannot be written here: opened read-only", safe)
    elif parsed.drivername == "postgresql":
        url = parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            storage = optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs)
    except (sqlalchemy.exc.SQLAlchemyError, ImportError, ValueError, RuntimeError) as e:
        # RuntimeError: Optuna's table schema is older or newer than the installed Optuna's
        reason = _missing_driver(e, url) or db_error_reason(e, url).replace("$STORAGE_URL", safe)
        raise StorageError(f"cannot open storage {safe}: {reason}") from None
    if backend == "sqlite" and not read_only:
        # WAL + synchronous=NORMAL: a process crash never loses a committed write, and each
        # commit skips one fsync (about a third faster per round); set on every new connection.
        sqlalchemy.event.listen(storage.engine, "connect", _sqlite_pragmas)
        storage.engine.dispose()
    return storage


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # noqa: ANN001 - DB-API objects
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _check_sqlite_place(url: str) -> pathlib.Path:
    """The SQLite file of `url`, refused when it cannot be one: in memory, a missing folder, a folder."""
    path = sqlite_path(url)
    if path is None:
        raise StorageError(f"storage {url!r} is an in-memory SQLite database, which forgets the search when "
                           "the command ends; give a file, e.g. sqlite:///optgan.db")
    if not path.parent.exists():
        hint = ""
        if not path.is_absolute() and pathlib.Path("/", path.parent).is_dir():  # sqlite:///tmp/x.db meant /tmp/x.db
            hint = f" (relative to this folder; an absolute path takes four slashes: sqlite:///{pathlib.Path('/', path)})"
        raise StorageError(f"cannot open storage {url}: folder {path.parent} does not exist{hint}")
    if path.is_dir():
        raise StorageError(f"cannot open storage {url}: {path} is a folder, not a database file")
    return path


def _prepare_sqlite(url: str, *, create: bool) -> str | None:
    """Check (and create, switch to WAL) the SQLite file of `url`. Returns None, or for a file that
    cannot be written here (a read-only mount, a folder of someone else's) the URI query that opens
    it read-only: `mode=ro` while it has a WAL file, `mode=ro&immutable=1` when it was closed
    cleanly (SQLite would otherwise need to create `<file>-shm` beside it, and fail)."""
    path = _check_sqlite_place(url)
    if not create and path.is_file() and path.stat().st_size == 0:  # reading it would write Optuna's schema
        raise StorageError(f"storage {url} is an empty file, not a database of searches; create a study in it with "
                           "`optgan study create`, or point at the database with --storage URL")
    if not path.exists() and not create:
        where = f"no file {path}" + ("" if path.is_absolute() else f" in {pathlib.Path.cwd()}")
        raise StorageError(f"storage {url} does not exist ({where}); create a "
                           "study first with `optgan study create`, or point at the database with --storage URL "
                           f"or {STORAGE_ENV}")
    query = None
    if not os.access(path.parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        if create:
            raise StorageError(f"cannot create a search in {url}: {path if path.exists() else path.parent} cannot "
                               "be written (read-only file system or permissions); give a writable place")
        wal, shm = path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")
        query = "mode=ro" if wal.exists() and wal.stat().st_size else "mode=ro&immutable=1"
        if query == "mode=ro" and not shm.exists():
            raise StorageError(f"cannot open storage {url} read-only: it has a write-ahead log ({wal.name}) but no "
                               f"{shm.name}, which cannot be created here; copy the database file with its -wal "
                               "file to a writable folder")
    try:
        target = f"file:{urllib.parse.quote(str(path.resolve()))}?{query}" if query else path
        with contextlib.closing(sqlite3.connect(target, timeout=SQLITE_BUSY_TIMEOUT_S, uri=query is not None)) as conn:
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if tables and "studies" not in tables:  # never add Optuna's tables to someone else's database
                raise _foreign_sqlite_error(url, tables)
            if query is None:
                conn.execute("PRAGMA journal_mode=WAL")  # persistent: readers never block the writer
    except sqlite3.DatabaseError as e:
        raise StorageError(f"cannot open storage {url}: {e}") from None
    return query


def _foreign_sqlite_error(url: str, tables: set[str]) -> StorageError:
    shown = ", ".join(sorted(tables)[:4]) + (", …" if len(tables) > 4 else "")
    return StorageError(f"storage {url} is an SQLite database of something else (tables: {shown}); give another file")


def study_names_for_create(url: str) -> set[str]:
    """The study names a new search would meet in `url`, found without creating anything (for
    `study create --dry-run`); raises the StorageError that creating a search there would raise
    for a bad place, an unreachable database or a database of something else."""
    parsed = parse_storage_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = _check_sqlite_place(url)
        if not path.is_file() or path.stat().st_size == 0:  # a new database: could it be made there?
            if not os.access(path.parent, os.W_OK):
                raise StorageError(f"cannot create a search in {url}: {path.parent} cannot be written "
                                   "(read-only file system or permissions); give a writable place")
            return set()
        if not os.access(path, os.W_OK) or not os.access(path.parent, os.W_OK):
            raise StorageError(f"cannot create a search in {url}: {path} cannot be written (read-only file "
                               "system or permissions); give a writable place")
    try:
        engine = read_only_engine(url)
        try:
            with engine.connect() as conn:
                tables = set(sqlalchemy.inspect(conn).get_table_names())
                if "studies" not in tables:
                    if tables and parsed.get_backend_name() == "sqlite":  # as `_prepare_sqlite` refuses it
                        raise _foreign_sqlite_error(url, tables)
                    return set()  # a new database (PostgreSQL: Optuna's tables go beside any others)
                _check_schema_version(conn, url)
                return {row[0] for row in conn.execute(sqlalchemy.text("SELECT study_name FROM studies"))}
        finally:
            engine.dispose()
    except (sqlalchemy.exc.SQLAlchemyError, ImportError) as e:
        driven = parsed.set(drivername="postgresql+psycopg") if parsed.drivername == "postgresql" else parsed
        reason = _missing_driver(e, driven.render_as_string()) or db_error_reason(e, url)
        raise StorageError(f"cannot open storage {redact(url)}: {reason}") from None


def db_error_reason(e: BaseException, url: str) -> str:
    """A database error's first line (the driver's own message when SQLAlchemy wraps one), with
    the passwords of `url` scrubbed: what a one-line error says after its colon."""
    lines = str(getattr(e, "orig", None) or e).strip().splitlines()
    return scrub_passwords(lines[0] if lines else type(e).__name__, url)


def read_only_engine(url: str) -> sqlalchemy.Engine:
    """An engine on the database of `url` that changes nothing on disk where that can be asked
    (SQLite: read-only, not even the switch to WAL, as open_storage opens a file it cannot write)."""
    parsed = parse_storage_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = _check_sqlite_place(url)
        parsed = make_url(f"sqlite:///file:{urllib.parse.quote(str(path.resolve()))}?mode=ro&uri=true")
    elif parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return sqlalchemy.create_engine(parsed.render_as_string(hide_password=False), pool_pre_ping=True)


def _missing_driver(e: BaseException, url: str) -> str | None:
    """What to install when psycopg, the driver optgan uses for `postgresql://`, is missing
    (Optuna's own text names none); None for any other failure or driver."""
    if make_url(url).drivername != "postgresql+psycopg":
        return None
    for cause in (e, e.__cause__, e.__context__):
        missing = (isinstance(cause, ImportError) and (cause.name or "").split(".")[0] == "psycopg"
                   or isinstance(cause, sqlalchemy.exc.NoSuchModuleError) and "postgresql.psycopg" in str(cause))
        if missing:
            return ('the PostgreSQL driver is not installed: pip install "psycopg[binary]" '
                    '(in a checkout of optgan: pip install -e ".[postgres]")')
    return None


def _check_schema_version(conn: sqlalchemy.Connection, url: str) -> None:
    """Refuse tables made by another Optuna schema version, as opening them for a search would."""
    from optuna.storages._rdb.storage import _VersionManager  # its alembic head, without an engine

    if not sqlalchemy.inspect(conn).has_table("alembic_version"):
        return
    current = conn.execute(sqlalchemy.text("SELECT version_num FROM alembic_version")).scalar()
    manager = _VersionManager.__new__(_VersionManager)
    manager.url = url
    head = manager.get_head_version()
    if current != head:
        upgrade = current in manager.get_all_versions()
        hint = (f"upgrade it with `optuna storage upgrade --storage {redact(url)}`" if upgrade
                else "update optuna (`pip install -U optuna`)")
        raise StorageError(f"cannot open storage {redact(url)}: its table schema ({current}) is not the one optuna "
                           f"{optuna.__version__} uses ({head}); {hint}")


def make_durable(engine: sqlalchemy.Engine) -> None:
    """Put every write committed so far to the storage of `engine` on disk.

    SQLite runs with `synchronous=NORMAL`, which syncs its write-ahead log only at WAL
    checkpoints. A power loss could therefore roll back the last commits while a newer run
    checkpoint is already on disk. The runner calls this before each checkpoint: a FULL WAL
    checkpoint (SQLite syncs the log, copies it into the database file and syncs that) makes
    every committed write durable, once per round. The files are never opened behind SQLite's
    back: closing such a descriptor would drop the locks SQLite holds on them. PostgreSQL
    commits are durable already (`synchronous_commit=on`), so nothing is done there.

    A FULL checkpoint blocks every writer while it waits for readers, the run lease's heartbeat
    included, so it waits at most a quarter of the lease's TTL (not the 60 s busy timeout, after
    which another process would judge the lease expired).
    """
    if engine.dialect.name != "sqlite" or engine.url.query.get("mode") == "ro":
        return
    from optgan.study.lease import lease_ttl_s

    wait_ms = int(min(SQLITE_BUSY_TIMEOUT_S, lease_ttl_s() / 4) * 1000)
    with engine.connect() as conn:
        conn.exec_driver_sql(f"PRAGMA busy_timeout = {wait_ms}")
        try:
            busy, _, _ = conn.exec_driver_sql("PRAGMA wal_checkpoint(FULL)").one()
        finally:
            conn.exec_driver_sql(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_S * 1000}")
    if busy:  # a reader held an old snapshot past the busy timeout
        log.warning("%s: the write-ahead log could not be synced before this checkpoint (readers kept it busy); "
                    "a power loss now could roll back the last commits", engine.url.database)


def refuse_if_read_only(engine: sqlalchemy.Engine, search: str) -> None:
    """A one-line StorageError when `engine` was opened read-only (an SQLite file that cannot be
    written here): `search` may be inspected, not run, deleted or changed."""
    if engine.url.query.get("mode") != "ro":
        return
    where = urllib.parse.unquote(str(engine.url.database).removeprefix("file:"))
    raise StorageError(f"storage {where} cannot be written here (read-only file system or permissions): search "
                       f"{search!r} can be inspected (status, best, export, report, dashboard) but not run or "
                       "deleted; copy the database to a writable folder for that")
