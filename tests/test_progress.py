"""Progress bars: shown in a terminal, left out of log files under the command line's setting."""

from __future__ import annotations

import io

import pytest
from click.testing import CliRunner

from optgan import progress
from optgan.progress import bars_on_terminal_only, bars_shown, progress_bar


class _Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


@pytest.fixture(autouse=True)
def _restore() -> None:
    before = progress._terminal_only
    yield
    bars_on_terminal_only(before)


def _drawn(show: bool | None, tty: bool) -> bool:
    out = _Stream(tty)
    for _ in progress_bar(range(3), show=show, file=out, mininterval=0):
        pass
    return "3/3" in out.getvalue()


def test_library_default_shows_bars_anywhere_unless_told_not_to() -> None:
    bars_on_terminal_only(False)
    assert _drawn(True, tty=False) and _drawn(True, tty=True)  # notebooks' streams are no terminals
    assert not _drawn(False, tty=True)
    assert _drawn(None, tty=True) and not _drawn(None, tty=False)  # None: a terminal only


def test_command_line_setting_keeps_bars_out_of_files() -> None:
    bars_on_terminal_only()
    assert _drawn(True, tty=True) and not _drawn(True, tty=False)
    assert not _drawn(False, tty=True)


def test_the_command_line_turns_the_setting_on() -> None:
    from optgan_cli.main import main

    bars_on_terminal_only(False)
    assert CliRunner().invoke(main, ["study", "list", "--storage", "sqlite:///:memory:"]).exit_code in (0, 2)
    assert progress._terminal_only


@pytest.mark.parametrize("terminal_only", [False, True])
@pytest.mark.parametrize("tty", [False, True])
@pytest.mark.parametrize("show", [False, None, True])
def test_bars_shown_says_what_progress_bar_does(monkeypatch, terminal_only: bool, tty: bool,
                                                show: bool | None) -> None:
    bars_on_terminal_only(terminal_only)
    stream = _Stream(tty)
    monkeypatch.setattr("sys.stderr", stream)
    for _ in progress_bar(range(3), show=show, mininterval=0):
        pass
    assert bars_shown(show) == ("3/3" in stream.getvalue())
