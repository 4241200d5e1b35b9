"""`BatchStream` (determinism, epochs, exact resume), the [-1, 1] ↔ uint8 conversions, resizing."""

from __future__ import annotations

import io

import pytest
import torch

from optgan.errors import CheckpointError, ConfigError
from optgan.trainer.data import BatchStream, quantize_to_uint8, resize_images, to_float, to_uint8

N, B = 50, 8  # 6 full batches per epoch, 2 images left out each epoch


def _images(n: int = N) -> torch.Tensor:
    # image i is filled with value i: batches reveal which images they hold
    return torch.arange(n, dtype=torch.uint8).view(n, 1, 1, 1).expand(n, 3, 4, 4).contiguous()


def _ids(batch: torch.Tensor) -> list[int]:
    return to_uint8(batch)[:, 0, 0, 0].tolist()


def _stream(seed: int, n: int = N) -> BatchStream:
    return BatchStream(_images(n), B, torch.Generator().manual_seed(seed))


def test_batches_are_float_in_range_and_shuffled() -> None:
    s = _stream(0)
    batch = next(s)
    assert batch.shape == (B, 3, 4, 4) and batch.dtype == torch.float32
    assert float(batch.min()) >= -1 and float(batch.max()) <= 1
    assert s.batches_per_epoch() == 6 and s.batches_per_epoch(25) == 2 and len(s) == N
    assert _ids(batch) != list(range(B))


def test_each_epoch_is_a_fresh_permutation() -> None:
    s = _stream(0)
    epochs = [[i for _ in range(6) for i in _ids(next(s))] for _ in range(3)]
    assert s.epoch == 2 and s.position == 6
    for ids in epochs:
        assert len(set(ids)) == 6 * B  # no repeats within an epoch
    assert epochs[0] != epochs[1] != epochs[2]


def test_same_seed_same_batches_other_seed_others() -> None:
    a, b, c = _stream(7), _stream(7), _stream(8)
    xs = [next(a) for _ in range(20)]
    assert all(torch.equal(x, next(b)) for x in xs)
    assert not all(torch.equal(x, next(c)) for x in xs)


@pytest.mark.parametrize("taken", [0, 1, 5, 6, 7, 13])  # fresh, mid-epoch, at and after boundaries
def test_resume_sees_exactly_the_same_batches(taken: int) -> None:
    original = _stream(3)
    for _ in range(taken):
        next(original)
    buf = io.BytesIO()
    torch.save(original.state_dict(), buf)
    buf.seek(0)
    resumed = _stream(12345)  # a differently seeded generator: the state must override it
    resumed.load_state_dict(torch.load(buf, weights_only=True))
    assert (resumed.epoch, resumed.position) == (original.epoch, original.position)
    for _ in range(15):
        assert torch.equal(next(original), next(resumed))


def test_state_is_checked_against_the_data() -> None:
    state = _stream(0).state_dict()
    with pytest.raises(CheckpointError, match="resume with the same data set and batch size"):
        _stream(0, n=N + 1).load_state_dict(state)


def test_bad_arguments() -> None:
    with pytest.raises(ConfigError, match="batch size 51 must be between 1 and the number of images"):
        BatchStream(_images(), N + 1, torch.Generator())
    with pytest.raises(TypeError):
        BatchStream(_images().float(), B, torch.Generator())


def test_conversions() -> None:
    u = torch.arange(256, dtype=torch.uint8)
    assert torch.equal(to_uint8(to_float(u)), u)
    assert float(to_float(u)[0]) == -1.0 and float(to_float(u)[-1]) == 1.0
    x = torch.tensor([-2.0, -1.0, 0.0, 0.003, 0.5, 1.0, 3.0])
    assert to_uint8(x).tolist() == [0, 0, 128, 128, 191, 255, 255]
    assert quantize_to_uint8 is to_uint8


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_stream_on_cuda_matches_cpu() -> None:
    cpu = _stream(5)
    cuda = BatchStream(_images(), B, torch.Generator().manual_seed(5), device="cuda")
    for _ in range(10):
        batch = next(cuda)
        assert batch.device.type == "cuda"
        # same images in the same order; the uint8 → float scaling may round differently in the
        # last bit on the GPU (fused multiply-add), hence the 1-ulp tolerance
        torch.testing.assert_close(batch.cpu(), next(cpu), rtol=0, atol=1e-6)


@pytest.mark.parametrize(("src", "dst"), [(96, 48), (8, 32), (32, 16)])
def test_resize_matches_pil_bilinear(src: int, dst: int) -> None:
    import numpy as np
    from PIL import Image

    x = torch.randint(0, 256, (4, 3, src, src), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    pil = [np.asarray(Image.fromarray(im.permute(1, 2, 0).numpy()).resize((dst, dst), Image.BILINEAR)) for im in x]
    assert np.array_equal(resize_images(x, dst).permute(0, 2, 3, 1).numpy(), np.stack(pil))
    assert torch.equal(resize_images(x, src), x)  # no-op at the same size


def test_a_batch_may_hold_every_image() -> None:
    from optgan.trainer.data.stream import check_batch_size

    check_batch_size(N, N)
    stream = BatchStream(_images(), N, torch.Generator().manual_seed(0))
    assert stream.batches_per_epoch() == 1 and sorted(_ids(next(stream))) == list(range(N))
