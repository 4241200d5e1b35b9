"""Building a stage's :class:`~optgan.trainer.search_training.SearchTrainer` from the study config.

Networks are built on the CPU under seeded generators (so weights do not depend on the device),
then moved to the device (channels-last when enabled). Seeds: ``SeedSequence([seed, stage,
purpose])`` per purpose (architecture draws, latents, data order, G init, D init).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, TypeVar

import numpy as np
import torch
from torch import nn

from optgan.config.search import DiscStageConfig, GenStageConfig
from optgan.errors import CheckpointError, ConfigError, GenotypeError
from optgan.search_space.genotype import Genotype, load_genotype
from optgan.search_space.widths import Widths
from optgan.supernet import (
    build_discriminator,
    build_generator,
    build_simple_discriminator,
    build_supernet_d,
    build_supernet_g,
    set_channels_last,
    set_op_forms,
)
from optgan.trainer.data import BatchStream, ImageSet
from optgan.trainer.pairing import DiscPairing, GenPairing
from optgan.trainer.adam_step import make_adam
from optgan.trainer.search_step import BlockRunner, Precision
from optgan.trainer.search_training import SearchTrainer

if TYPE_CHECKING:
    from optgan.config.study import StudyConfig

__all__ = ["build_search_trainer", "stage_seed", "load_g_star_weights"]

_STAGE_CODE = {"gen": 1, "disc": 2}
M = TypeVar("M", bound=nn.Module)
_ARCH, _LATENT, _DATA, _INIT_G, _INIT_D = range(5)


def stage_seed(seed: int, stage: str, purpose: int) -> int:
    """An independent 63-bit seed for one purpose of one stage."""
    state = np.random.SeedSequence([int(seed) % 2**63, _STAGE_CODE[stage], purpose]).generate_state(1, np.uint64)
    return int(state[0] >> 1)


def _torch_gen(seed: int, device: torch.device | str = "cpu") -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed)


def _place(net: M, device: torch.device, precision: Precision, op_forms: str) -> M:
    set_op_forms(net, op_forms)
    net.to(device)
    if precision.channels_last:
        set_channels_last(net, True)
    return net.train()


def _adam(net: nn.Module, lr: float, cfg: GenStageConfig | DiscStageConfig, precision: Precision) -> torch.optim.Adam:
    return make_adam(list(net.parameters()), lr, (cfg.beta1, cfg.beta2), capturable=precision.cuda_graphs)


def load_g_star_weights(net: nn.Module, supernet_state: dict[str, torch.Tensor]) -> None:
    """Copy G*'s subnet out of a G-supernet state dict (same keys as the standalone G)."""
    keys = list(net.state_dict())
    missing = [k for k in keys if k not in supernet_state]
    if missing:
        raise CheckpointError(
            f"the stage-gen supernet state lacks {missing[0]!r}: it is not a G supernet of these widths"
        )
    try:
        net.load_state_dict({k: supernet_state[k] for k in keys}, strict=True)
    except RuntimeError as e:
        raise CheckpointError(f"the stage-gen supernet state does not fit G* ({str(e).splitlines()[0][:160]})") from e


def _fixed_disc(cfg: GenStageConfig, widths: Widths, gen: torch.Generator) -> nn.Module:
    if cfg.discriminator == "simple":
        return build_simple_discriminator(widths, generator=gen)
    return build_discriminator(load_genotype(cfg.discriminator, "disc"), widths, generator=gen)


def build_search_trainer(
    config: StudyConfig,
    stage: Literal["gen", "disc"],
    *,
    device: torch.device,
    images: ImageSet,
    gen_genotype: Genotype | None = None,
    gen_supernet_state: dict[str, torch.Tensor] | None = None,
) -> SearchTrainer:
    """See :func:`optgan.trainer.search_training.make_stage_trainer`."""
    if stage not in _STAGE_CODE:
        raise ConfigError(f"stage {stage!r} is not allowed; use gen or disc")
    cfg = config.gen_stage if stage == "gen" else config.disc_stage
    widths, seed = config.widths, config.seed
    if images.img_size != widths.img_size:
        raise ConfigError(
            f"images are {images.img_size}×{images.img_size} but `widths.bottom_width` = {widths.bottom_width} "
            f"makes {widths.img_size}×{widths.img_size}; load the data at that size or change the widths"
        )
    precision = Precision.resolve(device, cfg.precision, cfg.channels_last, cfg.cuda_graphs, cfg.cudnn_benchmark)
    rng = np.random.default_rng(stage_seed(seed, stage, _ARCH))
    stream = BatchStream(images.images, cfg.batch_size_d, _torch_gen(stage_seed(seed, stage, _DATA)), device)
    runner = BlockRunner(
        device=device, precision=precision, stream=stream,
        z_generator=_torch_gen(stage_seed(seed, stage, _LATENT), device),
        n_critic=cfg.n_critic, batch_g=cfg.batch_size_g, latent_dim=widths.latent_dim,
    )
    init_g, init_d = _torch_gen(stage_seed(seed, stage, _INIT_G)), _torch_gen(stage_seed(seed, stage, _INIT_D))
    pairing: GenPairing | DiscPairing
    if stage == "gen":
        g = _place(build_supernet_g(widths, generator=init_g), device, precision, cfg.op_forms)
        d = _place(_fixed_disc(config.gen_stage, widths, init_d), device, precision, cfg.op_forms)
        pairing = GenPairing(g, d, _adam(g, cfg.lr_g, cfg, precision), _adam(d, cfg.lr_d, cfg, precision),
                             rng, precision, device)
    else:
        if gen_genotype is None or gen_genotype.net != "gen":
            raise GenotypeError("stage disc needs G*, a gen genotype chosen from stage gen")
        g_star = build_generator(gen_genotype, widths, generator=init_g)
        if gen_supernet_state is not None:
            load_g_star_weights(g_star, gen_supernet_state)
        g_star = _place(g_star, device, precision, cfg.op_forms)
        d = _place(build_supernet_d(widths, generator=init_d), device, precision, cfg.op_forms)
        pairing = DiscPairing(d, _adam(d, cfg.lr_d, cfg, precision), g_star,
                              lambda net: _adam(net, cfg.lr_g, cfg, precision), rng, precision, device)
    ipe = cfg.iters_per_epoch or max(1, len(images) // cfg.batch_size_d)
    return SearchTrainer(stage, pairing, runner, rng, ipe, cfg.n_critic)
