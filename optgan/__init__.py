"""optgan: Optuna-based multi-objective neural architecture search for GANs."""

__version__ = "0.1.0"
