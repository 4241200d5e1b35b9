"""The README's "Config reference" is generated from the config classes and must stay current;
every key in it is documented, and each key with its listed default is accepted by the
validator (so the table lists real keys with their real defaults)."""

from __future__ import annotations

import pathlib
import re

import pytest

from optgan.config.base import flatten, from_dict, to_dict
from optgan.config.yaml_input import apply_overrides
from optgan.config.reference import config_keys, reference_markdown
from optgan.config.study import StudyConfig
from optgan.config.train import TrainConfig

README = pathlib.Path(__file__).resolve().parents[2] / "README.md"


def test_readme_holds_the_current_reference() -> None:
    text = README.read_text()
    found = re.search(r"<!-- config-reference:start -->\n(.*?)<!-- config-reference:end -->", text, re.S)
    assert found, "README.md lacks the config-reference markers"
    assert found.group(1) == reference_markdown(), \
        "README.md's config reference is stale: regenerate it with `python -m optgan.config.reference`"


@pytest.mark.parametrize("cls", [StudyConfig, TrainConfig])
def test_every_key_is_documented_and_real(cls: type) -> None:
    keys = config_keys(cls)
    assert [k.key for k in keys if not k.doc] == []  # a new key needs a `#:` comment
    assert {k.key for k in keys} == set(flatten(to_dict(cls())))  # exactly the keys the stored form has
    # every key, set to its listed default the way `--set` writes it, validates to the defaults
    given = apply_overrides({}, [f"{k.key}={k.default}" for k in keys])
    assert from_dict(cls, given) == cls()
