"""Inception Score from logits: exp E_x KL(p(y|x) ‖ p(y)), mean and std over splits.

Follows torch-fidelity's `isc_features_to_metric` (float64 softmax; rows shuffled with
`numpy.random.RandomState(seed).permutation` before splitting into `splits` chunks of
`[i·N/splits, (i+1)·N/splits)`), so its numbers are directly comparable; seed 2020 is its default.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["inception_score"]


def inception_score(
    logits: np.ndarray | torch.Tensor, splits: int = 10, seed: int | None = 2020
) -> tuple[float, float]:
    """(mean, std) of the Inception Score of N×C `logits` (`seed=None`: no shuffle)."""
    x = torch.as_tensor(logits).to(torch.float64)
    if x.ndim != 2 or x.shape[0] < splits or splits < 1:
        raise ValueError(f"need N×C logits with N ≥ splits ≥ 1, got {tuple(x.shape)} and splits={splits}")
    n = x.shape[0]
    if seed is not None:
        perm = np.random.RandomState(seed).permutation(n)
        x = x[torch.as_tensor(perm, device=x.device)]
    p = x.softmax(dim=1)
    log_p = x.log_softmax(dim=1)
    scores = []
    for i in range(splits):
        lo, hi = i * n // splits, (i + 1) * n // splits
        q = p[lo:hi].mean(dim=0, keepdim=True)
        kl = (p[lo:hi] * (log_p[lo:hi] - q.log())).sum(dim=1).mean()
        scores.append(float(kl.exp()))
    return float(np.mean(scores)), float(np.std(scores))
