"""`evaluation: {kind: synthetic}`: no training, deterministic values from each genotype.

The dry run of a study set-up: caps, population, selection, storage and resume are exercised
in seconds. Its only state is the number of completed rounds, kept in `synthetic.json`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from optgan.engines.base import Engine, Evaluation
from optgan.sampler.synthetic import synthetic_values
from optgan.search_space import Genotype
from optgan.trainer.checkpoint import atomic_write_bytes

__all__ = ["SyntheticEngine"]

_METRICS = ("IS", "FID", "KID")


class SyntheticEngine(Engine):
    extractor_label = "synthetic"

    def __init__(self, search, stage: str) -> None:  # noqa: ANN001 - Search (import cycle)
        super().__init__(search, stage)
        self.state_path = self.stage_dir / "synthetic.json"
        if self.state_path.exists():
            self.rounds_done = int(json.loads(self.state_path.read_text())["rounds_done"])

    def train(self, population: Sequence[Genotype]) -> None:
        return None

    def evaluate(self, population: Sequence[Genotype]) -> list[Evaluation]:
        names = [o for o in self.search.config.objectives if o in _METRICS]
        return [Evaluation(dict(zip(names, synthetic_values(g, names, self.widths)))) for g in population]

    def save(self, rounds_done: int) -> None:
        self.rounds_done = rounds_done
        atomic_write_bytes(str(self.state_path), json.dumps({"rounds_done": rounds_done}).encode())
