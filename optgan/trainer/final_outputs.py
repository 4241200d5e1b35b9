"""The human-facing files of a training run: sample grids, metrics CSV / JSONL, learning curve.

The metrics files are rewritten in full (atomically) from the history stored in the checkpoint,
so after a kill and a resume they hold exactly one row per finished epoch — never duplicates
from epochs that were re-run.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Sequence
from typing import Any

import torch

from optgan.errors import ConfigError
from optgan.trainer.checkpoint import atomic_write_bytes

__all__ = [
    "HISTORY_FIELDS",
    "CHECKPOINT_LAST",
    "CHECKPOINT_BEST",
    "METRICS_CSV",
    "METRICS_JSONL",
    "CURVE_PNG",
    "SAMPLES_DIR",
    "sync_history",
    "save_grid",
    "write_history",
]

CHECKPOINT_LAST = "checkpoint-last.pt"
CHECKPOINT_BEST = "checkpoint-best.pt"
METRICS_CSV = "metrics.csv"
METRICS_JSONL = "metrics.jsonl"
CURVE_PNG = "learning_curve.png"
SAMPLES_DIR = "samples"
#: empty file marking a folder as an `optgan train` output directory (so a rerun may resume there)
RUN_MARKER = ".optgan-train"

#: first columns of metrics.csv, one row per finished epoch (`upper_bound`: the MMD kernel bound
#: used during the epoch); then the score columns of the evaluations, named as optgan.metrics
#: names them (`IS`, `IS_std`, `FID`, `KID`, `KID_std`, `num_images`; `FID_classifier`, ... for
#: the classifier extractor), empty in epochs without an evaluation
HISTORY_FIELDS = ("epoch", "iteration", "g_steps", "d_loss", "g_loss", "nonfinite_steps", "lr_g", "lr_d", "upper_bound",
                  "seconds")


#: image formats a grid may be written in, by file extension
_GRID_FORMATS = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".webp": "webp", ".bmp": "bmp", ".tif": "tiff",
                 ".tiff": "tiff"}


def grid_format(path: str) -> str:
    """The image format `path`'s extension asks for; a ConfigError for any other extension."""
    ext = os.path.splitext(path)[1].lower()
    if ext not in _GRID_FORMATS:
        why = f"its extension {ext!r} is not an image format" if ext else "the name has no extension"
        raise ConfigError(f"cannot write a grid as {path!r}: {why}; use one of {', '.join(_GRID_FORMATS)}")
    return _GRID_FORMATS[ext]


def save_grid(images: torch.Tensor, path: str, nrow: int | None = None) -> None:
    """Save images in [-1, 1] as one grid (atomically); the format follows the extension (:func:`grid_format`)."""
    from torchvision.utils import save_image

    n = images.shape[0]
    nrow = nrow or max(1, int(math.ceil(math.sqrt(n))))
    buf = io.BytesIO()
    fmt = grid_format(path)
    save_image(images.detach().float().cpu().clamp(-1, 1), buf, nrow=nrow, normalize=True, value_range=(-1, 1), format=fmt)
    atomic_write_bytes(path, buf.getvalue())


def write_history(out_dir: str, history: Sequence[dict[str, Any]]) -> None:
    """Rewrite metrics.csv, metrics.jsonl and learning_curve.png from the full history."""
    atomic_write_bytes(os.path.join(out_dir, METRICS_CSV), _csv_bytes(history))
    atomic_write_bytes(os.path.join(out_dir, METRICS_JSONL), _jsonl_bytes(history))
    if history:
        atomic_write_bytes(os.path.join(out_dir, CURVE_PNG), _curve_png(history))


def sync_history(out_dir: str, history: Sequence[dict[str, Any]]) -> bool:
    """Rewrite the history files only where they do not hold `history` (a kill between the last
    checkpoint and them); whether anything was written. A finished run on a read-only medium
    whose files are intact is left untouched."""
    paths = [os.path.join(out_dir, name) for name in (METRICS_CSV, METRICS_JSONL, CURVE_PNG)]
    want = [_csv_bytes(history), _jsonl_bytes(history)]
    if all(_read(p) == w for p, w in zip(paths, want)) and (not history or os.path.isfile(paths[2])):
        return False
    write_history(out_dir, history)
    return True


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


def _jsonl_bytes(history: Sequence[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(row, sort_keys=False) + "\n" for row in history).encode()


def _csv_bytes(history: Sequence[dict[str, Any]]) -> bytes:
    fields = list(HISTORY_FIELDS)
    for row in history:
        fields += [k for k in row if k not in fields]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for row in history:
        writer.writerow({k: ("" if row.get(k) is None else row[k]) for k in fields})
    return buf.getvalue().encode()


def _curve_png(history: Sequence[dict[str, Any]]) -> bytes:
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure  # no pyplot: no global figure state

    fig = Figure(figsize=(10, 3.6), dpi=100)
    ax_loss, ax_fid, ax_is = fig.subplots(1, 3)
    epochs = [r["epoch"] for r in history]
    nan = float("nan")  # an epoch without a finite loss (every step skipped) leaves a gap
    ax_loss.plot(epochs, [nan if r["d_loss"] is None else r["d_loss"] for r in history], label="D loss")
    ax_loss.plot(epochs, [nan if r["g_loss"] is None else r["g_loss"] for r in history], label="G loss")
    ax_loss.set_xlabel("epoch")
    ax_loss.legend()
    _plot_metric(ax_fid, history, "FID")
    _plot_metric(ax_is, history, "IS")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _plot_metric(ax: Any, history: Sequence[dict[str, Any]], metric: str) -> None:
    """Plot `metric` under whatever extractor label it carries (`FID`, `FID_classifier`, ...)."""
    keys = [k for r in history for k in r if k == metric or (k.startswith(f"{metric}_") and not k.endswith("_std"))]
    key = keys[0] if keys else metric
    rows = [r for r in history if r.get(key) is not None]
    ax.plot([r["epoch"] for r in rows], [r[key] for r in rows], marker="o")
    ax.set_xlabel("epoch")
    ax.set_title(f"{key} (EMA generator)")
