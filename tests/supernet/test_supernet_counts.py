"""Built networks reproduce SPEC §1.4 and agree with the analytic counts for random genotypes.

Paper-width networks are built on the ``meta`` device (shapes only, no memory, no init cost);
hooks count FLOPs on meta tensors too. Small widths are built for real on CPU.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from optgan.search_space import (
    CIFAR10_WIDTHS,
    STL10_WIDTHS,
    Genotype,
    Widths,
    count_flops,
    count_params,
    random_genotype,
)
from optgan.supernet import (
    SimpleDiscriminator,
    StandaloneD,
    StandaloneG,
    SuperNetD,
    SuperNetG,
    build_discriminator,
    build_generator,
    count_macs,
    count_parameters,
    network_macs,
)

EAGAN_G = Genotype.from_array("gen", [[1, 1, 1, 0, 2, 3, 1], [1, 1, 0, 1, 3, 0, 5], [0, 1, 0, 3, 0, 0, 3]])
EAGAN_D = Genotype.from_array("disc", [[3, 0, 3, 0, 2, 0, 0], [1, 0, 3, 0, 1, -1, -1], [3, 0, 3, 0, 1, -1, -1]])
ADVNAS_G = Genotype.from_array("gen", [[1, 1, 1, 0, 3, 3, 1], [1, 1, 0, 1, 3, 3, 3], [0, 1, 0, 3, 3, 0, 3]])
STL_D = EAGAN_D.with_op(1, 0, "conv_5x5").with_op(1, 2, "conv_5x5")


def _m(n: int, digits: int = 3) -> float:
    return round(n / 1e6, digits)


def test_eagan_best_g_params_and_flops() -> None:
    g = build_generator(EAGAN_G, CIFAR10_WIDTHS)  # real build: cheap at 7M parameters
    assert count_parameters(g) == 7_142_403
    parts = [g.l1, g.l2, g.l3, *g.cells, g.to_rgb]
    assert [_m(count_parameters(p)) for p in parts] == [0.168, 0.672, 2.687, 0.787, 1.378, 1.443, 0.007]
    with torch.device("meta"):
        macs = network_macs(StandaloneG(EAGAN_G, CIFAR10_WIDTHS))
    assert abs(macs / 1e6 - 1891.6) / 1891.6 < 0.005


def test_eagan_cifar10_d_params_and_flops() -> None:
    d = build_discriminator(EAGAN_D, CIFAR10_WIDTHS)
    assert count_parameters(d) == 906_240
    assert _m(count_parameters(d.stem)) == 0.152
    assert [_m(count_parameters(c)) for c in d.cells] == [0.312, 0.148, 0.295]
    assert abs(network_macs(d) / 1e6 - 263.1) / 263.1 < 0.005


def test_other_reference_counts() -> None:
    with torch.device("meta"):
        nets = {
            "stl_d": StandaloneD(STL_D, STL10_WIDTHS),
            "advnas_g": StandaloneG(ADVNAS_G, CIFAR10_WIDTHS),
            "best_g_bw6": StandaloneG(EAGAN_G, STL10_WIDTHS),
            "super_g": SuperNetG(CIFAR10_WIDTHS),
            "super_d": SuperNetD(CIFAR10_WIDTHS),
            "simple_d": SimpleDiscriminator(32),
        }
    got = {k: _m(count_parameters(v), 2) for k, v in nets.items()}
    assert got == {"stl_d": 1.58, "advnas_g": 8.85, "best_g_bw6": 11.55,
                   "super_g": 72.78, "super_d": 23.81, "simple_d": 0.92}
    assert count_parameters(nets["simple_d"]) == 921_920
    # 3136·256 + 131200·64 + 262272·(16 + 4 + 1) + 128 (conv biases counted, batch 1)
    assert network_macs(nets["simple_d"]) == 3136 * 256 + 131200 * 64 + 262272 * 21 + 128


def test_standalone_d_builds_no_e6_after_no_down() -> None:
    with torch.device("meta"):
        d = StandaloneD(EAGAN_D, CIFAR10_WIDTHS)
    assert len(d.cells[1].edges[6]) == 0 and len(d.cells[1].edges[1]) == 0  # e6 ignored, e1 none
    assert list(d.cells[0].edges[6]) == ["avg_pool"]


def _built(genotype: Genotype, widths: Widths, device: str) -> torch.nn.Module:
    with torch.device(device):
        return (StandaloneG if genotype.net == "gen" else StandaloneD)(genotype, widths)


@pytest.mark.parametrize(
    ("widths", "device"),
    [
        (Widths(gf_dim=16, df_dim=16, latent_dim=12, bottom_width=2), "cpu"),
        (Widths(gf_dim=40, df_dim=24, latent_dim=30, bottom_width=3), "cpu"),  # odd sizes
        (CIFAR10_WIDTHS, "meta"),
    ],
    ids=["small", "odd", "cifar10"],
)
@pytest.mark.parametrize("net", ["gen", "disc"])
def test_analytic_counts_equal_built(net: str, widths: Widths, device: str) -> None:
    rng = np.random.default_rng({"gen": 0, "disc": 1}[net] * 100_000 + widths.gf_dim)  # not hash(): salted per process
    for _ in range(12):
        g = random_genotype(net, rng)
        built = _built(g, widths, device)
        report = count_params(g, widths)
        assert count_parameters(built) == report.total
        assert tuple(count_parameters(c) for c in built.cells) == report.per_cell
        assert network_macs(built) == count_flops(g, widths)


def test_count_macs_conventions() -> None:
    conv = torch.nn.Conv2d(4, 6, 3, padding=1, groups=2)
    deconv = torch.nn.ConvTranspose2d(4, 4, 3, 2, 1, output_padding=1, groups=4, bias=False)
    lin = torch.nn.Linear(5, 7)
    x = torch.zeros(2, 4, 5, 5)
    assert count_macs(conv, (x,)) == 6 * 25 * 2 * 9 + 6 * 25  # per sample, bias counted
    assert count_macs(deconv, (x,)) == 4 * 25 * 1 * 9
    assert count_macs(lin, (torch.zeros(3, 5),)) == 5 * 7 + 7
