"""Benchmark of the evolutionary sampler; prints one JSON object.

- `round_s`: seconds per round (ask ×P with all 21 params suggested, then tell ×P as the runner
  does it, synthetic values) on in-memory and SQLite storage (SQLite opened as optgan opens it:
  WAL mode), under caps admitting ~9 % of random generators, with 1 trial in 9 told FAIL; on
  SQLite both with Optuna's trial cache (the naive way: every ask re-reads every RUNNING trial)
  and with the cache `optgan run` uses under its lease (`SoleWriterCache`), side by side;
- `scaling`: the same two SQLite variants at a larger population (`--scaling-population`,
  default 128), where Optuna's cache costs O(P²) per round;
- `proposals_per_s`: constrained child generation (survivors → feasible, new children) and
  constrained initial draws, at the ~9 % caps and at SCGAN's CIFAR-10 caps (~0.7 %).

Usage: python bench/sampler.py [--generations 5] [--population 32] [--scaling-population 128] [--full]
(`--full` = the issue's acceptance run: 50 generations of 32 on both storages.)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time

import numpy as np
import optuna

from optgan.config.sampler import SamplerConfig
from optgan.sampler import OptganSampler
from optgan.sampler.child_generation import ChildGenerationStrategy
from optgan.sampler.constrained import ConstrainedDraw
from optgan.sampler.initial import InitialPopulationStrategy
from optgan.sampler.synthetic import synthetic_values
from optgan.search_space.constraints import SCGAN_CIFAR10_CAPS, Caps
from optgan.search_space.genotype import Genotype
from optgan.search_space.widths import CIFAR10_WIDTHS
from optgan.study.sole_writer_cache import SoleWriterCache
from optgan.study.storage import open_storage

TEN_PERCENT_CAPS = Caps(params_M=(None, 12.5), cell_params_M=(0.5, None), flops_M=(None, 3000.0))
OBJECTIVES = ("IS", "FID", "params_M")


def time_rounds(storage: object, generations: int, population: int) -> list[float]:
    """Wall time of each round: ask ×P (params suggested), evaluate, tell ×P."""
    sampler = OptganSampler(config=SamplerConfig(population_size=population), caps=TEN_PERCENT_CAPS)
    study = optuna.create_study(storage=storage, sampler=sampler,  # type: ignore[arg-type]
                                directions=["maximize", "minimize", "minimize"])
    times = []
    for _ in range(generations):
        start = time.perf_counter()
        trials = [study.ask(sampler.distributions) for _ in range(population)]
        for t in trials:
            if t.number % 9 == 4:
                study.tell(t, state=optuna.trial.TrialState.FAIL)
                continue
            g = Genotype.from_params("gen", t.params)
            study.tell(t, synthetic_values(g, OBJECTIVES, CIFAR10_WIDTHS))
        times.append(time.perf_counter() - start)
    return times


def sqlite_rounds(tmp: str, tag: str, generations: int, population: int) -> dict[str, dict[str, float]]:
    """Rounds on SQLite with Optuna's trial cache and with optgan's sole-writer cache."""
    naive = open_storage(f"sqlite:///{tmp}/{tag}-optuna-cache.db")
    sole = SoleWriterCache(open_storage(f"sqlite:///{tmp}/{tag}-sole-writer.db"))
    return {"sqlite_wal": summarise(time_rounds(naive, generations, population)),
            "sqlite_wal_sole_writer": summarise(time_rounds(sole, generations, population))}


def speedup(rounds: dict[str, dict[str, float]]) -> float:
    return round(rounds["sqlite_wal"]["median_round_s"] / rounds["sqlite_wal_sole_writer"]["median_round_s"], 2)


def summarise(times: list[float]) -> dict[str, float]:
    return {"rounds": len(times), "first_round_s": round(times[0], 4),
            "median_round_s": round(statistics.median(times), 4),
            "mean_round_s": round(statistics.fmean(times), 4),
            "last_round_s": round(times[-1], 4)}


def feasible_parents(caps: Caps, n: int, seed: int = 0) -> list[tuple[int, Genotype]]:
    initial = InitialPopulationStrategy("gen", ConstrainedDraw(CIFAR10_WIDTHS, caps, 100_000))
    rng, taken = np.random.default_rng(seed), set[Genotype]()
    for _ in range(n):
        taken.add(initial(taken, rng, "bench").genotype)
    return list(enumerate(sorted(taken, key=str)))


def child_rate(caps: Caps, survivors: int = 16, children: int = 2000) -> float:
    """Feasible new children per second (taken set reset every `survivors` children)."""
    parents = feasible_parents(caps, survivors)
    strategy = ChildGenerationStrategy(ConstrainedDraw(CIFAR10_WIDTHS, caps, 100_000))
    rng, made = np.random.default_rng(1), 0
    start = time.perf_counter()
    while made < children:
        taken = {g for _, g in parents}
        for _ in range(survivors):
            taken.add(strategy(parents, taken, rng, "bench").genotype)
            made += 1
    return children / (time.perf_counter() - start)


def initial_rate(caps: Caps, n: int) -> float:
    """Feasible distinct initial draws per second."""
    initial = InitialPopulationStrategy("gen", ConstrainedDraw(CIFAR10_WIDTHS, caps, 1_000_000))
    rng, taken = np.random.default_rng(2), set[Genotype]()
    start = time.perf_counter()
    for _ in range(n):
        taken.add(initial(taken, rng, "bench").genotype)
    return n / (time.perf_counter() - start)


def arg_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generations", type=int, default=5, help="rounds per storage")
    parser.add_argument("--population", type=int, default=32)
    parser.add_argument("--scaling-population", type=int, default=128,
                        help="a larger population for the two SQLite caches (0 = skip)")
    parser.add_argument("--full", action="store_true", help="50 generations on both storages")
    return parser


def main() -> None:
    args = arg_parser().parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    generations = 50 if args.full else args.generations
    result: dict[str, object] = {
        "machine": {"cpus": os.cpu_count(), "loadavg_1min": round(os.getloadavg()[0], 2)},
        "population": args.population, "caps": TEN_PERCENT_CAPS.describe(),
    }
    with tempfile.TemporaryDirectory() as tmp:
        rounds = {"inmemory": summarise(time_rounds(None, generations, args.population)),
                  **sqlite_rounds(tmp, "p", generations, args.population)}
        result["round_s"] = rounds
        result["sole_writer_speedup"] = speedup(rounds)
        if args.scaling_population:
            big = sqlite_rounds(tmp, "big", 2, args.scaling_population)
            result["scaling"] = {"population": args.scaling_population, "round_s": big,
                                 "sole_writer_speedup": speedup(big)}
    result["proposals_per_s"] = {
        "children_10pct_caps": round(child_rate(TEN_PERCENT_CAPS), 1),
        "children_scgan_caps": round(child_rate(SCGAN_CIFAR10_CAPS, children=500), 1),
        "initial_10pct_caps": round(initial_rate(TEN_PERCENT_CAPS, 500), 1),
        "initial_scgan_caps": round(initial_rate(SCGAN_CIFAR10_CAPS, 100), 1),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
