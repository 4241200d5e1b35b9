"""Genotypes: frozen, validated, hashable architectures of G or D, and their encodings.

A genotype is 3 cells × 7 edges of op names (SPEC §1). It converts to and from
- Optuna parameters: one categorical per edge named ``{net}.c{cell}.e{edge}`` (cells 1-based),
- the reference code's integer arrays (``-1`` = ``no_down`` for a discriminator's e5/e6),
- JSON (``{"net": ..., "cells": [[op names]]}``, or integer rows).
Validation errors name the network, the cell, the edge and the rule that failed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from optgan.errors import GenotypeError
from optgan.search_space.json_input import json_source, read_json_argument
from optgan.search_space.ops import (
    CANONICAL_IGNORED_DOWN,
    NETS,
    NO_DOWN,
    NUM_CELLS,
    NUM_EDGES,
    edges_of,
    node_inputs_of,
)

__all__ = ["Genotype", "param_name", "load_genotype"]


def param_name(net: str, cell: int, edge: int) -> str:
    """Optuna parameter name of `edge` (0-based) in `cell` (0-based), e.g. ``gen.c1.e0``."""
    return f"{net}.c{cell + 1}.e{edge}"


@dataclass(frozen=True)
class Genotype:
    """One architecture: ``cells[c][e]`` is the op name on edge ``e`` of cell ``c`` (0-based)."""

    net: str
    cells: tuple[tuple[str, ...], ...]

    def __post_init__(self) -> None:
        if self.net not in NETS:
            raise GenotypeError(f"network must be 'gen' or 'disc', got {self.net!r}")
        cells = _as_cells(self.cells, self.net)
        if self.net == "disc":
            cells = tuple(_canonical_disc_cell(c) for c in cells)
        object.__setattr__(self, "cells", cells)
        for c, ops in enumerate(cells):
            _validate_cell(self.net, c, ops)

    # ------------------------------------------------------------------ access
    def op(self, cell: int, edge: int) -> str:
        """The op name on `edge` of `cell` (both 0-based)."""
        return self.cells[cell][edge]

    def is_ignored(self, cell: int, edge: int) -> bool:
        """True for a discriminator's e6 when e5 is `no_down` (its value has no effect)."""
        return self.net == "disc" and edge == 6 and self.cells[cell][5] == NO_DOWN

    def with_op(self, cell: int, edge: int, op: str) -> Genotype:
        """A copy with one edge changed (validated)."""
        cells = [list(c) for c in self.cells]
        cells[cell][edge] = op
        return Genotype(self.net, tuple(tuple(c) for c in cells))

    # ------------------------------------------------------------------ Optuna params
    def to_params(self) -> dict[str, str]:
        """``{"gen.c1.e0": "bilinear", ...}`` — one categorical value per edge."""
        return {
            param_name(self.net, c, e): self.cells[c][e]
            for c in range(NUM_CELLS)
            for e in range(NUM_EDGES)
        }

    @classmethod
    def from_params(cls, net: str, params: Mapping[str, Any]) -> Genotype:
        """Inverse of :meth:`to_params`; other keys in `params` are ignored."""
        rows = []
        for c in range(NUM_CELLS):
            row = []
            for e in range(NUM_EDGES):
                key = param_name(net, c, e)
                if key not in params:
                    raise GenotypeError(f"parameter `{key}` is missing for a {net} genotype")
                row.append(params[key])
            rows.append(tuple(row))
        return cls(net, tuple(rows))

    # ------------------------------------------------------------------ reference arrays
    def to_array(self) -> list[list[int]]:
        """The reference code's integer rows (``-1`` for ``no_down`` and the ignored e6)."""
        rows = []
        for c, ops in enumerate(self.cells):
            row = []
            for spec, op in zip(edges_of(self.net), ops):
                if op == NO_DOWN or self.is_ignored(c, spec.index):
                    row.append(-1)
                else:
                    row.append(spec.code_vocab.index(op))
            rows.append(row)
        return rows

    @classmethod
    def from_array(cls, net: str, rows: Sequence[Sequence[int]]) -> Genotype:
        """Build from the reference code's integer rows (e.g. EAGAN's published genotypes)."""
        if net not in NETS:
            raise GenotypeError(f"network must be 'gen' or 'disc', got {net!r}")
        _check_shape(rows, net)
        cells = []
        for c, row in enumerate(rows):
            ops = []
            for spec, value in zip(edges_of(net), row):
                ops.append(_decode_int(net, c, spec, value, row))
            cells.append(tuple(ops))
        return cls(net, tuple(cells))

    # ------------------------------------------------------------------ JSON
    def to_json_dict(self) -> dict[str, Any]:
        """``{"net", "cells" (op names), "array" (reference integers)}``."""
        return {"net": self.net, "cells": [list(c) for c in self.cells], "array": self.to_array()}

    def to_json(self) -> str:
        return json.dumps(self.to_json_dict())

    @classmethod
    def from_json(cls, obj: Any, net: str | None = None) -> Genotype:
        """From a parsed JSON object: ``{"net", "cells", "array"}`` (either form, or both when they
        agree) or bare rows (names or integers)."""
        if isinstance(obj, Mapping):
            found = obj.get("net", net)
            if "net" in obj and found not in ("gen", "disc"):
                raise GenotypeError(f"genotype JSON `net` = {found!r}; allowed: 'gen', 'disc'")
            if net is not None and found != net:
                raise GenotypeError(f"expected a {net} genotype, the JSON describes a {found} one")
            if "cells" not in obj and "array" not in obj:
                raise GenotypeError("genotype JSON object needs a `cells` key (3 rows of 7 op names) or an "
                                    "`array` key (the reference code's integers)")
            if found is None:
                raise GenotypeError("cannot tell whether the genotype is 'gen' or 'disc'; give `net`")
            forms = {k: cls.from_json(obj[k], found) for k in ("cells", "array") if k in obj}
            if len(forms) == 2 and forms["cells"] != forms["array"]:  # e.g. one of them edited by hand
                raise GenotypeError("genotype JSON: `cells` and `array` describe different architectures "
                                    "(edit one of them, delete the other)")
            return next(iter(forms.values()))
        if net is None:
            raise GenotypeError("cannot tell whether the genotype is 'gen' or 'disc'; give `net`")
        _check_shape(obj, net)
        _check_one_form(obj, net)
        if _is_index(obj[0][0]):
            return cls.from_array(net, obj)
        return cls(net, tuple(tuple(row) for row in obj))

    # ------------------------------------------------------------------ display
    def __str__(self) -> str:
        return " | ".join(
            f"c{c + 1}: " + ", ".join(
                f"e{e}={op}" for e, op in enumerate(ops) if not self.is_ignored(c, e)
            )
            for c, ops in enumerate(self.cells)
        )


def load_genotype(text_or_path: str, net: str | None = None, what: str = "genotype") -> Genotype:
    """Parse a genotype from a JSON string or a path to a JSON file (named or integer form);
    problems are GenotypeErrors naming `what` and the file."""
    obj = read_json_argument(text_or_path, what)
    with json_source(text_or_path, what):
        return Genotype.from_json(obj, net)


# ---------------------------------------------------------------------- internals


def _where(net: str, cell: int, edge: int | None = None) -> str:
    spec = "" if edge is None else f", edge e{edge} ({edges_of(net)[edge].src}→{edges_of(net)[edge].dst})"
    return f"{net} genotype, cell {cell + 1}{spec}"


def _check_shape(rows: Any, net: str) -> None:
    if not isinstance(rows, Sequence) or isinstance(rows, str) or len(rows) != NUM_CELLS:
        raise GenotypeError(f"{net} genotype must have {NUM_CELLS} cells (rows), got {_describe(rows)}")
    for c, row in enumerate(rows):
        if not isinstance(row, Sequence) or isinstance(row, str) or len(row) != NUM_EDGES:
            raise GenotypeError(f"{_where(net, c)}: must have {NUM_EDGES} edges, got {_describe(row)}")


def _is_index(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_one_form(rows: Any, net: str) -> None:
    """All op names or all integer op indices; the first value of another kind is named."""
    first = rows[0][0]
    if not isinstance(first, str) and not _is_index(first):
        raise GenotypeError(f"{_where(net, 0, 0)}: got {first!r}; an edge is an op name or an integer op index")
    names = isinstance(first, str)
    for c, row in enumerate(rows):
        for e, value in enumerate(row):
            if (isinstance(value, str) if names else _is_index(value)):
                continue
            form = "op names" if names else "integer op indices"
            raise GenotypeError(f"{_where(net, c, e)}: got {value!r} where the rows hold {form} (as their first "
                                "value does); give every edge in one form")


def _describe(x: Any) -> str:
    if isinstance(x, Sequence) and not isinstance(x, str):
        return f"{len(x)} item{'' if len(x) == 1 else 's'}"
    return f"{x!r}, not a list"


def _as_cells(cells: Any, net: str) -> tuple[tuple[str, ...], ...]:
    _check_shape(cells, net)
    out = []
    for c, row in enumerate(cells):
        for e, op in enumerate(row):
            if not isinstance(op, str):
                raise GenotypeError(f"{_where(net, c, e)}: op must be a name, got {op!r}")
        out.append(tuple(row))
    return tuple(out)


def _canonical_disc_cell(ops: tuple[str, ...]) -> tuple[str, ...]:
    if ops[5] == NO_DOWN and ops[6] != CANONICAL_IGNORED_DOWN:
        return ops[:6] + (CANONICAL_IGNORED_DOWN,)
    return ops


def _validate_cell(net: str, c: int, ops: tuple[str, ...]) -> None:
    for spec, op in zip(edges_of(net), ops):
        if op not in spec.choices:
            raise GenotypeError(
                f"{_where(net, c, spec.index)}: op {op!r} is not allowed on this edge; "
                f"allowed: {', '.join(spec.choices)}"
            )
    for node, feeding in node_inputs_of(net):
        if all(ops[e] == "none" for e in feeding):
            names = ", ".join(f"e{e}" for e in feeding)
            raise GenotypeError(f"{_where(net, c)}: {node} needs at least one non-`none` input among {names}")


def _decode_int(net: str, c: int, spec: Any, value: Any, row: Sequence[Any]) -> str:
    if isinstance(value, bool) or not isinstance(value, int):
        raise GenotypeError(f"{_where(net, c, spec.index)}: expected an integer op index, got {value!r}")
    if value == -1 and spec.kind == "down":
        if spec.index == 5:
            return NO_DOWN
        if row[5] == -1:
            return CANONICAL_IGNORED_DOWN
        raise GenotypeError(
            f"{_where(net, c, spec.index)}: -1 (no_down) is only allowed on e6 when e5 is -1 too"
        )
    if not 0 <= value < len(spec.code_vocab):
        raise GenotypeError(
            f"{_where(net, c, spec.index)}: op index {value} is out of range 0..{len(spec.code_vocab) - 1}"
        )
    return spec.code_vocab[value]
