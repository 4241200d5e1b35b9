"""The `classifier` extractor: deterministic cached training, accuracy, labelled scores, FID order."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from _metrics_helpers import load_cifar, make_images, random_images
from optgan.config.metrics import ClassifierConfig, MetricsConfig
from optgan.errors import MetricsError
from optgan.metrics import PopulationEvaluator, check_objectives_available, objective_display_name
from optgan.metrics import extractor_classifier as ec
from optgan.metrics.classifier_train import classifier_accuracy, train_classifier

TINY = ClassifierConfig(width=8, feature_dim=64, epochs=2, batch_size=64)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> PopulationEvaluator:
    cfg = MetricsConfig(extractor="classifier", metrics=("IS", "FID", "KID"), num_images=500, batch_size=250,
                        kid_subsets=10, kid_subset_size=200, classifier=TINY,
                        cache_dir=str(tmp_path_factory.mktemp("cache")))
    return PopulationEvaluator(cfg, load_cifar("train-10k", 2000), "cpu", progress=False)


def _blur(images: torch.Tensor) -> torch.Tensor:
    x = images.float()
    for _ in range(2):
        x = F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
    return x.round().clamp(0, 255).to(torch.uint8)


def test_accuracy_well_above_chance(trained: PopulationEvaluator) -> None:
    test = load_cifar("test-2k", 1000)
    acc = classifier_accuracy(trained.extractor.net, test.images, test.labels, torch.device("cpu"))
    assert acc > 0.25  # chance is 0.10 (the default settings reach ~0.66, see README 'Metrics')


def test_fid_orders_real_blurred_noise_and_keys_are_labelled(trained: PopulationEvaluator) -> None:
    test = load_cifar("test-2k", 500).images
    noise = random_images(500, size=32, seed=3).images
    real, blurred, rand = (trained.evaluate_images(x) for x in (test, _blur(test), noise))
    assert real.values.keys() >= {"FID_classifier", "IS_classifier", "KID_classifier"}
    assert not {"FID", "IS", "KID"} & real.values.keys()
    assert real.metric("FID") < blurred.metric("FID") < rand.metric("FID")
    assert real.metric("KID") < blurred.metric("KID") < rand.metric("KID")
    assert real.metric("IS") > rand.metric("IS")


def test_cached_under_content_hash(trained: PopulationEvaluator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ec, "train_classifier", lambda *a, **k: pytest.fail("retrained a cached classifier"))
    cfg = trained.cfg
    data = load_cifar("train-10k", 2000)
    net, key = ec.load_or_train_classifier(data, TINY, cfg.resolved_cache_dir, torch.device("cpu"), progress=False)
    assert key == trained.extractor.key
    for a, b in zip(net.state_dict().values(), trained.extractor.net.state_dict().values()):
        assert torch.equal(a, b)
    files = list((Path(cfg.resolved_cache_dir) / "classifier").iterdir())
    assert [f.name for f in files] == [f"{key}.pt"]


def test_training_is_deterministic() -> None:
    data = load_cifar("train-10k", 256)
    cfg = ClassifierConfig(width=4, feature_dim=16, epochs=1, batch_size=64, seed=5)
    a = train_classifier(data.images, data.labels, 10, cfg, torch.device("cpu"), progress=False)
    b = train_classifier(data.images, data.labels, 10, cfg, torch.device("cpu"), progress=False)
    for (name, x), y in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(x, y), name


def test_unlabelled_data_is_refused(tmp_path: Path) -> None:
    cfg = MetricsConfig(extractor="classifier", metrics=("FID",), cache_dir=str(tmp_path))
    unlabelled = make_images(random_images(16, size=32).images, None)
    with pytest.raises(MetricsError, match="labelled"):
        PopulationEvaluator(cfg, unlabelled, "cpu", progress=False)


def test_classifier_objectives_are_available_and_labelled(tmp_path: Path) -> None:
    cfg = MetricsConfig(extractor="classifier", metrics=("IS", "FID"), cache_dir=str(tmp_path))
    check_objectives_available(cfg, ("IS", "FID", "params_M"))  # no weights needed
    assert [objective_display_name(o, cfg.extractor) for o in ("IS", "FID", "params_M")] == [
        "IS_classifier", "FID_classifier", "params_M"]


def test_training_gives_the_same_weights_whatever_the_process_thread_count() -> None:
    """`optgan train` runs 1 CPU thread, `optgan eval` / `run` PyTorch's default: the classifier
    they train into one shared cache must be the same bits (it trains on one thread on the CPU),
    and building it never moves the global RNG (a resumed run's RNG state would differ)."""
    data = load_cifar("train-10k", 256)
    cfg = ClassifierConfig(width=8, feature_dim=16, epochs=1, batch_size=64, seed=5)
    before = torch.get_num_threads()
    nets = []
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            rng = torch.random.get_rng_state()
            nets.append(train_classifier(data.images, data.labels, 10, cfg, torch.device("cpu"), progress=False))
            assert torch.equal(rng, torch.random.get_rng_state())
            assert torch.get_num_threads() == threads  # restored
    finally:
        torch.set_num_threads(before)
    for (name, x), y in zip(nets[0].state_dict().items(), nets[1].state_dict().values()):
        assert torch.equal(x, y), name
