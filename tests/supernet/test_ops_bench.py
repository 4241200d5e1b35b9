"""`bench/ops.py`: its re-formulations (dilated convs on sub-grids, the up ops' depthwise
transposed conv and bilinear interpolation by output phase) are exact, forward and every gradient; its FLOP counts are
right; it runs on the CPU with every op at every resolution."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch

from optgan.supernet.ops import make_op

BENCH = Path(__file__).resolve().parents[2] / "bench" / "ops.py"


@pytest.fixture(scope="module")
def bench():  # noqa: ANN201
    spec = importlib.util.spec_from_file_location("optgan_bench_ops", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _assert_same_function(native: torch.nn.Module, other: torch.nn.Module, x: torch.Tensor) -> None:
    """`other` computes what `native` computes: outputs, the input's gradient and every parameter's
    gradient (float64, to 1e-12), for a random upstream gradient."""
    results = []
    for op in (native, other):
        xi = x.clone().requires_grad_(True)
        y = op(xi)
        (y * torch.randn(y.shape, dtype=y.dtype, generator=torch.Generator().manual_seed(7))).sum().backward()
        results.append([y.detach(), xi.grad] + [p.grad.clone() for p in native.parameters()])
        native.zero_grad(set_to_none=True)
    assert len(results[0]) == 2 + len(list(native.parameters()))
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", ["dil_conv_3x3", "dil_conv_5x5"])
@pytest.mark.parametrize("side", [4, 8, 12])
@pytest.mark.parametrize("pre_relu", [True, False])
def test_subgrid_dilated_conv_equals_the_native_op_with_its_gradients(bench, name: str, side: int,  # noqa: ANN001
                                                                      pre_relu: bool) -> None:
    torch.manual_seed(side)
    native = make_op("normal", name, 6, pre_relu=pre_relu).double()
    with torch.no_grad():
        native.conv.bias.normal_()  # a zero-ish bias would hide a bias that is dropped
    _assert_same_function(native, bench.SubgridDilated(native), torch.randn(3, 6, side, side, dtype=torch.float64))


@pytest.mark.parametrize("side", [1, 3, 4])
def test_phase_form_of_the_depthwise_transposed_conv_equals_the_native_up_op(bench, side: int) -> None:  # noqa: ANN001
    torch.manual_seed(side)
    native = make_op("up", "conv_transpose", 5).double()
    x = torch.randn(2, 5, side, side, dtype=torch.float64)
    _assert_same_function(native, bench.PhaseDeconvUp(native), x)
    with pytest.raises(ValueError, match="phase form"):
        bench.phase_depthwise_deconv(x, torch.nn.ConvTranspose2d(5, 5, 3, 2, 1, output_padding=1))  # not depthwise


@pytest.mark.parametrize("side", [1, 2, 5])
def test_phase_form_of_the_bilinear_up_op_equals_the_native_one(bench, side: int) -> None:  # noqa: ANN001
    torch.manual_seed(side)
    native = make_op("up", "bilinear", 3).double()
    x = torch.randn(2, 3, side, side + 1, dtype=torch.float64)  # not square: rows and columns kept apart
    _assert_same_function(native, bench.PhaseBilinearUp(native), x)


def test_subgrid_refuses_what_it_cannot_compute(bench) -> None:  # noqa: ANN001
    op = make_op("normal", "dil_conv_3x3", 2)
    with pytest.raises(ValueError, match="divisible by 2"):
        bench.subgrid_dilated_conv(torch.zeros(1, 2, 5, 6), op.conv)
    with pytest.raises(ValueError, match="stride 1"):
        bench.subgrid_dilated_conv(torch.zeros(1, 2, 8, 8), make_op("down", "dil_conv_3x3", 2).conv)


def test_conv_flop_counts(bench) -> None:  # noqa: ANN001
    n, c, s = 2, 4, 8
    assert bench.conv_gflop(make_op("normal", "conv_5x5", c), (n, c, s, s), (n, c, s, s)) * 1e9 == 2 * n * s * s * c * c * 25
    assert bench.conv_gflop(make_op("normal", "skip_connect", c), (n, c, s, s), (n, c, s, s)) == 0
    # up: nearest = a 1×1 conv at the output size; conv_transpose = a depthwise 3×3 scatter per
    # input pixel plus the 1×1 conv
    assert bench.conv_gflop(make_op("up", "nearest", c), (n, c, s, s), (n, c, 2 * s, 2 * s)) * 1e9 == 2 * n * 4 * s * s * c * c
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


def test_device_time_counts_each_kernel_once(bench) -> None:  # noqa: ANN001
    """A profile with CPU and CUDA activities lists a kernel's time on its launching op too (and on
    user ranges): only the device events count; an empty profile is 0 (the bench then reports wall time)."""
    import types

    from torch.autograd import DeviceType

    def event(device_type: DeviceType, us: float, annotation: bool = False) -> types.SimpleNamespace:
        return types.SimpleNamespace(device_type=device_type, self_device_time_total=us, is_user_annotation=annotation)

    prof = types.SimpleNamespace(key_averages=lambda: [event(DeviceType.CPU, 100.0), event(DeviceType.CUDA, 100.0),
                                                       event(DeviceType.CUDA, 100.0, annotation=True)])
    assert bench.device_time_us(prof) == 100.0
    assert bench.device_time_us(types.SimpleNamespace(key_averages=lambda: [])) == 0
