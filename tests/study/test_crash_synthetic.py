"""Crash-proof search, synthetic evaluation: `optgan run` killed with SIGKILL at every named
fault point and at ≥ 20 random moments, resumed each time, ends with exactly the trials of an
uninterrupted run — on SQLite and PostgreSQL (`storage_url`).

Two searches are driven side by side (two kill chains in parallel: 2 cores), each killed
≈ 13 times; every resume also exercises the lease takeover of a dead holder on this host.
"""

from __future__ import annotations

import json
import os
import random
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from _crash_support import (DRY, KILLED, NO_PICTURES, assert_generations_full, assert_same_trials, create,
                            lease_rows, run_with_fault, snapshot)
from click.testing import CliRunner

from optgan_cli.main import main

POP = 4
CONFIG = [f"sampler.population_size={POP}", "gen_stage.rounds=10", "disc_stage.rounds=4", *NO_PICTURES]
#: each named point on purpose (hit counts are per process)
NAMED = ["run:1", "warmup:1", "train:2", "evaluate:3", "between_tells:1", "between_tells:6",
         "checkpoint_write:2", "warmup:2"]
RANDOM_PER_CHAIN = 10
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


def _chain(name: str, url: str, faults: list[str], run_dir) -> list:  # noqa: ANN001
    outcomes = []
    for fault in faults:
        outcomes.append(run_with_fault(name, url, fault))
        for state in run_dir.glob("*/synthetic.json"):
            json.loads(state.read_text())  # never torn
    return outcomes


def test_killed_anywhere_resumes_to_the_same_trials(storage_url: str, unique_name: str, tmp_path, reference) -> None:
    want, work_s = reference
    rng = random.Random(SEED)
    # delays from the run's start: a chain of kills advances ≈ 0.6 of the search on average
    d_max = 1.2 * work_s / (RANDOM_PER_CHAIN + len(NAMED) // 2)
    chains = []
    for k in range(2):
        named = NAMED[k::2]
        randoms = [f"run:1+{rng.uniform(0.02, d_max):.3f}" for _ in range(RANDOM_PER_CHAIN)]
        faults = [f for pair in zip(named, randoms) for f in pair] + randoms[len(named):]
        name = f"{unique_name}{k}"
        create(name, storage_url, DRY, CONFIG, tmp_path / name)
        chains.append((name, faults))
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda c: _chain(c[0], storage_url, c[1], tmp_path / c[0]), chains))

    for (name, faults), outcomes in zip(chains, results):
        by_fault = {o.fault: o for o in outcomes}
        assert all(by_fault[f].returncode == KILLED for f in NAMED if f in faults), \
            [(o.fault, o.returncode) for o in outcomes]
        final = run_with_fault(name, storage_url, None)
        assert final.returncode == 0
        got = snapshot(storage_url, name)
        assert_same_trials(got, want)
        assert_generations_full(got, POP)
        assert lease_rows(storage_url, name) == []
        assert not list((tmp_path / name).glob("*/.tmp-*"))  # partial writes cleaned up
    kills = [o for outcomes in results for o in outcomes if o.returncode == KILLED]
    random_kills = [o for o in kills if o.fault.startswith("run:1+")]
    print(f"synthetic crash suite: {len(kills)} kills ({len(random_kills)} random, seed {SEED}), "
          f"reference rounds {work_s:.2f} s, d_max {d_max:.3f} s")
    assert len(random_kills) >= 20, [(o.fault, o.returncode) for outcomes in results for o in outcomes]
