"""`optgan study create / run / status / best / export` end to end on the synthetic evaluation,
on SQLite and PostgreSQL, including stopping after k rounds and resuming at k+1."""

from __future__ import annotations

import json
import os
import pathlib
import sqlite3

import click
import numpy as np
import pytest
from click.testing import CliRunner

from optgan_cli.main import main

ROOT = pathlib.Path(__file__).resolve().parents[2]
DRY = str(ROOT / "studies" / "dry-run.yaml")
QUICK = str(ROOT / "studies" / "quickstart.yaml")
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
    r = ok("study", "create", unique_name, "--config", DRY, *SMALL, "--set", f"run_dir={tmp_path / 'run'}", *s)
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
    assert f"optgan export {unique_name} --stage disc -o {unique_name}-d.json --storage " in r.stdout  # both stages ran
    train = next(line for line in r.stdout.splitlines() if line.startswith("train:"))
    assert train.startswith(f"train:     optgan train --gen-arch {unique_name}-g.json --disc-arch {unique_name}-d.json --config ")
    assert train.endswith(f" --out runs/{unique_name}   (a dry run: its scores are synthetic, its winners untrained guesses)")
    assert "chosen: trial" in r.stdout and "IS_synthetic=" in r.stdout and " IS=" not in r.stdout
    preset = train.split(" --config ")[1].split()[0]  # relative below the working folder, else absolute
    assert preset.endswith("studies/train-cifar10.yaml") and os.path.isfile(preset)
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
    # the last round's front: round 3 as `status` prints it, generation 2 as `status --json` has it
    assert {(p["round"], p["generation"]) for p in best["pareto"]} == {(3, 2)}
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

    # `study show`: the stored config as a reusable YAML file, headed by where the search lives and G*
    shown = ok("study", "show", unique_name, *s).stdout
    assert shown.startswith(f"# search {unique_name} in ") and f"# run directory: {tmp_path / 'run'}" in shown
    disc_star = json.loads(ok("study", "show", unique_name, "--json", *s).stdout)["gen_star"]
    assert f"# G* (trial {best['chosen']} of {unique_name}:gen): {json.dumps(disc_star['array'])}" in shown
    assert "\nrun_dir: null\n" in shown + "\n"  # reusable: the sibling gets its own run directory
    (tmp_path / "again.yaml").write_text(shown)
    ok("study", "create", f"{unique_name}-2", "--config", str(tmp_path / "again.yaml"), "--set", "seed=7",
       "--run-dir", str(tmp_path / "run-2"), *s)
    again = json.loads(ok("study", "show", f"{unique_name}-2", "--json", *s).stdout)
    first = json.loads(ok("study", "show", unique_name, "--json", *s).stdout)
    assert again["config"] == first["config"] | {"seed": 7, "run_dir": str(tmp_path / "run-2")}  # --run-dir = --set run_dir=
    assert again["gen_star"] is None
    assert first["config"]["run_dir"] == str(tmp_path / "run")


def test_disc_stage_uses_override_and_refuses_before_gen(storage_url: str, unique_name: str, tmp_path) -> None:
    s = ["--storage", storage_url]
    ok("study", "create", unique_name, "--config", DRY, *SMALL, "--run-dir", str(tmp_path / "run"), *s)
    r = cli("run", unique_name, "--stage", "disc", *s)
    assert r.exit_code == 2 and "stage gen has 0/3 rounds; finish it first" in r.stderr
    g = tmp_path / "g.json"
    g.write_text("[[1,1,1,0,2,3,1],[1,1,0,1,3,0,5],[0,1,0,3,0,0,3]]")
    r = ok("run", unique_name, "--stage", "disc", "--gen-arch", str(g), "--max-rounds", "1", *s)
    assert "stage disc: 1/2 rounds" in r.stdout
    # the G* stage disc runs with is what the summary, `best` and `export` show for stage gen
    assert f"[gen] G* of stage disc (user override (--gen-arch {g})): " in r.stdout
    assert f"optgan export {unique_name} --stage gen -o {unique_name}-g.json" in r.stdout
    best = json.loads(ok("best", unique_name, "--stage", "gen", "--json", *s).stdout)
    assert best["chosen"] is None and best["gen_star"]["trial"] is None
    assert best["gen_star"]["genotype"]["array"] == json.loads(g.read_text())
    ok("export", unique_name, "--stage", "gen", "-o", str(tmp_path / "best_g.json"), *s)
    assert json.loads((tmp_path / "best_g.json").read_text())["array"] == json.loads(g.read_text())


def test_gen_star_from_gen_trial_is_shown_as_chosen(tmp_path) -> None:
    s = ["--storage", f"sqlite:///{tmp_path / 'g.db'}"]
    ok("study", "create", "a", "--config", DRY, *SMALL, "--run-dir", str(tmp_path / "run"), *s)
    ok("run", "a", "--stage", "gen", *s)
    rule = json.loads(ok("best", "a", "--stage", "gen", "--json", *s).stdout)["chosen"]
    other = next(n for n in range(4) if n != rule)  # a round-1 trial: not the rule's choice
    r = ok("run", "a", "--stage", "disc", "--gen-trial", str(other), *s)
    assert f"[gen] chosen: trial {other} (" in r.stdout
    best = json.loads(ok("best", "a", "--stage", "gen", "--json", *s).stdout)
    assert best["chosen"] == other and best["gen_star"]["source"] == f"trial {other} of a:gen (--gen-trial)"
    assert f"G* of stage disc (trial {other} of a:gen (--gen-trial)), not on this front:" in \
        ok("best", "a", "--stage", "gen", *s).stdout
    ok("export", "a", "--stage", "gen", "-o", str(tmp_path / "g.json"), *s)
    assert json.loads((tmp_path / "g.json").read_text())["source"]["trial"] == other
    assert json.loads(ok("best", "a", "--json", *s).stdout)["stage"] == "gen"  # --stage gen is the default
    ok("export", "a", "--stage", "gen", "--trial", str(rule), "-o", str(tmp_path / "asked.json"), *s)
    asked = json.loads((tmp_path / "asked.json").read_text())
    assert asked["source"]["trial"] == rule  # --trial wins over G*
    assert asked["widths"] == json.loads(ok("study", "show", "a", "--json", *s).stdout)["config"]["widths"]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["run", "nosuch"], "no search named 'nosuch'"),
        (["status", "nosuch"], "no search named 'nosuch'"),
        (["study", "create", "x", "--config", "missing.yaml"], "config file not found"),
        (["study", "create", "x", "--config", DRY, "--set", "sampler.population_size=1"], "`sampler.population_size` = 1 is out of range"),
        (["study", "create", "x", "--config", DRY, "--set", "sampler.populaton_size=4"], "unknown key `sampler.populaton_size`"),
        (["study", "create", "x", "--config", DRY, "--set", "caps.gen.params_M=[100, 200]"], "no new architecture within the caps"),
        (["study", "create", "x", "--config", QUICK, "--set", "metrics.extractor=inception",
          "--inception-weights", "missing-w.pth"], "missing-w.pth' does not exist; give the path of weights-inception"),
        (["study", "create", "x", "--config", QUICK, "--set", "data.max_images=100", "--set", "metrics.num_images=300",
          "--set", "metrics.metrics=[IS, FID, KID]", "--set", "metrics.kid_subset_size=200"],
         "`metrics.kid_subset_size` = 200 exceeds the 100 reference images"),  # found before the run trains
        (["study", "create", "x", "--config", QUICK, "--set", "data.max_images=20"],
         "`gen_stage.batch_size_d` = 32 must be between 1 and the number of images (20)"),
        (["study", "create", "x", "--config", QUICK, "--set", "data={name: npz, path: unlabelled.npz}"],
         "the classifier extractor needs labelled training images, but npz:unlabelled has no labels"),
        (["study", "create", "x", "--config", DRY, "--dry-run", "--run-dir", "unlabelled.npz"],
         "unlabelled.npz is a file; pass --run-dir with another folder"),  # a dry run checks the run directory
        (["study", "create", "x", "--config", DRY, "--set", "gen_stage.discriminator=autogan"],
         "`gen_stage.discriminator` must be 'simple' or a D genotype (JSON, or a JSON file): "),
        (["study", "create", "x", "--config", DRY, "--set", "caps.gen.params_M=[null, 0.001]"],
         "(caps: params_M in [open, 0.001], "),
        (["study", "create", "x", "--config", DRY, "--set", "caps.gen.params_M=[15, 6.5]"],
         "`caps.gen.params_M` = [15.0, 6.5]: low bound exceeds high bound"),
        (["study", "create", "x", "--config", DRY, "--set", "sampler.mutation_prob=.nan"],
         "`sampler.mutation_prob` must be a finite number, got nan"),
        (["study", "create", "x", "--config", DRY, "--set", "seed=-1"], "`seed` = -1 is out of range"),
        (["study", "create", "x", "--config", DRY, "--set", "caps.gen={params_M: [6.6, 6.75]}", "--set",
          "sampler.population_size=64"], "(architecture 2 of a first generation of 64) after 2000 draws"),
        (["study", "create", "../evil", "--config", DRY], "search name '../evil' must be 1-100 letters"),
        (["study", "create", "/abs", "--config", DRY], "search name '/abs' must be"),
        (["study", "list", "--storage", "postgresql://u:pw@h:notaport/db"], "is not a database URL"),
        (["run", "exists", "--stage", "gen", "--gen-trial", "1"], "they do nothing with --stage gen"),
        (["study", "list", "--storage", "nosuchdb://x"], "not supported"),
        (["study", "create", "x", "--config", DRY, "--storage", "sqlite:///x.db?mode=ro"],
         "SQLite URLs take no options (mode); give sqlite:///FILE"),
        (["study", "list", "--storage", "postgresql://u:secretpw@127.0.0.1:1/db"], "cannot open storage"),
        (["study", "create", "x", "--config", DRY, "--dry-run", "--storage", "postgresql://u:secretpw@127.0.0.1:1/db"],
         "cannot open storage postgresql://u:***@127.0.0.1:1/db: connection"),
    ],
)
def test_bad_input_one_line_exit_2(args: list[str], needle: str, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    np.savez(tmp_path / "unlabelled.npz", images=np.zeros((40, 16, 16, 3), np.uint8))
    if "--storage" not in args:
        args = [*args, "--storage", f"sqlite:///{tmp_path / 'db.sqlite'}"]
    if args[:1] in (["run"], ["status"]):
        ok("study", "create", "exists", "--config", DRY, "--storage", args[-1])
    r = cli(*args)
    assert r.exit_code == 2, (r.stdout, r.stderr)
    assert needle in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert "secretpw" not in r.stderr


def test_create_checks_name_and_storage_before_loading_the_data(tmp_path) -> None:
    """The cheap checks come first: a taken name or a wrong storage URL is refused at once, even
    when the data set (here: missing) would take its time to load, or fail itself."""
    s = ["--storage", f"sqlite:///{tmp_path / 'db.sqlite'}"]
    ok("study", "create", "a", "--config", DRY, *SMALL, *s)
    missing = ["--set", "data.name=cifar10", "--set", f"data.root={tmp_path / 'no-data'}"]
    r = cli("study", "create", "b", "--config", QUICK, *missing, *s)
    assert r.exit_code == 2 and "CIFAR-10 not found" in r.stderr  # the data set is checked (after the storage)
    r = cli("study", "create", "a", "--config", QUICK, *missing, *s)
    assert r.exit_code == 2 and "already exists" in r.stderr, r.stderr
    r = cli("study", "create", "c", "--config", QUICK, *missing, "--storage", "mysql://x")
    assert r.exit_code == 2 and "storage back end 'mysql'" in r.stderr, r.stderr
    assert not (tmp_path / "no-data").exists()


def test_existing_name_and_bad_gen_arch(tmp_path) -> None:
    s = ["--storage", f"sqlite:///{tmp_path / 'db.sqlite'}"]
    ok("study", "create", "a", "--config", DRY, *SMALL, *s)
    r = cli("study", "create", "a", "--config", DRY, *s)
    assert r.exit_code == 2 and "already exists" in r.stderr and r.stdout == ""  # no config printed above the error
    r = cli("study", "create", "../a", "--config", DRY, "--dry-run", *s)  # a dry run checks the name too
    assert r.exit_code == 2 and "search name '../a' must be" in r.stderr and r.stdout == ""
    bad = tmp_path / "bad.json"
    bad.write_text("[[9,9,9,9,9,9,9]]")
    r = cli("run", "a", "--stage", "disc", "--gen-arch", str(bad), *s)
    assert r.exit_code == 2 and f"--gen-arch file {bad}: gen genotype must have 3 cells" in r.stderr
    disc = tmp_path / "d.json"  # an architecture of the other net names the flag and the file
    disc.write_text(json.dumps({"net": "disc", "array": [[3, 0, 3, 0, 2, 0, 0], [1, 0, 3, 0, 1, -1, -1], [3, 0, 3, 0, 1, -1, -1]]}))
    r = cli("run", "a", "--stage", "disc", "--gen-arch", str(disc), *s)
    assert r.exit_code == 2 and f"--gen-arch file {disc}: expected a gen genotype, the JSON describes a disc one" in r.stderr
    r = cli("study", "create", "b", "--config", DRY, "--dry-run", *s)
    assert r.exit_code == 0 and "b" not in cli("study", "list", "--json", *s).stdout
    # a dry run refuses what the real command would, with the same line, and creates nothing
    _one_line(cli("study", "create", "a", "--config", DRY, "--dry-run", *s), "a search named 'a' already exists")
    missing = f"sqlite:///{tmp_path / 'no-such-folder' / 'x.db'}"
    for dry in ([], ["--dry-run"]):
        _one_line(cli("study", "create", "c", "--config", DRY, *dry, "--storage", missing),
                  f"folder {tmp_path / 'no-such-folder'} does not exist")
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE notes (x)")
    _one_line(cli("study", "create", "c", "--config", DRY, "--dry-run", "--storage", f"sqlite:///{other}"),
              "is an SQLite database of something else")
    new = tmp_path / "new.sqlite"
    ok("study", "create", "c", "--config", DRY, "--dry-run", "--storage", f"sqlite:///{new}")
    assert not new.exists()
    import optuna

    plain = tmp_path / "plain.sqlite"  # an Optuna database of someone else's, in rollback-journal mode
    optuna.create_study(study_name="theirs", storage=f"sqlite:///{plain}")
    with sqlite3.connect(plain) as conn:
        conn.execute("PRAGMA journal_mode=DELETE")
    before = plain.read_bytes()
    ok("study", "create", "c", "--config", DRY, "--dry-run", "--storage", f"sqlite:///{plain}")
    assert plain.read_bytes() == before  # not even switched to WAL
    with sqlite3.connect(plain) as conn:  # tables of an older Optuna: refused as create refuses them
        conn.execute("UPDATE alembic_version SET version_num = 'v3.0.0.d'")
    for dry in ([], ["--dry-run"]):
        r = cli("study", "create", "c", "--config", DRY, *dry, "--storage", f"sqlite:///{plain}")
        assert r.exit_code == 2 and "cannot open storage" in r.stderr and "optuna storage upgrade --storage" in r.stderr


def _one_line(r, needle: str) -> str:
    assert r.exit_code == 2, (r.stdout, r.stderr)
    assert needle in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    return r.stderr


def test_bad_run_dirs_and_storages_create_nothing(tmp_path) -> None:
    db = tmp_path / "db.sqlite"
    s = ["--storage", f"sqlite:///{db}"]
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    _one_line(cli("study", "create", "a", "--config", DRY, "--run-dir", str(a_file), *s), "is a file")
    _one_line(cli("study", "create", "a", "--config", DRY, "--run-dir", str(a_file / "sub"), *s),
              f"run directory {a_file / 'sub'} cannot be created (a file is in the way: {a_file})")
    assert not db.exists()  # the run directory is judged before a new database file is made
    _one_line(cli("study", "create", "a", "--config", QUICK, "--set", f"metrics.cache_dir={a_file / 'c'}", *s),
              f"metrics cache folder {a_file / 'c'} cannot be created (a file is in the way")
    assert not db.exists()  # so no half-made search either
    mistyped = f"sqlite://{tmp_path}/x.db"  # three slashes before an absolute path: a relative one
    monkeypatch_cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        _one_line(cli("study", "create", "a", "--config", DRY, "--storage", mistyped),
                  f"folder {str(tmp_path)[1:]} does not exist (relative to this folder; an absolute path takes "
                  f"four slashes: sqlite:///{tmp_path}/x.db)")
    finally:
        os.chdir(monkeypatch_cwd)
    if pathlib.Path("/proc/self").is_dir():  # a folder even root cannot create in (os.access says yes)
        _one_line(cli("study", "create", "a", "--config", DRY, "--run-dir", "/proc/optgan-test/run", *s),
                  "run directory /proc/optgan-test/run cannot be created")
        assert not db.exists()
    # a deleted search's run directory is not silently resumed by a new search of that name
    ok("study", "create", "a", "--config", DRY, *SMALL, "--run-dir", str(tmp_path / "run"), *s)
    ok("run", "a", "--max-rounds", "1", *s)
    ok("study", "delete", "a", "--yes", *s)
    _one_line(cli("study", "create", "a", "--config", DRY, "--run-dir", str(tmp_path / "run"), *s),
              "already holds files")
    # storages that cannot hold a search
    _one_line(cli("study", "create", "b", "--config", DRY, "--storage", "sqlite://"), "in-memory SQLite")
    _one_line(cli("study", "list", "--storage", f"sqlite:///{tmp_path}"), "is a folder, not a database file")
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE expenses (amount REAL)")
    for args in (["study", "list"], ["study", "create", "c", "--config", DRY]):
        _one_line(cli(*args, "--storage", f"sqlite:///{other}"), "an SQLite database of something else (tables: expenses)")
    with sqlite3.connect(other) as conn:  # untouched: no Optuna tables, no WAL mode
        assert [r[0] for r in conn.execute("SELECT name FROM sqlite_master")] == ["expenses"]
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"


def test_config_files_that_are_not_text_or_repeat_a_key(tmp_path) -> None:
    binary = tmp_path / "b.yaml"
    binary.write_bytes(b"seed: 1\n# caf\xe9\n")
    _one_line(cli("study", "create", "x", "--config", str(binary), "--dry-run"), "is not UTF-8 text")
    twice = tmp_path / "t.yaml"
    twice.write_text("seed: 1\nsampler: {population_size: 8}\nseed: 2\n")
    _one_line(cli("study", "create", "x", "--config", str(twice), "--dry-run"), "(line 3, column 1): key 'seed' is given twice")


def test_os_errors_are_one_line(tmp_path) -> None:
    s = ["--storage", f"sqlite:///{tmp_path / 'db.sqlite'}"]
    ok("study", "create", "a", "--config", DRY, *SMALL, "--run-dir", str(tmp_path / "run"), *s)
    ok("run", "a", "--stage", "gen", "--max-rounds", "1", *s)
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    _one_line(cli("export", "a", "--stage", "gen", "-o", str(a_file / "g.json"), *s),
              f"Not a directory (a file is in the way): {a_file / 'g.json'}")
    _one_line(cli("report", "a", "-o", str(a_file / "rep"), *s), f"Not a directory: {a_file}")


def test_a_database_older_than_the_checkpoint_is_refused(tmp_path, caplog) -> None:
    db = tmp_path / "db.sqlite"
    s = ["--storage", f"sqlite:///{db}"]
    ok("study", "create", "a", "--config", DRY, *SMALL, "--run-dir", str(tmp_path / "run"), *s)
    ok("run", "a", "--max-rounds", "1", *s)
    backup = tmp_path / "backup.sqlite"
    with sqlite3.connect(db) as src, sqlite3.connect(backup) as dst:
        src.backup(dst)
    ok("run", "a", "--max-rounds", "1", *s)
    with sqlite3.connect(backup) as src, sqlite3.connect(db) as dst:  # "restore" the older database
        src.backup(dst)
    refusal = _one_line(cli("run", "a", *s), "the checkpoint holds 2 rounds but round 2 is not complete")
    assert f"move the stage's checkpoint {tmp_path / 'run' / 'gen' / 'synthetic.json'} away" in refusal
    st = json.loads(ok("status", "a", "--json", *s).stdout)
    assert [r["complete"] for r in st["stages"][0]["rounds"]] == [8]  # nothing asked, nothing left RUNNING
    # a run directory that lost its checkpoint is rebuilt by retraining, with a warning
    (tmp_path / "run" / "gen" / "synthetic.json").unlink()
    ok("run", "a", "--max-rounds", "1", *s)
    assert "no checkpoint, but the study holds 1 completed rounds" in caplog.text


def test_real_disc_stage_before_gen_stores_nothing(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    s = ["--storage", f"sqlite:///{tmp_path / 'db.sqlite'}"]
    ok("study", "create", "q", "--config", QUICK, "--run-dir", str(tmp_path / "run"), *s)
    g = tmp_path / "g.json"
    g.write_text("[[1,1,1,0,2,3,1],[1,1,0,1,3,0,5],[0,1,0,3,0,0,3]]")
    _one_line(cli("run", "q", "--stage", "disc", "--gen-arch", str(g), *s), "needs stage gen's trained supernet")
    from optgan import keys
    from optgan.study.search import load_search

    disc = load_search("q", f"sqlite:///{tmp_path / 'db.sqlite'}").study("disc")
    assert keys.GEN_STAR not in disc.user_attrs
    assert [p.name for p in (tmp_path / "run").iterdir()] == ["search.json"]
    # a stage that fails to start (here: its data set is gone) leaves no empty stage folder either
    import numpy as np

    np.savez(tmp_path / "d.npz", images=np.zeros((40, 16, 16, 3), np.uint8), labels=np.arange(40) % 2)
    ok("study", "create", "n", "--config", QUICK, "--set", f"data={{name: npz, path: {tmp_path / 'd.npz'}}}",
       "--run-dir", str(tmp_path / "run-n"), *s)
    _one_line(cli("run", "n", "--set", f"data.path={tmp_path / 'gone.npz'}", *s), "npz data set not found")
    assert [p.name for p in (tmp_path / "run-n").iterdir()] == ["search.json"]


def test_declining_delete_keeps_the_search(tmp_path, monkeypatch) -> None:
    s = ["--storage", f"sqlite:///{tmp_path / 'db.sqlite'}"]
    ok("study", "create", "a", "--config", DRY, "--run-dir", str(tmp_path / "run"), *s)
    r = CliRunner().invoke(main, ["study", "delete", "a", *s], input="n\n")
    assert r.exit_code == 0 and "nothing deleted" in r.stdout
    # no answer at all (a script without --yes): nothing deleted, one line, not the Ctrl-C message
    _one_line(CliRunner().invoke(main, ["study", "delete", "a", *s], input=""),
              "nothing deleted: the question got no answer (pass --yes to delete without asking)")

    def ctrl_c(*_: object, **__: object) -> bool:  # what click.confirm does on Ctrl-C
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            raise click.Abort() from None

    monkeypatch.setattr(click, "confirm", ctrl_c)
    r = CliRunner().invoke(main, ["study", "delete", "a", *s])  # Ctrl-C at the question: stopped as everywhere
    assert r.exit_code == 130 and r.stderr == "error: stopped\n"  # nothing to resume: delete did nothing
    assert [row["name"] for row in json.loads(ok("study", "list", "--json", *s).stdout)] == ["a"]
    import time

    from optgan.study.search import load_search

    ok("run", "a", "--max-rounds", "1", *s)  # `started`: the first trial of the search, whatever stage ran last
    time.sleep(1.1)
    ok("run", "a", "--stage", "disc", "--gen-trial", "0", "--max-rounds", "1", *s)
    gen, disc = (load_search("a", s[1]).study(stage) for stage in ("gen", "disc"))
    started = json.loads(ok("study", "list", "--json", *s).stdout)[0]["started"]
    assert started == gen.trials[0].datetime_start.isoformat(timespec="seconds") < disc.trials[0].datetime_start.isoformat()


def test_dashboard_on_a_busy_port_is_one_line(tmp_path) -> None:
    import socket

    s = ["--storage", f"sqlite:///{tmp_path / 'db.sqlite'}"]
    ok("study", "create", "a", "--config", DRY, "--run-dir", str(tmp_path / "run"), *s)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        r = cli("dashboard", "--port", str(port), *s)
    _one_line(r, f"cannot serve the dashboard on 127.0.0.1:{port}")
    assert r.stdout == ""


def test_a_run_directory_serves_one_search(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # two databases in one folder, a search of the same name in each
    ok("study", "create", "q", "--config", DRY, *SMALL, "--storage", "sqlite:///qa.db")
    _one_line(cli("study", "create", "q", "--config", DRY, *SMALL, "--storage", "sqlite:///qb.db"),
              "already holds files")
    owner = tmp_path / "optgan-runs" / "q" / "search.json"
    assert json.loads(owner.read_text())["search"] == "q"
    other = json.loads(owner.read_text()) | {"id": "someone-else", "database": str(tmp_path / "qb.db")}
    owner.write_text(json.dumps(other))  # as if another search had claimed the folder
    _one_line(cli("run", "q", "--storage", "sqlite:///qa.db"),  # the two files by their full paths
              f"belongs to search 'q' of {tmp_path / 'qb.db'}, not to 'q' of {tmp_path / 'qa.db'}")


def test_run_finds_a_moved_run_directory_only_if_it_is_this_searchs(tmp_path) -> None:
    s = ["--storage", f"sqlite:///{tmp_path / 'db.sqlite'}"]
    ok("study", "create", "a", "--config", DRY, *SMALL, "--run-dir", str(tmp_path / "run"), *s)
    ok("study", "create", "b", "--config", DRY, *SMALL, "--run-dir", str(tmp_path / "run-b"), *s)
    ok("run", "a", "--max-rounds", "1", *s)
    _one_line(cli("run", "a", "--run-dir", str(tmp_path / "typo" / "mnt"), *s), "is intact: a new folder only replaces")
    assert not (tmp_path / "typo").exists()  # a mistyped --run-dir never starts a second, retrained copy
    (tmp_path / "run").rename(tmp_path / "mnt")  # another host mounts it elsewhere
    _one_line(cli("run", "a", *s), f"run directory {tmp_path / 'run'} of search 'a' is missing; if it is elsewhere")
    assert not (tmp_path / "run").exists()  # never silently retrained from scratch
    r = ok("run", "a", "--max-rounds", "1", "--run-dir", str(tmp_path / "mnt"), *s)
    assert "stage gen: 2/3 rounds" in r.stdout  # resumed from the moved checkpoint state
    assert json.loads((tmp_path / "mnt" / "gen" / "synthetic.json").read_text())["rounds_done"] == 2
    assert not (tmp_path / "run").exists()
    # the stored one was missing: the study now stores the folder, later commands need no --run-dir
    assert json.loads(ok("study", "show", "a", "--json", *s).stdout)["run_dir"] == str(tmp_path / "mnt")
    assert "stage gen: 3/3 rounds" in ok("run", "a", "--stage", "gen", *s).stdout
    _one_line(cli("run", "a", "--run-dir", str(tmp_path / "run-b"), *s), "belongs to search 'b'")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("x")
    _one_line(cli("run", "a", "--run-dir", str(tmp_path / "other"), *s), "is not a run directory of 'a'")
    (tmp_path / "mnt").rename(tmp_path / "lost")
    # the stored one is missing now, yet a mistyped folder is still refused, and not created
    _one_line(cli("run", "a", "--run-dir", str(tmp_path / "mtn"), *s), f"{tmp_path / 'mtn'} does not exist; give")
    assert not (tmp_path / "mtn").exists()
    # a lost run directory: a new folder is claimed for the search and its stage retrained from the start
    (tmp_path / "new").mkdir()
    r = ok("run", "a", "--max-rounds", "1", "--run-dir", str(tmp_path / "new"), *s)
    assert "stage gen: 1/3 rounds, paused (resumable) (its run directory is being rebuilt: the study already " \
           "holds 3 rounds" in r.stdout  # round 1 rebuilt (its told trials are reused, not told again)
    assert json.loads((tmp_path / "new" / "search.json").read_text())["id"] == json.loads(
        (tmp_path / "lost" / "search.json").read_text())["id"]
    assert json.loads((tmp_path / "new" / "gen" / "synthetic.json").read_text())["rounds_done"] == 1


def test_a_copied_database_does_not_share_the_originals_run_directory(tmp_path) -> None:
    import shutil

    s = ["--storage", f"sqlite:///{tmp_path / 'db.sqlite'}"]
    ok("study", "create", "a", "--config", DRY, *SMALL, "--run-dir", str(tmp_path / "run"), *s)
    ok("run", "a", "--max-rounds", "1", *s)
    (tmp_path / "copy").mkdir()
    with sqlite3.connect(tmp_path / "db.sqlite") as conn:  # a consistent copy (WAL folded in)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.copyfile(tmp_path / "db.sqlite", tmp_path / "copy" / "db.sqlite")
    c = ["--storage", f"sqlite:///{tmp_path / 'copy' / 'db.sqlite'}"]
    _one_line(cli("run", "a", "--max-rounds", "1", *c), "is a copy of the one in")
    _one_line(cli("run", "a", "--max-rounds", "1", "--run-dir", str(tmp_path / "run"), *c), "is a copy of the one in")
    shutil.copytree(tmp_path / "run", tmp_path / "copy" / "run")
    r = ok("run", "a", "--max-rounds", "1", "--run-dir", str(tmp_path / "copy" / "run"), *c)  # adopted by the copy
    assert "stage gen: 2/3 rounds" in r.stdout
    owner = json.loads((tmp_path / "copy" / "run" / "search.json").read_text())
    assert owner["database"] == str(tmp_path / "copy" / "db.sqlite") and owner["path"] == str(tmp_path / "copy" / "run")
    assert "stage gen: 2/3 rounds" in ok("run", "a", "--max-rounds", "1", *s).stdout  # the original is untouched
    st = json.loads(ok("status", "a", "--json", *c).stdout)  # the copy reads its own folder's checkpoint
    assert json.loads(ok("study", "show", "a", "--json", *c).stdout)["run_dir"] == str(tmp_path / "copy" / "run")
    assert st["stages"][0]["rounds_done"] == 2


def test_a_database_moved_with_its_run_directory_keeps_it_from_later_copies(tmp_path) -> None:
    """Database and run directory moved together on this machine: the first run there adopts the
    folder, so that a copy of the moved database is refused it (it would overwrite checkpoints)."""
    import shutil

    old = tmp_path / "old"
    old.mkdir()
    ok("study", "create", "a", "--config", DRY, *SMALL, "--storage", f"sqlite:///{old / 'db.sqlite'}")
    ok("run", "a", "--max-rounds", "1", "--storage", f"sqlite:///{old / 'db.sqlite'}")
    old.rename(tmp_path / "new")
    new = tmp_path / "new"
    s = ["--storage", f"sqlite:///{new / 'db.sqlite'}"]
    _one_line(cli("run", "a", *s), f"run directory {old / 'optgan-runs' / 'a'} of search 'a' is missing")
    ok("run", "a", "--max-rounds", "1", "--run-dir", str(new / "optgan-runs" / "a"), *s)
    owner = json.loads((new / "optgan-runs" / "a" / "search.json").read_text())
    assert owner["database"] == str(new / "db.sqlite") and owner["path"] == str(new / "optgan-runs" / "a")
    assert "stage gen: 3/3 rounds" in ok("run", "a", "--stage", "gen", *s).stdout  # no --run-dir needed now
    (tmp_path / "copy").mkdir()
    with sqlite3.connect(new / "db.sqlite") as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.copyfile(new / "db.sqlite", tmp_path / "copy" / "db.sqlite")
    c = ["--storage", f"sqlite:///{tmp_path / 'copy' / 'db.sqlite'}"]
    _one_line(cli("run", "a", *c), "is a copy of the one in")
    _one_line(cli("run", "a", "--run-dir", str(new / "optgan-runs" / "a"), *c), "is a copy of the one in")


def test_malformed_environment_and_delete_under_a_run(tmp_path, monkeypatch) -> None:
    s = ["--storage", f"sqlite:///{tmp_path / 'db.sqlite'}"]
    ok("study", "create", "a", "--config", DRY, *SMALL, "--run-dir", str(tmp_path / "run"), *s)
    monkeypatch.setenv("OPTGAN_LEASE_TTL_S", "abc")
    _one_line(cli("run", "a", *s), "$OPTGAN_LEASE_TTL_S = 'abc' must be a number of seconds")
    monkeypatch.setenv("OPTGAN_LEASE_TTL_S", "0")
    _one_line(cli("run", "a", *s), "must be a number of seconds ≥ 1")
    monkeypatch.delenv("OPTGAN_LEASE_TTL_S")
    monkeypatch.setenv("OPTGAN_STORAGE_RETRY_S", "soon")
    _one_line(cli("run", "a", *s), "$OPTGAN_STORAGE_RETRY_S = 'soon'")
    monkeypatch.delenv("OPTGAN_STORAGE_RETRY_S")

    from optgan.study.lease import hold_lease
    from optgan.study.search import load_search

    search = load_search("a", s[1])
    with hold_lease(search.storage.engine, "a"):  # a live `optgan run` holds the search
        refused = cli("study", "delete", "a", "--yes", *s)
        _one_line(refused, "search 'a' is being run by")
        assert "--force-unlock" not in refused.stderr and "retry after its lease expires in" in refused.stderr
    assert [row["name"] for row in json.loads(ok("study", "list", "--json", *s).stdout)] == ["a"]


def test_a_create_that_fails_in_the_database_leaves_the_run_directory_free(tmp_path, monkeypatch) -> None:
    import optgan.study.create as create_mod

    s = ["--storage", f"sqlite:///{tmp_path / 'db.sqlite'}"]

    def broken(*args, **kwargs):
        raise create_mod.StorageError("the database went away")

    monkeypatch.setattr(create_mod, "_create_studies", broken)
    _one_line(cli("study", "create", "a", "--config", DRY, "--run-dir", str(tmp_path / "run"), *s), "went away")
    monkeypatch.undo()
    ok("study", "create", "a", "--config", DRY, "--run-dir", str(tmp_path / "run"), *s)  # not "already holds files"


def test_export_of_a_trial_without_scores_says_so(tmp_path) -> None:
    db = tmp_path / "db.sqlite"
    s = ["--storage", f"sqlite:///{db}"]
    ok("study", "create", "a", "--config", DRY, *SMALL, "--run-dir", str(tmp_path / "run"), *s)
    ok("run", "a", "--stage", "gen", "--max-rounds", "1", *s)
    with sqlite3.connect(db) as conn:  # as if trial 0 had failed
        conn.execute("UPDATE trials SET state = 'FAIL' WHERE number = 0")
    out = tmp_path / "g.json"
    r = ok("export", "a", "--stage", "gen", "--trial", "0", "-o", str(out), *s)
    assert "warning: trial 0 is FAIL: its architecture is exported without scores" in r.stderr
    assert json.loads(out.read_text())["source"]["state"] == "FAIL"
    r = ok("export", "a", "--stage", "gen", "--trial", "1", "-o", str(out), *s)
    assert r.stderr == "" and json.loads(out.read_text())["source"]["state"] == "COMPLETE"
    import optuna

    study = optuna.load_study(study_name="a:gen", storage=s[1])
    study.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.FAIL))  # from a notebook: no params
    n = study.trials[-1].number
    _one_line(cli("export", "a", "--stage", "gen", "--trial", str(n), "-o", str(out), *s),
              f"--trial {n} of study a:gen has no architecture (no params: a FAIL trial added from outside")
    _one_line(cli("export", "a", "--stage", "gen", "--trial", "99", "-o", str(out), *s), "--trial 99: no such trial")
    _one_line(cli("export", "a", "--stage", "gen", "-o", str(tmp_path / "typo" / "g.json"), *s),
              f"folder {tmp_path / 'typo'} does not exist")
    assert not (tmp_path / "typo").exists()


def test_a_database_that_cannot_be_written_is_inspected_read_only(tmp_path, monkeypatch) -> None:
    """A read-only mount or someone else's folder: reading commands work (a cleanly closed file is
    opened immutable, one with a WAL file `mode=ro`); run, delete and create are one-line refusals."""
    import os
    import subprocess
    import sys

    folder = tmp_path / "shared"
    folder.mkdir()
    s = ["--storage", f"sqlite:///{folder / 'db.sqlite'}"]
    def optgan(*args: str) -> str:  # in its own process: its connections are closed when it ends
        return subprocess.run([sys.executable, "-m", "optgan_cli", *args], check=True, capture_output=True,
                              text=True).stdout

    optgan("study", "create", "a", "--config", DRY, *SMALL, "--run-dir", str(tmp_path / "run"), *s)
    optgan("run", "a", "--max-rounds", "2", *s)
    before = optgan("status", "a", "--json", *s)
    real_access = os.access

    def access(path, mode, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003
        if mode & os.W_OK and str(path).startswith(str(folder)):
            return False
        return real_access(path, mode, *args, **kwargs)

    monkeypatch.setattr(os, "access", access)
    assert not (folder / "db.sqlite-wal").exists()  # closed cleanly: opened immutable (no -shm can be made)
    assert ok("status", "a", "--json", *s).stdout == before
    assert "a " in ok("study", "list", *s).stdout and "* trial" in ok("best", "a", "--stage", "gen", *s).stdout
    ok("export", "a", "--stage", "gen", "-o", str(tmp_path / "g.json"), *s)
    for args in (["run", "a"], ["study", "delete", "a", "--yes"], ["study", "delete", "a"],  # refused before asking
                 ["run", "a", "--run-dir", str(tmp_path / "new-run")], ["study", "extend", "a", "--gen-rounds", "5"]):
        _one_line(cli(*args, *s), "cannot be written here (read-only file system or permissions): search 'a' "
                                  "can be inspected")
    _one_line(cli("study", "create", "b", "--config", DRY, *s), "cannot be written (read-only file system or permissions)")
    assert ok("status", "a", "--json", *s).stdout == before  # nothing was written
    assert not (tmp_path / "new-run").exists()

    # a database whose last writer died leaves a WAL file with committed rounds: they are read too
    monkeypatch.setattr(os, "access", real_access)
    script = ("import os, sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute('PRAGMA wal_autocheckpoint=0'); "
              "c.execute(\"UPDATE studies SET study_name = 'renamed:gen' WHERE study_name = 'a:gen'\"); c.commit(); os._exit(0)")
    subprocess.run([sys.executable, "-c", script, str(folder / "db.sqlite")], check=True)
    assert (folder / "db.sqlite-wal").stat().st_size > 0
    monkeypatch.setattr(os, "access", access)
    _one_line(cli("status", "a", *s), "its study a:gen is gone")  # the WAL's rename is seen: not a stale snapshot
    (folder / "db.sqlite-shm").rename(tmp_path / "shm")  # a WAL without its index cannot be read here
    _one_line(cli("status", "renamed", *s), "has a write-ahead log (db.sqlite-wal) but no db.sqlite-shm")


def test_trials_finished_elsewhere_during_their_round_are_kept(storage_url: str, unique_name: str, tmp_path,
                                                               monkeypatch, caplog) -> None:
    """A dashboard user (or a notebook) fails or completes a RUNNING trial while its round trains:
    the run keeps that result, tells the others, and every inspection command still works."""
    import optuna

    from optgan.engines.synthetic import SyntheticEngine

    s = ["--storage", storage_url]
    ok("study", "create", unique_name, "--config", DRY, *SMALL, "--set", "gen_stage.rounds=2",
       "--set", "pictures.rounds=true", "--set", f"run_dir={tmp_path / 'run'}", *s)
    outside: dict[str, int] = {}
    rounds = iter(range(2))

    def train(self, population) -> None:  # noqa: ANN001
        if next(rounds, None) != 1:  # stage gen's round 2 only: two trials are finished elsewhere
            return
        other = optuna.load_study(study_name=f"{unique_name}:gen", storage=storage_url)
        running = [t for t in other.get_trials() if t.state == optuna.trial.TrialState.RUNNING]
        outside.update(failed=running[2].number, completed=running[5].number)
        other.tell(outside["failed"], state=optuna.trial.TrialState.FAIL)
        other.tell(outside["completed"], [99.0, 0.5, 1.0])  # dominates the round: on its front

    monkeypatch.setattr(SyntheticEngine, "train", train)
    r = ok("run", unique_name, "--stage", "gen", *s)
    assert "stage gen: 2/2 rounds, finished" in r.stdout
    for number in outside.values():
        assert f"trial {number} was finished outside this run while its round ran" in caplog.text
    study = optuna.load_study(study_name=f"{unique_name}:gen", storage=storage_url)
    trials = {t.number: t for t in study.get_trials()}
    assert trials[outside["failed"]].state == optuna.trial.TrialState.FAIL
    assert trials[outside["completed"]].values == [99.0, 0.5, 1.0]
    assert sum(t.state == optuna.trial.TrialState.COMPLETE for t in trials.values()) == 16 - 1
    st = json.loads(ok("status", unique_name, "--json", *s).stdout)
    assert st["stages"][0]["rounds_done"] == 2
    best = ok("best", unique_name, "--stage", "gen", *s).stdout
    assert f"trial {outside['completed']:4d}" in best
    ok("export", unique_name, "--stage", "gen", "-o", str(tmp_path / "g.json"), *s)
    ok("report", unique_name, "-o", str(tmp_path / "report"), *s)
    ok("report", unique_name, "-o", str(tmp_path / "report"), *s)  # an earlier report is updated
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "index.html").write_text("my own page")
    _one_line(cli("report", unique_name, "-o", str(tmp_path / "site"), *s), "holds an index.html of its own")
    (tmp_path / "report" / ".git").mkdir()  # a report kept in a repository: its hidden entries are fine
    ok("report", unique_name, "-o", str(tmp_path / "report"), *s)
    (tmp_path / "report" / "notes.txt").write_text("mine")
    _one_line(cli("report", unique_name, "-o", str(tmp_path / "report"), *s), "holds files such as notes.txt")
    assert (tmp_path / "site" / "index.html").read_text() == "my own page"
    r = ok("run", unique_name, "--stage", "disc", "--max-rounds", "1", *s)  # G* = the externally told trial
    assert "stage disc: 1/2 rounds" in r.stdout


def one_line_error(*args: str) -> str:
    r = cli(*args)
    assert r.exit_code == 2, (r.stdout, r.stderr)
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    return r.stderr


def test_a_stage_study_deleted_behind_optgans_back_is_one_line_everywhere(storage_url: str, unique_name: str,
                                                                          tmp_path, monkeypatch) -> None:
    """optuna-dashboard can delete a study, also under a running search: the run stops in one line,
    every command names the incomplete search, and `study delete` removes the rest."""
    import optuna

    from optgan.engines.synthetic import SyntheticEngine

    s = ["--storage", storage_url]
    ok("study", "create", unique_name, "--config", DRY, *SMALL, "--set", f"run_dir={tmp_path / 'run'}", *s)

    def train(self, population) -> None:  # noqa: ANN001
        optuna.delete_study(study_name=f"{unique_name}:gen", storage=storage_url)

    monkeypatch.setattr(SyntheticEngine, "train", train)
    err = one_line_error("run", unique_name, *s)
    assert "a record this run uses is gone" in err and "deleted while it ran" in err
    for args in (["run", unique_name], ["status", unique_name], ["study", "show", unique_name]):
        assert f"search {unique_name!r}" in (err := one_line_error(*args, *s)) and "is incomplete" in err, err
    assert f"study {unique_name}:gen is gone" in err and f"`optgan study delete {unique_name}`" in err
    listed = next(line for line in ok("study", "list", *s).stdout.splitlines() if line.startswith(unique_name))
    assert listed.endswith(f"incomplete: {unique_name}:gen is gone (`optgan study delete {unique_name}` removes the rest)")
    rows = json.loads(ok("study", "list", "--json", *s).stdout)
    assert next(r for r in rows if r["name"] == unique_name)["missing"] == [f"{unique_name}:gen"]
    assert "a search named" in one_line_error("study", "create", unique_name, "--config", DRY,
                                              "--set", f"run_dir={tmp_path / 'other'}", *s)
    assert f"deleted search {unique_name!r}" in ok("study", "delete", unique_name, "--yes", *s).stdout
    assert unique_name not in ok("study", "list", *s).stdout


def test_a_deleted_disc_study_is_named_by_run_and_removed_by_delete(tmp_path) -> None:
    import optuna

    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    s = ["--storage", url]
    ok("study", "create", "a", "--config", DRY, *SMALL, *s)
    ok("run", "a", "--stage", "gen", *s)
    optuna.delete_study(study_name="a:disc", storage=url)
    assert "its study a:disc is gone" in one_line_error("run", "a", "--stage", "disc", *s)
    r = CliRunner().invoke(main, ["study", "delete", "a", *s], input="y\n", catch_exceptions=False)
    assert r.exit_code == 0 and "(studies a:gen)?" in r.stdout, (r.stdout, r.stderr)
    assert "no searches" in ok("study", "list", *s).stdout


def test_extend_follows_the_course_of_a_longer_search(tmp_path) -> None:
    from _crash_support import snapshot

    from optgan.study.lease import hold_lease
    from optgan.study.storage import open_storage

    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    s = ["--storage", url]
    ok("study", "create", "long", "--config", DRY, *SMALL, "--set", "gen_stage.rounds=4", *s)
    ok("run", "long", "--stage", "gen", *s)
    ok("study", "create", "short", "--config", DRY, *SMALL, "--set", "gen_stage.rounds=2", *s)
    assert "stage gen: 2/2 rounds, finished" in ok("run", "short", "--stage", "gen", *s).stdout
    assert "stage gen: 2 -> 4 rounds" in ok("study", "extend", "short", "--gen-rounds", "4", *s).stdout
    import yaml

    assert yaml.safe_load(ok("study", "show", "short", *s).stdout)["gen_stage"]["rounds"] == 4
    assert "stage gen: 4/4 rounds, finished" in ok("run", "short", "--stage", "gen", *s).stdout
    assert snapshot(url, "short")["gen"] == snapshot(url, "long")["gen"]  # the same course, trial for trial

    assert "has begun 4 rounds; it cannot stop after 3" in one_line_error("study", "extend", "short", "--gen-rounds", "3", *s)
    ok("run", "short", "--stage", "disc", "--max-rounds", "1", *s)  # fixes G*
    assert "already runs with G* = trial " in one_line_error("study", "extend", "short", "--gen-rounds", "6", *s)
    assert "stage disc: 2 -> 3 rounds" in ok("study", "extend", "short", "--disc-rounds", "3", *s).stdout
    assert "stage disc: 3/3 rounds, finished" in ok("run", "short", *s).stdout
    assert "give --gen-rounds N and/or --disc-rounds N" in one_line_error("study", "extend", "short", *s)
    engine = open_storage(url).engine
    with hold_lease(engine, "short"):  # a live `optgan run` holds the search
        refused = one_line_error("study", "extend", "short", "--disc-rounds", "5", *s)
        assert "is being run by PID" in refused and "--force-unlock" not in refused
    assert "stage disc: 3/3" in ok("status", "short", *s).stdout


def test_a_trial_finished_elsewhere_just_before_its_tell_is_kept(tmp_path, monkeypatch, caplog) -> None:
    """The narrow window: finished elsewhere after the run stored its scores, while it uploads its
    pictures (the last writes before the tell)."""
    import optuna

    import optgan.runner as runner

    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    s = ["--storage", url]
    ok("study", "create", "w", "--config", DRY, "--set", "gen_stage.rounds=1", "--set", "sampler.population_size=4", *s)
    upload, failed = runner.record_trial_artifacts, []

    def finished_meanwhile(search, study, trial, genotype, ev):  # noqa: ANN001, ANN202
        if not failed:
            failed.append(trial.number)
            optuna.load_study(study_name="w:gen", storage=url).tell(trial.number, state=optuna.trial.TrialState.FAIL)
        return upload(search, study, trial, genotype, ev)

    monkeypatch.setattr(runner, "record_trial_artifacts", finished_meanwhile)
    ok("run", "w", "--stage", "gen", *s)
    assert f"trial {failed[0]} was finished outside this run while its round ran (FAIL)" in caplog.text
    assert f"trial {failed[0]}: could not store its pictures: it was finished elsewhere" in caplog.text
    assert "Traceback" not in caplog.text and not any(r.exc_info for r in caplog.records)


def test_a_database_of_another_optuna_schema_is_one_line(tmp_path) -> None:
    """A team database set up by an older (or newer) Optuna: Optuna's own advice, in one line."""
    db = tmp_path / "db.sqlite"
    s = ["--storage", f"sqlite:///{db}"]
    ok("study", "create", "a", "--config", DRY, *SMALL, *s)
    for version, advice in (("v2.6.0.a", f"optuna storage upgrade --storage sqlite:///{db}"),
                            ("v99.0.0.a", "pip install -U optuna")):
        with sqlite3.connect(db) as conn:
            conn.execute("UPDATE alembic_version SET version_num = ?", (version,))
        for args in (["status", "a"], ["run", "a"], ["study", "list"]):
            err = one_line_error(*args, *s)
            assert "no longer compatible with the table schema" in err and advice in err, err


@pytest.mark.parametrize("content", ["{bad", '{"x": 1}', "[1]", '{"rounds_done": "x"}', "\udcff",
                                     '{"rounds_done": Infinity}', '{"rounds_done": -2}', '{"rounds_done": 2.7}',
                                     '{"rounds_done": true}'])
def test_a_damaged_dry_run_state_is_one_line(content: str, tmp_path) -> None:
    s = ["--storage", f"sqlite:///{tmp_path / 'db.sqlite'}"]
    ok("study", "create", "d", "--config", DRY, *SMALL, "--set", f"run_dir={tmp_path / 'run'}", *s)
    ok("run", "d", "--stage", "gen", "--max-rounds", "1", *s)
    (tmp_path / "run" / "gen" / "synthetic.json").write_bytes(content.encode("utf-8", "surrogateescape"))
    err = one_line_error("run", "d", *s)
    assert "synthetic.json is not a dry-run state" in err and "move it away and rerun" in err


def test_a_stage_without_a_completed_trial_ends_the_run_cleanly(tmp_path, monkeypatch) -> None:
    """Every stage-disc candidate failed: the summary says so and prints no export of it."""
    from optgan.engines.base import Evaluation
    from optgan.engines.synthetic import SyntheticEngine

    evaluate = SyntheticEngine.evaluate

    def all_fail_in_disc(self, population):  # noqa: ANN001, ANN202
        if self.stage == "gen":
            return evaluate(self, population)
        return [Evaluation({}, reason="diverged") for _ in population]

    monkeypatch.setattr(SyntheticEngine, "evaluate", all_fail_in_disc)
    s = ["--storage", f"sqlite:///{tmp_path / 'db.sqlite'}"]
    ok("study", "create", "a", "--config", DRY, *SMALL, *s)
    r = ok("run", "a", *s)
    assert "[disc] no completed trial yet" in r.stdout and "a-d.json" not in r.stdout
    assert "--stage gen -o a-g.json" in r.stdout and "train:" not in r.stdout


def test_run_states_of_an_unreadable_lease_table_are_unknown(tmp_path) -> None:
    import sqlalchemy as sa

    from optgan.study.lease import run_state, run_states

    engine = sa.create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.begin() as conn:  # a table of that name this optgan cannot read (other columns)
        conn.execute(sa.text("CREATE TABLE optgan_leases (search TEXT PRIMARY KEY)"))
    assert run_states(engine) is None
    assert run_state(engine, "a") == {"state": "unknown"}


def test_passwords_never_appear_in_messages_or_printed_commands(tmp_path, monkeypatch) -> None:
    from optgan.study.storage_url import redact

    assert "secret3" not in redact("postgresql://127.0.0.1:5432/db?user=u&password=secret3")
    assert "p@ss" not in redact("postgresql://u:p%40ss@h/db") and "p%40ss" not in redact("postgresql://u:p%40ss@h/db")
    for url in ("postgresql://u:secret3@127.0.0.1:1/db", "postgresql://127.0.0.1:1/db?user=u&password=secret3"):
        r = cli("study", "list", "--storage", url)  # nothing listens on port 1
        assert r.exit_code == 2 and "secret3" not in r.stderr + r.stdout and "***" in r.stderr, r.stderr
    # a short password is hidden where it stands as a value, and never mangles the rest
    from optgan.study.storage_url import scrub_passwords

    for pw in ("t", "1"):
        url = f"postgresql://optgan:{pw}@127.0.0.1:1/optgan_test"
        assert redact(url) == "postgresql://optgan:***@127.0.0.1:1/optgan_test"
        said = scrub_passwords(f'auth failed for user "optgan" (host=127.0.0.1 password={pw} dbname=optgan_test)', url)
        assert said == 'auth failed for user "optgan" (host=127.0.0.1 password=*** dbname=optgan_test)'
        r = cli("study", "list", "--storage", url)
        assert r.exit_code == 2 and "cannot open storage postgresql://optgan:***@127.0.0.1:1/optgan_test" in r.stderr


def test_printed_commands_find_the_storage_a_bare_command_finds(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    monkeypatch.setenv("OPTGAN_STORAGE", url)  # a bare command opens it: no --storage in the hints
    r = ok("study", "create", "a", "--config", DRY, *SMALL)
    assert r.stdout.splitlines()[-1] == "next: optgan run a"
    r = ok("run", "a")
    assert "dashboard: optgan dashboard\n" in r.stdout and "--storage" not in r.stdout
    monkeypatch.delenv("OPTGAN_STORAGE")
    r = ok("run", "a", "--storage", url)  # here a bare command would open ./optgan.db
    assert f"dashboard: optgan dashboard --storage {url}" in r.stdout


def test_a_reading_command_never_writes_into_an_empty_file(tmp_path) -> None:
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    for args in (["study", "list"], ["status", "a"], ["run", "a"]):
        _one_line(cli(*args, "--storage", f"sqlite:///{empty}"), "is an empty file, not a database of searches")
    assert empty.stat().st_size == 0
    ok("study", "create", "a", "--config", DRY, *SMALL, "--run-dir", str(tmp_path / "run"),
       "--storage", f"sqlite:///{empty}")  # creating a search in it is what it is for



def test_a_run_of_both_stages_skips_gen_rounds_an_early_g_star_made_moot(tmp_path, caplog) -> None:
    s = ["--storage", f"sqlite:///{tmp_path / 'db.sqlite'}"]
    ok("study", "create", "a", "--config", DRY, *SMALL, "--run-dir", str(tmp_path / "run"), *s)
    ok("run", "a", "--stage", "gen", "--max-rounds", "1", *s)
    ok("run", "a", "--stage", "disc", "--gen-trial", "2", *s)  # G* from round 1, stage disc done
    r = ok("run", "a", *s)
    assert "its 2 remaining rounds are skipped: stage disc already runs with G* = trial 2 of a:gen (--gen-trial)" \
        in caplog.text
    st = json.loads(ok("status", "a", "--json", *s).stdout)["stages"]
    assert [x["rounds_done"] for x in st] == [1, 2], r.stdout  # no stage-gen round trained for nothing
    _one_line(cli("study", "extend", "a", "--gen-rounds", "5", *s),
              "already runs with G* = trial 2 of a:gen (--gen-trial); more stage-gen rounds would not change it")
    assert "stage gen: 3/3 rounds" in ok("run", "a", "--stage", "gen", *s).stdout  # asked for: run


def test_commands_printed_after_a_run_elsewhere_name_the_folder_and_storage(tmp_path) -> None:
    import shutil

    s = ["--storage", f"sqlite:///{tmp_path / 'db.sqlite'}"]
    ok("study", "create", "a", "--config", DRY, *SMALL, "--run-dir", str(tmp_path / "run"), *s)
    ok("run", "a", "--max-rounds", "1", *s)
    shutil.copytree(tmp_path / "run", tmp_path / "mnt")  # the same folder seen at another path (a bind mount)
    r = ok("run", "a", "--run-dir", str(tmp_path / "mnt"), *s)
    assert f"dashboard: optgan dashboard --storage sqlite:///{tmp_path / 'db.sqlite'} --run-dir {tmp_path / 'mnt'}" \
        in r.stdout
    r = ok("study", "extend", "a", "--disc-rounds", "3", *s)
    assert f"go on with: optgan run a --storage sqlite:///{tmp_path / 'db.sqlite'}" in r.stdout


def test_a_moved_folder_is_kept_from_later_copies_and_another_hosts_view_changes_nothing(tmp_path) -> None:
    import shutil

    s = ["--storage", f"sqlite:///{tmp_path / 'a.db'}"]
    ok("study", "create", "a", "--config", DRY, *SMALL, "--run-dir", str(tmp_path / "run"), *s)
    ok("run", "a", "--max-rounds", "1", *s)
    (tmp_path / "run").rename(tmp_path / "moved")
    ok("run", "a", "--max-rounds", "1", "--run-dir", str(tmp_path / "moved"), *s)  # adopted where it is now
    assert json.loads((tmp_path / "moved" / "search.json").read_text())["path"] == str(tmp_path / "moved")
    with sqlite3.connect(tmp_path / "a.db") as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.copyfile(tmp_path / "a.db", tmp_path / "b.db")
    _one_line(cli("run", "a", "--storage", f"sqlite:///{tmp_path / 'b.db'}"), "is a copy of the one in")
    # the same database file seen by another host at another path (a shared mount): that host's
    # --run-dir is used for its run, and neither search.json nor the stored path change
    owner = tmp_path / "moved" / "search.json"
    owner.write_text(json.dumps(json.loads(owner.read_text()) | {"host": "some-other-host"}))
    (tmp_path / "moved").rename(tmp_path / "their-mount")
    before = (tmp_path / "their-mount" / "search.json").read_text()
    ok("run", "a", "--max-rounds", "1", "--run-dir", str(tmp_path / "their-mount"), *s)
    assert (tmp_path / "their-mount" / "search.json").read_text() == before
    assert json.loads(ok("study", "show", "a", "--json", *s).stdout)["run_dir"] == str(tmp_path / "moved")


def test_a_stage_whose_last_round_all_failed_says_so_not_run_it_first() -> None:
    import optuna

    from optgan import keys
    from optgan.errors import StorageError
    from optgan.study.results import choose_best

    study = optuna.create_study(study_name="s:gen", directions=["maximize", "minimize"])
    with pytest.raises(StorageError, match="has no completed trial yet; run its stage first"):
        choose_best(study, ["IS", "FID"])
    for _ in range(2):
        t = study.ask()
        t.set_user_attr(keys.GENERATION, 0)
        study.tell(t, state=optuna.trial.TrialState.FAIL)
    with pytest.raises(StorageError, match=r"no trial of study 's:gen''s last round completed .*start a new search "
                                           r"with other settings, or give G\* yourself with --gen-arch FILE"):
        choose_best(study, ["IS", "FID"])


def test_a_g_star_given_to_a_run_that_never_reaches_stage_disc_is_warned_about(tmp_path, caplog) -> None:
    s = ["--storage", f"sqlite:///{tmp_path / 'db.sqlite'}"]
    ok("study", "create", "a", "--config", DRY, *SMALL, "--run-dir", str(tmp_path / "run"), *s)
    ok("run", "a", "--max-rounds", "1", *s)
    ok("run", "a", "--gen-trial", "3", "--max-rounds", "1", *s)  # the budget ends in stage gen
    assert "the G* given (--gen-trial/--gen-arch) was not used: stage disc did not start in this run" in caplog.text


def test_a_gen_arch_exported_at_other_widths_is_warned_about(tmp_path, caplog) -> None:
    s = ["--storage", f"sqlite:///{tmp_path / 'db.sqlite'}"]
    ok("study", "create", "a", "--config", DRY, *SMALL, "--run-dir", str(tmp_path / "run"), *s)
    g = tmp_path / "g.json"  # as `optgan export` wrote it for a quickstart-sized search
    g.write_text(json.dumps({"array": [[1, 1, 1, 0, 2, 3, 1], [1, 1, 0, 1, 3, 0, 5], [0, 1, 0, 3, 0, 0, 3]],
                             "widths": {"gf_dim": 32, "df_dim": 32, "latent_dim": 24, "bottom_width": 2}}))
    ok("run", "a", "--stage", "disc", "--gen-arch", str(g), "--max-rounds", "1", *s)
    assert "was searched at other widths than it is used at here (gf_dim 32 → 256" in caplog.text


def test_run_and_extend_read_the_config_under_the_lease(tmp_path, monkeypatch) -> None:
    """A command that loaded the search before taking its lease reads the config again under it:
    a `study extend` that lands just before an `optgan run` takes the lease is run, and of two
    extends racing for the lease neither loses the other's change."""
    import contextlib

    import yaml

    from optgan.study import lease as lease_module

    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    s = ["--storage", url]
    ok("study", "create", "x", "--config", DRY, *SMALL, "--set", "gen_stage.rounds=2", *s)
    real_hold, meanwhile = lease_module.hold_lease, []

    @contextlib.contextmanager
    def another_command_first(*args, **kwargs):  # noqa: ANN202
        if meanwhile:  # the other command runs before this one gets the lease
            ok(*meanwhile.pop())
        with real_hold(*args, **kwargs) as lease:
            yield lease

    monkeypatch.setattr(lease_module, "hold_lease", another_command_first)
    meanwhile.append(("study", "extend", "x", "--gen-rounds", "3", *s))
    assert "stage gen: 3/3 rounds, finished" in ok("run", "x", "--stage", "gen", *s).stdout
    meanwhile.append(("study", "extend", "x", "--disc-rounds", "4", *s))
    assert "stage gen: 3 -> 5 rounds" in ok("study", "extend", "x", "--gen-rounds", "5", *s).stdout
    stored = yaml.safe_load(ok("study", "show", "x", *s).stdout)
    assert (stored["gen_stage"]["rounds"], stored["disc_stage"]["rounds"]) == (5, 4)


def _study_of(values: list[tuple[float, ...]], directions: list[str], generation: int = 0):  # noqa: ANN202
    import optuna

    from optgan import keys

    study = optuna.create_study(directions=directions)
    for v in values:
        t = study.ask()
        t.set_user_attr(keys.GENERATION, generation)
        study.tell(t, list(v))
    return study


def test_choose_best_takes_the_lowest_fid_on_the_last_fronts() -> None:
    """The documented G*/D* rule: the lowest FID on the last round's Pareto front (KID, then IS,
    when FID is not an objective; else the first objective's best)."""
    from optgan import keys
    from optgan.study.results import choose_best

    # (IS, FID, params_M): a front of three with FIDs 30, 20, 25, and a dominated trial
    study = _study_of([(5.0, 30.0, 1.0), (4.0, 20.0, 3.0), (6.0, 25.0, 5.0), (3.0, 40.0, 6.0)],
                      ["maximize", "minimize", "minimize"])
    assert choose_best(study, ["IS", "FID", "params_M"]).number == 1
    # an earlier round does not count: the last one's front does
    t = study.ask()
    t.set_user_attr(keys.GENERATION, 1)
    study.tell(t, [1.0, 90.0, 1.0])
    t = study.ask()
    t.set_user_attr(keys.GENERATION, 1)
    study.tell(t, [2.0, 95.0, 0.5])
    assert choose_best(study, ["IS", "FID", "params_M"]).number == 4
    from optgan.study.results import pareto_trials

    assert pareto_trials(study, round_=7) == []  # a round without completed trials has no front
    assert choose_best(_study_of([(5.0, 1.0), (7.0, 2.0), (6.0, 0.5)], ["maximize", "minimize"]),
                       ["IS", "params_M"]).number == 1  # no FID / KID: the highest IS
    assert choose_best(_study_of([(0.3, 2.0), (0.1, 3.0), (0.2, 1.0)], ["minimize", "minimize"]),
                       ["KID", "params_M"]).number == 1  # KID before IS
    assert choose_best(_study_of([(2.0, 1.0), (1.0, 3.0)], ["minimize", "minimize"]),
                       ["params_M", "flops_M"]).number == 1  # no metric: the first objective's best


def test_best_index_picks_the_round_best_for_weight_resetting() -> None:
    """Stage disc resets every G copy to the one paired with the round's best D: lowest FID (else
    KID, else highest IS); failed or non-finite candidates never win; all failed → 0."""
    import math

    from optgan.engines.base import Evaluation
    from optgan.engines.real import best_index

    def ev(reason=None, **values):  # noqa: ANN001, ANN202
        return Evaluation(values=values, reason=reason)

    assert best_index([ev(FID=5.0), ev(FID=2.0), ev(FID=9.0)], ["IS", "FID"]) == 1
    assert best_index([ev(IS=1.0), ev(IS=3.0), ev(IS=2.0)], ["IS", "params_M"]) == 1
    assert best_index([ev(KID=0.3, IS=9.0), ev(KID=0.1, IS=1.0)], ["IS", "KID"]) == 1
    assert best_index([ev(FID=math.nan), ev(FID=1.0, reason="NaN images"), ev(FID=4.0)], ["FID", "IS"]) == 2
    assert best_index([ev(FID=math.nan), ev(FID=math.inf)], ["FID", "IS"]) == 0


def test_told_values_follow_the_objectives_order(tmp_path) -> None:
    """Each trial's values are its objectives in the config's order (in any order given), equal
    to what the synthetic evaluation computes for its genotype and to its stored size attrs."""
    import optuna

    from optgan import keys
    from optgan.sampler.synthetic import synthetic_values
    from optgan.search_space import Genotype
    from optgan.study.search import load_search

    s = ["--storage", f"sqlite:///{tmp_path / 'db.sqlite'}"]
    objectives = ["FID", "flops_M", "IS", "params_M"]
    ok("study", "create", "o", "--config", DRY, *SMALL, "--set", f"objectives=[{', '.join(objectives)}]", *s)
    ok("run", "o", "--stage", "gen", "--max-rounds", "1", *s)
    search = load_search("o", s[1])
    done = search.study("gen").get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    assert done
    for t in done:
        genotype = Genotype.from_array("gen", t.user_attrs[keys.GENOTYPE_ARRAY])
        assert t.values == pytest.approx(synthetic_values(genotype, objectives, search.config.widths))
        assert (t.values[1], t.values[3]) == (t.user_attrs[keys.FLOPS_M], t.user_attrs[keys.PARAMS_M])


def test_the_search_runs_on_its_cpu_threads_and_a_run_may_change_them(tmp_path, monkeypatch) -> None:
    import torch

    from optgan import runner

    seen: list[int] = []
    inner = runner.make_engine
    monkeypatch.setattr(runner, "make_engine", lambda *a, **k: seen.append(torch.get_num_threads()) or inner(*a, **k))
    s = ["--storage", f"sqlite:///{tmp_path / 't.db'}"]
    before = torch.get_num_threads()
    ok("study", "create", "t", "--config", DRY, *SMALL, "--set", "cpu_threads=1", "--set", f"run_dir={tmp_path / 'r'}", *s)
    ok("run", "t", "--max-rounds", "1", *s)
    ok("run", "t", "--max-rounds", "1", "--set", "cpu_threads=3", *s)  # a machine setting, like `device`
    assert seen == [1, 3] and torch.get_num_threads() == before  # restored after each run
    r = cli("study", "create", "u", "--config", DRY, "--set", "cpu_threads=0", *s)
    assert r.exit_code == 2 and "cpu_threads" in r.stderr

    def fail(*a, **k):  # noqa: ANN002, ANN003, ANN202
        raise RuntimeError("boom")

    monkeypatch.setattr(runner, "make_engine", fail)
    with pytest.raises(RuntimeError, match="boom"):
        cli("run", "t", "--set", "cpu_threads=1", *s)
    assert torch.get_num_threads() == before  # restored when the run fails too


def test_a_postgresql_url_without_its_driver_says_what_to_install(monkeypatch, tmp_path) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if `psycopg` were not installed
    for args in (["study", "list"], ["study", "create", "x", "--config", DRY]):
        r = cli(*args, "--storage", "postgresql://user:secret@nohost/db")
        _one_line(r, 'cannot open storage postgresql://user:***@nohost/db: the PostgreSQL driver is not installed: '
                     'pip install "psycopg[binary]"')


def test_a_g_star_outside_the_searchs_caps_is_warned_about(tmp_path, caplog) -> None:
    s = ["--storage", f"sqlite:///{tmp_path / 'db.sqlite'}"]
    ok("study", "create", "c", "--config", DRY, *SMALL, "--set", "caps.gen.params_M=[7.5, null]", *s)
    g = tmp_path / "g.json"
    g.write_text("[[1,1,1,0,2,3,1],[1,1,0,1,3,0,5],[0,1,0,3,0,0,3]]")  # EAGAN's G: 7.14 M at CIFAR-10 widths
    ok("run", "c", "--stage", "disc", "--gen-arch", str(g), "--max-rounds", "1", *s)
    assert "the G* given (--gen-arch) is outside the search's generator caps (params_M in [7.5, open]" in caplog.text
    assert "params_M = 7.1424 is below the limit 7.5; stage disc trains with it anyway" in caplog.text


def test_create_warns_when_the_device_is_not_on_this_machine(tmp_path, caplog, monkeypatch) -> None:
    """A search created for a GPU on a machine without one (a login node) is stored, with a warning
    naming the fix; a device this machine has creates silently."""
    import torch

    s = ["--storage", f"sqlite:///{tmp_path / 'db.sqlite'}"]
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    ok("study", "create", "gpu", "--config", DRY, *SMALL, "--set", "device=cuda", *s)
    assert "`device` = 'cuda' but CUDA is not available here" in caplog.text
    assert "`optgan run gpu --set device=auto`" in caplog.text
    assert cli("study", "list", *s).stdout.startswith("gpu ")
    caplog.clear()
    ok("study", "create", "cpu", "--config", DRY, *SMALL, "--set", "device=cpu", *s)
    assert "CUDA" not in caplog.text
