"""Benchmark of the trial copy of `optgan study move`; prints one JSON object.

A search's stage study of `--trials` trials shaped like optgan's (21 categorical params, the
user and system attrs a told trial carries, three objective values) is made in an SQLite file,
then copied into an empty study of each destination two ways, side by side in one run:

- `trial_by_trial` (the naive way, Optuna's own: what `optuna.copy_study` does): one
  `create_new_trial(template_trial=…)` per trial, one transaction each;
- `bulk` (what `optgan study move` does, `optgan.study.move.copy_trials`): the rows of every
  trial table in one transaction of bulk inserts.

It reports seconds, trials per second, SQL executions (reads of the source included; a bulk
insert is one) and the ratio, and checks that both copies hold the same trials. Destinations:
another SQLite file; PostgreSQL (`--postgres URL`, else `$OPTGAN_TEST_POSTGRES_URL`; skipped
without one) over loopback and through a local proxy that adds `--rtt-ms` of round-trip latency
(a server on another machine).

Usage: python bench/move.py [--trials 500] [--rtt-ms 2] [--postgres URL]
"""

from __future__ import annotations

import argparse
import collections
import json
import logging
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable

import optuna
import sqlalchemy

from optgan.search_space.ops import NUM_CELLS, edges_of
from optgan.study.move import copy_trials
from optgan.study.storage import open_storage

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _latency_proxy import add_postgres_args, machine, on_postgres  # noqa: E402

_counts: collections.Counter[str] = collections.Counter()


@sqlalchemy.event.listens_for(sqlalchemy.engine.Engine, "before_cursor_execute")
def _count_statement(*_: object) -> None:
    _counts["statements"] += 1


def make_source(url: str, trials: int) -> tuple[optuna.storages.RDBStorage, int]:
    """A study of `trials` told trials with a search's params and attrs; (storage, study id)."""
    storage = open_storage(url)
    study = optuna.create_study(storage=storage, study_name="source", directions=["maximize", "minimize", "minimize"],
                                sampler=optuna.samplers.RandomSampler(seed=0))
    for k in range(trials):
        trial = study.ask()
        ops = [trial.suggest_categorical(f"c{c}_e{e.index}", list(e.choices))
               for c in range(NUM_CELLS) for e in edges_of("gen")]
        for key, value in {"optgan:params_M": 5.0 + k % 7, "optgan:flops_M": 900.0 + k, "optgan:genotype": str(ops),
                           "optgan:genotype_array": [[k % 5] * 7] * 3, "optgan:extractor": "inception",
                           "optgan:generation": k // 32, "optgan:parents": [k - 1, k - 2],
                           "optgan:variation": "crossover+mutation", "IS": 7.1, "FID": 30.2 + k % 11,
                           "optgan:picture": f"arch-{k:04d}"}.items():
            trial.set_user_attr(key, value)
        study._storage.set_trial_system_attr(trial._trial_id, "nsga2:generation", k // 32)
        study.tell(trial, [7.0 + k % 3, 30.0 - k % 13, 5.0 + k % 7])
    return storage, study._study_id


def trial_by_trial(src: optuna.storages.RDBStorage, from_id: int, dest: optuna.storages.RDBStorage,
                   to_id: int) -> dict[int, int]:
    """The naive way: Optuna's `create_new_trial` with each trial as its template."""
    return {t._trial_id: dest.create_new_trial(to_id, template_trial=t)
            for t in sorted(src.get_all_trials(from_id, deepcopy=False), key=lambda t: t.number)}


def measure(copy: Callable[..., dict[int, int]], src: optuna.storages.RDBStorage, from_id: int,
            dest_url: str, trials: int) -> tuple[dict[str, float], list[tuple]]:
    dest = open_storage(dest_url)
    to_id = dest.create_new_study([optuna.study.StudyDirection.MAXIMIZE] + [optuna.study.StudyDirection.MINIMIZE] * 2,
                                  f"bench-move-{uuid.uuid4().hex[:8]}")
    _counts.clear()
    start = time.perf_counter()
    copy(src, from_id, dest, to_id)
    seconds = time.perf_counter() - start
    statements = _counts["statements"]
    copied = [(t.number, t.state, t.values, t.params, t.user_attrs, t.system_attrs)
              for t in dest.get_all_trials(to_id, deepcopy=False)]
    dest.delete_study(to_id)
    dest.engine.dispose()
    return {"seconds": round(seconds, 4), "raw_seconds": seconds, "trials_per_s": round(trials / seconds, 1),
            "sql_executions": statements, "sql_executions_per_trial": round(statements / trials, 2)}, copied


def side_by_side(src: optuna.storages.RDBStorage, from_id: int, dest_url: str, trials: int) -> dict[str, object]:
    naive, naive_trials = measure(trial_by_trial, src, from_id, dest_url, trials)
    bulk, bulk_trials = measure(copy_trials, src, from_id, dest_url, trials)
    if bulk_trials != naive_trials:
        raise SystemExit("the bulk copy differs from Optuna's trial-by-trial copy")
    speedup = naive.pop("raw_seconds") / bulk.pop("raw_seconds")
    return {"trial_by_trial": naive, "bulk": bulk, "speedup": round(speedup, 1)}


def arg_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=500, help="trials of the study copied")
    add_postgres_args(parser)
    return parser


def main_() -> None:
    parser = arg_parser()
    args = parser.parse_args()
    if args.trials < 1:
        parser.error("--trials must be at least 1")
    logging.disable(logging.WARNING)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    result: dict[str, object] = {"machine": machine(),
                                 "trials": args.trials}
    with tempfile.TemporaryDirectory() as tmp:
        src, from_id = make_source(f"sqlite:///{tmp}/source.db", args.trials)
        result["sqlite"] = side_by_side(src, from_id, f"sqlite:///{tmp}/dest.db", args.trials)
        on_postgres(result, args, lambda url: side_by_side(src, from_id, url, args.trials))
        src.engine.dispose()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main_()
