"""Scoring a trained generator with :mod:`optgan.metrics`: during training and in `optgan eval`.

Both go through :class:`optgan.metrics.PopulationEvaluator` (extractor + cached reference
statistics of the training images, SPEC §5) on a fixed latent bank, so every evaluation of a run
uses the same latents. Score keys are those of :mod:`optgan.metrics.keys` (`FID`, or
`FID_classifier` for the classifier extractor — never mistaken for canonical numbers).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
from collections.abc import Callable
from typing import Any

import torch

from optgan.config.metrics import MetricsConfig
from optgan.errors import ConfigError, DataError, OptganError
from optgan.search_space.widths import Widths

__all__ = ["build_scorer", "evaluate_checkpoint", "fid_of", "EVAL_METRICS"]

log = logging.getLogger(__name__)

#: what `optgan eval` reports
EVAL_METRICS = ("IS", "FID", "KID")


def fid_of(values: dict[str, float]) -> float:
    """The FID in a score dict, whatever the extractor label (`FID`, `FID_classifier`, ...)."""
    for key, value in values.items():
        if key == "FID" or key.startswith("FID_"):
            return float(value)
    raise KeyError("no FID in the scores; add FID to `metrics.metrics`")


def build_scorer(cfg: MetricsConfig, real: Any, widths: Widths, device: torch.device, *, seed: int,
                 progress: bool = False, check_identity: Callable[[dict[str, Any]], None] | None = None,
                 ) -> Callable[[Callable[[torch.Tensor], torch.Tensor]], dict[str, float]]:
    """A function scoring a latents→images callable on `cfg.num_images` fixed latents.

    `check_identity` sees the extractor's identity before the reference statistics are computed
    (minutes on a CPU for a large data set), so a refusal comes first.
    """
    from optgan.metrics import PopulationEvaluator, make_latent_bank
    from optgan.metrics.extractor_base import create_extractor

    if "FID" not in cfg.metrics:
        raise ConfigError("`metrics.metrics` must include FID for training (best checkpoint, MMD bound)")
    extractor = create_extractor(cfg, device, real, progress)
    if check_identity is not None:
        check_identity(extractor.identity)
    evaluator = PopulationEvaluator(cfg, real, device, extractor=extractor, progress=progress)
    bank = make_latent_bank(cfg.num_images, widths.latent_dim, seed)

    def score(generate: Callable[[torch.Tensor], torch.Tensor]) -> dict[str, float]:
        (scores,) = evaluator.evaluate([generate], bank)
        if not scores.ok:
            log.warning("evaluation failed: %s", scores.reason)
        return dict(scores.values)

    score.extractor_identity = evaluator.extractor.identity  # type: ignore[attr-defined]  # recorded by a run
    return score


def eval_metrics_config(base: MetricsConfig, *, extractor: str | None, num_images: int, batch_size: int,
                        num_real: int) -> MetricsConfig:
    """The run's metrics settings for `optgan eval`: IS (10 splits), FID, KID on `num_images`."""
    extractor = extractor or base.extractor
    metrics = tuple(EVAL_METRICS)
    if extractor == "inception" and _pool3_only(base):
        log.warning("only pool3 Inception weights are available: IS is not computed (FID and KID are)")
        metrics = ("FID", "KID")
    # KID subsets cannot be larger than either image set (None: the evaluator picks what both hold)
    kid_size = base.kid_subset_size
    if kid_size is not None:
        kid_size = max(2, min(kid_size, num_images, base.reference_images or num_real))
    return dataclasses.replace(base, extractor=extractor, metrics=metrics, num_images=num_images,  # type: ignore[arg-type]
                               batch_size=batch_size, is_splits=min(10, num_images), kid_subset_size=kid_size)


def _pool3_only(cfg: MetricsConfig) -> bool:
    from optgan.metrics.inception_weights import resolve_inception_weights

    return resolve_inception_weights(cfg.inception_weights, cfg.resolved_cache_dir, cfg.inception_download).pool3_only


#: fewer generated images than this get a warning (the search scores 5,000, the papers report 50,000)
SMALL_EVAL = 5000


def evaluate_checkpoint(path: str, *, num_images: int = 50_000, extractor: str | None = None, seed: int = 0,
                        batch_size: int = 100, device: str = "auto", ema: bool = True,
                        progress: bool = True, data_root: str | None = None, data_path: str | None = None,
                        inception_weights: str | None = None, threads: int | None = None) -> dict[str, Any]:
    """IS / FID / KID of a checkpoint's generator against its data set's reference statistics.

    `data_root` (cifar10, stl10) / `data_path` (npz, folder) / `inception_weights` say where the
    data set and the Inception weights are on this machine, when that differs from where the run
    was trained. `threads`: PyTorch's CPU threads while scoring (default: the run's `cpu_threads`,
    so a CPU run's scores are computed as its own evaluations were).
    """
    from optgan.config.train import train_config_from_dict
    from optgan.backends import cpu_threads, resolve_device
    from optgan.export import generator_from_checkpoint, read_training_checkpoint
    from optgan.trainer.data import load_images, matches_fingerprint

    ck = read_training_checkpoint(path, require=("config",))  # the recipe: data set, widths, metrics
    cfg = train_config_from_dict(ck["config"])
    key = cfg.data.location_key
    reads = f"--data-{key}" if key else None
    for flag, given in (("--data-root", data_root), ("--data-path", data_path)):
        if given is not None and flag != reads:
            where = f"is found with {reads}" if reads else "comes with scikit-learn (nothing to point at)"
            raise ConfigError(f"{flag} does not apply: the run trained on data.name {cfg.data.name!r}, which {where}")
    if data_root is not None:
        cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, root=data_root))
    if data_path is not None:
        cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, path=os.path.abspath(os.path.expanduser(data_path))))
    if inception_weights is not None:
        cfg = dataclasses.replace(cfg, metrics=dataclasses.replace(cfg.metrics, inception_weights=inception_weights))
    dev = resolve_device(device)
    net = generator_from_checkpoint(ck, ema=ema).to(dev)
    try:
        real = load_images(cfg.data, cfg.widths.img_size)
    except DataError as e:  # its fix names config keys; eval points at the data with its flags
        if not reads or " not found" not in str(e) or "; fix: " not in str(e):
            raise  # e.g. an undecodable image: its own fix holds
        raise DataError(f"{str(e).split('; fix: ')[0]}; fix: pass {reads} with the run's data set "
                        f"({cfg.data.name}) as it is on this machine") from None
    mcfg = eval_metrics_config(cfg.metrics, extractor=extractor, num_images=num_images, batch_size=batch_size,
                               num_real=len(real.images))
    trained_on = ck.get("data", {})
    same_data = matches_fingerprint(real, trained_on.get("fingerprint"))
    if not same_data:  # said before the (possibly long) scoring, so it can be stopped
        also = (" and the classifier extractor is trained on them (another classifier than the run's)"
                if mcfg.extractor == "classifier" else "")
        log.warning("the images found (%s, fingerprint %s) are not the ones the run was trained on (%s, fingerprint "
                    "%s): they are the reference set of these scores%s, so the scores do not compare with the run's "
                    "own evaluations", real.name, real.fingerprint[:12], trained_on.get("name"),
                    str(trained_on.get("fingerprint"))[:12], also)
    with cpu_threads(threads if threads is not None else cfg.cpu_threads):
        return _score(ck, cfg, net, real, mcfg, dev, num_images=num_images, seed=seed, ema=ema, progress=progress,
                      same_data=same_data)


def _score(ck: dict[str, Any], cfg: Any, net: Any, real: Any, mcfg: MetricsConfig, dev: Any, *, num_images: int,
           seed: int, ema: bool, progress: bool, same_data: bool) -> dict[str, Any]:
    """`evaluate_checkpoint`'s scoring and report, once the generator and the data are loaded."""
    from optgan.export import weights_sha256
    from optgan.metrics import PopulationEvaluator, make_latent_bank

    try:
        evaluator = PopulationEvaluator(mcfg, real, dev, progress=progress)
    except OptganError as e:  # a hint in config terms, said in eval's
        hint = "use `metrics.extractor: inception`"
        if hint not in str(e):
            raise
        raise type(e)(str(e).replace(hint, "use --extractor inception")) from None
    if num_images < SMALL_EVAL:
        dims = evaluator.extractor.feature_dim
        per_split = f" and IS has {num_images // mcfg.is_splits} images per split" if "IS" in mcfg.metrics else ""
        log.warning("scores of %d images compare only with scores of the same number: FID is biased upward at small "
                    "N%s%s; the papers report 50,000", num_images,
                    f" (singular covariance below {dims} images)" if num_images <= dims else "", per_split)
    (scores,) = evaluator.evaluate([net], make_latent_bank(num_images, cfg.widths.latent_dim, seed))
    progress_rec = ck.get("progress", {})
    return {
        **{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in scores.values.items()},
        "num_images": num_images,
        "extractor": evaluator.label,
        "seed": seed,
        "checkpoint": ck["path"],
        "weights": {"which": "ema" if ema else "raw", "sha256": weights_sha256(ck["gen_ema" if ema else "gen"]),
                    "kind": ck.get("kind"), "epoch": progress_rec.get("epoch"), "iteration": progress_rec.get("global_iter")},
        "data": {"name": real.name, "split": cfg.data.used_split, "fingerprint": real.fingerprint,
                 "num_images": len(real.images), "same_as_training": same_data},
        "failed": scores.reason,
    }
