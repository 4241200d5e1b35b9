"""One training block of the supernet search, fast on a GPU: n_critic D steps, then one G step.

A block trains one :class:`Pair` (a generator and a discriminator, each with its Adam) the way the
EAGAN code does: every iteration one D step on a real batch and a fake batch of D's batch size
(fakes made without a graph), and after the block's last D step one G step with G's batch size
(D's parameters frozen for it, so no D weight gradients are computed). Hinge loss.

Speed without changing the arithmetic's meaning:
- inputs (real batch, latents) are drawn eagerly into fixed device buffers, in the same order on
  every path, so the plain and the fast paths see identical numbers;
- bf16 autocast (or fp32 / tf32) and channels-last are settings of :class:`Precision`;
- no host synchronisation per step: a non-finite loss is detected on the device and passed to
  the fused Adam as ``found_inf`` (the mechanism ``GradScaler`` uses), which skips the update
  and the step count; loss sums and counters accumulate in device tensors read once per round;
- with ``cuda_graphs``, a block of a pair seen before is captured once as a CUDA graph and
  replayed (:class:`~optgan.trainer.graph_cache.GraphCache`). Graphs hold the addresses of
  parameters, optimizer states and buffers: anything that replaces such tensors must call
  :meth:`BlockRunner.forget`.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from optgan.backends import cudnn_autotune, tf32_allowed
from optgan.trainer.adam_step import D_SLOT, G_SLOT, guarded_adam_step
from optgan.trainer.data import BatchStream
from optgan.trainer.graph_cache import GraphCache
from optgan.trainer.losses import hinge_d_loss, hinge_g_loss

__all__ = ["Pair", "Precision", "BlockRunner", "BlockStats"]

Net = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class Pair:
    """What one block trains. `key` names the computation (None: never captured as a graph)."""

    key: Hashable | None
    gen: Net
    disc: Net
    opt_g: torch.optim.Adam
    opt_d: torch.optim.Adam
    d_params: tuple[nn.Parameter, ...]  #: frozen during the G step


@dataclass(frozen=True)
class Precision:
    """Arithmetic settings of the training steps (resolved for one device)."""

    dtype: Literal["fp32", "tf32", "bf16"] = "fp32"
    channels_last: bool = False
    cuda_graphs: bool = False
    cudnn_benchmark: bool = False

    @staticmethod
    def resolve(device: torch.device, precision: str, channels_last: bool, cuda_graphs: bool,
                cudnn_benchmark: bool = True) -> Precision:
        """`auto` = bf16 on CUDA, fp32 elsewhere; channels-last, graphs and autotuning apply on CUDA only."""
        cuda = device.type == "cuda"
        dtype = ("bf16" if cuda else "fp32") if precision == "auto" else precision
        return Precision(dtype, channels_last and cuda, cuda_graphs and cuda,  # type: ignore[arg-type]
                         cudnn_benchmark and cuda)

    @contextlib.contextmanager
    def backend_flags(self) -> Iterator[None]:
        """TF32 off for `fp32`, on otherwise; cuDNN autotuning when `cudnn_benchmark` (restored after)."""
        with tf32_allowed(self.dtype != "fp32"), cudnn_autotune(self.cudnn_benchmark):
            yield

    def autocast(self, device: torch.device, cache: bool = True) -> torch.autocast:
        return torch.autocast(device.type, dtype=torch.bfloat16, enabled=self.dtype == "bf16", cache_enabled=cache)


@dataclass
class BlockStats:
    """Host-side summary of the blocks run since the last reset (one device read)."""

    iterations: int = 0
    loss_d: float = math.nan
    loss_g: float = math.nan
    nonfinite_steps: int = 0


@dataclass
class _Buffers:
    real: list[torch.Tensor]
    z_d: list[torch.Tensor]
    z_g: torch.Tensor
    acc: torch.Tensor  #: float64 [sum L_D, finite D steps, sum L_G, finite G steps, skipped steps]


class BlockRunner:
    """Runs blocks for pairs, eagerly or by CUDA-graph replay, and accumulates statistics."""

    def __init__(
        self,
        *,
        device: torch.device,
        precision: Precision,
        stream: BatchStream,
        z_generator: torch.Generator,
        n_critic: int,
        batch_g: int,
        latent_dim: int,
    ) -> None:
        self.device, self.precision, self.stream, self.z_generator = device, precision, stream, z_generator
        self.n_critic = n_critic
        fmt = torch.channels_last if precision.channels_last else torch.contiguous_format
        side = stream.images.shape[-1]
        shape = (stream.batch_size, 3, side, side)
        self._buf = _Buffers(
            real=[torch.empty(shape, device=device).contiguous(memory_format=fmt) for _ in range(n_critic)],
            z_d=[torch.empty(stream.batch_size, latent_dim, device=device) for _ in range(n_critic)],
            z_g=torch.empty(batch_g, latent_dim, device=device),
            acc=torch.zeros(5, dtype=torch.float64, device=device),
        )
        self._graphs = GraphCache(device)
        self._iterations = 0

    # ------------------------------------------------------------------ public
    def run(self, pair: Pair) -> None:
        """Draw the block's inputs and train `pair` for one block (call inside `precision.backend_flags()`)."""
        self._draw_inputs()
        if pair.key is None or not self.precision.cuda_graphs:
            self._block(pair)
        else:
            self._run_graphed(pair)
        self._iterations += self.n_critic

    def reset_stats(self) -> None:
        self._buf.acc.zero_()
        self._iterations = 0

    def read_stats(self) -> BlockStats:
        """Means of the finite losses and the count of skipped steps (one host sync)."""
        sum_d, n_d, sum_g, n_g, bad = self._buf.acc.tolist()
        return BlockStats(
            iterations=self._iterations,
            loss_d=sum_d / n_d if n_d else math.nan,
            loss_g=sum_g / n_g if n_g else math.nan,
            nonfinite_steps=int(bad),
        )

    def forget(self, keep: Callable[[Hashable], bool] = lambda key: False) -> None:
        """Drop the captured graphs whose key fails `keep` (all of them by default)."""
        self._graphs.forget(keep)

    @property
    def num_graphs(self) -> int:
        return len(self._graphs)

    # ------------------------------------------------------------------ internals
    def _draw_inputs(self) -> None:
        bufs = self._buf
        for real, z in zip(bufs.real, bufs.z_d):
            real.copy_(next(self.stream))
            z.normal_(generator=self.z_generator)
        bufs.z_g.normal_(generator=self.z_generator)

    def _run_graphed(self, pair: Pair) -> None:
        def zero_grads() -> None:  # the captured backward allocates the grads from the graphs' pool
            pair.opt_g.zero_grad(set_to_none=True)
            pair.opt_d.zero_grad(set_to_none=True)

        self._graphs.run(pair.key, lambda cache: self._block(pair, cache), zero_grads)

    def _block(self, pair: Pair, cache: bool = True) -> None:
        bufs = self._buf
        for real, z in zip(bufs.real, bufs.z_d):
            self._d_step(pair, real, z, cache)
        self._g_step(pair, bufs.z_g, cache)

    def _d_step(self, pair: Pair, real: torch.Tensor, z: torch.Tensor, cache: bool) -> None:
        pair.opt_d.zero_grad(set_to_none=True)
        with self.precision.autocast(self.device, cache):
            with torch.no_grad():
                fake = pair.gen(z)
            real_out, fake_out = pair.disc(real), pair.disc(fake)
        loss = hinge_d_loss(real_out.float(), fake_out.float())
        loss.backward()
        guarded_adam_step(pair.opt_d, loss, self._buf.acc, D_SLOT)

    def _g_step(self, pair: Pair, z: torch.Tensor, cache: bool) -> None:
        pair.opt_g.zero_grad(set_to_none=True)
        for p in pair.d_params:
            p.requires_grad_(False)
        try:
            with self.precision.autocast(self.device, cache):
                out = pair.disc(pair.gen(z))
            loss = hinge_g_loss(out.float())
            loss.backward()
        finally:
            for p in pair.d_params:
                p.requires_grad_(True)
        guarded_adam_step(pair.opt_g, loss, self._buf.acc, G_SLOT)
