"""tests/constraints.txt pins every dependency the suite installs, and the README's test block uses it."""

from __future__ import annotations

import os
import pathlib
import re

import pytest
from _cli_support import readme_block
from _constraints import CONSTRAINTS, NOT_PINNED_HERE, canonical, direct_dependencies, installed, pinned

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _test_block() -> str:
    return readme_block("test-block")


def test_every_direct_dependency_is_pinned() -> None:
    missing = {d for d in direct_dependencies() if not NOT_PINNED_HERE.match(d)} - set(pinned())
    assert not missing, f"add to {CONSTRAINTS.name} (python tests/_constraints.py --write): {sorted(missing)}"


def test_pins_leave_alone_what_other_lines_pin() -> None:
    """torch & co come from the test block's own install line; pinning them here too could clash."""
    assert not [n for n in pinned() if NOT_PINNED_HERE.match(n)]


def test_parser_rejects_what_pip_would_not_read_as_a_pin(tmp_path: pathlib.Path) -> None:
    f = tmp_path / "c.txt"
    f.write_text("# header\n\nNumPy==2.0.0\n")
    assert pinned(f) == {"numpy": "2.0.0"}
    for bad in ("numpy>=2\n", "numpy==2\nnumpy==3\n", "numpy\n"):
        f.write_text(bad)
        with pytest.raises(ValueError):
            pinned(f)
    assert canonical("typing_extensions") == canonical("Typing.Extensions") == "typing-extensions"


def test_readme_test_block_installs_with_the_constraints() -> None:
    lines = [line for line in _test_block().splitlines() if line.startswith("pip install -e ")]
    assert lines and all(re.search(r"\s-c tests/constraints\.txt(\s|$)", line) for line in lines), lines


def test_ci_installed_exactly_the_pinned_versions() -> None:
    """Under CI=true (a fresh venv from the test block) every pin is installed at its version: the
    block really used the file, and no pin is stale (for a package nothing installs any more)."""
    if os.environ.get("CI") != "true":
        pytest.skip("compares against a fresh CI install; a developer's venv may hold other versions")
    have = installed()
    wrong = {n: (v, have.get(n)) for n, v in pinned().items() if have.get(n) != v}
    assert not wrong, f"pinned vs installed: {wrong}"
