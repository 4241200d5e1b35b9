"""What every source loader returns before the shared subset / resize / fingerprint steps."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["RawImages", "even_subset", "nhwc_to_tensor"]


@dataclass(frozen=True, eq=False)
class RawImages:
    """Decoded images at their native size (uint8 N×3×H×W), before subset and resize."""

    images: torch.Tensor
    labels: torch.Tensor | None
    classes: tuple[str, ...] | None
    name: str

    def subset(self, max_images: int | None) -> RawImages:
        """The evenly spaced subset of :func:`even_subset` (self when nothing is dropped)."""
        if max_images is None or max_images >= len(self.images):
            return self
        idx = torch.from_numpy(even_subset(len(self.images), max_images))
        labels = None if self.labels is None else self.labels[idx]
        return RawImages(self.images[idx].contiguous(), labels, self.classes, self.name)


def even_subset(n: int, k: int) -> np.ndarray:
    """Indices `floor(i·n/k)`, i < k: deterministic, spread over the whole set.

    Evenly spaced rather than random so no RNG is involved, and class-major files (such as the
    shared CIFAR-10 subsets) keep their class balance.
    """
    if k >= n:
        return np.arange(n, dtype=np.int64)
    return (np.arange(k, dtype=np.int64) * n) // k


def nhwc_to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 N×H×W×C numpy (C = 1 or 3) → contiguous uint8 N×3×H×W tensor (grey replicated)."""
    arr = np.ascontiguousarray(images)
    if not arr.flags.writeable:  # e.g. np.asarray(PIL image); torch warns on read-only memory
        arr = arr.copy()
    t = torch.from_numpy(arr).permute(0, 3, 1, 2)
    if t.shape[1] == 1:
        t = t.expand(-1, 3, -1, -1)
    return t.contiguous()
