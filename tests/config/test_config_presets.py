"""Every preset in studies/ loads and validates; the study presets keep the papers' constants."""

from __future__ import annotations

import pathlib

import pytest

from optgan.config.study import load_study_config
from optgan.config.train import load_train_config

STUDIES = pathlib.Path(__file__).resolve().parents[2] / "studies"
SEARCH_PRESETS = sorted(p for p in STUDIES.glob("*.yaml") if not p.name.startswith("train-"))
TRAIN_PRESETS = sorted(STUDIES.glob("train-*.yaml"))


@pytest.mark.parametrize("path", SEARCH_PRESETS, ids=lambda p: p.name)
def test_search_presets_load(path: pathlib.Path) -> None:
    cfg = load_study_config(str(path))
    assert len(cfg.objectives) >= 2


@pytest.mark.parametrize("path", TRAIN_PRESETS, ids=lambda p: p.name)
def test_train_presets_load(path: pathlib.Path) -> None:
    load_train_config(str(path))


def test_paper_constants() -> None:
    eagan = load_study_config(str(STUDIES / "cifar10-eagan.yaml"))
    assert eagan.sampler.population_size == 32 and eagan.sampler.survivors == 16
    assert (eagan.sampler.crossover_prob, eagan.sampler.mutation_prob) == (0.3, 0.5)
    assert (eagan.gen_stage.batch_size_d, eagan.gen_stage.batch_size_g) == (40, 80)
    assert (eagan.gen_stage.lr_g, eagan.gen_stage.lr_d, eagan.disc_stage.n_critic) == (2e-4, 4e-5, 5)
    assert eagan.metrics.num_images == 5000 and eagan.widths.img_size == 32
    # IS over 10 splits, IS shuffle and KID subsets seeded as torch-fidelity (SPEC §5)
    assert (eagan.metrics.is_splits, eagan.metrics.seed) == (10, 2020)
    assert (eagan.metrics.kid_subsets, eagan.metrics.kid_subset_size_for(50_000)) == (100, 1000)
    assert eagan.gen_stage.warmup_epochs == 40 and (eagan.gen_stage.rounds, eagan.gen_stage.epochs_per_round) == (16, 10)
    assert load_study_config(str(STUDIES / "stl10-eagan.yaml")).widths.img_size == 48
    scgan = load_study_config(str(STUDIES / "cifar10-scgan.yaml"))
    assert scgan.sampler.selection == "scgan" and scgan.caps.gen.flops_M == (1500.0, 3000.0)
    assert scgan.caps.gen.cell_params_M == (0.5, 2.2) and scgan.caps.gen.params_M == (6.5, 15.0)


@pytest.mark.parametrize("path", SEARCH_PRESETS, ids=lambda p: p.name)
def test_search_presets_take_a_smaller_population(path: pathlib.Path) -> None:
    """The README's override example: survivors follow the population (P/2) unless set."""
    cfg = load_study_config(str(path), ["sampler.population_size=16", "data.root=~/datasets"])
    assert cfg.sampler.population_size == 16 and cfg.sampler.survivors == 8


def test_a_config_of_the_other_kind_is_named() -> None:
    from optgan.config.study import load_study_config
    from optgan.config.train import load_train_config
    from optgan.errors import ConfigError

    with pytest.raises(ConfigError, match=r"train-cifar10.yaml looks like a training recipe \(it has `[a-z_]+`\); "
                                          r"give it to `optgan train --config`"):
        load_study_config(str(STUDIES / "train-cifar10.yaml"))
    with pytest.raises(ConfigError, match=r"quickstart.yaml looks like a search config \(it has `[a-z_]+`\); "
                                          r"give it to `optgan study create --config`"):
        load_train_config(str(STUDIES / "quickstart.yaml"))


def test_an_architecture_file_given_as_a_config_is_named(tmp_path) -> None:
    import json

    from optgan.config.study import load_study_config
    from optgan.config.train import load_train_config
    from optgan.errors import ConfigError
    from optgan.search_space import load_genotype

    arch = tmp_path / "best_g.json"  # what `optgan export` writes
    genotype = load_genotype("[[0,1,1,0,2,3,1],[1,1,0,1,3,0,5],[0,1,0,3,0,0,3]]", "gen")
    arch.write_text(json.dumps({**genotype.to_json_dict(), "source": {"search": "demo"}}))
    for load in (load_train_config, load_study_config):
        with pytest.raises(ConfigError, match=r"best_g.json looks like an architecture file, as `optgan export` "
                                              r"writes \(it has `array`\), not a config; pass it with `optgan train "
                                              r"--gen-arch`"):
            load(str(arch))
