"""Per-candidate statistics that accumulate while features stream through, in float64.

`StreamingMoments` keeps Σ(x − s) and Σ(x − s)(x − s)ᵀ in float64 on the features' device,
where the shift s is the first batch's mean: shifting removes the cancellation of the
uncentred formula (features are non-negative with a large common mean), so the covariance
equals the two-pass `np.cov` result to ~1e-12 relative at any N. `FeatureSink` adds what IS
(logits) and KID (the features themselves) need, only when they are asked for.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["StreamingMoments", "FeatureSink"]


class StreamingMoments:
    """Running mean and covariance (unbiased, like `np.cov`) of D-dimensional rows."""

    def __init__(self, dim: int, device: torch.device | str) -> None:
        self.dim = dim
        self.n = 0
        self._shift: torch.Tensor | None = None
        self._sum = torch.zeros(dim, dtype=torch.float64, device=device)
        self._outer = torch.zeros(dim, dim, dtype=torch.float64, device=device)

    def update(self, features: torch.Tensor) -> None:
        assert features.ndim == 2 and features.shape[1] == self.dim, features.shape
        x = features.to(self._sum.device, torch.float64)
        if self._shift is None:
            self._shift = x.mean(0)
        x = x - self._shift
        self._sum += x.sum(0)
        self._outer.addmm_(x.T, x)
        self.n += x.shape[0]

    def mean_cov(self) -> tuple[np.ndarray, np.ndarray]:
        """(μ, Σ) as float64 numpy arrays; needs at least 2 rows."""
        mu, cov = self.mean_cov_tensors()
        return mu.cpu().numpy(), cov.cpu().numpy()

    def mean_cov_tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(μ, Σ) as float64 tensors where the sums are (no copy to the host); at least 2 rows."""
        if self.n < 2 or self._shift is None:
            raise ValueError(f"need at least 2 feature rows, got {self.n}")
        m = self._sum / self.n
        cov = (self._outer - self.n * torch.outer(m, m)) / (self.n - 1)
        return m + self._shift, cov


class FeatureSink:
    """Everything one candidate's scores need: moments, and optionally logits and raw features."""

    def __init__(self, dim: int, device: torch.device | str, *, keep_logits: bool, keep_features: bool) -> None:
        self.moments = StreamingMoments(dim, device)
        self.keep_logits, self.keep_features = keep_logits, keep_features
        self._logits: list[torch.Tensor] = []
        self._features: list[torch.Tensor] = []

    def update(self, features: torch.Tensor, logits: torch.Tensor | None) -> None:
        self.moments.update(features)
        if self.keep_features:
            self._features.append(features.float())
        if self.keep_logits:
            assert logits is not None, "the extractor gave no logits"
            self._logits.append(logits.float())

    @property
    def n(self) -> int:
        return self.moments.n

    def logits(self) -> torch.Tensor:
        return torch.cat(self._logits)

    def features(self) -> torch.Tensor:
        return torch.cat(self._features)
