"""GAN losses of the final training (SPEC §6): hinge, and the repulsive MMD loss with a bounded kernel.

Hinge (EAGAN, marsggbo/EAGAN `network.py::train`):
    L_D = mean(relu(1 - D(x))) + mean(relu(1 + D(G(z)))),   L_G = -mean(D(G(z))).

Repulsive MMD with a bounded RBF kernel (Wang, Sun & Halgamuge, "Improving MMD-GAN Training with
Repulsive Loss Function", ICLR 2019; richardwth/MMD-GAN `GeneralTools/math_func.py::mmd_g_bounded`
with the "rmb" weights, and PrasannaPulakurthi/MMD-AdversarialNAS `network.py::MMD_loss`, which the
SCGAN / MMD-AdversarialNAS final training uses). With k(a, b) = exp(-‖a − b‖² / (2σ²)), σ = 1, and
D's output vectors r_i (real) and f_i (fake), means over i ≠ j ("off-diagonal", a U-statistic):
    L_D = mean_{i≠j} exp(-min(‖r_i − r_j‖², b_u) / 2σ²) − mean_{i≠j} exp(-max(‖f_i − f_j‖², b_l) / 2σ²)
    L_G = mean_{i≠j} k(r_i, r_j) + mean_{i≠j} k(f_i, f_j) − 2 · mean_{i,j} k(r_i, f_j)
i.e. D pulls fakes together and pushes reals apart (the "repulsive" critic), the kernel is
bounded (real-real distances capped at b_u = 4, fake-fake distances floored at b_l = 1/4), and G
minimises the plain unbiased-in-XX/YY MMD². The cross term of L_G averages over all pairs,
diagonal included, exactly as MMD-AdversarialNAS does (Wang's TF code drops the diagonal there
too; with independent batches the difference is O(1/m)). The reference writes the RBF exponent as
d / (2σ) — identical for the σ = 1 that every recipe uses; we use the textbook 2σ².

The adaptive upper bound (MMD-AdversarialNAS `MGPU_train_arch.py`): a patience counter starts at
6; an evaluation whose FID is strictly below the best so far resets it, any other evaluation
decrements it; when it reaches 0 the upper bound doubles (capped at 32) and the counter resets.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

__all__ = [
    "hinge_d_loss",
    "hinge_g_loss",
    "squared_distances",
    "offdiag_mean",
    "mmd_repulsive_d_loss",
    "mmd_g_loss",
    "AdaptiveUpperBound",
]


def hinge_d_loss(real_out: torch.Tensor, fake_out: torch.Tensor) -> torch.Tensor:
    """EAGAN's discriminator hinge loss (D outputs of any shape; means over all elements)."""
    return F.relu(1.0 - real_out).mean() + F.relu(1.0 + fake_out).mean()


def hinge_g_loss(fake_out: torch.Tensor) -> torch.Tensor:
    """EAGAN's generator hinge loss: −mean D(G(z))."""
    return -fake_out.mean()


def squared_distances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Matrix of squared Euclidean distances ‖a_i − b_j‖² between the rows of two (n, d) tensors.

    Computed by explicit differences (not the ‖a‖² − 2ab + ‖b‖² expansion) so the diagonal of
    ``squared_distances(a, a)`` is exactly 0 and the values are never negative.
    """
    a, b = _as_rows(a), _as_rows(b)
    return (a.unsqueeze(1) - b.unsqueeze(0)).pow(2).sum(-1)


def offdiag_mean(k: torch.Tensor) -> torch.Tensor:
    """Mean of a square matrix without its diagonal (the U-statistic of a kernel matrix)."""
    m = k.shape[0]
    assert k.shape == (m, m) and m >= 2, f"need a square matrix of size ≥ 2, got {tuple(k.shape)}"
    return (k.sum() - k.diagonal().sum()) / (m * (m - 1))


def _rbf(d2: torch.Tensor, sigma: float) -> torch.Tensor:
    return torch.exp(-d2 / (2.0 * sigma**2))


def _as_rows(x: torch.Tensor) -> torch.Tensor:
    return x.reshape(x.shape[0], -1)


def _matched(real_out: torch.Tensor, fake_out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    # the reference truncates the larger batch so both have the same size m
    m = min(real_out.shape[0], fake_out.shape[0])
    return _as_rows(real_out[:m]), _as_rows(fake_out[:m])


def mmd_repulsive_d_loss(
    real_out: torch.Tensor,
    fake_out: torch.Tensor,
    *,
    sigma: float = 1.0,
    upper_bound: float | torch.Tensor = 4.0,
    lower_bound: float = 0.25,
) -> torch.Tensor:
    """The repulsive critic loss with the bounded kernel (see the module docstring)."""
    real, fake = _matched(real_out, fake_out)
    d_rr = squared_distances(real, real).clamp(max=upper_bound)
    d_ff = squared_distances(fake, fake).clamp(min=lower_bound)
    return offdiag_mean(_rbf(d_rr, sigma)) - offdiag_mean(_rbf(d_ff, sigma))


def mmd_g_loss(real_out: torch.Tensor, fake_out: torch.Tensor, *, sigma: float = 1.0) -> torch.Tensor:
    """The generator's MMD² with the unbounded RBF kernel (see the module docstring)."""
    real, fake = _matched(real_out, fake_out)
    k_rr = offdiag_mean(_rbf(squared_distances(real, real), sigma))
    k_ff = offdiag_mean(_rbf(squared_distances(fake, fake), sigma))
    k_rf = _rbf(squared_distances(real, fake), sigma).mean()
    return k_rr + k_ff - 2.0 * k_rf


@dataclass
class AdaptiveUpperBound:
    """The MMD kernel's upper bound with the patience schedule of MMD-AdversarialNAS.

    Call :meth:`update` with each periodic evaluation's FID; it returns True when the bound
    changed. :meth:`state_dict` / :meth:`load_state_dict` make it resumable (plain values only).
    """

    value: float = 4.0
    cap: float = 32.0
    factor: float = 2.0
    patience: int = 6
    counter: int = -1  # -1 = "not started": set to `patience` in __post_init__
    best_fid: float = float("inf")

    def __post_init__(self) -> None:
        if self.counter < 0:
            self.counter = self.patience

    def update(self, fid: float) -> bool:
        """Record one evaluation; double the bound (up to `cap`) after `patience` misses in a row."""
        if fid < self.best_fid:
            self.best_fid = float(fid)
            self.counter = self.patience
            return False
        self.counter -= 1
        if self.counter > 0:
            return False
        old = self.value
        self.value = min(self.value * self.factor, self.cap)
        self.counter = self.patience
        return self.value != old

    def state_dict(self) -> dict[str, Any]:
        return {
            "value": float(self.value),
            "counter": int(self.counter),
            "best_fid": float(self.best_fid),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.value = float(state["value"])
        self.counter = int(state["counter"])
        self.best_fid = float(state["best_fid"])
