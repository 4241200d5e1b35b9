"""Rules of the search commands (`cli/run_cmd.py`, `cli/study_cmd.py`, `cli/inspect_cmd.py`) the other
tests leave open (found by mutation testing, round 13c): the range of --max-rounds and the hint `run`
hands to its storage guard; the next step `study create` prints, and what `--dry-run` says and warns;
the text of `study list` (running, stale, broken, never-run searches) and `--json` alone; what `study
extend` prints; `study delete` removing both studies and naming the run directory it keeps; `status`
lines without an estimate, a told trial or a value; the mark of `best` and G* being stage gen's only;
`best` and `export` on a search that has not run and what `export` says it wrote; the unit boundaries
of status durations."""

from __future__ import annotations

import json
import logging
import pathlib
import types
from collections.abc import Callable

import optuna
import pytest
from _cli_support import DRY, invoke
from click.testing import Result
from optgan_cli.inspect_cmd import _duration



@pytest.fixture
def created(tmp_path: pathlib.Path) -> list[str]:
    """A search `x` created (never run) in a tmp SQLite storage; returns the `--storage URL` flag."""
    storage = ["--storage", f"sqlite:///{tmp_path / 'db.sqlite'}"]
    r = invoke("study", "create", "x", "--config", DRY, "--run-dir", str(tmp_path / "run"), *storage)
    assert r.exit_code == 0, r.stderr
    # the printed next step finds this storage: a bare `optgan run x` would not
    assert r.stdout.splitlines()[-1] == f"next: optgan run x --storage {storage[1]}"
    return storage


# --- run_cmd.py -----------------------------------------------------------------------------------

def test_max_rounds_must_be_at_least_one() -> None:
    """`--max-rounds 0` is a usage error (exit 2), not a run that does nothing."""
    r = invoke("run", "x", "--max-rounds", "0")
    assert r.exit_code == 2 and "--max-rounds" in r.stderr and "x>=1" in r.stderr


def test_run_tells_its_storage_guard_how_to_go_on(created: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """A database that goes away during `optgan run x` ends with the hint to rerun the command."""
    import optgan.runner
    import optgan.study.retry

    hints: list[str] = []

    def guard_storage(storage, url, *, lease, hint):
        hints.append(hint)
        return storage

    def run_search(search, stages, max_rounds=None, gen_override=None):
        return [types.SimpleNamespace(stage=s, finished=False, rounds_done=0, rounds_total=1) for s in stages]

    monkeypatch.setattr(optgan.study.retry, "guard_storage", guard_storage)
    monkeypatch.setattr(optgan.runner, "run_search", run_search)
    r = invoke("run", "x", "--stage", "gen", *created)
    assert r.exit_code == 0, r.stderr
    assert hints == ["rerun `optgan run x` once the database is back"]


# --- study_cmd.py ---------------------------------------------------------------------------------

def test_a_dry_run_says_nothing_was_stored_and_warns_of_unused_locations(tmp_path: pathlib.Path,
                                                                         caplog: pytest.LogCaptureFixture) -> None:
    """`study create --dry-run` ends with its `ready:` line, stores nothing, and warns (like a real
    create) of a location flag the config does not use."""
    storage = ["--storage", f"sqlite:///{tmp_path / 'db.sqlite'}"]
    with caplog.at_level(logging.WARNING):
        r = invoke("study", "create", "x", "--config", DRY, "--run-dir", str(tmp_path / "run"), "--dry-run",
                 "--set", "metrics.extractor=classifier", "--inception-weights", str(tmp_path / "w.pt"), *storage)
    assert r.exit_code == 0, r.stderr
    assert r.stdout.splitlines()[-1] == (f"ready: search 'x' would use run directory {tmp_path / 'run'} "
                                         "(nothing stored: --dry-run)")
    assert "is not used by the 'classifier' extractor" in caplog.text
    listed = invoke("study", "list", "--json", *storage)
    assert "'x'" not in listed.stdout + listed.stderr and not (tmp_path / "run").exists()


def _listed(monkeypatch: pytest.MonkeyPatch, rows: list[dict], *flags: str) -> str:
    monkeypatch.setattr("optgan.study.listing.list_searches", lambda storage: rows)
    r = invoke("study", "list", *flags)
    assert r.exit_code == 0, r.stderr
    return r.stdout


def test_list_text_says_who_runs_each_search_and_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    """A running search names its PID and host, a stale lease says so, a broken search how to remove
    it, and one that never ran has `started -`."""
    def row(name: str, run: dict, missing: list[str], **extra: str) -> dict:
        return {"name": name, "gen_trials": 8, "disc_trials": 4, "run": run, "missing": missing, "moved_to": None,
                **extra}

    rows = [row("a", {"state": "running", "pid": 7, "host": "h1"}, [], started="2026-01-02T03:04:05"),
            row("b", {"state": "stale", "pid": 8, "host": "h2"}, []),
            row("c", {"state": "idle"}, ["c:disc"], started="2026-01-02T03:04:05"),
            row("d", {"state": "unknown"}, []),
            row("e", {"state": "idle"}, [], moved_to="sqlite:///b.db")]
    head = "gen trials     8   disc trials     4   started "
    assert _listed(monkeypatch, rows).splitlines() == [
        f"{'a':<24} {head}2026-01-02T03:04:05   running: PID 7 on h1",
        f"{'b':<24} {head}-   stopped without releasing its lease (PID 8 on h2)",
        f"{'c':<24} {head}2026-01-02T03:04:05   incomplete: c:disc is gone (`optgan study delete c` removes the rest)",
        f"{'d':<24} {head}-",
        f"{'e':<24} {head}-   moved to sqlite:///b.db (read-only here)"]


def test_an_empty_list_is_one_line_of_text_or_bare_json(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _listed(monkeypatch, []) == "no searches\n"
    assert _listed(monkeypatch, [], "--json") == "[]\n"


def test_delete_removes_both_studies_and_names_the_run_directory_it_keeps(created: list[str],
                                                                          tmp_path: pathlib.Path) -> None:
    r = invoke("study", "delete", "x", "--yes", *created)
    assert r.exit_code == 0, r.stderr
    assert r.stdout == (f"deleted search 'x'; run directory kept at {tmp_path / 'run'} (remove it before creating "
                        "a search that would use it again)\n")
    assert optuna.get_all_study_names(created[1]) == []


# --- inspect_cmd.py -------------------------------------------------------------------------------

def test_status_durations_change_unit_at_90_s_and_90_min() -> None:
    assert [_duration(x) for x in (89.4, 90, 5399, 5400)] == ["89 s", "2 min", "90 min", "1.5 h"]


def _status(monkeypatch: pytest.MonkeyPatch, change: Callable[[dict], None]) -> str:
    """`optgan status x` of a stand-in idle search with one stage: round 1 told, round 2 asked."""
    stage = {"stage": "gen", "rounds_done": 1, "rounds_total": 1, "rounds_checkpointed": 1,
             "seconds_per_round": 30.0, "eta_seconds": 0,
             "rounds": [{"generation": 0, "complete": 8, "failed": 0, "best": {"FID": 10.0, "IS": 2.0},
                         "mean": {"FID": 20.0, "IS": 1.5}, "seconds": None},
                        {"generation": 1, "complete": 0, "failed": 0, "best": {}, "mean": {}, "seconds": None}],
             "in_progress": {"generation": 1, "asked": 8, "told": 0},
             "pareto": [{"trial": 3, "values": {"FID": 8.0, "IS": None}}], "waiting": []}
    change(stage)
    search = types.SimpleNamespace(labels=["FID", "IS"], storage=types.SimpleNamespace(engine=None))
    monkeypatch.setattr("optgan.study.search.load_search", lambda name, storage: search)
    monkeypatch.setattr("optgan.study.lease.run_state", lambda engine, name: {"state": "idle"})
    monkeypatch.setattr("optgan.study.move.moved_to", lambda storage, name: None)
    monkeypatch.setattr("optgan.study.summary.stage_status", lambda s, name: {**stage, "stage": name})
    r = invoke("status", "x")
    assert r.exit_code == 0, r.stderr
    return r.stdout


def test_status_lines_without_an_estimate_a_told_trial_or_a_value(monkeypatch: pytest.MonkeyPatch) -> None:
    """A finished stage (no time left) has no `about … left`; a round in progress with nothing told
    has no `so far`; a round without timings no seconds; a front member's missing value is left out."""
    text = _status(monkeypatch, lambda st: None)
    assert "stage gen: 1/1 rounds, 30.0 s/round\n" in text
    assert "  round   1: 8 ok, 0 failed | best FID=10  IS=2 | mean FID=20  IS=1.5\n" in text
    assert "  round   2: in progress, 0/8 asked trials told\n" in text
    assert "  pareto: trial    3  FID=8\n" in text
    told = _status(monkeypatch, lambda st: st["in_progress"].update(told=1) or st["rounds"][1].update(
        complete=1, best={"FID": 9.0}, mean={"FID": 9.0}))
    assert "  round   2: in progress, 1/8 asked trials told | so far: best FID=9 | mean FID=9\n" in told


def test_best_and_export_of_a_search_that_has_not_run(created: list[str], tmp_path: pathlib.Path) -> None:
    """`best` says the stage has no completed trial (JSON: no choice, an empty front); `export` into
    a folder that does not exist names the folder before it looks at the search."""
    r = invoke("best", "x", "--stage", "gen", *created)
    assert (r.exit_code, r.stdout) == (0, "stage gen has no completed trial yet\n")
    assert json.loads(invoke("best", "x", "--stage", "disc", "--json", *created).stdout) == {
        "search": "x", "stage": "disc", "chosen": None, "pareto": []}
    out = tmp_path / "missing" / "g.json"
    r = invoke("export", "x", "--stage", "gen", "-o", str(out), *created)
    assert r.exit_code == 2 and f"-o {out}: folder {out.parent} does not exist" in r.stderr


def test_extend_says_each_stages_change_and_how_to_go_on(created: list[str]) -> None:
    """`study extend` prints `old -> new` per stage it changed (each flag for its own stage) and the
    `optgan run` command, with the storage flag a bare command would need."""
    r = invoke("study", "extend", "x", "--gen-rounds", "12", "--disc-rounds", "6", *created)
    assert r.exit_code == 0, r.stderr
    assert r.stdout.splitlines() == ["stage gen: 10 -> 12 rounds", "stage disc: 5 -> 6 rounds",
                                     f"go on with: optgan run x --storage {created[1]}"]


_G = [[1, 1, 1, 0, 2, 3, 1], [1, 1, 0, 1, 3, 0, 5], [0, 1, 0, 3, 0, 0, 3]]


def _best(monkeypatch: pytest.MonkeyPatch, star: object, *args: str) -> Result:
    """`optgan best x ARGS` on a stand-in search whose front is trials 4 and 5, the rule choosing 5,
    and `star` as the G* stage disc runs with (None: not fixed yet)."""
    front = [types.SimpleNamespace(number=n) for n in (4, 5)]
    search = types.SimpleNamespace(study=lambda stage: stage, labels=["FID"],
                                   config=types.SimpleNamespace(objectives=None))
    monkeypatch.setattr("optgan.study.search.load_search", lambda name, storage: search)
    monkeypatch.setattr("optgan.study.results.pareto_trials", lambda study: front)
    monkeypatch.setattr("optgan.study.results.trial_record", lambda t, net, labels: {
        "trial": t.number, "values": {"FID": float(t.number)}, "genotype": {"net": "gen", "array": _G}})
    monkeypatch.setattr("optgan.study.results.choose_best", lambda study, objectives: front[1])
    monkeypatch.setattr("optgan.study.results.fixed_gen_star", lambda study: star)
    r = invoke("best", "x", *args)
    assert r.exit_code == 0, r.stderr
    return r


def test_best_marks_the_chosen_trial_and_g_star_is_stage_gens_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """The chosen trial is the one marked `*`; a fixed G* (a stage gen trial) changes the choice of
    stage gen only: stage disc keeps the rule's choice and has no `gen_star`."""
    lines = _best(monkeypatch, None, "--stage", "gen").stdout.splitlines()
    assert [line for line in lines if " trial " in line] == ["  trial    4  FID=4", "* trial    5  FID=5"]
    star = types.SimpleNamespace(trial=4, source="trial 4 of x:gen (--gen-trial)",
                                 genotype=types.SimpleNamespace(to_json_dict=lambda: {"array": _G}))
    disc = json.loads(_best(monkeypatch, star, "--stage", "disc", "--json").stdout)
    assert disc["chosen"] == 5 and "gen_star" not in disc
    assert json.loads(_best(monkeypatch, star, "--stage", "gen", "--json").stdout)["chosen"] == 4


def test_export_says_what_it_wrote_where(monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path) -> None:
    """`export` ends with `wrote WHAT to FILE`: G* from outside stage gen, or a trial's architecture."""
    import optuna.trial

    star = types.SimpleNamespace(trial=None, source="user override (--gen-arch g.json)",
                                 genotype=types.SimpleNamespace(to_json_dict=lambda: {"net": "gen", "array": _G}))
    trial = types.SimpleNamespace(number=4, params={"x": 1}, state=optuna.trial.TrialState.COMPLETE)
    search = types.SimpleNamespace(study=lambda stage: types.SimpleNamespace(study_name=f"x:{stage}"), labels=["FID"],
                                   config=types.SimpleNamespace(objectives=None, widths=None))
    monkeypatch.setattr("optgan.study.search.load_search", lambda name, storage: search)
    monkeypatch.setattr("optgan.study.results.fixed_gen_star", lambda study: star)
    monkeypatch.setattr("optgan.study.results.trial_by_number", lambda study, n: trial if n == 4 else None)
    monkeypatch.setattr("optgan.study.results.trial_record", lambda t, net, labels: {
        "values": {"FID": 4.0}, "params_M": 1.0, "genotype": {"net": net, "array": _G}})
    monkeypatch.setattr("optgan.config.base.to_dict", lambda widths: {})
    out = tmp_path / "g.json"
    r = invoke("export", "x", "--stage", "gen", "-o", str(out))
    assert (r.exit_code, r.stdout) == (0, f"wrote G* of stage disc (user override (--gen-arch g.json)) to {out}\n")
    r = invoke("export", "x", "--stage", "disc", "--trial", "4", "-o", str(out))
    assert (r.exit_code, r.stdout) == (0, f"wrote disc architecture of trial 4 to {out}\n")
    assert json.loads(out.read_text())["source"]["trial"] == 4
