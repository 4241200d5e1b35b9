"""One way for tests to load a benchmark script of `bench/` as a module (they are scripts, not a
package: each puts `bench/` on `sys.path` for its own helpers when it runs)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

BENCH_DIR = Path(__file__).resolve().parents[1] / "bench"


def load_bench(script: str) -> ModuleType:
    """A fresh module of `bench/<script>` (`script`: ``"train"``, ``"train.py"`` or ``"bench/train.py"``)."""
    path = BENCH_DIR / Path(script).name
    path = path if path.suffix == ".py" else path.with_suffix(".py")
    spec = importlib.util.spec_from_file_location(f"optgan_bench_{path.stem}", path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # (its dataclasses look their module up while the file runs)
    spec.loader.exec_module(module)
    return module
