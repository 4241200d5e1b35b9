"""Moving a subnet's weights between a supernet and a standalone network, and safe cloning.

Supernet and standalone networks name every module by (cell, edge, op) alike, e.g.
``cells.1.edges.4.conv_3x3.conv.weight_orig``, so the standalone state dict (parameters, BN
running statistics, spectral norm's ``weight_u`` / ``weight_v``) is a subset of the
supernet's. Copies are real copies (``load_state_dict`` copies into the destination tensors),
never aliases.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeVar

import torch
from torch import nn

from optgan.search_space.genotype import Genotype
from optgan.supernet.discriminator import StandaloneD, SuperNetD
from optgan.supernet.generator import StandaloneG, SuperNetG
from optgan.supernet.init import seeded

__all__ = [
    "copy_subnet_weights", "extract_subnet", "load_subnet_into_supernet", "clone_module",
]

M = TypeVar("M", bound=nn.Module)


def copy_subnet_weights(src: nn.Module, dst: nn.Module) -> None:
    """Copy into `dst` every state entry it has from `src` (which must have them all)."""
    src_state = src.state_dict()
    dst_keys = dst.state_dict().keys()
    missing = [k for k in dst_keys if k not in src_state]
    if missing:
        raise KeyError(f"{len(missing)} entries of the destination are not in the source, "
                       f"e.g. {missing[0]!r}: the networks do not share this subnet")
    dst.load_state_dict({k: src_state[k] for k in dst_keys}, strict=True)


def extract_subnet(supernet: SuperNetG | SuperNetD, genotype: Genotype) -> StandaloneG | StandaloneD:
    """A standalone network of `genotype` holding a copy of the supernet's subnet weights.

    It lives on the supernet's device, in its train / eval mode and memory format.
    """
    if isinstance(supernet, SuperNetG):
        cls: type[StandaloneG] | type[StandaloneD] = StandaloneG
    elif isinstance(supernet, SuperNetD):
        cls = StandaloneD
    else:
        raise TypeError(f"expected a SuperNetG or SuperNetD, got {type(supernet).__name__}")
    with seeded(torch.Generator().manual_seed(0)):  # init is overwritten; keep the global RNG
        net = cls(genotype, supernet.widths)
    net.to(device=next(supernet.parameters()).device)
    copy_subnet_weights(supernet, net)
    net.channels_last = supernet.channels_last
    if net.channels_last:
        net.to(memory_format=torch.channels_last)
    return net.train(supernet.training)


def load_subnet_into_supernet(standalone: StandaloneG | StandaloneD,
                              supernet: SuperNetG | SuperNetD) -> None:
    """The inverse of :func:`extract_subnet`: overwrite the supernet's path of `standalone`."""
    src_state = standalone.state_dict()
    dst_state = supernet.state_dict()
    unknown = [k for k in src_state if k not in dst_state]
    if unknown:
        raise KeyError(f"{unknown[0]!r} of the standalone network is not in the supernet")
    supernet.load_state_dict(src_state, strict=False)


@contextmanager
def _detached_sn_weights(net: nn.Module) -> Iterator[None]:
    """Temporarily replace spectral norm's derived ``weight`` tensors by detached ones."""
    saved = {}
    for m in net.modules():
        w = m.__dict__.get("weight")
        if hasattr(m, "weight_orig") and isinstance(w, torch.Tensor) and w.grad_fn is not None:
            saved[m] = w
            m.__dict__["weight"] = w.detach()
    try:
        yield
    finally:
        for m, w in saved.items():
            m.__dict__["weight"] = w


def clone_module(net: M) -> M:
    """``copy.deepcopy`` that also works after a forward pass through spectral-normed layers.

    (Classic spectral norm keeps the last normalised weight as a non-leaf tensor attribute,
    which ``copy.deepcopy`` refuses; it is recomputed from ``weight_orig`` on every forward.)
    """
    with _detached_sn_weights(net):
        return copy.deepcopy(net)
