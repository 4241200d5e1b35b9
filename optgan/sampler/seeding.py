"""Per-proposal random streams derived from (seed, network, stream, generation, slot).

No sampler component keeps a process-local RNG that advances between calls: every random
decision takes a fresh `numpy.random.Generator` built from a `SeedSequence` whose spawn key
names exactly what it is for. A process that restarts after a crash therefore proposes what an
uninterrupted one would, whatever it asked before.
"""

from __future__ import annotations

import zlib

import numpy as np

__all__ = ["STREAM_PROPOSAL", "STREAM_SELECTION", "STREAM_INDEPENDENT", "STREAM_ENQUEUED",
           "rng_for", "seed_for"]

_NET_CODE = {"gen": 0, "disc": 1}
#: the plan entry of one slot (initial draw or child)
STREAM_PROPOSAL = 0
#: random tie-breaking of a selection strategy (one per generation)
STREAM_SELECTION = 1
#: parameters outside the architecture space (the objective's own suggestions)
STREAM_INDEPENDENT = 2
#: the free edges of a partially enqueued trial
STREAM_ENQUEUED = 3


def _seed_sequence(seed: int, net: str, stream: int, *key: int) -> np.random.SeedSequence:
    return np.random.SeedSequence(int(seed), spawn_key=(_NET_CODE[net], stream, *map(int, key)))


def rng_for(seed: int, net: str, stream: int, *key: int) -> np.random.Generator:
    """A fresh generator for `stream` at `key` (e.g. generation, slot) of the `net` search."""
    return np.random.Generator(np.random.PCG64(_seed_sequence(seed, net, stream, *key)))


def seed_for(seed: int, net: str, stream: int, *key: int | str) -> int:
    """A 32-bit integer seed for APIs that want one (string key parts are CRC32-hashed)."""
    ints = [zlib.crc32(k.encode()) if isinstance(k, str) else int(k) for k in key]
    return int(_seed_sequence(seed, net, stream, *ints).generate_state(1)[0])
