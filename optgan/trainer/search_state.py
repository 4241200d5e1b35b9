"""Snapshots of networks and Adam states for the search trainer: real copies, restored in place.

A snapshot holds CPU copies of tensors in plain containers (loadable with ``weights_only=True``).
Restoring copies values *into* the live tensors (never replaces them), so the addresses captured
by CUDA graphs stay valid and nothing aliases a snapshot. Adam state is stored per parameter in
parameter order as ``[step, exp_avg, exp_avg_sq]`` (the state :func:`optgan.trainer.adam_step.make_adam` creates).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from optgan.errors import CheckpointError

__all__ = ["cpu_copy", "module_state", "load_module_state", "adam_state", "load_adam_state", "adam_tensors"]

_ADAM_KEYS = ("step", "exp_avg", "exp_avg_sq")


def cpu_copy(obj: Any) -> Any:
    """A copy of a container of tensors with every tensor cloned to the CPU."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().to("cpu", copy=True)
    if isinstance(obj, dict):
        return {k: cpu_copy(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(cpu_copy(v) for v in obj)
    return obj


def module_state(net: nn.Module) -> dict[str, torch.Tensor]:
    """CPU copy of `net`'s state dict (parameters and buffers)."""
    return cpu_copy(dict(net.state_dict()))


def load_module_state(net: nn.Module, state: dict[str, torch.Tensor], what: str) -> None:
    """Copy `state` into `net` in place (strict)."""
    try:
        net.load_state_dict(state, strict=True)
    except (RuntimeError, KeyError) as e:
        first = str(e).strip().splitlines()[0]
        raise CheckpointError(f"checkpoint's {what} does not fit this study's network ({first[:160]})") from e


def _params(opt: torch.optim.Optimizer) -> list[torch.Tensor]:
    return [p for group in opt.param_groups for p in group["params"]]


def adam_tensors(opt: torch.optim.Optimizer) -> list[torch.Tensor]:
    """The state tensors of an Adam made by :func:`~optgan.trainer.adam_step.make_adam`, in a fixed order."""
    return [opt.state[p][k] for p in _params(opt) for k in _ADAM_KEYS]


def adam_state(opt: torch.optim.Optimizer) -> list[list[torch.Tensor]]:
    """CPU copy of the per-parameter Adam state."""
    return [[cpu_copy(opt.state[p][k]) for k in _ADAM_KEYS] for p in _params(opt)]


def load_adam_state(opt: torch.optim.Optimizer, state: list[list[torch.Tensor]], what: str) -> None:
    """Copy a snapshot of :func:`adam_state` into `opt`'s existing state tensors."""
    params = _params(opt)
    if len(state) != len(params):
        raise CheckpointError(
            f"checkpoint's {what} optimizer has {len(state)} parameters, this network {len(params)}; "
            "resume with the same study configuration"
        )
    with torch.no_grad():
        for p, saved in zip(params, state):
            live = [opt.state[p][k] for k in _ADAM_KEYS]
            if [t.shape for t in live] != [t.shape for t in saved]:
                raise CheckpointError(f"checkpoint's {what} optimizer state has other shapes than this network")
            for dst, src in zip(live, saved):
                dst.copy_(src)
