"""`optgan train`, `optgan eval`, `optgan sample`: train the found GAN, score it, look at it.

Thin: options are resolved here (config file → `--set` overrides → explicit flags), the work is
done by :mod:`optgan.trainer.final`, :mod:`optgan.trainer.final_metrics` and :mod:`optgan.export`.
User mistakes raise :class:`~optgan.errors.OptganError` (one line, exit code 2 in `cli/main.py`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from typing import Any

import click

from optgan.errors import ConfigError
from optgan_cli.options import check_output_folder, inception_weights_option, path_override, warn_unused_locations

__all__ = ["register", "train", "eval_command", "sample"]


def register(group: click.Group) -> None:
    """Add `train`, `eval` and `sample` to the `optgan` group."""
    group.add_command(train)
    group.add_command(eval_command)
    group.add_command(sample)


@click.command("train")
@click.option("--gen-arch", default=None, metavar="G.json",
              help="Generator genotype: JSON file (as `optgan export` writes) or JSON string. "
                   "Default: the config's `gen_arch`.")
@click.option("--disc-arch", default=None, metavar="D.json", help="Discriminator genotype (JSON file or string).")
@click.option("--disc", type=click.Choice(["simple", "autogan"]), default=None,
              help="A fixed discriminator instead of a genotype (default: the config's `disc`).")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              help="Training preset, e.g. studies/train-cifar10.yaml (default: built-in defaults, CIFAR-10 "
                   "hinge training against the simple D; the papers' recipes are the presets in studies/).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a config value (repeatable), e.g. --set epochs=10 --set metrics.num_images=5000.")
@click.option("--out", "out_dir", default=None, metavar="DIR",
              help="Output directory (default: runs/<config name>-<arch hash>). Rerun to resume.")
@click.option("--seed", type=int, default=None, help="Overrides the config's seed.")
@click.option("--device", default=None, help="auto, cpu, cuda or cuda:N (overrides the config).")
@click.option("--data-root", default=None, type=click.Path(file_okay=False),
              help="Folder holding the torchvision data set (same as --set data.root=DIR).")
@inception_weights_option
@click.option("--dry-run", is_flag=True, help="Print the resolved config and architecture, check the device, the data "
                                                "and the weights; train nothing.")
@click.option("--no-progress", is_flag=True, help="No progress bars.")
def train(gen_arch: str | None, disc_arch: str | None, disc: str | None, config_path: str | None,
          overrides: tuple[str, ...], out_dir: str | None, seed: int | None, device: str | None,
          data_root: str | None, inception_weights: str | None, dry_run: bool, no_progress: bool) -> None:
    """Train a found generator (and discriminator) from scratch; resumable, evaluated with the EMA G."""
    from optgan.config.base import to_dict
    from optgan.config.train import load_train_config
    from optgan.trainer.final_setup import load_arch, resolve_disc, warn_other_widths

    flags = [f"seed={seed}"] if seed is not None else []
    flags += [f"device={device}"] if device is not None else []
    flags += [path_override("data.root", data_root)] if data_root is not None else []
    flags += [path_override("metrics.inception_weights", inception_weights)] if inception_weights is not None else []
    cfg = load_train_config(config_path, [*overrides, *flags])
    warn_unused_locations(cfg)
    arch_text = gen_arch if gen_arch is not None else cfg.gen_arch
    if arch_text is None:
        raise ConfigError("no generator: pass --gen-arch G.json (or set `gen_arch` in the config)")
    genotype = load_arch(arch_text, "gen")
    disc_spec = resolve_disc(cfg, disc, disc_arch)
    for text, net in ((arch_text, "gen"), (disc_arch, "disc")):
        if text is not None:
            warn_other_widths(text, net, cfg.widths)
    out = out_dir or _default_out(config_path, genotype.to_json(), json.dumps(disc_spec.to_record(), sort_keys=True))
    if dry_run:
        import yaml

        from optgan.trainer.final_setup import check_training_inputs
        from optgan.trainer.final_run_dir import describe_out_dir

        used = disc_spec.kind if disc_spec.genotype is None else json.dumps(disc_spec.genotype.to_array())
        shown = dataclasses.replace(cfg, gen_arch=json.dumps(genotype.to_array()), disc=used)  # what trains
        click.echo(yaml.safe_dump({"out": out, "gen": str(genotype),
                                   "disc": disc_spec.kind if disc_spec.genotype is None else str(disc_spec.genotype),
                                   "config": to_dict(shown)}, sort_keys=False).rstrip())
        inputs = check_training_inputs(cfg)
        click.echo(f"ready: {inputs}; {describe_out_dir(cfg, genotype, disc_spec, out)}")
        return
    from optgan.trainer.final import train_final

    result = train_final(cfg, genotype, disc_spec, out, progress=not no_progress)
    from optgan.metrics import result_key

    best = "n/a" if result.best_fid is None else f"{result.best_fid:.4f}"
    state = "finished" if result.finished else "stopped"
    epochs = f"{result.epochs_done}/{cfg.epochs} epochs" if result.epochs_done <= cfg.epochs else \
        f"{result.epochs_done} epochs already trained (more than epochs = {cfg.epochs}: nothing to do)"
    click.echo(f"{state}: {epochs}, {result.iterations} iterations, "
               f"best {result_key('FID', cfg.metrics.extractor)} {best}; outputs in {result.out_dir}")


def _default_out(config_path: str | None, *arch: str) -> str:
    stem = os.path.splitext(os.path.basename(config_path))[0] if config_path else "default"
    digest = hashlib.sha256("|".join(arch).encode()).hexdigest()[:8]
    return os.path.join("runs", f"{stem}-{digest}")


@click.command("eval")
@click.argument("checkpoint", metavar="CHECKPOINT")
@click.option("--num-images", "-n", type=click.IntRange(min=2), default=50_000, show_default=True,
              help="Generated images to score (the papers: 50,000).")
@click.option("--extractor", type=click.Choice(["inception", "classifier"]), default=None,
              help="Feature extractor (default: the one the run was trained with).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the latents.")
@click.option("--batch-size", type=click.IntRange(min=1), default=100, show_default=True)
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option("--raw", is_flag=True, help="Score the raw G weights instead of the EMA ones.")
@click.option("--cpu-threads", type=click.IntRange(min=1, max=1024), default=None,
              help="PyTorch's CPU threads while scoring (default: the run's `cpu_threads`).")
@click.option("--data-root", default=None, type=click.Path(file_okay=False),
              help="Where the run's cifar10 / stl10 data set is on this machine (default: where it was when training).")
@click.option("--data-path", default=None, type=click.Path(),
              help="Where the run's .npz file or image folder is on this machine (default: where it was when training).")
@inception_weights_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def eval_command(checkpoint: str, num_images: int, extractor: str | None, seed: int, batch_size: int, device: str,
                 raw: bool, cpu_threads: int | None, data_root: str | None, data_path: str | None,
                 inception_weights: str | None, as_json: bool) -> None:
    """IS (mean ± std over 10 splits), FID and KID of a trained generator against the data's reference statistics."""
    from optgan.trainer.final_metrics import evaluate_checkpoint

    report = evaluate_checkpoint(checkpoint, num_images=num_images, extractor=extractor, seed=seed,
                                 batch_size=batch_size, device=device, ema=not raw, data_root=data_root,
                                 data_path=data_path, inception_weights=inception_weights, threads=cpu_threads)
    if as_json:
        click.echo(json.dumps(report))
        return
    click.echo(_describe(report))


def _describe(r: dict[str, Any]) -> str:
    from optgan.metrics import result_key

    def shown(metric: str, digits: int) -> str:  # labelled by the extractor: `FID_classifier 2.891`
        mean, std = r.get(result_key(metric, r["extractor"])), None
        if metric != "FID":
            std = r.get(result_key(metric, r["extractor"], std=True))
        text = "n/a" if mean is None else f"{mean:.{digits}f}"
        text += "" if std is None else f" ± {std:.{digits}f}"
        return f"{result_key(metric, r['extractor'])} {text}"

    return ("   ".join(shown(m, d) for m, d in (("IS", 3), ("FID", 3), ("KID", 5))) + "\n"
            f"N={r['num_images']} extractor={r['extractor']} data={r['data']['name']} "
            f"weights={r['weights']['which']} epoch={r['weights']['epoch']} sha256={r['weights']['sha256'][:12]}")


@click.command("sample")
@click.argument("checkpoint", metavar="CHECKPOINT")
@click.option("-n", "--num", "num", type=click.IntRange(min=1, max=10_000), default=64, show_default=True,
              help="Images in the grid (at most 10,000).")
@click.option("-o", "--out", "out_path", type=click.Path(dir_okay=False), default="grid.png", show_default=True,
              help="Image file to write; its extension picks the format (.png, .jpg, .webp, …).")
@click.option("--nrow", type=click.IntRange(min=1), default=None, help="Images per row (default: square).")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the latents (drawn on the CPU: the same images on every device).")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option("--raw", is_flag=True, help="Use the raw G weights instead of the EMA ones.")
def sample(checkpoint: str, num: int, out_path: str, nrow: int | None, seed: int, device: str, raw: bool) -> None:
    """Write a grid of generated images (PNG; -o picks the format by its extension)."""
    import torch

    from optgan.backends import resolve_device
    from optgan.export import generator_from_checkpoint, read_training_checkpoint
    from optgan.trainer.final_outputs import grid_format, save_grid

    grid_format(out_path)  # an unknown extension is refused before any work
    check_output_folder(out_path)
    dev = resolve_device(device)
    ck = read_training_checkpoint(checkpoint)
    net = generator_from_checkpoint(ck, ema=not raw).to(dev)
    latent_dim = int(ck["arch"]["widths"]["latent_dim"])
    z = torch.randn(num, latent_dim, generator=torch.Generator().manual_seed(seed)).to(dev)
    with torch.no_grad():
        images = torch.cat([net(z[i : i + 256]) for i in range(0, num, 256)])
    save_grid(images, out_path, nrow=nrow)
    click.echo(f"wrote {num} images to {out_path}")

