"""SCGAN constraint sampling with a bound: draw, reject duplicates and cap violations, redraw.

Every proposal (initial draws and children alike) goes through :class:`ConstrainedDraw`.
When `max_tries` draws in a row are rejected it raises a one-line ConstraintError that names
the caps, how many draws were duplicates or infeasible, and the range of sizes actually drawn,
so a user sees at once whether the caps are unreachable or merely tight.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from optgan.errors import ConstraintError
from optgan.search_space.constraints import Caps, check_caps
from optgan.search_space.counting import count_flops, count_params
from optgan.search_space.genotype import Genotype
from optgan.search_space.widths import Widths

__all__ = ["ConstrainedDraw", "Rejections"]

T = TypeVar("T")


@dataclass
class Rejections:
    """Why draws were rejected, and the size range of the infeasible ones."""

    duplicates: int = 0
    infeasible: int = 0
    ranges: dict[str, list[float]] = field(default_factory=dict)

    def note(self, name: str, value: float) -> None:
        lo_hi = self.ranges.setdefault(name, [value, value])
        lo_hi[0], lo_hi[1] = min(lo_hi[0], value), max(lo_hi[1], value)

    def describe_ranges(self) -> str:
        return ", ".join(f"{n} {lo:.4g}–{hi:.4g}" for n, (lo, hi) in self.ranges.items()) or "n/a"


class ConstrainedDraw(Generic[T]):
    """Accepts the first draw that is new and satisfies the caps, within `max_tries` draws."""

    def __init__(self, widths: Widths, caps: Caps, max_tries: int) -> None:
        if max_tries < 1:
            raise ValueError(f"`max_tries` must be ≥ 1, got {max_tries}")
        self.widths, self.caps, self.max_tries = widths, caps, max_tries

    def feasible(self, genotype: Genotype) -> bool:
        return not check_caps(genotype, self.widths, self.caps)

    def __call__(
        self,
        draw: Callable[[], tuple[Genotype, T]],
        taken: Collection[Genotype],
        what: str,
    ) -> tuple[Genotype, T]:
        """The first (genotype, info) from `draw()` not in `taken` and within the caps."""
        rejected = Rejections()
        for _ in range(self.max_tries):
            genotype, info = draw()
            if genotype in taken:
                rejected.duplicates += 1
            elif not self.feasible(genotype):
                rejected.infeasible += 1
                self._note_sizes(rejected, genotype)
            else:
                return genotype, info
        raise ConstraintError(
            f"no new architecture within the caps for {what} after {self.max_tries} draws "
            f"(caps: {self.caps.describe()}; {rejected.infeasible} violated them, "
            f"{rejected.duplicates} were duplicates; rejected sizes: {rejected.describe_ranges()}); "
            "widen `caps` or raise `sampler.max_tries`"
        )

    def _note_sizes(self, rejected: Rejections, genotype: Genotype) -> None:
        size = count_params(genotype, self.widths)
        rejected.note("params_M", size.total / 1e6)
        for p in size.per_cell:
            rejected.note("cell_params_M", p / 1e6)
        if self.caps.flops_M is not None:
            rejected.note("flops_M", count_flops(genotype, self.widths) / 1e6)
