"""A real kill: `optgan train` SIGKILLed mid-run, rerun with the same command, ends with bitwise the
same weights, optimiser states, history and metrics files as an uninterrupted run (CPU, same seed)."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

G = "[[1,1,1,0,2,3,1],[1,1,0,1,3,0,5],[0,1,0,3,0,0,3]]"
TOTAL = 3 * 12


def config(tmp: Path, loss: str) -> str:
    disc = "autogan" if loss == "mmd" else "[[3,0,3,0,2,0,0],[1,0,3,0,1,-1,-1],[3,0,3,0,1,-1,-1]]"
    text = f"""\
seed: 5
device: cpu
deterministic: true
cpu_threads: 1
widths: {{gf_dim: 16, df_dim: 16, latent_dim: 12, bottom_width: 2}}
data: {{name: digits, max_images: 300}}
gen_arch: '{G}'
disc: '{disc}'
autogan_df_dim: 8
loss: {loss}
mmd: {{patience: 1}}
epochs: 3
iters_per_epoch: 12
batch_size_g: 8
batch_size_d: 8
n_critic: 2
checkpoint_every_iters: 2
evaluation: {{every_epochs: 1, grid_images: 16}}
metrics: {{extractor: classifier, metrics: [FID], num_images: 32, batch_size: 16, cache_dir: '{tmp / "cache"}',
           classifier: {{epochs: 1, width: 8, feature_dim: 16}}}}
"""
    path = tmp / f"{loss}.yaml"
    path.write_text(text)
    return str(path)


def command(cfg: str, out: Path) -> list[str]:
    return [sys.executable, "-m", "optgan_cli", "train", "--config", cfg, "--out", str(out), "--no-progress"]


ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}


def run_to_end(cfg: str, out: Path) -> None:
    r = subprocess.run(command(cfg, out), env=ENV, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]


def kill_after_first_checkpoint(cfg: str, out: Path) -> int:
    """Start the run, SIGKILL it as soon as a resumable checkpoint exists; its iteration count."""
    proc = subprocess.Popen(command(cfg, out), env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    last = out / "checkpoint-last.pt"
    deadline = time.monotonic() + 240
    while not last.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    return int(torch.load(last, weights_only=True)["progress"]["global_iter"])


def tensors(ck: dict) -> dict[str, torch.Tensor]:
    flat = {f"{part}.{k}": v for part in ("gen", "gen_ema", "disc_state") for k, v in ck[part].items()}
    for part in ("opt_g", "opt_d"):
        for i, state in ck[part]["state"].items():
            flat.update({f"{part}.{i}.{k}": v for k, v in state.items()})
    return flat


@pytest.mark.slow
def test_sigkill_then_rerun_equals_uninterrupted(tmp_path) -> None:
    # the MMD recipe: its resumable state is a superset of the hinge one (kernel bound, patience);
    # hinge and MMD are both covered in-process by tests/trainer/test_train_final.py
    cfg = config(tmp_path, "mmd")
    run_to_end(cfg, tmp_path / "full")  # also trains and caches the classifier extractor
    killed_at = kill_after_first_checkpoint(cfg, tmp_path / "killed")
    assert 0 < killed_at < TOTAL
    run_to_end(cfg, tmp_path / "killed")

    a = torch.load(tmp_path / "full" / "checkpoint-last.pt", weights_only=True)
    b = torch.load(tmp_path / "killed" / "checkpoint-last.pt", weights_only=True)
    assert b["progress"]["global_iter"] == TOTAL
    ta, tb = tensors(a), tensors(b)
    assert ta.keys() == tb.keys()
    for key in ta:
        assert torch.equal(ta[key], tb[key]), key
    assert a["mmd_bound"] == b["mmd_bound"]
    strip = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]  # noqa: E731
    assert strip(a["history"]) == strip(b["history"])
    rows = list(csv.DictReader(open(tmp_path / "killed" / "metrics.csv")))
    assert [r["epoch"] for r in rows] == ["1", "2", "3"]
    assert not [f for f in os.listdir(tmp_path / "killed") if f.startswith(".tmp")]
