"""Argument types shared by the benchmarks: a typo in a comma list fails at once, not after minutes."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable


def comma_list(allowed: Iterable[str] | Callable[[str], bool], what: str) -> Callable[[str], str]:
    """An argparse type: a comma list whose every item is in `allowed` (or passes it, if callable)."""
    ok = allowed if callable(allowed) else set(allowed).__contains__

    def check(value: str) -> str:
        bad = [v for v in value.split(",") if v and not ok(v)]
        if bad:
            raise argparse.ArgumentTypeError(f"unknown {what}: {', '.join(bad)}")
        return value
    return check
