"""The CUDA-graph cache on a non-default GPU (`device: cuda:1`), checked on the CPU.

Entering `torch.cuda.graph` synchronises and empties the *current* device before capturing; the
cache must make its own device current, or every capture of a search on cuda:1 would wait for
(and create a context on) cuda:0. Only the leaf CUDA calls are faked: `torch.cuda.graph` is torch's.
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch


class _Dev:
    current = 0


class _FakeStream:
    def __init__(self, device: Any = None) -> None:
        self.device = torch.device(device) if device is not None else torch.device("cuda", _Dev.current)

    def wait_stream(self, other: Any) -> None:
        pass


@contextlib.contextmanager
def _stream_ctx(s: _FakeStream):  # as torch.cuda.StreamContext: switches the current device to the stream's
    before = _Dev.current
    _Dev.current = s.device.index
    try:
        yield
    finally:
        _Dev.current = before


class _FakeGraph:
    def __init__(self, *a: Any, **k: Any) -> None:
        self.capture_device = None

    def capture_begin(self, *pool: Any, **kw: Any) -> None:
        self.capture_device = _Dev.current

    def capture_end(self) -> None:
        pass

    def replay(self) -> None:
        pass


def test_a_capture_synchronises_the_caches_device_not_the_current_one(monkeypatch) -> None:
    from optgan.trainer.graph_cache import GraphCache

    synced: list[Any] = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: synced.append(
        _Dev.current if device is None else torch.device(device).index))
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: None)
    monkeypatch.setattr(torch._C, "_host_emptyCache", lambda: None, raising=False)
    monkeypatch.setattr(torch.cuda, "Stream", _FakeStream)
    monkeypatch.setattr(torch.cuda, "stream", _stream_ctx)
    monkeypatch.setattr(torch.cuda, "current_stream", lambda device=None: _FakeStream(device))
    monkeypatch.setattr(torch.cuda, "graph_pool_handle", lambda: (0, 1))
    monkeypatch.setattr(torch.cuda, "CUDAGraph", _FakeGraph)
    monkeypatch.setattr(torch.cuda, "device", lambda d: _stream_ctx(_FakeStream(d)))

    cache = GraphCache(torch.device("cuda", 1))
    for _ in range(3):  # eager warm-up, capture, replay
        cache.run("k", lambda c: None, lambda: None)
    (graph,) = cache._graphs.values()
    assert graph.capture_device == 1  # the capture itself is on cuda:1 (the stream context moves it)
    assert synced == [1], f"graph.__enter__ synchronised device(s) {synced} for a cache on cuda:1"
