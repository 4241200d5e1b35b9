"""Search-space properties earlier tests left open (mutation testing, round 9).

Torch-free: the exact counts are checked against an independent per-layer enumeration of the
networks SPEC §1.2–1.4 describes (tests/supernet checks the same counts against built modules,
but needs torch and is not part of this folder's focused run). Everything is seeded and fast.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from optgan.errors import ConfigError, GenotypeError
from optgan.search_space import (
    CIFAR10_WIDTHS,
    STL10_WIDTHS,
    Caps,
    Genotype,
    Widths,
    check_caps,
    count_flops,
    count_params,
    is_feasible,
    param_distributions,
    random_genotype,
    valid_cell_count,
)
from optgan.search_space.ops import CANONICAL_IGNORED_DOWN, DOWN_OPS, NO_DOWN, NORMAL_OPS, edges_of
from optgan.search_space.random import random_cell

EAGAN_G = Genotype.from_array("gen", [[1, 1, 1, 0, 2, 3, 1], [1, 1, 0, 1, 3, 0, 5], [0, 1, 0, 3, 0, 0, 3]])
EAGAN_D = Genotype.from_array("disc", [[3, 0, 3, 0, 2, 0, 0], [1, 0, 3, 0, 1, -1, -1], [3, 0, 3, 0, 1, -1, -1]])

# ---------------------------------------------------------------------- independent reference

_KER = {"conv_1x1": 1, "conv_3x3": 3, "conv_5x5": 5, "dil_conv_3x3": 3, "dil_conv_5x5": 5}
_DOWN = {"conv_3x3": (3, 1, 1), "conv_5x5": (5, 1, 2), "dil_conv_3x3": (3, 2, 2), "dil_conv_5x5": (5, 2, 4)}


def _conv(cin: int, cout: int, k: int, bias: bool = True) -> int:
    return cin * cout * k * k + (cout if bias else 0)


def _layers(g: Genotype, w: Widths) -> list[tuple[int, int]]:
    """(params, multiply-accumulates) of every parametrised layer, enumerated from SPEC §1."""
    out: list[tuple[int, int]] = []
    if g.net == "gen":
        c, bw, z = w.gf_dim, w.bottom_width, w.latent_dim // 3
        for k in range(3):  # l1, l2, l3: Linear(z → (bw·2^k)²·C) with bias
            o = (bw * 2**k) ** 2 * c
            out.append((z * o + o, z * o + o))
        for k, ops in enumerate(g.cells):
            s_in, s = bw * 2**k, bw * 2 ** (k + 1)
            for op in ops[:2]:
                if op == "conv_transpose":  # depthwise ConvT k3 (no bias) + 1×1 (no bias)
                    out += [(c * 9, c * s_in * s_in * 9), (c * c, s * s * c * c)]
                else:  # interpolate + 1×1 conv with bias at the output size
                    out.append((c * c + c, s * s * (c * c + c)))
            for op in ops[2:]:
                if op in _KER:
                    kk = _KER[op]
                    out.append((_conv(c, c, kk), s * s * (c * c * kk * kk + c)))
            out += [(c * c + c, s * s * (c * c + c))] * k  # skip-ins from earlier cells
        side = 8 * bw
        out += [(2 * c, 0), (_conv(c, 3, 3), side * side * (3 * c * 9 + 3))]  # BN, to_rgb
    else:
        c, side = w.df_dim, 8 * w.bottom_width
        half = side // 2
        out += [(_conv(3, c, 3), side * side * (c * 27 + c)), (_conv(c, c, 3), side * side * (c * c * 9 + c)),
                (_conv(3, c, 1), half * half * (3 * c + c))]
        t = half
        for ops in g.cells:
            for op in ops[:5]:
                if op in _KER:
                    kk = _KER[op]
                    out.append((_conv(c, c, kk), t * t * (c * c * kk * kk + c)))
            if ops[5] == NO_DOWN:
                continue
            sizes = []
            for op in ops[5:7]:
                if op in _DOWN:
                    kk, d, p = _DOWN[op]
                    o = (t + 2 * p - d * (kk - 1) - 1) // 2 + 1
                    out.append((_conv(c, c, kk), o * o * (c * c * kk * kk + c)))
                else:
                    o = -(-t // 2)
                sizes.append(o)
            t = sizes[0]
        out.append((c, c))  # SN-Linear(C → 1), no bias
    return out


WIDTHS = [CIFAR10_WIDTHS, STL10_WIDTHS, Widths(gf_dim=40, df_dim=24, latent_dim=30, bottom_width=3)]


@pytest.mark.parametrize("net", ["gen", "disc"])
@pytest.mark.parametrize("widths", WIDTHS, ids=["cifar10", "stl10", "odd"])
def test_counts_equal_an_independent_per_layer_enumeration(net: str, widths: Widths) -> None:
    """count_params / count_flops equal a per-layer enumeration of SPEC §1 for every op."""
    rng = np.random.default_rng(9)
    for _ in range(150):
        g = random_genotype(net, rng)
        layers = _layers(g, widths)
        assert count_params(g, widths).total == sum(p for p, _ in layers), g
        assert count_flops(g, widths) == sum(m for _, m in layers), g


def test_reference_flops_are_exact() -> None:
    """SPEC §1.4's FLOPs (1891.6M, 263.1M) to the multiply-accumulate, not within 0.5 %."""
    assert count_flops(EAGAN_G, CIFAR10_WIDTHS) == 1_891_621_888
    assert count_flops(EAGAN_D, CIFAR10_WIDTHS) == 263_053_440


def test_conv_transpose_up_edge_counts() -> None:
    """conv_transpose = depthwise 3×3 ConvT (9·C) + 1×1 conv (C²), both without bias (SPEC §1.1)."""
    c = CIFAR10_WIDTHS.gf_dim
    g = EAGAN_G.with_op(0, 0, "conv_transpose")  # was bilinear: C² + C params
    assert count_params(g, CIFAR10_WIDTHS).total - count_params(EAGAN_G, CIFAR10_WIDTHS).total == 9 * c - c
    assert count_params(g, CIFAR10_WIDTHS).per_cell[0] - count_params(EAGAN_G, CIFAR10_WIDTHS).per_cell[0] == 8 * c
    # cell 1: 4×4 → 8×8; ConvT scatters every input element over 9 taps, the 1×1 runs at 8×8
    delta = (c * 16 * 9 + 64 * c * c) - 64 * c * (c + 1)
    assert count_flops(g, CIFAR10_WIDTHS) - count_flops(EAGAN_G, CIFAR10_WIDTHS) == delta


def test_every_generator_normal_edge_is_counted() -> None:
    """A conv on each normal edge e2..e6 adds C²k² + C params (e2 included)."""
    c = CIFAR10_WIDTHS.gf_dim
    base = Genotype("gen", (("nearest", "nearest", "skip_connect", "none", "skip_connect", "none", "none"),) * 3)
    for e in range(2, 7):
        g = base.with_op(1, e, "dil_conv_5x5")
        assert count_params(g, CIFAR10_WIDTHS).per_cell[1] - count_params(base, CIFAR10_WIDTHS).per_cell[1] \
            == c * c * 25 + c, e


def test_discriminator_conv_down_edges_count_at_half_resolution() -> None:
    """Stride-2 conv downs on e5 and e6 are counted at the halved size (16 → 8 in cell 1)."""
    c = CIFAR10_WIDTHS.df_dim
    g = EAGAN_D.with_op(0, 5, "conv_3x3").with_op(0, 6, "dil_conv_5x5")  # was avg_pool, avg_pool
    assert count_params(g, CIFAR10_WIDTHS).per_cell[0] - count_params(EAGAN_D, CIFAR10_WIDTHS).per_cell[0] \
        == (c * c * 9 + c) + (c * c * 25 + c)
    delta = 64 * c * (c * 9 + 1) + 64 * c * (c * 25 + 1)
    assert count_flops(g, CIFAR10_WIDTHS) - count_flops(EAGAN_D, CIFAR10_WIDTHS) == delta
    h = EAGAN_D.with_op(0, 5, "dil_conv_3x3")  # dilation 2, padding 2: 16 → 8 too
    assert count_flops(h, CIFAR10_WIDTHS) - count_flops(EAGAN_D, CIFAR10_WIDTHS) == 64 * c * (c * 9 + 1)


# ---------------------------------------------------------------------- caps


def test_flops_only_caps_are_not_empty() -> None:
    """Caps with only a FLOPs bound are enforced (not mistaken for 'no caps')."""
    caps = Caps(flops_M=(None, 1000.0))
    assert not caps.is_empty
    assert [v.bound for v in check_caps(EAGAN_G, CIFAR10_WIDTHS, caps)] == ["flops_M"]
    assert not is_feasible(EAGAN_G, CIFAR10_WIDTHS, caps)
    assert not is_feasible(EAGAN_G, CIFAR10_WIDTHS, Caps(cell_params_M=(None, 0.1)))
    assert Caps().is_empty


def test_a_point_range_is_a_valid_cap() -> None:
    """[x, x] is accepted (low == high is not 'low exceeds high')."""
    assert Caps(params_M=(7.0, 7.0)).params_M == (7.0, 7.0)
    with pytest.raises(ConfigError):
        Caps(params_M=(1.0, 2.0, 3.0))  # type: ignore[arg-type]


# ---------------------------------------------------------------------- genotypes


def test_ignored_e6_is_canonical_and_minus_one_in_the_array() -> None:
    """e5 = no_down stores e6 as avg_pool, writes −1 for both, and reads back (SPEC §1.3)."""
    assert CANONICAL_IGNORED_DOWN == "avg_pool"
    g = EAGAN_D.with_op(0, 5, NO_DOWN).with_op(0, 6, "conv_5x5")
    assert g.cells[0][6] == "avg_pool" and g.to_array()[0][5:] == [-1, -1]
    assert g.is_ignored(0, 6) and not g.is_ignored(0, 5) and not g.is_ignored(1, 5)
    assert Genotype.from_array("disc", g.to_array()) == g
    with pytest.raises(GenotypeError, match="only allowed on e6 when e5 is -1"):
        Genotype.from_array("disc", [[3, 0, 3, 0, 2, 0, -1], [1, 0, 3, 0, 1, -1, -1], [3, 0, 3, 0, 1, -1, -1]])
    with pytest.raises(GenotypeError, match="out of range"):
        Genotype.from_array("disc", [[3, 0, 3, 0, 2, 6, 0], [1, 0, 3, 0, 1, -1, -1], [3, 0, 3, 0, 1, -1, -1]])
    with pytest.raises(GenotypeError, match="out of range"):
        Genotype.from_array("gen", [[3, 1, 1, 0, 2, 3, 1], [1, 1, 0, 1, 3, 0, 5], [0, 1, 0, 3, 0, 0, 3]])


def test_minus_one_is_refused_on_a_normal_edge() -> None:
    """−1 means no_down only on a discriminator's down edges, never on a normal or up edge."""
    with pytest.raises(GenotypeError):
        Genotype.from_array("gen", [[1, 1, -1, 0, 2, 3, 1], [1, 1, 0, 1, 3, 0, 5], [0, 1, 0, 3, 0, 0, 3]])
    with pytest.raises(GenotypeError):
        Genotype.from_array("disc", [[3, -1, 3, 0, 2, 0, 0], [1, 0, 3, 0, 1, -1, -1], [3, 0, 3, 0, 1, -1, -1]])


def test_node_rules_need_one_input_among_all_feeding_edges() -> None:
    """node3 of G is valid with only e6 non-none; all three (e4, e5, e6) none is invalid."""
    ok = ("nearest", "nearest", "skip_connect", "none", "none", "none", "conv_1x1")
    Genotype("gen", (ok,) * 3)
    with pytest.raises(GenotypeError, match="node3"):
        Genotype("gen", (ok[:6] + ("none",),) * 3)
    d_ok = ("skip_connect", "none", "conv_1x1", "none", "skip_connect", "avg_pool", "avg_pool")
    Genotype("disc", (d_ok,) * 3)
    with pytest.raises(GenotypeError, match="node3"):
        Genotype("disc", (d_ok[:4] + ("none",) + d_ok[5:],) * 3)
    with pytest.raises(GenotypeError):
        Genotype("disc", (("none",) + d_ok[1:],) * 3)  # D's e0 excludes none


def test_str_hides_the_ignored_edge() -> None:
    """str() leaves out a D's ignored e6 but shows every other edge."""
    s = str(EAGAN_D)
    assert s.count("e6=") == 1 and s.count("e5=") == 3 and s.startswith("c1: e0=conv_3x3")


def test_booleans_are_not_op_indices() -> None:
    """True/False are refused as integer op indices (bool is an int subclass)."""
    with pytest.raises(GenotypeError, match="integer op index"):
        Genotype.from_array("gen", [[True, 1, 1, 0, 2, 3, 1], [1, 1, 0, 1, 3, 0, 5], [0, 1, 0, 3, 0, 0, 3]])


def test_json_net_mismatch_is_refused() -> None:
    """A {net: disc} JSON object is refused where a gen genotype is expected."""
    with pytest.raises(GenotypeError, match="expected a gen genotype"):
        Genotype.from_json(EAGAN_D.to_json_dict(), "gen")


def test_distributions_cover_all_three_cells() -> None:
    """param_distributions has 21 edges: cells c1..c3, e0..e6 (1-based cell names)."""
    names = set(param_distributions("disc"))
    assert names == {f"disc.c{c}.e{e}" for c in (1, 2, 3) for e in range(7)}
    assert param_distributions("disc")["disc.c3.e5"].choices == DOWN_OPS + (NO_DOWN,)


# ---------------------------------------------------------------------- uniform sampling


def test_discriminator_cell_count() -> None:
    """D: 6 · (7²−1) · (7²−1) · 37 distinct valid cells (e0 excludes none; 36 down pairs + no_down)."""
    assert valid_cell_count("disc") == 6 * 48 * 48 * 37


def test_random_genotypes_draw_every_cell_independently() -> None:
    """The three cells of a random genotype are drawn separately (not one cell repeated)."""
    rng = np.random.default_rng(0)
    gs = [random_genotype("gen", rng) for _ in range(50)]
    assert sum(g.cells[0] != g.cells[1] for g in gs) >= 45


def test_no_down_frequency_is_one_in_37() -> None:
    """e5 = no_down in 1/37 of D cells and each down pair in 1/37 (seeded; ±4σ)."""
    rng = np.random.default_rng(5)
    n = 37 * 400
    pairs = Counter(random_cell("disc", rng)[5:] for _ in range(n))
    assert len(pairs) == 37
    p = 1 / 37
    for k, v in pairs.items():
        assert abs(v / n - p) < 4 * np.sqrt(p * (1 - p) / n), (k, v)
    assert (NO_DOWN, "avg_pool") in pairs


def test_a_generator_node3_with_only_e6_is_drawn() -> None:
    """Cells whose node3 input is only e6 (e4 = e5 = none) are drawn at their uniform rate."""
    rng = np.random.default_rng(1)
    n = 20000
    hits = sum(c[4] == c[5] == "none" != c[6] for c in (random_cell("gen", rng) for _ in range(n)))
    p = 6 / 342  # (none, none, non-none) among the 7³ − 1 valid (e4, e5, e6)
    assert abs(hits / n - p) < 4 * np.sqrt(p * (1 - p) / n)
    assert len(NORMAL_OPS) == 7 and edges_of("gen")[6].choices == NORMAL_OPS


def test_latent_dim_must_split_into_three_chunks() -> None:
    """latent_dim not divisible by 3 is a ConfigError (z is split into one chunk per cell)."""
    with pytest.raises(ConfigError, match="divisible by 3"):
        Widths(latent_dim=100)
    assert Widths(latent_dim=99).latent_chunk == 33
