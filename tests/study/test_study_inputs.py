"""What a search's scores depend on besides its config is recorded once and compared on every run."""

from __future__ import annotations

import pathlib

import pytest

from optgan import keys
from optgan.config.study import load_study_config
from optgan.errors import ConfigError
from optgan.study.inputs import check_same_data, check_same_extractor, record_inputs
from optgan.study.search import stage_study_name
from optgan.study.create import create_search

ROOT = pathlib.Path(__file__).resolve().parents[2]
INCEPTION = {"extractor": "inception-v3-compat", "weights_sha256": "a" * 64, "mode": "fast-bf16",
             "preprocessing": "uint8, TF1-compatible bilinear resize to 299 (torch-fidelity 0.4)"}


class _Images:
    def __init__(self, fingerprint: str, name: str = "npz:train", n: int = 10) -> None:
        self.fingerprint, self.name, self._n = fingerprint, name, n

    def __len__(self) -> int:
        return self._n


@pytest.fixture
def search(tmp_path):
    return create_search("s", load_study_config(str(ROOT / "studies" / "dry-run.yaml")),
                         f"sqlite:///{tmp_path / 'db.sqlite'}", str(tmp_path / "run"))


def _attrs(search) -> dict:
    return search.storage.get_study_user_attrs(search.storage.get_study_id_from_name(stage_study_name("s", "gen")))


def test_the_first_run_records_and_later_runs_compare_the_data(search) -> None:
    pending = check_same_data(search, _Images("e" * 64))
    assert keys.DATA_IDENTITY not in _attrs(search)  # a first run that fails before saving records nothing
    pending = check_same_data(search, _Images("f" * 64))  # so a rerun with the right data is accepted
    record_inputs(search, pending)
    assert check_same_data(search, _Images("f" * 64)) == {}
    assert _attrs(search)[keys.DATA_IDENTITY] == {"name": "npz:train", "num_images": 10, "fingerprint": "f" * 64}
    check_same_data(search, _Images("f" * 64, name="npz:renamed-copy"))  # the content counts, not the name
    with pytest.raises(ConfigError, match=r"\(npz:other, 10 images, fingerprint eeeeeeeeeeee…\) is not the one "
                                          r"search 's' was created with \(npz:train, 10 images"):
        check_same_data(search, _Images("e" * 64, name="npz:other"))


@pytest.mark.parametrize(("change", "hint"), [
    ({"weights_sha256": "b" * 64}, "pass the same weights file with `optgan run s --inception-weights FILE`"),
    ({"mode": "exact"}, "run it on the kind of device it began on"),
    ({"extractor": "optgan.classifier.v1"}, "was the search's study edited?"),
])
def test_another_extractor_is_refused_with_a_fix(search, change: dict, hint: str) -> None:
    record_inputs(search, check_same_extractor(search, INCEPTION))
    assert check_same_extractor(search, dict(INCEPTION)) == {}  # the same identity passes
    with pytest.raises(ConfigError, match="the feature extractor differs from the one search 's' was scored with") as e:
        check_same_extractor(search, INCEPTION | change)
    assert hint in str(e.value) and "\n" not in str(e.value)
    changed = next(iter(change))
    assert f"{changed} " in str(e.value)  # names what differs


def test_a_retrained_classifier_points_at_the_cached_one(search) -> None:
    first = {"extractor": "optgan.classifier.v1", "classifier": "c" * 64, "weights_sha256": "1" * 64}
    record_inputs(search, check_same_extractor(search, first))
    with pytest.raises(ConfigError, match=r"weights_sha256 222222222222… now, 111111111111… before.*copy the trained classifier"):
        check_same_extractor(search, first | {"weights_sha256": "2" * 64})
