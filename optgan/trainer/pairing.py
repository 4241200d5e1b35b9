"""The two pairing strategies of the supernet search: who trains against whom in each block.

- :class:`GenPairing` (stage ``gen``, many-to-one, SPEC §2): the G supernet against one fixed D
  (``simple`` or a D genotype). Warm-up: a uniformly random valid G per block; rounds: a member of
  the population drawn uniformly per block.
- :class:`DiscPairing` (stage ``disc``, one-to-one with weight-resetting, SPEC §3): the D supernet
  shared by the population; every D candidate owns a copy of G* (weights, BN statistics and Adam
  state). A pair (G_i, D_i) is drawn uniformly per block. :meth:`DiscPairing.end_round` copies the
  copy paired with the best D into a reset snapshot and every copy from it — real copies in place,
  never aliases (the reference code's ``state_dict()`` aliasing is the bug SPEC §3 names). Copies
  are keyed by genotype: a survivor keeps its copy, a new child gets one from the reset snapshot.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from optgan.errors import CheckpointError, GenotypeError
from optgan.search_space.genotype import Genotype
from optgan.search_space.random import random_genotype
from optgan.supernet import SuperNetD, SuperNetG, clone_module
from optgan.trainer.search_state import (
    adam_state,
    adam_tensors,
    load_adam_state,
    load_module_state,
    module_state,
)
from optgan.trainer.search_step import Net, Pair, Precision

__all__ = ["GenPairing", "DiscPairing", "GCopy", "Candidate", "check_population"]


class Candidate:
    """latents → images in [-1, 1] (float32) of one candidate, in eval mode and without a graph."""

    def __init__(self, module: nn.Module, forward: Net, precision: Precision, device: torch.device) -> None:
        self.module, self.forward, self.precision, self.device = module, forward, precision, device

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        was_training = self.module.training
        self.module.eval()
        try:
            with torch.no_grad(), self.precision.backend_flags(), self.precision.autocast(self.device):
                out = self.forward(z.to(self.device))
        finally:
            self.module.train(was_training)
        return out.float().contiguous()


def check_population(population: Sequence[Genotype], net: str) -> list[Genotype]:
    """The population as a list; empty or of the wrong network is a GenotypeError."""
    pop = list(population)
    if not pop:
        raise GenotypeError("the population is empty; a round needs at least one genotype")
    wrong = [g for g in pop if not isinstance(g, Genotype) or g.net != net]
    if wrong:
        raise GenotypeError(f"stage population must hold {net} genotypes, got {wrong[0]!r}")
    return pop


class GenPairing:
    """Stage ``gen``: SuperNet-G (one path per block) against the one fixed D."""

    has_warmup = True

    def __init__(self, g: SuperNetG, d: nn.Module, opt_g: torch.optim.Adam, opt_d: torch.optim.Adam,
                 rng: np.random.Generator, precision: Precision, device: torch.device) -> None:
        self.g, self.d, self.opt_g, self.opt_d = g, d, opt_g, opt_d
        self.rng, self.precision, self.device = rng, precision, device
        self.d_params = tuple(d.parameters())

    def modules(self) -> list[nn.Module]:
        return [self.g, self.d]

    def _pair(self, genotype: Genotype, key: Hashable | None) -> Pair:
        gen = functools.partial(self.g, genotype=genotype)
        return Pair(key, gen, self.d, self.opt_g, self.opt_d, self.d_params)

    def warmup_pair(self) -> Pair:
        return self._pair(random_genotype("gen", self.rng), None)  # new every block: never captured

    def begin_round(self, population: Sequence[Genotype]) -> None:
        pass

    def round_pair(self, population: Sequence[Genotype]) -> Pair:
        genotype = population[int(self.rng.integers(len(population)))]
        return self._pair(genotype, ("gen", genotype))

    def graph_keys(self, population: Sequence[Genotype]) -> set[Hashable]:
        return {("gen", g) for g in population}

    def candidates(self, population: Sequence[Genotype]) -> list[Candidate]:
        return [Candidate(self.g, functools.partial(self.g, genotype=g), self.precision, self.device)
                for g in population]

    def end_round(self, population: Sequence[Genotype], best_index: int) -> None:
        pass

    def state_dict(self) -> dict[str, Any]:
        return {
            "g_supernet": module_state(self.g), "d": module_state(self.d),
            "opt_g": adam_state(self.opt_g), "opt_d": adam_state(self.opt_d),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        load_module_state(self.g, state["g_supernet"], "G supernet")
        load_module_state(self.d, state["d"], "discriminator")
        load_adam_state(self.opt_g, state["opt_g"], "G supernet")
        load_adam_state(self.opt_d, state["opt_d"], "discriminator")


@dataclass
class GCopy:
    """One copy of G*: its network (weights + BN statistics) and its own Adam."""

    net: nn.Module
    opt: torch.optim.Adam
    serial: int  #: unique per copy object (part of the CUDA-graph key)

    def tensors(self) -> list[torch.Tensor]:
        return [*self.net.parameters(), *self.net.buffers(), *adam_tensors(self.opt)]

    def copy_from(self, other: GCopy) -> None:
        """Make this copy equal to `other` (values copied in place, no storage shared)."""
        with torch.no_grad():
            for dst, src in zip(self.tensors(), other.tensors(), strict=True):
                dst.copy_(src)

    def state(self) -> dict[str, Any]:
        return {"net": module_state(self.net), "opt": adam_state(self.opt)}

    def load(self, state: dict[str, Any]) -> None:
        load_module_state(self.net, state["net"], "G* copy")
        load_adam_state(self.opt, state["opt"], "G* copy")


class DiscPairing:
    """Stage ``disc``: SuperNet-D shared by the population, one G* copy per D candidate."""

    has_warmup = False

    def __init__(self, d: SuperNetD, opt_d: torch.optim.Adam, g_star: nn.Module,
                 make_opt_g: Callable[[nn.Module], torch.optim.Adam], rng: np.random.Generator,
                 precision: Precision, device: torch.device) -> None:
        self.d, self.opt_d, self.rng, self.precision, self.device = d, opt_d, rng, precision, device
        self.d_params = tuple(d.parameters())
        self._make_opt_g = make_opt_g
        self._serials = itertools.count()
        self.reset = GCopy(g_star, make_opt_g(g_star), next(self._serials))  #: never trained itself
        self.copies: dict[Genotype, GCopy] = {}
        self._spare: list[GCopy] = []
        self._dirty: set[Genotype] = set()  #: copies trained since they were last reset

    def modules(self) -> list[nn.Module]:
        return [self.d, *(c.net for c in self.copies.values())]

    def copy_for(self, genotype: Genotype) -> GCopy:
        """The copy paired with `genotype` (a new one starts from the reset snapshot)."""
        found = self.copies.get(genotype)
        if found is not None:
            return found
        if self._spare:
            copy = self._spare.pop()
            copy.serial = next(self._serials)
        else:
            net = clone_module(self.reset.net)
            copy = GCopy(net, self._make_opt_g(net), next(self._serials))
        copy.copy_from(self.reset)
        copy.net.train()
        self.copies[genotype] = copy
        return copy

    def warmup_pair(self) -> Pair:
        raise AssertionError("stage disc has no warm-up")

    def begin_round(self, population: Sequence[Genotype]) -> None:
        members = set(population)
        for g in [g for g in self.copies if g not in members]:
            self._spare.append(self.copies.pop(g))
            self._dirty.discard(g)
        for g in population:
            self.copy_for(g)

    def round_pair(self, population: Sequence[Genotype]) -> Pair:
        genotype = population[int(self.rng.integers(len(population)))]
        copy = self.copy_for(genotype)
        self._dirty.add(genotype)
        disc = functools.partial(self.d, genotype=genotype)
        return Pair(("disc", genotype, copy.serial), copy.net, disc, copy.opt, self.opt_d, self.d_params)

    def graph_keys(self, population: Sequence[Genotype]) -> set[Hashable]:
        return {("disc", g, self.copies[g].serial) for g in population if g in self.copies}

    def candidates(self, population: Sequence[Genotype]) -> list[Candidate]:
        return [Candidate(c.net, c.net, self.precision, self.device) for c in map(self.copy_for, population)]

    def end_round(self, population: Sequence[Genotype], best_index: int) -> None:
        """Weight-resetting: every copy := the copy paired with ``population[best_index]``."""
        if not 0 <= best_index < len(population):
            raise IndexError(f"best_index {best_index} outside the population of {len(population)}")
        self.reset.copy_from(self.copy_for(population[best_index]))
        for copy in self.copies.values():
            copy.copy_from(self.reset)
        self._dirty.clear()

    def state_dict(self) -> dict[str, Any]:
        trained = [(g, c) for g, c in self.copies.items() if g in self._dirty]
        return {
            "d_supernet": module_state(self.d), "opt_d": adam_state(self.opt_d), "reset": self.reset.state(),
            "copies": [{"genotype": g.to_json_dict(), **c.state()} for g, c in trained],
            "clean": [g.to_json_dict() for g in self.copies if g not in self._dirty],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        load_module_state(self.d, state["d_supernet"], "D supernet")
        load_adam_state(self.opt_d, state["opt_d"], "D supernet")
        self.reset.load(state["reset"])
        self._spare.extend(self.copies.values())
        self.copies.clear()
        self._dirty.clear()
        try:
            for g in state["clean"]:
                self.copy_for(Genotype.from_json(g, net="disc"))
            for saved in state["copies"]:
                genotype = Genotype.from_json(saved["genotype"], net="disc")
                self.copy_for(genotype).load(saved)
                self._dirty.add(genotype)
        except GenotypeError as e:
            raise CheckpointError(f"checkpoint holds an invalid D genotype: {e}") from e
