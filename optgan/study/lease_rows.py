"""The run-lease table and who is in it: its schema, a row's holder, whether that holder is gone.

Read-only queries (:func:`read_holder`, :func:`run_state`, :func:`run_states`,
:func:`gone_holder_token`) live here beside the rules that judge a holder; taking, refreshing and
releasing a lease is :mod:`optgan.study.lease`. A holder is gone when its heartbeat is older
than its TTL, or at once when it ran on this host and its PID no longer exists (or is a zombie,
or was reused by a process started later).
"""

from __future__ import annotations

import logging
import os
import socket
import time
from dataclasses import dataclass

import sqlalchemy as sa
import sqlalchemy.exc

__all__ = ["LEASE_TABLE", "TTL_ENV", "DEFAULT_TTL_S", "TTL_COLUMN", "Holder", "leases_table", "held_tokens", "lease_ttl_s",
           "host_key", "pid_start", "holder_gone", "db_now", "ensure_table", "read_row", "first_line", "read_holder",
           "run_state", "run_states", "gone_holder_token"]

log = logging.getLogger(__name__)

LEASE_TABLE = "optgan_leases"
TTL_ENV = "OPTGAN_LEASE_TTL_S"
DEFAULT_TTL_S = 60.0
held_tokens: set[str] = set()  #: tokens of the leases this process holds now (:class:`optgan.study.lease.Lease` keeps it)

_metadata = sa.MetaData()
leases_table = sa.Table(
    LEASE_TABLE, _metadata,
    sa.Column("search", sa.String(512), primary_key=True),
    sa.Column("token", sa.String(64), nullable=False),
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("host_key", sa.String(512), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("pid_start", sa.String(64), nullable=False),
    sa.Column("acquired", sa.Float, nullable=False),
    sa.Column("heartbeat", sa.Float, nullable=False),
    sa.Column("ttl_s", sa.Float, nullable=True),  # added after the first release: NULL in older rows
)
TTL_COLUMN = "ttl_s"


def lease_ttl_s() -> float:
    """Heartbeat expiry in seconds (`$OPTGAN_LEASE_TTL_S`, default 60)."""
    from optgan.config.base import env_seconds

    return env_seconds(TTL_ENV, DEFAULT_TTL_S, minimum=1.0)


@dataclass(frozen=True)
class Holder:
    """Who holds a lease, and how fresh its heartbeat is (database clock)."""

    search: str
    token: str
    host: str
    host_key: str
    pid: int
    pid_start: str
    acquired: float
    heartbeat: float
    ttl_s: float | None = None  #: the holder's TTL (None: written by an optgan that did not store it)

    def expiry_s(self, default: float) -> float:
        """The holder's heartbeat expiry: its own TTL, else `default` (this process's)."""
        return self.ttl_s if self.ttl_s and self.ttl_s > 0 else default

    def describe(self, now: float) -> str:
        return f"PID {self.pid} on host {self.host} (heartbeat {max(0.0, now - self.heartbeat):.0f} s ago)"


# ---------------------------------------------------------------- this process and others
def host_key() -> str:
    """Hostname, boot id and PID namespace: PIDs are only comparable within one namespace of one
    running kernel (the host's own PID namespace has the same name on every Linux machine, and
    cloned machines or containers can share a hostname)."""
    try:
        ns = os.readlink("/proc/self/ns/pid")
    except OSError:
        ns = ""
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            boot = f.read().strip()
    except OSError:
        boot = ""
    return f"{socket.gethostname()}|{ns}|{boot}"


def pid_start(pid: int) -> str:
    """Start time of `pid` in clock ticks since boot ('' where /proc is unavailable)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return ""
    return fields[19].decode() if fields[0] != b"Z" else "zombie"


def _pid_alive(pid: int, start: str) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    now_start = pid_start(pid)
    if now_start == "zombie":
        return False
    return not (start and now_start and now_start != start)  # reused PID = the holder is gone


def holder_gone(holder: Holder, now: float, ttl: float) -> bool:
    """Whether `holder` is gone; `ttl` (this process's) judges rows that do not carry their own."""
    if now - holder.heartbeat > holder.expiry_s(ttl):
        return True
    if holder.host_key != host_key():
        return False
    if holder.pid == os.getpid():
        return holder.token not in held_tokens  # a lease of this process that failed to be released
    return not _pid_alive(holder.pid, holder.pid_start)


# ---------------------------------------------------------------- database helpers
def first_line(e: BaseException | None) -> str:
    e = getattr(e, "orig", None) or e
    lines = str(e).strip().splitlines()
    return f"{type(e).__name__}: {lines[0] if lines else ''}"


def db_now(conn: sa.Connection) -> float:
    """Seconds since the epoch on the database server's clock."""
    dialect = conn.dialect.name
    if dialect == "postgresql":
        return float(conn.execute(sa.text("SELECT EXTRACT(EPOCH FROM clock_timestamp())")).scalar_one())
    if dialect == "sqlite":
        return float(conn.execute(sa.text("SELECT (julianday('now') - 2440587.5) * 86400.0")).scalar_one())
    return time.time()


def ensure_table(engine: sa.Engine) -> bool:
    """Create the lease table if needed; whether it has the `ttl_s` column (added to a table
    created by an older optgan when this database user may alter it; else rows go without)."""
    try:
        _metadata.create_all(engine, checkfirst=True)
    except sqlalchemy.exc.DBAPIError:  # created concurrently by another process
        if not sa.inspect(engine).has_table(LEASE_TABLE):
            raise
    if _has_ttl_column(engine):
        return True
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(f"ALTER TABLE {LEASE_TABLE} ADD COLUMN {TTL_COLUMN} FLOAT"))
    except sqlalchemy.exc.DBAPIError as e:  # added concurrently, busy, or no right to alter the table
        if _has_ttl_column(engine):
            return True
        if isinstance(e, sqlalchemy.exc.OperationalError):
            raise  # busy / locked: the caller's retry
        log.warning("the run-lease table %s has no column %s and cannot be given one (%s): other hosts judge "
                    "this run's lease with their own OPTGAN_LEASE_TTL_S", LEASE_TABLE, TTL_COLUMN, first_line(e))
        return False
    return True


def _has_ttl_column(bind: sa.Engine | sa.Connection) -> bool:
    return TTL_COLUMN in {c["name"] for c in sa.inspect(bind).get_columns(LEASE_TABLE)}


def _select(with_ttl: bool) -> sa.Select:
    return sa.select(*(c for c in leases_table.c if with_ttl or c.name != TTL_COLUMN))


def read_row(conn: sa.Connection, search: str, with_ttl: bool) -> Holder | None:
    row = conn.execute(_select(with_ttl).where(leases_table.c.search == search)).mappings().first()
    return None if row is None else Holder(**dict(row))


def read_holder(engine: sa.Engine, search: str) -> tuple[Holder | None, float]:
    """The current holder of `search`'s lease (None = free) and the database's time."""
    with_ttl = ensure_table(engine)
    with engine.connect() as conn:
        return read_row(conn, search, with_ttl), db_now(conn)


def run_state(engine: sa.Engine, search: str) -> dict:
    """Whether an `optgan run` holds `search` now, for `optgan status` (reads only, never creates
    the table): `{"state": "idle"}`, or `running` / `stale` (its holder is gone without releasing
    it; the next run takes it over) with `host`, `pid`, `running_for_s`, `heartbeat_age_s`, or
    `unknown` (the lease table cannot be read by this database user). Stale is judged with the
    holder's TTL (this process's `OPTGAN_LEASE_TTL_S` for a row that does not carry one)."""
    states = run_states(engine)
    return {"state": "unknown"} if states is None else states.get(search, {"state": "idle"})


def run_states(engine: sa.Engine) -> dict[str, dict] | None:
    """:func:`run_state` of every search that has a lease row (one query; `optgan study list`);
    None when the lease table cannot be read."""
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table(LEASE_TABLE):
                return {}
            with_ttl = _has_ttl_column(conn)
            holders = [Holder(**dict(row)) for row in conn.execute(_select(with_ttl)).mappings()]
            now = db_now(conn)
    except sqlalchemy.exc.SQLAlchemyError as e:
        log.warning("cannot read the run leases (%s): running searches are not shown", first_line(e))
        return None
    ttl = lease_ttl_s()
    return {h.search: {"state": "stale" if holder_gone(h, now, ttl) else "running", "host": h.host, "pid": h.pid,
                       "running_for_s": round(max(0.0, now - h.acquired), 1),
                       "heartbeat_age_s": round(max(0.0, now - h.heartbeat), 1)} for h in holders}


def gone_holder_token(engine: sa.Engine, search: str) -> str | None:
    """The token of `search`'s lease holder when that holder is gone (dead on this host, or its
    heartbeat expired), else None; reads only, never creates the table."""
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table(LEASE_TABLE):
                return None
            holder = read_row(conn, search, _has_ttl_column(conn))
            now = db_now(conn)
    except sqlalchemy.exc.SQLAlchemyError:
        return None
    return holder.token if holder is not None and holder_gone(holder, now, lease_ttl_s()) else None
