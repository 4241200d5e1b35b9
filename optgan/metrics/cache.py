"""On-disk caches of the metrics package: content-hash names and crash-safe writes.

Every cached file (reference statistics, converted Inception weights, trained classifiers)
is named by the sha256 of a JSON description of everything that affects it, and written
atomically: a temporary file in the same folder, flushed and fsync'ed, then `os.replace`d,
so a crash never leaves a truncated file under a valid name.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
from collections.abc import Mapping
from typing import Any

import torch

from optgan.atomic import writable_dir_problem, write_atomically
from optgan.errors import ConfigError, MetricsError

__all__ = ["content_hash", "atomic_torch_save", "load_cached", "file_sha256", "tensors_sha256", "check_cache_dir"]

_SHA_CACHE: dict[tuple[str, int, int], str] = {}


def content_hash(description: dict[str, Any]) -> str:
    """sha256 hex of a canonical JSON form of `description` (keys sorted)."""
    text = json.dumps(description, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> None:
    """`torch.save(obj, path)` atomically (:func:`optgan.atomic.write_atomically`)."""
    try:
        write_atomically(path, lambda f: torch.save(obj, f), fault_point=False)
    except OSError as e:  # also a full disk behind torch's own RuntimeError (`write_atomically`)
        fix = ("free space, or set `metrics.cache_dir` to a folder on another disk"
               if e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG) else "set `metrics.cache_dir` to a writable folder")
        raise MetricsError(f"cannot write the metrics cache file {path} ({e.strerror}); {fix}") from e


def check_cache_dir(cache_dir: str, fix: str) -> None:
    """A ConfigError (ending with `fix`) unless `cache_dir` is, or can become, a writable folder;
    nothing is created. Called before anything slow (data, classifier training) is started."""
    problem = writable_dir_problem(cache_dir, create=False)
    if problem:
        raise ConfigError(f"metrics cache folder {problem}; {fix}")


def tensors_sha256(state: Mapping[str, torch.Tensor]) -> str:
    """sha256 hex of a state dict's names, dtypes, shapes and bytes (a trained network's identity)."""
    h = hashlib.sha256()
    for name in sorted(state):
        t = state[name].detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def load_cached(path: str | os.PathLike) -> Any | None:
    """The object saved at `path` (tensors and plain types only), or None if absent or unreadable."""
    if not os.path.exists(path):
        return None
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # a foreign or corrupted file under our name: recompute and overwrite it
        return None


def file_sha256(path: str | os.PathLike) -> str:
    """sha256 hex of a file's bytes (memoised per path, size and modification time)."""
    st = os.stat(path)
    key = (os.path.abspath(path), st.st_size, st.st_mtime_ns)
    if key not in _SHA_CACHE:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 22), b""):
                h.update(block)
        _SHA_CACHE[key] = h.hexdigest()
    return _SHA_CACHE[key]
