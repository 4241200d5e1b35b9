"""The trial cache `optgan run` uses under its lease (`optgan.study.sole_writer_cache`).

It must give a search exactly the trials Optuna's own cache gives, read O(1) trials per ask
instead of every RUNNING trial of the round, see its own writes at once, and see writes of
other processes after at most `full_read_every_s`.
"""

from __future__ import annotations

import time
import uuid

import optuna
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from optuna.trial import TrialState

from optgan.config.sampler import SamplerConfig
from optgan.config.study import study_config_from_dict
from optgan.sampler import OptganSampler
from optgan.sampler.synthetic import synthetic_values
from optgan.search_space import CIFAR10_WIDTHS, Genotype
from optgan.study.lease import hold_lease
from optgan.study.retry import guard_storage
from optgan.study.search import load_search
from optgan.study.create import create_search
from optgan.study.sole_writer_cache import SoleWriterCache
from optgan.study.storage import open_storage

from _storage import storage_url_of

optuna.logging.set_verbosity(optuna.logging.WARNING)

OBJECTIVES = ("IS", "FID", "params_M")
DIRECTIONS = ["maximize", "minimize", "minimize"]


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path) -> str:
    return storage_url_of(request.param, tmp_path)


def _study(storage: object, population: int = 16, name: str | None = None) -> optuna.Study:
    sampler = OptganSampler(config=SamplerConfig(population_size=population), seed=3)
    return optuna.create_study(study_name=name or f"swc-{uuid.uuid4().hex[:12]}", storage=storage,  # type: ignore[arg-type]
                               directions=DIRECTIONS, sampler=sampler)


def _round(study: optuna.Study, population: int) -> None:
    """One round as the runner does it: ask every trial, then tell them (every 7th FAIL)."""
    dists = study.sampler.distributions  # type: ignore[attr-defined]
    trials = [study.ask(dists) for _ in range(population)]
    for t in trials:
        t.set_user_attr("note", f"told {t.number}")
        if t.number % 7 == 3:
            study.tell(t, state=TrialState.FAIL)
        else:
            study.tell(t, synthetic_values(Genotype.from_params("gen", t.params), OBJECTIVES, CIFAR10_WIDTHS))


def _record(study: optuna.Study) -> list[tuple]:
    return [(t.number, t.state, t.params, t.values, t.user_attrs,
             {k: v for k, v in t.system_attrs.items()}) for t in study.get_trials()]


def test_a_search_gets_the_same_trials_as_with_optunas_cache(url) -> None:
    backend = open_storage(url)
    ours = _study(SoleWriterCache(backend, full_read_every_s=1e9))
    theirs = _study(backend)  # optuna wraps it in its own _CachedStorage
    assert type(theirs._storage).__name__ == "_CachedStorage"
    for _ in range(4):
        _round(ours, 16)
        _round(theirs, 16)
    fresh = optuna.load_study(study_name=ours.study_name, storage=open_storage(url))
    assert _record(ours) == _record(theirs) == _record(fresh)
    assert len({t.user_attrs["optgan:generation"] for t in ours.trials}) == 4


def test_an_ask_reads_a_bounded_number_of_trials(url) -> None:
    cache = SoleWriterCache(open_storage(url), full_read_every_s=1e9)
    study = _study(cache, population=48)
    _round(study, 48)  # a finished generation in storage, then a round of RUNNING trials
    dists = study.sampler.distributions  # type: ignore[attr-defined]
    reads = []
    for _ in range(48):
        before = cache.trials_read
        study.ask(dists)
        reads.append(cache.trials_read - before)
    # the first ask re-reads the 48 trials told since the last read, once; after that Optuna's
    # cache would re-read every RUNNING trial (the k-th ask ≈ 2k trials), this one ≤ 2 per read
    assert reads[0] <= 48 + 4 and max(reads[1:]) <= 4, reads
    assert len(study.get_trials(states=(TrialState.RUNNING,))) == 48


def test_its_own_writes_are_seen_at_once(url) -> None:
    study = _study(SoleWriterCache(open_storage(url), full_read_every_s=1e9), population=4)
    trial = study.ask(study.sampler.distributions)  # type: ignore[attr-defined]
    assert study.get_trials()[0].state == TrialState.RUNNING
    trial.set_user_attr("k", 1)
    assert study.get_trials()[0].user_attrs["k"] == 1
    study.tell(trial, [1.0, 2.0, 3.0])
    (done,) = study.get_trials()
    assert done.state == TrialState.COMPLETE and done.values == [1.0, 2.0, 3.0]


def test_writes_of_other_processes_are_seen_after_the_full_read_interval(url, monkeypatch) -> None:
    # the cache's own clock, stopped: on a loaded machine the writes below can take longer than
    # the interval by the wall clock, and the "stale within the interval" check would see them
    import types

    from optgan.study import sole_writer_cache

    now = [1000.0]
    monkeypatch.setattr(sole_writer_cache, "time", types.SimpleNamespace(monotonic=lambda: now[0]))
    cache = SoleWriterCache(open_storage(url), full_read_every_s=0.5)
    study = _study(cache, population=4)
    other = optuna.load_study(study_name=study.study_name, storage=open_storage(url))
    trial = study.ask(study.sampler.distributions)  # type: ignore[attr-defined]
    study.get_trials()  # cached as RUNNING, fresh
    other.tell(trial.number, state=TrialState.FAIL)  # e.g. a dashboard user fails it
    other.enqueue_trial({"x": 1.0}, skip_if_exists=False)  # a new trial: seen at once
    seen = study.get_trials()
    assert [t.state for t in seen] == [TrialState.RUNNING, TrialState.WAITING]  # stale within the interval
    now[0] += 0.6
    assert [t.state for t in study.get_trials()] == [TrialState.FAIL, TrialState.WAITING]


def test_optgan_run_uses_it_only_under_the_lease(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'optgan.db'}"
    config = study_config_from_dict({"evaluation": {"kind": "synthetic"}, "objectives": list(OBJECTIVES),
                                     "sampler": {"population_size": 4}, "gen_stage": {"rounds": 1},
                                     "disc_stage": {"rounds": 1}})
    create_search("s", config, url, run_dir=str(tmp_path / "runs"))
    search = load_search("s", url)
    assert type(search.study("gen")._storage).__name__ == "_CachedStorage"  # inspection: Optuna's cache
    with hold_lease(search.storage.engine, "s") as lease:
        search.storage = guard_storage(search.storage, url, lease=lease)
        assert isinstance(search.study("gen")._storage, SoleWriterCache)


_OPS = ("new", "new", "template", "param", "user_attr", "system_attr", "intermediate", "state", "read", "read",
        "read_waiting", "get")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(st.tuples(st.sampled_from(_OPS), st.integers(0, 10**6)), min_size=1, max_size=60))
def test_random_single_writer_call_sequences_read_like_optunas_cache(tmp_path_factory, ops) -> None:
    """Any sequence of trial writes and reads by one process: every read through the sole-writer
    cache equals the read through Optuna's cache (same calls on a twin database)."""
    import datetime

    from optuna.distributions import FloatDistribution
    from optuna.storages import RDBStorage
    from optuna.storages._cached_storage import _CachedStorage
    from optuna.study import StudyDirection
    from optuna.trial import FrozenTrial

    folder = tmp_path_factory.mktemp("twin")
    ours = SoleWriterCache(RDBStorage(f"sqlite:///{folder / 'a.db'}"), full_read_every_s=1e9)
    theirs = _CachedStorage(RDBStorage(f"sqlite:///{folder / 'b.db'}"))
    study_ids = [s.create_new_study([StudyDirection.MINIMIZE], "s") for s in (ours, theirs)]

    def both(name: str, *args: object) -> list:
        out = []
        for storage, study_id in zip((ours, theirs), study_ids):
            call = [study_id if a is _STUDY else a for a in args]
            try:
                out.append(getattr(storage, name)(*call))
            except (ValueError, RuntimeError, KeyError) as e:  # e.g. a finished trial refuses writes
                out.append(type(e).__name__)
        return out

    def record(trials: list) -> list:
        return [(t.number, t._trial_id, t.state, t.params, t.values, t.user_attrs, t.system_attrs,
                 t.intermediate_values) for t in trials]

    ids: list[int] = []
    for op, k in ops:
        if op in ("new", "template") or not ids and op not in ("read", "read_waiting"):
            template = None
            if op == "template":
                state = (TrialState.WAITING, TrialState.COMPLETE, TrialState.FAIL, TrialState.RUNNING)[k % 4]
                now = datetime.datetime.now()
                template = FrozenTrial(number=0, state=state, value=1.5 if state == TrialState.COMPLETE else None,
                                       values=None, datetime_start=None if state == TrialState.WAITING else now,
                                       datetime_complete=now if state.is_finished() else None,
                                       params={"x": 0.5}, distributions={"x": FloatDistribution(0, 1)},
                                       user_attrs={"u": 1}, system_attrs={"s": 2}, intermediate_values={}, trial_id=0)
            a, b = both("create_new_trial", _STUDY, template)
            assert a == b
            ids.append(a)
        elif op in ("read", "read_waiting"):
            states = (TrialState.WAITING,) if op == "read_waiting" else None
            a, b = (s.get_all_trials(i, states=states) for s, i in zip((ours, theirs), study_ids))
            assert record(a) == record(b)
        else:
            tid = ids[k % len(ids)]
            if op == "param":
                a, b = both("set_trial_param", tid, "pq"[k % 2], (k % 97) / 97, FloatDistribution(0, 1))
            elif op == "user_attr":
                a, b = both("set_trial_user_attr", tid, "k", k % 10)
            elif op == "system_attr":
                a, b = both("set_trial_system_attr", tid, "k", k % 10)
            elif op == "intermediate":
                a, b = both("set_trial_intermediate_value", tid, k % 4, (k % 89) / 89)
            elif op == "state":
                state = (TrialState.RUNNING, TrialState.COMPLETE, TrialState.FAIL, TrialState.WAITING)[k % 4]
                a, b = both("set_trial_state_values", tid, state, [1.0] if state == TrialState.COMPLETE else None)
            else:
                a, b = both("get_trial", tid)
                a, b = record([a]), record([b])
            assert a == b  # a write refused by one cache is refused by the other
    final = [s.get_all_trials(i) for s, i in zip((ours, theirs), study_ids)]
    assert record(final[0]) == record(final[1])


_STUDY = object()  # stands for each storage's own study id in `both`


# ---------------------------------------------------------------- batched writes
def _commits(engine) -> list[int]:  # noqa: ANN001
    import sqlalchemy as sa

    counter = [0]
    sa.event.listen(engine, "commit", lambda *_: counter.__setitem__(0, counter[0] + 1))
    return counter


def test_an_ask_writes_its_params_and_attrs_in_one_transaction(url: str, monkeypatch) -> None:
    commits = {}
    for batched in (False, True):
        monkeypatch.setattr(SoleWriterCache, "batch_writes", batched)
        backend = open_storage(url)
        cache = SoleWriterCache(backend)
        study = _study(cache, population=8)
        _round(study, 8)  # every param written once: later asks may hold them
        counter = _commits(backend.engine)
        dists = study.sampler.distributions  # type: ignore[attr-defined]
        trial = study.ask(dists)
        if batched:  # held: another reader sees nothing of them yet, this process sees them all
            assert backend.get_trial(trial._trial_id).params == {}
            assert cache.get_trial(trial._trial_id).params == trial.params != {}
            counter[0] -= 1  # that read's transaction
        cache.flush()
        commits[batched] = counter[0]
        stored = backend.get_trial(trial._trial_id)
        assert stored.params == trial.params and stored.user_attrs == cache.get_trial(trial._trial_id).user_attrs
        assert stored.user_attrs  # the sampler's lineage attrs
        backend.engine.dispose()
    # 21 params and the sampler's attrs: one transaction instead of one each
    assert commits[True] <= commits[False] - 20, commits


def test_a_second_value_for_a_param_is_ignored_as_optuna_does(url: str) -> None:
    from optuna.distributions import FloatDistribution
    from optuna.storages._cached_storage import _CachedStorage

    got = []
    for make in (SoleWriterCache, _CachedStorage):
        storage = make(open_storage(url))
        study_id = storage.create_new_study([optuna.study.StudyDirection.MINIMIZE], f"p-{uuid.uuid4().hex[:10]}")
        first = storage.create_new_trial(study_id)
        storage.get_all_trials(study_id)
        storage.set_trial_param(first, "p", 0.1, FloatDistribution(0, 1))
        second = storage.create_new_trial(study_id)
        storage.get_all_trials(study_id)
        storage.set_trial_param(second, "p", 0.2, FloatDistribution(0, 1))  # held (SoleWriterCache)
        storage.set_trial_param(second, "p", 0.3, FloatDistribution(0, 1))  # the unique key refuses it
        with pytest.raises(ValueError):  # incompatible distributions are refused at the call
            storage.set_trial_param(second, "p", 5.0, optuna.distributions.IntDistribution(0, 10))
        with pytest.raises(TypeError):  # and values that are no JSON
            storage.set_trial_user_attr(second, "k", object())
        got.append([t.params for t in storage.get_all_trials(study_id)])
    assert got[0] == got[1] == [{"p": 0.1}, {"p": 0.2}]


def test_held_writes_check_the_lease_when_they_are_written(tmp_path) -> None:
    from optgan.study.lease import Lease, LeaseLostError

    url = f"sqlite:///{tmp_path / 'l.db'}"
    backend = open_storage(url)
    with hold_lease(backend.engine, "s") as lease:
        cache = SoleWriterCache(guard_storage(backend, url, lease=lease))
        study = _study(cache, population=4)
        _round(study, 4)
        trial = study.ask(study.sampler.distributions)  # type: ignore[attr-defined]
        Lease(backend.engine, "s").acquire(force=True)  # another run takes the search over
        lease.beat()
        with pytest.raises(LeaseLostError):
            cache.flush()
        assert backend.get_trial(trial._trial_id).params == {}  # nothing written after the loss


def test_a_running_trial_finished_elsewhere_is_seen_by_get_trial_after_the_interval(url: str) -> None:
    backend = open_storage(url)
    cache = SoleWriterCache(backend, full_read_every_s=0.3)
    study = _study(cache, population=4)
    trial = study.ask(study.sampler.distributions)  # type: ignore[attr-defined]
    study.get_trials()  # cached, fresh
    open_storage(url).set_trial_state_values(trial._trial_id, TrialState.FAIL)  # a dashboard user
    time.sleep(0.35)
    assert cache.get_trial(trial._trial_id).state == TrialState.FAIL
    study.tell(trial, [1.0, 1.0, 1.0], skip_if_finished=True)  # skipped, as with Optuna's cache
    backend.engine.dispose()


def test_attrs_the_database_would_refuse_are_refused_at_the_call_as_with_optunas_cache(url: str) -> None:
    from optuna.storages._cached_storage import _CachedStorage

    outcomes = []
    for make in (SoleWriterCache, _CachedStorage):
        storage = make(open_storage(url))
        study_id = storage.create_new_study([optuna.study.StudyDirection.MINIMIZE], f"k-{uuid.uuid4().hex[:10]}")
        tid = storage.create_new_trial(study_id)
        storage.get_all_trials(study_id)  # fresh: writes may be held
        try:
            storage.set_trial_user_attr(tid, "k" * 600, 1)  # longer than the key column (PostgreSQL enforces it)
            outcomes.append("accepted")
        except Exception as e:  # noqa: BLE001 - whatever Optuna raises, the same
            outcomes.append(type(e).__name__)
        storage.set_trial_user_attr(tid, 5, "v")  # a key that is no str: stored as its text
        outcomes.append(storage.get_all_trials(study_id)[0].user_attrs.get("5"))
    assert outcomes[:2] == outcomes[2:]


def test_a_list_read_before_a_held_write_is_left_as_it_was(tmp_path) -> None:
    cache = SoleWriterCache(open_storage(f"sqlite:///{tmp_path / 'l.db'}"))
    study_id = cache.create_new_study([optuna.study.StudyDirection.MINIMIZE], "s")
    tid = cache.create_new_trial(study_id)
    before = cache.get_all_trials(study_id, deepcopy=False)
    cache.set_trial_user_attr(tid, "k", 1)  # held
    assert before[0].user_attrs == {} and cache.get_all_trials(study_id)[0].user_attrs == {"k": 1}


def test_which_attrs_are_held_and_which_are_written_at_once(tmp_path) -> None:
    """Held until the next storage call of another kind: plain attrs with keys the database
    takes. Written at once: an artifact's record (a trial finished elsewhere must refuse it
    before its file is stored) and keys longer than the key column."""
    from optuna.artifacts._upload import ARTIFACTS_ATTR_PREFIX
    from optuna.storages._rdb import models

    backend = open_storage(f"sqlite:///{tmp_path / 'h.db'}")
    cache = SoleWriterCache(backend)
    study_id = cache.create_new_study([optuna.study.StudyDirection.MINIMIZE], "s")
    tid = cache.create_new_trial(study_id)
    cache.get_all_trials(study_id)  # cached and fresh: writes may be held
    longest = "k" * models.MAX_INDEXED_STRING_LENGTH
    cache.set_trial_system_attr(tid, ARTIFACTS_ATTR_PREFIX + "a1", {"artifact_id": "a1"})
    assert backend.get_trial(tid).system_attrs == {ARTIFACTS_ATTR_PREFIX + "a1": {"artifact_id": "a1"}}
    cache.get_all_trials(study_id)  # a write-through marks the trial stale: read it again
    cache.set_trial_user_attr(tid, longest + "k", 3)
    assert backend.get_trial(tid).user_attrs == {longest + "k": 3}
    cache.get_all_trials(study_id)
    cache.set_trial_system_attr(tid, "plain", 1)
    cache.set_trial_user_attr(tid, longest, 2)
    stored = backend.get_trial(tid)
    assert "plain" not in stored.system_attrs and longest not in stored.user_attrs  # held
    cache.flush()
    stored = backend.get_trial(tid)
    assert stored.system_attrs["plain"] == 1 and stored.user_attrs == {longest: 2, longest + "k": 3}
    backend.engine.dispose()


def test_a_write_to_a_trial_this_process_just_told_is_refused_at_the_call(tmp_path) -> None:
    """After a tell the cached copy is stale (still RUNNING in the cache): a later attr write is
    not held but written through, so it fails at the call, as with Optuna's cache, and not at a
    later, unrelated storage call that flushes it."""
    from optuna.exceptions import UpdateFinishedTrialError

    backend = open_storage(f"sqlite:///{tmp_path / 't.db'}")
    cache = SoleWriterCache(backend)
    study_id = cache.create_new_study([optuna.study.StudyDirection.MINIMIZE], "s")
    tid = cache.create_new_trial(study_id)
    cache.get_all_trials(study_id)  # cached and fresh
    cache.set_trial_state_values(tid, TrialState.COMPLETE, [1.0])
    with pytest.raises(UpdateFinishedTrialError):
        cache.set_trial_user_attr(tid, "k", 1)
    cache.flush()
    assert cache.get_all_trials(study_id)[0].user_attrs == {}
    backend.engine.dispose()




def test_held_writes_to_a_trial_finished_elsewhere_are_refused_when_written(tmp_path) -> None:
    """A dashboard user fails a RUNNING trial while this process holds writes for it: the flush
    is refused as Optuna refuses a write to a finished trial, nothing of it is stored, and the
    trial is read again (its cached copy no longer counts as current)."""
    from optuna.exceptions import UpdateFinishedTrialError

    url = f"sqlite:///{tmp_path / 'f.db'}"
    backend = open_storage(url)
    cache = SoleWriterCache(backend, full_read_every_s=3600)
    study_id = cache.create_new_study([optuna.study.StudyDirection.MINIMIZE], "s")
    tid = cache.create_new_trial(study_id)
    cache.get_all_trials(study_id)
    cache.set_trial_user_attr(tid, "k", 1)  # held
    elsewhere = open_storage(url)
    elsewhere.set_trial_state_values(tid, TrialState.FAIL)
    with pytest.raises(UpdateFinishedTrialError):
        cache.flush()
    assert elsewhere.get_trial(tid).user_attrs == {}
    seen = cache.get_trial(tid)
    assert seen.state == TrialState.FAIL and seen.user_attrs == {}
    elsewhere.engine.dispose()
    backend.engine.dispose()


def test_a_held_write_of_a_key_already_stored_replaces_its_value(tmp_path) -> None:
    backend = open_storage(f"sqlite:///{tmp_path / 'u.db'}")
    cache = SoleWriterCache(backend)
    study_id = cache.create_new_study([optuna.study.StudyDirection.MINIMIZE], "s")
    tid = cache.create_new_trial(study_id)
    for value in (1, 2):
        cache.get_all_trials(study_id)  # fresh: the write is held, then flushed by the next read
        cache.set_trial_user_attr(tid, "k", value)
        cache.set_trial_system_attr(tid, "s", value)
        cache.flush()
        stored = backend.get_trial(tid)
        assert (stored.user_attrs["k"], stored.system_attrs["s"]) == (value, value)
    backend.engine.dispose()


def test_a_list_read_before_a_held_param_is_left_as_it_was(tmp_path) -> None:
    from optuna.distributions import FloatDistribution

    cache = SoleWriterCache(open_storage(f"sqlite:///{tmp_path / 'p.db'}"))
    study_id = cache.create_new_study([optuna.study.StudyDirection.MINIMIZE], "s")
    first = cache.create_new_trial(study_id)
    cache.get_all_trials(study_id)
    cache.set_trial_param(first, "p", 0.1, FloatDistribution(0, 1))  # the first of its name: written through
    second = cache.create_new_trial(study_id)
    before = cache.get_all_trials(study_id, deepcopy=False)
    cache.set_trial_param(second, "p", 0.2, FloatDistribution(0, 1))  # held
    assert before[1].params == {} and before[1].distributions == {}
    assert cache.get_all_trials(study_id)[1].params == {"p": 0.2}


def test_a_trial_served_from_the_cache_is_a_copy_as_read_back(tmp_path) -> None:
    """`get_trial` of a running trial whose held writes are cached gives what a read from the
    database would: values as JSON reads them back (a tuple is a list), in a copy the caller
    may change (an `optuna.Trial` changes its own) without changing the cache."""
    backend = open_storage(f"sqlite:///{tmp_path / 'c.db'}")
    cache = SoleWriterCache(backend, full_read_every_s=3600)
    study_id = cache.create_new_study([optuna.study.StudyDirection.MINIMIZE], "s")
    tid = cache.create_new_trial(study_id)
    cache.get_all_trials(study_id)
    cache.set_trial_user_attr(tid, "pair", (1, 2))  # held
    served = cache.get_trial(tid)
    assert served.user_attrs == {"pair": [1, 2]}
    served.user_attrs["pair"].append(3)
    served.user_attrs["other"] = 1
    assert cache.get_trial(tid).user_attrs == {"pair": [1, 2]}
    cache.flush()
    assert backend.get_trial(tid).user_attrs == {"pair": [1, 2]}
    backend.engine.dispose()
