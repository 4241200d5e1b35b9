"""Loaders for digits, image folders, and CIFAR-10 / STL-10 in torchvision's on-disk layouts.

CIFAR-10 and STL-10 are tested on tiny fake copies written to tmp_path in torchvision's exact
formats; torchvision's md5 check is kept but pointed at the fake files' md5s (its class
attributes are monkeypatched), so the real `CIFAR10` / `STL10` classes read them. Nothing is
ever downloaded: the download path is tested with torchvision's downloader replaced by a stub
that fails as an offline machine would.
"""

from __future__ import annotations

import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from sklearn.datasets import load_digits as sk_load_digits
from torchvision.datasets import STL10

from _fake_datasets import fake_cifar10, md5_of

from optgan.config.data import DataConfig
from optgan.errors import DataError
from optgan.trainer.data import clear_cache, load_images, resize_images


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    clear_cache()


# ----------------------------------------------------------------------------- digits


@pytest.mark.parametrize("size", [16, 32])
def test_digits(size: int) -> None:
    train = load_images(DataConfig(name="digits"), size)
    test = load_images(DataConfig(name="digits", split="test"), size)
    assert train.images.shape == (1437, 3, size, size) and test.images.shape == (360, 3, size, size)
    assert train.classes == tuple("0123456789") and train.name == "digits/train"
    assert train.labels is not None and set(train.labels.tolist()) == set(range(10))
    assert torch.equal(train.images[:, 0], train.images[:, 1]) and torch.equal(train.images[:, 0], train.images[:, 2])
    assert int(train.images.min()) == 0 and int(train.images.max()) == 255


def test_digits_native_size_is_the_scaled_sklearn_array() -> None:
    s = load_images(DataConfig(name="digits", split="test"), 8)
    ref = np.rint(sk_load_digits().images[::5] * 255 / 16).astype(np.uint8)
    assert np.array_equal(s.images[:, 0].numpy(), ref)
    assert s.labels is not None and s.labels.tolist() == sk_load_digits().target[::5].tolist()


# ----------------------------------------------------------------------------- folder


def _png(path: Path, size: tuple[int, int], mode: str = "RGB", value: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, color=(value, value, value, 255)[: len(mode)] if mode != "L" else value).save(path)


def test_folder_with_class_subfolders(tmp_path: Path) -> None:
    _png(tmp_path / "dog" / "a.png", (16, 16), value=10)
    _png(tmp_path / "cat" / "b.jpg", (16, 16), value=20)
    _png(tmp_path / "cat" / "deeper" / "c.PNG", (20, 16), mode="L", value=30)  # recursive, grey, non-square
    _png(tmp_path / "dog" / "d.png", (8, 8), mode="RGBA", value=40)
    (tmp_path / "dog" / "notes.txt").write_text("ignored")
    _png(tmp_path / ".ipynb_checkpoints" / "x.png", (16, 16))  # hidden: no class, no image
    _png(tmp_path / "dog" / ".thumbs" / "y.png", (16, 16))
    s = load_images(DataConfig(name="folder", path=str(tmp_path)), 16)
    assert s.images.shape == (4, 3, 16, 16) and s.classes == ("cat", "dog")
    assert s.labels is not None and s.labels.tolist() == [0, 0, 1, 1]  # sorted paths: cat/b, cat/deeper/c, dog/a, dog/d
    assert s.images[:, :, 8, 8].tolist() == [[20] * 3, [30] * 3, [10] * 3, [40] * 3]
    assert s.name == f"folder:{tmp_path.name}"


def test_flat_folder_is_unlabelled_and_subsettable(tmp_path: Path) -> None:
    for i in range(6):
        _png(tmp_path / f"{i}.png", (8, 8), value=i)
    s = load_images(DataConfig(name="folder", path=str(tmp_path), max_images=3), 8)
    assert s.labels is None and s.classes is None
    assert s.images[:, 0, 0, 0].tolist() == [0, 2, 4]


def test_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="image folder not found: looked for the folder .*missing"):
        load_images(DataConfig(name="folder", path=str(tmp_path / "missing")), 8)
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    with pytest.raises(DataError, match="no images found under .*empty \\(searched recursively"):
        load_images(DataConfig(name="folder", path=str(tmp_path / "empty")), 8)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match="cannot decode image .*x.png"):
        load_images(DataConfig(name="folder", path=str(tmp_path / "bad")), 8)
    # the other kind of path than the name says: the message names the right `data.name`
    with pytest.raises(DataError, match="x.png is a file, not a folder of images; for an .npz archive set `data.name: npz`"):
        load_images(DataConfig(name="folder", path=str(tmp_path / "bad" / "x.png")), 8)
    with pytest.raises(DataError, match="bad is a folder, not an .npz file; for a folder of images set `data.name: folder`"):
        load_images(DataConfig(name="npz", path=str(tmp_path / "bad")), 8)


# ----------------------------------------------------------------------------- CIFAR-10


def test_cifar10_reads_torchvision_layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nhwc = fake_cifar10(tmp_path, monkeypatch)
    train = load_images(DataConfig(name="cifar10", root=str(tmp_path)), 32)
    test = load_images(DataConfig(name="cifar10", root=str(tmp_path), split="test"), 32)
    assert train.images.shape == (15, 3, 32, 32) and test.images.shape == (3, 3, 32, 32)
    assert np.array_equal(train.images.permute(0, 2, 3, 1).numpy(), nhwc[:15])
    assert np.array_equal(test.images.permute(0, 2, 3, 1).numpy(), nhwc[15:])
    assert train.labels is not None and train.labels.tolist()[:4] == [0, 1, 2, 1]
    assert train.classes == tuple(f"c{k}" for k in range(10)) and train.name == "cifar10/train"
    assert load_images(DataConfig(name="cifar10", root=str(tmp_path)), 16).images.shape == (15, 3, 16, 16)


def _assert_actionable(msg: str, *needles: str) -> None:
    assert "\n" not in msg and "Traceback" not in msg
    for needle in needles:
        assert needle in msg, (needle, msg)


def test_cifar10_missing(tmp_path: Path) -> None:
    with pytest.raises(DataError) as e:
        load_images(DataConfig(name="cifar10", root=str(tmp_path)), 32)
    _assert_actionable(
        str(e.value), "CIFAR-10 not found: looked for cifar-10-batches-py/", f"in {tmp_path} (no folder cifar-10-batches-py/ there)",
        "--data-root", "`data.download: true`", "`data.name: npz`",
    )


def test_cifar10_corrupt_fails_md5(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_cifar10(tmp_path, monkeypatch)
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").write_bytes(b"truncated")
    with pytest.raises(DataError, match="cifar-10-batches-py/ is there, but files are missing or fail torchvision's md5"):
        load_images(DataConfig(name="cifar10", root=str(tmp_path)), 32)


def test_cifar10_download_failure_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def offline(*args: object, **kwargs: object) -> None:
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr("torchvision.datasets.cifar.download_and_extract_archive", offline)
    with pytest.raises(DataError) as e:
        load_images(DataConfig(name="cifar10", root=str(tmp_path), download=True), 32)
    _assert_actionable(str(e.value), f"downloading CIFAR-10 into {tmp_path} failed", "name resolution", "--data-root")


def test_a_failed_download_leaves_no_empty_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    def offline(url: str, download_root: str, *args: object, **kwargs: object) -> None:
        os.makedirs(download_root, exist_ok=True)  # as torchvision's does before fetching
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr("torchvision.datasets.cifar.download_and_extract_archive", offline)
    root = tmp_path / "new" / "data"
    with pytest.raises(DataError, match="downloading CIFAR-10"):
        load_images(DataConfig(name="cifar10", root=str(root), download=True), 32)
    assert list(tmp_path.iterdir()) == []  # new/ and new/data/ were made by the attempt: removed


# ----------------------------------------------------------------------------- STL-10


def _fake_stl10(root: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, np.ndarray]:
    folder = root / "stl10_binary"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    x = {k: rng.integers(0, 256, (n, 3, 96, 96), dtype=np.uint8) for k, n in [("train", 2), ("unlabeled", 3), ("test", 2)]}
    for k, images in x.items():  # torchvision reads each image plane column-major
        (folder / f"{k}_X.bin").write_bytes(images.transpose(0, 1, 3, 2).tobytes())
    (folder / "train_y.bin").write_bytes(bytes([1, 10]))  # 1-based
    (folder / "test_y.bin").write_bytes(bytes([3, 4]))
    monkeypatch.setattr(STL10, "train_list", [[f, md5_of(folder / f)] for f in ("train_X.bin", "train_y.bin", "unlabeled_X.bin")])
    monkeypatch.setattr(STL10, "test_list", [[f, md5_of(folder / f)] for f in ("test_X.bin", "test_y.bin")])
    return x


def test_stl10_train_is_train_plus_unlabeled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    x = _fake_stl10(tmp_path, monkeypatch)
    train = load_images(DataConfig(name="stl10", root=str(tmp_path)), 96)
    assert torch.equal(train.images, torch.from_numpy(np.concatenate([x["train"], x["unlabeled"]])))
    assert train.labels is None and train.name == "stl10/train+unlabeled" and train.classes is not None
    test = load_images(DataConfig(name="stl10", root=str(tmp_path), split="test"), 96)
    assert torch.equal(test.images, torch.from_numpy(x["test"]))
    assert test.labels is not None and test.labels.tolist() == [2, 3]
    small = load_images(DataConfig(name="stl10", root=str(tmp_path), split="test"), 48)
    assert torch.equal(small.images, resize_images(torch.from_numpy(x["test"]), 48))


def test_stl10_missing(tmp_path: Path) -> None:
    with pytest.raises(DataError) as e:
        load_images(DataConfig(name="stl10", root=str(tmp_path)), 48)
    _assert_actionable(str(e.value), "STL-10 not found: looked for stl10_binary/", "--data-root", "`data.download: true`")


def test_a_folder_mixing_top_level_images_and_subfolders_is_unlabelled(tmp_path: Path, caplog) -> None:
    for rel in ("top.png", "cat/a.png", "dog/b.png"):
        _png(tmp_path / rel, (8, 8))
    s = load_images(DataConfig(name="folder", path=str(tmp_path)), 8)
    assert len(s) == 3 and s.labels is None and s.classes is None
    assert "mixes top-level images and sub-folders" in caplog.text
