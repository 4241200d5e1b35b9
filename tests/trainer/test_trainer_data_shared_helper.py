"""`_shared_data.shared_data_dir`: found → path; absent → skip, or fail when CI=true."""

from __future__ import annotations

from pathlib import Path

import pytest
from _shared_data import shared_data_dir


def test_found_via_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "cifar10").mkdir()
    monkeypatch.setenv("OPTGAN_SHARED_DATA", str(tmp_path))
    assert shared_data_dir("cifar10") == tmp_path / "cifar10"


def test_absent_skips_locally_and_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    missing = ("no-such-dataset", "x.npz")
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="shared test data not found .*no-such-dataset"):
        shared_data_dir(*missing)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true: shared test data not found"):
        shared_data_dir(*missing)
