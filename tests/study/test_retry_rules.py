"""Retry rules of `optgan.study.retry` that the end-to-end outage tests do not pin down: the
backoff cap, permanent errors, the budget check before a sleep, the session reset, and which
calls count as writes (checked against the lease)."""

from __future__ import annotations

import optuna
import pytest
import sqlalchemy.exc
from _db_faults import commit_then_drop, dropped_connection

from optgan.errors import StorageError
from optgan.study import retry as retry_module
from optgan.study.lease import Lease, LeaseLostError
from optgan.study.retry import RetryPolicy, guard_storage, is_transient
from optgan.study.storage import open_storage


def test_the_backoff_doubles_up_to_its_cap() -> None:
    policy = RetryPolicy(budget_s=1000, base_s=0.25, max_delay_s=15)
    assert [policy.delay(k) for k in range(8)] == [0.25, 0.5, 1, 2, 4, 8, 15, 15]


@pytest.mark.parametrize("text", ["attempt to write a readonly database", "permission denied for table trials",
                                  'relation "trials" does not exist', "no such column: x"])
def test_errors_no_retry_can_fix_are_not_retried(text: str) -> None:
    assert not is_transient(sqlalchemy.exc.OperationalError("x", {}, Exception(text)))


@pytest.fixture
def guarded(tmp_path):
    base = open_storage(f"sqlite:///{tmp_path / 'r.db'}")
    yield base
    base.engine.dispose()


def test_no_retry_sleeps_past_the_budget(guarded, monkeypatch) -> None:
    """A wait that would end after the budget is not started: the call gives up at once. (The
    sleeps are recorded, not slept, so the clock stands still: each wait is judged alone.)"""
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        assert len(slept) <= 5, f"kept waiting ({slept}) on a budget of 1 s"

    monkeypatch.setattr(retry_module.time, "sleep", sleep)
    storage = guard_storage(guarded, "sqlite:///r.db", policy=RetryPolicy(budget_s=1.0, base_s=0.4))
    calls = []

    def always_dropped() -> None:
        calls.append(1)
        raise dropped_connection()

    with pytest.raises(StorageError, match=r"unreachable .*\(3 tries of probe"):
        storage._with_retries("probe", False, always_dropped, ())
    assert slept == [0.4, 0.8] and len(calls) == 3  # a third wait (1.6 s) would pass the budget


def test_a_retry_starts_with_a_fresh_session(guarded, monkeypatch) -> None:
    """A session that saw a dead connection is dropped before the retry."""
    monkeypatch.setattr(retry_module.time, "sleep", lambda s: None)
    storage = guard_storage(guarded, "sqlite:///r.db", policy=RetryPolicy(budget_s=10, base_s=0.01))
    removed: list[int] = []
    real_remove = storage.scoped_session.remove
    monkeypatch.setattr(storage.scoped_session, "remove", lambda: (removed.append(1), real_remove()))
    tries = []

    def dropped_once() -> str:
        tries.append(1)
        if len(tries) == 1:
            raise dropped_connection()
        return "ok"

    assert storage._with_retries("probe", False, dropped_once, ()) == "ok"
    assert removed == [1]


#: every storage method that writes (kept here, not read from the module under test)
WRITES = ("create_new_study", "delete_study", "set_study_user_attr", "set_study_system_attr", "create_new_trial",
          "set_trial_param", "set_trial_state_values", "set_trial_intermediate_value", "set_trial_user_attr",
          "set_trial_system_attr", "record_heartbeat")


@pytest.mark.parametrize("name", WRITES)
def test_every_write_checks_the_lease_first(guarded, name: str) -> None:
    """Once the lease is lost, no write reaches the database (reads still work), however many
    calls the storage served before."""
    lease = Lease(guarded.engine, "s")
    lease.acquire()
    storage = guard_storage(guarded, "sqlite:///r.db", lease=lease)
    assert storage.get_all_studies() == []
    storage.create_new_study([optuna.study.StudyDirection.MINIMIZE], "x")
    Lease(guarded.engine, "s").acquire(force=True)
    lease.beat()  # finds the row taken over
    with pytest.raises(LeaseLostError):
        getattr(storage, name)(*([0] * 6))
    assert [s.study_name for s in storage.get_all_studies()] == ["x"]


def test_a_first_refusal_to_pop_a_trial_stands(guarded) -> None:
    """Optuna's False for a trial that is not WAITING any more is only reinterpreted for a retried
    pop whose first try may have committed; a first try's False stands, even under the lease."""
    lease = Lease(guarded.engine, "s")
    lease.acquire()
    storage = guard_storage(guarded, "sqlite:///r.db", lease=lease)
    study = optuna.create_study(storage=storage, study_name="q")
    study.enqueue_trial({"x": 0.5})
    trial = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})  # popped: RUNNING
    assert storage.set_trial_state_values(trial._trial_id, optuna.trial.TrialState.RUNNING) is False
    lease.release()


def test_a_first_tell_of_a_finished_trial_is_an_error(guarded) -> None:
    """Only a retried tell whose first try committed is taken as done: telling a finished trial
    on the first try is Optuna's error, as without the guard."""
    from optuna.exceptions import UpdateFinishedTrialError

    storage = guard_storage(guarded, "sqlite:///r.db")
    study = optuna.create_study(storage=storage, study_name="t")
    tid = study.ask()._trial_id
    assert storage.set_trial_state_values(tid, state=optuna.trial.TrialState.COMPLETE, values=[1.0]) is True
    with pytest.raises(UpdateFinishedTrialError):
        storage.set_trial_state_values(tid, state=optuna.trial.TrialState.COMPLETE, values=[1.0])


def test_a_tell_given_by_keyword_whose_reply_was_lost_is_not_an_error(guarded, monkeypatch) -> None:
    """Optuna's `study.tell` passes `state=` by keyword: the lost reply of its committed first try
    is recognised all the same."""
    monkeypatch.setattr(retry_module.time, "sleep", lambda s: None)
    storage = guard_storage(guarded, "sqlite:///r.db", policy=RetryPolicy(budget_s=10, base_s=0.01))
    study = optuna.create_study(storage=storage, study_name="k")
    tid = study.ask()._trial_id
    with commit_then_drop("UPDATE trials SET state") as dropped:
        assert storage.set_trial_state_values(tid, state=optuna.trial.TrialState.COMPLETE, values=[1.0]) is True
    assert dropped == [1] and storage.get_trial(tid).state == optuna.trial.TrialState.COMPLETE


def test_a_lookup_of_a_missing_name_is_a_key_error_and_a_vanished_record_one_line(guarded) -> None:
    """`KeyError` answers Optuna's lookups (no study of that name, no trial of that number), as
    Optuna's own callers expect; any other read of a record that is gone is the one-line error."""
    storage = guard_storage(guarded, "sqlite:///r.db")
    study_id = storage.create_new_study([optuna.study.StudyDirection.MINIMIZE], "l")
    with pytest.raises(KeyError):
        storage.get_study_id_from_name("no-such-study")
    with pytest.raises(KeyError):
        storage.get_trial_id_from_study_id_trial_number(study_id, 99)
    with pytest.raises(StorageError, match="a record this run uses is gone"):
        storage.get_trial(12345)


def test_the_retry_budget_comes_from_the_environment(monkeypatch) -> None:
    from optgan.study.retry import RETRY_ENV

    monkeypatch.setenv(RETRY_ENV, "7.5")
    assert RetryPolicy.from_env().budget_s == 7.5
    monkeypatch.setenv(RETRY_ENV, "0")  # no retries at all
    assert RetryPolicy.from_env().budget_s == 0
    monkeypatch.delenv(RETRY_ENV)
    assert RetryPolicy.from_env() == RetryPolicy()
