"""`-v` / `-vv` work before the command (`optgan -vv run …`) and after it (`optgan run … -vv`),
and the counts add up."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import click

from optgan_cli.main import main


def _optgan(tmp_path: pathlib.Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OPTGAN_STORAGE": f"sqlite:///{tmp_path / 'optgan.db'}"}
    return subprocess.run([sys.executable, "-m", "optgan_cli", *args], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120)


def test_verbose_counts_before_and_after_the_command(tmp_path: pathlib.Path) -> None:
    (tmp_path / "bad.yaml").write_text("seed: [\n")
    create = ["study", "create", "x", "--config", "bad.yaml"]
    quiet = _optgan(tmp_path, *create)
    assert quiet.returncode == 2 and quiet.stderr.startswith("error: config file bad.yaml is not valid YAML")
    assert len(quiet.stderr.splitlines()) == 1
    for args in ([*create, "-vv"], ["-vv", *create], ["-v", *create, "-v"], [*create, "--verbose", "--verbose"],
                 ["study", "-v", *create[1:], "-v"]):
        r = _optgan(tmp_path, *args)  # debug: the error's traceback is logged before its one line
        assert r.returncode == 2 and "Traceback" in r.stderr, args
        assert r.stderr.splitlines()[-1] == quiet.stderr.strip(), args
    one = _optgan(tmp_path, *create, "-v")  # info only: no traceback
    assert one.returncode == 2 and "Traceback" not in one.stderr


def test_every_command_takes_verbose() -> None:
    def leaves(command: click.Command, path: str) -> list[tuple[str, click.Command]]:
        if isinstance(command, click.Group):  # the group itself too
            return [(path, command)] + [leaf for name, sub in command.commands.items() for leaf in leaves(sub, f"{path} {name}")]
        return [(path, command)]

    found = leaves(main, "optgan")
    assert len(found) >= 15
    for path, command in found:
        assert any("-v" in p.opts and "--verbose" in p.opts for p in command.params), path


def test_verbosity_ends_with_the_invocation() -> None:
    """Many commands run in one process (tests, notebooks): `-vv` must not leave debug logging on."""
    import logging

    import optuna
    from click.testing import CliRunner

    root, ours = logging.getLogger(), logging.getLogger("optgan")
    before = root.level, ours.level, optuna.logging.get_verbosity()
    for args in (["-vv", "study", "--help"], ["study", "list", "--help", "-vv"], ["arch", "info", "-v", "--net", "gen",
                                                                                  "--genotype", "not-a-genotype"]):
        CliRunner().invoke(main, args)
        assert (root.level, ours.level, optuna.logging.get_verbosity()) == before, args
