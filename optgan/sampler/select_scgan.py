"""SCGAN's selection: normalised weighted-Tchebycheff ranking plus clustering of the boundary.

Paper/code: SCGAN (fly2tortoise/SCGAN, `Prefer_cluster_MOEAD`), SPEC §4. Each objective column
is min-max normalised over the candidates (a constant column becomes 0 instead of 0/0), the
ideal point is the column minimum (0), and candidates are ranked by the Tchebycheff distance
max_j w_j·|f_j − z_j| with equal weights w_j = 1/m (ties: lower row index first). The best
N − k are kept directly; the next 2k ranked candidates are clustered into k groups and the
best-ranked member of each group is kept.

Clustering: the code feeds cosine distances to Ward linkage, which is only defined for
Euclidean distances. optgan scales each normalised vector to unit length and runs Ward on the
Euclidean distances between those unit vectors: for unit vectors ‖u − v‖² = 2·(1 − cos(u, v)),
so the grouping is still by direction (cosine), and Ward's variance criterion is valid. A zero
vector (the ideal point itself) has no direction and stays at the origin. When the band holds
fewer distinct directions than k (duplicates, constant columns), fewer clusters come out; the
remaining places go to the best-ranked band members not yet kept, so exactly N are returned
(the code exits with "Cluster count mismatch" instead).
"""

from __future__ import annotations

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage

from optgan.sampler.selection import SelectionStrategy

__all__ = ["SCGANSelection", "normalise", "tchebycheff", "cluster_representatives"]


def normalise(losses: np.ndarray) -> np.ndarray:
    """Min-max normalise every column to [0, 1]; a constant column becomes all zeros.

    Infinite values are first clipped to the column's finite range (a column without finite
    values becomes zeros), so one diverged candidate cannot turn the whole column into NaN.
    """
    finite = np.isfinite(losses)
    lo = np.where(finite, losses, np.inf).min(axis=0)
    hi = np.where(finite, losses, -np.inf).max(axis=0)
    lo, hi = np.where(np.isfinite(lo), lo, 0.0), np.where(np.isfinite(hi), hi, 0.0)
    clipped = np.clip(np.nan_to_num(losses, nan=0.0), lo, hi)
    span = np.where(hi > lo, hi - lo, 1.0)
    return (clipped - lo) / span


def tchebycheff(normalised: np.ndarray) -> np.ndarray:
    """Equal-weight Tchebycheff distance of each row to the ideal point (the column minima)."""
    m = normalised.shape[1]
    ideal = normalised.min(axis=0)
    return np.max(np.abs(normalised - ideal) / m, axis=1)


def cluster_representatives(points: np.ndarray, k: int) -> list[int]:
    """Row indices (ascending = best-ranked first) of one representative per Ward cluster.

    Rows are assumed ordered best-ranked first; each cluster is represented by its first row.
    Returns at most k indices (fewer when the rows have fewer than k distinct directions).
    """
    if len(points) <= k:
        return list(range(len(points)))
    norms = np.linalg.norm(points, axis=1, keepdims=True)
    units = np.divide(points, norms, out=np.zeros_like(points), where=norms > 0)
    if k == 1 or len(np.unique(units, axis=0)) == 1:
        return [0]
    labels = fcluster(linkage(units, method="ward", metric="euclidean"), t=k, criterion="maxclust")
    first: dict[int, int] = {}
    for row, label in enumerate(labels):
        first.setdefault(int(label), row)
    return sorted(first.values())


class SCGANSelection(SelectionStrategy):
    name = "scgan"

    def __init__(self, clusters: int = 8) -> None:
        if clusters < 1:
            raise ValueError(f"`clusters` must be ≥ 1, got {clusters}")
        self.clusters = clusters

    def select(self, losses: np.ndarray, n: int, rng: np.random.Generator) -> list[int]:
        norm = normalise(losses)
        order = [int(i) for i in np.argsort(tchebycheff(norm), kind="stable")]
        k = min(self.clusters, n)
        top, band = order[: n - k], order[n - k : n + k]
        reps = [band[i] for i in cluster_representatives(norm[band], k)]
        kept = set(reps)
        fill = [i for i in band if i not in kept][: k - len(reps)]
        return top + sorted(reps + fill, key=band.index)
