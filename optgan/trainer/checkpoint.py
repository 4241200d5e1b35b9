"""Checkpoint files: atomic writes, safe loads and random-number-generator states.

A checkpoint holds only tensors and plain containers (dict, list, tuple, str, int, float, bool,
None), so it loads with ``torch.load(weights_only=True)`` — never an arbitrary pickle. Writes are
atomic: a temporary file in the same directory, flushed and fsync'ed, then ``os.replace`` (and the
directory fsync'ed), so a crash leaves either the old or the new file, never a torn one.

The atomic write itself lives in the torch-free :mod:`optgan.atomic` (re-exported here).

RNG states cover the global generators (Python `random`, NumPy's legacy global state, torch CPU
and every CUDA device) and any injected ``torch.Generator`` / ``numpy.random.Generator``, so a
resumed run draws exactly the numbers the uninterrupted run would have drawn.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import random
import warnings
from collections.abc import Mapping
from typing import Any, cast

import numpy as np
import torch

from optgan.atomic import atomic_write_bytes, write_atomically
from optgan.errors import CheckpointError

__all__ = [
    "atomic_torch_save",
    "atomic_write_bytes",
    "load_checkpoint",
    "capture_rng",
    "restore_rng",
    "generator_state",
    "set_generator_state",
]

log = logging.getLogger(__name__)

#: (saved state's size, this generator's device type) of a state written on another kind of device:
#: a CUDA generator's (Philox seed and offset, 16 bytes) read on the CPU, a CPU generator's
#: (Mersenne Twister, 5,056 bytes) read on CUDA; any other mismatch is a damaged state (an error)
_OTHER_DEVICE_STATE = {(16, "cpu"), (5056, "cuda")}


#: errno values of a full disk or quota
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
#: what torch's zip writer says when the disk refused bytes (its own errors are RuntimeErrors)
_SHORT_WRITE = ("unexpected pos", "PytorchStreamWriter failed", "file write failed")


def atomic_torch_save(obj: Any, path: str) -> None:
    """``torch.save(obj, path)`` atomically; `obj` must hold only tensors and plain containers."""
    try:
        write_atomically(path, lambda f: torch.save(obj, f))
    except OSError as e:  # the file system's refusal, also when torch's zip writer wrapped it
        if e.errno not in _DISK_FULL:
            raise
        raise CheckpointError(f"cannot write {path} ({e.strerror}); free space and rerun to resume: the "
                              "previous checkpoint is intact") from e
    except RuntimeError as e:  # a short write torch reports without the OSError behind it
        if not any(k in str(e) for k in _SHORT_WRITE):
            raise
        first = str(e).strip().splitlines()[0][:120]
        raise CheckpointError(f"cannot write {path} ({first}); is the disk full? The previous "
                              "checkpoint is intact: free space and rerun to resume") from e


def load_checkpoint(path: str, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint with ``weights_only=True``; missing/corrupt files are CheckpointErrors."""
    if os.path.isdir(path):
        raise CheckpointError(f"checkpoint {path} is a folder, not a checkpoint file")
    if not os.path.isfile(path):
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        with warnings.catch_warnings():  # torch warns about foreign pickles before refusing them
            warnings.simplefilter("ignore")
            obj = torch.load(path, map_location=map_location, weights_only=True)
    except OSError as e:
        raise CheckpointError(f"cannot read checkpoint {path}: {e.strerror or e}") from e
    except Exception as e:  # torch raises UnpicklingError, RuntimeError, EOFError, ...
        # torch's own text (about `weights_only` defaults, or a bare errno) misleads here: a file that
        # loads without arbitrary code but is not a checkpoint is damaged or was written by something else
        raise CheckpointError(
            f"cannot read checkpoint {path}: the file is damaged (cut short?) or was not written by optgan "
            f"({type(e).__name__})"
        ) from e
    if not isinstance(obj, dict):
        raise CheckpointError(f"checkpoint {path} does not hold a mapping; is it an optgan checkpoint?")
    return obj


# --------------------------------------------------------------------------- RNG states


def generator_state(gen: torch.Generator | np.random.Generator) -> Any:
    """A plain / tensor snapshot of an injected generator."""
    if isinstance(gen, torch.Generator):
        return gen.get_state()
    if isinstance(gen, np.random.Generator):
        return _plain(gen.bit_generator.state)
    raise TypeError(f"unsupported generator type {type(gen).__name__}")


def set_generator_state(gen: torch.Generator | np.random.Generator, state: Any) -> None:
    """Inverse of :func:`generator_state`.

    A torch generator's state only fits a generator of the same device type (CPU: Mersenne
    Twister, 5,056 bytes; CUDA: Philox seed and offset, 16 bytes). A run resumed on another kind of
    device (`--set device=…`) cannot continue that stream: the generator is then seeded from a hash
    of the saved state, with a warning, so every resume of that checkpoint on this kind of device
    still draws the same numbers.
    """
    if isinstance(gen, torch.Generator):
        saved = state.to("cpu", torch.uint8) if isinstance(state, torch.Tensor) else state
        if isinstance(saved, torch.Tensor) and (saved.numel(), gen.device.type) in _OTHER_DEVICE_STATE:
            digest = hashlib.sha256(saved.numpy().tobytes()).digest()
            gen.manual_seed(int.from_bytes(digest[:8], "little") >> 1)
            log.warning("a random stream saved on another kind of device cannot continue on %s: it goes on from a "
                        "seed derived from the saved state (reproducible from this checkpoint on this kind of "
                        "device, but not the numbers a run that stayed on one device draws)", gen.device)
            return
        gen.set_state(saved)
    elif isinstance(gen, np.random.Generator):
        gen.bit_generator.state = _numpyify(state)
    else:
        raise TypeError(f"unsupported generator type {type(gen).__name__}")


def capture_rng(generators: Mapping[str, torch.Generator | np.random.Generator] | None = None) -> dict[str, Any]:
    """Snapshot of the global RNGs plus the named injected generators."""
    np_state = cast(tuple[Any, ...], np.random.get_state(legacy=True))
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": [
            np_state[0],
            torch.from_numpy(np.asarray(np_state[1], dtype=np.int64)),
            int(np_state[2]),
            int(np_state[3]),
            float(np_state[4]),
        ],
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "generators": {name: generator_state(g) for name, g in (generators or {}).items()},
    }
    return state


def restore_rng(
    state: Mapping[str, Any],
    generators: Mapping[str, torch.Generator | np.random.Generator] | None = None,
) -> None:
    """Restore a :func:`capture_rng` snapshot (the named generators must match its names)."""
    random.setstate(_tuplify(state["python"]))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"].to("cpu", torch.uint8))
    cuda = state.get("cuda") or []
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([s.to("cpu", torch.uint8) for s in cuda])
    saved = state.get("generators", {})
    for name, gen in (generators or {}).items():
        if name not in saved:
            raise CheckpointError(f"checkpoint has no state for random generator `{name}`")
        set_generator_state(gen, saved[name])


def _plain(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return torch.from_numpy(obj.copy())
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def _numpyify(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {k: _numpyify(v) for k, v in obj.items()}
    if isinstance(obj, torch.Tensor):
        return obj.numpy()
    return obj


def _tuplify(obj: Any) -> Any:
    # random.setstate needs tuples all the way down
    if isinstance(obj, (list, tuple)):
        return tuple(_tuplify(v) for v in obj)
    return obj
