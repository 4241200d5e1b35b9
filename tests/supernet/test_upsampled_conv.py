"""`optgan.supernet.ops.UpsampledConv2d`: the 1×1 convs of upsampled inputs (the ``nearest`` up
op, the up-cells' skip-ins) run before the upsampling — the same function as the reference
code's order (outputs and every gradient in float64 to 1e-12), alone and inside the generator,
with the reference's MAC counts and initialisation, and really at the low resolution."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from _bench_support import load_bench
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from optgan.search_space import Widths
from optgan.search_space.counting import count_flops
from optgan.search_space.random import random_genotype
from optgan.supernet import build_generator, build_supernet_g
from optgan.supernet.flops import network_macs
from optgan.supernet.ops import UpsampledConv2d, make_op, set_upsample_first


def _outputs_and_grads(net: nn.Module, x: torch.Tensor, call) -> list[torch.Tensor | None]:  # noqa: ANN001
    x = x.clone().requires_grad_(True)
    y = call(net, x)
    (y * torch.randn(y.shape, dtype=y.dtype, generator=torch.Generator().manual_seed(7))).sum().backward()
    out = [y.detach(), x.grad] + [p.grad.clone() if p.grad is not None else None for p in net.parameters()]
    net.zero_grad(set_to_none=True)
    return out


def _assert_close_lists(a: list[torch.Tensor | None], b: list[torch.Tensor | None]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert (x is None) == (y is None)
        if x is not None:
            torch.testing.assert_close(x, y, rtol=1e-12, atol=1e-12)


def test_only_a_one_by_one_conv_commutes_with_an_upsampling() -> None:
    for kwargs in ({"kernel_size": 3}, {"kernel_size": 1, "stride": 2}, {"kernel_size": 1, "padding": 1}):
        with pytest.raises(ValueError, match="1×1 conv with stride 1 and no padding"):
            UpsampledConv2d(4, 4, **kwargs)


@settings(max_examples=40, deadline=None)
@given(mode=st.sampled_from(["nearest", "bilinear"]), h=st.integers(1, 9), w=st.integers(1, 9),
       scale_h=st.integers(1, 4), scale_w=st.integers(1, 4), extra=st.integers(0, 3), seed=st.integers(0, 2**31 - 1))
def test_the_conv_before_the_upsampling_is_the_conv_after_it(mode: str, h: int, w: int, scale_h: int, scale_w: int,
                                                             extra: int, seed: int) -> None:
    """Any target size (integer factors or not), either mode: output,
    the input's gradient, the weight's and the bias's gradients agree with the reference order
    written out with plain torch ops."""
    torch.manual_seed(seed)
    conv = UpsampledConv2d(5, 4, 1).double()
    with torch.no_grad():
        conv.bias.normal_()  # a zero-ish bias would hide a bias that does not commute
    size = (h * scale_h + extra, w * scale_w)  # `extra`: sizes that are no multiple (nearest repeats unevenly)
    x = torch.randn(2, 5, h, w, dtype=torch.float64)
    align = False if mode == "bilinear" else None
    reference = _outputs_and_grads(
        conv, x, lambda m, t: F.conv2d(F.interpolate(t, size=size, mode=mode, align_corners=align), m.weight, m.bias))
    low_res = _outputs_and_grads(conv, x, lambda m, t: m(t, size, mode))
    assert low_res[0] is not None and low_res[0].shape[-2:] == size
    _assert_close_lists(reference, low_res)
    upsample_first = _outputs_and_grads(set_upsample_first(copy.deepcopy(conv)), x, lambda m, t: m(t, size, mode))
    _assert_close_lists(reference, upsample_first)


def test_without_a_size_it_is_a_plain_conv() -> None:
    conv = UpsampledConv2d(3, 3, 1)
    x = torch.randn(2, 3, 5, 5)
    torch.testing.assert_close(conv(x), F.conv2d(x, conv.weight, conv.bias))


@pytest.mark.parametrize("side", [1, 4, 7])
def test_the_nearest_up_op_is_interpolate_relu_conv(side: int) -> None:
    """ReLU and the conv commute with nearest's copying: the op still computes interpolate ×2 →
    ReLU → 1×1 conv with bias (SPEC §1.1), while its conv sees the input's resolution."""
    torch.manual_seed(side)
    op = make_op("up", "nearest", 6).double()
    with torch.no_grad():
        op.conv.bias.normal_()
    x = torch.randn(3, 6, side, side, dtype=torch.float64)
    reference = _outputs_and_grads(
        op, x, lambda m, t: F.conv2d(F.relu(F.interpolate(t, scale_factor=2.0, mode="nearest")), m.conv.weight,
                                     m.conv.bias))
    ours = _outputs_and_grads(op, x, lambda m, t: m(t))
    _assert_close_lists(reference, ours)
    assert ours[0] is not None and ours[0].shape[-2:] == (2 * side, 2 * side)
    assert _convs_input_sides(op, lambda: op(x)) == {"conv": side}  # the conv ran at the input's resolution


def test_the_bilinear_up_op_keeps_its_order() -> None:
    """ReLU does not commute with bilinear interpolation: that op's conv stays after it."""
    op = make_op("up", "bilinear", 4)
    assert type(op.conv) is nn.Conv2d


def _convs_input_sides(net: nn.Module, call) -> dict[str, int]:  # noqa: ANN001
    """Side of the input each UpsampledConv2d of `net` convolved in `call()`."""
    sides: dict[str, int] = {}
    convs = {name: m for name, m in net.named_modules() if isinstance(m, UpsampledConv2d)}

    def spy(name: str, conv: UpsampledConv2d):  # noqa: ANN202
        def conv_forward(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
            sides[name] = x.shape[-1]
            return nn.Conv2d._conv_forward(conv, x, weight, bias)
        return conv_forward

    for name, m in convs.items():
        m._conv_forward = spy(name, m)  # type: ignore[method-assign]
    try:
        call()
    finally:
        for m in convs.values():
            del m._conv_forward
    return sides


def test_the_generator_computes_the_reference_function_with_less_work() -> None:
    """SuperNet-G on random members: the same images and gradients (float64) with the convs at
    the low resolution as in the reference order; its skip-in convs really run there (cell 2's
    at 2·bw, cell 3's at 2·bw and 4·bw instead of 4·bw and 8·bw)."""
    widths = Widths(gf_dim=8, df_dim=8, latent_dim=12, bottom_width=2)
    net = build_supernet_g(widths, generator=torch.Generator().manual_seed(3)).double()
    reference = set_upsample_first(copy.deepcopy(net))
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.Conv2d) and m.bias is not None:
                m.bias.normal_()
        reference.load_state_dict(net.state_dict())
    rng = np.random.default_rng(0)
    z = torch.randn(4, widths.latent_dim, dtype=torch.float64)
    for _ in range(6):
        genotype = random_genotype("gen", rng)
        _assert_close_lists(_outputs_and_grads(reference, z, lambda m, t: m(t, genotype)),
                            _outputs_and_grads(net, z, lambda m, t: m(t, genotype)))
    genotype = random_genotype("gen", rng)
    sides = _convs_input_sides(net, lambda: net(z, genotype))
    bw = widths.bottom_width
    assert {k: v for k, v in sides.items() if "skip_in" in k} == {
        "cells.1.skip_in.0": 2 * bw, "cells.2.skip_in.0": 2 * bw, "cells.2.skip_in.1": 4 * bw}
    reference_sides = _convs_input_sides(reference, lambda: reference(z, genotype))
    assert reference_sides["cells.2.skip_in.0"] == 8 * bw


def test_mac_counts_and_state_dict_keys_are_the_reference_codes() -> None:
    """The hooks of `network_macs` see each conv's upsampled output: the count is the reference
    convention in either order (and equals the analytic count); the keys are a plain conv's."""
    widths = Widths(gf_dim=16, df_dim=8, latent_dim=12, bottom_width=4)
    rng = np.random.default_rng(1)
    for _ in range(4):
        genotype = random_genotype("gen", rng)
        g = build_generator(genotype, widths, generator=torch.Generator().manual_seed(0))
        macs = network_macs(g)
        assert macs == network_macs(set_upsample_first(copy.deepcopy(g))) == count_flops(genotype, widths)
    keys = build_supernet_g(widths).state_dict().keys()
    assert {"cells.2.skip_in.1.weight", "cells.2.skip_in.1.bias", "cells.0.edges.0.nearest.conv.weight"} <= set(keys)


def test_the_reference_initialisation_reaches_the_upsampled_convs() -> None:
    """`init: normal` draws every conv weight from N(0, 0.02), these included."""
    net = build_supernet_g(Widths(gf_dim=64, df_dim=8, latent_dim=12, bottom_width=4),
                           generator=torch.Generator().manual_seed(0), init="normal")
    convs = [m for m in net.modules() if isinstance(m, UpsampledConv2d)]
    assert len(convs) == 3 + 3 * 2  # skip-ins 0 + 1 + 2, a nearest op on both up edges of 3 cells
    for m in convs:
        assert abs(float(m.weight.detach().std()) - 0.02) < 0.004


def test_the_benchmark_compares_both_orders_on_the_cpu(tmp_path) -> None:  # noqa: ANN001
    """`bench/upsample_order.py` runs on the CPU and reports both orders, their ratio and a
    difference at fp32 rounding."""
    bench = load_bench("upsample_order")
    out = tmp_path / "u.json"
    res = bench.main(["--device", "cpu", "--channels", "8", "--batch-d", "2", "--batch-g", "4", "--members", "3",
                      "--reps", "2", "--out", str(out)])
    assert json.loads(out.read_text()) == res
    times = res["ms_per_iteration_g_work"]
    assert set(times) == {"low_res", "upsample_first"} and all(t > 0 for t in times.values())
    assert res["speedup_low_res_vs_upsample_first"] == round(times["upsample_first"] / times["low_res"], 3)
    assert 0 < res["max_rel_difference_fp32"] < 1e-4
    assert all(len(v) == 2 for v in res["ms_per_iteration_all_reps"].values())
