"""Sampler properties earlier tests left open (mutation testing, round 9).

Each test states what it guards; all are seeded and run in well under a second or two.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from optgan import keys
from optgan.errors import ConstraintError
from optgan.sampler.bookkeeping import Membership
from optgan.sampler.child_generation import ChildGenerationStrategy
from optgan.sampler.constrained import ConstrainedDraw
from optgan.sampler.crossover import BaseGenotypeCrossover, OneEdgeCrossover
from optgan.sampler.enqueued import enqueued_genotype
from optgan.sampler.seeding import STREAM_ENQUEUED, rng_for
from optgan.search_space.constraints import Caps
from optgan.search_space.distributions import param_distributions
from optgan.search_space.genotype import Genotype
from optgan.search_space.random import random_genotype
from optgan.search_space.widths import CIFAR10_WIDTHS

EAGAN_G = Genotype.from_array("gen", [[1, 1, 1, 0, 2, 3, 1], [1, 1, 0, 1, 3, 0, 5], [0, 1, 0, 3, 0, 0, 3]])
ADVNAS_G = Genotype.from_array("gen", [[1, 1, 1, 0, 3, 3, 1], [1, 1, 0, 1, 3, 3, 3], [0, 1, 0, 3, 3, 0, 3]])


def _diff(x: Genotype, y: Genotype) -> list[tuple[int, int]]:
    return [(c, e) for c in range(3) for e in range(7) if x.cells[c][e] != y.cells[c][e]]


def _parents(n: int, seed: int = 31) -> list[tuple[int, Genotype]]:
    rng = np.random.default_rng(seed)
    out: dict[Genotype, int] = {}
    while len(out) < n:
        out.setdefault(random_genotype("gen", rng), 200 + len(out))
    return [(num, g) for g, num in out.items()]


# ---------------------------------------------------------------------- child generation


def test_crossover_lineage_names_parent_a_first() -> None:
    """A crossover child's parents are (A, B): the child is A with exactly one edge of B."""
    strategy = ChildGenerationStrategy(ConstrainedDraw(CIFAR10_WIDTHS, Caps(), 10),
                                       crossover_prob=1.0, mutation_prob=0.0)
    parents = _parents(4)
    by_number = dict(parents)
    rng = np.random.default_rng(0)
    for _ in range(60):
        p = strategy.attempt(parents, rng)
        a, b = (by_number[n] for n in p.parents)
        (pos,) = _diff(a, p.genotype)
        assert p.genotype.cells[pos[0]][pos[1]] == b.cells[pos[0]][pos[1]]
        assert p.operators == "crossover"


def test_two_survivors_are_enough_for_crossover() -> None:
    """With exactly two survivors, every attempt at crossover_prob = 1 crosses them, both ways."""
    strategy = ChildGenerationStrategy(ConstrainedDraw(CIFAR10_WIDTHS, Caps(), 10),
                                       crossover_prob=1.0, mutation_prob=0.0)
    parents = _parents(2)
    rng = np.random.default_rng(1)
    seen = Counter(strategy.attempt(parents, rng).parents for _ in range(400))
    numbers = tuple(n for n, _ in parents)
    assert set(seen) == {numbers, numbers[::-1]}
    assert abs(seen[numbers] / 400 - 0.5) < 4 * np.sqrt(0.25 / 400)


def test_crossover_frequency_with_two_parents() -> None:
    """The two crossover parents are distinct: with 2 survivors crossover still happens at p = 0.3."""
    strategy = ChildGenerationStrategy(ConstrainedDraw(CIFAR10_WIDTHS, Caps(), 10))
    parents, rng, n = _parents(2), np.random.default_rng(7), 4000
    freq = sum("crossover" in strategy.attempt(parents, rng).operators for _ in range(n)) / n
    assert abs(freq - 0.3) < 4 * np.sqrt(0.3 * 0.7 / n)


class _NoCrossover(BaseGenotypeCrossover):
    """A crossover that never finds a child (like two parents with no valid swap)."""

    def crossover(self, a, b, rng):  # noqa: ANN001, ANN201
        return None


def test_a_failed_crossover_is_not_labelled_crossover() -> None:
    """When the crossover operator returns None, the child is a one-parent copy/mutation and its
    `operators` lineage does not claim a crossover."""
    strategy = ChildGenerationStrategy(ConstrainedDraw(CIFAR10_WIDTHS, Caps(), 10),
                                       crossover_prob=1.0, mutation_prob=0.5, crossover=_NoCrossover())
    parents, rng = _parents(3), np.random.default_rng(2)
    ops = Counter()
    for _ in range(200):
        p = strategy.attempt(parents, rng)
        assert len(p.parents) == 1 and "crossover" not in p.operators
        ops[p.operators] += 1
    assert set(ops) == {"", "mutation"}


def test_probability_bounds_are_inclusive() -> None:
    """0 and 1 are valid probabilities; values outside [0, 1] are refused."""
    draw = ConstrainedDraw(CIFAR10_WIDTHS, Caps(), 10)
    for p in (0.0, 1.0):
        ChildGenerationStrategy(draw, crossover_prob=p, mutation_prob=p)
    for bad in (-0.01, 1.01):
        with pytest.raises(ValueError):
            ChildGenerationStrategy(draw, crossover_prob=bad)
        with pytest.raises(ValueError):
            ChildGenerationStrategy(draw, mutation_prob=bad)


# ---------------------------------------------------------------------- constrained draws


def test_max_tries_must_be_positive() -> None:
    """`max_tries` = 0 is refused (no draw at all could ever succeed)."""
    with pytest.raises(ValueError, match="max_tries"):
        ConstrainedDraw(CIFAR10_WIDTHS, Caps(), 0)
    ConstrainedDraw(CIFAR10_WIDTHS, Caps(), 1)


def test_rejected_size_range_keeps_its_minimum() -> None:
    """The reported range of rejected sizes spans min–max even when the first one is the largest."""
    caps = Caps(params_M=(None, 1.0))
    draws = iter([ADVNAS_G, EAGAN_G, ADVNAS_G])
    with pytest.raises(ConstraintError) as err:
        ConstrainedDraw(CIFAR10_WIDTHS, caps, 3)(lambda: (next(draws), None), set(), "test")
    assert "params_M 7.142–8.847" in str(err.value)


def test_a_feasible_duplicate_is_counted_as_a_duplicate() -> None:
    """Duplicates are counted as duplicates (checked before the caps)."""
    caps = Caps(params_M=(None, 1.0))
    draws = iter([EAGAN_G, EAGAN_G])
    with pytest.raises(ConstraintError, match="2 violated them, 0 were duplicates"):
        ConstrainedDraw(CIFAR10_WIDTHS, caps, 2)(lambda: (next(draws), None), set(), "test")
    draws = iter([EAGAN_G, EAGAN_G])
    with pytest.raises(ConstraintError, match="0 violated them, 2 were duplicates"):
        ConstrainedDraw(CIFAR10_WIDTHS, caps, 2)(lambda: (next(draws), None), {EAGAN_G}, "test")


# ---------------------------------------------------------------------- enqueued trials


def test_an_enqueued_fill_outside_the_caps_uses_the_first_valid_draw() -> None:
    """Unreachable caps: the partially enqueued trial is completed with the *first* valid draw."""
    fixed = {"gen.c1.e0": "conv_transpose", "gen.c2.e3": "conv_5x5"}
    where = Membership(3, 2)
    draw = ConstrainedDraw(CIFAR10_WIDTHS, Caps(params_M=(None, 0.001)), 5)
    got = enqueued_genotype(fixed, where, net="gen", seed=11, constrained=draw)
    rng = rng_for(11, "gen", STREAM_ENQUEUED, 3, 2)
    first = Genotype.from_params("gen", {**random_genotype("gen", rng).to_params(), **fixed})
    assert got == first


def test_an_enqueued_fill_prefers_a_feasible_draw() -> None:
    """Reachable caps: the completion is within the caps even when the first draw is not."""
    fixed = {"gen.c1.e0": "conv_transpose"}
    caps = Caps(params_M=(None, 11.0))  # admits about 15 % of the completions
    draw = ConstrainedDraw(CIFAR10_WIDTHS, caps, 200)
    firsts_infeasible = 0
    for slot in range(6):
        got = enqueued_genotype(fixed, Membership(0, slot), net="gen", seed=4, constrained=draw)
        assert got is not None and draw.feasible(got) and got.cells[0][0] == "conv_transpose"
        first = random_genotype("gen", rng_for(4, "gen", STREAM_ENQUEUED, 0, slot)).to_params()
        firsts_infeasible += not draw.feasible(Genotype.from_params("gen", {**first, **fixed}))
    assert firsts_infeasible >= 3


# ---------------------------------------------------------------------- selection in a study


def test_select_parent_respects_the_directions(new_study) -> None:
    """Survivors are the best by the study's directions (IS maximised, FID minimised)."""
    study = new_study(population_size=8, num_survivors=4, directions=["maximize", "minimize"])
    trials = [study.ask(param_distributions("gen")) for _ in range(8)]
    for i, t in enumerate(trials):
        study.tell(t, [float(i), float(-i)])  # trial 7 is best in both, trial 0 worst
    chosen = study.sampler.select_parent(study, 1)
    assert [t.number for t in chosen] == [4, 5, 6, 7]
    study2 = new_study(population_size=8, num_survivors=4, directions=["minimize", "maximize"])
    trials = [study2.ask(param_distributions("gen")) for _ in range(8)]
    for i, t in enumerate(trials):
        study2.tell(t, [float(i), float(-i)])  # now trial 0 is best in both
    assert [t.number for t in study2.sampler.select_parent(study2, 1)] == [0, 1, 2, 3]


def test_duplicate_survivor_genotypes_are_proposed_once(new_study) -> None:
    """Two surviving trials with one genotype (enqueued twice) give one survivor entry: the next
    generation holds every genotype at most once."""
    study = new_study(population_size=4, num_survivors=2, directions=["maximize", "minimize"])
    params = EAGAN_G.to_params()
    study.enqueue_trial(params)
    study.enqueue_trial(params)
    trials = [study.ask(param_distributions("gen")) for _ in range(4)]
    for t in trials:  # the two enqueued copies (trials 0 and 1) are the best
        study.tell(t, [10.0 - t.number, float(t.number)])
    survivors = study.sampler.plan(study, 1).survivors
    assert [g for _, g in survivors] == [EAGAN_G]
    for _ in range(4):
        study.ask(param_distributions("gen"))
    nxt = study.get_trials()[4:]
    genotypes = [Genotype.from_params("gen", t.params) for t in nxt]
    assert len(set(genotypes)) == 4 and genotypes.count(EAGAN_G) == 1
    assert [t.user_attrs[keys.ROLE] for t in nxt].count(keys.ROLE_SURVIVOR) == 1


def test_crossover_of_distinct_parents_always_finds_a_child() -> None:
    """Distinct valid parents always admit a valid one-edge swap (so crossover never falls back)."""
    rng = np.random.default_rng(3)
    op = OneEdgeCrossover()
    for net in ("gen", "disc"):
        for _ in range(300):
            a, b = random_genotype(net, rng), random_genotype(net, rng)
            if a != b:
                assert op.candidates(a, b)


def test_crossing_a_generator_with_a_discriminator_is_refused() -> None:
    """Crossover refuses parents of different networks instead of mixing op vocabularies."""
    d = random_genotype("disc", np.random.default_rng(0))
    with pytest.raises(ValueError, match="cannot cross"):
        OneEdgeCrossover().crossover(EAGAN_G, d, np.random.default_rng(0))


def test_e6_is_variable_when_e5_downsamples() -> None:
    """A D's e6 is mutable and crossable while e5 is a real down op (only no_down freezes it)."""
    from optgan.sampler.mutation import OneEdgeMutation

    d = Genotype.from_array("disc", [[3, 0, 3, 0, 2, 2, 0], [1, 0, 3, 0, 1, 3, 1], [3, 0, 3, 0, 1, 0, 5]])
    m = OneEdgeMutation()
    assert len(m.alternatives(d, 0, 6)) == 5
    changed = {pos for s in range(400) for pos in _diff(d, m.mutate(d, np.random.default_rng(s)))}
    assert {(0, 6), (1, 6), (2, 6)} <= changed
    b = d.with_op(0, 6, "conv_5x5")
    assert OneEdgeCrossover().candidates(d, b) == [(0, 6)]
    assert OneEdgeCrossover().crossover(d, b, np.random.default_rng(0)) == b


def test_scgan_a_column_without_finite_values_becomes_zeros() -> None:
    """normalise: an all-inf column (every candidate diverged) is zeros, not NaN, and selection runs."""
    from optgan.sampler.select_scgan import SCGANSelection, normalise

    losses = np.array([(0.0, np.inf), (1.0, np.inf), (2.0, np.inf), (3.0, -np.inf)])
    norm = normalise(losses)
    np.testing.assert_array_equal(norm, [[0, 0], [1 / 3, 0], [2 / 3, 0], [1, 0]])
    assert SCGANSelection(clusters=1)(losses, 2, np.random.default_rng(0)) == [0, 1]


def test_scgan_needs_at_least_one_cluster() -> None:
    """SCGANSelection(clusters=0) is refused."""
    from optgan.sampler.select_scgan import SCGANSelection

    with pytest.raises(ValueError, match="clusters"):
        SCGANSelection(clusters=0)
    assert SCGANSelection(clusters=1).clusters == 1


def test_synthetic_quality_skips_the_ignored_e6() -> None:
    """Synthetic cell quality is the mean over the edges that take effect (6 when e5 = no_down)."""
    from optgan.sampler.synthetic import OP_QUALITY, quality

    cell = ("conv_3x3", "none", "conv_5x5", "skip_connect", "none", "no_down", "avg_pool")
    q, b = quality(Genotype("disc", (cell,) * 3))
    assert q == pytest.approx(np.mean([OP_QUALITY[op] for op in cell[:6]])) and b == pytest.approx(0.0)
