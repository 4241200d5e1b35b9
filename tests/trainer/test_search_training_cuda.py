"""The GPU fast path of the search training: CUDA-graph replay computes what eager execution does.

Skipped without CUDA. Graph replays must follow in-place weight resets (stage disc), skip
non-finite steps on the device and survive a state round trip.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from optgan.search_space.random import random_genotype
from optgan.trainer.search_training import SearchTrainer

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_search_training_helpers import LIVE_G, disc_trainer, gen_trainer, roundtrip  # noqa: E402

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"),
]

G_POP = [LIVE_G, random_genotype("gen", np.random.default_rng(1))]
D_POP = [random_genotype("disc", np.random.default_rng(i)) for i in range(3)]
PLAIN = {"precision": "fp32", "channels_last": False}


def tensors(t: SearchTrainer) -> list[torch.Tensor]:
    """Trained parameters (buffers such as BN running statistics integrate activation noise
    rather than Adam steps, so they are not bounded by the learning rate)."""
    p = t.pairing
    nets = [p.g, p.d] if hasattr(p, "g") else [p.d, p.reset.net, *(c.net for c in p.copies.values())]
    return [v.detach().float() for n in nets for v in n.parameters()]


def adam_steps(t: SearchTrainer) -> list[float]:
    p = t.pairing
    opts = [p.opt_g, p.opt_d] if hasattr(p, "opt_g") else [p.opt_d, *(c.opt for c in p.copies.values())]
    return [float(s["step"]) for o in opts for s in o.state.values()]


def assert_close(a: SearchTrainer, b: SearchTrainer) -> None:
    """Same optimizer steps taken, weights equal up to Adam's sign-like early updates.

    CUDA's bilinear-upsampling backward uses atomics, so gradients differ in the last bits
    between any two runs; Adam's first updates are ≈ lr·sign(g), so a weight whose gradient is
    ~0 may move by up to 2·lr differently. A skipped or repeated step would change the step
    counts, which must match exactly.
    """
    assert adam_steps(a) == adam_steps(b)
    ta, tb = tensors(a), tensors(b)
    assert len(ta) == len(tb)
    lr = 2e-4
    for x, y in zip(ta, tb):
        torch.testing.assert_close(x, y, rtol=1e-3, atol=3 * lr)


@pytest.fixture(autouse=True)
def deterministic_cudnn():
    """Same kernels in eager and graph mode; otherwise Adam turns last-bit differences between
    cuDNN algorithms into lr-sized weight differences after a few dozen steps."""
    saved = torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    yield
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = saved


def max_diff(a: SearchTrainer, b: SearchTrainer) -> float:
    return max(float((x - y).abs().max()) for x, y in zip(tensors(a), tensors(b)))


def test_gen_graph_replay_matches_eager() -> None:
    """Graph replay takes exactly the eager steps, and differs from eager no more than two eager
    runs differ from each other (CUDA atomics make every run differ in the last bits, and Adam
    turns those into lr-sized weight differences)."""
    runs = [gen_trainer(device="cuda", cuda_graphs=g, iters_per_epoch=4, **PLAIN) for g in (False, False, True)]
    for t in runs:
        t.warmup(1)
        stats = [t.train_round(G_POP, 1) for _ in range(2)]
    eager, eager2, graph = runs
    assert graph.runner.num_graphs == 2 and eager.runner.num_graphs == 0
    assert all(math.isfinite(s.loss_d) for s in stats)
    assert adam_steps(eager) == adam_steps(graph)
    noise = max_diff(eager, eager2)
    assert max_diff(eager, graph) <= 3 * noise + 1e-6, (max_diff(eager, graph), noise)


def test_disc_graph_replay_follows_weight_resets() -> None:
    runs = [disc_trainer(device="cuda", cuda_graphs=g, iters_per_epoch=20, **PLAIN) for g in (False, True)]
    child = random_genotype("disc", np.random.default_rng(9))
    for t in runs:
        t.train_round(D_POP, 1)
        t.end_round(D_POP, 1)
        t.train_round([D_POP[1], D_POP[2], child], 1)
        t.end_round([D_POP[1], D_POP[2], child], 0)
        t.train_round([D_POP[1], D_POP[2], child], 1)
    assert runs[1].runner.num_graphs >= 1
    assert_close(*runs)


def test_fast_path_trains_skips_nonfinite_steps_and_resumes() -> None:
    t = gen_trainer(device="cuda", iters_per_epoch=8)  # defaults: bf16 autocast, channels-last, graphs
    assert t.runner.precision.dtype == "bf16" and t.runner.precision.channels_last
    t.warmup(1)
    stats = t.train_round(G_POP, 3)
    assert math.isfinite(stats.loss_d) and stats.nonfinite_steps == 0 and t.runner.num_graphs == 2
    state = roundtrip(t.state_dict())
    healthy = {k: v.clone() for k, v in t.pairing.d.state_dict().items()}
    g_before = [p.detach().clone() for p in t.pairing.g.parameters()]
    with torch.no_grad():
        t.pairing.d.head.weight_orig.fill_(float("nan"))
    bad = t.train_round(G_POP, 2)  # replays the captured graphs
    assert bad.nonfinite_steps == 2 * bad.iterations and math.isnan(bad.loss_g)
    assert all(torch.equal(a, b) for a, b in zip(g_before, t.pairing.g.parameters()))
    t.pairing.d.load_state_dict(healthy)
    t.load_state_dict(state)
    assert t.runner.num_graphs == 0  # restored state: graphs are re-captured
    again = t.train_round(G_POP, 3)
    assert math.isfinite(again.loss_d) and again.nonfinite_steps == 0


def test_rewritten_op_forms_on_the_fast_path() -> None:
    """`op_forms: rewritten` on CUDA's fast path (bf16 autocast, channels-last, graphs): the first
    iteration's losses match the native forms' up to bf16 rounding, graph replay takes the same
    steps as eager, and the G supernet's rewritten ops give the native outputs in fp32 (TF32 off)."""
    from optgan.backends import tf32_allowed
    from optgan.supernet import set_op_forms

    first = {}
    for forms in ("native", "rewritten"):
        t = gen_trainer(device="cuda", op_forms=forms, iters_per_epoch=1)
        first[forms] = t.train_round([LIVE_G], 1)
    assert first["rewritten"].loss_d == pytest.approx(first["native"].loss_d, rel=2e-2, abs=2e-2)
    runs = [gen_trainer(device="cuda", cuda_graphs=g, op_forms="rewritten", iters_per_epoch=4) for g in (False, True)]
    for t in runs:
        t.warmup(1)
        stats = [t.train_round(G_POP, 1) for _ in range(2)]
    assert runs[1].runner.num_graphs == 2 and all(math.isfinite(s.loss_d) for s in stats)
    assert adam_steps(runs[0]) == adam_steps(runs[1])
    g = runs[0].pairing.g.eval()
    z = torch.randn(8, g.widths.latent_dim, device="cuda")
    with torch.no_grad(), tf32_allowed(False):
        ours = g(z, genotype=LIVE_G).float()
        native = set_op_forms(g, "native")(z, genotype=LIVE_G).float()
    torch.testing.assert_close(ours, native, rtol=1e-4, atol=1e-4)
