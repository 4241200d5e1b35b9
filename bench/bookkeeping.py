"""Benchmark of a round's storage bookkeeping in `optgan run`; prints one JSON object.

A synthetic search (no training, no pictures) runs through the real runner (`optgan run
--stage gen`), P trials a round. For each storage it reports, per round after the first, the
seconds of the `ask` and `tell` phases (from `optgan:round_seconds:*`) and the SQL statements
and commits per trial. Two ways side by side in one run:

- `batched` (what `optgan run` does): the sole-writer cache holds a trial's params and attrs
  and writes them in one transaction when the trial is next read or another trial is created;
- `write_through` (the naive way, Optuna's): one transaction per param and per attr.

Storages: an SQLite file; PostgreSQL (`--postgres URL`, else `$OPTGAN_TEST_POSTGRES_URL`;
skipped without one) over loopback and through a local proxy that adds `--rtt-ms` of
round-trip latency to every exchange (a database server on another machine).

Usage: python bench/bookkeeping.py [--population 32] [--rounds 3] [--rtt-ms 2] [--postgres URL]
"""

from __future__ import annotations

import argparse
import collections
import json
import logging
import os
import statistics
import sys
import tempfile
import uuid

import optuna
import sqlalchemy
from click.testing import CliRunner

from optgan.study.search import stage_study_name
from optgan.study.sole_writer_cache import SoleWriterCache
from optgan_cli.main import main

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _latency_proxy import add_postgres_args, machine, on_postgres  # noqa: E402

DRY_RUN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "studies", "dry-run.yaml")
_counts: collections.Counter[str] = collections.Counter()


@sqlalchemy.event.listens_for(sqlalchemy.engine.Engine, "before_cursor_execute")
def _count_statement(*_: object) -> None:
    _counts["statements"] += 1


@sqlalchemy.event.listens_for(sqlalchemy.engine.Engine, "commit")
def _count_commit(*_: object) -> None:
    _counts["commits"] += 1


def _cli(*args: str) -> None:
    r = CliRunner().invoke(main, list(args))
    if r.exit_code != 0:
        raise SystemExit(f"optgan {' '.join(args[:2])} failed: {r.stderr or r.stdout}")


def measure(url: str, population: int, rounds: int, batched: bool) -> dict[str, float]:
    """One synthetic stage-gen search on `url`; its rounds after the first, summarised."""
    name = f"bench-{uuid.uuid4().hex[:8]}"
    settings = [f"sampler.population_size={population}", f"sampler.num_survivors={population // 2}",
                f"gen_stage.rounds={rounds}", "disc_stage.rounds=1", "pictures.rounds=false",
                "pictures.architecture=false", "pictures.sample_grid=false"]
    with tempfile.TemporaryDirectory() as run_dir:
        _cli("study", "create", name, "--config", DRY_RUN, "--run-dir", run_dir, "--storage", url,
             *[a for s in settings for a in ("--set", s)])
        SoleWriterCache.batch_writes = batched
        _counts.clear()
        try:
            _cli("run", name, "--stage", "gen", "--storage", url)
        finally:
            SoleWriterCache.batch_writes = True
        counts = dict(_counts)
        study = optuna.load_study(study_name=stage_study_name(name, "gen"), storage=url)
        seconds = [study.user_attrs[f"optgan:round_seconds:{g}"] for g in range(1, rounds)]
        _cli("study", "delete", name, "--yes", "--storage", url)
    trials = population * rounds
    return {"ask_s_per_round": round(statistics.median(s["ask"] for s in seconds), 4),
            "tell_s_per_round": round(statistics.median(s["tell"] for s in seconds), 4),
            "statements_per_trial": round(counts.get("statements", 0) / trials, 1),
            "commits_per_trial": round(counts.get("commits", 0) / trials, 1)}


def side_by_side(url: str, population: int, rounds: int) -> dict[str, object]:
    out: dict[str, object] = {"write_through": measure(url, population, rounds, batched=False),
                              "batched": measure(url, population, rounds, batched=True)}
    naive, fast = out["write_through"], out["batched"]
    out["speedup_ask_plus_tell"] = round((naive["ask_s_per_round"] + naive["tell_s_per_round"])  # type: ignore[index]
                                         / (fast["ask_s_per_round"] + fast["tell_s_per_round"]), 2)  # type: ignore[index]
    return out


def arg_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--population", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3, help="stage-gen rounds (the first is not counted)")
    add_postgres_args(parser)
    return parser


def main_() -> None:
    parser = arg_parser()
    args = parser.parse_args()
    if args.rounds < 2:
        parser.error("--rounds must be at least 2 (the first round is not counted)")
    logging.disable(logging.WARNING)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    result: dict[str, object] = {"machine": machine(),
                                 "population": args.population, "rounds_counted": args.rounds - 1}
    with tempfile.TemporaryDirectory() as tmp:
        result["sqlite"] = side_by_side(f"sqlite:///{tmp}/bench.db", args.population, args.rounds)
    on_postgres(result, args, lambda url: side_by_side(url, args.population, args.rounds))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main_()
