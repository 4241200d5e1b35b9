"""`evaluation: {kind: synthetic}`: no training, deterministic values from each genotype.

The dry run of a study set-up: caps, population, selection, storage and resume are exercised
in seconds. Its only state is the number of completed rounds, kept in `synthetic.json`. It imports
torch only to draw sample grids, so a dry run without them starts fast.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

from optgan.atomic import atomic_write_bytes, remove_partial_writes
from optgan.engines.base import Engine, Evaluation
from optgan.errors import CheckpointError
from optgan.sampler.synthetic import synthetic_values
from optgan.search_space import Genotype

if TYPE_CHECKING:
    import torch

__all__ = ["SyntheticEngine"]

_METRICS = ("IS", "FID", "KID")


class SyntheticEngine(Engine):
    extractor_label = "synthetic"

    def __init__(self, search, stage: str) -> None:  # noqa: ANN001 - Search (import cycle)
        super().__init__(search, stage)
        self.checkpoint_path = self.stage_dir / "synthetic.json"
        remove_partial_writes(self.checkpoint_path)  # left by a crash mid-write
        if self.checkpoint_path.exists():
            try:
                done = json.loads(self.checkpoint_path.read_text())["rounds_done"]
                if not isinstance(done, int) or isinstance(done, bool) or done < 0:
                    raise ValueError(f"rounds_done = {done!r} is not a round count")
                self.rounds_done = done
            except (ValueError, KeyError, TypeError, UnicodeDecodeError) as e:
                raise CheckpointError(f"{self.checkpoint_path} is not a dry-run state ({type(e).__name__}: {e}); "
                                      f"move it away and rerun to redo stage {stage}'s rounds (the study's rounds are "
                                      "kept)") from None
            self.restored = True

    def train(self, population: Sequence[Genotype]) -> None:
        return None

    def evaluate(self, population: Sequence[Genotype]) -> list[Evaluation]:
        cfg = self.search.config
        names = [o for o in cfg.objectives if o in _METRICS]
        n = cfg.pictures.grid_images if cfg.pictures.sample_grid else 0
        return [Evaluation(dict(zip(names, synthetic_values(g, names, self.widths))),
                           samples=synthetic_samples(g, n, self.widths.img_size) if n else None)
                for g in population]

    def save(self, rounds_done: int) -> None:
        self.rounds_done = rounds_done
        atomic_write_bytes(str(self.checkpoint_path), json.dumps({"rounds_done": rounds_done}).encode())


def synthetic_samples(genotype: Genotype, n: int, size: int) -> torch.Tensor:
    """`n` smooth colour fields (uint8 n×3×size×size), a deterministic function of the genotype.

    Stand-ins for generated images, so a dry run exercises the sample-grid pictures too.
    """
    import torch  # here: a dry run without pictures starts without torch (seconds per run)

    seed = int.from_bytes(hashlib.sha1(genotype.to_json().encode()).digest()[:8], "little")
    coarse = torch.rand(n, 3, 4, 4, generator=torch.Generator().manual_seed(seed))
    fine = torch.nn.functional.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=False)
    return (fine.clamp(0, 1) * 255).round().to(torch.uint8)
