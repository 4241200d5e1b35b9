"""Picture functions: hypervolume against an exact brute force, Pareto points = the study's best
trials, architecture labels, and sane PNG files (exist, decode, sizes)."""

from __future__ import annotations

import itertools

import numpy as np
import optuna
import pytest
import torch
from PIL import Image

from optgan import keys
from optgan.search_space import Genotype
from optgan.study.arch_picture import genotype_figure, plot_genotype
from optgan.study.pictures import (HV_REFERENCE, nondominated_mask, normalized_hypervolumes, pareto_figure,
                                   plot_learning_curves, plot_pareto, save_sample_grid, to_minimization)
from optgan.study.results import pareto_trials

DIRS = ["maximize", "minimize", "minimize"]
NAMES = ["IS", "FID", "params_M"]
EAGAN_G = [[1, 1, 1, 0, 2, 3, 1], [1, 1, 0, 1, 3, 0, 5], [0, 1, 0, 3, 0, 0, 3]]
EAGAN_D = [[3, 0, 3, 0, 2, 0, 0], [1, 0, 3, 0, 1, -1, -1], [3, 0, 3, 0, 1, -1, -1]]


def exact_hypervolume(points: np.ndarray, ref: np.ndarray) -> float:
    """Union volume of the boxes [p, ref] by coordinate compression (exact, any dimension)."""
    if len(points) == 0:
        return 0.0
    grids = [np.unique(np.r_[points[:, k], ref[k]]) for k in range(points.shape[1])]
    total = 0.0
    for cell in itertools.product(*(range(len(g) - 1) for g in grids)):
        lower = np.array([g[i] for g, i in zip(grids, cell)])
        if np.any(np.all(points <= lower, axis=1)):
            total += float(np.prod([g[i + 1] - g[i] for g, i in zip(grids, cell)]))
    return total


def _normalise(rounds: list[np.ndarray], dirs: list[str]) -> list[np.ndarray]:
    mins = [to_minimization(r, dirs) for r in rounds]
    stacked = np.concatenate(mins)
    lo, hi = stacked.min(axis=0), stacked.max(axis=0)
    return [(m - lo) / np.where(hi > lo, hi - lo, 1.0) for m in mins]


@pytest.mark.parametrize("dirs", [["maximize", "minimize"], DIRS])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_hypervolume_matches_brute_force(dirs: list[str], seed: int) -> None:
    rng = np.random.default_rng(seed)
    rounds = [rng.uniform(0, 10, size=(int(rng.integers(1, 9)), len(dirs))) for _ in range(3)]
    got = normalized_hypervolumes(rounds, dirs)
    ref = np.full(len(dirs), HV_REFERENCE)
    want = [exact_hypervolume(r, ref) for r in _normalise(rounds, dirs)]
    assert got == pytest.approx(want, rel=1e-9, abs=1e-12)
    assert all(0 < v <= HV_REFERENCE ** len(dirs) for v in got)


def test_hypervolume_hand_case_and_empty_round() -> None:
    # IS ↑ / FID ↓: points (IS 2, FID 0) and (IS 0, FID 1) scale to (0, 0) and (1, 1) in minimisation form
    hv = normalized_hypervolumes([np.array([[2.0, 0.0]]), np.array([[0.0, 1.0]]), np.zeros((0, 2))],
                                 ["maximize", "minimize"])
    assert hv == pytest.approx([1.1 * 1.1, 0.1 * 0.1, 0.0])


def _study_with_round(rng: np.random.Generator, n: int = 24) -> optuna.Study:
    study = optuna.create_study(directions=DIRS)
    for i in range(n):
        values = [float(rng.uniform(1, 9)), float(rng.uniform(10, 80)), float(rng.integers(5, 9))]
        study.add_trial(optuna.trial.create_trial(values=values, user_attrs={keys.GENERATION: 0, keys.SLOT: i}))
    study.add_trial(optuna.trial.create_trial(values=study.trials[0].values,  # a duplicate point
                                              user_attrs={keys.GENERATION: 0, keys.SLOT: n}))
    return study


@pytest.mark.parametrize("seed", [0, 3])
def test_pareto_points_are_the_studys_best_trials(seed: int) -> None:
    study = _study_with_round(np.random.default_rng(seed))
    values = np.array([t.values for t in study.trials])
    best = {t.number for t in study.best_trials}
    mask = nondominated_mask(values, DIRS)
    assert {t.number for t, m in zip(study.trials, mask) if m} == best
    assert {t.number for t in pareto_trials(study)} == best
    fig = pareto_figure(values, NAMES, DIRS, labels=[t.number for t in study.trials])
    for ax, (i, j) in zip(fig.axes, itertools.combinations(range(3), 2)):
        red = next(c for c in ax.collections if c.get_label() == "Pareto front")
        drawn = {tuple(p) for p in np.asarray(red.get_offsets())}
        assert drawn == {(v[i], v[j]) for v in values[mask]}
        labelled = {int(t.get_text()) for t in ax.texts}
        assert labelled == best


def _png(path) -> Image.Image:
    assert path.is_file() and 2_000 < path.stat().st_size < 400_000, path
    img = Image.open(path)
    assert img.format == "PNG"
    return img


def test_pareto_and_learning_curve_pngs(tmp_path) -> None:
    rng = np.random.default_rng(0)
    values = np.c_[rng.uniform(2, 8, 16), rng.uniform(10, 80, 16), rng.uniform(5, 15, 16)]
    img = _png(plot_pareto(values, NAMES, DIRS, tmp_path / "p.png", labels=list(range(16)), chosen=3))
    assert 800 < img.width < 2000 and 250 < img.height < 800
    two = _png(plot_pareto(values[:, :2], NAMES[:2], DIRS[:2], tmp_path / "p2.png"))
    assert two.width < img.width  # one panel instead of three
    rounds = [0, 1, 2]
    best = {"IS": [3.0, 4.0, 5.0], "FID": [60.0, 50.0, float("nan")], "params_M": [6.0, 6.0, 5.0]}
    mean = {k: [x + 1 for x in v] for k, v in best.items()}
    curves = _png(plot_learning_curves(rounds, best, mean, DIRS, tmp_path / "c.png", hypervolume=[0.1, 0.5, 0.7],
                                       title="demo:gen"))
    assert 1000 < curves.width < 2000 and 200 < curves.height < 600


def test_architecture_pictures_name_every_edge(tmp_path) -> None:
    g = Genotype.from_array("gen", EAGAN_G)
    texts = {t.get_text() for ax in genotype_figure(g).axes for t in ax.texts}
    for c in range(3):
        for e in range(7):
            assert f"e{e} {g.op(c, e)}" in texts
    d = Genotype.from_array("disc", EAGAN_D)
    texts = {t.get_text() for ax in genotype_figure(d).axes for t in ax.texts}
    assert {"e5 no_down", "e6 (identity)", "e5 avg_pool", "e0 conv_3x3", "4\nout"} <= texts
    for net, genotype in (("gen", g), ("disc", d)):
        img = _png(plot_genotype(genotype, tmp_path / f"{net}.png", title=net, cell_notes=("a", "b", "c")))
        assert 350 < img.width < 700 and 600 < img.height < 1000


def test_architecture_pictures_reuse_the_strips_of_cells_drawn_before(tmp_path) -> None:
    from optgan.study import arch_picture

    arch_picture._cell_strip.cache_clear()
    parent = Genotype.from_array("gen", EAGAN_G)
    child_array = [row[:] for row in EAGAN_G]
    child_array[1][4] = 1  # one edge of cell 2 moved, as a mutation does
    child = Genotype.from_array("gen", child_array)
    plot_genotype(parent, tmp_path / "parent.png", title="t", cell_notes=("a", "b", "c"))
    assert arch_picture._cell_strip.cache_info().misses == 3
    plot_genotype(child, tmp_path / "child.png", title="t", cell_notes=("a", "b", "c"))
    info = arch_picture._cell_strip.cache_info()
    assert (info.hits, info.misses) == (2, 4)  # cells 1 and 3 reused, cell 2 drawn
    arch_picture._cell_strip.cache_clear()
    plot_genotype(child, tmp_path / "fresh.png", title="t", cell_notes=("a", "b", "c"))
    assert (tmp_path / "fresh.png").read_bytes() == (tmp_path / "child.png").read_bytes()
    assert (tmp_path / "parent.png").read_bytes() != (tmp_path / "child.png").read_bytes()
    notes = plot_genotype(child, tmp_path / "notes.png", title="t", cell_notes=("a", "B", "c"))
    assert notes.read_bytes() != (tmp_path / "child.png").read_bytes()  # a note is part of the strip


def test_sample_grid_from_tensor_and_array(tmp_path) -> None:
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (16, 3, 32, 32), dtype=torch.uint8, generator=gen)
    img = _png(save_sample_grid(images, tmp_path / "g.png"))
    grid = 4 * 34 + 2  # torchvision's make_grid: 4 × (32 + padding 2) + padding
    assert img.size == (2 * grid, 2 * grid)  # enlarged ×2 to reach min_width 256
    assert np.asarray(img)[2 * 2, 2 * 2].tolist() == images[0, :, 0, 0].tolist()  # pixels kept exactly
    gray = _png(save_sample_grid(images[:6, :1].numpy(), tmp_path / "gray.png", nrow=3, min_width=0))
    assert gray.size == (3 * 34 + 2, 2 * 34 + 2) and gray.mode == "RGB"


@pytest.mark.parametrize("bad", [torch.zeros(2, 3, 8, 8), torch.zeros(3, 8, 8, dtype=torch.uint8),
                                 torch.zeros(2, 4, 8, 8, dtype=torch.uint8), torch.zeros(0, 3, 8, 8, dtype=torch.uint8)])
def test_sample_grid_refuses_non_uint8_images(tmp_path, bad: torch.Tensor) -> None:
    with pytest.raises(ValueError, match="uint8 N×C×H×W"):
        save_sample_grid(bad, tmp_path / "x.png")
