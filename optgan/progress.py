"""Progress bars (tqdm) of long phases: shown in a terminal, left out of log files.

A bar redraws itself with carriage returns; written to a file (a batch job's log, `2> log`), its
hundreds of states pile up on one line and the next log line or `error:` line is glued to the
last one. The command line therefore calls :func:`bars_on_terminal_only`: from then on bars
show only when stderr is a terminal. Library users (notebooks, scripts) keep tqdm's default.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

from tqdm.auto import tqdm

__all__ = ["bars_on_terminal_only", "bars_shown", "progress_bar"]

_terminal_only = False


def bars_on_terminal_only(enabled: bool = True) -> None:
    """Show bars only when stderr is a terminal (the `optgan` command line's setting)."""
    global _terminal_only
    _terminal_only = enabled


def bars_shown(show: bool | None = True) -> bool:
    """Whether :func:`progress_bar` with `show` draws to stderr now (a loop without a bar to watch
    logs a line per epoch instead)."""
    if show is False:
        return False
    return bool(sys.stderr.isatty()) if show is None or _terminal_only else True


def progress_bar(iterable: Iterable[Any] | None = None, *, show: bool | None = True, **kwargs: Any) -> tqdm:
    """`tqdm(iterable, **kwargs)`, hidden when `show` is False; `show` None (or True under
    :func:`bars_on_terminal_only`) shows it only when stderr is a terminal."""
    disable = True if show is False else None if show is None or _terminal_only else False
    return tqdm(iterable, disable=disable, **kwargs)
