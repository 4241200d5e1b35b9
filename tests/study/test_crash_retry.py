"""Database trouble (`optgan.study.retry`): connection errors are retried with backoff, a lost
reply to a tell is recognised, an outage longer than the budget stops the run with one line
(no password) and a resumable state — on SQLite and PostgreSQL. Failures are injected with a
SQLAlchemy `before_cursor_execute` hook that raises the error a dropped connection raises."""

from __future__ import annotations

import contextlib
import logging

import optuna
import pytest
import sqlalchemy as sa
import sqlalchemy.exc
import sqlalchemy.orm
from _crash_support import (DRY, SMALL, assert_generations_full, assert_same_trials, create, small_reference,
                            snapshot)
from _db_faults import commit_then_drop, dropped_connection
from click.testing import CliRunner
from optuna.trial import TrialState

from optgan.errors import StorageError
from optgan.study.lease import Lease, LeaseLostError
from optgan.study.retry import RETRY_ENV, RetryPolicy, guard_storage, is_transient
from optgan.study.storage import open_storage
from optgan_cli.main import main

FAKE_URL = "postgresql://optgan:s3cret-pw@db.example:5432/optgan"


@contextlib.contextmanager
def failing_writes(times: int, after: int = 0, verbs: tuple[str, ...] = ("INSERT", "UPDATE", "DELETE")):
    """Every engine: the write statements after the first `after` fail `times` times."""
    seen = {"writes": 0, "failed": 0}

    def hook(conn, cursor, statement, *args):  # noqa: ANN001, ANN202
        if not statement.lstrip().upper().startswith(verbs):
            return
        seen["writes"] += 1
        if seen["writes"] > after and seen["failed"] < times:
            seen["failed"] += 1
            raise dropped_connection()

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", hook)
    try:
        yield seen
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", hook)


@pytest.fixture
def study(storage_url: str, unique_name: str):
    storage = guard_storage(open_storage(storage_url), FAKE_URL, policy=RetryPolicy(budget_s=2, base_s=0.01))
    study = optuna.create_study(study_name=unique_name, storage=storage, directions=["minimize"])
    yield study
    storage.engine.dispose()


def test_transient_errors_are_retried(study, caplog) -> None:
    trial = study.ask()
    with caplog.at_level(logging.WARNING, "optgan.study.retry"), failing_writes(2) as seen:
        trial.set_user_attr("k", 1)
    assert seen["failed"] == 2 and study.trials[0].user_attrs["k"] == 1
    assert "retry 2" in caplog.text and "s3cret-pw" not in caplog.text and "***" in caplog.text


def test_outage_longer_than_the_budget_is_one_line_without_password(study) -> None:
    trial = study.ask()
    study._storage._backend._guard_policy = RetryPolicy(budget_s=0.2, base_s=0.05)
    with failing_writes(1000), pytest.raises(StorageError) as e:
        trial.set_user_attr("k", 1)
    msg = str(e.value)
    assert "unreachable" in msg and "server closed the connection" in msg and "rerun" in msg
    assert "s3cret-pw" not in msg and len(msg.splitlines()) == 1


def test_a_tell_whose_reply_was_lost_is_not_an_error(study) -> None:
    storage = study._storage._backend
    tid = study.ask()._trial_id
    tries = []

    def tell_then_lose_the_reply() -> bool:
        tries.append(1)
        done = optuna.storages.RDBStorage.set_trial_state_values(storage, tid, TrialState.COMPLETE, [1.0])
        if len(tries) == 1:
            raise dropped_connection()
        return done

    assert storage._with_retries("set_trial_state_values", True, tell_then_lose_the_reply,
                                 (tid, TrialState.COMPLETE)) is True
    assert len(tries) == 2 and study.trials[0].state == TrialState.COMPLETE


def test_a_pop_of_a_queued_trial_whose_reply_was_lost_is_taken(storage_url: str, unique_name: str) -> None:
    """`study.ask()` pops an enqueued trial (WAITING → RUNNING); the commit lands but the reply is
    lost. The repeat gets False from Optuna ("taken by someone else"): under the lease it is ours,
    so the ask returns the enqueued trial (else it moved to a later generation); without a lease
    the False stands (another process may have taken it)."""
    base = open_storage(storage_url)
    lease = Lease(base.engine, unique_name)
    lease.acquire()
    try:
        for held in (lease, None):
            name = f"{unique_name}-{'held' if held else 'free'}"
            storage = guard_storage(base, FAKE_URL, lease=held, policy=RetryPolicy(budget_s=2, base_s=0.01))
            study = optuna.create_study(study_name=name, storage=storage, directions=["minimize"])
            study.enqueue_trial({"x": 0.5})
            queued = study.trials[0]._trial_id
            with commit_then_drop("UPDATE trials SET state") as dropped:
                trial = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
            assert dropped == [1]
            assert (trial._trial_id == queued) is (held is not None)
            assert (trial.params["x"] == 0.5) is (held is not None)
    finally:
        lease.release()
        base.engine.dispose()


def test_writes_stop_once_the_lease_is_lost(storage_url: str, unique_name: str) -> None:
    base = open_storage(storage_url)
    lease = Lease(base.engine, unique_name)
    lease.acquire()
    storage = guard_storage(base, storage_url, lease=lease)
    study = optuna.create_study(study_name=unique_name, storage=storage)
    Lease(base.engine, unique_name).acquire(force=True)
    lease._confirmed = 0.0  # as if the heartbeat thread had not confirmed it lately
    with pytest.raises(LeaseLostError):
        study.ask()
    assert optuna.load_study(study_name=unique_name, storage=storage).trials == []  # reads still work
    base.engine.dispose()


@pytest.mark.parametrize(("exc", "transient"), [
    (dropped_connection(), True),
    (sqlalchemy.exc.OperationalError("x", {}, Exception("database is locked")), True),
    (sqlalchemy.exc.OperationalError("x", {}, Exception("no such table: trials")), False),
    (sqlalchemy.exc.DBAPIError("x", {}, Exception("boom"), connection_invalidated=True), True),
    (sqlalchemy.exc.IntegrityError("x", {}, Exception("duplicate key")), False),
    (ValueError("x"), False),
])
def test_is_transient(exc: BaseException, transient: bool) -> None:
    assert is_transient(exc) is transient
    wrapped = optuna.exceptions.StorageInternalError("An exception is raised during the commit.")
    wrapped.__cause__ = exc
    assert is_transient(wrapped) is transient


def test_run_stops_resumably_when_the_database_stays_away(storage_url: str, unique_name: str, tmp_path,
                                                          monkeypatch) -> None:
    runner = CliRunner()
    create(unique_name, storage_url, DRY, SMALL, tmp_path / "run")
    monkeypatch.setenv(RETRY_ENV, "0.5")
    # the database goes away in the middle of round 2 (UPDATEs only: Optuna's own retry loop of
    # trial INSERTs would add ~4 s of random sleeps)
    with failing_writes(10**6, after=6, verbs=("UPDATE",)):
        r = runner.invoke(main, ["run", unique_name, "--storage", storage_url])
    assert r.exit_code == 2, (r.stdout, r.stderr)
    assert "unreachable" in r.stderr and f"rerun `optgan run {unique_name}`" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    r = runner.invoke(main, ["run", unique_name, "--storage", storage_url])  # the database is back
    assert r.exit_code == 0, r.stderr
    got = snapshot(storage_url, unique_name)
    assert_same_trials(got, small_reference())
    assert_generations_full(got, 4)
