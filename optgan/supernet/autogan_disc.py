"""The fixed AutoGAN-style discriminator of the MMD final-training recipe (SPEC §6).

Reference: PrasannaPulakurthi/MMD-AdversarialNAS ``archs/arch_cifar10.py::Discriminator`` and
``archs/arch_cifar10_building_blocks.py`` (``OptimizedDisBlock``, ``DisBlock``), run there with
``--df_dim 512`` and ``d_spectral_norm=True``:
    block1 = OptimizedDisBlock(3 → C)            (conv3 → ReLU → conv3 → avgpool2) + conv1(avgpool2(x))
    block2 = DisBlock(C → C, downsample)         (ReLU → conv3 → ReLU → conv3 → avgpool2) + avgpool2(conv1(x))
    block3 = DisBlock(C → C), block4 = DisBlock(C → C)   (identity shortcut)
    out    = SN-Linear(C → 16, no bias)(sum_{h,w} ReLU(block4))
Spectral norm on every conv and on the linear layer. The 16-d output is the feature vector that
the repulsive MMD loss compares (one output per sample, `out_dim` = 1 gives a hinge critic).
Initialisation as the reference's ``weights_init``: xavier-uniform on conv weights (the linear
layer keeps PyTorch's default).
"""

from __future__ import annotations

from typing import cast

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import spectral_norm

__all__ = ["AutoGANDiscriminator"]


def _sn_conv(c_in: int, c_out: int, k: int) -> nn.Module:
    return spectral_norm(nn.Conv2d(c_in, c_out, kernel_size=k, padding=k // 2))


class _OptimizedBlock(nn.Module):
    """First block: no pre-activation, always down-samples, learnable 1×1 shortcut."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.c1 = _sn_conv(c_in, c_out, 3)
        self.c2 = _sn_conv(c_out, c_out, 3)
        self.c_sc = _sn_conv(c_in, c_out, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.avg_pool2d(self.c2(F.relu(self.c1(x))), 2)
        return h + self.c_sc(F.avg_pool2d(x, 2))


class _Block(nn.Module):
    """Pre-activation residual block; 1×1 shortcut only when it down-samples or changes width."""

    def __init__(self, c_in: int, c_out: int, downsample: bool) -> None:
        super().__init__()
        self.downsample = downsample
        self.c1 = _sn_conv(c_in, c_in, 3)
        self.c2 = _sn_conv(c_in, c_out, 3)
        self.c_sc = _sn_conv(c_in, c_out, 1) if downsample or c_in != c_out else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.c2(F.relu(self.c1(F.relu(x))))
        sc = x if self.c_sc is None else self.c_sc(x)
        if self.downsample:
            h, sc = F.avg_pool2d(h, 2), F.avg_pool2d(sc, 2)
        return h + sc


class AutoGANDiscriminator(nn.Module):
    """AutoGAN-style D: 4 residual blocks of width `df_dim`, `out_dim` outputs per image."""

    def __init__(self, df_dim: int = 512, out_dim: int = 16) -> None:
        super().__init__()
        if df_dim < 1 or out_dim < 1:
            raise ValueError(f"df_dim and out_dim must be positive, got {df_dim}, {out_dim}")
        self.df_dim, self.out_dim = df_dim, out_dim
        self.block1 = _OptimizedBlock(3, df_dim)
        self.block2 = _Block(df_dim, df_dim, downsample=True)
        self.block3 = _Block(df_dim, df_dim, downsample=False)
        self.block4 = _Block(df_dim, df_dim, downsample=False)
        self.l5 = spectral_norm(nn.Linear(df_dim, out_dim, bias=False))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Xavier-uniform on every conv weight (SN's `weight_orig`), as the reference code."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.xavier_uniform_(cast(torch.Tensor, m.weight_orig), 1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.block4(self.block3(self.block2(self.block1(x))))
        return self.l5(F.relu(h).sum(dim=(2, 3)))
