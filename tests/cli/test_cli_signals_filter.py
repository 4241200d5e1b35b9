"""A stop that interrupts a query: SQLAlchemy's own 'Error closing cursor' log is not printed."""

from __future__ import annotations

import logging
import sys

import pytest

from optgan_cli.stops import Terminated, no_cleanup_noise_after_a_stop


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
    assert not no_cleanup_noise_after_a_stop(_record(RuntimeError("Cannot operate on a closed database.")))
    plain = logging.LogRecord("sqlalchemy.pool", logging.ERROR, __file__, 1, "Error closing cursor", None,
                              (RuntimeError, RuntimeError("disk I/O error"), None))
    assert no_cleanup_noise_after_a_stop(plain)


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


def test_ctrl_c_wrapped_by_an_import_while_the_cli_loads_is_one_line(monkeypatch, capsys) -> None:
    import builtins

    import pytest

    from optgan_cli import entry

    real_import = builtins.__import__

    def interrupted(name, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        if name == "optgan_cli.main":
            try:
                raise KeyboardInterrupt
            except KeyboardInterrupt as stop:  # as Python 3.11 does inside a class body
                raise RuntimeError("Error calling __set_name__ on '_axis_method_wrapper'") from stop
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", interrupted)
    with pytest.raises(SystemExit) as e:
        entry.main()
    assert e.value.code == 130 and capsys.readouterr().err == "error: stopped\n"
    assert entry.exception_behind(RuntimeError("a real import error"), KeyboardInterrupt) is None


@pytest.mark.parametrize(("command", "said"), [
    ("run", "error: stopped by SIGTERM; the search resumes when the same command is run again"),
    ("train", "error: stopped by SIGTERM; the training run resumes from its last checkpoint (written every "
              "epoch) when the same command is run again"),
    ("study", "error: stopped by SIGTERM"),
])
def test_a_stop_says_what_a_rerun_does(command: str, said: str, capsys) -> None:
    from optgan_cli.main import _stopped
    from optgan_cli.stops import Terminated

    with pytest.raises(SystemExit) as e:
        _stopped(Terminated(15), command)
    assert e.value.code == 143 and capsys.readouterr().err == said + "\n"


def test_the_console_script_is_the_loading_safe_entry() -> None:
    from importlib.metadata import entry_points

    (script,) = [e for e in entry_points(group="console_scripts") if e.name == "optgan"]
    assert script.value == "optgan_cli.entry:main"


def test_the_filter_sees_sqlalchemys_child_loggers() -> None:
    """Wired to the handlers: a logger's own filters never see records of its children, and
    SQLAlchemy logs the cursor error from `sqlalchemy.pool.impl.QueuePool` (seen once in CI)."""
    import subprocess

    code = (
        "import logging, sys\n"
        "from optgan_cli.main import main\n"
        "from optgan_cli.stops import Terminated\n"
        "main.callback(verbose=0)  # the CLI's logging set-up\n"
        "try:\n"
        "    try:\n"
        "        raise Terminated(15)\n"
        "    except Terminated:\n"
        "        raise RuntimeError('Cannot operate on a closed database.')\n"
        "except RuntimeError:\n"
        "    logging.getLogger('sqlalchemy.pool.impl.QueuePool').error('Error closing cursor', exc_info=True)\n"
        "logging.getLogger('sqlalchemy.engine.Engine').error('a real database error')\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "Error closing cursor" not in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert "a real database error" in r.stderr


_STOP_INSIDE = {
    # SIGTERM inside a class body being built (as while matplotlib is imported): Python 3.11 wraps
    # the stop in `RuntimeError: Error calling __set_name__ …` (seen once in CI)
    "class_body": (
        "class Descriptor:\n"
        "    def __set_name__(self, owner, name):\n"
        "        os.kill(os.getpid(), signal.SIGTERM); time.sleep(5)\n"
        "class Owner:\n"
        "    field = Descriptor()\n"
    ),
    # a library that catches the stop and raises its own error afterwards, unchained
    "unchained": (
        "try:\n"
        "    os.kill(os.getpid(), signal.SIGTERM); time.sleep(5)\n"
        "except KeyboardInterrupt:\n"
        "    pass\n"
        "raise ValueError('the library lost the stop')\n"
    ),
    # an error that has nothing to do with a stop stays a traceback (a bug to report)
    "no_stop": "raise ValueError('a real bug')\n",
    # the same library, losing a Ctrl-C
    "unchained_ctrl_c": (
        "try:\n"
        "    os.kill(os.getpid(), signal.SIGINT); time.sleep(5)\n"
        "except KeyboardInterrupt:\n"
        "    pass\n"
        "raise ValueError('the library lost the stop')\n"
    ),
}


def _run_cli_command(body: str) -> "subprocess.CompletedProcess[str]":  # noqa: F821
    import subprocess
    import textwrap

    code = (
        "import os, signal, time, click\n"
        "signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal (not a script's background job)\n"
        "from optgan_cli.main import main\n"
        "@main.command('work')\n"
        "def work():\n"
        + textwrap.indent(body, "    ")
        + "main(['work'])\n"
    )
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_a_stop_hidden_inside_another_error_is_still_a_one_line_stop() -> None:
    for case in ("class_body", "unchained"):
        r = _run_cli_command(_STOP_INSIDE[case])
        assert r.returncode == 143, (case, r.stderr)
        assert r.stderr == "error: stopped by SIGTERM\n", (case, r.stderr)
    r = _run_cli_command(_STOP_INSIDE["no_stop"])
    assert r.returncode == 1 and "ValueError: a real bug" in r.stderr
    r = _run_cli_command(_STOP_INSIDE["unchained_ctrl_c"])
    assert (r.returncode, r.stderr) == (130, "error: stopped\n")


def _slow_import_that_signals(tmp_path, signame: str) -> None:
    """A stand-in for torch: a package whose import sends this process `signame` and then runs
    Python code for half a second (as torch's import does from C++, in `_autograd_init()`)."""
    (tmp_path / "slowext").mkdir()
    (tmp_path / "slowext" / "__init__.py").write_text(
        "import os, signal, time\n"
        f"os.kill(os.getpid(), signal.{signame})\n"
        "t0 = time.monotonic()\n"
        "while time.monotonic() - t0 < 0.5:  # Python code, as torch's import calls from C++\n"
        "    pass\n"
    )


@pytest.mark.parametrize(("signame", "code", "said"), [("SIGTERM", 143, "error: stopped by SIGTERM"),
                                                        ("SIGINT", 130, "error: stopped")])
def test_a_stop_during_the_torch_import_waits_for_the_import(tmp_path, signame, code, said) -> None:
    """A stop raised inside torch's import can hit Python code that C++ called (`torch._C.
    _autograd_init()`), where the exception cannot pass: the process aborts (SIGABRT, `terminate
    called after throwing an instance of 'pybind11::error_already_set'`; seen under load for
    SIGTERM, and for Ctrl-C on a bare `import torch`). So the stop waits until the import is done:
    here a stand-in package listed in its place."""
    import subprocess

    _slow_import_that_signals(tmp_path, signame)
    program = (
        "import signal, sys, time\n"
        "signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal (not a script's background job)\n"
        f"sys.path.insert(0, {str(tmp_path)!r})\n"
        "import optgan_cli.entry\n"
        "import optgan_cli.main as cli\n"
        "optgan_cli.entry.NO_STOP_WHILE_IMPORTING = frozenset({'slowext'})\n"
        "@cli.main.command('work')\n"
        "def work():\n"
        "    import slowext\n"
        "    print('imported', flush=True)\n"
        "    time.sleep(30)\n"
        "cli.main(['work'])\n"
    )
    r = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=120, check=False)
    assert r.returncode == code and r.stderr.strip() == said, r.stderr
    assert r.stdout.strip() == "imported"  # the import ran to its end (the stop may cut print's "\n")


def test_ctrl_c_while_the_console_script_loads_waits_for_the_torch_import(tmp_path) -> None:
    """The console script takes Ctrl-C through the same rule before the CLI's own handlers exist
    (the CLI imports torch while it loads)."""
    import subprocess

    _slow_import_that_signals(tmp_path, "SIGINT")
    program = (
        "import signal, sys, time\n"
        "signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal (not a script's background job)\n"
        f"sys.path.insert(0, {str(tmp_path)!r})\n"
        "import optgan_cli.entry as entry\n"
        "entry.NO_STOP_WHILE_IMPORTING = frozenset({'slowext'})\n"
        "import optgan_cli\n"
        "sys.modules['optgan_cli.main'] = type(sys)('optgan_cli.main')  # loading the CLI = importing slowext\n"
        "def load():\n"
        "    import slowext\n"
        "    print('imported', flush=True)\n"
        "    time.sleep(30)\n"
        "sys.modules['optgan_cli.main'].main = lambda: None\n"
        "import builtins\n"
        "real_import = builtins.__import__\n"
        "def importing(name, *args, **kwargs):\n"
        "    if name == 'optgan_cli.main':\n"
        "        load()\n"
        "    return real_import(name, *args, **kwargs)\n"
        "builtins.__import__ = importing\n"
        "entry.main()\n"
    )
    r = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=120, check=False)
    assert (r.returncode, r.stderr, r.stdout.strip()) == (130, "error: stopped\n", "imported")


def _package_whose_import_waits(tmp_path, name: str) -> None:
    """A stand-in for torch whose import records what `importing_unstoppable()` says from inside
    the import (as the main thread's signal handler and the resending helper thread would ask), then
    waits until the test lets it finish."""
    (tmp_path / name).mkdir()
    (tmp_path / name / "__init__.py").write_text(
        "import threading\n"
        "from optgan_cli import entry\n"
        "said_here = entry.importing_unstoppable()\n"
        "box = []\n"
        "asker = threading.Thread(target=lambda: box.append(entry.importing_unstoppable()))\n"
        "asker.start(); asker.join()\n"
        "said_from_another_thread = box[0]\n"
        "import builtins\n"
        f"builtins.{name}_importing.set()\n"
        f"builtins.{name}_may_finish.wait(30)\n"
    )


def test_only_the_main_threads_torch_import_holds_a_stop_back(tmp_path, monkeypatch) -> None:
    """A stop waits while the main thread imports torch (raised there it would abort the process),
    asked from the main thread or from the resending helper thread; another thread's torch import
    (a server thread's lazy import) does not hold it back, since a stop is raised on the main
    thread only. Before, any module of the set being initialised anywhere held every stop back."""
    import builtins
    import threading

    from optgan_cli import entry

    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(entry, "NO_STOP_WHILE_IMPORTING", frozenset({"torchstandin_a", "torchstandin_b"}))
    for name in ("torchstandin_a", "torchstandin_b"):
        _package_whose_import_waits(tmp_path, name)
        for flag in ("importing", "may_finish"):
            monkeypatch.setattr(builtins, f"{name}_{flag}", threading.Event(), raising=False)

    builtins.torchstandin_a_may_finish.set()  # the main thread's import runs straight through
    import torchstandin_a
    assert torchstandin_a.said_here is True
    assert torchstandin_a.said_from_another_thread is True

    importer = threading.Thread(target=lambda: __import__("torchstandin_b"))
    importer.start()
    try:
        assert builtins.torchstandin_b_importing.wait(30)
        assert sys.modules["torchstandin_b"].__spec__._initializing  # really mid-import
        assert entry.importing_unstoppable() is False
    finally:
        builtins.torchstandin_b_may_finish.set()
        importer.join(30)
    assert entry.importing_unstoppable() is False
    for name in ("torchstandin_a", "torchstandin_b"):
        sys.modules.pop(name, None)
