"""The one quantisation of generated images: [-1, 1] floats → uint8, exactly as real images are stored.

`optgan.trainer.data.images.to_uint8` is the same formula; a test checks that the two agree bit
for bit, so generated and real images always reach the extractor through identical pixels.
"""

from __future__ import annotations

import torch

__all__ = ["quantize_to_uint8"]


def quantize_to_uint8(x: torch.Tensor) -> torch.Tensor:
    """Float images in [-1, 1] → uint8 via (x · 127.5 + 127.5).round().clamp(0, 255)."""
    return (x * 127.5 + 127.5).round().clamp(0, 255).to(torch.uint8)
