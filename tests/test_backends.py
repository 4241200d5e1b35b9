"""Backend switches (`optgan.backends`) are set inside their block only, and the trainer's
precision settings turn them on where they apply (CUDA) and nowhere else."""

from __future__ import annotations

import pytest
import torch

from optgan.backends import cudnn_autotune, tf32_allowed
from optgan.trainer.search_step import Precision


def _tf32_flags() -> tuple[bool, bool]:
    return torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32


@pytest.mark.parametrize("outside", [False, True])
def test_tf32_allowed_sets_both_flags_and_restores_them(outside: bool) -> None:
    saved = _tf32_flags()
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = outside
    try:
        for allow in (False, True):
            with tf32_allowed(allow):
                assert _tf32_flags() == (allow, allow)
            assert _tf32_flags() == (outside, outside)
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


@pytest.mark.parametrize("outside", [False, True])
def test_cudnn_autotune_is_restored_even_after_an_error(outside: bool) -> None:
    saved = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = outside
    try:
        with cudnn_autotune(not outside):
            assert torch.backends.cudnn.benchmark is (not outside)
        assert torch.backends.cudnn.benchmark is outside
        with pytest.raises(KeyError), cudnn_autotune(not outside):
            raise KeyError("boom")
        assert torch.backends.cudnn.benchmark is outside
    finally:
        torch.backends.cudnn.benchmark = saved


def test_precision_autotunes_on_cuda_only() -> None:
    assert not Precision.resolve(torch.device("cpu"), "auto", True, True, True).cudnn_benchmark
    cuda = Precision.resolve(torch.device("cuda"), "auto", True, True, True)  # resolving touches no GPU
    assert cuda.cudnn_benchmark and cuda.dtype == "bf16"
    assert not Precision.resolve(torch.device("cuda"), "auto", True, True, False).cudnn_benchmark


@pytest.mark.parametrize("dtype,autotune", [("fp32", True), ("bf16", False), ("tf32", True)])
def test_backend_flags_of_a_precision(dtype: str, autotune: bool) -> None:
    saved = (_tf32_flags(), torch.backends.cudnn.benchmark)
    try:
        torch.backends.cudnn.benchmark = not autotune
        with Precision(dtype, cudnn_benchmark=autotune).backend_flags():  # type: ignore[arg-type]
            assert torch.backends.cudnn.benchmark is autotune
            assert _tf32_flags() == (dtype != "fp32",) * 2
        assert torch.backends.cudnn.benchmark is (not autotune)
    finally:
        (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32), torch.backends.cudnn.benchmark = saved


@pytest.mark.parametrize("name", ["gpu", "cuda:x", "cpu:0", "CUDA", "", "cuda:-1", " cpu"])
def test_resolve_device_refuses_malformed_names(name: str) -> None:
    from optgan.backends import resolve_device
    from optgan.errors import ConfigError

    with pytest.raises(ConfigError, match="allowed: auto, cpu, cuda, cuda:N"):
        resolve_device(name)


def test_resolve_device_checks_the_hardware(monkeypatch) -> None:  # noqa: ANN001
    from optgan.backends import resolve_device
    from optgan.errors import ConfigError

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu") and resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ConfigError, match="CUDA is not available here"):
        resolve_device("cuda:0")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("auto") == torch.device("cuda") and resolve_device("cuda:1") == torch.device("cuda:1")
    with pytest.raises(ConfigError, match=r"has 2 CUDA device\(s\): cuda:0 … cuda:1"):
        resolve_device("cuda:2")
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(ConfigError, match=r"has 1 CUDA device\(s\): cuda:0$"):
        resolve_device("cuda:1")
