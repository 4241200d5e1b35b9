"""`optgan study create / run / status / best / export` end to end on the synthetic evaluation,
on SQLite and PostgreSQL, including stopping after k rounds and resuming at k+1."""

from __future__ import annotations

import json
import pathlib

import pytest
from click.testing import CliRunner

from optgan_cli.main import main

ROOT = pathlib.Path(__file__).resolve().parents[2]
DRY = str(ROOT / "studies" / "dry-run.yaml")
SMALL = ["--set", "sampler.population_size=8", "--set", "gen_stage.rounds=3", "--set", "disc_stage.rounds=2",
         "--set", "pictures.sample_grid=false", "--set", "pictures.architecture=false", "--set", "pictures.rounds=false"]


def cli(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def ok(*args: str):
    r = cli(*args)
    assert r.exit_code == 0, (r.stdout, r.stderr)
    return r


def test_create_run_resume_inspect_export(storage_url: str, unique_name: str, tmp_path) -> None:
    s = ["--storage", storage_url]
    r = ok("study", "create", unique_name, "--config", DRY, *SMALL, "--run-dir", str(tmp_path / "run"), *s)
    assert "population_size: 8" in r.stdout and f"optgan run {unique_name}" in r.stdout
    assert unique_name in ok("study", "list", *s).stdout

    r = ok("run", unique_name, "--stage", "gen", "--max-rounds", "2", *s)
    assert "stage gen: 2/3 rounds, paused (resumable)" in r.stdout
    st = json.loads(ok("status", unique_name, "--json", *s).stdout)
    assert st["stages"][0]["rounds_done"] == 2 and len(st["stages"][0]["rounds"]) == 2
    g0 = st["stages"][0]  # the pace of the timed rounds and what is left at that pace
    assert g0["seconds_per_round"] > 0 and g0["eta_seconds"] == pytest.approx(g0["seconds_per_round"], abs=0.1)
    assert st["stages"][1]["seconds_per_round"] is None and st["stages"][1]["eta_seconds"] is None
    assert "s/round, about " in ok("status", unique_name, *s).stdout

    r = ok("run", unique_name, *s)  # continues at round 3, then runs stage disc
    assert "stage gen: 3/3 rounds, finished" in r.stdout and "stage disc: 2/2 rounds, finished" in r.stdout
    assert "dashboard" in r.stdout
    st = json.loads(ok("status", unique_name, "--json", *s).stdout)
    gen, disc = st["stages"]
    assert [x["generation"] for x in gen["rounds"]] == [0, 1, 2] and all(x["complete"] == 8 for x in gen["rounds"])
    assert disc["rounds_done"] == 2 and gen["pareto"]
    for r in gen["rounds"] + disc["rounds"]:  # every round's phases were timed and stored
        assert set(r["seconds"]) == {"ask", "train", "evaluate", "tell", "pictures", "checkpoint", "total"}
        assert r["seconds"]["total"] == pytest.approx(sum(v for k, v in r["seconds"].items() if k != "total"), abs=1e-3)
    assert " s\n" in ok("status", unique_name, *s).stdout  # the text view shows each round's seconds
    assert gen["eta_seconds"] == 0 and disc["eta_seconds"] == 0

    best = json.loads(ok("best", unique_name, "--stage", "gen", "--json", *s).stdout)
    assert best["chosen"] in [p["trial"] for p in best["pareto"]]
    out = tmp_path / "g.json"
    ok("export", unique_name, "--stage", "gen", "-o", str(out), *s)
    doc = json.loads(out.read_text())
    assert doc["net"] == "gen" and doc["source"]["trial"] == best["chosen"]
    info = json.loads(ok("arch", "info", "--net", "gen", "--genotype", str(out), "--json").stdout)
    assert info["params_M"] == pytest.approx(doc["source"]["params_M"], abs=1e-6)
    # every gen proposal met the SCGAN caps of the preset
    assert all(p["params_M"] >= 6.5 for p in gen["pareto"])

    r = ok("run", unique_name, *s)  # nothing left to do
    assert "stage gen: 3/3 rounds, finished" in r.stdout


def test_disc_stage_uses_override_and_refuses_before_gen(storage_url: str, unique_name: str, tmp_path) -> None:
    s = ["--storage", storage_url]
    ok("study", "create", unique_name, "--config", DRY, *SMALL, "--run-dir", str(tmp_path / "run"), *s)
    r = cli("run", unique_name, "--stage", "disc", *s)
    assert r.exit_code == 2 and "no completed trial yet" in r.stderr
    g = tmp_path / "g.json"
    g.write_text("[[1,1,1,0,2,3,1],[1,1,0,1,3,0,5],[0,1,0,3,0,0,3]]")
    r = ok("run", unique_name, "--stage", "disc", "--gen-arch", str(g), "--max-rounds", "1", *s)
    assert "stage disc: 1/2 rounds" in r.stdout


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["run", "nosuch"], "no search named 'nosuch'"),
        (["status", "nosuch"], "no search named 'nosuch'"),
        (["study", "create", "x", "--config", "missing.yaml"], "config file not found"),
        (["study", "create", "x", "--config", DRY, "--set", "sampler.population_size=1"], "`sampler.population_size` = 1 is out of range"),
        (["study", "create", "x", "--config", DRY, "--set", "sampler.populaton_size=4"], "unknown key `sampler.populaton_size`"),
        (["study", "create", "x", "--config", DRY, "--set", "caps.gen.params_M=[100, 200]"], "no new architecture within the caps"),
        (["study", "list", "--storage", "nosuchdb://x"], "not supported"),
        (["study", "list", "--storage", "postgresql://u:secretpw@127.0.0.1:1/db"], "cannot open storage"),
    ],
)
def test_bad_input_one_line_exit_2(args: list[str], needle: str, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    if "--storage" not in args:
        args = [*args, "--storage", f"sqlite:///{tmp_path / 'db.sqlite'}"]
    if args[:1] in (["run"], ["status"]):
        ok("study", "create", "exists", "--config", DRY, "--storage", args[-1])
    r = cli(*args)
    assert r.exit_code == 2, (r.stdout, r.stderr)
    assert needle in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert "secretpw" not in r.stderr


def test_existing_name_and_bad_gen_arch(tmp_path) -> None:
    s = ["--storage", f"sqlite:///{tmp_path / 'db.sqlite'}"]
    ok("study", "create", "a", "--config", DRY, *SMALL, *s)
    r = cli("study", "create", "a", "--config", DRY, *s)
    assert r.exit_code == 2 and "already exists" in r.stderr
    bad = tmp_path / "bad.json"
    bad.write_text("[[9,9,9,9,9,9,9]]")
    r = cli("run", "a", "--stage", "disc", "--gen-arch", str(bad), *s)
    assert r.exit_code == 2 and "gen genotype must have 3 cells" in r.stderr
    r = cli("study", "create", "b", "--config", DRY, "--dry-run", *s)
    assert r.exit_code == 0 and "b" not in cli("study", "list", "--json", *s).stdout
