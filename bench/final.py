"""Speed of the final training (`optgan train`) per recipe and precision; prints one JSON object.

    python bench/final.py --data ../shared/data/cifar10/test-2k.npz   # CUDA: paper widths and presets
    python bench/final.py --device cpu                                  # small widths, digits (CI smoke test)

For each recipe (`hinge`: studies/train-cifar10.yaml, EAGAN's G and D; `mmd`:
studies/train-cifar10-mmd.yaml, EAGAN's G and the 16.8M-parameter AutoGAN D) and each
`precision` (fp32 / tf32 / bf16), it builds the run as `optgan train` does and times D iterations
of the real loop (D step, a G step every n_critic iterations, EMA update), after warm-up
iterations, and reports D iterations/s, the peak GPU memory (allocated, and reserved by the
allocator with CUDA-graph pools; warm-up and capture included, each row alone) and the hours a full run of the
preset's epochs would take at that rate (training only: evaluations not included; one epoch = one
pass over `--full-images`, CIFAR-10's 50,000 on CUDA). It also
reports the mean D / G losses of the timed iterations for each precision (same seed and inputs).
On CUDA every precision runs twice, eagerly and with `cuda_graphs` (`--graphs`): the `+graphs`
results carry their speed-up over the eager loop and the difference of their mean losses.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from optgan.config.train import load_train_config
from optgan.search_space.genotype import Genotype
from optgan.trainer import final_state as fs
from optgan.trainer.final import _Loop, _torch_settings
from optgan.trainer.final_setup import resolve_disc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # the benchmarks' own helpers
from _args import comma_list, write_json  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
EAGAN_G = "[[1,1,1,0,2,3,1],[1,1,0,1,3,0,5],[0,1,0,3,0,0,3]]"
PRESETS = {"hinge": "train-cifar10.yaml", "mmd": "train-cifar10-mmd.yaml"}
CPU_SETS = ["widths={gf_dim: 16, df_dim: 16, latent_dim: 24, bottom_width: 2}", "autogan_df_dim=16",
            "data={name: digits}", "cpu_threads=1"]


def _no_scores(fn: Any) -> dict[str, float]:
    return {"FID": 1.0}


def _bench(recipe: str, precision: str, graphs: bool, device: torch.device, args: argparse.Namespace) -> dict[str, Any]:
    sets = [f"device={device}", f"precision={precision}", "seed=0", f"cuda_graphs={str(graphs).lower()}"]
    if device.type == "cpu":
        sets += CPU_SETS
    elif args.data:
        sets += [f"data={{name: npz, path: {args.data}}}"]
    cfg = load_train_config(str(ROOT / "studies" / PRESETS[recipe]), sets)
    with tempfile.TemporaryDirectory(prefix="optgan-bench-final-") as out:
        run = fs.RunState.open(cfg, Genotype.from_array("gen", json.loads(EAGAN_G)), resolve_disc(cfg), out)
        loop = _Loop(run, _no_scores, None, progress=False)
        if device.type == "cuda":  # peaks of this row alone, warm-up and graph capture included
            gc.collect()
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(device)
        with _torch_settings(cfg):
            for _ in range(args.warmup):
                loop._iteration()
            loop._drain()  # (synchronises)
            sums_before = dict(run.sums)
            start = time.perf_counter()
            for _ in range(args.iterations):
                loop._iteration()
            loop._drain()  # the loop reads its statistics every 50 iterations; this read ends the timing
            seconds = time.perf_counter() - start
        its = args.iterations / seconds
        def mean(net: str) -> float | None:  # None when the timed iterations had no finite step of `net`
            n = run.sums[f"{net}_count"] - sums_before[f"{net}_count"]
            return round((run.sums[f"{net}_loss"] - sums_before[f"{net}_loss"]) / n, 5) if n else None
        per_epoch = cfg.iters_per_epoch or (args.full_images // cfg.batch_size_d if args.full_images else run.iters_per_epoch)
        full_iters = cfg.epochs * per_epoch
        return {
            "d_iterations_per_s": round(its, 2),
            "full_run_hours_training_only": round(full_iters / its / 3600, 2),
            "full_run_iterations": full_iters,
            "peak_gpu_memory_gib": round(torch.cuda.max_memory_allocated(device) / 2**30, 2) if device.type == "cuda" else None,
            "peak_gpu_memory_reserved_gib":  # what the allocator held, graph pools included
                round(torch.cuda.max_memory_reserved(device) / 2**30, 2) if device.type == "cuda" else None,
            "mean_loss_d": mean("d"), "mean_loss_g": mean("g"),
            "nonfinite_steps": int(run.sums["nonfinite"] - sums_before["nonfinite"]),
            "cuda_graphs": loop.stepper.num_graphs,
        }


def arg_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--data", default=None, help="CUDA: an .npz of 32×32 images (default: the presets' CIFAR-10)")
    ap.add_argument("--recipes", default="hinge,mmd", type=comma_list(PRESETS, "recipe"))
    ap.add_argument("--precisions", default="tf32,bf16,fp32", type=comma_list(("tf32", "bf16", "fp32"), "precision"))
    ap.add_argument("--graphs", choices=["off", "on", "both"], default=None,
                    help="cuda_graphs of the runs (default: both on CUDA, off on the CPU, where graphs do not exist)")
    ap.add_argument("--warmup", type=int, default=None, help="untimed iterations (default: 30 CUDA, 2 CPU)")
    ap.add_argument("--iterations", type=int, default=None, help="timed iterations (default: 200 CUDA, 6 CPU)")
    ap.add_argument("--full-images", type=int, default=None,
                    help="training images of a full run, for its hours (default: 50,000 = CIFAR-10 on CUDA; "
                         "the loaded set on the CPU)")
    ap.add_argument("--out", default=None, help="also write the JSON here after every result")
    return ap


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = arg_parser().parse_args(argv)
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    args.warmup = args.warmup if args.warmup is not None else (30 if cuda else 2)
    args.iterations = args.iterations or (200 if cuda else 6)
    args.full_images = args.full_images or (50_000 if cuda else None)
    graph_modes = {"off": [False], "on": [True], "both": [False, True]}[args.graphs or ("both" if cuda else "off")]
    res: dict[str, Any] = {
        "device": torch.cuda.get_device_name(device) if cuda else platform.processor() or "cpu",
        "torch": torch.__version__, "generator": "EAGAN best G", "warmup": args.warmup,
        "iterations": args.iterations, "results": {}, "errors": {},
    }
    for recipe in args.recipes.split(","):
        for precision in args.precisions.split(","):
            for graphs in graph_modes:
                key = f"{recipe}/{precision}" + ("+graphs" if graphs else "")
                try:
                    res["results"][key] = _bench(recipe, precision, graphs, device, args)
                except Exception as e:  # keep measuring the others; report the failure
                    res["errors"][key] = f"{type(e).__name__}: {str(e).splitlines()[0][:300] if str(e) else ''}"
                write_json(args.out, res)
    for recipe in args.recipes.split(","):
        base = res["results"].get(f"{recipe}/tf32")
        for precision in ("bf16", "fp32"):
            r = res["results"].get(f"{recipe}/{precision}")
            if base and r:
                r["speedup_vs_tf32"] = round(r["d_iterations_per_s"] / base["d_iterations_per_s"], 3)
        for precision in args.precisions.split(","):  # graph replay against the eager loop, same inputs
            eager, graphed = res["results"].get(f"{recipe}/{precision}"), res["results"].get(f"{recipe}/{precision}+graphs")
            if eager and graphed:
                graphed["speedup_vs_eager"] = round(graphed["d_iterations_per_s"] / eager["d_iterations_per_s"], 3)
                graphed["loss_difference_vs_eager"] = {
                    k: round(abs(graphed[f"mean_loss_{k}"] - eager[f"mean_loss_{k}"]), 6)
                    for k in ("d", "g") if graphed[f"mean_loss_{k}"] is not None and eager[f"mean_loss_{k}"] is not None}
    if not res["errors"]:
        del res["errors"]
    write_json(args.out, res)  # again, now with the comparisons
    return res


if __name__ == "__main__":
    print(json.dumps(main(), indent=1))
    sys.stdout.flush()
