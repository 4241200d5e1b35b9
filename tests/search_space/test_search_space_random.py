"""Uniform random sampling of valid genotypes: validity, coverage and uniformity."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from scipy import stats

from optgan.search_space import NO_DOWN, edges_of, random_genotype, valid_cell_count
from optgan.search_space.random import random_cell


def test_valid_cell_counts_match_spec() -> None:
    assert valid_cell_count("gen") == 3**2 * (7**2 - 1) * (7**3 - 1) == 147_744
    assert valid_cell_count("disc") == 6 * 48 * 48 * 37


@pytest.mark.parametrize("net", ["gen", "disc"])
def test_every_edge_value_reachable_and_samples_valid(net: str) -> None:
    rng = np.random.default_rng(0)
    seen = {(c, e): set() for c in range(3) for e in range(7)}
    for _ in range(600):
        g = random_genotype(net, rng)  # construction validates
        for c in range(3):
            for e in range(7):
                seen[(c, e)].add(g.op(c, e))
    for (c, e), ops in seen.items():
        expected = set(edges_of(net)[e].choices)
        if net == "disc" and e == 6:
            assert ops == expected  # all down ops appear when e5 downsamples
        else:
            assert ops == expected, (c, e)


def test_injected_rng_reproducible() -> None:
    a = [random_genotype("gen", np.random.default_rng(7)) for _ in range(3)]
    b = [random_genotype("gen", np.random.default_rng(7)) for _ in range(3)]
    assert a == b


def test_disc_down_pair_uniform_over_distinct_values() -> None:
    # (e5, e6) has 37 distinct valid values: no_down must not get the weight of its 6 aliases
    rng = np.random.default_rng(1)
    n = 37_000
    counts = Counter(random_cell("disc", rng)[5:7] for _ in range(n))
    assert len(counts) == 37
    assert stats.chisquare(list(counts.values())).pvalue > 1e-3
    assert abs(counts[(NO_DOWN, "avg_pool")] / n - 1 / 37) < 0.004


def test_gen_node_groups_uniform() -> None:
    rng = np.random.default_rng(2)
    counts = Counter(random_cell("gen", rng)[2:4] for _ in range(24_000))
    assert len(counts) == 48 and ("none", "none") not in counts
    assert stats.chisquare(list(counts.values())).pvalue > 1e-3
