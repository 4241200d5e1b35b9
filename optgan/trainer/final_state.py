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

from optgan.config.train import TrainConfig
from optgan.errors import CheckpointError, ConfigError
from optgan.search_space.genotype import Genotype
from optgan.backends import resolve_device
from optgan.trainer import losses
from optgan.trainer.adam_step import adam_state_dict, load_adam_state_dict
from optgan.trainer.checkpoint import atomic_torch_save, capture_rng, load_checkpoint, restore_rng
from optgan.trainer.ema import EMA
from optgan.trainer.final_metrics import fid_of
from optgan.trainer.final_run_dir import check_compatible, make_out_dir, remove_stale_temp_files, run_header
from optgan.trainer.final_outputs import CHECKPOINT_BEST, CHECKPOINT_LAST, RUN_MARKER
from optgan.trainer.run_lock import RunDirLock
from optgan.trainer.final_setup import (
    DiscSpec,
    build_networks,
    derived_seed,
    make_optimizers,
    uses_cuda_graphs,
)

__all__ = ["RunState", "make_scorer"]

log = logging.getLogger(__name__)

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
        header = run_header(cfg, gen, disc, image_set)
        make_out_dir(out_dir)  # only once the device and the data are known to be there
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

        remove_stale_temp_files(out_dir)
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


def make_scorer(cfg: TrainConfig, image_set: Any, device: torch.device,
                check_identity: Any = None) -> Any:
    """The periodic evaluator: IS / FID / KID of a latents→images callable on a fixed latent bank
    (`check_identity(extractor identity)` runs before the reference statistics are computed)."""
    from optgan.trainer.final_metrics import build_scorer

    return build_scorer(cfg.metrics, image_set, cfg.widths, device, seed=derived_seed(cfg.seed, 6),
                        check_identity=check_identity)
