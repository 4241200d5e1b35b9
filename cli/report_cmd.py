"""`optgan report NAME -o DIR`: the search's pictures and a static HTML page (no server needed)."""

from __future__ import annotations

import click

from optgan_cli.options import storage_option


def register(group: click.Group) -> None:
    group.add_command(report)


@click.command()
@click.argument("name")
@click.option("-o", "--output", "output", required=True, type=click.Path(file_okay=False),
              help="Folder to write index.html and the pictures into (created).")
@click.option("--stage", type=click.Choice(["gen", "disc"]), default=None,
              help="One stage only (default: both).")
@click.option("--run-dir", default=None, type=click.Path(file_okay=False), metavar="DIR",
              help="The search's run directory where this host sees it (default: the stored path).")
@storage_option
def report(name: str, output: str, stage: str | None, run_dir: str | None, storage: str | None) -> None:
    """Write Pareto fronts, learning curves, architectures and sample grids of search NAME."""
    from optgan.study.report import write_report
    from optgan.study.search import STAGES, load_search

    search = load_search(name, storage)
    if run_dir is not None:
        search.read_run_dir(run_dir)
    elif not search.run_dir.is_dir():  # moved, or another host's path: say it once, not once per picture
        click.echo(f"warning: run directory {search.run_dir} of {name!r} is not here; its pictures are left out "
                   "(pass --run-dir DIR where this host sees it)", err=True)
    index = write_report(search, output, stages=[stage] if stage else STAGES)
    click.echo(f"report: {index}")
