"""Shared by the benchmarks: argument types (a typo in a comma list fails at once, not after
minutes), target verdicts (the issues' speed targets next to what a run measured), the GPU
time of a profile and the one way they write their JSON."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable, Iterable
from typing import Any


def comma_list(allowed: Iterable[str] | Callable[[str], bool], what: str) -> Callable[[str], str]:
    """An argparse type: a comma list whose every item is in `allowed` (or passes it, if callable)."""
    ok = allowed if callable(allowed) else set(allowed).__contains__

    def check(value: str) -> str:
        bad = [v or "(an empty item)" for v in value.split(",") if value and not (v and ok(v))]
        if bad:
            raise argparse.ArgumentTypeError(f"unknown {what}: {', '.join(bad)}")
        return value
    return check


def add_generator_shape(ap: argparse.ArgumentParser, *, default_device: str) -> None:
    """The options of a benchmark that times G at one iteration's shapes: `--device`, G's width and
    first side, and the batches of its two roles (paper defaults: C 256, 4 → 32 px, D 40 / G 80)."""
    ap.add_argument("--device", default=default_device)
    ap.add_argument("--channels", type=int, default=256, help="G's width (gf_dim; paper: 256)")
    ap.add_argument("--bottom-width", type=int, default=4, help="G's first feature map side (4 → 32 px)")
    ap.add_argument("--batch-d", type=int, default=40, help="batch of the D step's no-grad G forward")
    ap.add_argument("--batch-g", type=int, default=80, help="batch of the G step's forward + backward")


def verdict(measured: float | None, target: float, *, on_target_device: bool, what: str,
            extra_ok: bool = True) -> dict[str, Any]:
    """A target of an issue next to what was measured: `met` is None off the target hardware
    (a CPU run says nothing about an H100 figure) or when nothing was measured."""
    met = None if measured is None or not on_target_device else bool(measured >= target and extra_ok)
    return {"what": what, "target": target, "measured": measured, "met": met}


def device_time_us(prof: Any) -> float:
    """The GPU's busy time (µs) in a torch.profiler session: its device events only (a kernel's
    time is also on the CPU op that launched it, and on any user range around it)."""
    from torch.autograd import DeviceType

    return sum(e.self_device_time_total for e in prof.key_averages()
               if e.device_type == DeviceType.CUDA and not e.is_user_annotation)


def kernel_ms(device: Any, fn: Callable[[], None], reps: int = 1) -> float | None:
    """GPU kernel milliseconds per call of `fn` over `reps` profiled calls (torch.profiler's
    device events: the host's launch cost is not counted); None off CUDA or when the profile is
    empty (no CUPTI), where callers fall back to wall time."""
    if device.type != "cuda":
        return None
    import torch
    from torch.profiler import ProfilerActivity, profile

    torch.cuda.synchronize(device)
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(reps):
            fn()
        torch.cuda.synchronize(device)
    busy_us = device_time_us(prof)
    return busy_us / reps / 1e3 if busy_us > 0 else None


def write_json(path: str | None, res: dict[str, Any]) -> None:
    """`res` as JSON at `path` (nothing for None), atomically: the benchmarks write their results
    so far after every measurement, and a run its time limit kills keeps the last whole file."""
    if path:
        with open(path + ".tmp", "w", encoding="utf-8") as f:
            json.dump(res, f, indent=1)
        os.replace(path + ".tmp", path)
