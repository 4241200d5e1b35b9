"""Data-loading rules the other data tests leave open (found by mutation testing, round 11):
the load cache (LRU, keys), what the folder loader decodes, fingerprint inputs, resizing edge
cases, stream state round trips and the torchvision error paths. Small data only, made in tmp_path."""

from __future__ import annotations

import urllib.error
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from optgan.config.data import DataConfig
from optgan.errors import ConfigError, DataError
from optgan.trainer.data import (
    BatchStream,
    clear_cache,
    fingerprint_of,
    load_images,
    resize_images,
    to_uint8,
)
from optgan.trainer.data import load as load_module


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    clear_cache()


def _npz(path: Path, n: int = 4, value: int = 0, side: int = 4) -> str:
    np.savez(path, images=np.full((n, side, side, 3), value, np.uint8))
    return str(path)


def _png(path: Path, value: int, size: tuple[int, int] = (8, 8)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color=(value, value, value)).save(path)


# ----------------------------------------------------------------------------- cache


def test_the_cache_keeps_the_most_recently_used_sets(tmp_path: Path) -> None:
    """The cache is an LRU of CACHE_SIZE sets: all of them stay, a hit refreshes a set, and the
    least recently used one is the one dropped (FIFO or dropping the newest would re-decode)."""
    cfgs = [DataConfig(name="npz", path=_npz(tmp_path / f"{i}.npz", value=i)) for i in range(load_module.CACHE_SIZE + 1)]
    first = [load_images(c, 4) for c in cfgs[:-1]]
    assert all(load_images(c, 4) is s for c, s in zip(cfgs[:-1], first))  # CACHE_SIZE sets fit
    assert load_images(cfgs[0], 4) is first[0]  # touch the oldest: now the most recent
    load_images(cfgs[-1], 4)  # one more: drops cfgs[1], the least recently used
    assert load_images(cfgs[0], 4) is first[0]
    assert load_images(cfgs[-1], 4) is load_images(cfgs[-1], 4)
    assert load_images(cfgs[1], 4) is not first[1]


def test_a_rewritten_npz_is_read_again(tmp_path: Path) -> None:
    """The cache key holds the file's size and mtime: the same path with new content is new data."""
    import os

    path = _npz(tmp_path / "d.npz", value=1)
    a = load_images(DataConfig(name="npz", path=path), 4)
    _npz(tmp_path / "d.npz", value=2)
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # a later mtime even on coarse clocks
    b = load_images(DataConfig(name="npz", path=path), 4)
    assert int(a.images.max()) == 1 and int(b.images.max()) == 2


def test_max_images_and_the_data_root_are_part_of_the_cache_key(tmp_path: Path) -> None:
    """Two configs that differ only in `max_images`, or only in `data.root`, are different sets."""
    path = _npz(tmp_path / "d.npz", n=6)
    assert len(load_images(DataConfig(name="npz", path=path), 4)) == 6
    assert len(load_images(DataConfig(name="npz", path=path, max_images=3), 4)) == 3
    k1 = load_module._cache_key(DataConfig(name="cifar10", root=str(tmp_path / "a")), 32)
    k2 = load_module._cache_key(DataConfig(name="cifar10", root=str(tmp_path / "b")), 32)
    assert k1 != k2


def test_an_image_size_below_one_is_a_config_error() -> None:
    """`img_size` is checked before anything is decoded: a one-line ConfigError, not a torch error."""
    with pytest.raises(ConfigError, match="img_size"):
        load_images(DataConfig(name="digits"), 0)


def test_the_fingerprint_is_of_the_resized_images(tmp_path: Path) -> None:
    """The fingerprint hashes the images as loaded (after resize), not the file's native ones."""
    s = load_images(DataConfig(name="npz", path=_npz(tmp_path / "d.npz", side=8, value=7)), 4)
    assert s.fingerprint == fingerprint_of(s.images, s.labels, s.classes)


# ----------------------------------------------------------------------------- folder


def test_a_folder_subset_decodes_only_the_chosen_images(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With `max_images` the folder loader picks the files first and decodes only those (a
    100,000-image folder is not decoded for a 1,000-image run); the classes are those of the
    chosen images."""
    from optgan.trainer.data import files

    for rel, v in (("a/1.png", 1), ("a/2.png", 2), ("b/3.png", 3), ("c/4.png", 4)):
        _png(tmp_path / rel, v)
    decoded: list[str] = []
    real = files._decode
    monkeypatch.setattr(files, "_decode", lambda f, size: decoded.append(f.name) or real(f, size))
    s = load_images(DataConfig(name="folder", path=str(tmp_path), max_images=2), 8)
    assert decoded == ["1.png", "3.png"] and s.images[:, 0, 0, 0].tolist() == [1, 3]
    assert s.classes == ("a", "b") and s.labels is not None and s.labels.tolist() == [0, 1]


def test_images_of_different_sizes_in_one_folder(tmp_path: Path) -> None:
    """Each image is resized as it is decoded, so a folder of mixed sizes stacks into one set."""
    _png(tmp_path / "big.png", 50, (16, 16))
    _png(tmp_path / "small.png", 60, (4, 4))
    s = load_images(DataConfig(name="folder", path=str(tmp_path)), 8)
    assert s.images.shape == (2, 3, 8, 8) and s.images[:, 0, 3, 3].tolist() == [50, 60]


def test_an_unreadable_image_file_is_a_data_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An OSError while decoding (permissions, truncated file, I/O error) is a one-line DataError too."""
    _png(tmp_path / "x.png", 1)

    def broken(*args: object, **kwargs: object) -> None:
        raise OSError("image file is truncated")

    monkeypatch.setattr(Image, "open", broken)
    with pytest.raises(DataError, match="cannot decode image .*x.png \\(OSError\\)"):
        load_images(DataConfig(name="folder", path=str(tmp_path)), 8)


# ----------------------------------------------------------------------------- npz


def test_a_subset_keeps_the_class_names(tmp_path: Path) -> None:
    """`max_images` thins the images and labels; the class names (indexed by label) stay whole."""
    np.savez(tmp_path / "s.npz", images=np.zeros((4, 4, 4, 3), np.uint8), labels=np.array([0, 1, 2, 3]),
             classes=np.array(["a", "b", "c", "d"]))
    s = load_images(DataConfig(name="npz", path=str(tmp_path / "s.npz"), max_images=2), 4)
    assert s.classes == ("a", "b", "c", "d") and s.labels is not None and s.labels.tolist() == [0, 2]


def test_bytes_class_names_and_the_largest_allowed_label(tmp_path: Path) -> None:
    """`classes` may be stored as bytes (dtype S); the label limit is exclusive of _MAX_CLASSES only."""
    from optgan.trainer.data.files import _MAX_CLASSES

    imgs = np.zeros((2, 4, 4, 3), np.uint8)
    np.savez(tmp_path / "b.npz", images=imgs, labels=np.array([0, 1]), classes=np.array([b"x", b"y"]))
    s = load_images(DataConfig(name="npz", path=str(tmp_path / "b.npz")), 4)
    assert s.classes == ("x", "y")
    np.savez(tmp_path / "big.npz", images=imgs, labels=np.array([0, _MAX_CLASSES - 1]))
    assert load_images(DataConfig(name="npz", path=str(tmp_path / "big.npz")), 4).labels.tolist() == [0, _MAX_CLASSES - 1]
    np.savez(tmp_path / "over.npz", images=imgs, labels=np.array([0, _MAX_CLASSES]))
    with pytest.raises(DataError, match="labels are class indices"):
        load_images(DataConfig(name="npz", path=str(tmp_path / "over.npz")), 4)


def test_labels_are_int64_whatever_integer_type_the_file_has(tmp_path: Path) -> None:
    """int32 / uint8 labels come back as int64 (what the classifier and fingerprint expect)."""
    np.savez(tmp_path / "l.npz", images=np.zeros((3, 4, 4, 3), np.uint8), labels=np.array([2, 0, 1], np.uint8))
    s = load_images(DataConfig(name="npz", path=str(tmp_path / "l.npz")), 4)
    assert s.labels is not None and s.labels.dtype == torch.int64 and s.labels.tolist() == [2, 0, 1]


def test_label_zero_is_valid(tmp_path: Path) -> None:
    """Labels start at 0 (class indices); a set whose labels are all 0 is fine."""
    np.savez(tmp_path / "z.npz", images=np.zeros((2, 4, 4, 3), np.uint8), labels=np.zeros(2, np.int64),
             classes=np.array(["only"]))
    s = load_images(DataConfig(name="npz", path=str(tmp_path / "z.npz")), 4)
    assert s.labels is not None and s.labels.tolist() == [0, 0] and s.classes == ("only",)


def test_classes_must_be_one_dimensional(tmp_path: Path) -> None:
    """A 2-D `classes` array is refused with its key named (it would silently flatten otherwise)."""
    np.savez(tmp_path / "c.npz", images=np.zeros((2, 4, 4, 3), np.uint8), classes=np.array([["a", "b"]]))
    with pytest.raises(DataError, match="key `classes` has dtype <U1 and shape \\(1, 2\\)"):
        load_images(DataConfig(name="npz", path=str(tmp_path / "c.npz")), 4)


@pytest.mark.parametrize(("images", "shape"), [
    (np.zeros((0, 4, 4, 3), np.uint8), "(0, 4, 4, 3)"),  # empty: nothing to train on (and nothing to hash)
    (np.zeros((4, 8, 3), np.uint8), "(4, 8, 3)"),  # 3-D although the last axis looks like RGB
    (np.zeros((1, 2, 4, 4, 3), np.uint8), "(1, 2, 4, 4, 3)"),  # 5-D
])
def test_images_must_be_a_non_empty_4d_nhwc_array(tmp_path: Path, images: np.ndarray, shape: str) -> None:
    """Every malformed `images` array is a one-line DataError naming its shape, not a torch error later."""
    np.savez(tmp_path / "i.npz", images=images)
    with pytest.raises(DataError, match=f"key `images` has shape {shape.replace('(', '[(]').replace(')', '[)]')}, "
                                        "expected non-empty"):
        load_images(DataConfig(name="npz", path=str(tmp_path / "i.npz")), 4)


def test_a_label_equal_to_the_number_of_classes_is_refused(tmp_path: Path) -> None:
    """With K class names the labels are 0..K-1: label K (one past the end) is refused."""
    np.savez(tmp_path / "k.npz", images=np.zeros((2, 4, 4, 3), np.uint8), labels=np.array([0, 2]),
             classes=np.array(["a", "b"]))
    with pytest.raises(DataError, match="key `labels` has values outside 0..1"):
        load_images(DataConfig(name="npz", path=str(tmp_path / "k.npz")), 4)


def test_a_read_only_array_is_copied_not_aliased() -> None:
    """nhwc_to_tensor copies read-only memory (e.g. np.asarray of a PIL image) instead of letting a
    writable tensor alias it (torch warns about that only once per process, so the aliasing is
    what is checked: a 1×1 RGB image needs no copy for the permute)."""
    from optgan.trainer.data.raw import nhwc_to_tensor

    arr = np.arange(3, dtype=np.uint8).reshape(1, 1, 1, 3)
    arr.flags.writeable = False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = nhwc_to_tensor(arr)
    assert t.shape == (1, 3, 1, 1) and t.flatten().tolist() == [0, 1, 2]
    assert t.data_ptr() != arr.ctypes.data


# ----------------------------------------------------------------------------- images


def test_fingerprint_covers_class_names_and_shape() -> None:
    """Same pixel bytes with other class names, or under another N×3×H×W shape, hash differently."""
    x = torch.zeros(2, 3, 2, 2, dtype=torch.uint8)
    base = fingerprint_of(x, None, ("a", "b"))
    assert fingerprint_of(x, None, ("a", "c")) != base
    assert fingerprint_of(x.reshape(8, 3, 1, 1), None, ("a", "b")) != base


def test_the_fingerprint_of_a_fixed_set_never_changes() -> None:
    """Checkpoints and metric caches store fingerprints: the v2 rule must give these exact values
    (a changed formula or version string would orphan every stored run and cache)."""
    x = torch.arange(2 * 3 * 2 * 2, dtype=torch.uint8).view(2, 3, 2, 2)
    assert fingerprint_of(x, torch.tensor([1, 0]), ("a", "b")) == (
        "951fe31461b0f83cbf3cde71d484d9a317ff51856581f22ab2c20b1c80d118bb")
    assert fingerprint_of(x, None, None) == "ecfa81b7c25b870beeea389de129e47c2c4dc35f8a6d0654f9ca8c8ae38edc0e"


def test_a_crop_without_resize_does_not_keep_the_uncropped_pixels() -> None:
    """A non-square set already at the target side is cropped into its own compact tensor, not a
    view that keeps the whole uncropped storage alive in the cache."""
    x = torch.zeros(3, 3, 4, 6, dtype=torch.uint8)
    out = resize_images(x, 4)
    assert out.shape == (3, 3, 4, 4) and out.is_contiguous()
    assert out.untyped_storage().nbytes() == out.numel()


def test_resizing_an_empty_set_keeps_its_shape() -> None:
    """Zero images resize to zero images of the new size (no torch.cat of nothing)."""
    out = resize_images(torch.zeros(0, 3, 8, 8, dtype=torch.uint8), 4)
    assert out.shape == (0, 3, 4, 4) and out.dtype == torch.uint8


def test_a_tall_image_is_cropped_at_its_centre() -> None:
    """A non-square image keeps its centre rows (not the top ones) when cropped to a square."""
    x = torch.arange(6, dtype=torch.uint8).view(1, 1, 6, 1).expand(1, 3, 6, 2).contiguous()  # row i = i
    assert resize_images(x, 2)[0, 0].tolist() == [[2, 2], [3, 3]]
    wide = x.transpose(2, 3).contiguous()  # column j = j
    assert resize_images(wide, 2)[0, 0].tolist() == [[2, 3], [2, 3]]


def test_to_uint8_rounds_to_the_nearest_level() -> None:
    """x · 127.5 + 127.5 is rounded, not truncated: 0.999 → 255, −0.999 → 0, and 0.004 → 128."""
    assert to_uint8(torch.tensor([0.999, -0.999, 0.004, -0.004])).tolist() == [255, 0, 128, 127]


# ----------------------------------------------------------------------------- stream


def _images(n: int = 10) -> torch.Tensor:
    return torch.arange(n, dtype=torch.uint8).view(n, 1, 1, 1).expand(n, 3, 2, 2).contiguous()


def test_a_state_loaded_before_the_first_batch_saves_as_it_was_loaded() -> None:
    """Resuming from a resumed run: the state of a stream that loaded an unstarted state (and
    took nothing) is that state again, not its own generator's."""
    original = BatchStream(_images(), 3, torch.Generator().manual_seed(1))
    state = original.state_dict()
    resumed = BatchStream(_images(), 3, torch.Generator().manual_seed(99))
    resumed.load_state_dict(state)
    again = resumed.state_dict()
    assert torch.equal(again["generator_state"], state["generator_state"]) and again["started"] is False
    assert torch.equal(next(resumed), next(original))


def test_loading_a_state_into_a_used_stream_replaces_its_epoch(tmp_path: Path) -> None:
    """load_state_dict discards the epoch the stream had already started: the batches are the
    saved stream's, even when that one had not started yet."""
    original = BatchStream(_images(), 3, torch.Generator().manual_seed(1))
    state = original.state_dict()
    used = BatchStream(_images(), 3, torch.Generator().manual_seed(2))
    next(used)
    used.load_state_dict(state)
    assert (used.epoch, used.position) == (0, 0)
    for _ in range(7):
        assert torch.equal(next(used), next(original))


# ----------------------------------------------------------------------------- torchvision sets


def test_a_download_that_brings_nothing_usable_says_so_and_cleans_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The download 'succeeds' but the files fail the check: the message says it happened even
    after the download, and the empty folders the attempt made are removed."""
    import os

    def empty_download(url: str, download_root: str, *args: object, **kwargs: object) -> None:
        os.makedirs(download_root, exist_ok=True)

    monkeypatch.setattr("torchvision.datasets.cifar.download_and_extract_archive", empty_download)
    with pytest.raises(DataError, match="CIFAR-10 not found: .* even after the download; fix: delete"):
        load_images(DataConfig(name="cifar10", root=str(tmp_path / "new" / "data"), download=True), 32)
    assert list(tmp_path.iterdir()) == []


def test_a_failed_read_names_the_os_reason_and_says_reading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without download, an OSError while reading is 'reading … failed (<reason>)', the reason
    without URLError's wrapper."""
    from torchvision.datasets import CIFAR10

    def unreadable(self: object, *args: object, **kwargs: object) -> None:
        raise urllib.error.URLError("disk on fire")

    monkeypatch.setattr(CIFAR10, "__init__", unreadable)
    with pytest.raises(DataError) as e:
        load_images(DataConfig(name="cifar10", root=str(tmp_path)), 32)
    assert str(e.value).startswith(f"reading CIFAR-10 into {tmp_path} failed (disk on fire); fix:")
