"""A supernet subnet and the standalone network with copied weights compute the same function.

Small widths; random genotypes (hypothesis over seeds of the project's uniform sampler) plus
the single-``skip_connect`` corner case of SPEC §1.2. Compared in train mode (BN batch
statistics, spectral-norm power iteration) and in eval mode, and the buffers both update in
train mode must agree afterwards. A reference assembly of the up-cell with explicit copies
checks that the shared forward code itself has no aliasing.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from optgan.search_space import Genotype, Widths, random_genotype
from optgan.supernet import (
    build_supernet_d,
    build_supernet_g,
    extract_subnet,
    load_subnet_into_supernet,
)

W = Widths(gf_dim=16, df_dim=16, latent_dim=12, bottom_width=2)
SEEDS = st.integers(0, 2**32 - 1)
# node2 of every cell = a single skip_connect of node0, which e4 reads again afterwards
SKIP_CORNER = Genotype("gen", (("nearest", "bilinear", "skip_connect", "none", "conv_3x3", "none", "conv_1x1"),) * 3)


def _randomise_buffers(net: torch.nn.Module, seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    for name, buf in net.named_buffers():
        if name.endswith("running_mean"):
            buf.copy_(torch.randn(buf.shape, generator=gen) * 0.1)
        elif name.endswith("running_var"):
            buf.copy_(torch.rand(buf.shape, generator=gen) + 0.5)


@pytest.fixture(scope="module")
def supernets() -> tuple[torch.nn.Module, torch.nn.Module]:
    sg = build_supernet_g(W, generator=torch.Generator().manual_seed(0))
    sd = build_supernet_d(W, generator=torch.Generator().manual_seed(1))
    _randomise_buffers(sg, 2)
    return sg, sd


def _inputs(net: str, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    if net == "gen":
        return torch.randn(4, W.latent_dim, generator=gen)
    return torch.rand(4, 3, W.img_size, W.img_size, generator=gen) * 2 - 1


def _check_same_function(supernet: torch.nn.Module, genotype: Genotype, seed: int) -> None:
    x = _inputs(genotype.net, seed)
    for training in (True, False):
        supernet.train(training)
        sub = extract_subnet(supernet, genotype)
        assert sub.training == training
        with torch.no_grad():
            torch.testing.assert_close(sub(x), supernet(x, genotype), rtol=1e-5, atol=1e-6)
        # state updated by the forward (BN running stats, SN u/v) must match too
        full = supernet.state_dict()
        for key, value in sub.state_dict().items():
            torch.testing.assert_close(value, full[key], rtol=1e-5, atol=1e-6, msg=key)


@settings(max_examples=15, deadline=None, derandomize=True)
@given(seed=SEEDS)
def test_generator_subnet_equals_standalone(supernets, seed: int) -> None:
    genotype = random_genotype("gen", np.random.default_rng(seed))
    _check_same_function(supernets[0], genotype, seed)


@settings(max_examples=15, deadline=None, derandomize=True)
@given(seed=SEEDS)
def test_discriminator_subnet_equals_standalone(supernets, seed: int) -> None:
    genotype = random_genotype("disc", np.random.default_rng(seed))
    _check_same_function(supernets[1], genotype, seed)


def test_single_skip_connect_corner_case(supernets) -> None:
    _check_same_function(supernets[0], SKIP_CORNER, 0)


def _reference_up_cell(cell, x, skips, ops):
    """The up-cell DAG assembled independently, every node an explicit fresh copy."""
    e = cell.edges

    def node(terms):
        outs = [e[i][ops[i]](inp).clone() for i, inp in terms if ops[i] != "none"]
        return torch.stack(outs).sum(0)

    n0, n1 = e[0][ops[0]](x).clone(), e[1][ops[1]](x).clone()
    n2 = node(((2, n0), (3, n1)))
    for conv, s in zip(cell.skip_in, skips):
        n2 = n2 + conv(torch.nn.functional.interpolate(s, size=n2.shape[-2:], mode=cell.skip_mode))
    return node(((4, n0), (5, n1), (6, n2))), n2


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_up_cell_matches_reference_assembly(supernets, seed: int) -> None:
    sg = supernets[0].eval()
    gen = torch.Generator().manual_seed(seed)
    cell = sg.cells[2]  # two skip inputs, nearest
    x = torch.randn(2, W.gf_dim, 8, 8, generator=gen)
    skips = (torch.randn(2, W.gf_dim, 4, 4, generator=gen), torch.randn(2, W.gf_dim, 8, 8, generator=gen))
    rows = [SKIP_CORNER.cells[0], random_genotype("gen", np.random.default_rng(seed)).cells[2]]
    with torch.no_grad():
        for ops in rows:
            out, skip_out = cell(x, skips, ops)
            ref_out, ref_skip = _reference_up_cell(cell, x, skips, ops)
            torch.testing.assert_close(out, ref_out)
            torch.testing.assert_close(skip_out, ref_skip)


@pytest.mark.parametrize("net", ["gen", "disc"])
def test_supernet_runs_only_the_chosen_ops(supernets, net: str) -> None:
    supernet = supernets[0] if net == "gen" else supernets[1]
    rng = np.random.default_rng(7)
    for _ in range(5):
        genotype = random_genotype(net, rng)
        called: set[tuple[int, int, str]] = set()
        handles = [
            mod.register_forward_hook(lambda *_a, key=(c, e, op): called.add(key))
            for c, cell in enumerate(supernet.cells)
            for e, edge in enumerate(cell.edges)
            for op, mod in edge.items()
        ]
        try:
            with torch.no_grad():
                supernet.eval()(_inputs(net, 0), genotype)
        finally:
            for h in handles:
                h.remove()
        expected = {
            (c, e, op)
            for c, ops in enumerate(genotype.cells)
            for e, op in enumerate(ops)
            if op not in ("none", "no_down") and not genotype.is_ignored(c, e)
        }
        assert called == expected


@pytest.mark.parametrize("net", ["gen", "disc"])
def test_standalone_weights_load_back_into_supernet(supernets, net: str) -> None:
    supernet = supernets[0] if net == "gen" else supernets[1]
    genotype = random_genotype(net, np.random.default_rng(11))
    supernet.eval()
    rng_state = torch.random.get_rng_state()
    sub = extract_subnet(supernet, genotype)
    assert torch.equal(rng_state, torch.random.get_rng_state())
    with torch.no_grad():
        for p in sub.parameters():
            p.add_(0.01)
    load_subnet_into_supernet(sub, supernet)
    x = _inputs(net, 3)
    with torch.no_grad():
        torch.testing.assert_close(supernet(x, genotype), sub(x))
    other = sub.state_dict()
    for key, value in supernet.state_dict().items():
        if key in other:
            assert value.data_ptr() != other[key].data_ptr()  # copies, never aliases
