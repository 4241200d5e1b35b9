"""The final training on CUDA: graph replay (`cuda_graphs`) computes what the eager loop does.

Skipped without CUDA. Both recipes; a replayed run takes exactly the eager run's optimizer steps,
ends with weights as close to it as two eager runs are to each other, skips non-finite steps on
the device and resumes from its checkpoint.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_train_final import _nan_d_loss_at, mmd_cfg, run, tiny_cfg  # noqa: E402

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"),
]

LR = 2e-4


@pytest.fixture(autouse=True)
def deterministic_cudnn():
    """Same kernels eagerly and in the graphs (see test_search_training_cuda)."""
    saved = torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    yield
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = saved


def _checkpoint(out) -> dict:
    return torch.load(Path(out) / "checkpoint-last.pt", weights_only=True, map_location="cpu")


def _steps(ck: dict) -> list[float]:
    return [float(s["step"]) for o in ("opt_g", "opt_d") for s in ck[o]["state"].values()]


def _weights(ck: dict) -> dict[str, torch.Tensor]:
    return {f"{part}.{k}": v.float() for part in ("gen", "gen_ema", "disc_state") for k, v in ck[part].items()
            if v.is_floating_point()}


def _max_diff(a: dict, b: dict) -> float:
    return max(float((a[k] - b[k]).abs().max()) for k in a)


@pytest.mark.parametrize("make_cfg", [tiny_cfg, mmd_cfg], ids=["hinge", "mmd"])
def test_graph_replay_matches_the_eager_loop(tmp_path, make_cfg) -> None:
    over = {"device": "cuda", "precision": "fp32", "deterministic": False, "cudnn_benchmark": False,
            "epochs": 3, "checkpoint_every_iters": None}
    run(make_cfg(**over), tmp_path / "eager1")
    run(make_cfg(**over), tmp_path / "eager2")
    result = run(make_cfg(cuda_graphs=True, **over), tmp_path / "graphs")
    assert result.finished
    e1, e2, g = (_checkpoint(tmp_path / n) for n in ("eager1", "eager2", "graphs"))
    assert _steps(g) == _steps(e1)  # no step skipped or repeated by a replay
    noise = _max_diff(_weights(e1), _weights(e2))  # CUDA atomics: eager runs differ in the last bits
    assert _max_diff(_weights(e1), _weights(g)) <= max(4 * noise, 3 * LR)
    for ra, rb in zip(e1["history"], g["history"]):
        assert rb["d_loss"] == pytest.approx(ra["d_loss"], abs=0.02)
        assert rb["g_loss"] == pytest.approx(ra["g_loss"], abs=0.02)


def test_replay_skips_nonfinite_steps_on_the_device_and_resumes(tmp_path, monkeypatch) -> None:
    over = {"device": "cuda", "cuda_graphs": True, "precision": "bf16", "deterministic": False}
    # the poison is captured into the graphs with the step: poison every iteration, so both graphs
    # (D only; D + G) replay poisoned steps
    _nan_d_loss_at(monkeypatch, set(range(0, 100)))
    from optgan.errors import TrainingDivergedError

    # statistics read every 5 iterations and at the checkpoints (3, epoch end 4): stops at the read at 5
    with pytest.raises(TrainingDivergedError, match=r": 5 D losses in a row"):
        run(tiny_cfg(nonfinite_patience=5, **over), tmp_path)
    ck = _checkpoint(tmp_path)
    assert set(_steps(ck)) == {0.0}  # every step was skipped
    assert all(torch.isfinite(v).all() for v in _weights(ck).values())
    monkeypatch.undo()
    result = run(tiny_cfg(**over), tmp_path)  # resumes from the iteration-4 checkpoint, graphs captured afresh
    assert result.finished and result.iterations == 8
    ck = _checkpoint(tmp_path)
    assert max(_steps(ck)) > 0 and all(torch.isfinite(v).all() for v in _weights(ck).values())


def test_deterministic_run_on_cuda_trains_and_resumes(tmp_path, caplog) -> None:
    # `deterministic: true` must not fail at the first G step (bilinear upsampling's backward has no
    # deterministic CUDA kernel), and a resume must load its CPU RNG states (the data stream's, NumPy's)
    cfg = tiny_cfg(device="cuda", deterministic=True)
    run(cfg, tmp_path, stop_after_iters=3)
    assert run(cfg, tmp_path).finished
    assert "not bitwise" in caplog.text
    assert not torch.are_deterministic_algorithms_enabled()  # restored after the run
