"""The one quantisation of generated images: [-1, 1] floats → uint8, exactly as real images are stored.

It lives with the image sets (`optgan.trainer.data.images.to_uint8`) and is re-exported here under
the name the metrics use, so generated and real images reach the extractor through one formula.
"""

from __future__ import annotations

from optgan.trainer.data.images import to_uint8 as quantize_to_uint8

__all__ = ["quantize_to_uint8"]
