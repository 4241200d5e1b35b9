"""The `optgan` console script: the CLI, with a Ctrl-C that lands while it still loads (torch and
friends take a second or two to import) ending in the same one line as any other stop.

It also owns the one rule every stop obeys: none is raised while torch is being imported."""

from __future__ import annotations

import signal
import sys
import threading
from typing import Any, TypeVar

E = TypeVar("E", bound=BaseException)


def main() -> None:
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # not where Ctrl-C is ignored
        signal.signal(signal.SIGINT, interrupt_after_imports)
    try:
        from optgan_cli.main import main as run_cli
    except BaseException as e:  # noqa: BLE001 - Ctrl-C inside an import may come out wrapped
        if exception_behind(e, KeyboardInterrupt) is None:
            raise
        sys.stderr.write("error: stopped\n")
        raise SystemExit(130) from None
    try:
        run_cli()
    except SystemExit as e:
        if e.code in STOP_EXIT_CODES:
            exit_without_finalizing(e.code)
        raise


#: the exit codes of a stopped command (Ctrl-C, SIGTERM, SIGHUP: 128 + the signal), which no
#: other outcome uses (0: done, 2: a user mistake or a refusal)
STOP_EXIT_CODES = frozenset({130, 128 + signal.SIGTERM, 128 + signal.SIGHUP})


def exit_without_finalizing(code: int) -> None:
    """End a stopped command at once, skipping the interpreter's finalization. What it wrote is
    durable by then (atomic files, committed rows, the run lease released in `finally`), and a
    stop can leave a C extension's thread mid-call, whose clean-up at finalization then aborts
    the process (`Fatal Python error: PyThreadState_Get … finalizing`, exit -6 instead of 143:
    once in the SIGTERM crash test's 8 random stops in CI, 2026-12-04). Logs and output are
    flushed first."""
    import logging
    import os

    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a terminal that hung up, a closed stream: the exit code says it
            pass
    os._exit(code)


def exception_behind(e: BaseException, kind: type[E]) -> E | None:
    """The first exception of type `kind` in `e`'s chain (`e`, its cause or else its context, …).
    A stop comes out wrapped where it lands in an import or a class body (Python 3.11: `RuntimeError:
    Error calling __set_name__ …`) and where click turns it into Abort."""
    seen: BaseException | None = e
    for _ in range(8):
        if seen is None or isinstance(seen, kind):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


#: packages whose import runs Python code from C++ that cannot pass an exception on: a stop raised
#: there ends the process with SIGABRT (`terminate called after throwing an instance of
#: 'pybind11::error_already_set'`, seen for SIGTERM in the crash test and for Ctrl-C on a bare
#: `python -c "import torch"`, both inside `torch._C._autograd_init()`)
NO_STOP_WHILE_IMPORTING = frozenset({"torch", "torchvision"})


def importing_unstoppable() -> bool:
    """Whether the main thread is importing a module of :data:`NO_STOP_WHILE_IMPORTING` now.

    Only the main thread matters: Python runs signal handlers there, so a stop is raised there and
    nowhere else; another thread's torch import (a server thread's lazy import) must not hold a
    stop back. Works from any thread (the helper of :func:`send_again_soon` asks too)."""
    main_ident = threading.main_thread().ident
    frame = sys._current_frames().get(main_ident) if main_ident is not None else None
    while frame is not None:
        code = frame.f_code
        if code.co_name == "_find_and_load" and code.co_filename.startswith("<frozen importlib"):
            name = frame.f_locals.get("name")  # importlib._bootstrap._find_and_load(name, import_)
            if isinstance(name, str) and name.partition(".")[0] in NO_STOP_WHILE_IMPORTING:
                return True
        frame = frame.f_back
    return False


def send_again_soon(signum: int, after: Any = None) -> None:
    """Send `signum` to this process again in a moment, from a helper thread (once `after()` is
    false, when given)."""
    import os
    import time

    def send() -> None:
        time.sleep(0.05)
        while after is not None and after():
            time.sleep(0.02)
        os.kill(os.getpid(), signum)

    threading.Thread(target=send, name="optgan-stop-again", daemon=True).start()


def interrupt_after_imports(signum: int, frame: Any) -> None:
    """Ctrl-C's handler: Python's own (KeyboardInterrupt), except while torch is being imported,
    where the interrupt is taken once the import is done."""
    if importing_unstoppable():
        send_again_soon(signum, after=importing_unstoppable)
        return
    signal.default_int_handler(signum, frame)
