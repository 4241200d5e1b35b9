"""Where a search iteration's time goes: the cost of every candidate operation of G at its shapes
(issue 5, item 8); prints one JSON object.

    python bench/ops.py                                   # CUDA: paper widths (C 256, batches 40 / 80, 8–32 px)
    python bench/ops.py --device cpu --channels 32 --batch-d 4 --batch-g 8 --reps 2   # a CPU smoke run

One iteration of stage gen runs G forward on `--batch-d` images without autograd (the D step's
fakes), then forward and backward on `--batch-g` images (the G step). This benchmark times each
op module of the search space (`optgan.supernet.ops.make_op`, the very modules the supernet
holds) in those two roles at every resolution G's cells run at, in the search's fast arithmetic
(bf16 autocast, channels-last; `--precisions` adds IEEE fp32), with cuDNN autotuning on as in
the search. On CUDA each figure is the time the GPU spends in kernels (torch.profiler), so an
op too small to fill the GPU is not blamed for the host's launch cost, which the search's CUDA
graphs remove (after `--kernel-budget-s` seconds the rest are timed by wall clock only, to keep
the run short); `wall_ms` is the eager wall time beside it. It reports TFLOP/s of each conv.

It also times three exact re-formulations, each with its largest difference from the native op
and the speed-up over it: the dilated convolutions as dense convs on sub-grids (`@subgrid`: a
dilation-2 conv is a dense conv on each of the four 2×2-strided sub-grids of its input, folded
into the batch, convolved with the same kernel and padding k//2, and interleaved back), and the
depthwise transposed conv of the `conv_transpose` up op and the ×2 bilinear interpolation of
the `bilinear` up op by output phase (`@phases`: a depthwise 2×2 (3×3, fixed, on the
edge-replicated input) conv with four outputs per channel, then a pixel shuffle), as
`optgan.supernet.op_forms` computes them (`op_forms: rewritten` in a config). Whether the search
should use them is decided by what this prints on a GPU.
"""

from __future__ import annotations

import argparse
import copy
import functools
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from optgan.backends import cudnn_autotune, tf32_allowed
from optgan.supernet.op_forms import set_op_forms
from optgan.supernet.ops import UpsampledConv2d, make_op

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # the benchmarks' own helpers
from _args import add_generator_shape, comma_list, kernel_ms, write_json  # noqa: E402

NORMAL = ("conv_1x1", "conv_3x3", "conv_5x5", "dil_conv_3x3", "dil_conv_5x5")
UP = ("nearest", "bilinear", "conv_transpose")
PRECISIONS = ("fast", "fp32")


def conv_gflop(module: nn.Module, x_shape: tuple[int, ...], out_shape: tuple[int, ...]) -> float:
    """Forward GFLOP (2 × MACs) of the convolutions in `module` as computed (0 for parameter-free
    ops; the ``nearest`` up op's conv runs at the input's size: `UpsampledConv2d`)."""
    n, _, h, w = out_shape
    flop = 0
    for m in module.modules():
        if isinstance(m, UpsampledConv2d):
            flop += 2 * n * x_shape[2] * x_shape[3] * m.out_channels * m.in_channels
        elif isinstance(m, nn.Conv2d):
            flop += 2 * n * h * w * m.out_channels * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]
        elif isinstance(m, nn.ConvTranspose2d):  # each input pixel scatters a kernel per channel
            flop += 2 * n * x_shape[2] * x_shape[3] * m.out_channels * (m.in_channels // m.groups) * \
                m.kernel_size[0] * m.kernel_size[1]
    return flop / 1e9


def cases(channels: int, bottom: int) -> list[tuple[str, str | None, int, Callable[[], nn.Module]]]:
    """(name, the native op's name for a re-formulation else None, input side, factory) of every op
    G's cells run, at every resolution (the largest, costliest first: a run cut short by its time
    limit keeps what matters most). A re-formulation comes right after its native op."""
    out: list[tuple[str, str | None, int, Callable[[], nn.Module]]] = []
    rewrites = {("up", "conv_transpose"): "phases", ("up", "bilinear"): "phases", ("normal", "dil_conv_3x3"): "subgrid",
                ("normal", "dil_conv_5x5"): "subgrid"}
    for k in range(3, 0, -1):
        side = bottom * 2 ** k  # a cell's output resolution; its up edges take half that
        for kind, names, in_side in (("up", UP, side // 2), ("normal", NORMAL, side)):
            for name in names:
                native = f"{kind}/{name}@{side}"
                out.append((native, None, in_side, functools.partial(make_op, kind, name, channels)))
                if (kind, name) in rewrites:
                    out.append((f"{kind}/{name}@{rewrites[kind, name]}@{side}", native, in_side,
                                functools.partial(_rewritten_op, kind, name, channels)))
    return out


def _rewritten_op(kind: str, name: str, channels: int) -> nn.Module:
    return set_op_forms(make_op(kind, name, channels), "rewritten")


def _timed(device: torch.device, fn: Callable[[], None], reps: int, kernels: bool) -> tuple[float, float | None]:
    """(wall ms, device-kernel ms or None) per call of `fn`, after two warm-up calls; the kernel
    time only on CUDA and when `kernels` (a profiler session costs a fraction of a second)."""
    for _ in range(2):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    for _ in range(reps):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    wall = (time.perf_counter() - start) / reps * 1e3
    return wall, kernel_ms(device, fn, reps) if kernels else None  # None: the caller uses the wall time



def _measure(module: nn.Module, side: int, args: argparse.Namespace, device: torch.device,
             precision: str, kernels: bool) -> dict[str, Any]:
    fast = precision == "fast"
    fmt = torch.channels_last if fast else torch.contiguous_format
    module = module.to(device).to(memory_format=fmt)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=fast)
    gen = torch.Generator(device="cpu").manual_seed(0)
    dtype = torch.bfloat16 if fast else torch.float32  # in the search an op's input is the last conv's output
    x_d = torch.randn(args.batch_d, args.channels, side, side, generator=gen).to(device, dtype, memory_format=fmt)
    x_g = torch.randn(args.batch_g, args.channels, side, side, generator=gen).to(device, dtype, memory_format=fmt)
    x_g.requires_grad_(True)  # inside G every op's input needs its gradient

    def forward_d() -> None:
        with torch.no_grad(), autocast:
            module(x_d)

    def forward_backward_g() -> None:
        with autocast:
            y = module(x_g)
        y.backward(torch.ones_like(y))
        x_g.grad = None
        module.zero_grad(set_to_none=True)

    with torch.no_grad(), autocast:
        out_shape = tuple(module(x_g).shape)
    res: dict[str, Any] = {"input": [args.batch_g, args.channels, side, side], "output": list(out_shape)}
    for role, fn, batch, flop_factor in (("forward_d", forward_d, args.batch_d, 1), ("forward_backward_g",
                                         forward_backward_g, args.batch_g, 3)):
        wall, kernel_ms = _timed(device, fn, args.reps, kernels)
        gflop = conv_gflop(module, (batch, *x_g.shape[1:]), (batch, *out_shape[1:])) * flop_factor
        ms = kernel_ms if kernel_ms is not None else wall
        res[role] = {"wall_ms": round(wall, 4), "device_ms": None if kernel_ms is None else round(kernel_ms, 4),
                     "gflop": round(gflop, 3), "tflop_per_s": round(gflop / ms, 2) if gflop and ms else None}
    return res


def _difference(module: nn.Module, side: int, args: argparse.Namespace, device: torch.device) -> float:
    """Largest |re-formulation − native (the same module switched back)| of the forward in fp32
    (TF32 off), relative to the output's scale."""
    x = torch.randn(2, args.channels, side, side, generator=torch.Generator().manual_seed(1)).to(device)
    module = module.to(device)
    native = set_op_forms(copy.deepcopy(module), "native")
    with torch.no_grad(), tf32_allowed(False):
        a, b = module(x), native(x)
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-12))


def arg_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_generator_shape(ap, default_device="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--reps", type=int, default=20, help="timed calls per op and role")
    ap.add_argument("--precisions", type=comma_list(PRECISIONS, "precision"), default="fast",
                    help="comma list of: fast (bf16 autocast + channels-last, the search's), fp32 (IEEE)")
    ap.add_argument("--kernel-budget-s", type=float, default=12.0,
                    help="CUDA: after this many seconds, time the remaining ops by wall clock only (no profiler)")
    ap.add_argument("--out", default=None, help="also write the JSON here")
    return ap


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = arg_parser().parse_args(argv)
    device = torch.device(args.device)
    res: dict[str, Any] = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
        "torch": torch.__version__, "channels": args.channels, "batch_d": args.batch_d, "batch_g": args.batch_g,
        "timing": "GPU kernel time (torch.profiler)" if device.type == "cuda" else "wall time",
        "results": {},
    }
    torch.manual_seed(0)
    start = time.perf_counter()
    for precision in (p for p in args.precisions.split(",") if p):
        with cudnn_autotune(True), tf32_allowed(precision != "fp32"):
            for name, native_name, side, factory in cases(args.channels, args.bottom_width):
                module = factory()
                kernels = time.perf_counter() - start < args.kernel_budget_s
                r = _measure(module, side, args, device, precision, kernels)
                if native_name is not None:
                    native = res["results"][f"{precision}/{native_name}"]
                    r["max_rel_difference_fp32"] = _difference(module, side, args, device)
                    for role in ("forward_d", "forward_backward_g"):
                        both = r[role]["device_ms"] is not None and native[role]["device_ms"] is not None
                        key = "device_ms" if both else "wall_ms"
                        r[role]["speedup_vs_native"] = round(native[role][key] / r[role][key], 3)
                res["results"][f"{precision}/{name}"] = r
                write_json(args.out, res)
    res["bench_seconds"] = round(time.perf_counter() - start, 1)
    print(json.dumps(res, indent=2))
    write_json(args.out, res)
    return res


if __name__ == "__main__":
    main()
