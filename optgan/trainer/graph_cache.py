"""CUDA graphs of training steps, keyed by what they compute: warm up once, capture once, replay.

Both trainers use it: the search captures one block per population member
(:mod:`optgan.trainer.search_step`), the final training one D iteration and one D+G iteration
(:mod:`optgan.trainer.final_step`). A step is a function ``step(cache)`` that reads its inputs
from fixed device buffers and writes parameters, optimizer state and statistics in place, with no
host synchronisation; ``cache`` is autocast's weight cache, which must be off during a capture.

For each key: first sight runs the step eagerly on the capture stream (PyTorch's warm-up before
capture: lazy library handles and workspaces are created outside the capture); second sight
captures it (records, runs nothing) and replays it; later sights replay only. All graphs share one
memory pool. Graphs hold the addresses of every tensor they touch: whatever replaces such a tensor
(instead of copying into it) must call :meth:`GraphCache.forget` first.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Hashable
from typing import Any

import torch

from optgan.backends import cudnn_autotune

__all__ = ["GraphCache"]


class GraphCache:
    """Captured CUDA graphs of step functions on one device."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self._graphs: dict[Hashable, torch.cuda.CUDAGraph] = {}
        self._seen: set[Hashable] = set()
        self._pool: Any = None  #: one memory pool shared by all graphs (torch's opaque pool handle)
        self._side: torch.cuda.Stream | None = None  #: warm-up and capture stream

    def __len__(self) -> int:
        return len(self._graphs)

    def run(self, key: Hashable, step: Callable[[bool], None], before_capture: Callable[[], None]) -> None:
        """Run `step` for `key`: eagerly on the side stream, then captured, then replayed.

        `before_capture` runs just before a capture (e.g. set the gradients to None, so the
        captured backward allocates them from the graphs' pool).
        """
        # torch.cuda.graph synchronises and empties the *current* device: make it this cache's
        with torch.cuda.device(self.device) if self.device.type == "cuda" else contextlib.nullcontext():
            self._run(key, step, before_capture)

    def _run(self, key: Hashable, step: Callable[[bool], None], before_capture: Callable[[], None]) -> None:
        graph = self._graphs.get(key)
        if graph is None:
            if self._side is None:
                self._side = torch.cuda.Stream(self.device)
                self._pool = torch.cuda.graph_pool_handle()
            if key not in self._seen:
                self._seen.add(key)
                self._side.wait_stream(torch.cuda.current_stream(self.device))
                with torch.cuda.stream(self._side):
                    step(True)
                torch.cuda.current_stream(self.device).wait_stream(self._side)
                return
            before_capture()
            graph = torch.cuda.CUDAGraph()
            # cuDNN's plan cache is shared by both modes: the eager first run tuned every shape; with
            # autotuning off, a shape it somehow missed gets a heuristic plan instead of a timing run
            # (which would synchronise and break the capture)
            with cudnn_autotune(False), torch.cuda.graph(graph, pool=self._pool, stream=self._side):
                step(False)  # autocast's weight cache must be off during capture
            self._graphs[key] = graph
        graph.replay()

    def forget(self, keep: Callable[[Hashable], bool] = lambda key: False) -> None:
        """Drop the graphs (and first sights) whose key fails `keep` (all of them by default)."""
        if self._graphs and self.device.type == "cuda":
            torch.cuda.synchronize(self.device)  # no graph is destroyed while a replay may run
        self._graphs = {k: g for k, g in self._graphs.items() if keep(k)}
        self._seen = {k for k in self._seen if keep(k)}
