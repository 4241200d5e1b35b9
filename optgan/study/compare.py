"""Searches side by side (`optgan compare`): one stage of several searches on one scale.

The usual question after a few searches (seeds, selection strategies, caps): which one found the
better front, and how much do seeds vary? Each round of each search is scored by the normalised
hypervolume of its COMPLETE trials, as in a search's own learning curves, but normalised once over
the points of *all* the searches compared (objectives in minimisation form, each scaled to [0, 1]
by its minimum and maximum over every round of every search, reference point
:data:`~optgan.study.pictures.HV_REFERENCE`), so one search's curve compares with another's. Also
per search: the last round's Pareto front, its best value of each objective, and how many of its
last-round points are on the front of all the last rounds pooled.
"""

from __future__ import annotations

import collections
import itertools
import logging
import math
import pathlib
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from optgan.config.base import flatten, to_dict
from optgan.errors import OptganError
from optgan.study.pictures import (
    HV_REFERENCE,
    axis_label,
    nondominated_mask,
    normalized_hypervolumes,
    panels_figure,
    save_figure,
)
from optgan.study.results import fixed_gen_star
from optgan.study.search import Search
from optgan.study.storage_url import redact
from optgan.study.stage_pictures import StageData, stage_data

__all__ = ["Comparison", "SearchCurve", "compare_searches", "compare_stages", "plot_comparison", "search_labels",
           "SCORING_KEYS"]

log = logging.getLogger(__name__)

#: config keys (and key prefixes, ending in `.`) whose difference makes two searches' values
#: incomparable: warned about, not refused
SCORING_KEYS = ("evaluation.kind", "data.name", "data.path", "data.split", "data.max_images", "metrics.extractor",
                "metrics.mode", "metrics.num_images", "metrics.reference_images", "metrics.classifier.", "widths.")


@dataclass(frozen=True)
class SearchCurve:
    """One search's stage in a comparison."""

    name: str
    #: 1-based rounds that have COMPLETE trials, and the normalised hypervolume of each
    rounds: list[int]
    hypervolume: list[float]
    #: the last round's COMPLETE values (n × m), which of them are on its front, and on the pooled front
    last_values: np.ndarray
    last_front: np.ndarray
    on_pooled_front: int
    #: best value of each objective in the last round
    best: dict[str, float]


@dataclass(frozen=True)
class Comparison:
    stage: str
    names: list[str]
    directions: list[str]
    searches: list[SearchCurve]

    def final_hypervolumes(self) -> list[float]:
        return [s.hypervolume[-1] for s in self.searches]

    def to_json(self) -> dict[str, Any]:
        finals = self.final_hypervolumes()
        return {
            "stage": self.stage,
            "objectives": [{"name": n, "direction": d} for n, d in zip(self.names, self.directions)],
            "hypervolume_reference": HV_REFERENCE,
            "searches": [{"name": s.name, "rounds": s.rounds, "hypervolume": s.hypervolume,
                          "last_round_front_size": int(s.last_front.sum()),
                          "last_round_points": len(s.last_values),
                          "on_pooled_front": s.on_pooled_front, "best": s.best} for s in self.searches],
            "final_hypervolume": {"mean": statistics.fmean(finals),
                                  "std": statistics.stdev(finals) if len(finals) > 1 else 0.0},
        }


def compare_searches(searches: Sequence[Search], stage: str) -> Comparison:
    """Read `stage` of every search once and compare them (:func:`compare_stages`); searches that
    differ in what their scores depend on (:data:`SCORING_KEYS`; in stage `disc` also G*) are
    compared with a warning. The searches may live in different storages; each is named by its
    name, or, where two of them share one, `NAME@URL` (password hidden)."""
    studies = [s.study(stage) for s in searches]
    names = search_labels(searches)
    comparison = compare_stages([(n, stage_data(study)) for n, study in zip(names, studies)], stage)
    _warn_scoring_differences(searches, names)
    if stage == "disc":
        stars = [fixed_gen_star(study) for study in studies]
        if len({None if g is None else g.genotype for g in stars}) > 1:
            log.warning("the searches' stage disc scores its discriminators through different generators (G*: %s): "
                        "their scores measure other pairs", "; ".join(
                            f"{n}: {'none yet' if g is None else g.genotype}" for n, g in zip(names, stars)))
    return comparison


def search_labels(searches: Sequence[Search]) -> list[str]:
    """How each search is named in a comparison: its name, or `NAME@URL` (password hidden) where
    searches of several storages share that name."""
    counts = collections.Counter(s.name for s in searches)
    return [s.name if counts[s.name] == 1 else f"{s.name}@{redact(s.storage_url)}" for s in searches]


def compare_stages(named: Sequence[tuple[str, StageData]], stage: str) -> Comparison:
    """Put the stage results of named searches on one scale (see the module doc).

    Refused (OptganError): results of other objectives (names or directions), and a search
    without any COMPLETE trial.
    """
    (first_name, first), datas = named[0], [data for _, data in named]
    for name, data in named:
        if (data.names, data.directions) != (first.names, first.directions):
            raise OptganError(f"{first_name!r} and {name!r} score other objectives in stage {stage} "
                              f"({_objectives(first)} against {_objectives(data)}): their values do not compare")
        if not data.rounds:
            raise OptganError(f"stage {stage} of {name!r} has no completed trial yet: run it first "
                              f"(optgan run {name} --stage {stage})")
    keyed = [(i, g) for i, data in enumerate(datas) for g in data.rounds]
    hv = normalized_hypervolumes([datas[i].values(g) for i, g in keyed], first.directions)
    last = [data.values(max(data.rounds)) for data in datas]
    pooled = nondominated_mask(np.concatenate(last), first.directions)
    bounds = np.cumsum([0, *map(len, last)])
    curves = []
    for i, (name, data) in enumerate(named):
        values = last[i]
        curves.append(SearchCurve(
            name=name, rounds=[g + 1 for g in data.rounds],
            hypervolume=[h for (k, _), h in zip(keyed, hv) if k == i],
            last_values=values, last_front=nondominated_mask(values, data.directions),
            on_pooled_front=int(pooled[bounds[i]:bounds[i + 1]].sum()), best=data.best(max(data.rounds))))
    return Comparison(stage, first.names, first.directions, curves)


def plot_comparison(comparison: Comparison, path: str | pathlib.Path) -> pathlib.Path:
    """One PNG: the hypervolume of every round of every search, then each pair of objectives with
    every search's last-round points (one colour per search; outlined: on its front, faint: dominated)."""
    pairs = list(itertools.combinations(range(len(comparison.names)), 2))
    cols = min(4, 1 + len(pairs))
    rows = math.ceil((1 + len(pairs)) / cols)
    fig = panels_figure(4.2 * cols, 3.6 * rows, rows)
    colours = [f"C{k % 10}" for k in range(len(comparison.searches))]
    ax = fig.add_subplot(rows, cols, 1)
    for s, c in zip(comparison.searches, colours):
        ax.plot(s.rounds, s.hypervolume, marker="o", ms=3, color=c, label=s.name)
    ax.set_xlabel("round")
    ax.set_ylabel("hypervolume (joint scale) ↑")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    for k, (i, j) in enumerate(pairs):
        ax = fig.add_subplot(rows, cols, k + 2)
        for s, c in zip(comparison.searches, colours):
            v, front = s.last_values, s.last_front
            ax.scatter(v[~front, i], v[~front, j], s=12, color=c, alpha=0.25)
            ax.scatter(v[front, i], v[front, j], s=26, color=c, edgecolors="k", linewidths=0.4, label=s.name)
        ax.set_xlabel(axis_label(comparison.names[i], comparison.directions[i]))
        ax.set_ylabel(axis_label(comparison.names[j], comparison.directions[j]))
        ax.grid(alpha=0.3)
    fig.suptitle(f"stage {comparison.stage}: hypervolume per round; last round's points (outlined: on the search's "
                 "Pareto front, faint: dominated)",
                 fontsize="medium")
    return save_figure(fig, path)


def _objectives(data: StageData) -> str:
    return ", ".join(map(axis_label, data.names, data.directions))


def _warn_scoring_differences(searches: Sequence[Search], names: Sequence[str]) -> None:
    flat = [flatten(to_dict(s.config)) for s in searches]
    keys = [k for k in flat[0] if any(k == s or (s.endswith(".") and k.startswith(s)) for s in SCORING_KEYS)]
    for key in keys:
        if len({repr(f.get(key)) for f in flat}) > 1:
            log.warning("the searches differ in %s (%s): their scores may not compare", key,
                        ", ".join(f"{n}: {f.get(key)}" for n, f in zip(names, flat)))
