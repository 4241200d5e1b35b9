"""The synthetic evaluation: deterministic, documented, size from the real counter."""

from __future__ import annotations

import numpy as np
import pytest

from optgan.errors import ConfigError
from optgan.sampler.synthetic import quality, synthetic_values
from optgan.search_space.counting import count_flops, count_params
from optgan.search_space.genotype import Genotype
from optgan.search_space.random import random_genotype
from optgan.search_space.widths import CIFAR10_WIDTHS

SMALL = Genotype("gen", (("nearest", "nearest", "skip_connect", "none", "none", "none", "skip_connect"),) * 3)
BIG = Genotype("gen", (("bilinear", "bilinear", "conv_5x5", "conv_5x5", "conv_5x5", "conv_5x5", "conv_5x5"),) * 3)


def test_values_by_hand() -> None:
    q = (0.55 * 2 + 0.35 * 2) / 7  # per cell: 2 × nearest, 2 × skip, 3 × none
    assert quality(SMALL) == pytest.approx((q, 0.0))
    is_, fid, kid, params, flops = synthetic_values(
        SMALL, ["IS", "FID", "KID", "params_M", "flops_M"], CIFAR10_WIDTHS)
    assert is_ == pytest.approx(2 + 7 * q)
    assert fid == pytest.approx(10 + 90 * (1 - q) ** 2) and kid == pytest.approx(fid / 1000)
    assert params == count_params(SMALL, CIFAR10_WIDTHS).total / 1e6
    assert flops == count_flops(SMALL, CIFAR10_WIDTHS) / 1e6


def test_objectives_conflict_and_are_deterministic() -> None:
    small, big = (synthetic_values(g, ["IS", "FID", "params_M"], CIFAR10_WIDTHS) for g in (SMALL, BIG))
    assert big[0] > small[0] and big[1] < small[1] and big[2] > small[2]
    g = random_genotype("disc", np.random.default_rng(1))
    assert synthetic_values(g, ["FID", "IS"], CIFAR10_WIDTHS) == synthetic_values(g, ["FID", "IS"], CIFAR10_WIDTHS)


def test_ignored_disc_edge_has_no_effect() -> None:
    base = random_genotype("disc", np.random.default_rng(2)).with_op(0, 5, "avg_pool")
    a, b = base.with_op(0, 6, "conv_3x3"), base.with_op(0, 6, "conv_5x5")
    assert synthetic_values(a, ["IS"], CIFAR10_WIDTHS) != synthetic_values(b, ["IS"], CIFAR10_WIDTHS)
    a, b = a.with_op(0, 5, "no_down"), b.with_op(0, 5, "no_down")
    assert a == b  # canonicalised: the ignored e6 is the same value


def test_unknown_objective() -> None:
    with pytest.raises(ConfigError, match="no synthetic value"):
        synthetic_values(SMALL, ["accuracy"], CIFAR10_WIDTHS)
