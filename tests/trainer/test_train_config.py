"""TrainConfig validation, the training presets (papers' hyper-parameters), disc / arch resolution."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from optgan.config.base import to_dict
from optgan.config.train import TrainConfig, load_train_config, train_config_from_dict
from optgan.errors import ConfigError, GenotypeError
from optgan.search_space.genotype import Genotype
from optgan.trainer.final_setup import load_arch, resolve_disc

STUDIES = Path(__file__).resolve().parents[2] / "studies"
G = [[1, 1, 1, 0, 2, 3, 1], [1, 1, 0, 1, 3, 0, 5], [0, 1, 0, 3, 0, 0, 3]]
D_CIFAR = [[3, 0, 3, 0, 2, 0, 0], [1, 0, 3, 0, 1, -1, -1], [3, 0, 3, 0, 1, -1, -1]]


def preset(name: str) -> TrainConfig:
    return load_train_config(str(STUDIES / f"train-{name}.yaml"))


def test_defaults_are_eagan_cifar10() -> None:
    cfg = TrainConfig()
    assert (cfg.loss, cfg.lr_g, cfg.lr_d, cfg.batch_size_g, cfg.batch_size_d, cfg.n_critic, cfg.epochs) == \
        ("hinge", 2e-4, 2e-4, 80, 40, 5, 600)
    assert (cfg.beta1, cfg.beta2, cfg.ema_decay, cfg.grad_clip) == (0.0, 0.9, 0.999, None)
    assert cfg.metrics.metrics == ("IS", "FID", "KID") and cfg.metrics.num_images == 50_000


def test_eagan_presets() -> None:
    c10, stl = preset("cifar10"), preset("stl10")
    assert (c10.batch_size_g, c10.batch_size_d, c10.n_critic, c10.lr_g, c10.lr_d, c10.epochs) == (80, 40, 5, 2e-4, 2e-4, 600)
    assert c10.evaluation.start_epoch == 300 and c10.evaluation.every_epochs == 5 and c10.grad_clip is None
    assert Genotype.from_json(json.loads(c10.disc), "disc") == Genotype.from_array("disc", D_CIFAR)
    assert (stl.batch_size_g, stl.batch_size_d, stl.lr_g, stl.lr_d, stl.grad_clip) == (256, 128, 3e-4, 2e-4, 50.0)
    assert stl.widths.bottom_width == 6 and stl.data.name == "stl10"
    stl_d = Genotype.from_json(json.loads(stl.disc), "disc")
    assert stl_d.op(1, 0) == stl_d.op(1, 2) == "conv_5x5"


@pytest.mark.parametrize("name", ["cifar10-mmd", "stl10-mmd"])
def test_mmd_presets(name: str) -> None:
    cfg = preset(name)
    assert (cfg.loss, cfg.disc, cfg.autogan_df_dim, cfg.batch_size_g, cfg.batch_size_d, cfg.n_critic) == \
        ("mmd", "autogan", 512, 128, 128, 1)
    assert (cfg.lr_g, cfg.lr_d, cfg.epochs, cfg.ema_decay) == (2e-4, 2e-4, 500, 0.999)
    m = cfg.mmd
    assert (m.sigma, m.lower_bound, m.upper_bound, m.upper_bound_cap, m.bound_factor, m.patience) == (1, 0.25, 4, 32, 2, 6)
    spec = resolve_disc(cfg)
    assert (spec.kind, spec.df_dim, spec.out_dim) == ("autogan", 512, 16)


def test_quickstart_preset_is_offline_and_small() -> None:
    cfg = preset("quickstart")
    assert cfg.data.name == "digits" and cfg.metrics.extractor == "classifier" and cfg.device == "cpu"
    assert cfg.widths.img_size == 16 and cfg.epochs * cfg.iters_per_epoch <= 1000
    assert load_arch(cfg.gen_arch, "gen") == Genotype.from_array("gen", G)


def test_round_trip_through_plain_dict() -> None:
    cfg = preset("cifar10-mmd")
    assert train_config_from_dict(to_dict(cfg)) == cfg


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ({"lr": 1e-3}, "unknown key `lr`"),
        ({"loss": "wgan"}, "`loss`"),
        ({"ema_decay": 1.0}, "`ema_decay`"),
        ({"n_critic": 0}, "`n_critic`"),
        ({"grad_clip": 0}, "`grad_clip`"),
        ({"device": "tpu"}, "`device`"),
        ({"loss": "mmd", "batch_size_g": 1}, "needs `batch_size_g`"),
        ({"mmd": {"upper_bound": 0.1}}, "`mmd.upper_bound`"),
        ({"mmd": {"upper_bound_cap": 2}}, "`mmd.upper_bound_cap`"),
        ({"metrics": {"metrics": ["IS"]}}, "must include FID"),
        ({"disc": " "}, "`disc` is empty"),
        ({"evaluation": {"every_epochs": 0}}, "`evaluation.every_epochs`"),
    ],
)
def test_invalid_configs(data, needle) -> None:
    with pytest.raises(ConfigError, match=needle.replace("`", ".").replace("(", r"\(")):
        train_config_from_dict(data)


def test_resolve_disc_precedence() -> None:
    cfg = train_config_from_dict({"disc": json.dumps(D_CIFAR)})
    assert resolve_disc(cfg).kind == "genotype"
    assert resolve_disc(cfg, disc="simple").kind == "simple"
    hinge_autogan = resolve_disc(cfg, disc="autogan")
    assert hinge_autogan.out_dim == 1  # hinge critic: one score per image
    assert resolve_disc(train_config_from_dict({}), disc_arch=json.dumps(D_CIFAR)).genotype is not None
    with pytest.raises(ConfigError, match="not both"):
        resolve_disc(cfg, disc="simple", disc_arch="x")


def test_load_arch_accepts_the_export_forms(tmp_path) -> None:
    g = Genotype.from_array("gen", G)
    d = Genotype.from_array("disc", D_CIFAR)
    combined = tmp_path / "arch.json"
    combined.write_text(json.dumps({"gen": g.to_json_dict(), "disc": d.to_json_dict()}))
    assert load_arch(str(combined), "gen") == g and load_arch(str(combined), "disc") == d
    assert load_arch(json.dumps({"genotype": G}), "gen") == g
    assert load_arch(g.to_json(), "gen") == g
    exported = tmp_path / "best_g.json"  # the document `optgan export` writes
    exported.write_text(json.dumps({**g.to_json_dict(), "source": {"search": "s", "trial": 3},
                                    "widths": {"gf_dim": 256, "df_dim": 128, "latent_dim": 120, "bottom_width": 4}}))
    assert load_arch(str(exported), "gen") == g
    with pytest.raises(GenotypeError):
        load_arch(json.dumps(D_CIFAR), "gen")
    with pytest.raises(GenotypeError, match="neither JSON nor an existing file"):
        load_arch(str(tmp_path / "missing.json"), "gen")


def test_init_reaches_both_networks() -> None:
    """`init` picks the weight initialisation of G and D (the seed fixes the draws)."""
    import torch

    from optgan.trainer.final_setup import build_networks

    widths = {"gf_dim": 16, "df_dim": 16, "latent_dim": 12, "bottom_width": 2}
    gen = Genotype.from_array("gen", G)
    nets = {}
    for init in ("xavier_uniform", "normal"):
        cfg = train_config_from_dict({"widths": widths, "disc": json.dumps(D_CIFAR), "init": init})
        nets[init] = build_networks(cfg, gen, resolve_disc(cfg))
    for i in (0, 1):
        a, b = (dict(nets[k][i].named_parameters()) for k in ("xavier_uniform", "normal"))
        assert any(not torch.equal(a[k], b[k]) for k in a), "GD"[i]


def test_cuda_graphs_only_when_asked_for_and_on_cuda() -> None:
    import torch

    from optgan.trainer.final_setup import uses_cuda_graphs

    on, off = train_config_from_dict({"cuda_graphs": True}), train_config_from_dict({"cuda_graphs": False})
    assert train_config_from_dict({}).cuda_graphs  # on by default (timed on an H200: README)
    assert uses_cuda_graphs(on, torch.device("cuda")) and not uses_cuda_graphs(on, torch.device("cpu"))
    assert not uses_cuda_graphs(off, torch.device("cuda"))
