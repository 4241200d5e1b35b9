"""Non-dominated sorting and crowding distance on loss matrices (every column minimised).

Small, exact O(n²·m) implementations: populations are tens of candidates. Rows are candidates;
maximised objectives must be negated by the caller (see :func:`to_losses`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["to_losses", "domination", "nondominated_mask", "non_dominated_fronts", "crowding_distance"]


def to_losses(values: ArrayLike, maximize: Sequence[bool]) -> np.ndarray:
    """`values` (n × m) with maximised columns negated, so that lower is better everywhere."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2 or values.shape[1] != len(maximize):
        raise ValueError(f"values of shape {values.shape} do not match {len(maximize)} objectives")
    return values * np.where(np.asarray(maximize, dtype=bool), -1.0, 1.0)


def domination(losses: np.ndarray) -> np.ndarray:
    """`dom[i, j]`: row i dominates row j (no worse in every column, better in one)."""
    losses = np.asarray(losses, dtype=np.float64)
    le = np.all(losses[:, None, :] <= losses[None, :, :], axis=2)
    lt = np.any(losses[:, None, :] < losses[None, :, :], axis=2)
    return le & lt


def nondominated_mask(losses: np.ndarray) -> np.ndarray:
    """True for the rows no other row dominates (front 0 of :func:`non_dominated_fronts`)."""
    losses = np.asarray(losses, dtype=np.float64)
    return np.logical_not(domination(losses).any(axis=0)) if len(losses) else np.zeros(0, dtype=bool)


def non_dominated_fronts(losses: np.ndarray) -> list[list[int]]:
    """Row indices grouped by non-domination rank (front 0 first), ascending within a front."""
    losses = np.asarray(losses, dtype=np.float64)
    n = len(losses)
    if n == 0:
        return []
    dom = domination(losses)
    count = dom.sum(axis=0)  # how many dominate j
    fronts: list[list[int]] = []
    remaining = np.ones(n, dtype=bool)
    while remaining.any():
        front = np.flatnonzero(remaining & (count == 0))
        if front.size == 0:  # impossible for a strict partial order: never loop forever on a bug
            raise AssertionError("non-dominated sorting found a domination cycle")
        fronts.append([int(i) for i in front])
        remaining[front] = False
        count = count - dom[front].sum(axis=0)
    return fronts


def crowding_distance(losses: np.ndarray) -> np.ndarray:
    """Deb et al.'s crowding distance of each row (boundary rows: inf; constant columns: 0).

    Per objective, rows are ordered by value (ties by index); an interior row gets
    (next − previous) / (max − min). Infinite values are clipped to the finite range first.
    """
    losses = np.asarray(losses, dtype=np.float64)
    n, m = losses.shape
    dist = np.zeros(n)
    if n <= 2:
        return np.full(n, np.inf)
    for j in range(m):
        col = losses[:, j]
        finite = col[np.isfinite(col)]
        if finite.size == 0:
            continue
        col = np.clip(col, finite.min(), finite.max())
        lo, hi = col.min(), col.max()
        if hi == lo:
            continue
        order = np.argsort(col, kind="stable")
        dist[order[0]] = dist[order[-1]] = np.inf
        gaps = (col[order[2:]] - col[order[:-2]]) / (hi - lo)
        dist[order[1:-1]] += gaps
    return dist
