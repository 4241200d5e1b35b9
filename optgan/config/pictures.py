"""Which pictures a search stores for the dashboard: the `pictures:` section of a study config.

Per evaluated trial: a sample grid (images generated from the shared latent bank by the
engine, see `optgan.engines.Evaluation.samples`) and an architecture picture; per round: the
Pareto front of the round and the learning curves. All are PNG files in the search's run
directory, uploaded to Optuna's artifact store so optuna-dashboard shows them.
"""

from __future__ import annotations

from dataclasses import dataclass

from optgan.config.base import check_range

__all__ = ["PicturesConfig"]


@dataclass(frozen=True)
class PicturesConfig:
    """What is drawn and stored; every picture is a few tens of kB."""

    #: a grid of generated images per evaluated trial (engines fill `Evaluation.samples`)
    sample_grid: bool = True
    #: images in each trial's grid (the first `grid_images` latents of the shared bank)
    grid_images: int = 16
    #: the three cells of each trial's genotype, op names on the edges
    architecture: bool = True
    #: per round: Pareto front of the round and learning curves, the study note and trial notes
    rounds: bool = True

    def __post_init__(self) -> None:
        check_range("pictures.grid_images", self.grid_images, low=1, high=256)
