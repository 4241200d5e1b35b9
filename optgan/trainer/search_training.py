"""Supernet training of the search (SPEC §2–§3): one loop, two pairing strategies.

The runner drives a :class:`StageTrainer` round by round::

    trainer = make_stage_trainer(cfg, "gen", device=dev, images=images)
    trainer.warmup(cfg.gen_stage.warmup_epochs)
    for each round:
        stats = trainer.train_round(population, cfg.gen_stage.epochs_per_round)
        scores = evaluate(trainer.candidates(population))      # latents → images per member
        trainer.end_round(population, best_index)               # stage disc: weight-resetting
        checkpoint(trainer.state_dict())

An epoch is ``iters_per_epoch`` D iterations (default: one pass over the images at D's batch
size). Iterations come in blocks of ``n_critic``: one pair per block (stage ``gen``: the drawn G
path vs the fixed D; stage ``disc``: (G_i, D_i)), D trained every iteration, G once at the end
of the block (EAGAN's ``global_steps % n_critic == 0`` with the block starting at 1); a round
runs ``max(1, epochs · iters_per_epoch // n_critic)`` blocks. :mod:`optgan.trainer.pairing`
holds the strategies, :mod:`optgan.trainer.search_step` the (GPU-fast) block, and
:mod:`optgan.trainer.search_setup` builds everything from the config.

Randomness: three generators per stage, seeded from ``config.seed`` and the stage — NumPy for
architecture / pair draws, a torch generator on the device for latents, a CPU torch generator
for the data order — all in :meth:`state_dict`, so a resumed search continues bit-identically
(CPU; on CUDA up to the kernels' own nondeterminism).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterator, Literal, Protocol

import numpy as np
import torch
from torch import nn

from optgan.errors import CheckpointError
from optgan.progress import progress_bar
from optgan.search_space.genotype import Genotype
from optgan.trainer.checkpoint import generator_state, set_generator_state
from optgan.trainer.data import ImageSet
from optgan.trainer.pairing import DiscPairing, GenPairing, check_population
from optgan.trainer.search_step import BlockRunner

if TYPE_CHECKING:  # the config package imports every section; keep the trainer importable alone
    from optgan.config.study import StudyConfig

__all__ = ["RoundStats", "StageTrainer", "SearchTrainer", "make_stage_trainer", "STATE_VERSION"]

log = logging.getLogger(__name__)

STATE_VERSION = 1
Stage = Literal["gen", "disc"]


@dataclass(frozen=True)
class RoundStats:
    """Means over a warm-up or a round (losses over the finite steps; NaN when there were none)."""

    iterations: int  #: D iterations
    loss_d: float
    loss_g: float
    nonfinite_steps: int  #: optimizer steps skipped because their loss was not finite (D and G)


class StageTrainer(Protocol):
    """What the round runner needs from a stage's trainer."""

    stage: Stage

    def warmup(self, epochs: int) -> RoundStats: ...

    def train_round(self, population: Sequence[Genotype], epochs: int) -> RoundStats: ...

    def candidates(self, population: Sequence[Genotype]) -> list[Callable[[torch.Tensor], torch.Tensor]]: ...

    def end_round(self, population: Sequence[Genotype], best_index: int) -> None: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class SearchTrainer:
    """The one loop: the pairing picks each block's pair, the block runner trains it."""

    def __init__(self, stage: Stage, pairing: GenPairing | DiscPairing, runner: BlockRunner,
                 rng: np.random.Generator, iters_per_epoch: int, n_critic: int) -> None:
        self.stage, self.pairing, self.runner, self.rng = stage, pairing, runner, rng
        self.iters_per_epoch, self.n_critic = iters_per_epoch, n_critic
        self.progress: bool | None = None  #: bars: False none, None on a terminal only (`optgan.progress`)

    def blocks_for(self, epochs: int) -> int:
        """Blocks of n_critic iterations in `epochs` epochs (at least one when epochs > 0)."""
        return 0 if epochs <= 0 else max(1, epochs * self.iters_per_epoch // self.n_critic)

    def warmup(self, epochs: int) -> RoundStats:
        """Stage gen: one uniformly random valid G per block; stage disc: nothing to do."""
        if not self.pairing.has_warmup:
            return RoundStats(0, float("nan"), float("nan"), 0)
        return self._train(self.blocks_for(epochs), self.pairing.warmup_pair, "warm-up")

    def train_round(self, population: Sequence[Genotype], epochs: int) -> RoundStats:
        """Train `epochs` epochs, one uniformly drawn member (or pair) per block."""
        pop = check_population(population, self.stage)
        self.pairing.begin_round(pop)
        keep = self.pairing.graph_keys(pop)
        self.runner.forget(keep.__contains__)
        return self._train(self.blocks_for(epochs), lambda: self.pairing.round_pair(pop), "round")

    def candidates(self, population: Sequence[Genotype]) -> list[Callable[[torch.Tensor], torch.Tensor]]:
        """Per member: latents → images in [-1, 1] (stage disc: through the member's G copy)."""
        return list(self.pairing.candidates(check_population(population, self.stage)))

    def end_round(self, population: Sequence[Genotype], best_index: int) -> None:
        """Stage disc: reset every G copy to the best member's; stage gen: nothing to do."""
        self.pairing.end_round(check_population(population, self.stage), best_index)

    def _train(self, blocks: int, pick: Callable[[], Any], desc: str) -> RoundStats:
        self.runner.reset_stats()
        with _training_mode(self.pairing.modules()), self.runner.precision.backend_flags():
            for _ in progress_bar(range(blocks), show=self.progress, desc=f"{self.stage} {desc}", unit="block", leave=False):
                self.runner.run(pick())
        s = self.runner.read_stats()
        stats = RoundStats(s.iterations, s.loss_d, s.loss_g, s.nonfinite_steps)
        log.info("stage %s %s: %d iterations, L_D %.4f, L_G %.4f, %d non-finite steps skipped",
                 self.stage, desc, stats.iterations, stats.loss_d, stats.loss_g, stats.nonfinite_steps)
        return stats

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue bit-identically (CPU copies; `torch.save`-able, weights_only)."""
        return {
            "version": STATE_VERSION,
            "stage": self.stage,
            "pairing": self.pairing.state_dict(),
            "rng": {"arch": generator_state(self.rng), "latent": generator_state(self.runner.z_generator)},
            "data": self.runner.stream.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from a :meth:`state_dict` of a trainer built from the same config."""
        found = (state.get("version"), state.get("stage"))
        if found != (STATE_VERSION, self.stage):
            raise CheckpointError(
                f"trainer state is (version, stage) = {found}, expected {(STATE_VERSION, self.stage)}; "
                "resume the stage that wrote the checkpoint"
            )
        self.runner.forget()
        self.pairing.load_state_dict(state["pairing"])
        set_generator_state(self.rng, state["rng"]["arch"])
        set_generator_state(self.runner.z_generator, state["rng"]["latent"])
        self.runner.stream.load_state_dict(state["data"])

    def gen_supernet_state(self) -> dict[str, torch.Tensor]:
        """Stage gen: the G supernet's state dict (CPU copy), what stage disc starts from."""
        if not isinstance(self.pairing, GenPairing):
            raise TypeError("only the stage-gen trainer has a G supernet")
        return self.pairing.state_dict()["g_supernet"]

    def g_star_state(self) -> dict[str, torch.Tensor]:
        """Stage disc: the reset snapshot's network state (weights + BN statistics). Right after the
        trainer is built that is G* as every copy starts; later, the latest round's best copy."""
        if not isinstance(self.pairing, DiscPairing):
            raise TypeError("only the stage-disc trainer has G copies")
        return self.pairing.reset.net.state_dict()


@contextmanager
def _training_mode(modules: list[nn.Module]) -> Iterator[None]:
    before = [m.training for m in modules]
    for m in modules:
        m.train()
    try:
        yield
    finally:
        for m, was in zip(modules, before):
            m.train(was)


def gen_supernet_state_of(trainer_state: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The G supernet's state dict inside a stage-gen :meth:`SearchTrainer.state_dict`."""
    if trainer_state.get("stage") != "gen":
        raise CheckpointError("expected a stage-gen trainer checkpoint to take the G supernet from")
    return trainer_state["pairing"]["g_supernet"]


def make_stage_trainer(
    config: StudyConfig,
    stage: Stage,
    *,
    device: torch.device,
    images: ImageSet,
    gen_genotype: Genotype | None = None,
    gen_supernet_state: dict[str, torch.Tensor] | None = None,
) -> SearchTrainer:
    """Build the trainer of `stage` (stage disc needs G*, and G*'s weights from stage gen)."""
    from optgan.trainer.search_setup import build_search_trainer

    return build_search_trainer(config, stage, device=torch.device(device), images=images,
                                gen_genotype=gen_genotype, gen_supernet_state=gen_supernet_state)
