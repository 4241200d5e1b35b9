"""Hyper-parameters of the two search stages (SPEC §2–§3); defaults are the EAGAN code's."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from optgan.config.base import check_range

__all__ = ["GenStageConfig", "DiscStageConfig", "EvaluationConfig"]


@dataclass(frozen=True)
class _StageCommon:
    #: rounds (generations) the stage runs in all (`optgan study extend` raises it later)
    rounds: int = 16
    #: training epochs per round (0 = evaluate only)
    epochs_per_round: int = 10
    #: iterations per epoch; None = one pass over the training set at the D batch size
    iters_per_epoch: int | None = None
    #: real (and generated) images per D step
    batch_size_d: int = 40
    #: images per G step
    batch_size_g: int = 80
    #: Adam learning rate of G (the supernet in stage gen, each G copy in stage disc)
    lr_g: float = 2e-4
    #: Adam learning rate of D (the fixed D in stage gen, the supernet in stage disc)
    lr_d: float = 4e-5
    #: Adam β₁ of both networks
    beta1: float = 0.0
    #: Adam β₂ of both networks
    beta2: float = 0.9
    #: D steps per G step
    n_critic: int = 1
    #: training arithmetic: `auto` = bf16 autocast on CUDA, fp32 on the CPU; `bf16` = bf16
    #: autocast on any device (the CPU too); `tf32` = fp32 with TF32 matrix units (CUDA); `fp32` =
    #: plain fp32 (TF32 off) — the reference path of bench/train.py
    precision: Literal["auto", "fp32", "tf32", "bf16"] = "auto"
    #: channels-last memory format for the networks and images (CUDA only)
    channels_last: bool = True
    #: replay one CUDA graph per population member / pair during rounds (CUDA only)
    cuda_graphs: bool = True
    #: let cuDNN time its conv algorithms once per shape and keep the fastest (CUDA only)
    cudnn_benchmark: bool = True
    #: `native` = PyTorch's own kernel for every op; `rewritten` = G's dilated convs on sub-grids and
    #: its `conv_transpose` / `bilinear` up ops by output phase: exactly the same functions made of
    #: dense and depthwise convs (`optgan.supernet.op_forms`), for GPUs whose kernels for those ops
    #: are slow (on an H200 they are not: rounds ran 0.58× as fast; measure with bench/train.py)
    op_forms: Literal["native", "rewritten"] = "native"

    def _check(self, stage: str) -> None:
        check_range(f"{stage}.rounds", self.rounds, low=1)
        check_range(f"{stage}.epochs_per_round", self.epochs_per_round, low=0)
        check_range(f"{stage}.iters_per_epoch", self.iters_per_epoch, low=1)
        check_range(f"{stage}.batch_size_d", self.batch_size_d, low=1)
        check_range(f"{stage}.batch_size_g", self.batch_size_g, low=1)
        check_range(f"{stage}.lr_g", self.lr_g, low=0, low_inclusive=False)
        check_range(f"{stage}.lr_d", self.lr_d, low=0, low_inclusive=False)
        check_range(f"{stage}.beta1", self.beta1, low=0, high=1, high_inclusive=False)
        check_range(f"{stage}.beta2", self.beta2, low=0, high=1, high_inclusive=False)
        check_range(f"{stage}.n_critic", self.n_critic, low=1)


@dataclass(frozen=True)
class GenStageConfig(_StageCommon):
    """Stage `gen`: many-to-one training of the G supernet against one fixed D."""

    #: warm-up epochs before the first round: one uniformly random G per iteration
    warmup_epochs: int = 40
    #: `simple` (the code's DCGAN-style D) or a D genotype (JSON string / file path)
    discriminator: str = "simple"

    def __post_init__(self) -> None:
        self._check("gen_stage")
        check_range("gen_stage.warmup_epochs", self.warmup_epochs, low=0)


@dataclass(frozen=True)
class DiscStageConfig(_StageCommon):
    """Stage `disc`: one-to-one training of D candidates with weight-resetting G copies."""

    rounds: int = 15
    lr_d: float = 2e-4
    n_critic: int = 5
    #: how G* is chosen from stage `gen` (overridable by `--gen-trial` / `--gen-arch`)
    gen_choice: Literal["min_fid_pareto"] = "min_fid_pareto"

    def __post_init__(self) -> None:
        self._check("disc_stage")


@dataclass(frozen=True)
class EvaluationConfig:
    """`real` = supernet training + metrics; `synthetic` = deterministic values, no training."""

    #: `real` (supernet training + metrics) or `synthetic` (deterministic scores, no training: a
    #: dry run of the whole machinery in seconds)
    kind: Literal["real", "synthetic"] = "real"
