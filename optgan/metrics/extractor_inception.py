"""The canonical extractor: torch-fidelity's TF-compatible InceptionV3 (`inception-v3-compat`).

pool3 (2048-d) features give FID / KID, the 1008-way logits without bias give IS (SPEC §5).
`exact` mode runs in IEEE fp32 (TF32 disabled inside, whatever the caller's global flags),
so scores are the same on every GPU; `fast` mode (CUDA only) runs in bf16 autocast or TF32,
with channels_last weights and optionally `torch.compile`, and deviates slightly (measured
by `bench/eval.py`); its reference statistics are cached separately.
"""

from __future__ import annotations

import logging
from typing import Any

import torch

from optgan.config.metrics import MetricsConfig
from optgan.errors import MetricsError
from optgan.metrics.extractor_base import FeatureExtractor, RealImages, precision, register_extractor
from optgan.metrics.inception_weights import InceptionWeights, resolve_inception_weights

log = logging.getLogger(__name__)

__all__ = ["InceptionExtractor", "IS_NEEDS_FULL_WEIGHTS"]

CPU_CHUNK = 8
"""Images per forward on a CPU. Small batches are faster there (2 cores, batch 8: 10.7 images/s,
64: 7.6) and a Ctrl-C, which waits for the forward under way, acts within about a second."""

IS_NEEDS_FULL_WEIGHTS = (
    "IS needs the full Inception weights (logits), but only pool3-only weights ({source}) were found; "
    "set `metrics.inception_weights` (--inception-weights) to weights-inception-2015-12-05-6726825d.pth "
    "(or go online once so torch-fidelity downloads it), or drop IS from `metrics.metrics` (and a study's `objectives`)"
)


class InceptionExtractor(FeatureExtractor):
    """uint8 images → pool3 features (and unbiased logits when `want_logits`)."""

    name = "inception"
    feature_dim = 2048

    def __init__(self, weights: InceptionWeights, device: torch.device, *, want_logits: bool,
                 mode: str = "exact", fast_precision: str = "bf16", compile: bool = False,
                 cudnn_benchmark: bool = False, compile_mode: str = "default") -> None:
        super().__init__(device)
        if want_logits and weights.pool3_only:
            raise MetricsError(IS_NEEDS_FULL_WEIGHTS.format(source=weights.source))
        if mode == "fast" and device.type != "cuda":
            log.warning("`metrics.mode` fast needs CUDA; running the exact fp32 mode on %s", device)
            mode = "exact"
        self.weights, self.mode, self.fast_precision = weights, mode, fast_precision
        self.cudnn_benchmark, self.compile_mode = cudnn_benchmark, compile_mode
        self.has_logits = want_logits
        from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3  # slow import: lazy

        layers = ["2048", "logits_unbiased"] if want_logits else ["2048"]
        with torch.random.fork_rng(devices=[]):
            net = FeatureExtractorInceptionV3("inception-v3-compat", layers, feature_extractor_weights_path=weights.path)
        self.net = net.to(device)
        self._forward: Any = self.net
        self._pad_to = 0  # compiled: batches are padded to the largest seen, so shapes never change
        if mode == "fast":
            self.net.to(memory_format=torch.channels_last)
            if compile:
                self._forward = torch.compile(self.net, dynamic=False, mode=compile_mode)

    @property
    def identity(self) -> dict[str, Any]:
        mode = self.mode if self.mode == "exact" else f"fast-{self.fast_precision}"
        if self.compiled and self.compile_mode != "default":  # other kernels: other last bits
            mode += f"-{self.compile_mode}"
        return {"extractor": "inception-v3-compat", "weights_sha256": self.weights.sha256, "mode": mode,
                "preprocessing": "uint8, TF1-compatible bilinear resize to 299 (torch-fidelity 0.4)"}

    @property
    def compiled(self) -> bool:
        return self._forward is not self.net

    def extract(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        n = len(images)
        images = images.contiguous()  # one layout (generated images may be channels_last): no recompiles
        if self.compiled:
            self._pad_to = max(self._pad_to, n)
            if n < self._pad_to:  # a short last batch: pad instead of compiling another graph
                images = torch.cat([images, images.new_zeros((self._pad_to - n, *images.shape[1:]))])
        with precision(self.mode, self.fast_precision, self.device, autotune=self.cudnn_benchmark):
            if self.device.type == "cpu" and not self.compiled and n > CPU_CHUNK:
                outs = [self._forward(chunk) for chunk in images.split(CPU_CHUNK)]
                out = [torch.cat(parts) for parts in zip(*outs)]
            else:
                out = self._forward(images)
        features = out[0][:n].float()
        logits = out[1][:n].float() if self.has_logits else None
        return features, logits


def _factory(cfg: MetricsConfig, device: torch.device, train_images: RealImages | None, progress: bool) -> InceptionExtractor:
    weights = resolve_inception_weights(cfg.inception_weights, cfg.resolved_cache_dir, cfg.inception_download)
    return InceptionExtractor(weights, device, want_logits="IS" in cfg.metrics, mode=cfg.mode,
                              fast_precision=cfg.fast_precision, compile=cfg.compile,
                              cudnn_benchmark=cfg.cudnn_benchmark, compile_mode=cfg.compile_mode)


register_extractor("inception", _factory)
