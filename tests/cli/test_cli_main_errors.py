"""How `cli/main.py` classifies what escapes a command: one line on stderr and which exit code,
in process (a throw-away command added to the `optgan` group for each case)."""

from __future__ import annotations

import errno
import logging
import signal

import click
import pytest
from click.testing import CliRunner

from optgan_cli.main import _os_message, _stopped, main
from optgan_cli.stops import Terminated


def _invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_a_group_without_a_subcommand_prints_its_help_and_exits_2() -> None:
    r = _invoke("study")
    assert r.exit_code == 2 and "Commands:" in r.stdout and "create" in r.stdout and r.stderr == ""


def test_a_click_exception_is_its_first_line_exit_2(command) -> None:
    def body() -> None:
        raise click.ClickException("the first line\nand a second one")

    command(body)
    r = _invoke("work")
    assert (r.exit_code, r.stderr) == (2, "error: the first line\n")


def test_an_os_error_caused_by_a_stop_is_reported_as_the_stop(command) -> None:
    def body() -> None:
        try:
            raise Terminated(signal.SIGHUP)
        except Terminated as stop:  # as writing to a terminal that hung up
            raise OSError(errno.EIO, "Input/output error") from stop

    command(body)
    r = _invoke("work")
    assert (r.exit_code, r.stderr) == (128 + signal.SIGHUP, "error: stopped by SIGHUP\n")


def test_ctrl_c_in_a_command_is_exit_130(command) -> None:
    def body() -> None:
        raise KeyboardInterrupt

    command(body)
    r = _invoke("work")
    assert (r.exit_code, r.stderr.strip()) == (130, "error: stopped")  # click itself ends the ^C line first


def test_ctrl_c_says_what_a_rerun_does(capsys) -> None:
    with pytest.raises(SystemExit) as e:
        _stopped(None, "run")
    assert e.value.code == 130
    assert capsys.readouterr().err == "error: stopped; the search resumes when the same command is run again\n"


def test_a_sigterm_handler_of_someone_else_is_kept(command, monkeypatch) -> None:
    """`nohup`, a host program: their handlers stay; the default one is replaced during the command only."""
    seen = []
    command(lambda: seen.append(signal.getsignal(signal.SIGTERM)))
    before = signal.getsignal(signal.SIGTERM)
    try:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        assert _invoke("work").exit_code == 0
        assert seen[-1] is signal.SIG_IGN and signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        assert _invoke("work").exit_code == 0
        assert callable(seen[-1]) and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    finally:
        signal.signal(signal.SIGTERM, before)


def test_optgans_info_lines_show_without_verbose(command) -> None:
    logger, root = logging.getLogger("optgan"), logging.getLogger()
    level, root_level = logger.level, root.level
    seen = []
    command(lambda: seen.append(logger.getEffectiveLevel()))
    try:
        logger.setLevel(logging.NOTSET)
        root.setLevel(logging.WARNING)
        assert _invoke("work").exit_code == 0
        assert seen == [logging.INFO]  # while the command runs
        assert logger.level == logging.NOTSET  # and as it was once it is done
    finally:
        logger.setLevel(level)
        root.setLevel(root_level)


def test_os_messages_say_what_and_where() -> None:
    assert _os_message(OSError(errno.EACCES, "Permission denied", "/x/y.json")) == "Permission denied: /x/y.json"
    assert _os_message(OSError(errno.ENOSPC, "No space left on device")) == "No space left on device"
    assert _os_message(OSError("the port is busy")) == "the port is busy"
    assert _os_message(OSError()) == "OSError"
