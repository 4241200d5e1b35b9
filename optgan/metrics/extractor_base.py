"""The feature-extractor interface, its validated registry, and the numeric-precision contexts.

An extractor maps uint8 images N×3×H×W (on its device) to float32 features N×D and, when it
can, logits N×C (for IS). `identity` describes everything that changes its outputs (weights
hash, precision mode); it is part of every reference-statistics cache key. Extractors are
created by name through :func:`create_extractor`; :func:`register_extractor` validates names
before inserting, like torch-fidelity's registry.
"""

from __future__ import annotations

import abc
import contextlib
import json
import re
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Protocol

import torch

from optgan.backends import cudnn_autotune, tf32_allowed
from optgan.errors import MetricsError

if TYPE_CHECKING:
    from optgan.config.metrics import MetricsConfig

__all__ = [
    "FeatureExtractor", "RealImages", "ExtractorFactory", "register_extractor", "create_extractor",
    "registered_extractors", "precision", "identity_change",
]


class RealImages(Protocol):
    """What the metrics need of a data set (`optgan.trainer.data.ImageSet` fits)."""

    @property
    def images(self) -> torch.Tensor:
        """uint8 N×3×H×W."""

    @property
    def labels(self) -> torch.Tensor | None:
        """int64 (N,) or None."""

    @property
    def fingerprint(self) -> str:
        """Content hash of images, labels and source."""


class FeatureExtractor(abc.ABC):
    """uint8 images → (float32 features, float32 logits or None)."""

    #: registry name, also the label of the scores (`inception` = canonical names)
    name: str = ""
    feature_dim: int = 0
    #: whether `extract` returns logits (IS is possible)
    has_logits: bool = False

    def __init__(self, device: torch.device) -> None:
        self.device = device

    @property
    @abc.abstractmethod
    def identity(self) -> dict[str, Any]:
        """Everything that changes the outputs (weights hash, precision); a cache-key part."""

    @abc.abstractmethod
    def extract(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Features (N×D float32) and logits (N×C float32, or None) of uint8 N×3×H×W images."""

    def __call__(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        assert images.dtype == torch.uint8 and images.ndim == 4 and images.shape[1] == 3, (images.dtype, images.shape)
        with torch.inference_mode():
            return self.extract(images.to(self.device, non_blocking=True))


def identity_change(before: dict[str, Any], now: dict[str, Any]) -> tuple[str, str] | None:
    """How extractor identity `now` differs from a recorded one, or None when they are the same.

    Returns (the differing keys in words, the cause): `extractor` (another extractor), `classifier`
    (a classifier trained elsewhere or by another optgan), `weights` (another Inception weights
    file), `version` (another optgan's preprocessing or extractor format) or `mode` (another
    precision mode, e.g. `fast` falling back to exact fp32 without CUDA).
    """
    now = json.loads(json.dumps(now))  # as stored: tuples are lists
    if before == now:
        return None
    changed = sorted(k for k in set(before) | set(now) if before.get(k) != now.get(k))
    shown = "; ".join(f"{k} {short_hash(now.get(k))} now, {short_hash(before.get(k))} before" for k in changed)
    family = [str(d.get("extractor", "")).rsplit(".v", 1)[0] for d in (before, now)]  # optgan.classifier.v1 → …
    if family[0] != family[1]:
        cause = "extractor"
    elif "preprocessing" in changed or now.get("extractor") != before.get("extractor"):
        cause = "version"
    elif "classifier" in now:
        cause = "classifier"
    elif "weights_sha256" in changed:
        cause = "weights"
    else:
        cause = "mode"
    return shown, cause


def short_hash(value: Any) -> str:
    """A hash shortened to 12 characters and `…`; other values as they are."""
    text = str(value)
    return text[:12] + "…" if len(text) >= 32 and all(c in "0123456789abcdef" for c in text) else text


ExtractorFactory = Callable[["MetricsConfig", torch.device, "RealImages | None", bool], FeatureExtractor]
_REGISTRY: dict[str, ExtractorFactory] = {}


def register_extractor(name: str, factory: ExtractorFactory) -> None:
    """Add an extractor factory `(cfg, device, train_images, progress) -> FeatureExtractor`."""
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise ValueError(f"extractor name {name!r} must be lower-case letters, digits and '_'")
    if name in _REGISTRY:
        raise ValueError(f"extractor {name!r} is already registered")
    if not callable(factory):
        raise TypeError(f"factory of extractor {name!r} is not callable")
    _REGISTRY[name] = factory


def registered_extractors() -> tuple[str, ...]:
    return tuple(sorted(_REGISTRY))


def create_extractor(
    cfg: "MetricsConfig", device: torch.device | str, train_images: RealImages | None = None, progress: bool = True
) -> FeatureExtractor:
    """The extractor `cfg.extractor` on `device` (`train_images`: what `classifier` trains on)."""
    factory = _REGISTRY.get(cfg.extractor)
    if factory is None:
        raise MetricsError(f"`metrics.extractor` = {cfg.extractor!r} is not registered; "
                           f"available: {', '.join(registered_extractors())}")
    return factory(cfg, torch.device(device), train_images, progress)


@contextlib.contextmanager
def precision(mode: str, fast_precision: str, device: torch.device, *, autotune: bool = False) -> Iterator[None]:
    """`exact`: IEEE fp32. `fast` on CUDA: bf16 autocast or TF32 (on the CPU `fast` = `exact`).

    `autotune`: cuDNN picks conv algorithms by timing them (see :func:`optgan.backends.cudnn_autotune`).
    """
    fast = mode == "fast" and device.type == "cuda"
    with tf32_allowed(fast and fast_precision == "tf32"), cudnn_autotune(autotune and device.type == "cuda"):
        if fast and fast_precision == "bf16":
            with torch.autocast("cuda", dtype=torch.bfloat16):
                yield
        else:
            yield
