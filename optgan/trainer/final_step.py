"""One iteration of the final training, without host synchronisation: the search's step, for `optgan train`.

An iteration is one D step on a real batch and a fake batch of D's batch size; every
`n_critic`-th iteration adds one G step with G's batch size and the EMA update (the recipe of
:mod:`optgan.trainer.final`). Arranged like the search's :mod:`~optgan.trainer.search_step`:

- inputs are drawn eagerly into fixed device buffers in the reference order (the real batch, D's
  latents, then G's), so every path sees the same numbers;
- the host never waits for the device: a NaN / ±inf loss is detected on the device, fused Adam
  skips its step through ``found_inf`` and the EMA update is masked; the loss sums, the count of
  skipped steps and the run of non-finite D losses accumulate in one device tensor, read by
  :meth:`FinalStepper.drain` every few dozen iterations, before checkpoints and at epoch ends;
- learning rates and the MMD kernel bound are device tensors changed in place, so with
  ``cuda_graphs`` the two kinds of iteration (D; D + G + EMA) are captured once each as CUDA
  graphs and replayed (:class:`~optgan.trainer.graph_cache.GraphCache`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import nn

from optgan.trainer.adam_step import D_SLOT, G_SLOT, guarded_adam_step
from optgan.trainer.final_setup import uses_cuda_graphs
from optgan.trainer.graph_cache import GraphCache
from optgan.trainer.search_step import Precision

if TYPE_CHECKING:
    from optgan.trainer.final_state import RunState

__all__ = ["FinalStepper", "Drained"]

#: accumulator slots after the five of `adam_step`: the current run of non-finite D losses, and
#: the longest run since the last drain
_STREAK, _MAX_STREAK = 5, 6


@dataclass(frozen=True)
class Drained:
    """What the iterations since the previous drain added (one host read)."""

    d_loss_sum: float
    d_count: int  #: D steps with a finite loss
    g_loss_sum: float
    g_count: int
    nonfinite: int  #: skipped D and G steps
    streak: int  #: non-finite D losses in a row, up to the latest iteration
    max_streak: int  #: the longest such run since the previous drain


class FinalStepper:
    """Runs iterations of a :class:`~optgan.trainer.final_state.RunState`, eagerly or by graph replay."""

    def __init__(self, run: RunState) -> None:
        cfg, dev = run.cfg, run.device
        self.run = run
        side = cfg.widths.img_size
        self.real = torch.empty(cfg.batch_size_d, 3, side, side, device=dev)
        self.z_d = torch.empty(cfg.batch_size_d, cfg.widths.latent_dim, device=dev)
        self.z_g = torch.empty(cfg.batch_size_g, cfg.widths.latent_dim, device=dev)
        self.acc = torch.zeros(7, dtype=torch.float64, device=dev)
        self.acc[_STREAK] = self.acc[_MAX_STREAK] = run.nonfinite_streak
        self.graphs = GraphCache(dev) if uses_cuda_graphs(cfg, dev) else None
        #: bf16 autocast when `precision: bf16` (losses are computed in fp32 outside it)
        self.precision = Precision(cfg.precision)

    @property
    def num_graphs(self) -> int:
        return 0 if self.graphs is None else len(self.graphs)

    def iteration(self, with_g: bool) -> None:
        """Draw the inputs and run one D step (and, `with_g`, a G step and the EMA update)."""
        run = self.run
        self.real.copy_(next(run.stream))
        self.z_d.normal_(generator=run.latent_gen)
        if with_g:
            self.z_g.normal_(generator=run.latent_gen)
        if self.graphs is None:
            self._iteration(with_g, True)
        else:
            self.graphs.run(with_g, lambda cache: self._iteration(with_g, cache), self._grads_to_none)

    def drain(self) -> Drained:
        """Read and reset the statistics (one host synchronisation); the current streak carries on."""
        v = self.acc.tolist()
        self.acc[: _STREAK].zero_()
        self.acc[_MAX_STREAK] = self.acc[_STREAK]
        return Drained(v[D_SLOT], int(v[D_SLOT + 1]), v[G_SLOT], int(v[G_SLOT + 1]), int(v[4]),
                       int(v[_STREAK]), int(v[_MAX_STREAK]))

    # ------------------------------------------------------------------ the steps
    def _grads_to_none(self) -> None:  # the captured backward then allocates them from the graphs' pool
        self.run.opt_g.zero_grad(set_to_none=True)
        self.run.opt_d.zero_grad(set_to_none=True)

    def _iteration(self, with_g: bool, cache: bool) -> None:
        self._d_step(cache)
        if with_g:
            self._g_step(cache)

    def _d_step(self, cache: bool) -> None:
        run = self.run
        run.opt_d.zero_grad(set_to_none=True)
        with self.precision.autocast(self.run.device, cache):
            real_out = run.d_net(self.real)
            with torch.no_grad():
                fake = run.g_net(self.z_d)
            fake_out = run.d_net(fake)
        loss = run.d_loss(real_out.float(), fake_out.float())
        loss.backward()
        self._clip(run.d_net)
        bad = guarded_adam_step(run.opt_d, loss, self.acc, D_SLOT)
        streak = self.acc[_STREAK : _STREAK + 1]
        streak.add_(1).mul_(bad)  # +1 when non-finite, else back to 0
        torch.maximum(self.acc[_MAX_STREAK : _MAX_STREAK + 1], streak, out=self.acc[_MAX_STREAK : _MAX_STREAK + 1])

    def _g_step(self, cache: bool) -> None:
        run = self.run
        run.opt_g.zero_grad(set_to_none=True)
        run.d_net.requires_grad_(False)  # G's gradients only; D's parameters are not touched
        try:
            with self.precision.autocast(self.run.device, cache):
                fake = run.g_net(self.z_g)
                real_out = run.d_net(self.real).float() if run.cfg.loss == "mmd" else None
                fake_out = run.d_net(fake)
            loss = run.g_loss(real_out, fake_out.float())
            loss.backward()
        finally:
            run.d_net.requires_grad_(True)
        self._clip(run.g_net)
        bad = guarded_adam_step(run.opt_g, loss, self.acc, G_SLOT)
        run.ema.update(run.g_net, skip=bad)

    def _clip(self, net: nn.Module) -> None:
        if self.run.cfg.grad_clip is not None:
            nn.utils.clip_grad_norm_(net.parameters(), max_norm=self.run.cfg.grad_clip)
