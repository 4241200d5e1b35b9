"""Where the shared test data (`shared/data/…`, e.g. the CIFAR-10 subsets) lives, for tests.

`shared_data_dir("cifar10", "train-10k.npz")` returns the path, looked for in
`$OPTGAN_SHARED_DATA`, `<repo>/shared/data` and `<repo>/../shared/data`. When it is absent the
calling test is skipped with the reason — except under `CI=true`, where it fails, so CI can never
go green by silently skipping the real-data tests. Import it as `from _shared_data import …`
(tests/conftest.py puts this folder on `sys.path`; `tests` itself is shadowed by
torch-fidelity's top-level `tests` package, so never `from tests._shared_data`).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

__all__ = ["shared_data_dir", "candidate_roots"]

_REPO = Path(__file__).resolve().parents[1]


def candidate_roots() -> list[Path]:
    """The folders searched, in order."""
    roots = [Path(p) for p in [os.environ.get("OPTGAN_SHARED_DATA")] if p]
    return roots + [_REPO / "shared" / "data", _REPO.parent / "shared" / "data"]


def shared_data_dir(*parts: str) -> Path:
    """`<shared data root>/<parts…>` if it exists; else skip the test (fail when CI=true)."""
    for root in candidate_roots():
        path = root.joinpath(*parts)
        if path.exists():
            return path
    looked = ", ".join(str(r.joinpath(*parts)) for r in candidate_roots())
    reason = f"shared test data not found (looked for {looked}); set OPTGAN_SHARED_DATA to the shared/data folder"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true: {reason}", pytrace=False)
    pytest.skip(reason)
