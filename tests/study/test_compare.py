"""Searches side by side (`optgan.study.compare`, `optgan compare`): one joint hypervolume scale,
last fronts, the pooled front, refusals, and the command's text, JSON and picture."""

from __future__ import annotations

import json
import pathlib
import re
import shutil

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from _cli_support import DRY, invoke, one_line_error
from _round_studies import round_study
from optuna.trial import TrialState
from PIL import Image

from optgan.errors import OptganError
from optgan.study.compare import compare_stages, plot_comparison
from optgan.study.pictures import HV_REFERENCE, normalized_hypervolumes
from optgan.study.stage_pictures import stage_data

OK = TrialState.COMPLETE


def _data(rounds: list[list[list[float]]], directions: list[str]):  # noqa: ANN202
    rows = [(g, None, OK, v) for g, points in enumerate(rounds) for v in points]
    return stage_data(round_study(rows, directions))


def test_one_scale_for_all_searches_known_answer() -> None:
    """Two minimised objectives, joint range [0, 1] in both: A's two corners dominate 0.21 of the
    box to the reference point (1.1, 1.1); B's origin dominates 1.21 and is the whole pooled front."""
    mm = ["minimize", "minimize"]
    a, b = _data([[[0, 1], [1, 0]]], mm), _data([[[0.5, 0.5]], [[0, 0]]], mm)
    c = compare_stages([("a", a), ("b", b)], "gen")
    assert c.searches[0].hypervolume == pytest.approx([0.21])
    assert c.searches[1].rounds == [1, 2]
    assert c.searches[1].hypervolume == pytest.approx([0.6 * 0.6, 1.21])
    assert [s.on_pooled_front for s in c.searches] == [0, 1]
    assert [int(s.last_front.sum()) for s in c.searches] == [2, 1]
    assert c.searches[0].best == {"objective 0": 0.0, "objective 1": 0.0}
    # on its own scale (range [0, 0.5]) b's first round is the far corner (1, 1): the joint scale is the point
    assert normalized_hypervolumes([b.values(0), b.values(1)], mm)[0] == pytest.approx(0.1 * 0.1)
    j = c.to_json()
    assert j["final_hypervolume"]["mean"] == pytest.approx((0.21 + 1.21) / 2)
    assert j["final_hypervolume"]["std"] == pytest.approx(np.std([0.21, 1.21], ddof=1))
    assert j["searches"][0]["last_round_points"] == 2 and j["searches"][1]["on_pooled_front"] == 1
    alone = compare_stages([("a", a)], "gen").to_json()["final_hypervolume"]  # one search: no spread to measure
    assert alone == {"mean": pytest.approx(0.21), "std": 0.0}


def test_maximised_objectives_are_negated_and_bests_follow_the_direction() -> None:
    dirs = ["maximize", "minimize"]
    a, b = _data([[[9, 10], [1, 2]]], dirs), _data([[[10, 1]]], dirs)
    c = compare_stages([("a", a), ("b", b)], "gen")
    assert c.searches[0].best == {"objective 0": 9.0, "objective 1": 2.0}
    assert c.searches[1].hypervolume == pytest.approx([1.21]) and [s.on_pooled_front for s in c.searches] == [0, 1]
    # minimisation form (−9, 10), (−1, 2) on the joint ranges [−10, −1] × [1, 10]: scaled (1/9, 1), (1, 1/9),
    # two boxes to (1.1, 1.1) that overlap in [1, 1.1]²
    covered = 2 * (1.1 - 1 / 9) * (1.1 - 1) - 0.1 * 0.1
    assert c.searches[0].hypervolume == pytest.approx([covered])


def test_other_objectives_or_no_results_are_refused() -> None:
    a = _data([[[0, 1]]], ["minimize", "minimize"])
    with pytest.raises(OptganError, match=re.escape("'a' and 'b' score other objectives in stage gen (objective 0 ↓, "
                                                    "objective 1 ↓ against objective 0 ↑, objective 1 ↓)")):
        compare_stages([("a", a), ("b", _data([[[0, 1]]], ["maximize", "minimize"]))], "gen")
    empty = stage_data(round_study([(0, None, TrialState.FAIL, None)], ["minimize", "minimize"]))
    with pytest.raises(OptganError, match="stage gen of 'e' has no completed trial yet: run it first"):
        compare_stages([("a", a), ("e", empty)], "gen")


@pytest.mark.parametrize(("m", "grid"), [(2, (1, 2)), (3, (1, 4)), (4, (2, 4))])  # 1 + 1, 1 + 3, 1 + 6 in rows of 4
def test_the_picture_has_a_panel_per_pair_and_one_for_the_curves(m: int, grid: tuple[int, int], tmp_path: pathlib.Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from matplotlib.colors import to_rgb

    from optgan.study import compare

    dirs = ["maximize", *["minimize"] * (m - 1)]
    rng = np.random.default_rng(0)
    c = compare_stages([(n, _data([rng.random((5, m)).tolist() for _ in range(3)], dirs)) for n in "ab"], "gen")
    figures = []
    save = compare.save_figure
    monkeypatch.setattr(compare, "save_figure", lambda fig, path: figures.append(fig) or save(fig, path))
    path = plot_comparison(c, tmp_path / "c.png")
    rows, cols = grid
    with Image.open(path) as im:
        assert im.size == (cols * 420, rows * 360)  # panels at 4.2 × 3.6 in, 100 dpi
    (fig,) = figures
    curves, *pairs = fig.axes
    assert len(pairs) == m * (m - 1) // 2
    assert curves.get_subplotspec().num1 == 0 and (curves.get_xlabel(), curves.get_ylabel()) == (
        "round", "hypervolume (joint scale) ↑")
    assert [line.get_label() for line in curves.get_lines()] == ["a", "b"]  # one curve per search, with its rounds
    assert [line.get_color() for line in curves.get_lines()] == ["C0", "C1"]  # and its own colour
    assert [list(line.get_xdata()) for line in curves.get_lines()] == [[1, 2, 3]] * 2
    assert [list(line.get_ydata()) for line in curves.get_lines()] == [s.hypervolume for s in c.searches]
    assert [t.get_text() for t in curves.get_legend().get_texts()] == ["a", "b"]
    assert curves.xaxis.get_gridlines()[0].get_visible()
    first = pairs[0]
    assert (first.get_xlabel(), first.get_ylabel()) == ("objective 0 ↑", "objective 1 ↓")
    assert first.xaxis.get_gridlines()[0].get_visible()
    # per search: its dominated points (faint), then its front (outlined): every last-round point once
    shown = [np.asarray(col.get_offsets()) for col in first.collections]
    colours = [tuple(col.get_facecolor()[0][:3]) for col in first.collections]
    assert colours == [to_rgb(c) for c in ("C0", "C0", "C1", "C1")]
    assert len(shown) == 4 and [len(x) for x in shown[:2]] == [5 - c.searches[0].last_front.sum(),
                                                              c.searches[0].last_front.sum()]
    for k, s in enumerate(c.searches):
        points = np.concatenate(shown[2 * k:2 * k + 2])
        assert sorted(map(tuple, points)) == sorted(map(tuple, s.last_values[:, :2]))
    assert fig.get_suptitle().startswith("stage gen: hypervolume per round; last round's points")


def test_compare_command(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, caplog) -> None:  # noqa: ANN001
    monkeypatch.chdir(tmp_path)
    s = ["--storage", f"sqlite:///{tmp_path / 'db.sqlite'}"]
    small = ["--set", "sampler.population_size=6", "--set", "gen_stage.rounds=2", "--set", "disc_stage.rounds=1",
             "--set", "pictures.rounds=false",
             "--set", "pictures.architecture=false", "--set", "pictures.sample_grid=false"]
    for name, seed in (("a", 1), ("bb", 2)):
        assert invoke("study", "create", name, "--config", DRY, *small, "--set", f"seed={seed}", *s).exit_code == 0
    assert invoke("run", "a", "--stage", "gen", *s).exit_code == 0
    one_line_error(invoke("compare", "a", "bb", *s), "stage gen of 'bb' has no completed trial yet")
    assert invoke("run", "bb", "--stage", "gen", *s).exit_code == 0
    r = invoke("compare", "a", "bb", "-o", "out", *s)
    assert r.exit_code == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("stage gen: hypervolume of each round on one scale over 2 searches")
    assert lines[1].split() == ["search", "rounds", "last", "HV", "best", "HV", "front", "pooled", "IS_synthetic",
                                "↑", "FID_synthetic", "↓", "params_M", "↓"]
    assert [ln.split()[:2] for ln in lines[2:4]] == [["a", "2"], ["bb", "2"]]
    saved = json.loads((tmp_path / "out" / "compare-gen.json").read_text())
    assert json.loads(invoke("compare", "a", "bb", "--json", "-o", "out", *s).stdout) == saved  # -o again: rewritten
    assert [x["name"] for x in saved["searches"]] == ["a", "bb"] and saved["stage"] == "gen"
    assert sum(x["on_pooled_front"] for x in saved["searches"]) >= 1
    assert f"mean {saved['final_hypervolume']['mean']:.4f} ± {saved['final_hypervolume']['std']:.4f}" in r.stdout
    assert (tmp_path / "out" / "compare-gen.png").stat().st_size > 10_000
    assert lines[-1] == "picture:  out/compare-gen.png"
    for line, x in zip(lines[2:4], saved["searches"]):  # the table says what the JSON says
        assert line.split()[2:6] == [f"{x['hypervolume'][-1]:.4f}", f"{max(x['hypervolume']):.4f}",
                                     str(x["last_round_front_size"]), str(x["on_pooled_front"])]
        assert [float(v) for v in line.split()[6:]] == pytest.approx(list(x["best"].values()), rel=1e-3)
    assert "the searches differ in" not in caplog.text  # only the seed differs
    for name in ("a", "bb"):
        assert invoke("run", name, "--stage", "disc", *s).exit_code == 0
    disc = json.loads(invoke("compare", "a", "bb", "--stage", "disc", "--json", "-o", "new/disc", *s).stdout)
    assert json.loads((tmp_path / "new" / "disc" / "compare-disc.json").read_text()) == disc
    assert disc["stage"] == "disc" and [x["rounds"] for x in disc["searches"]] == [[1], [1]]
    assert "stage disc scores its discriminators through different generators (G*: a: c1: " in caplog.text
    # a search of another storage: NAME@URL, named so where names clash; the same G*, so no warning
    shutil.copy(tmp_path / "db.sqlite", tmp_path / "node2.db")
    node2 = f"sqlite:///{tmp_path / 'node2.db'}"
    caplog.clear()
    r = invoke("compare", "a", f"a@{node2}", "--stage", "disc", *s)
    assert r.exit_code == 0, r.stderr
    assert [ln.split()[0] for ln in r.stdout.splitlines()[2:4]] == ["a@sqlite:///" + str(tmp_path / "db.sqlite"),
                                                                    f"a@{node2}"]
    assert "different generators" not in caplog.text and "the searches differ" not in caplog.text
    assert [x["name"] for x in json.loads(invoke("compare", "bb", f"a@{node2}", "--json", *s).stdout)["searches"]] == [
        "bb", "a"]  # no clash: the names alone
    assert invoke("study", "create", "w", "--config", DRY, *small, "--set", "widths.gf_dim=128", "--set", "caps.gen={}", *s).exit_code == 0
    assert invoke("run", "w", "--stage", "gen", *s).exit_code == 0
    assert invoke("compare", "a", "w", *s).exit_code == 0
    assert "the searches differ in widths.gf_dim (a: 256, w: 128): their scores may not compare" in caplog.text


def test_compare_command_refusals(tmp_path: pathlib.Path) -> None:
    s = ["--storage", f"sqlite:///{tmp_path / 'db.sqlite'}"]
    assert invoke("study", "create", "b", "--config", DRY, *s).exit_code == 0
    assert invoke("compare", "a", *s).exit_code == 2  # one search is no comparison
    assert "give two or more different searches" in invoke("compare", "a", "a", *s).stderr
    one_line_error(invoke("compare", "a", "b", *s), "no search named 'a'")
    url = s[1]
    assert "give two or more different searches" in invoke("compare", "b", f"b@{url}", *s).stderr
    one_line_error(invoke("compare", "b", "b@", *s), "'b@': give a storage URL after '@'")
    one_line_error(invoke("compare", "b", "b/c", *s), "search name 'b/c' must be 1-100 letters")
    one_line_error(invoke("compare", "b", f"b@sqlite:///{tmp_path / 'none.db'}", *s), "none.db")
    for command in (["status"], ["best", "--stage", "gen"], ["run"], ["study", "show"], ["study", "delete", "--yes"]):
        # a command that reads one search says how to give it the storage of a `NAME@URL`
        one_line_error(invoke(*command, f"b@{url}", *s), f"'b@{url}': NAME@URL is read by `optgan compare` and "
                       f"`optgan study enqueue --front`; elsewhere give the storage as an option: b --storage {url}")
    hidden = one_line_error(invoke("status", "b@postgresql://me:s3cret@db.example/x", *s), "b@postgresql://me:***@")
    assert "s3cret" not in hidden and hidden.endswith("b --storage postgresql://me:***@db.example/x")
    (tmp_path / "f").write_text("")
    r = invoke("compare", "a", "b", "-o", str(tmp_path / "f"), *s)
    assert r.exit_code == 2 and "is a file" in r.stderr


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), scale=st.floats(0.01, 100), shift=st.floats(-1e3, 1e3),
       column=st.integers(0, 2))
def test_the_joint_scale_ignores_units_and_offsets(seed: int, scale: float, shift: float, column: int) -> None:
    """Rescaling or shifting one objective in every search (other units, another offset) changes no
    hypervolume and no front: the scale is set by the values compared, never by their units."""
    rng = np.random.default_rng(seed)
    dirs = ["maximize", "minimize", "minimize"]
    raw = [[rng.random((4, 3)) for _ in range(2)] for _ in range(3)]
    moved = [[r.copy() for r in rounds] for rounds in raw]
    for rounds in moved:
        for r in rounds:
            r[:, column] = r[:, column] * scale + shift
    a, b = (compare_stages([(f"s{k}", _data([r.tolist() for r in rounds], dirs)) for k, rounds in enumerate(runs)],
                           "gen") for runs in (raw, moved))
    for x, y in zip(a.searches, b.searches):
        assert x.hypervolume == pytest.approx(y.hypervolume, rel=1e-9, abs=1e-12)
        assert x.on_pooled_front == y.on_pooled_front and (x.last_front == y.last_front).all()
        assert all(0 <= h <= HV_REFERENCE ** 3 for h in x.hypervolume)
