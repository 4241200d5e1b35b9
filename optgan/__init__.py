"""optgan: Optuna-based multi-objective neural architecture search for GANs."""

from typing import Any

__version__ = "0.1.0"

__all__ = ["__version__", "load_generator"]


def __getattr__(name: str) -> Any:
    # lazy: `import optgan` must stay light (no torch import until a generator is loaded)
    if name == "load_generator":
        from optgan.export import load_generator

        return load_generator
    raise AttributeError(f"module 'optgan' has no attribute {name!r}")
