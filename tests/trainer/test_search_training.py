"""Stage-gen supernet training (many-to-one), statistics, non-finite steps and bit-exact resume."""

from __future__ import annotations

import math
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from optgan.errors import CheckpointError, GenotypeError
from optgan.search_space.genotype import Genotype
from optgan.search_space.random import random_genotype
from optgan.supernet import StandaloneG
from optgan.trainer.search_training import SearchTrainer

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_search_training_helpers import (  # noqa: E402
    LIVE_G,
    W,
    deterministic,  # noqa: F401  (fixture)
    gen_trainer,
    one_thread,  # noqa: F401  (autouse fixture)
    roundtrip,
    snapshot,
)


def test_round_trains_exactly_the_members_ops() -> None:
    t = gen_trainer()
    before = snapshot(t)
    stats = t.train_round([LIVE_G], 1)
    after = snapshot(t)
    assert stats.iterations == 3 and stats.nonfinite_steps == 0
    assert math.isfinite(stats.loss_d) and math.isfinite(stats.loss_g)
    used = {f"g.{k}" for k, _ in StandaloneG(LIVE_G, W).named_parameters()}
    g_params = {f"g.{k}" for k, _ in t.pairing.g.named_parameters()}
    assert used < g_params
    for k in g_params:
        changed = not torch.equal(before[k], after[k])
        assert changed == (k in used), k
    assert all(not torch.equal(before[f"d.{k}"], after[f"d.{k}"]) for k, _ in t.pairing.d.named_parameters())
    # Adam state of never-used ops is untouched (step 0, zero moments)
    names = dict(t.pairing.g.named_parameters())
    for k, p in names.items():
        state = t.pairing.opt_g.state[p]
        assert (float(state["step"]) == 3) == (f"g.{k}" in used)


def test_warmup_draws_a_new_architecture_per_iteration_from_the_trainers_rng() -> None:
    t = gen_trainer()
    drawn: list[Genotype] = []
    pick = t.pairing.warmup_pair
    t.pairing.warmup_pair = lambda: (drawn.append(p := pick()) or p)  # type: ignore[method-assign]
    stats = t.warmup(2)
    assert stats.iterations == 6 and len(drawn) == 6
    keys = [p.gen.keywords["genotype"] for p in drawn]  # type: ignore[attr-defined]
    assert len(set(keys)) == 6 and all(k.net == "gen" for k in keys)
    # same seed → same architectures and weights; another seed → others
    a, b, c = gen_trainer(0), gen_trainer(0), gen_trainer(1)
    for x in (a, b, c):
        x.warmup(1)
    sa, sb, sc = snapshot(a), snapshot(b), snapshot(c)
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert any(not torch.equal(sa[k], sc[k]) for k in sa)


def test_round_draws_members_uniformly() -> None:
    t = gen_trainer()
    pop = [random_genotype("gen", np.random.default_rng(i)) for i in range(4)]
    counts = Counter(t.pairing.round_pair(pop).key for _ in range(4000))
    assert set(counts) == {("gen", g) for g in pop}
    assert all(900 < n < 1100 for n in counts.values())


def test_blocks_and_iterations_follow_the_epochs() -> None:
    t = gen_trainer(n_critic=2, iters_per_epoch=5)
    assert t.blocks_for(0) == 0 and t.blocks_for(1) == 2 and t.blocks_for(3) == 7
    assert t.warmup(0).iterations == 0
    assert t.warmup(1).iterations == 4  # one D step per iteration, G once per block of 2


def test_nonfinite_losses_skip_the_steps_and_are_counted() -> None:
    t = gen_trainer()
    healthy_d = {k: v.clone() for k, v in t.pairing.d.state_dict().items()}
    with torch.no_grad():
        t.pairing.d.head.weight_orig.fill_(float("nan"))
    before = snapshot(t)
    stats = t.train_round([LIVE_G], 2)
    after = snapshot(t)
    assert stats.iterations == 6 and stats.nonfinite_steps == 12  # every D and G step skipped
    assert math.isnan(stats.loss_d) and math.isnan(stats.loss_g)
    for k, _ in t.pairing.g.named_parameters():
        assert torch.equal(before[f"g.{k}"], after[f"g.{k}"])
    for k, _ in t.pairing.d.named_parameters():
        assert torch.equal(before[f"d.{k}"], after[f"d.{k}"]) or k == "head.weight_orig"
    assert all(float(s["step"]) == 0 for s in t.pairing.opt_g.state.values())
    # the statistics are per round: the next (healthy) round counts afresh
    t.pairing.d.load_state_dict(healthy_d)  # (spectral norm's u, v went NaN too)
    assert t.train_round([LIVE_G], 1).nonfinite_steps == 0


def test_candidates_generate_images_in_eval_mode_without_grad() -> None:
    t = gen_trainer()
    t.warmup(1)
    pop = [LIVE_G, random_genotype("gen", np.random.default_rng(5))]
    z = torch.randn(5, W.latent_dim)
    outs = [c(z) for c in t.candidates(pop)]
    assert all(o.shape == (5, 3, 8, 8) and o.dtype == torch.float32 and not o.requires_grad for o in outs)
    assert all(float(o.abs().max()) <= 1.0 for o in outs)
    assert not torch.equal(outs[0], outs[1])
    assert t.pairing.g.training  # mode restored
    assert torch.equal(t.candidates(pop)[0](z), outs[0])  # eval mode: deterministic, no stat updates


def test_bad_population_is_refused() -> None:
    t = gen_trainer()
    with pytest.raises(GenotypeError, match="empty"):
        t.train_round([], 1)
    with pytest.raises(GenotypeError, match="gen genotypes"):
        t.train_round([random_genotype("disc", np.random.default_rng(0))], 1)


def _continue(t: SearchTrainer, pop: list[Genotype]):
    stats = [t.train_round(pop, 1), t.train_round(pop, 2)]
    return stats, snapshot(t)


def test_resume_is_bit_identical(deterministic) -> None:
    pop = [LIVE_G, random_genotype("gen", np.random.default_rng(7)), random_genotype("gen", np.random.default_rng(8))]
    a = gen_trainer()
    a.warmup(1)
    a.train_round(pop, 1)
    next(a.runner.stream)  # mid-epoch data position
    state = roundtrip(a.state_dict())
    b = gen_trainer(seed=123)  # everything that matters comes from the state
    b.load_state_dict(state)
    stats_a, weights_a = _continue(a, pop)
    stats_b, weights_b = _continue(b, pop)
    assert stats_a == stats_b
    assert weights_a.keys() == weights_b.keys()
    assert all(torch.equal(weights_a[k], weights_b[k]) for k in weights_a)
    assert all(torch.equal(x, y) for x, y in zip(
        [s for st in a.pairing.opt_g.state.values() for s in st.values()],
        [s for st in b.pairing.opt_g.state.values() for s in st.values()]))


def test_state_of_another_stage_is_refused() -> None:
    t = gen_trainer()
    state = t.state_dict()
    state["stage"] = "disc"
    with pytest.raises(CheckpointError, match="stage"):
        t.load_state_dict(state)


def test_each_network_gets_its_own_learning_rate_and_betas() -> None:
    """Stage gen: the G supernet's Adam runs `lr_g`, the fixed D's `lr_d`; stage disc: the D
    supernet's `lr_d`, every G copy's (and the reset snapshot's) `lr_g` (SPEC §2–§3)."""
    from test_search_training_helpers import disc_trainer

    def hyper(opt: torch.optim.Optimizer) -> tuple[float, tuple[float, float]]:
        group = opt.param_groups[0]
        return float(group["lr"]), tuple(group["betas"])

    g = gen_trainer(lr_g=1e-3, lr_d=1e-5, beta1=0.5, beta2=0.99)
    assert hyper(g.pairing.opt_g) == (1e-3, (0.5, 0.99)) and hyper(g.pairing.opt_d) == (1e-5, (0.5, 0.99))
    d = disc_trainer(lr_g=1e-3, lr_d=1e-5)
    d.train_round([random_genotype("disc", np.random.default_rng(0))], 1)
    assert hyper(d.pairing.opt_d)[0] == 1e-5
    assert {hyper(c.opt)[0] for c in [d.pairing.reset, *d.pairing.copies.values()]} == {1e-3}
