"""Pairing and trainer bookkeeping of the search (SPEC §2–§3): candidates in eval mode, G* copies
that follow the population, weight-resetting of everything a copy holds, snapshots that are
real copies, the seeding contract and the epoch length."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from optgan.errors import CheckpointError, ConfigError
from optgan.search_space.random import random_genotype
from optgan.supernet import StandaloneD, build_simple_discriminator, build_supernet_g
from optgan.trainer.search_setup import stage_seed
from optgan.trainer.search_training import make_stage_trainer

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_search_training_helpers import (
    LIVE_G,
    W,
    disc_trainer,
    gen_trainer,
    image_set,
    one_thread,  # noqa: F401  (autouse fixture)
    study_config,
)

POP = [random_genotype("disc", np.random.default_rng(i)) for i in range(3)]
CHILD = random_genotype("disc", np.random.default_rng(99))


def _copy_values(copy) -> list[torch.Tensor]:
    """Weights, BN statistics and Adam state of a G copy, read without `GCopy.tensors`."""
    net = [v.clone() for v in copy.net.state_dict().values()]
    return net + [v.clone() for p in copy.net.parameters() for v in copy.opt.state[p].values()]


def _same(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    return len(a) == len(b) and all(torch.equal(x, y) for x, y in zip(a, b))


def _bn_buffers(net: torch.nn.Module) -> list[torch.Tensor]:
    return [b.clone() for n, b in net.named_buffers() if "running" in n]


@pytest.mark.parametrize("stage", ["gen", "disc"])
def test_candidates_generate_in_eval_mode(stage: str) -> None:
    """Eval mode: each image depends on its own latent only (BN running statistics, not the
    batch's) and generating leaves the statistics alone."""
    t = gen_trainer() if stage == "gen" else disc_trainer()
    pop = [LIVE_G] if stage == "gen" else POP[:1]
    t.train_round(pop, 1)
    net = t.pairing.g if stage == "gen" else t.pairing.copies[POP[0]].net
    before = _bn_buffers(net)
    z = torch.randn(6, W.latent_dim, generator=torch.Generator().manual_seed(0))
    (candidate,) = t.candidates(pop)
    torch.testing.assert_close(candidate(z)[:2], candidate(z[:2]), rtol=1e-5, atol=1e-6)
    assert _same(_bn_buffers(net), before)


def test_weight_reset_copies_weights_bn_statistics_and_adam_state() -> None:
    """SPEC §3: every copy := the best's copy, its Adam state included (read directly from each
    network's state dict and each optimizer's state)."""
    t = disc_trainer(iters_per_epoch=30)
    t.train_round(POP, 1)
    best = POP[1]
    expected = _copy_values(t.pairing.copies[best])
    assert any(float(s["step"]) > 0 for s in t.pairing.copies[best].opt.state.values())
    t.end_round(POP, 1)
    for copy in [t.pairing.reset, *t.pairing.copies.values()]:
        assert _same(_copy_values(copy), expected)


def test_a_new_member_starts_from_the_reset_snapshot_even_without_a_reset_between_rounds() -> None:
    """Copies given up by dropped members and reused for new ones start from the snapshot, not
    from the dropped members' trained weights; only the population's members hold copies."""
    t = disc_trainer(iters_per_epoch=30)
    start = _copy_values(t.pairing.reset)
    t.train_round(POP, 1)
    assert not all(_same(_copy_values(t.pairing.copies[g]), start) for g in POP[1:])
    children = [CHILD, random_genotype("disc", np.random.default_rng(98))]
    t.train_round([POP[0], *children], 0)  # no blocks: only the population changes
    assert set(t.pairing.copies) == {POP[0], *children}
    assert all(_same(_copy_values(t.pairing.copies[g]), start) for g in children)
    state = t.state_dict()["pairing"]
    assert len(state["copies"]) + len(state["clean"]) == 3


def test_a_loaded_trainer_saves_the_state_it_loaded() -> None:
    """Loading marks the trained copies as trained: a checkpoint written right after a resume
    keeps them (a clean copy would be restored from the reset snapshot)."""
    a = disc_trainer(iters_per_epoch=30)
    a.train_round(POP, 1)
    saved = a.state_dict()
    assert saved["pairing"]["copies"]
    b = disc_trainer()
    b.load_state_dict(saved)
    again = b.state_dict()["pairing"]
    assert [c["genotype"] for c in again["copies"]] == [c["genotype"] for c in saved["pairing"]["copies"]]
    c = disc_trainer()
    c.load_state_dict(b.state_dict())
    for g in POP:
        assert _same(_copy_values(c.pairing.copies[g]), _copy_values(a.pairing.copies[g]))


def test_loading_into_a_trainer_that_trained_equals_loading_into_a_new_one() -> None:
    saved = disc_trainer(seed=1)
    saved.train_round(POP, 1)  # 2 blocks: some members' copies are still clean
    state = saved.state_dict()
    assert state["pairing"]["clean"] and state["pairing"]["copies"]
    used, fresh = disc_trainer(iters_per_epoch=20), disc_trainer()
    used.train_round([CHILD, random_genotype("disc", np.random.default_rng(98))], 1)
    for t in (used, fresh):
        t.load_state_dict(state)
    assert set(used.pairing.copies) == set(fresh.pairing.copies) == set(POP)
    for g in POP:
        assert _same(_copy_values(used.pairing.copies[g]), _copy_values(fresh.pairing.copies[g]))


@pytest.mark.parametrize("stage", ["gen", "disc"])
def test_state_dict_is_a_snapshot_not_a_view(stage: str) -> None:
    """Checkpoint state is copied when taken (SPEC §3 names `state_dict()` aliasing as the bug):
    training on afterwards leaves it unchanged."""
    t = gen_trainer() if stage == "gen" else disc_trainer()
    pop = [LIVE_G] if stage == "gen" else POP
    t.train_round(pop, 1)
    state = t.state_dict()
    flat = _flatten(state)
    frozen = [v.clone() for v in flat]
    t.train_round(pop, 1)
    assert _same(flat, frozen)


def _flatten(obj) -> list[torch.Tensor]:
    if isinstance(obj, torch.Tensor):
        return [obj]
    if isinstance(obj, dict):
        return [t for v in obj.values() for t in _flatten(v)]
    if isinstance(obj, (list, tuple)):
        return [t for v in obj for t in _flatten(v)]
    return []


def test_a_checkpoint_of_other_networks_is_refused() -> None:
    t = gen_trainer()
    state = t.state_dict()
    dropped = dict(state["pairing"]["d"])
    dropped.pop(next(iter(dropped)))
    with pytest.raises(CheckpointError, match="discriminator"):
        t.load_state_dict({**state, "pairing": {**state["pairing"], "d": dropped}})
    with pytest.raises(CheckpointError, match="optimizer"):
        t.load_state_dict({**state, "pairing": {**state["pairing"], "opt_d": state["pairing"]["opt_d"][:-1]}})
    opt_d = [[s[0], s[1][..., :1], s[2]] for s in state["pairing"]["opt_d"]]
    with pytest.raises(CheckpointError, match="shapes"):
        t.load_state_dict({**state, "pairing": {**state["pairing"], "opt_d": opt_d}})


def test_a_round_of_fewer_iterations_than_n_critic_still_trains_one_block() -> None:
    t = gen_trainer(n_critic=5, iters_per_epoch=3)
    assert t.blocks_for(1) == 1 and t.train_round([LIVE_G], 1).iterations == 5


def test_an_epoch_is_one_pass_over_the_images_at_ds_batch_size() -> None:
    """Without `iters_per_epoch`: len(images) // batch_size_d iterations (24 // 4), whatever
    G's batch size and n_critic."""
    for stage in ("gen", "disc"):
        kw = {"iters_per_epoch": None, "batch_size_d": 4, "batch_size_g": 12, "n_critic": 2}
        t = gen_trainer(**kw) if stage == "gen" else disc_trainer(**kw)
        assert t.iters_per_epoch == 6 and t.blocks_for(1) == 3


def test_training_runs_in_training_mode_and_restores_the_modes() -> None:
    t = gen_trainer()
    t.pairing.g.eval()
    before = _bn_buffers(t.pairing.g)
    t.train_round([LIVE_G], 1)
    assert not _same(_bn_buffers(t.pairing.g), before)  # batch statistics were used and tracked
    assert not t.pairing.g.training and t.pairing.d.training


def test_every_purpose_and_stage_draws_from_its_own_seed() -> None:
    """search_setup: SeedSequence([seed, stage, purpose]) for architecture draws (0), latents (1),
    data order (2), G init (3) and D init (4)."""
    gen, disc = gen_trainer(seed=5), disc_trainer(seed=5)
    for t, stage in ((gen, "gen"), (disc, "disc")):
        expected = np.random.default_rng(stage_seed(5, stage, 0)).integers(1 << 30, size=4)
        assert np.array_equal(t.rng.integers(1 << 30, size=4), expected)
        assert t.runner.z_generator.initial_seed() == stage_seed(5, stage, 1)
        assert t.runner.stream.generator.initial_seed() == stage_seed(5, stage, 2)
    g = build_supernet_g(W, generator=torch.Generator().manual_seed(stage_seed(5, "gen", 3)))
    assert all(torch.equal(v, gen.pairing.g.state_dict()[k]) for k, v in g.state_dict().items())
    d = build_simple_discriminator(W, generator=torch.Generator().manual_seed(stage_seed(5, "gen", 4)))
    assert all(torch.equal(v, gen.pairing.d.state_dict()[k]) for k, v in d.state_dict().items())


def test_stage_gen_trains_against_the_configured_discriminator() -> None:
    """`gen_stage.discriminator`: a D genotype instead of the simple D (SPEC §2: the fixed D)."""
    d_genotype = random_genotype("disc", np.random.default_rng(3))
    cfg = study_config()
    cfg = dataclasses.replace(cfg, gen_stage=dataclasses.replace(
        cfg.gen_stage, discriminator=json.dumps(d_genotype.to_json_dict())))
    t = make_stage_trainer(cfg, "gen", device=torch.device("cpu"), images=image_set())
    assert isinstance(t.pairing.d, StandaloneD) and t.pairing.d.genotype == d_genotype


def test_images_of_another_size_are_refused() -> None:
    with pytest.raises(ConfigError, match="bottom_width"):
        make_stage_trainer(study_config(), "gen", device=torch.device("cpu"), images=image_set_of_side(16))


def image_set_of_side(side: int):
    from optgan.trainer.data import ImageSet

    return ImageSet(torch.zeros(8, 3, side, side, dtype=torch.uint8), None, None, "test", "test")


def test_g_star_state_is_the_reset_snapshot_not_a_trained_copy() -> None:
    """Mid-round, G*'s state is the snapshot every copy started the round from; after the reset,
    the best copy's."""
    t = disc_trainer()
    start = {k: v.clone() for k, v in t.g_star_state().items()}
    t.train_round(POP[:1], 1)  # one member: its copy surely trained
    assert not all(torch.equal(v, start[k]) for k, v in t.pairing.copies[POP[0]].net.state_dict().items())
    assert all(torch.equal(v, start[k]) for k, v in t.g_star_state().items())
    t.end_round(POP[:1], 0)
    best = t.pairing.copies[POP[0]].net.state_dict()
    assert all(torch.equal(v, best[k]) for k, v in t.g_star_state().items())


def test_the_g_supernet_is_taken_only_from_a_stage_gen_checkpoint() -> None:
    from optgan.trainer.search_training import gen_supernet_state_of

    assert gen_supernet_state_of(gen_trainer().state_dict()).keys() == gen_trainer().pairing.g.state_dict().keys()
    with pytest.raises(CheckpointError, match="stage-gen"):
        gen_supernet_state_of(disc_trainer().state_dict())
