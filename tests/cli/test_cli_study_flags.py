"""What the flags of `optgan study create` and `optgan run` hand on (in process; the search itself
is stubbed out where it would run)."""

from __future__ import annotations

import pathlib
import types

import pytest
import yaml
from _cli_support import DRY, invoke



def test_create_takes_location_flags_as_the_paths_given(tmp_path, monkeypatch) -> None:
    """--data-root, --inception-weights and --run-dir are paths, even where they read as YAML (`null`, `123`)."""
    monkeypatch.chdir(tmp_path)
    r = invoke("study", "create", "x", "--config", DRY, "--dry-run", "--data-root", "null", "--inception-weights", "123",
             "--run-dir", "true", "--storage", f"sqlite:///{tmp_path / 'db.sqlite'}")
    assert r.exit_code == 0, r.stderr
    printed = yaml.safe_load(r.stdout.rsplit("\nready: ", 1)[0])
    assert printed["data"]["root"] == str(tmp_path / "null")
    assert printed["metrics"]["inception_weights"] == str(tmp_path / "123")
    assert printed["run_dir"] == str(tmp_path / "true")


@pytest.fixture
def ran(tmp_path, monkeypatch):
    """`optgan run` on a created search, with the search itself replaced by a recorder."""
    import optgan.runner

    storage = f"sqlite:///{tmp_path / 'db.sqlite'}"
    assert invoke("study", "create", "x", "--config", DRY, "--run-dir", str(tmp_path / "run"),
                "--set", "metrics.extractor=classifier", "--storage", storage).exit_code == 0
    calls: list[dict] = []

    def run_search(search, stages, max_rounds=None, gen_override=None):  # noqa: ANN001, ANN202
        calls.append({"stages": stages, "max_rounds": max_rounds, "config": search.config})
        return [types.SimpleNamespace(stage=s, finished=False, rounds_done=0, rounds_total=3) for s in stages]

    monkeypatch.setattr(optgan.runner, "run_search", run_search)

    def run(*args: str) -> dict:
        r = invoke("run", "x", *args, "--storage", storage)
        assert r.exit_code == 0, r.stderr
        assert f"stage {calls[-1]['stages'][0]}: 0/3 rounds, paused (resumable)\n" in r.stdout  # nothing to rebuild
        return calls[-1]

    return run


def test_run_hands_on_its_stages_rounds_and_locations(ran, tmp_path, caplog) -> None:
    both = ran()
    assert "is not used by" not in caplog.text
    assert both["stages"] == ["gen", "disc"] and both["max_rounds"] is None
    one = ran("--stage", "disc", "--max-rounds", "2", "--data-root", str(tmp_path / "d"),
              "--inception-weights", "null")
    assert one["stages"] == ["disc"] and one["max_rounds"] == 2
    assert one["config"].data.root == str(tmp_path / "d")
    assert "(--inception-weights) = " in caplog.text and "is not used by the 'classifier' extractor" in caplog.text
    assert one["config"].metrics.inception_weights is not None and \
        one["config"].metrics.inception_weights.endswith("null")


def test_a_bad_search_name_is_refused_before_the_config_is_read(tmp_path) -> None:
    r = invoke("study", "create", "../x", "--config", str(tmp_path / "missing.yaml"),
             "--storage", f"sqlite:///{tmp_path / 'db.sqlite'}")
    assert r.exit_code == 2 and "search name '../x' must be" in r.stderr and r.stdout == ""


def test_flags_that_ask_nothing_or_too_much_are_one_line(tmp_path) -> None:
    storage = ["--storage", f"sqlite:///{tmp_path / 'db.sqlite'}"]
    assert invoke("study", "create", "x", "--config", DRY, "--run-dir", str(tmp_path / "run"), *storage).exit_code == 0
    r = invoke("study", "extend", "x", *storage)
    assert r.exit_code == 2 and "give --gen-rounds N and/or --disc-rounds N" in r.stderr
    r = invoke("run", "x", "--gen-trial", "0", "--gen-arch", str(tmp_path / "g.json"), *storage)
    assert r.exit_code == 2 and "give at most one of --gen-trial and --gen-arch" in r.stderr
    shown = invoke("study", "show", "x", *storage).stdout
    assert shown.startswith("# search x in sqlite:///") and f"# run directory: {tmp_path / 'run'}\n" in shown
    assert yaml.safe_load(shown)["run_dir"] is None  # a valid --config for a new search: its own run directory


def test_ctrl_c_at_the_delete_question_is_a_stop_and_no_answer_deletes_nothing(tmp_path, monkeypatch) -> None:
    import click

    storage = ["--storage", f"sqlite:///{tmp_path / 'db.sqlite'}"]
    assert invoke("study", "create", "x", "--config", DRY, "--run-dir", str(tmp_path / "run"), *storage).exit_code == 0

    def interrupted(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202 - click.confirm turns Ctrl-C into Abort
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            raise click.Abort() from None

    monkeypatch.setattr(click, "confirm", interrupted)
    r = invoke("study", "delete", "x", *storage)
    assert (r.exit_code, r.stderr) == (130, "error: stopped\n")
    monkeypatch.undo()
    r = invoke("study", "delete", "x", *storage, input="")  # end of input: no answer
    assert r.exit_code == 2 and "nothing deleted: the question got no answer" in r.stderr
    r = invoke("study", "delete", "x", *storage, input="\n")  # the default answer: no
    assert r.exit_code == 0 and "nothing deleted" in r.stdout
    assert "x" in [row["name"] for row in __import__("json").loads(invoke("study", "list", "--json", *storage).stdout)]


def test_show_heads_the_config_with_the_data_the_search_was_created_on(tmp_path) -> None:
    quick = str(pathlib.Path(DRY).with_name("quickstart.yaml"))
    storage = ["--storage", f"sqlite:///{tmp_path / 'db.sqlite'}"]
    r = invoke("study", "create", "q", "--config", quick, "--run-dir", str(tmp_path / "run"),
             "--set", f"metrics.cache_dir={tmp_path / 'cache'}", "--set", "data.max_images=100", *storage)
    assert r.exit_code == 0, r.stderr
    header = [line for line in invoke("study", "show", "q", *storage).stdout.splitlines() if line.startswith("# ")]
    assert [line.split(":")[0] for line in header] == ["# search q in sqlite", "# run directory", "# data"]
    assert header[2].startswith("# data: digits/train, 100 images, fingerprint ") and header[2].endswith("…")
    # what the first real run records of its extractor, as key=value pairs
    import optuna

    from optgan import keys

    study = optuna.load_study(study_name="q:gen", storage=storage[1])
    study.set_user_attr(keys.EXTRACTOR_IDENTITY, {"extractor": "optgan.classifier.v1", "weights_sha256": "e93c" * 16})
    header = [line for line in invoke("study", "show", "q", *storage).stdout.splitlines() if line.startswith("# ")]
    assert header[3].startswith("# extractor: extractor=optgan.classifier.v1, weights_sha256=e93ce93c"), header[3]
