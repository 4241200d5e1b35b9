"""The defaults are the papers' settings (SPEC §2–§6), stated here value by value.

(The README's config reference also lists them, but a changed default there only shows as a
stale table; this test says which SPEC constant it broke.)
"""

from __future__ import annotations

from optgan.config.metrics import MetricsConfig
from optgan.config.sampler import SamplerConfig
from optgan.config.search import DiscStageConfig, GenStageConfig
from optgan.config.train import MMDConfig, TrainConfig
from optgan.search_space.widths import Widths


def test_widths_are_cifar10s() -> None:
    """SPEC §1.2–§1.3: C = 256 in G, 128 in D, z of 120 (3 chunks of 40), bottom width 4 (32×32)."""
    w = Widths()
    assert (w.gf_dim, w.df_dim, w.latent_dim, w.bottom_width, w.img_size) == (256, 128, 120, 4, 32)


def test_stage_gen_is_eagans_code() -> None:
    """SPEC §2: 40 warm-up epochs, 16 rounds of 10 epochs, D batch 40 / G batch 80, hinge with Adam
    (0, 0.9), lr G 2e-4 / D 4e-5, n_critic 1."""
    g = GenStageConfig()
    assert (g.warmup_epochs, g.rounds, g.epochs_per_round) == (40, 16, 10)
    assert (g.batch_size_d, g.batch_size_g) == (40, 80)
    assert (g.lr_g, g.lr_d, g.beta1, g.beta2, g.n_critic) == (2e-4, 4e-5, 0.0, 0.9, 1)
    assert g.discriminator == "simple"


def test_stage_disc_is_eagans_code() -> None:
    """SPEC §3: 15 rounds, lr 2e-4 for both networks, n_critic 5 (D every iteration, G every 5th)."""
    d = DiscStageConfig()
    assert (d.rounds, d.lr_g, d.lr_d, d.n_critic) == (15, 2e-4, 2e-4, 5)
    assert (d.batch_size_d, d.batch_size_g, d.beta1, d.beta2) == (40, 80, 0.0, 0.9)


def test_the_sampler_is_the_papers() -> None:
    """SPEC §2, §4: P = 32, P/2 survivors, crossover 0.3, mutation 0.5, NSGA-II, SCGAN's k = 8."""
    s = SamplerConfig()
    assert (s.population_size, s.survivors, s.crossover_prob, s.mutation_prob) == (32, 16, 0.3, 0.5)
    assert (s.selection, s.scgan_clusters) == ("nsga2", 8)


def test_search_metrics_are_the_protocols() -> None:
    """SPEC §5: 5,000 images per candidate, IS over 10 splits."""
    m = MetricsConfig()
    assert (m.num_images, m.is_splits) == (5000, 10)


def test_final_training_is_eagans_cifar10_recipe() -> None:
    """SPEC §6: hinge, Adam (0, 0.9), lr 2e-4 / 2e-4, batch G 80 / D 40, n_critic 5, 600 epochs,
    EMA 0.999, IS/FID/KID on 50,000 images."""
    t = TrainConfig()
    assert (t.loss, t.epochs, t.batch_size_g, t.batch_size_d, t.n_critic) == ("hinge", 600, 80, 40, 5)
    assert (t.lr_g, t.lr_d, t.beta1, t.beta2, t.ema_decay) == (2e-4, 2e-4, 0.0, 0.9, 0.999)
    assert t.metrics.num_images == 50_000 and set(t.metrics.metrics) == {"IS", "FID", "KID"}


def test_the_mmd_loss_is_scgans() -> None:
    """SPEC §6: RBF σ = 1, bounds 4 and 1/4, the upper bound doubles (capped at 32) after 6
    evaluations without FID improvement."""
    m = MMDConfig()
    assert (m.sigma, m.upper_bound, m.lower_bound, m.bound_factor, m.upper_bound_cap, m.patience) == \
        (1.0, 4.0, 0.25, 2.0, 32.0, 6)
