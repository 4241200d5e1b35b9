"""CUDA-graph semantics on the CPU, so CI can test what a capture would bake in; holds no tests itself.

`fake_cuda_graphs(monkeypatch)` replaces the few `torch.cuda` names that
:class:`optgan.trainer.graph_cache.GraphCache` uses. A "capture" runs the step once under a
dispatch mode that records every aten call with its arguments and outputs; a "replay" re-runs
the recorded calls with the *recorded* arguments and writes each fresh result into the recorded
output tensor (the static addresses of a real graph). So, as on a GPU:

- Python never runs on replay: a host value read at capture (a float learning rate, a Python
  branch on the iteration) stays what it was, and a later replay that should have used a new one
  computes something other than the eager step: the tests compare the two;
- a host synchronisation inside the step (``.item()``, ``float(t)``, ``if t:``, ``.tolist()``,
  ``.numpy()``) raises, as a capture does;
- the capture itself executes the step here (a real capture executes nothing), so the first
  replay after a capture is skipped: each step still runs exactly once.

Unlike a real graph, every recorded tensor stays alive (no pool reuse), and kernels are the
CPU's: replay is bitwise equal to eager execution of the same calls.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode

aten = torch.ops.aten

#: aten calls that hand a device value to the host (a capture would fail on them)
SYNCING_OPS = {aten._local_scalar_dense.default, aten.equal.default, aten.is_nonzero.default}


class HostSyncInCapture(RuntimeError):
    pass


class _Recorder(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[Any, tuple, dict, Any]] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001, ANN204
        kwargs = kwargs or {}
        if func in SYNCING_OPS:
            raise HostSyncInCapture(f"host synchronisation inside a CUDA-graph capture: {func}")
        out = func(*args, **kwargs)
        self.calls.append((func, args, kwargs, out))
        return out


def _refresh(old: Any, new: Any) -> None:
    if isinstance(old, torch.Tensor):
        if old is new or old.untyped_storage().data_ptr() == new.untyped_storage().data_ptr():
            return  # in-place op or a view of a recorded tensor: already up to date
        old.copy_(new)
    elif isinstance(old, (tuple, list)):
        for o, n in zip(old, new):
            _refresh(o, n)


class FakeGraph:
    """Recorded aten calls, replayed onto the recorded tensors."""

    captures = 0  #: over all instances (tests reset it)

    def __init__(self) -> None:
        self.calls: list[tuple[Any, tuple, dict, Any]] | None = None
        self._skip_next = False

    def replay(self) -> None:
        assert self.calls is not None, "replay before capture"
        if self._skip_next:  # the capture already ran the step once
            self._skip_next = False
            return
        with torch.no_grad():  # the recorded calls are already autograd's own (forward and backward)
            for func, args, kwargs, out in self.calls:
                _refresh(out, func(*args, **kwargs))


@contextlib.contextmanager
def _graph(graph: FakeGraph, pool: Any = None, stream: Any = None) -> Iterator[None]:
    rec = _Recorder()
    _capturing[0] = True
    try:
        with rec:
            yield
    finally:
        _capturing[0] = False
    graph.calls, graph._skip_next = rec.calls, True
    FakeGraph.captures += 1


class _Stream:
    def __init__(self, device: Any = None) -> None:
        pass

    def wait_stream(self, other: Any) -> None:
        pass


_capturing = [False]


def _refuse_in_capture(method: Any) -> Any:
    def wrapped(self: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
        if _capturing[0]:
            raise HostSyncInCapture(f"host synchronisation inside a CUDA-graph capture: Tensor.{method.__name__}")
        return method(self, *args, **kwargs)
    return wrapped


def fake_cuda_graphs(monkeypatch: Any) -> None:
    """Install the fakes for the test (undone by `monkeypatch`)."""
    FakeGraph.captures = 0
    # reads that reach the host without an aten call on the CPU (on CUDA they copy and synchronise)
    for name in ("tolist", "numpy"):
        monkeypatch.setattr(torch.Tensor, name, _refuse_in_capture(getattr(torch.Tensor, name)))
    monkeypatch.setattr(torch.cuda, "CUDAGraph", FakeGraph)
    monkeypatch.setattr(torch.cuda, "graph", _graph)
    monkeypatch.setattr(torch.cuda, "Stream", _Stream)
    monkeypatch.setattr(torch.cuda, "current_stream", lambda device=None: _Stream())
    monkeypatch.setattr(torch.cuda, "stream", lambda s: contextlib.nullcontext())
    monkeypatch.setattr(torch.cuda, "graph_pool_handle", lambda: (0, 0))
