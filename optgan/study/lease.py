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
from typing import Literal
from collections.abc import Iterator

import sqlalchemy as sa
import sqlalchemy.exc

from optgan.errors import StorageError
from optgan.study.lease_rows import (  # noqa: F401 - the read-only queries are re-exported
    DEFAULT_TTL_S,
    LEASE_TABLE,
    TTL_COLUMN,
    TTL_ENV,
    Holder,
    db_now,
    ensure_table,
    first_line,
    gone_holder_token,
    held_tokens,
    holder_gone,
    host_key,
    lease_ttl_s,
    leases_table,
    pid_start,
    read_holder,
    read_row,
    run_state,
    run_states,
)
from optgan.study.storage import refuse_if_read_only

__all__ = ["LEASE_TABLE", "TTL_ENV", "DEFAULT_TTL_S", "LeaseHeldError", "LeaseLostError", "Holder", "Lease",
           "hold_lease", "read_holder", "lease_ttl_s", "run_state", "run_states", "gone_holder_token"]

log = logging.getLogger(__name__)

_ACQUIRE_TRIES = 8


class LeaseHeldError(StorageError):
    """Another live process runs the search."""


class LeaseLostError(StorageError):
    """This process's lease was taken over; it must stop writing."""


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
                self._with_ttl = ensure_table(self.engine)
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
                raise StorageError(f"cannot use the run-lease table {LEASE_TABLE} in {where}: {first_line(e)}") from None
            if taken is not False:
                self._confirmed = started
                held_tokens.add(self.token)
                return taken
        raise StorageError(f"could not take the run lease of search {self.search!r} after {_ACQUIRE_TRIES} tries "
                           f"({first_line(last)}); retry")

    def _try_acquire(self, conn: sa.Connection, force: bool) -> Holder | None | Literal[False]:
        now = db_now(conn)
        holder = read_row(conn, self.search, self._with_ttl)
        mine = {"token": self.token, "host": socket.gethostname(), "host_key": host_key(), "pid": os.getpid(),
                "pid_start": pid_start(os.getpid()), "acquired": now, "heartbeat": now}
        if self._with_ttl:
            mine[TTL_COLUMN] = self.ttl_s
        if holder is None:
            conn.execute(sa.insert(leases_table).values(search=self.search, **mine))
            return None
        if not force and not holder_gone(holder, now, self.ttl_s):
            left = f"{holder.expiry_s(self.ttl_s) - (now - holder.heartbeat):.0f} s"
            advice = (f"or if that process is dead on another host, rerun with --force-unlock (or wait {left} for "
                      "its lease to expire)" if self.force_unlock_flag else
                      f"or if that process is dead on another host, retry after its lease expires in {left}")
            raise LeaseHeldError(f"search {self.search!r} is being run by {holder.describe(now)}; wait for it, {advice}")
        # a heartbeat landing after the read moves the value by ≥ TTL/6; the slack absorbs a database
        # that reads floats back rounded (PostgreSQL ≤ 11: 15 digits)
        done = conn.execute(sa.update(leases_table).where(leases_table.c.search == self.search, leases_table.c.token == holder.token,
                                                     leases_table.c.heartbeat <= holder.heartbeat + 1e-3).values(**mine))
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
        held_tokens.discard(self.token)
        if self._thread is not None:
            try:
                self._thread.join(timeout=5)
            except KeyboardInterrupt as e:
                stop = e
        for _ in range(3):
            try:
                with self.engine.begin() as conn:
                    conn.execute(sa.delete(leases_table).where(leases_table.c.search == self.search,
                                                          leases_table.c.token == self.token))
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
            now = db_now(conn)
            done = conn.execute(sa.update(leases_table).where(leases_table.c.search == self.search, leases_table.c.token == self.token)
                                .values(heartbeat=now))
            if done.rowcount == 1:
                self._confirmed = started
                return True
            holder = read_row(conn, self.search, self._with_ttl)
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
