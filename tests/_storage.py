"""Storage URLs for tests: SQLite in a temporary folder, or the PostgreSQL server CI starts.

`storage_url_of("postgres", tmp)` skips the calling test when `OPTGAN_TEST_POSTGRES_URL` is not
set (`.ci/run` sets it). Import it as `from _storage import …` (see tests/conftest.py).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

__all__ = ["POSTGRES_ENV", "storage_url_of"]

POSTGRES_ENV = "OPTGAN_TEST_POSTGRES_URL"


def storage_url_of(kind: str, tmp_path: Path) -> str:
    """An empty-namespace URL of back end `kind` (`sqlite` or `postgres`)."""
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'optgan.db'}"
    if kind != "postgres":
        raise ValueError(f"unknown storage kind {kind!r}")
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.skip(f"PostgreSQL tests need {POSTGRES_ENV} (set by .ci/run)")
    return url
