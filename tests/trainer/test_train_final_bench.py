"""`bench/final.py` runs on the CPU (small widths, digits) and reports every figure it promises."""

from __future__ import annotations

import json

from _bench_support import load_bench


def test_bench_runs_on_cpu_and_compares_precisions(tmp_path) -> None:
    bench = load_bench("final")
    out = tmp_path / "final.json"
    res = bench.main(["--device", "cpu", "--precisions", "tf32,bf16", "--warmup", "1", "--iterations", "3",
                      "--out", str(out)])
    assert "errors" not in res, res.get("errors")
    assert set(res["results"]) == {"hinge/tf32", "hinge/bf16", "mmd/tf32", "mmd/bf16"}
    for r in res["results"].values():
        assert r["d_iterations_per_s"] > 0 and r["full_run_hours_training_only"] > 0 and r["nonfinite_steps"] == 0
        assert r["peak_gpu_memory_gib"] is None and r["peak_gpu_memory_reserved_gib"] is None  # no GPU memory here
    assert res["results"]["mmd/bf16"]["speedup_vs_tf32"] > 0
    assert json.loads(out.read_text()) == res  # the file also holds the comparisons computed last
