"""The fixed AutoGAN-style discriminator of the MMD recipe (MMD-AdversarialNAS)."""

from __future__ import annotations

import torch

from optgan.supernet.autogan_disc import AutoGANDiscriminator


def _expected_params(c: int, out: int) -> int:
    conv3 = c * c * 9 + c
    block1 = (3 * c * 9 + c) + conv3 + (3 * c + c)
    block2 = 2 * conv3 + (c * c + c)
    return block1 + block2 + 4 * conv3 + c * out


def test_param_count_at_paper_width() -> None:
    d = AutoGANDiscriminator(512, 16)
    assert sum(p.numel() for p in d.parameters()) == _expected_params(512, 16) == 16_805_888


def test_shapes_and_spectral_norm() -> None:
    d = AutoGANDiscriminator(16, 16)
    assert d(torch.randn(3, 3, 16, 16)).shape == (3, 16)
    assert d(torch.randn(2, 3, 48, 48)).shape == (2, 16)
    names = [n for n, _ in d.named_parameters()]
    assert all(not n.endswith(".weight") for n in names)  # every weight is spectral-normalised
    assert sum(n.endswith("weight_orig") for n in names) == 3 + 3 + 2 + 2 + 1
    assert AutoGANDiscriminator(8, 1)(torch.randn(2, 3, 8, 8)).shape == (2, 1)
