"""The engine interface the runner drives, and the factory that picks one for a stage."""

from __future__ import annotations

import abc
import pathlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from optgan.errors import OptganError
from optgan.search_space import Genotype, Widths

if TYPE_CHECKING:
    from optgan.study.search import Search

__all__ = ["Engine", "Evaluation", "make_engine", "saved_rounds", "stage_net", "stage_rounds"]


def stage_rounds(config, stage: str) -> int:  # noqa: ANN001 - StudyConfig
    """How many rounds stage `stage` of a search with `config` has."""
    return (config.gen_stage if stage == "gen" else config.disc_stage).rounds


def stage_net(stage: str) -> str:
    """The network a stage searches: `gen` searches generators, `disc` discriminators."""
    return "gen" if stage == "gen" else "disc"


@dataclass(frozen=True)
class Evaluation:
    """Scores of one candidate: metric objectives by name (`IS`, `FID`, `KID`), or why it failed."""

    values: dict[str, float] = field(default_factory=dict)
    reason: str | None = None
    #: extra trial user attrs (e.g. IS std, labelled metric names)
    attrs: dict[str, Any] = field(default_factory=dict)
    #: a few generated images (uint8 N×3×H×W tensor, latents from the shared bank) for the
    #: trial's sample grid (`pictures.sample_grid`); None = no grid
    samples: Any = field(default=None, repr=False, compare=False)


class Engine(abc.ABC):
    """One stage's training and evaluation state across rounds, with its own checkpoint."""

    def __init__(self, search: "Search", stage: str) -> None:
        self.search = search
        self.stage = stage
        self.net = stage_net(stage)
        cfg = search.config
        self.widths: Widths = cfg.widths
        self.rounds_total: int = stage_rounds(cfg, stage)
        self.rounds_done: int = 0
        self.restored: bool = False  #: True when the state came from a checkpoint
        self.stage_dir = search.stage_dir(stage)

    #: the stage's checkpoint file in its run directory (each kind names its own)
    checkpoint_path: pathlib.Path

    #: label stored with every trial (which extractor produced the scores)
    extractor_label: str = "synthetic"

    def prepare(self) -> None:
        """Work before the first round still to run (e.g. warm-up); must be resumable."""

    @abc.abstractmethod
    def train(self, population: Sequence[Genotype]) -> None:
        """Train the round's population (E epochs)."""

    @abc.abstractmethod
    def evaluate(self, population: Sequence[Genotype]) -> list[Evaluation]:
        """Score every candidate of the round in one batched call."""

    def end_round(self, population: Sequence[Genotype], evaluations: Sequence[Evaluation]) -> None:
        """Hook after the tells (stage `disc`: weight-resetting)."""

    @abc.abstractmethod
    def save(self, rounds_done: int) -> None:
        """Write the checkpoint atomically: the state after `rounds_done` rounds."""


def check_stage_ready(search: "Search", stage: str) -> None:
    """Refuse, before anything is stored, a stage whose inputs are missing: a real stage `disc`
    starts from stage `gen`'s trained G supernet (unless its own checkpoint or G*'s start
    snapshot already holds what it needs)."""
    if stage == "disc" and search.config.evaluation.kind == "real":
        from optgan.engines.real import CHECKPOINT_NAME, G_STAR_START_NAME, gen_checkpoint_path

        if gen_checkpoint_path(search).is_file():
            return
        own = search.stage_dir("disc")
        if (own / CHECKPOINT_NAME).is_file():
            return
        if (own / G_STAR_START_NAME).is_file():
            from optgan.study.results import fixed_gen_star

            if fixed_gen_star(search.study("disc")) is not None:  # a snapshot is only ever written after
                return  # G* was stored: before that, a file there is not this stage's, and would be refused late
        raise no_gen_supernet_error(search)


def no_gen_supernet_error(search: "Search") -> OptganError:
    """The one-line error of a real stage `disc` that needs stage `gen`'s checkpoint and lacks it."""
    from optgan.engines.real import gen_checkpoint_path

    return OptganError(f"stage disc needs stage gen's trained supernet ({gen_checkpoint_path(search)} is missing); "
                       f"run `optgan run {search.name} --stage gen` first")


def saved_rounds(search: "Search", stage: str) -> int | None:
    """Rounds held by a real stage's checkpoint, read without loading its tensors (memory-mapped);
    None when there is none, it cannot be read (the engine then says why), or the kind is synthetic."""
    if search.config.evaluation.kind != "real":
        return None
    import torch

    from optgan.engines.real import CHECKPOINT_NAME

    path = search.stage_dir(stage) / CHECKPOINT_NAME
    try:
        return int(torch.load(path, map_location="cpu", weights_only=True, mmap=True)["rounds_done"])
    except Exception:  # noqa: BLE001 - missing or damaged: building the engine reports it properly
        return None


def make_engine(search: "Search", stage: str, gen_star: Genotype | None = None) -> Engine:
    """The engine of `stage` for the search's evaluation kind, restored from its checkpoint."""
    if search.config.evaluation.kind == "synthetic":
        from optgan.engines.synthetic import SyntheticEngine

        return SyntheticEngine(search, stage)
    from optgan.engines.real import RealEngine

    return RealEngine(search, stage, gen_star=gen_star)
