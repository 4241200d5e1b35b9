"""IS / FID / KID and the population evaluator: cases earlier tests left open (mutation testing, round 7)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch_fidelity.metric_kid import kid_features_to_metric

from _metrics_helpers import PoolExtractor, TinyGenerator, random_images
from optgan.config.metrics import MetricsConfig
from optgan.errors import MetricsError
from optgan.metrics import (
    PopulationEvaluator,
    features_to_statistics,
    frechet_distance,
    inception_score,
    kernel_inception_distance,
    make_latent_bank,
    quantize_to_uint8,
)


def _evaluator(tmp_path: Path, real=None, **kw) -> PopulationEvaluator:
    base = dict(metrics=("IS", "FID", "KID"), num_images=40, batch_size=16, is_splits=4, kid_subsets=5,
                kid_subset_size=20, cache_dir=str(tmp_path / "cache"))
    return PopulationEvaluator(MetricsConfig(**{**base, **kw}), real or random_images(64), "cpu",
                               extractor=PoolExtractor(), progress=False)


def _direct(gen: TinyGenerator, z: torch.Tensor, real) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Features and logits of the candidate's images, and the real images' features."""
    with torch.no_grad():
        gen.eval()
        f, logits = PoolExtractor()(quantize_to_uint8(gen(z)))
    fr, _ = PoolExtractor()(real.images)
    return f, logits, fr


def test_evaluator_is_and_kid_equal_direct_computation_with_the_configured_seed(tmp_path: Path) -> None:
    """IS and KID (mean and std) are the library functions applied to the candidate's logits and
    features against the *reference* features, with `metrics.seed` for the shuffle and subsets."""
    real = random_images(64)
    ev = _evaluator(tmp_path, real, seed=7)
    z = make_latent_bank(40, 8, seed=3)
    [scores] = ev.evaluate([TinyGenerator()], z)
    f, logits, fr = _direct(TinyGenerator(), z, real)
    is_mean, is_std = inception_score(logits, splits=4, seed=7)
    kid_mean, kid_std = kernel_inception_distance(f, fr, subsets=5, subset_size=20, seed=7)
    assert scores.metric("IS") == pytest.approx(is_mean, rel=1e-9)
    assert scores.metric("IS", std=True) == pytest.approx(is_std, rel=1e-9)
    assert scores.metric("KID") == pytest.approx(kid_mean, rel=1e-6, abs=1e-12)
    assert scores.metric("KID", std=True) == pytest.approx(kid_std, rel=1e-6, abs=1e-12)
    assert (is_mean, kid_mean) != (inception_score(logits, splits=4)[0],
                                   kernel_inception_distance(f, fr, subsets=5, subset_size=20)[0])  # the seed matters


def test_evaluator_is_without_kid(tmp_path: Path) -> None:
    """IS needs the logits even when no raw features are kept (metrics IS + FID only)."""
    real = random_images(64)
    ev = _evaluator(tmp_path, real, metrics=("IS", "FID"))
    z = make_latent_bank(40, 8, seed=4)
    [scores] = ev.evaluate([TinyGenerator()], z)
    _, logits, _ = _direct(TinyGenerator(), z, real)
    assert scores.ok and scores.metric("IS") == pytest.approx(inception_score(logits, splits=4)[0], rel=1e-9)


@pytest.mark.parametrize("n", [24, 48])
def test_num_images_is_the_number_of_latents_scored(tmp_path: Path, n: int) -> None:
    """Every latent of the bank is scored and `num_images` says how many (not `metrics.num_images`)."""
    real = random_images(64)
    ev = _evaluator(tmp_path, real, metrics=("FID",))
    z = make_latent_bank(n, 8, seed=5)
    [scores] = ev.evaluate([TinyGenerator()], z)
    f, _, fr = _direct(TinyGenerator(), z, real)
    assert scores.values["num_images"] == n
    expected = frechet_distance(*features_to_statistics(f), *features_to_statistics(fr))
    assert scores.metric("FID") == pytest.approx(expected, rel=1e-6)


def test_kid_subset_size_equal_to_the_reference_size_is_the_limit(tmp_path: Path) -> None:
    _evaluator(tmp_path, real=random_images(20), kid_subset_size=20)  # exactly enough
    with pytest.raises(MetricsError, match="kid_subset_size"):
        _evaluator(tmp_path, real=random_images(19), kid_subset_size=20)


def _kid_float64(f1: torch.Tensor, f2: torch.Tensor, subsets: int, size: int, seed: int) -> tuple[float, float]:
    """The KID estimator in plain float64 numpy, with torch-fidelity's subset draws."""
    rng = np.random.RandomState(seed)
    a, b = f1.double().numpy(), f2.double().numpy()
    out = []
    for _ in range(subsets):
        x, y = a[rng.choice(len(a), size, replace=False)], b[rng.choice(len(b), size, replace=False)]
        k_xx, k_yy, k_xy = ((u @ v.T / a.shape[1] + 1) ** 3 for u, v in ((x, x), (y, y), (x, y)))
        within = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (size * (size - 1))
        out.append(within - 2 * k_xy.sum() / size**2)
    return float(np.mean(out)), float(np.std(out))


def test_kid_matches_torch_fidelity_with_a_larger_second_set_and_another_seed() -> None:
    """Subsets of set 2 are drawn from all of set 2 (here the larger one, like a reference set
    larger than a candidate's images), with the given seed."""
    rng = np.random.default_rng(8)
    f1 = torch.from_numpy(rng.normal(size=(220, 32))).float()
    f2 = torch.from_numpy(np.concatenate([rng.normal(size=(220, 32)), rng.normal(size=(180, 32)) + 1.5])).float()
    ref = kid_features_to_metric(f1, f2, kid_subsets=10, kid_subset_size=200, verbose=False, rng_seed=7,
                                 kid_kernel="poly", kid_kernel_poly_degree=3, kid_kernel_poly_gamma=None,
                                 kid_kernel_poly_coef0=1)
    mean, std = kernel_inception_distance(f1, f2, subsets=10, subset_size=200, seed=7)
    assert mean == pytest.approx(ref["kernel_inception_distance_mean"], rel=1e-4)
    assert std == pytest.approx(ref["kernel_inception_distance_std"], rel=1e-3)


def test_kid_kernels_and_sums_are_float64() -> None:
    """Features with a large common offset (like non-negative CNN features): the kernel values are
    large and the MMD is a small difference of large sums, so float32 sums would be visibly off."""
    rng = np.random.default_rng(5)
    f1 = torch.from_numpy(rng.normal(size=(300, 64)) * 0.5 + 3).float()
    f2 = torch.from_numpy(rng.normal(size=(250, 64)) * 0.5 + 3.02).float()
    mean, std = kernel_inception_distance(f1, f2, subsets=10, subset_size=200, seed=2020)
    ref_mean, ref_std = _kid_float64(f1, f2, 10, 200, 2020)
    assert mean == pytest.approx(ref_mean, rel=1e-4)  # float32 Gram products only: ~1e-5
    assert std == pytest.approx(ref_std, rel=1e-4)


@pytest.mark.parametrize("sizes", [(30, 10), (10, 30)])
def test_kid_subset_larger_than_either_set_is_an_error(sizes: tuple[int, int]) -> None:
    with pytest.raises(ValueError, match="subset size 20 exceeds"):
        kernel_inception_distance(torch.zeros(sizes[0], 4), torch.zeros(sizes[1], 4), subsets=1, subset_size=20)


def test_is_with_one_image_per_split() -> None:
    """N = splits is allowed: each split's marginal is its single prediction, so every score is 1."""
    logits = torch.from_numpy(np.random.default_rng(0).normal(size=(4, 10)))
    mean, std = inception_score(logits, splits=4)
    assert mean == pytest.approx(1.0, abs=1e-12) and std == pytest.approx(0.0, abs=1e-12)


def test_fid_refuses_means_of_another_dimension_than_the_covariances() -> None:
    with pytest.raises(ValueError, match="shape mismatch"):
        frechet_distance(np.zeros(3), np.eye(4), np.zeros(3), np.eye(4), device="cpu")


def test_statistics_need_two_rows() -> None:
    """One feature row has no unbiased covariance (N − 1 = 0): refused, not a NaN matrix."""
    with pytest.raises(ValueError, match="N ≥ 2"):
        features_to_statistics(np.ones((1, 5)))
