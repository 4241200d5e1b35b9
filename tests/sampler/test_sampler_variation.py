"""Crossover and mutation: property tests (hypothesis) and the seeded frequency test."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optgan.sampler._cells import is_ignored
from optgan.sampler.child_generation import ChildGenerationStrategy
from optgan.sampler.constrained import ConstrainedDraw
from optgan.sampler.crossover import OneEdgeCrossover
from optgan.sampler.mutation import OneEdgeMutation
from optgan.search_space.constraints import Caps
from optgan.search_space.genotype import Genotype
from optgan.search_space.random import random_genotype
from optgan.search_space.widths import CIFAR10_WIDTHS

seeds = st.integers(min_value=0, max_value=2**32 - 1)
nets = st.sampled_from(["gen", "disc"])


def genotype_of(net: str, seed: int) -> Genotype:
    return random_genotype(net, np.random.default_rng(seed))


def effective_diff(x: Genotype, y: Genotype) -> set[tuple[int, int]]:
    """Positions where x and y differ, skipping a D's e6 wherever either ignores it."""
    return {
        (c, e)
        for c in range(3)
        for e in range(7)
        if x.cells[c][e] != y.cells[c][e] and not (is_ignored(x, c, e) or is_ignored(y, c, e))
    }


@settings(max_examples=300, deadline=None)
@given(net=nets, sa=seeds, sb=seeds, sr=seeds)
def test_crossover_takes_exactly_one_edge_from_b(net: str, sa: int, sb: int, sr: int) -> None:
    a, b = genotype_of(net, sa), genotype_of(net, sb)
    child = OneEdgeCrossover().crossover(a, b, np.random.default_rng(sr))
    if child is None:
        assert not OneEdgeCrossover().candidates(a, b)
        return
    diff = effective_diff(a, child)
    assert len(diff) == 1
    (c, e), = diff
    assert child.cells[c][e] == b.cells[c][e]
    assert Genotype(net, child.cells) == child  # valid (re-validates) and canonical


@settings(max_examples=200, deadline=None)
@given(net=nets, sa=seeds, sr=seeds)
def test_crossover_of_identical_parents_is_none(net: str, sa: int, sr: int) -> None:
    a = genotype_of(net, sa)
    assert OneEdgeCrossover().crossover(a, a, np.random.default_rng(sr)) is None


@settings(max_examples=300, deadline=None)
@given(net=nets, sa=seeds, sb=seeds)
def test_crossover_candidates_are_exactly_the_valid_single_swaps(net: str, sa: int, sb: int) -> None:
    a, b = genotype_of(net, sa), genotype_of(net, sb)
    brute = set()
    for c in range(3):
        for e in range(7):
            if is_ignored(a, c, e) or is_ignored(b, c, e):
                continue
            try:
                child = a.with_op(c, e, b.cells[c][e])
            except ValueError:
                continue
            if child != a:
                brute.add((c, e))
    assert set(OneEdgeCrossover().candidates(a, b)) == brute


@settings(max_examples=300, deadline=None)
@given(net=nets, sa=seeds, sr=seeds)
def test_mutation_changes_exactly_one_edge(net: str, sa: int, sr: int) -> None:
    g = genotype_of(net, sa)
    child = OneEdgeMutation().mutate(g, np.random.default_rng(sr))
    assert child != g
    assert len(effective_diff(g, child)) == 1
    assert Genotype(net, child.cells) == child


def test_mutation_reaches_every_valid_neighbour() -> None:
    g = genotype_of("disc", 3)
    rng = np.random.default_rng(0)
    seen = {OneEdgeMutation().mutate(g, rng) for _ in range(4000)}
    m = OneEdgeMutation()
    expected = {g.with_op(c, e, op) for c in range(3) for e in range(7) for op in m.alternatives(g, c, e)}
    assert seen == expected


def _parents(n: int) -> list[tuple[int, Genotype]]:
    rng = np.random.default_rng(123)
    out: dict[Genotype, int] = {}
    while len(out) < n:
        out.setdefault(random_genotype("gen", rng), len(out))
    return [(num, g) for g, num in out.items()]


@pytest.mark.parametrize("p_cross, p_mut", [(0.3, 0.5), (0.8, 0.1)])
def test_operator_frequencies_match_the_probabilities(p_cross: float, p_mut: float) -> None:
    strategy = ChildGenerationStrategy(ConstrainedDraw(CIFAR10_WIDTHS, Caps(), 10),
                                       crossover_prob=p_cross, mutation_prob=p_mut)
    parents, rng, n = _parents(16), np.random.default_rng(2024), 6000
    ops = [strategy.attempt(parents, rng).operators for _ in range(n)]
    for name, p in (("crossover", p_cross), ("mutation", p_mut)):
        freq = sum(name in o for o in ops) / n
        assert abs(freq - p) < 4 * np.sqrt(p * (1 - p) / n), (name, freq, p)
    both = sum(o == "crossover+mutation" for o in ops) / n  # the coins are independent
    assert abs(both - p_cross * p_mut) < 4 * np.sqrt(p_cross * p_mut / n)


def test_children_are_new_and_name_their_parents() -> None:
    strategy = ChildGenerationStrategy(ConstrainedDraw(CIFAR10_WIDTHS, Caps(), 100))
    parents = _parents(8)
    taken = {g for _, g in parents}
    numbers = {n for n, _ in parents}
    rng = np.random.default_rng(5)
    for _ in range(50):
        child = strategy(parents, taken, rng, "test")
        assert child.genotype not in taken and child.role == "child"
        assert set(child.parents) <= numbers and child.operators
        assert len(child.parents) == (2 if "crossover" in child.operators else 1)
        taken.add(child.genotype)


@pytest.mark.parametrize("p_cross, p_mut, expected", [(1.0, 0.0, {"crossover"}), (0.0, 1.0, {"mutation"})])
def test_the_study_sampler_uses_the_configured_probabilities(new_study, p_cross: float, p_mut: float,
                                                             expected: set[str]) -> None:
    """The sampler hands `sampler.crossover_prob` / `mutation_prob` to its child generation (not
    swapped, not the defaults): with one of them 1 and the other 0, every child shows it."""
    import optuna

    from optgan import keys
    from optgan.sampler.dry_run import run_synthetic_search

    study = new_study(population_size=8, crossover_prob=p_cross, mutation_prob=p_mut)
    run_synthetic_search(study, generations=2)
    children = [t for t in study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
                if t.user_attrs.get(keys.ROLE) == "child"]
    assert children and {t.user_attrs[keys.OPERATORS] for t in children} == expected
