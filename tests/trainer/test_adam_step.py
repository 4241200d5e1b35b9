"""Fused Adam with a device-side skip, and loading any Adam's state into it in place."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from optgan.errors import CheckpointError
from optgan.trainer.adam_step import (
    D_SLOT,
    G_SLOT,
    SKIPPED,
    adam_state_dict,
    guarded_adam_step,
    load_adam_state_dict,
    make_adam,
)


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 1))


def _loss(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return net(x).pow(2).mean()


def test_guarded_step_updates_on_finite_losses_and_skips_the_others() -> None:
    net = _net()
    opt = make_adam(list(net.parameters()), torch.tensor(1e-2), (0.0, 0.9), capturable=False)
    acc = torch.zeros(5, dtype=torch.float64)
    x = torch.randn(8, 4)
    loss = _loss(net, x)
    loss.backward()
    before = [p.detach().clone() for p in net.parameters()]
    bad = guarded_adam_step(opt, loss, acc, G_SLOT)
    assert not bool(bad) and all(not torch.equal(a, p) for a, p in zip(before, net.parameters()))
    assert acc.tolist() == [0.0, 0.0, pytest.approx(float(loss.detach())), 1.0, 0.0]
    opt.zero_grad()
    loss = _loss(net, x) * float("nan")
    loss.backward()
    after = [p.detach().clone() for p in net.parameters()]
    assert bool(guarded_adam_step(opt, loss, acc, D_SLOT))
    assert all(torch.equal(a, p) for a, p in zip(after, net.parameters()))  # no update
    assert {float(s["step"]) for s in opt.state.values()} == {1.0}  # nor a step count
    assert acc[D_SLOT : D_SLOT + 2].tolist() == [0.0, 0.0] and acc[SKIPPED] == 1.0


def test_a_plain_adams_state_loads_in_place_and_continues_alike() -> None:
    x = torch.randn(8, 4)
    plain_net, fused_net = _net(), _net()
    plain = torch.optim.Adam(plain_net.parameters(), lr=1e-2, betas=(0.0, 0.9))
    fused = make_adam(list(fused_net.parameters()), torch.tensor(5.0), (0.0, 0.9), capturable=False)
    live = [id(t) for st in fused.state.values() for t in st.values()]
    for _ in range(3):
        plain.zero_grad()
        _loss(plain_net, x).backward()
        plain.step()
    fused_net.load_state_dict(plain_net.state_dict())
    load_adam_state_dict(fused, plain.state_dict(), "test")
    assert [id(t) for st in fused.state.values() for t in st.values()] == live  # the same tensors, values copied
    assert float(fused.param_groups[0]["lr"]) == pytest.approx(1e-2)
    for net, opt in ((plain_net, plain), (fused_net, fused)):
        opt.zero_grad()
        _loss(net, x).backward()
        opt.step()
    for a, b in zip(plain_net.parameters(), fused_net.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)
    saved = adam_state_dict(fused)
    assert isinstance(saved["param_groups"][0]["lr"], float)
    assert {float(s["step"]) for s in saved["state"].values()} == {4.0}


def test_state_of_another_network_is_refused() -> None:
    net = _net()
    opt = make_adam(list(net.parameters()), 1e-3, (0.0, 0.9), capturable=False)
    other = torch.optim.Adam(nn.Linear(4, 3).parameters())
    with pytest.raises(CheckpointError, match="2 parameters, this network 4"):
        load_adam_state_dict(opt, other.state_dict(), "G")
    wide = nn.Sequential(nn.Linear(4, 5), nn.Linear(5, 1))
    stepped = torch.optim.Adam(wide.parameters())
    _loss(wide, torch.randn(2, 4)).backward()
    stepped.step()
    with pytest.raises(CheckpointError, match="other shapes"):
        load_adam_state_dict(opt, stepped.state_dict(), "G")


@pytest.mark.parametrize("bad", [float("inf"), float("-inf")])
def test_an_infinite_loss_is_skipped_like_a_nan(bad: float) -> None:
    net = _net()
    opt = make_adam(list(net.parameters()), torch.tensor(1e-2), (0.0, 0.9), capturable=False)
    acc = torch.zeros(5, dtype=torch.float64)
    loss = _loss(net, torch.randn(8, 4)) * bad
    loss.backward()
    before = [p.detach().clone() for p in net.parameters()]
    assert bool(guarded_adam_step(opt, loss, acc, D_SLOT))
    assert all(torch.equal(a, p) for a, p in zip(before, net.parameters()))
    assert {float(s["step"]) for s in opt.state.values()} == {0.0}
    assert acc.tolist() == [0.0, 0.0, 0.0, 0.0, 1.0] and acc[SKIPPED] == 1.0
