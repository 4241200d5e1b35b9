"""One search block against a hand-written EAGAN step (SPEC §2–§3): n_critic D steps, each on its
own real batch and latents, then one G step; hinge losses, Adam, gradients zeroed per step."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from optgan.search_space.random import random_genotype
from optgan.supernet import clone_module
from optgan.trainer.adam_step import make_adam
from optgan.trainer.search_step import Precision
from optgan.trainer.search_training import SearchTrainer

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_search_training_helpers import (
    LIVE_G,
    disc_trainer,
    gen_trainer,
    one_thread,  # noqa: F401  (autouse fixture)
)


def _record_inputs(t: SearchTrainer) -> list[tuple[list[torch.Tensor], list[torch.Tensor], torch.Tensor]]:
    """Spy on the runner: the (real batches, D latents, G latent) each block drew."""
    blocks: list = []
    draw, buf = t.runner._draw_inputs, t.runner._buf

    def spy() -> None:
        draw()
        blocks.append(([r.clone() for r in buf.real], [z.clone() for z in buf.z_d], buf.z_g.clone()))

    t.runner._draw_inputs = spy  # type: ignore[method-assign]
    return blocks


def _adam_like(net: torch.nn.Module, like: torch.optim.Optimizer) -> torch.optim.Adam:
    """A fresh Adam of the same kind and hyper-parameters (plain steps, no skipping): the same
    arithmetic, so near-zero gradients (conv biases before BN) are normalised alike."""
    group = like.param_groups[0]
    return make_adam(list(net.parameters()), float(group["lr"]), tuple(group["betas"]), capturable=False)


def _reference_blocks(g, d, opt_g, opt_d, blocks) -> tuple[list[float], list[float]]:
    """EAGAN's loop written out: per iteration a D step on (real, G(z) without a graph), after
    the block's last one a G step; every step starts from zeroed gradients."""
    loss_d, loss_g = [], []
    for reals, zs, z_g in blocks:
        for real, z in zip(reals, zs):
            opt_d.zero_grad()
            with torch.no_grad():
                fake = g(z)
            loss = torch.relu(1 - d(real)).mean() + torch.relu(1 + d(fake)).mean()
            loss.backward()
            opt_d.step()
            loss_d.append(float(loss.detach()))
        opt_g.zero_grad()
        loss = -d(g(z_g)).mean()
        loss.backward()
        opt_g.step()
        loss_g.append(float(loss.detach()))
    return loss_d, loss_g


def _assert_close_states(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        torch.testing.assert_close(sa[k], sb[k], rtol=1e-5, atol=1e-6, msg=lambda m, k=k: f"{k}: {m}")


def test_stage_gen_blocks_equal_the_hand_written_steps() -> None:
    """Two blocks of n_critic 2 (so gradients left from one step or block would show)."""
    t = gen_trainer(n_critic=2, iters_per_epoch=4)
    g, d = clone_module(t.pairing.g), clone_module(t.pairing.d)
    opt_g, opt_d = _adam_like(g, t.pairing.opt_g), _adam_like(d, t.pairing.opt_d)
    blocks = _record_inputs(t)
    stats = t.train_round([LIVE_G], 1)
    assert stats.iterations == 4 and len(blocks) == 2
    loss_d, loss_g = _reference_blocks(lambda z: g(z, genotype=LIVE_G), d, opt_g, opt_d, blocks)
    _assert_close_states(t.pairing.g, g)
    _assert_close_states(t.pairing.d, d)
    assert np.isclose(stats.loss_d, np.mean(loss_d), rtol=1e-5) and np.isclose(stats.loss_g, np.mean(loss_g), rtol=1e-5)


def test_stage_disc_block_trains_the_drawn_pair_as_the_hand_written_steps() -> None:
    """Stage disc: one block of n_critic 5 trains the drawn D candidate's path of the D supernet
    against its own G* copy (5 D steps, 1 G step); the other copy stays as it started."""
    pop = [random_genotype("disc", np.random.default_rng(i)) for i in range(2)]
    t = disc_trainer(iters_per_epoch=5)
    t.pairing.begin_round(pop)
    g0 = {k: clone_module(c.net) for k, c in t.pairing.copies.items()}
    d = clone_module(t.pairing.d)
    drawn: list = []
    pick = t.pairing.round_pair
    t.pairing.round_pair = lambda p: (drawn.append((pair := pick(p)).key[1]) or pair)  # type: ignore[method-assign]
    blocks = _record_inputs(t)
    t.train_round(pop, 1)
    assert len(blocks) == 1 and len(drawn) == 1 and len(blocks[0][0]) == 5
    (member,), (other,) = drawn, [x for x in pop if x != drawn[0]]
    g = g0[member]
    copy = t.pairing.copies[member]
    _reference_blocks(g, lambda x: d(x, genotype=member), _adam_like(g, copy.opt), _adam_like(d, t.pairing.opt_d),
                      blocks)
    _assert_close_states(copy.net, g)
    _assert_close_states(t.pairing.d, d)
    _assert_close_states(t.pairing.copies[other].net, g0[other])
    assert {float(s["step"]) for s in copy.opt.state.values()} == {1.0}  # one G step per block
    assert max(float(s["step"]) for s in t.pairing.opt_d.state.values()) == 5.0


def test_each_d_step_of_a_block_gets_its_own_real_batch_and_latents() -> None:
    """A block consumes n_critic consecutive batches of the data stream and n_critic + 1 latent
    draws (D's batch size for the D steps, G's for the G step)."""
    t, same_seed = gen_trainer(n_critic=3, iters_per_epoch=3), gen_trainer(n_critic=3, iters_per_epoch=3)
    expected = [next(same_seed.runner.stream) for _ in range(3)]
    blocks = _record_inputs(t)
    t.train_round([LIVE_G], 1)
    (reals, zs, z_g), = blocks
    assert all(torch.equal(r, e) for r, e in zip(reals, expected))
    assert [z.shape[0] for z in zs] == [4, 4, 4] and z_g.shape[0] == 6
    latents = [*zs, z_g[:4]]
    assert all(not torch.equal(a, b) for i, a in enumerate(latents) for b in latents[i + 1:])


def test_a_round_keeps_only_the_graphs_of_its_members(monkeypatch) -> None:
    """CUDA graphs (CPU-emulated) of members that left the population are dropped when the next
    round starts (each holds a memory pool on a GPU: kept, they would pile up round after round)."""
    from _fake_cuda_graphs import fake_cuda_graphs

    fake_cuda_graphs(monkeypatch)
    t = gen_trainer(iters_per_epoch=4)
    t.runner.precision = dataclasses.replace(t.runner.precision, cuda_graphs=True)
    a, b, c = (random_genotype("gen", np.random.default_rng(i)) for i in range(3))
    t.train_round([a, b], 1)
    assert t.runner.num_graphs >= 1
    t.train_round([c], 1)
    assert t.runner.num_graphs == 1


@pytest.mark.parametrize("dtype", ["fp32", "tf32", "bf16"])
def test_only_bf16_runs_the_steps_under_autocast(dtype: str) -> None:
    """`tf32` keeps fp32 tensors (TF32 matmuls are a backend flag); only `bf16` autocasts."""
    with Precision(dtype).autocast(torch.device("cpu")):  # type: ignore[arg-type]
        assert torch.is_autocast_enabled("cpu") == (dtype == "bf16")
