"""A tiny real search (supernet training + classifier metrics) through the CLI, both stages,
on SQLite and PostgreSQL: stop after one round, resume, finish, and read the results back."""

from __future__ import annotations

import json
import pathlib

import numpy as np
import pytest
import torch
from _crash_support import assert_identical
from click.testing import CliRunner

from optgan_cli.main import main

ROOT = pathlib.Path(__file__).resolve().parents[2]
TINY = [
    "--set", "widths={gf_dim: 8, df_dim: 8, latent_dim: 12, bottom_width: 2}",
    "--set", "sampler.population_size=4", "--set", "sampler.num_survivors=2",
    "--set", "metrics.num_images=40", "--set", "metrics.batch_size=20", "--set", "metrics.is_splits=2",
    "--set", "metrics.classifier={epochs: 1, width: 8, feature_dim: 16}",
    "--set", "gen_stage={warmup_epochs: 1, rounds: 2, epochs_per_round: 1, iters_per_epoch: 2, batch_size_d: 8, batch_size_g: 8}",
    "--set", "disc_stage={rounds: 2, epochs_per_round: 1, iters_per_epoch: 5, batch_size_d: 8, batch_size_g: 8}",
    "--set", "pictures.architecture=false",
]


def ok(*args: str):
    r = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert r.exit_code == 0, (r.stdout, r.stderr)
    return r


def test_tiny_real_search_both_stages(storage_url: str, unique_name: str, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))  # own metrics cache (classifier, reference statistics)
    s = ["--storage", storage_url]
    run_dir = tmp_path / "run"
    ok("study", "create", unique_name, "--config", str(ROOT / "studies" / "quickstart.yaml"), *TINY,
       "--set", f"metrics.cache_dir={tmp_path / 'cache'}", "--run-dir", str(run_dir), *s)
    r = ok("run", unique_name, "--max-rounds", "1", *s)
    assert "stage gen: 1/2 rounds, paused (resumable)" in r.stdout
    first = torch.load(run_dir / "gen" / "checkpoint.pt", weights_only=True)
    assert first["rounds_done"] == 1 and first["warmup_done"]

    r = ok("run", unique_name, *s)
    assert "stage gen: 2/2 rounds, finished" in r.stdout and "stage disc: 2/2 rounds, finished" in r.stdout
    # classifier scores are never shown under the canonical names: summary, status, best, export
    labelled = ("IS_classifier", "FID_classifier", "params_M")
    assert "[gen] chosen: trial" in r.stdout and "FID_classifier=" in r.stdout and " FID=" not in r.stdout
    # the digits recipe trains other widths: the printed command sets the searched ones
    assert "train-quickstart.yaml --set widths.gf_dim=8 --set widths.df_dim=8 --set widths.latent_dim=12 --out " \
        in r.stdout
    st = json.loads(ok("status", unique_name, "--json", *s).stdout)
    assert st["objectives"] == list(labelled)
    for stage in st["stages"]:
        assert [x["complete"] + x["failed"] for x in stage["rounds"]] == [4, 4]
        assert set(stage["rounds"][-1]["best"]) == set(labelled)
        assert all(set(p["values"]) == set(labelled) for p in stage["pareto"])
    text = ok("status", unique_name, *s).stdout + ok("best", unique_name, "--stage", "disc", *s).stdout
    assert "FID_classifier=" in text and " FID=" not in text and " IS=" not in text
    assert (run_dir / "disc" / "checkpoint.pt").exists()
    out = tmp_path / "d.json"
    ok("export", unique_name, "--stage", "disc", "-o", str(out), *s)
    exported = json.loads(out.read_text())
    assert exported["net"] == "disc" and set(exported["source"]["values"]) == set(labelled)
    # the search's widths travel with the export: `arch info` counts what was searched
    assert exported["widths"] == {"gf_dim": 8, "df_dim": 8, "latent_dim": 12, "bottom_width": 2}
    info = json.loads(ok("arch", "info", "--net", "disc", "--genotype", str(out), "--json").stdout)
    assert info["params_M"] == pytest.approx(exported["source"]["params_M"], abs=1e-6)
    # scores are labelled as classifier scores in the trial attrs and the dashboard names
    best = json.loads(ok("best", unique_name, "--stage", "gen", "--json", *s).stdout)
    assert best["pareto"] and all(p["values"]["FID_classifier"] is not None for p in best["pareto"])


def _labelled_npz(path: pathlib.Path, seed: int = 0, n: int = 96) -> None:
    """Random 16×16 images in 2 classes (bright / dark), enough for the tiny classifier."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 2
    images = (torch.rand(n, 16, 16, 3, generator=g) * 128 + labels.view(-1, 1, 1, 1) * 127).to(torch.uint8)
    np.savez(path, images=images.numpy(), labels=labels.numpy(), classes=np.array(["dark", "bright"]))


def test_run_on_another_machine_points_at_the_data_anew(tmp_path, monkeypatch) -> None:
    """`optgan run --set data.path=… / metrics.cache_dir=…` resumes a search whose data and caches
    moved; other images or another extractor are refused (their scores would not compare)."""
    from optgan import keys
    from optgan.study.search import load_search, stage_study_name

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    s = ["--storage", f"sqlite:///{tmp_path / 'db.sqlite'}"]
    _labelled_npz(tmp_path / "a.npz")
    ok("study", "create", "m", "--config", str(ROOT / "studies" / "quickstart.yaml"), *TINY,
       "--set", "data={name: npz, path: a.npz}", "--set", "metrics.cache_dir=cache", *s)
    stored = load_search("m", s[1]).config
    assert stored.data.path == str(tmp_path / "a.npz") and stored.metrics.cache_dir == str(tmp_path / "cache")
    assert "# data: npz:a, 96 images, fingerprint " in ok("study", "show", "m", *s).stdout  # recorded at create
    _labelled_npz(tmp_path / "other.npz", seed=1)
    r = CliRunner().invoke(main, ["run", "m", "--set", "data.path=other.npz", *s])  # even before the first round
    assert r.exit_code == 2 and "is not the one search 'm' was created with" in r.stderr, r.stderr
    ok("run", "m", "--max-rounds", "1", *s)

    # "another machine": the data set moved and was renamed, the metrics cache is elsewhere (rebuilt)
    (tmp_path / "moved").mkdir()
    (tmp_path / "a.npz").rename(tmp_path / "moved" / "train.npz")
    r = ok("run", "m", "--max-rounds", "1", "--set", "data.path=moved/train.npz", "--set", "metrics.cache_dir=cache2", *s)
    assert "stage gen: 2/2 rounds, finished" in r.stdout
    assert list((tmp_path / "cache2" / "classifier").glob("*.pt"))  # retrained there, identical weights
    assert load_search("m", s[1]).config.data.path == str(tmp_path / "a.npz")  # the stored config is unchanged
    # a finished stage is not rebuilt (no data, networks or extractor are loaded): its data may be gone
    r = ok("run", "m", "--stage", "gen", "--set", f"data.path={tmp_path / 'gone.npz'}", *s)
    assert "stage gen: 2/2 rounds, finished" in r.stdout

    r = CliRunner().invoke(main, ["run", "m", "--set", "data.path=other.npz", *s])
    assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "is not the one search 'm' was created with" in r.stderr and "npz:other, 96 images" in r.stderr

    search = load_search("m", s[1])  # a classifier trained elsewhere (another device) gives other scores
    study_id = search.storage.get_study_id_from_name(stage_study_name("m", "gen"))
    recorded = search.storage.get_study_user_attrs(study_id)[keys.EXTRACTOR_IDENTITY]
    search.storage.set_study_user_attr(study_id, keys.EXTRACTOR_IDENTITY, {**recorded, "weights_sha256": "0" * 64})
    r = CliRunner().invoke(main, ["run", "m", "--set", "data.path=moved/train.npz", *s])
    assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "the feature extractor differs" in r.stderr and "copy the trained classifier" in r.stderr

    (tmp_path / "a-file").write_text("x")
    for bad, needle in ((["--set", "sampler.population_size=8"], "`sampler.population_size` is part of the search"),
                        (["--set", "data.name=digits"], "`data.name` is part of the search"),
                        (["--set", "metrics={cache_dir: x}"], "`metrics` is part of the search (fixed at `optgan "
                         "study create`) and cannot change on `optgan run`; only where things are and what runs them may: device, "
                         "cpu_threads, data.root, data.path, data.download, metrics.cache_dir, metrics.inception_weights, "
                         "metrics.inception_download; set such keys one by one (e.g. `--set metrics.cache_dir=…`)"),
                        (["--set", "data..root=x"], "the key has an empty part"),
                        (["--set", "data.nosuch=1"], "unknown key `data.nosuch`"),
                        (["--set", f"metrics.cache_dir={tmp_path / 'a-file'}"], "a-file is a file; pass a writable one")):
        r = CliRunner().invoke(main, ["run", "m", *bad, *s])
        assert r.exit_code == 2 and needle in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


def _tiny_search_after_one_gen_round(name: str, tmp_path, monkeypatch) -> tuple[list[str], pathlib.Path]:  # noqa: ANN001
    """A tiny real search `name` on SQLite in `tmp_path` after one stage-gen round: (storage flags, run dir)."""
    monkeypatch.setenv("HOME", str(tmp_path))
    s = ["--storage", f"sqlite:///{tmp_path / 'db.sqlite'}"]
    run_dir = tmp_path / "run"
    ok("study", "create", name, "--config", str(ROOT / "studies" / "quickstart.yaml"), *TINY,
       "--set", f"metrics.cache_dir={tmp_path / 'cache'}", "--run-dir", str(run_dir), *s)
    ok("run", name, "--stage", "gen", "--max-rounds", "1", *s)
    return s, run_dir


def _trainer_tensors(path: pathlib.Path) -> dict:
    state = torch.load(path, weights_only=True)
    assert state["rounds_done"] == 1
    return state["trainer"]


def test_disc_rebuilt_after_gen_trained_on_starts_from_g_star_as_it_began(tmp_path, monkeypatch) -> None:
    """Stage disc started early (`--gen-trial`), stage gen then trained on, stage disc's checkpoint
    lost: the rebuild starts G* from the weights it had when stage disc began (its start snapshot),
    so it retrains the very same state. A resume of stage disc needs no stage-gen checkpoint."""
    from optgan.trainer.search_training import gen_supernet_state_of

    s, run_dir = _tiny_search_after_one_gen_round("e", tmp_path, monkeypatch)
    gen_then = gen_supernet_state_of(torch.load(run_dir / "gen" / "checkpoint.pt", weights_only=True)["trainer"])
    ok("run", "e", "--stage", "disc", "--gen-trial", "0", "--max-rounds", "1", *s)
    start = torch.load(run_dir / "disc" / "g_star_start.pt", weights_only=True)
    assert start["gen_star"]["net"] == "gen"
    assert start["g_star"] and all(torch.equal(v, gen_then[k]) for k, v in start["g_star"].items())
    before = _trainer_tensors(run_dir / "disc" / "checkpoint.pt")

    ok("run", "e", "--stage", "gen", *s)  # stage gen's remaining round: its supernet moves on
    gen_now = gen_supernet_state_of(torch.load(run_dir / "gen" / "checkpoint.pt", weights_only=True)["trainer"])
    assert any(not torch.equal(gen_now[k], gen_then[k]) for k in start["g_star"])
    (run_dir / "disc" / "checkpoint.pt").unlink()
    ok("run", "e", "--stage", "disc", "--max-rounds", "1", *s)  # rebuilds round 1 by retraining
    assert_identical(_trainer_tensors(run_dir / "disc" / "checkpoint.pt"), before, "trainer")

    (run_dir / "gen" / "checkpoint.pt").rename(tmp_path / "gen-checkpoint.pt")  # not needed to resume disc
    r = ok("run", "e", "--stage", "disc", *s)
    assert "stage disc: 2/2 rounds, finished" in r.stdout

    # without the stage's checkpoint and G*'s start snapshot, stage gen's checkpoint is needed again
    for name in ("checkpoint.pt", "g_star_start.pt"):
        (run_dir / "disc" / name).unlink()
    r = CliRunner().invoke(main, ["run", "e", "--stage", "disc", *s])
    assert r.exit_code == 2 and "stage disc needs stage gen's trained supernet" in r.stderr, r.stderr


def test_a_stray_g_star_snapshot_does_not_let_stage_disc_start_without_stage_gens_checkpoint(tmp_path,
                                                                                             monkeypatch) -> None:
    """Before G* is fixed, a `disc/g_star_start.pt` cannot be this stage's: with stage gen's
    checkpoint missing the run is refused before anything (G*) is stored."""
    from optgan import keys
    from optgan.study.search import load_search

    s, run_dir = _tiny_search_after_one_gen_round("f", tmp_path, monkeypatch)
    (run_dir / "gen" / "checkpoint.pt").unlink()
    (run_dir / "disc").mkdir()
    (run_dir / "disc" / "g_star_start.pt").write_bytes(b"not a snapshot")
    r = CliRunner().invoke(main, ["run", "f", "--stage", "disc", "--gen-trial", "0", *s])
    assert r.exit_code == 2 and "stage disc needs stage gen's trained supernet" in r.stderr, r.stderr
    assert keys.GEN_STAR not in load_search("f", s[1]).study("disc").user_attrs


def test_a_search_stored_for_a_gpu_says_how_to_run_it_here(tmp_path, monkeypatch) -> None:
    # created on one machine for another (`--set device=cuda`): a run where there is none says how
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    s = ["--storage", f"sqlite:///{tmp_path / 'db.sqlite'}"]
    ok("study", "create", "g", "--config", str(ROOT / "studies" / "quickstart.yaml"), *TINY,
       "--set", "device=cuda", "--set", f"run_dir={tmp_path / 'run'}", *s)
    r = CliRunner().invoke(main, ["run", "g", *s])
    assert r.exit_code == 2 and r.stderr.count("\n") == 1, r.stderr
    assert ("`device` = 'cuda' but CUDA is not available here; use `auto` or `cpu`; for this run: "
            "`optgan run g --set device=auto`") in r.stderr


def test_a_search_begun_on_another_kind_of_device_resumes_here(tmp_path, monkeypatch, caplog) -> None:
    # `optgan run NAME --set device=…` may move a search: the latent stream of a checkpoint written
    # on CUDA (a 16-byte Philox state) goes on from a seed derived from it instead of failing
    s, run_dir = _tiny_search_after_one_gen_round("m", tmp_path, monkeypatch)
    path = run_dir / "gen" / "checkpoint.pt"
    state = torch.load(path, weights_only=True)
    state["trainer"]["rng"]["latent"] = torch.arange(16, dtype=torch.uint8)  # as a CUDA generator saves it
    torch.save(state, path)
    r = ok("run", "m", "--stage", "gen", *s)
    assert "stage gen: 2/2 rounds, finished" in r.stdout
    assert "saved on another kind of device cannot continue on cpu" in caplog.text
