"""The shared option helpers of the CLI (`cli/options.py`)."""

from __future__ import annotations

import logging
import types

import pytest

from optgan_cli.options import check_output_folder, path_override, warn_unused_locations


def _config(name: str = "cifar10", location_key: str = "root", root=None, download: bool = False,  # noqa: ANN001
            split: str = "train", extractor: str = "inception", inception_weights=None):  # noqa: ANN001
    data = types.SimpleNamespace(name=name, location_key=location_key, root=root, download=download, split=split)
    metrics = types.SimpleNamespace(extractor=extractor, inception_weights=inception_weights)
    return types.SimpleNamespace(data=data, metrics=metrics)


@pytest.mark.parametrize(("config", "warned"), [
    (_config(root="/d", download=True, split="test", inception_weights="/w.pth"), None),  # all read by cifar10
    (_config("npz", "path", root="/d"), "`data.root` (--data-root) = /d is not used by data.name 'npz'"),
    (_config("digits", None, download=True), "`data.download` = true is not used by data.name 'digits'"),
    (_config("npz", "path", split="test"), "`data.split` = test is not used by data.name 'npz'"),
    (_config("digits", None, split="test"), None),  # built in: its split is read
    (_config(extractor="classifier", inception_weights="/w.pth"),
     "`metrics.inception_weights` (--inception-weights) = /w.pth is not used by the 'classifier' extractor"),
])
def test_locations_the_config_never_reads_are_warned_about(config, warned, caplog) -> None:  # noqa: ANN001
    with caplog.at_level(logging.WARNING, logger="optgan"):
        warn_unused_locations(config)
    messages = [r.getMessage() for r in caplog.records]
    assert (messages == []) if warned is None else (len(messages) == 1 and warned in messages[0]), messages


def test_path_overrides_keep_the_path_a_string() -> None:
    assert path_override("data.root", "null") == 'data.root="null"'


def test_an_output_file_needs_an_existing_folder(tmp_path) -> None:
    from optgan.errors import OptganError

    check_output_folder(str(tmp_path / "g.json"))
    with pytest.raises(OptganError, match="folder .*typo does not exist"):
        check_output_folder(str(tmp_path / "typo" / "g.json"))
