"""`optgan.supernet.op_forms`: the re-formulated ops (dilated convs on sub-grids, the up ops'
depthwise transposed conv and bilinear interpolation by output phase) compute the native ops'
function — outputs, the input's gradient and every parameter's gradient, in float64 to 1e-12 —
alone, inside a supernet, and in a training step; they change no state-dict key."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from optgan.search_space import Widths
from optgan.search_space.random import random_genotype
from optgan.supernet import build_supernet_d, build_supernet_g
from optgan.supernet.op_forms import phase_depthwise_deconv, set_op_forms, subgrid_dilated_conv
from optgan.supernet.ops import make_op


def _outputs_and_grads(net: nn.Module, inputs: list[torch.Tensor], call) -> list[torch.Tensor]:  # noqa: ANN001
    xs = [x.clone().requires_grad_(True) for x in inputs]
    y = call(net, *xs)
    (y * torch.randn(y.shape, dtype=y.dtype, generator=torch.Generator().manual_seed(7))).sum().backward()
    out = [y.detach()] + [x.grad for x in xs] + [p.grad.clone() if p.grad is not None else None  # unused by the subnet
                                                  for p in net.parameters()]
    net.zero_grad(set_to_none=True)
    return out


def _assert_same_function(native: nn.Module, inputs: list[torch.Tensor], call=lambda m, x: m(x)) -> None:  # noqa: ANN001
    """`native` switched to the rewritten forms computes what it computed natively."""
    rewritten = set_op_forms(copy.deepcopy(native), "rewritten")
    a = _outputs_and_grads(native, inputs, call)
    b = _outputs_and_grads(rewritten, inputs, call)
    assert len(a) == len(b) == 1 + len(inputs) + len(list(native.parameters()))
    assert a[0].numel() and sum(g is not None for g in a) > 2
    for x, y in zip(a, b):
        assert (x is None) == (y is None)
        if x is not None:
            torch.testing.assert_close(x, y, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", ["dil_conv_3x3", "dil_conv_5x5"])
@pytest.mark.parametrize("side", [4, 8, 12])
@pytest.mark.parametrize("pre_relu", [True, False])
def test_subgrid_dilated_conv_equals_the_native_op_with_its_gradients(name: str, side: int, pre_relu: bool) -> None:
    torch.manual_seed(side)
    native = make_op("normal", name, 6, pre_relu=pre_relu).double()
    with torch.no_grad():
        native.conv.bias.normal_()  # a zero-ish bias would hide a bias that is dropped
    assert set_op_forms(copy.deepcopy(native), "rewritten").subgrid
    _assert_same_function(native, [torch.randn(3, 6, side, side, dtype=torch.float64)])


def test_a_dilated_conv_on_an_odd_size_or_under_spectral_norm_stays_native() -> None:
    """Odd sizes fall back to the native conv; a spectrally normalised conv (the discriminator's)
    keeps its native form, since its normalised weight is computed when the conv itself is called
    (computed on sub-grids, it used a stale weight and skipped the power iteration)."""
    torch.manual_seed(0)
    native = make_op("normal", "dil_conv_3x3", 4).double()
    _assert_same_function(native, [torch.randn(2, 4, 5, 7, dtype=torch.float64)])
    spectral = make_op("normal", "dil_conv_5x5", 4, spectral=True).double()
    assert not set_op_forms(copy.deepcopy(spectral), "rewritten").subgrid
    x = torch.randn(2, 4, 8, 8, dtype=torch.float64)
    rewritten = set_op_forms(copy.deepcopy(spectral), "rewritten")
    for _ in range(2):  # training mode: the power iteration moves `weight_u` in both alike
        torch.testing.assert_close(rewritten(x), spectral(x), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(rewritten.conv.weight_u, spectral.conv.weight_u, rtol=0, atol=0)


@pytest.mark.parametrize("side", [1, 3, 4])
def test_phase_form_of_the_depthwise_transposed_conv_equals_the_native_up_op(side: int) -> None:
    torch.manual_seed(side)
    native = make_op("up", "conv_transpose", 5).double()
    x = torch.randn(2, 5, side, side + 2, dtype=torch.float64)  # not square: rows and columns kept apart
    _assert_same_function(native, [x])
    with pytest.raises(ValueError, match="phase form"):
        phase_depthwise_deconv(x, nn.ConvTranspose2d(5, 5, 3, 2, 1, output_padding=1))  # not depthwise


def test_the_phase_form_reads_each_tap_where_the_transposed_conv_puts_it() -> None:
    """A kernel with one non-zero tap at a time: each tap lands on the output phase and offset the
    native transposed conv puts it (a swapped tap or phase would pass random-kernel tests only by luck)."""
    deconv = nn.ConvTranspose2d(1, 1, 3, 2, 1, output_padding=1, groups=1, bias=False).double()
    x = torch.arange(1.0, 10.0, dtype=torch.float64).reshape(1, 1, 3, 3)
    for tap in range(9):
        with torch.no_grad():
            deconv.weight.zero_()
            deconv.weight.view(-1)[tap] = 1.0
        torch.testing.assert_close(phase_depthwise_deconv(x, deconv), deconv(x), rtol=0, atol=0)


@pytest.mark.parametrize("side", [1, 2, 5])
def test_phase_form_of_the_bilinear_up_op_equals_the_native_one(side: int) -> None:
    torch.manual_seed(side)
    native = make_op("up", "bilinear", 3).double()
    _assert_same_function(native, [torch.randn(2, 3, side, side + 1, dtype=torch.float64)])


def test_nearest_and_plain_convs_have_no_other_form() -> None:
    for kind, name in (("up", "nearest"), ("normal", "conv_3x3"), ("down", "dil_conv_3x3")):
        op = set_op_forms(make_op(kind, name, 2), "rewritten")
        assert not getattr(op, "phases", False) and not getattr(op, "subgrid", False), (kind, name)


def test_subgrid_refuses_what_it_cannot_compute() -> None:
    op = make_op("normal", "dil_conv_3x3", 2)
    with pytest.raises(ValueError, match="divisible by 2"):
        subgrid_dilated_conv(torch.zeros(1, 2, 5, 6), op.conv)
    with pytest.raises(ValueError, match="stride 1"):
        subgrid_dilated_conv(torch.zeros(1, 2, 8, 8), make_op("down", "dil_conv_3x3", 2).conv)
    with pytest.raises(ValueError, match="native, rewritten"):
        set_op_forms(op, "fast")


WIDTHS = Widths(gf_dim=8, df_dim=8, latent_dim=6, bottom_width=2)


def test_the_supernet_computes_the_same_function_in_either_form() -> None:
    """Every genotype's subnet of the G supernet, forward and all gradients; switching forms changes
    no state-dict key or value. The D supernet has nothing to rewrite: its dilated convs are
    spectrally normalised (they stay native), and it has no up ops."""
    rng = np.random.default_rng(0)
    g = build_supernet_g(WIDTHS, generator=torch.Generator().manual_seed(1)).double()
    z = torch.randn(3, WIDTHS.latent_dim, dtype=torch.float64)
    for _ in range(4):
        gen = random_genotype("gen", rng)
        _assert_same_function(g, [z], lambda m, x, gen=gen: m(x, genotype=gen))
    state = {k: v.clone() for k, v in g.state_dict().items()}
    rewritten = set_op_forms(copy.deepcopy(g), "rewritten")
    switched = [m for m in rewritten.modules() if getattr(m, "phases", False) or getattr(m, "subgrid", False)]
    assert len(switched) == 3 * (2 * 2 + 5 * 2)  # per cell: 2 up edges × (bilinear, conv_transpose), 5 normal × 2 dilated
    after = rewritten.state_dict()
    assert after.keys() == state.keys() and all(torch.equal(after[k], state[k]) for k in after)
    assert not any(getattr(m, "phases", False) or getattr(m, "subgrid", False)
                   for m in set_op_forms(rewritten, "native").modules())
    d = set_op_forms(build_supernet_d(WIDTHS, generator=torch.Generator().manual_seed(2)), "rewritten")
    assert not any(getattr(m, "phases", False) or getattr(m, "subgrid", False) for m in d.modules())


def test_search_training_in_the_rewritten_forms_follows_the_native_one() -> None:
    """`op_forms: rewritten` in a stage config: both stages' networks (the G supernet, each G copy
    of stage disc) compute in those forms, and the first iteration's losses equal the native
    forms' up to float32 rounding (same seed). (Weights after training cannot tell: Adam moves
    every weight by about the learning rate per step whatever the gradient's size, so rounding
    differences in tiny gradients show as lr-sized differences; exactness is tested above in float64.)"""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "trainer"))
    from test_search_training_helpers import LIVE_G, disc_trainer, gen_trainer

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        losses = {}
        for forms in ("native", "rewritten"):
            t = gen_trainer(0, op_forms=forms, iters_per_epoch=1)
            rewritten = [m for m in t.pairing.g.modules() if getattr(m, "phases", False) or getattr(m, "subgrid", False)]
            assert bool(rewritten) == (forms == "rewritten")
            first = t.train_round([LIVE_G], 1)  # LIVE_G has a bilinear, a conv_transpose and a dilated conv
            losses[forms] = (first.loss_d, first.loss_g)
        assert losses["native"][0] == pytest.approx(losses["rewritten"][0], rel=1e-5)  # before any update
        assert losses["native"][1] == pytest.approx(losses["rewritten"][1], rel=1e-3)  # after D's first step
        d = disc_trainer(0, op_forms="rewritten")  # G* = LIVE_G
        copy_net = d.pairing.copy_for(random_genotype("disc", np.random.default_rng(0))).net
        assert sum(getattr(m, "phases", False) or getattr(m, "subgrid", False) for m in copy_net.modules()) == 4
    finally:
        torch.set_num_threads(threads)
