"""`load_images(cfg, img_size)`: pick the source, subset, resize, fingerprint — and cache.

Every source goes through the same steps: decode (source module) → deterministic evenly
spaced subset (`max_images`) → centre crop / antialiased bilinear resize to `img_size` only
when needed → sha256 fingerprint. Results are kept in a small in-process LRU cache keyed by the
config, the size and (for npz files) the file's size and mtime, so one process never decodes the
same data set twice. Cached tensors are shared: treat them as read-only.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable

from optgan.config.base import check_range
from optgan.config.data import DataConfig
from optgan.trainer.data.digits import load_digits
from optgan.trainer.data.files import load_folder, load_npz
from optgan.trainer.data.images import ImageSet, fingerprint_of, resize_images
from optgan.trainer.data.raw import RawImages
from optgan.trainer.data.torchvision_sets import load_cifar10, load_stl10

__all__ = ["load_images", "clear_cache", "CACHE_SIZE"]

log = logging.getLogger(__name__)

#: how many loaded image sets the process keeps (LRU)
CACHE_SIZE = 4
_cache: OrderedDict[Hashable, ImageSet] = OrderedDict()
_lock = threading.Lock()

_SOURCES: dict[str, Callable[[DataConfig, int], RawImages]] = {
    "cifar10": lambda cfg, size: load_cifar10(cfg),
    "stl10": lambda cfg, size: load_stl10(cfg),
    "digits": lambda cfg, size: load_digits(cfg),
    "npz": lambda cfg, size: load_npz(cfg.path or ""),
    "folder": lambda cfg, size: load_folder(cfg.path or "", size, cfg.max_images),
}


def load_images(cfg: DataConfig, img_size: int) -> ImageSet:
    """The data set `cfg` as uint8 N×3×`img_size`×`img_size` (raises DataError if missing)."""
    check_range("img_size", img_size, low=1)
    key = _cache_key(cfg, img_size)
    with _lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    image_set = _build(cfg, img_size)
    with _lock:
        _cache[key] = image_set
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return image_set


def clear_cache() -> None:
    """Forget every cached image set (tests; or to free memory)."""
    with _lock:
        _cache.clear()


def _build(cfg: DataConfig, img_size: int) -> ImageSet:
    start = time.perf_counter()
    raw = _SOURCES[cfg.name](cfg, img_size).subset(cfg.max_images)
    images = resize_images(raw.images, img_size)
    fp = fingerprint_of(images, raw.labels, raw.classes)
    log.info(
        "loaded %s: %d images at %d px in %.1f s (fingerprint %s)",
        raw.name, len(images), img_size, time.perf_counter() - start, fp[:12],
    )
    return ImageSet(images, raw.labels, raw.classes, raw.name, fp)


def _cache_key(cfg: DataConfig, img_size: int) -> Hashable:
    stamp: tuple[int, int] | None = None
    if cfg.name == "npz" and cfg.path and os.path.isfile(os.path.expanduser(cfg.path)):
        st = os.stat(os.path.expanduser(cfg.path))
        stamp = (st.st_size, st.st_mtime_ns)
    path = os.path.abspath(os.path.expanduser(cfg.path)) if cfg.path else None
    root = cfg.resolved_root if cfg.location_key == "root" else None
    return (cfg.name, root, path, cfg.split, cfg.max_images, img_size, stamp)
