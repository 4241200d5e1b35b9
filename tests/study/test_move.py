"""`optgan study move`: a search goes on in another storage on exactly its course; the source is
frozen; a move stopped at any point finishes when run again; refusals write nothing."""

from __future__ import annotations

import json
import pathlib
import shutil
import sqlite3

import optuna
import pytest
from _cli_support import invoke, one_line_error
from _crash_support import (DRY, KILLED, SMALL, assert_same_trials, create, optgan, run_with_fault, small_reference,
                            snapshot)

from optgan import keys
from optgan.study.lease import hold_lease
from optgan.study.search import load_search
from optgan.study.storage import open_storage
from optgan.study.storage_url import redact


def _ok(*args: str) -> str:
    r = invoke(*args)
    assert r.exit_code == 0, (r.stdout, r.stderr)
    return r.stdout


def _study(url: str, name: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=url)


def _system_attrs(study: optuna.Study) -> dict:
    return study._storage.get_study_system_attrs(study._study_id)


def _busy(url: str, tmp_path: pathlib.Path, name: str) -> None:
    """Another search in `url`, run for a round, so that trial ids there differ from the source's."""
    create(name, url, DRY, SMALL, tmp_path / f"runs-{name}")
    _ok("run", name, "--stage", "gen", "--max-rounds", "1", "--storage", url)


@pytest.mark.slow
def test_a_search_moved_mid_round_goes_on_on_its_course(storage_url: str, unique_name: str,
                                                         tmp_path: pathlib.Path) -> None:
    """Killed in the middle of round 2 (the sampler has recorded its survivors by trial id), moved
    to a database whose trial ids differ, and resumed there: the same trials as a run never
    stopped or moved. The source is frozen and keeps what it had."""
    src = f"sqlite:///{tmp_path / 'laptop.db'}"
    name = unique_name
    _busy(storage_url, tmp_path, f"{name}-other")
    create(name, src, DRY, SMALL, tmp_path / "runs")
    assert run_with_fault(name, src, "between_tells:6").returncode == KILLED
    before = snapshot(src, name)
    survivors = _system_attrs(_study(src, f"{name}:gen"))[keys.SURVIVORS_PREFIX + "1"]
    out = _ok("study", "move", name, "--to", storage_url, "--storage", src)
    assert out.splitlines()[0] == f"moved search {name!r} to {redact(storage_url)} (8 gen trials, 0 disc trials)"
    moved = _study(storage_url, f"{name}:gen")
    by_id = {t._trial_id: t.number for t in moved.get_trials(deepcopy=False)}
    numbers = {t._trial_id: t.number for t in _study(src, f"{name}:gen").get_trials(deepcopy=False)}
    assert [by_id[i] for i in _system_attrs(moved)[keys.SURVIVORS_PREFIX + "1"]] == [numbers[i] for i in survivors]
    assert set(_system_attrs(moved)[keys.SURVIVORS_PREFIX + "1"]) != set(survivors)  # other ids: a copy would break
    assert moved.user_attrs[keys.MOVED_FROM] == src and moved.user_attrs[keys.SEARCH_NAME] == name

    def parents(url: str) -> list[int]:  # round 2's survivors as the sampler reads them back
        study = load_search(name, url).study("gen")
        return [t.number for t in study.sampler.get_parent_population(study, 1)]

    assert parents(storage_url) == parents(src) and len(parents(src)) == 2
    assert snapshot(storage_url, name) == before
    _ok("run", name, "--storage", storage_url)
    assert_same_trials(snapshot(storage_url, name), small_reference())
    assert snapshot(src, name) == before  # frozen
    for args in (("run", name), ("study", "extend", name, "--gen-rounds", "5"),
                 ("study", "enqueue", name, "--arch", "[[1,1,1,0,2,3,1],[1,1,0,1,3,0,5],[0,1,0,3,0,0,3]]")):
        one_line_error(invoke(*args, "--storage", src), f"search {name!r} was moved to {redact(storage_url)}")
    assert snapshot(src, name) == before
    status = _ok("status", name, "--storage", src)  # still readable, and says where the search went
    assert status.splitlines()[1] == (f"moved to {redact(storage_url)} (`optgan study move`): read-only here, run it "
                                      "there with --storage URL")
    assert "stage gen: 1/3 rounds" in status
    assert json.loads(_ok("status", name, "--json", "--storage", src))["moved_to"] == redact(storage_url)
    (row,) = json.loads(_ok("study", "list", "--json", "--storage", src))
    assert row["moved_to"] == redact(storage_url) and row["gen_trials"] == 8
    assert _ok("study", "list", "--storage", src).rstrip().endswith(f"moved to {redact(storage_url)} (read-only here)")
    assert json.loads(_ok("status", name, "--json", "--storage", storage_url))["moved_to"] is None
    deleted = _ok("study", "delete", name, "--yes", "--storage", src)  # the folder is the moved search's now
    assert deleted.strip().startswith(f"deleted the copy of search {name!r} left behind by its move; its run directory")
    assert deleted.strip().endswith(f"serves the search in {redact(storage_url)}: keep it"), deleted
    assert json.loads(_ok("study", "list", "--json", "--storage", src)) == []


def test_a_move_to_sqlite_hands_over_the_run_directory(tmp_path: pathlib.Path) -> None:
    """The run directory's search.json names the database it serves: after a move between two
    SQLite files it names the new one, so the run there is not taken for a copy's."""
    a, b = (f"sqlite:///{tmp_path / f}" for f in ("a.db", "b.db"))
    create("s", a, DRY, SMALL, tmp_path / "runs")
    _ok("run", "s", "--stage", "gen", "--max-rounds", "1", "--storage", a)
    out = _ok("study", "move", "s", "--to", b, "--storage", a)
    assert out.splitlines()[1:] == [f"go on with: optgan run s --storage {b}",
                                    f"the copy in {a} is kept read-only; once the new one is checked, remove it: "
                                    f"optgan study delete s --storage {a}"]
    claim = json.loads((tmp_path / "runs" / "search.json").read_text())
    assert claim["database"] == str(tmp_path / "b.db") and claim["storage"] == b
    _ok("run", "s", "--storage", b)
    assert [len(v) for v in snapshot(b, "s").values()] == [12, 4]
    again = _ok("study", "move", "s", "--to", b, "--storage", a)  # finished already: says what is there
    assert again.splitlines()[0] == "moved search 's' to " + b + " (12 gen trials, 4 disc trials)"


def test_the_first_run_after_a_move_made_away_from_the_run_directory_takes_it_over(
        tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A move made where the run directory is not leaves its claim naming the old file; the
    first run from the new one sees that the old one records the move there, and takes the folder
    over (a copy of the file would be refused it). Relative SQLite URLs are recorded absolute."""
    monkeypatch.chdir(tmp_path)
    create("t", "sqlite:///a.db", DRY, SMALL, tmp_path / "runs-t")  # another search of the file, moved elsewhere
    _ok("study", "move", "t", "--to", "sqlite:///elsewhere.db", "--storage", "sqlite:///a.db")
    create("s", "sqlite:///a.db", DRY, SMALL, tmp_path / "runs")
    claim = tmp_path / "runs" / "search.json"
    old = claim.read_text()
    _ok("study", "move", "s", "--to", "sqlite:///b.db", "--storage", "sqlite:///a.db")
    claim.write_text(old)  # as if the folder had not been on the machine that moved the search
    assert json.loads(_ok("status", "s", "--json", "--storage", "sqlite:///a.db"))["moved_to"] == (
        f"sqlite:///{tmp_path / 'b.db'}")
    _ok("run", "s", "--stage", "gen", "--max-rounds", "1", "--storage", "sqlite:///b.db")
    assert json.loads(claim.read_text())["database"] == str(tmp_path / "b.db")
    with sqlite3.connect(tmp_path / "b.db") as src, sqlite3.connect(tmp_path / "c.db") as dst:
        src.backup(dst)  # a copy of the new file is still refused the folder
    one_line_error(invoke("run", "s", "--storage", "sqlite:///c.db"), "is a copy of the one in")


@pytest.mark.slow
@pytest.mark.parametrize("fault", ["move_copied:1", "move_marked:1"])
def test_a_move_stopped_at_any_point_finishes_when_run_again(fault: str, tmp_path: pathlib.Path) -> None:
    """Killed after the copy (source not marked: it may still run, and the next move copies it
    afresh) or after the mark (the copy not named yet): the destination lists no half search,
    and the same command again completes the move."""
    a, b = (f"sqlite:///{tmp_path / f}" for f in ("a.db", "b.db"))
    create("s", a, DRY, SMALL, tmp_path / "runs")
    _ok("run", "s", "--stage", "gen", "--max-rounds", "1", "--storage", a)
    r = optgan("study", "move", "s", "--to", b, "--storage", a, fault=fault)
    assert r.returncode == KILLED, r.stderr
    assert json.loads(_ok("study", "list", "--json", "--storage", b)) == []
    one_line_error(invoke("run", "s", "--storage", b), "no search named 's'")
    if fault == "move_copied:1":
        _ok("run", "s", "--stage", "gen", "--max-rounds", "1", "--storage", a)  # not moved yet: it goes on
    else:
        one_line_error(invoke("run", "s", "--storage", a), "was moved to")
    want = snapshot(a, "s")
    _ok("study", "move", "s", "--to", b, "--storage", a)
    assert snapshot(b, "s") == want
    assert [s["name"] for s in json.loads(_ok("study", "list", "--json", "--storage", b))] == ["s"]
    assert {st.study_name for st in optuna.get_all_study_summaries(b)} == {"s:gen", "s:disc"}  # no leftovers


def test_refusals_write_nothing(tmp_path: pathlib.Path) -> None:
    a, b, c = (f"sqlite:///{tmp_path / f}" for f in ("a.db", "b.db", "c.db"))
    create("s", a, DRY, SMALL, tmp_path / "runs")
    create("s", b, DRY, SMALL, tmp_path / "runs-b")
    one_line_error(invoke("study", "move", "s", "--to", a, "--storage", a), "search 's' is already in " + a)
    one_line_error(invoke("study", "move", "s", "--to", f"sqlite:///{tmp_path}/./a.db", "--storage", a),
                   "is already in")
    one_line_error(invoke("study", "move", "s", "--to", b, "--storage", a),
                   f"a search named 's' already exists in {b}")
    one_line_error(invoke("study", "move", "s", "--to", "nonsense", "--storage", a), "is not a database URL")
    one_line_error(invoke("study", "move", "nope", "--to", c, "--storage", a), "no search named 'nope'")
    with hold_lease(open_storage(a).engine, "s"):
        held = one_line_error(invoke("study", "move", "s", "--to", c, "--storage", a), "search 's'")
        assert "retry after its lease expires" in held and "--force-unlock" not in held  # move has no such flag
    assert not (tmp_path / "c.db").exists()  # refused before the destination is opened (and so created)
    with hold_lease(open_storage(c).engine, "s"):  # the destination's lease too
        held = one_line_error(invoke("study", "move", "s", "--to", c, "--storage", a), "search 's'")
        assert "retry after its lease expires" in held and "--force-unlock" not in held
    assert json.loads(_ok("study", "list", "--json", "--storage", c)) == []
    _ok("study", "move", "s", "--to", c, "--storage", a)
    one_line_error(invoke("study", "move", "s", "--to", f"sqlite:///{tmp_path / 'd.db'}", "--storage", a),
                   f"search 's' was already moved to {c}")
    assert not (tmp_path / "d.db").exists()
    assert invoke("study", "move", "s", "--storage", a).exit_code == 2  # --to is required


def test_what_counts_as_the_same_database(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from optgan.study.move import _same_database

    monkeypatch.chdir(tmp_path)
    pg = "postgresql://me:secret@db:5432/optgan"
    assert _same_database("sqlite:///a.db", f"sqlite:///{tmp_path / 'a.db'}")  # one file, two spellings
    assert not _same_database("sqlite:///a.db", "sqlite:///b.db")
    assert not _same_database("sqlite:///optgan.db", pg) and not _same_database(pg, "sqlite:///optgan.db")
    assert _same_database(pg, "postgresql://me:other@db:5432/optgan")  # the password does not make another one
    assert not _same_database(pg, "postgresql://me:secret@db:5432/other")
    assert not _same_database(pg, "postgresql://me:secret@db2:5432/optgan")


def test_a_half_search_in_the_destination_is_refused_before_the_source_is_frozen(tmp_path: pathlib.Path) -> None:
    """A stage study of that name alone in the destination (made outside optgan) is another
    search's: refused before anything is copied or marked, so the source still runs."""
    a, b = (f"sqlite:///{tmp_path / f}" for f in ("a.db", "b.db"))
    create("s", a, DRY, SMALL, tmp_path / "runs")
    optuna.create_study(study_name="s:disc", storage=b)
    one_line_error(invoke("study", "move", "s", "--to", b, "--storage", a), f"a search named 's' already exists in {b}")
    assert {st.study_name for st in optuna.get_all_study_summaries(b)} == {"s:disc"}
    assert json.loads(_ok("status", "s", "--json", "--storage", a))["moved_to"] is None
    _ok("run", "s", "--stage", "gen", "--max-rounds", "1", "--storage", a)


def test_a_run_directory_claimed_by_another_search_keeps_its_claim(tmp_path: pathlib.Path) -> None:
    from optgan.study.move import move_search

    a, b = (f"sqlite:///{tmp_path / f}" for f in ("a.db", "b.db"))
    create("s", a, DRY, SMALL, tmp_path / "runs")
    claim = tmp_path / "runs" / "search.json"
    other = {**json.loads(claim.read_text()), "id": "another-search"}
    claim.write_text(json.dumps(other))
    done = move_search(load_search("s", a), b)
    assert done.claim_updated is False and done.copied is True and done.trials == {"gen": 0, "disc": 0}
    assert json.loads(claim.read_text()) == other
    again = move_search(load_search("s", a), b)  # finished already: nothing copied again
    assert again.copied is False
    shutil.rmtree(tmp_path / "runs")  # a folder this machine does not have: nothing to hand over
    assert move_search(load_search("s", a), b).claim_updated is False


def test_a_copy_of_the_database_file_is_not_taken_for_a_finished_move(tmp_path: pathlib.Path) -> None:
    """The same search (same id) found in the destination without the source marked moved is a
    copy of the file, which may have diverged: refused, not adopted."""
    a, b = (f"sqlite:///{tmp_path / f}" for f in ("a.db", "b.db"))
    create("s", a, DRY, SMALL, tmp_path / "runs")
    with sqlite3.connect(tmp_path / "a.db") as src, sqlite3.connect(tmp_path / "b.db") as dst:
        src.backup(dst)  # the file with what its write-ahead log holds
    one_line_error(invoke("study", "move", "s", "--to", b, "--storage", a), f"a search named 's' already exists in {b}")
    assert json.loads(_ok("status", "s", "--json", "--storage", a))["moved_to"] is None


def test_a_study_that_appears_during_the_move_is_one_line(tmp_path: pathlib.Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from optgan.study import move

    a, b = (f"sqlite:///{tmp_path / f}" for f in ("a.db", "b.db"))
    create("s", a, DRY, SMALL, tmp_path / "runs")
    optuna.create_study(study_name="s:gen", storage=b)  # made outside optgan after the check (pretended)
    monkeypatch.setattr(move, "_identity_in", lambda storage, name: None)
    one_line_error(invoke("study", "move", "s", "--to", b, "--storage", a),
                   f"a study of search 's' appeared in {b} during the move; delete it there and run the same command "
                   "again")


@pytest.mark.parametrize("where", ["sqlite", "postgresql"])
def test_copy_trials_copies_every_trial_row_for_row(where: str, tmp_path: pathlib.Path) -> None:
    """`copy_trials` (the move's bulk copy) gives the trials Optuna's own trial-by-trial copy
    gives: numbers, states, times, values (±inf too), params with their distributions,
    intermediate values (NaN too) and attrs, for COMPLETE, FAIL, PRUNED, RUNNING and WAITING
    trials; the copy's trial ids are its own."""
    import math
    import os
    import uuid

    from optgan.study.move import copy_trials

    if where == "postgresql" and not os.environ.get("OPTGAN_TEST_POSTGRES_URL"):
        pytest.skip("PostgreSQL tests need OPTGAN_TEST_POSTGRES_URL (set by .ci/run)")
    dest_url = os.environ["OPTGAN_TEST_POSTGRES_URL"] if where == "postgresql" else f"sqlite:///{tmp_path / 'b.db'}"
    src, dest = open_storage(f"sqlite:///{tmp_path / 'a.db'}"), open_storage(dest_url)
    study = optuna.create_study(storage=src, study_name="s", directions=["maximize", "minimize"])
    tag = uuid.uuid4().hex[:12]
    filler = optuna.load_study(study_name=dest.get_study_name_from_id(dest.create_new_study(
        [optuna.study.StudyDirection.MINIMIZE], f"filler-{tag}")), storage=dest)
    for _ in range(2):  # other trial and row ids there: the copy's rows are numbered anew
        filler.enqueue_trial({"op": "none"}, user_attrs={"filler": 1})
    for k in range(7):
        trial = study.ask()
        trial.suggest_categorical("op", ["none", "conv_3x3", "skip"])
        trial.suggest_float("x", -1.0, 1.0, log=False)
        trial.suggest_int("n", 1, 9, step=2)
        trial.set_user_attr("genotype", {"cells": [[k, None, "a"]]})
        study._storage.set_trial_system_attr(trial._trial_id, "sys", [k, "b"])
        study._storage.set_trial_intermediate_value(trial._trial_id, k, float("nan") if k == 2 else k / 3)
        if k < 3:
            study.tell(trial, [float("inf") if k == 1 else k + 0.25, -float("inf") if k == 2 else 1 / (k + 3)])
        elif k == 3:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
        elif k == 4:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
    study.enqueue_trial({"op": "skip"}, user_attrs={"enqueued": True})  # WAITING
    to_id = dest.create_new_study(study.directions, f"copy-{tag}")
    from_id = study._study_id
    new_ids = copy_trials(src, from_id, dest, to_id)

    def fields(storage, study_id) -> list[dict]:  # noqa: ANN001
        return [{**{k: v for k, v in vars(t).items() if k != "_trial_id"},
                 "_values": [repr(v) for v in t.values] if t.values else t.values,
                 "intermediate_values": {s: repr(v) for s, v in t.intermediate_values.items()}}
                for t in storage.get_all_trials(study_id)]

    copied, original = fields(dest, to_id), fields(src, from_id)
    assert len(original) == 8 and copied == original
    assert {t.state.name for t in src.get_all_trials(from_id)} == {"COMPLETE", "FAIL", "PRUNED", "RUNNING", "WAITING"}
    assert sorted(new_ids) == [t._trial_id for t in src.get_all_trials(from_id)]
    assert [dest.get_trial(i).number for i in new_ids.values()] == list(range(8))
    assert math.isinf(dest.get_trial(new_ids[min(new_ids) + 1]).values[0])
    with pytest.raises(Exception, match="already had trials"):  # never into a study with trials
        copy_trials(src, from_id, dest, to_id)
    assert len(dest.get_all_trials(to_id)) == 8  # and nothing of that attempt stays
