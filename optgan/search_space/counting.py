"""Exact parameter counts and FLOPs of G and D from a genotype and widths, without torch.

Parameters are counted as the networks built by `optgan.supernet` count them: the sum of
`numel` over named parameters (spectral norm's `weight_orig` counted, buffers not); modules of
dead nodes are built and counted (SPEC §1.4). FLOPs are multiply-accumulates for one sample as
counted by hooks on conv, conv-transpose and linear layers (`optgan.supernet.flops`):
conv = out_numel · C_in/groups · k², conv-transpose = in_numel · C_out/groups · k²,
linear = in · out, plus one per output element for a bias (as thop counts); norms,
activations, pooling and interpolation are free. This reproduces SPEC §1.4 (1891.6M, 263.1M).
Results are memoised: the sampler calls these thousands of times per generation.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from optgan.search_space.genotype import Genotype
from optgan.search_space.ops import NO_DOWN
from optgan.search_space.widths import Widths

__all__ = ["SizeReport", "count_params", "count_flops", "size_report"]

# kernel size of each conv op (dilated convs have the parameters of their kernel size)
_KERNEL = {"conv_1x1": 1, "conv_3x3": 3, "conv_5x5": 5, "dil_conv_3x3": 3, "dil_conv_5x5": 5}
# effective receptive-field geometry of the stride-2 down convs: (kernel, dilation, padding)
_DOWN_GEOMETRY = {
    "conv_3x3": (3, 1, 1),
    "conv_5x5": (5, 1, 2),
    "dil_conv_3x3": (3, 2, 2),
    "dil_conv_5x5": (5, 2, 4),
}


@dataclass(frozen=True)
class SizeReport:
    """Parameter counts: per searched cell, the fixed (non-searched) part, and the total."""

    per_cell: tuple[int, int, int]
    fixed: int
    total: int


def count_params(genotype: Genotype, widths: Widths) -> SizeReport:
    """Exact parameter count of the standalone network of `genotype` at `widths`."""
    return _count_params(genotype, widths)


def size_report(genotype: Genotype, widths: Widths) -> SizeReport:
    """Alias of :func:`count_params`."""
    return _count_params(genotype, widths)


def count_flops(genotype: Genotype, widths: Widths) -> int:
    """Multiply-accumulates of one forward pass (batch 1) of the standalone network."""
    return _count_flops(genotype, widths)


# ---------------------------------------------------------------------- parameters


def _conv_params(c_in: int, c_out: int, k: int, bias: bool = True) -> int:
    return c_in * c_out * k * k + (c_out if bias else 0)


def _normal_params(op: str, c: int) -> int:
    return _conv_params(c, c, _KERNEL[op]) if op in _KERNEL else 0


def _up_params(op: str, c: int) -> int:
    if op == "conv_transpose":  # depthwise 3×3 transpose conv + 1×1 conv, neither with bias
        return c * 9 + c * c
    return _conv_params(c, c, 1)  # nearest / bilinear: interpolate, ReLU, 1×1 conv


def _down_params(op: str, c: int) -> int:
    return _conv_params(c, c, _DOWN_GEOMETRY[op][0]) if op in _DOWN_GEOMETRY else 0


@lru_cache(maxsize=1 << 16)
def _count_params(g: Genotype, w: Widths) -> SizeReport:
    if g.net == "gen":
        c, bw, chunk = w.gf_dim, w.bottom_width, w.latent_chunk
        linears = sum(chunk * (bw * 2**k) ** 2 * c + (bw * 2**k) ** 2 * c for k in range(3))
        to_rgb = 2 * c + _conv_params(c, 3, 3)
        cells = tuple(
            _up_params(ops[0], c) + _up_params(ops[1], c)
            + sum(_normal_params(op, c) for op in ops[2:])
            + k * _conv_params(c, c, 1)  # 1×1 convs of the skip-ins from earlier cells
            for k, ops in enumerate(g.cells)
        )
        fixed = linears + to_rgb
    else:
        c = w.df_dim
        stem = _conv_params(3, c, 3) + _conv_params(c, c, 3) + _conv_params(3, c, 1)
        head = c  # SN-Linear(C → 1) without bias
        cells = tuple(
            sum(_normal_params(op, c) for op in ops[:5])
            + _down_params(ops[5], c)
            + (0 if ops[5] == NO_DOWN else _down_params(ops[6], c))
            for ops in g.cells
        )
        fixed = stem + head
    return SizeReport(cells, fixed, fixed + sum(cells))  # type: ignore[arg-type]


# ---------------------------------------------------------------------- FLOPs


def _down_out(size: int, op: str) -> int:
    if op in _DOWN_GEOMETRY:
        k, d, p = _DOWN_GEOMETRY[op]
        return (size + 2 * p - d * (k - 1) - 1) // 2 + 1
    return (size + 1) // 2  # 2×2 pooling, stride 2, ceil_mode (matches the stride-2 convs)


@lru_cache(maxsize=1 << 16)
def _count_flops(g: Genotype, w: Widths) -> int:
    return _gen_flops(g, w) if g.net == "gen" else _disc_flops(g, w)


def _gen_flops(g: Genotype, w: Widths) -> int:
    c, bw, chunk = w.gf_dim, w.bottom_width, w.latent_chunk
    total = sum((chunk + 1) * (bw * 2**k) ** 2 * c for k in range(3))  # linears with bias
    for k, ops in enumerate(g.cells):
        s_in = bw * 2**k
        area = (2 * s_in) ** 2
        for op in ops[:2]:
            if op == "conv_transpose":  # depthwise (in_numel · 1 · 9) + 1×1, no biases
                total += s_in * s_in * c * 9 + area * c * c
            else:  # interpolate + 1×1 conv with bias
                total += area * c * (c + 1)
        total += sum(area * c * (c * _KERNEL[op] ** 2 + 1) for op in ops[2:] if op in _KERNEL)
        total += k * area * c * (c + 1)  # skip-in 1×1 convs
    final = (8 * bw) ** 2
    return total + final * 3 * (c * 9 + 1)


def _disc_flops(g: Genotype, w: Widths) -> int:
    c, s = w.df_dim, w.img_size
    half = s // 2
    total = s * s * c * (3 * 9 + 1) + s * s * c * (c * 9 + 1) + half * half * c * (3 + 1)  # stem
    t = half
    for ops in g.cells:
        area = t * t
        total += sum(area * c * (c * _KERNEL[op] ** 2 + 1) for op in ops[:5] if op in _KERNEL)
        if ops[5] == NO_DOWN:
            continue
        for op in ops[5:7]:
            if op in _DOWN_GEOMETRY:
                out = _down_out(t, op)
                total += out * out * c * (c * _DOWN_GEOMETRY[op][0] ** 2 + 1)
        t = _down_out(t, ops[5])
    return total + c  # head: SN-Linear(C → 1)
