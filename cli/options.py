"""Options shared by several commands."""

from __future__ import annotations

import json

import click

storage_option = click.option(
    "--storage", "storage", default=None, metavar="URL",
    help="Database URL (default: $OPTGAN_STORAGE, else sqlite:///optgan.db). "
         "PostgreSQL: postgresql://USER:PASSWORD@HOST/DB.",
)
inception_weights_option = click.option(
    "--inception-weights", "inception_weights", default=None, type=click.Path(dir_okay=False), metavar="FILE",
    help="Local copy of torch-fidelity's weights-inception-2015-12-05-6726825d.pth "
         "(the config key metrics.inception_weights; used by the inception extractor).",
)
stage_option = click.option("--stage", type=click.Choice(["gen", "disc"]), default="gen", show_default=True,
                            help="Which stage's study.")


def path_override(key: str, path: str) -> str:
    """`key=path` as a `--set` override whose value stays the string given (a path such as `null`,
    `123` or `a: b` is not read as YAML)."""
    return f"{key}={json.dumps(path)}"
