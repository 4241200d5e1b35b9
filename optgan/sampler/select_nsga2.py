"""NSGA-II elitist selection: whole non-dominated fronts, the last one cut by crowding distance.

Paper: K. Deb, A. Pratap, S. Agarwal, T. Meyarivan, "A fast and elitist multiobjective genetic
algorithm: NSGA-II", IEEE TEVC 6(2), 2002. optgan's default (SPEC §4). Deterministic: ties in
crowding distance go to the lower row index (the earlier trial).
"""

from __future__ import annotations

import numpy as np

from optgan.sampler.pareto import crowding_distance, non_dominated_fronts
from optgan.sampler.selection import SelectionStrategy

__all__ = ["NSGA2Selection"]


class NSGA2Selection(SelectionStrategy):
    name = "nsga2"

    def select(self, losses: np.ndarray, n: int, rng: np.random.Generator) -> list[int]:
        chosen: list[int] = []
        for front in non_dominated_fronts(losses):
            room = n - len(chosen)
            if len(front) <= room:
                chosen.extend(front)
                continue
            cd = crowding_distance(losses[front])
            order = sorted(range(len(front)), key=lambda i: (-cd[i], front[i]))
            chosen.extend(front[i] for i in order[:room])
            break
        return chosen
