"""Which images a study trains on: the `data:` section of a study config.

`name` picks the source: `cifar10` / `stl10` (torchvision layouts under `root`, downloaded only
when `download` is true), `npz` (a file at `path`, format of `README 'Data sets'`), `folder` (a folder
of images at `path`) or `digits` (scikit-learn's bundled 8×8 digits; offline quickstart).
The loaders live in :mod:`optgan.trainer.data`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal

from optgan.config.base import check_range
from optgan.errors import ConfigError

__all__ = ["DataConfig", "DEFAULT_DATA_ROOT", "DataName"]

DataName = Literal["cifar10", "stl10", "npz", "folder", "digits"]
#: where `cifar10` / `stl10` are looked for (and downloaded to) when `data.root` is not set
DEFAULT_DATA_ROOT = "~/.cache/optgan/data"
_NEEDS_PATH = ("npz", "folder")
_READS_ROOT = ("cifar10", "stl10")


@dataclass(frozen=True)
class DataConfig:
    """The data set to load; validated on construction."""

    #: `cifar10`, `stl10` (torchvision layouts under `root`), `npz` (a file of uint8 images and
    #: optional labels), `folder` (image files, searched recursively) or `digits` (scikit-learn's
    #: 8×8 digits, upscaled: offline, for the quickstart)
    name: DataName = "cifar10"
    #: folder holding torchvision's layouts (`cifar-10-batches-py/`, `stl10_binary/`);
    #: None = `~/.cache/optgan/data`. Ignored by `npz`, `folder` and `digits`.
    root: str | None = None
    #: the .npz file (`npz`) or the image folder (`folder`); only those two use it
    path: str | None = None
    #: `train` (STL-10: the `train+unlabeled` split, as in the papers) or `test`
    split: Literal["train", "test"] = "train"
    #: fetch cifar10 / stl10 into `root` when they are not there (never done otherwise)
    download: bool = False
    #: keep an evenly spaced, deterministic subset of at most this many images
    max_images: int | None = None

    def __post_init__(self) -> None:
        check_range("data.max_images", self.max_images, low=1)
        if self.name in _NEEDS_PATH and not self.path:
            raise ConfigError(
                f"`data.path` is required when `data.name` is {self.name!r}; "
                f"set it to the {'.npz file' if self.name == 'npz' else 'image folder'} to load"
            )
        if self.name not in _NEEDS_PATH and self.path is not None:
            reads = ("which reads `data.root` / --data-root" if self.name in _READS_ROOT
                     else "which comes with scikit-learn and reads no file")
            raise ConfigError(
                f"`data.path` is only used by `data.name` 'npz' or 'folder', not {self.name!r} ({reads}); "
                "to train on that file, also set `data.name` to npz or folder"
            )

    @property
    def location_key(self) -> str | None:
        """The key that says where this data set is: `root` (cifar10, stl10), `path` (npz, folder),
        None (digits: bundled with scikit-learn)."""
        return "root" if self.name in _READS_ROOT else "path" if self.name in _NEEDS_PATH else None

    @property
    def used_split(self) -> str | None:
        """`split` where the data set has splits (digits, cifar10, stl10); None for a file or folder,
        whose images are the file's content."""
        return None if self.name in _NEEDS_PATH else self.split

    @property
    def resolved_root(self) -> str:
        """`root` (or the default root) with `~` expanded; where torchvision data sets live."""
        return os.path.abspath(os.path.expanduser(self.root or DEFAULT_DATA_ROOT))
