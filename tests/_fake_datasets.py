"""Small on-disk copies of torchvision's data set layouts for tests that must not download.

Import it as `from _fake_datasets import …` (tests/conftest.py puts this folder on `sys.path`).
"""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path

import numpy as np
import pytest
from torchvision.datasets import CIFAR10


def md5_of(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def fake_cifar10(root: Path, monkeypatch: pytest.MonkeyPatch, per_batch: int = 3) -> np.ndarray:
    """Write a cifar-10-batches-py with `per_batch` images per file; return all images NHWC."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    all_images = rng.integers(0, 256, (6 * per_batch, 3, 32, 32), dtype=np.uint8)
    for i, name in enumerate(names):
        chunk = all_images[i * per_batch : (i + 1) * per_batch]
        entry = {"data": chunk.reshape(per_batch, -1), "labels": [(i + j) % 10 for j in range(per_batch)]}
        (folder / name).write_bytes(pickle.dumps(entry))
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": [f"c{k}" for k in range(10)]}))
    monkeypatch.setattr(CIFAR10, "train_list", [[n, md5_of(folder / n)] for n in names[:5]])
    monkeypatch.setattr(CIFAR10, "test_list", [["test_batch", md5_of(folder / "test_batch")]])
    monkeypatch.setattr(CIFAR10, "meta", {**CIFAR10.meta, "md5": md5_of(folder / "batches.meta")})
    return all_images.transpose(0, 2, 3, 1)
