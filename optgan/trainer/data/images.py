"""The in-memory image set and the pixel conversions every data source shares.

Images are held as `torch.uint8` N×3×H×W (what the data sets store; 4× smaller than float) and
converted per batch. The conversions are the single definition of the pixel scale:
`to_float`: uint8 → [-1, 1] as x / 127.5 − 1; `to_uint8` (alias `quantize_to_uint8`):
(x · 127.5 + 127.5).round().clamp(0, 255) — generated images are quantised exactly as real
ones are stored (SPEC §5). Resizing has one method: centre crop to a square (only if not
square), then antialiased bilinear on uint8 (`torch.nn.functional.interpolate(antialias=True)`
on the CPU; it reproduces PIL's BILINEAR — what the reference code's `transforms.Resize` does —
exactly at integer scale factors such as 96 → 48 or 8 → 32, within ±2 levels otherwise),
applied only when the side differs from the requested size.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "ImageSet",
    "to_float",
    "to_uint8",
    "quantize_to_uint8",
    "resize_images",
    "fingerprint_of",
    "matches_fingerprint",
    "FINGERPRINT_VERSION",
]

#: bump when anything that feeds the fingerprint changes meaning (invalidates metric caches)
FINGERPRINT_VERSION = "optgan.ImageSet.v2"  # v2: the content only (v1 also hashed the source's name)
_RESIZE_CHUNK = 4096  # images per interpolate call: bounds the temporaries


@dataclass(frozen=True, eq=False)
class ImageSet:
    """A loaded data set. Treat the tensors as read-only: sets are shared through a cache."""

    images: torch.Tensor  #: uint8, N×3×H×W, H = W = the requested size
    labels: torch.Tensor | None  #: int64 (N,), or None for unlabelled sources
    classes: tuple[str, ...] | None  #: class names indexed by label, when known
    name: str  #: source identity, e.g. `cifar10/train`, `npz:train-10k`, `digits/train`
    fingerprint: str  #: sha256 hex over pixels, labels, classes and size (cache key; not the name)

    def __post_init__(self) -> None:
        assert self.images.dtype == torch.uint8 and self.images.ndim == 4, self.images.shape
        assert self.images.shape[1] == 3 and self.images.shape[2] == self.images.shape[3]
        assert self.labels is None or self.labels.shape == (len(self.images),)

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def img_size(self) -> int:
        return int(self.images.shape[-1])


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 images (any shape) → float32 in [-1, 1] via x / 127.5 − 1, on the same device."""
    return images.to(torch.float32) / 127.5 - 1.0


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """Float images in [-1, 1] → uint8 via (x · 127.5 + 127.5).round().clamp(0, 255)."""
    return (x * 127.5 + 127.5).round().clamp(0, 255).to(torch.uint8)


#: the name the metrics package uses for :func:`to_uint8` (same function, one formula)
quantize_to_uint8 = to_uint8


def resize_images(images: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 N×C×H×W → uint8 N×C×size×size: centre crop if not square, then resize if needed."""
    if images.dtype != torch.uint8 or images.ndim != 4:
        raise TypeError(f"resize_images needs uint8 N×C×H×W, got {images.dtype} {tuple(images.shape)}")
    h, w = images.shape[-2:]
    if h != w:
        side = min(h, w)
        top, left = (h - side) // 2, (w - side) // 2
        images = images[..., top : top + side, left : left + side]
    if images.shape[-1] == size:
        return images.contiguous()
    chunks = [_resize_chunk(c, size) for c in images.split(_RESIZE_CHUNK)]
    return torch.cat(chunks) if chunks else images.new_empty((0, images.shape[1], size, size))


def _resize_chunk(images: torch.Tensor, size: int) -> torch.Tensor:
    # uint8 on the CPU: torch's integer kernel, bit-identical to PIL's BILINEAR at integer scale
    # factors (the float kernel differs by ±1 level) and ~8× faster; always on the CPU so the
    # result never depends on the device
    out = F.interpolate(images.cpu(), size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return out.to(images.device)


def fingerprint_of(images: torch.Tensor, labels: torch.Tensor | None, classes: tuple[str, ...] | None) -> str:
    """sha256 hex of an image set's content: pixels, size, labels and class names (a cache key,
    and how a moved or renamed copy of the same data is recognised)."""
    return _hash(FINGERPRINT_VERSION, images, labels, classes)


def matches_fingerprint(image_set: ImageSet, fingerprint: str | None) -> bool:
    """Whether `fingerprint` (e.g. stored in a checkpoint) is `image_set`'s, by the current rule or by
    v1's (which also hashed the source's name), so runs stored before v2 still resume."""
    return fingerprint == image_set.fingerprint or fingerprint == _hash(
        f"optgan.ImageSet.v1|{image_set.name}", image_set.images, image_set.labels, image_set.classes)


def _hash(prefix: str, images: torch.Tensor, labels: torch.Tensor | None, classes: tuple[str, ...] | None) -> str:
    h = hashlib.sha256()
    h.update(f"{prefix}|{tuple(images.shape)}|{classes!r}|{labels is not None}".encode("utf-8"))
    h.update(_bytes(images))
    if labels is not None:
        h.update(_bytes(labels.to(torch.int64)))
    return h.hexdigest()


def _bytes(t: torch.Tensor) -> memoryview:
    return np.ascontiguousarray(t.detach().cpu().numpy()).data.cast("B")
