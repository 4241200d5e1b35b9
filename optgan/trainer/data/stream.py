"""`BatchStream`: an endless, resumable stream of shuffled real-image batches in [-1, 1].

The uint8 images are copied to the device once; each batch is gathered there and converted
with :func:`~optgan.trainer.data.images.to_float`. Every epoch is a fresh permutation drawn
from the injected `torch.Generator` (which the stream owns: do not draw from it elsewhere);
an epoch yields `len // batch_size` full batches (the remainder is left out of that epoch,
a different remainder each epoch). `state_dict()` stores the epoch, the position in it and the
generator state at the epoch's start, so a resumed run sees exactly the same batches.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch

from optgan.errors import CheckpointError, ConfigError
from optgan.trainer.data.images import to_float

__all__ = ["BatchStream"]

_STATE_VERSION = 1


def check_batch_size(batch_size: int, num_images: int, key: str | None = None) -> None:
    """A ConfigError unless batches of `batch_size` real images can be drawn from `num_images`
    (`key`: the config key that set it, named in the message)."""
    if not 1 <= batch_size <= num_images:
        what = f"`{key}` = {batch_size}" if key else f"batch size {batch_size}"
        raise ConfigError(
            f"{what} must be between 1 and the number of images ({num_images}); "
            "lower the batch size or use a larger data set"
        )


class BatchStream(Iterator[torch.Tensor]):
    """Infinite iterator of float32 B×3×H×W batches in [-1, 1] on `device`."""

    def __init__(
        self,
        images: torch.Tensor,
        batch_size: int,
        generator: torch.Generator,
        device: torch.device | str = "cpu",
    ) -> None:
        if images.dtype != torch.uint8 or images.ndim != 4:
            raise TypeError(f"images must be uint8 N×C×H×W, got {images.dtype} {tuple(images.shape)}")
        check_batch_size(batch_size, len(images))
        self.batch_size = batch_size
        self.generator = generator
        self.images = images.to(device)
        self._epoch = 0
        self._position = 0
        self._epoch_start_state = generator.get_state()
        self._perm: torch.Tensor | None = None

    @property
    def epoch(self) -> int:
        """Index (0-based) of the epoch the last batch came from."""
        return self._epoch

    @property
    def position(self) -> int:
        """Batches already taken from the current epoch."""
        return self._position

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def batches_per_epoch(self, batch_size: int | None = None) -> int:
        """Full batches of `batch_size` (default: the stream's) in one pass over the images."""
        return len(self) // (batch_size or self.batch_size)

    def __iter__(self) -> BatchStream:
        return self

    def __next__(self) -> torch.Tensor:
        if self._perm is None:
            self._start_epoch(self._epoch)
        elif self._position >= self.batches_per_epoch():
            self._start_epoch(self._epoch + 1)
        assert self._perm is not None
        lo = self._position * self.batch_size
        self._position += 1
        return to_float(self.images.index_select(0, self._perm[lo : lo + self.batch_size]))

    def _start_epoch(self, epoch: int) -> None:
        self._epoch, self._position = epoch, 0
        self._epoch_start_state = self.generator.get_state()
        perm = torch.randperm(len(self), generator=self.generator, device=self.generator.device)
        self._perm = perm.to(self.images.device)

    def state_dict(self) -> dict[str, Any]:
        """Plain, `torch.save`-able state: resume with :meth:`load_state_dict`."""
        return {
            "version": _STATE_VERSION,
            "epoch": self._epoch,
            "position": self._position,
            "started": self._perm is not None,
            "generator_state": self._epoch_start_state.clone(),
            "num_images": len(self),
            "batch_size": self.batch_size,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue exactly where the stream that produced `state` stopped."""
        expected = (_STATE_VERSION, len(self), self.batch_size)
        found = (state.get("version"), state.get("num_images"), state.get("batch_size"))
        if found != expected:
            raise CheckpointError(
                f"batch-stream state is for (version, images, batch size) = {found}, this run has {expected}; "
                "resume with the same data set and batch size"
            )
        self.generator.set_state(state["generator_state"])
        self._epoch_start_state = state["generator_state"].clone()
        self._perm = None
        if state["started"]:
            self._start_epoch(int(state["epoch"]))
        self._epoch, self._position = int(state["epoch"]), int(state["position"])
