"""The final training of a found GAN (`optgan train`, SPEC §6): one loop, two loss recipes, resumable.

Per discriminator iteration (EAGAN / MMD-AdversarialNAS `network.py::train`): one D step on a real
batch and a fake batch of D's batch size; every `n_critic`-th iteration (0, n, 2n, …) one G step
with G's batch size, then an EMA update of G. Hinge: L_D / L_G of `losses.hinge_*`. MMD: D's
16-d outputs go into the repulsive bounded-kernel loss; the G step compares D(G(z)) with D of the
same real batch; the kernel's upper bound follows the FID-driven schedule. After every epoch:
a sample grid of the EMA generator; when due, an evaluation of the EMA generator; the history row;
the best checkpoint (when FID improved) and then the resumable last checkpoint, both atomic.

Resume = rerun the same command: the last checkpoint restores G, D, EMA, both optimisers, the
latent generator, the global RNGs, the data stream's position and the MMD bound, so a killed and
resumed run ends with bitwise the same weights as an uninterrupted one (CPU, same seed, with
`deterministic: true`).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from torch import nn
from tqdm import tqdm

from optgan.backends import cudnn_autotune, tf32_allowed
from optgan.config.train import TrainConfig
from optgan.errors import TrainingDivergedError
from optgan.search_space.genotype import Genotype
from optgan.trainer import final_state as fs
from optgan.trainer.final_outputs import SAMPLES_DIR, save_grid, write_history
from optgan.trainer.final_setup import DiscSpec, derived_seed

__all__ = ["train_final", "TrainResult", "Scorer"]

log = logging.getLogger(__name__)

#: scores a latents→images callable: keys of `optgan.metrics.keys` (`FID` or `FID_<extractor>`, ...)
Scorer = Callable[[Callable[[torch.Tensor], torch.Tensor]], dict[str, float]]


@dataclass(frozen=True)
class TrainResult:
    """Where a run stands when `train_final` returns."""

    out_dir: str
    finished: bool
    epochs_done: int
    iterations: int
    best_fid: float | None
    last_checkpoint: str
    best_checkpoint: str | None


class _Stopped(Exception):
    """Raised by the `stop_after_iters` hook: the run ends as if killed (nothing is saved)."""


def train_final(
    cfg: TrainConfig,
    gen: Genotype,
    disc: DiscSpec,
    out_dir: str,
    *,
    scorer: Scorer | None = None,
    stop_after_iters: int | None = None,
    progress: bool = True,
) -> TrainResult:
    """Train (or resume) G and D in `out_dir`; `scorer=None` builds the metrics evaluator.

    `stop_after_iters` (tests) ends the run after that many iterations as a kill would: without
    saving. `cfg.deterministic` / `cfg.cpu_threads` are applied for the run and restored after.
    """
    with _torch_settings(cfg):
        run = fs.RunState.open(cfg, gen, disc, out_dir)
        if run.finished:
            log.info("%s already holds a finished run (%d epochs); nothing to do", out_dir, run.epoch)
            return _result(run)
        if scorer is None:
            scorer = fs.make_scorer(cfg, run.image_set, run.device)
        try:
            _Loop(run, scorer, stop_after_iters, progress).execute()
        except _Stopped:
            log.info("stopped after %d iterations (test hook); rerun to resume", run.global_iter)
        return _result(run)


@contextlib.contextmanager
def _torch_settings(cfg: TrainConfig) -> Iterator[None]:
    """Process-wide torch switches of the run (deterministic kernels, CPU threads, TF32, cuDNN
    autotuning), restored on exit."""
    saved = (torch.are_deterministic_algorithms_enabled(), torch.get_num_threads())
    if cfg.deterministic:
        torch.use_deterministic_algorithms(True)
    if cfg.cpu_threads is not None:
        torch.set_num_threads(cfg.cpu_threads)
    try:
        with tf32_allowed(cfg.precision != "fp32"), cudnn_autotune(cfg.cudnn_benchmark and not cfg.deterministic):
            yield
    finally:
        torch.use_deterministic_algorithms(saved[0])
        torch.set_num_threads(saved[1])


def _result(run: fs.RunState) -> TrainResult:
    return TrainResult(
        out_dir=run.out_dir,
        finished=run.finished,
        epochs_done=run.epoch,
        iterations=run.global_iter,
        best_fid=run.best.get("fid"),
        last_checkpoint=run.last_path,
        best_checkpoint=run.best_path if os.path.isfile(run.best_path) else None,
    )


class _Loop:
    """The iteration / epoch logic over a :class:`final_state.RunState`."""

    def __init__(self, run: fs.RunState, scorer: Scorer, stop_after: int | None, progress: bool) -> None:
        self.run, self.cfg, self.scorer = run, run.cfg, scorer
        self.stop_after, self.progress = stop_after, progress
        latent = run.cfg.widths.latent_dim
        g = torch.Generator(device="cpu").manual_seed(derived_seed(run.cfg.seed, 4))
        self.grid_z = torch.randn(run.cfg.evaluation.grid_images, latent, generator=g).to(run.device)
        self._last = (float("nan"), float("nan"))  # latest D / G losses, for the progress bar

    # ------------------------------------------------------------------ epochs
    def execute(self) -> None:
        run = self.run
        write_history(run.out_dir, run.history)  # resync files a kill may have left behind
        while run.epoch < self.cfg.epochs:
            started = time.perf_counter()
            with tqdm(total=run.iters_per_epoch, initial=run.iter_in_epoch, disable=not self.progress,
                      desc=f"epoch {run.epoch + 1}/{self.cfg.epochs}", leave=False, dynamic_ncols=True) as bar:
                while run.iter_in_epoch < run.iters_per_epoch:
                    self._iteration()
                    bar.update(1)
                    if run.global_iter % 50 == 0 and self.progress:
                        bar.set_postfix(d=f"{self._last[0]:.3g}", g=f"{self._last[1]:.3g}", refresh=False)
                    self._mid_epoch_checkpoint()
            self._end_epoch(time.perf_counter() - started)

    def _end_epoch(self, seconds: float) -> None:
        run = self.run
        epoch = run.epoch + 1
        save_grid(self._grid(), os.path.join(run.out_dir, SAMPLES_DIR, f"epoch-{epoch:04d}.png"))
        row = run.epoch_row(epoch, seconds)
        improved = False
        if self._eval_due(epoch):
            scores = {k: int(v) if k == "num_images" else float(v) for k, v in self.scorer(self._generate).items()}
            row.update(scores)
            improved = run.record_eval(epoch, scores)
            log.info("epoch %d: %s%s", epoch, ", ".join(f"{k} {v:.4g}" for k, v in scores.items()),
                     " (best FID)" if improved else "")
        run.finish_epoch(row)
        if improved:
            run.save_best()
        run.save_last()
        write_history(run.out_dir, run.history)

    def _eval_due(self, epoch: int) -> bool:
        ev = self.cfg.evaluation
        return epoch == self.cfg.epochs or (epoch % ev.every_epochs == 0 and epoch > ev.start_epoch)

    def _mid_epoch_checkpoint(self) -> None:
        every = self.cfg.checkpoint_every_iters
        run = self.run
        if every and run.global_iter % every == 0 and run.iter_in_epoch < run.iters_per_epoch:
            run.save_last()
        if self.stop_after is not None and run.global_iter >= self.stop_after:
            raise _Stopped

    # ------------------------------------------------------------------ one iteration
    def _iteration(self) -> None:
        run, cfg = self.run, self.cfg
        run.apply_lr_decay()
        real = next(run.stream)
        d_loss = self._d_step(real)
        self._count("d", d_loss)
        g_loss = self._last[1]
        if run.global_iter % cfg.n_critic == 0:
            g_loss = self._g_step(real)
            self._count("g", g_loss)
            run.g_steps += 1
        self._last = (d_loss, g_loss)
        run.global_iter += 1
        run.iter_in_epoch += 1
        run.nonfinite_streak = 0 if math.isfinite(d_loss) else run.nonfinite_streak + 1
        if run.nonfinite_streak >= cfg.nonfinite_patience:
            raise TrainingDivergedError(
                f"training diverged: the last {run.nonfinite_streak} D losses were NaN/inf (iteration "
                f"{run.global_iter}, epoch {run.epoch + 1}); their steps were skipped and nothing after the last "
                f"checkpoint was saved — rerun to resume from {run.last_path} with a lower lr_d / lr_g or a grad_clip "
                f"(--set), or raise nonfinite_patience")

    def _count(self, net: str, loss: float) -> None:
        sums = self.run.sums
        if math.isfinite(loss):
            sums[f"{net}_loss"] += loss
            sums[f"{net}_count"] += 1
        else:
            sums["nonfinite"] += 1

    def _latents(self, n: int) -> torch.Tensor:
        run = self.run
        return torch.randn(n, self.cfg.widths.latent_dim, generator=run.latent_gen, device=run.latent_gen.device).to(run.device)

    def _d_step(self, real: torch.Tensor) -> float:
        run = self.run
        z = self._latents(real.shape[0])
        run.opt_d.zero_grad(set_to_none=True)
        with self._autocast():
            real_out = run.d_net(real)
            with torch.no_grad():
                fake = run.g_net(z)
            fake_out = run.d_net(fake)
        loss = run.d_loss(real_out.float(), fake_out.float())
        value = float(loss.detach())
        if math.isfinite(value):  # a NaN / inf loss: no update (counted by `_count`)
            loss.backward()
            self._clip(run.d_net)
            run.opt_d.step()
        return value

    def _g_step(self, real: torch.Tensor) -> float:
        run = self.run
        z = self._latents(self.cfg.batch_size_g)
        run.opt_g.zero_grad(set_to_none=True)
        run.d_net.requires_grad_(False)  # G's gradients only; D's parameters are not touched
        try:
            with self._autocast():
                fake = run.g_net(z)
                real_out = run.d_net(real).float() if self.cfg.loss == "mmd" else None
                fake_out = run.d_net(fake)
            loss = run.g_loss(real_out, fake_out.float())
            value = float(loss.detach())
            finite = math.isfinite(value)  # a NaN / inf loss: no update and no EMA update (counted by `_count`)
            if finite:
                loss.backward()
        finally:
            run.d_net.requires_grad_(True)
        if finite:
            self._clip(run.g_net)
            run.opt_g.step()
            run.ema.update(run.g_net)
        return value

    def _clip(self, net: nn.Module) -> None:
        if self.cfg.grad_clip is not None:
            nn.utils.clip_grad_norm_(net.parameters(), max_norm=self.cfg.grad_clip)

    # ------------------------------------------------------------------ generation
    def _autocast(self) -> torch.autocast:
        """bf16 autocast when `precision: bf16` (losses are computed in fp32 outside it)."""
        return torch.autocast(self.run.device.type, dtype=torch.bfloat16, enabled=self.cfg.precision == "bf16")

    @torch.no_grad()
    def _generate(self, z: torch.Tensor) -> torch.Tensor:
        with self._autocast():
            return self.run.ema.module(z.to(self.run.device)).float()

    @torch.no_grad()
    def _grid(self) -> torch.Tensor:
        bs = self.cfg.metrics.batch_size
        return torch.cat([self._generate(self.grid_z[i : i + bs]) for i in range(0, len(self.grid_z), bs)])

