"""From a stage study to its pictures: the data each picture needs, read once, then drawn.

Shared by the run (:mod:`optgan.study.round_artifacts`, after every round) and by
`optgan report` (:mod:`optgan.study.report`), so both show exactly the same pictures.
File names are fixed: `pareto-round-NNN.png`, `learning-curves-round-NNN.png` (rounds 1-based,
as the run's log counts them) and `arch-trial-NNNN.png`.
"""

from __future__ import annotations

import math
import pathlib
from dataclasses import dataclass, field

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState

from optgan.search_space import Genotype, Widths, count_flops, count_params
from optgan.study.arch_picture import plot_genotype
from optgan.study.pictures import nondominated_mask, normalized_hypervolumes, plot_learning_curves, plot_pareto
from optgan.study.results import rounds_of

__all__ = ["StageData", "stage_data", "draw_pareto", "draw_learning_curves", "draw_architecture",
           "pareto_name", "curves_name", "arch_name"]


def pareto_name(generation: int) -> str:
    return f"pareto-round-{generation + 1:03d}.png"


def curves_name(generation: int) -> str:
    return f"learning-curves-round-{generation + 1:03d}.png"


def arch_name(trial_number: int) -> str:
    return f"arch-trial-{trial_number:04d}.png"


@dataclass(frozen=True)
class StageData:
    """One stage study's results: objective names and directions, COMPLETE trials per round."""

    study_name: str
    names: list[str]
    directions: list[str]
    rounds: dict[int, list[FrozenTrial]]
    #: FAILed trials per round (rounds without any are absent)
    failed: dict[int, int] = field(default_factory=dict)
    #: every trial per round, any state, in slot order
    all_rounds: dict[int, list[FrozenTrial]] = field(default_factory=dict)

    def front_numbers(self, generation: int) -> set[int]:
        """Trial numbers on the Pareto front of one round."""
        trials = self.rounds.get(generation, [])
        mask = nondominated_mask(self.values(generation), self.directions) if trials else np.zeros(0, dtype=bool)
        return {t.number for t, m in zip(trials, mask) if m}

    def values(self, generation: int) -> np.ndarray:
        trials = self.rounds.get(generation, [])
        return np.array([t.values for t in trials], dtype=float).reshape(len(trials), len(self.names))

    def best(self, generation: int) -> dict[str, float]:
        """The best value of each objective in one round (its direction's max or min)."""
        v = self.values(generation)
        return {n: float(v[:, j].max() if d == "maximize" else v[:, j].min())
                for j, (n, d) in enumerate(zip(self.names, self.directions))}

    def hypervolumes(self, upto: int | None = None) -> dict[int, float]:
        """Normalised hypervolume of every round up to `upto` (see `optgan.study.pictures`)."""
        gens = [g for g in self.rounds if upto is None or g <= upto]
        return dict(zip(gens, normalized_hypervolumes([self.values(g) for g in gens], self.directions)))


def stage_data(study: optuna.Study) -> StageData:
    """Read `study` once: display names (the study's metric names), directions, rounds."""
    directions = ["maximize" if d == optuna.study.StudyDirection.MAXIMIZE else "minimize"
                  for d in study.directions]
    names = list(study.metric_names or [f"objective {i}" for i in range(len(directions))])
    groups = rounds_of(study)
    rounds = {g: [t for t in ts if t.state == TrialState.COMPLETE] for g, ts in groups.items()}
    failed = {g: sum(t.state == TrialState.FAIL for t in ts) for g, ts in groups.items()}
    return StageData(study.study_name, names, directions, {g: ts for g, ts in rounds.items() if ts},
                     {g: n for g, n in failed.items() if n}, groups)


def draw_pareto(data: StageData, generation: int, folder: pathlib.Path,
                chosen: int | None = None) -> pathlib.Path | None:
    """The Pareto picture of one round (None when it has no COMPLETE trial); `chosen` = trial number."""
    trials = data.rounds.get(generation)
    if not trials:
        return None
    numbers = [t.number for t in trials]
    idx = numbers.index(chosen) if chosen in numbers else None
    title = (f"{data.study_name}, round {generation + 1}: Pareto front "
             f"(red, trial numbers){'; star = chosen' if idx is not None else ''}")
    return plot_pareto(data.values(generation), data.names, data.directions, folder / pareto_name(generation),
                       labels=numbers, chosen=idx, title=title)


def draw_learning_curves(data: StageData, generation: int, folder: pathlib.Path) -> pathlib.Path | None:
    """Best / mean per objective and hypervolume over rounds 1..generation+1 (None: no data)."""
    gens = [g for g in data.rounds if g <= generation]
    if not gens:
        return None
    best: dict[str, list[float]] = {n: [] for n in data.names}
    mean: dict[str, list[float]] = {n: [] for n in data.names}
    for g in gens:
        v, round_best = data.values(g), data.best(g)
        for j, name in enumerate(data.names):
            best[name].append(round_best[name])
            mean[name].append(float(v[:, j].mean()))
    hv = data.hypervolumes(upto=generation)
    return plot_learning_curves(gens, best, mean, data.directions, folder / curves_name(generation),
                                hypervolume=[hv[g] for g in gens], title=f"{data.study_name}: learning curves")


def draw_architecture(genotype: Genotype, widths: Widths, path: pathlib.Path, *, label: str = "") -> pathlib.Path:
    """The genotype picture with its size (params per cell, total, MACs) in the titles."""
    size = count_params(genotype, widths)
    flops = count_flops(genotype, widths) / 1e6
    net = "generator" if genotype.net == "gen" else "discriminator"
    title = f"{net}{' ' + label if label else ''}: {size.total / 1e6:.3f}M params, {flops:.1f}M MACs"
    notes = tuple(f"{p / 1e6:.3f}M params" for p in size.per_cell)
    return plot_genotype(genotype, path, title=title, cell_notes=notes)


def format_value(v: float | None) -> str:
    """A score for tables and notes: 4 significant digits, `—` for missing or non-finite."""
    return "—" if v is None or not math.isfinite(v) else f"{v:.4g}"
