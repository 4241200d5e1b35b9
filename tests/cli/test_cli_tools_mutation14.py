"""Rules of the tool commands (`cli/train_cmd.py`, `cli/arch_cmd.py`, `cli/dashboard_cmd.py`) the
other tests leave open (found by mutation testing, round 14): the text of `arch info` (cells counted
from 1, the widths line, the violations listed) and the `net` and rounding of its JSON; `train
--device` winning over `--set device=`, the default output folder's name, a discriminator file
searched at other widths being warned about, and the last line of a stopped run; what `eval` hands on
(defaults, --raw, locations, threads), its text lines and `-n 1` refused; `sample` refusing a bad
extension before reading anything, drawing more than one batch of latents, --nrow, and the EMA
weights by default; the dashboard's defaults, its banner on stderr (password hidden, an IPv6 host in
brackets), its uploads folder, the 404 wrapper around the artifact store, and the server closed after
serving."""

from __future__ import annotations

import json
import pathlib
import re
from typing import Any

import numpy as np
import pytest
import torch
from _cli_support import invoke, one_line_error
from click.testing import Result

G = "[[1,1,1,0,2,3,1],[1,1,0,1,3,0,5],[0,1,0,3,0,0,3]]"
D = "[[3,0,3,0,2,0,0],[1,0,3,0,1,-1,-1],[3,0,3,0,1,-1,-1]]"
STUDIES = pathlib.Path(__file__).resolve().parents[2] / "studies"


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test in its own working directory: a `runs/` folder left here by anything else is not seen."""
    monkeypatch.chdir(tmp_path)


def _recipe(tmp: pathlib.Path, *extra: str) -> str:
    """A tiny training recipe on the digits (what `tests/cli/test_cli_train.py` trains on)."""
    lines = ["seed: 1", "device: cpu", "cpu_threads: 1",
             "widths: {gf_dim: 16, df_dim: 16, latent_dim: 12, bottom_width: 2}",
             "data: {name: digits, max_images: 300}", f"disc: '{D}'", "loss: hinge",
             "epochs: 2", "iters_per_epoch: 3", "batch_size_g: 8", "batch_size_d: 8", "n_critic: 1",
             "metrics: {extractor: classifier, metrics: [IS, FID, KID], num_images: 40, batch_size: 20, "
             f"kid_subset_size: 20, cache_dir: '{tmp / 'cache'}', classifier: {{epochs: 1, width: 8, feature_dim: 16}}}}",
             *extra]
    path = tmp / "train-tiny.yaml"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


# --- arch_cmd.py ----------------------------------------------------------------------------------

def test_arch_info_text_numbers_cells_from_one_and_lists_each_violation(tmp_path: pathlib.Path) -> None:
    """The text of `arch info`: the widths used, one line per cell counted from 1, and each violated
    cap on a line of its own under `INFEASIBLE`."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text("caps:\n  disc:\n    params_M: [null, 0.5]\n")
    r = invoke("arch", "info", "--net", "disc", "--genotype", D, "--config", str(cfg))
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines()[1:] == [
        "widths: gf_dim=256 df_dim=128 latent_dim=120 bottom_width=4",
        "  cell 1: 0.311680 M params",
        "  cell 2: 0.147584 M params",
        "  cell 3: 0.295168 M params",
        "params: 0.906240 M   FLOPs (MACs): 263.1 M",
        "caps: params_M in [open, 0.5] -> INFEASIBLE",
        "  violated: params_M = 0.90624 is above the limit 0.5"]


def test_arch_info_json_names_the_net_and_keeps_its_digits() -> None:
    """The JSON of `arch info --net disc` says `disc`, per-cell sizes to 6 decimals, FLOPs to 4."""
    d = json.loads(invoke("arch", "info", "--net", "disc", "--genotype", D, "--json").stdout)
    assert d["net"] == "disc" and d["genotype"] == json.loads(D)
    assert d["params_per_cell_M"] == [0.31168, 0.147584, 0.295168] and d["flops_M"] == 263.0534


def test_arch_info_json_lists_every_violated_cap(tmp_path: pathlib.Path) -> None:
    """Two caps broken: both are in `violations` (not only the first)."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text("caps:\n  gen:\n    params_M: [null, 7.0]\n    flops_M: [null, 1000]\n")
    g = json.loads(invoke("arch", "info", "--net", "gen", "--genotype", G, "--config", str(cfg), "--json").stdout)
    assert len(g["violations"]) == 2 and not g["feasible"], g


# --- train_cmd.py: train ---------------------------------------------------------------------------

def _dry(*args: str) -> Result:
    return invoke("train", "--gen-arch", G, "--dry-run", *args)


def test_train_device_flag_wins_over_set(tmp_path: pathlib.Path) -> None:
    """`--device cpu` overrides both the recipe and `--set device=...` (flags after overrides)."""
    import yaml

    r = _dry("--config", _recipe(tmp_path), "--set", "device=cuda:7", "--device", "cpu")
    assert r.exit_code == 0, r.output
    assert yaml.safe_load(r.stdout.split("\nready:")[0])["config"]["device"] == "cpu"
    assert "\nready: device cpu;" in r.stdout


def test_train_default_output_folder_is_runs_stem_and_8_hex_digits(tmp_path: pathlib.Path) -> None:
    """Without --out: `runs/<config stem>-<8 hex of G and D>`, `runs/default-…` without --config;
    --out is taken as given."""
    import yaml

    def out(*args: str) -> str:
        r = _dry(*args)
        return yaml.safe_load(r.stdout.split("\nready:")[0])["out"]

    cfg = _recipe(tmp_path)
    assert re.fullmatch(r"runs/train-tiny-[0-9a-f]{8}", out("--config", cfg))
    assert re.fullmatch(r"runs/default-[0-9a-f]{8}", out("--disc", "simple"))  # (fails on the data: printed first)
    assert out("--config", cfg, "--out", str(tmp_path / "mine")) == str(tmp_path / "mine")


def test_train_warns_of_a_discriminator_file_searched_at_other_widths(tmp_path: pathlib.Path,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    """A --disc-arch export recorded at other widths than the recipe's is warned about, as --gen-arch is."""
    path = tmp_path / "d.json"
    path.write_text(json.dumps({"net": "disc", "cells": json.loads(D),
                                "widths": {"gf_dim": 32, "df_dim": 32, "latent_dim": 12, "bottom_width": 2}}))
    r = _dry("--config", _recipe(tmp_path), "--disc-arch", str(path))
    assert r.exit_code == 0, r.output
    assert "was searched at other widths than it is used at here" in caplog.text and "df_dim 32 → 16" in caplog.text


def test_train_dry_run_shows_the_discriminator_genotype_it_would_train(tmp_path: pathlib.Path) -> None:
    """The dry run's `disc:` line is the --disc-arch genotype, op by op, not only its kind."""
    import yaml

    r = _dry("--config", _recipe(tmp_path), "--disc-arch", D)
    assert r.exit_code == 0, r.output
    shown = yaml.safe_load(r.stdout.split("\nready:")[0])["disc"]
    assert shown.startswith("c1: e0=conv_3x3, e1=none, e2=conv_3x3") and "c3: e0=conv_3x3" in shown, shown
    assert shown.count("e5=no_down") == 2, shown


def test_a_stopped_training_says_so_with_its_best_fid_to_4_decimals(tmp_path: pathlib.Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The last line of a run cut short: `stopped: 1/2 epochs, …, best FID_classifier 12.3457; outputs in DIR`."""
    from optgan.trainer import final

    def train_final(cfg: Any, genotype: Any, disc_spec: Any, out: str, progress: bool = True) -> Any:
        return final.TrainResult(out_dir=out, finished=False, epochs_done=1, iterations=3, best_fid=12.345678,
                                 last_checkpoint="", best_checkpoint=None)

    monkeypatch.setattr(final, "train_final", train_final)
    r = invoke("train", "--gen-arch", G, "--config", _recipe(tmp_path), "--out", str(tmp_path / "o"), "--no-progress")
    assert r.exit_code == 0, r.output
    assert r.stdout.strip() == f"stopped: 1/2 epochs, 3 iterations, best FID_classifier 12.3457; outputs in {tmp_path / 'o'}"


# --- train_cmd.py: eval ----------------------------------------------------------------------------

REPORT = {"IS_classifier": 1.23456, "IS_classifier_std": 0.1, "FID_classifier": 2.8912, "KID_classifier": 0.0123456,
          "KID_classifier_std": 0.001, "num_images": 50000, "extractor": "classifier", "seed": 0,
          "data": {"name": "digits/train"}, "weights": {"which": "ema", "epoch": 2, "sha256": "0123456789abcdef" * 4}}


@pytest.fixture
def evaluated(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """`evaluate_checkpoint` stubbed: the keyword arguments of each call, and REPORT returned."""
    import optgan.trainer.final_metrics

    calls: list[dict[str, Any]] = []

    def evaluate_checkpoint(checkpoint: str, **kwargs: Any) -> dict[str, Any]:
        calls.append({"checkpoint": checkpoint, **kwargs})
        return REPORT

    monkeypatch.setattr(optgan.trainer.final_metrics, "evaluate_checkpoint", evaluate_checkpoint)
    return calls


def test_eval_hands_on_its_defaults(evaluated: list[dict[str, Any]]) -> None:
    """`eval CK`: 50,000 images, the run's extractor, seed 0, batches of 100, device auto, the EMA G, the
    run's data locations and threads."""
    assert invoke("eval", "ck.pt", "--json").exit_code == 0
    assert evaluated == [{"checkpoint": "ck.pt", "num_images": 50_000, "extractor": None, "seed": 0, "batch_size": 100,
                          "device": "auto", "ema": True, "data_root": None, "data_path": None,
                          "inception_weights": None, "threads": None}]


def test_eval_hands_on_its_flags(evaluated: list[dict[str, Any]], tmp_path: pathlib.Path) -> None:
    """Every flag of `eval` reaches the scoring: --raw is the raw G."""
    r = invoke("eval", "ck.pt", "-n", "30", "--extractor", "inception", "--seed", "3", "--batch-size", "7", "--device",
             "cpu", "--raw", "--cpu-threads", "2", "--data-root", str(tmp_path / "d"), "--data-path",
             str(tmp_path / "x.npz"), "--inception-weights", str(tmp_path / "w.pth"), "--json")
    assert r.exit_code == 0, r.output
    assert evaluated[-1] == {"checkpoint": "ck.pt", "num_images": 30, "extractor": "inception", "seed": 3,
                             "batch_size": 7, "device": "cpu", "ema": False, "data_root": str(tmp_path / "d"),
                             "data_path": str(tmp_path / "x.npz"), "inception_weights": str(tmp_path / "w.pth"),
                             "threads": 2}


def test_eval_prints_one_json_object_or_two_lines_of_text(evaluated: list[dict[str, Any]]) -> None:
    """--json prints the report alone; the text gives IS and KID with their std (3 and 5 decimals), FID
    bare, then N, extractor, data, weights, epoch and 12 digits of the weights' hash."""
    assert json.loads(invoke("eval", "ck.pt", "--json").stdout) == REPORT
    assert invoke("eval", "ck.pt").stdout.splitlines() == [
        "IS_classifier 1.235 ± 0.100   FID_classifier 2.891   KID_classifier 0.01235 ± 0.00100",
        "N=50000 extractor=classifier data=digits/train weights=ema epoch=2 sha256=0123456789ab"]


def test_eval_needs_at_least_two_images(evaluated: list[dict[str, Any]]) -> None:
    """`eval -n 1` is a usage error (no FID of one image), before any scoring."""
    r = invoke("eval", "ck.pt", "-n", "1")
    assert r.exit_code == 2 and "1<=x" not in r.stderr and "x>=2" in r.stderr and not evaluated, r.output


# --- train_cmd.py: sample --------------------------------------------------------------------------

def _checkpoint(path: pathlib.Path, ema_from_raw: bool = False) -> dict[str, Any]:
    """A hand-made training checkpoint (tiny widths, 8 px images) whose EMA weights differ from its raw
    ones; with `ema_from_raw`, the raw weights are those EMA weights too."""
    from optgan.search_space import Genotype, Widths
    from optgan.supernet import build_generator

    g = Genotype.from_array("gen", json.loads(G))
    net = build_generator(g, Widths(gf_dim=8, df_dim=8, latent_dim=12, bottom_width=2),
                          generator=torch.Generator().manual_seed(0))
    raw = {k: v.clone() for k, v in net.state_dict().items()}
    ema = {k: (v + 0.05 if v.is_floating_point() else v.clone()) for k, v in raw.items()}
    arch = {"gen": g.to_json_dict(), "widths": {"gf_dim": 8, "df_dim": 8, "latent_dim": 12, "bottom_width": 2}}
    ck = {"format": "optgan.final-training", "arch": arch, "gen": ema if ema_from_raw else raw, "gen_ema": ema}
    torch.save(ck, path)
    return ck


def _grid(path: pathlib.Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im)


def test_sample_refuses_a_bad_extension_before_reading_the_checkpoint(tmp_path: pathlib.Path) -> None:
    """`sample missing.pt -o grid.gif` names the extension, not the missing checkpoint."""
    one_line_error(invoke("sample", str(tmp_path / "missing.pt"), "-o", str(tmp_path / "grid.gif")),
                    "its extension '.gif' is not an image format")


def test_sample_draws_every_image_asked_for_in_rows_of_nrow(tmp_path: pathlib.Path) -> None:
    """`-n 300 --nrow 300` (more than one batch of 256 latents): one row of 300 images."""
    _checkpoint(tmp_path / "c.pt")
    one_row, square = tmp_path / "row.png", tmp_path / "square.png"
    r = invoke("sample", str(tmp_path / "c.pt"), "-n", "300", "--nrow", "300", "-o", str(one_row), "--device", "cpu")
    assert r.exit_code == 0 and r.stdout == f"wrote 300 images to {one_row}\n", r.output
    assert invoke("sample", str(tmp_path / "c.pt"), "-n", "300", "-o", str(square), "--device", "cpu").exit_code == 0
    row, sq = _grid(one_row), _grid(square)
    assert row.shape[1] > 20 * row.shape[0]  # one long row
    assert sq.shape[1] < 2 * sq.shape[0]  # the default: about square
    assert row.shape[1] == 300 * (row.shape[0] - 2) + 2  # 300 images of 8 px, each with a 2 px border


def test_sample_uses_the_ema_weights_unless_raw(tmp_path: pathlib.Path) -> None:
    """The default grid is the EMA generator's: the same as a checkpoint whose raw weights are that EMA."""
    _checkpoint(tmp_path / "a.pt")
    _checkpoint(tmp_path / "b.pt", ema_from_raw=True)
    for name in ("a", "b"):
        assert invoke("sample", str(tmp_path / f"{name}.pt"), "-n", "4", "-o", str(tmp_path / f"{name}.png"),
                    "--device", "cpu").exit_code == 0
    r = invoke("sample", str(tmp_path / "a.pt"), "-n", "4", "--raw", "-o", str(tmp_path / "raw.png"), "--device", "cpu")
    assert r.exit_code == 0, r.output
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()
    assert (tmp_path / "raw.png").read_bytes() != (tmp_path / "a.png").read_bytes()
    r = invoke("sample", str(tmp_path / "b.pt"), "-n", "4", "--raw", "-o", str(tmp_path / "b-raw.png"), "--device", "cpu")
    assert (tmp_path / "b-raw.png").read_bytes() == (tmp_path / "b.png").read_bytes()


# --- dashboard_cmd.py ------------------------------------------------------------------------------

def _banner(monkeypatch: pytest.MonkeyPatch, storage: str, *args: str) -> Result:
    """`optgan dashboard` up to serving (`_listen` and `_serve` stubbed); returns the result, having checked
    that the server was closed after serving."""
    import types

    from optgan_cli import dashboard_cmd

    listened: list[tuple[str, int]] = []
    closed: list[bool] = []

    def listen(host: str, port: int) -> object:
        listened.append((host, port))
        return types.SimpleNamespace(server_port=4321, server_close=lambda: closed.append(True))

    monkeypatch.setattr(dashboard_cmd, "_listen", listen)
    monkeypatch.setattr(dashboard_cmd, "_serve", lambda server, storage, artifact_store: None)
    r = invoke("dashboard", *args, "--storage", storage)
    assert r.exit_code == 0, r.output
    assert closed == [True]  # the listening socket is closed once serving ends
    r.listened = listened  # type: ignore[attr-defined]
    return r


def test_dashboard_banner_is_on_stderr_with_the_defaults(tmp_path: pathlib.Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Default 127.0.0.1:8080; the URL line goes to stderr (stdout stays empty); IPv6 hosts are bracketed."""
    from optgan.study.storage import open_storage

    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    open_storage(url).engine.dispose()
    r = _banner(monkeypatch, url)
    assert r.listened == [("127.0.0.1", 8080)] and r.stdout == ""  # type: ignore[attr-defined]
    assert r.stderr == f"optuna-dashboard for {url} at http://127.0.0.1:4321/  (Ctrl-C to stop)\n"
    r = _banner(monkeypatch, url, "--host", "::1", "--port", "0")
    assert r.listened == [("::1", 0)] and "at http://[::1]:4321/" in r.stderr  # type: ignore[attr-defined]


def test_dashboard_hides_the_password_and_serves_pictures_through_the_404_wrapper(
        tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The banner shows the storage URL without its password; the server gets the run directories'
    artifact store (uploads in `optgan-runs/dashboard-uploads` by the SQLite file) wrapped so that a
    missing picture is a 404."""
    import types

    import optgan.study.artifacts
    import optgan.study.storage
    from optgan_cli import dashboard_cmd

    stores: list[tuple[object, pathlib.Path]] = []
    served: list[object] = []
    monkeypatch.setattr(optgan.study.storage, "open_storage", lambda url, create: "rdb")
    monkeypatch.setattr(optgan.study.artifacts, "RunDirsArtifactStore",
                        lambda rdb, uploads, extra_run_dirs: stores.append((rdb, uploads)) or "store")
    monkeypatch.setattr(dashboard_cmd, "_listen",
                        lambda host, port: types.SimpleNamespace(server_port=1234, server_close=lambda: None))
    monkeypatch.setattr(dashboard_cmd, "_serve", lambda server, storage, artifact_store: served.append(artifact_store))
    r = invoke("dashboard", "--storage", "postgresql://me:s3cret@db.example/optuna")
    assert r.exit_code == 0, r.output
    assert "s3cret" not in r.stderr and "postgresql://me:***@db.example/optuna at http://127.0.0.1:1234/" in r.stderr
    r = invoke("dashboard", "--storage", f"sqlite:///{tmp_path / 'db.sqlite'}")
    assert r.exit_code == 0, r.output
    assert stores[-1] == ("rdb", tmp_path.resolve() / "optgan-runs" / "dashboard-uploads")
    assert isinstance(served[-1], dashboard_cmd._MissingAs404) and served[-1]._store == "store"
