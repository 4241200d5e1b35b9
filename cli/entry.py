"""The `optgan` console script: the CLI, with a Ctrl-C that lands while it still loads (torch and
friends take a second or two to import) ending in the same one line as any other stop."""

from __future__ import annotations

import sys


def main() -> None:
    try:
        from optgan_cli.main import main as run_cli
    except KeyboardInterrupt:
        sys.stderr.write("error: stopped\n")
        raise SystemExit(130) from None
    run_cli()
