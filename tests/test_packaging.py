"""Packaging: every library package is installed, `cli/` is `optgan_cli`, `tests` is ours."""

from __future__ import annotations

import pathlib
import tomllib

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_every_package_is_listed() -> None:
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {
        ".".join(p.parent.relative_to(ROOT).parts)
        for p in (ROOT / "optgan").rglob("__init__.py")
    }
    assert found <= listed, f"add to pyproject packages: {sorted(found - listed)}"
    assert "optgan_cli" in listed and "cli" not in listed


def test_no_top_level_cli_module_and_search_space_is_torch_free() -> None:
    import subprocess
    import sys

    code = (
        "import importlib.util, sys\n"
        "import optgan.search_space, optgan.sampler\n"
        "assert 'torch' not in sys.modules, 'search_space/sampler must not import torch'\n"
        "import optgan_cli\n"
        "assert importlib.util.find_spec('cli') is None or 'site-packages' not in str(importlib.util.find_spec('cli').origin)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd="/")


def test_this_tests_package_is_the_projects() -> None:
    # torch-fidelity 0.4.0 installs a top-level `tests` package; with --import-mode=importlib and
    # rootdir-relative collection our files are imported from this checkout, never from there.
    assert pathlib.Path(__file__).resolve().is_relative_to(ROOT / "tests")
