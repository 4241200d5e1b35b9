"""Options shared by several commands."""

from __future__ import annotations

import json
import logging
from typing import Any

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


def warn_unused_locations(config: Any) -> None:
    """Warn about location keys the config's data set or extractor never reads (a `--data-root`
    given for an .npz, `--inception-weights` for the classifier extractor): likely a mix-up."""
    log = logging.getLogger("optgan")
    if config.data.root is not None and config.data.location_key != "root":
        log.warning("`data.root` (--data-root) = %s is not used by data.name %r (only cifar10 and stl10 read it)",
                    config.data.root, config.data.name)
    if config.data.download and config.data.location_key != "root":
        log.warning("`data.download` = true is not used by data.name %r (only cifar10 and stl10 are downloaded)",
                    config.data.name)
    if config.data.split != "train" and config.data.location_key == "path":
        log.warning("`data.split` = %s is not used by data.name %r (the whole file or folder is read; point "
                    "`data.path` at the split you want)", config.data.split, config.data.name)
    if config.metrics.inception_weights is not None and config.metrics.extractor != "inception":
        log.warning("`metrics.inception_weights` (--inception-weights) = %s is not used by the %r extractor",
                    config.metrics.inception_weights, config.metrics.extractor)


def warn_device_elsewhere(config: Any, name: str) -> None:
    """Warn when the stored `device` names a GPU this machine lacks (creating on a login node for
    a GPU node is fine; a typo or a wrong machine shows here, not at the first `optgan run`)."""
    from optgan.backends import resolve_device
    from optgan.errors import ConfigError

    try:
        resolve_device(config.device)
    except ConfigError as e:
        reason = str(e).split(";")[0]
        logging.getLogger("optgan").warning("%s: run the search on a machine that has that device, or with "
                                            "`optgan run %s --set device=auto`", reason, name)


def check_output_folder(output: str) -> None:
    """`-o FILE` must go into an existing folder: a typo in the path is reported, not made into new folders."""
    import os

    from optgan.errors import OptganError

    folder = os.path.dirname(os.path.abspath(output))
    if not os.path.exists(folder):
        raise OptganError(f"-o {output}: folder {folder} does not exist")
