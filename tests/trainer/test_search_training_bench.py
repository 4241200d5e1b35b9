"""`bench/train.py` runs on the CPU (small widths) and reports every figure it promises."""

from __future__ import annotations

import json
import math

import pytest
import torch
from _bench_support import load_bench


def test_bench_runs_on_cpu_and_prints_its_figures() -> None:
    bench = load_bench("train")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        res = bench.main(["--device", "cpu", "--blocks", "2", "--compare-steps", "4", "--population", "8",
                          "--eval-images", "20"])
    finally:
        torch.set_num_threads(threads)
    json.dumps(res)  # plain JSON
    assert "errors" not in res, res.get("errors")
    its = res["iterations_per_s"]
    assert res["targets"]["round_fast"] == {"what": res["targets"]["round_fast"]["what"], "target": 125.0,
                                            "measured": its["round_fast"], "met": None}  # a CPU judges no H100 target
    assert set(its) == {"warmup_fast", "round_fast", "warmup_fp32", "round_fp32"}
    assert all(v > 0 for v in its.values())
    whole = res["round_seconds"]  # two real rounds through the runner; the second one's phases
    assert set(whole["measured_round"]) == {"ask", "train", "evaluate", "tell", "pictures", "checkpoint", "total"}
    assert whole["measured_with"]["population"] == 8 and whole["measured_with"]["extractor"] == "classifier"
    est = whole["paper_round_estimate_s"]
    assert est["iterations"] == 12_500 and est["images_per_member"] == 5000
    assert est["total"] == pytest.approx(est["train"] + est["evaluate"] + est["ask_tell_pictures_checkpoint"], abs=0.2)
    assert est["train"] > whole["measured_round"]["train"]  # scaled up from 2 iterations
    ops = res["aten_ops_per_iteration"]
    assert set(ops) == {"warmup_fast", "round_fast", "warmup_bf16"}
    for counts in ops.values():
        assert counts["kernels"] > 100 and counts["views"] > 0
        assert counts["total"] == pytest.approx(counts["kernels"] + counts["views"] + counts["casts"], abs=0.2)
    # fp32 on the CPU: no autocast, only the inputs' and statistics' conversions; bf16 autocast casts
    # every weight it uses, and its gradient back
    assert ops["warmup_fast"]["casts"] < 20 and ops["warmup_bf16"]["casts"] > ops["warmup_fast"]["casts"] + 100
    match = res["loss_match"]
    assert match["steps"] == 4 and match["nonfinite"] == {"fp32": 0, "fast": 0}
    assert math.isclose(match["max_abs_window_diff"]["loss_d"], 0.0)  # on the CPU both paths are fp32
