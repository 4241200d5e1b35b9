"""Mutation round 17: the static HTML report (`optgan.study.report`) and the Markdown notes of
stage studies and trials (`optgan.study.study_note`), pinned on a tiny synthetic search and on
hand-made trials."""

from __future__ import annotations

import html
import logging
import pathlib
import re

import pytest
from optuna.trial import TrialState, create_trial

from optgan import keys
from optgan.config.study import load_study_config
from optgan.errors import OptganError
from optgan.runner import run_search
from optgan.study import report
from optgan.study.create import create_search
from optgan.study.results import choose_best
from optgan.study.stage_pictures import StageData, format_value, stage_data
from optgan.study.study_note import NoteInputs, lineage, stage_note_markdown, trial_note_markdown

ROOT = pathlib.Path(__file__).resolve().parents[2]
TINY = ["seed=2", "sampler.population_size=4", "gen_stage.rounds=2", "disc_stage.rounds=3", "caps.gen={}",
        "pictures.grid_images=4", "pictures.architecture=false", "pictures.rounds=false"]


# ---------------------------------------------------------------------------------------- report


@pytest.fixture(scope="module")
def reported(tmp_path_factory):  # noqa: ANN001, ANN201
    """A tiny synthetic search (gen 2/2 rounds, disc 1/3) in a run directory whose name needs
    HTML escaping, and its report (draw_pareto's `chosen` argument recorded per round)."""
    tmp = tmp_path_factory.mktemp("rep17")
    cfg = load_study_config(str(ROOT / "studies" / "dry-run.yaml"), TINY)
    search = create_search("r17", cfg, f"sqlite:///{tmp / 'db.sqlite'}", str(tmp / "r&<'un"))
    run_search(search, ["gen", "disc"], max_rounds=3)
    calls: list[tuple[str, int, int | None]] = []
    real = report.draw_pareto

    def draw_pareto(data, g, folder, chosen=None):  # noqa: ANN001, ANN202
        calls.append((folder.name, g, chosen))
        return real(data, g, folder, chosen=chosen)

    mp = pytest.MonkeyPatch()
    mp.setattr(report, "draw_pareto", draw_pareto)
    try:
        page = report.write_report(search, tmp / "out").read_text(encoding="utf-8")
    finally:
        mp.undo()
    return search, tmp / "out", page, calls


def _section(page: str, stage: str) -> str:
    start = page.index(f"<h2>Stage <code>{stage}</code>")
    end = page.find("<h2>", start + 1)
    return page[start:] if end < 0 else page[start:end]


def test_report_header_escapes_the_run_directory_and_names_labels(reported) -> None:  # noqa: ANN001
    """The run directory is HTML-escaped with quotes (`&#x27;`), the objectives are named by their
    labels, and the page title carries the search name."""
    search, out, page, _ = reported
    assert f"<title>optgan report: {search.name}</title>" in page
    assert "r&amp;&lt;&#x27;un</code>" in page and "r&<'un" not in page
    assert "Objectives: IS_synthetic, FID_synthetic, params_M;" in page
    assert "last round&#x27;s Pareto front" in page  # the choice rule, escaped with its quote


def test_report_stage_headings_count_rounds_of_each_stage(reported) -> None:  # noqa: ANN001
    """Each stage heading counts its rounds done over its own configured total; the front shown
    is the last round's (1-based)."""
    search, _, page, _ = reported
    assert "<h2>Stage <code>gen</code> (r17:gen): 2/2 rounds</h2>" in page
    assert "<h2>Stage <code>disc</code> (r17:disc): 1/3 rounds</h2>" in page
    gen, disc = _section(page, "gen"), _section(page, "disc")
    assert "<h3>Pareto front of round 2</h3>" in gen and "<h3>Pareto front of round 1</h3>" in disc
    assert "<th>IS_synthetic ↑</th><th>FID_synthetic ↓</th><th>params_M ↓</th>" in gen


def test_report_lists_earlier_rounds_only(reported) -> None:  # noqa: ANN001
    """'earlier rounds' links every round but the last (1-based names); a one-round stage has none;
    only the last round's Pareto picture marks the chosen trial."""
    search, _, page, calls = reported
    gen, disc = _section(page, "gen"), _section(page, "disc")
    assert "<ul><li><a href='gen/pareto-round-001.png'>round 1</a></li></ul>" in gen
    assert "earlier rounds" not in disc
    best = choose_best(search.study("gen"), list(search.config.objectives)).number
    assert sorted(c for c in calls if c[0] == "gen") == [("gen", 0, None), ("gen", 1, best)]


def test_report_table_holds_the_last_front_with_the_chosen_starred(reported) -> None:  # noqa: ANN001
    """One row per trial of the last round's Pareto front, in trial order, each with its scores,
    'params / MACs' in that order, samples before the architecture; the chosen one alone starred."""
    search, out, page, _ = reported
    for stage in ("gen", "disc"):
        study = search.study(stage)
        data = stage_data(study)
        last = max(data.rounds)
        front = sorted(data.front_numbers(last))
        assert len(front) < len(data.rounds[last])  # some trial of the round is dominated
        section = _section(page, stage)
        assert [int(n) for n in re.findall(r"<tr><td>(\d+)", section)] == front
        best = choose_best(study, list(search.config.objectives)).number
        assert section.count("★") == 1 and f"<td>{best} ★</td>" in section
        t = next(t for t in data.rounds[last] if t.number == front[0])
        size = f"{format_value(t.user_attrs[keys.PARAMS_M])}M / {format_value(t.user_attrs[keys.FLOPS_M])}M"
        assert f"<td>{front[0]}{' ★' if front[0] == best else ''}</td>" + "".join(
            f"<td>{format_value(v)}</td>" for v in t.values) + f"<td>{size}</td>" in section
        origins = re.findall(r"M</td><td>([^<]*)</td><td class='genotype'>", section)  # the origin column
        assert origins == [html.escape(lineage(u.user_attrs)) for u in sorted(
            (u for u in data.rounds[last] if u.number in front), key=lambda u: u.number)]
        assert all(o.startswith(("initial", "survivor of trial", "child of trial")) for o in origins)
        assert (f"<img src='{stage}/samples-trial-{front[0]:04d}.png' alt='samples of trial {front[0]}'>"
                f"<img class='arch' src='{stage}/arch-trial-{front[0]:04d}.png'") in section
        assert (out / stage / f"samples-trial-{front[0]:04d}.png").is_file()


def test_report_draws_disc_genotypes_as_discriminators(reported) -> None:  # noqa: ANN001
    """Stage disc's rows show discriminator genotypes (their own cell layout), not a generator reading."""
    from optgan.search_space import Genotype

    search, _, page, _ = reported
    t = search.study("disc").best_trials[0]
    assert f"<code>{Genotype.from_params('disc', t.params)}</code>" in _section(page, "disc")


def test_report_of_a_search_without_trials_says_so(tmp_path) -> None:  # noqa: ANN001
    """A search with no completed trial yet gets a page that says to run it first."""
    cfg = load_study_config(str(ROOT / "studies" / "dry-run.yaml"), TINY)
    search = create_search("e17", cfg, f"sqlite:///{tmp_path / 'db.sqlite'}", str(tmp_path / "run"))
    page = report.write_report(search, tmp_path / "out").read_text()
    assert "<p>No completed trial yet: run the search first.</p>" in page and "<h2>" not in page


def test_report_folder_rules(tmp_path) -> None:  # noqa: ANN001
    """A folder holding only hidden entries and stage folders is accepted; an index.html of
    another tool, or another search's report (name unescaped in the message), is refused."""
    check = report._check_report_folder
    out = tmp_path / "out"
    out.mkdir()
    (out / ".git").mkdir()
    (out / "gen").mkdir()
    (out / "disc").mkdir()
    check(out, "s")  # no error
    (out / "index.html").write_text("<html>" + "x" * 5000 + "<title>optgan report: s</title>")
    with pytest.raises(OptganError, match="an index.html of its own"):
        check(out, "s")
    (out / "index.html").write_text("<title>optgan report: s</title>" + "x" * 5000)
    check(out, "s")
    (out / "index.html").write_text("<title>optgan report: a&amp;b</title>")
    with pytest.raises(OptganError, match="holds the report of search 'a&b', not 's'"):
        check(out, "s")


def test_missing_sample_grid_is_a_warning_only_when_its_folder_exists(tmp_path, caplog) -> None:  # noqa: ANN001
    """A grid missing from an artifacts folder that is there is a warning; with no such folder it is
    only a debug line (the caller says so once)."""
    import types

    search = types.SimpleNamespace(run_dir=tmp_path)
    t = create_trial(values=[1.0], user_attrs={keys.SAMPLE_GRID_ARTIFACT: "abc"})
    with caplog.at_level(logging.DEBUG, logger=report.__name__):
        assert report._copy_sample_grid(search, t, tmp_path) is None  # type: ignore[arg-type]
    assert [r.levelno for r in caplog.records] == [logging.DEBUG]
    caplog.clear()
    (tmp_path / "artifacts").mkdir()
    with caplog.at_level(logging.DEBUG, logger=report.__name__):
        assert report._copy_sample_grid(search, t, tmp_path) is None  # type: ignore[arg-type]
    assert [r.levelno for r in caplog.records] == [logging.WARNING]


# ----------------------------------------------------------------------------------------- notes


def _trial(number: int, values: list[float] | None, gen: int, state: TrialState = TrialState.COMPLETE, **attrs):  # noqa: ANN003, ANN201
    t = create_trial(state=state, values=values, user_attrs={keys.GENERATION: gen, **attrs})
    t.number = number
    return t


NAMES, DIRS = ["IS", "FID", "params_M"], ["maximize", "minimize", "minimize"]
R0 = [_trial(0, [2.0, 50.0, 8.0], 0), _trial(1, [3.0, 40.0, 9.0], 0)]
CHOSEN = _trial(2, [4.0, 30.0, 7.5], 1, **{keys.PARAMS_M: 7.5, keys.FLOPS_M: 1600.0, keys.GENOTYPE: "G(x)"})
DATA = StageData("s:gen", NAMES, DIRS, {0: R0, 1: [CHOSEN]}, {1: 2, 2: 1})


def _config(*extra: str):  # noqa: ANN202
    return load_study_config(str(ROOT / "studies" / "dry-run.yaml"),
                             ["sampler.crossover_prob=0.7", "sampler.mutation_prob=0.2", *extra])


def _inputs(stage: str = "gen", done: int = 2, total: int = 3, **kw) -> NoteInputs:  # noqa: ANN003
    base = dict(study_attrs={keys.LINKED_STUDY: "s:disc", keys.RUN_DIR: "/r"}, pictures={"Pareto": "/a/1", "curves": "/a/2"},
                chosen=CHOSEN, chosen_picture="/a/3", rule="lowest FID")
    return NoteInputs("s", stage, rounds_done=done, rounds_total=total, **{**base, **kw})  # type: ignore[arg-type]


def test_stage_note_header_and_setup_table() -> None:
    """Header: rounds done/total and 'finished' exactly when done == total; set-up rows show the
    objectives' arrows, crossover/mutation, widths and caps (all three, `-` for an open end)."""
    note = stage_note_markdown(_config("caps.gen.params_M=[null, 15.0]"), DATA, _inputs())
    assert "This study searches generators" in note and "**2/3 rounds** (running or paused)" in note
    assert "| objectives | IS ↑, FID ↓, params_M ↓ |" in note
    assert "| evaluation | synthetic values from each genotype (dry run, no training) |" in note
    assert "| population | 16 per round, selection `nsga2`, crossover 0.7, mutation 0.2 |" in note
    assert "| training | 10 rounds × 10 epochs, warm-up 0 epochs |" in note
    assert "| caps | params_M ∈ [-, 15.0], cell_params_M ∈ [0.5, 2.2], flops_M ∈ [1500.0, 3000.0] |" in note
    assert "| widths | gf_dim 256, df_dim 128, latent 120, 32×32 images |" in note
    assert "![Pareto](/a/1)\n\n![curves](/a/2)" in note
    assert "**3/3 rounds** (finished)" in stage_note_markdown(_config(), DATA, _inputs(done=3))


def test_stage_note_of_stage_disc() -> None:
    """Stage disc: its own text, rounds, open caps ('none'), G* row, D* heading, no warm-up, export hint."""
    attrs = {keys.GEN_STAR: "x", keys.GEN_STAR_SOURCE: "trial 3"}
    note = stage_note_markdown(_config(), DATA, _inputs("disc", 1, 1, study_attrs=attrs, rule=""))
    assert "searches discriminators for the fixed generator" in note and "(finished)" in note
    assert "| training | 5 rounds × 10 epochs |" in note and "| caps | none |" in note
    assert "| G* | trial 3 |" in note and "| linked study | `—` |" in note
    assert "### Chosen architecture (D*)" in note and "Rule:" not in note
    assert "`optgan export s --stage disc -o best_d.json`" in note
    assert "| G* |" not in stage_note_markdown(_config(), DATA, _inputs(study_attrs=attrs))  # gen: no G* row


def test_stage_note_real_evaluation_names_images_and_extractor() -> None:
    """A real evaluation is described by its image count and extractor, not as a dry run."""
    cfg = _config("evaluation.kind=real", "metrics.num_images=123", "metrics.extractor=classifier",
                  "data.name=digits", "objectives=[IS, FID]", "widths.bottom_width=6")
    note = stage_note_markdown(cfg, DATA, _inputs())
    assert "| evaluation | supernet training, 123 images per candidate, extractor `classifier` |" in note
    assert "48×48 images" in note and "| data | `digits` |" in note


def test_stage_note_progress_table() -> None:
    """Per round (1-based, failed-only rounds included): complete and failed counts, the best value
    per objective by its direction, the round's hypervolume; a column separator per column."""
    note = stage_note_markdown(_config(), DATA, _inputs())
    hv = DATA.hypervolumes()
    assert "| round | complete | failed | best IS | best FID | best params_M | hypervolume |\n" \
           "|---|---|---|---|---|---|---|\n" in note
    assert f"| 1 | 2 | 0 | 3 | 40 | 8 | {format_value(hv[0])} |" in note
    assert f"| 2 | 1 | 2 | 4 | 30 | 7.5 | {format_value(hv[1])} |" in note
    assert "| 3 | 0 | 1 | — | — | — | — |" in note


def test_stage_note_chosen_section() -> None:
    """The chosen trial's number, 1-based round, named scores, sizes, rule, genotype and picture;
    no such section without a chosen trial."""
    note = stage_note_markdown(_config(), DATA, _inputs())
    assert ("### Chosen architecture (G*)\n\nTrial **2** (round 2): IS = 4, FID = 30, params_M = 7.5; "
            "7.5M params, 1600M MACs. Rule: lowest FID.\n\n`G(x)`") in note
    assert "`optgan export s --stage gen -o best_g.json`" in note
    assert note.endswith("![architecture of trial 2](/a/3)\n")
    assert "Chosen architecture" not in stage_note_markdown(_config(), DATA, _inputs(chosen=None))


def test_trial_note_scores_front_and_pictures() -> None:
    """A complete trial's note: 1-based round, a labelled score table, 'on the Pareto front' only
    when on it, sizes, extractor and every picture."""
    t = _trial(7, [4.0, 30.0, 7.5], 1, **{keys.ROLE: "random", keys.PARAMS_M: 7.5, keys.FLOPS_M: 1600.0,
                                          keys.EXTRACTOR: "inception"})
    note = trial_note_markdown(t, DATA, on_front=True, urls={"a": "/u1", "b": "/u2"})
    assert note.startswith("### Trial 7 · round 2 · random\n")
    assert "| IS ↑ | FID ↓ | params_M ↓ |\n|---|---|---|\n| 4 | 30 | 7.5 |" in note
    assert "**on the Pareto front of round 2**; 7.5M params, 1600M MACs, extractor `inception`." in note
    assert note.endswith("![a](/u1)\n\n![b](/u2)\n")
    assert "dominated in round 2;" in trial_note_markdown(t, DATA, on_front=False, urls={})


def test_trial_note_lineage_and_failure() -> None:
    """Lineage names every parent ('trial' for one, 'trials' for two) and the operators; a failed
    trial shows its state and reason instead of scores."""
    two = _trial(5, None, 1, TrialState.FAIL, **{keys.FAIL_REASON: "oom", keys.PARENTS: [1, 2], keys.ROLE: "child",
                                                  keys.OPERATORS: "crossover"})
    note = trial_note_markdown(two, DATA, on_front=False, urls={})
    assert "### Trial 5 · round 2 · child of trials 1, 2 (crossover)\n" in note and "**FAIL**: oom" in note
    one = _trial(6, [1.0, 2.0, 3.0], 1, **{keys.PARENTS: [4], keys.ROLE: "mutant"})
    assert "· mutant of trial 4\n" in trial_note_markdown(one, DATA, on_front=True, urls={})


# ------------------------------------------------------------------------- summary and listing


def test_status_paces_by_the_last_three_rounds_to_the_millisecond(tmp_path) -> None:  # noqa: ANN001
    """`seconds_per_round` is the mean of the last three timed rounds, rounded to 3 decimals."""
    from optgan.study.summary import stage_status

    cfg = load_study_config(str(ROOT / "studies" / "dry-run.yaml"), TINY)
    search = create_search("t17", cfg, f"sqlite:///{tmp_path / 'db.sqlite'}", str(tmp_path / "run"))
    study = search.study("gen")
    for generation, total in enumerate([10.0, 1.0, 2.0, 4.0]):
        study.set_user_attr(keys.ROUND_SECONDS_PREFIX + str(generation), {"total": total})
    assert stage_status(search, "gen")["seconds_per_round"] == pytest.approx(2.333)


def test_summary_counts_front_plural_and_marks_a_dry_run(reported) -> None:  # noqa: ANN001
    """The run summary names the front size with a plural for several, and the train hint of a
    synthetic search says its winners are untrained guesses."""
    from optgan.study.summary import print_summary

    search = reported[0]
    lines: list[str] = []
    print_summary(search, lines.append)
    n = len(stage_data(search.study("gen")).front_numbers(1))
    assert n > 1 and f"[gen] 2/2 rounds, {n} architectures on the last round's Pareto front" in lines
    assert any(line.startswith("train:") and "(a dry run: its scores are synthetic" in line for line in lines)


def test_listing_sorts_by_name_and_show_reads_gen_star_from_stage_disc(reported) -> None:  # noqa: ANN001
    """`study list` rows come sorted by name (not creation order); `study show` reports the G*
    that stage disc fixed."""
    from optgan.study.listing import describe_search, list_searches

    search = reported[0]
    create_search("a17", search.config, search.storage_url, str(reported[1].parent / "run-a17"))
    assert [r["name"] for r in list_searches(search.storage_url)] == ["a17", "r17"]
    assert describe_search(search)["gen_star"] is not None
