"""Suite-wide setup: make the helper modules in this folder importable (e.g. `_shared_data`).

With `--import-mode=importlib` the test folders are not put on `sys.path`, and the package
name `tests` belongs to torch-fidelity's wheel, so helpers are imported by their own module
names (`from _shared_data import shared_data_dir`) from this folder.
"""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)


# ---------------------------------------------------------------- storage back ends
import uuid as _uuid

import pytest as _pytest

from _storage import storage_url_of as _storage_url_of


@_pytest.fixture(params=["sqlite", "postgres"])
def storage_url(request, tmp_path) -> str:
    """An empty-namespace storage URL: SQLite in tmp_path, and PostgreSQL when
    `OPTGAN_TEST_POSTGRES_URL` is set (CI sets it; the test skips otherwise)."""
    return _storage_url_of(request.param, tmp_path)


@_pytest.fixture
def command():
    """Add a throw-away command `work` running `body()` (with click `params`, if given) to the
    `optgan` group; removed afterwards."""
    import click

    from optgan_cli.main import main

    def add(body, params=None) -> None:  # noqa: ANN001
        main.add_command(click.Command("work", callback=body, params=params or []))

    yield add
    main.commands.pop("work", None)


@_pytest.fixture
def unique_name() -> str:
    """A study name no other test uses (PostgreSQL databases are shared between tests)."""
    return f"t{_uuid.uuid4().hex[:10]}"


# ---------------------------------------------------------------- parallel runs (pytest-xdist)
# Tests that reach the one PostgreSQL server CI starts run on one worker, one after another
# (tests/_xdist_groups.py says why a scheduler and not `xdist_group` marks).
from _xdist_groups import pytest_xdist_make_scheduler  # noqa: E402, F401 - a hook pytest finds here
