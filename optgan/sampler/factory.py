"""Build the sampler from a study config — the one way to get it, on create and on resume.

Optuna does not store samplers: a study loaded without one silently uses TPE. Everything that
opens a study for searching therefore calls :func:`make_sampler` with the config stored in the
study (user attr `optgan.keys.CONFIG`), or :func:`sampler_for_study` / :func:`attach_sampler`,
which read it from there.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import optuna

from optgan import keys
from optgan.errors import ConfigError, StorageError
from optgan.sampler.sampler import OptganSampler

if TYPE_CHECKING:
    from optgan.config.study import StudyConfig

__all__ = ["make_sampler", "sampler_for_study", "attach_sampler"]


def make_sampler(config: StudyConfig | Mapping[str, Any], *, net: str = "gen") -> OptganSampler:
    """The sampler of stage `net` (`gen` / `disc`) of a study with `config` (or its dict form)."""
    if isinstance(config, Mapping):
        from optgan.config.study import study_config_from_dict

        config = study_config_from_dict(dict(config))
    if net not in ("gen", "disc"):
        raise ConfigError(f"sampler `net` = {net!r}; allowed: gen, disc")
    return OptganSampler(
        net=net,
        config=config.sampler,
        widths=config.widths,
        caps=config.caps.for_net(net),
        seed=config.seed,
    )


def sampler_for_study(study: optuna.Study, *, net: str | None = None) -> OptganSampler:
    """Rebuild the sampler from the config stored with `study` (net from its stage attr)."""
    attrs = study.user_attrs
    raw = attrs.get(keys.CONFIG)
    if raw is None:
        raise StorageError(
            f"study {study.study_name!r} has no stored optgan config (user attr `{keys.CONFIG}`); "
            "create it with `optgan study create`"
        )
    stage = attrs.get(keys.STAGE, "gen")
    return make_sampler(json.loads(raw) if isinstance(raw, str) else raw, net=net or stage)


def attach_sampler(study: optuna.Study, *, net: str | None = None) -> optuna.Study:
    """Replace `study.sampler` by the one rebuilt from its stored config; returns `study`."""
    study.sampler = sampler_for_study(study, net=net)
    return study
