"""The `optgan` console script: the CLI, with a Ctrl-C that lands while it still loads (torch and
friends take a second or two to import) ending in the same one line as any other stop."""

from __future__ import annotations

import sys


def main() -> None:
    try:
        from optgan_cli.main import main as run_cli
    except BaseException as e:  # noqa: BLE001 - Ctrl-C inside an import may come out wrapped
        if not _interrupted(e):
            raise
        sys.stderr.write("error: stopped\n")
        raise SystemExit(130) from None
    run_cli()


def _interrupted(e: BaseException) -> bool:
    """Whether a Ctrl-C is behind `e` (in a class body being built, Python 3.11 wraps it in
    `RuntimeError: Error calling __set_name__ …`)."""
    seen: BaseException | None = e
    for _ in range(8):
        if seen is None or isinstance(seen, KeyboardInterrupt):
            return seen is not None
        seen = seen.__cause__ or seen.__context__
    return False
