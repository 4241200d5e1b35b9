"""How one round of a stage trains and evaluates, per evaluation kind (`synthetic`, `real`).

The runner drives an :class:`Engine`; the engine owns the stage's training state and its
checkpoint in the run directory.
"""

from optgan.engines.base import Engine, Evaluation, make_engine

__all__ = ["Engine", "Evaluation", "make_engine"]
