"""Selection strategies: which candidates of a generation survive into the next one.

A strategy sees only a loss matrix (rows = the COMPLETE trials of the previous generation,
columns = the study's objectives, every column minimised) and returns the row indices to keep.
Strategies are looked up by the name used in `sampler.selection`.
"""

from __future__ import annotations

import abc
from typing import ClassVar

import numpy as np

from optgan.errors import ConfigError

__all__ = ["SelectionStrategy", "make_selection", "SELECTION_NAMES"]


class SelectionStrategy(abc.ABC):
    """Picks `n` survivors from a loss matrix."""

    name: ClassVar[str]

    @abc.abstractmethod
    def select(self, losses: np.ndarray, n: int, rng: np.random.Generator) -> list[int]:
        """Indices of the `n` rows to keep (every row when `n` ≥ the number of rows)."""

    def __call__(self, losses: np.ndarray, n: int, rng: np.random.Generator) -> list[int]:
        losses = np.asarray(losses, dtype=np.float64)
        if losses.ndim != 2 or losses.shape[1] < 2:
            raise ValueError(f"selection needs an (n, m ≥ 2) loss matrix, got shape {losses.shape}")
        if n >= len(losses):
            return list(range(len(losses)))
        chosen = self.select(losses, n, rng)
        assert len(chosen) == n and len(set(chosen)) == n, (self.name, chosen)
        return chosen


SELECTION_NAMES = ("nsga2", "eagan", "scgan")


def make_selection(name: str, *, scgan_clusters: int = 8) -> SelectionStrategy:
    """The strategy called `name` (`nsga2`, `eagan` or `scgan`)."""
    if name == "nsga2":
        from optgan.sampler.select_nsga2 import NSGA2Selection

        return NSGA2Selection()
    if name == "eagan":
        from optgan.sampler.select_eagan import EAGANSelection

        return EAGANSelection()
    if name == "scgan":
        from optgan.sampler.select_scgan import SCGANSelection  # imports scipy

        return SCGANSelection(clusters=scgan_clusters)
    raise ConfigError(f"`sampler.selection` = {name!r} is unknown; allowed: {', '.join(SELECTION_NAMES)}")
