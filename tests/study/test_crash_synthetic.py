"""Crash-proof search, synthetic evaluation: `optgan run` killed with SIGKILL at every named
fault point and at ≥ 20 random moments, resumed each time, ends with exactly the trials of an
uninterrupted run — on SQLite and PostgreSQL (`storage_url`).

Two searches are driven side by side (two kill chains in parallel: 2 cores), each killed
13 times; every resume also exercises the lease takeover of a dead holder on this host.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from _crash_support import (DRY, KILLED, NO_PICTURES, assert_generations_full, assert_same_trials, create,
                            lease_rows, run_with_fault, snapshot)
from click.testing import CliRunner

import optgan.runner  # noqa: F401 - imported before the reference run is timed
from optgan_cli.main import main

POP = 4
CONFIG = [f"sampler.population_size={POP}", "gen_stage.rounds=5", "disc_stage.rounds=2", *NO_PICTURES]
#: each named point on purpose (hit counts are per process)
NAMED = ["run:1", "warmup:1", "train:2", "evaluate:2", "between_tells:3", "checkpoint_write:1"]
RANDOM_PER_CHAIN = 10
_CREATE_LOCK = threading.Lock()
SEED = int(os.environ.get("OPTGAN_CRASH_SEED", "20261122"))


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> tuple[dict, float]:
    """The uninterrupted run (SQLite, in this process) and how long its rounds took."""
    tmp = tmp_path_factory.mktemp("reference")
    url = f"sqlite:///{tmp / 'ref.db'}"
    create("ref", url, DRY, CONFIG, tmp / "run")
    t0 = time.perf_counter()
    r = CliRunner().invoke(main, ["run", "ref", "--storage", url], catch_exceptions=False)
    assert r.exit_code == 0, r.stderr
    return snapshot(url, "ref"), time.perf_counter() - t0


class _Chain:
    """Kills one search after another: the named rules, then random delays until
    `RANDOM_PER_CHAIN` random kills have landed (a search that finishes first is checked and
    replaced by a fresh one, so machine speed never makes kills miss)."""

    def __init__(self, prefix: str, url: str, tmp_path, named: list[str], rng: random.Random,  # noqa: ANN001
                 d_max: float) -> None:
        self.prefix, self.url, self.tmp_path, self.rng, self.d_max = prefix, url, tmp_path, rng, d_max
        self.named, self.searches, self.outcomes = named, [], []
        self._new_search()

    def _new_search(self) -> str:
        name = f"{self.prefix}s{len(self.searches)}"
        with _CREATE_LOCK:  # CliRunner swaps sys.stdout: one at a time
            create(name, self.url, DRY, CONFIG, self.tmp_path / name)
        self.searches.append(name)
        return name

    def _run(self, name: str, fault: str | None, dead_holder: bool):  # noqa: ANN202
        o = run_with_fault(name, self.url, fault)
        if dead_holder:  # the killed run's lease (same host, PID gone) was taken over at once
            assert "took over the run lease of PID" in o.stderr, o.stderr[-1500:]
        for state in (self.tmp_path / name).glob("*/synthetic.json"):
            json.loads(state.read_text())  # never torn
        return o, o.returncode == KILLED and bool(lease_rows(self.url, name))

    def __call__(self) -> "_Chain":
        name, dead = self.searches[-1], False
        for fault in self.named:
            o, dead = self._run(name, fault, dead)
            assert o.returncode == KILLED, (fault, o.stderr[-1500:])
            self.outcomes.append(o)
        while sum(o.fault.startswith("run:1+") for o in self.outcomes if o.returncode == KILLED) < RANDOM_PER_CHAIN:
            o, dead = self._run(name, f"run:1+{self.rng.uniform(0.02, self.d_max):.3f}", dead)
            self.outcomes.append(o)
            if o.returncode != KILLED:  # finished before the timer
                assert o.returncode == 0, (o.fault, o.stderr[-3000:])
                name, dead = self._new_search(), False
        o, _ = self._run(name, None, dead)
        assert o.returncode == 0, o.stderr[-3000:]  # the last run finishes the search
        return self


@pytest.mark.slow
def test_killed_anywhere_resumes_to_the_same_trials(storage_url: str, unique_name: str, tmp_path, reference) -> None:
    want, work_s = reference
    # random delays from the run's start: ten of them advance about half the search
    d_max = work_s / RANDOM_PER_CHAIN
    chains = [_Chain(f"{unique_name}c{k}", storage_url, tmp_path, NAMED[k::2], random.Random(SEED + k), d_max)
              for k in range(2)]
    with ThreadPoolExecutor(2) as pool:
        chains = list(pool.map(lambda c: c(), chains))

    for chain in chains:
        for name in chain.searches:
            got = snapshot(storage_url, name)
            assert_same_trials(got, want)
            assert_generations_full(got, POP)
            assert lease_rows(storage_url, name) == []
            assert not list((tmp_path / name).glob("*/.tmp-*"))  # partial writes cleaned up
    outcomes = [o for c in chains for o in c.outcomes]
    kills = [o for o in outcomes if o.returncode == KILLED]
    print(f"synthetic crash suite: {len(kills)} kills ({len(kills) - len(NAMED)} random, seed {SEED}) in "
          f"{sum(len(c.searches) for c in chains)} searches, reference rounds {work_s:.2f} s, d_max {d_max:.3f} s, "
          f"{sum(o.seconds for o in outcomes) / len(outcomes):.2f} s a run")
    assert len(kills) - len(NAMED) >= 2 * RANDOM_PER_CHAIN


def test_asks_cut_short_are_completed_under_the_same_numbers(storage_url: str, unique_name: str, tmp_path,
                                                             reference) -> None:
    """What a kill inside `study.ask` leaves — an untagged RUNNING trial, a tagged trial with only
    some params — is repaired by the next round's `population_trials`, deterministically."""
    from optgan.runner import population_trials
    from optgan.search_space import param_distributions
    from optgan.study.search import load_search

    create(unique_name, storage_url, DRY, CONFIG, tmp_path / "run")
    study = load_search(unique_name, storage_url).study("gen")
    dists = param_distributions("gen")
    study.ask(dists)  # slot 0 complete
    partial = study.ask()  # slot 1: tagged by the sampler, then "killed" after 5 of 21 params
    for name in list(dists)[:5]:
        partial.suggest_categorical(name, dists[name].choices)
    study._storage.create_new_trial(study._study_id)  # "killed" before the sampler tagged it
    trials = population_trials(study, 0, POP, "gen")
    assert [t.number for t in trials] == list(range(POP)) == [t.number for t in study.get_trials()]
    want = [t for t in reference[0]["gen"] if t["optgan:generation"] == 0]
    assert [t.params for t in trials] == [t["params"] for t in want]


@pytest.mark.slow
def test_sigterm_anywhere_resumes_to_the_same_trials(unique_name: str, tmp_path, reference) -> None:
    """SIGTERM (a scheduler's preemption) at random moments: it raises inside whatever runs, unlike
    SIGKILL, so `finally` blocks and exception paths run mid-write. Each stop is one line with exit
    143 (or a plain kill while Python is still starting), the lease is released, and the resumed
    search ends with exactly the trials of an uninterrupted run."""
    import signal
    import subprocess
    import sys

    from _crash_support import subprocess_env

    want, work_s = reference
    url = f"sqlite:///{tmp_path / 'optgan.db'}"
    create(unique_name, url, DRY, CONFIG, tmp_path / "run")
    rng, stopped, codes = random.Random(SEED + 7), 0, []
    for _ in range(8):
        p = subprocess.Popen([sys.executable, "-m", "optgan_cli", "run", unique_name, "--storage", url],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=subprocess_env())
        time.sleep(rng.uniform(1.0, 2.0 + work_s / 2))  # imports take about a second
        p.send_signal(signal.SIGTERM)
        _, err = p.communicate(timeout=120)
        assert p.returncode in (0, 143, -signal.SIGTERM), err[-2000:]
        assert "Traceback" not in err, err[-3000:]
        codes.append(p.returncode)
        if p.returncode == 143:
            stopped += 1
            assert err.strip().splitlines()[-1].startswith("error: stopped by SIGTERM"), err[-2000:]
        assert lease_rows(url, unique_name) == []
    r = CliRunner().invoke(main, ["run", unique_name, "--storage", url], catch_exceptions=False)
    assert r.exit_code == 0, r.stderr
    assert_same_trials(snapshot(url, unique_name), want)
    print(f"SIGTERM suite: exit codes {codes} (seed {SEED + 7})")
    assert stopped >= 1
