"""One writer per search: the run lease (`optgan.study.lease`) on SQLite and PostgreSQL —
refusal naming host and PID, takeover of a dead holder (at once on this host, after heartbeat
expiry elsewhere, PID reuse detected), `--force-unlock`, and two concurrent `optgan run`."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time

import pytest
import sqlalchemy as sa
from _crash_support import (DRY, SMALL, assert_generations_full, assert_same_trials, create, lease_rows,
                            small_reference, snapshot, start, subprocess_env)
from click.testing import CliRunner

from optgan.study.lease import Lease, LeaseHeldError, LeaseLostError, hold_lease, read_holder
from optgan.study.lease_rows import host_key
from optgan.study.storage import open_storage
from optgan_cli.main import main


@pytest.fixture
def engine(storage_url: str):
    storage = open_storage(storage_url)
    yield storage.engine
    storage.engine.dispose()


def _plant(engine, search: str, *, host: str, host_key: str, pid: int, age_s: float,  # noqa: ANN001
           pid_start: str = "", ttl_s: float = 60) -> None:
    """Write a lease row as another process (with TTL `ttl_s`) would have."""
    lease = Lease(engine, search, ttl_s=ttl_s)
    lease.acquire()  # creates the table and a row, then rewrite it
    with engine.begin() as conn:
        now = read_holder(engine, search)[1]
        conn.execute(sa.text("UPDATE optgan_leases SET host=:h, host_key=:k, pid=:p, pid_start=:s, heartbeat=:t "
                             "WHERE search=:n"),
                     {"h": host, "k": host_key, "p": pid, "s": pid_start, "t": now - age_s, "n": search})


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_second_holder_refused_with_host_and_pid(engine, unique_name: str) -> None:
    with hold_lease(engine, unique_name):
        with pytest.raises(LeaseHeldError) as e:
            Lease(engine, unique_name).acquire()
        msg = str(e.value)
        assert f"PID {os.getpid()} on host {socket.gethostname()}" in msg and "--force-unlock" in msg
        assert len(msg.splitlines()) == 1
    assert read_holder(engine, unique_name)[0] is None  # released


def test_a_stop_just_after_the_row_was_written_still_releases_it(engine, unique_name: str, monkeypatch) -> None:
    """A stop (SIGTERM, Ctrl-C) can land just after the lease row was committed: in `acquire`
    after its commit, or while the heartbeat thread starts. The row must not stay behind."""
    from optgan.study import lease as lease_module

    real_acquire, real_start = Lease.acquire, Lease.start_heartbeat
    held_before = set(lease_module.held_tokens)  # other tests' leases that were never released

    def acquire_then_stop(self, force=False):  # noqa: ANN001, ANN202
        real_acquire(self, force)
        raise KeyboardInterrupt

    monkeypatch.setattr(Lease, "acquire", acquire_then_stop)
    with pytest.raises(KeyboardInterrupt), hold_lease(engine, unique_name):
        pytest.fail("the body must not run")
    assert read_holder(engine, unique_name)[0] is None and lease_module.held_tokens == held_before
    monkeypatch.setattr(Lease, "acquire", real_acquire)

    def stop_while_starting(self):  # noqa: ANN001, ANN202
        real_start(self)
        raise KeyboardInterrupt

    monkeypatch.setattr(Lease, "start_heartbeat", stop_while_starting)
    with pytest.raises(KeyboardInterrupt), hold_lease(engine, unique_name):
        pytest.fail("the body must not run")
    assert read_holder(engine, unique_name)[0] is None


def test_a_stop_that_lands_in_the_release_still_deletes_the_row(engine, unique_name: str, monkeypatch) -> None:
    """A run that ends (or is stopped) just as a SIGTERM comes: the stop lands inside the
    release, which deletes the row anyway, then passes the stop on."""
    import threading

    real_join, stops = threading.Thread.join, []

    def join_then_stop(self, timeout=None):  # noqa: ANN001, ANN202
        real_join(self, timeout)
        if self.name.startswith("optgan-lease-") and not stops:
            stops.append(1)
            raise KeyboardInterrupt

    monkeypatch.setattr(threading.Thread, "join", join_then_stop)
    with pytest.raises(KeyboardInterrupt), hold_lease(engine, unique_name):
        pass
    assert stops and read_holder(engine, unique_name)[0] is None


def test_dead_holder_on_this_host_taken_over_at_once(engine, unique_name: str) -> None:
    dead = _dead_pid()
    _plant(engine, unique_name, host=socket.gethostname(), host_key=host_key(), pid=dead, age_s=0)
    lease = Lease(engine, unique_name)
    previous = lease.acquire()
    assert previous is not None and previous.pid == dead
    assert read_holder(engine, unique_name)[0].pid == os.getpid()
    lease.release()


def test_reused_pid_is_a_dead_holder(engine, unique_name: str) -> None:
    # the parent PID is alive but started at another time than the recorded holder
    _plant(engine, unique_name, host=socket.gethostname(), host_key=host_key(), pid=os.getppid(), age_s=0,
           pid_start="1")
    assert Lease(engine, unique_name).acquire().pid == os.getppid()


def test_other_host_waits_for_heartbeat_expiry(engine, unique_name: str) -> None:
    _plant(engine, unique_name, host="node-7", host_key="node-7|pid:[1]", pid=4242, age_s=5, ttl_s=7)
    with pytest.raises(LeaseHeldError, match=r"PID 4242 on host node-7.*wait 2 s for its lease to expire"):
        Lease(engine, unique_name, ttl_s=60).acquire()
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE optgan_leases SET ttl_s=4 WHERE search=:n"), {"n": unique_name})
    assert Lease(engine, unique_name, ttl_s=60).acquire().host == "node-7"  # 5 s old > its 4 s TTL


def test_a_holder_is_judged_by_its_own_ttl(engine, unique_name: str) -> None:
    # a run elsewhere with OPTGAN_LEASE_TTL_S=600 beats every 100 s: a reader with 60 s must not take it over
    from optgan.study.lease import run_states

    holder = Lease(engine, unique_name, ttl_s=600)
    holder.acquire()
    with engine.begin() as conn:
        now = read_holder(engine, unique_name)[1]
        conn.execute(sa.text("UPDATE optgan_leases SET host='node-7', host_key='node-7|x', heartbeat=:t WHERE search=:n"),
                     {"t": now - 100, "n": unique_name})
    assert read_holder(engine, unique_name)[0].ttl_s == 600
    with pytest.raises(LeaseHeldError, match="wait 500 s"):
        Lease(engine, unique_name, ttl_s=60).acquire()
    assert run_states(engine)[unique_name]["state"] == "running"
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE optgan_leases SET heartbeat=:t WHERE search=:n"), {"t": now - 700, "n": unique_name})
    assert run_states(engine)[unique_name]["state"] == "stale"
    assert Lease(engine, unique_name, ttl_s=60).acquire().host == "node-7"
    assert read_holder(engine, unique_name)[0].ttl_s == 60  # the new holder's own


def _lease_table_of_an_older_optgan(engine: sa.Engine) -> None:
    """The lease table as optgan made it before leases had their own TTLs (no `ttl_s` column)."""
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE IF EXISTS optgan_leases"))
        conn.execute(sa.text(
            "CREATE TABLE optgan_leases (search VARCHAR(512) PRIMARY KEY, token VARCHAR(64) NOT NULL, "
            "host VARCHAR(255) NOT NULL, host_key VARCHAR(512) NOT NULL, pid INTEGER NOT NULL, "
            "pid_start VARCHAR(64) NOT NULL, acquired FLOAT NOT NULL, heartbeat FLOAT NOT NULL)"))


def test_a_lease_table_of_an_older_optgan_gains_the_ttl_column(storage_url: str, unique_name: str) -> None:
    from optgan.study.lease import run_states

    engine = sa.create_engine(storage_url)
    try:
        _lease_table_of_an_older_optgan(engine)
        old_row = {"n": unique_name + "-old", "t": time.time()}
        with engine.begin() as conn:  # a run of the older optgan on another host, 30 s without a heartbeat
            conn.execute(sa.text("INSERT INTO optgan_leases VALUES (:n, 'tok', 'node-7', 'node-7|x', 42, '', :t, :t)"),
                         {"n": old_row["n"], "t": read_holder_now(engine) - 30})
        assert run_states(engine)[old_row["n"]]["state"] == "running"  # read without the column: not created
        assert "ttl_s" not in {c["name"] for c in sa.inspect(engine).get_columns("optgan_leases")}
        with hold_lease(engine, unique_name, ttl_s=90):
            holder = read_holder(engine, unique_name)[0]
            assert holder.ttl_s == 90 and holder.pid == os.getpid()
        old = read_holder(engine, old_row["n"])[0]
        assert old.ttl_s is None and old.expiry_s(20) == 20  # judged by the reader's TTL
        assert Lease(engine, old_row["n"], ttl_s=20).acquire().token == "tok"
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text("DROP TABLE IF EXISTS optgan_leases"))
        engine.dispose()


def read_holder_now(engine) -> float:  # noqa: ANN001
    from optgan.study.lease_rows import db_now

    with engine.connect() as conn:
        return db_now(conn)


def test_a_heartbeat_that_lands_while_the_row_is_judged_keeps_the_lease(engine, unique_name: str,
                                                                        monkeypatch) -> None:
    """A holder elsewhere whose heartbeat looked expired (a database outage longer than the TTL,
    which its retries outlast) beats between a taker's read and its compare-and-set: the holder
    keeps the lease and the taker, reading again, is refused. (On the token alone, the taker won
    while the holder's `ensure()` still let it write: two writers.)"""
    from optgan.study import lease as lease_module

    holder = Lease(engine, unique_name)
    holder.acquire()
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE optgan_leases SET host_key='node-7|x', heartbeat=heartbeat-100 WHERE search=:n"),
                     {"n": unique_name})
    real_read, beats = lease_module.read_row, []

    def read_then_the_holder_beats(conn, search, with_ttl):  # noqa: ANN001, ANN202
        found = real_read(conn, search, with_ttl)
        if not beats:
            beats.append(holder.beat())
        return found

    monkeypatch.setattr(lease_module, "read_row", read_then_the_holder_beats)
    with pytest.raises(LeaseHeldError, match="heartbeat 0 s ago"):
        Lease(engine, unique_name).acquire()
    assert beats == [True]
    holder.ensure()
    assert read_holder(engine, unique_name)[0].token == holder.token
    holder.release()


def test_a_heartbeat_confirms_the_lease_as_of_its_start(engine, unique_name: str, monkeypatch) -> None:
    """A heartbeat that waited on a lock stores the time it started: the lease counts as confirmed
    from then, not from when the wait ended (else writes ran on past what other hosts see)."""
    from optgan.study import lease as lease_module

    lease = Lease(engine, unique_name)
    lease.acquire()
    real_now = lease_module.db_now

    def slow_now(conn):  # noqa: ANN001, ANN202
        value = real_now(conn)
        time.sleep(0.6)  # the UPDATE after it waits on a lock
        return value

    monkeypatch.setattr(lease_module, "db_now", slow_now)
    before = time.monotonic()
    assert lease.beat()
    assert lease._confirmed <= before + 0.3  # not after the wait (≥ before + 0.6); margin for a loaded machine
    lease.release()


def test_the_host_key_names_the_boot(monkeypatch) -> None:
    """Hostname and PID namespace are not enough: the host's own PID namespace has one name on
    every Linux machine, and cloned machines share hostnames; their PIDs are not comparable."""
    key = host_key()
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            boot = f.read().strip()
    except OSError:
        pytest.skip("no /proc/sys/kernel/random/boot_id here")
    assert key.startswith(socket.gethostname() + "|") and key.endswith("|" + boot) and boot


def test_force_unlock_and_the_old_holder_stops(engine, unique_name: str) -> None:
    old = Lease(engine, unique_name)
    old.acquire()
    new = Lease(engine, unique_name)
    assert new.acquire(force=True).token == old.token
    assert not old.beat()
    with pytest.raises(LeaseLostError, match="lost its lease"):
        old.ensure()
    old.release()  # must not delete the new holder's row
    assert read_holder(engine, unique_name)[0].token == new.token
    new.release()


def test_heartbeat_thread_refreshes(engine, unique_name: str) -> None:
    with hold_lease(engine, unique_name, ttl_s=0.6) as lease:  # beats every 0.1 s
        first = read_holder(engine, unique_name)[0].heartbeat
        deadline = time.monotonic() + 30  # a loaded machine can hold the thread (or the commit) back
        while read_holder(engine, unique_name)[0].heartbeat <= first:
            assert time.monotonic() < deadline, "the heartbeat thread never refreshed the lease"
            time.sleep(0.1)
        lease.ensure()


def test_cli_refuses_then_force_unlock(storage_url: str, unique_name: str, tmp_path, engine) -> None:
    create(unique_name, storage_url, DRY, [*SMALL, "gen_stage.rounds=1"], tmp_path / "run")
    _plant(engine, unique_name, host="node-7", host_key="node-7|pid:[1]", pid=4242, age_s=0)
    runner = CliRunner()
    r = runner.invoke(main, ["run", unique_name, "--storage", storage_url])
    assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1
    assert "is being run by PID 4242 on host node-7" in r.stderr
    r = runner.invoke(main, ["run", unique_name, "--storage", storage_url, "--force-unlock"])
    assert r.exit_code == 0, r.stderr
    assert "stage disc: 1/1 rounds, finished" in r.stdout
    assert read_holder(engine, unique_name)[0] is None


def test_two_concurrent_runs_never_both_write(storage_url: str, unique_name: str, tmp_path) -> None:
    create(unique_name, storage_url, DRY, SMALL, tmp_path / "run")
    env = subprocess_env("between_tells:sleep=0.25")  # ≥ 4 s of work: the other one arrives meanwhile (starts
    # measured 0.06–0.46 s apart under load)
    procs = [start("run", unique_name, "--storage", storage_url, env=env) for _ in range(2)]
    results = [(p, *p.communicate(timeout=120)) for p in procs]
    codes = sorted(p.returncode for p, _, _ in results)
    assert codes == [0, 2], [(p.returncode, err[-800:]) for p, _, err in results]
    winner = next(p for p, _, _ in results if p.returncode == 0)
    loser_err = next(err for p, _, err in results if p.returncode == 2)
    assert loser_err.strip().splitlines()[-1].startswith("error: search ")
    assert f"is being run by PID {winner.pid} on host {socket.gethostname()}" in loser_err
    got = snapshot(storage_url, unique_name)
    assert_same_trials(got, small_reference())
    assert_generations_full(got, 4)
    assert lease_rows(storage_url, unique_name) == []


@pytest.mark.parametrize("signame", ["SIGTERM", "SIGHUP"])
def test_sigterm_and_sighup_stop_a_run_like_ctrl_c(signame: str, tmp_path) -> None:
    """A batch scheduler's preemption (SIGTERM) or a closed terminal (SIGHUP) stops the run in one
    line, releases its lease (a rerun on another node need not wait for the TTL), and the rerun
    ends with the trials of an uninterrupted run."""
    import signal

    sig = getattr(signal, signame)
    url = f"sqlite:///{tmp_path / 'optgan.db'}"
    create("t", url, DRY, SMALL, tmp_path / "run")
    p = start("run", "t", "--storage", url, fault="train:sleep=60")
    deadline = time.monotonic() + 120
    while not lease_rows(url, "t") and time.monotonic() < deadline and p.poll() is None:
        time.sleep(0.2)
    time.sleep(1.0)  # well inside round 1's training (the sleep at `train`)
    p.send_signal(sig)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 128 + sig, err[-2000:]
    assert err.strip().splitlines()[-1] == f"error: stopped by {signame}; the search resumes when the same command is run again"
    assert lease_rows(url, "t") == []
    before = signal.getsignal(sig)
    r = CliRunner().invoke(main, ["run", "t", "--storage", url], catch_exceptions=False)
    assert r.exit_code == 0, r.stderr
    assert signal.getsignal(sig) == before  # the CLI restores what it replaced
    assert_same_trials(snapshot(url, "t"), small_reference())


def test_sigterm_at_a_question_is_a_stop_by_sigterm(tmp_path) -> None:
    """click turns a signal at a prompt into `Abort() from None`: still exit 143, not 130."""
    import signal

    url = f"sqlite:///{tmp_path / 'optgan.db'}"
    create("q", url, DRY, SMALL, tmp_path / "run")
    p = subprocess.Popen([sys.executable, "-m", "optgan_cli", "study", "delete", "q", "--storage", url],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env=subprocess_env())
    assert p.stdout is not None and p.stdout.read(6) == "delete"  # the question is on screen
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 143 and "error: stopped by SIGTERM" in err, err
    assert "q " in CliRunner().invoke(main, ["study", "list", "--storage", url]).stdout  # nothing deleted


def test_a_terminal_that_hangs_up_stops_the_run_with_129(tmp_path) -> None:
    """A real hangup: the run's terminal goes away (SIGHUP, then every write to it fails)."""
    import pty

    url = f"sqlite:///{tmp_path / 'optgan.db'}"
    create("h", url, DRY, SMALL, tmp_path / "run")
    env = subprocess_env("train:sleep=60")
    pid, fd = pty.fork()
    if pid == 0:  # the child: `optgan run` on the pseudo-terminal
        os.execve(sys.executable, [sys.executable, "-m", "optgan_cli", "run", "h", "--storage", url], env)
    try:
        deadline = time.monotonic() + 120
        while not lease_rows(url, "h") and time.monotonic() < deadline:
            try:
                os.read(fd, 65536)  # keep the terminal drained
            except OSError:
                break
            time.sleep(0.1)
        time.sleep(1.0)
    finally:
        os.close(fd)  # hang up
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 129
    assert lease_rows(url, "h") == []


def test_status_says_whether_a_run_holds_the_search(storage_url: str, unique_name: str, tmp_path, engine) -> None:
    import json

    from _crash_support import run_with_fault

    create(unique_name, storage_url, DRY, SMALL, tmp_path / "run")

    def status(*extra: str):  # noqa: ANN202
        r = CliRunner().invoke(main, ["status", unique_name, *extra, "--storage", storage_url], catch_exceptions=False)
        assert r.exit_code == 0, r.stderr
        return r.stdout

    assert json.loads(status("--json"))["run"] == {"state": "idle"}
    assert status().startswith(f"search {unique_name}: not running\n")
    with hold_lease(engine, unique_name):
        run = json.loads(status("--json"))["run"]
        assert run["state"] == "running" and run["pid"] == os.getpid() and run["host"] == socket.gethostname()
        assert status().startswith(f"search {unique_name}: running, PID {os.getpid()} on host ")
        listed = CliRunner().invoke(main, ["study", "list", "--storage", storage_url]).stdout
        assert f"running: PID {os.getpid()} on {socket.gethostname()}" in listed
    # killed in round 2's training: its holder is gone (dead PID on this host), round 2 begun
    assert run_with_fault(unique_name, storage_url, "train:2").returncode == -9
    st = json.loads(status("--json"))
    assert st["run"]["state"] == "stale"
    assert st["stages"][0]["in_progress"] == {"generation": 1, "asked": 4, "told": 0}
    text = status()
    assert "stopped without releasing its lease" in text and "round   2: in progress, 0/4 asked trials told" in text
    listed = json.loads(CliRunner().invoke(main, ["study", "list", "--json", "--storage", storage_url]).stdout)
    assert [r["run"]["state"] for r in listed if r["name"] == unique_name] == ["stale"]


@pytest.mark.parametrize("signame", ["SIGTERM", "SIGINT"])
def test_a_stop_that_lands_in_a_weakref_callback_is_not_lost(signame: str, capsys) -> None:
    """Python ignores (prints) an exception raised inside a weakref callback or `__del__`, where a
    signal's exception can land (SQLAlchemy and torch run many). The CLI sends the signal again
    once the callback has returned, so the stop still happens, and nothing is printed."""
    import signal
    import threading
    import weakref

    from optgan_cli.stops import Terminated, stop_on_termination

    class Thing:
        pass

    def slow_callback(_ref: object) -> None:  # the signal lands while this runs
        t0 = time.monotonic()
        while time.monotonic() - t0 < 0.6:
            pass

    sig = getattr(signal, signame)
    stopped = None
    with stop_on_termination():
        thing = Thing()
        ref = weakref.ref(thing, slow_callback)  # noqa: F841 - keeps the callback registered
        threading.Timer(0.2, os.kill, (os.getpid(), sig)).start()
        try:
            del thing
            time.sleep(5)
        except KeyboardInterrupt as e:  # Terminated is one too
            stopped = e
    assert stopped is not None, "the stop was lost"
    assert isinstance(stopped, Terminated) == (signame == "SIGTERM")
    assert "Exception ignored" not in capsys.readouterr().err


def test_a_lease_this_process_failed_to_release_is_taken_over_at_once(engine, unique_name: str) -> None:
    """A lease row of this very process whose release failed (its token no longer held) is not a
    live holder: the next run in the process takes it over without waiting for the TTL."""
    from optgan.study import lease as lease_module

    stuck = Lease(engine, unique_name)
    stuck.acquire()
    lease_module.held_tokens.discard(stuck.token)  # as release() does before a delete that failed
    previous = Lease(engine, unique_name).acquire()
    assert previous is not None and previous.token == stuck.token


def test_a_live_holder_on_this_host_is_refused(engine, unique_name: str) -> None:
    """A live process on this host holds the lease: refused, whether its row carries its PID's
    start time or not (a row written where /proc was unavailable has none)."""
    from optgan.study.lease_rows import pid_start

    parent = os.getppid()
    for recorded in ("", pid_start(parent)):
        _plant(engine, unique_name, host=socket.gethostname(), host_key=host_key(), pid=parent, age_s=0,
               pid_start=recorded)
        with pytest.raises(LeaseHeldError, match=f"PID {parent} on host"):
            Lease(engine, unique_name).acquire()
        with engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM optgan_leases WHERE search=:n"), {"n": unique_name})


def test_a_zombie_holder_on_this_host_is_a_dead_holder(engine, unique_name: str) -> None:
    """A holder that exited but was not reaped yet (a zombie: its PID still answers kill 0) is gone."""
    if not os.path.isdir("/proc/self"):
        pytest.skip("zombies are recognised through /proc")
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        deadline = time.monotonic() + 30
        while True:  # exited, not waited for: a zombie
            with open(f"/proc/{child.pid}/stat", "rb") as f:
                if f.read().rsplit(b")", 1)[1].split()[0] == b"Z":
                    break
            assert time.monotonic() < deadline, "the child never exited"
            time.sleep(0.05)
        _plant(engine, unique_name, host=socket.gethostname(), host_key=host_key(), pid=child.pid, age_s=0)
        assert Lease(engine, unique_name).acquire().pid == child.pid
    finally:
        child.wait()


def test_a_lease_unconfirmed_for_two_heartbeat_periods_is_checked_before_a_write(engine, unique_name: str) -> None:
    """A write is let through only while the lease was confirmed less than two heartbeat periods
    ago, well inside the TTL other hosts judge it by: a holder whose heartbeat thread stalled
    checks the row first, and stops once it was taken over."""
    lease = Lease(engine, unique_name, ttl_s=60)
    lease.acquire()
    assert lease.interval_s == pytest.approx(10) and 2 * lease.interval_s < lease.ttl_s
    Lease(engine, unique_name, ttl_s=60).acquire(force=True)  # taken over meanwhile
    lease._confirmed = time.monotonic() - 25  # 2.5 periods ago: the heartbeat thread stalled
    with pytest.raises(LeaseLostError, match="lost its lease"):
        lease.ensure()


def test_run_states_tell_the_run_time_from_the_heartbeat_age(engine, unique_name: str) -> None:
    from optgan.study.lease import run_states

    lease = Lease(engine, unique_name)
    lease.acquire()
    now = read_holder(engine, unique_name)[1]
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE optgan_leases SET acquired=:a, heartbeat=:h WHERE search=:n"),
                     {"a": now - 100, "h": now - 3, "n": unique_name})
    state = run_states(engine)[unique_name]
    assert state["state"] == "running" and state["pid"] == os.getpid()
    assert 99 <= state["running_for_s"] <= 110 and 2 <= state["heartbeat_age_s"] <= 13
    lease.release()


def test_the_lease_counts_as_confirmed_from_its_acquisition(engine, unique_name: str) -> None:
    """Right after `acquire` the lease is confirmed as of the acquisition, no later: once two
    heartbeat periods passed without a beat, the next write checks the row first."""
    lease = Lease(engine, unique_name, ttl_s=0.6)  # heartbeat period 0.1 s; no heartbeat thread here
    before = time.monotonic()
    lease.acquire()
    assert before <= lease._confirmed <= time.monotonic()
    Lease(engine, unique_name).acquire(force=True)
    time.sleep(0.3)  # > 2 periods
    with pytest.raises(LeaseLostError):
        lease.ensure()


@contextlib.contextmanager
def _busy_once(engine, prefix: str):  # noqa: ANN001
    """The first statement of `engine` starting with `prefix` fails as SQLite's "database is locked"."""
    failed: list[str] = []

    def hook(conn, cursor, statement, *args):  # noqa: ANN001, ANN202
        if not failed and statement.lstrip().upper().startswith(prefix):
            failed.append(statement)
            raise sa.exc.OperationalError(statement, {}, Exception("database is locked"))

    sa.event.listen(engine, "before_cursor_execute", hook)
    try:
        yield failed
    finally:
        sa.event.remove(engine, "before_cursor_execute", hook)


def test_a_busy_database_while_taking_the_lease_is_retried(engine, unique_name: str) -> None:
    with _busy_once(engine, "INSERT INTO OPTGAN_LEASES") as failed:
        lease = Lease(engine, unique_name)
        assert lease.acquire() is None
    assert failed and read_holder(engine, unique_name)[0].token == lease.token
    lease.release()


def test_a_busy_database_while_adding_the_ttl_column_is_retried(storage_url: str, unique_name: str) -> None:
    """Adding `ttl_s` to an older optgan's lease table can meet a locked database: that is retried
    (the column then comes), not taken for a lack of rights (rows without TTLs for good)."""
    engine = sa.create_engine(storage_url)
    try:
        _lease_table_of_an_older_optgan(engine)
        with _busy_once(engine, "ALTER TABLE") as failed, hold_lease(engine, unique_name, ttl_s=90):
            assert read_holder(engine, unique_name)[0].ttl_s == 90
        assert failed
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text("DROP TABLE IF EXISTS optgan_leases"))
        engine.dispose()


def test_a_run_in_another_thread_leaves_the_process_wide_unraisable_hook_alone() -> None:
    """Stops land on the main thread only; a CLI run in a thread (CliRunner in a thread) must not
    swap `sys.unraisablehook`, or two overlapping runs restore each other's hook."""
    import sys
    import threading

    from optgan_cli.stops import stop_on_termination

    before = sys.unraisablehook
    seen = []

    def in_thread() -> None:
        with stop_on_termination():
            seen.append(sys.unraisablehook)

    t = threading.Thread(target=in_thread)
    t.start()
    t.join()
    assert seen == [before] and sys.unraisablehook is before
    with stop_on_termination():  # on the main thread it is swapped, and restored after
        assert sys.unraisablehook is not before
    assert sys.unraisablehook is before
