"""Both trainers' CUDA-graph paths under CPU-emulated graphs: replay must equal eager execution.

`_fake_cuda_graphs` records a step's aten calls at "capture" and replays them onto the same
tensors without running Python, so anything the step reads from the host at capture time
(learning rate, MMD bound, a branch) goes stale on replay exactly as on a GPU, and a host sync
inside the step raises. On the CPU the replayed kernels are the eager ones, so the comparison is
bitwise. The real graphs are tested on CUDA (`test_*_cuda.py`, marked `gpu`).
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _fake_cuda_graphs import SYNCING_OPS, FakeGraph, HostSyncInCapture, fake_cuda_graphs  # noqa: E402
from test_search_training_helpers import LIVE_G, disc_trainer, gen_trainer, one_thread  # noqa: E402, F401 (autouse)
from test_train_final import FakeScorer, genotype, mmd_cfg, run, tiny_cfg  # noqa: E402
from torch.utils._python_dispatch import TorchDispatchMode  # noqa: E402

from optgan.search_space.random import random_genotype  # noqa: E402
from optgan.trainer import final_state, final_step  # noqa: E402
from optgan.trainer.final import _Loop  # noqa: E402
from optgan.trainer.final_setup import resolve_disc  # noqa: E402
from optgan.trainer.search_training import SearchTrainer  # noqa: E402


# ---------------------------------------------------------------------------- final training
def _graphs_on(monkeypatch) -> None:  # noqa: ANN001
    fake_cuda_graphs(monkeypatch)
    monkeypatch.setattr(final_step, "uses_cuda_graphs", lambda cfg, device: True)


def _device_poison(monkeypatch, iterations: set[int]) -> None:  # noqa: ANN001
    """NaN D and G losses at `iterations`, through a device tensor set before each iteration
    (a host-side branch inside the step would be baked into a graph)."""
    scale = torch.ones(())
    real_d, real_g = final_state.RunState.d_loss, final_state.RunState.g_loss
    real_iteration = final_step.FinalStepper.iteration
    monkeypatch.setattr(final_state.RunState, "d_loss", lambda self, *a: real_d(self, *a) * scale)
    monkeypatch.setattr(final_state.RunState, "g_loss", lambda self, *a: real_g(self, *a) * scale)

    def iteration(self, with_g):  # noqa: ANN001, ANN202
        scale.fill_(float("nan") if self.run.global_iter in iterations else 1.0)
        return real_iteration(self, with_g)

    monkeypatch.setattr(final_step.FinalStepper, "iteration", iteration)


def _final_state(out: Path) -> dict:
    ck = torch.load(out / "checkpoint-last.pt", weights_only=True)
    flat = {f"{part}.{k}": v for part in ("gen", "gen_ema", "disc_state") for k, v in ck[part].items()}
    for name in ("opt_g", "opt_d"):
        for i, st in ck[name]["state"].items():
            flat |= {f"{name}.{i}.{k}": v for k, v in st.items()}
    return {"tensors": flat, "history": [{k: v for k, v in r.items() if k != "seconds"} for r in ck["history"]],
            "mmd_bound": ck["mmd_bound"]}


def _assert_same(a: dict, b: dict) -> None:
    assert a["history"] == b["history"] and a["mmd_bound"] == b["mmd_bound"]
    assert a["tensors"].keys() == b["tensors"].keys()
    for k, v in a["tensors"].items():
        assert torch.equal(v, b["tensors"][k]), k


@pytest.mark.parametrize("make_cfg", [tiny_cfg, mmd_cfg], ids=["hinge", "mmd"])
def test_final_training_replayed_equals_eager(tmp_path, monkeypatch, make_cfg) -> None:
    # a decaying learning rate, an MMD bound that moves (FID never improves) and skipped steps:
    # everything a capture could bake in changes between replays
    cfg = make_cfg(lr_decay="linear", epochs=3, evaluation={"every_epochs": 1, "grid_images": 4})
    _device_poison(monkeypatch, {5, 6})
    run(cfg, tmp_path / "eager", scorer=FakeScorer(by_calls=True))
    _graphs_on(monkeypatch)
    result = run(cfg, tmp_path / "graphs", scorer=FakeScorer(by_calls=True))
    assert result.finished and FakeGraph.captures == (2 if cfg.n_critic > 1 else 1)
    eager, graphs = _final_state(tmp_path / "eager"), _final_state(tmp_path / "graphs")
    assert [r["nonfinite_steps"] for r in graphs["history"]] == [0, 3 if cfg.n_critic > 1 else 4, 0]  # 5: D (+G), 6: D+G
    if cfg.loss == "mmd":
        assert graphs["mmd_bound"]["value"] > cfg.mmd.upper_bound  # the bound really moved
    _assert_same(eager, graphs)


def test_the_emulation_catches_a_learning_rate_baked_into_the_graph(tmp_path, monkeypatch) -> None:
    """Negative control: with plain-float learning rates (what fused Adam reads at capture), the
    replayed run drifts from the eager one."""
    def float_rates(self) -> None:  # noqa: ANN001
        for opt, lr in zip((self.opt_g, self.opt_d), self.learning_rates()):
            for group in opt.param_groups:
                group["lr"] = lr
        self._lrs_applied = self.learning_rates()

    monkeypatch.setattr(final_state.RunState, "apply_lr_decay", float_rates)
    cfg = tiny_cfg(lr_decay="linear")
    run(cfg, tmp_path / "eager")
    _graphs_on(monkeypatch)
    run(cfg, tmp_path / "graphs")
    eager, graphs = _final_state(tmp_path / "eager"), _final_state(tmp_path / "graphs")
    assert any(not torch.equal(v, graphs["tensors"][k]) for k, v in eager["tensors"].items())


def test_the_emulation_catches_a_host_sync_in_the_step(tmp_path, monkeypatch) -> None:
    real_d = final_state.RunState.d_loss

    def syncing(self, *args):  # noqa: ANN001, ANN202
        out = real_d(self, *args)
        return out if float(out.detach()) == float(out.detach()) else out  # a host read, as a NaN check would be

    monkeypatch.setattr(final_state.RunState, "d_loss", syncing)
    _graphs_on(monkeypatch)
    with pytest.raises(HostSyncInCapture, match="_local_scalar_dense"):
        run(tiny_cfg(), tmp_path)


# ---------------------------------------------------------------------------- search
def _graphed(t: SearchTrainer) -> SearchTrainer:
    t.runner.precision = dataclasses.replace(t.runner.precision, cuda_graphs=True)
    return t


def _search_state(t: SearchTrainer) -> dict[str, torch.Tensor]:
    p = t.pairing
    nets = {"g": p.g, "d": p.d} if hasattr(p, "g") else {"d": p.d, "reset": p.reset.net,
                                                         **{f"copy{k}": c.net for k, c in p.copies.items()}}
    opts = {"g": p.opt_g, "d": p.opt_d} if hasattr(p, "opt_g") else {"d": p.opt_d,
                                                                     **{f"copy{k}": c.opt for k, c in p.copies.items()}}
    out = {f"{n}.{k}": v for n, net in nets.items() for k, v in net.state_dict().items()}
    for n, opt in opts.items():
        out |= {f"opt{n}.{i}.{k}": v for i, st in enumerate(opt.state.values()) for k, v in st.items()}
    return out


def _assert_same_tensors(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for k, v in a.items():
        assert torch.equal(v, b[k]), k


@pytest.mark.parametrize("op_forms", ["native", "rewritten"])
def test_search_stage_gen_replayed_equals_eager(monkeypatch, op_forms: str) -> None:
    fake_cuda_graphs(monkeypatch)
    population = [LIVE_G, random_genotype("gen", np.random.default_rng(1))]
    eager = gen_trainer(iters_per_epoch=4, op_forms=op_forms)
    graphed = _graphed(gen_trainer(iters_per_epoch=4, op_forms=op_forms))
    for t in (eager, graphed):
        t.warmup(1)
        stats = [t.train_round(population, 2) for _ in range(2)]
    assert graphed.runner.num_graphs == 2 and FakeGraph.captures == 2 and eager.runner.num_graphs == 0
    assert stats[-1].iterations > 0
    _assert_same_tensors(_search_state(eager), _search_state(graphed))


def test_search_stage_disc_replay_follows_weight_resets(monkeypatch) -> None:
    fake_cuda_graphs(monkeypatch)
    pop = [random_genotype("disc", np.random.default_rng(i)) for i in range(3)]
    child = random_genotype("disc", np.random.default_rng(9))
    eager, graphed = disc_trainer(iters_per_epoch=20), _graphed(disc_trainer(iters_per_epoch=20))
    for t in (eager, graphed):
        t.train_round(pop, 1)
        t.end_round(pop, 1)
        t.train_round([pop[1], pop[2], child], 1)
        t.end_round([pop[1], pop[2], child], 0)
        t.train_round([pop[1], pop[2], child], 1)
    assert graphed.runner.num_graphs >= 1
    _assert_same_tensors(_search_state(eager), _search_state(graphed))


# ---------------------------------------------------------------------------- no host reads
class _CountHostReads(TorchDispatchMode):
    """Counts reads of device values by the host: aten's scalar reads, and `tolist` / `numpy`
    (which on the CPU read memory without an aten call; on CUDA they copy and synchronise)."""

    def __init__(self, monkeypatch) -> None:  # noqa: ANN001
        super().__init__()
        self.reads = 0
        for name in ("tolist", "numpy"):
            monkeypatch.setattr(torch.Tensor, name, self._counted(getattr(torch.Tensor, name)))

    def _counted(self, method):  # noqa: ANN001, ANN202
        def wrapped(t, *args, **kwargs):  # noqa: ANN001, ANN202
            self.reads += 1
            return method(t, *args, **kwargs)
        return wrapped

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001, ANN204
        self.reads += func in SYNCING_OPS
        return func(*args, **(kwargs or {}))


def test_final_training_iterations_never_read_device_values(tmp_path, monkeypatch) -> None:
    """The GPU never waits for the host between two reads of the statistics."""
    cfg = mmd_cfg(iters_per_epoch=40, lr_decay="linear", grad_clip=5.0)
    state = final_state.RunState.open(cfg, genotype(), resolve_disc(cfg), str(tmp_path))
    loop = _Loop(state, FakeScorer(), None, progress=False)
    counter = _CountHostReads(monkeypatch)
    with counter:
        for _ in range(loop.drain_every - 1):
            loop._iteration()
        assert counter.reads == 0
        loop._iteration()  # the statistics are read here
        assert counter.reads == 1


@pytest.mark.parametrize("op_forms", ["native", "rewritten"])
def test_search_blocks_never_read_device_values(monkeypatch, op_forms: str) -> None:
    trainer = gen_trainer(iters_per_epoch=4, op_forms=op_forms)
    population = [LIVE_G, random_genotype("gen", np.random.default_rng(1))]
    trainer.pairing.begin_round(population)
    counter = _CountHostReads(monkeypatch)
    with counter:
        for _ in range(3):
            trainer.runner.run(trainer.pairing.warmup_pair())
            trainer.runner.run(trainer.pairing.round_pair(population))
        assert counter.reads == 0
        trainer.runner.read_stats()
        assert counter.reads == 1
