"""Details of the ops, cells, networks, init and counting that the other supernet tests leave open.

Each test pins one behaviour a mutation of `optgan.supernet` changed without any other test
noticing: which pooling an op name means, where the up ops' ReLU sits, which ops a vocabulary
has a module for, how the generator feeds its latent chunks and skip features, what the
discriminators' heads read, the memory-format and train/eval state the helpers leave behind,
and the init kinds. Small widths on the CPU; values are checked against hand-assembled
references from the same modules, so the tests do not depend on the random init.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from optgan.search_space import Widths, random_genotype
from optgan.supernet import (
    build_discriminator,
    build_generator,
    build_simple_discriminator,
    build_supernet_d,
    build_supernet_g,
    count_macs,
    extract_subnet,
    init_weights,
    set_channels_last,
    set_op_forms,
)
from optgan.supernet.cells import DownCell, UpCell, supernet_choices
from optgan.supernet.init import seeded
from optgan.supernet.ops import make_op

W = Widths(gf_dim=8, df_dim=8, latent_dim=12, bottom_width=2)
G = random_genotype("gen", np.random.default_rng(0))
D = random_genotype("disc", np.random.default_rng(0))


def _x(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


# ------------------------------------------------------------------------------------------ ops
def test_avg_pool_averages_and_max_pool_takes_the_maximum() -> None:
    """The op names `avg_pool` / `max_pool` select 2×2 stride-2 average / max pooling (and not the
    other way round: both have no parameters, so no count or equivalence test sees a swap)."""
    x = _x(2, 3, 4, 4)
    torch.testing.assert_close(make_op("down", "avg_pool", 3)(x), F.avg_pool2d(x, 2, 2))
    torch.testing.assert_close(make_op("down", "max_pool", 3)(x), F.max_pool2d(x, 2, 2))


@pytest.mark.parametrize("name", ["avg_pool", "max_pool", "conv_3x3", "dil_conv_5x5"])
def test_every_down_op_rounds_odd_sizes_up(name: str) -> None:
    """Down ops halve a 5×5 map to 3×3 (pooling in `ceil_mode`, like the stride-2 convs), so the
    two down edges of a cell always add maps of the same size."""
    assert make_op("down", name, 2)(_x(1, 2, 5, 5)).shape[-2:] == (3, 3)
    assert make_op("down", name, 2)(_x(1, 2, 5, 6)).shape[-2:] == (3, 3)


@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
def test_interpolating_up_ops_apply_the_relu_between_interpolation_and_conv(mode: str) -> None:
    """`nearest` / `bilinear` = interpolate ×2 → ReLU → 1×1 conv with bias (the reference order),
    not a ReLU after the conv: the output may be negative and equals the hand-made composition."""
    with seeded(torch.Generator().manual_seed(0)):
        op = make_op("up", mode, 3)
    x = _x(2, 3, 3, 3)
    with torch.no_grad():
        y = op(x)
        up = F.interpolate(x, scale_factor=2.0, mode=mode, align_corners=False if mode == "bilinear" else None)
        torch.testing.assert_close(y, op.conv(F.relu(up)))
    assert float(y.min()) < 0


@pytest.mark.parametrize(("kind", "name"), [("normal", "none"), ("down", "none"), ("down", "no_down"),
                                             ("down", "skip_connect"), ("down", "conv_1x1"),
                                             ("up", "conv_3x3"), ("normal", "avg_pool"), ("side", "conv_3x3")])
def test_make_op_refuses_ops_outside_the_vocabulary_of_their_kind(kind: str, name: str) -> None:
    """`make_op` builds only ops of its kind's vocabulary and never one for `none` / `no_down`:
    a `skip_connect` or 1×1 conv is no down op (it would not halve the map), and `none` has no
    module (the caller skips the edge) instead of failing later with a KeyError."""
    with pytest.raises(ValueError, match="no module for op"):
        make_op(kind, name, 2)


def test_a_dilated_conv_on_a_map_with_one_odd_side_stays_native() -> None:
    """The sub-grid form needs both sides even; a map with one odd side (e.g. 4×5) falls back to
    the native conv instead of failing in `subgrid_dilated_conv`."""
    op = make_op("normal", "dil_conv_3x3", 2)
    x = _x(1, 2, 4, 5)
    with torch.no_grad():
        native = op(x)
        set_op_forms(op, "rewritten")
        assert op.subgrid
        torch.testing.assert_close(op(x), native)
        torch.testing.assert_close(op(x.transpose(-1, -2)), op.conv(F.relu(x.transpose(-1, -2))))


# ---------------------------------------------------------------------------------------- cells
def test_cells_refuse_a_choice_list_of_the_wrong_length() -> None:
    """A cell needs one op list per edge (7); a shorter list used to be truncated silently by zip."""
    with pytest.raises(ValueError, match="has 7 edges, got choices for 6"):
        UpCell(2, "nearest", 0, supernet_choices("gen")[:6])
    with pytest.raises(ValueError, match="has 7 edges, got choices for 8"):
        DownCell(2, (*supernet_choices("disc"), ("avg_pool",)))


# ------------------------------------------------------------------------------------ generator
def _reference_generator(g: nn.Module, z: torch.Tensor, cells: tuple[tuple[str, ...], ...]) -> torch.Tensor:
    """SPEC §1.2 assembled by hand from `g`'s modules: chunk k of z feeds l_k, l2 / l3 are added to
    the inputs of cells 2 / 3, cell 3 gets (cell 1's, cell 2's) node2 in that order, then
    BN → ReLU → conv3×3 → tanh."""
    c, bw, k = W.gf_dim, W.bottom_width, W.latent_chunk
    h = g.l1(z[:, :k]).view(-1, c, bw, bw)
    n1 = g.l2(z[:, k:2 * k]).view(-1, c, 2 * bw, 2 * bw)
    n2 = g.l3(z[:, 2 * k:]).view(-1, c, 4 * bw, 4 * bw)
    h, s1 = g.cells[0](h, (), cells[0])
    h, s2 = g.cells[1](h + n1, (s1,), cells[1])
    h, _ = g.cells[2](h + n2, (s1, s2), cells[2])
    bn = next(m for m in g.to_rgb if isinstance(m, nn.BatchNorm2d))
    conv = next(m for m in g.to_rgb if isinstance(m, nn.Conv2d))
    return torch.tanh(conv(F.relu(bn(h))))


@pytest.mark.parametrize("seed", [0, 1])
def test_generator_matches_a_hand_assembly_of_its_modules(seed: int) -> None:
    """Which latent chunk feeds which linear layer, that l2 / l3 are added to cells 2 / 3, the
    order of cell 3's skip features and the ReLU of the output block: a supernet-vs-standalone
    comparison cannot see these (both run the same `Generator.run`)."""
    g = build_generator(random_genotype("gen", np.random.default_rng(seed)), W,
                        generator=torch.Generator().manual_seed(seed)).eval()
    z = _x(3, W.latent_dim, seed=seed)
    with torch.no_grad():
        torch.testing.assert_close(g(z), _reference_generator(g, z, g.genotype.cells))




def test_build_generator_applies_the_init_it_is_given() -> None:
    """`build_generator(..., init="normal")` draws every conv weight from N(0, 0.02), not the
    default xavier (whose bound at 8 channels is ≈ 0.2)."""
    g = build_generator(G, W, init="normal", generator=torch.Generator().manual_seed(0))
    w = torch.cat([m.weight.detach().flatten() for m in g.modules() if type(m) is nn.Conv2d])
    assert 0.015 < float(w.std()) < 0.025


def test_a_channels_last_generator_feeds_its_first_cell_channels_last() -> None:
    """With `set_channels_last`, the reshaped latent (cell 1's input) is made channels-last too, as
    `set_channels_last` promises: the convs then get one memory format throughout."""
    g = set_channels_last(build_generator(G, W, generator=torch.Generator().manual_seed(0)).eval())
    seen: list[bool] = []
    g.cells[0].register_forward_pre_hook(lambda m, a: seen.append(a[0].is_contiguous(memory_format=torch.channels_last)))
    with torch.no_grad():
        g(_x(2, W.latent_dim))
    assert seen == [True]

# -------------------------------------------------------------------------------- discriminator
def test_discriminator_matches_a_hand_assembly_of_its_modules() -> None:
    """SPEC §1.3: stem = avgpool2(c2(ReLU(c1(x)))) + c_sc(avgpool2(x)); head = SN-Linear of the
    spatial *sum* of ReLU(h). The ReLUs and the sum (not a mean) change no count and are shared by
    the supernet and the standalone D, so only a hand assembly sees them."""
    w = Widths(gf_dim=8, df_dim=8, latent_dim=12, bottom_width=4)  # 32 px: the last map is 2×2, its sum ≠ its mean
    d = build_discriminator(D, w, generator=torch.Generator().manual_seed(0)).eval()
    x = _x(3, 3, w.img_size, w.img_size)
    with torch.no_grad():
        s = d.stem
        h = F.avg_pool2d(s.c2(F.relu(s.c1(x))), 2) + s.c_sc(F.avg_pool2d(x, 2))
        for cell, ops in zip(d.cells, D.cells):
            h = cell(h, ops)
        torch.testing.assert_close(d(x), d.head(F.relu(h).sum(dim=(2, 3))))


@pytest.mark.parametrize("build", [lambda: build_discriminator(D, W), lambda: build_supernet_d(W)], ids=["standalone", "supernet"])
def test_every_conv_and_the_head_of_the_searched_d_are_spectral_normed(build) -> None:  # noqa: ANN001
    """Spectral norm on every conv of the D — the stem's too, not only the cells' — and on its linear
    head (`weight_orig` in place of `weight`; the counts cannot tell, the numel is the same)."""
    layers = [m for m in build().modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert layers and all(hasattr(m, "weight_orig") for m in layers)


# ---------------------------------------------------------------------------- the fixed D's
@pytest.mark.parametrize("bottom_width", [1, 2, 3, 4, 6])
def test_simple_discriminator_pads_only_convs_of_a_one_pixel_map_by_two(bottom_width: int) -> None:
    """The `simple` D's five stride-2 convs use padding 1, except a conv whose input is already 1×1
    (images under 32×32), padded by 2 so that it outputs 1×1 again: the last map is 1×1 at
    every image size, as at 32×32."""
    side = 8 * bottom_width
    net = build_simple_discriminator(Widths(gf_dim=8, df_dim=8, latent_dim=12, bottom_width=bottom_width)).eval()
    seen: list[tuple[int, int]] = []
    hooks = [m.register_forward_hook(lambda m, a, o: seen.append((a[0].shape[-1], m.padding[0])))
             for m in net.body if isinstance(m, nn.Conv2d)]
    with torch.no_grad():
        out = net.body(_x(1, 3, side, side))
    for h in hooks:
        h.remove()
    assert out.shape[-2:] == (1, 1)
    assert [pad for _, pad in seen] == [2 if s == 1 else 1 for s, _ in seen]


def test_simple_discriminator_layers_follow_the_eagan_code() -> None:
    """Conv BN LReLU(0.2) Conv | Conv BN LReLU Conv | Conv BN LReLU, then SN-Linear on the spatial
    sum: the BN positions and the slope do not change the 921,920 parameters."""
    w64 = Widths(gf_dim=8, df_dim=8, latent_dim=12, bottom_width=8)
    net = build_simple_discriminator(w64, generator=torch.Generator().manual_seed(0)).eval()
    kinds = ["C", "B", "L", "C", "C", "B", "L", "C", "C", "B", "L"]
    letter = {nn.Conv2d: "C", nn.BatchNorm2d: "B", nn.LeakyReLU: "L"}
    assert [letter[type(m)] for m in net.body] == kinds
    assert all(m.negative_slope == 0.2 for m in net.body if isinstance(m, nn.LeakyReLU))
    assert hasattr(net.head, "weight_orig") and net.head.bias is None
    x = _x(2, 3, 64, 64)  # 64 px: the last map is 2×2, so its sum is not its mean
    with torch.no_grad():
        assert net.body(x).shape[-2:] == (2, 2)
        torch.testing.assert_close(net(x), net.head(net.body(x).sum(dim=(2, 3))))


def test_autogan_discriminator_matches_a_hand_assembly_of_its_blocks() -> None:
    """MMD-AdversarialNAS's D: optimized block = avgpool2(c2(ReLU(c1(x)))) + c_sc(avgpool2(x));
    block = c2(ReLU(c1(ReLU(x)))) + shortcut (1×1 conv when it down-samples, then both pooled);
    out = l5(Σ_hw ReLU(h)). The shape and parameter tests cannot see a dropped ReLU or shortcut."""
    from optgan.supernet.autogan_disc import AutoGANDiscriminator

    torch.manual_seed(0)
    d = AutoGANDiscriminator(8, 4).eval()
    x = _x(2, 3, 16, 16)
    with torch.no_grad():
        b = d.block1
        h = F.avg_pool2d(b.c2(F.relu(b.c1(x))), 2) + b.c_sc(F.avg_pool2d(x, 2))
        for b in (d.block2, d.block3, d.block4):
            r = b.c2(F.relu(b.c1(F.relu(h))))
            sc = h if b.c_sc is None else b.c_sc(h)
            h = F.avg_pool2d(r, 2) + F.avg_pool2d(sc, 2) if b.downsample else r + sc
        torch.testing.assert_close(d(x), d.l5(F.relu(h).sum(dim=(2, 3))))
    assert [b.c_sc is None for b in (d.block2, d.block3, d.block4)] == [False, True, True]
    assert hasattr(d.l5, "weight_orig")


def test_autogan_discriminator_init_and_validation() -> None:
    """Every conv's `weight_orig` is xavier-uniform (bound √(6 / (fan_in + fan_out)), reached
    within 10 %; PyTorch's default is much narrower), and a width or output size below 1 is refused."""
    from optgan.supernet.autogan_disc import AutoGANDiscriminator

    torch.manual_seed(0)
    d = AutoGANDiscriminator(16, 4)
    w = d.block3.c1.weight_orig.detach()
    bound = (6 / (2 * 16 * 9)) ** 0.5
    assert 0.9 * bound < float(w.abs().max()) <= bound
    for dims in ((0, 4), (8, 0)):
        with pytest.raises(ValueError, match="must be positive"):
            AutoGANDiscriminator(*dims)


# ------------------------------------------------------------------ init, memory format, counting
def test_orth_init_gives_conv_weights_orthonormal_rows() -> None:
    """`init="orth"` is `nn.init.orthogonal_` on every conv weight (spectral norm's `weight_orig`):
    the (out, in·k·k) matrix of a 3×3 conv has orthonormal rows, which xavier does not give."""
    d = build_discriminator(D, W, init="orth", generator=torch.Generator().manual_seed(0))
    w = d.stem.c2.weight_orig.detach().flatten(1)
    torch.testing.assert_close(w @ w.T, torch.eye(w.shape[0]), rtol=0, atol=1e-5)


def test_transposed_convs_keep_pytorchs_default_init() -> None:
    """`init_weights` leaves transposed convs (the `conv_transpose` up op's depthwise deconv) at
    PyTorch's default U(±1/√fan_in) = U(±1/3) for a depthwise 3×3, as the reference code does;
    xavier would bound them by √(6 / (9 + 9·C)) = 0.27 at C = 8."""
    g = build_supernet_g(W, generator=torch.Generator().manual_seed(0))
    w = torch.cat([c.edges[0]["conv_transpose"].deconv.weight.detach().flatten() for c in g.cells])
    assert 0.3 < float(w.abs().max()) <= 1 / 3


def test_set_channels_last_can_be_switched_off_again() -> None:
    """`set_channels_last(net, False)` undoes `set_channels_last(net)`: contiguous weights, the
    flag cleared on every network, and the generator's images contiguous again."""
    g = build_generator(G, W, generator=torch.Generator().manual_seed(0)).eval()
    set_channels_last(g)
    set_channels_last(g, False)
    assert not g.channels_last
    assert all(p.is_contiguous() for p in g.parameters())
    with torch.no_grad():
        img = g(_x(2, W.latent_dim))
    assert img.is_contiguous() and not img.is_contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize("training", [True, False])
def test_counting_macs_changes_no_state_and_restores_the_mode(training: bool) -> None:
    """`count_macs` runs the network once in eval mode: BN running statistics (and spectral norm's
    u / v) are left as they were, and the network's train / eval mode is restored afterwards."""
    g = build_generator(G, W, generator=torch.Generator().manual_seed(0)).train(training)
    before = {k: v.clone() for k, v in g.state_dict().items()}
    assert count_macs(g, (torch.zeros(1, W.latent_dim),)) > 0
    assert g.training == training and all(m.training == training for m in g.modules())
    assert all(torch.equal(v, before[k]) for k, v in g.state_dict().items())


# ------------------------------------------------------------------------- op forms, extraction
def test_phase_form_refuses_a_transposed_conv_with_a_bias() -> None:
    """The phase form computes only the up op's bias-free deconv; one with a bias is refused
    (its bias would otherwise be dropped silently)."""
    from optgan.supernet.op_forms import phase_depthwise_deconv

    deconv = nn.ConvTranspose2d(2, 2, 3, 2, 1, output_padding=1, groups=2, bias=True)
    with pytest.raises(ValueError, match="without bias"):
        phase_depthwise_deconv(torch.zeros(1, 2, 4, 4), deconv)


def test_copying_weights_between_unrelated_networks_names_the_problem() -> None:
    """`copy_subnet_weights` into a network the source does not contain (a D from a G supernet)
    raises the KeyError that says the networks do not share the subnet."""
    from optgan.supernet import copy_subnet_weights

    with pytest.raises(KeyError, match="do not share this subnet"):
        copy_subnet_weights(build_supernet_g(W), build_discriminator(D, W))


def test_an_extracted_subnet_keeps_the_supernets_eval_mode() -> None:
    """A subnet extracted from a supernet in eval mode is in eval mode itself (every module)."""
    sub = extract_subnet(build_supernet_d(W).eval(), D)
    assert not any(m.training for m in sub.modules())


def test_init_weights_on_a_spectral_normed_conv_initialises_weight_orig() -> None:
    """On a spectral-normed conv the init goes to the parameter `weight_orig` (what the optimizer
    trains and the state dict stores), also after a forward pass, when the conv's `weight` is a
    tensor derived from it and writing into that would change nothing."""
    conv = nn.utils.spectral_norm(nn.Conv2d(4, 4, 3))
    conv(torch.zeros(1, 4, 3, 3))
    init_weights(conv, "normal", torch.Generator().manual_seed(0))
    assert 0.01 < float(conv.weight_orig.detach().std()) < 0.03


def test_init_weights_resets_batch_norm_biases() -> None:
    """`init_weights` sets every affine BatchNorm2d's bias to 0 and its weight ~ N(1, 0.02), also
    on a network whose BN was trained (biases moved away from PyTorch's initial zeros)."""
    bn = nn.BatchNorm2d(64)
    with torch.no_grad():
        bn.bias.fill_(0.5)
        bn.weight.fill_(3.0)
    init_weights(nn.Sequential(bn), generator=torch.Generator().manual_seed(0))
    assert torch.count_nonzero(bn.bias) == 0 and abs(float(bn.weight.detach().mean()) - 1) < 0.01


@pytest.mark.parametrize("build", [lambda: build_discriminator(D, W), lambda: build_simple_discriminator(W)],
                         ids=["searched", "simple"])
def test_a_channels_last_discriminator_converts_its_input_images(build) -> None:  # noqa: ANN001
    """With `set_channels_last`, a D makes the images it is given channels-last before its first
    conv (as `set_channels_last` promises), whatever format the caller passes."""
    d = set_channels_last(build().eval())
    first = next(m for m in d.modules() if isinstance(m, nn.Conv2d))
    seen: list[bool] = []
    first.register_forward_pre_hook(lambda m, a: seen.append(a[0].is_contiguous(memory_format=torch.channels_last)))
    with torch.no_grad():
        d(_x(2, 3, W.img_size, W.img_size))
    assert seen == [True]
