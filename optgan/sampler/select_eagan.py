"""EAGAN's selection: CARS-style pooled two-objective non-dominated sorts (SPEC §4).

Paper/code: G. Ying et al., "EAGAN", ECCV 2022, whose code calls `CARS_NSGA` from
Z. Yang et al., "CARS: Continuous Evolution for Efficient Neural Architecture Search",
CVPR 2020 (pNSGA-III). With objectives (IS ↑, FID ↓, size ↓) the code sorts four pairs —
(1/IS, FID), (1/IS, 1/FID), (1/IS, size), (1/IS, 1/size) — and pools the k-th fronts of all
sorts stage by stage; the stage that overflows is cut at random; no crowding distance.

optgan's generalisation to any m ≥ 2 objectives: the *first* objective of the study is the
primary one, paired with every other objective j in both orientations (2·(m−1) sorts). On the
loss matrix (maximised columns negated) "1/x" becomes "−x": the same order for the positive
values the code sees, and well-defined for zero or negative values. Two deliberate fixes: a
stage only counts candidates not already selected (the code counts repeats and cuts early), and
the random cut draws from the injected generator.
"""

from __future__ import annotations

import numpy as np

from optgan.sampler.pareto import non_dominated_fronts
from optgan.sampler.selection import SelectionStrategy

__all__ = ["EAGANSelection", "pooled_fronts"]


def pooled_fronts(losses: np.ndarray) -> list[list[int]]:
    """For each stage k, the sorted union of the k-th fronts of the 2·(m−1) pair sorts."""
    primary = losses[:, :1]
    sorts = []
    for j in range(1, losses.shape[1]):
        for sign in (1.0, -1.0):
            sorts.append(non_dominated_fronts(np.hstack([primary, sign * losses[:, j : j + 1]])))
    depth = max(len(s) for s in sorts)
    return [sorted({i for s in sorts if k < len(s) for i in s[k]}) for k in range(depth)]


class EAGANSelection(SelectionStrategy):
    name = "eagan"

    def select(self, losses: np.ndarray, n: int, rng: np.random.Generator) -> list[int]:
        chosen: list[int] = []
        for pool in pooled_fronts(losses):
            taken = set(chosen)
            new = [i for i in pool if i not in taken]
            room = n - len(chosen)
            if len(new) <= room:
                chosen.extend(new)
            else:
                picked = rng.choice(len(new), size=room, replace=False)
                chosen.extend(new[i] for i in sorted(picked))
            if len(chosen) == n:
                break
        return chosen
