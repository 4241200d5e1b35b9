"""Known-answer tests of the analytic parameter / FLOP counts (SPEC §1.4) and the caps."""

from __future__ import annotations

import numpy as np
import pytest

from optgan.errors import ConfigError
from optgan.search_space import (
    CIFAR10_WIDTHS,
    STL10_WIDTHS,
    Caps,
    Genotype,
    check_caps,
    count_flops,
    count_params,
    is_feasible,
    random_genotype,
)
from optgan.search_space.constraints import SCGAN_CIFAR10_CAPS

EAGAN_G = Genotype.from_array("gen", [[1, 1, 1, 0, 2, 3, 1], [1, 1, 0, 1, 3, 0, 5], [0, 1, 0, 3, 0, 0, 3]])
EAGAN_D = Genotype.from_array("disc", [[3, 0, 3, 0, 2, 0, 0], [1, 0, 3, 0, 1, -1, -1], [3, 0, 3, 0, 1, -1, -1]])
ADVNAS_G = Genotype.from_array("gen", [[1, 1, 1, 0, 3, 3, 1], [1, 1, 0, 1, 3, 3, 3], [0, 1, 0, 3, 3, 0, 3]])


def test_eagan_best_g() -> None:
    r = count_params(EAGAN_G, CIFAR10_WIDTHS)
    assert r.total == 7_142_403
    assert [round(p / 1e6, 3) for p in r.per_cell] == [0.787, 1.378, 1.443]
    assert abs(count_flops(EAGAN_G, CIFAR10_WIDTHS) / 1e6 - 1891.6) / 1891.6 < 0.005


def test_eagan_d() -> None:
    r = count_params(EAGAN_D, CIFAR10_WIDTHS)
    assert r.total == 906_240
    assert [round(p / 1e6, 3) for p in r.per_cell] == [0.312, 0.148, 0.295]
    assert round((r.fixed - 128) / 1e6, 3) == 0.152  # stem (head = 128)
    assert abs(count_flops(EAGAN_D, CIFAR10_WIDTHS) / 1e6 - 263.1) / 263.1 < 0.005


def test_other_reference_counts() -> None:
    stl_d = EAGAN_D.with_op(1, 0, "conv_5x5").with_op(1, 2, "conv_5x5")
    assert round(count_params(stl_d, STL10_WIDTHS).total / 1e6, 2) == 1.58
    assert round(count_params(ADVNAS_G, CIFAR10_WIDTHS).total / 1e6, 2) == 8.85
    assert round(count_params(EAGAN_G, STL10_WIDTHS).total / 1e6, 2) == 11.55


def test_caps_report_which_bound_failed() -> None:
    assert is_feasible(EAGAN_G, CIFAR10_WIDTHS, Caps())
    v = check_caps(EAGAN_G, CIFAR10_WIDTHS, Caps(params_M=(None, 7.0)))
    assert [x.bound for x in v] == ["params_M"] and "above the limit 7" in v[0].message
    v = check_caps(EAGAN_G, CIFAR10_WIDTHS, SCGAN_CIFAR10_CAPS)
    # cell 1 holds 0.787M (> 0.5) ... all cells within (0.5, 2.2]; FLOPs 1891.6 within [1500, 3000]
    assert v == []
    v = check_caps(EAGAN_G, CIFAR10_WIDTHS, Caps(cell_params_M=(0.8, None), flops_M=(2000, None)))
    assert [x.bound for x in v] == ["cell1_params_M", "flops_M"]


def test_caps_validation() -> None:
    with pytest.raises(ConfigError, match=r"`caps.params_M` = \[5, 1\]: low bound exceeds high bound"):
        Caps(params_M=(5, 1))
    with pytest.raises(ConfigError, match=r"`caps.flops_M\[0\]` = -1"):
        Caps(flops_M=(-1, None))


def test_scgan_caps_admit_a_small_fraction() -> None:
    rng = np.random.default_rng(0)
    feasible = np.mean([is_feasible(random_genotype("gen", rng), CIFAR10_WIDTHS, SCGAN_CIFAR10_CAPS) for _ in range(3000)])
    assert 0.003 < feasible < 0.05


def test_caps_bound_every_cell_and_include_their_ends() -> None:
    """Each of the three cells meets the per-cell cap (cell 3 is the largest), and a bound equal
    to the value is met from both sides (SPEC: p ≤ 2.2 is inclusive)."""
    # EAGAN's G: cells 0.787 / 1.378 / 1.443 M, 7.142403 M in all
    v = check_caps(EAGAN_G, CIFAR10_WIDTHS, Caps(cell_params_M=(None, 1.4)))
    assert [x.bound for x in v] == ["cell3_params_M"]
    v = check_caps(EAGAN_G, CIFAR10_WIDTHS, Caps(cell_params_M=(1.0, None)))
    assert [x.bound for x in v] == ["cell1_params_M"]
    exact = count_params(EAGAN_G, CIFAR10_WIDTHS).total / 1e6
    assert is_feasible(EAGAN_G, CIFAR10_WIDTHS, Caps(params_M=(exact, exact)))
    assert not is_feasible(EAGAN_G, CIFAR10_WIDTHS, Caps(params_M=(exact + 1e-6, None)))
    assert not is_feasible(EAGAN_G, CIFAR10_WIDTHS, Caps(params_M=(None, exact - 1e-6)))
    flops = count_flops(EAGAN_G, CIFAR10_WIDTHS) / 1e6
    assert is_feasible(EAGAN_G, CIFAR10_WIDTHS, Caps(flops_M=(flops, flops)))
    cells = count_params(EAGAN_G, CIFAR10_WIDTHS).per_cell
    assert is_feasible(EAGAN_G, CIFAR10_WIDTHS, Caps(cell_params_M=(min(cells) / 1e6, max(cells) / 1e6)))
