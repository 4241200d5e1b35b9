"""The `classifier` extractor's network: a small VGG-style CNN for the study's own images.

Three stages of two 3×3 conv + BN + ReLU blocks (width w, 2w, 4w; max-pool between), global
average pooling, a `feature_dim` ReLU embedding (the FID / KID features, non-negative like
Inception's pool3) and a linear classifier head (its softmax gives IS). Any image size ≥ 4
works. Parameters are initialised from an injected `torch.Generator` (He-normal convs).
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["ClassifierNet"]


def _block(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]


class ClassifierNet(nn.Module):
    """uint8 images → (features N×feature_dim, logits N×num_classes)."""

    def __init__(self, num_classes: int, width: int = 32, feature_dim: int = 256,
                 generator: torch.Generator | None = None) -> None:
        super().__init__()
        w = width
        with torch.random.fork_rng(devices=[]):  # initialisation never moves the global RNG
            self._build(num_classes, w, feature_dim)
            self.reset_parameters(generator)

    def _build(self, num_classes: int, w: int, feature_dim: int) -> None:
        self.body = nn.Sequential(
            *_block(3, w), *_block(w, w), nn.MaxPool2d(2),
            *_block(w, 2 * w), *_block(2 * w, 2 * w), nn.MaxPool2d(2),
            *_block(2 * w, 4 * w), *_block(4 * w, 4 * w),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )
        self.embed = nn.Sequential(nn.Linear(4 * w, feature_dim), nn.ReLU(inplace=True))
        self.head = nn.Linear(feature_dim, num_classes)

    @torch.no_grad()
    def reset_parameters(self, generator: torch.Generator | None) -> None:
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu", generator=generator)
                if m.bias is not None:
                    m.bias.zero_()
            elif isinstance(m, nn.BatchNorm2d):
                m.reset_parameters()

    def forward_float(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Features and logits of float images in [-1, 1]."""
        features = self.embed(self.body(x))
        return features, self.head(features)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Features and logits of uint8 images (scaled as x / 127.5 − 1, the data's `to_float`)."""
        return self.forward_float(images.to(torch.float32) / 127.5 - 1.0)
