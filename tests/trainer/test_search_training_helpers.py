"""Shared helpers of the search-training tests (tiny widths, CPU); holds no tests itself.

Imported by the `test_search_training*` modules after putting this folder on `sys.path`
(pytest runs with `--import-mode=importlib`, which does not).
"""

from __future__ import annotations

import io

import pytest
import torch

from optgan.config.search import DiscStageConfig, GenStageConfig
from optgan.config.study import StudyConfig
from optgan.search_space.genotype import Genotype
from optgan.search_space.widths import Widths
from optgan.trainer.data import ImageSet
from optgan.trainer.search_training import SearchTrainer, make_stage_trainer

W = Widths(gf_dim=8, df_dim=8, latent_dim=6, bottom_width=1)  # 8×8 images
# every edge live (no `none`, node2 feeds node3): every parameter of the subnet gets a gradient
LIVE_G = Genotype("gen", (("nearest", "bilinear", "conv_3x3", "conv_1x1", "conv_3x3", "dil_conv_3x3", "conv_1x1"),
                          ("conv_transpose", "nearest", "conv_1x1", "conv_3x3", "conv_1x1", "conv_5x5", "conv_3x3"),
                          ("bilinear", "nearest", "conv_3x3", "conv_3x3", "conv_1x1", "conv_1x1", "conv_3x3")))


def study_config(seed: int = 0, **stage: object) -> StudyConfig:
    """A StudyConfig with tiny stages; `stage` overrides fields of both stage sections."""
    gen = GenStageConfig(**{"batch_size_d": 4, "batch_size_g": 6, "iters_per_epoch": 3, **stage})  # type: ignore[arg-type]
    disc = DiscStageConfig(**{"batch_size_d": 4, "batch_size_g": 6, "iters_per_epoch": 10, **stage})  # type: ignore[arg-type]
    return StudyConfig(seed=seed, widths=W, gen_stage=gen, disc_stage=disc)


def image_set(n: int = 24) -> ImageSet:
    images = torch.randint(0, 256, (n, 3, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(3))
    return ImageSet(images, None, None, "test", "test")


def gen_trainer(seed: int = 0, device: str = "cpu", **stage: object) -> SearchTrainer:
    t = make_stage_trainer(study_config(seed, **stage), "gen", device=torch.device(device), images=image_set())
    t.progress = False
    return t


def snapshot(t: SearchTrainer) -> dict[str, torch.Tensor]:
    p = t.pairing
    return {f"g.{k}": v.clone() for k, v in p.g.state_dict().items()} | {f"d.{k}": v.clone() for k, v in p.d.state_dict().items()}


def roundtrip(state: dict) -> dict:
    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=True)


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny networks: one CPU thread is several times faster than two (and fair to parallel tests)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def deterministic():
    before = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    yield
    torch.use_deterministic_algorithms(before)


def disc_trainer(seed: int = 0, supernet_state: dict | None = None, device: str = "cpu",
                 **stage: object) -> SearchTrainer:
    t = make_stage_trainer(study_config(seed, **stage), "disc", device=torch.device(device), images=image_set(),
                           gen_genotype=LIVE_G, gen_supernet_state=supernet_state)
    t.progress = False
    return t
