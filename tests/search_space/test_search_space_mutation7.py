"""Encodings, caps and SCGAN's constants: cases earlier tests left open (mutation testing, round 7)."""

from __future__ import annotations

import pytest

from optgan.errors import ConfigError, GenotypeError
from optgan.search_space import Caps, Genotype
from optgan.search_space.constraints import SCGAN_CIFAR10_CAPS

EAGAN_G = [[1, 1, 1, 0, 2, 3, 1], [1, 1, 0, 1, 3, 0, 5], [0, 1, 0, 3, 0, 0, 3]]
EAGAN_D = [[3, 0, 3, 0, 2, 0, 0], [1, 0, 3, 0, 1, -1, -1], [3, 0, 3, 0, 1, -1, -1]]


@pytest.mark.parametrize(("net", "rows", "cell", "edge", "value"), [
    ("gen", EAGAN_G, 1, 4, -2),   # Python would read -2 as `dil_conv_3x3` (SPEC §1.3 warns of this)
    ("gen", EAGAN_G, 0, 0, -1),   # -1 means `no_down` only on a discriminator's down edges
    ("gen", EAGAN_G, 2, 6, -1),
    ("disc", EAGAN_D, 0, 2, -1),  # a normal edge of D, in a cell whose e5 is not -1
    ("disc", EAGAN_D, 1, 2, -1),  # a normal edge of D, in a cell whose e5 is -1
    ("disc", EAGAN_D, 0, 5, -3),
])
def test_negative_op_indices_are_out_of_range(net: str, rows: list, cell: int, edge: int, value: int) -> None:
    """A negative integer other than a down edge's -1 is an out-of-range index, never wrapped."""
    bad = [list(r) for r in rows]
    bad[cell][edge] = value
    with pytest.raises(GenotypeError, match=rf"cell {cell + 1}, edge e{edge} .*op index {value} is out of range"):
        Genotype.from_array(net, bad)


def test_scgan_cifar10_caps_are_the_papers() -> None:
    """SPEC §4: 1500 ≤ FLOPs ≤ 3000 (M), 6.5 ≤ params ≤ 15 (M), 0.5 < params per cell ≤ 2.2 (M)."""
    assert SCGAN_CIFAR10_CAPS == Caps(params_M=(6.5, 15.0), cell_params_M=(0.5, 2.2), flops_M=(1500.0, 3000.0))


@pytest.mark.parametrize("name", ["params_M", "cell_params_M", "flops_M"])
def test_a_negative_upper_bound_is_refused(name: str) -> None:
    with pytest.raises(ConfigError, match=rf"`caps.{name}\[1\]` = -1"):
        Caps(**{name: (None, -1.0)})
