"""Everything a final training run carries between iterations — and its checkpoints.

:class:`RunState` owns the networks, EMA, optimisers, latent generator, data stream, MMD bound,
counters and history. `RunState.open` starts a run or resumes the one in `out_dir`
(refusing a checkpoint made with another architecture or config); `save_last` / `save_best`
write the checkpoint formats that :mod:`optgan.export` reads (tensors and plain containers only).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from optgan.config.base import flatten, to_dict
from optgan.config.train import TrainConfig, train_config_from_dict
from optgan.errors import CheckpointError, ConfigError, OptganError
from optgan.search_space.genotype import Genotype
from optgan.atomic import TMP_PREFIX, writable_dir_problem
from optgan.backends import resolve_device
from optgan.trainer import losses
from optgan.trainer.adam_step import adam_state_dict, load_adam_state_dict
from optgan.trainer.checkpoint import atomic_torch_save, capture_rng, load_checkpoint, restore_rng
from optgan.trainer.ema import EMA
from optgan.trainer.final_metrics import fid_of
from optgan.trainer.final_outputs import CHECKPOINT_BEST, CHECKPOINT_LAST, RUN_MARKER, SAMPLES_DIR
from optgan.trainer.run_lock import RunDirBusyError, RunDirLock
from optgan.trainer.final_setup import (
    DiscSpec,
    arch_record,
    build_networks,
    derived_seed,
    make_optimizers,
    uses_cuda_graphs,
)

__all__ = ["RunState", "FORMAT", "FORMAT_VERSION", "make_scorer", "RESUME_MAY_CHANGE"]

log = logging.getLogger(__name__)

FORMAT = "optgan.final-training"
FORMAT_VERSION = 1
#: config keys that may differ when a run is resumed (everything else must match); the step sizes
#: and the clip are there so a run that diverged can go on from its last checkpoint more gently
RESUME_MAY_CHANGE = ("epochs", "device", "cpu_threads", "checkpoint_every_iters", "nonfinite_patience",
                     "lr_g", "lr_d", "grad_clip", "precision", "cudnn_benchmark", "cuda_graphs",
                     # where things are, not what they are (the data's content is checked by fingerprint)
                     "data.root", "data.path", "data.download", "metrics.cache_dir",
                     # the weights' content is checked by hash (`RunState.check_extractor`)
                     "metrics.inception_weights", "metrics.inception_download")


def fresh_sums() -> dict[str, float]:
    """An epoch's loss sums: finite D / G losses and their counts, and the skipped (non-finite) steps."""
    return {"d_loss": 0.0, "d_count": 0, "g_loss": 0.0, "g_count": 0, "nonfinite": 0}


@dataclass
class RunState:
    cfg: TrainConfig
    out_dir: str
    device: torch.device
    header: dict[str, Any]
    image_set: Any
    g_net: nn.Module
    d_net: nn.Module
    ema: EMA
    opt_g: torch.optim.Adam
    opt_d: torch.optim.Adam
    latent_gen: torch.Generator
    stream: Any
    bound: losses.AdaptiveUpperBound | None
    iters_per_epoch: int
    #: the MMD kernel's upper bound on the device (what the D loss reads; follows `bound`)
    bound_tensor: torch.Tensor
    epoch: int = 0
    iter_in_epoch: int = 0
    global_iter: int = 0
    g_steps: int = 0
    sums: dict[str, float] = field(default_factory=fresh_sums)
    #: D iterations in a row whose loss was non-finite (their steps were skipped)
    nonfinite_streak: int = 0
    best: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    #: the feature extractor's identity (weights hash, mode) the run's evaluations were scored with
    extractor_identity: dict[str, Any] | None = None
    _lrs_applied: tuple[float, float] | None = None
    #: this process's lock on the output folder (:mod:`optgan.trainer.run_lock`)
    lock: RunDirLock | None = None

    # ------------------------------------------------------------------ creation
    @classmethod
    def open(cls, cfg: TrainConfig, gen: Genotype, disc: DiscSpec, out_dir: str) -> RunState:
        """A fresh run, or the run saved in `out_dir/checkpoint-last.pt`."""
        from optgan.metrics.availability import check_reference_size
        from optgan.trainer.data import load_images

        device = resolve_device(cfg.device)
        image_set = load_images(cfg.data, cfg.widths.img_size)
        check_reference_size(cfg.metrics, len(image_set))  # refused after training otherwise
        header = _header(cfg, gen, disc, image_set)
        _make_out_dir(out_dir)  # only once the device and the data are known to be there
        lock = RunDirLock.acquire(os.path.join(out_dir, RUN_MARKER), f"output directory {out_dir}")
        try:  # held until `close`: a second process never touches this run's files
            run = cls._open_locked(cfg, gen, disc, out_dir, device, image_set, header)
        except BaseException:
            lock.release()
            raise
        run.lock = lock
        return run

    @classmethod
    def _open_locked(cls, cfg: TrainConfig, gen: Genotype, disc: DiscSpec, out_dir: str, device: torch.device,
                     image_set: Any, header: dict[str, Any]) -> RunState:
        from optgan.trainer.data import BatchStream

        _remove_stale_temp_files(out_dir)
        g_net, d_net = build_networks(cfg, gen, disc)
        g_net, d_net = g_net.to(device).train(), d_net.to(device).train()
        opt_g, opt_d = make_optimizers(cfg, g_net, d_net, capturable=uses_cuda_graphs(cfg, device))
        latent_gen = torch.Generator(device=device).manual_seed(derived_seed(cfg.seed, 2))
        data_gen = torch.Generator().manual_seed(derived_seed(cfg.seed, 3))
        stream = BatchStream(image_set.images, cfg.batch_size_d, data_gen, device)
        m = cfg.mmd
        bound = losses.AdaptiveUpperBound(m.upper_bound, m.upper_bound_cap, m.bound_factor, m.patience) if cfg.loss == "mmd" else None
        run = cls(cfg, os.path.abspath(out_dir), device, header, image_set, g_net, d_net, EMA(g_net, cfg.ema_decay),
                  opt_g, opt_d, latent_gen, stream, bound, cfg.iters_per_epoch or stream.batches_per_epoch(),
                  torch.tensor(bound.value if bound else 0.0, device=device))
        if os.path.isfile(run.last_path):
            # onto the CPU: everything is copied into the live (device) tensors, and RNG states must
            # stay CPU byte tensors (mapped to a GPU, the data stream's generator refuses its state)
            run._resume(load_checkpoint(run.last_path, map_location="cpu"))
        else:
            # the global RNGs are seeded too, for any op that draws from them (none in optgan's nets)
            torch.manual_seed(derived_seed(cfg.seed, 5))
        return run

    def close(self) -> None:
        """Release the output folder (its lock); the state itself stays usable in this process."""
        if self.lock is not None:
            self.lock.release()

    @property
    def last_path(self) -> str:
        return os.path.join(self.out_dir, CHECKPOINT_LAST)

    @property
    def best_path(self) -> str:
        return os.path.join(self.out_dir, CHECKPOINT_BEST)

    @property
    def finished(self) -> bool:
        return self.epoch >= self.cfg.epochs

    # ------------------------------------------------------------------ losses
    def d_loss(self, real_out: torch.Tensor, fake_out: torch.Tensor) -> torch.Tensor:
        if self.bound is None:
            return losses.hinge_d_loss(real_out, fake_out)
        m = self.cfg.mmd
        return losses.mmd_repulsive_d_loss(real_out, fake_out, sigma=m.sigma,
                                           upper_bound=self.bound_tensor, lower_bound=m.lower_bound)

    def g_loss(self, real_out: torch.Tensor | None, fake_out: torch.Tensor) -> torch.Tensor:
        if self.bound is None:
            return losses.hinge_g_loss(fake_out)
        assert real_out is not None
        return losses.mmd_g_loss(real_out, fake_out, sigma=self.cfg.mmd.sigma)

    def learning_rates(self) -> tuple[float, float]:
        """(lr_g, lr_d) at the current iteration: the config's, decayed linearly to 0 over the run
        when `lr_decay: linear` (reference `LinearLrDecay`)."""
        frac = 1.0
        if self.cfg.lr_decay == "linear":
            frac = max(0.0, 1.0 - self.global_iter / (self.cfg.epochs * self.iters_per_epoch))
        return self.cfg.lr_g * frac, self.cfg.lr_d * frac

    def apply_lr_decay(self) -> None:
        """Write :meth:`learning_rates` into the optimisers' device tensors when they changed (so a
        resumed run uses the config's rates, not the checkpoint's)."""
        lrs = self.learning_rates()
        if lrs == self._lrs_applied:
            return
        for opt, lr in zip((self.opt_g, self.opt_d), lrs):
            for group in opt.param_groups:
                group["lr"].fill_(lr)
        self._lrs_applied = lrs

    # ------------------------------------------------------------------ epoch bookkeeping
    def epoch_row(self, epoch: int, seconds: float) -> dict[str, Any]:
        s = self.sums
        lr_g, lr_d = self._lrs_applied or self.learning_rates()  # the rates of the epoch's last iteration
        return {
            "epoch": epoch,
            "iteration": self.global_iter,
            "g_steps": self.g_steps,
            "d_loss": s["d_loss"] / s["d_count"] if s["d_count"] else None,
            "g_loss": s["g_loss"] / s["g_count"] if s["g_count"] else None,
            "nonfinite_steps": int(s["nonfinite"]),
            "lr_g": lr_g,
            "lr_d": lr_d,
            "upper_bound": None if self.bound is None else self.bound.value,
            "seconds": round(seconds, 3),
        }

    def record_eval(self, epoch: int, scores: dict[str, float]) -> bool:
        """Update the best record and the MMD bound; True when FID improved."""
        fid = fid_of(scores)
        improved = fid < self.best.get("fid", float("inf"))
        if improved:
            self.best = {"epoch": epoch, "iteration": self.global_iter, "fid": fid, "scores": dict(scores)}
        if self.bound is not None and self.bound.update(fid):
            log.info("MMD kernel upper bound raised to %g", self.bound.value)
            self.bound_tensor.fill_(self.bound.value)
        return improved

    def finish_epoch(self, row: dict[str, Any]) -> None:
        self.history.append(row)
        self.epoch += 1
        self.iter_in_epoch = 0
        self.sums = fresh_sums()

    def check_extractor(self, identity: dict[str, Any] | None) -> None:
        """Refuse a feature extractor other than the one the run's earlier evaluations were scored
        with (their FIDs pick the best checkpoint and move the MMD bound); adopt it otherwise."""
        from optgan.metrics.extractor_base import identity_change

        if identity is None:  # a scorer from a test or a caller: nothing to compare
            return
        before = self.extractor_identity
        if before is None and self.best:
            log.warning("%s was evaluated by an optgan that did not record its feature extractor: scores from now "
                        "on cannot be checked against the earlier ones", self.out_dir)
        change = None if before is None or not self.best else identity_change(before, identity)
        if change is not None:
            shown, cause = change
            fix = {
                "extractor": "the extractor is part of the config; was the checkpoint written by another run?",
                "version": "the run was scored by another optgan version's extractor",
                "classifier": ("copy the trained classifier (`classifier/*.pt` of `metrics.cache_dir`) from the "
                               "machine that began the run and pass that folder with --set metrics.cache_dir=DIR"),
                "weights": "pass the weights file the run began with (--inception-weights FILE)",
                "mode": "resume on the kind of device the run began on (--device)",
            }[cause]
            raise ConfigError(f"the feature extractor differs from the one {self.out_dir} was scored with ({shown}), "
                              f"so new scores would not compare with earlier ones; {fix}, or train into a new --out folder")
        self.extractor_identity = json.loads(json.dumps(identity))

    # ------------------------------------------------------------------ checkpoints
    def _progress(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "iter_in_epoch": self.iter_in_epoch, "global_iter": self.global_iter,
                "g_steps": self.g_steps, "sums": dict(self.sums), "iters_per_epoch": self.iters_per_epoch,
                "nonfinite_streak": self.nonfinite_streak}

    def _generator_part(self, kind: str) -> dict[str, Any]:
        return {**self.header, "kind": kind, "progress": self._progress(), "best": dict(self.best),
                "extractor_identity": self.extractor_identity, "gen": self.g_net.state_dict(), "gen_ema": self.ema.state_dict()}

    def save_last(self) -> None:
        """The resumable checkpoint (atomic)."""
        state = self._generator_part("last")
        state.update(
            disc_state=self.d_net.state_dict(), opt_g=adam_state_dict(self.opt_g), opt_d=adam_state_dict(self.opt_d),
            rng=capture_rng({"latent": self.latent_gen}), stream=self.stream.state_dict(),
            mmd_bound=None if self.bound is None else self.bound.state_dict(), history=list(self.history),
        )
        atomic_torch_save(state, self.last_path)

    def save_best(self) -> None:
        """The generator-only checkpoint of the best FID so far (atomic)."""
        atomic_torch_save(self._generator_part("best"), self.best_path)

    def _resume(self, ck: dict[str, Any]) -> None:
        check_compatible(ck, self.header, self.last_path, self.image_set)
        try:
            self.g_net.load_state_dict(ck["gen"])
            self.ema.load_state_dict(ck["gen_ema"])
            self.d_net.load_state_dict(ck["disc_state"])
            load_adam_state_dict(self.opt_g, ck["opt_g"], "G")
            load_adam_state_dict(self.opt_d, ck["opt_d"], "D")
            self.stream.load_state_dict(ck["stream"])
            restore_rng(ck["rng"], {"latent": self.latent_gen})
            p = ck["progress"]
            if p["iters_per_epoch"] != self.iters_per_epoch:
                raise CheckpointError(f"{self.last_path} was made with {p['iters_per_epoch']} iterations per epoch, "
                                      f"this run has {self.iters_per_epoch}; resume with the same data and batch size")
            self.epoch, self.iter_in_epoch = int(p["epoch"]), int(p["iter_in_epoch"])
            self.global_iter, self.g_steps = int(p["global_iter"]), int(p["g_steps"])
            self.sums = fresh_sums() | dict(p["sums"])  # (checkpoints before the non-finite count lack it)
            self.nonfinite_streak = int(p.get("nonfinite_streak", 0))
            self.best, self.history = dict(ck["best"]), list(ck["history"])
            self.extractor_identity = ck.get("extractor_identity")  # (older checkpoints lack it)
            if self.bound is not None:
                self.bound.load_state_dict(ck["mmd_bound"])
                self.bound_tensor.fill_(self.bound.value)
        except (KeyError, RuntimeError, ValueError) as e:
            raise CheckpointError(f"{self.last_path} cannot be resumed ({type(e).__name__}: {str(e).splitlines()[0][:160]}); "
                                  "use a new --out directory") from e
        if not self.finished:  # a finished run is reported as such by the caller
            log.info("resuming %s at epoch %d, iteration %d", self.out_dir, self.epoch + 1, self.global_iter)


def _remove_stale_temp_files(out_dir: str) -> None:
    """Temporary files of atomic writes that a kill interrupted (one run per directory at a time)."""
    for folder in (out_dir, os.path.join(out_dir, SAMPLES_DIR)):
        if os.path.isdir(folder):
            for name in os.listdir(folder):
                if name.startswith(TMP_PREFIX):
                    os.unlink(os.path.join(folder, name))


def _header(cfg: TrainConfig, gen: Genotype, disc: DiscSpec, image_set: Any) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "arch": arch_record(gen, disc, cfg.widths),
        "config": to_dict(cfg),
        "data": {"name": image_set.name, "fingerprint": image_set.fingerprint, "num_images": len(image_set.images)},
    }


def _make_out_dir(out_dir: str) -> None:
    """Create the output folder (marked as a training run); refuse a folder of other files."""
    _check_out_dir(out_dir, create=True)
    open(os.path.join(out_dir, RUN_MARKER), "a").close()


def _check_out_dir(out_dir: str, create: bool) -> None:
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

    _check_out_dir(out_dir, create=False)
    holder = training_holder(os.path.join(out_dir, RUN_MARKER))
    if holder is not None and holder != UNKNOWN_HOLDER:  # as the run itself would refuse it
        raise RunDirBusyError(f"output directory {out_dir} is being trained by {holder}; wait for it to finish (or "
                              "stop it), or train into another --out folder")
    last = os.path.join(out_dir, CHECKPOINT_LAST)
    if not os.path.isfile(last):
        return f"a new run in {out_dir}"
    image_set = load_images(cfg.data, cfg.widths.img_size)  # loaded once per process: the checks above have it
    ck = load_checkpoint(last, map_location="cpu")
    check_compatible(ck, _header(cfg, gen, disc, image_set), last, image_set)
    epoch = int(ck["progress"]["epoch"])
    if epoch >= cfg.epochs:
        return f"{out_dir} holds a finished run of {epoch} epochs (nothing to do; raise `epochs` to extend it)"
    return f"resumes the run in {out_dir} after epoch {epoch} of {cfg.epochs}"


def remove_unused_out_dir(out_dir: str) -> None:
    """Undo :func:`_make_out_dir` after a failed start: the folder goes if it holds only the marker."""
    marker = os.path.join(out_dir, RUN_MARKER)
    if os.path.isdir(out_dir) and set(os.listdir(out_dir)) <= {RUN_MARKER}:
        if os.path.exists(marker):
            os.remove(marker)
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


def make_scorer(cfg: TrainConfig, image_set: Any, device: torch.device,
                check_identity: Any = None) -> Any:
    """The periodic evaluator: IS / FID / KID of a latents→images callable on a fixed latent bank
    (`check_identity(extractor identity)` runs before the reference statistics are computed)."""
    from optgan.trainer.final_metrics import build_scorer

    return build_scorer(cfg.metrics, image_set, cfg.widths, device, seed=derived_seed(cfg.seed, 6),
                        check_identity=check_identity)
