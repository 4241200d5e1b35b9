"""The generator's 1×1 convs of upsampled inputs at the low resolution against the reference
order (issue 5): one search iteration's G work, both ways side by side; prints one JSON object.

    python bench/upsample_order.py                    # CUDA when present (paper widths), else CPU
    python bench/upsample_order.py --device cpu --channels 64 --batch-d 8 --batch-g 16 --reps 2   # quick

The ``nearest`` up op (interpolate ×2 → ReLU → 1×1 conv) and the up-cells' skip-ins (interpolate
×2 / ×4 → 1×1 conv) compute their conv before the upsampling
(`optgan.supernet.ops.UpsampledConv2d`): the same function for a quarter (a sixteenth) of the
conv's work. This times SuperNet-G on `--members` random members, per member the work of one
stage-`gen` iteration (a no-grad forward on the D step's `--batch-d` latents, a forward and
backward on the G step's `--batch-g`), in the search's arithmetic (CUDA: bf16 autocast +
channels-last; CPU: fp32), with the convs at the low resolution (the default) and in the
reference order (`set_upsample_first`), alternating the two `--reps` times. On CUDA each figure
is the GPU's kernel time (torch.profiler: the search replays CUDA graphs, which remove the host's
launch cost), on the CPU the wall time. Reports both, their ratio and the largest difference of
the images (fp32, relative to their scale).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from optgan.backends import cudnn_autotune, tf32_allowed
from optgan.search_space.genotype import Genotype
from optgan.search_space.random import random_genotype
from optgan.search_space.widths import Widths
from optgan.supernet import build_supernet_g
from optgan.supernet.init import set_channels_last
from optgan.supernet.ops import set_upsample_first

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # the benchmarks' own helpers
from _args import add_generator_shape, kernel_ms, write_json  # noqa: E402

ORDERS = ("low_res", "upsample_first")


def _iteration(net: torch.nn.Module, members: list[Genotype], z_d: torch.Tensor, z_g: torch.Tensor,
               fast: bool) -> Callable[[], None]:
    """One pass over `members`: per member the G work of a stage-gen iteration."""
    autocast = torch.autocast(z_d.device.type, dtype=torch.bfloat16, enabled=fast)

    def run() -> None:
        for genotype in members:
            with torch.no_grad(), autocast:
                net(z_d, genotype)
            with autocast:
                y = net(z_g, genotype)
            y.float().square().mean().backward()
            net.zero_grad(set_to_none=True)
    return run


def _ms(device: torch.device, fn: Callable[[], None]) -> float:
    """Milliseconds of one call of `fn`: GPU kernel time on CUDA, else (CPU, no CUPTI) wall time."""
    busy = kernel_ms(device, fn)
    if busy is not None:
        return busy
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return (time.perf_counter() - start) * 1e3


def _difference(net: torch.nn.Module, reference: torch.nn.Module, members: list[Genotype],
                z: torch.Tensor) -> float:
    """Largest |low-res − reference order| of the images in fp32 (TF32 off), relative to their scale."""
    worst = 0.0
    with torch.no_grad(), tf32_allowed(False):
        for genotype in members:
            a, b = net(z, genotype), reference(z, genotype)
            worst = max(worst, float((a - b).abs().max() / b.abs().max().clamp_min(1e-12)))
    return worst


def arg_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_generator_shape(ap, default_device="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--members", type=int, default=8, help="random members per timed pass")
    ap.add_argument("--reps", type=int, default=5, help="timed passes per order (alternating)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None, help="also write the JSON here")
    return ap


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = arg_parser().parse_args(argv)
    device = torch.device(args.device)
    fast = device.type == "cuda"
    widths = Widths(gf_dim=args.channels, bottom_width=args.bottom_width)
    net = build_supernet_g(widths, generator=torch.Generator().manual_seed(args.seed)).to(device)
    reference = set_upsample_first(copy.deepcopy(net))
    rng = np.random.default_rng(args.seed)
    members = [random_genotype("gen", rng) for _ in range(args.members)]
    gen = torch.Generator().manual_seed(args.seed)
    z_d = torch.randn(args.batch_d, widths.latent_dim, generator=gen).to(device)
    z_g = torch.randn(args.batch_g, widths.latent_dim, generator=gen).to(device)
    difference = _difference(net, reference, members[:4], z_d[:8])
    for m in (net, reference):
        set_channels_last(m, fast)
    runs = {"low_res": _iteration(net, members, z_d, z_g, fast),
            "upsample_first": _iteration(reference, members, z_d, z_g, fast)}
    times: dict[str, list[float]] = {k: [] for k in ORDERS}
    start = time.perf_counter()
    with cudnn_autotune(fast), tf32_allowed(fast):
        for fn in runs.values():  # warm-up: cuDNN's autotuning, allocator, caches
            fn()
        for _ in range(args.reps):
            for name, fn in runs.items():
                times[name].append(_ms(device, fn) / args.members)
    per_iteration = {k: round(statistics.median(v), 3) for k, v in times.items()}
    res: dict[str, Any] = {
        "device": torch.cuda.get_device_name(device) if fast else platform.processor() or "cpu",
        "torch": torch.__version__, "threads": torch.get_num_threads(),
        "arithmetic": "bf16 autocast + channels-last" if fast else "fp32",
        "timing": "GPU kernel time (torch.profiler)" if fast else "wall time",
        "channels": args.channels, "bottom_width": args.bottom_width, "batch_d": args.batch_d,
        "batch_g": args.batch_g, "members": args.members, "reps": args.reps,
        "ms_per_iteration_g_work": per_iteration,
        "ms_per_iteration_all_reps": {k: [round(t, 3) for t in v] for k, v in times.items()},
        "speedup_low_res_vs_upsample_first": round(per_iteration["upsample_first"] / per_iteration["low_res"], 3),
        "max_rel_difference_fp32": difference,
        "bench_seconds": round(time.perf_counter() - start, 1),
    }
    print(json.dumps(res, indent=2))
    write_json(args.out, res)
    return res


if __name__ == "__main__":
    main()
