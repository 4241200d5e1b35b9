"""`optgan compare NAME NAME …`: one stage of several searches on one scale (seeds, strategies, caps)."""

from __future__ import annotations

import json

import click

from optgan_cli.options import stage_option, storage_option


def register(group: click.Group) -> None:
    group.add_command(compare)


@click.command()
@click.argument("names", nargs=-1, required=True)
@stage_option
@click.option("-o", "--output", type=click.Path(file_okay=False), default=None,
              help="Folder to write compare-<stage>.png and compare-<stage>.json into (created).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@storage_option
def compare(names: tuple[str, ...], stage: str, output: str | None, as_json: bool, storage: str | None) -> None:
    """Compare one stage of searches NAMES: hypervolume per round on one joint scale, last fronts.

    The searches must score the same objectives. NAME@URL is a search in storage URL (another
    SQLite file, another database); a plain NAME is looked up in --storage.
    """
    import pathlib

    from optgan.atomic import atomic_write_bytes
    from optgan.study.compare import compare_searches, plot_comparison
    from optgan.study.pictures import axis_label
    from optgan.study.search import load_search, search_ref
    from optgan.study.stage_pictures import format_value

    refs = [search_ref(n, storage) for n in names]
    if len(refs) < 2 or len(set(refs)) < len(refs):
        raise click.UsageError("give two or more different searches")
    comparison = compare_searches([load_search(*ref) for ref in refs], stage)
    data = comparison.to_json()
    if output is not None:
        folder = pathlib.Path(output)
        folder.mkdir(parents=True, exist_ok=True)
        plot_comparison(comparison, folder / f"compare-{stage}.png")
        atomic_write_bytes(folder / f"compare-{stage}.json", (json.dumps(data, indent=2) + "\n").encode())
    if as_json:
        click.echo(json.dumps(data))
        return
    width = max(len("search"), *(len(s.name) for s in comparison.searches))
    labels = list(map(axis_label, comparison.names, comparison.directions))
    click.echo(f"stage {stage}: hypervolume of each round on one scale over {len(names)} searches "
               f"(higher is better; reference point {data['hypervolume_reference']})")
    click.echo(f"{'search':<{width}}  rounds  last HV  best HV  front  pooled  " + "  ".join(labels))
    for s in comparison.searches:
        best = "  ".join(f"{format_value(s.best[n]):>{len(lab)}}" for n, lab in zip(comparison.names, labels))
        click.echo(f"{s.name:<{width}}  {s.rounds[-1]:>6}  {s.hypervolume[-1]:7.4f}  {max(s.hypervolume):7.4f}  "
                   f"{int(s.last_front.sum()):>5}  {s.on_pooled_front:>6}  {best}")
    final = data["final_hypervolume"]
    click.echo(f"last-round hypervolume: mean {final['mean']:.4f} ± {final['std']:.4f} (std over searches); "
               "front: the last round's Pareto front; pooled: its points on the front of all last rounds")
    if output is not None:
        click.echo(f"picture:  {pathlib.Path(output) / f'compare-{stage}.png'}")
