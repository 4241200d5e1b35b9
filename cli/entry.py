"""The `optgan` console script: the CLI, with a Ctrl-C that lands while it still loads (torch and
friends take a second or two to import) ending in the same one line as any other stop."""

from __future__ import annotations

import sys
from typing import TypeVar

E = TypeVar("E", bound=BaseException)


def main() -> None:
    try:
        from optgan_cli.main import main as run_cli
    except BaseException as e:  # noqa: BLE001 - Ctrl-C inside an import may come out wrapped
        if exception_behind(e, KeyboardInterrupt) is None:
            raise
        sys.stderr.write("error: stopped\n")
        raise SystemExit(130) from None
    run_cli()


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
