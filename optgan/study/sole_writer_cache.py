"""A trial cache for the one process that writes a study: asks in O(1) instead of O(P).

Optuna wraps an `RDBStorage` in `_CachedStorage`, which keeps finished trials but re-reads
*every* unfinished trial (params, attrs, values) from the database on each `get_all_trials`,
because another process may have changed them. A round asks P trials that all stay RUNNING
until the round is told, and every ask reads the trial list twice (Optuna's queue pop and the
sampler's slot count): O(P) rows per ask, O(P²) per round (P = 128 on SQLite: ≈ 18 s a bare round).

`optgan run` holds the search's run lease (:mod:`optgan.study.lease`), so no other process
writes its trials. :class:`SoleWriterCache` therefore re-reads an unfinished trial only after
this process wrote to it, plus any trial it has not seen yet. Writes made elsewhere anyway (a
dashboard user failing a RUNNING trial, `study.enqueue_trial` from a notebook) are picked up by
a full read, as Optuna's cache does it, at most `full_read_every_s` seconds after the last one.
Every write still goes to the database first, which refuses changes to finished trials.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import optuna
from optuna.storages._cached_storage import _CachedStorage, _StudyInfo

__all__ = ["SoleWriterCache", "FULL_READ_EVERY_S"]

#: staleness bound (seconds) for writes that other processes make despite the lease
FULL_READ_EVERY_S = 5.0


class SoleWriterCache(_CachedStorage):
    """`_CachedStorage` for a study this process alone writes (see the module docstring)."""

    def __init__(self, backend: optuna.storages.RDBStorage, full_read_every_s: float = FULL_READ_EVERY_S) -> None:
        super().__init__(backend)
        self.full_read_every_s = full_read_every_s
        self._fresh: set[int] = set()  # unfinished trial ids whose cached copy is current
        self._seen: dict[int, int] = {}  # study id -> highest trial id read
        self._full_read_at: dict[int, float] = {}
        #: trials read from the database so far (what the benchmark and the tests count)
        self.trials_read = 0

    def _read_trials_from_remote_storage(self, study_id: int) -> None:
        # holds the lock across the query: a write marks its trial stale only after its commit
        # (`_written`), so a read either ran before that mark or saw the committed row
        with self._lock:
            study = self._studies.setdefault(study_id, _StudyInfo())
            now = time.monotonic()
            full = now - self._full_read_at.get(study_id, -math.inf) >= self.full_read_every_s
            if full:  # Optuna's own rule: every unfinished trial, every trial after the last finished
                include, above = set(study.unfinished_trial_ids), study.last_finished_trial_id
            else:
                include, above = study.unfinished_trial_ids - self._fresh, self._seen.get(study_id, -1)
            trials = self._backend._get_trials(study_id, states=None, included_trial_ids=include,
                                               trial_id_greater_than=above)
            if full:
                self._full_read_at[study_id] = now
            self.trials_read += len(trials)
            if not trials:
                return
            self._add_trials_to_cache(study_id, trials)
            for t in trials:
                tid = t._trial_id
                self._seen[study_id] = max(self._seen.get(study_id, -1), tid)
                if not t.state.is_finished():
                    study.unfinished_trial_ids.add(tid)
                    self._fresh.add(tid)
                    continue
                study.unfinished_trial_ids.discard(tid)
                self._fresh.discard(tid)
                if full:  # only a full read has considered every trial below it
                    study.last_finished_trial_id = max(study.last_finished_trial_id, tid)

    def delete_study(self, study_id: int) -> None:
        try:
            super().delete_study(study_id)
        finally:  # a study created later may reuse the id (SQLite): it starts with a full read
            with self._lock:
                self._seen.pop(study_id, None)
                self._full_read_at.pop(study_id, None)

    def _written(self, trial_id: int) -> None:
        with self._lock:
            self._fresh.discard(trial_id)


#: every trial write of `_CachedStorage` (`create_new_trial` needs none: new ids are always read)
_TRIAL_WRITES = ("set_trial_param", "set_trial_state_values", "set_trial_intermediate_value",
                 "set_trial_user_attr", "set_trial_system_attr")


def _invalidating(name: str) -> Callable[..., Any]:
    """`_CachedStorage.<name>`, then the trial's cached copy marked stale (also on failure)."""
    base = getattr(_CachedStorage, name)

    def method(self: SoleWriterCache, trial_id: int, *args: Any, **kwargs: Any) -> Any:
        try:
            return base(self, trial_id, *args, **kwargs)
        finally:
            self._written(trial_id)

    method.__name__ = name
    method.__doc__ = base.__doc__
    return method


for _name in _TRIAL_WRITES:
    setattr(SoleWriterCache, _name, _invalidating(_name))
