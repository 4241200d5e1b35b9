"""Stage-disc supernet training: independent G* copies per D candidate and weight-resetting."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from optgan.errors import CheckpointError, GenotypeError
from optgan.search_space.genotype import Genotype
from optgan.search_space.random import random_genotype
from optgan.trainer.pairing import GCopy
from optgan.trainer.search_training import SearchTrainer, make_stage_trainer

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_search_training_helpers import (  # noqa: E402
    W,
    deterministic,  # noqa: F401  (fixture)
    disc_trainer,
    gen_trainer,
    image_set,
    one_thread,  # noqa: F401  (autouse fixture)
    roundtrip,
    study_config,
)

POP = [random_genotype("disc", np.random.default_rng(i)) for i in range(3)]


def values(copy: GCopy) -> list[torch.Tensor]:
    return [t.clone() for t in copy.tensors()]


def same(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    return len(a) == len(b) and all(torch.equal(x, y) for x, y in zip(a, b))


def drawn_in_round(t: SearchTrainer, pop: list[Genotype], epochs: int) -> list[Genotype]:
    seen: list[Genotype] = []
    pick = t.pairing.round_pair

    def spy(population):
        pair = pick(population)
        seen.append(pair.key[1])
        return pair

    t.pairing.round_pair = spy  # type: ignore[method-assign]
    try:
        t.train_round(pop, epochs)
    finally:
        del t.pairing.round_pair
    return seen


def test_g_star_starts_from_the_stage_gen_supernet() -> None:
    g = gen_trainer()
    g.warmup(1)
    state = g.gen_supernet_state()
    t = disc_trainer(supernet_state=state)
    net_state = t.pairing.reset.net.state_dict()
    assert net_state and all(torch.equal(v, state[k]) for k, v in net_state.items())
    assert all(float(s["step"]) == 0 for s in t.pairing.reset.opt.state.values())  # fresh Adam
    with pytest.raises(GenotypeError, match="G\\*"):
        make_stage_trainer(study_config(), "disc", device=torch.device("cpu"), images=image_set())
    with pytest.raises(CheckpointError, match="lacks"):
        disc_trainer(supernet_state={"l1.weight": torch.zeros(1)})


def test_copies_are_independent_during_a_round() -> None:
    t = disc_trainer()
    start = values(t.pairing.reset)
    drawn = drawn_in_round(t, POP, 1)  # 10 iterations = 2 blocks of n_critic 5: a member is left out
    copies = {g: t.pairing.copies[g] for g in POP}
    assert len(drawn) == 2 and len(set(drawn)) < len(POP)
    for g, copy in copies.items():
        assert same(values(copy), start) == (g not in drawn), "only drawn copies train"
    if len(set(drawn)) == 2:
        a, b = (copies[g] for g in set(drawn))
        assert not same(values(a), values(b))
    # no storage is shared between copies or with the reset snapshot
    ptrs = [t.data_ptr() for c in [t.pairing.reset, *copies.values()] for t in c.tensors() if t.numel()]
    assert len(ptrs) == len(set(ptrs))
    assert same(values(t.pairing.reset), start)  # the snapshot is never trained


def test_end_round_resets_every_copy_to_the_best_and_keeps_them_independent() -> None:
    t = disc_trainer(iters_per_epoch=30)
    drawn = drawn_in_round(t, POP, 1)
    best = max(set(drawn), key=drawn.count)
    best_values = values(t.pairing.copies[best])
    t.end_round(POP, POP.index(best))
    for g in POP:
        assert same(values(t.pairing.copies[g]), best_values), "every copy := the best's, Adam state included"
    assert same(values(t.pairing.reset), best_values)
    # survivors keep their copy objects; a new child gets a copy of the reset state
    child = random_genotype("disc", np.random.default_rng(99))
    survivors = [POP[0], best] if best != POP[0] else [POP[0], POP[1]]
    old_copy = t.pairing.copies[survivors[0]]
    t.pairing.begin_round([*survivors, child])
    assert t.pairing.copies[survivors[0]] is old_copy
    assert same(values(t.pairing.copies[child]), best_values)
    drawn = drawn_in_round(t, [*survivors, child], 1)
    for g in {*survivors, child}:
        assert same(values(t.pairing.copies[g]), best_values) == (g not in drawn), "copies diverge again"


def test_candidates_use_their_own_copy() -> None:
    t = disc_trainer(iters_per_epoch=30)
    drawn = drawn_in_round(t, POP, 1)
    z = torch.randn(4, W.latent_dim)
    outs = {g: c(z) for g, c in zip(POP, t.candidates(POP))}
    assert all(o.shape == (4, 3, 8, 8) and float(o.abs().max()) <= 1 for o in outs.values())
    trained = sorted(set(drawn), key=POP.index)
    if len(trained) >= 2:
        assert not torch.equal(outs[trained[0]], outs[trained[1]])
    t.end_round(POP, 0)
    after = [c(z) for c in t.candidates(POP)]
    assert all(torch.equal(a, after[0]) for a in after)
    assert t.warmup(5).iterations == 0  # stage disc has no warm-up


def _run_on(t: SearchTrainer, pop: list[Genotype]) -> list:
    out = [t.train_round(pop, 1)]
    t.end_round(pop, 1)
    out.append(t.train_round([pop[1], pop[2], random_genotype("disc", np.random.default_rng(5))], 1))
    out += [v for g in t.pairing.copies.values() for v in values(g)]
    return out + [v.clone() for v in t.pairing.d.state_dict().values()]


@pytest.mark.parametrize("mid_round", [True, False])
def test_resume_is_bit_identical(mid_round: bool, deterministic) -> None:
    if True:
        a = disc_trainer(iters_per_epoch=15)
        a.train_round(POP, 1)
        if not mid_round:
            a.end_round(POP, 2)
        state = roundtrip(a.state_dict())
        assert bool(state["pairing"]["copies"]) == mid_round  # after a reset only the snapshot is stored
        b = disc_trainer(seed=42, iters_per_epoch=15)
        b.load_state_dict(state)
        ra, rb = _run_on(a, POP), _run_on(b, POP)
        assert ra[:2] == rb[:2]
        assert len(ra) == len(rb) and all(torch.equal(x, y) for x, y in zip(ra[2:], rb[2:]))
