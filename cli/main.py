"""The `optgan` command: a click group whose user errors are one line on stderr, exit code 2.

Each command lives in its own module (`cli/*_cmd.py`) and adds itself through `register`.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import click

import optgan
from optgan.errors import OptganError
from optgan.optuna_support import UnsupportedOptunaWarning, optuna_mismatch, unsupported_optuna_warning
from optgan_cli.entry import exception_behind
from optgan_cli.stops import Terminated, no_cleanup_noise_after_a_stop, stop_behind, stop_on_termination

log = logging.getLogger("optgan")


class _StopPastClick(BaseException):
    """A command's stop (KeyboardInterrupt or :class:`Terminated`) carried past click's own
    handling, which prints a blank line before any stop: right after a terminal's ``^C``, a stray
    empty line in a log file or after SIGTERM."""

    def __init__(self, stop: KeyboardInterrupt) -> None:
        super().__init__(stop)
        self.stop = stop


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):  # replaced or closed
        return False


class OneLineErrors(click.Group):
    """A group that turns user mistakes into one line on stderr and exit code 2, no traceback."""

    def main(self, *args: Any, **kwargs: Any) -> Any:  # noqa: D401 - click API
        kwargs["standalone_mode"] = False
        import optuna

        root, ours = logging.getLogger(), logging.getLogger("optgan")
        saved = root.level, ours.level, optuna.logging.get_verbosity()
        try:
            with stop_on_termination():
                self._run_one_line(*args, **kwargs)
        finally:  # after the error lines: -v ends with this invocation (tests run many in one process)
            root.setLevel(saved[0])
            ours.setLevel(saved[1])
            optuna.logging.set_verbosity(saved[2])

    _invoked: str | None = None  #: the subcommand being run (its stop message says whether it resumes)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt as e:  # past click, which would print a blank line for a terminal's ^C echo
            raise _StopPastClick(e) from e

    def resolve_command(self, ctx: click.Context, args: list[str]) -> Any:
        name, cmd, rest = super().resolve_command(ctx, args)
        self._invoked = cmd.name if cmd is not None else name
        return name, cmd, rest

    def _run_one_line(self, *args: Any, **kwargs: Any) -> None:
        try:
            self._run_classified(*args, **kwargs)
        except (SystemExit, click.exceptions.Exit):
            raise
        except BaseException as e:  # noqa: BLE001 - a stop another error hides is still a stop
            stop = stop_behind(e)
            if stop is None:
                raise
            log.debug("stopped while %s", type(e).__name__, exc_info=True)
            _stopped(stop if isinstance(stop, Terminated) else None, self._invoked)

    def _run_classified(self, *args: Any, **kwargs: Any) -> None:
        try:
            rv = super().main(*args, **kwargs)
        except OptganError as e:
            log.debug("user error", exc_info=True)  # the traceback, for `optgan -vv`
            _fail(str(e))
        except ImportError as e:  # a private Optuna name an Optuna outside the supported releases lacks
            if (mismatch := optuna_mismatch(e)) is None:
                raise
            log.debug("optuna mismatch", exc_info=True)
            _fail(str(mismatch))
        except click.exceptions.NoArgsIsHelpError as e:
            click.echo(e.ctx.get_help() if e.ctx else str(e))
            sys.exit(2)
        except click.UsageError as e:
            hint = f" (see `{e.ctx.command_path} --help`)" if e.ctx else ""
            said = " ".join(line.strip() for line in e.format_message().splitlines() if line.strip())
            _fail(f"{said}{hint}")  # click puts some on several lines (the choices of a missing option)
        except click.ClickException as e:
            _fail(e.format_message())
        except _StopPastClick as e:  # Ctrl-C, SIGTERM / SIGHUP in a command
            term = exception_behind(e.stop, Terminated)
            if term is None and _is_terminal(sys.stderr):
                click.echo(err=True)  # end the line the terminal's ^C echo left open
            _stopped(term, self._invoked)
        except (click.Abort, KeyboardInterrupt) as e:  # the same before a command runs, or no answer to a question
            _stopped(exception_behind(e, Terminated), self._invoked)
        except MemoryError:
            _fail("out of memory: lower the widths, batch sizes or image counts of the config")
        except RuntimeError as e:  # torch's allocators say it this way (CPU and CUDA)
            if type(e).__name__ != "OutOfMemoryError" and "can't allocate memory" not in str(e):
                raise
            log.debug("out of memory", exc_info=True)
            _fail(f"out of memory ({str(e).strip().splitlines()[0][:160]}); lower the widths, batch sizes or "
                  "image counts of the config")
        except OSError as e:  # the machine said no: a path that cannot be written, a full disk, a busy port
            if (term := exception_behind(e, Terminated)) is not None:  # e.g. writing to the terminal that hung up
                _stopped(term, self._invoked)
            log.debug("operating-system error", exc_info=True)
            _fail(_os_message(e))
        sys.exit(rv if isinstance(rv, int) else 0)


#: the commands whose work a rerun resumes
_RESUMABLE = {"run": "the search resumes",
              "train": "the training run resumes from its last checkpoint (written every epoch)"}


def _stopped(term: Terminated | None, command: str | None) -> None:
    import signal

    how, code = ("", 130) if term is None else (f" by {signal.Signals(term.signum).name}", 128 + term.signum)
    resumes = _RESUMABLE.get(command or "")
    _fail(f"stopped{how}" + (f"; {resumes} when the same command is run again" if resumes else ""), code=code)


def _os_message(e: OSError) -> str:
    """`Permission denied: /x/y.json` (what the OS said and where), or the error's own text."""
    what = e.strerror or str(e) or type(e).__name__
    where = e.filename if e.filename is not None else None
    return f"{what}: {where}" if where is not None else what


def _fail(message: str, code: int = 2) -> None:
    try:
        click.echo(f"error: {message.splitlines()[0] if message else 'unknown error'}", err=True)
    except OSError:  # no terminal to tell any more (it hung up): the exit code says it
        pass
    sys.exit(code)


@click.group(cls=OneLineErrors, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(optgan.__version__, "--version", prog_name="optgan")
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
def main(verbose: int) -> None:
    """optgan: multi-objective neural architecture search for GANs (EAGAN + SCGAN) on Optuna."""
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")  # levels: _set_verbosity
    _set_verbosity(verbose)
    from optgan.progress import bars_on_terminal_only

    bars_on_terminal_only()  # a log file gets the log lines, not the bars' carriage-returned states
    import warnings

    import optuna

    for handler in logging.getLogger().handlers:
        if no_cleanup_noise_after_a_stop not in handler.filters:
            handler.addFilter(no_cleanup_noise_after_a_stop)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    warnings.filterwarnings("ignore", category=UnsupportedOptunaWarning)  # logged here, once
    if (unsupported := unsupported_optuna_warning()) is not None:
        log.warning(unsupported)


def _set_verbosity(verbose: int) -> None:
    """Log levels for `verbose` = the number of -v: optgan's info lines always, everything's info
    with 1, debug (Optuna's too) with 2 or more."""
    import optuna

    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.getLogger().setLevel(level)
    logging.getLogger("optgan").setLevel(logging.INFO if verbose == 0 else logging.NOTSET)
    optuna.logging.set_verbosity(optuna.logging.WARNING if verbose < 2 else optuna.logging.DEBUG)


def _more_verbose(ctx: click.Context, _param: click.Parameter, count: int) -> None:
    """`-v` after the command (`optgan run demo -vv`) adds to any given before it."""
    if count:
        total = ctx.meta.get("optgan.verbose", ctx.find_root().params.get("verbose", 0)) + count
        ctx.meta["optgan.verbose"] = total  # (shared by the contexts of one invocation)
        _set_verbosity(total)


def _verbose_everywhere(command: click.Command) -> None:
    """Every command (and group: `optgan study -v list`) also takes -v / --verbose, where people
    tend to type it: after its name."""
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _verbose_everywhere(sub)
    if not any(p.name == "verbose" or "-v" in getattr(p, "opts", ()) for p in command.params):
        command.params.append(click.Option(["-v", "--verbose"], count=True, expose_value=False, callback=_more_verbose,
                                           help="More log output (-v info, -vv debug); also `optgan -v COMMAND`."))


def _register_all() -> None:
    from optgan_cli import arch_cmd

    arch_cmd.register(main)
    for name in ("train_cmd", "study_cmd", "run_cmd", "inspect_cmd", "dashboard_cmd", "report_cmd",
                 "compare_cmd"):
        try:
            module = __import__(f"optgan_cli.{name}", fromlist=["register"])
        except ModuleNotFoundError as e:
            if e.name != f"optgan_cli.{name}":
                raise
            continue
        module.register(main)
    for command in main.commands.values():
        _verbose_everywhere(command)


_register_all()
