"""Mutation round 18 on the run lease (`optgan.study.lease`, `optgan.study.lease_rows`) and the
storage retries (`optgan.study.retry`): behaviours the other lease and retry tests leave open,
all on SQLite, with injected clocks and sleeps."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import types

import optuna
import pytest
import sqlalchemy as sa
import sqlalchemy.exc
from _db_faults import commit_then_drop, dropped_connection

from optgan.study import lease as lease_module
from optgan.study import lease_rows
from optgan.study import retry as retry_module
from optgan.study.lease import Lease, hold_lease, read_holder
from optgan.study.lease_rows import gone_holder_token, pid_start
from optgan.study.retry import RetryPolicy, guard_storage, is_transient
from optgan.study.storage import open_storage

URL = "sqlite:///r.db"


@pytest.fixture
def base(tmp_path):
    storage = open_storage(f"sqlite:///{tmp_path / 'r.db'}")
    yield storage
    storage.engine.dispose()


@pytest.fixture
def quick(base, monkeypatch):
    """A guarded storage whose retry waits are recorded, not slept."""
    monkeypatch.setattr(retry_module.time, "sleep", lambda s: None)
    return guard_storage(base, URL, policy=RetryPolicy(budget_s=10, base_s=0.01))


@contextlib.contextmanager
def _fail_statement(engine, prefix: str, exc: type, times: int = 1):  # noqa: ANN001
    """The first `times` statements of `engine` starting with `prefix` raise `exc`."""
    failed: list[str] = []

    def hook(conn, cursor, statement, *args):  # noqa: ANN001, ANN202
        if len(failed) < times and statement.lstrip().upper().startswith(prefix):
            failed.append(statement)
            raise exc(statement, {}, Exception("injected"))

    sa.event.listen(engine, "before_cursor_execute", hook)
    try:
        yield failed
    finally:
        sa.event.remove(engine, "before_cursor_execute", hook)


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def _plant_dead_holder(engine, search: str) -> str:  # noqa: ANN001
    """A lease row left by a process of this host that died; returns its token."""
    lease = Lease(engine, search)
    lease.acquire()
    lease_module.held_tokens.discard(lease.token)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE optgan_leases SET pid=:p, pid_start='' WHERE search=:n"),
                     {"p": _dead_pid(), "n": search})
    return lease.token


# ---------------------------------------------------------------- retry.py
def test_each_call_gets_its_own_retries_after_one_that_failed(quick) -> None:
    """A call that raised (not retried) does not leave the storage thinking it is still inside a
    call: the next call's connection error is retried as usual."""
    with pytest.raises(ValueError):
        quick._guarded("probe", False, lambda: (_ for _ in ()).throw(ValueError("x")), ())
    assert quick._guarded("probe", False, lambda: "first", ()) == "first"
    tries: list[int] = []

    def dropped_once() -> str:
        tries.append(1)
        if len(tries) == 1:
            raise dropped_connection()
        return "ok"

    assert quick._guarded("probe", False, dropped_once, ()) == "ok" and len(tries) == 2


def test_a_nested_storage_call_is_retried_by_the_outer_one(quick) -> None:
    """A storage method calling another does not retry twice over: the inner call's error goes
    up and the outer call (whole) is tried again."""
    outer_runs: list[int] = []
    inner_tries: list[int] = []

    def inner() -> str:
        inner_tries.append(1)
        if len(inner_tries) == 1:
            raise dropped_connection()
        return "ok"

    def outer() -> str:
        outer_runs.append(1)
        return quick._guarded("inner", False, inner, ())

    assert quick._guarded("outer", False, outer, ()) == "ok"
    assert len(outer_runs) == 2 and len(inner_tries) == 2


@pytest.mark.parametrize("exc", [
    sqlalchemy.exc.InterfaceError("x", {}, Exception("connection already closed")),
    sqlalchemy.exc.PendingRollbackError("Can't reconnect until invalid transaction is rolled back"),
])
def test_interface_and_pending_rollback_errors_are_transient(exc: BaseException) -> None:
    """A closed connection (InterfaceError) and a session waiting for its rollback after one are
    retried like an OperationalError."""
    assert is_transient(exc)


def test_an_error_raised_while_handling_a_dropped_connection_is_transient() -> None:
    """Implicit chaining (`__context__`, an error during the rollback of a dead connection)
    counts like an explicit `raise … from`."""
    try:
        try:
            raise dropped_connection()
        except sqlalchemy.exc.OperationalError:
            raise RuntimeError("during rollback")  # noqa: B904 - the implicit chain is the point
    except RuntimeError as e:
        assert is_transient(e)


def _waiting_trial(storage) -> int:  # noqa: ANN001
    study = optuna.create_study(storage=storage, study_name="q")
    study.enqueue_trial({"x": 0.5})
    (trial,) = storage.get_all_trials(study._study_id)
    assert trial.state == optuna.trial.TrialState.WAITING
    return trial._trial_id


def test_a_retried_pop_is_taken_only_under_the_lease(base, monkeypatch) -> None:
    """A pop of a queued trial whose first try committed but lost its reply is taken on the retry
    (the trial is RUNNING now) by the lease holder; without the lease another writer may have
    popped it, so Optuna's False stands."""
    monkeypatch.setattr(retry_module.time, "sleep", lambda s: None)
    lease = Lease(base.engine, "s")
    lease.acquire()
    try:
        held = guard_storage(base, URL, lease=lease, policy=RetryPolicy(budget_s=10, base_s=0.01))
        tid = _waiting_trial(held)
        with commit_then_drop("UPDATE trials SET state") as dropped:
            assert held.set_trial_state_values(tid, optuna.trial.TrialState.RUNNING) is True
        assert dropped == [1]
    finally:
        lease.release()
    free = guard_storage(base, URL, policy=RetryPolicy(budget_s=10, base_s=0.01))
    study = optuna.load_study(storage=free, study_name="q")
    study.enqueue_trial({"x": 0.25})
    tid2 = max(t._trial_id for t in free.get_all_trials(study._study_id))
    with commit_then_drop("UPDATE trials SET state") as dropped:
        assert free.set_trial_state_values(tid2, optuna.trial.TrialState.RUNNING) is False
    assert dropped == [1]


# ---------------------------------------------------------------- lease.py
def test_a_lost_insert_race_looks_again(base) -> None:
    """An IntegrityError on the insert (another process inserted first) is not an error of its
    own: the acquisition reads the row again and goes on."""
    with _fail_statement(base.engine, "INSERT INTO OPTGAN_LEASES", sqlalchemy.exc.IntegrityError) as failed:
        lease = Lease(base.engine, "s")
        assert lease.acquire() is None
    assert failed and read_holder(base.engine, "s")[0].token == lease.token
    lease.release()


def test_the_acquisition_confirms_the_lease_as_of_its_start(base, monkeypatch) -> None:
    """A slow acquiring transaction confirms the lease as of its start, not its end (the row
    others judge carries the start's time)."""
    now = [1000.0]
    monkeypatch.setattr(lease_module, "time", types.SimpleNamespace(monotonic=lambda: now[0], sleep=time.sleep))

    def slow(conn, cursor, statement, *args):  # noqa: ANN001, ANN202
        if statement.lstrip().upper().startswith("INSERT INTO OPTGAN_LEASES"):
            now[0] += 50

    sa.event.listen(base.engine, "before_cursor_execute", slow)
    try:
        lease = Lease(base.engine, "s")
        lease.acquire()
    finally:
        sa.event.remove(base.engine, "before_cursor_execute", slow)
    assert lease._confirmed == 1000.0
    lease.release()


def test_the_heartbeat_thread_survives_a_failed_beat(base, monkeypatch) -> None:
    """A heartbeat that fails (database away) is tried again next period; the thread goes on."""
    lease = Lease(base.engine, "s", ttl_s=0.12)  # period 0.02 s
    lease.acquire()
    real_beat, calls = lease.beat, []

    def beat() -> bool:
        calls.append(1)
        if len(calls) == 1:
            raise sqlalchemy.exc.OperationalError("UPDATE", {}, Exception("database is locked"))
        return real_beat()

    monkeypatch.setattr(lease, "beat", beat)
    lease.start_heartbeat()
    deadline = time.monotonic() + 3
    while len(calls) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    lease.release()
    assert len(calls) >= 3


def test_release_stops_the_heartbeat_thread(base) -> None:
    """Leaving `hold_lease` stops its heartbeat thread at once (no beats after the release)."""
    t0 = time.monotonic()
    with hold_lease(base.engine, "s", ttl_s=0.6) as lease:
        pass
    assert not lease._thread.is_alive() and time.monotonic() - t0 < 2
    assert lease.lost is None


def test_a_failed_release_is_quiet_and_its_row_is_taken_over_at_once(base) -> None:
    """A release whose delete fails does not raise (the run's own outcome stands) and forgets the
    token, so the next run in this process takes the left row over without waiting."""
    lease = Lease(base.engine, "s")
    lease.acquire()
    with _fail_statement(base.engine, "DELETE FROM OPTGAN_LEASES", sqlalchemy.exc.OperationalError, times=5):
        lease.release()
    assert read_holder(base.engine, "s")[0].token == lease.token  # left behind
    previous = Lease(base.engine, "s").acquire()
    assert previous is not None and previous.token == lease.token


def test_hold_lease_tells_which_holder_it_took_over(base) -> None:
    """`hold_lease` records the gone holder it took over (its token), and None for a free lease."""
    token = _plant_dead_holder(base.engine, "s")
    with hold_lease(base.engine, "s") as lease:
        assert lease.taken_over is not None and lease.taken_over.token == token
    with hold_lease(base.engine, "s") as lease:
        assert lease.taken_over is None


# ---------------------------------------------------------------- lease_rows.py
def test_a_process_of_another_user_is_alive(monkeypatch) -> None:
    """A PID that exists but may not be signalled (another user's process) is a live holder."""
    parent = os.getppid()

    def kill(pid: int, sig: int) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(lease_rows.os, "kill", kill)
    assert lease_rows._pid_alive(parent, pid_start(parent))


def test_a_pids_start_time_does_not_change_while_it_runs() -> None:
    """`pid_start` is the start time (field 22 of /proc/PID/stat), not a field that moves as the
    process runs (its memory size): a live holder that grew is not a reused PID."""
    if not os.path.exists(f"/proc/{os.getpid()}/stat"):
        pytest.skip("no /proc")
    before = pid_start(os.getpid())
    blob = bytearray(64 << 20)
    after = pid_start(os.getpid())
    del blob
    with open("/proc/self/stat", "rb") as f:
        start = f.read().rsplit(b")", 1)[1].split()[19].decode()
    assert before == after == start


def test_gone_holder_token_names_only_a_gone_holder(base) -> None:
    """`gone_holder_token` gives the token of a dead holder, and None for a live one (or none)."""
    assert gone_holder_token(base.engine, "s") is None
    token = _plant_dead_holder(base.engine, "s")
    assert gone_holder_token(base.engine, "s") == token
    with hold_lease(base.engine, "s"):
        assert gone_holder_token(base.engine, "s") is None


def test_sqlite_database_time_is_in_seconds_since_the_epoch(base) -> None:
    """On SQLite the lease times are this machine's clock in seconds since the epoch."""
    with base.engine.connect() as conn:
        assert abs(lease_rows.db_now(conn) - time.time()) < 5



def test_a_stop_that_lands_mid_delete_deletes_again(base) -> None:
    """A Ctrl-C that interrupts the release's delete does not leave the row: the delete runs again,
    then the stop is passed on."""
    lease = Lease(base.engine, "s")
    lease.acquire()
    stops: list[int] = []

    def hook(conn, cursor, statement, *args):  # noqa: ANN001, ANN202
        if not stops and statement.lstrip().upper().startswith("DELETE FROM OPTGAN_LEASES"):
            stops.append(1)
            raise KeyboardInterrupt

    sa.event.listen(base.engine, "before_cursor_execute", hook)
    try:
        with pytest.raises(KeyboardInterrupt):
            lease.release()
    finally:
        sa.event.remove(base.engine, "before_cursor_execute", hook)
    assert stops and read_holder(base.engine, "s")[0] is None


def test_only_a_finished_trial_error_counts_as_an_earlier_commit(quick) -> None:
    """A retried state change that meets another connection error is retried again, whatever
    state the trial is in: only Optuna's UpdateFinishedTrialError is taken as "the first try
    committed" (else a pop without the lease would claim a trial another writer took)."""
    tid = _waiting_trial(quick)
    assert quick.set_trial_state_values(tid, optuna.trial.TrialState.RUNNING) is True  # popped
    tries: list[int] = []

    def call() -> bool:
        tries.append(1)
        if len(tries) < 3:
            raise dropped_connection()
        return False  # Optuna's answer: not WAITING any more

    assert quick._with_retries("set_trial_state_values", True, call, (tid, optuna.trial.TrialState.RUNNING)) is False
    assert len(tries) == 3


def test_a_read_only_database_refuses_the_lease_in_one_line(tmp_path) -> None:
    """A search opened read-only cannot be run: `hold_lease` says so at once (one line), instead
    of retrying writes that cannot succeed."""
    from optgan.errors import StorageError

    path = tmp_path / "ro.db"
    sa.create_engine(f"sqlite:///{path}").dispose()
    with sa.create_engine(f"sqlite:///{path}").begin() as conn:
        conn.execute(sa.text("CREATE TABLE t (x INTEGER)"))
    engine = sa.create_engine(f"sqlite:///file:{path}?mode=ro&uri=true")
    try:
        with pytest.raises(StorageError, match="cannot be written here"), hold_lease(engine, "s"):
            pass
    finally:
        engine.dispose()


def _plant_row(engine, search: str, *, host: str, host_key: str, pid: int, age_s: float,  # noqa: ANN001
               ttl_s: float | None) -> None:
    lease = Lease(engine, search)
    lease.acquire()
    lease_module.held_tokens.discard(lease.token)
    now = read_holder(engine, search)[1]
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE optgan_leases SET host=:h, host_key=:k, pid=:p, pid_start='', heartbeat=:t, "
                             "ttl_s=:ttl WHERE search=:n"),
                     {"h": host, "k": host_key, "p": pid, "t": now - age_s, "ttl": ttl_s, "n": search})


def test_status_judges_a_row_without_its_own_ttl_by_this_processs_ttl(base, monkeypatch) -> None:
    """A row of an older optgan (no TTL stored) is stale once its heartbeat is older than this
    process's `OPTGAN_LEASE_TTL_S`."""
    from optgan.study.lease import run_states

    _plant_row(base.engine, "s", host="elsewhere", host_key="elsewhere-key", pid=1, age_s=100, ttl_s=None)
    monkeypatch.setenv("OPTGAN_LEASE_TTL_S", "60")
    assert run_states(base.engine)["s"]["state"] == "stale"
    monkeypatch.setenv("OPTGAN_LEASE_TTL_S", "1000")
    assert run_states(base.engine)["s"]["state"] == "running"


def test_a_host_with_the_same_name_but_another_boot_is_another_host(base) -> None:
    """PIDs are compared only within one host key (hostname, boot, PID namespace): a fresh row of
    a cloned machine with this hostname and a PID dead here is not taken over."""
    from optgan.study.lease import LeaseHeldError

    _plant_row(base.engine, "s", host=socket.gethostname(), host_key=f"{socket.gethostname()}/another-boot",
               pid=_dead_pid(), age_s=0, ttl_s=60)
    with pytest.raises(LeaseHeldError):
        Lease(base.engine, "s").acquire()
