"""Deterministic construction and initialisation of the networks, and memory-format helpers.

Building a module draws PyTorch's default initialisation (and spectral norm's ``u`` / ``v``)
from the global CPU RNG. :func:`seeded` runs a construction under a forked RNG seeded from an
injected ``torch.Generator``, so the global state is neither read nor changed.
:func:`init_weights` is the reference code's ``weights_init``: on every plain ``nn.Conv2d``
(spectral norm's ``weight_orig`` when present) xavier-uniform (or ``normal`` N(0, 0.02) /
``orth``), and on every affine ``BatchNorm2d`` weight ~ N(1, 0.02), bias 0; linear layers,
conv biases and transposed convs keep PyTorch's defaults (as in the code).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import cast

import torch
from torch import nn

from optgan.errors import ConfigError

__all__ = ["INIT_KINDS", "seeded", "init_weights", "set_channels_last"]

INIT_KINDS = ("xavier_uniform", "normal", "orth")


@contextmanager
def seeded(generator: torch.Generator | None) -> Iterator[None]:
    """Run the body under a private CPU RNG seeded from `generator` (no-op for None)."""
    if generator is None:
        yield
        return
    seed = int(torch.randint(0, 2**62, (1,), generator=generator))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def init_weights(net: nn.Module, kind: str = "xavier_uniform",
                 generator: torch.Generator | None = None) -> nn.Module:
    """Apply the reference ``weights_init`` to `net` in place (see the module docstring)."""
    if kind not in INIT_KINDS:
        raise ConfigError(f"`init` = {kind!r} is not allowed; use one of {', '.join(INIT_KINDS)}")
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.Conv2d):  # and its subclass UpsampledConv2d, not ConvTranspose2d
                w = cast(torch.Tensor, m.weight_orig if hasattr(m, "weight_orig") else m.weight)
                if kind == "normal":
                    nn.init.normal_(w, 0.0, 0.02, generator=generator)
                elif kind == "orth":
                    nn.init.orthogonal_(w, generator=generator)
                else:
                    nn.init.xavier_uniform_(w, 1.0, generator=generator)
            elif type(m) is nn.BatchNorm2d and m.affine:
                nn.init.normal_(m.weight, 1.0, 0.02, generator=generator)
                nn.init.zeros_(m.bias)
    return net


def set_channels_last(net: nn.Module, enabled: bool = True) -> nn.Module:
    """Convert `net`'s 4-d weights to channels-last (or back) and make its forward feed it so.

    The networks of this package read the ``channels_last`` attribute in ``forward`` to put
    the tensors they create (reshaped latents, input images) into the same memory format.
    """
    fmt = torch.channels_last if enabled else torch.contiguous_format
    net.to(memory_format=fmt)
    for m in net.modules():
        if hasattr(m, "channels_last"):
            setattr(m, "channels_last", enabled)
    return net
