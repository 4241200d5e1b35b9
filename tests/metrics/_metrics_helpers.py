"""Helpers of the metrics tests: small real image sets, a cheap fake extractor, tiny generators.

Imported as `from _metrics_helpers import ...` (tests/metrics/conftest.py puts this folder on
`sys.path`; with `--import-mode=importlib` test folders are not on it).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from _shared_data import shared_data_dir
from optgan.metrics import FeatureExtractor


@dataclass(frozen=True, eq=False)
class Images:
    """An ImageSet-like object (what `optgan.metrics.RealImages` asks for)."""

    images: torch.Tensor
    labels: torch.Tensor | None
    fingerprint: str
    name: str = "test"
    classes: tuple[str, ...] | None = None


def make_images(images: torch.Tensor, labels: torch.Tensor | None = None, name: str = "test") -> Images:
    h = hashlib.sha256(images.numpy().tobytes())
    if labels is not None:
        h.update(labels.numpy().tobytes())
    return Images(images, labels, h.hexdigest(), name)


def load_cifar(split: str, count: int | None = None) -> Images:
    """The first `count` images of an evenly class-balanced pick of the shared CIFAR-10 subset."""
    path = shared_data_dir("cifar10", f"{split}.npz")
    d = np.load(path)
    x, y = d["images"], d["labels"]
    if count is not None:  # files are class-major: take evenly spaced rows so every class appears
        idx = np.linspace(0, len(x) - 1, count).round().astype(np.int64)
        x, y = x[idx], y[idx]
    imgs = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    return make_images(imgs, torch.from_numpy(y.astype(np.int64)), f"cifar10/{split}/{count}")


class PoolExtractor(FeatureExtractor):
    """Cheap deterministic extractor: 4×4 average-pooled pixels (48-d) and a fixed linear head."""

    name = "fake"
    feature_dim = 48
    has_logits = True

    def __init__(self, device: torch.device | str = "cpu") -> None:
        super().__init__(torch.device(device))
        g = torch.Generator().manual_seed(0)
        self.head = torch.randn(48, 10, generator=g).to(self.device)
        self.calls = 0

    @property
    def identity(self) -> dict[str, Any]:
        return {"extractor": "fake-pool"}

    def extract(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        self.calls += 1
        f = nn.functional.adaptive_avg_pool2d(images.float() / 255.0, 4).flatten(1)
        return f, f @ self.head


class TinyGenerator(nn.Module):
    """latent → 3×size×size images in [-1, 1]; has a BatchNorm so eval/train modes matter."""

    def __init__(self, latent_dim: int = 8, size: int = 8, seed: int = 0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.size = size
        self.fc = nn.Linear(latent_dim, 3 * size * size)
        with torch.no_grad():
            self.fc.weight.copy_(torch.randn(self.fc.weight.shape, generator=g) * 0.5)
            self.fc.bias.zero_()
        self.bn = nn.BatchNorm1d(3 * size * size)
        self.seen_training: list[bool] = []

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        self.seen_training.append(self.training)
        return torch.tanh(self.bn(self.fc(z))).view(-1, 3, self.size, self.size)


def random_images(n: int, size: int = 8, seed: int = 1) -> Images:
    g = torch.Generator().manual_seed(seed)
    return make_images(torch.randint(0, 256, (n, 3, size, size), generator=g, dtype=torch.uint8))


def random_inception_weights(path: str, seed: int = 0, pool3_only: bool = False) -> str:
    """A randomly initialised state dict in torch-fidelity's inception-v3-compat format at `path`.

    He-scaled conv weights and random BN statistics keep activations O(1) through all 94 layers, so
    features and logits are informative (a plain PyTorch init collapses them towards 0).
    """
    from optgan.metrics.inception_weights import inception_template

    g = torch.Generator().manual_seed(seed)
    sd = inception_template(("2048", "logits_unbiased")).state_dict()
    out = {}
    for k, v in sd.items():
        if k.endswith("conv.weight"):
            fan_in = v[0].numel()
            out[k] = torch.randn(v.shape, generator=g) * (2.0 / fan_in) ** 0.5
        elif k.endswith("bn.weight"):
            out[k] = 1.0 + 0.1 * torch.randn(v.shape, generator=g)
        elif k.endswith("bn.bias") or k.endswith("running_mean"):
            out[k] = 0.1 * torch.randn(v.shape, generator=g)
        elif k.endswith("running_var"):
            out[k] = 1.0 + 0.2 * torch.rand(v.shape, generator=g)
        elif k.startswith("fc."):
            out[k] = torch.randn(v.shape, generator=g) * (0.05 if k == "fc.weight" else 0.1)
        else:
            out[k] = v.clone()
        if pool3_only and k.startswith("fc."):
            out[k] = torch.full_like(v, float("nan"))
    torch.save(out, path)
    return path
