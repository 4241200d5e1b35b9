"""Checkpoint files: atomic writes, weights_only loads, RNG capture and restore."""

from __future__ import annotations

import os
import pickle
import random

import numpy as np
import pytest
import torch

from optgan.errors import CheckpointError
from optgan.trainer.checkpoint import (
    atomic_torch_save,
    atomic_write_bytes,
    capture_rng,
    load_checkpoint,
    restore_rng,
    set_generator_state,
)


def test_atomic_save_and_load(tmp_path) -> None:
    path = str(tmp_path / "ck.pt")
    atomic_torch_save({"w": torch.arange(3), "meta": {"a": [1, 2.5, None, "x"]}}, path)
    got = load_checkpoint(path)
    assert torch.equal(got["w"], torch.arange(3)) and got["meta"]["a"] == [1, 2.5, None, "x"]
    assert os.listdir(tmp_path) == ["ck.pt"]  # no temporary file left behind


def test_failed_write_keeps_the_old_file(tmp_path) -> None:
    path = str(tmp_path / "ck.pt")
    atomic_torch_save({"v": 1}, path)

    class Boom:
        def __reduce__(self):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        atomic_torch_save({"v": Boom()}, path)
    assert load_checkpoint(path) == {"v": 1}
    assert os.listdir(tmp_path) == ["ck.pt"]


def test_atomic_write_bytes(tmp_path) -> None:
    path = str(tmp_path / "sub" / "a.txt")
    atomic_write_bytes(path, b"hello")
    atomic_write_bytes(path, b"world")
    assert open(path, "rb").read() == b"world"


class Evil:
    def __reduce__(self):
        return (os.getcwd, ())


def test_arbitrary_pickles_are_refused(tmp_path) -> None:
    path = str(tmp_path / "evil.pt")
    torch.save({"x": Evil()}, path)
    with pytest.raises(CheckpointError, match="cannot read checkpoint"):
        load_checkpoint(path)
    raw = tmp_path / "raw.pt"
    raw.write_bytes(pickle.dumps({"x": Evil()}))
    with pytest.raises(CheckpointError):
        load_checkpoint(str(raw))


def test_missing_and_garbage_files(tmp_path) -> None:
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(str(tmp_path / "nope.pt"))
    with pytest.raises(CheckpointError, match="is a folder, not a checkpoint file"):
        load_checkpoint(str(tmp_path))
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError):
        load_checkpoint(str(bad))
    lst = tmp_path / "list.pt"
    torch.save([1, 2], lst)
    with pytest.raises(CheckpointError, match="mapping"):
        load_checkpoint(str(lst))


def _draw(tg: torch.Generator, ng: np.random.Generator) -> tuple:
    return (
        random.random(),
        np.random.rand(),
        torch.rand(2).tolist(),
        torch.rand(2, generator=tg).tolist(),
        ng.random(2).tolist(),
    )


def test_rng_roundtrip_through_a_file(tmp_path) -> None:
    tg = torch.Generator().manual_seed(3)
    ng = np.random.default_rng(4)
    gens = {"latent": tg, "np": ng}
    _draw(tg, ng)
    state = capture_rng(gens)
    path = str(tmp_path / "rng.pt")
    atomic_torch_save({"rng": state}, path)
    first = _draw(tg, ng)
    _draw(tg, ng)  # move everything on
    restore_rng(load_checkpoint(path)["rng"], gens)
    assert _draw(tg, ng) == first


def test_restore_needs_every_named_generator() -> None:
    state = capture_rng({})
    with pytest.raises(CheckpointError, match="latent"):
        restore_rng(state, {"latent": torch.Generator()})


def test_a_short_write_says_the_old_checkpoint_is_intact(tmp_path, monkeypatch) -> None:
    path = str(tmp_path / "ck.pt")
    atomic_torch_save({"v": 1}, path)

    def full_disk(obj, f) -> None:  # what torch's zip writer raises when the disk is full
        f.write(b"PK")
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 64 vs 0")

    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(CheckpointError, match="is the disk full. The previous checkpoint is intact"):
        atomic_torch_save({"v": 2}, path)
    monkeypatch.undo()
    assert load_checkpoint(path) == {"v": 1} and os.listdir(tmp_path) == ["ck.pt"]


def test_a_full_disk_behind_torchs_own_error_is_one_clear_error(tmp_path, monkeypatch) -> None:
    """torch's zip writer raises a RuntimeError while handling the OSError of a full disk: the
    atomic write finds that OSError (for every caller: the metrics cache too), the old file stays."""
    import errno

    from optgan.errors import MetricsError
    from optgan.metrics.cache import atomic_torch_save as cache_save

    path = str(tmp_path / "ck.pt")
    atomic_torch_save({"v": 1}, path)

    def full_disk(obj, f) -> None:  # noqa: ANN001
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError:
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 149824 vs 149720")

    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(CheckpointError, match=r"\(No space left on device\); free space and rerun to resume: the "
                                              r"previous checkpoint is intact"):
        atomic_torch_save({"v": 2}, path)
    with pytest.raises(MetricsError, match=r"cannot write the metrics cache file .*stats.pt \(No space left on device\)"):
        cache_save({"v": 2}, tmp_path / "stats.pt")
    monkeypatch.undo()
    assert load_checkpoint(path) == {"v": 1} and os.listdir(tmp_path) == ["ck.pt"]


def test_a_stream_saved_on_another_kind_of_device_goes_on_reseeded(caplog) -> None:
    # a CUDA generator's state (Philox seed + offset, 16 bytes) cannot continue on the CPU (nor the reverse)
    cuda_like = torch.arange(16, dtype=torch.uint8)
    a, b, c = torch.Generator(), torch.Generator(), torch.Generator()
    set_generator_state(a, cuda_like)
    set_generator_state(b, cuda_like.clone())
    set_generator_state(c, torch.arange(1, 17, dtype=torch.uint8))
    draws = [torch.randn(4, generator=g) for g in (a, b, c)]
    assert torch.equal(draws[0], draws[1]) and not torch.equal(draws[0], draws[2])  # derived from the saved state
    assert "saved on another kind of device cannot continue on cpu" in caplog.text
    caplog.clear()
    set_generator_state(a, torch.Generator().manual_seed(3).get_state())  # the same kind: continued exactly
    assert torch.equal(torch.randn(4, generator=a), torch.randn(4, generator=torch.Generator().manual_seed(3)))
    assert "another kind of device" not in caplog.text


def test_a_damaged_generator_state_is_an_error_not_a_reseed() -> None:
    with pytest.raises(RuntimeError):
        set_generator_state(torch.Generator(), torch.zeros(100, dtype=torch.uint8))
