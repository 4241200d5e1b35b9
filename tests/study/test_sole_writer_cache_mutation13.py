"""`optgan.study.sole_writer_cache` rules its own suite leaves open (found by mutation testing,
round 13): every storage call of another kind (and a read itself) writes the held writes first,
one flush writes the held writes of every trial in one statement per table, held writes and
written-through ones of a key keep their order, keys that are no str are written at once, a held
param and attr read back as the database gives them, a flush cut short by any exception drops the
cached copy, the full-read interval's boundary, the read counter, and what `delete_study` does
with held writes and with the ids it has seen."""

from __future__ import annotations

import types
from collections.abc import Callable, Iterator
from pathlib import Path

import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.storages import RDBStorage
from optuna.study import StudyDirection
from optuna.trial import TrialState

from optgan.study import sole_writer_cache
from optgan.study.sole_writer_cache import SoleWriterCache

optuna.logging.set_verbosity(optuna.logging.WARNING)

MIN = [StudyDirection.MINIMIZE]


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[RDBStorage]:
    storage = RDBStorage(f"sqlite:///{tmp_path / 'm13.db'}", heartbeat_interval=60)
    yield storage
    storage.engine.dispose()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The cache's monotonic clock, stopped at 1000 s; tests move it by hand."""
    now = [1000.0]
    monkeypatch.setattr(sole_writer_cache, "time", types.SimpleNamespace(monotonic=lambda: now[0]))
    return now


def _fail_elsewhere(backend: RDBStorage, trial_id: int) -> None:
    """Another process (e.g. a dashboard user) fails the trial despite the lease."""
    other = RDBStorage(backend.url)
    other.set_trial_state_values(trial_id, TrialState.FAIL)
    other.engine.dispose()


def _fresh_trial(cache: SoleWriterCache, name: str = "s") -> tuple[int, int]:
    """(study id, trial id) of a new RUNNING trial, cached and current: its writes are held."""
    study_id = cache.create_new_study(MIN, name)
    tid = cache.create_new_trial(study_id)
    cache.get_all_trials(study_id)
    return study_id, tid


# ---------------------------------------------------------------- every call of another kind flushes first
_CALLS: dict[str, Callable[[SoleWriterCache, int, int, int], object]] = {
    "create_new_study": lambda c, s, t, d: c.create_new_study(MIN, "other"),
    "set_study_user_attr": lambda c, s, t, d: c.set_study_user_attr(s, "a", 1),
    "set_study_system_attr": lambda c, s, t, d: c.set_study_system_attr(s, "a", 1),
    "get_study_id_from_name": lambda c, s, t, d: c.get_study_id_from_name("s"),
    "get_study_name_from_id": lambda c, s, t, d: c.get_study_name_from_id(s),
    "get_study_directions": lambda c, s, t, d: c.get_study_directions(s),
    "get_study_user_attrs": lambda c, s, t, d: c.get_study_user_attrs(s),
    "get_study_system_attrs": lambda c, s, t, d: c.get_study_system_attrs(s),
    "get_all_studies": lambda c, s, t, d: c.get_all_studies(),
    "create_new_trial": lambda c, s, t, d: c.create_new_trial(s),
    "get_all_trials": lambda c, s, t, d: c.get_all_trials(s),
    "get_trial_id_from_study_id_trial_number": lambda c, s, t, d: c.get_trial_id_from_study_id_trial_number(s, 0),
    "get_best_trial": lambda c, s, t, d: c.get_best_trial(s),
    "record_heartbeat": lambda c, s, t, d: c.record_heartbeat(t),
    "_get_stale_trial_ids": lambda c, s, t, d: c._get_stale_trial_ids(s),
    "get_trial": lambda c, s, t, d: c.get_trial(d),  # another trial (a finished one)
    "set_trial_intermediate_value": lambda c, s, t, d: c.set_trial_intermediate_value(t, 0, 0.5),
    "set_trial_state_values": lambda c, s, t, d: c.set_trial_state_values(t, TrialState.COMPLETE, [2.0]),
}


def test_every_storage_call_of_another_kind_writes_the_held_writes_first(backend: RDBStorage) -> None:
    cache = SoleWriterCache(backend, full_read_every_s=3600)
    study_id = cache.create_new_study(MIN, "s")
    done = cache.create_new_trial(study_id)
    cache.set_trial_state_values(done, TrialState.COMPLETE, [1.0])
    for call in _CALLS:
        tid = cache.create_new_trial(study_id)
        cache.get_all_trials(study_id)
        cache.set_trial_user_attr(tid, "k", call)
        assert backend.get_trial(tid).user_attrs == {}, call  # held
        _CALLS[call](cache, study_id, tid, done)
        assert backend.get_trial(tid).user_attrs == {"k": call}, call


def test_one_flush_writes_the_held_writes_of_every_trial(backend: RDBStorage) -> None:
    cache = SoleWriterCache(backend, full_read_every_s=3600)
    study_id = cache.create_new_study(MIN, "s")
    tids = [cache.create_new_trial(study_id) for _ in range(3)]
    cache.get_all_trials(study_id)
    for i, tid in enumerate(tids):
        cache.set_trial_user_attr(tid, "k", i)
    cache.flush()
    assert [backend.get_trial(t).user_attrs for t in tids] == [{"k": 0}, {"k": 1}, {"k": 2}]


def test_a_written_through_value_is_not_overwritten_by_an_older_held_one(backend: RDBStorage) -> None:
    """A held write goes to the database before a later write of the same trial is written
    through (here: after an artifact's record, which is written at once, marked the trial stale)."""
    from optuna.artifacts._upload import ARTIFACTS_ATTR_PREFIX

    cache = SoleWriterCache(backend, full_read_every_s=3600)
    study_id, tid = _fresh_trial(cache)
    cache.set_trial_user_attr(tid, "k", "old")  # held
    cache.set_trial_system_attr(tid, ARTIFACTS_ATTR_PREFIX + "a", {"artifact_id": "a"})  # written at once
    cache.set_trial_user_attr(tid, "k", "new")  # the trial is stale: written through
    cache.flush()
    assert backend.get_trial(tid).user_attrs == {"k": "new"}
    assert cache.get_all_trials(study_id)[0].user_attrs == {"k": "new"}


def test_a_list_read_before_a_held_system_attr_is_left_as_it_was(backend: RDBStorage) -> None:
    cache = SoleWriterCache(backend)
    study_id, tid = _fresh_trial(cache)
    before = cache.get_all_trials(study_id, deepcopy=False)
    cache.set_trial_system_attr(tid, "k", 1)  # held
    assert before[0].system_attrs == {} and cache.get_all_trials(study_id)[0].system_attrs == {"k": 1}


def test_a_held_param_reads_back_as_the_database_gives_it(backend: RDBStorage) -> None:
    """Its distribution is cached with it, and its value is a float even when given as an int."""
    cache = SoleWriterCache(backend, full_read_every_s=3600)
    study_id, first = _fresh_trial(cache)
    cache.set_trial_param(first, "p", 0.5, FloatDistribution(0, 2))  # the first of its name: written through
    second = cache.create_new_trial(study_id)
    cache.get_all_trials(study_id)
    cache.set_trial_param(second, "p", 1, FloatDistribution(0, 2))  # held
    served = cache.get_trial(second)
    assert served.distributions == {"p": FloatDistribution(0, 2)}
    assert served.params == {"p": 1.0} and type(served.params["p"]) is float
    cache.flush()
    stored = backend.get_trial(second)
    assert (stored.params, stored.distributions) == (served.params, served.distributions)


def test_a_flush_cut_short_by_any_exception_reads_the_trial_again(backend: RDBStorage) -> None:
    """Not only an `Exception`: a `KeyboardInterrupt` during the write also marks the trial stale."""
    cache = SoleWriterCache(backend, full_read_every_s=3600)
    study_id, tid = _fresh_trial(cache)
    cache.set_trial_user_attr(tid, "k", 1)  # held, and in the cached copy

    def interrupted(name: str, call: Callable[[], None]) -> None:
        raise KeyboardInterrupt

    backend.guarded_write = interrupted  # type: ignore[attr-defined]
    with pytest.raises(KeyboardInterrupt):
        cache.flush()
    del backend.guarded_write
    assert cache.get_trial(tid).user_attrs == {}  # as stored: the held write was dropped


def test_get_trial_after_the_interval_reads_the_held_writes_back(backend: RDBStorage, clock: list[float]) -> None:
    cache = SoleWriterCache(backend, full_read_every_s=1.0)
    study_id, tid = _fresh_trial(cache)
    cache.set_trial_user_attr(tid, "k", 1)  # held
    clock[0] += 2.0  # the next full read is due: read from the database
    assert cache.get_trial(tid).user_attrs == {"k": 1}


def test_a_full_read_is_due_exactly_at_the_interval(backend: RDBStorage, clock: list[float]) -> None:
    cache = SoleWriterCache(backend, full_read_every_s=1.0)
    study_id, tid = _fresh_trial(cache)  # the first read is a full one, at 1000 s
    _fail_elsewhere(backend, tid)
    clock[0] += 0.5
    assert cache.get_trial(tid).state == TrialState.RUNNING  # within the interval: the cached copy
    assert cache.get_all_trials(study_id)[0].state == TrialState.RUNNING
    clock[0] += 0.5  # exactly the interval since the full read
    assert cache.get_trial(tid).state == TrialState.FAIL
    assert cache.get_all_trials(study_id)[0].state == TrialState.FAIL


def test_it_counts_the_trials_it_reads(backend: RDBStorage) -> None:
    cache = SoleWriterCache(backend, full_read_every_s=3600)
    study_id = cache.create_new_study(MIN, "s")
    for _ in range(3):
        cache.create_new_trial(study_id)
    cache.get_all_trials(study_id)
    assert cache.trials_read == 3
    cache.get_all_trials(study_id)  # nothing new, nothing changed
    assert cache.trials_read == 3


# ---------------------------------------------------------------- delete_study
def test_deleting_a_study_drops_its_held_writes_only(backend: RDBStorage) -> None:
    """Held writes of the deleted study's trials are not written (a trial finished elsewhere
    does not make the delete fail); those of another study are."""
    cache = SoleWriterCache(backend, full_read_every_s=3600)
    gone, gone_tid = _fresh_trial(cache, "gone")
    kept, kept_tid = _fresh_trial(cache, "kept")
    cache.set_trial_user_attr(gone_tid, "k", 1)
    cache.set_trial_user_attr(kept_tid, "k", 2)
    _fail_elsewhere(backend, gone_tid)
    cache.delete_study(gone)
    assert [s.study_name for s in backend.get_all_studies()] == ["kept"]
    assert backend.get_trial(kept_tid).user_attrs == {"k": 2}


def test_a_study_that_reuses_a_deleted_ones_id_sees_all_its_trials(backend: RDBStorage) -> None:
    """SQLite reuses the ids of a deleted study and of its trials: the new study starts from
    scratch (no trial ids remembered as read), so trials created later elsewhere are read."""
    cache = SoleWriterCache(backend, full_read_every_s=3600)
    old = cache.create_new_study(MIN, "old")
    old_trials = [cache.create_new_trial(old) for _ in range(3)]
    cache.get_all_trials(old)
    cache.delete_study(old)
    new = cache.create_new_study(MIN, "new")
    assert new == old  # the premise: SQLite gave the id again
    tids = [cache.create_new_trial(new)]
    cache.get_all_trials(new)
    tids += [backend.create_new_trial(new) for _ in range(2)]  # elsewhere (e.g. enqueued from a notebook)
    assert tids == old_trials  # and the trial ids
    assert [t._trial_id for t in cache.get_all_trials(new)] == tids


def test_deleting_a_study_forgets_its_trials_as_read(backend: RDBStorage) -> None:
    """A deleted study's trials leave no "cached copy is current" mark behind: SQLite gives their
    ids to the next study's trials, whose copies this process has not read."""
    cache = SoleWriterCache(backend, full_read_every_s=3600)
    old = cache.create_new_study(MIN, "old")
    old_trials = [cache.create_new_trial(old) for _ in range(3)]
    other = cache.create_new_study(MIN, "other")
    kept = cache.create_new_trial(other)
    cache.get_all_trials(old)
    cache.get_all_trials(other)
    assert set(old_trials) | {kept} <= cache._fresh  # the premise: all read, all current
    cache.delete_study(old)
    assert cache._fresh == {kept}


def test_a_study_that_reuses_a_deleted_ones_id_starts_with_a_full_read(backend: RDBStorage,
                                                                       clock: list[float]) -> None:
    cache = SoleWriterCache(backend, full_read_every_s=10.0)
    old = cache.create_new_study(MIN, "old")
    cache.get_all_trials(old)  # a full read at 1000 s
    cache.delete_study(old)
    clock[0] += 5.0
    new, tid = _fresh_trial(cache, "new")  # must be a full read (at 1005 s)
    assert new == old
    _fail_elsewhere(backend, tid)
    clock[0] += 7.0  # 12 s after the old study's full read, 7 s after the new one's
    assert cache.get_all_trials(new)[0].state == TrialState.RUNNING
    clock[0] += 3.0
    assert cache.get_all_trials(new)[0].state == TrialState.FAIL



def test_a_flush_writes_each_table_in_one_statement(backend: RDBStorage) -> None:
    """One upsert per table (SQLite and PostgreSQL), not Optuna's select-then-write per row."""
    import sqlalchemy as sa

    cache = SoleWriterCache(backend)
    study_id, first = _fresh_trial(cache)
    for name in "abc":
        cache.set_trial_param(first, name, 0.5, FloatDistribution(0, 1))  # written through: known names
    tid = cache.create_new_trial(study_id)
    cache.get_all_trials(study_id)
    for name in "abc":
        cache.set_trial_param(tid, name, 0.25, FloatDistribution(0, 1))
        cache.set_trial_user_attr(tid, name, 1)
        cache.set_trial_system_attr(tid, name, 2)
    statements: list[str] = []
    sa.event.listen(backend.engine, "before_cursor_execute", lambda *a: statements.append(a[2].lstrip()[:6].upper()))
    cache.flush()
    assert statements.count("INSERT") == 3 and "UPDATE" not in statements, statements
    stored = backend.get_trial(tid)
    assert (stored.params, stored.user_attrs, stored.system_attrs) == (
        dict.fromkeys("abc", 0.25), dict.fromkeys("abc", 1), dict.fromkeys("abc", 2))


def test_an_attr_key_that_is_no_str_is_written_at_once(backend: RDBStorage) -> None:
    """Even on a trial whose writes may be held: it is stored, and read back, as its text."""
    cache = SoleWriterCache(backend, full_read_every_s=3600)
    study_id, tid = _fresh_trial(cache)
    cache.set_trial_user_attr(tid, 5, "v")  # type: ignore[arg-type]
    assert backend.get_trial(tid).user_attrs == {"5": "v"}
    assert cache.get_all_trials(study_id)[0].user_attrs == {"5": "v"}


def test_a_full_read_writes_the_held_writes_before_it_reads(backend: RDBStorage, clock: list[float]) -> None:
    """The read itself flushes (not only the `get_all_trials` around it): a full read that runs
    while writes are held, as one in another thread may, keeps them in the cached copy."""
    cache = SoleWriterCache(backend, full_read_every_s=1.0)
    study_id, tid = _fresh_trial(cache)
    cache.set_trial_user_attr(tid, "k", 1)  # held
    clock[0] += 2.0
    cache._read_trials_from_remote_storage(study_id)  # a full read, re-reading the trial
    assert backend.get_trial(tid).user_attrs == {"k": 1}
    assert cache.get_all_trials(study_id)[0].user_attrs == {"k": 1}
