"""`optgan --help/--version` and `optgan arch info`, including bad input (exit 2, one line)."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import pytest
from click.testing import CliRunner

import optgan
from optgan_cli.main import main

G = "[[1,1,1,0,2,3,1],[1,1,0,1,3,0,5],[0,1,0,3,0,0,3]]"
D = "[[3,0,3,0,2,0,0],[1,0,3,0,1,-1,-1],[3,0,3,0,1,-1,-1]]"


def run(*args: str):
    return CliRunner().invoke(main, list(args))


def test_help_and_version() -> None:
    assert run("--help").exit_code == 0
    r = run("--version")
    assert r.exit_code == 0 and optgan.__version__ in r.output


def test_arch_info_json_reproduces_paper_numbers() -> None:
    r = run("arch", "info", "--net", "gen", "--genotype", G, "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["params_M"] == 7.142403
    assert abs(out["flops_M"] - 1891.6) / 1891.6 < 0.005
    assert len(out["params_per_cell_M"]) == 3 and out["feasible"] and out["violations"] == []
    d = json.loads(run("arch", "info", "--net", "disc", "--genotype", D, "--json").stdout)
    assert d["params_M"] == 0.90624


def test_arch_info_human_output_and_file(tmp_path) -> None:
    path = tmp_path / "g.json"
    path.write_text(json.dumps({"net": "gen", "cells": json.loads(G)}))
    r = run("arch", "info", "--net", "gen", "--genotype", str(path))
    assert r.exit_code == 0 and "params: 7.142403 M" in r.stdout and "feasible" in r.stdout


def test_arch_info_uses_the_widths_an_exported_file_records(tmp_path, caplog) -> None:
    path = tmp_path / "small.json"
    path.write_text(json.dumps({"net": "gen", "cells": json.loads(G),
                                "widths": {"gf_dim": 32, "df_dim": 32, "latent_dim": 24, "bottom_width": 2}}))
    small = json.loads(run("arch", "info", "--net", "gen", "--genotype", str(path), "--json").stdout)
    assert small["params_M"] < 0.5  # not the 7.142403 M of CIFAR-10 widths
    studies = pathlib.Path(__file__).resolve().parents[2] / "studies"  # --config still decides when given
    r = run("arch", "info", "--net", "gen", "--genotype", str(path), "--config", str(studies / "train-cifar10.yaml"),
            "--json")
    assert json.loads(r.stdout)["params_M"] == 7.142403
    # … and says that the file was searched at other widths (as `optgan train` does)
    assert "was searched at other widths than it is used at here (gf_dim 32 → 256, latent_dim 24 → 120, bottom_width 2 → 4)" in caplog.text
    caplog.clear()
    same = tmp_path / "c10.json"  # an export at the config's widths: no warning
    same.write_text(json.dumps({"net": "gen", "cells": json.loads(G),
                                "widths": {"gf_dim": 256, "df_dim": 128, "latent_dim": 120, "bottom_width": 4}}))
    r = run("arch", "info", "--net", "gen", "--genotype", str(same), "--config", str(studies / "train-cifar10.yaml"))
    assert r.exit_code == 0 and "other widths" not in caplog.text, caplog.text
    path.write_text(json.dumps({"net": "gen", "cells": json.loads(G), "widths": {"gf": 3}}))
    r = run("arch", "info", "--net", "gen", "--genotype", str(path))
    assert r.exit_code == 2 and "`widths` {'gf': 3} are not widths" in r.stderr


def test_arch_info_caps_from_config(tmp_path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("caps:\n  gen:\n    params_M: [null, 7.0]\n")
    out = json.loads(run("arch", "info", "--net", "gen", "--genotype", G, "--config", str(cfg), "--json").stdout)
    assert not out["feasible"] and out["violations"] == ["params_M = 7.1424 is above the limit 7"]


def test_arch_info_checks_each_net_against_its_own_caps(tmp_path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("caps:\n  gen:\n    params_M: [null, 7.0]\n  disc:\n    params_M: [null, 0.5]\n")
    d = json.loads(run("arch", "info", "--net", "disc", "--genotype", D, "--config", str(cfg), "--json").stdout)
    assert d["violations"] == ["params_M = 0.90624 is above the limit 0.5"]


def test_arch_info_takes_a_training_recipe_for_its_widths() -> None:
    studies = pathlib.Path(__file__).resolve().parents[2] / "studies"
    c10 = json.loads(run("arch", "info", "--net", "gen", "--genotype", G, "--config", str(studies / "train-cifar10.yaml"),
                         "--json").stdout)
    assert c10["params_M"] == 7.142403 and c10["feasible"]
    stl = json.loads(run("arch", "info", "--net", "gen", "--genotype", G, "--config", str(studies / "train-stl10.yaml"),
                         "--json").stdout)
    assert stl["params_M"] > c10["params_M"]  # 6×6 bottom: a bigger first linear layer


@pytest.mark.parametrize(("text", "needle"), [
    ("widths: {gf_dim: 8}\nbogus: 1\n", "unknown key `bogus`; allowed keys: caps"),  # read as a study config
    ("widths: {gf_dim: 8}\nepochs: -1\nloss: hinge\n", "`epochs` = -1 is out of range"),  # as a recipe
])
def test_arch_info_config_errors_are_the_right_kinds(tmp_path, text: str, needle: str) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(text)
    r = run("arch", "info", "--net", "gen", "--genotype", G, "--config", str(cfg))
    assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1
    assert needle in r.stderr, r.stderr


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["arch", "info", "--net", "gen", "--genotype", "[[1,1]]"], "gen genotype must have 3 cells"),
        (["arch", "info", "--net", "gen", "--genotype", "nope.json"], "neither JSON nor an existing file"),
        (["arch", "info", "--net", "disc", "--genotype", "[[0,0,3,0,2,0,0],[1,0,3,0,1,-1,-1],[3,0,3,0,1,-1,-1]]"], "disc genotype, cell 1, edge e0"),
        (["arch", "info", "--net", "gen", "--genotype", G, "--config", "missing.yaml"], "config file not found"),
        (["arch", "info", "--net", "xyz", "--genotype", G], "'xyz' is not one of"),
        (["arch", "info", "--genotype", G], "Missing option '--net'. Choose from: gen, disc (see `"),
        (["nosuchcommand"], "No such command"),
    ],
)
def test_bad_input_is_one_line_exit_2(args: list[str], needle: str) -> None:
    r = run(*args)
    assert r.exit_code == 2, r.output
    assert needle in r.stderr and r.stderr.startswith("error: ")
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


def test_console_script_runs_as_installed() -> None:
    p = subprocess.run([sys.executable, "-m", "optgan_cli", "arch", "info", "--net", "gen", "--genotype", "[]"],
                       capture_output=True, text=True)
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "Traceback" not in p.stderr



@pytest.mark.parametrize("error", [MemoryError(), RuntimeError("[enforce fail at alloc_cpu.cpp:121] data. "
                                   "DefaultCPUAllocator: can't allocate memory: you tried to allocate 4000000000000 bytes")])
def test_running_out_of_memory_is_one_line(error: Exception, monkeypatch) -> None:
    from optgan_cli import arch_cmd

    def alloc(*_: object) -> dict:
        raise error

    monkeypatch.setattr(arch_cmd, "arch_report", alloc)
    r = run("arch", "info", "--net", "gen", "--genotype", G)
    assert r.exit_code == 2 and r.stderr.startswith("error: out of memory") and len(r.stderr.strip().splitlines()) == 1
    assert "lower the widths, batch sizes or image counts" in r.stderr


def test_other_runtime_errors_still_surface(monkeypatch) -> None:
    from optgan_cli import arch_cmd

    def bug(*_: object) -> dict:
        raise RuntimeError("a bug")

    monkeypatch.setattr(arch_cmd, "arch_report", bug)
    with pytest.raises(RuntimeError, match="a bug"):
        CliRunner().invoke(main, ["arch", "info", "--net", "gen", "--genotype", G], catch_exceptions=False)
