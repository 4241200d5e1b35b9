"""Known-answer tests of the hinge and repulsive-MMD losses and of the adaptive upper bound."""

from __future__ import annotations

import math

import pytest
import torch

from optgan.trainer.losses import (
    AdaptiveUpperBound,
    hinge_d_loss,
    hinge_g_loss,
    mmd_g_loss,
    mmd_repulsive_d_loss,
    offdiag_mean,
    squared_distances,
)

E = math.exp


def test_hinge_known_values() -> None:
    real = torch.tensor([2.0, 0.5, -1.0])
    fake = torch.tensor([-2.0, 0.0, 1.0])
    # relu(1 - real) = [0, .5, 2] → 5/6; relu(1 + fake) = [0, 1, 2] → 1
    assert hinge_d_loss(real, fake).item() == pytest.approx(5 / 6 + 1.0)
    assert hinge_g_loss(fake).item() == pytest.approx(1 / 3)


def test_squared_distances_and_offdiag_mean() -> None:
    a = torch.tensor([[0.0, 0.0], [3.0, 4.0]])
    d = squared_distances(a, a)
    assert d.tolist() == [[0.0, 25.0], [25.0, 0.0]]
    k = torch.tensor([[100.0, 1.0, 2.0], [3.0, 100.0, 4.0], [5.0, 6.0, 100.0]])
    assert offdiag_mean(k).item() == pytest.approx(21 / 6)


REAL = torch.tensor([[0.0], [1.0], [3.0]])
FAKE = torch.tensor([[0.0], [0.2], [2.0]])


def test_mmd_d_loss_known_value_with_bounds() -> None:
    # real-real squared distances 1, 9, 4 → capped at b_u = 4: 1, 4, 4
    rr = (E(-0.5) + 2 * E(-2.0)) / 3
    # fake-fake squared distances 0.04, 4, 3.24 → floored at b_l = 1/4: 0.25, 4, 3.24
    ff = (E(-0.125) + E(-2.0) + E(-1.62)) / 3
    got = mmd_repulsive_d_loss(REAL, FAKE, sigma=1.0, upper_bound=4.0, lower_bound=0.25)
    assert got.item() == pytest.approx(rr - ff, rel=1e-6)


def test_mmd_d_loss_bound_changes_value() -> None:
    # with b_u = 16 the 9 is not capped any more
    rr = (E(-0.5) + E(-4.5) + E(-2.0)) / 3
    ff = (E(-0.125) + E(-2.0) + E(-1.62)) / 3
    got = mmd_repulsive_d_loss(REAL, FAKE, upper_bound=16.0, lower_bound=0.25)
    assert got.item() == pytest.approx(rr - ff, rel=1e-6)


def test_mmd_g_loss_known_value() -> None:
    rr = (E(-0.5) + E(-4.5) + E(-2.0)) / 3
    ff = (E(-0.02) + E(-2.0) + E(-1.62)) / 3
    rf = sum(E(-((r - f) ** 2) / 2) for r in (0.0, 1.0, 3.0) for f in (0.0, 0.2, 2.0)) / 9
    assert mmd_g_loss(REAL, FAKE).item() == pytest.approx(rr + ff - 2 * rf, rel=1e-6)


def test_mmd_sigma_scales_the_exponent() -> None:
    # σ = 2 is σ = 1 on inputs halved
    assert mmd_g_loss(REAL, FAKE, sigma=2.0).item() == pytest.approx(mmd_g_loss(REAL / 2, FAKE / 2).item(), rel=1e-6)


def _reference_mmd(source: torch.Tensor, target: torch.Tensor, kind: str, bu: float, bl: float) -> torch.Tensor:
    """A literal port of MMD-AdversarialNAS `network.py::MMD_loss.forward` (σ = 1), CPU tensors."""

    def phi(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        t0 = x.unsqueeze(0).expand(x.size(0), x.size(0), x.size(1))
        t1 = y.unsqueeze(1).expand(y.size(0), y.size(0), y.size(1))
        return ((t0 - t1) ** 2).sum(2)

    m = source.size(0)
    l2_xx, l2_yy, l2_xy = phi(source, source), phi(target, target), phi(source, target)
    alpha = 1 / 2
    if kind == "critic":
        xx_u = torch.exp(-alpha * torch.min(l2_xx, bu * torch.ones_like(l2_xx)))
        yy_l = torch.exp(-alpha * torch.max(l2_yy, bl * torch.ones_like(l2_yy)))
        xx = (xx_u.sum() - xx_u.diagonal().sum()) / (m * (m - 1))
        yy = (yy_l.sum() - yy_l.diagonal().sum()) / (m * (m - 1))
        return xx - yy
    xx_u, yy_u, xy_l = (torch.exp(-alpha * d) for d in (l2_xx, l2_yy, l2_xy))
    xx = (xx_u.sum() - xx_u.diagonal().sum()) / (m * (m - 1))
    yy = (yy_u.sum() - yy_u.diagonal().sum()) / (m * (m - 1))
    return xx + yy - 2 * xy_l.mean()


@pytest.mark.parametrize("bu", [4.0, 8.0, 32.0])
def test_mmd_matches_the_reference_formulas(bu: float) -> None:
    g = torch.Generator().manual_seed(0)
    real = torch.randn(12, 16, generator=g, dtype=torch.float64) * 0.4
    fake = torch.randn(12, 16, generator=g, dtype=torch.float64) * 0.4 + 0.1
    want_d = _reference_mmd(real, fake, "critic", bu, 0.25)
    want_g = _reference_mmd(real, fake, "gen", bu, 0.25)
    assert mmd_repulsive_d_loss(real, fake, upper_bound=bu, lower_bound=0.25).item() == pytest.approx(want_d.item(), rel=1e-12)
    assert mmd_g_loss(real, fake).item() == pytest.approx(want_g.item(), rel=1e-12)


def test_mmd_gradients_flow_and_bounds_cut_them() -> None:
    real = torch.tensor([[0.0], [5.0]], requires_grad=True)  # distance 25 > b_u: no gradient
    fake = torch.tensor([[0.0], [0.1]], requires_grad=True)  # distance 0.01 < b_l: no gradient
    mmd_repulsive_d_loss(real, fake).backward()
    assert real.grad.abs().sum().item() == 0.0 and fake.grad.abs().sum().item() == 0.0
    real2 = torch.tensor([[0.0], [1.0]], requires_grad=True)
    mmd_repulsive_d_loss(real2, fake.detach()).backward()
    assert real2.grad.abs().sum().item() > 0.0


def test_mmd_truncates_unequal_batches() -> None:
    real = torch.randn(6, 4)
    fake = torch.randn(4, 4)
    assert mmd_g_loss(real, fake).item() == pytest.approx(mmd_g_loss(real[:4], fake).item())


def test_upper_bound_schedule_known_sequence() -> None:
    bound = AdaptiveUpperBound(value=4.0, cap=32.0, factor=2.0, patience=6)
    assert bound.update(50.0) is False and bound.counter == 6
    assert bound.update(40.0) is False and bound.best_fid == 40.0
    values = []
    for _ in range(6 * 4):
        bound.update(45.0)  # never better than 40
        values.append(bound.value)
    # doubles at the 6th, 12th, 18th miss; stays capped at 32 afterwards
    assert values[4] == 4.0 and values[5] == 8.0
    assert values[10] == 8.0 and values[11] == 16.0
    assert values[17] == 32.0 and values[23] == 32.0


def test_upper_bound_improvement_resets_patience() -> None:
    bound = AdaptiveUpperBound()
    bound.update(10.0)
    for _ in range(5):
        bound.update(11.0)
    assert bound.counter == 1 and bound.value == 4.0
    bound.update(9.0)  # strictly better: counter back to 6
    assert bound.counter == 6 and bound.value == 4.0
    bound.update(9.0)  # equal is not an improvement
    assert bound.counter == 5


def test_upper_bound_state_roundtrip() -> None:
    a = AdaptiveUpperBound()
    for fid in (30.0, 31.0, 32.0):
        a.update(fid)
    b = AdaptiveUpperBound()
    b.load_state_dict(a.state_dict())
    assert (b.value, b.counter, b.best_fid) == (a.value, a.counter, a.best_fid)
    assert all(isinstance(v, (int, float)) for v in a.state_dict().values())
