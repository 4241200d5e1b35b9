"""`bench/ops.py`: its FLOP counts are right; it runs on the CPU with every op at every resolution,
each re-formulation (`optgan.supernet.op_forms`, tested in test_op_forms.py) beside its native op."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from _bench_support import load_bench

from optgan.supernet.ops import make_op


@pytest.fixture(scope="module")
def bench():  # noqa: ANN201
    return load_bench("ops")


def test_conv_flop_counts(bench) -> None:  # noqa: ANN001
    n, c, s = 2, 4, 8
    assert bench.conv_gflop(make_op("normal", "conv_5x5", c), (n, c, s, s), (n, c, s, s)) * 1e9 == 2 * n * s * s * c * c * 25
    assert bench.conv_gflop(make_op("normal", "skip_connect", c), (n, c, s, s), (n, c, s, s)) == 0
    # up: nearest = a 1×1 conv at the input size (computed before the upsampling); bilinear at the
    # output size; conv_transpose = a depthwise 3×3 scatter per input pixel plus the 1×1 conv
    assert bench.conv_gflop(make_op("up", "nearest", c), (n, c, s, s), (n, c, 2 * s, 2 * s)) * 1e9 == 2 * n * s * s * c * c
    assert bench.conv_gflop(make_op("up", "bilinear", c), (n, c, s, s), (n, c, 2 * s, 2 * s)) * 1e9 == 2 * n * 4 * s * s * c * c
    assert bench.conv_gflop(make_op("up", "conv_transpose", c), (n, c, s, s), (n, c, 2 * s, 2 * s)) * 1e9 == \
        2 * n * s * s * c * 9 + 2 * n * 4 * s * s * c * c


def test_bench_runs_on_cpu_with_every_op_at_every_resolution(bench, tmp_path: Path) -> None:  # noqa: ANN001
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        res = bench.main(["--device", "cpu", "--channels", "4", "--batch-d", "2", "--batch-g", "3", "--reps", "1",
                          "--precisions", "fast,fp32", "--out", str(tmp_path / "ops.json")])
    finally:
        torch.set_num_threads(threads)
    assert json.loads((tmp_path / "ops.json").read_text()) == json.loads(json.dumps(res))
    names = {k.split("/", 1)[1].rsplit("@", 1)[0] for k in res["results"]}
    assert names == {"up/nearest", "up/bilinear", "up/conv_transpose", "normal/conv_1x1", "normal/conv_3x3",
                     "normal/conv_5x5", "normal/dil_conv_3x3", "normal/dil_conv_5x5",
                     "normal/dil_conv_3x3@subgrid", "normal/dil_conv_5x5@subgrid", "up/conv_transpose@phases",
                     "up/bilinear@phases"}
    assert len(res["results"]) == 2 * 3 * 12
    for key, r in res["results"].items():
        side = int(key.rsplit("@", 1)[1])
        assert r["output"] == [3, 4, side, side] and r["forward_backward_g"]["device_ms"] is None  # CPU: wall time
        assert r["forward_d"]["wall_ms"] > 0 and r["forward_backward_g"]["wall_ms"] > 0
        if "@subgrid" in key or "@phases" in key:
            assert r["max_rel_difference_fp32"] < 1e-5 and r["forward_backward_g"]["speedup_vs_native"] > 0


def test_device_time_counts_each_kernel_once() -> None:
    """A profile with CPU and CUDA activities lists a kernel's time on its launching op too (and on
    user ranges): only the device events count; an empty profile is 0 (the bench then reports wall time)."""
    import types

    bench = load_bench("_args")  # the benchmarks' shared helpers (`kernel_ms` sums these events)

    from torch.autograd import DeviceType

    def event(device_type: DeviceType, us: float, annotation: bool = False) -> types.SimpleNamespace:
        return types.SimpleNamespace(device_type=device_type, self_device_time_total=us, is_user_annotation=annotation)

    prof = types.SimpleNamespace(key_averages=lambda: [event(DeviceType.CPU, 100.0), event(DeviceType.CUDA, 100.0),
                                                       event(DeviceType.CUDA, 100.0, annotation=True)])
    assert bench.device_time_us(prof) == 100.0
    assert bench.device_time_us(types.SimpleNamespace(key_averages=lambda: [])) == 0
