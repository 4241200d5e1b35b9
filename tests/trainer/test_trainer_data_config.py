"""`DataConfig` validation: required paths, misplaced paths, ranges, Literals, root resolution."""

from __future__ import annotations

import os

import pytest

from optgan.config.base import from_dict, to_dict
from optgan.config.data import DEFAULT_DATA_ROOT, DataConfig
from optgan.errors import ConfigError


def test_defaults_and_round_trip() -> None:
    cfg = from_dict(DataConfig, {"name": "cifar10"})
    assert (cfg.root, cfg.path, cfg.split, cfg.download, cfg.max_images) == (None, None, "train", False, None)
    assert cfg.resolved_root == os.path.abspath(os.path.expanduser(DEFAULT_DATA_ROOT))
    full = from_dict(DataConfig, {"name": "npz", "path": "x.npz", "split": "test", "max_images": 10})
    assert from_dict(DataConfig, to_dict(full)) == full
    assert hash(full) == hash(from_dict(DataConfig, to_dict(full)))
    # a partial section is completed with the same defaults as a missing one (`name`: cifar10)
    assert from_dict(DataConfig, {"root": "/d"}) == DataConfig(name="cifar10", root="/d")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "npz"}, "`data.path` is required when `data.name` is 'npz'"),
        ({"name": "folder"}, "`data.path` is required when `data.name` is 'folder'"),
        ({"name": "cifar10", "path": "x.npz"}, "`data.path` is only used by `data.name` 'npz' or 'folder', not "
                                               "'cifar10' (which reads `data.root` / --data-root)"),
        ({"name": "digits", "path": "x.npz"}, "not 'digits' (which comes with scikit-learn and reads no file)"),
        ({"name": "digits", "max_images": 0}, "`data.max_images` = 0 is out of range"),
        ({"name": "mnist"}, "`name` = 'mnist' is not allowed; allowed values: 'cifar10', 'stl10', 'npz', 'folder', 'digits'"),
        ({"name": "digits", "split": "val"}, "`split` = 'val' is not allowed"),
        ({"name": "cifar10", "download": "yes"}, "`download` must be true or false"),
        ({"name": "cifar10", "dataroot": "x"}, "unknown key `dataroot`"),
    ],
)
def test_invalid(data: dict, message: str) -> None:
    with pytest.raises(ConfigError) as e:
        from_dict(DataConfig, data)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_root_expands_user() -> None:
    assert DataConfig(name="stl10", root="~/d").resolved_root == os.path.join(os.path.expanduser("~"), "d")
