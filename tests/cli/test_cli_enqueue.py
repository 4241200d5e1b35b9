"""`optgan study enqueue`: architectures of the user's join a search's next rounds (synthetic
engine, SQLite; the sampler's handling of enqueued trials is tested in tests/sampler/)."""

from __future__ import annotations

import json
import pathlib
import re
import types

import optuna
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from optuna_dashboard import get_note
from _cli_support import DRY, invoke, one_line_error

from optgan import keys
from optgan.search_space import Genotype

#: EAGAN's searched generator and discriminator (SPEC §1): 7.14 M params at CIFAR-10 widths
EAGAN_G = "[[1,1,1,0,2,3,1],[1,1,0,1,3,0,5],[0,1,0,3,0,0,3]]"
EAGAN_D = "[[3,0,3,0,2,0,0],[1,0,3,0,1,-1,-1],[3,0,3,0,1,-1,-1]]"
OTHER_G = "[[1,1,1,0,2,3,1],[1,1,0,1,3,0,5],[0,1,0,3,0,0,2]]"
#: 5.57 M params: below the dry-run preset's generator caps (6.5–15 M)
TINY_G = "[[1,2,1,1,2,1,1],[1,0,2,1,0,3,3],[1,1,0,1,2,2,0]]"
SMALL = ["--set", "sampler.population_size=4", "--set", "gen_stage.rounds=2", "--set", "disc_stage.rounds=1",
         "--set", "pictures.sample_grid=false", "--set", "pictures.architecture=false", "--set", "pictures.rounds=false"]


@pytest.fixture
def search(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """A new dry-run search `s` (P = 4, 2 + 1 rounds); returns its `--storage` flags."""
    monkeypatch.chdir(tmp_path)
    flags = ["--storage", f"sqlite:///{tmp_path / 'db.sqlite'}"]
    r = invoke("study", "create", "s", "--config", DRY, *SMALL, *flags)
    assert r.exit_code == 0, r.stderr
    return flags


def ok(*args: str) -> str:
    r = invoke(*args)
    assert r.exit_code == 0, (r.stdout, r.stderr)
    return r.stdout


def trials(flags: list[str], stage: str) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=f"s:{stage}", storage=flags[1]).get_trials()


def test_an_enqueued_generator_takes_a_slot_of_the_next_round_and_is_scored(search: list[str]) -> None:
    ok("study", "delete", "s", "--yes", *search)
    ok("study", "create", "s", "--config", DRY, *SMALL, "--set", "pictures.rounds=true", "--run-dir", "notes", *search)
    out = ok("study", "enqueue", "s", "--arch", EAGAN_G, *search)
    eagan = Genotype.from_json(json.loads(EAGAN_G), "gen")
    assert out.splitlines() == [f"enqueued: trial 0 of s:gen, round 1/2: {eagan}",
                                f"go on with: optgan run s --storage {search[1]}"]
    (waiting,) = trials(search, "gen")
    assert waiting.state.name == "WAITING" and waiting.user_attrs[keys.ENQUEUED_FROM] == f"--arch {EAGAN_G}"
    assert "  waiting: 1 enqueued architecture(s) for the next round(s), trial 0\n" in ok("status", "s", *search)
    stages = json.loads(ok("status", "s", "--json", *search))["stages"]
    assert [st["waiting"] for st in stages] == [[{"trial": 0, "source": f"--arch {EAGAN_G}"}], []]
    ok("run", "s", "--stage", "gen", "--max-rounds", "1", *search)
    first = [t for t in trials(search, "gen") if t.user_attrs[keys.GENERATION] == 0]
    assert len(first) == 4 and first[0].user_attrs[keys.ROLE] == keys.ROLE_ENQUEUED
    assert first[0].state.name == "COMPLETE" and first[0].user_attrs[keys.SLOT] == 0
    assert Genotype.from_params("gen", first[0].params) == eagan
    assert first[0].user_attrs[keys.PARAMS_M] == pytest.approx(7.142403)  # scored with its real size
    assert "waiting:" not in ok("status", "s", *search)
    assert [t.user_attrs[keys.ROLE] for t in first[1:]] == [keys.ROLE_INITIAL] * 3
    study = optuna.load_study(study_name="s:gen", storage=search[1])
    note = get_note(types.SimpleNamespace(study=study, storage=study._storage, _trial_id=first[0]._trial_id))
    assert note.startswith(f"### Trial 0 · round 1 · enqueued from `--arch {EAGAN_G}`\n")  # the dashboard's note


def test_enqueue_on_every_storage(storage_url: str, unique_name: str, tmp_path: pathlib.Path,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite and (CI) PostgreSQL: the enqueued trial is the next round's first, the lease is released."""
    monkeypatch.chdir(tmp_path)
    flags = ["--storage", storage_url]
    ok("study", "create", unique_name, "--config", DRY, *SMALL, "--run-dir", str(tmp_path / "run"), *flags)
    try:
        assert f"enqueued: trial 0 of {unique_name}:gen, round 1/2" in ok("study", "enqueue", unique_name, "--arch",
                                                                           EAGAN_G, *flags)
        ok("run", unique_name, "--stage", "gen", "--max-rounds", "1", *flags)  # the lease was given back
        first = optuna.load_study(study_name=f"{unique_name}:gen", storage=storage_url).trials[0]
        assert first.user_attrs[keys.ROLE] == keys.ROLE_ENQUEUED and first.state.name == "COMPLETE"
    finally:
        ok("study", "delete", unique_name, "--yes", *flags)


def test_later_enqueues_join_the_round_not_yet_asked_and_overflow_into_the_next(search: list[str]) -> None:
    ok("run", "s", "--stage", "gen", "--max-rounds", "1", *search)
    g = [json.dumps(row) for row in _four_generators()]
    out = ok("study", "enqueue", "s", *[a for x in g for a in ("--arch", x)], *search)
    assert [re.search(r"round \d+/\d+", line)[0] for line in out.splitlines()[:4]] == ["round 2/2"] * 4
    refused = one_line_error(invoke("study", "enqueue", "s", "--arch", EAGAN_G, *search), "no round left")
    assert "(it runs 2 rounds of 4, after the 4 architecture(s) waiting before it)" in refused and "optgan study extend s --gen-rounds N" in refused
    ok("run", "s", "--stage", "gen", *search)
    second = [t for t in trials(search, "gen") if t.user_attrs.get(keys.GENERATION) == 1]
    assert [t.user_attrs[keys.ROLE] for t in second] == [keys.ROLE_ENQUEUED] * 4
    assert [Genotype.from_params("gen", t.params).to_array() for t in second] == _four_generators()


def test_a_round_a_killed_run_left_half_asked_takes_the_first_ones(search: list[str]) -> None:
    """Two of round 1's four trials were asked when the run died: two free slots are left there."""
    from optgan.study.search import load_search

    study = load_search("s", search[1]).study("gen")
    asked = [study.ask() for _ in range(2)]
    g = [json.dumps(row) for row in _four_generators()[:3]]
    out = ok("study", "enqueue", "s", *[a for x in g for a in ("--arch", x)], *search)
    assert re.findall(r"round (\d)/2", out) == ["1", "1", "2"]
    ok("run", "s", "--stage", "gen", "--max-rounds", "1", *search)  # adopts the two asked, asks two more
    first = [t for t in trials(search, "gen") if t.user_attrs.get(keys.GENERATION) == 0]
    assert [t.number for t in first[:2]] == [a.number for a in asked]
    assert [t.user_attrs[keys.ROLE] for t in first] == [keys.ROLE_INITIAL] * 2 + [keys.ROLE_ENQUEUED] * 2
    assert [Genotype.from_params("gen", t.params).to_array() for t in first[2:]] == _four_generators()[:2]


def test_a_search_starts_from_the_front_another_one_found(search: list[str], caplog) -> None:  # noqa: ANN001
    """`--front OTHER`: every architecture of OTHER's last Pareto front, in trial order, named by
    trial; other widths said once; a search without results refused."""
    ok("study", "create", "small", "--config", DRY, *SMALL, "--set", "widths.gf_dim=128", "--set", "caps.gen={}",
       *search)
    one_line_error(invoke("study", "enqueue", "s", "--front", "small", *search),
                   "stage gen of 'small' has no completed trial yet: no front to enqueue")
    ok("run", "small", "--stage", "gen", *search)
    front = json.loads(ok("best", "small", "--json", *search))["pareto"]
    out = ok("study", "enqueue", "s", "--front", "small", "--arch", EAGAN_G, *search)
    assert out.count("enqueued: trial ") == len(front) + 1
    assert "search 'small' searched at other widths (gf_dim 128 → 256)" in caplog.text
    waiting = sorted(trials(search, "gen"), key=lambda t: t.number)
    assert [Genotype.from_params("gen", t.system_attrs["fixed_params"]) for t in waiting] == [
        Genotype.from_json(json.loads(EAGAN_G), "gen"),
        *[Genotype.from_json(p["genotype"]) for p in sorted(front, key=lambda p: p["trial"])]]
    assert [t.user_attrs[keys.ENQUEUED_FROM] for t in waiting[1:]] == [
        f"trial {p['trial']} of small:gen (Pareto front of round 2)" for p in sorted(front, key=lambda p: p["trial"])]
    r = invoke("study", "enqueue", "s", *search)
    assert r.exit_code == 2 and "give --arch GENOTYPE and/or --front SEARCH" in r.stderr


def test_a_front_from_another_storage_is_named_with_its_url(search: list[str], tmp_path: pathlib.Path) -> None:
    """`--front SEARCH@URL`: a search in another database (e.g. a proxy run on a laptop); the
    record names that storage. A plain name is looked up in --storage only."""
    laptop = f"sqlite:///{tmp_path / 'laptop.db'}"
    ok("study", "create", "proxy", "--config", DRY, *SMALL, "--run-dir", "proxy-runs", "--storage", laptop)
    ok("run", "proxy", "--stage", "gen", "--storage", laptop)
    one_line_error(invoke("study", "enqueue", "s", "--front", "proxy", *search), "no search named 'proxy'")
    one_line_error(invoke("study", "enqueue", "s", "--front", "proxy@", *search),
                   "'proxy@': give a storage URL after '@', e.g. proxy@sqlite:///path/to/optuna.db")
    front = sorted(p["trial"] for p in json.loads(ok("best", "proxy", "--json", "--storage", laptop))["pareto"])
    out = ok("study", "enqueue", "s", "--front", f"proxy@{laptop}", *search)
    assert out.count("enqueued: trial ") == len(front)
    waiting = sorted(trials(search, "gen"), key=lambda t: t.number)
    assert [t.user_attrs[keys.ENQUEUED_FROM] for t in waiting] == [
        f"trial {n} of proxy:gen in {laptop} (Pareto front of round 2)" for n in front]


def test_the_same_enqueues_at_the_same_points_give_the_same_course(tmp_path: pathlib.Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A seed still fixes the search: two searches enqueued alike (before round 1, before round 2)
    run the same trials, and one without the enqueues runs another course."""
    from _crash_support import assert_same_trials, snapshot

    monkeypatch.chdir(tmp_path)
    for db, enqueue in (("a", True), ("b", True), ("c", False)):
        flags = ["--storage", f"sqlite:///{tmp_path / db}.db"]
        ok("study", "create", "s", "--config", DRY, *SMALL, "--run-dir", db, *flags)
        if enqueue:
            ok("study", "enqueue", "s", "--arch", EAGAN_G, *flags)
        ok("run", "s", "--stage", "gen", "--max-rounds", "1", *flags)
        if enqueue:
            ok("study", "enqueue", "s", "--arch", OTHER_G, *flags)
        ok("run", "s", *flags)
    a, b, c = (snapshot(f"sqlite:///{tmp_path / db}.db", "s") for db in "abc")
    assert_same_trials(b, a)
    assert [t["params"] for t in a["gen"]] != [t["params"] for t in c["gen"]]


def test_the_same_architecture_is_not_enqueued_twice(search: list[str]) -> None:
    out = ok("study", "enqueue", "s", "--arch", EAGAN_G, "--arch", EAGAN_G, *search)
    assert out.count("enqueued: trial 0 ") == 1 and "trial 1" not in out
    again = ok("study", "enqueue", "s", "--arch", OTHER_G, "--arch", EAGAN_G, *search)
    assert again.splitlines()[0].startswith("enqueued: trial 1 of s:gen, round 1/2")
    assert again.splitlines()[1].startswith("already waiting as trial 0 of s:gen, round 1/2")
    assert len(trials(search, "gen")) == 2


def test_a_discriminator_joins_stage_disc_and_stage_gen_closes_with_g_star(search: list[str]) -> None:
    assert "enqueued: trial 0 of s:disc, round 1/1" in ok("study", "enqueue", "s", "--stage", "disc", "--arch", EAGAN_D,
                                                          *search)
    ok("run", "s", *search)
    (first, *_) = [t for t in trials(search, "disc") if t.user_attrs[keys.GENERATION] == 0]
    assert first.user_attrs[keys.ROLE] == keys.ROLE_ENQUEUED and first.state.name == "COMPLETE"
    assert Genotype.from_params("disc", first.params) == Genotype.from_json(json.loads(EAGAN_D), "disc")
    one_line_error(invoke("study", "enqueue", "s", "--arch", EAGAN_G, *search),
                   "stage gen of 's' is over: stage disc runs with G* = trial ")
    one_line_error(invoke("study", "enqueue", "s", "--stage", "disc", "--arch", EAGAN_D, *search),
                   "optgan study extend s --disc-rounds N")
    assert "stage disc: 1 -> 2 rounds" in ok("study", "extend", "s", "--disc-rounds", "2", *search)
    assert "round 2/2" in ok("study", "enqueue", "s", "--stage", "disc", "--arch", EAGAN_D, *search)


def test_bad_architectures_are_one_line_errors_and_write_nothing(search: list[str], tmp_path: pathlib.Path) -> None:
    one_line_error(invoke("study", "enqueue", "s", "--arch", EAGAN_G, "--arch", "[[1,2]]", *search), "--arch")
    one_line_error(invoke("study", "enqueue", "s", "--stage", "disc", "--arch", EAGAN_G, *search),
                   "op 'none' is not allowed on this edge")  # a generator is no discriminator
    one_line_error(invoke("study", "enqueue", "s", "--arch", str(tmp_path / "missing.json"), *search),
                   "neither JSON nor an existing file")
    one_line_error(invoke("study", "enqueue", "nope", "--arch", EAGAN_G, *search), "nope")
    assert trials(search, "gen") == [] and trials(search, "disc") == []


def test_the_library_refuses_a_genotype_of_the_other_network_and_writes_nothing(search: list[str]) -> None:
    from optgan.errors import OptganError
    from optgan.study.enqueue import enqueue_architectures
    from optgan.study.search import load_search

    s = load_search("s", search[1])
    gen, disc = Genotype.from_json(json.loads(EAGAN_G), "gen"), Genotype.from_json(json.loads(EAGAN_D), "disc")
    with pytest.raises(OptganError, match="D.json is a disc genotype; stage gen searches gen genotypes"):
        enqueue_architectures(s, "gen", [(gen, "G.json"), (disc, "D.json")])  # the CLI refuses it earlier
    assert trials(search, "gen") == []


def test_refused_while_a_run_holds_the_search(search: list[str]) -> None:
    from optgan.study.lease import hold_lease
    from optgan.study.storage import open_storage

    with hold_lease(open_storage(search[1]).engine, "s"):
        refused = one_line_error(invoke("study", "enqueue", "s", "--arch", EAGAN_G, *search), "is being run by PID")
        assert "--force-unlock" not in refused
    assert trials(search, "gen") == []


def test_an_exported_file_is_taken_with_its_path_and_caps_are_only_a_warning(
        tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.chdir(tmp_path)
    flags = ["--storage", f"sqlite:///{tmp_path / 'db.sqlite'}"]
    ok("study", "create", "s", "--config", DRY, *SMALL, *flags)
    ok("study", "create", "small", "--config", DRY, *SMALL, "--set", "widths.gf_dim=64", "--set", "caps.gen={}", *flags)
    ok("run", "small", "--stage", "gen", "--max-rounds", "1", *flags)
    ok("export", "small", "--stage", "gen", "-o", "g.json", *flags)
    (tmp_path / "tiny.json").write_text(TINY_G)
    out = ok("study", "enqueue", "s", "--arch", "g.json", "--arch", "tiny.json", *flags)
    assert "was searched at other widths than it is used at here (gf_dim 64 → 256)" in caplog.text
    assert f"{tmp_path / 'tiny.json'} is outside the search's gen caps" in caplog.text
    assert "it joins the population anyway" in caplog.text and out.count("enqueued: trial ") == 2
    sources = [t.user_attrs[keys.ENQUEUED_FROM] for t in trials(flags, "gen")]
    assert sources == [str(tmp_path / "g.json"), str(tmp_path / "tiny.json")]
    assert "params_M = 5.57159 is below the limit 6.5" in caplog.text


def _four_generators() -> list[list[list[int]]]:
    """Four distinct valid generators: EAGAN's with its last edge's op changed."""
    base = json.loads(EAGAN_G)
    return [[*base[:2], [*base[2][:6], op]] for op in (1, 2, 4, 5)]


@settings(max_examples=300, deadline=None)
@given(population=st.integers(1, 40), asked=st.integers(0, 40), waiting=st.integers(0, 200))
def test_waiting_trials_fill_the_next_round_then_one_round_each_population(population: int, asked: int,
                                                                         waiting: int) -> None:
    """First in, first out: the free slots of the round being asked, then P per round."""
    from optgan.study.enqueue import _round_at

    asked %= population  # slots of the round being asked already taken
    free = population - asked
    rounds = [_round_at(i, 3, free, population) for i in range(waiting)]
    assert rounds == sorted(rounds) and all(r >= 3 for r in rounds)
    assert rounds.count(3) == min(waiting, free)
    for r in set(rounds) - {3, max(rounds, default=3)}:
        assert rounds.count(r) == population
