"""Use a trained generator: ``optgan.load_generator(path)`` → a ready ``nn.Module``.

Reads a checkpoint written by `optgan train` (`checkpoint-best.pt` or `checkpoint-last.pt`, or
the run directory, which picks best, else last) with ``torch.load(weights_only=True)`` — the
file holds the genotype JSON, the widths and the weights as tensors and plain containers, never
arbitrary pickles — rebuilds the standalone generator from the genotype and loads the EMA
weights (the evaluated ones) or, with ``ema=False``, the raw G weights.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

import torch
from torch import nn

from optgan.errors import CheckpointError, OptganError
from optgan.search_space.genotype import Genotype
from optgan.search_space.widths import Widths

__all__ = ["load_generator", "read_training_checkpoint", "resolve_checkpoint_path", "generator_from_checkpoint",
           "weights_sha256"]

_FORMAT = "optgan.final-training"


def resolve_checkpoint_path(path: str) -> str:
    """`path` itself, or for a run directory its best checkpoint (else its last one)."""
    from optgan.trainer.final_outputs import CHECKPOINT_BEST, CHECKPOINT_LAST, RUN_MARKER

    if os.path.isdir(path):
        for name in (CHECKPOINT_BEST, CHECKPOINT_LAST):
            candidate = os.path.join(path, name)
            if os.path.isfile(candidate):
                return candidate
        marker = os.path.join(path, RUN_MARKER)
        if os.path.exists(marker):  # an `optgan train` folder: nothing saved yet
            from optgan.trainer.run_lock import UNKNOWN_HOLDER, training_holder

            holder = training_holder(marker)
            if holder == UNKNOWN_HOLDER:
                raise CheckpointError(f"{path} holds no {CHECKPOINT_BEST} or {CHECKPOINT_LAST} yet (whether its "
                                      "training runs cannot be told here: no file locks); retry later, or rerun "
                                      "its `optgan train` command if it stopped")
            if holder is not None:
                raise CheckpointError(f"{path} holds no {CHECKPOINT_BEST} or {CHECKPOINT_LAST} yet: its training "
                                      f"({holder}) saves one at the end of each epoch; retry later")
            raise CheckpointError(f"{path} holds no {CHECKPOINT_BEST} or {CHECKPOINT_LAST}: its training stopped "
                                  "before it saved one (at the end of its first epoch); run the same `optgan "
                                  "train` command again")
        raise CheckpointError(f"{path} holds no {CHECKPOINT_BEST} or {CHECKPOINT_LAST}; is it an `optgan train` output directory?")
    if not os.path.isfile(path):
        raise CheckpointError(f"checkpoint not found: {path}")
    return path


def read_training_checkpoint(path: str, map_location: str | torch.device = "cpu",
                             require: tuple[str, ...] = ()) -> dict[str, Any]:
    """Load and check the header of an `optgan train` checkpoint (weights_only); `require`: keys
    the caller needs besides the generator's."""
    from optgan.trainer.checkpoint import load_checkpoint

    path = resolve_checkpoint_path(path)
    ck = load_checkpoint(path, map_location=map_location)
    if ck.get("format") != _FORMAT:
        raise CheckpointError(f"{path} is not an `optgan train` checkpoint (no format tag {_FORMAT!r})")
    for key in ("arch", "gen", "gen_ema", *require):
        if key not in ck:
            raise CheckpointError(f"{path} is incomplete: key `{key}` is missing")
    ck["path"] = path
    return ck


def generator_from_checkpoint(ck: dict[str, Any], *, ema: bool = True) -> nn.Module:
    """Rebuild the generator of a loaded checkpoint and load its (EMA) weights; eval mode."""
    from optgan.trainer.final_setup import build_generator_for

    path = ck.get("path", "checkpoint")
    try:
        genotype = Genotype.from_json(ck["arch"]["gen"], "gen")
        widths = Widths(**ck["arch"]["widths"])
    except (KeyError, TypeError) as e:
        raise CheckpointError(f"{path}: the architecture record is malformed ({e}); re-export it with `optgan train`") from e
    except OptganError as e:
        raise CheckpointError(f"{path}: {e}") from e
    # the random init is overwritten by the checkpoint's weights; a private RNG keeps globals untouched
    net = build_generator_for(genotype, widths, generator=torch.Generator().manual_seed(0))
    state = ck["gen_ema" if ema else "gen"]
    try:
        net.load_state_dict(state)
    except RuntimeError as e:
        raise CheckpointError(
            f"{path}: the weights do not fit the generator of its genotype and widths "
            f"({str(e).splitlines()[0][:120]}); the file belongs to another architecture"
        ) from e
    return net.eval()


def load_generator(path: str, *, ema: bool = True, device: str | torch.device = "cpu") -> nn.Module:
    """The trained generator of an `optgan train` checkpoint (or run directory), ready for ``net(z)``.

    ``z`` has shape (N, latent_dim) (``net.latent_dim`` when the network exposes it); outputs
    are images in [-1, 1] of shape (N, 3, 8·bottom_width, 8·bottom_width).
    """
    ck = read_training_checkpoint(path)
    return generator_from_checkpoint(ck, ema=ema).to(device)


def weights_sha256(state: dict[str, torch.Tensor]) -> str:
    """A content hash of a state dict (names, dtypes, shapes and bytes, in key order)."""
    h = hashlib.sha256()
    for name in sorted(state):
        t = state[name].detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()
