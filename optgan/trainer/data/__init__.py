"""Real images for training and for metric reference statistics (issue 2, item 7).

Sources: CIFAR-10 / STL-10 (torchvision layouts, downloaded only when allowed), `.npz`
archives, folders of images and scikit-learn's `digits`. `load_images(cfg, img_size)` returns
an :class:`ImageSet` (uint8 N×3×H×W + labels + a content fingerprint); `BatchStream` turns its
images into an endless, resumable stream of shuffled float batches in [-1, 1]. Missing or
malformed data raises a one-line :class:`~optgan.errors.DataError` that says how to fix it.

Modules: `images` (ImageSet, pixel conversions, resize, fingerprint), `load` (dispatch +
cache), `torchvision_sets`, `files` (npz, folder), `digits`, `stream` (BatchStream).
"""

from optgan.trainer.data.images import (
    FINGERPRINT_VERSION,
    ImageSet,
    fingerprint_of,
    matches_fingerprint,
    quantize_to_uint8,
    resize_images,
    to_float,
    to_uint8,
)
from optgan.trainer.data.load import clear_cache, load_images
from optgan.trainer.data.stream import BatchStream

__all__ = [
    "ImageSet",
    "load_images",
    "clear_cache",
    "BatchStream",
    "to_float",
    "to_uint8",
    "quantize_to_uint8",
    "resize_images",
    "fingerprint_of",
    "matches_fingerprint",
    "FINGERPRINT_VERSION",
]
