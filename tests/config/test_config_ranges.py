"""Every validation rule of the study and training configs, at its bound: the value just past
it is a one-line error naming the key, the bound itself (where there is one) is accepted."""

from __future__ import annotations

import pytest

from optgan.config.yaml_input import apply_overrides
from optgan.config.study import study_config_from_dict
from optgan.config.train import train_config_from_dict
from optgan.errors import ConfigError
from optgan.search_space.widths import MAX_WIDTH

STUDY_REFUSED = [
    (["objectives=[FID]"], "`objectives` needs at least 2"),
    (["objectives=[FID, FID]"], "`objectives` has duplicates"),
    (["device=gpu"], "`device` = 'gpu'"),
    (["cpu_threads=1025"], "`cpu_threads` = 1025 is out of range"),
    (["sampler.population_size=4097"], "`sampler.population_size` = 4097"),
    (["sampler.population_size=16", "sampler.num_survivors=16"], "`sampler.num_survivors` = 16"),
    (["sampler.crossover_prob=1.5"], "`sampler.crossover_prob` = 1.5"),
    (["sampler.crossover_prob=0", "sampler.mutation_prob=0"], "are both 0"),
    (["sampler.mutation_prob=0", "sampler.num_survivors=1"], "with 1 survivor"),
    (["sampler.selection=scgan", "sampler.population_size=16", "sampler.scgan_clusters=9"],
     "`sampler.scgan_clusters` = 9 exceeds the 8 survivors"),
    (["gen_stage.rounds=0"], "`gen_stage.rounds` = 0"),
    (["gen_stage.beta1=1.0"], "`gen_stage.beta1` = 1.0"),
    (["gen_stage.lr_g=0"], "`gen_stage.lr_g` = 0.0"),
    (["gen_stage.warmup_epochs=-1"], "`gen_stage.warmup_epochs` = -1"),
    (["gen_stage.n_critic=0"], "`gen_stage.n_critic` = 0"),
    (["disc_stage.rounds=0"], "`disc_stage.rounds` = 0"),
    (["disc_stage.n_critic=0"], "`disc_stage.n_critic` = 0"),
    (["data.max_images=0"], "`data.max_images` = 0"),
    (["data.name=npz"], "`data.path` is required when `data.name` is 'npz'"),
    (["data.path=x.npz"], "`data.path` is only used by `data.name` 'npz' or 'folder'"),
    (["metrics.metrics=[]"], "`metrics.metrics` is empty"),
    (["metrics.metrics=[FID, FID]"], "`metrics.metrics` has duplicates"),
    (["metrics.num_images=1"], "`metrics.num_images` = 1"),
    (["metrics.is_splits=5001"], "`metrics.is_splits` = 5001"),
    (["metrics.metrics=[FID, KID]", "metrics.kid_subset_size=5001"], "`metrics.kid_subset_size` = 5001"),
    (["metrics.metrics=[FID, KID]", "metrics.kid_subset_size=1000", "metrics.reference_images=999"],
     "`metrics.reference_images` = 999"),
    (["metrics.inception_weights=' '"], "`metrics.inception_weights` is empty"),
    (["metrics.seed=4294967296"], "`metrics.seed` = 4294967296"),
    ([f"metrics.classifier.width={MAX_WIDTH + 1}"], f"`metrics.classifier.width` = {MAX_WIDTH + 1}"),
    (["pictures.grid_images=257"], "`pictures.grid_images` = 257"),
]

STUDY_ACCEPTED = [
    ["cpu_threads=1024"], ["sampler.population_size=4096"], ["sampler.population_size=16", "sampler.num_survivors=15"],
    ["sampler.crossover_prob=1.0", "sampler.mutation_prob=0"],
    ["sampler.selection=scgan", "sampler.population_size=16", "sampler.scgan_clusters=8"],
    ["gen_stage.beta1=0.99"], ["data.max_images=1"], ["metrics.num_images=2", "metrics.is_splits=2"],
    ["metrics.metrics=[FID]", "metrics.is_splits=6000"],  # IS not computed: its splits are not bound
    ["metrics.metrics=[FID, KID]", "metrics.kid_subset_size=5000", "metrics.reference_images=5000"],
    ["metrics.metrics=[FID, KID]", "metrics.reference_images=999"],  # KID's subsets then hold 999 images
    ["metrics.metrics=[FID, KID]", "metrics.num_images=10"],
    ["metrics.seed=4294967295"], [f"metrics.classifier.width={MAX_WIDTH}"], ["pictures.grid_images=256"],
]


@pytest.mark.parametrize(("overrides", "message"), STUDY_REFUSED)
def test_study_config_values_past_a_bound_are_refused(overrides: list[str], message: str) -> None:
    with pytest.raises(ConfigError) as e:
        study_config_from_dict(apply_overrides({}, overrides))
    assert message in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("overrides", STUDY_ACCEPTED)
def test_study_config_values_at_a_bound_are_accepted(overrides: list[str]) -> None:
    study_config_from_dict(apply_overrides({}, overrides))


@pytest.mark.parametrize(("overrides", "message"), [
    (["metrics.metrics=[IS]"], "`metrics.metrics` must include FID"),
    (["loss=mmd", "batch_size_g=1"], "the mmd loss needs `batch_size_g` and `batch_size_d` ≥ 2"),
    (["disc=' '"], "`disc` is empty"),
    (["ema_decay=1.0"], "`ema_decay` = 1.0"),
])
def test_train_config_rules(overrides: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=None) as e:
        train_config_from_dict(apply_overrides({}, overrides))
    assert message in str(e.value)
    train_config_from_dict(apply_overrides({}, ["loss=mmd", "batch_size_g=2", "batch_size_d=2", "ema_decay=0.999"]))
