"""`bench/train.py` runs on the CPU (small widths) and reports every figure it promises."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import torch

BENCH = Path(__file__).resolve().parents[2] / "bench" / "train.py"


def test_bench_runs_on_cpu_and_prints_its_figures() -> None:
    spec = importlib.util.spec_from_file_location("optgan_bench_train", BENCH)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = bench  # (its dataclasses look their module up)
    spec.loader.exec_module(bench)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        res = bench.main(["--device", "cpu", "--blocks", "2", "--compare-steps", "4"])
    finally:
        torch.set_num_threads(threads)
    json.dumps(res)  # plain JSON
    assert "errors" not in res, res.get("errors")
    its = res["iterations_per_s"]
    assert set(its) == {"warmup_fast", "round_fast", "warmup_fp32", "round_fp32"}
    assert all(v > 0 for v in its.values())
    assert res["round_seconds"]["train"] > 0 and res["round_seconds"]["generate_eval_images"] > 0
    match = res["loss_match"]
    assert match["steps"] == 4 and match["nonfinite"] == {"fp32": 0, "fast": 0}
    assert math.isclose(match["max_abs_window_diff"]["loss_d"], 0.0)  # on the CPU both paths are fp32
