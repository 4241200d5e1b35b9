"""Supernet tests run small tensors: one intra-op thread avoids thread-pool spinning when the
2-core CI box is shared (it made these tests 5-10× slower under load), and is restored after."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
