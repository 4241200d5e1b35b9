"""scikit-learn's bundled `digits` (1,797 8×8 grey images of 0–9): the offline quickstart set.

Pixel values 0..16 (ink intensity; 16 = full ink, rendered bright) are scaled to 0..255 as
round(v · 255 / 16) and replicated to 3 channels; the caller resizes them (antialiased
bilinear). The data set has no official split: `test` is every 5th image (i % 5 == 0, 360
images) and `train` the other 1,437, so the two never overlap.
"""

from __future__ import annotations

import numpy as np
import torch

from optgan.config.data import DataConfig
from optgan.trainer.data.raw import RawImages, nhwc_to_tensor

__all__ = ["load_digits"]

_TEST_EVERY = 5


def load_digits(cfg: DataConfig) -> RawImages:
    """The `digits` split of `cfg.split` at 8×8, as uint8 N×3×8×8 with labels 0..9."""
    from sklearn.datasets import load_digits as sk_load_digits

    bunch = sk_load_digits()
    grey = np.rint(np.asarray(bunch.images, dtype=np.float64) * (255.0 / 16.0)).astype(np.uint8)
    is_test = np.arange(len(grey)) % _TEST_EVERY == 0
    keep = is_test if cfg.split == "test" else ~is_test
    images = nhwc_to_tensor(grey[keep][..., None])
    labels = torch.from_numpy(np.asarray(bunch.target, dtype=np.int64)[keep])
    classes = tuple(str(int(c)) for c in bunch.target_names)
    return RawImages(images, labels, classes, f"digits/{cfg.split}")
