"""README.md stays true: every `optgan …` line it shows names a real command and real options,
its `--set` overrides and config keys exist, its benchmark lines parse, its YAML fragments are
valid config sections, and its Python snippets and `arch info` examples run as written.

The README is read as a reader copies it: the lines of its ```bash blocks (continuations joined,
`# …` comments dropped) and the inline code spans of its prose. The config reference table has a
test of its own (tests/config/test_config_reference.py).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import click
import numpy as np
import pytest
import yaml
from _bench_support import load_bench
from _cli_support import ROOT, invoke
from _fake_datasets import fake_cifar10
from optgan_cli.main import main

from optgan.config.data import DataConfig
from optgan.config.reference import config_keys
from optgan.config.study import (
    RUN_MAY_CHANGE,
    StudyConfig,
    load_study_config,
    study_config_from_dict,
)
from optgan.config.train import TrainConfig, load_train_config
from optgan.config.yaml_input import load_yaml
from optgan.errors import ConfigError
from optgan.trainer.data import clear_cache, load_images

README = ROOT / "README.md"
#: what a synopsis writes where a reader puts their own value: not checked as a key
PLACEHOLDER_SETS = {"key=value", "K=V"}
#: file names that look like dotted keys (`metrics.csv`, `bench/sampler.py`): not keys
FILE_SUFFIXES = {"py", "csv", "jsonl", "json", "yaml", "yml", "png", "npz", "pth", "pt", "db", "html", "txt"}


@dataclass
class ReadmeCode:
    bash_lines: list[str] = field(default_factory=list)  #: commands of ```bash blocks, one per entry
    spans: list[str] = field(default_factory=list)  #: inline `code` of the prose, whitespace normalised
    #: fenced blocks by language: (line number of the opening fence, text), list items' dedented
    blocks: dict[str, list[tuple[int, str]]] = field(default_factory=dict)


@cache
def readme_code() -> ReadmeCode:
    code, prose, fence, body, indent, start = ReadmeCode(), [], None, [], 0, 0
    for number, line in enumerate(README.read_text().splitlines(), 1):
        if line.lstrip().startswith("```"):
            if fence is None:
                fence, body, start = line.lstrip()[3:].strip(), [], number
                indent = len(line) - len(line.lstrip())
            else:
                code.blocks.setdefault(fence, []).append((start, "\n".join(b[indent:] for b in body) + "\n"))
                fence = None
        elif fence is None:
            prose.append(line)
        else:
            body.append(line)
    assert fence is None, "README.md has an unclosed ``` fence"
    for _, block in code.blocks.get("bash", []):
        code.bash_lines += [c for c in block.replace("\\\n", " ").splitlines() if c.strip()]
    code.spans = [" ".join(s.split()) for s in re.findall(r"`([^`]+)`", "\n".join(prose))]
    return code


def words(command: str) -> list[str]:
    """Shell words of a command line (comments dropped); plain splitting where it is not shell
    (a table cell's `gen\\|disc`, an ellipsis in quotes)."""
    try:
        return shlex.split(command, comments=True)
    except ValueError:
        return command.split()


def commands(line: str) -> list[list[str]]:
    """The commands of a shell line: its words split at `&&`, `||` and `;` (not at `|`: a table's
    synopsis writes alternatives as `gen\\|disc`, which reads as the same word)."""
    out: list[list[str]] = [[]]
    for w in words(line):
        if w in ("&&", "||", ";"):
            out.append([])
        elif w.endswith(";") and not w.endswith("\\;"):
            out[-1].append(w[:-1])
            out.append([])
        else:
            out[-1].append(w)
    return [c for c in out if c]


def all_commands() -> list[list[str]]:
    code = readme_code()
    return [c for line in code.bash_lines + code.spans for c in commands(line)]


def optgan_lines() -> list[list[str]]:
    return [w for w in all_commands() if w[0] == "optgan"]


def _options(cmd: click.Command) -> set[str]:
    return {o for p in cmd.params for o in (*p.opts, *p.secondary_opts) if o.startswith("-")} | {"-h", "--help"}


def _known(cmd: click.Command, option: str) -> bool:
    names = _options(cmd)
    if option in names:
        return True
    # `-vv`: short flags given together
    return bool(re.fullmatch(r"-[A-Za-z]{2,}", option)) and all(f"-{c}" in names for c in option[1:])


def resolve(argv: list[str]) -> tuple[list[str], click.Command, list[str]] | None:
    """(command path, its click command, the words after it), or None when the words are not a
    command line (`optgan fault: …` quotes a log line). Unknown commands and group options fail."""
    cmd: click.Command = main
    path, i = [], 1
    while isinstance(cmd, click.Group):
        while i < len(argv) and argv[i].startswith("-"):
            assert _known(cmd, argv[i]), f"`{' '.join(argv)}`: `{' '.join(['optgan', *path])}` has no option {argv[i]}"
            i += 1
        if i == len(argv):
            break
        if not re.fullmatch(r"[a-z][a-z-]*", argv[i]):
            return None
        sub = cmd.commands.get(argv[i])
        assert sub is not None, f"`{' '.join(argv)}`: no command `{' '.join(['optgan', *path, argv[i]])}`"
        cmd, path, i = sub, [*path, argv[i]], i + 1
    return path, cmd, argv[i:]


def readme_commands() -> Iterator[tuple[list[str], list[str], click.Command, list[str]]]:
    """(the line's words, command path, click command, the words after it) of every `optgan` line."""
    for argv in optgan_lines():
        found = resolve(argv)
        if found is not None:
            yield (argv, *found)


def option_words(rest: list[str]) -> Iterator[str]:
    """The options among a command's words, also inside a synopsis' `[--stage gen|disc]`."""
    for w in rest:
        m = re.match(r"^[\[(]*(-{1,2}[A-Za-z][\w-]*)", w)
        if m:
            yield m.group(1)


def value_of(rest: list[str], option: str) -> list[str]:
    return [rest[i + 1] for i, w in enumerate(rest[:-1]) if w == option]


@cache
def study_keys() -> frozenset[str]:
    return frozenset(k.key for k in config_keys(StudyConfig))


@cache
def train_keys() -> frozenset[str]:
    return frozenset(k.key for k in config_keys(TrainConfig))


def test_readme_has_what_these_tests_read() -> None:
    code = readme_code()
    assert len(optgan_lines()) > 50 and len(code.bash_lines) > 20 and len(code.blocks["python"]) >= 4
    assert {tuple(path) for _, path, _, _ in readme_commands()} >= {
        ("study", "create"), ("run",), ("status",), ("best",), ("export",), ("train",), ("eval",),
        ("sample",), ("dashboard",), ("report",), ("arch", "info")}


def test_every_optgan_command_and_option_in_the_readme_exists() -> None:
    checked = 0
    for argv, path, cmd, rest in readme_commands():
        for option in option_words(rest):
            assert _known(cmd, option), f"README: `{' '.join(argv)}`: `optgan {' '.join(path)}` has no option {option}"
            checked += 1
    assert checked > 100


def test_every_option_of_every_command_is_in_the_readme() -> None:
    """The other way round: each option of each command shows in a README line of that command,
    but `--storage` and `-v`, which the Commands section states once for all."""
    shown: dict[tuple[str, ...], set[str]] = {}
    for _, path, _, rest in readme_commands():
        shown.setdefault(tuple(path), set()).update(option_words(rest))
    assert "Every command that touches a study takes `--storage URL`; `-v` logs more" in README.read_text()

    def leaves(cmd: click.Command, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], click.Command]]:
        if isinstance(cmd, click.Group):
            for name, sub in cmd.commands.items():
                yield from leaves(sub, (*path, name))
        else:
            yield path, cmd

    for path, cmd in leaves(main, ()):
        for p in cmd.params:
            names = {*p.opts, *p.secondary_opts}
            if isinstance(p, click.Option) and not names & {"--storage", "--verbose"}:
                assert names & shown.get(path, set()), f"README never shows `optgan {' '.join(path)} {max(names, key=len)}`"


def test_the_checks_catch_a_wrong_command_or_option() -> None:
    """The walk above must not pass everything: a renamed command or option is reported."""
    with pytest.raises(AssertionError, match="no command `optgan stauts`"):
        resolve(["optgan", "stauts", "demo"])
    with pytest.raises(AssertionError, match="no command `optgan study craete`"):
        resolve(["optgan", "study", "craete", "demo"])
    path, cmd, rest = resolve(["optgan", "-vv", "run", "demo", "[--stages", "gen\\|disc]"])
    assert path == ["run"] and list(option_words(rest)) == ["--stages"] and not _known(cmd, "--stages")
    assert resolve(["optgan", "fault:", "SIGKILL"]) is None


def test_readme_set_overrides_are_valid_for_their_command() -> None:
    """`--set key=value` of `study create` and `train` (with the preset the line names, values
    included), and of `run` (only the keys a run may change)."""
    checked = 0
    for argv, path, _, rest in readme_commands():
        sets = [s for s in value_of(rest, "--set") if s not in PLACEHOLDER_SETS and "…" not in s]
        if not sets:
            continue
        line = " ".join(argv)
        keys = [s.partition("=")[0] for s in sets]
        presets = [ROOT / c for c in value_of(rest, "--config") if (ROOT / c).is_file()]
        try:
            if path == ["study", "create"]:
                if presets:
                    load_study_config(str(presets[0]), sets)
                assert set(keys) <= study_keys(), line
            elif path == ["train"]:
                load_train_config(str(presets[0]) if presets else None, sets)
                assert set(keys) <= train_keys(), line
            elif path == ["run"]:
                assert set(keys) <= set(RUN_MAY_CHANGE), f"README: `{line}`: a run may not change {keys}"
            else:
                raise AssertionError(f"README: `{line}`: `optgan {' '.join(path)}` takes no --set")
        except ConfigError as e:
            raise AssertionError(f"README: `{line}`: {e}") from None
        checked += len(sets)
    assert checked >= 8


def test_config_keys_named_in_the_readme_exist() -> None:
    """Every `section.key` in the README's inline code (`gen_stage.op_forms`, `metrics.cache_dir`
    …) is a key of a search config or of a training recipe."""
    keys = study_keys() | train_keys()
    sections = sorted({k.split(".")[0] for k in keys if "." in k})
    pattern = re.compile(rf"(?<![\w./-])((?:{'|'.join(sections)})\.[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)")
    named = set()
    for span in readme_code().spans + readme_code().bash_lines:
        for key in pattern.findall(span):
            if key.rsplit(".", 1)[1] in FILE_SUFFIXES:
                continue
            named.add(key)
            assert key in keys or any(k.startswith(key + ".") for k in keys), f"README names `{key}`: no such config key"
    assert len(named) >= 15
    overridden = set()
    for span in readme_code().spans + readme_code().bash_lines:
        for item in value_of(words(span), "--set"):
            if item not in PLACEHOLDER_SETS and "…" not in item:
                overridden.add(key := item.partition("=")[0])
                assert key in keys, f"README: `{span}` overrides `{key}`: no such config key"
    assert len(overridden) >= 10


def _bench_parser(script: str) -> argparse.ArgumentParser:
    return load_bench(script).arg_parser()


def test_readme_benchmark_lines_parse() -> None:
    """`python bench/X.py …` as the README writes it: the benchmark's own parser accepts every
    argument (names and values: comma lists, choices, numbers)."""
    lines = [w for w in all_commands() if len(w) >= 2 and w[0] in ("python", "python3") and w[1].startswith("bench/")]
    assert {w[1] for w in lines} >= {"bench/train.py", "bench/ops.py", "bench/eval.py", "bench/final.py",
                                     "bench/sampler.py", "bench/bookkeeping.py"}
    for argv in lines:
        err = io.StringIO()
        try:
            with contextlib.redirect_stderr(err):
                _bench_parser(argv[1]).parse_args(argv[2:])
        except SystemExit:
            raise AssertionError(f"README: `{' '.join(argv)}`: {err.getvalue().strip()}") from None


def test_readme_yaml_fragments_are_valid_config_sections() -> None:
    """Each ```yaml block replaces its sections of a ready search config and still validates."""
    base = load_yaml(str(ROOT / "studies" / "quickstart.yaml"))
    fragments = readme_code().blocks["yaml"]
    assert fragments
    for _, text in fragments:
        fragment = yaml.safe_load(text)
        assert isinstance(fragment, dict) and set(fragment) <= set(base) | {k.split(".")[0] for k in study_keys()}
        try:
            study_config_from_dict({**base, **fragment})
        except ConfigError as e:
            raise AssertionError(f"README's yaml block {fragment}: {e}") from None


def test_readme_arch_info_examples_print_what_the_readme_shows() -> None:
    """The `optgan arch info` lines with a literal genotype run, and the output the README quotes
    under one (`# {…}`) is what the command prints."""
    lines = readme_code().bash_lines
    ran = 0
    for i, line in enumerate(lines):
        argv = words(line)
        if argv[:3] != ["optgan", "arch", "info"] or not value_of(argv, "--genotype")[0].startswith("["):
            continue
        r = invoke(*argv[1:])
        assert r.exit_code == 0, (line, r.output)
        ran += 1
        quoted = lines[i + 1].strip() if i + 1 < len(lines) else ""
        if quoted.startswith("# {"):
            shown = json.loads(quoted[2:].replace(" ...,", ""))
            printed = json.loads(r.stdout)
            assert {k: printed[k] for k in shown} == shown, f"README quotes {shown} for `{line}`"
    assert ran >= 2


def _snippets() -> list[tuple[int, str]]:
    return readme_code().blocks["python"]


@pytest.mark.parametrize("snippet", _snippets(), ids=[f"line{n}" for n, _ in _snippets()])
def test_readme_python_snippets_run_as_written(snippet: tuple[int, str], tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Each snippet runs as a reader would run it: in a folder like their checkout after the
    README's `optgan study create dry --config studies/dry-run.yaml`, with its own home (caches),
    in a fresh interpreter; the one that downloads CIFAR-10 reads a small copy in torchvision's
    layout instead, and the npz it writes must load as the README says."""
    _, code = snippet
    (tmp_path / "studies").symlink_to(ROOT / "studies")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OPTGAN_STORAGE", raising=False)
    r = invoke("study", "create", "dry", "--config", "studies/dry-run.yaml")
    assert r.exit_code == 0, r.output
    if 'DataConfig(name="cifar10"' in code:
        nhwc = fake_cifar10(tmp_path / "data", monkeypatch, per_batch=4)  # torchvision's md5 list is patched in-process
        exec(compile(code, f"README.md:{snippet[0]}", "exec"), {})
        clear_cache()
        saved = load_images(DataConfig(name="npz", path="train-10k.npz"), 32)
        assert np.array_equal(saved.images.permute(0, 2, 3, 1).numpy(), nhwc[:20])
        assert saved.classes == tuple(f"c{k}" for k in range(10)) and saved.labels is not None
        return
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPTGAN_")}
    env.update(HOME=str(tmp_path / "home"), OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    if "run_synthetic_search" in code:
        assert "DryRunSummary(generations=50, told=800, failed=0" in proc.stdout
    if "PopulationEvaluator" in code:
        assert "'FID_classifier'" in proc.stdout and proc.stdout.strip().endswith("None")


def test_the_layout_names_every_module_and_package_of_optgan() -> None:
    block = README.read_text().split("## Layout", 1)[1].split("```", 2)[1]
    names = {p.name for p in (ROOT / "optgan").iterdir()
             if (p.suffix == ".py" and p.name != "__init__.py") or (p / "__init__.py").is_file()}
    named = set(re.findall(r"[\w]+(?:\.py|/)", block))
    missing = {n for n in names if n not in named and f"{n}/" not in named}
    assert not missing, f"README's layout does not name {sorted(missing)}"
