"""① What can be proposed: ops, genotypes, Optuna distributions, param/FLOP counts, caps.

Pure data and arithmetic: this package never imports torch.
"""

from optgan.search_space.constraints import Caps, Violation, check_caps, is_feasible
from optgan.search_space.counting import SizeReport, count_flops, count_params
from optgan.search_space.distributions import param_distributions
from optgan.search_space.genotype import Genotype, load_genotype, param_name
from optgan.search_space.ops import DOWN_OPS, NO_DOWN, NORMAL_OPS, UP_OPS, edges_of
from optgan.search_space.random import random_genotype, valid_cell_count
from optgan.search_space.widths import CIFAR10_WIDTHS, STL10_WIDTHS, Widths

__all__ = [
    "Caps", "Violation", "check_caps", "is_feasible", "SizeReport", "count_flops",
    "count_params", "param_distributions", "Genotype", "load_genotype", "param_name",
    "DOWN_OPS", "NO_DOWN", "NORMAL_OPS", "UP_OPS", "edges_of", "random_genotype",
    "valid_cell_count", "CIFAR10_WIDTHS", "STL10_WIDTHS", "Widths",
]
