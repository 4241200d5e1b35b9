"""The resolved configuration of one study: every section, validated, frozen.

`load_study_config(path, overrides)` reads a YAML preset (see `studies/`), applies
`--set key=value` overrides and validates everything; `to_dict` (from `optgan.config.base`)
gives the plain form that is stored with the study, so `optgan run` never depends on flags.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from optgan.config.base import apply_overrides, check_device_name, check_range, from_dict, load_yaml
from optgan.config.data import DataConfig
from optgan.config.metrics import MetricsConfig
from optgan.config.pictures import PicturesConfig
from optgan.config.sampler import SamplerConfig
from optgan.config.search import DiscStageConfig, EvaluationConfig, GenStageConfig
from optgan.errors import ConfigError
from optgan.search_space.constraints import Caps
from optgan.search_space.widths import Widths

__all__ = ["StudyConfig", "StudyCaps", "load_study_config", "study_config_from_dict", "OBJECTIVES"]

Objective = Literal["IS", "FID", "KID", "params_M", "flops_M"]
#: direction of every objective a study may use
OBJECTIVES: dict[str, str] = {
    "IS": "maximize",
    "FID": "minimize",
    "KID": "minimize",
    "params_M": "minimize",
    "flops_M": "minimize",
}


@dataclass(frozen=True)
class StudyCaps:
    """Size caps of the generator search (stage `gen`) and the discriminator search (`disc`)."""

    gen: Caps = field(default_factory=Caps)
    disc: Caps = field(default_factory=Caps)

    def for_net(self, net: str) -> Caps:
        return self.gen if net == "gen" else self.disc


@dataclass(frozen=True)
class StudyConfig:
    """Everything a search needs; stored with the study at `optgan study create`."""

    seed: int = 0
    #: `auto` (CUDA when present, else CPU), `cpu`, `cuda` or `cuda:N`
    device: str = "auto"
    widths: Widths = field(default_factory=Widths)
    data: DataConfig = field(default_factory=lambda: DataConfig(name="cifar10"))
    objectives: tuple[Objective, ...] = ("IS", "FID", "params_M")
    caps: StudyCaps = field(default_factory=StudyCaps)
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    gen_stage: GenStageConfig = field(default_factory=GenStageConfig)
    disc_stage: DiscStageConfig = field(default_factory=DiscStageConfig)
    pictures: PicturesConfig = field(default_factory=PicturesConfig)
    #: where checkpoints and artifacts go; None = `<database dir>/optgan-runs/<study>`
    run_dir: str | None = None

    def __post_init__(self) -> None:
        if len(self.objectives) < 2:
            raise ConfigError(f"`objectives` needs at least 2 entries, got {list(self.objectives)}")
        if len(set(self.objectives)) != len(self.objectives):
            raise ConfigError(f"`objectives` has duplicates: {list(self.objectives)}")
        check_device_name(self.device)
        check_range("seed", self.seed, low=0, high=2**63 - 1)

    @property
    def directions(self) -> list[str]:
        return [OBJECTIVES[o] for o in self.objectives]


def study_config_from_dict(data: dict[str, Any]) -> StudyConfig:
    """Validate a plain dict (from YAML or from storage) into a StudyConfig."""
    return from_dict(StudyConfig, data)


def load_study_config(path: str, overrides: Iterable[str] = ()) -> StudyConfig:
    """Read, override and validate a study config file."""
    return study_config_from_dict(apply_overrides(load_yaml(path), overrides))
