"""Exponential moving average of the generator's weights (the network that is evaluated).

Matches the reference codes (EAGAN / MMD-AdversarialNAS `network.py::train`): after every G step,
``avg ← decay · avg + (1 − decay) · param`` on the parameters, done in place with the same two
float operations (``mul_`` then ``add_``) so the averages round the same way; buffers (BatchNorm
running statistics, spectral-norm vectors) are copied from the live network, as the reference's
``deepcopy(gen_net)`` + ``load_params`` does.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

__all__ = ["EMA"]


class EMA:
    """Holds `module`, a frozen copy of the network whose parameters follow the moving average."""

    def __init__(self, model: nn.Module, decay: float = 0.999) -> None:
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"`decay` must be in [0, 1), got {decay}")
        self.decay = decay
        self.module = copy.deepcopy(model).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module, skip: torch.Tensor | None = None) -> None:
        """One EMA step towards `model`'s current parameters; copy its buffers.

        `skip` (a 0-d boolean on the device) leaves everything as it is when true, decided on the
        device: no host synchronisation, and a NaN in `model` cannot leak into the average.
        """
        avgs: list[torch.Tensor] = list(self.module.parameters())
        params = [p.detach() for p in model.parameters()]
        if len(avgs) != len(params):
            raise ValueError(f"the EMA holds {len(avgs)} parameters, the model has {len(params)}")
        if skip is None:
            torch._foreach_mul_(avgs, self.decay)
            torch._foreach_add_(avgs, params, alpha=1.0 - self.decay)
            torch._foreach_copy_(list(self.module.buffers()), list(model.buffers()))
            return
        moved = torch._foreach_mul(avgs, self.decay)
        torch._foreach_add_(moved, params, alpha=1.0 - self.decay)
        for avg, new in zip(avgs, moved):
            torch.where(skip, avg, new, out=avg)
        for avg_b, b in zip(self.module.buffers(), model.buffers(), strict=True):
            torch.where(skip, avg_b, b, out=avg_b)

    def state_dict(self) -> dict[str, Any]:
        return self.module.state_dict()

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.module.load_state_dict(state)
