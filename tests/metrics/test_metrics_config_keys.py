"""MetricsConfig validation, labelled result keys, and the one quantisation formula."""

from __future__ import annotations

import pytest
import torch

from optgan.config.base import from_dict, to_dict
from optgan.config.metrics import MetricsConfig
from optgan.errors import ConfigError
from optgan.metrics import keys, objective_display_name, quantize_to_uint8, result_key, result_keys


def test_defaults_round_trip() -> None:
    cfg = MetricsConfig()
    assert cfg.extractor == "inception" and cfg.metrics == ("IS", "FID") and cfg.num_images == 5000
    assert from_dict(MetricsConfig, to_dict(cfg)) == cfg


@pytest.mark.parametrize("data,match", [
    ({"extractor": "vgg"}, "metrics.extractor|extractor"),
    ({"metrics": ["FID", "PRC"]}, "PRC"),
    ({"metrics": []}, "empty"),
    ({"metrics": ["FID", "FID"]}, "duplicates"),
    ({"num_images": 1}, "num_images"),
    ({"is_splits": 20, "num_images": 10}, "is_splits"),
    ({"metrics": ["KID"], "kid_subset_size": 6000}, "kid_subset_size"),
    ({"mode": "turbo"}, "mode"),
    ({"classifier": {"epochs": 0}}, "classifier.epochs"),
    ({"classifier": {"colour": 1}}, "colour"),
    ({"inception_weights": " "}, "inception_weights"),
])
def test_invalid_configs_name_the_key(data: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        from_dict(MetricsConfig, data)


def test_canonical_and_labelled_keys_never_collide() -> None:
    assert result_key("FID", "inception") == keys.FID == "FID"
    assert result_key("IS", "classifier") == keys.IS_CLASSIFIER == "IS_classifier"
    assert result_key("KID", "classifier", std=True) == keys.KID_CLASSIFIER_STD
    canonical = set(result_keys(("IS", "FID", "KID"), "inception"))
    labelled = set(result_keys(("IS", "FID", "KID"), "classifier"))
    assert canonical & labelled == {keys.NUM_IMAGES}
    assert objective_display_name("FID", "classifier") == "FID_classifier"
    assert objective_display_name("params_M", "classifier") == "params_M"
    with pytest.raises(ValueError):
        result_key("FID", "inception", std=True)


def test_quantisation_formula_and_rounding() -> None:
    x = torch.tensor([-2.0, -1.0, -0.5, 0.0, 1 / 255, 0.999, 1.0, 3.0])
    expected = ((x * 127.5 + 127.5).round().clamp(0, 255)).to(torch.uint8)
    assert torch.equal(quantize_to_uint8(x), expected)
    assert quantize_to_uint8(torch.tensor([-1.0, 1.0])).tolist() == [0, 255]


def test_quantisation_is_the_trainers_to_uint8() -> None:
    from optgan.trainer.data import images

    assert quantize_to_uint8 is images.to_uint8  # one formula for real and generated images
    # real images survive the round trip uint8 → [-1, 1] → uint8 exactly
    u = torch.arange(256, dtype=torch.uint8)
    assert torch.equal(quantize_to_uint8(images.to_float(u)), u)
