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
    def update(self, model: nn.Module) -> None:
        """One EMA step towards `model`'s current parameters; copy its buffers."""
        for avg, p in zip(self.module.parameters(), model.parameters(), strict=True):
            avg.mul_(self.decay).add_(p.detach(), alpha=1.0 - self.decay)
        for avg_b, b in zip(self.module.buffers(), model.buffers(), strict=True):
            avg_b.copy_(b)

    def state_dict(self) -> dict[str, Any]:
        return self.module.state_dict()

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.module.load_state_dict(state)
