"""What `optgan study create` stores and `optgan run` may change (`optgan.config.study`):
paths made absolute (a `~` path stays per user), and only machine settings changed on a run."""

from __future__ import annotations

import os

import pytest

from optgan.config.yaml_input import apply_overrides
from optgan.config.study import study_config_from_dict, with_absolute_paths, with_machine_settings
from optgan.errors import ConfigError


def _config(*overrides: str):  # noqa: ANN202
    return study_config_from_dict(apply_overrides({}, list(overrides)))


def test_stored_paths_are_absolute_except_home_relative_ones(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    got = with_absolute_paths(_config("data.root=~/data", "run_dir=runs/s", "metrics.cache_dir=cache"))
    assert got.data.root == "~/data"
    assert got.run_dir == str(tmp_path / "runs" / "s") and got.metrics.cache_dir == str(tmp_path / "cache")


def test_a_run_may_change_where_things_are_made_absolute(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    stored = with_absolute_paths(_config("data.root=/data"))
    got = with_machine_settings(stored, ["data.root=moved", "cpu_threads=2"])
    assert got.data.root == str(tmp_path / "moved") and got.cpu_threads == 2
    assert got.seed == stored.seed and got.sampler == stored.sampler


def test_a_run_names_an_unknown_key_as_unknown(tmp_path) -> None:
    with pytest.raises(ConfigError, match="unknown key `no_such_key`"):
        with_machine_settings(_config(), ["no_such_key=1"])
    with pytest.raises(ConfigError, match="`seed` is part of the search"):
        with_machine_settings(_config(), ["seed=3"])
    assert os.path.isabs(with_machine_settings(_config(), ["device=cpu"]).data.resolved_root)
