"""The operation vocabularies and the edge layout of the AdversarialNAS cells (SPEC §1.1–1.3).

The tuple order of each vocabulary is the one-hot position and the integer used by the
reference code's array format. This module is pure data: no torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Net = Literal["gen", "disc"]
EdgeKind = Literal["up", "normal", "down"]

NETS: tuple[str, ...] = ("gen", "disc")
NUM_CELLS = 3
NUM_EDGES = 7

NORMAL_OPS: tuple[str, ...] = (
    "none",
    "skip_connect",
    "conv_1x1",
    "conv_3x3",
    "conv_5x5",
    "dil_conv_3x3",
    "dil_conv_5x5",
)
UP_OPS: tuple[str, ...] = ("nearest", "bilinear", "conv_transpose")
DOWN_OPS: tuple[str, ...] = (
    "avg_pool",
    "max_pool",
    "conv_3x3",
    "conv_5x5",
    "dil_conv_3x3",
    "dil_conv_5x5",
)
NO_DOWN = "no_down"
#: The value stored for a discriminator's e6 when e5 is `no_down` (e6 is then ignored).
CANONICAL_IGNORED_DOWN = DOWN_OPS[0]


@dataclass(frozen=True)
class EdgeSpec:
    """One edge of a cell: where it goes, which vocabulary it uses and which ops it allows.

    `code_vocab` is the list the reference code indexes with its integers (so `choices` may be
    a subset of it, e.g. a discriminator's e0 excludes `none` but is indexed in NORMAL_OPS).
    """

    index: int
    src: str
    dst: str
    kind: EdgeKind
    choices: tuple[str, ...]
    code_vocab: tuple[str, ...]


_NORMAL_NO_NONE = tuple(op for op in NORMAL_OPS if op != "none")

GEN_EDGES: tuple[EdgeSpec, ...] = (
    EdgeSpec(0, "input", "node0", "up", UP_OPS, UP_OPS),
    EdgeSpec(1, "input", "node1", "up", UP_OPS, UP_OPS),
    EdgeSpec(2, "node0", "node2", "normal", NORMAL_OPS, NORMAL_OPS),
    EdgeSpec(3, "node1", "node2", "normal", NORMAL_OPS, NORMAL_OPS),
    EdgeSpec(4, "node0", "node3", "normal", NORMAL_OPS, NORMAL_OPS),
    EdgeSpec(5, "node1", "node3", "normal", NORMAL_OPS, NORMAL_OPS),
    EdgeSpec(6, "node2", "node3", "normal", NORMAL_OPS, NORMAL_OPS),
)

DISC_EDGES: tuple[EdgeSpec, ...] = (
    EdgeSpec(0, "node0", "node1", "normal", _NORMAL_NO_NONE, NORMAL_OPS),
    EdgeSpec(1, "node0", "node2", "normal", NORMAL_OPS, NORMAL_OPS),
    EdgeSpec(2, "node1", "node2", "normal", NORMAL_OPS, NORMAL_OPS),
    EdgeSpec(3, "node1", "node3", "normal", NORMAL_OPS, NORMAL_OPS),
    EdgeSpec(4, "node0", "node3", "normal", NORMAL_OPS, NORMAL_OPS),
    EdgeSpec(5, "node2", "node4", "down", DOWN_OPS + (NO_DOWN,), DOWN_OPS),
    EdgeSpec(6, "node3", "node4", "down", DOWN_OPS, DOWN_OPS),
)

#: Groups of edges of which at least one must be non-`none` (the node they feed needs an input).
GEN_NODE_INPUTS: tuple[tuple[str, tuple[int, ...]], ...] = (("node2", (2, 3)), ("node3", (4, 5, 6)))
DISC_NODE_INPUTS: tuple[tuple[str, tuple[int, ...]], ...] = (("node2", (1, 2)), ("node3", (3, 4)))


def edges_of(net: str) -> tuple[EdgeSpec, ...]:
    """The seven edge specs of one cell of `net` (`"gen"` or `"disc"`)."""
    if net == "gen":
        return GEN_EDGES
    if net == "disc":
        return DISC_EDGES
    raise ValueError(f"`net` must be 'gen' or 'disc', got {net!r}")


def node_inputs_of(net: str) -> tuple[tuple[str, tuple[int, ...]], ...]:
    """For each intermediate node of `net`'s cell, the edges feeding it (one must be non-none)."""
    return GEN_NODE_INPUTS if net == "gen" else DISC_NODE_INPUTS
