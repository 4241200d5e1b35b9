"""Every ingredient of a metrics cache key or extractor identity matters: changing any one of
them misses the cache (stale reference statistics or a stale classifier are never reused), and
the reference set is the evenly spaced pick it claims to be."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import numpy as np
import torch

from optgan.config.metrics import ClassifierConfig
from optgan.metrics import extractor_classifier as ec
from optgan.metrics.classifier_net import ClassifierNet
from optgan.metrics.extractor_classifier import ClassifierExtractor
from optgan.metrics.extractor_inception import InceptionExtractor
from optgan.metrics.reference import reference_indices, reference_statistics


class MeanExtractor:
    """Features = per-channel means × `scale` (a stand-in whose outputs depend on its identity)."""

    feature_dim, device = 3, torch.device("cpu")

    def __init__(self, scale: float) -> None:
        self.scale, self.identity = scale, {"extractor": "mean", "scale": scale}

    def __call__(self, images: torch.Tensor) -> tuple[torch.Tensor, None]:
        return images.float().mean(dim=(2, 3)) * self.scale, None


def _real(n: int = 10, fingerprint: str = "a") -> SimpleNamespace:
    images = (torch.arange(n).view(n, 1, 1, 1) * 20).expand(n, 3, 4, 4).to(torch.uint8).contiguous()
    return SimpleNamespace(images=images, fingerprint=fingerprint)


def _stats(real, extractor, tmp_path, **kw):  # noqa: ANN001, ANN202
    args = {"num_images": None, "need_features": False, "cache_dir": str(tmp_path), "batch_size": 4,
            "progress": False, **kw}
    return reference_statistics(real, extractor, **args)


def test_reference_statistics_miss_the_cache_when_an_ingredient_changes(tmp_path) -> None:
    real = _real()
    one = _stats(real, MeanExtractor(1.0), tmp_path)
    two = _stats(real, MeanExtractor(2.0), tmp_path)  # another extractor (weights, mode …)
    assert one.key != two.key and np.allclose(two.mu, 2 * one.mu)
    other_data = _stats(_real(fingerprint="b"), MeanExtractor(1.0), tmp_path)
    assert other_data.key != one.key
    with_features = _stats(real, MeanExtractor(1.0), tmp_path, need_features=True)  # KID needs them
    assert with_features.key != one.key and with_features.features is not None
    again = _stats(real, MeanExtractor(1.0), tmp_path)
    assert again.key == one.key and np.array_equal(again.mu, one.mu)  # a hit


def test_reference_set_is_the_evenly_spaced_pick(tmp_path) -> None:
    assert reference_indices(10, 3).tolist() == [0, 4, 9]  # linspace(0, 9, 3) rounded
    assert reference_indices(10, None).tolist() == list(range(10))
    real = _real()  # image i has the value 20·i everywhere
    picked = _stats(real, MeanExtractor(1.0), tmp_path, num_images=3)
    assert picked.num_images == 3 and np.allclose(picked.mu, [(0 + 80 + 180) / 3] * 3)
    assert picked.key != _stats(real, MeanExtractor(1.0), tmp_path).key


def test_the_classifier_cache_key_holds_its_data_and_settings(tmp_path, monkeypatch) -> None:
    trained: list[tuple[str, int]] = []

    def fake_train(images, labels, num_classes, cfg, device, progress):  # noqa: ANN001, ANN202
        trained.append((str(len(images)), cfg.width))
        return ClassifierNet(num_classes, cfg.width, cfg.feature_dim, generator=torch.Generator().manual_seed(0))

    monkeypatch.setattr(ec, "train_classifier", fake_train)
    images = torch.zeros(8, 3, 8, 8, dtype=torch.uint8)
    data = SimpleNamespace(images=images, labels=torch.arange(8) % 2, fingerprint="a", classes=None, name="t")
    cfg = ClassifierConfig(width=4, feature_dim=8, epochs=1)
    keys = [ec.load_or_train_classifier(data, cfg, str(tmp_path), torch.device("cpu"), progress=False)[1]]
    keys.append(ec.load_or_train_classifier(data, dataclasses.replace(cfg, width=8), str(tmp_path),
                                            torch.device("cpu"), progress=False)[1])
    keys.append(ec.load_or_train_classifier(SimpleNamespace(**{**vars(data), "fingerprint": "b"}), cfg,
                                            str(tmp_path), torch.device("cpu"), progress=False)[1])
    assert len(set(keys)) == 3 and len(trained) == 3
    assert ec.load_or_train_classifier(data, cfg, str(tmp_path), torch.device("cpu"), progress=False)[1] == keys[0]
    assert len(trained) == 3  # the fourth was a hit


def test_extractor_identities_name_their_weights_and_mode() -> None:
    def classifier(seed: int) -> dict:
        net = ClassifierNet(2, 4, 8, generator=torch.Generator().manual_seed(seed))
        return ClassifierExtractor(net, "same-key", torch.device("cpu")).identity

    assert classifier(0) == classifier(0) and classifier(0) != classifier(1)  # retrained elsewhere: differs

    def inception(sha: str, mode: str) -> dict:
        ns = SimpleNamespace(weights=SimpleNamespace(sha256=sha), mode=mode, fast_precision="bf16",
                             compiled=False, compile_mode="default")
        return InceptionExtractor.identity.fget(ns)

    assert inception("a", "exact") != inception("b", "exact")
    assert inception("a", "exact") != inception("a", "fast")


def test_a_replaced_weights_file_gets_its_new_hash_in_the_same_process(tmp_path) -> None:
    """`file_sha256` memoises per (path, size, mtime): a file replaced under the same name (and
    size) is hashed anew, so the extractor identity and reference keys follow it."""
    import hashlib
    import os

    from optgan.metrics.cache import file_sha256

    path = tmp_path / "w.pth"
    path.write_bytes(b"a" * 64)
    first = file_sha256(path)
    path.write_bytes(b"b" * 64)
    os.utime(path, ns=(os.stat(path).st_atime_ns, os.stat(path).st_mtime_ns + 1_000_000))
    assert first == hashlib.sha256(b"a" * 64).hexdigest()
    assert file_sha256(path) == hashlib.sha256(b"b" * 64).hexdigest()
