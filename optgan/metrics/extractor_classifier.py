"""The `classifier` extractor: a small CNN trained on the study's labelled training images.

For CPU machines, offline machines and custom data sets. The network is trained once per
(data fingerprint, classifier settings) and cached under the content hash of both; its
penultimate ReLU features give FID / KID and its softmax gives IS. Scores computed with it
are always labelled (`FID_classifier`, ...; see :mod:`optgan.metrics.keys`) and are not
comparable with canonical Inception scores or with another data set's classifier.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import torch

from optgan.backends import tf32_allowed
from optgan.config.metrics import ClassifierConfig, MetricsConfig
from optgan.errors import MetricsError
from optgan.metrics.cache import atomic_torch_save, content_hash, load_cached, tensors_sha256
from optgan.metrics.classifier_net import ClassifierNet
from optgan.metrics.classifier_train import train_classifier
from optgan.metrics.extractor_base import FeatureExtractor, RealImages, register_extractor

log = logging.getLogger(__name__)

__all__ = ["ClassifierExtractor", "load_or_train_classifier", "CLASSIFIER_FORMAT"]

#: bump when the network, its training or its preprocessing changes (invalidates caches)
CLASSIFIER_FORMAT = "optgan.classifier.v1"


class ClassifierExtractor(FeatureExtractor):
    """uint8 images → (ReLU embedding, class logits) of a trained ClassifierNet (fp32, eval mode)."""

    name = "classifier"
    has_logits = True

    def __init__(self, net: ClassifierNet, key: str, device: torch.device) -> None:
        super().__init__(device)
        self.net = net.to(device).eval().requires_grad_(False)
        self.key = key
        self.feature_dim = net.head.in_features
        #: the trained weights themselves: a classifier retrained elsewhere (another device) differs
        self.weights_sha256 = tensors_sha256(self.net.state_dict())

    @property
    def identity(self) -> dict[str, Any]:
        return {"extractor": CLASSIFIER_FORMAT, "classifier": self.key, "weights_sha256": self.weights_sha256}

    def extract(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        with tf32_allowed(False):
            return self.net(images)


def check_classifier_labels(train: RealImages) -> int:
    """The number of classes the classifier extractor would learn from `train`; a MetricsError
    when its images have no labels or fewer than 2 classes."""
    if train.labels is None:
        raise MetricsError(f"the classifier extractor needs labelled training images, but "
                           f"{getattr(train, 'name', 'the data set')} has no labels; use `metrics.extractor: inception`")
    classes = getattr(train, "classes", None)
    num_classes = max(int(train.labels.max()) + 1, len(classes) if classes else 0)
    if num_classes < 2:
        raise MetricsError("the classifier extractor needs at least 2 classes in the training labels")
    return num_classes


def load_or_train_classifier(train: RealImages, cfg: ClassifierConfig, cache_dir: str,
                             device: torch.device, progress: bool = True) -> tuple[ClassifierNet, str]:
    """The classifier for `train` and `cfg` from the cache, trained (and cached) on a miss."""
    num_classes = check_classifier_labels(train)
    assert train.labels is not None  # checked just above
    labels = train.labels.to(torch.int64).cpu()
    key = content_hash({"format": CLASSIFIER_FORMAT, "data": train.fingerprint, "num_classes": num_classes,
                        "size": list(train.images.shape[1:]), "settings": dataclasses.asdict(cfg)})
    path = Path(cache_dir) / "classifier" / f"{key}.pt"
    net = ClassifierNet(num_classes, cfg.width, cfg.feature_dim)
    cached = load_cached(path)
    if cached is not None and cached.get("format") == CLASSIFIER_FORMAT:
        net.load_state_dict(cached["state_dict"])
        log.info("classifier extractor loaded from %s", path)
        return net.eval(), key
    log.info("training the classifier extractor on %d images (cached as %s)", len(labels), path)
    net = train_classifier(train.images, labels, num_classes, cfg, device, progress)
    state = {k: v.detach().cpu() for k, v in net.state_dict().items()}
    atomic_torch_save({"format": CLASSIFIER_FORMAT, "state_dict": state, "num_classes": num_classes}, path)
    return net, key


def _factory(cfg: MetricsConfig, device: torch.device, train_images: RealImages | None, progress: bool) -> ClassifierExtractor:
    if train_images is None:
        raise MetricsError("the classifier extractor needs the study's labelled training images")
    net, key = load_or_train_classifier(train_images, cfg.classifier, cfg.resolved_cache_dir, device, progress)
    return ClassifierExtractor(net, key, device)


register_extractor("classifier", _factory)
