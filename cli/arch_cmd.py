"""`optgan arch info`: size accounting and cap check of one genotype, without building it."""

from __future__ import annotations

import json

import click

from optgan.search_space import (
    CIFAR10_WIDTHS,
    Caps,
    Genotype,
    check_caps,
    count_flops,
    count_params,
)
from optgan.search_space.json_input import read_json_argument
from optgan.search_space.widths import Widths


def register(group: click.Group) -> None:
    group.add_command(arch)


@click.group()
def arch() -> None:
    """Inspect architectures of the search space."""


@arch.command("info")
@click.option("--net", type=click.Choice(["gen", "disc"]), required=True, help="Generator or discriminator.")
@click.option("--genotype", "genotype_arg", required=True, metavar="GENOTYPE",
              help="JSON string or path to a JSON file (integer-array or named form).")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              help="Study config: its widths and caps are used (default: the widths an exported file records, "
                   "else CIFAR-10's; no caps).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def info(net: str, genotype_arg: str, config_path: str | None, as_json: bool) -> None:
    """Parameters per cell and in total, FLOPs, and whether the config's caps are met."""
    given = read_json_argument(genotype_arg, "genotype")
    genotype = Genotype.from_json(given, net)
    widths, caps = _widths_and_caps(config_path, net)
    if config_path is None and isinstance(given, dict) and given.get("widths") is not None:
        widths = _exported_widths(given["widths"])  # `optgan export` records the search's widths
    elif config_path is not None:  # the config's widths win: say so when the export records others
        from optgan.trainer.final_setup import warn_other_widths

        warn_other_widths(genotype_arg, net, widths)
    report = arch_report(genotype, widths, caps)
    if as_json:
        click.echo(json.dumps(report))
        return
    click.echo(f"{net} genotype: {genotype}")
    click.echo(f"widths: gf_dim={widths.gf_dim} df_dim={widths.df_dim} "
               f"latent_dim={widths.latent_dim} bottom_width={widths.bottom_width}")
    for k, p in enumerate(report["params_per_cell_M"]):
        click.echo(f"  cell {k + 1}: {p:.6f} M params")
    click.echo(f"params: {report['params_M']:.6f} M   FLOPs (MACs): {report['flops_M']:.1f} M")
    click.echo(f"caps: {caps.describe()} -> {'feasible' if report['feasible'] else 'INFEASIBLE'}")
    for v in report["violations"]:
        click.echo(f"  violated: {v}")


def arch_report(genotype: Genotype, widths: Widths, caps: Caps) -> dict:
    """The JSON report of `optgan arch info`."""
    size = count_params(genotype, widths)
    violations = [v.message for v in check_caps(genotype, widths, caps)]
    return {
        "net": genotype.net,
        "genotype": genotype.to_array(),
        "params_M": round(size.total / 1e6, 6),
        "params_per_cell_M": [round(p / 1e6, 6) for p in size.per_cell],
        "flops_M": round(count_flops(genotype, widths) / 1e6, 4),
        "feasible": not violations,
        "violations": violations,
    }


def _exported_widths(record: object) -> Widths:
    from optgan.config.base import from_dict
    from optgan.errors import ConfigError, GenotypeError

    try:
        return from_dict(Widths, record, "widths")
    except ConfigError as e:
        raise GenotypeError(f"the genotype file's `widths` {record!r} are not widths ({e})") from None


def _widths_and_caps(config_path: str | None, net: str) -> tuple[Widths, Caps]:
    if config_path is None:
        return CIFAR10_WIDTHS, Caps()
    import dataclasses

    from optgan.config.yaml_input import load_yaml
    from optgan.config.study import StudyConfig, study_config_from_dict
    from optgan.config.train import TrainConfig, train_config_from_dict

    data = load_yaml(config_path)
    unknown_as_study = len(set(data) - {f.name for f in dataclasses.fields(StudyConfig)})
    unknown_as_recipe = len(set(data) - {f.name for f in dataclasses.fields(TrainConfig)})
    if unknown_as_recipe < unknown_as_study:  # a training recipe (studies/train-*.yaml): widths, no caps
        return train_config_from_dict(data).widths, Caps()
    cfg = study_config_from_dict(data)
    return cfg.widths, cfg.caps.for_net(net)
