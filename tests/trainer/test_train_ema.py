"""EMA of the generator: the reference's update rule, buffer copies, state round trip."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from optgan.trainer.ema import EMA


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))


def test_ema_update_rule_and_buffers() -> None:
    net = _net()
    ema = EMA(net, decay=0.9)
    start = [p.detach().clone() for p in net.parameters()]
    with torch.no_grad():
        for p in net.parameters():
            p.add_(1.0)
    net(torch.randn(5, 3))  # train mode: BN running stats move
    ema.update(net)
    for avg, p0, p in zip(ema.module.parameters(), start, net.parameters()):
        want = p0.clone().mul_(0.9).add_(p.detach(), alpha=0.1)
        assert torch.equal(avg, want)
    for b_avg, b in zip(ema.module.buffers(), net.buffers()):
        assert torch.equal(b_avg, b)
    assert not any(p.requires_grad for p in ema.module.parameters())
    assert not ema.module.training


def test_ema_is_a_copy_not_an_alias() -> None:
    net = _net()
    ema = EMA(net, decay=0.5)
    with torch.no_grad():
        next(net.parameters()).fill_(7.0)
    assert not torch.equal(next(ema.module.parameters()), next(net.parameters()))


def test_ema_state_roundtrip() -> None:
    net = _net()
    a = EMA(net, 0.99)
    a.update(net)
    b = EMA(_net(), 0.99)
    b.load_state_dict(a.state_dict())
    for x, y in zip(a.module.state_dict().values(), b.module.state_dict().values()):
        assert torch.equal(x, y)


def test_ema_rejects_bad_decay() -> None:
    with pytest.raises(ValueError):
        EMA(_net(), 1.0)


def test_device_side_skip_keeps_the_average_and_equals_the_plain_update_otherwise() -> None:
    net = _net()
    plain, masked = EMA(net, decay=0.9), EMA(net, decay=0.9)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(1.0)
    net(torch.randn(5, 3))
    plain.update(net)
    masked.update(net, skip=torch.tensor(False))
    for a, b in zip(plain.module.state_dict().values(), masked.module.state_dict().values()):
        assert torch.equal(a, b)
    before = {k: v.clone() for k, v in masked.module.state_dict().items()}
    with torch.no_grad():
        next(net.parameters()).fill_(float("nan"))  # a skipped G step's network may hold NaN
    net(torch.randn(5, 3))
    masked.update(net, skip=torch.tensor(True))
    for k, v in masked.module.state_dict().items():
        assert torch.equal(v, before[k]), k
