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
Every write reaches the database before this process's next storage call of another kind
(below), and the database refuses changes to finished trials.

Batched writes (:attr:`SoleWriterCache.batch_writes`, on): Optuna writes every param and every
attr of a trial in a transaction of its own (an ask: 21 params and the sampler's 5 attrs, about
30 commits and 100 statements; a tell: 8 attrs). The cache holds a trial's params and attrs and
writes them in one transaction (:mod:`optgan.study.trial_batch_write`: one row lock, one upsert
per table, one commit) just before the next storage call of any other kind: the next ask's
trial-list read, a read of the trial, its tell. Values are checked (JSON, distribution
compatibility, the trial still running as far as this process knows) when they are set, as
Optuna does; an artifact's record and keys the database would refuse are written at once. A
crash before the flush loses what a crash during those single writes loses: the resumed run
repairs an ask cut short
(:func:`optgan.runner.population_trials`) and tells a trial that was not told.
"""

from __future__ import annotations

import copy
import functools
import json
import math
import time
from collections.abc import Callable
from typing import Any

import optuna
from optuna.artifacts._upload import ARTIFACTS_ATTR_PREFIX
from optuna.distributions import BaseDistribution, check_distribution_compatibility, distribution_to_json
from optuna.storages._cached_storage import _CachedStorage, _StudyInfo
from optuna.storages._rdb import models
from optuna.trial import FrozenTrial, TrialState

from optgan.study.trial_batch_write import TrialWrites, write_trial_batch

__all__ = ["SoleWriterCache", "FULL_READ_EVERY_S"]

#: staleness bound (seconds) for writes that other processes make despite the lease
FULL_READ_EVERY_S = 5.0


class SoleWriterCache(_CachedStorage):
    """`_CachedStorage` for a study this process alone writes (see the module docstring)."""

    #: hold a trial's param and attr writes and write them in one transaction (the module docstring)
    batch_writes = True

    def __init__(self, backend: optuna.storages.RDBStorage, full_read_every_s: float = FULL_READ_EVERY_S) -> None:
        super().__init__(backend)
        self.full_read_every_s = full_read_every_s
        self._fresh: set[int] = set()  # unfinished trial ids whose cached copy is current
        self._seen: dict[int, int] = {}  # study id -> highest trial id read
        self._full_read_at: dict[int, float] = {}
        self._pending: dict[int, TrialWrites] = {}  # trial id → writes not yet in the database
        #: trials read from the database so far (what the benchmark and the tests count)
        self.trials_read = 0

    # -------------------------------------------------------------- batched writes
    def set_trial_param(self, trial_id: int, param_name: str, param_value_internal: float,
                        distribution: BaseDistribution) -> None:
        cached = self._holdable(trial_id)
        previous = None if cached is None else self._studies[cached[0]].param_distribution.get(param_name)
        # a first value of this name: Optuna checks it against the database, so written through (once per name)
        if cached is None or previous is None:
            self._write_through("set_trial_param", trial_id, param_name, param_value_internal, distribution)
            return
        check_distribution_compatibility(previous, distribution)
        if param_name in cached[1].params:
            return  # Optuna ignores a second value for a param (the database's unique key refuses it)
        value = float(param_value_internal)
        external = distribution.to_external_repr(value)
        with self._lock:
            self._pending.setdefault(trial_id, TrialWrites()).params[param_name] = (
                value, distribution_to_json(distribution))
            trial = self._replace_cached(cached)
            trial.params[param_name] = external
            trial.distributions[param_name] = distribution

    def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> None:
        self._hold_attr(trial_id, key, value, user=True)

    def set_trial_system_attr(self, trial_id: int, key: str, value: Any) -> None:
        self._hold_attr(trial_id, key, value, user=False)

    def _hold_attr(self, trial_id: int, key: str, value: Any, user: bool) -> None:
        cached = self._holdable(trial_id)
        # written at once: an artifact's record (Optuna writes it before the file: a trial finished
        # elsewhere must refuse it before a file is stored) and keys the database would refuse
        at_once = not isinstance(key, str) or len(key) > models.MAX_INDEXED_STRING_LENGTH or \
            (not user and key.startswith(ARTIFACTS_ATTR_PREFIX))
        if cached is None or at_once:
            self._write_through("set_trial_user_attr" if user else "set_trial_system_attr", trial_id, key, value)
            return
        encoded = json.dumps(value)  # a value that cannot be stored fails here, as in Optuna
        with self._lock:
            writes = self._pending.setdefault(trial_id, TrialWrites())
            (writes.user_attrs if user else writes.system_attrs)[key] = encoded
            trial = self._replace_cached(cached)
            (trial.user_attrs if user else trial.system_attrs)[key] = json.loads(encoded)  # as read back

    def _replace_cached(self, cached: tuple[int, FrozenTrial]) -> FrozenTrial:
        """A new cached copy of the trial to change (lock held): lists returned before keep the
        old object, as when Optuna's cache re-reads a trial."""
        study_id, seen = cached
        old = self._studies[study_id].trials.get(seen.number, seen)  # the current copy
        new = copy.copy(old)
        new.params, new.distributions = dict(old.params), dict(old.distributions)
        new.user_attrs, new.system_attrs = dict(old.user_attrs), dict(old.system_attrs)
        self._studies[study_id].trials[old.number] = new
        return new

    def _holdable(self, trial_id: int) -> tuple[int, FrozenTrial] | None:
        """(study id, cached copy) of `trial_id` when its writes may be held: batching on and a
        running trial whose cached copy is current; None = write through."""
        if not self.batch_writes:
            return None
        with self._lock:
            known = self._trial_id_to_study_id_and_number.get(trial_id)
            if known is None or trial_id not in self._fresh:  # unknown, or changed since it was read
                return None
            trial = self._studies[known[0]].trials.get(known[1])
        return None if trial is None or trial.state != TrialState.RUNNING else (known[0], trial)

    def _write_through(self, name: str, trial_id: int, *args: Any) -> None:
        self.flush()
        try:
            getattr(_CachedStorage, name)(self, trial_id, *args)
        finally:
            self._written(trial_id)

    def flush(self) -> None:
        """Write every held param and attr, one transaction per trial. A write that fails is
        dropped and its error raised (the run stops or handles it, as for a failed single
        write); the trial is then read again from the database. Holds the lock throughout, so
        a read in another thread never caches a trial between the pop and the commit."""
        guarded = getattr(self._backend, "guarded_write", None)
        with self._lock:
            while self._pending:
                trial_id = next(iter(self._pending))
                writes = self._pending.pop(trial_id)
                call = functools.partial(write_trial_batch, self._backend, trial_id, writes)
                try:
                    guarded("set_trial_batch", call) if guarded else call()
                except BaseException:
                    self._fresh.discard(trial_id)
                    raise

    def get_trial(self, trial_id: int) -> FrozenTrial:
        """A running trial whose cached copy is current (held writes applied) is served from the
        cache, as finished ones are, until the study's next full read is due (writes made
        elsewhere are then seen, as in Optuna's cache); any other is read from the database."""
        with self._lock:
            known = self._trial_id_to_study_id_and_number.get(trial_id)
            if known is not None and trial_id in self._fresh and \
                    time.monotonic() - self._full_read_at.get(known[0], -math.inf) < self.full_read_every_s:
                trial = self._studies[known[0]].trials.get(known[1])
                if trial is not None:
                    return copy.deepcopy(trial)  # `optuna.Trial` changes its copy as it suggests
        self.flush()
        return _CachedStorage.get_trial(self, trial_id)

    # -------------------------------------------------------------- reads
    def _read_trials_from_remote_storage(self, study_id: int) -> None:
        self.flush()
        # holds the lock across the query: a write marks its trial stale only after its commit
        # (`_written`), and a flush holds it across its commit, so a read either ran before them
        # or saw the committed rows
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
        with self._lock:  # writes held for the study's trials go with it
            gone = [t for t, (s, _) in self._trial_id_to_study_id_and_number.items() if s == study_id]
            for t in gone:
                self._pending.pop(t, None)
        self.flush()
        try:
            super().delete_study(study_id)
        finally:  # a study created later may reuse the ids (SQLite): it starts with a full read
            with self._lock:
                self._seen.pop(study_id, None)
                self._full_read_at.pop(study_id, None)
                self._fresh.difference_update(gone)

    def _written(self, trial_id: int) -> None:
        with self._lock:
            self._fresh.discard(trial_id)


#: trial writes of `_CachedStorage` that are never held (`create_new_trial` needs no marking: new ids are always read)
_TRIAL_WRITES = ("set_trial_state_values", "set_trial_intermediate_value")
#: every other storage call: held writes go first, so the database is current when it runs
_FLUSHED_FIRST = ("create_new_study", "delete_study", "set_study_user_attr", "set_study_system_attr",
                  "get_study_id_from_name", "get_study_name_from_id", "get_study_directions", "get_study_user_attrs",
                  "get_study_system_attrs", "get_all_studies", "create_new_trial", "get_all_trials",
                  "get_trial_id_from_study_id_trial_number", "get_best_trial", "record_heartbeat",
                  "_get_stale_trial_ids", "remove_session")


def _invalidating(name: str) -> Callable[..., Any]:
    """`_CachedStorage.<name>` after the held writes, then the trial's cached copy marked stale
    (also on failure)."""
    base = getattr(_CachedStorage, name)

    def method(self: SoleWriterCache, trial_id: int, *args: Any, **kwargs: Any) -> Any:
        self.flush()
        try:
            return base(self, trial_id, *args, **kwargs)
        finally:
            self._written(trial_id)

    method.__name__ = name
    method.__doc__ = base.__doc__
    return method


def _flushing(name: str) -> Callable[..., Any]:
    """`_CachedStorage.<name>` after the held writes."""
    base = getattr(_CachedStorage, name)

    def method(self: SoleWriterCache, *args: Any, **kwargs: Any) -> Any:
        self.flush()
        return base(self, *args, **kwargs)

    method.__name__ = name
    method.__doc__ = base.__doc__
    return method


for _name in _TRIAL_WRITES:
    setattr(SoleWriterCache, _name, _invalidating(_name))
for _name in _FLUSHED_FIRST:
    if _name in vars(SoleWriterCache):  # its own override calls flush() itself
        continue
    if hasattr(_CachedStorage, _name):
        setattr(SoleWriterCache, _name, _flushing(_name))
