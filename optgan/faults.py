"""Fault injection for the crash tests: SIGKILL this process at named points of a search.

Set `OPTGAN_FAULT` to a comma-separated list of rules; unset (the normal case), every
:func:`point` call is a no-op that returns at once. Rules:

- `POINT:N`       — SIGKILL at the N-th hit of POINT in this process (N ≥ 1);
- `POINT:N+S`     — SIGKILL S seconds after the N-th hit (a timer thread: the kill lands
                    wherever the process is then, e.g. in the middle of training);
- `POINT:sleep=S` — sleep S seconds at every hit (slows a run down so that outside events,
                    like a database restart, land in the middle of it).

Points (see :data:`POINTS`): `run` (a run starts, after the lease is taken), `warmup` (the
stage's preparation / warm-up starts), `train` and `evaluate` (a round's training / scoring
starts), `between_tells` (after each tell), `checkpoint_write` (an atomic file write has written
its temporary file: it is cut to half its size before the kill, as if the process died
mid-write; the real file is never touched), `create` (`optgan study create` has claimed the
run directory, no study written yet), `create_commit` (its studies are written, not committed),
`move_copied` (`optgan study move` has copied the studies under temporary names) and
`move_marked` (it has marked the source moved; the copy does not have its real names yet). Before a kill one line `optgan fault: SIGKILL at
POINT#N` goes to stderr.
"""

from __future__ import annotations

import logging
import math
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass
from typing import BinaryIO

from optgan.errors import ConfigError

__all__ = ["FAULT_ENV", "POINTS", "point", "active", "reload"]

log = logging.getLogger(__name__)

FAULT_ENV = "OPTGAN_FAULT"
POINTS = ("run", "warmup", "train", "evaluate", "between_tells", "checkpoint_write", "create", "create_commit",
          "move_copied", "move_marked")


@dataclass(frozen=True)
class _Rule:
    point: str
    hit: int = 0  #: 0 = every hit (sleep rules)
    delay_s: float = 0.0
    sleep_s: float = 0.0


_rules: tuple[_Rule, ...] = ()
_hits: dict[str, int] = {}


def _parse(text: str) -> tuple[_Rule, ...]:
    rules = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, arg = item.partition(":")
        try:
            if name not in POINTS or not arg:
                raise ValueError
            if arg.startswith("sleep="):
                sleep_s = float(arg[6:])
                if not 0 < sleep_s < math.inf:  # 0 would do nothing; NaN / < 0 fail in the middle of a run
                    raise ValueError
                rules.append(_Rule(name, sleep_s=sleep_s))
                continue
            hit, _, delay = arg.partition("+")
            rule = _Rule(name, hit=int(hit), delay_s=float(delay or 0))
            if rule.hit < 1 or not 0 <= rule.delay_s < math.inf:  # hits count from 1
                raise ValueError
            rules.append(rule)
        except ValueError:
            raise ConfigError(f"{FAULT_ENV}: bad rule {item!r}; use POINT:N, POINT:N+SECONDS or "
                              f"POINT:sleep=SECONDS (N ≥ 1; SECONDS ≥ 0, > 0 for a sleep) with POINT one of "
                              f"{', '.join(POINTS)}") from None
    return tuple(rules)


def reload() -> None:
    """Re-read `OPTGAN_FAULT` (tests that set it in-process) and reset the hit counters."""
    global _rules
    _rules = _parse(os.environ.get(FAULT_ENV, ""))
    _hits.clear()


def active() -> bool:
    """Whether any fault rule is set."""
    return bool(_rules)


def point(name: str, partial_file: BinaryIO | None = None) -> None:
    """Mark the named point; kills or sleeps when a rule says so (no-op when none is set)."""
    if not _rules:
        return
    assert name in POINTS, name
    n = _hits[name] = _hits.get(name, 0) + 1
    for rule in _rules:
        if rule.point != name:
            continue
        if rule.sleep_s:
            time.sleep(rule.sleep_s)
        elif rule.hit == n and rule.delay_s:
            timer = threading.Timer(rule.delay_s, _kill, args=(f"{name}#{n}+{rule.delay_s:g}s",))
            timer.daemon = True  # a run that ends first is not held back
            timer.start()
        elif rule.hit == n:
            if partial_file is not None:
                _cut_in_half(partial_file)
            _kill(f"{name}#{n}")


def _main_thread_location() -> str:
    """`file:line function` of the innermost optgan frame the main thread is in (timer kills)."""
    frame = sys._current_frames().get(threading.main_thread().ident or -1)
    where = "?"
    while frame is not None:
        path = frame.f_code.co_filename.replace(os.sep, "/")
        if "/optgan/" in path or where == "?":
            where = f"{path.rsplit('/optgan/', 1)[-1]}:{frame.f_lineno} {frame.f_code.co_name}"
            if "/optgan/" in path:
                break
        frame = frame.f_back
    return where


def _cut_in_half(f: BinaryIO) -> None:
    f.flush()
    size = os.fstat(f.fileno()).st_size
    os.ftruncate(f.fileno(), size // 2)
    os.fsync(f.fileno())


def _kill(where: str) -> None:
    if threading.current_thread() is not threading.main_thread():
        where += f" in {_main_thread_location()}"
    sys.stderr.write(f"\noptgan fault: SIGKILL at {where}\n")  # own line, even after a progress bar
    sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGKILL)


reload()
