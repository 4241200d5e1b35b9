"""Selection strategies on hand-made populations with hand-computed answers."""

from __future__ import annotations

import numpy as np
import pytest

from optgan.errors import ConfigError
from optgan.sampler.pareto import crowding_distance, non_dominated_fronts, nondominated_mask, to_losses
from optgan.sampler.select_eagan import EAGANSelection, pooled_fronts
from optgan.sampler.select_nsga2 import NSGA2Selection
from optgan.sampler.select_scgan import SCGANSelection, cluster_representatives, normalise, tchebycheff
from optgan.sampler.selection import make_selection

RNG = np.random.default_rng(0)


def test_to_losses_negates_maximised_columns() -> None:
    got = to_losses(np.array([[8.0, 20.0, 7.0]]), [True, False, False])
    assert got.tolist() == [[-8.0, 20.0, 7.0]]


def test_fronts_by_hand() -> None:
    losses = np.array([(1, 5), (2, 3), (3, 1), (2, 4), (4, 4), (5, 5)], float)
    assert non_dominated_fronts(losses) == [[0, 1, 2], [3], [4], [5]]
    assert nondominated_mask(losses).tolist() == [True, True, True, False, False, False]
    # equal rows do not dominate each other: both stay on the front
    assert nondominated_mask(np.array([(1, 1), (1, 1), (2, 2)], float)).tolist() == [True, True, False]
    assert nondominated_mask(np.zeros((0, 2))).tolist() == []


def test_crowding_distance_by_hand() -> None:
    front = np.array([(0, 10), (1, 6), (2, 5), (6, 1), (10, 0)], float)
    # obj 0: rows 1..3 get 0.2, 0.5, 0.8; obj 1: each interior row gets 0.5
    np.testing.assert_allclose(crowding_distance(front), [np.inf, 0.7, 1.0, 1.3, np.inf])
    assert crowding_distance(np.array([(1, 1), (1, 1), (1, 1)], float)).tolist() == [0, 0, 0]


def test_crowding_distance_by_hand_three_objectives() -> None:
    # both ends of every column are boundaries: row 3 is the maximum of all three (a minimum of none)
    line = np.array([(0, 0, 0), (1, 1, 1), (2, 2, 2), (3, 3, 3)], float)
    np.testing.assert_allclose(crowding_distance(line), [np.inf, 2.0, 2.0, np.inf])
    # each column's interior gaps over its range: D gets 0.5 + 0.5 + 0.5; A, B, C are ends somewhere
    rows = np.array([(0, 2, 1), (1, 1, 0), (2, 0, 2), (1.5, 0.5, 1.5)], float)
    np.testing.assert_allclose(crowding_distance(rows), [np.inf, np.inf, np.inf, 1.5])
    # an infinite loss is clipped to the finite range: it is an end, the others keep their gaps
    np.testing.assert_allclose(crowding_distance(np.array([(0, 1), (1, 0.5), (np.inf, 0)], float)),
                               [np.inf, 2.0, np.inf])


def test_nsga2_by_hand() -> None:
    losses = np.array([(1, 5), (2, 3), (3, 1), (2, 4), (4, 4), (5, 5)], float)
    sel = NSGA2Selection()
    assert sorted(sel(losses, 2, RNG)) == [0, 2]  # front 0 cut: boundary points (inf crowding)
    assert sorted(sel(losses, 4, RNG)) == [0, 1, 2, 3]  # front 0 + front 1
    front = np.array([(0, 10), (1, 6), (2, 5), (6, 1), (10, 0)], float)
    assert sorted(sel(front, 3, RNG)) == [0, 3, 4]
    assert sorted(sel(front, 4, RNG)) == [0, 2, 3, 4]
    assert sel(front, 9, RNG) == [0, 1, 2, 3, 4]


EAGAN_LOSSES = np.array([(1, 1, 9), (2, 2, 2), (3, 9, 1), (4, 3, 3), (5, 5, 5)], float)


def test_eagan_pooled_fronts_by_hand() -> None:
    # sorts (l0,l1): {0},{1},{2,3},{4}; (l0,-l1): {0,1,2},{3,4}; (l0,l2): {0,1,2},{3},{4};
    # (l0,-l2): {0},{1,3,4},{2}  ->  pooled stage by stage:
    assert pooled_fronts(EAGAN_LOSSES) == [[0, 1, 2], [1, 3, 4], [2, 3, 4], [4]]


def test_eagan_selection_by_hand() -> None:
    sel = EAGANSelection()
    assert sorted(sel(EAGAN_LOSSES, 3, RNG)) == [0, 1, 2]
    seen = set()
    for seed in range(40):  # stage 1 adds {3, 4}: one of them, at random
        got = sel(EAGAN_LOSSES, 4, np.random.default_rng(seed))
        assert set(got) >= {0, 1, 2} and len(set(got) & {3, 4}) == 1
        seen.add(frozenset(got))
    assert len(seen) == 2
    assert sel(EAGAN_LOSSES, 4, np.random.default_rng(7)) == sel(EAGAN_LOSSES, 4, np.random.default_rng(7))


def test_eagan_matches_the_reference_on_positive_values() -> None:
    """Code form: IS ↑ enters as 1/IS, FID and size as themselves and as 1/x."""
    is_, fid, size = np.array([9.0, 8.0, 7.0, 6.0, 5.0]), np.array([10, 20, 90, 30, 50.0]), np.array([9, 2, 1, 3, 5.0])
    losses = to_losses(np.stack([is_, fid, size], 1), [True, False, False])
    code_form = [np.stack([1 / is_, o], 1) for o in (fid, 1 / fid, size, 1 / size)]
    expected = []
    fronts = [non_dominated_fronts(f) for f in code_form]
    for k in range(max(map(len, fronts))):
        expected.append(sorted({i for f in fronts if k < len(f) for i in f[k]}))
    assert pooled_fronts(losses) == expected


def test_eagan_two_objectives() -> None:
    losses = np.array([(1, 3), (2, 2), (3, 1), (4, 4)], float)
    # (l0,l1): {0,1,2},{3}; (l0,-l1): {0,3},{1},{2}  -> stage 0 = {0,1,2,3}
    assert pooled_fronts(losses)[0] == [0, 1, 2, 3]


def test_scgan_tchebycheff_with_normalisation() -> None:
    losses = np.array([(10, 0), (20, 1), (30, 4)], float)
    np.testing.assert_allclose(normalise(losses), [[0, 0], [0.5, 0.25], [1, 1]])
    np.testing.assert_allclose(tchebycheff(normalise(losses)), [0, 0.25, 0.5])


SCGAN_LOSSES = np.array([(0, 0), (0.2, 0.1), (0.3, 0.1), (0.1, 0.4), (0.3, 0.9), (1, 1)])


def test_scgan_by_hand() -> None:
    # ranks 0..5 in row order; N=3, k=2: keep row 0, cluster rows 1-4 by direction:
    # {1, 2} (~20°) and {3, 4} (~75°) -> best-ranked of each: 1 and 3
    assert SCGANSelection(clusters=2)(SCGAN_LOSSES, 3, RNG) == [0, 1, 3]
    # k=1: keep rows 0, 1, cluster rows 2-3 into one group -> row 2
    assert SCGANSelection(clusters=1)(SCGAN_LOSSES, 3, RNG) == [0, 1, 2]
    scaled = SCGAN_LOSSES * [1000.0, 3.0] + [5.0, -2.0]  # min-max normalisation removes units
    assert SCGANSelection(clusters=2)(scaled, 3, RNG) == [0, 1, 3]


def test_scgan_constant_column() -> None:
    losses = np.array([[5, 7], [1, 7], [3, 7], [2, 7], [4, 7], [0, 7]], float)
    # column 1 -> 0; rank by column 0: 5, 1, 3, 2, 4, 0; top = [5]; band 1, 3, 2, 4 all point
    # the same way -> one cluster (row 1), the free place goes to the next best-ranked (3)
    assert SCGANSelection(clusters=2)(losses, 3, RNG) == [5, 1, 3]
    assert SCGANSelection(clusters=2)(np.full((5, 3), 2.0), 3, RNG) == [0, 1, 2]


def test_scgan_infinite_values_do_not_poison_the_column() -> None:
    losses = SCGAN_LOSSES.copy()
    losses[5, 0] = np.inf  # a diverged candidate: treated as the column's finite maximum
    clipped = SCGAN_LOSSES.copy()
    clipped[5, 0] = 0.3
    np.testing.assert_allclose(normalise(losses), normalise(clipped))
    assert SCGANSelection(clusters=2)(losses, 3, RNG) == SCGANSelection(clusters=2)(clipped, 3, RNG) == [0, 3, 1]


def test_scgan_fewer_distinct_points_than_clusters() -> None:
    losses = np.array([(0, 0), (0.5, 0.1), (0.5, 0.1), (0.1, 0.5), (0.1, 0.5), (1, 1)])
    # band = rows 1..5: three distinct directions
    assert SCGANSelection(clusters=3)(losses, 4, RNG) == [0, 1, 3, 5]
    # k = 4 > 3 distinct: representatives 1, 3, 5, then the best-ranked rest (2)
    assert SCGANSelection(clusters=4)(losses, 5, RNG) == [0, 1, 2, 3, 5]


@pytest.mark.parametrize("name", ["nsga2", "eagan", "scgan"])
@pytest.mark.parametrize("m", [2, 3, 5])
def test_strategies_return_n_distinct_rows(name: str, m: int) -> None:
    sel = make_selection(name, scgan_clusters=4)
    for seed in range(20):
        rng = np.random.default_rng(seed)
        losses = rng.integers(0, 4, size=(int(rng.integers(2, 40)), m)).astype(float)
        n = int(rng.integers(1, len(losses) + 3))
        got = sel(losses, n, rng)
        assert len(got) == min(n, len(losses)) == len(set(got))


def test_unknown_selection_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="sampler.selection"):
        make_selection("moead")


def test_scgan_clusters_with_ward_linkage() -> None:
    # rows whose directions Ward's criterion splits as {0, 1, 3, 5}, {2, 4} but average linkage
    # as {0, …, 4}, {5}: the representatives are the first row of each Ward cluster
    points = np.array([(0.65, 0.28), (0.05, 0.03), (0.82, 0.92), (0.62, 0.74), (0.55, 0.95), (0.83, 0.01)])
    assert cluster_representatives(points, 2) == [0, 2]


def test_scgan_band_holds_the_next_two_k_candidates() -> None:
    # n = k = 2: no top rows, the band is the 2k = 4 best-ranked rows. Rows 0–2 point one way and
    # row 3 (ranked 4th) another, so row 3 is a cluster of its own and must be kept.
    losses = np.array([(0.10, 0.12), (0.12, 0.14), (0.14, 0.16), (0.40, 0.05), (0.9, 0.9), (1.0, 1.0)])
    assert sorted(SCGANSelection(2).select(losses, 2, RNG)) == [0, 3]
