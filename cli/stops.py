"""How a command stops: SIGTERM (a scheduler's preemption, `kill`) and SIGHUP (a closed terminal)
become :class:`Terminated`, taken like Ctrl-C's KeyboardInterrupt (so `finally` blocks run and the
run lease is released), never while torch is being imported, never lost where Python ignores
exceptions (weakref callbacks, `__del__`), and reported even where a library swallowed it."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator
from typing import Any

from optgan_cli.entry import exception_behind, importing_unstoppable, interrupt_after_imports, send_again_soon


#: the signals turned into :class:`Terminated` during this command (the stop is reported as such
#: even where a library turned the exception into another one without chaining it)
received: list[int] = []


def stop_received() -> bool:
    """Whether this command has received a stop (Ctrl-C, SIGTERM, SIGHUP), even one that some
    library caught and dropped (a server's per-request error handling)."""
    return bool(received)


class Terminated(KeyboardInterrupt):
    """SIGTERM / SIGHUP, stopped like Ctrl-C: `finally` blocks run and the run lease is released."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


@contextlib.contextmanager
def stop_on_termination() -> Iterator[None]:
    """Turn SIGTERM (a batch scheduler's preemption or time limit, `kill`) and SIGHUP (a closed
    terminal) into :class:`Terminated` where they would otherwise kill the process outright, and
    take Ctrl-C (KeyboardInterrupt) the same way: never while torch is being imported, and noted,
    so that a stop a library wrapped is still seen (restored afterwards, for callers that run the
    CLI in their own process)."""
    import signal
    import threading

    def stop(signum: int, _frame: object) -> None:
        if importing_unstoppable():  # raised there, the stop would abort the process: take it after the import
            send_again_soon(signum, after=importing_unstoppable)
            return
        received.append(signum)
        raise KeyboardInterrupt if signum == signal.SIGINT else Terminated(signum)

    replaced = {}
    # Signals are handled on the main thread only, so only there can a stop land (and in a
    # callback); a run in another thread (CliRunner in a thread) leaves the process-wide handlers
    # and hook alone, so that two overlapping runs never restore each other's.
    on_main = threading.current_thread() is threading.main_thread()
    if on_main:
        for sig in (signal.SIGTERM, getattr(signal, "SIGHUP", None)):
            if sig is not None and signal.getsignal(sig) == signal.SIG_DFL:  # never over nohup's or a host's
                replaced[sig] = signal.signal(sig, stop)
        if signal.getsignal(signal.SIGINT) in (signal.default_int_handler, interrupt_after_imports):
            replaced[signal.SIGINT] = signal.signal(signal.SIGINT, stop)  # Ctrl-C: Python's KeyboardInterrupt
    previous_hook = sys.unraisablehook
    if on_main:
        sys.unraisablehook = _redeliver_swallowed_stops(previous_hook)
    received.clear()
    try:
        yield
    finally:
        received.clear()
        if on_main:
            sys.unraisablehook = previous_hook
        for sig, handler in replaced.items():
            signal.signal(sig, handler)


def _redeliver_swallowed_stops(previous: Any) -> Any:
    """An unraisable hook for stops that landed where Python ignores exceptions.

    A signal's exception (Terminated, or Ctrl-C's KeyboardInterrupt) can be raised while the main
    thread runs a weakref callback or a `__del__` (SQLAlchemy and torch have many). Python then
    prints it and carries on, so the stop would be lost. This hook sends the signal again, a
    moment later, from a helper thread. By then the callback has returned and the exception
    stops the command.
    """
    import signal

    def hook(unraisable: Any) -> None:
        exc = unraisable.exc_value
        signum = exc.signum if isinstance(exc, Terminated) else signal.SIGINT if isinstance(exc, KeyboardInterrupt) else None
        if signum is None:
            previous(unraisable)
            return
        send_again_soon(signum)

    return hook


def stop_behind(e: BaseException) -> KeyboardInterrupt | None:
    """The stop (Ctrl-C's KeyboardInterrupt or :class:`Terminated`) behind an error that escaped,
    chained, or received during the command where a library raised another error unchained."""
    import signal

    if (stop := exception_behind(e, KeyboardInterrupt)) is not None or not received:
        return stop
    return KeyboardInterrupt() if received[-1] == signal.SIGINT else Terminated(received[-1])


def no_cleanup_noise_after_a_stop(record: logging.LogRecord) -> bool:
    """Drop SQLAlchemy's own error log of a cursor or connection it could not close because a
    stop (Ctrl-C, SIGTERM, SIGHUP) interrupted a query: the stop is reported in one line. (A
    handler filter: a logger's filters never see its children's records, and SQLAlchemy logs
    from `sqlalchemy.pool.impl.QueuePool`, `sqlalchemy.engine.Engine` …)"""
    if not record.name.startswith("sqlalchemy."):
        return True
    error = record.exc_info[1] if record.exc_info else None
    while error is not None:
        if isinstance(error, KeyboardInterrupt):
            return False
        error = error.__context__ or error.__cause__
    return True
