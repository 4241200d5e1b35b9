"""Scoring a round's population with `optgan.metrics` and turning scores into Evaluations.

Every candidate of a round sees the same latent bank, drawn from (study seed, stage, round),
so rankings compare like with like and a re-run round is scored identically. The first
`pictures.grid_images` latents also give each candidate's sample grid (uint8, for the dashboard).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from optgan.config.study import StudyConfig
from optgan.engines.base import Evaluation
from optgan.metrics.evaluator import PopulationEvaluator, make_latent_bank
from optgan.metrics.extractor_base import FeatureExtractor
from optgan.metrics.keys import METRICS
from optgan.metrics.quantize import quantize_to_uint8
from optgan.trainer.data import ImageSet

__all__ = ["PopulationScorer", "round_seed"]
_STAGE_CODE = {"gen": 1, "disc": 2}


def round_seed(seed: int, stage: str, round_index: int) -> int:
    """Seed of the latent bank of one round (independent streams per stage and round)."""
    return int(np.random.SeedSequence([seed, _STAGE_CODE[stage], round_index]).generate_state(1)[0])


class PopulationScorer:
    """One evaluator (extractor + reference statistics) reused by every round of a stage."""

    def __init__(self, config: StudyConfig, images: ImageSet, device: torch.device, *,
                 extractor: FeatureExtractor | None = None) -> None:
        self.config = config
        self.evaluator = PopulationEvaluator(config.metrics, images, device, extractor=extractor)
        self.label = self.evaluator.label

    def evaluate(self, candidates: Sequence[Callable[[torch.Tensor], torch.Tensor]], *,
                 round_index: int, stage: str) -> list[Evaluation]:
        cfg = self.config
        bank = make_latent_bank(cfg.metrics.num_images, cfg.widths.latent_dim,
                                round_seed(cfg.seed, stage, round_index))
        scores = self.evaluator.evaluate(candidates, bank)
        out = []
        for candidate, s in zip(candidates, scores):
            values: dict[str, float] = {m: s.metric(m) for m in METRICS if m in cfg.metrics.metrics}
            grid = None
            if cfg.pictures.sample_grid:
                with torch.no_grad():
                    z = bank[: cfg.pictures.grid_images].to(self.evaluator.device)
                    grid = quantize_to_uint8(candidate(z)).cpu()
            out.append(Evaluation(values=values, reason=s.reason, attrs=dict(s.values), samples=grid))
        return out
