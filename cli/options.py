"""Options shared by several commands."""

from __future__ import annotations

import click

storage_option = click.option(
    "--storage", "storage", default=None, metavar="URL",
    help="Database URL (default: $OPTGAN_STORAGE, else sqlite:///optgan.db). "
         "PostgreSQL: postgresql://USER:PASSWORD@HOST/DB.",
)
stage_option = click.option("--stage", type=click.Choice(["gen", "disc"]), default="gen", show_default=True,
                            help="Which stage's study.")
