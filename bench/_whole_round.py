"""`bench/train.py`'s whole-round measurement: two real rounds of stage `gen` through the runner."""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np
import torch

from optgan.config.search import GenStageConfig
from optgan.trainer.data import ImageSet

EPOCHS_PER_ROUND = 10  # SPEC §2 (paper)


def whole_round(plan: Any, paper: Any, images: ImageSet, device: torch.device,
                args: argparse.Namespace) -> dict[str, Any]:
    """Two real rounds of stage `gen` through `optgan.runner` (SQLite study, P members, metrics,
    pictures, checkpoint); the second round's measured phases, and an estimate for a round of
    `paper` (bench/train.py's plan at paper scale).

    The rounds train `round_iters` iterations each (bench/train.py measures the training rate);
    evaluation, tell, pictures and checkpoint are measured as they are. Scores come from the
    Inception extractor when `--inception-weights` is given, else from the classifier extractor
    (trained on the bench images; random images get random labels: timing only).
    """
    import tempfile

    from optgan.config.base import to_dict
    from optgan.config.study import study_config_from_dict
    from optgan.runner import run_search
    from optgan.study.lease import hold_lease
    from optgan.study.retry import guard_storage
    from optgan.study.round_timing import round_seconds
    from optgan.study.create import create_search

    with tempfile.TemporaryDirectory(prefix="optgan-bench-round-") as tmp:
        x = images.images.permute(0, 2, 3, 1).numpy()
        labels = (images.labels.numpy() if images.labels is not None
                  else np.random.default_rng(0).integers(0, 10, len(x)))
        np.savez(f"{tmp}/images.npz", images=x, labels=labels)
        inception = args.inception_weights is not None
        metrics: dict[str, Any] = {
            "extractor": "inception" if inception else "classifier", "num_images": plan.eval_images,
            "batch_size": min(500, plan.eval_images), "mode": args.metrics_mode, "cache_dir": f"{tmp}/cache",
            "inception_weights": args.inception_weights, "inception_download": False,
            "is_splits": min(10, plan.eval_images), "classifier": {"epochs": 1},
        }
        if inception:
            from optgan.metrics.inception_weights import resolve_inception_weights

            pool3 = resolve_inception_weights(args.inception_weights, f"{tmp}/cache", False).pool3_only
            metrics["metrics"] = ["FID"] if pool3 else ["IS", "FID"]
        objectives = [*metrics.get("metrics", ["IS", "FID"]), "params_M"]
        stage = to_dict(GenStageConfig(batch_size_d=plan.batch_d, batch_size_g=plan.batch_g, warmup_epochs=0,
                                       rounds=2, epochs_per_round=1, iters_per_epoch=plan.round_iters))
        cfg = study_config_from_dict({
            "seed": 0, "device": str(device), "widths": to_dict(plan.widths), "objectives": objectives,
            "data": {"name": "npz", "path": f"{tmp}/images.npz"}, "metrics": metrics,
            "sampler": {"population_size": plan.population}, "gen_stage": stage,
        })
        url = f"sqlite:///{tmp}/optgan.db"
        search = create_search("bench", cfg, url, f"{tmp}/run")
        with hold_lease(search.storage.engine, "bench") as lease:  # as `optgan run` does (its trial cache)
            search.storage = guard_storage(search.storage, url, lease=lease)
            run_search(search, ["gen"], max_rounds=2)
        rounds = round_seconds(search.study("gen"))
    measured = rounds[1]  # the second round: graphs captured and caches warm, as in a long search
    paper_iters = EPOCHS_PER_ROUND * (paper.num_images // paper.batch_d)
    scale_train = paper_iters / plan.round_iters
    scale_eval = paper.eval_images / plan.eval_images
    rest = sum(v for k, v in measured.items() if k not in ("train", "evaluate", "total"))
    estimate = {"train": measured["train"] * scale_train, "evaluate": measured["evaluate"] * scale_eval,
                "ask_tell_pictures_checkpoint": rest}
    return {
        "measured_round": {k: round(v, 3) for k, v in measured.items()},
        "measured_with": {"population": plan.population, "iterations": plan.round_iters,
                          "images_per_member": plan.eval_images, "extractor": metrics["extractor"],
                          "metrics_mode": args.metrics_mode, "objectives": objectives, "storage": "sqlite"},
        "paper_round_estimate_s": {k: round(v, 1) for k, v in estimate.items()} | {
            "total": round(sum(estimate.values()), 1), "iterations": paper_iters,
            "images_per_member": paper.eval_images},
    }
