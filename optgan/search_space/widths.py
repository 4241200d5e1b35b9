"""Network widths: channel counts, latent size and bottom width (image size = 8 × bottom width)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from optgan.config.base import check_range
from optgan.errors import ConfigError

__all__ = ["Widths", "CIFAR10_WIDTHS", "STL10_WIDTHS", "MAX_WIDTH", "MAX_BOTTOM_WIDTH", "other_widths"]


#: the largest channel count / latent size a config may ask for (the papers use 256 and 120;
#: more only fails later, allocating terabytes)
MAX_WIDTH = 16_384
#: the largest bottom width: 8 × 64 = 512 px images (the papers: 4 and 6)
MAX_BOTTOM_WIDTH = 64


@dataclass(frozen=True)
class Widths:
    """Widths of G and D (SPEC §1.2–1.3). CIFAR-10: 256/128/120/4; STL-10: bottom width 6."""

    #: channels of G's cells
    gf_dim: int = 256
    #: channels of D's cells
    df_dim: int = 128
    #: size of the latent z, split in 3 equal chunks (one per G cell)
    latent_dim: int = 120
    #: side of G's first feature map; images are 8× that (4 → 32 px, 6 → 48 px)
    bottom_width: int = 4

    def __post_init__(self) -> None:
        check_range("widths.gf_dim", self.gf_dim, low=1, high=MAX_WIDTH)
        check_range("widths.df_dim", self.df_dim, low=1, high=MAX_WIDTH)
        check_range("widths.latent_dim", self.latent_dim, low=3, high=MAX_WIDTH)
        check_range("widths.bottom_width", self.bottom_width, low=1, high=MAX_BOTTOM_WIDTH)
        if self.latent_dim % 3:
            raise ConfigError(
                f"`widths.latent_dim` = {self.latent_dim} must be divisible by 3 "
                "(the latent is split into one chunk per cell)"
            )

    @property
    def img_size(self) -> int:
        """Side of the generated images: three ×2 up-cells on top of the bottom width."""
        return 8 * self.bottom_width

    @property
    def latent_chunk(self) -> int:
        return self.latent_dim // 3


CIFAR10_WIDTHS = Widths()
STL10_WIDTHS = Widths(bottom_width=6)


#: the widths each network is built at (D sees G's images, so their side counts for it too)
_WIDTHS_OF = {"gen": ("gf_dim", "latent_dim", "bottom_width"), "disc": ("df_dim", "bottom_width")}


def other_widths(searched: Mapping[str, Any], net: str, widths: Widths) -> str:
    """The widths of network `net` in which `searched` (a widths record, e.g. what `optgan export`
    writes) differs from `widths`, as `gf_dim 64 → 256, …` ('' when none does)."""
    now = {k: getattr(widths, k) for k in _WIDTHS_OF[net] if k in searched}
    return ", ".join(f"{k} {searched[k]} → {v}" for k, v in now.items() if searched[k] != v)
