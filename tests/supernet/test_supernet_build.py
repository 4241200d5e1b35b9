"""Building the networks: seeding, initialisation, shapes, cloning, memory format, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from optgan.errors import ConfigError, GenotypeError
from optgan.search_space import Genotype, Widths, random_genotype
from optgan.supernet import (
    build_discriminator,
    build_generator,
    build_simple_discriminator,
    build_supernet_d,
    build_supernet_g,
    clone_module,
    init_weights,
    set_channels_last,
)

W = Widths(gf_dim=16, df_dim=16, latent_dim=12, bottom_width=2)
G = random_genotype("gen", np.random.default_rng(0))
D = random_genotype("disc", np.random.default_rng(0))


def _same_state(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize(
    "build",
    [lambda **k: build_generator(G, W, **k), lambda **k: build_discriminator(D, W, **k),
     lambda **k: build_supernet_g(W, **k), lambda **k: build_supernet_d(W, **k),
     lambda **k: build_simple_discriminator(W, **k)],
    ids=["gen", "disc", "super_g", "super_d", "simple"],
)
def test_injected_generator_makes_builds_reproducible(build) -> None:
    before = torch.random.get_rng_state()
    a = build(generator=torch.Generator().manual_seed(5))
    b = build(generator=torch.Generator().manual_seed(5))
    c = build(generator=torch.Generator().manual_seed(6))
    assert torch.equal(before, torch.random.get_rng_state())  # global RNG neither read nor moved
    assert _same_state(a, b)
    assert not _same_state(a, c)


def test_reference_init() -> None:
    net = build_supernet_g(Widths(gf_dim=64, df_dim=16, latent_dim=12, bottom_width=2),
                           generator=torch.Generator().manual_seed(0))
    bn = net.to_rgb[0]
    bn_w = bn.weight.detach()
    assert abs(float(bn_w.mean()) - 1.0) < 0.01 and 0.01 < float(bn_w.std()) < 0.03
    assert torch.count_nonzero(bn.bias) == 0
    w = net.cells[0].edges[2]["conv_3x3"].conv.weight.detach()  # xavier: U(±sqrt(6 / (fan_in + fan_out)))
    bound = (6 / (2 * 64 * 9)) ** 0.5
    assert float(w.abs().max()) <= bound and float(w.abs().max()) > 0.9 * bound
    d = build_discriminator(D, W, init="normal", generator=torch.Generator().manual_seed(0))
    assert 0.015 < float(d.stem.c2.weight_orig.detach().std()) < 0.025
    with pytest.raises(ConfigError, match="`init` = 'kaiming'"):
        init_weights(d, "kaiming")


def test_output_shapes_and_ranges() -> None:
    z = torch.randn(3, W.latent_dim)
    img = build_generator(G, W)(z).detach()
    assert img.shape == (3, 3, W.img_size, W.img_size) and float(img.abs().max()) <= 1
    assert build_discriminator(D, W)(img).shape == (3, 1)
    assert build_supernet_d(W)(img, D).shape == (3, 1)


@pytest.mark.parametrize("shape", [(3, 2 * W.latent_dim), (3, W.latent_dim - 3), (W.latent_dim,)])
def test_latents_of_another_width_are_refused(shape: tuple[int, ...]) -> None:
    """Extra latent dimensions used to be dropped silently (a model loaded with the wrong latent size)."""
    with pytest.raises(ValueError, match=rf"takes latents of shape \(N, {W.latent_dim}\)"):
        build_generator(G, W)(torch.randn(*shape))
    with pytest.raises(ValueError, match="latent_dim"):
        build_supernet_g(W)(torch.randn(*shape), G)


@pytest.mark.parametrize("bottom_width", [1, 2, 3, 4, 6])
def test_simple_discriminator_any_image_size(bottom_width: int) -> None:
    w = Widths(gf_dim=16, df_dim=16, latent_dim=12, bottom_width=bottom_width)
    net = build_simple_discriminator(w)
    assert net(torch.randn(2, 3, w.img_size, w.img_size)).shape == (2, 1)
    assert [m.padding for m in net.body if isinstance(m, torch.nn.Conv2d)][:3] == [(1, 1)] * 3


@pytest.mark.parametrize("bottom_width", [1, 3])
def test_odd_sizes_run(bottom_width: int) -> None:
    w = Widths(gf_dim=8, df_dim=8, latent_dim=6, bottom_width=bottom_width)
    img = build_generator(G, w)(torch.randn(2, 6))
    all_down = Genotype("disc", (("conv_3x3", "none", "conv_3x3", "none", "skip_connect", "avg_pool", "conv_3x3"),) * 3)
    assert build_discriminator(all_down, w)(img).shape == (2, 1)


def test_clone_after_forward_through_spectral_norm() -> None:
    d = build_supernet_d(W)
    d(torch.randn(2, 3, W.img_size, W.img_size), D).sum().backward()
    copy = clone_module(d)
    assert _same_state(copy, d)
    assert d.stem.c1.weight.grad_fn is not None  # the original keeps its graph
    x = torch.randn(2, 3, W.img_size, W.img_size)
    with torch.no_grad():
        torch.testing.assert_close(copy.eval()(x, D), d.eval()(x, D))


def test_channels_last_gives_the_same_output() -> None:
    g = build_supernet_g(W, generator=torch.Generator().manual_seed(0)).eval()
    d = build_supernet_d(W, generator=torch.Generator().manual_seed(0)).eval()
    z = torch.randn(2, W.latent_dim)
    with torch.no_grad():
        ref = d(g(z, G), D)
        set_channels_last(g)
        set_channels_last(d)
        img = g(z, G)
        assert img.is_contiguous(memory_format=torch.channels_last)
        torch.testing.assert_close(d(img, D), ref, rtol=1e-4, atol=1e-5)


def test_wrong_network_genotypes_are_rejected() -> None:
    with pytest.raises(GenotypeError, match="gen genotype"):
        build_generator(D, W)
    with pytest.raises(GenotypeError, match="disc genotype"):
        build_discriminator(G, W)
    with pytest.raises(GenotypeError, match="SuperNetG needs a gen genotype"):
        build_supernet_g(W)(torch.randn(1, W.latent_dim), D)


def test_generator_cells_take_their_skips_as_the_spec_says() -> None:
    """SPEC §1.2: cell 1 has no skip input (nearest), cell 2 one (bilinear), cell 3 two (nearest)."""
    from optgan.supernet.generator import SuperNetG

    g = SuperNetG(Widths(gf_dim=8, df_dim=8, latent_dim=12, bottom_width=2))
    assert [c.skip_mode for c in g.cells] == ["nearest", "bilinear", "nearest"]
    assert [len(c.skip_in) for c in g.cells] == [0, 1, 2]


def test_down_cell_wiring_by_values() -> None:
    """SPEC §1.3: node1 = e0(x); node2 = e1(x) + e2(node1); node3 = e3(node1) + e4(x); output =
    node2 + node3 when e5 is no_down. With e1 and e4 identities (positive x: e1's pre-ReLU is a
    no-op; e4 has none) and e2, e3 `none`, the output is exactly 2x, whatever e0 computes."""
    from optgan.supernet.cells import DownCell, supernet_choices

    cell = DownCell(4, supernet_choices("disc")).eval()
    x = torch.rand(2, 4, 8, 8) + 0.1
    ops = ["conv_3x3", "skip_connect", "none", "none", "skip_connect", "no_down", "none"]
    with torch.no_grad():
        assert torch.equal(cell(x, ops), 2 * x)
        # e3 reads node1 and e2 too: a conv on node1 changes the output
        ops_e3 = ["conv_3x3", "skip_connect", "none", "skip_connect", "none", "no_down", "none"]
        n1 = cell.edges[0]["conv_3x3"](x)
        assert torch.allclose(cell(x, ops_e3), torch.relu(x) + cell.edges[3]["skip_connect"](n1))
