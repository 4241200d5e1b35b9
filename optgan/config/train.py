"""Hyper-parameters of the final training of a found GAN (`optgan train`, SPEC §6).

Defaults are EAGAN's CIFAR-10 hyper-parameters (hinge loss, lr 2e-4/2e-4, batch G 80 / D 40,
n_critic 5, 600 loader epochs, EMA 0.999) against the fixed `simple` D (no genotype needed);
`studies/train-cifar10.yaml` adds EAGAN's searched D. The presets in `studies/train-*.yaml` set the other recipes
(STL-10 hinge with grad-norm clip 50; the SCGAN / MMD-AdversarialNAS repulsive-MMD recipe).
`load_train_config(path, overrides)` reads a preset and applies `--set key=value` overrides.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from optgan.config.base import check_device_name, check_range, from_dict, refuse_other_config_kind
from optgan.config.data import DataConfig
from optgan.config.metrics import MetricsConfig
from optgan.config.yaml_input import apply_overrides, load_yaml
from optgan.errors import ConfigError
from optgan.search_space.widths import MAX_WIDTH, Widths

__all__ = ["TrainConfig", "MMDConfig", "TrainEvalConfig", "load_train_config", "train_config_from_dict"]

#: the fixed discriminators that need no genotype
FIXED_DISCS = ("simple", "autogan")


@dataclass(frozen=True)
class MMDConfig:
    """The repulsive MMD loss: bounded RBF kernel and the adaptive upper bound (SPEC §6)."""

    #: bandwidth σ of the RBF kernel exp(−d² / 2σ²)
    sigma: float = 1.0
    #: D's loss floors fake–fake squared distances at this value
    lower_bound: float = 0.25
    #: D's loss caps real–real squared distances at this value (it grows, see `upper_bound_cap`)
    upper_bound: float = 4.0
    #: the upper bound is multiplied by `bound_factor` (up to `upper_bound_cap`) after
    #: `patience` evaluations in a row without an FID improvement
    upper_bound_cap: float = 32.0
    #: factor of each growth of the upper bound
    bound_factor: float = 2.0
    #: evaluations in a row without a better FID before the upper bound grows
    patience: int = 6

    def __post_init__(self) -> None:
        check_range("mmd.sigma", self.sigma, low=0, low_inclusive=False)
        check_range("mmd.lower_bound", self.lower_bound, low=0)
        check_range("mmd.upper_bound", self.upper_bound, low=self.lower_bound, low_inclusive=False,
                    low_source="above `mmd.lower_bound`")
        check_range("mmd.upper_bound_cap", self.upper_bound_cap, low=self.upper_bound,
                    low_source="at least `mmd.upper_bound`")
        check_range("mmd.bound_factor", self.bound_factor, low=1)
        check_range("mmd.patience", self.patience, low=1)


@dataclass(frozen=True)
class TrainEvalConfig:
    """When the EMA generator is scored during training (how: the `metrics:` section, whose
    `num_images` is the images per evaluation — the papers: 50,000)."""

    #: evaluate after every `every_epochs` epochs ...
    every_epochs: int = 5
    #: ... once more than `start_epoch` epochs are done (EAGAN: 300), and after the last epoch
    start_epoch: int = 0
    #: images in the sample grid written after each epoch (a square number looks best)
    grid_images: int = 100

    def __post_init__(self) -> None:
        check_range("evaluation.every_epochs", self.every_epochs, low=1)
        check_range("evaluation.start_epoch", self.start_epoch, low=0)
        check_range("evaluation.grid_images", self.grid_images, low=1)


@dataclass(frozen=True)
class TrainConfig:
    """Everything `optgan train` needs besides the genotype files; stored in every checkpoint."""

    #: fixes the run: initialisation, data order, latents, evaluation bank
    seed: int = 0
    #: `auto` (CUDA when present, else CPU), `cpu`, `cuda` or `cuda:N`
    device: str = "auto"
    #: torch.use_deterministic_algorithms(True): bitwise-reproducible CPU runs; on CUDA slower, and
    #: reproducible up to the bilinear upsampling's backward, which has no deterministic kernel
    deterministic: bool = False
    #: torch.set_num_threads for the run (None = PyTorch's default: one per core). Small networks
    #: on a busy CPU often run several times faster with 1 thread.
    cpu_threads: int | None = None
    #: arithmetic on CUDA: `tf32` = fp32 weights, TF32 matrix units for convs and matmuls; `bf16` =
    #: bf16 autocast (fp32 weights, optimiser and losses; 1.07-1.43× faster on an H200, its final FID unmeasured);
    #: `fp32` = IEEE fp32 (TF32 off). On the CPU `tf32` = `fp32`; `bf16` runs CPU autocast.
    precision: Literal["fp32", "tf32", "bf16"] = "tf32"
    #: let cuDNN time its conv algorithms once per shape and keep the fastest (CUDA; never when
    #: `deterministic`)
    cudnn_benchmark: bool = True
    #: CUDA only: capture the two kinds of iteration (D step; D + G step + EMA update) once each as
    #: CUDA graphs and replay them (removes the per-kernel launch cost: 1.01-1.2× on an H200)
    cuda_graphs: bool = True
    #: `native` = PyTorch's own kernel for every op; `rewritten` = G's dilated convs on sub-grids and
    #: its `conv_transpose` / `bilinear` up ops by output phase: exactly the same functions made of
    #: dense and depthwise convs (`optgan.supernet.op_forms`; may change when a run is resumed)
    op_forms: Literal["native", "rewritten"] = "native"
    widths: Widths = field(default_factory=Widths)
    data: DataConfig = field(default_factory=DataConfig)
    #: generator genotype: JSON string or path (`--gen-arch` overrides)
    gen_arch: str | None = None
    #: `simple`, `autogan`, or a discriminator genotype as JSON string / path (`--disc`, `--disc-arch`)
    disc: str = "simple"
    #: width of the AutoGAN-style D (MMD-AdversarialNAS: 512)
    autogan_df_dim: int = 512
    #: `hinge` (EAGAN) or `mmd` (the repulsive MMD loss of SCGAN / MMD-AdversarialNAS, see `mmd`)
    loss: Literal["hinge", "mmd"] = "hinge"
    mmd: MMDConfig = field(default_factory=MMDConfig)
    #: epochs of `iters_per_epoch` discriminator iterations each
    epochs: int = 600
    #: None = one pass over the training images at the D batch size (the reference loaders)
    iters_per_epoch: int | None = None
    #: images per G step
    batch_size_g: int = 80
    #: real (and generated) images per D step
    batch_size_d: int = 40
    #: Adam learning rate of G
    lr_g: float = 2e-4
    #: Adam learning rate of D
    lr_d: float = 2e-4
    #: Adam β₁ of both networks
    beta1: float = 0.0
    #: Adam β₂ of both networks
    beta2: float = 0.9
    #: one G step every `n_critic` D steps (at D iterations 0, n, 2n, ...)
    n_critic: int = 5
    #: gradient-norm clip of D and G (EAGAN STL-10: 50); None = no clipping
    grad_clip: float | None = None
    #: `linear`: both learning rates decay linearly to 0 over the run (off in the papers' recipes)
    lr_decay: Literal["none", "linear"] = "none"
    #: decay of the EMA of G's weights, updated after every G step (the EMA G is evaluated and exported)
    ema_decay: float = 0.999
    #: weight init of both networks' convs: `xavier_uniform` (the papers' code), `normal` (σ 0.02) or `orth`
    init: Literal["xavier_uniform", "normal", "orth"] = "xavier_uniform"
    evaluation: TrainEvalConfig = field(default_factory=TrainEvalConfig)
    #: extractor, metrics (IS / FID / KID), images per evaluation; FID is required
    metrics: MetricsConfig = field(default_factory=lambda: MetricsConfig(metrics=("IS", "FID", "KID"), num_images=50_000))
    #: also write the resumable checkpoint every this many iterations (None: end of each epoch)
    checkpoint_every_iters: int | None = None
    #: a step whose loss is NaN / ±inf is skipped (no update, no EMA update) and counted; the run
    #: stops with an error once this many D iterations in a row had a non-finite loss
    nonfinite_patience: int = 100

    def __post_init__(self) -> None:
        check_device_name(self.device)
        check_range("seed", self.seed, low=0, high=2**63 - 1)
        for key in ("epochs", "batch_size_g", "batch_size_d", "n_critic", "autogan_df_dim", "nonfinite_patience"):
            check_range(key, getattr(self, key), low=1, high=MAX_WIDTH if key == "autogan_df_dim" else None)
        check_range("iters_per_epoch", self.iters_per_epoch, low=1)
        check_range("cpu_threads", self.cpu_threads, low=1, high=1024)
        check_range("checkpoint_every_iters", self.checkpoint_every_iters, low=1)
        check_range("lr_g", self.lr_g, low=0, low_inclusive=False)
        check_range("lr_d", self.lr_d, low=0, low_inclusive=False)
        check_range("beta1", self.beta1, low=0, high=1, high_inclusive=False)
        check_range("beta2", self.beta2, low=0, high=1, high_inclusive=False)
        check_range("grad_clip", self.grad_clip, low=0, low_inclusive=False)
        check_range("ema_decay", self.ema_decay, low=0, high=1, high_inclusive=False)
        if not self.disc.strip():
            raise ConfigError("`disc` is empty; use simple, autogan, or a discriminator genotype (JSON or path)")
        if "FID" not in self.metrics.metrics:
            raise ConfigError("`metrics.metrics` must include FID (it picks the best checkpoint and drives the MMD bound)")
        if self.loss == "mmd" and min(self.batch_size_g, self.batch_size_d) < 2:
            raise ConfigError("the mmd loss needs `batch_size_g` and `batch_size_d` ≥ 2 (pairwise kernel means)")


def train_config_from_dict(data: dict[str, Any]) -> TrainConfig:
    """Validate a plain dict (from YAML or from a checkpoint) into a TrainConfig."""
    return from_dict(TrainConfig, data)


def load_train_config(path: str | None, overrides: Iterable[str] = ()) -> TrainConfig:
    """Read a preset (None = defaults), apply `--set key=value` overrides, validate."""
    data = load_yaml(path) if path else {}
    refuse_other_config_kind(data, path, ("sampler", "gen_stage", "disc_stage", "objectives", "caps"),
                             "a search config", "give it to `optgan study create --config`; `optgan train` takes a "
                             "training recipe such as studies/train-cifar10.yaml")
    return train_config_from_dict(apply_overrides(data, list(overrides)))
