"""Fused Adam whose steps the device can skip: the optimizer side of both trainers' sync-free steps.

A step whose loss is NaN or ±inf must not update anything, but asking the host whether the loss
is finite would stall the GPU every step. Instead the finiteness is computed on the device and
handed to fused Adam as ``found_inf`` (the mechanism ``GradScaler`` uses): the kernel skips the
update and the step count. Loss sums and counters accumulate in a device tensor that the caller
reads when it wants them.

Accumulator layout (float64, shared by :mod:`~optgan.trainer.search_step` and
:mod:`~optgan.trainer.final_step`): ``[sum L_D, finite D steps, sum L_G, finite G steps, skipped
steps, …]``; slot 0 is D's pair, slot 2 G's.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from optgan.errors import CheckpointError

__all__ = ["make_adam", "guarded_adam_step", "adam_state_dict", "load_adam_state_dict", "D_SLOT", "G_SLOT", "SKIPPED"]

D_SLOT, G_SLOT, SKIPPED = 0, 2, 4
_ADAM_KEYS = ("step", "exp_avg", "exp_avg_sq")


def make_adam(params: list[nn.Parameter], lr: float | torch.Tensor, betas: tuple[float, float],
              capturable: bool) -> torch.optim.Adam:
    """Fused Adam (needed for the device-side skip) with its state created up front.

    Eager state creation makes the state identical to Adam's lazy one, but allocated outside any
    CUDA-graph capture and present for every parameter (so it can be saved and copied in place).
    A tensor `lr` (on the parameters' device) can be changed in place between captured steps.
    """
    opt = torch.optim.Adam(params, lr=lr, betas=betas, fused=True, capturable=capturable)
    for p in params:
        opt.state[p] = {
            "step": torch.zeros((), dtype=torch.float32, device=p.device),
            "exp_avg": torch.zeros_like(p, memory_format=torch.preserve_format),
            "exp_avg_sq": torch.zeros_like(p, memory_format=torch.preserve_format),
        }
    return opt


def guarded_adam_step(opt: torch.optim.Adam, loss: torch.Tensor, acc: torch.Tensor, slot: int) -> torch.Tensor:
    """Step `opt` (a :func:`make_adam` Adam, gradients computed) unless `loss` is non-finite.

    Adds the loss and 1 to ``acc[slot : slot + 2]`` when it is finite, 1 to ``acc[SKIPPED]`` when
    not; returns the 0-d boolean "skipped" on the device. No host synchronisation.
    """
    loss = loss.detach().double()
    bad = ~torch.isfinite(loss)
    upd = torch.stack((torch.where(bad, 0.0, loss), (~bad).double(), bad.double()))
    acc[slot : slot + 2].add_(upd[:2])
    acc[SKIPPED : SKIPPED + 1].add_(upd[2:])
    opt.found_inf = bad.float()  # type: ignore[attr-defined]  # read by fused Adam (skips the step)
    opt.grad_scale = None  # type: ignore[attr-defined]
    opt.step()
    return bad


def adam_state_dict(opt: torch.optim.Adam) -> dict[str, Any]:
    """`opt.state_dict()` with plain-float learning rates (the format any Adam loads)."""
    sd = opt.state_dict()
    sd["param_groups"] = [{**g, "lr": float(g["lr"])} for g in sd["param_groups"]]
    return sd


def load_adam_state_dict(opt: torch.optim.Adam, saved: dict[str, Any], what: str) -> None:
    """Copy any Adam's `state_dict()` into `opt`'s existing state tensors and learning rates, in place.

    The state of a :func:`make_adam` Adam stays where it is (fused, on the device, at the addresses
    CUDA graphs may hold); checkpoints of a plain Adam (state steps on the CPU) load too. A
    parameter the saved optimizer never stepped gets a zero state.
    """
    params = [p for group in opt.param_groups for p in group["params"]]
    ids = [i for group in saved["param_groups"] for i in group["params"]]
    if len(ids) != len(params) or len(saved["param_groups"]) != len(opt.param_groups):
        raise CheckpointError(f"the checkpoint's {what} optimizer has {len(ids)} parameters, this network "
                              f"{len(params)}; resume with the same architecture")
    with torch.no_grad():
        for p, i in zip(params, ids):
            live = opt.state[p]
            stored = saved["state"].get(i)
            for key in _ADAM_KEYS:
                if stored is None:
                    live[key].zero_()
                elif tuple(stored[key].shape) != tuple(live[key].shape):
                    raise CheckpointError(f"the checkpoint's {what} optimizer state has other shapes than this network")
                else:
                    live[key].copy_(stored[key])
        for group, stored_group in zip(opt.param_groups, saved["param_groups"]):
            lr = float(stored_group["lr"])
            if isinstance(group["lr"], torch.Tensor):
                group["lr"].fill_(lr)
            else:
                group["lr"] = lr
