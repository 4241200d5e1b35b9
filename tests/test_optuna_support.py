"""The Optuna releases optgan admits (optgan/optuna_support.py): pyproject's requirement, every
private Optuna name the code imports still there, and the one line for an Optuna that lacks one."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import logging
import pathlib
import tomllib

import optuna
import pytest
from _cli_support import readme_block
from click.testing import CliRunner
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from optgan.errors import OptganError
from optgan.optuna_support import (
    REQUIREMENT,
    SUPPORTED,
    UnsupportedOptunaWarning,
    optuna_mismatch,
    unsupported_optuna_warning,
)
from optgan_cli.main import main

ROOT = pathlib.Path(__file__).resolve().parents[1]
#: the folders whose code is installed or run (the library, the CLI, the benchmarks)
CODE = ("optgan", "cli", "bench")


def _private(module: str) -> bool:
    return any(part.startswith("_") for part in module.split("."))


def private_optuna_imports() -> set[tuple[str, str | None]]:
    """(module, name) of every `from optuna… import name` / `import optuna…` in the code whose
    module or name is private (a part starting with `_`); name None for a plain import."""
    found: set[tuple[str, str | None]] = set()
    for folder in CODE:
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("optuna"):
                    module = node.module or ""
                    found.update((module, a.name) for a in node.names if _private(module) or a.name.startswith("_"))
                elif isinstance(node, ast.Import):
                    found.update((a.name, None) for a in node.names
                                 if a.name.partition(".")[0] == "optuna" and _private(a.name))
    return found


def test_pyproject_requires_the_supported_optuna_and_the_installed_one_is_in_it() -> None:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    optuna_reqs = [Requirement(d) for d in deps if Requirement(d).name == "optuna"]
    assert [str(r.specifier) for r in optuna_reqs] == [str(Requirement(REQUIREMENT).specifier)]
    assert optuna_reqs[0].specifier.contains(optuna.__version__), \
        f"optuna {optuna.__version__} is installed, outside {SUPPORTED}: test it, then widen SUPPORTED and pyproject"


def test_the_scan_finds_the_private_names_the_code_is_known_to_use() -> None:
    found = private_optuna_imports()
    # negative control for the scan itself: these uses are in the code today (a scan that finds
    # nothing would make the next test pass vacuously)
    assert {("optuna.storages._rdb", "models"), ("optuna.storages._cached_storage", "_CachedStorage"),
            ("optuna._hypervolume", "compute_hypervolume")} <= found
    # BaseGASampler is public (optuna.samplers); the private module path is not used for it
    assert ("optuna.samplers._ga", "BaseGASampler") not in found


@pytest.mark.parametrize("module,name", sorted(private_optuna_imports(), key=str))
def test_every_private_optuna_name_the_code_imports_exists(module: str, name: str | None) -> None:
    imported = importlib.import_module(module)
    if name is not None:
        submodule = hasattr(imported, "__path__") and importlib.util.find_spec(f"{module}.{name}") is not None
        assert hasattr(imported, name) or submodule, \
            f"optuna {optuna.__version__} has no {module}.{name}"


def test_an_import_error_from_optuna_becomes_a_one_line_error_naming_what_to_install() -> None:
    moved = ImportError("cannot import name 'models' from 'optuna.storages._rdb' (/x/optuna/storages/_rdb/__init__.py)",
                        name="optuna.storages._rdb")
    err = optuna_mismatch(moved)
    assert isinstance(err, OptganError)
    text = str(err)
    assert f"optuna {optuna.__version__}" in text and f'pip install "optuna{SUPPORTED}"' in text
    assert "cannot import name 'models' from 'optuna.storages._rdb'" in text and "/x/optuna" not in text
    gone = ModuleNotFoundError("No module named 'optuna._hypervolume'", name="optuna._hypervolume")
    assert optuna_mismatch(gone) is not None


@pytest.mark.parametrize("error", [ImportError("no psycopg", name="psycopg"), ImportError("no name"),
                                   ModuleNotFoundError("No module named 'optuna_dashboard'", name="optuna_dashboard"),
                                   ValueError("optuna")])
def test_other_errors_are_not_taken_for_an_optuna_mismatch(error: BaseException) -> None:
    assert optuna_mismatch(error) is None


def test_the_cli_reports_an_optuna_without_a_name_it_needs_in_one_line(command) -> None:  # noqa: ANN001
    def body() -> None:
        raise ImportError("cannot import name '_CachedStorage' from 'optuna.storages._cached_storage'",
                          name="optuna.storages._cached_storage")

    command(body)
    r = CliRunner().invoke(main, ["work"], catch_exceptions=False)
    assert r.exit_code == 2
    assert r.stderr.startswith("error: the installed optuna ") and r.stderr.count("\n") == 1
    assert f'pip install "optuna{SUPPORTED}"' in r.stderr


def test_the_cli_leaves_other_import_errors_as_they_are(command) -> None:  # noqa: ANN001
    def body() -> None:
        raise ImportError("something else", name="somepackage")

    command(body)
    with pytest.raises(ImportError, match="something else"):
        CliRunner().invoke(main, ["work"], catch_exceptions=False)


@pytest.mark.parametrize("version", ["5.0.0", "5.1.0", "5.1.7", "5.1.1.dev0"])
def test_no_warning_for_a_supported_optuna(version: str) -> None:
    assert unsupported_optuna_warning(version) is None


@pytest.mark.parametrize("version", ["4.9.0", "5.2.0", "5.2.0rc1", "6.0.0", "not-a-version"])
def test_a_warning_naming_the_release_and_what_to_install_for_any_other(version: str) -> None:
    text = unsupported_optuna_warning(version)
    assert text is not None and f"optuna {version} is not among" in text and f'pip install "optuna{SUPPORTED}"' in text


def test_the_installed_optuna_gets_no_warning() -> None:
    assert unsupported_optuna_warning() is None


def test_every_command_warns_first_on_an_unsupported_optuna(caplog: pytest.LogCaptureFixture,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    args = ["arch", "info", "--net", "gen", "--genotype", "[[1,1,1,0,2,3,1],[1,1,0,1,3,0,5],[0,1,0,3,0,0,3]]"]
    with caplog.at_level(logging.WARNING, logger="optgan"):
        assert CliRunner().invoke(main, args).exit_code == 0
        assert "is not among the releases" not in caplog.text  # negative control: the installed one
        monkeypatch.setattr(optuna, "__version__", "4.9.0")
        r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.stderr
    assert "optuna 4.9.0 is not among the releases optgan is tested with" in caplog.text


def test_the_python_api_warns_on_an_unsupported_optuna_and_the_cli_logs_it_once_instead(
        command, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    """Building a sampler (every way into a study from Python) issues the warning; a command only
    logs it (its own line above), not a Python warning as well."""
    import warnings

    from optgan.config.study import StudyConfig
    from optgan.sampler import make_sampler

    with warnings.catch_warnings():
        warnings.simplefilter("error", UnsupportedOptunaWarning)
        make_sampler(StudyConfig(), net="gen")  # negative control: the installed Optuna is supported
    monkeypatch.setattr(optuna, "__version__", "4.9.0")
    with pytest.warns(UnsupportedOptunaWarning, match=r"optuna 4\.9\.0 is not among the releases"):
        make_sampler(StudyConfig(), net="gen")
    command(lambda: make_sampler(StudyConfig(), net="gen"))
    with warnings.catch_warnings(record=True) as seen, caplog.at_level(logging.WARNING, logger="optgan"):
        warnings.simplefilter("always")  # (so one shown above would show again)
        r = CliRunner().invoke(main, ["work"])
    assert r.exit_code == 0, r.output
    assert [w for w in seen if issubclass(w.category, UnsupportedOptunaWarning)] == []
    assert caplog.text.count("optuna 4.9.0 is not among the releases") == 1


def test_ci_tests_the_lowest_optuna_release_pyproject_admits() -> None:
    lines = [line for line in readme_block("lowest-optuna-block").splitlines()
             if line.strip() and not line.startswith("```")]
    installs = [Version(line.split("==", 1)[1]) for line in lines if line.startswith("pip install optuna==")]
    lowest = min(Version(s.version) for s in SpecifierSet(SUPPORTED) if s.operator == ">=")
    assert installs == [lowest], (installs, SUPPORTED)
    pytest_line = next(line for line in lines if line.startswith("python -m pytest"))
    for path in ("tests/study", "tests/sampler", "tests/test_optuna_support.py", "tests/test_static_types.py"):
        assert path in pytest_line.split() and (ROOT / path).exists()
    assert lines[-1] == "pip install -c tests/constraints.txt optuna"  # back on the pinned release
    assert "ci:lowest-optuna-block:start" in (ROOT / ".ci" / "run").read_text()
