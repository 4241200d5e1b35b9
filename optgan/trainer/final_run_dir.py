"""The output folder of a final training run: what may be in it, and what a resume must match.

`make_out_dir` marks a folder as a training run (refusing a folder of other files);
`check_compatible` refuses to resume a checkpoint of another format, architecture, data set or
config, except for the keys in :data:`RESUME_MAY_CHANGE`; `describe_out_dir` says what
`optgan train` would do in a folder without writing (for `--dry-run`).
"""

from __future__ import annotations

import os
from typing import Any

from optgan.atomic import TMP_PREFIX, writable_dir_problem
from optgan.config.base import flatten, to_dict
from optgan.config.train import TrainConfig, train_config_from_dict
from optgan.errors import CheckpointError, ConfigError, OptganError
from optgan.search_space.genotype import Genotype
from optgan.trainer.checkpoint import load_checkpoint
from optgan.trainer.final_outputs import CHECKPOINT_LAST, RUN_MARKER, SAMPLES_DIR
from optgan.trainer.final_setup import DiscSpec, arch_record
from optgan.trainer.run_lock import RunDirBusyError

__all__ = ["FORMAT", "FORMAT_VERSION", "RESUME_MAY_CHANGE", "run_header", "make_out_dir", "check_out_dir",
           "describe_out_dir", "remove_unused_out_dir", "remove_stale_temp_files", "check_compatible"]

FORMAT = "optgan.final-training"
FORMAT_VERSION = 1
#: config keys that may differ when a run is resumed (everything else must match); the step sizes
#: and the clip are there so a run that diverged can go on from its last checkpoint more gently
RESUME_MAY_CHANGE = ("epochs", "device", "cpu_threads", "checkpoint_every_iters", "nonfinite_patience",
                     "lr_g", "lr_d", "grad_clip", "precision", "cudnn_benchmark", "cuda_graphs", "op_forms",
                     # where things are, not what they are (the data's content is checked by fingerprint)
                     "data.root", "data.path", "data.download", "metrics.cache_dir",
                     # the weights' content is checked by hash (`RunState.check_extractor`)
                     "metrics.inception_weights", "metrics.inception_download")



def remove_stale_temp_files(out_dir: str) -> None:
    """Temporary files of atomic writes that a kill interrupted (one run per directory at a time)."""
    for folder in (out_dir, os.path.join(out_dir, SAMPLES_DIR)):
        if os.path.isdir(folder):
            for name in os.listdir(folder):
                if name.startswith(TMP_PREFIX):
                    os.unlink(os.path.join(folder, name))


def run_header(cfg: TrainConfig, gen: Genotype, disc: DiscSpec, image_set: Any) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "arch": arch_record(gen, disc, cfg.widths),
        "config": to_dict(cfg),
        "data": {"name": image_set.name, "fingerprint": image_set.fingerprint, "num_images": len(image_set.images)},
    }


def make_out_dir(out_dir: str) -> None:
    """Create the output folder (marked as a training run); refuse a folder of other files."""
    check_out_dir(out_dir, create=True)
    open(os.path.join(out_dir, RUN_MARKER), "a").close()


def check_out_dir(out_dir: str, create: bool) -> None:
    if os.path.isdir(out_dir):
        present = {n for n in os.listdir(out_dir) if not n.startswith(TMP_PREFIX)}
        if present and not present & {RUN_MARKER, CHECKPOINT_LAST}:
            raise ConfigError(f"output directory {out_dir} holds other files (no optgan training run there); "
                              "pass --out with a new or empty folder")
    problem = writable_dir_problem(out_dir, create=create)
    if problem:
        raise ConfigError(f"output directory {problem}; pass --out with another folder")


def describe_out_dir(cfg: TrainConfig, gen: Genotype, disc: DiscSpec, out_dir: str) -> str:
    """What `optgan train` would do in `out_dir`, found without writing (for --dry-run): start a new
    run, resume one (checked as a resume checks it) or nothing; else the error it would raise."""
    from optgan.trainer.data import load_images

    from optgan.trainer.run_lock import UNKNOWN_HOLDER, training_holder

    check_out_dir(out_dir, create=False)
    holder = training_holder(os.path.join(out_dir, RUN_MARKER))
    if holder is not None and holder != UNKNOWN_HOLDER:  # as the run itself would refuse it
        raise RunDirBusyError(f"output directory {out_dir} is being trained by {holder}; wait for it to finish (or "
                              "stop it), or train into another --out folder")
    last = os.path.join(out_dir, CHECKPOINT_LAST)
    if not os.path.isfile(last):
        return f"a new run in {out_dir}"
    image_set = load_images(cfg.data, cfg.widths.img_size)  # loaded once per process: the checks above have it
    ck = load_checkpoint(last, map_location="cpu")
    check_compatible(ck, run_header(cfg, gen, disc, image_set), last, image_set)
    epoch = int(ck["progress"]["epoch"])
    if epoch >= cfg.epochs:
        return f"{out_dir} holds a finished run of {epoch} epochs (nothing to do; raise `epochs` to extend it)"
    return f"resumes the run in {out_dir} after epoch {epoch} of {cfg.epochs}"


def remove_unused_out_dir(out_dir: str, *, keep_folder: bool = False) -> None:
    """Undo :func:`make_out_dir` after a failed start: when the folder holds only the marker, the
    marker goes, and the folder too unless `keep_folder` (an empty folder the user made for the run)."""
    marker = os.path.join(out_dir, RUN_MARKER)
    if os.path.isdir(out_dir) and set(os.listdir(out_dir)) <= {RUN_MARKER}:
        if os.path.exists(marker):
            os.remove(marker)
        if not keep_folder:
            os.rmdir(out_dir)


def check_compatible(ck: dict[str, Any], header: dict[str, Any], path: str, image_set: Any) -> None:
    """Refuse to resume from a checkpoint of another format, architecture, data set or config."""
    from optgan.trainer.data import matches_fingerprint

    if ck.get("format") != FORMAT or ck.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"{path} is not an optgan final-training checkpoint (format {ck.get('format')!r})")
    if ck.get("arch") != header["arch"]:
        raise CheckpointError(f"{path} was trained with another architecture (genotype, discriminator or widths); "
                              "use a new --out directory or the original --gen-arch / --disc")
    if not matches_fingerprint(image_set, ck.get("data", {}).get("fingerprint")):
        raise CheckpointError(f"{path} was trained on other data ({ck.get('data', {}).get('name')}); "
                              "use a new --out directory or the original data config")
    old, new = flatten(_with_defaults(ck.get("config", {}))), flatten(header["config"])
    for key in sorted(set(old) | set(new)):
        if key not in RESUME_MAY_CHANGE and old.get(key) != new.get(key):
            raise CheckpointError(f"{path} was started with `{key}` = {old.get(key)!r}, now {new.get(key)!r}; "
                                  "use a new --out directory or the original config")


def _with_defaults(config: dict[str, Any]) -> dict[str, Any]:
    """A stored config with the keys added since it was written filled in with their defaults
    (so a run started by an older optgan resumes); as stored when it no longer validates."""
    try:
        return to_dict(train_config_from_dict(config))
    except OptganError:
        return config
