"""Kernel Inception Distance: unbiased MMD² with the cubic polynomial kernel, over random subsets.

k(x, y) = (γ x·y + c0)^d with γ = 1/D, c0 = 1, d = 3 (Bińkowski et al. 2018, "Demystifying MMD
GANs"). Subsets are drawn as torch-fidelity's `kid_features_to_metric` draws them (one
`numpy.random.RandomState(seed)`; per subset first from set 1, then from set 2, without
replacement), so the numbers match it. Gram products run in float64 on CUDA and float32 on the
CPU (where float64 matrix products are ~2× slower); kernels and sums are float64 everywhere.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["kernel_inception_distance", "mmd2_unbiased"]


def mmd2_unbiased(k_xx: torch.Tensor, k_xy: torch.Tensor, k_yy: torch.Tensor) -> torch.Tensor:
    """Unbiased MMD² estimate from m×m kernel matrices (diagonals of K_XX, K_YY excluded)."""
    m = k_xx.shape[0]
    sum_xx = k_xx.sum() - k_xx.diagonal().sum()
    sum_yy = k_yy.sum() - k_yy.diagonal().sum()
    return (sum_xx + sum_yy) / (m * (m - 1)) - 2 * k_xy.sum() / (m * m)


def kernel_inception_distance(
    features_1: np.ndarray | torch.Tensor,
    features_2: np.ndarray | torch.Tensor,
    subsets: int = 100,
    subset_size: int = 1000,
    degree: int = 3,
    coef0: float = 1.0,
    seed: int = 2020,
) -> tuple[float, float]:
    """(mean, std) over `subsets` of the unbiased MMD² between the two N×D feature sets."""
    f1, f2 = torch.as_tensor(features_1), torch.as_tensor(features_2)
    if f1.ndim != 2 or f2.ndim != 2 or f1.shape[1] != f2.shape[1]:
        raise ValueError(f"need N×D features of equal D, got {tuple(f1.shape)} and {tuple(f2.shape)}")
    if min(len(f1), len(f2)) < subset_size:
        raise ValueError(f"KID subset size {subset_size} exceeds the number of features ({len(f1)}, {len(f2)})")
    gram_dtype = torch.float64 if f1.device.type == "cuda" else torch.float32
    f1, f2 = f1.to(gram_dtype), f2.to(f1.device, gram_dtype)
    gamma = 1.0 / f1.shape[1]
    rng = np.random.RandomState(seed)

    def kernel(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return ((a @ b.T).to(torch.float64) * gamma + coef0) ** degree

    mmds = np.zeros(subsets)
    for i in range(subsets):
        x = f1[torch.as_tensor(rng.choice(len(f1), subset_size, replace=False), device=f1.device)]
        y = f2[torch.as_tensor(rng.choice(len(f2), subset_size, replace=False), device=f2.device)]
        mmds[i] = float(mmd2_unbiased(kernel(x, x), kernel(x, y), kernel(y, y)))
    return float(mmds.mean()), float(mmds.std())
