"""The final training of a found GAN (`optgan train`, SPEC §6): one loop, two loss recipes, resumable.

Per discriminator iteration (EAGAN / MMD-AdversarialNAS `network.py::train`): one D step on a real
batch and a fake batch of D's batch size; every `n_critic`-th iteration (0, n, 2n, …) one G step
with G's batch size, then an EMA update of G. Hinge: L_D / L_G of `losses.hinge_*`. MMD: D's
16-d outputs go into the repulsive bounded-kernel loss; the G step compares D(G(z)) with D of the
same real batch; the kernel's upper bound follows the FID-driven schedule. After every epoch:
a sample grid of the EMA generator; when due, an evaluation of the EMA generator; the history row;
the best checkpoint (when FID improved) and then the resumable last checkpoint, both atomic.
The iterations themselves run in :mod:`optgan.trainer.final_step` without host synchronisation
(optionally as CUDA graphs); their loss statistics are read every `DRAIN_EVERY` iterations, and a
run of `nonfinite_patience` non-finite D losses stops the run at the first read after it.

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

from optgan.backends import cpu_threads, cudnn_autotune, tf32_allowed
from optgan.config.train import TrainConfig
from optgan.errors import TrainingDivergedError
from optgan.metrics.cache import check_cache_dir
from optgan.progress import bars_shown, progress_bar
from optgan.search_space.genotype import Genotype
from optgan.trainer import final_state as fs
from optgan.trainer.final_outputs import (
    SAMPLES_DIR,
    save_grid,
    sync_history,
    write_history,
)
from optgan.trainer.final_run_dir import remove_unused_out_dir
from optgan.trainer.final_setup import DiscSpec, derived_seed
from optgan.trainer.final_step import FinalStepper
from optgan.trainer.run_lock import RunDirBusyError

__all__ = ["train_final", "TrainResult", "Scorer"]

log = logging.getLogger(__name__)

#: iterations between reads of the loss statistics from the device (fewer when nonfinite_patience is smaller)
DRAIN_EVERY = 50

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
        existed = os.path.isdir(out_dir)  # an empty folder made for the run stays after a failed start
        fresh = not (existed and os.listdir(out_dir))
        try:
            run = fs.RunState.open(cfg, gen, disc, out_dir)  # holds the folder's lock until `close`
        except RunDirBusyError:
            raise  # the folder is another process's: touch nothing
        except BaseException:
            if fresh:  # a start that failed (weights, cache, batch size …) leaves no folder of its own behind
                remove_unused_out_dir(out_dir, keep_folder=existed)
            raise
        try:
            if run.finished:
                if sync_history(out_dir, run.history):  # a kill after the last checkpoint cut them short
                    log.info("%s: rewrote metrics.csv, metrics.jsonl and the learning curve from the checkpoint",
                             out_dir)
                log.info("%s already holds a finished run (%d epochs); nothing to do", out_dir, run.epoch)
                return _result(run)
            if scorer is None:
                try:
                    # before the classifier extractor trains (a finished run never touches the cache)
                    check_cache_dir(cfg.metrics.resolved_cache_dir, "set `metrics.cache_dir` to a writable folder")
                    scorer = fs.make_scorer(cfg, run.image_set, run.device, check_identity=run.check_extractor)
                except BaseException:
                    run.close()
                    if fresh:
                        remove_unused_out_dir(out_dir, keep_folder=existed)
                    raise
            else:  # a caller's scorer: checked against the extractor earlier scores came from, if it names one
                run.check_extractor(getattr(scorer, "extractor_identity", None))
            try:
                _Loop(run, scorer, stop_after_iters, progress).execute()
            except _Stopped:
                log.info("stopped after %d iterations (test hook); rerun to resume", run.global_iter)
            return _result(run)
        finally:
            run.close()


@contextlib.contextmanager
def _torch_settings(cfg: TrainConfig) -> Iterator[None]:
    """Process-wide torch switches of the run (deterministic kernels, CPU threads, TF32, cuDNN
    autotuning), restored on exit."""
    saved = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled())
    if cfg.deterministic:
        if _on_cuda(cfg):
            # cuBLAS is deterministic only with a fixed workspace (set before its first handle; left set
            # after the run, which cuBLAS would not notice), and ops without a deterministic CUDA kernel
            # (in optgan's networks: the generators' bilinear skip upsampling's backward) warn, not fail
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            log.warning("deterministic: true on CUDA: ops without a deterministic kernel (in optgan's networks the "
                        "backward of bilinear upsampling, the generator's skip inputs) run their usual one; GPU runs "
                        "are reproducible up to their summation order, not bitwise")
            torch.use_deterministic_algorithms(True, warn_only=True)
        else:
            torch.use_deterministic_algorithms(True)
    try:
        with (cpu_threads(cfg.cpu_threads), tf32_allowed(cfg.precision != "fp32"),
              cudnn_autotune(cfg.cudnn_benchmark and not cfg.deterministic)):
            yield
    finally:
        torch.use_deterministic_algorithms(saved[0], warn_only=saved[1])


def _on_cuda(cfg: TrainConfig) -> bool:
    from optgan.backends import resolve_device

    return resolve_device(cfg.device).type == "cuda"


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


def _loss(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"


class _Loop:
    """The iteration / epoch logic over a :class:`final_state.RunState`."""

    def __init__(self, run: fs.RunState, scorer: Scorer, stop_after: int | None, progress: bool) -> None:
        self.run, self.cfg, self.scorer = run, run.cfg, scorer
        self.stop_after, self.progress = stop_after, bars_shown(progress)
        latent = run.cfg.widths.latent_dim
        g = torch.Generator(device="cpu").manual_seed(derived_seed(run.cfg.seed, 4))
        self.grid_z = torch.randn(run.cfg.evaluation.grid_images, latent, generator=g).to(run.device)
        self._last = (math.nan, math.nan)  # mean D / G losses since the last drain, for the progress bar
        self.stepper = FinalStepper(run)
        #: iterations between reads of the device statistics (the divergence check runs then)
        self.drain_every = min(DRAIN_EVERY, run.cfg.nonfinite_patience)

    # ------------------------------------------------------------------ epochs
    def execute(self) -> None:
        run = self.run
        write_history(run.out_dir, run.history)  # resync files a kill may have left behind
        while run.epoch < self.cfg.epochs:
            started = time.perf_counter()
            with progress_bar(total=run.iters_per_epoch, initial=run.iter_in_epoch, show=self.progress,
                      desc=f"epoch {run.epoch + 1}/{self.cfg.epochs}", leave=False, dynamic_ncols=True) as bar:
                while run.iter_in_epoch < run.iters_per_epoch:
                    self._iteration()
                    bar.update(1)
                    if run.global_iter % self.drain_every == 0 and self.progress:
                        bar.set_postfix(d=f"{self._last[0]:.3g}", g=f"{self._last[1]:.3g}", refresh=False)
                    self._mid_epoch_checkpoint()
            self._end_epoch(time.perf_counter() - started)

    def _end_epoch(self, seconds: float) -> None:
        run = self.run
        self._drain()
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
        if not self.progress:  # no bar to watch: one line per epoch says it is alive
            log.info("epoch %d/%d done in %.1f s: D loss %s, G loss %s", epoch, self.cfg.epochs, seconds,
                     _loss(row["d_loss"]), _loss(row["g_loss"]))
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
            self._drain()
            run.save_last()
        if self.stop_after is not None and run.global_iter >= self.stop_after:
            raise _Stopped

    # ------------------------------------------------------------------ one iteration
    def _iteration(self) -> None:
        run = self.run
        run.apply_lr_decay()
        with_g = run.global_iter % self.cfg.n_critic == 0
        self.stepper.iteration(with_g)
        run.g_steps += with_g
        run.global_iter += 1
        run.iter_in_epoch += 1
        if run.global_iter % self.drain_every == 0:
            self._drain()

    def _drain(self) -> None:
        """Fold the device statistics into the run (one host sync); stop a diverged run."""
        run, d = self.run, self.stepper.drain()
        sums = run.sums
        sums["d_loss"] += d.d_loss_sum
        sums["d_count"] += d.d_count
        sums["g_loss"] += d.g_loss_sum
        sums["g_count"] += d.g_count
        sums["nonfinite"] += d.nonfinite
        run.nonfinite_streak = d.streak
        self._last = (d.d_loss_sum / d.d_count if d.d_count else math.nan,
                      d.g_loss_sum / d.g_count if d.g_count else self._last[1])
        if d.max_streak >= self.cfg.nonfinite_patience:
            saved = os.path.exists(run.last_path)
            where = (f"nothing after the last checkpoint was saved — rerun to resume from {run.last_path}" if saved else
                     "no checkpoint had been saved yet — rerun to start again")
            raise TrainingDivergedError(
                f"training diverged: {d.max_streak} D losses in a row were NaN/inf (by iteration {run.global_iter}, "
                f"epoch {run.epoch + 1}); their steps were skipped and {where} with a lower lr_d / lr_g or a "
                "grad_clip (--set), or raise nonfinite_patience")

    # ------------------------------------------------------------------ generation
    @torch.no_grad()
    def _generate(self, z: torch.Tensor) -> torch.Tensor:
        with self.stepper.precision.autocast(self.run.device):
            return self.run.ema.module(z.to(self.run.device)).float()

    @torch.no_grad()
    def _grid(self) -> torch.Tensor:
        bs = self.cfg.metrics.batch_size
        return torch.cat([self._generate(self.grid_z[i : i + bs]) for i in range(0, len(self.grid_z), bs)])

