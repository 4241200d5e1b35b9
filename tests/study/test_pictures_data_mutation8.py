"""Properties of the search pictures, the status summary, the exported architecture and generator,
and the real-image loading that earlier tests left open (mutation testing, round 8).

Each test states the property it checks; all are deterministic, CPU only, and take at most a few
seconds (in-memory data, small files under `tmp_path`, a search whose trials are told by hand).
"""

from __future__ import annotations

import json
import os
import pathlib
import uuid

import numpy as np
import optuna
import pytest
import torch
from click.testing import CliRunner
from optgan_cli.main import main
from optuna.trial import TrialState
from PIL import Image

from optgan.config.data import DataConfig
from optgan.config.study import load_study_config
from optgan.errors import DataError
from optgan.study.create import create_search
from optgan.study.search import Search
from optgan.trainer.data import clear_cache, load_images

ROOT = pathlib.Path(__file__).resolve().parents[2]
NAMES = ["IS", "FID", "params_M"]
DIRS = ["maximize", "minimize", "minimize"]
#: EAGAN's generator (SPEC §1), as `optgan train --gen-arch` takes it
EAGAN_G = [[1, 1, 1, 0, 2, 3, 1], [1, 1, 0, 1, 3, 0, 5], [0, 1, 0, 3, 0, 0, 3]]
#: a dry-run search told by hand: no caps (so any genotype may be asked), no pictures
SMALL = ["gen_stage.rounds=2", "disc_stage.rounds=1", "caps.gen={}", "pictures.sample_grid=false",
         "pictures.architecture=false", "pictures.rounds=false"]


@pytest.fixture(autouse=True)
def _fresh_image_cache():
    clear_cache()  # image sets are cached per process: no test sees another's
    yield
    clear_cache()


def _search(tmp_path: pathlib.Path, *overrides: str) -> Search:
    cfg = load_study_config(str(ROOT / "studies" / "dry-run.yaml"), [*SMALL, *overrides])
    return create_search(f"m{uuid.uuid4().hex[:8]}", cfg, f"sqlite:///{tmp_path / 'optgan.db'}", str(tmp_path / "run"))


def _tell_round(study: optuna.Study, rows: list[tuple[float, ...] | None]) -> list[int]:
    """One round asked through the search's own sampler; None: a failed trial. Returns the numbers."""
    numbers = []
    for values in rows:
        t = study.ask(study.sampler.distributions)
        if values is None:
            study.tell(t, state=TrialState.FAIL)
        else:
            study.tell(t, list(values))
        numbers.append(t.number)
    return numbers


# ---------------------------------------------------------------------- pictures (optgan.study.pictures)


def test_the_pareto_picture_draws_each_group_of_points_at_its_objectives() -> None:
    """Every panel (i, j) puts the dominated points, the front and the chosen star at (objective i,
    objective j); the axes name each objective with its own direction's arrow; the default title
    counts the front's points; index 0 can be the chosen one."""
    from optgan.study.pictures import pareto_figure

    a, b, c = (5.0, 20.0, 1.0), (7.0, 30.0, 2.0), (4.0, 25.0, 3.0)  # c is dominated by a (IS ↑, FID ↓, params ↓)
    values = np.array([a, b, c])
    fig = pareto_figure(values, NAMES, DIRS, chosen=0)
    arrow = {"maximize": "↑", "minimize": "↓"}
    panels = [(0, 1), (0, 2), (1, 2)]
    assert len(fig.axes) == len(panels)
    for ax, (i, j) in zip(fig.axes, panels):
        drawn = {col.get_label(): [tuple(p) for p in np.asarray(col.get_offsets())] for col in ax.collections}
        assert drawn["dominated"] == [(c[i], c[j])]
        assert sorted(drawn["Pareto front"]) == sorted([(a[i], a[j]), (b[i], b[j])])
        assert drawn["chosen"] == [(a[i], a[j])]
        assert ax.get_xlabel() == f"{NAMES[i]} {arrow[DIRS[i]]}"
        assert ax.get_ylabel() == f"{NAMES[j]} {arrow[DIRS[j]]}"
    assert fig._suptitle.get_text() == "2 of 3 on the Pareto front"


def test_the_learning_curves_plot_best_mean_and_hypervolume_as_given(tmp_path, monkeypatch) -> None:
    """Each objective's panel draws its best values as the `best` line and its means as the `mean`
    line, titled with its own direction; the last panel draws the hypervolumes in round order."""
    from optgan.study import pictures

    figures = []
    monkeypatch.setattr(pictures, "save_figure", lambda fig, path, **kw: figures.append(fig) or path)
    best = {"IS": [3.0, 4.0, 6.0], "FID": [50.0, 40.0, 45.0]}
    mean = {"IS": [2.0, 3.0, 3.5], "FID": [60.0, 55.0, 52.0]}
    hv = [0.2, 0.5, 0.9]
    pictures.plot_learning_curves([0, 1, 2], best, mean, ["maximize", "minimize"], tmp_path / "c.png", hypervolume=hv)
    (fig,) = figures
    objective_axes, hv_ax = fig.axes[:2], fig.axes[2]
    for ax, name, title in zip(objective_axes, ["IS", "FID"], ["IS ↑", "FID ↓"]):
        lines = {line.get_label(): list(line.get_ydata()) for line in ax.get_lines()}
        assert lines["best"] == best[name] and lines["mean"] == mean[name]
        assert ax.get_title() == title
    (line,) = hv_ax.get_lines()
    assert list(line.get_ydata()) == hv and list(line.get_xdata()) == [1, 2, 3]


def test_an_objective_equal_in_every_round_keeps_the_hypervolume_finite() -> None:
    """An objective with one value over all rounds (e.g. every candidate the same size) scales to 0
    (range 1, not 0): the hypervolume is that of the other objectives times 1.1."""
    from optgan.study.pictures import normalized_hypervolumes

    rounds = [np.array([[1.0, 5.0], [2.0, 5.0]]), np.array([[3.0, 5.0]])]
    hv = normalized_hypervolumes(rounds, ["minimize", "minimize"])
    assert hv == pytest.approx([1.1 * 1.1, 0.1 * 1.1])


def test_rounds_without_any_result_have_a_zero_hypervolume_each() -> None:
    """The curve has one value per round also when no round has a COMPLETE trial yet."""
    from optgan.study.pictures import normalized_hypervolumes

    assert normalized_hypervolumes([np.zeros((0, 3)), np.zeros((0, 3))], DIRS) == [0.0, 0.0]


# ---------------------------------------------------------------------- status and summary (optgan.study.summary)


def test_status_reports_each_rounds_best_mean_counts_and_the_last_rounds_front(tmp_path) -> None:
    """`optgan status --json`: per round the best (in each objective's direction) and the arithmetic
    mean of its COMPLETE trials, `complete` without the failed ones, the pace as the mean of the last
    three timed rounds, and `pareto` = the front of the last round with results (not an earlier one)."""
    from optgan import keys
    from optgan.study.summary import stage_status

    search = _search(tmp_path, "sampler.population_size=3")
    study = search.study("gen")
    _tell_round(study, [(1.0, 30.0, 5.0), (2.0, 10.0, 5.0), (9.0, 20.0, 5.0)])  # round 0: a skewed IS
    last = _tell_round(study, [(3.0, 15.0, 5.0), None, (4.0, 16.0, 5.0)])  # round 1: two on its front, one failed
    for generation, total in enumerate([100.0, 1.0, 2.0, 6.0]):
        study.set_user_attr(keys.ROUND_SECONDS_PREFIX + str(generation), {"total": total})
    st = stage_status(search, "gen")
    r0, r1 = st["rounds"]
    assert r0["best"] == {"IS_synthetic": 9.0, "FID_synthetic": 10.0, "params_M": 5.0}
    assert r0["mean"] == pytest.approx({"IS_synthetic": 4.0, "FID_synthetic": 20.0, "params_M": 5.0})
    assert (r0["complete"], r0["failed"], r1["complete"], r1["failed"]) == (3, 0, 2, 1)
    assert st["seconds_per_round"] == pytest.approx(3.0)
    assert sorted(p["trial"] for p in st["pareto"]) == [last[0], last[2]]
    assert {p["round"] for p in st["pareto"]} == {2}


def test_the_summary_prints_the_export_command_of_each_stage_with_a_choice(tmp_path) -> None:
    """After stage gen alone the summary prints the gen export command (and no train command); once
    stage disc has a choice it prints the train command with the preset of the data set and a
    `--set widths.*` for each width the preset trains differently from the search."""
    from optgan.study.summary import _PRESETS_DIR, _widths_flags, print_summary

    search = _search(tmp_path, "sampler.population_size=2", "widths.gf_dim=64")
    _tell_round(search.study("gen"), [(5.0, 20.0, 1.0), (6.0, 30.0, 2.0)])
    lines: list[str] = []
    print_summary(search, lines.append)
    assert any(line.startswith(f"export:    optgan export {search.name} --stage gen -o {search.name}-g.json")
               for line in lines), lines
    assert not any(line.startswith("train:") for line in lines), lines
    _tell_round(search.study("disc"), [(5.0, 20.0, 0.5), (6.0, 30.0, 0.4)])
    lines.clear()
    print_summary(search, lines.append)
    assert any(f"optgan export {search.name} --stage disc" in line for line in lines), lines
    (train,) = [line for line in lines if line.startswith("train:")]
    preset = _PRESETS_DIR / "train-cifar10.yaml"
    if preset.is_file():
        flags = _widths_flags(search.config.widths, preset)
        assert " --set widths.gf_dim=64" in flags and f"train-cifar10.yaml{flags} --out " in train, train


def test_each_printed_training_preset_trains_on_the_searchs_data_set() -> None:
    """The summary's `train:` line names, per data set, a preset that trains on that same data set."""
    from optgan.config.train import load_train_config
    from optgan.study.summary import _PRESETS_DIR, _TRAIN_PRESETS

    if not _PRESETS_DIR.is_dir():
        pytest.skip("studies/ is not installed here")
    for data_name, preset in _TRAIN_PRESETS.items():
        assert load_train_config(str(_PRESETS_DIR / preset)).data.name == data_name, preset


# ---------------------------------------------------------------------- `optgan export` and optgan.export


def test_export_of_stage_disc_writes_a_discriminator_and_warns_for_an_unscored_trial(tmp_path) -> None:
    """`optgan export --stage disc` writes the chosen discriminator's genotype (that `arch info --net
    disc` reads); exporting a trial that is not COMPLETE (here still RUNNING) warns that it has no
    scores."""
    search = _search(tmp_path, "sampler.population_size=2")
    _tell_round(search.study("gen"), [(5.0, 20.0, 1.0), (6.0, 30.0, 2.0)])
    _tell_round(search.study("disc"), [(5.0, 20.0, 0.5), (6.0, 30.0, 0.4)])
    storage = ["--storage", search.storage_url]
    out = tmp_path / "d.json"
    r = CliRunner().invoke(main, ["export", search.name, "--stage", "disc", "-o", str(out), *storage])
    assert r.exit_code == 0, (r.stdout, r.stderr)
    doc = json.loads(out.read_text())
    assert doc["net"] == "disc" and doc["source"]["stage"] == "disc"
    info = CliRunner().invoke(main, ["arch", "info", "--net", "disc", "--genotype", str(out), "--json"])
    assert info.exit_code == 0, (info.stdout, info.stderr)
    running = search.study("gen").ask(search.study("gen").sampler.distributions).number  # asked, not told
    r = CliRunner().invoke(main, ["export", search.name, "--stage", "gen", "--trial", str(running),
                                  "-o", str(tmp_path / "g.json"), *storage])
    assert r.exit_code == 0 and f"warning: trial {running} is RUNNING" in r.stderr, (r.stdout, r.stderr)


def test_the_weights_hash_sees_every_byte_and_not_the_key_order() -> None:
    """`weights_sha256` changes when any weight changes (also the last one) and is the same for the
    same tensors inserted in another order."""
    from optgan.export import weights_sha256

    w, v = torch.arange(8, dtype=torch.float32), torch.ones(3)
    base = weights_sha256({"w": w, "v": v})
    changed = w.clone()
    changed[-1] += 1
    assert weights_sha256({"w": changed, "v": v}) != base
    assert weights_sha256({"v": v, "w": w}) == base


def test_rebuilding_a_generator_from_a_checkpoint_leaves_the_global_rng_alone() -> None:
    """`generator_from_checkpoint` (`load_generator`) loads the stored weights and draws its throwaway
    initialisation from a private RNG: torch's global random state is the same afterwards."""
    from optgan.export import generator_from_checkpoint
    from optgan.search_space import Genotype
    from optgan.search_space.widths import Widths
    from optgan.trainer.final_setup import build_generator_for

    widths = Widths(gf_dim=8, df_dim=8, latent_dim=6, bottom_width=2)
    genotype = Genotype.from_json(EAGAN_G, "gen")
    state = build_generator_for(genotype, widths, generator=torch.Generator().manual_seed(5)).state_dict()
    ck = {"arch": {"gen": EAGAN_G, "widths": {"gf_dim": 8, "df_dim": 8, "latent_dim": 6, "bottom_width": 2}},
          "gen": state, "gen_ema": state}
    torch.manual_seed(1234)
    before = torch.get_rng_state()
    net = generator_from_checkpoint(ck)
    assert torch.equal(torch.get_rng_state(), before)
    assert all(torch.equal(net.state_dict()[k], t) for k, t in state.items())


# ---------------------------------------------------------------------- real images (optgan.trainer.data)


def test_a_folder_image_keeps_its_rgb_channel_order(tmp_path) -> None:
    """A folder's images come out as N×3×H×W in R, G, B order, pixel for pixel (no resize at their size)."""
    rgb = np.zeros((4, 4, 3), dtype=np.uint8)
    rgb[..., 0], rgb[0, 0] = 200, (10, 20, 30)  # a red image with one dark-blue-grey pixel
    Image.fromarray(rgb).save(tmp_path / "a.png")
    s = load_images(DataConfig(name="folder", path=str(tmp_path)), 4)
    assert s.images.shape == (1, 3, 4, 4)
    assert torch.equal(s.images[0].permute(1, 2, 0), torch.from_numpy(rgb))


def test_an_npz_label_outside_its_class_names_is_refused(tmp_path) -> None:
    """With `classes` of length K, a label K is not a class index (0..K-1): one DataError line."""
    path = tmp_path / "d.npz"
    np.savez(path, images=np.zeros((3, 4, 4, 3), dtype=np.uint8), labels=np.array([0, 1, 2]),
             classes=np.array(["a", "b"]))
    with pytest.raises(DataError, match=r"values outside 0\.\.1 \(the `classes` indices\)"):
        load_images(DataConfig(name="npz", path=str(path)), 4)


def test_an_npz_rewritten_in_place_is_read_again_in_the_same_process(tmp_path) -> None:
    """The in-process cache is keyed by the npz file's size and mtime: a file rewritten with new
    pixels (same size) is decoded again, with a new fingerprint."""
    path = tmp_path / "d.npz"
    images = np.zeros((2, 4, 4, 3), dtype=np.uint8)
    np.savez(path, images=images)
    first = load_images(DataConfig(name="npz", path=str(path)), 4)
    size, mtime = path.stat().st_size, path.stat().st_mtime_ns
    images[1, 2, 3, 0] = 9
    np.savez(path, images=images)
    os.utime(path, ns=(mtime + 1_000_000_000, mtime + 1_000_000_000))
    assert path.stat().st_size == size
    again = load_images(DataConfig(name="npz", path=str(path)), 4)
    assert again.fingerprint != first.fingerprint and int(again.images[1, 0, 2, 3]) == 9
