"""One writer per search: the run lease.

`optgan run NAME` holds a lease on NAME while it runs: one row of the table `optgan_leases`
in the search's own database (host, PID, the PID's start time, a random token, a heartbeat).
On PostgreSQL, times are the database server's clock, so hosts with skewed clocks agree on
expiry; SQLite has no server, so there each machine's own clock counts (machines sharing one
SQLite file need synchronised clocks).

- Acquire: no row → insert it; a row whose holder is gone → take it over (compare-and-set on
  its token and heartbeat, so of two racing processes exactly one wins, and a holder whose
  heartbeat landed after the row was judged keeps it); otherwise refuse with
  :class:`LeaseHeldError`, one line naming the holder's host and PID.
- The holder is *gone* when its heartbeat is older than its TTL (`OPTGAN_LEASE_TTL_S` of the
  holding process, default 60 s, stored in the row: a reader with another setting judges it by
  the holder's), or at once when it ran on this host (same hostname, boot and PID namespace) and its
  PID no longer exists (or is a zombie, or was reused by a process started later).
- A daemon thread refreshes the heartbeat every TTL/6. If the row is no longer ours (taken over
  after an expiry, or `--force-unlock`), :meth:`Lease.ensure` — called before every storage
  write (:mod:`optgan.study.retry`) — raises :class:`LeaseLostError` and the run stops; a
  write is only let through while the lease was confirmed less than two heartbeat periods ago.
- Release on exit deletes the row; a killed holder's row is taken over as above.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import sqlalchemy as sa
import sqlalchemy.exc

from optgan.errors import StorageError
from optgan.study.storage import refuse_if_read_only

__all__ = ["LEASE_TABLE", "TTL_ENV", "DEFAULT_TTL_S", "LeaseHeldError", "LeaseLostError", "Holder", "Lease",
           "hold_lease", "read_holder", "lease_ttl_s", "run_state", "run_states"]

log = logging.getLogger(__name__)

LEASE_TABLE = "optgan_leases"
TTL_ENV = "OPTGAN_LEASE_TTL_S"
DEFAULT_TTL_S = 60.0
_ACQUIRE_TRIES = 8
_held: set[str] = set()  #: tokens of the leases this process holds now

_metadata = sa.MetaData()
_leases = sa.Table(
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
_TTL_COLUMN = "ttl_s"


class LeaseHeldError(StorageError):
    """Another live process runs the search."""


class LeaseLostError(StorageError):
    """This process's lease was taken over; it must stop writing."""


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
def _host_key() -> str:
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


def _pid_start(pid: int) -> str:
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
    now_start = _pid_start(pid)
    if now_start == "zombie":
        return False
    return not (start and now_start and now_start != start)  # reused PID = the holder is gone


def _holder_gone(holder: Holder, now: float, ttl: float) -> bool:
    """Whether `holder` is gone; `ttl` (this process's) judges rows that do not carry their own."""
    if now - holder.heartbeat > holder.expiry_s(ttl):
        return True
    if holder.host_key != _host_key():
        return False
    if holder.pid == os.getpid():
        return holder.token not in _held  # a lease of this process that failed to be released
    return not _pid_alive(holder.pid, holder.pid_start)


# ---------------------------------------------------------------- database helpers
def _first_line(e: BaseException | None) -> str:
    e = getattr(e, "orig", None) or e
    lines = str(e).strip().splitlines()
    return f"{type(e).__name__}: {lines[0] if lines else ''}"


def _db_now(conn: sa.Connection) -> float:
    """Seconds since the epoch on the database server's clock."""
    dialect = conn.dialect.name
    if dialect == "postgresql":
        return float(conn.execute(sa.text("SELECT EXTRACT(EPOCH FROM clock_timestamp())")).scalar_one())
    if dialect == "sqlite":
        return float(conn.execute(sa.text("SELECT (julianday('now') - 2440587.5) * 86400.0")).scalar_one())
    return time.time()


def _ensure_table(engine: sa.Engine) -> bool:
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
            conn.execute(sa.text(f"ALTER TABLE {LEASE_TABLE} ADD COLUMN {_TTL_COLUMN} FLOAT"))
    except sqlalchemy.exc.DBAPIError as e:  # added concurrently, busy, or no right to alter the table
        if _has_ttl_column(engine):
            return True
        if isinstance(e, sqlalchemy.exc.OperationalError):
            raise  # busy / locked: the caller's retry
        log.warning("the run-lease table %s has no column %s and cannot be given one (%s): other hosts judge "
                    "this run's lease with their own OPTGAN_LEASE_TTL_S", LEASE_TABLE, _TTL_COLUMN, _first_line(e))
        return False
    return True


def _has_ttl_column(bind: sa.Engine | sa.Connection) -> bool:
    return _TTL_COLUMN in {c["name"] for c in sa.inspect(bind).get_columns(LEASE_TABLE)}


def _select(with_ttl: bool) -> sa.Select:
    return sa.select(*(c for c in _leases.c if with_ttl or c.name != _TTL_COLUMN))


def _read(conn: sa.Connection, search: str, with_ttl: bool) -> Holder | None:
    row = conn.execute(_select(with_ttl).where(_leases.c.search == search)).mappings().first()
    return None if row is None else Holder(**dict(row))


def read_holder(engine: sa.Engine, search: str) -> tuple[Holder | None, float]:
    """The current holder of `search`'s lease (None = free) and the database's time."""
    with_ttl = _ensure_table(engine)
    with engine.connect() as conn:
        return _read(conn, search, with_ttl), _db_now(conn)


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
            now = _db_now(conn)
    except sqlalchemy.exc.SQLAlchemyError as e:
        log.warning("cannot read the run leases (%s): running searches are not shown", _first_line(e))
        return None
    ttl = lease_ttl_s()
    return {h.search: {"state": "stale" if _holder_gone(h, now, ttl) else "running", "host": h.host, "pid": h.pid,
                       "running_for_s": round(max(0.0, now - h.acquired), 1),
                       "heartbeat_age_s": round(max(0.0, now - h.heartbeat), 1)} for h in holders}


def gone_holder_token(engine: sa.Engine, search: str) -> str | None:
    """The token of `search`'s lease holder when that holder is gone (dead on this host, or its
    heartbeat expired), else None; reads only, never creates the table."""
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table(LEASE_TABLE):
                return None
            holder = _read(conn, search, _has_ttl_column(conn))
            now = _db_now(conn)
    except sqlalchemy.exc.SQLAlchemyError:
        return None
    return holder.token if holder is not None and _holder_gone(holder, now, lease_ttl_s()) else None


# ---------------------------------------------------------------- the lease
class Lease:
    """A held lease; use :func:`hold_lease` (acquire, heartbeat thread, release)."""

    def __init__(self, engine: sa.Engine, search: str, ttl_s: float | None = None, *,
                 force_unlock_flag: bool = True) -> None:
        self.engine, self.search = engine, search
        #: whether the command taking the lease has --force-unlock (its refusal names what to do)
        self.force_unlock_flag = force_unlock_flag
        self.ttl_s = lease_ttl_s() if ttl_s is None else ttl_s
        self.interval_s = self.ttl_s / 6
        self.token = uuid.uuid4().hex
        self._with_ttl = True  # whether the table stores TTLs (known once acquired)
        self.lost: str | None = None  #: set to a one-line reason once the lease is gone
        self.taken_over: Holder | None = None  #: the gone holder whose row this lease took over (None: it was free)
        self._confirmed = 0.0  # time.monotonic() of the last confirmed heartbeat
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -------------------------------------------------------------- acquire / release
    def acquire(self, force: bool = False) -> Holder | None:
        """Take the lease; returns the previous holder taken over (None if it was free)."""
        last: Exception | None = None
        for attempt in range(_ACQUIRE_TRIES):
            try:
                self._with_ttl = _ensure_table(self.engine)
                started = time.monotonic()  # a write confirms the lease as of its start, not its end
                with self.engine.begin() as conn:
                    taken = self._try_acquire(conn, force)
            except sqlalchemy.exc.IntegrityError as e:  # another process inserted first: look again
                last = e
                continue
            except sqlalchemy.exc.OperationalError as e:  # SQLite busy on a write race, a database hiccup
                last = e
                time.sleep(0.05 * 2 ** attempt)
                continue
            except sqlalchemy.exc.SQLAlchemyError as e:  # e.g. no right to create the table
                where = self.engine.url.render_as_string(hide_password=True)
                raise StorageError(f"cannot use the run-lease table {LEASE_TABLE} in {where}: {_first_line(e)}") from None
            if taken is not False:
                self._confirmed = started
                _held.add(self.token)
                return taken
        raise StorageError(f"could not take the run lease of search {self.search!r} after {_ACQUIRE_TRIES} tries "
                           f"({_first_line(last)}); retry")

    def _try_acquire(self, conn: sa.Connection, force: bool) -> Holder | None | bool:
        now = _db_now(conn)
        holder = _read(conn, self.search, self._with_ttl)
        mine = {"token": self.token, "host": socket.gethostname(), "host_key": _host_key(), "pid": os.getpid(),
                "pid_start": _pid_start(os.getpid()), "acquired": now, "heartbeat": now}
        if self._with_ttl:
            mine[_TTL_COLUMN] = self.ttl_s
        if holder is None:
            conn.execute(sa.insert(_leases).values(search=self.search, **mine))
            return None
        if not force and not _holder_gone(holder, now, self.ttl_s):
            left = f"{holder.expiry_s(self.ttl_s) - (now - holder.heartbeat):.0f} s"
            advice = (f"or if that process is dead on another host, rerun with --force-unlock (or wait {left} for "
                      "its lease to expire)" if self.force_unlock_flag else
                      f"or if that process is dead on another host, retry after its lease expires in {left}")
            raise LeaseHeldError(f"search {self.search!r} is being run by {holder.describe(now)}; wait for it, {advice}")
        # a heartbeat landing after the read moves the value by ≥ TTL/6; the slack absorbs a database
        # that reads floats back rounded (PostgreSQL ≤ 11: 15 digits)
        done = conn.execute(sa.update(_leases).where(_leases.c.search == self.search, _leases.c.token == holder.token,
                                                     _leases.c.heartbeat <= holder.heartbeat + 1e-3).values(**mine))
        if done.rowcount != 1:
            return False  # someone else took it over in between
        log.warning("search %r: took over the run lease of %s%s", self.search, holder.describe(now),
                    " (--force-unlock)" if force else "")
        return holder

    def release(self) -> None:
        """Stop the heartbeat and delete the row (if it is still ours).

        A stop (Ctrl-C, SIGTERM) that lands in here is held until the row is deleted, then raised:
        else a run that finished (or was stopped) just as the signal came would leave its lease."""
        stop: KeyboardInterrupt | None = None
        self._stop.set()
        _held.discard(self.token)
        if self._thread is not None:
            try:
                self._thread.join(timeout=5)
            except KeyboardInterrupt as e:
                stop = e
        for _ in range(3):
            try:
                with self.engine.begin() as conn:
                    conn.execute(sa.delete(_leases).where(_leases.c.search == self.search,
                                                          _leases.c.token == self.token))
                break
            except KeyboardInterrupt as e:  # landed mid-delete: delete again (a second stop too)
                stop = stop or e
            except sqlalchemy.exc.SQLAlchemyError as e:
                log.warning("search %r: could not release the run lease (%s); the next run takes it over",
                            self.search, type(e).__name__)
                break
        if stop is not None:
            raise stop

    # -------------------------------------------------------------- heartbeat
    def start_heartbeat(self) -> None:
        self._thread = threading.Thread(target=self._beat_loop, name=f"optgan-lease-{self.search}", daemon=True)
        self._thread.start()

    def _beat_loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.beat()
            except sqlalchemy.exc.SQLAlchemyError as e:  # database away: try again next period
                log.debug("lease heartbeat of %s failed: %s", self.search, type(e).__name__)

    def beat(self) -> bool:
        """Refresh the heartbeat; False (and :attr:`lost` set) when the row is no longer ours."""
        if self.lost:
            return False
        started = time.monotonic()  # the stored heartbeat is read at the start: a write waiting on a
        with self.engine.begin() as conn:  # lock (SQLite) must not confirm the lease for longer
            now = _db_now(conn)
            done = conn.execute(sa.update(_leases).where(_leases.c.search == self.search, _leases.c.token == self.token)
                                .values(heartbeat=now))
            if done.rowcount == 1:
                self._confirmed = started
                return True
            holder = _read(conn, self.search, self._with_ttl)
        who = holder.describe(now) if holder else "nobody (the lease row was deleted)"
        self.lost = (f"search {self.search!r}: this run lost its lease, now held by {who}; it stopped "
                     "without writing further (the search stays resumable)")
        log.warning("search %r: the run lease was taken over by %s; this run stops before its next storage write",
                    self.search, who)
        return False

    def ensure(self) -> None:
        """Raise :class:`LeaseLostError` unless the lease is ours and recently confirmed."""
        if not self.lost and time.monotonic() - self._confirmed > 2 * self.interval_s:
            self.beat()  # heartbeat thread late (e.g. database away): confirm before writing
        if self.lost:
            raise LeaseLostError(self.lost)


@contextlib.contextmanager
def hold_lease(engine: sa.Engine, search: str, *, force: bool = False, ttl_s: float | None = None,
               force_unlock_flag: bool = True) -> Iterator[Lease]:
    """Hold `search`'s run lease for the body (acquire, heartbeat, release); `force_unlock_flag`:
    whether the calling command offers --force-unlock (`optgan run`), named in its refusal."""
    refuse_if_read_only(engine, search)
    lease = Lease(engine, search, ttl_s, force_unlock_flag=force_unlock_flag)
    try:
        lease.taken_over = lease.acquire(force=force)
    except Exception:
        raise  # refused, or the database failed: no row of ours was committed
    except BaseException:  # a stop (Ctrl-C, SIGTERM) can land just after the row was committed
        lease.release()
        raise
    try:  # the heartbeat's start is inside: a stop that lands there still releases the lease
        lease.start_heartbeat()
        yield lease
    finally:
        lease.release()
