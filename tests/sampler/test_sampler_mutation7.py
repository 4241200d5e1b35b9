"""Properties of selection, variation and seeding that earlier tests left open (mutation testing, round 7).

Each test states the property it checks; all are seeded and run in well under a second (the one
subprocess test excepted: about half a second).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from itertools import product

import numpy as np
import pytest

from optgan.errors import ConstraintError
from optgan.sampler.child_generation import ChildGenerationStrategy
from optgan.sampler.constrained import ConstrainedDraw
from optgan.sampler.crossover import OneEdgeCrossover
from optgan.sampler.initial import InitialPopulationStrategy
from optgan.sampler.mutation import OneEdgeMutation
from optgan.sampler.pareto import crowding_distance
from optgan.sampler.select_nsga2 import NSGA2Selection
from optgan.sampler.select_scgan import SCGANSelection, normalise
from optgan.sampler.selection import make_selection
from optgan.sampler.seeding import (
    STREAM_ENQUEUED,
    STREAM_INDEPENDENT,
    STREAM_PROPOSAL,
    STREAM_SELECTION,
    rng_for,
    seed_for,
)
from optgan.search_space.constraints import Caps
from optgan.search_space.counting import count_flops, count_params
from optgan.search_space.genotype import Genotype
from optgan.search_space.ops import NO_DOWN
from optgan.search_space.random import random_genotype
from optgan.search_space.widths import CIFAR10_WIDTHS

RNG = np.random.default_rng(0)
EAGAN_G = Genotype.from_array("gen", [[1, 1, 1, 0, 2, 3, 1], [1, 1, 0, 1, 3, 0, 5], [0, 1, 0, 3, 0, 0, 3]])
ADVNAS_G = Genotype.from_array("gen", [[1, 1, 1, 0, 3, 3, 1], [1, 1, 0, 1, 3, 3, 3], [0, 1, 0, 3, 3, 0, 3]])


# ---------------------------------------------------------------------- selection


def test_nsga2_crowding_ties_go_to_the_earlier_trial() -> None:
    # an evenly spaced front: both ends are boundaries (inf), the three interior rows all get 1.0
    line = np.array([(0, 4), (1, 3), (2, 2), (3, 1), (4, 0)], float)
    assert sorted(NSGA2Selection()(line, 3, RNG)) == [0, 1, 4]
    assert sorted(NSGA2Selection()(line[::-1].copy(), 3, RNG)) == [0, 1, 4]


def test_crowding_distance_orders_ties_by_row_index() -> None:
    """Within a column, tied values are ordered by row index (the documented tie rule), so the
    boundary and the neighbours of tied rows are fixed: a known answer worked out by hand."""
    col = np.array([0, 1, 1, 0, 2, 2, 0, 3, 3, 0], float)
    # column 0 ascending: rows 0 3 6 9 | 1 2 | 4 5 | 7 8 -> ends 0 and 8; rows 3 and 6 sit between
    # equal values (gap 0), every other interior row spans one unit of the range 3.
    # column 1 = 3 - column 0 ascending: rows 7 8 | 4 5 | 1 2 | 0 3 6 9 -> ends 7 and 9.
    expected = [np.inf, 2 / 3, 2 / 3, 0, 2 / 3, 2 / 3, 0, np.inf, np.inf, np.inf]
    np.testing.assert_allclose(crowding_distance(np.stack([col, 3 - col], 1)), expected)


def test_nsga2_crowding_is_measured_within_the_front_being_cut() -> None:
    """Crowding distances of the overflowing front use only that front's rows (Deb et al.): here
    rows 1 and 4 are its ends (inf) although rows 0 and 5 of other fronts lie beyond them."""
    losses = np.array([(0, 0), (1, 9), (2, 5), (5, 2), (9, 1), (100, 10)], float)
    # fronts {0}, {1, 2, 3, 4}, {5}; over all rows the crowding order of front 1 would be 4, 2, 1, 3
    assert sorted(NSGA2Selection()(losses, 3, RNG)) == [0, 1, 4]


def test_scgan_ranking_ties_go_to_the_earlier_trial() -> None:
    """Equal Tchebycheff distances (here: repeated loss vectors) are ranked by row index."""
    losses = np.array([(0.0, 0.0) if i % 3 == 0 else (1.0, 1.0) for i in range(10)])
    # rows 0, 3, 6, 9 are best; of the tied rows 1, 2, 4, 5, 7, 8 the earliest two survive
    assert sorted(SCGANSelection(clusters=1)(losses, 6, RNG)) == [0, 1, 2, 3, 6, 9]
    assert sorted(SCGANSelection(clusters=2)(losses, 6, RNG)) == [0, 1, 2, 3, 6, 9]


def test_scgan_normalise_clips_minus_infinity_too() -> None:
    """A -inf loss (a maximised objective that diverged to +inf) is clipped to the column's finite
    minimum, like +inf to its maximum, so it cannot turn the column into NaN."""
    losses = np.array([(0.2, 1.0), (0.5, 2.0), (1.0, 4.0), (-np.inf, 3.0)])
    clipped = losses.copy()
    clipped[3, 0] = 0.2
    np.testing.assert_allclose(normalise(losses), normalise(clipped))
    assert np.isfinite(normalise(losses)).all()


def test_make_selection_passes_the_number_of_clusters() -> None:
    losses = np.array([(0, 0), (0.2, 0.1), (0.3, 0.1), (0.1, 0.4), (0.3, 0.9), (1, 1)])
    sel = make_selection("scgan", scgan_clusters=2)
    assert isinstance(sel, SCGANSelection) and sel.clusters == 2
    assert sel(losses, 3, RNG) == SCGANSelection(clusters=2)(losses, 3, RNG) == [0, 1, 3]


@pytest.mark.parametrize("name", ["nsga2", "eagan", "scgan"])
def test_selection_refuses_a_single_objective(name: str) -> None:
    with pytest.raises(ValueError, match="m ≥ 2"):
        make_selection(name)(np.arange(6.0).reshape(6, 1), 3, RNG)


def test_selection_compares_losses_in_float64() -> None:
    """Values that only float64 tells apart (e.g. FLOP counts near 1e8) are not ties: the three
    rows are mutually non-dominated, so NSGA-II keeps the two ends of the front."""
    losses = np.array([(0.0, 1e8 + 2), (2.0, 1e8), (1.0, 1e8 + 1)])
    assert sorted(NSGA2Selection()(losses, 2, RNG)) == [0, 1]


# ---------------------------------------------------------------------- variation


def test_crossover_can_take_every_candidate_edge() -> None:
    """The copied edge is drawn among *all* valid differing edges (none is unreachable)."""
    a, b = random_genotype("gen", np.random.default_rng(11)), random_genotype("gen", np.random.default_rng(12))
    op = OneEdgeCrossover()
    cands = op.candidates(a, b)
    assert len(cands) >= 5
    seen = {op.crossover(a, b, np.random.default_rng(s)) for s in range(400)}
    assert seen == {a.with_op(c, e, b.cells[c][e]) for c, e in cands}


def test_mutation_never_touches_an_ignored_e6() -> None:
    """With e5 = `no_down` in every cell, a mutation must still change something real."""
    g = random_genotype("disc", np.random.default_rng(4))
    for c in range(3):
        g = g.with_op(c, 5, NO_DOWN)
    seen = {OneEdgeMutation().mutate(g, np.random.default_rng(s)) for s in range(300)}
    assert g not in seen


def test_mutation_draws_the_edge_first_then_the_op() -> None:
    """Edge uniform among mutable edges, then op uniform among its alternatives: an up edge
    (2 alternatives) is mutated as often as a normal one (about 6), i.e. 6 of 21 edges are up."""
    g = EAGAN_G
    m = OneEdgeMutation()
    n = 1000
    rng = np.random.default_rng(1)
    edges = Counter()
    for _ in range(n):
        child = m.mutate(g, rng)
        (pos,) = [(c, e) for c in range(3) for e in range(7) if child.cells[c][e] != g.cells[c][e]]
        edges[pos[1] < 2] += 1
    p = 6 / 21  # every edge of EAGAN's G has at least one valid alternative
    assert abs(edges[True] / n - p) < 4 * np.sqrt(p * (1 - p) / n)


def _parents(n: int) -> list[tuple[int, Genotype]]:
    rng = np.random.default_rng(77)
    out: dict[Genotype, int] = {}
    while len(out) < n:
        out.setdefault(random_genotype("gen", rng), 100 + len(out))
    return [(num, g) for g, num in out.items()]


def test_a_mutation_only_child_can_come_from_every_survivor() -> None:
    strategy = ChildGenerationStrategy(ConstrainedDraw(CIFAR10_WIDTHS, Caps(), 10), crossover_prob=0.0,
                                       mutation_prob=1.0)
    parents, rng = _parents(3), np.random.default_rng(3)
    used = Counter(strategy.attempt(parents, rng).parents for _ in range(300))
    assert set(used) == {(n,) for n, _ in parents}


def test_the_initial_draw_skips_architectures_already_taken() -> None:
    """Generation 0 never repeats an architecture: a draw equal to a taken one is redrawn."""
    first = random_genotype("gen", np.random.default_rng(5))
    initial = InitialPopulationStrategy("gen", ConstrainedDraw(CIFAR10_WIDTHS, Caps(), 10))
    assert initial(set(), np.random.default_rng(5), "test").genotype == first
    got = initial({first}, np.random.default_rng(5), "test")
    assert got.genotype != first and got.role == "initial"


def test_constraint_error_counts_duplicates_and_reports_size_ranges() -> None:
    """The error names how many draws were duplicates and how many violated the caps, and the
    exact range of sizes (params, per-cell params, FLOPs) of the infeasible ones."""
    caps = Caps(params_M=(None, 1.0), flops_M=(None, 1e6))
    draws = iter([EAGAN_G, ADVNAS_G, EAGAN_G, ADVNAS_G, EAGAN_G, ADVNAS_G])
    taken = {EAGAN_G}
    with pytest.raises(ConstraintError) as err:
        ConstrainedDraw(CIFAR10_WIDTHS, caps, 6)(lambda: (next(draws), None), taken, "test")
    msg = str(err.value)
    assert "3 violated them, 3 were duplicates" in msg
    size = count_params(ADVNAS_G, CIFAR10_WIDTHS)
    cells = [p / 1e6 for p in size.per_cell]
    flops = count_flops(ADVNAS_G, CIFAR10_WIDTHS) / 1e6
    assert f"params_M {size.total / 1e6:.4g}–{size.total / 1e6:.4g}" in msg
    assert f"cell_params_M {min(cells):.4g}–{max(cells):.4g}" in msg
    assert f"flops_M {flops:.4g}–{flops:.4g}" in msg


# ---------------------------------------------------------------------- seeding


def test_every_network_stream_and_key_gets_its_own_generator() -> None:
    """(network, purpose, generation, slot) all enter the seed: no two of them share draws (a
    D search does not replay the G search's decisions, an enqueued fill not the proposal's)."""
    firsts = {}
    for net, stream, g, s in product(("gen", "disc"), (STREAM_PROPOSAL, STREAM_SELECTION, STREAM_INDEPENDENT,
                                                       STREAM_ENQUEUED), range(3), range(3)):
        firsts[(net, stream, g, s)] = tuple(rng_for(7, net, stream, g, s).integers(0, 2**63, size=2))
    assert len(set(firsts.values())) == len(firsts)
    assert rng_for(7, "gen", STREAM_SELECTION, 2).integers(0, 2**63) != rng_for(7, "disc", STREAM_SELECTION, 2).integers(0, 2**63)


def test_seed_for_string_keys_is_the_same_in_every_process() -> None:
    """Resume determinism: a string key part must not go through Python's per-process salted hash."""
    code = ("from optgan.sampler.seeding import seed_for, STREAM_INDEPENDENT; "
            "print(seed_for(3, 'gen', STREAM_INDEPENDENT, 1, 2, 'lr'))")
    outs = set()
    for hash_seed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=hash_seed, PYTHONPATH=os.pathsep.join(sys.path))
        outs.add(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                                check=True).stdout.strip())
    assert outs == {str(seed_for(3, "gen", STREAM_INDEPENDENT, 1, 2, "lr"))}
