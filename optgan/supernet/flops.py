"""Measured size of built networks: parameter count and hook-based MAC counting.

The reference for `optgan.search_space.counting` (which computes the same numbers without
building anything). Conventions:

- parameters: sum of ``numel`` over ``named_parameters()`` (spectral norm's ``weight_orig``
  counted; buffers such as ``weight_u`` / BN running statistics not);
- FLOPs: multiply-accumulates for ONE sample, counted by forward hooks on
  ``nn.Conv2d``: out_numel · C_in/groups · k_h · k_w (+ out_numel with a bias),
  ``nn.ConvTranspose2d``: in_numel · C_out/groups · k_h · k_w (+ out_numel with a bias),
  ``nn.Linear``: in · out (+ out with a bias);
  the per-output bias add is counted as the reference code's ``flop_benchmark`` (and thop) do,
  which reproduces SPEC §1.4 (best G 1891.6M, CIFAR-10 D 263.1M). Norms, activations,
  pooling, interpolation and element-wise sums are free. Modules that run are counted, so
  dead nodes of a cell count (they run, as in the reference code).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["count_parameters", "count_macs", "network_macs"]


def count_parameters(net: nn.Module) -> int:
    """Sum of ``numel`` over the named parameters of `net`."""
    return sum(p.numel() for _, p in net.named_parameters())


def _macs(m: nn.Module, inp: torch.Tensor, out: torch.Tensor) -> int:
    bias = out.numel() if getattr(m, "bias", None) is not None else 0
    if isinstance(m, nn.ConvTranspose2d):
        kh, kw = m.kernel_size
        return inp.numel() * (m.out_channels // m.groups) * kh * kw + bias
    if isinstance(m, nn.Conv2d):
        kh, kw = m.kernel_size
        return out.numel() * (m.in_channels // m.groups) * kh * kw + bias
    assert isinstance(m, nn.Linear)
    return out.numel() * m.in_features + bias


@torch.no_grad()
def count_macs(net: nn.Module, inputs: Sequence[object]) -> int:
    """MACs per sample of ``net(*inputs)`` (run once in eval mode; the mode is restored)."""
    total = [0]

    def hook(m: nn.Module, args: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        total[0] += _macs(m, args[0], out)

    first = inputs[0]
    batch = first.shape[0] if isinstance(first, torch.Tensor) else 1
    kinds = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)
    handles = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, kinds)]
    was_training = net.training
    try:
        net.eval()
        net(*inputs)
    finally:
        for h in handles:
            h.remove()
        net.train(was_training)
    assert total[0] % batch == 0
    return total[0] // batch


def network_macs(net: nn.Module, genotype: object | None = None) -> int:
    """MACs per sample of a generator / discriminator of this package (batch-1 input).

    Generators (with ``l1``) get a latent of ``widths.latent_dim``, discriminators an image of
    ``widths.img_size`` (the simple D: its ``img_size``); pass `genotype` for a supernet.
    """
    device = next(net.parameters()).device
    widths = getattr(net, "widths", None)
    if widths is not None and hasattr(net, "l1"):
        x = torch.zeros(1, widths.latent_dim, device=device)
    else:
        side = widths.img_size if widths is not None else int(getattr(net, "img_size"))
        x = torch.zeros(1, 3, side, side, device=device)
    return count_macs(net, (x,) if genotype is None else (x, genotype))
