"""Process-global CUDA backend switches, set for a block of code and restored on exit.

The trainer and the metrics both need them: TF32 on or off for fp32 convolutions and matmuls
(`exact` scores and the `fp32` training path are IEEE fp32 whatever the caller set), and cuDNN's
autotuner (`torch.backends.cudnn.benchmark`: every conv shape is timed once against cuDNN's
algorithms and the fastest is kept; the networks here have a handful of fixed shapes, so the
timing is paid once per shape). Both settings change nothing on the CPU.

`resolve_device` turns a configured device name (`auto`, `cpu`, `cuda`, `cuda:N`) into a
`torch.device`, checked against this machine, for the search, final training and the CLI.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch

from optgan.config.base import check_device_name
from optgan.errors import ConfigError

__all__ = ["tf32_allowed", "cudnn_autotune", "resolve_device", "cpu_threads"]

def resolve_device(name: str) -> torch.device:
    """`auto` → the first CUDA device when there is one, else the CPU; explicit names are checked
    against this machine (a ConfigError names what is there)."""
    check_device_name(name)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(f"`device` = {name!r} but CUDA is not available here; use `auto` or `cpu`")
        count = torch.cuda.device_count()
        index = int(name.partition(":")[2] or 0)
        if index >= count:
            there = "cuda:0" if count == 1 else f"cuda:0 … cuda:{count - 1}"
            raise ConfigError(f"`device` = {name!r} but this machine has {count} CUDA device(s): {there}")
    return torch.device(name)


@contextlib.contextmanager
def tf32_allowed(allow: bool) -> Iterator[None]:
    """TF32 for CUDA fp32 convs and matmuls (`allow`) or IEEE fp32 (`not allow`), for the body."""
    try:
        saved = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
    except RuntimeError:  # the caller set flags through the per-backend API (torch ≥ 2.9): use it
        with _tf32_allowed_new_api(allow):
            yield
        return
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = allow
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


@contextlib.contextmanager
def _tf32_allowed_new_api(allow: bool) -> Iterator[None]:
    knobs: tuple[Any, ...] = (getattr(torch.backends.cudnn, "conv"), torch.backends.cudnn.rnn,  # not in torch's stubs
                              torch.backends.cuda.matmul)
    saved = [k.fp32_precision for k in knobs]
    for k in knobs:
        k.fp32_precision = "tf32" if allow else "ieee"
    try:
        yield
    finally:
        for k, v in zip(knobs, saved):
            k.fp32_precision = v


@contextlib.contextmanager
def cudnn_autotune(enabled: bool) -> Iterator[None]:
    """`torch.backends.cudnn.benchmark = enabled` for the body (restored after).

    Autotuned algorithms are IEEE-exact kernels too (TF32 stays governed by :func:`tf32_allowed`),
    but a different algorithm may sum in a different order: results can differ in the last bits
    from the heuristic's choice, as they can between two GPUs.
    """
    saved = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = enabled
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = saved


@contextlib.contextmanager
def cpu_threads(count: int | None) -> Iterator[None]:
    """`torch.set_num_threads(count)` for the body (None: leave PyTorch's setting), restored after.

    The networks of small searches and trainings run several times faster on one thread than on
    two on a busy machine, and CPU results depend on the thread count (sums split differently).
    """
    if count is None:
        yield
        return
    saved = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(saved)
