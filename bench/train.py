"""Speed of the supernet search's training loop (issue 5, item 8); prints one JSON object.

    python bench/train.py                 # CUDA when present (paper widths), else CPU (small widths)
    python bench/train.py --device cpu    # the quick CPU run CI uses (< 60 s on 2 cores)

Measures stage-`gen` iterations/s (one D step at D's batch size + one G step at G's batch size,
n_critic 1, `simple` D) in the warm-up phase (a new random architecture every iteration: eager)
and the round phase (P = 32 members; CUDA graphs replayed per member on the fast path), for the
fast path (bf16 autocast + channels-last [+ graphs]) and the plain fp32 path (TF32 off), and on
CUDA for the `--variants` asked (e.g. `auto+cl+graphs+rw`: the fast path with `op_forms:
rewritten`). It counts the ATen ops each iteration dispatches (casts, views, the rest: the host's
work per iteration, measurable on any device; on the CPU also under bf16 autocast, as CUDA runs
its warm-up). It also
trains both paths from the same seed for a few hundred iterations (half warm-up, half round) and
compares their loss curves. Last, it runs two real rounds of stage `gen` through the runner
(P members asked from an SQLite study, trained, scored with the metrics evaluator, told, round
pictures, checkpoint) and reports the second round's phases as measured (`round_seconds`) and
scaled to a paper round (10 epochs of 50,000 images at batch 40 = 12,500 iterations, 5,000
images per member). `--blocks N` makes every phase at most N blocks (the CI smoke test).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from dataclasses import dataclass, replace
from functools import partial
from typing import Any, cast

import numpy as np
import torch

from optgan.config.search import GenStageConfig
from optgan.config.study import StudyConfig
from optgan.search_space.random import random_genotype
from optgan.search_space.widths import Widths
from optgan.trainer.data import ImageSet
from optgan.trainer.search_training import SearchTrainer, make_stage_trainer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # the benchmarks' own helpers
from _args import comma_list, device_time_us, verdict, write_json  # noqa: E402
from _whole_round import whole_round  # noqa: E402

REFERENCE_ITS = 16.0  # EAGAN's stage-1 loop on one H100 (SPEC §7)
ROUND_TARGET_ITS = 125.0  # issue #5: at least 8x the reference on an H100


@dataclass(frozen=True)
class _Plan:
    widths: Widths
    batch_d: int
    batch_g: int
    num_images: int
    warm_blocks: int  # untimed blocks before each timed phase
    blocks: int  # timed blocks per phase
    fp32_blocks: int
    compare_steps: int
    eval_images: int  # images generated and scored per member in the whole-round measurement
    round_iters: int  # iterations trained per round in the whole-round measurement
    population: int = 32


GPU_PLAN = _Plan(Widths(), 40, 80, 50_000, 400, 1500, 300, 400, 5000, 500)
CPU_PLAN = _Plan(Widths(gf_dim=16, df_dim=16, latent_dim=12, bottom_width=2), 8, 16, 512, 2, 8, 6, 16, 50, 4)


def _images(plan: _Plan, path: str | None) -> ImageSet:
    side = plan.widths.img_size
    labels = None
    if path:
        d = np.load(path)
        images = torch.from_numpy(d["images"]).permute(0, 3, 1, 2).contiguous()[:, :, :side, :side]
        labels = torch.from_numpy(d["labels"].astype(np.int64)) if "labels" in d else None
    else:
        gen = torch.Generator().manual_seed(0)
        images = torch.randint(0, 256, (plan.num_images, 3, side, side), dtype=torch.uint8, generator=gen)
    return ImageSet(images.contiguous(), labels, None, "bench", "bench")


def _trainer(plan: _Plan, images: ImageSet, device: torch.device, precision: str, channels_last: bool,
             graphs: bool, op_forms: str = "native") -> SearchTrainer:
    # GenStageConfig checks both names: an unknown one is a one-line ConfigError
    stage = GenStageConfig(batch_size_d=plan.batch_d, batch_size_g=plan.batch_g, precision=cast(Any, precision),
                           channels_last=channels_last, cuda_graphs=graphs, op_forms=cast(Any, op_forms))
    trainer = make_stage_trainer(StudyConfig(widths=plan.widths, gen_stage=stage), "gen", device=device, images=images)
    trainer.progress = False
    return trainer


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(device: torch.device, fn: Any) -> tuple[float, Any]:
    _sync(device)
    t0 = time.perf_counter()
    out = fn()
    _sync(device)
    return time.perf_counter() - t0, out


def _rate(trainer: SearchTrainer, device: torch.device, blocks: int, warm: int, population: list | None) -> float:
    """Iterations/s of `blocks` blocks (warm-up phase when population is None), after `warm` untimed."""
    def run(n: int) -> Any:
        trainer.iters_per_epoch = n * trainer.n_critic
        return trainer.warmup(1) if population is None else trainer.train_round(population, 1)

    run(warm)
    seconds, stats = _timed(device, lambda: run(blocks))
    rate = stats.iterations / seconds
    print(f"{'warm-up' if population is None else 'round'}: {rate:.2f} it/s ({trainer.runner.precision})",
          file=sys.stderr, flush=True)
    return rate


def _curve(trainer: SearchTrainer, population: list, steps: int) -> list[tuple[float, float]]:
    trainer.iters_per_epoch = trainer.n_critic
    out = []
    for i in range(steps):
        s = trainer.warmup(1) if i < steps // 2 else trainer.train_round(population, 1)
        out.append((s.loss_d, s.loss_g))
    return out


def _compare(curves: dict[str, list[tuple[float, float]]], window: int) -> dict[str, Any]:
    """Windowed means of both paths' losses and their largest / mean absolute differences."""
    arr = {k: np.asarray(v, dtype=np.float64) for k, v in curves.items()}
    n = min(len(v) for v in arr.values()) // window * window
    means = {k: v[:n].reshape(-1, window, 2).mean(axis=1) for k, v in arr.items()}
    diff = np.abs(means["fp32"] - means["fast"])
    corr = [float(np.corrcoef(arr["fp32"][:n, j], arr["fast"][:n, j])[0, 1]) for j in (0, 1)]
    return {
        "steps": n, "window": window,
        "loss_d_windows": {k: np.round(m[:, 0], 4).tolist() for k, m in means.items()},
        "loss_g_windows": {k: np.round(m[:, 1], 4).tolist() for k, m in means.items()},
        "max_abs_window_diff": {"loss_d": float(diff[:, 0].max()), "loss_g": float(diff[:, 1].max())},
        "mean_abs_window_diff": {"loss_d": float(diff[:, 0].mean()), "loss_g": float(diff[:, 1].mean())},
        "per_step_correlation": {"loss_d": corr[0], "loss_g": corr[1]},
        "nonfinite": {k: int(np.sum(~np.isfinite(v))) for k, v in arr.items()},
    }


def _op_counts(trainer: SearchTrainer, population: list | None, blocks: int) -> dict[str, float]:
    """ATen ops dispatched per iteration by `blocks` warm-up (population None) or round blocks, by
    kind: `casts` (``_to_copy``: autocast's weight and gradient casts), `views` (no kernel: detach,
    view, t, …) and `kernels` (the rest). On the host each op costs its dispatch (and on CUDA its
    kernel launch), so these counts measure a warm-up's host work on any device; a CUDA graph's
    replay dispatches nothing."""
    from torch.utils._python_dispatch import TorchDispatchMode

    counts = {"casts": 0, "views": 0, "kernels": 0}

    class _Count(TorchDispatchMode):
        def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
            kind = "casts" if func.overloadpacket.__name__ == "_to_copy" else "views" if func.is_view else "kernels"
            counts[kind] += 1
            return func(*args, **(kwargs or {}))

    trainer.iters_per_epoch = blocks * trainer.n_critic
    with _Count():
        stats = trainer.warmup(1) if population is None else trainer.train_round(population, 1)
    per_it = {k: round(v / stats.iterations, 1) for k, v in counts.items()}
    return {"total": round(sum(per_it.values()), 1), **per_it}


def _profile(trainer: SearchTrainer, device: torch.device, population: list, path: str) -> dict[str, Any]:
    """Kernel table of a few warm-up and round blocks, and host vs device time per iteration
    (the table goes to `path`; the times are also returned, for the JSON)."""
    from torch.profiler import ProfilerActivity, profile

    lines, per_it = [], {}
    for phase in ("warmup", "round"):
        trainer.iters_per_epoch = 20
        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
            seconds, _ = _timed(device, lambda: trainer.warmup(1) if phase == "warmup" else trainer.train_round(population, 1))
        events = prof.key_averages()
        dev_us = device_time_us(prof)
        wall_ms, busy_ms = seconds / 20 * 1e3, dev_us / 20 / 1e3
        per_it[phase] = {"wall_ms_per_it": round(wall_ms, 3), "device_busy_ms_per_it": round(busy_ms, 3)}
        lines.append(f"== {phase}: wall {wall_ms:.2f} ms/it, device busy {busy_ms:.2f} ms/it")
        lines.append(events.table(sort_by="self_device_time_total", row_limit=30))
    with open(path, "w") as f:
        f.write("\n".join(lines))
    return per_it


def _safe(fn: Any, errors: dict[str, str], name: str) -> Any:
    try:
        return fn()
    except Exception as e:  # keep measuring the other phases; report the failure
        errors[name] = f"{type(e).__name__}: {str(e).splitlines()[0][:300] if str(e) else ''}"
        return None


def _is_variant(name: str) -> bool:
    """precision[+cl][+graphs][+rw], e.g. `bf16+cl+graphs` (`rw`: `op_forms: rewritten`)."""
    precision, *flags = name.split("+")
    return precision in ("auto", "bf16", "tf32", "fp32") and len(set(flags)) == len(flags) \
        and set(flags) <= {"cl", "graphs", "rw"}


def _at_paper_scale(plan: _Plan) -> bool:
    """Paper widths, D batch 40 / G batch 80 and P = 32: the set-up issue #5's target is for."""
    return (plan.widths, plan.batch_d, plan.batch_g, plan.population) == \
        (GPU_PLAN.widths, GPU_PLAN.batch_d, GPU_PLAN.batch_g, 32)


def arg_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--data", default=None, help=".npz with `images` (N×H×W×3 uint8); default: random")
    ap.add_argument("--blocks", type=int, default=None, help="timed iterations per phase")
    ap.add_argument("--compare-steps", type=int, default=None)
    ap.add_argument("--skip", default="", type=comma_list({"fp32", "compare", "round"}.__contains__, "phase"),
                    help="comma list of: fp32,compare,round")
    ap.add_argument("--out", default=None, help="also write the JSON here after every phase (partial runs)")
    ap.add_argument("--population", type=int, default=None, help="members per round (default 32)")
    ap.add_argument("--eval-images", type=int, default=None, help="whole round: images scored per member")
    ap.add_argument("--inception-weights", default=None,
                    help="whole round: score with Inception (these weights); default: the classifier extractor")
    ap.add_argument("--metrics-mode", choices=["exact", "fast"], default="exact", help="whole round: metrics.mode")
    ap.add_argument("--variants", default="auto+cl", type=comma_list(_is_variant, "variant"),
                    help="CUDA only: extra paths, precision[+cl][+graphs][+rw] (precision: auto, bf16, tf32, fp32; "
                         "rw: the rewritten op forms), comma list")
    ap.add_argument("--profile", default=None, help="CUDA only: write a torch.profiler table to this file")
    return ap


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = arg_parser().parse_args(argv)
    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device)
    plan = GPU_PLAN if device.type == "cuda" else CPU_PLAN
    if args.blocks:  # a short run (CI smoke test): every phase at most `--blocks` blocks
        plan = replace(plan, blocks=args.blocks, fp32_blocks=min(plan.fp32_blocks, args.blocks),
                       warm_blocks=min(plan.warm_blocks, args.blocks), round_iters=min(plan.round_iters, args.blocks))
    plan = replace(plan, population=args.population or plan.population,
                   eval_images=args.eval_images or plan.eval_images)
    plan = replace(plan, compare_steps=args.compare_steps or plan.compare_steps)
    skip = set(filter(None, args.skip.split(",")))
    images = _images(plan, args.data)
    rng = np.random.default_rng(1)
    population = [random_genotype("gen", rng) for _ in range(plan.population)]
    errors: dict[str, str] = {}
    t_start = time.perf_counter()

    fast = _trainer(plan, images, device, "auto", True, True)
    res: dict[str, Any] = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
        "torch": torch.__version__,
        "widths": {"gf_dim": plan.widths.gf_dim, "df_dim": plan.widths.df_dim, "latent_dim": plan.widths.latent_dim,
                   "img_size": plan.widths.img_size},
        "batch_size_d": plan.batch_d, "batch_size_g": plan.batch_g, "population": plan.population,
        "fast_path": {"precision": fast.runner.precision.dtype, "channels_last": fast.runner.precision.channels_last,
                      "cuda_graphs": fast.runner.precision.cuda_graphs,
                      "cudnn_benchmark": fast.runner.precision.cudnn_benchmark},
    }
    its: dict[str, Any] = {}
    its["warmup_fast"] = _safe(partial(_rate, fast, device, plan.blocks, plan.warm_blocks, None), errors, "warmup_fast")
    its["round_fast"] = _safe(partial(_rate, fast, device, plan.blocks, plan.warm_blocks, population), errors, "round_fast")
    res["cuda_graphs_captured"] = fast.runner.num_graphs
    # host work per iteration: the fast path's ops (its round replays graphs on CUDA), and on the CPU
    # also bf16 autocast's, whose casts are what CUDA's eager warm-up dispatches
    ops = {"warmup_fast": _safe(partial(_op_counts, fast, None, 4), errors, "ops_warmup_fast"),
           "round_fast": _safe(partial(_op_counts, fast, population, 4), errors, "ops_round_fast")}
    if device.type == "cpu":
        bf16 = _trainer(plan, images, device, "bf16", False, False)
        ops["warmup_bf16"] = _safe(partial(_op_counts, bf16, None, 4), errors, "ops_warmup_bf16")
        del bf16
    res["aten_ops_per_iteration"] = ops
    variants = [v for v in args.variants.split(",") if v] if device.type == "cuda" else []
    for name in variants + ([] if "fp32" in skip else ["fp32"]):
        parts = name.split("+")
        blocks = plan.fp32_blocks if parts[0] in ("fp32", "tf32") else max(1, plan.blocks // 2)
        warm = min(3, plan.warm_blocks) if parts[0] in ("fp32", "tf32") else plan.warm_blocks
        t = _trainer(plan, images, device, parts[0], "cl" in parts, "graphs" in parts,
                     "rewritten" if "rw" in parts else "native")
        its[f"warmup_{name}"] = _safe(partial(_rate, t, device, blocks, warm, None), errors, f"warmup_{name}")
        its[f"round_{name}"] = _safe(partial(_rate, t, device, blocks, warm, population), errors, f"round_{name}")
        del t  # its graphs and memory go before the next path is built
    res["iterations_per_s"] = {k: (round(v, 2) if v is not None else None) for k, v in its.items()}
    if device.type == "cuda" and its.get("round_fast"):
        res["speedup_vs_reference_16its"] = {k: round(v / REFERENCE_ITS, 2) for k, v in its.items() if v}
    res["targets"] = {"round_fast": verdict(res["iterations_per_s"].get("round_fast"), ROUND_TARGET_ITS,
                                            on_target_device=device.type == "cuda" and _at_paper_scale(plan),
                                            what="iterations/s of a round (P = 32) at paper widths, fast path")}
    write_json(args.out, res)
    if "round" not in skip:
        res["round_seconds"] = _safe(lambda: whole_round(plan, GPU_PLAN, images, device, args), errors, "round")
        write_json(args.out, res)
    if args.profile and device.type == "cuda":  # after the figures: a slow profile cannot cost them
        # (profiled, so slower than the figures above; device busy < wall: the GPU waits for the host)
        res["profile_ms_per_iteration"] = _safe(partial(_profile, fast, device, population, args.profile),
                                                errors, "profile")
        write_json(args.out, res)
    del fast  # its graphs and memory go before the loss-curve runs
    if "compare" not in skip:
        curves = {}
        for name, precision, is_fast in (("fp32", "fp32", False), ("fast", "auto", True)):
            trainer = _trainer(plan, images, device, precision, is_fast, is_fast)
            curves[name] = _safe(lambda: _curve(trainer, population[:8], plan.compare_steps), errors, f"curve_{name}")
            del trainer
        if all(curves.values()):
            res["loss_match"] = _compare(curves, window=max(plan.compare_steps // 16, 2))
    res["bench_seconds"] = round(time.perf_counter() - t_start, 1)
    if errors:
        res["errors"] = errors
    write_json(args.out, res)
    return res


if __name__ == "__main__":
    print(json.dumps(main(), indent=1))
    sys.stdout.flush()
