"""Exact re-formulations of three candidate ops, for GPUs whose library kernels are slow at them.

Each computes what the native op computes (the same parameters, the same function; only the
rounding of the arithmetic differs), in a form made of dense or depthwise convolutions and
reshapes:

- ``subgrid``: a stride-1 dilation-2 conv is a dense conv on each of the four 2×2-strided
  sub-grids of its input (folded into the batch, same kernel, padding (k−1)/2), interleaved back;
- ``phases`` (the ``conv_transpose`` up op): its depthwise ``ConvTranspose2d(k3, s2, p1,
  output_padding 1)`` is a depthwise 2×2 conv with four outputs per channel (one per output
  phase) followed by a pixel shuffle;
- ``phases`` (the ``bilinear`` up op): the ×2 interpolation (``align_corners=False``) is a fixed
  depthwise 3×3 conv with four outputs per channel on the edge-replicated input, then a pixel
  shuffle.

`set_op_forms(net, "rewritten")` switches every such op of a built network (supernet or
standalone) to these forms; `"native"` switches back. State dicts are unchanged. Which form is
faster is measured by `bench/ops.py` (per op) and `bench/train.py --variants auto+cl+graphs+rw`
(a whole iteration) on the GPU at hand; the default is `native`.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["OP_FORMS", "OpForms", "subgrid_dilated_conv", "phase_depthwise_deconv", "bilinear_phase_kernel",
           "phase_bilinear_up", "set_op_forms"]

OpForms = Literal["native", "rewritten"]
OP_FORMS: tuple[str, ...] = ("native", "rewritten")


def subgrid_dilated_conv(x: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:
    """`conv` (stride 1, dilation d, padding d·(k−1)/2) as a dense conv on the d² sub-grids of `x`.

    Output pixel (d·i + r, d·j + s) reads only input pixels of the same residues (r, s), at dense
    offsets around (i, j): each sub-grid is convolved with the same kernel and padding (k−1)/2.
    The height and width must be multiples of d.
    """
    d = conv.dilation[0]
    n, c, h, w = x.shape
    if conv.stride != (1, 1) or conv.dilation != (d, d) or h % d or w % d:
        raise ValueError(f"sub-grid form needs stride 1, equal dilations and sizes divisible by {d}")
    grids = x.reshape(n, c, h // d, d, w // d, d).permute(0, 3, 5, 1, 2, 4).reshape(n * d * d, c, h // d, w // d)
    y = F.conv2d(grids, conv.weight, conv.bias, padding=(conv.kernel_size[0] - 1) // 2)
    co = y.shape[1]
    return y.reshape(n, d, d, co, h // d, w // d).permute(0, 3, 4, 1, 5, 2).reshape(n, co, h, w)


def _phase_taps(w: torch.Tensor) -> torch.Tensor:
    """Per axis, the taps of a k3 s2 p1 (output padding 1) transposed conv that each output phase
    reads: output 2m reads input m through tap 1 (and nothing: tap 3, a zero pad); output 2m + 1
    reads m through tap 2 and m + 1 through tap 0. `w` (…, 4) → (…, phase, 2), by slicing only
    (no index tensor: nothing is copied from the host, so CUDA graphs can capture it)."""
    return torch.stack([w[..., 1::2], w[..., 0:3:2].flip(-1)], dim=-2)


def phase_depthwise_deconv(x: torch.Tensor, deconv: nn.ConvTranspose2d) -> torch.Tensor:
    """The up op's depthwise `ConvTranspose2d(C, C, 3, 2, 1, output_padding=1, groups=C)` as a
    depthwise 2×2 conv with four outputs per channel (one per output phase) and a pixel shuffle."""
    c = x.shape[1]
    if deconv.groups != c or deconv.stride != (2, 2) or deconv.kernel_size != (3, 3) or deconv.padding != (1, 1) \
            or deconv.output_padding != (1, 1) or deconv.bias is not None:
        raise ValueError("phase form needs the up op's depthwise k3 s2 p1 transposed conv without bias")
    w = F.pad(deconv.weight[:, 0], (0, 1, 0, 1))  # (C, 4, 4): tap 3 reads zero
    by_col = _phase_taps(w)  # (C, row, s, v): the column taps of column phase s
    both = _phase_taps(by_col.permute(0, 2, 3, 1))  # (C, s, v, r, u)
    kernel = both.permute(0, 3, 1, 4, 2).reshape(4 * c, 1, 2, 2)  # (c, r, s, u, v)
    return F.pixel_shuffle(F.conv2d(F.pad(x, (0, 1, 0, 1)), kernel, groups=c), 2)


def bilinear_phase_kernel(c: int) -> torch.Tensor:
    """The fixed (4·c, 1, 3, 3) kernel of :func:`phase_bilinear_up`, per channel (phase r, s)."""
    taps = torch.tensor([[0.25, 0.75, 0.0], [0.0, 0.75, 0.25]])  # (phase, tap)
    return (taps[:, None, :, None] * taps[None, :, None, :]).reshape(4, 1, 3, 3).repeat(c, 1, 1, 1)


def phase_bilinear_up(x: torch.Tensor, kernel: torch.Tensor | None = None) -> torch.Tensor:
    """`F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)` by output phase: per
    axis, output 2m is ¼·x[m−1] + ¾·x[m] and 2m + 1 is ¾·x[m] + ¼·x[m+1], edges replicated, so a
    fixed depthwise 3×3 conv with four outputs per channel on the edge-padded input, then a pixel
    shuffle. `kernel`: :func:`bilinear_phase_kernel` on `x`'s device (the op keeps it as a buffer:
    no copy from the host per call)."""
    c = x.shape[1]
    kernel = bilinear_phase_kernel(c).to(x) if kernel is None else kernel.to(x.dtype)
    return F.pixel_shuffle(F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), kernel, groups=c), 2)


def set_op_forms(net: nn.Module, forms: str) -> nn.Module:
    """Compute every op of `net` that has a re-formulation in it (`rewritten`) or natively
    (`native`); returns `net`. Parameters, buffers that state dicts hold, and outputs (up to
    rounding) are unchanged."""
    if forms not in OP_FORMS:
        raise ValueError(f"op forms {forms!r}: use one of {', '.join(OP_FORMS)}")
    for m in net.modules():
        set_rewritten = getattr(m, "set_rewritten", None)
        if set_rewritten is not None:  # the op modules of optgan.supernet.ops that have another form
            set_rewritten(forms == "rewritten")
    return net
