"""The generator's up-cell and the discriminator's down-cell (SPEC §1.2–1.3).

A cell holds, per edge, an ``nn.ModuleDict`` from op name to op module: every candidate in a
supernet, only the genotype's op in a standalone network. The forward code is the same for
both and takes the op name per edge; ``none`` edges are skipped (never computed as zeros) and
the DAG is clean (no in-place adds, so a node that is a single ``skip_connect`` of another node
never aliases it into a later update). Modules of dead nodes are built and run, as in the
reference code (SPEC §1.4 counts them).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import cast

import torch
from torch import nn

from optgan.search_space.ops import NO_DOWN, edges_of
from optgan.supernet.ops import UpsampledConv2d, make_op

__all__ = ["UpCell", "DownCell", "supernet_choices", "genotype_choices"]

Choices = Sequence[Iterable[str]]


def supernet_choices(net: str) -> tuple[tuple[str, ...], ...]:
    """Every op with a module, per edge of a `net` cell (all candidates but none / no_down)."""
    return tuple(
        tuple(op for op in spec.choices if op not in ("none", NO_DOWN)) for spec in edges_of(net)
    )


def genotype_choices(net: str, ops: Sequence[str]) -> tuple[tuple[str, ...], ...]:
    """The ops one standalone cell builds: the genotype's own (a no_down cell's e6: none)."""
    no_down = net == "disc" and ops[5] == NO_DOWN
    return tuple(
        () if op in ("none", NO_DOWN) or (no_down and e == 6) else (op,)
        for e, op in enumerate(ops)
    )


def _edge_modules(net: str, c: int, choices: Choices) -> nn.ModuleList:
    specs = edges_of(net)
    if len(choices) != len(specs):
        raise ValueError(f"a {net} cell has {len(specs)} edges, got choices for {len(choices)}")
    spectral = net == "disc"
    return nn.ModuleList(
        nn.ModuleDict({
            op: make_op(spec.kind, op, c, spectral=spectral,
                        pre_relu=not (spectral and spec.index == 4))
            for op in ops
        })
        for spec, ops in zip(specs, choices)
    )


def _node(terms: Iterable[tuple[nn.ModuleDict, str, torch.Tensor]]) -> torch.Tensor:
    """Sum of the non-none incoming edges of a node (validity guarantees at least one)."""
    out: torch.Tensor | None = None
    for mods, op, x in terms:
        if op == "none":
            continue
        y = mods[op](x)
        out = y if out is None else out + y
    assert out is not None, "a node without input: the genotype was not validated"
    return out


class UpCell(nn.Module):
    """Generator up-cell: two up edges, five normal edges, 1×1 convs for earlier skip features.

    ``forward(x, skips, ops)`` returns ``(node3, node2)``; node2 is taken after the skip-ins
    (a skip feature upsampled to node2's size, then a 1×1 conv: computed in the other order,
    the same function, by :class:`~optgan.supernet.ops.UpsampledConv2d`) and is what later cells
    receive as their skip features.
    """

    def __init__(self, c: int, skip_mode: str, num_skip_in: int, choices: Choices) -> None:
        super().__init__()
        self.skip_mode = skip_mode
        self.edges = _edge_modules("gen", c, choices)
        # 1×1 convs of the upsampled skips, computed before the upsampling (same function, less work)
        self.skip_in = nn.ModuleList(UpsampledConv2d(c, c, 1) for _ in range(num_skip_in))

    def forward(self, x: torch.Tensor, skips: Sequence[torch.Tensor],
                ops: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        e = cast("Sequence[nn.ModuleDict]", self.edges)
        n0 = e[0][ops[0]](x)
        n1 = e[1][ops[1]](x)
        n2 = _node(((e[2], ops[2], n0), (e[3], ops[3], n1)))
        size = n2.shape[-2:]
        for conv, skip in zip(self.skip_in, skips):
            n2 = n2 + conv(skip, size, self.skip_mode)
        n3 = _node(((e[4], ops[4], n0), (e[5], ops[5], n1), (e[6], ops[6], n2)))
        return n3, n2


class DownCell(nn.Module):
    """Discriminator down-cell (spectral norm on every conv; e4 without its pre-ReLU).

    node1 = e0(x); node2 = e1(x) + e2(node1); node3 = e3(node1) + e4(x);
    output = e5(node2) + e6(node3), or node2 + node3 when e5 is ``no_down``.
    """

    def __init__(self, c: int, choices: Choices) -> None:
        super().__init__()
        self.edges = _edge_modules("disc", c, choices)

    def forward(self, x: torch.Tensor, ops: Sequence[str]) -> torch.Tensor:
        e = cast("Sequence[nn.ModuleDict]", self.edges)
        n1 = e[0][ops[0]](x)
        n2 = _node(((e[1], ops[1], x), (e[2], ops[2], n1)))
        n3 = _node(((e[3], ops[3], n1), (e[4], ops[4], x)))
        if ops[5] == NO_DOWN:
            return n2 + n3
        return e[5][ops[5]](n2) + e[6][ops[6]](n3)
