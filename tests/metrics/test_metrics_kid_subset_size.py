"""KID's subset size: torch-fidelity's 1,000 when both image sets hold it, else what they hold;
a size given explicitly is used as is and refused when it does not fit."""

from __future__ import annotations

from pathlib import Path

import pytest

from _metrics_helpers import PoolExtractor, TinyGenerator, random_images
from optgan.config.metrics import MetricsConfig
from optgan.config.train import load_train_config
from optgan.errors import ConfigError, MetricsError
from optgan.metrics import PopulationEvaluator, make_latent_bank
from optgan.metrics.availability import check_reference_size
from optgan.metrics.keys import result_key


def _cfg(tmp_path: Path, **kw) -> MetricsConfig:
    base = dict(metrics=("FID", "KID"), num_images=40, batch_size=16, kid_subsets=5, cache_dir=str(tmp_path / "cache"))
    return MetricsConfig(**{**base, **kw})


@pytest.mark.parametrize(("num_images", "num_reference", "expected"), [
    (5000, 50_000, 1000), (50_000, 50_000, 1000), (300, 50_000, 300), (5000, 400, 400), (30, 20, 20), (2, 2, 2),
])
def test_the_automatic_size_is_the_largest_both_sets_hold_up_to_1000(num_images: int, num_reference: int,
                                                                     expected: int) -> None:
    cfg = MetricsConfig(metrics=("FID", "KID"), num_images=num_images)
    assert cfg.kid_subset_size is None
    assert cfg.kid_subset_size_for(num_reference) == expected


def test_a_given_size_is_used_as_is_and_must_fit() -> None:
    assert MetricsConfig(metrics=("KID",), num_images=100, kid_subset_size=20).kid_subset_size_for(10_000) == 20
    with pytest.raises(ConfigError, match=r"`metrics.kid_subset_size` = 101 is out of range; allowed: \[2, 100\]"):
        MetricsConfig(metrics=("KID",), num_images=100, kid_subset_size=101)
    with pytest.raises(MetricsError, match="`metrics.kid_subset_size` = 50 exceeds the 40 reference images"):
        check_reference_size(MetricsConfig(metrics=("KID",), num_images=100, kid_subset_size=50), 40)
    check_reference_size(MetricsConfig(metrics=("KID",), num_images=100), 40)  # automatic: 40 per subset


def test_one_reference_image_cannot_hold_a_subset() -> None:
    with pytest.raises(MetricsError, match="KID needs at least 2 reference images, the data set gives 1"):
        check_reference_size(MetricsConfig(metrics=("KID",), num_images=100), 1)
    check_reference_size(MetricsConfig(metrics=("FID",), num_images=100), 1)  # no KID, no subsets


def test_the_evaluator_scores_kid_on_the_automatic_size(tmp_path: Path) -> None:
    """30 reference images, 40 generated: subsets of 30 — the same numbers as asking for 30."""
    real, gen, bank = random_images(30), TinyGenerator(), make_latent_bank(40, 8, seed=3)
    auto = PopulationEvaluator(_cfg(tmp_path), real, "cpu", extractor=PoolExtractor(), progress=False)
    assert auto.kid_subset_size == 30
    given = PopulationEvaluator(_cfg(tmp_path, kid_subset_size=30), real, "cpu", extractor=PoolExtractor(),
                                progress=False)
    other = PopulationEvaluator(_cfg(tmp_path, kid_subset_size=10), real, "cpu", extractor=PoolExtractor(),
                                progress=False)
    kid = result_key("KID", auto.label)
    (a,), (b,), (c,) = (ev.evaluate([gen], bank) for ev in (auto, given, other))
    assert a.values[kid] == b.values[kid]
    assert a.values[kid] != c.values[kid]  # the size really reaches the estimate


def test_a_training_recipe_that_lowers_num_images_keeps_kid() -> None:
    """A recipe's default metrics are IS, FID and KID; lowering `num_images` below 1,000 keeps KID
    on, with subsets of `num_images` images (before: refused, or KID silently dropped)."""
    m = load_train_config(None, ["metrics.num_images=200"]).metrics
    assert set(m.metrics) == {"IS", "FID", "KID"} and m.num_images == 200
    assert m.kid_subset_size_for(10_000) == 200
