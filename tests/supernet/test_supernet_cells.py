"""Cell details SPEC §1.2–1.3 fixes that a supernet-vs-standalone comparison cannot see (both
share the cell code): the bilinear skip-ins and the discriminator's e4 without its pre-ReLU."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from optgan.search_space import Widths
from optgan.supernet import build_supernet_g
from optgan.supernet.cells import DownCell, supernet_choices

W = Widths(gf_dim=8, df_dim=8, latent_dim=12, bottom_width=2)


def test_bilinear_skip_in_interpolates_as_torch_does_by_default() -> None:
    """Cell 2 adds 1×1conv(interpolate(skip, bilinear)) to node2: the reference code's
    `F.interpolate(..., mode="bilinear")` (align_corners False), not align_corners True."""
    cell = build_supernet_g(W, generator=torch.Generator().manual_seed(0)).cells[1].eval()
    assert cell.skip_mode == "bilinear"
    gen = torch.Generator().manual_seed(1)
    x, skip = torch.randn(2, 8, 4, 4, generator=gen), torch.randn(2, 8, 3, 3, generator=gen)
    ops = ("nearest", "nearest", "skip_connect", "none", "none", "none", "skip_connect")
    with torch.no_grad():
        _, node2 = cell(x, [skip], ops)
        n0 = cell.edges[0]["nearest"](x)
        expected = n0 + cell.skip_in[0](F.interpolate(skip, size=(8, 8), mode="bilinear"))
    torch.testing.assert_close(node2, expected)


def test_only_e4_of_a_down_cell_reads_its_input_without_a_relu() -> None:
    """Every conv edge is ReLU → conv except e4 (node0 → node3), built without the pre-ReLU: on an
    input with negative values only e4's output differs from its output on ReLU(input)."""
    cell = DownCell(4, supernet_choices("disc")).eval()  # eval: no power iteration between calls
    x = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        for e in range(5):
            for op, module in cell.edges[e].items():
                if op == "skip_connect":
                    continue
                same = torch.equal(module(x), module(F.relu(x)))
                assert same == (e != 4), (e, op)


def test_every_conv_of_a_down_cell_is_spectral_normed() -> None:
    """SPEC §1.3: spectral norm on every D conv, so scaling a conv's weight leaves its output alone
    (in eval mode σ comes from the stored u, v and scales with the weight)."""
    cell = DownCell(4, supernet_choices("disc"))
    x = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    convs = 0
    with torch.no_grad():
        for edge in cell.edges:
            for op, module in edge.items():
                weights = [p for p in module.parameters() if p.ndim == 4]
                if not weights:
                    continue
                for _ in range(20):  # power iterations: a well-conditioned σ estimate
                    module.train()(x)
                before = module.eval()(x)
                for w in weights:
                    w.mul_(10)
                after = module(x)
                assert float((after - before).abs().max()) <= 1e-4 * float(before.abs().max()), op
                convs += 1
    assert convs > 0


def test_down_cell_output_takes_e5_from_node2_and_e6_from_node3() -> None:
    """SPEC §1.3: output = e5(node2) + e6(node3); with e1 = skip_connect node2 = x, and node3 = e4(x)."""
    cell = DownCell(4, supernet_choices("disc")).eval()
    x = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    ops = ["conv_3x3", "skip_connect", "none", "none", "conv_1x1", "avg_pool", "conv_3x3"]
    e = cell.edges
    with torch.no_grad():
        expected = e[5]["avg_pool"](x) + e[6]["conv_3x3"](e[4]["conv_1x1"](x))
        torch.testing.assert_close(cell(x, ops), expected)
