"""Image sets from plain files: an `.npz` archive, or a folder of image files.

`.npz` format (that of `shared/data/cifar10/README.md`): `images` uint8 N×H×W×3 (or ×1, grey
replicated), optional `labels` integer (N,), optional `classes` strings (K,). Loaded with
`allow_pickle=False`. A folder is searched recursively for common image extensions in sorted
path order; when every image sits in a first-level sub-folder, the sub-folder names (sorted)
are the classes, as in torchvision's `ImageFolder`; otherwise the set is unlabelled.
"""

from __future__ import annotations

import logging
import os
import zipfile
import zlib
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from optgan.errors import DataError
from optgan.progress import progress_bar
from optgan.trainer.data.images import resize_images
from optgan.trainer.data.raw import RawImages, even_subset, nhwc_to_tensor

__all__ = ["load_npz", "load_folder", "IMAGE_EXTENSIONS"]

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm")
#: `--set data.path=…` works on `optgan study create`, `optgan run` (this machine's copy) and `optgan train`
_SET_PATH = "fix: pass --set data.path="
_NPZ_FIX = (f"{_SET_PATH}FILE, an .npz with keys images (uint8 N×H×W×3 or ×1), labels (int, N), classes (str) "
            "— see README 'Data sets'")


def load_npz(path: str) -> RawImages:
    """Read and validate an `.npz` image archive."""
    file = os.path.abspath(os.path.expanduser(path))
    if os.path.isdir(file):
        raise DataError(f"`data.path` {file} is a folder, not an .npz file; for a folder of images set "
                        "`data.name: folder`")
    if not os.path.isfile(file):
        raise DataError(f"npz data set not found: looked for the file {file}; {_NPZ_FIX}")
    try:
        arrays = _read_npz(file)
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError) as e:
        raise DataError(f"{file} is not a readable .npz archive ({type(e).__name__}: {e}); {_NPZ_FIX}") from e
    images, labels, classes = (arrays.get(k) for k in ("images", "labels", "classes"))
    if images is None:
        raise DataError(f"{file} has no key `images` (keys: {', '.join(sorted(arrays)) or 'none'}); {_NPZ_FIX}")
    _check_images(images, file)
    name = f"npz:{Path(file).stem}"
    return RawImages(nhwc_to_tensor(images), _check_labels(labels, len(images), file),
                     _check_classes(classes, labels, file), name)


def _read_npz(file: str) -> dict[str, np.ndarray]:
    """The arrays of an .npz (not .npy) file, without pickle; DataError names a pickled key."""
    with open(file, "rb") as f:
        head = f.read(6)
    if not head.startswith(b"PK") and head != b"\x93NUMPY":  # numpy would guess "pickled data"
        raise ValueError("the file is not a zip archive (an .npz is one; see np.savez)")
    loaded = np.load(file, allow_pickle=False)
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        raise ValueError("a single .npy array, not an .npz archive")
    with loaded as npz:
        return {key: _key(npz, key, file) for key in npz.files}


def _key(npz: np.lib.npyio.NpzFile, key: str, file: str) -> np.ndarray:
    try:
        value = npz[key]
    except ValueError as e:
        if "allow_pickle" in str(e):  # object arrays need pickle, which is refused
            raise DataError(f"{file}: key `{key}` holds Python objects (pickled); {_NPZ_FIX}") from e
        raise DataError(f"{file}: key `{key}` is damaged ({str(e).splitlines()[0][:120]}); {_NPZ_FIX}") from e
    if not isinstance(value, np.ndarray):  # a zip member that is not a .npy array comes back as bytes
        raise DataError(f"{file}: key `{key}` is not a numpy array (`{key}.npy` is not in .npy format); {_NPZ_FIX}")
    return value


def _check_images(images: np.ndarray, file: str) -> None:
    if images.dtype != np.uint8:
        raise DataError(f"{file}: key `images` has dtype {images.dtype}, expected uint8 (0–255); {_NPZ_FIX}")
    if images.ndim != 4 or images.shape[-1] not in (1, 3) or len(images) == 0:
        raise DataError(
            f"{file}: key `images` has shape {images.shape}, expected non-empty N×H×W×3 or N×H×W×1 (NHWC); {_NPZ_FIX}"
        )


#: labels are class indices; a larger one is a mistake (the classifier would need that many outputs)
_MAX_CLASSES = 100_000


def _check_labels(labels: np.ndarray | None, n: int, file: str) -> torch.Tensor | None:
    if labels is None:
        return None
    if not np.issubdtype(labels.dtype, np.integer) or labels.shape != (n,):
        raise DataError(
            f"{file}: key `labels` has dtype {labels.dtype} and shape {labels.shape}, expected integers of shape ({n},); {_NPZ_FIX}"
        )
    if n and (int(labels.min()) < 0 or int(labels.max()) >= _MAX_CLASSES):
        raise DataError(f"{file}: key `labels` has values from {int(labels.min())} to {int(labels.max())}; labels are "
                        f"class indices 0..K-1 (K < {_MAX_CLASSES:,}); {_NPZ_FIX}")
    return torch.from_numpy(labels.astype(np.int64))


def _check_classes(classes: np.ndarray | None, labels: np.ndarray | None, file: str) -> tuple[str, ...] | None:
    if classes is None:
        return None
    if classes.ndim != 1 or classes.dtype.kind not in "US":
        raise DataError(
            f"{file}: key `classes` has dtype {classes.dtype} and shape {classes.shape}, expected a 1-D array of strings; {_NPZ_FIX}"
        )
    names = tuple(str(c) for c in classes.astype(str))
    if labels is not None and len(labels) and not 0 <= int(labels.min()) <= int(labels.max()) < len(names):
        raise DataError(f"{file}: key `labels` has values outside 0..{len(names) - 1} (the `classes` indices); {_NPZ_FIX}")
    return names


def load_folder(path: str, img_size: int, max_images: int | None) -> RawImages:
    """Decode every image under `path` (recursively) as RGB at `img_size` (see module doc)."""
    root = Path(os.path.abspath(os.path.expanduser(path)))
    if root.is_file():
        raise DataError(f"`data.path` {root} is a file, not a folder of images; for an .npz archive set "
                        "`data.name: npz`")
    if not root.is_dir():
        raise DataError(f"image folder not found: looked for the folder {root}; {_SET_PATH}DIR, a folder of images")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()
                   and not any(part.startswith(".") for part in p.relative_to(root).parts))  # .ipynb_checkpoints …
    if not files:
        raise DataError(
            f"no images found under {root} (searched recursively for {', '.join(IMAGE_EXTENSIONS)}); "
            f"{_SET_PATH}DIR, a folder that contains images"
        )
    if max_images is not None:
        files = [files[i] for i in even_subset(len(files), max_images)]
    classes, labels = _folder_labels(root, files)
    images = torch.stack([_decode(f, img_size) for f in progress_bar(files, show=len(files) >= 1000, desc="decode images")])
    return RawImages(images, labels, classes, f"folder:{root.name}")


def _folder_labels(root: Path, files: list[Path]) -> tuple[tuple[str, ...] | None, torch.Tensor | None]:
    parts = [f.relative_to(root).parts for f in files]
    if any(len(p) < 2 for p in parts):
        if any(len(p) >= 2 for p in parts):
            log.warning("%s mixes top-level images and sub-folders: loading it unlabelled", root)
        return None, None
    classes = tuple(sorted({p[0] for p in parts}))
    index = {c: i for i, c in enumerate(classes)}
    return classes, torch.tensor([index[p[0]] for p in parts], dtype=torch.int64)


def _decode(file: Path, img_size: int) -> torch.Tensor:
    try:
        with Image.open(file) as im:
            rgb = np.asarray(im.convert("RGB"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError) as e:
        raise DataError(f"cannot decode image {file} ({type(e).__name__}); fix: remove or replace the file") from e
    return resize_images(nhwc_to_tensor(rgb[None]), img_size)[0]
