"""The architecture picture of a genotype: its three cells as small DAGs, op names on the edges.

Matplotlib only (no graphviz). Node layouts follow the edge lists of
:func:`optgan.search_space.ops.edges_of` (SPEC §1.2–1.3): a generator up-cell goes
`in → n0, n1 → n2 → n3 (out)`, a discriminator down-cell `n0 (in) → n1 → n2, n3 → n4 (out)`.
Up-sampling edges are blue, down-sampling edges purple, `none` edges grey and dashed, and a
discriminator's e6 is dotted when e5 is `no_down` (then node4 = node2 + node3).

:func:`plot_genotype` draws each cell as its own strip and stacks the strips under the title
strip: text is most of a picture's cost (≈ 2 ms a label), and a search's children share most
cells with their parents, so the strips of the last cells drawn are kept (in memory, RGB).
"""

from __future__ import annotations

import functools
import math
import pathlib

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch

from optgan.search_space import Genotype
from optgan.study.pictures import PICTURE_DPI as _DPI
from optgan.search_space.ops import NO_DOWN, NUM_CELLS, edges_of

__all__ = ["plot_genotype", "genotype_figure", "NODE_LAYOUT"]

#: node name -> (x, y) in a cell's unit box, per network
NODE_LAYOUT: dict[str, dict[str, tuple[float, float]]] = {
    "gen": {"input": (0.0, 1.0), "node0": (1.0, 2.0), "node1": (1.0, 0.0), "node2": (2.0, 1.0),
            "node3": (3.6, 1.0)},
    "disc": {"node0": (0.0, 1.0), "node1": (1.3, 1.0), "node2": (2.4, 2.0), "node3": (2.4, 0.0),
             "node4": (3.6, 1.0)},
}
_NODE_TEXT = {"input": "in", "node0": "0", "node1": "1", "node2": "2", "node3": "3", "node4": "4"}
#: edges that bend (arc3 `rad`) so they do not cross a node or another edge
_BEND = {("gen", 4): -0.2, ("gen", 5): 0.2, ("disc", 1): -0.2, ("disc", 4): 0.2}
_KIND_COLOR = {"up": "#1f77b4", "normal": "#222222", "down": "#7b3294"}
_MUTED = "#b0b0b0"
#: distance (data units) between a node's centre and the ends of its edges
_NODE_RADIUS = 0.2
_OUT_RADIUS = 0.3


def plot_genotype(genotype: Genotype, path: str | pathlib.Path, *, title: str = "",
                  cell_notes: tuple[str, ...] | None = None) -> pathlib.Path:
    """Write the picture of :func:`genotype_figure` as PNG (title strip + one strip per cell)."""
    import io

    from PIL import Image

    strips = [_title_strip(title or _default_title(genotype))]
    for c in range(NUM_CELLS):
        styles = tuple((st["label"], st["color"], st["ls"]) for st in
                       (_edge_style(genotype, c, e.index, e.kind, genotype.op(c, e.index)) for e in edges_of(genotype.net)))
        note = f" — {cell_notes[c]}" if cell_notes else ""
        strips.append(_cell_strip(genotype.net, c, styles, f"cell {c + 1}{note}"))
    buffer = io.BytesIO()
    Image.fromarray(np.concatenate(strips)).save(buffer, format="png")
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue())
    return path


_WIDTH_IN, _TITLE_IN, _CELL_IN = 4.8, 0.78, 2.34  # 4.8 × 7.8 inches in all, as genotype_figure


@functools.lru_cache(maxsize=8)
def _title_strip(title: str) -> np.ndarray:
    fig = Figure(figsize=(_WIDTH_IN, _TITLE_IN), dpi=_DPI)
    fig.text(0.5, 0.45, title, ha="center", va="center", fontsize=11)
    return _pixels(fig)


@functools.lru_cache(maxsize=96)  # ≈ 32 MB of RGB strips
def _cell_strip(net: str, cell: int, styles: tuple[tuple[str, str, str], ...], title: str) -> np.ndarray:
    fig = Figure(figsize=(_WIDTH_IN, _CELL_IN), dpi=_DPI)
    ax = fig.add_axes((0.01, 0.0, 0.98, 0.88))
    _draw_cell_edges(ax, net, [{"label": lb, "color": co, "ls": ls} for lb, co, ls in styles])
    ax.set_title(title, fontsize=10)
    return _pixels(fig)


def _pixels(fig: Figure) -> np.ndarray:
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    pixels = np.asarray(canvas.buffer_rgba())[..., :3].copy()
    pixels.setflags(write=False)  # shared by every picture that reuses the strip
    return pixels


def _default_title(genotype: Genotype) -> str:
    return f"{'generator' if genotype.net == 'gen' else 'discriminator'} genotype"


def genotype_figure(genotype: Genotype, *, title: str = "", cell_notes: tuple[str, ...] | None = None) -> Figure:
    """The three cells of `genotype` one under the other; `cell_notes` go into each cell title."""
    fig = Figure(figsize=(4.8, 7.8))
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.0, top=0.9, hspace=0.15)
    for c in range(NUM_CELLS):
        ax = fig.add_subplot(NUM_CELLS, 1, c + 1)
        _draw_cell(ax, genotype, c)
        note = f" — {cell_notes[c]}" if cell_notes else ""
        ax.set_title(f"cell {c + 1}{note}", fontsize=10)
    fig.suptitle(title or _default_title(genotype), fontsize=11)
    return fig


def _draw_cell(ax, genotype: Genotype, cell: int) -> None:  # noqa: ANN001 - matplotlib Axes
    _draw_cell_edges(ax, genotype.net, [_edge_style(genotype, cell, e.index, e.kind, genotype.op(cell, e.index))
                                        for e in edges_of(genotype.net)])


def _draw_cell_edges(ax, net: str, styles: list[dict]) -> None:  # noqa: ANN001 - matplotlib Axes
    """One cell of network `net` whose edges (in `edges_of` order) look like `styles`."""
    layout = NODE_LAYOUT[net]
    ax.set_xlim(-0.3, 3.9)
    ax.set_ylim(-0.3, 2.3)
    ax.set_aspect("equal")  # arcs are bent in display space: keep it a uniform scaling
    ax.axis("off")
    out = max(layout, key=lambda n: layout[n][0])
    for spec, style in zip(edges_of(net), styles):
        _draw_edge(ax, layout[spec.src], layout[spec.dst], _BEND.get((net, spec.index), 0.0),
                   f"e{spec.index} {style['label']}", style, out=spec.dst == out)
    for name, (x, y) in layout.items():
        face = "#fde9c9" if name == out else "#e8eef7"
        ax.text(x, y, _NODE_TEXT[name] if name != out else f"{_NODE_TEXT[name]}\nout", ha="center",
                va="center", fontsize=9, zorder=4,
                bbox={"boxstyle": "circle,pad=0.35", "fc": face, "ec": "#555555"})


def _edge_style(genotype: Genotype, cell: int, edge: int, kind: str, op: str) -> dict:
    if genotype.is_ignored(cell, edge):
        return {"label": "(identity)", "color": _MUTED, "ls": ":"}
    if op == "none":
        return {"label": "none", "color": _MUTED, "ls": "--"}
    if op == NO_DOWN:
        return {"label": "no_down", "color": _MUTED, "ls": ":"}
    return {"label": op, "color": _KIND_COLOR[kind], "ls": "-"}


def _draw_edge(ax, a: tuple[float, float], b: tuple[float, float], rad: float, label: str,  # noqa: ANN001
               style: dict, out: bool) -> None:
    dx, dy = b[0] - a[0], b[1] - a[1]
    # end points moved off the node circles here: matplotlib's own shrinking bisects the curve
    length = math.hypot(dx, dy)
    ka, kb = _NODE_RADIUS / length, (_OUT_RADIUS if out else _NODE_RADIUS) / length
    start, end = (a[0] + ka * dx, a[1] + ka * dy), (b[0] - kb * dx, b[1] - kb * dy)
    ax.add_patch(FancyArrowPatch(start, end, connectionstyle=f"arc3,rad={rad}", arrowstyle="-|>",
                                 mutation_scale=10, color=style["color"], ls=style["ls"], lw=1.2,
                                 shrinkA=0, shrinkB=0, zorder=2))
    # midpoint of arc3's quadratic Bézier: chord midpoint + rad/2 · (dy, -dx); text along the chord
    mx, my = (a[0] + b[0]) / 2 + rad * dy / 2, (a[1] + b[1]) / 2 - rad * dx / 2
    ax.text(mx, my, label, ha="center", va="center", fontsize=7.5, color=style["color"], zorder=3,
            rotation=math.degrees(math.atan2(dy, dx)), rotation_mode="anchor",
            bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.85})
