"""The candidate operations of the AdversarialNAS cells (SPEC §1.1) and their one factory.

Every op module is built by :func:`make_op`, used alike by the supernets (all candidates of an
edge) and the standalone networks (the genotype's op only), so a subnet's state-dict keys are
the standalone network's keys. Conventions (the reference code's):

- ``normal`` ops: pre-activated ReLU → ``Conv2d(C, C)`` with bias (dilated: dilation 2,
  padding 2 / 4); ``skip_connect`` = identity; ``none`` has no module (the edge is skipped).
- ``up`` ops: ``nearest`` / ``bilinear`` = interpolate ×2 → ReLU → 1×1 conv with bias (``nearest``
  computed as ReLU → 1×1 conv → interpolate, see :class:`UpsampledConv2d`);
  ``conv_transpose`` = ReLU → depthwise ``ConvTranspose2d(k3, s2, p1, output_padding 1)`` →
  1×1 conv, neither with bias.
- ``down`` ops: 2×2 stride-2 avg / max pooling (``ceil_mode``, so odd sizes round up like the
  stride-2 convs do; no difference for even sizes), or ReLU → stride-2 conv.

A 1×1 conv whose input is upsampled first (the ``nearest`` up op, the up-cells' skip-ins) is an
:class:`UpsampledConv2d`: it runs at the low resolution and upsamples its output, the same function
(a 1×1 conv mixes channels per pixel, an interpolation mixes pixels per channel with weights that
sum to one; ReLU commutes with nearest's copying) for a quarter (×4 skips: a sixteenth) of the
conv's work. `set_upsample_first(net)` restores the reference code's order (tests, benchmarks).

Three ops can be computed in an exactly equivalent form instead (:mod:`optgan.supernet.op_forms`,
`set_op_forms`): dilated convs on sub-grids, the ``conv_transpose`` and ``bilinear`` up ops by
output phase. Off by default; a module's parameters and state-dict keys are the same either way.

Spectral norm is the classic ``torch.nn.utils.spectral_norm`` (parameter ``weight_orig``,
buffers ``weight_u`` / ``weight_v``; the module stays a plain ``nn.Conv2d``). ReLUs are never
in place: an op's input is shared with the other edges leaving the same node.
"""

from __future__ import annotations

from typing import Any, TypeVar, cast

import torch
import torch.nn.functional as F
from torch import nn

from optgan.search_space.ops import DOWN_OPS, NORMAL_OPS, UP_OPS
from optgan.supernet.op_forms import (
    bilinear_phase_kernel,
    phase_bilinear_up,
    phase_depthwise_deconv,
    subgrid_dilated_conv,
)

__all__ = ["ConvOp", "UpsampledConv2d", "set_upsample_first", "InterpUp", "ConvTransposeUp", "PoolOp", "make_op", "sn"]

M = TypeVar("M", bound=nn.Module)

# name → (kernel, dilation); padding keeps the size at stride 1
_CONV_GEOMETRY = {
    "conv_1x1": (1, 1),
    "conv_3x3": (3, 1),
    "conv_5x5": (5, 1),
    "dil_conv_3x3": (3, 2),
    "dil_conv_5x5": (5, 2),
}


def sn(module: M, enabled: bool = True) -> M:
    """`module` with classic spectral norm (``weight_orig``) when `enabled`."""
    return nn.utils.spectral_norm(module) if enabled else module


class ConvOp(nn.Module):
    """(ReLU →) Conv2d(C, C) with bias; optional stride 2 and spectral norm."""

    def __init__(self, c: int, kernel: int, dilation: int = 1, stride: int = 1,
                 spectral: bool = False, pre_relu: bool = True) -> None:
        super().__init__()
        self.pre_relu = pre_relu
        pad = dilation * (kernel - 1) // 2
        self.conv = sn(nn.Conv2d(c, c, kernel, stride, pad, dilation), spectral)
        self.subgrid = False  #: dilated, stride 1: computed on sub-grids (:mod:`optgan.supernet.op_forms`)

    def set_rewritten(self, on: bool) -> None:
        # not under spectral norm: its hook, which sets `conv.weight`, runs only when `conv` is called
        spectral = hasattr(self.conv, "weight_orig")
        self.subgrid = on and self.conv.dilation != (1, 1) and self.conv.stride == (1, 1) and not spectral

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(x) if self.pre_relu else x
        if self.subgrid and x.shape[-1] % 2 == 0 and x.shape[-2] % 2 == 0:
            return subgrid_dilated_conv(x, self.conv)
        return self.conv(x)


class UpsampledConv2d(nn.Conv2d):
    """A 1×1 conv of an upsampled input: ``conv(interpolate(x, size))`` computed as
    ``interpolate(conv(x), size)``, exactly the same function (both maps are linear, one over
    channels and one over pixels, and an interpolation's weights sum to one, so the bias
    commutes too) at the input's resolution. Called without `size` it is a plain conv. Its
    output has the upsampled size, so hooks (`optgan.supernet.flops`) see the conv it stands
    for; parameters and state-dict keys are a ``nn.Conv2d``'s."""

    upsample_first = False  #: the reference order (`set_upsample_first`): interpolate, then conv

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.kernel_size != (1, 1) or self.stride != (1, 1) or self.padding != (0, 0):
            raise ValueError("an UpsampledConv2d is a 1×1 conv with stride 1 and no padding (only those commute "
                             f"with an upsampling), got kernel {self.kernel_size}, stride {self.stride}, "
                             f"padding {self.padding}")

    def forward(self, x: torch.Tensor, size: tuple[int, int] | torch.Size | None = None,  # type: ignore[override]
                mode: str = "nearest") -> torch.Tensor:
        if size is None:
            return super().forward(x)
        align = False if mode == "bilinear" else None
        if self.upsample_first:
            return super().forward(F.interpolate(x, size=size, mode=mode, align_corners=align))
        return F.interpolate(super().forward(x), size=size, mode=mode, align_corners=align)


def set_upsample_first(net: nn.Module, on: bool = True) -> nn.Module:
    """Compute every :class:`UpsampledConv2d` of `net` in the reference order (upsample, then
    conv: four or sixteen times the conv's work) when `on`, else at the low resolution (the
    default); the function is the same up to rounding. Returns `net`."""
    for m in net.modules():
        if isinstance(m, UpsampledConv2d):
            m.upsample_first = on
    return net


class InterpUp(nn.Module):
    """Interpolate ×2 (`mode` nearest / bilinear) → ReLU → 1×1 conv with bias; ``nearest`` as
    ReLU → 1×1 conv → interpolate (:class:`UpsampledConv2d`: ReLU and the conv commute with
    nearest's copying), a quarter of the work."""

    def __init__(self, c: int, mode: str) -> None:
        super().__init__()
        self.mode = mode
        self.align = False if mode == "bilinear" else None
        self.conv = UpsampledConv2d(c, c, 1) if mode == "nearest" else nn.Conv2d(c, c, 1)
        self.phases = False  #: bilinear: interpolated by output phase (:mod:`optgan.supernet.op_forms`)

    def set_rewritten(self, on: bool) -> None:
        self.phases = on and self.mode == "bilinear"
        if self.phases and not hasattr(self, "phase_kernel"):  # not in state dicts; moves with the module
            self.register_buffer("phase_kernel", bilinear_phase_kernel(self.conv.in_channels).to(self.conv.weight),
                                 persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "nearest":
            return self.conv(F.relu(x), (2 * x.shape[-2], 2 * x.shape[-1]))
        if self.phases:
            x = phase_bilinear_up(x, cast(torch.Tensor, self.phase_kernel))
        else:
            x = F.interpolate(x, scale_factor=2.0, mode=self.mode, align_corners=self.align)
        return self.conv(F.relu(x))


class ConvTransposeUp(nn.Module):
    """ReLU → depthwise ConvTranspose2d(k3, s2, p1, output_padding 1) → 1×1 conv, no biases."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.deconv = nn.ConvTranspose2d(c, c, 3, 2, 1, output_padding=1, groups=c, bias=False)
        self.conv = nn.Conv2d(c, c, 1, bias=False)
        self.phases = False  #: computed by output phase (:mod:`optgan.supernet.op_forms`)

    def set_rewritten(self, on: bool) -> None:
        self.phases = on

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(x)
        return self.conv(phase_depthwise_deconv(x, self.deconv) if self.phases else self.deconv(x))


class PoolOp(nn.Module):
    """2×2 stride-2 average or max pooling (no parameters, no ReLU)."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.avg = kind == "avg_pool"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.avg:
            return F.avg_pool2d(x, 2, 2, ceil_mode=True)
        return F.max_pool2d(x, 2, 2, ceil_mode=True)


def make_op(kind: str, name: str, c: int, *, spectral: bool = False,
            pre_relu: bool = True) -> nn.Module:
    """The module of op `name` of vocabulary `kind` (``up``, ``normal``, ``down``) at width `c`.

    `spectral` wraps every conv in spectral norm (the discriminator); `pre_relu=False` drops the
    leading ReLU of a normal conv (a discriminator cell's e4). ``none`` / ``no_down`` have no
    module: the caller skips those edges.
    """
    vocab = {"up": UP_OPS, "normal": NORMAL_OPS, "down": DOWN_OPS}.get(kind)
    if vocab is None or name not in vocab or name == "none":
        raise ValueError(f"no module for op {name!r} of kind {kind!r}")
    if kind == "up":
        return ConvTransposeUp(c) if name == "conv_transpose" else InterpUp(c, name)
    if name == "skip_connect":
        return nn.Identity()
    if name in ("avg_pool", "max_pool"):
        return PoolOp(name)
    kernel, dilation = _CONV_GEOMETRY[name]
    stride = 2 if kind == "down" else 1
    return ConvOp(c, kernel, dilation, stride, spectral, pre_relu)
