"""The resolved configuration of one study: every section, validated, frozen.

`load_study_config(path, overrides)` reads a YAML preset (see `studies/`), applies
`--set key=value` overrides and validates everything; `to_dict` (from `optgan.config.base`)
gives the plain form that is stored with the study, so `optgan run` never depends on flags.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from optgan.config.base import check_device_name, check_range, flatten, from_dict, refuse_other_config_kind, to_dict
from optgan.config.data import DataConfig
from optgan.config.metrics import MetricsConfig
from optgan.config.pictures import PicturesConfig
from optgan.config.sampler import SamplerConfig
from optgan.config.search import DiscStageConfig, EvaluationConfig, GenStageConfig
from optgan.config.yaml_input import apply_overrides, load_yaml, override_key_parts
from optgan.errors import ConfigError
from optgan.search_space.constraints import Caps
from optgan.search_space.widths import Widths

__all__ = ["StudyConfig", "StudyCaps", "load_study_config", "study_config_from_dict", "OBJECTIVES",
           "RUN_MAY_CHANGE", "with_absolute_paths", "with_machine_settings"]

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

    #: fixes the whole search: proposals, supernet init, data order, latents
    seed: int = 0
    #: `auto` (CUDA when present, else CPU), `cpu`, `cuda` or `cuda:N`
    device: str = "auto"
    #: torch.set_num_threads for the search (None = PyTorch's default: one per core). Small
    #: networks on a busy CPU often run several times faster with 1 thread; CPU results depend
    #: on the thread count in their last bits (as they do on the device)
    cpu_threads: int | None = None
    widths: Widths = field(default_factory=Widths)
    data: DataConfig = field(default_factory=DataConfig)
    #: ≥ 2 of `IS` (maximised), `FID`, `KID`, `params_M`, `flops_M` (minimised); the last two
    #: measure the searched network (G in stage gen, D in stage disc)
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
        check_range("cpu_threads", self.cpu_threads, low=1, high=1024)
        check_range("seed", self.seed, low=0, high=2**63 - 1)

    @property
    def directions(self) -> list[str]:
        return [OBJECTIVES[o] for o in self.objectives]


def study_config_from_dict(data: dict[str, Any]) -> StudyConfig:
    """Validate a plain dict (from YAML or from storage) into a StudyConfig."""
    return from_dict(StudyConfig, data)


def load_study_config(path: str, overrides: Iterable[str] = ()) -> StudyConfig:
    """Read, override and validate a study config file."""
    data = load_yaml(path)
    refuse_other_config_kind(data, path, ("epochs", "gen_arch", "loss", "lr_g", "lr_d", "n_critic", "ema_decay"),
                             "a training recipe", "give it to `optgan train --config`; `optgan study create` takes a "
                             "search config such as studies/quickstart.yaml")
    return study_config_from_dict(apply_overrides(data, overrides))


#: keys that say where things are on a machine (and which device and threads to use), not what they are:
#: `optgan run` may set them for one run of a stored search (another host, a moved data set);
#: the data's content and the extractor's weights are checked against what the search began with
RUN_MAY_CHANGE = ("device", "cpu_threads", "data.root", "data.path", "data.download", "metrics.cache_dir",
                  "metrics.inception_weights", "metrics.inception_download")
#: path keys stored absolute by `optgan study create` (a `~` path stays `~`: it is per user)
_PATH_KEYS = (("data", "root"), ("data", "path"), ("metrics", "cache_dir"), ("metrics", "inception_weights"),
              ("run_dir",))


def with_absolute_paths(config: StudyConfig) -> StudyConfig:
    """`config` with its relative paths made absolute (from the current folder), so that the
    stored search does not depend on where `optgan run` is started."""
    data = to_dict(config)
    for path in _PATH_KEYS:
        *sections, key = path
        node = data
        for section in sections:
            node = node[section]
        value = node.get(key)
        if isinstance(value, str) and value and not value.startswith("~") and not os.path.isabs(value):
            node[key] = os.path.abspath(value)
    return study_config_from_dict(data)


def with_machine_settings(config: StudyConfig, overrides: Iterable[str]) -> StudyConfig:
    """A stored search's config with `key=value` overrides of :data:`RUN_MAY_CHANGE` keys only."""
    overrides = tuple(overrides)
    if not overrides:
        return config
    old = to_dict(config)
    flat_old = flatten(old)
    known = {".".join(k.split(".")[:n]) for k in flat_old for n in range(1, k.count(".") + 2)}
    for item in overrides:  # a known key the user gave, named before its value is validated
        key = ".".join(override_key_parts(item))
        if key not in RUN_MAY_CHANGE and key in known:
            raise _fixed_key(key)
    new = apply_overrides(old, overrides)
    path = new.get("data", {}).get("path")
    if path is not None and path != config.data.path and config.data.location_key != "path":
        where = "with `--set data.root=DIR`" if config.data.location_key == "root" else "nowhere (it reads no file)"
        raise ConfigError(f"`data.path` locates only npz / folder data sets; this search's data set is "
                          f"{config.data.name!r} (fixed at `optgan study create`), located {where}")
    updated = study_config_from_dict(new)  # unknown keys and bad values first
    flat_new = flatten(new)
    changed = sorted(k for k in set(flat_old) | set(flat_new) if flat_old.get(k, None) != flat_new.get(k, None))
    fixed = [k for k in changed if k not in RUN_MAY_CHANGE]
    if fixed:
        raise _fixed_key(fixed[0])
    return with_absolute_paths(updated)


def _fixed_key(key: str) -> ConfigError:
    """`key` cannot change on `optgan run`; a whole section names one of its keys that can."""
    inner = next((k for k in RUN_MAY_CHANGE if k.startswith(key + ".")), None)
    hint = f"; set such keys one by one (e.g. `--set {inner}=…`)" if inner else ""
    if key == "run_dir":
        hint = "; a run directory found elsewhere (moved, another host's mount) is given with --run-dir DIR"
    return ConfigError(f"`{key}` is part of the search (fixed at `optgan study create`) and cannot change on "
                       f"`optgan run`; only where things are and what runs them may: {', '.join(RUN_MAY_CHANGE)}{hint}")
