"""Storage calls that survive a database restart: retries with exponential backoff.

:func:`guard_storage` turns the search's `RDBStorage` into a :class:`GuardedStorage` (same
engine and sessions) whose every storage call

- first checks the run lease before a write (:meth:`optgan.study.lease.Lease.ensure`), so a
  process that lost its lease never writes again, and
- on a *connection* error (SQLAlchemy `OperationalError` / `InterfaceError`, or any DB-API
  error that invalidated its connection — a PostgreSQL restart, a dropped network, SQLite
  "database is locked") waits 0.25 s, 0.5 s, 1 s, … (at most 15 s) and tries again, until the
  budget (`$OPTGAN_STORAGE_RETRY_S`, default 120 s) is spent; then it raises a one-line
  :class:`~optgan.errors.StorageError`.

Every Optuna storage call is one transaction, so a call that failed changed nothing and the
study stays consistent: the run stops resumably. Two calls are not idempotent if their commit
succeeded but the reply was lost: a repeated `set_trial_state_values` is recognised (the
trial already has the wanted state; for the pop of a queued trial, WAITING → RUNNING, only
under the lease, since another writer could have taken it) and a repeated `create_new_trial` leaves an untagged
RUNNING trial, which the runner recycles at the next round. A record that vanished under the run
(its study deleted from optuna-dashboard, say) is one line too. Messages never show the password.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import optuna
import sqlalchemy.exc
from optuna.exceptions import UpdateFinishedTrialError

from optgan.errors import StorageError
from optgan.study.storage_url import redact, scrub_passwords

if TYPE_CHECKING:
    from optgan.study.lease import Lease

__all__ = ["RETRY_ENV", "RetryPolicy", "GuardedStorage", "guard_storage", "is_transient"]

log = logging.getLogger(__name__)

RETRY_ENV = "OPTGAN_STORAGE_RETRY_S"

#: storage methods that write (checked against the lease first)
_WRITES = ("create_new_study", "delete_study", "set_study_user_attr", "set_study_system_attr",
           "create_new_trial", "_create_new_trial", "set_trial_param", "_set_trial_param",
           "set_trial_state_values", "set_trial_intermediate_value", "set_trial_user_attr",
           "set_trial_system_attr", "record_heartbeat")
_READS = ("get_study_id_from_name", "get_study_name_from_id", "get_study_directions", "get_study_user_attrs",
          "get_study_system_attrs", "get_all_studies", "get_trial_id_from_study_id_trial_number",
          "get_trial_number_from_id", "get_trial_param", "get_trial", "get_all_trials", "_get_trials",
          "get_n_trials", "get_best_trial", "_get_best_trial_id", "get_trial_params", "get_trial_user_attrs",
          "get_trial_system_attrs")
#: reads whose KeyError answers a question (no such name / number) rather than reporting a record gone
_LOOKUPS = ("get_study_id_from_name", "get_trial_id_from_study_id_trial_number")
#: OperationalErrors that no retry can fix
_PERMANENT = ("no such table", "no such column", "syntax error", "readonly database", "does not exist",
              "password authentication failed", "permission denied")


@dataclass(frozen=True)
class RetryPolicy:
    """Backoff `base_s · 2^k`, capped at `max_delay_s`, until `budget_s` seconds have passed."""

    budget_s: float = 120.0
    base_s: float = 0.25
    max_delay_s: float = 15.0

    @classmethod
    def from_env(cls) -> "RetryPolicy":
        from optgan.config.base import env_seconds

        return cls(budget_s=env_seconds(RETRY_ENV, cls.budget_s, minimum=0.0))

    def delay(self, attempt: int) -> float:
        return min(self.max_delay_s, self.base_s * 2 ** attempt)


def _chain(exc: BaseException) -> list[BaseException]:
    """`exc` and the exceptions it was raised from / during, outermost first."""
    out: list[BaseException] = []
    e: BaseException | None = exc
    while e is not None and all(e is not x for x in out):
        out.append(e)
        e = e.__cause__ or e.__context__
    return out


def is_transient(exc: BaseException) -> bool:
    """Whether `exc` (or an exception it was raised from) is a lost / refused database connection."""
    for e in _chain(exc):
        if isinstance(e, sqlalchemy.exc.DBAPIError) and e.connection_invalidated:
            return True
        if isinstance(e, (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError,
                          sqlalchemy.exc.PendingRollbackError)):
            text = str(e).lower()
            return not any(p in text for p in _PERMANENT)
    return False


def _reason(exc: BaseException, url: str) -> str:
    """First line of the underlying driver error, password removed."""
    e = next((x for x in _chain(exc) if isinstance(x, sqlalchemy.exc.DBAPIError)), exc)
    e = getattr(e, "orig", None) or e
    lines = str(e).strip().splitlines()
    return scrub_passwords(f"{type(e).__name__}: {lines[0] if lines else ''}".strip(), url)


class GuardedStorage(optuna.storages.RDBStorage):
    """An RDBStorage whose calls check the run lease and retry connection errors."""

    _guard_url: str
    _guard_policy: RetryPolicy
    _guard_lease: "Lease | None"
    _guard_hint: str
    _guard_local: threading.local

    @property
    def sole_writer(self) -> bool:
        """Whether this process holds the search's run lease (so no other process writes it)."""
        return self._guard_lease is not None

    def guarded_write(self, name: str, call: Callable[[], Any]) -> Any:
        """Run `call`, a write to this storage's tables that is safe to repeat (e.g. upserts),
        with the lease check and the retries of every other write (`name` names it in messages)."""
        return self._guarded(name, True, call, ())

    def _guarded(self, name: str, write: bool, call: Callable[[], Any], args: tuple) -> Any:
        local = self._guard_local
        if getattr(local, "depth", 0):  # a storage method calling another: the outer one retries
            return call()
        local.depth = 1
        try:
            return self._with_retries(name, write, call, args)
        finally:
            local.depth = 0

    def _with_retries(self, name: str, write: bool, call: Callable[[], Any], args: tuple) -> Any:
        start, attempt = time.monotonic(), 0
        while True:
            try:
                if write and self._guard_lease is not None:
                    self._guard_lease.ensure()
                result = call()
                if attempt and result is False and self._pop_already_applied(name, args):
                    return True
                return result
            except Exception as e:  # noqa: BLE001 - sorted below
                if attempt and self._already_applied(name, e, args):
                    return True
                if isinstance(e, KeyError) and name not in _LOOKUPS:
                    raise StorageError(f"storage {redact(self._guard_url)}: a record this run uses is gone ({name}: "
                                       f"{e.args[0] if e.args else e}); was the search's study deleted while it ran "
                                       "(e.g. from optuna-dashboard)? The run stopped; its checkpoints are still in "
                                       "the run directory") from None
                if not is_transient(e):
                    raise
                self._wait_or_give_up(name, e, start, attempt)
                attempt += 1

    def _wait_or_give_up(self, name: str, e: BaseException, start: float, attempt: int) -> None:
        policy, elapsed = self._guard_policy, time.monotonic() - start
        delay, reason = policy.delay(attempt), _reason(e, self._guard_url)
        if elapsed + delay > policy.budget_s:
            raise StorageError(f"storage {redact(self._guard_url)} unreachable for {elapsed:.0f} s "
                               f"({attempt + 1} tries of {name}; {reason}); the search stopped with every "
                               f"finished step saved: {self._guard_hint}") from None
        log.warning("storage %s: %s during %s; retry %d in %.2f s", redact(self._guard_url), reason, name,
                    attempt + 1, delay)
        self.scoped_session.remove()  # a session that saw a dead connection is not reused
        time.sleep(delay)

    def _pop_already_applied(self, name: str, args: tuple) -> bool:
        """A retried pop of a queued trial (WAITING → RUNNING) whose first try committed: Optuna
        answers the repeat with False ("someone else took it"). Only the lease holder writes, so a
        trial that is RUNNING now was taken by that first try."""
        if name != "set_trial_state_values" or len(args) < 2 or args[1] != optuna.trial.TrialState.RUNNING:
            return False
        return self.sole_writer and optuna.storages.RDBStorage.get_trial(self, args[0]).state == args[1]

    def _already_applied(self, name: str, e: BaseException, args: tuple) -> bool:
        """A retried tell whose first try committed (only the reply was lost)."""
        if name != "set_trial_state_values" or not isinstance(e, UpdateFinishedTrialError) or len(args) < 2:
            return False
        return optuna.storages.RDBStorage.get_trial(self, args[0]).state == args[1]


def _wrap(name: str, write: bool) -> Callable[..., Any]:
    base = getattr(optuna.storages.RDBStorage, name)

    def method(self: GuardedStorage, *args: Any, **kwargs: Any) -> Any:
        call_args = args if name != "set_trial_state_values" or "state" not in kwargs else (args[0], kwargs["state"])
        return self._guarded(name, write, lambda: base(self, *args, **kwargs), call_args)

    method.__name__ = name
    method.__doc__ = base.__doc__
    return method


for _name in _WRITES + _READS:
    if hasattr(optuna.storages.RDBStorage, _name):
        setattr(GuardedStorage, _name, _wrap(_name, _name in _WRITES))


def guard_storage(storage: optuna.storages.RDBStorage, url: str, *, lease: "Lease | None" = None,
                  hint: str = "rerun the same command once the database is back",
                  policy: RetryPolicy | None = None) -> GuardedStorage:
    """A :class:`GuardedStorage` sharing `storage`'s engine and sessions."""
    guarded = GuardedStorage.__new__(GuardedStorage)
    guarded.__dict__.update(storage.__dict__)
    guarded._guard_url = url
    guarded._guard_policy = policy or RetryPolicy.from_env()
    guarded._guard_lease = lease
    guarded._guard_hint = hint
    guarded._guard_local = threading.local()
    return guarded
