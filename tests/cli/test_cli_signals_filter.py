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
