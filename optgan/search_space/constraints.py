"""SCGAN constraint sampling's predicate: size caps on total params, per-cell params and FLOPs.

Each bound is optional (SPEC §4). `check_caps` returns the list of violated bounds — empty
means feasible — so callers can say exactly which bound failed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from optgan.config.base import check_range
from optgan.errors import ConfigError
from optgan.search_space.counting import count_flops, count_params
from optgan.search_space.genotype import Genotype
from optgan.search_space.widths import Widths

__all__ = ["Caps", "Violation", "check_caps", "is_feasible", "SCGAN_CIFAR10_CAPS"]

Range = tuple[float | None, float | None]


@dataclass(frozen=True)
class Caps:
    """Inclusive ranges in millions; `None` (or a `None` end) means unbounded.

    SCGAN's per-cell lower bound is strict (0.5 < p); give it as a slightly larger value
    or accept the inclusive reading — the difference is one parameter.
    """

    #: `[low, high]` of the network's parameters in millions (inclusive; null = open)
    params_M: Range | None = None
    #: `[low, high]` of every cell's parameters in millions
    cell_params_M: Range | None = None
    #: `[low, high]` of the network's FLOPs (multiply-adds) per image in millions
    flops_M: Range | None = None

    #: how error messages name these keys (`optgan.config.base.from_dict` puts in `gen` / `disc`)
    CONFIG_SECTION: ClassVar[str] = "caps"

    def __post_init__(self) -> None:
        for name in ("params_M", "cell_params_M", "flops_M"):
            rng = getattr(self, name)
            if rng is None:
                continue
            if len(rng) != 2:
                raise ConfigError(f"`caps.{name}` must be [low, high] (use null for no bound)")
            lo, hi = rng
            check_range(f"caps.{name}[0]", lo, low=0)
            check_range(f"caps.{name}[1]", hi, low=0)
            if lo is not None and hi is not None and lo > hi:
                raise ConfigError(f"`caps.{name}` = [{lo}, {hi}]: low bound exceeds high bound")

    @property
    def is_empty(self) -> bool:
        return all(getattr(self, n) is None for n in ("params_M", "cell_params_M", "flops_M"))

    def describe(self) -> str:
        def bound(v: float | None) -> str:
            return "open" if v is None else f"{v:g}"

        parts = [f"{n} in [{bound(r[0])}, {bound(r[1])}]" for n in ("params_M", "cell_params_M", "flops_M")
                 if (r := getattr(self, n)) is not None]
        return ", ".join(parts) or "no caps"


@dataclass(frozen=True)
class Violation:
    """One failed bound: which quantity, its value and the limit it crossed."""

    bound: str
    value: float
    limit: float

    @property
    def message(self) -> str:
        side = "below" if self.value < self.limit else "above"
        digits = next((d for d in range(6, 17) if f"{self.value:.{d}g}" != f"{self.limit:.{d}g}"), 17)
        return f"{self.bound} = {self.value:.{digits}g} is {side} the limit {self.limit:.{digits}g}"  # told apart

    def __str__(self) -> str:
        return self.message


SCGAN_CIFAR10_CAPS = Caps(params_M=(6.5, 15.0), cell_params_M=(0.5, 2.2), flops_M=(1500.0, 3000.0))


def _out_of(name: str, value: float, rng: Range | None) -> list[Violation]:
    if rng is None:
        return []
    lo, hi = rng
    if lo is not None and value < lo:
        return [Violation(name, value, lo)]
    if hi is not None and value > hi:
        return [Violation(name, value, hi)]
    return []


def check_caps(genotype: Genotype, widths: Widths, caps: Caps) -> list[Violation]:
    """The bounds of `caps` that `genotype` violates at `widths` (empty list = feasible)."""
    if caps.is_empty:
        return []
    size = count_params(genotype, widths)
    out = _out_of("params_M", size.total / 1e6, caps.params_M)
    for k, p in enumerate(size.per_cell):
        out += _out_of(f"cell{k + 1}_params_M", p / 1e6, caps.cell_params_M)
    if caps.flops_M is not None:
        out += _out_of("flops_M", count_flops(genotype, widths) / 1e6, caps.flops_M)
    return out


def is_feasible(genotype: Genotype, widths: Widths, caps: Caps) -> bool:
    """True when `genotype` satisfies every bound of `caps`."""
    return not check_caps(genotype, widths, caps)
