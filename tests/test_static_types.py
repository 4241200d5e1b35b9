"""The library, the CLI and the benchmarks type-check clean under mypy (the settings are pyproject.toml's
[tool.mypy]): optgan ships `py.typed`, so its annotations are a contract with users' type
checkers, and a wrong one is a bug of its own."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_optgan_and_cli_type_check_clean() -> None:
    """`mypy` (with pyproject.toml's settings) finds no error in optgan/, cli/ and bench/."""
    try:
        import mypy  # noqa: F401
    except ImportError:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip('mypy is not installed (it comes with `pip install -e ".[test]"`)')
    run = subprocess.run([sys.executable, "-m", "mypy", "--no-error-summary"], cwd=ROOT,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, f"mypy found errors:\n{run.stdout}{run.stderr}"


def test_optgan_is_marked_typed() -> None:
    """optgan/py.typed exists and pyproject.toml ships it (PEP 561)."""
    assert (ROOT / "optgan" / "py.typed").is_file()
    assert '"*" = ["py.typed"]' in (ROOT / "pyproject.toml").read_text()
