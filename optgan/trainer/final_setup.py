"""What a final training run is made of: its networks, optimisers, generators and seeds.

`resolve_disc` turns `--disc` / `--disc-arch` / the config's `disc` into a :class:`DiscSpec`;
`build_networks` builds the standalone G and D (SPEC §1) from private, seeded torch RNGs and
initialises them like the reference codes (`optgan.supernet.init_weights`). The AutoGAN D
(MMD recipe) is built here too. The architecture record (`arch_record`) is what checkpoints store and what
`optgan.export` rebuilds the generator from.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from optgan.config.train import FIXED_DISCS, TrainConfig
from optgan.errors import ConfigError, GenotypeError
from optgan.search_space.genotype import Genotype
from optgan.search_space.json_input import json_source, read_json_argument
from optgan.search_space.widths import Widths, other_widths
from optgan.trainer.adam_step import make_adam

__all__ = [
    "DiscSpec",
    "resolve_disc",
    "load_arch",
    "build_generator_for",
    "build_disc_for",
    "build_networks",
    "make_optimizers",
    "arch_record",
    "derived_seed",
    "uses_cuda_graphs",
    "check_training_inputs",
    "warn_other_widths",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DiscSpec:
    """Which discriminator: `simple`, `autogan` (with its width and output size) or a genotype."""

    kind: str
    genotype: Genotype | None = None
    df_dim: int | None = None
    out_dim: int = 1

    def to_record(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "genotype": None if self.genotype is None else self.genotype.to_json_dict(),
            "df_dim": self.df_dim,
            "out_dim": self.out_dim,
        }


def load_arch(text_or_path: str, net: str) -> Genotype:
    """A genotype from JSON or a file: a genotype object, bare rows, or ``{"gen": …, "disc": …}``."""
    what = f"{net} architecture"
    obj = read_json_argument(text_or_path, what)
    with json_source(text_or_path, what):
        if isinstance(obj, dict) and "cells" not in obj:
            for key in (net, "genotype"):  # e.g. {"gen": {...}, "disc": {...}} as exported
                if key in obj:
                    return Genotype.from_json(obj[key], net)
        return Genotype.from_json(obj, net)


def warn_other_widths(text_or_path: str, net: str, widths: Widths) -> None:
    """Log a warning when an architecture file from `optgan export` records other widths of its
    network than the recipe trains it at (sizes and scores then differ from the search's)."""
    obj = read_json_argument(text_or_path, f"{net} architecture")
    searched = obj.get("widths") if isinstance(obj, dict) else None
    if not isinstance(searched, dict):
        return
    shown = other_widths(searched, net, widths)
    if shown:
        log.warning("%s was searched at other widths than it is used at here (%s): its size and scores differ "
                    "from the search's", text_or_path, shown)


def resolve_disc(cfg: TrainConfig, disc: str | None = None, disc_arch: str | None = None) -> DiscSpec:
    """`--disc-arch` beats `--disc` beats the config's `disc`."""
    if disc is not None and disc_arch is not None:
        raise ConfigError("give either --disc or --disc-arch, not both")
    choice = disc_arch if disc_arch is not None else (disc if disc is not None else cfg.disc)
    if disc_arch is None and choice in FIXED_DISCS:
        if choice == "autogan":
            return DiscSpec("autogan", None, cfg.autogan_df_dim, 16 if cfg.loss == "mmd" else 1)
        return DiscSpec("simple")
    if disc is not None and disc_arch is None:
        raise ConfigError(f"--disc {disc!r} is not allowed; use simple or autogan (or --disc-arch FILE)")
    return DiscSpec("genotype", load_arch(choice, "disc"))


def derived_seed(seed: int, purpose: int) -> int:
    """An independent 63-bit seed for one purpose (latents, data order, init, eval bank...)."""
    return int(np.random.SeedSequence([int(seed) % 2**63, purpose]).generate_state(1, np.uint64)[0] >> 1)


def build_generator_for(genotype: Genotype, widths: Widths, *, generator: torch.Generator | None = None,
                        init: str = "xavier_uniform") -> nn.Module:
    """The standalone generator of `genotype` (SPEC §1.2)."""
    from optgan.supernet import build_generator

    if genotype.net != "gen":
        raise GenotypeError(f"expected a generator genotype, got a {genotype.net} one")
    return build_generator(genotype, widths, generator=generator, init=init)


def build_disc_for(spec: DiscSpec, widths: Widths, *, generator: torch.Generator | None = None,
                   init: str = "xavier_uniform") -> nn.Module:
    """The discriminator of `spec`: searched (genotype), EAGAN's simple D, or the AutoGAN D."""
    from optgan.supernet import build_discriminator, build_simple_discriminator, init_weights, seeded

    if spec.kind == "autogan":
        from optgan.supernet.autogan_disc import AutoGANDiscriminator

        with seeded(generator):
            net = AutoGANDiscriminator(spec.df_dim or 512, spec.out_dim)
        return init_weights(net, init, generator)
    if spec.kind == "simple":
        return build_simple_discriminator(widths, generator=generator, init=init)
    assert spec.genotype is not None
    return build_discriminator(spec.genotype, widths, generator=generator, init=init)


def build_networks(cfg: TrainConfig, gen: Genotype, disc: DiscSpec) -> tuple[nn.Module, nn.Module]:
    """G and D on CPU, built and initialised from RNGs seeded by `cfg.seed` (global RNG untouched),
    their ops in `cfg.op_forms`."""
    from optgan.supernet import set_op_forms

    g_rng = torch.Generator().manual_seed(derived_seed(cfg.seed, 1))
    d_rng = torch.Generator().manual_seed(derived_seed(cfg.seed, 7))
    g_net = build_generator_for(gen, cfg.widths, generator=g_rng, init=cfg.init)
    d_net = build_disc_for(disc, cfg.widths, generator=d_rng, init=cfg.init)
    return set_op_forms(g_net, cfg.op_forms), set_op_forms(d_net, cfg.op_forms)


def make_optimizers(cfg: TrainConfig, g_net: nn.Module, d_net: nn.Module,
                    capturable: bool = False) -> tuple[torch.optim.Adam, torch.optim.Adam]:
    """Fused Adam for G and D with the config's betas (0, 0.9 in every recipe) and the learning
    rates as device tensors (changed in place by the decay); `capturable` for CUDA graphs."""
    betas = (float(cfg.beta1), float(cfg.beta2))

    def adam(net: nn.Module, lr: float) -> torch.optim.Adam:
        params = [p for p in net.parameters() if p.requires_grad]
        return make_adam(params, torch.tensor(lr, device=params[0].device), betas, capturable)

    return adam(g_net, cfg.lr_g), adam(d_net, cfg.lr_d)


def arch_record(gen: Genotype, disc: DiscSpec, widths: Widths) -> dict[str, Any]:
    """Plain description of the architecture, stored in every checkpoint."""
    return {"gen": gen.to_json_dict(), "disc": disc.to_record(), "widths": dataclasses.asdict(widths)}


def uses_cuda_graphs(cfg: TrainConfig, device: torch.device) -> bool:
    """`cuda_graphs` takes effect on CUDA only."""
    return cfg.cuda_graphs and device.type == "cuda"


def check_training_inputs(cfg: TrainConfig) -> str:
    """What `optgan train --dry-run` checks without training: the device, the metrics cache, the data
    set (enough images for a D batch; labels for the classifier extractor) and the Inception weights
    (when that extractor is used); a line describing them, or a one-line error."""
    from optgan.backends import resolve_device
    from optgan.metrics.availability import check_extractor_data, check_reference_size
    from optgan.metrics.cache import check_cache_dir
    from optgan.trainer.data import load_images
    from optgan.trainer.data.stream import check_batch_size

    device = resolve_device(cfg.device)
    check_cache_dir(cfg.metrics.resolved_cache_dir, "set `metrics.cache_dir` to a writable folder")
    images = load_images(cfg.data, cfg.widths.img_size)
    check_batch_size(cfg.batch_size_d, len(images), "batch_size_d")
    check_extractor_data(cfg.metrics, images)
    check_reference_size(cfg.metrics, len(images))
    what = f"device {device}; data {images.name}: {len(images)} images at {images.img_size} px"
    if cfg.metrics.extractor == "inception":
        from optgan.metrics import check_objectives_available
        from optgan.metrics.inception_weights import resolve_inception_weights

        m = cfg.metrics
        check_objectives_available(m, m.metrics)  # what the run's scorer refuses (IS with pool3-only weights)
        weights = resolve_inception_weights(m.inception_weights, m.resolved_cache_dir, m.inception_download)
        what += f"; Inception weights {weights.source}" + (" (pool3 only: FID/KID)" if weights.pool3_only else "")
    return what
