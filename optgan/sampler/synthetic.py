"""Synthetic evaluation: deterministic objective values from a genotype, with no training.

`evaluation: {kind: synthetic}` gives every trial these values, so a study set-up (caps,
population, selection, storage) can be checked in seconds, and the search machinery can be
tested and benchmarked. The model is a smooth function of the one-hot op encoding plus the
architecture's real size:

- each op has a fixed quality in [0, 1] (:data:`OP_QUALITY`, larger convs score higher);
- q_c = mean quality of the edges of cell c that take effect (a discriminator's ignored e6 is
  skipped), Q = 0.25·q_1 + 0.35·q_2 + 0.40·q_3, B = standard deviation of (q_1, q_2, q_3);
- IS = 2 + 7·Q − 2·B,  FID = 10 + 90·(1 − Q)² + 40·B,  KID = FID / 1000;
- params_M / flops_M = the exact counts of `optgan.search_space.counting` at the study widths.

Quality grows with big convolutions and so does size, so the objectives conflict as real ones do.
The values mean nothing about real image quality.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from optgan.errors import ConfigError
from optgan.search_space.counting import count_flops, count_params
from optgan.search_space.genotype import Genotype
from optgan.search_space.widths import Widths

__all__ = ["OP_QUALITY", "CELL_WEIGHTS", "SYNTHETIC_OBJECTIVES", "quality", "synthetic_values"]

OP_QUALITY: dict[str, float] = {
    "none": 0.0, "skip_connect": 0.35, "conv_1x1": 0.5, "conv_3x3": 0.85, "conv_5x5": 1.0,
    "dil_conv_3x3": 0.75, "dil_conv_5x5": 0.8,
    "nearest": 0.55, "bilinear": 0.8, "conv_transpose": 0.7,
    "avg_pool": 0.5, "max_pool": 0.6, "no_down": 0.3,
}
CELL_WEIGHTS = (0.25, 0.35, 0.40)
SYNTHETIC_OBJECTIVES = ("IS", "FID", "KID", "params_M", "flops_M")


def quality(genotype: Genotype) -> tuple[float, float]:
    """(Q, B): weighted mean cell quality and the spread of the cell qualities."""
    per_cell = []
    for c, ops in enumerate(genotype.cells):
        vals = [OP_QUALITY[op] for e, op in enumerate(ops) if not genotype.is_ignored(c, e)]
        per_cell.append(float(np.mean(vals)))
    return float(np.dot(CELL_WEIGHTS, per_cell)), float(np.std(per_cell))


def synthetic_values(genotype: Genotype, objectives: Sequence[str], widths: Widths) -> list[float]:
    """The synthetic value of each of `objectives` for `genotype`."""
    q, b = quality(genotype)
    fid = 10.0 + 90.0 * (1.0 - q) ** 2 + 40.0 * b
    out = []
    for name in objectives:
        if name == "IS":
            out.append(2.0 + 7.0 * q - 2.0 * b)
        elif name == "FID":
            out.append(fid)
        elif name == "KID":
            out.append(fid / 1000.0)
        elif name == "params_M":
            out.append(count_params(genotype, widths).total / 1e6)
        elif name == "flops_M":
            out.append(count_flops(genotype, widths) / 1e6)
        else:
            raise ConfigError(f"objective {name!r} has no synthetic value; allowed: {', '.join(SYNTHETIC_OBJECTIVES)}")
    return out
