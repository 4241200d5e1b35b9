"""Rules of the CLI's stop handling, one-line errors and shared helpers (`cli/stops.py`,
`cli/entry.py`, `cli/main.py`, `cli/options.py`) the other CLI tests leave open (found by mutation
testing, round 13): which signal handlers and hooks a command installs and gives back, which stops
count, the exact stop and usage lines, exit codes, verbosity and the registration of commands."""

from __future__ import annotations

import builtins
import logging
import signal
import sys
import threading
import time
import types
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import optuna
import pytest
from click.testing import CliRunner, Result

from optgan_cli import entry, stops
from optgan_cli import main as cli_main
from optgan_cli.main import _fail, _set_verbosity, main
from optgan_cli.options import check_output_folder, stage_option, storage_option, warn_device_elsewhere
from optgan_cli.stops import Terminated, no_cleanup_noise_after_a_stop, stop_behind


def _invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), prog_name="optgan", catch_exceptions=False)


@pytest.fixture
def default_signals() -> Iterator[None]:
    """SIGTERM, SIGHUP and SIGINT as in a terminal, restored afterwards."""
    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)}
    for s in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    for s, handler in saved.items():
        signal.signal(s, handler)


# --- stops.py -------------------------------------------------------------------------------------

def test_sighup_is_taken_during_a_command_and_given_back(command, default_signals) -> None:
    """A closed terminal (SIGHUP) stops a command like SIGTERM; the default handler is back afterwards."""
    seen: list[Any] = []
    command(lambda: seen.append(signal.getsignal(signal.SIGHUP)))
    assert _invoke("work").exit_code == 0
    assert callable(seen[0]) and signal.getsignal(signal.SIGHUP) is signal.SIG_DFL


def test_ctrl_c_under_the_console_scripts_handler_is_taken_too(command, default_signals) -> None:
    """The console script installs `interrupt_after_imports` for SIGINT; a command replaces it
    (so a Ctrl-C is noted) and gives it back."""
    signal.signal(signal.SIGINT, entry.interrupt_after_imports)
    seen: list[Any] = []
    command(lambda: seen.append(signal.getsignal(signal.SIGINT)))
    assert _invoke("work").exit_code == 0
    assert seen[0] not in (entry.interrupt_after_imports, signal.default_int_handler)
    assert signal.getsignal(signal.SIGINT) is entry.interrupt_after_imports


def test_a_command_in_another_thread_leaves_handlers_and_hook_alone(command, default_signals) -> None:
    """CliRunner in a thread: signals can only be handled on the main thread, so nothing is replaced."""
    seen: list[Any] = []
    command(lambda: seen.append((signal.getsignal(signal.SIGTERM), sys.unraisablehook)))
    hook = sys.unraisablehook
    box: list[Any] = []

    def run() -> None:
        try:
            box.append(_invoke("work").exit_code)
        except BaseException as e:  # noqa: BLE001 - reported by the assertion below
            box.append(e)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(60)
    assert box == [0]
    assert seen == [(signal.SIG_DFL, hook)]


def test_the_unraisable_hook_is_replaced_during_a_command_only(command, default_signals) -> None:
    hook = sys.unraisablehook
    seen: list[Any] = []
    command(lambda: seen.append(sys.unraisablehook))
    assert _invoke("work").exit_code == 0
    assert seen[0] is not hook and sys.unraisablehook is hook


def test_the_unraisable_hook_sends_stops_again_and_passes_on_the_rest(monkeypatch) -> None:
    sent: list[int] = []
    passed: list[Any] = []
    monkeypatch.setattr(stops, "send_again_soon", sent.append)
    hook = stops._redeliver_swallowed_stops(passed.append)
    for exc in (Terminated(signal.SIGHUP), KeyboardInterrupt(), ValueError("in a __del__")):
        hook(types.SimpleNamespace(exc_value=exc))
    assert sent == [signal.SIGHUP, signal.SIGINT]
    assert [type(u.exc_value) for u in passed] == [ValueError]


def test_only_stops_received_during_the_command_count(command, default_signals, monkeypatch) -> None:
    """A stop noted before the command started is not blamed for the command's own error."""
    monkeypatch.setattr(stops, "received", [signal.SIGTERM])

    def body() -> None:
        raise ValueError("a real bug")

    command(body)
    with pytest.raises(ValueError, match="a real bug"):
        _invoke("work")


def test_a_stop_a_command_swallowed_does_not_fail_a_finished_command(command, default_signals) -> None:
    """A stop some library caught, after which the command finished anyway: exit 0, and the stop is
    forgotten once the command is done."""
    def body() -> None:
        try:
            signal.raise_signal(signal.SIGTERM)
            time.sleep(5)
        except KeyboardInterrupt:
            pass
        assert stops.stop_received()

    command(body)
    r = _invoke("work")
    assert (r.exit_code, r.stderr) == (0, "")
    assert not stops.stop_received()


def test_a_chained_stop_wins_over_the_received_ones(monkeypatch) -> None:
    monkeypatch.setattr(stops, "received", [])
    assert stop_behind(ValueError("a real bug")) is None
    monkeypatch.setattr(stops, "received", [signal.SIGTERM])
    try:
        raise ValueError("wrapped") from KeyboardInterrupt()
    except ValueError as e:
        assert type(stop_behind(e)) is KeyboardInterrupt


def _record(name: str) -> logging.LogRecord:
    try:
        try:
            raise Terminated(15)
        except Terminated:
            raise RuntimeError("Cannot operate on a closed database.")  # context, as SQLAlchemy's
    except RuntimeError:
        info = sys.exc_info()
    return logging.LogRecord(name, logging.ERROR, __file__, 1, "Error closing cursor", None, info)


def test_cleanup_noise_of_every_sqlalchemy_logger_is_dropped_and_only_theirs() -> None:
    assert not no_cleanup_noise_after_a_stop(_record("sqlalchemy.engine.Engine"))
    assert no_cleanup_noise_after_a_stop(_record("optgan.study"))


# --- entry.py -------------------------------------------------------------------------------------

def test_the_console_script_takes_ctrl_c_only_where_it_is_python_s_own(monkeypatch, default_signals) -> None:
    seen: list[Any] = []
    monkeypatch.setattr(cli_main, "main", lambda: seen.append(signal.getsignal(signal.SIGINT)))
    entry.main()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a script's background job: Ctrl-C stays ignored
    entry.main()
    assert seen == [entry.interrupt_after_imports, signal.SIG_IGN]


def test_a_stop_is_found_behind_an_implicit_context() -> None:
    try:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            raise RuntimeError("raised while handling it")  # no `from`: __context__ only
    except RuntimeError as e:
        assert type(entry.exception_behind(e, KeyboardInterrupt)) is KeyboardInterrupt


def test_importing_a_submodule_of_torch_holds_a_stop_back(tmp_path: Path, monkeypatch) -> None:
    """`import torch.nn` (or torchvision.ops) counts as importing torch."""
    (tmp_path / "torchstandin_c").mkdir()
    (tmp_path / "torchstandin_c" / "__init__.py").write_text("")
    (tmp_path / "torchstandin_c" / "sub.py").write_text(
        "from optgan_cli import entry\nsaid_here = entry.importing_unstoppable()\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(entry, "NO_STOP_WHILE_IMPORTING", frozenset({"torchstandin_c"}))
    try:
        import torchstandin_c  # the parent first, so that only the submodule is being imported
        import torchstandin_c.sub
        assert torchstandin_c.sub.said_here is True
    finally:
        for name in ("torchstandin_c", "torchstandin_c.sub"):
            sys.modules.pop(name, None)


# --- main.py --------------------------------------------------------------------------------------

def test_stop_lines_have_no_blank_line_before_them_off_a_terminal(command, default_signals, monkeypatch) -> None:
    """Click prints an empty line before every stop (to end a terminal's ``^C`` echo): only a Ctrl-C
    on a terminal gets one."""
    stop: list[BaseException] = [KeyboardInterrupt()]

    def body() -> None:
        raise stop[0]

    command(body)
    assert _invoke("work").stderr == "error: stopped\n"
    stop[0] = Terminated(signal.SIGTERM)
    assert _invoke("work").stderr == "error: stopped by SIGTERM\n"
    monkeypatch.setattr(cli_main, "_is_terminal", lambda _stream: True)
    assert _invoke("work").stderr == "error: stopped by SIGTERM\n"
    stop[0] = KeyboardInterrupt()
    assert _invoke("work").stderr == "\nerror: stopped\n"


def test_a_sigterm_behind_an_abort_is_reported_as_sigterm(command, default_signals) -> None:
    """click.Abort (a prompt's answer cut off) caused by SIGTERM: stopped by SIGTERM, exit 143."""
    def body() -> None:
        try:
            raise Terminated(signal.SIGTERM)
        except Terminated as stop:
            raise click.Abort() from stop

    command(body)
    r = _invoke("work")
    assert (r.exit_code, r.stderr) == (143, "error: stopped by SIGTERM\n")


def test_usage_errors_are_one_line_with_the_help_hint(command) -> None:
    """Click's message of several lines (the choices of a missing option) is joined, and the hint says
    where the help is."""
    command(lambda net: None, [click.Option(["--net"], type=click.Choice(["gen", "disc"]), required=True)])
    r = _invoke("work")
    assert r.exit_code == 2 and len(r.stderr.splitlines()) == 1, r.stderr
    assert "gen" in r.stderr and "disc" in r.stderr and r.stderr.endswith(" (see `optgan work --help`)\n")


def test_an_os_error_is_one_line_saying_what_and_where(command) -> None:
    def body() -> None:
        raise PermissionError(13, "Permission denied", "/x/y.json")

    command(body)
    r = _invoke("work")
    assert (r.exit_code, r.stderr) == (2, "error: Permission denied: /x/y.json\n")


def test_a_commands_integer_result_is_the_exit_code(command) -> None:
    command(lambda: 3)
    assert _invoke("work").exit_code == 3


def test_an_empty_error_message_still_says_error(capsys) -> None:
    with pytest.raises(SystemExit) as e:
        _fail("")
    assert e.value.code == 2 and capsys.readouterr().err == "error: unknown error\n"


def test_an_error_line_that_cannot_be_written_still_exits_with_its_code(monkeypatch) -> None:
    def hung_up(*_args: Any, **_kwargs: Any) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(click, "echo", hung_up)
    with pytest.raises(SystemExit) as e:
        _fail("stopped by SIGHUP", code=129)
    assert e.value.code == 129


def test_optunas_experimental_warnings_are_not_shown(command) -> None:
    def body() -> None:
        warnings.warn("experimental", optuna.exceptions.ExperimentalWarning, stacklevel=1)

    command(body)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        assert _invoke("work").exit_code == 0
    assert [w for w in seen if issubclass(w.category, optuna.exceptions.ExperimentalWarning)] == []


def test_the_cli_shows_progress_bars_on_a_terminal_only(command, monkeypatch) -> None:
    from optgan import progress

    monkeypatch.setattr(progress, "_terminal_only", False)
    command(lambda: None)
    assert _invoke("work").exit_code == 0
    assert progress._terminal_only is True


def test_one_verbose_leaves_optuna_at_warnings() -> None:
    root, ours, verbosity = logging.getLogger().level, logging.getLogger("optgan").level, optuna.logging.get_verbosity()
    try:
        _set_verbosity(1)
        assert optuna.logging.get_verbosity() == optuna.logging.WARNING
        assert logging.getLogger().level == logging.INFO
        _set_verbosity(2)
        assert optuna.logging.get_verbosity() == optuna.logging.DEBUG
    finally:
        logging.getLogger().setLevel(root)
        logging.getLogger("optgan").setLevel(ours)
        optuna.logging.set_verbosity(verbosity)


def test_a_command_module_missing_a_dependency_fails_loudly(monkeypatch) -> None:
    """A command module that is not installed is skipped; one whose own import is broken is an error."""
    real_import = builtins.__import__
    missing: list[str] = []

    def importing(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "optgan_cli.report_cmd":
            raise ModuleNotFoundError(f"No module named {missing[0]!r}", name=missing[0])
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", importing)
    missing.append("optgan_cli.report_cmd")
    cli_main._register_all()
    missing[0] = "a_dependency_of_report"
    with pytest.raises(ModuleNotFoundError, match="a_dependency_of_report"):
        cli_main._register_all()


# --- options.py -----------------------------------------------------------------------------------

def test_an_output_file_in_the_current_folder_is_fine(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    check_output_folder("g.json")


def test_the_device_warning_names_the_reason_not_the_generic_advice(monkeypatch, caplog) -> None:
    from optgan import backends
    from optgan.errors import ConfigError

    def missing(_device: str) -> None:
        raise ConfigError("`device` = 'cuda' but CUDA is not available here; use `auto` or `cpu`")

    monkeypatch.setattr(backends, "resolve_device", missing)
    with caplog.at_level(logging.WARNING, logger="optgan"):
        warn_device_elsewhere(types.SimpleNamespace(device="cuda"), "gpu")
    said = ("`device` = 'cuda' but CUDA is not available here: run the search on a machine that has that device, "
            "or with `optgan run gpu --set device=auto`")
    assert caplog.messages == [said]


def test_stage_defaults_to_gen_and_storage_to_the_environment(command, tmp_path: Path, monkeypatch) -> None:
    """Without flags: the generator stage, and the storage of `$OPTGAN_STORAGE` (not a fixed default)."""
    seen: list[Any] = []
    command(lambda stage, storage: seen.append((stage, storage)),
            [*stage_option(lambda: None).__click_params__, *storage_option(lambda: None).__click_params__])
    assert _invoke("work").exit_code == 0 and seen == [("gen", None)]
    monkeypatch.setenv("OPTGAN_STORAGE", f"sqlite:///{tmp_path / 'from-env.db'}")
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(main, ["study", "list"], prog_name="optgan")
    assert r.exit_code == 2 and "from-env.db" in r.stderr, r.stderr
