"""The `.npz` loader on the shared CIFAR-10 subsets, fingerprints, subsets, and corrupt files."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from _shared_data import shared_data_dir

from optgan.config.data import DataConfig
from optgan.errors import DataError
from optgan.trainer.data import clear_cache, load_images

CIFAR_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


@pytest.fixture
def test_2k() -> str:
    return str(shared_data_dir("cifar10", "test-2k.npz"))


def test_shared_train_10k_matches_its_readme() -> None:
    s = load_images(DataConfig(name="npz", path=str(shared_data_dir("cifar10", "train-10k.npz"))), 32)
    assert s.images.shape == (10_000, 3, 32, 32) and s.images.dtype == torch.uint8
    assert s.labels is not None and s.labels.dtype == torch.int64
    assert s.labels.bincount().tolist() == [1000] * 10
    assert s.classes == CIFAR_CLASSES and s.name == "npz:train-10k"
    mean = s.images.to(torch.float64).mean(dim=(0, 2, 3))
    assert torch.allclose(mean, torch.tensor([125.818, 123.194, 113.997], dtype=torch.float64), atol=0.01)


def test_pixels_equal_the_file_nhwc(test_2k: str) -> None:
    s = load_images(DataConfig(name="npz", path=test_2k), 32)
    raw = np.load(test_2k)["images"]
    assert np.array_equal(s.images.permute(0, 2, 3, 1).numpy(), raw)
    assert s.labels is not None and s.labels.bincount().tolist() == [200] * 10


def test_fingerprint_is_stable_and_sensitive(test_2k: str, tmp_path: Path) -> None:
    cfg = DataConfig(name="npz", path=test_2k)
    a = load_images(cfg, 32)
    clear_cache()
    b = load_images(cfg, 32)
    assert a is not b and a.fingerprint == b.fingerprint and len(a.fingerprint) == 64
    assert load_images(cfg, 16).fingerprint != a.fingerprint  # size
    shutil.copy(test_2k, tmp_path / "moved-and-renamed.npz")  # the content counts, not where it is
    assert load_images(DataConfig(name="npz", path=str(tmp_path / "moved-and-renamed.npz")), 32).fingerprint == a.fingerprint
    assert load_images(DataConfig(name="npz", path=test_2k, max_images=1999), 32).fingerprint != a.fingerprint
    d = dict(np.load(test_2k))
    d["images"] = d["images"].copy()
    d["images"][1234, 5, 6, 2] ^= 1  # one bit of one pixel
    np.savez(tmp_path / "test-2k.npz", **d)
    assert load_images(DataConfig(name="npz", path=str(tmp_path / "test-2k.npz")), 32).fingerprint != a.fingerprint
    (tmp_path / "labels").mkdir()
    d = dict(np.load(test_2k))
    d["labels"] = np.roll(d["labels"], 1)
    np.savez(tmp_path / "labels" / "test-2k.npz", **d)
    relabelled = load_images(DataConfig(name="npz", path=str(tmp_path / "labels" / "test-2k.npz")), 32)
    assert torch.equal(relabelled.images, a.images) and relabelled.fingerprint != a.fingerprint


def test_cache_returns_the_same_object(test_2k: str) -> None:
    cfg = DataConfig(name="npz", path=test_2k)
    assert load_images(cfg, 32) is load_images(cfg, 32)


def test_max_images_is_an_even_class_balanced_subset(test_2k: str) -> None:
    s = load_images(DataConfig(name="npz", path=test_2k, max_images=100), 16)
    assert s.images.shape == (100, 3, 16, 16)
    assert s.labels is not None and s.labels.bincount().tolist() == [10] * 10
    again = load_images(DataConfig(name="npz", path=test_2k, max_images=100), 16)
    assert torch.equal(s.images, again.images)


def test_minimal_npz_grey_and_non_square(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "g.npz", images=rng.integers(0, 256, (5, 10, 12, 1), dtype=np.uint8))
    s = load_images(DataConfig(name="npz", path=str(tmp_path / "g.npz")), 10)
    assert s.images.shape == (5, 3, 10, 10) and s.labels is None and s.classes is None
    assert torch.equal(s.images[:, 0], s.images[:, 2])  # grey replicated
    raw = np.load(tmp_path / "g.npz")["images"]
    assert np.array_equal(s.images[:, 0].numpy(), raw[:, :, 1:11, 0])  # centre crop, no resize


def _write(path: Path, **arrays: np.ndarray) -> str:
    np.savez(path, **arrays)
    return str(path)


IMGS = np.zeros((4, 8, 8, 3), np.uint8)
LABELS = np.arange(4, dtype=np.int64)
CLASSES = np.array(["a", "b", "c", "d"])


@pytest.mark.parametrize(
    ("arrays", "needle"),
    [
        ({"labels": LABELS}, "has no key `images` (keys: labels)"),
        ({"images": IMGS.astype(np.float32)}, "key `images` has dtype float32, expected uint8"),
        ({"images": IMGS[:, :, :, 0]}, "key `images` has shape (4, 8, 8), expected non-empty N×H×W×3"),
        ({"images": IMGS.transpose(0, 3, 1, 2)}, "key `images` has shape (4, 3, 8, 8)"),
        ({"images": IMGS, "labels": LABELS[:3]}, "key `labels` has dtype int64 and shape (3,), expected integers of shape (4,)"),
        ({"images": IMGS, "labels": LABELS.astype(np.float64)}, "key `labels` has dtype float64"),
        ({"images": IMGS, "labels": LABELS, "classes": CLASSES[:2]}, "key `labels` has values outside 0..1"),
        ({"images": IMGS, "labels": np.array([0, -1, 1, 2])}, "key `labels` has values from -1 to 2; labels are class"),
        ({"images": IMGS, "labels": np.array([0, 1, 10**12, 2])}, "has values from 0 to 1000000000000; labels are"),
        ({"images": IMGS, "classes": np.arange(4)}, "key `classes` has dtype int64"),
        ({"images": IMGS, "classes": np.array([{}, {}], dtype=object)}, "key `classes` holds Python objects"),
    ],
)
def test_corrupt_npz_names_the_key(tmp_path: Path, arrays: dict, needle: str) -> None:
    path = _write(tmp_path / "bad.npz", **arrays)
    with pytest.raises(DataError) as e:
        load_images(DataConfig(name="npz", path=path), 8)
    msg = str(e.value)
    assert needle in msg and path in msg and "\n" not in msg and "fix:" in msg


@pytest.mark.parametrize("content", [b"", b"not a zip file at all", b"PK\x03\x04broken"])
def test_unreadable_npz(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "x.npz").write_bytes(content)
    with pytest.raises(DataError, match=r"is not a readable \.npz archive") as e:
        load_images(DataConfig(name="npz", path=str(tmp_path / "x.npz")), 8)
    assert "\n" not in str(e.value) and "pickled" not in str(e.value)


def test_npy_instead_of_npz(tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", IMGS)
    with pytest.raises(DataError, match="not an .npz archive"):
        load_images(DataConfig(name="npz", path=str(tmp_path / "x.npy")), 8)


def test_missing_npz(tmp_path: Path) -> None:
    with pytest.raises(DataError) as e:
        load_images(DataConfig(name="npz", path=str(tmp_path / "nope.npz")), 32)
    msg = str(e.value)
    assert msg.startswith("npz data set not found: looked for the file ") and "nope.npz" in msg
    assert "fix: pass --set data.path=FILE" in msg and "\n" not in msg


def test_a_fingerprint_stored_before_v2_still_matches(test_2k: str) -> None:
    """v1 fingerprints (stored in older final-training checkpoints) also hashed the source's name."""
    import hashlib

    from optgan.trainer.data import matches_fingerprint

    s = load_images(DataConfig(name="npz", path=test_2k, max_images=300), 16)
    v1 = hashlib.sha256(f"optgan.ImageSet.v1|{s.name}|{tuple(s.images.shape)}|{s.classes!r}|True".encode())
    v1.update(s.images.numpy().tobytes())
    v1.update(s.labels.to(torch.int64).numpy().tobytes())
    assert matches_fingerprint(s, s.fingerprint) and matches_fingerprint(s, v1.hexdigest())
    assert v1.hexdigest() != s.fingerprint and not matches_fingerprint(s, "0" * 64)


def test_npz_members_that_are_not_npy_arrays(tmp_path: Path) -> None:
    import io
    import zipfile

    buf = io.BytesIO()
    np.save(buf, IMGS)
    for name, member, needle in (("junk.npz", b"garbage", "key `images` is not a numpy array"),
                                 ("cut.npz", buf.getvalue()[:-40], "key `images` is damaged (EOF")):
        with zipfile.ZipFile(tmp_path / name, "w") as z:
            z.writestr("images.npy", member)
        with pytest.raises(DataError) as e:
            load_images(DataConfig(name="npz", path=str(tmp_path / name)), 8)
        assert needle in str(e.value) and "pickled" not in str(e.value) and "\n" not in str(e.value)


def test_max_images_spreads_over_the_whole_set_when_it_does_not_divide_it(test_2k: str) -> None:
    from optgan.trainer.data.raw import even_subset

    assert even_subset(10, 4).tolist() == [0, 2, 5, 7]  # floor(i · n / k)
    s = load_images(DataConfig(name="npz", path=test_2k, max_images=150), 16)  # 2,000 class-major images
    assert s.labels is not None and s.labels.bincount().tolist() == [15] * 10
