"""Properties of the search trainer, the losses and the EMA that earlier tests left open (mutation
testing, round 8).

Each test states the property it checks; all are seeded, run on the CPU and take well under a
few seconds (tiny widths from `test_search_training_helpers`).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from optgan.search_space.random import random_genotype
from optgan.trainer.adam_step import load_adam_state_dict, make_adam
from optgan.trainer.ema import EMA
from optgan.trainer.losses import AdaptiveUpperBound, mmd_repulsive_d_loss
from optgan.trainer.search_step import Precision

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_search_training_helpers import (
    LIVE_G,
    W,
    disc_trainer,
    gen_trainer,
    one_thread,  # noqa: F401  (autouse fixture)
)

POP = [random_genotype("disc", np.random.default_rng(i)) for i in range(3)]
CHILD = random_genotype("disc", np.random.default_rng(99))


def _net_values(net: nn.Module) -> list[torch.Tensor]:
    return [v.clone() for v in net.state_dict().values()]


def _same(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    return len(a) == len(b) and all(torch.equal(x, y) for x, y in zip(a, b))


def _bn_buffers(net: nn.Module) -> list[torch.Tensor]:
    return [b.clone() for n, b in net.named_buffers() if "running" in n]


# ---------------------------------------------------------------------- pairing (SPEC §2–§3)


@pytest.mark.parametrize("stage", ["gen", "disc"])
def test_a_candidate_restores_the_mode_it_found(stage: str) -> None:
    """Generating through a candidate puts the network in eval mode only while it runs: a network
    that was in eval mode before stays in eval mode (not switched to training)."""
    t = gen_trainer() if stage == "gen" else disc_trainer()
    pop = [LIVE_G] if stage == "gen" else POP[:1]
    (candidate,) = t.candidates(pop)
    net = t.pairing.g if stage == "gen" else t.pairing.copies[POP[0]].net
    net.eval()
    candidate(torch.zeros(2, W.latent_dim))
    assert not net.training
    net.train()
    candidate(torch.zeros(2, W.latent_dim))
    assert net.training


def test_stage_disc_trains_the_g_copies_in_training_mode_and_restores_their_modes() -> None:
    """Stage disc, like stage gen: a G copy trains in training mode (BN batch statistics, tracked
    running statistics) whatever mode it was left in, and gets that mode back after the round."""
    t = disc_trainer(iters_per_epoch=5)  # one block of n_critic 5
    t.pairing.begin_round(POP[:1])
    net = t.pairing.copies[POP[0]].net
    net.eval()
    before = _bn_buffers(net)
    assert before
    t.train_round(POP[:1], 1)
    assert not _same(_bn_buffers(net), before)
    assert not net.training


def test_end_round_refuses_a_best_index_outside_the_population() -> None:
    """`best_index` must index the population from 0: -1 (which Python would read as the last
    member) and len(population) are errors, and a refused reset changes no copy."""
    t = disc_trainer(iters_per_epoch=10)
    t.train_round(POP, 1)
    before = {g: _net_values(c.net) for g, c in t.pairing.copies.items()}
    for bad in (-1, len(POP)):
        with pytest.raises(IndexError, match="best_index"):
            t.end_round(POP, bad)
    assert all(_same(_net_values(t.pairing.copies[g].net), v) for g, v in before.items())


def test_the_reset_snapshot_is_a_copy_of_the_best_not_the_best_itself() -> None:
    """SPEC §3, real copies: after `end_round` the reset snapshot holds the best copy's values but
    not its storage, so training the best's copy on leaves the snapshot (G*) where the reset put
    it, and a child that joins later starts from the snapshot, not from the trained copy."""
    t = disc_trainer(iters_per_epoch=5)
    t.train_round(POP[:1], 1)
    t.end_round(POP[:1], 0)
    snapshot = _net_values(t.pairing.reset.net)
    assert _same(_net_values(t.pairing.copies[POP[0]].net), snapshot)
    t.train_round(POP[:1], 1)  # only member: its copy (the best's) trains
    assert not _same(_net_values(t.pairing.copies[POP[0]].net), snapshot)
    assert _same(_net_values(t.pairing.reset.net), snapshot)
    assert _same([v.clone() for v in t.g_star_state().values()], snapshot)
    t.train_round([POP[0], CHILD], 0)
    assert _same(_net_values(t.pairing.copies[CHILD].net), snapshot)


# ---------------------------------------------------------------------- precision


def test_auto_precision_is_bf16_on_cuda_only_and_the_cuda_features_stay_off_elsewhere() -> None:
    """`auto` = bf16 on CUDA, fp32 on every other device (not only the CPU); channels-last, CUDA
    graphs and cuDNN autotuning apply on CUDA only. (Device objects need no such device.)"""
    assert Precision.resolve(torch.device("cuda"), "auto", True, True, True) == Precision("bf16", True, True, True)
    for other in ("cpu", "mps", "meta"):
        assert Precision.resolve(torch.device(other), "auto", True, True, True) == Precision("fp32", False, False, False)
    assert Precision.resolve(torch.device("mps"), "bf16", True, True).dtype == "bf16"


# ---------------------------------------------------------------------- losses (SPEC §6)


def test_mmd_d_loss_defaults_are_the_specs_bounds() -> None:
    """SPEC §6: the kernel's bounds default to 4 (real–real distances capped) and 1/4 (fake–fake
    distances floored); data whose distances straddle 4, 8, 1/4 and 1/2 tell them apart."""
    real = torch.tensor([[0.0], [2.2], [4.4]])  # squared distances 4.84, 4.84, 19.36
    fake = torch.tensor([[0.0], [0.6], [3.0]])  # squared distances 0.36, 9, 5.76
    want = mmd_repulsive_d_loss(real, fake, sigma=1.0, upper_bound=4.0, lower_bound=0.25)
    assert mmd_repulsive_d_loss(real, fake).item() == pytest.approx(want.item(), rel=1e-7)
    for other in ({"upper_bound": 8.0}, {"lower_bound": 0.5}):
        assert mmd_repulsive_d_loss(real, fake, **other).item() != pytest.approx(want.item(), rel=1e-4)


def test_the_default_upper_bound_schedule_is_the_specs() -> None:
    """SPEC §6 with the defaults: the bound starts at 4, doubles after 6 evaluations without an
    FID improvement, and stops at 32: 4 → 8 → 16 → 32 → 32."""
    bound = AdaptiveUpperBound()
    bound.update(10.0)
    seen = []
    for _ in range(6 * 5):
        bound.update(11.0)
        seen.append(bound.value)
    assert seen[5::6] == [8.0, 16.0, 32.0, 32.0, 32.0]
    assert seen[:5] == [4.0] * 5


def test_the_bound_update_says_true_only_when_the_value_changed() -> None:
    """`update` returns True when the bound changed (what the trainer logs as "raised"): at the
    cap a run of misses resets the patience but returns False."""
    bound = AdaptiveUpperBound(value=16.0, cap=32.0, factor=2.0, patience=1)
    bound.update(5.0)
    assert bound.update(6.0) is True and bound.value == 32.0
    assert bound.update(6.0) is False and bound.value == 32.0
    assert bound.counter == 1


# ---------------------------------------------------------------------- EMA (SPEC §6)


def _lin() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))


def test_ema_default_decay_is_the_specs() -> None:
    """SPEC §6: EMA of G with decay 0.999 by default; one update moves 1/1000 of the way."""
    net = _lin()
    ema = EMA(net)
    start = [p.detach().clone() for p in net.parameters()]
    with torch.no_grad():
        for p in net.parameters():
            p.add_(1.0)
    ema.update(net)
    assert ema.decay == 0.999
    for avg, p0, p in zip(ema.module.parameters(), start, net.parameters()):
        assert torch.equal(avg, p0.clone().mul_(0.999).add_(p.detach(), alpha=1 - 0.999))


def test_ema_decay_zero_is_allowed_and_follows_the_model() -> None:
    """`ema_decay` 0 is in range ([0, 1), as the config allows): the "average" is the live
    network after every update, on both the plain and the device-masked path."""
    net = _lin()
    plain, masked = EMA(net, 0.0), EMA(net, 0.0)
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(3.0).add_(0.5)
    plain.update(net)
    masked.update(net, skip=torch.tensor(False))
    for ema in (plain, masked):
        for avg, p in zip(ema.module.parameters(), net.parameters()):
            assert torch.equal(avg, p.detach())


# ---------------------------------------------------------------------- Adam state


def test_a_parameter_the_saved_adam_never_stepped_gets_a_zero_state() -> None:
    """Loading a plain Adam's `state_dict()` in which a parameter has no state (it never had a
    gradient) zeroes that parameter's live state (step and moments) instead of keeping stale values."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 1))
    fused = make_adam(list(net.parameters()), 1e-2, (0.0, 0.9), capturable=False)
    net(torch.randn(5, 4)).pow(2).mean().backward()
    fused.step()  # every parameter now has a non-zero state
    plain = torch.optim.Adam(net.parameters(), lr=1e-2, betas=(0.0, 0.9))
    net.zero_grad(set_to_none=True)
    net[0](torch.randn(5, 4)).pow(2).mean().backward()  # only the first layer gets gradients
    plain.step()
    saved = plain.state_dict()
    assert sorted(saved["state"]) == [0, 1]
    load_adam_state_dict(fused, saved, "test")
    for p in net[1].parameters():
        state = fused.state[p]
        assert float(state["step"]) == 0.0
        assert not state["exp_avg"].any() and not state["exp_avg_sq"].any()
    for i, p in enumerate(net[0].parameters()):
        assert torch.equal(fused.state[p]["exp_avg"], saved["state"][i]["exp_avg"])


def test_final_training_averages_g_after_its_step(tmp_path) -> None:
    """SPEC §6 / the reference loop: the EMA update follows G's optimizer step, so one iteration
    with a G step moves the average towards the *stepped* weights (`avg ← d·avg + (1 − d)·G`);
    an update taken before the step would leave the average where it started (it starts as G)."""
    from test_train_final import _open, tiny_cfg

    from optgan.trainer.final_step import FinalStepper

    state = _open(tiny_cfg(ema_decay=0.9), tmp_path)
    try:
        start = [p.detach().clone() for p in state.ema.module.parameters()]
        assert _same(start, [p.detach().clone() for p in state.g_net.parameters()])
        state.apply_lr_decay()
        FinalStepper(state).iteration(with_g=True)
        stepped = [p.detach() for p in state.g_net.parameters()]
        assert not _same(start, [p.clone() for p in stepped])
        for avg, a0, p in zip(state.ema.module.parameters(), start, stepped):
            assert torch.equal(avg, a0.clone().mul_(0.9).add_(p, alpha=0.1))
    finally:
        state.close()


def test_stage_disc_draws_its_pairs_uniformly_from_the_population() -> None:
    """SPEC §3: one (G_i, D_i) pair drawn uniformly per block; every member's own G copy."""
    from collections import Counter

    t = disc_trainer()
    t.pairing.begin_round(POP)
    pairs = [t.pairing.round_pair(POP) for _ in range(3000)]
    counts = Counter(p.key[1] for p in pairs)
    assert set(counts) == set(POP)
    assert all(900 < n < 1100 for n in counts.values()), counts  # binomial sd ≈ 26
    for p in pairs[:30]:
        assert p.gen is t.pairing.copies[p.key[1]].net
