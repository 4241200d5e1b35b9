"""Known answers of the Fréchet distance and the streaming float64 statistics."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch

from optgan.metrics import features_to_statistics, frechet_distance
from optgan.metrics.metric_fid import psd_sqrt
from optgan.metrics.accumulate import StreamingMoments


def _scipy_fid(mu1, s1, mu2, s2) -> float:
    covmean = scipy.linalg.sqrtm(s1 @ s2)
    covmean = covmean.real if np.iscomplexobj(covmean) else covmean
    d = mu1 - mu2
    return float(d @ d + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def test_diagonal_gaussians_closed_form() -> None:
    rng = np.random.default_rng(0)
    mu1, mu2 = rng.normal(size=16), rng.normal(size=16)
    a, b = rng.uniform(0.1, 3, 16), rng.uniform(0.1, 3, 16)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    got = frechet_distance(mu1, np.diag(a), mu2, np.diag(b), device="cpu")
    assert got == pytest.approx(expected, rel=1e-12, abs=1e-12)


def test_identical_gaussians_are_at_distance_zero() -> None:
    rng = np.random.default_rng(1)
    f = rng.normal(size=(200, 20))
    mu, sigma = features_to_statistics(f)
    assert abs(frechet_distance(mu, sigma, mu, sigma, device="cpu")) < 1e-9


@pytest.mark.parametrize("n,d", [(50, 8), (300, 32), (100, 64), (1000, 128), (64, 256)])
def test_matches_scipy_sqrtm(n: int, d: int) -> None:
    rng = np.random.default_rng(n * 1000 + d)
    f1 = rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) * 0.3
    f2 = rng.gamma(2.0, size=(n, d)) + 0.5
    s1, s2 = (features_to_statistics(f) for f in (f1, f2))
    ref = _scipy_fid(s1[0], s1[1], s2[0], s2[1])
    assert frechet_distance(s1[0], s1[1], s2[0], s2[1], device="cpu") == pytest.approx(ref, rel=1e-6)


def test_statistics_match_numpy_cov() -> None:
    f = np.random.default_rng(2).normal(size=(100, 10))
    mu, sigma = features_to_statistics(torch.from_numpy(f).float())
    np.testing.assert_allclose(mu, f.astype(np.float32).mean(0), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(sigma, np.cov(f.astype(np.float32), rowvar=False), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("batch", [1, 7, 100])
def test_streaming_moments_equal_two_pass_cov(batch: int) -> None:
    # a large common offset: the uncentred formula would lose digits, the shifted one must not
    f = torch.from_numpy(np.random.default_rng(3).normal(size=(101, 12)) * 0.01 + 1e3)
    m = StreamingMoments(12, "cpu")
    for chunk in f.split(batch):
        m.update(chunk)
    mu, sigma = m.mean_cov()
    np.testing.assert_allclose(mu, f.numpy().mean(0), rtol=1e-13)
    np.testing.assert_allclose(sigma, np.cov(f.numpy(), rowvar=False), rtol=1e-9, atol=1e-16)
    assert m.n == 101


def test_shape_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError, match="shape mismatch"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4), device="cpu")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_float64_equals_cpu() -> None:
    rng = np.random.default_rng(4)
    s1 = features_to_statistics(rng.normal(size=(300, 64)))
    s2 = features_to_statistics(rng.normal(size=(300, 64)) + 0.1)
    cpu = frechet_distance(*s1, *s2, device="cpu")
    assert frechet_distance(*s1, *s2, device="cuda") == pytest.approx(cpu, rel=1e-10)


def test_precomputed_reference_root_gives_the_same_distance() -> None:
    rng = np.random.default_rng(6)
    s1 = features_to_statistics(rng.normal(size=(80, 16)))
    s2 = features_to_statistics(rng.gamma(2.0, size=(80, 16)))
    root = psd_sqrt(s2[1], "cpu")
    assert frechet_distance(*s1, *s2, device="cpu", sigma2_sqrt=root) == frechet_distance(*s1, *s2, device="cpu")
    assert torch.allclose(root @ root, torch.from_numpy(s2[1]), atol=1e-10)
