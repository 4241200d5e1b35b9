"""A stop that interrupts a query: SQLAlchemy's own 'Error closing cursor' log is not printed."""

from __future__ import annotations

import logging
import sys

from optgan_cli.main import Terminated, _no_cleanup_noise_after_a_stop


def _record(exc: BaseException) -> logging.LogRecord:
    try:
        try:
            raise Terminated(15)
        except Terminated:
            raise exc
    except BaseException:
        info = sys.exc_info()
    return logging.LogRecord("sqlalchemy.pool.impl.QueuePool", logging.ERROR, __file__, 1, "Error closing cursor",
                             None, info)


def test_cleanup_errors_caused_by_a_stop_are_dropped_others_kept() -> None:
    assert not _no_cleanup_noise_after_a_stop(_record(RuntimeError("Cannot operate on a closed database.")))
    plain = logging.LogRecord("sqlalchemy.pool", logging.ERROR, __file__, 1, "Error closing cursor", None,
                              (RuntimeError, RuntimeError("disk I/O error"), None))
    assert _no_cleanup_noise_after_a_stop(plain)


def test_ctrl_c_while_the_cli_still_loads_is_one_line(monkeypatch, capsys) -> None:
    import builtins

    import pytest

    from optgan_cli import entry

    real_import = builtins.__import__

    def interrupted(name, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        if name == "optgan_cli.main":
            raise KeyboardInterrupt  # as a Ctrl-C while torch & co. are being imported
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", interrupted)
    with pytest.raises(SystemExit) as e:
        entry.main()
    assert e.value.code == 130 and capsys.readouterr().err == "error: stopped\n"


def test_the_console_script_is_the_loading_safe_entry() -> None:
    from importlib.metadata import entry_points

    (script,) = [e for e in entry_points(group="console_scripts") if e.name == "optgan"]
    assert script.value == "optgan_cli.entry:main"
