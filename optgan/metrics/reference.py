"""Reference statistics of the real images: computed once, cached under a content hash.

The key hashes everything that changes them: the data set's fingerprint, the extractor's
identity (weights hash, precision mode), the number of images and how they were picked
(evenly spaced, deterministic), whether raw features are kept for KID, and this module's
format version. Files are written atomically; a changed input gives a new key, so stale
statistics are never reused.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from optgan.errors import MetricsError
from optgan.metrics.accumulate import FeatureSink
from optgan.metrics.cache import atomic_torch_save, content_hash, load_cached
from optgan.metrics.extractor_base import FeatureExtractor, RealImages
from optgan.progress import progress_bar

log = logging.getLogger(__name__)

__all__ = ["ReferenceStats", "reference_statistics", "reference_indices", "stream_images", "REFERENCE_FORMAT"]

#: bump when the meaning of the cached statistics changes
REFERENCE_FORMAT = "optgan.reference.v1"


@dataclass(frozen=True)
class ReferenceStats:
    """μ, Σ (float64) of the real features, N, and the features themselves when KID needs them."""

    mu: np.ndarray
    sigma: np.ndarray
    num_images: int
    features: torch.Tensor | None
    key: str


def reference_indices(total: int, count: int | None) -> np.ndarray:
    """`count` evenly spaced indices of `total` images (all when `count` is None or ≥ total)."""
    if count is None or count >= total:
        return np.arange(total)
    return np.unique(np.linspace(0, total - 1, count).round().astype(np.int64))


def stream_images(images: torch.Tensor, extractor: FeatureExtractor, batch_size: int, *,
                  keep_logits: bool, keep_features: bool, progress: bool = False, desc: str = "") -> FeatureSink:
    """Stream uint8 images (any device) through `extractor` in batches into a float64 FeatureSink."""
    sink = FeatureSink(extractor.feature_dim, extractor.device, keep_logits=keep_logits, keep_features=keep_features)
    batches = images.split(batch_size)
    for batch in progress_bar(batches, show=progress, desc=desc, unit="batch", leave=False):
        features, logits = extractor(batch)
        sink.update(features, logits)
    return sink


def reference_statistics(real: RealImages, extractor: FeatureExtractor, *, num_images: int | None,
                         need_features: bool, cache_dir: str, batch_size: int,
                         progress: bool = True) -> ReferenceStats:
    """The cached statistics of `real` under `extractor`, computed (and cached) on a miss."""
    idx = reference_indices(len(real.images), num_images)
    if len(idx) < 2:
        raise MetricsError(f"the reference data set has {len(real.images)} image(s); FID needs at least 2")
    key = content_hash({"format": REFERENCE_FORMAT, "data": real.fingerprint, "extractor": extractor.identity,
                        "num_images": len(idx), "total": len(real.images), "pick": "evenly-spaced",
                        "features": need_features})
    path = Path(cache_dir) / "reference" / f"{key}.pt"
    cached = load_cached(path)
    if cached is not None and cached.get("format") == REFERENCE_FORMAT:
        log.info("reference statistics loaded from %s", path)
        return _from_dict(cached, key)
    images = real.images[torch.as_tensor(idx)] if len(idx) < len(real.images) else real.images
    sink = stream_images(images, extractor, batch_size, keep_logits=False, keep_features=need_features,
                         progress=progress, desc="reference statistics")
    mu, sigma = sink.moments.mean_cov()
    features = sink.features().cpu() if need_features else None
    atomic_torch_save({"format": REFERENCE_FORMAT, "mu": torch.from_numpy(mu), "sigma": torch.from_numpy(sigma),
                       "num_images": len(idx), "features": features}, path)
    log.info("reference statistics of %d images cached in %s", len(idx), path)
    return ReferenceStats(mu, sigma, len(idx), features, key)


def _from_dict(d: dict, key: str) -> ReferenceStats:
    return ReferenceStats(d["mu"].numpy(), d["sigma"].numpy(), int(d["num_images"]), d.get("features"), key)
