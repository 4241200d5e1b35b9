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
from optuna.trial import TrialState

from optgan.config.sampler import SamplerConfig
from optgan.config.study import study_config_from_dict
from optgan.sampler import OptganSampler
from optgan.sampler.synthetic import synthetic_values
from optgan.search_space import CIFAR10_WIDTHS, Genotype
from optgan.study.lease import hold_lease
from optgan.study.retry import guard_storage
from optgan.study.search import create_search, load_search
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


def test_writes_of_other_processes_are_seen_after_the_full_read_interval(url) -> None:
    cache = SoleWriterCache(open_storage(url), full_read_every_s=0.5)
    study = _study(cache, population=4)
    other = optuna.load_study(study_name=study.study_name, storage=open_storage(url))
    trial = study.ask(study.sampler.distributions)  # type: ignore[attr-defined]
    study.get_trials()  # cached as RUNNING, fresh
    other.tell(trial.number, state=TrialState.FAIL)  # e.g. a dashboard user fails it
    other.enqueue_trial({"x": 1.0}, skip_if_exists=False)  # a new trial: seen at once
    seen = study.get_trials()
    assert [t.state for t in seen] == [TrialState.RUNNING, TrialState.WAITING]  # stale within the interval
    time.sleep(0.6)
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
