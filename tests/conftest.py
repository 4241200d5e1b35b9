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
