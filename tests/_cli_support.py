"""Helpers shared by the CLI tests: invoking `optgan` in-process and checking its one-line errors.

Import it as `from _cli_support import …` (tests/conftest.py puts this folder on `sys.path`).
"""

from __future__ import annotations

import pathlib

from click.testing import CliRunner, Result

from optgan_cli.main import main

ROOT = pathlib.Path(__file__).resolve().parents[1]
#: the ready study configs
STUDIES = ROOT / "studies"
#: the tiny synthetic-engine study config (no data, no training)
DRY = str(STUDIES / "dry-run.yaml")


def invoke(*args: str, input: str | None = None) -> Result:  # noqa: A002 - click's own name
    """`optgan ARGS…` in-process. An exception the CLI does not turn into an exit status is raised,
    not hidden behind exit code 1."""
    return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)


def readme_block(marker: str) -> str:
    """The text between `<!-- ci:MARKER:start -->` and `<!-- ci:MARKER:end -->` in README.md
    (what `.ci/run` executes)."""
    text = (ROOT / "README.md").read_text()
    return text.split(f"<!-- ci:{marker}:start -->", 1)[1].split(f"<!-- ci:{marker}:end -->", 1)[0]


def one_line_error(r: Result, needle: str) -> str:
    """Assert `r` failed as a user mistake: exit status 2 and one line `error: …` on stderr that
    contains `needle`; returns that line."""
    assert r.exit_code == 2, (r.stdout, r.stderr)
    err = r.stderr.strip()
    assert err.startswith("error: ") and "\n" not in err and needle in err, err
    return err
