"""Known answers of the Inception Score and KID, and agreement with torch-fidelity's versions."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch_fidelity.metric_isc import isc_features_to_metric
from torch_fidelity.metric_kid import kid_features_to_metric

from optgan.metrics import inception_score, kernel_inception_distance


def test_is_of_confident_balanced_predictions_is_the_number_of_classes() -> None:
    k = 10
    logits = torch.full((k * 20, k), -1e4, dtype=torch.float64)
    logits[torch.arange(k * 20), torch.arange(k * 20) % k] = 0.0
    mean, std = inception_score(logits, splits=1)
    assert mean == pytest.approx(k, rel=1e-9) and std == 0.0


def test_is_of_uniform_predictions_is_one() -> None:
    mean, std = inception_score(torch.zeros(100, 7), splits=10)
    assert mean == pytest.approx(1.0, abs=1e-12) and std == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("splits", [1, 3, 10])
def test_is_matches_torch_fidelity(splits: int) -> None:
    logits = torch.from_numpy(np.random.default_rng(splits).normal(size=(203, 50)) * 3).float()
    ref = isc_features_to_metric(logits, splits=splits, shuffle=True, rng_seed=2020)
    mean, std = inception_score(logits, splits=splits, seed=2020)
    assert mean == pytest.approx(ref["inception_score_mean"], rel=1e-10)
    assert std == pytest.approx(ref["inception_score_std"], rel=1e-8, abs=1e-12)


def test_kid_of_identical_sets_is_about_zero_and_of_shifted_sets_positive() -> None:
    f = torch.from_numpy(np.random.default_rng(0).normal(size=(400, 32))).float()
    same, _ = kernel_inception_distance(f, f.clone(), subsets=20, subset_size=100)
    shifted, _ = kernel_inception_distance(f, f + 0.5, subsets=20, subset_size=100)
    assert abs(same) < 0.05 * shifted
    assert shifted > 0


def test_kid_matches_torch_fidelity() -> None:
    rng = np.random.default_rng(5)
    f1 = torch.from_numpy(rng.normal(size=(300, 64))).float()
    f2 = torch.from_numpy(rng.normal(size=(250, 64)) * 1.2 + 0.3).float()
    ref = kid_features_to_metric(f1, f2, kid_subsets=10, kid_subset_size=200, verbose=False, rng_seed=2020,
                                 kid_kernel="poly", kid_kernel_poly_degree=3, kid_kernel_poly_gamma=None,
                                 kid_kernel_poly_coef0=1)
    mean, std = kernel_inception_distance(f1, f2, subsets=10, subset_size=200, seed=2020)
    assert mean == pytest.approx(ref["kernel_inception_distance_mean"], rel=1e-4)
    assert std == pytest.approx(ref["kernel_inception_distance_std"], rel=1e-3)


def test_kid_subset_larger_than_set_is_an_error() -> None:
    with pytest.raises(ValueError, match="subset size"):
        kernel_inception_distance(torch.zeros(10, 4), torch.zeros(10, 4), subsets=1, subset_size=11)
