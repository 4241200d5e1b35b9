"""Pictures of a search as pure functions: arrays in, one PNG file out (matplotlib Agg, no pyplot).

- :func:`plot_pareto` (:func:`pareto_figure`): one round's objective values, one panel per pair of objectives, the
  round's Pareto front highlighted (and an optional chosen trial starred);
- :func:`plot_learning_curves`: best and mean of every objective per round, and the
  normalised hypervolume of each round (:func:`normalized_hypervolumes`);
- :func:`save_sample_grid`: a grid PNG from uint8 N×C×H×W images.

The architecture picture of a genotype is in :mod:`optgan.study.arch_picture`.

Hypervolume reference point: objectives are turned into minimisation form (maximised ones
negated), each is scaled to [0, 1] by its minimum and maximum over *all* points passed in
(every round of the stage), and the reference point is :data:`HV_REFERENCE` (1.1) in every
scaled objective. So the curve is comparable across rounds of one picture (not across
searches), lies in [0, 1.1^m], and every point contributes.
"""

from __future__ import annotations

import itertools
import math
import pathlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from optuna._hypervolume import compute_hypervolume

__all__ = ["HV_REFERENCE", "nondominated_mask", "to_minimization", "normalized_hypervolumes",
           "pareto_figure", "plot_pareto", "plot_learning_curves", "save_sample_grid", "save_figure",
           "panels_figure", "axis_label"]

#: reference point of the normalised hypervolume, in every scaled (minimised) objective
HV_REFERENCE = 1.1
PICTURE_DPI = 100  #: resolution of every picture optgan writes
_DPI = PICTURE_DPI


def to_minimization(values: np.ndarray, directions: Sequence[str]) -> np.ndarray:
    """`values` (n × m) with every `maximize` column negated."""
    signs = np.array([-1.0 if d == "maximize" else 1.0 for d in directions])
    return np.asarray(values, dtype=float).reshape(-1, len(signs)) * signs


def nondominated_mask(values: np.ndarray, directions: Sequence[str]) -> np.ndarray:
    """True for the rows of `values` no other row dominates (the sampler's rule, as `results.pareto_trials`)."""
    from optgan.sampler.pareto import nondominated_mask as mask

    return mask(to_minimization(values, directions))


def normalized_hypervolumes(rounds: Sequence[np.ndarray], directions: Sequence[str]) -> list[float]:
    """Hypervolume of each round's points, with one normalisation for all (see module doc)."""
    mins = [to_minimization(r, directions) for r in rounds]
    nonempty = [r for r in mins if len(r)]
    if not nonempty:
        return [0.0 for _ in rounds]
    stacked = np.concatenate(nonempty)
    lo, hi = stacked.min(axis=0), stacked.max(axis=0)
    scale = np.where(hi > lo, hi - lo, 1.0)
    ref = np.full(len(directions), HV_REFERENCE)
    return [float(compute_hypervolume((r - lo) / scale, ref)) if len(r) else 0.0 for r in mins]


def save_figure(fig: Figure, path: str | pathlib.Path, *, tight: bool = False) -> pathlib.Path:
    """Write `fig` as PNG (Agg canvas, no global pyplot state) and return the path.

    `tight=False` skips the bounding-box pass (one draw instead of two) for fixed layouts.
    """
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)
    fig.savefig(path, format="png", dpi=_DPI, bbox_inches="tight" if tight else None,
                metadata={"Software": None})
    return path


def panels_figure(width: float, height: float, rows: int) -> Figure:
    """A figure with fixed margins in inches (a layout engine would cost a second draw)."""
    fig = Figure(figsize=(width, height))
    fig.subplots_adjust(left=0.75 / width, right=1 - 0.15 / width, bottom=0.55 / height,
                        top=1 - 0.6 / height, wspace=0.32, hspace=0.55 if rows > 1 else 0.2)
    return fig


def axis_label(name: str, direction: str) -> str:
    return f"{name} {'↑' if direction == 'maximize' else '↓'}"


def plot_pareto(values: np.ndarray, names: Sequence[str], directions: Sequence[str],
                path: str | pathlib.Path, *, labels: Sequence[Any] | None = None,
                chosen: int | None = None, title: str = "") -> pathlib.Path:
    """Write :func:`pareto_figure` as PNG."""
    return save_figure(pareto_figure(values, names, directions, labels=labels, chosen=chosen, title=title), path)


def pareto_figure(values: np.ndarray, names: Sequence[str], directions: Sequence[str], *,
                  labels: Sequence[Any] | None = None, chosen: int | None = None, title: str = "") -> Figure:
    """Scatter every pair of objectives of one round; front points red (label "Pareto front").

    `values` are the COMPLETE trials of one round (n × m), `labels` their trial numbers
    (written next to front points), `chosen` an index into `values` to mark with a star.
    """
    values = np.asarray(values, dtype=float).reshape(-1, len(names))
    front = nondominated_mask(values, directions) if len(values) else np.zeros(0, dtype=bool)
    pairs = list(itertools.combinations(range(len(names)), 2))
    cols = min(3, len(pairs))
    rows = math.ceil(len(pairs) / cols)
    fig = panels_figure(4.2 * cols, 3.6 * rows, rows)
    for k, (i, j) in enumerate(pairs):
        ax = fig.add_subplot(rows, cols, k + 1)
        ax.scatter(values[~front, i], values[~front, j], s=22, c="#9aa0a6", label="dominated")
        ax.scatter(values[front, i], values[front, j], s=36, c="#d62728", label="Pareto front")
        if labels is not None:
            for idx in np.flatnonzero(front):
                ax.annotate(str(labels[int(idx)]), (values[idx, i], values[idx, j]), fontsize=7,
                            xytext=(3, 3), textcoords="offset points")
        if chosen is not None and 0 <= chosen < len(values):
            ax.scatter([values[chosen, i]], [values[chosen, j]], s=160, marker="*", c="#ffbf00",
                       edgecolors="k", linewidths=0.6, label="chosen", zorder=3)
        ax.set_xlabel(axis_label(names[i], directions[i]))
        ax.set_ylabel(axis_label(names[j], directions[j]))
        ax.grid(alpha=0.3)
        if k == 0:
            ax.legend(fontsize=7, loc="best")
    text = title or f"{int(front.sum())} of {len(values)} on the Pareto front"
    # one panel (two objectives) is narrow: break a long title instead of clipping it
    fig.suptitle(text.replace(": ", ":\n", 1) if len(text) > 12 * fig.get_figwidth() else text,
                 fontsize="medium")
    return fig


def plot_learning_curves(rounds: Sequence[int], best: Mapping[str, Sequence[float]],
                         mean: Mapping[str, Sequence[float]], directions: Sequence[str], path: str | pathlib.Path, *,
                         hypervolume: Sequence[float] | None = None, title: str = "") -> pathlib.Path:
    """One panel per objective (best solid, mean dashed) and one for the hypervolume, over rounds.

    `best` / `mean` map objective names (in order) to one value per entry of `rounds`
    (NaN where a round had no COMPLETE trial).
    """
    names = list(best)
    panels = len(names) + (hypervolume is not None)
    cols = min(4, panels)
    rows = math.ceil(panels / cols)
    fig = panels_figure(3.6 * cols, 3.0 * rows, rows)
    x = [r + 1 for r in rounds]  # rounds are shown 1-based, as the run's log prints them
    for k, name in enumerate(names):
        ax = fig.add_subplot(rows, cols, k + 1)
        ax.plot(x, best[name], "o-", c="#1f77b4", label="best")
        ax.plot(x, mean[name], "s--", c="#ff7f0e", ms=4, label="mean")
        ax.set_title(axis_label(name, directions[k]), fontsize=10)
        _round_axis(ax)
        if k == 0:
            ax.legend(fontsize=7)
    if hypervolume is not None:
        ax = fig.add_subplot(rows, cols, panels)
        ax.plot(x, hypervolume, "o-", c="#2ca02c")
        ax.set_title(f"hypervolume (normalised, ref {HV_REFERENCE})", fontsize=10)
        _round_axis(ax)
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)


def _round_axis(ax: Any) -> None:
    ax.set_xlabel("round")
    ax.grid(alpha=0.3)
    ax.xaxis.get_major_locator().set_params(integer=True)


def save_sample_grid(images: Any, path: str | pathlib.Path, *, nrow: int | None = None,
                     padding: int = 2, min_width: int = 256) -> pathlib.Path:
    """Write uint8 images (torch tensor or array, N×C×H×W, C = 1 or 3) as one grid PNG.

    Grids narrower than `min_width` pixels are enlarged by an integer factor (nearest
    neighbour: pixels stay sharp), so 32×32 images are not thumbnails of thumbnails.
    """
    import torch
    from PIL import Image
    from torchvision.utils import make_grid

    t = images if isinstance(images, torch.Tensor) else torch.as_tensor(np.asarray(images))
    if t.dtype != torch.uint8 or t.ndim != 4 or t.shape[1] not in (1, 3) or t.shape[0] == 0:
        raise ValueError(f"sample grid needs uint8 N×C×H×W images with C in (1, 3), got "
                         f"{tuple(t.shape)} {t.dtype}")
    n = t.shape[0]
    grid = make_grid(t.detach().cpu(), nrow=nrow or math.ceil(math.sqrt(n)), padding=padding, pad_value=255)
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    picture = Image.fromarray(grid.permute(1, 2, 0).contiguous().numpy())
    factor = max(1, math.ceil(min_width / picture.width))
    if factor > 1:
        picture = picture.resize((picture.width * factor, picture.height * factor), Image.Resampling.NEAREST)
    picture.save(path, format="PNG")
    return path
