"""How long each phase of a round took, measured by the runner and kept on the stage study.

`optgan run` logs the phases at the end of every round and stores them as the study user attr
``optgan:round_seconds:<round>``; `optgan status` shows them and `bench/train.py` reads them
back to report a whole round (ask + train + evaluate + tell + pictures + checkpoint). Every
phase ends with a host read of its results (losses, scores, storage writes), so wall-clock
time is the device time too. A re-run of an interrupted round overwrites its entry.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import optuna

from optgan import keys

__all__ = ["PHASES", "RoundTimer", "save_round_seconds", "round_seconds"]

#: the phases of a round, in order
PHASES = ("ask", "train", "evaluate", "tell", "pictures", "checkpoint")


class RoundTimer:
    """Wall-clock seconds per phase: ``with timer.phase("train"): ...``."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        if name not in PHASES:
            raise ValueError(f"unknown round phase {name!r}; phases: {', '.join(PHASES)}")
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start

    @property
    def total(self) -> float:
        return sum(self.seconds.values())

    def describe(self) -> str:
        """``12.3 s (train 10.1, evaluate 1.9, ...)``."""
        parts = ", ".join(f"{k} {v:.1f}" for k, v in self.seconds.items())
        return f"{self.total:.1f} s ({parts})"


def save_round_seconds(study: optuna.Study, generation: int, timer: RoundTimer) -> None:
    """Store the phases of round `generation` (and their total) on the study."""
    record = {k: round(v, 4) for k, v in timer.seconds.items()} | {"total": round(timer.total, 4)}
    study.set_user_attr(keys.ROUND_SECONDS_PREFIX + str(generation), record)


def round_seconds(study: optuna.Study) -> dict[int, dict[str, float]]:
    """`{round: {phase: seconds, ..., "total": seconds}}` of the rounds that finished, in order."""
    out = {}
    for key, value in study.user_attrs.items():
        if key.startswith(keys.ROUND_SECONDS_PREFIX) and isinstance(value, dict):
            out[int(key[len(keys.ROUND_SECONDS_PREFIX):])] = {k: float(v) for k, v in value.items()}
    return dict(sorted(out.items()))
