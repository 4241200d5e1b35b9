"""`bench/final.py` runs on the CPU (small widths, digits) and reports every figure it promises."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "final.py"


def test_bench_runs_on_cpu_and_compares_precisions(tmp_path) -> None:
    spec = importlib.util.spec_from_file_location("optgan_bench_final", BENCH)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = bench
    spec.loader.exec_module(bench)
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
