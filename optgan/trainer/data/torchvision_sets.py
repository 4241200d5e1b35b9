"""CIFAR-10 and STL-10 through torchvision's data-set classes (their on-disk layouts and md5s).

Nothing is downloaded unless `data.download` is true; otherwise the files are read from
`data.root` (default `~/.cache/optgan/data`). STL-10's `train` split is torchvision's
`train+unlabeled` (5,000 labelled + 100,000 unlabelled 96×96 images), the set AutoGAN,
AdversarialNAS and EAGAN train on; it is returned without labels. `test` is the 8,000
labelled test images. Both are resized to the requested size (48 in the papers).
"""

from __future__ import annotations

import logging
import pathlib
from typing import Any

import numpy as np
import torch

from optgan.config.data import DataConfig
from optgan.errors import DataError
from optgan.trainer.data.raw import RawImages, nhwc_to_tensor

__all__ = ["load_cifar10", "load_stl10"]

log = logging.getLogger(__name__)

_CIFAR10_FILES = "cifar-10-batches-py/{data_batch_1..5, test_batch, batches.meta}"
_STL10_FILES = "stl10_binary/{train_X.bin, train_y.bin, unlabeled_X.bin, test_X.bin, test_y.bin}"
_STL10_CLASSES = ("airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck")


def load_cifar10(cfg: DataConfig) -> RawImages:
    """The 50,000 train or 10,000 test images of CIFAR-10 (32×32, labelled)."""
    from torchvision.datasets import CIFAR10

    ds = _open(CIFAR10, "CIFAR-10", _CIFAR10_FILES, "cifar-10-batches-py", "~170 MB", cfg,
               train=cfg.split == "train")
    images = nhwc_to_tensor(np.asarray(ds.data, dtype=np.uint8))
    labels = torch.as_tensor(np.asarray(ds.targets, dtype=np.int64))
    return RawImages(images, labels, tuple(str(c) for c in ds.classes), f"cifar10/{cfg.split}")


def load_stl10(cfg: DataConfig) -> RawImages:
    """STL-10 `train+unlabeled` (unlabelled result) or `test` (labelled), 96×96."""
    from torchvision.datasets import STL10

    split = "train+unlabeled" if cfg.split == "train" else "test"
    ds = _open(STL10, "STL-10", _STL10_FILES, "stl10_binary", "~2.6 GB", cfg, split=split)
    images = torch.from_numpy(np.ascontiguousarray(ds.data, dtype=np.uint8))  # already N×3×H×W
    classes = tuple(getattr(ds, "classes", None) or _STL10_CLASSES)
    labels = None
    if split == "test":
        labels = torch.as_tensor(np.asarray(ds.labels, dtype=np.int64))
    log.info("STL-10 %s: %d images", split, len(images))
    return RawImages(images, labels, classes, f"stl10/{split}")


def _open(cls: type, title: str, files: str, folder: str, size: str, cfg: DataConfig, **kw: Any) -> Any:
    """Instantiate a torchvision data set, turning every failure into one actionable line."""
    root = cfg.resolved_root
    created = [p for p in (pathlib.Path(root), *pathlib.Path(root).parents) if not p.exists()]
    try:
        return cls(root=root, download=cfg.download, **kw)
    except RuntimeError as e:  # torchvision: "Dataset not found or corrupted"
        _remove_empty(created)
        raise DataError(_missing_message(title, files, folder, size, root, cfg.download)) from e
    except OSError as e:  # includes urllib's URLError (no network) and disk errors
        _remove_empty(created)
        what = "downloading" if cfg.download else "reading"
        raise DataError(
            f"{what} {title} into {root} failed ({_reason(e)}); fix: check the network and disk, "
            f"or copy {folder}/ into a folder yourself and pass it with --data-root "
            "(`data.root`), or use `data.name: npz` with `data.path`"
        ) from e


def _remove_empty(created: list[pathlib.Path]) -> None:
    """Remove the folders a failed download created, deepest first, while they are empty."""
    for folder in created:
        try:
            folder.rmdir()
        except OSError:  # not empty (a partial download to keep for a retry) or gone
            return


def _missing_message(title: str, files: str, folder: str, size: str, root: str, download: bool) -> str:
    there = pathlib.Path(root, folder).is_dir()
    why = f"{folder}/ is there, but files are missing or fail torchvision's md5 check" if there else \
        f"no folder {folder}/ there"
    first = f"{title} not found: looked for {files} in {root} ({why})"
    if download:
        return f"{first} even after the download; fix: delete {root}/{folder} and retry, or pass another --data-root"
    return (
        f"{first}; fix: pass --data-root DIR (`data.root`, the folder that contains {folder}/), "
        f"set `data.download: true` to download it ({size}), or use `data.name: npz` with `data.path: FILE.npz`"
    )


def _reason(e: OSError) -> str:
    return str(getattr(e, "reason", None) or e.strerror or e).replace("\n", " ")
