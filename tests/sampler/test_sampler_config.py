"""SamplerConfig validation, the sampler factory and the pinned storage keys."""

from __future__ import annotations

import json
import subprocess
import sys
from types import SimpleNamespace

import optuna
import pytest

from optgan import keys
from optgan.config.base import from_dict, to_dict
from optgan.config.sampler import SamplerConfig
from optgan.errors import ConfigError, StorageError
from optgan.sampler import OptganSampler, attach_sampler, make_sampler, sampler_for_study
from optgan.search_space.constraints import Caps
from optgan.search_space.widths import STL10_WIDTHS


def test_defaults_are_the_papers() -> None:
    c = SamplerConfig()
    assert (c.population_size, c.survivors, c.crossover_prob, c.mutation_prob, c.selection,
            c.scgan_clusters) == (32, 16, 0.3, 0.5, "nsga2", 8)
    assert SamplerConfig(population_size=9).survivors == 4
    assert from_dict(SamplerConfig, to_dict(c)) == c


@pytest.mark.parametrize(
    "data, match",
    [
        ({"population_size": 1}, "sampler.population_size"),
        ({"population_size": 100_000}, r"`sampler.population_size` = 100000 is out of range; allowed: \[2, 4096\]"),
        ({"num_survivors": 32}, "sampler.num_survivors"),
        ({"num_survivors": 0}, "sampler.num_survivors"),
        ({"crossover_prob": 1.5}, "sampler.crossover_prob"),
        ({"mutation_prob": -0.1}, "sampler.mutation_prob"),
        ({"max_tries": 0}, "sampler.max_tries"),
        ({"seed": -1}, "sampler.seed"),
        ({"selection": "moead"}, "allowed values: 'nsga2', 'eagan', 'scgan'"),
        ({"selection": "scgan", "num_survivors": 4}, "scgan_clusters"),
        ({"mutation": 0.5}, "unknown key `mutation`"),
        ({"crossover_prob": 0, "mutation_prob": 0}, "both 0"),
        ({"population_size": 3, "num_survivors": 1, "crossover_prob": 1, "mutation_prob": 0},
         "crossover needs two distinct survivors, so every child would copy the one"),
    ],
)
def test_invalid_configs_are_one_line_errors(data: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match) as err:
        from_dict(SamplerConfig, data)
    assert "\n" not in str(err.value)


def test_scgan_clusters_only_checked_for_scgan() -> None:
    SamplerConfig(population_size=8, scgan_clusters=8)  # nsga2: k is unused


def fake_study_config(**sampler: object) -> SimpleNamespace:
    caps = {"gen": Caps(params_M=(None, 12.5)), "disc": Caps(params_M=(None, 3.0))}
    return SimpleNamespace(sampler=SamplerConfig(**sampler), widths=STL10_WIDTHS, seed=11,
                           caps=SimpleNamespace(for_net=caps.__getitem__))


def test_make_sampler_wires_the_config() -> None:
    s = make_sampler(fake_study_config(selection="eagan"), net="disc")
    assert isinstance(s, OptganSampler)
    assert (s.net, s.seed, s.widths, s.caps) == ("disc", 11, STL10_WIDTHS, Caps(params_M=(None, 3.0)))
    assert make_sampler(fake_study_config(seed=5)).seed == 5  # sampler.seed wins over the study's
    assert len(s.distributions) == 21 and all(n.startswith("disc.") for n in s.distributions)
    with pytest.raises(ConfigError, match="net"):
        make_sampler(fake_study_config(), net="both")


def test_pinned_keys() -> None:
    stored = {
        "GENERATION": "optgan:generation", "SLOT": "optgan:slot", "ROLE": "optgan:role",
        "PARENTS": "optgan:parents", "OPERATORS": "optgan:operators",
        "PLAN_INDEX": "optgan:plan_index", "SURVIVORS_PREFIX": "optgan:survivors:",
        "CONFIG": "optgan:config", "STAGE": "optgan:stage",
    }
    for name, value in stored.items():
        assert getattr(keys, name) == value  # a stored format: never change these
    assert OptganSampler._get_generation_key() == keys.GENERATION
    assert OptganSampler._get_parent_cache_key_prefix() == keys.SURVIVORS_PREFIX


def test_sampler_rebuilt_from_the_stored_config() -> None:
    study_mod = pytest.importorskip("optgan.config.study")
    config = study_mod.study_config_from_dict(
        {"seed": 3, "sampler": {"population_size": 6, "selection": "scgan", "scgan_clusters": 2},
         "caps": {"gen": {"params_M": [None, 12.5]}}})
    study = optuna.create_study(directions=config.directions)
    with pytest.raises(StorageError, match="no stored optgan config"):
        sampler_for_study(study)
    study.set_user_attr(keys.CONFIG, json.dumps(to_dict(config)))
    study.set_user_attr(keys.STAGE, "gen")
    attach_sampler(study)
    assert isinstance(study.sampler, OptganSampler)
    assert (study.sampler.seed, study.sampler.config, study.sampler.caps) == (
        3, config.sampler, config.caps.gen)
    assert make_sampler(to_dict(config), net="gen").config == config.sampler


def test_sampler_package_never_imports_torch() -> None:
    code = "import sys, optgan.sampler, optgan.sampler.dry_run; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
