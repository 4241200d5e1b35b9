"""Scoring a whole population in one streaming pass: latents → images → uint8 → features → IS/FID/KID.

One extractor instance and one set of reference statistics serve every candidate and every
round. Each candidate (a callable latents → images in [-1, 1]) is run on the round's shared
latent bank in batches; images are quantised exactly as real images are stored, streamed
through the extractor, and accumulated per candidate in float64 — nothing touches the disk.
A candidate whose images contain NaN/inf gets NaN scores and a reason instead of an exception.
Modules are switched to eval mode for generation and left in the mode they came in.

With `metrics.overlap` on CUDA the device never waits for the host between candidates: each
generator runs one batch ahead of the extractor on a side stream, and a candidate's scores (the
finiteness check, IS, the FID's eigenvalues, KID: float64 work with host synchronisations) are
computed by a worker thread on a third stream while the next candidate's images stream. The
same operations run on the same data either way, so the scores are the same.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import torch
from torch import nn

from optgan.config.metrics import MetricsConfig
from optgan.errors import MetricsError
from optgan.metrics import keys
from optgan.metrics.accumulate import FeatureSink
from optgan.metrics.availability import check_kid_subset_size
from optgan.metrics.extractor_base import FeatureExtractor, RealImages, create_extractor
from optgan.metrics.metric_fid import frechet_distance, psd_sqrt
from optgan.metrics.metric_is import inception_score
from optgan.metrics.metric_kid import kernel_inception_distance
from optgan.metrics.quantize import quantize_to_uint8
from optgan.metrics.reference import ReferenceStats, reference_statistics, stream_images
from optgan.progress import progress_bar

log = logging.getLogger(__name__)

__all__ = ["PopulationEvaluator", "CandidateScores", "Candidate", "make_latent_bank"]

#: a generator as the evaluator sees it: latents (B×latent_dim) → images (B×3×H×W) in [-1, 1]
Candidate = Callable[[torch.Tensor], torch.Tensor]

#: candidates streamed but not yet scored, at most (each holds a D×D float64 sum)
SCORES_IN_FLIGHT = 2


@dataclass(frozen=True)
class CandidateScores:
    """Scores of one candidate under labelled keys (`FID` or `FID_classifier` ...), or NaN + reason."""

    extractor: str
    values: dict[str, float] = field(default_factory=dict)
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.reason is None

    def metric(self, name: str, *, std: bool = False) -> float:
        """Value of metric `name` (`IS`, `FID`, `KID`) whatever the extractor's label."""
        return self.values[keys.result_key(name, self.extractor, std=std)]


def make_latent_bank(num_images: int, latent_dim: int, seed: int) -> torch.Tensor:
    """The round's shared latents: N(0, 1), float32, drawn on the CPU so every device sees the same."""
    return torch.randn(num_images, latent_dim, generator=torch.Generator().manual_seed(seed))


class PopulationEvaluator:
    """Builds the extractor and the reference statistics once; scores candidates and image sets."""

    def __init__(self, cfg: MetricsConfig, real: RealImages, device: torch.device | str = "cpu", *,
                 extractor: FeatureExtractor | None = None, progress: bool = True) -> None:
        self.cfg, self.device, self.progress = cfg, torch.device(device), progress
        self.extractor = extractor or create_extractor(cfg, self.device, real, progress)
        if "IS" in cfg.metrics and not self.extractor.has_logits:
            raise MetricsError(f"IS was asked for but the {self.extractor.name} extractor gives no logits; "
                               "drop IS from `metrics.metrics`")
        self.image_shape = tuple(real.images.shape[1:])
        self.reference: ReferenceStats = reference_statistics(
            real, self.extractor, num_images=cfg.reference_images, need_features="KID" in cfg.metrics,
            cache_dir=cfg.resolved_cache_dir, batch_size=cfg.batch_size, progress=progress)
        overlap = cfg.overlap and self.device.type == "cuda"
        #: generator on a side stream, overlapping the extractor (CUDA, `metrics.overlap`)
        self._gen_stream = torch.cuda.Stream(self.device) if overlap else None
        #: scores in a worker thread while the next candidate streams (CUDA, `metrics.overlap`)
        self._score_ahead = overlap
        self._score_stream = torch.cuda.Stream(self.device) if overlap else None
        #: wall seconds spent computing scores (IS / FID / KID) since creation, for benchmarks
        self.scoring_seconds = 0.0
        #: where the FID eigen-solvers run: the evaluator's device, never a bare `cuda` (= cuda:0)
        self._linalg = self.device if self.device.type == "cuda" else torch.device("cpu")
        # the reference moments where the FID is computed, once (not copied there per candidate;
        # a copy: read-only arrays too), and the square root of their covariance (once, not per candidate)
        self._ref_mu = self._ref_sigma = self._ref_sqrt = None
        if "FID" in cfg.metrics:
            self._ref_mu = torch.tensor(self.reference.mu, device=self._linalg)
            self._ref_sigma = torch.tensor(self.reference.sigma, device=self._linalg)
            self._ref_sqrt = psd_sqrt(self._ref_sigma, self._linalg)
        #: KID's real features on the device, once
        self._ref_features = self.reference.features.to(self.device) if self.reference.features is not None else None
        if "KID" in cfg.metrics:
            check_kid_subset_size(cfg, self.reference.num_images)
        #: KID's images per subset (`metrics.kid_subset_size`, or what both image sets hold)
        self.kid_subset_size = cfg.kid_subset_size_for(self.reference.num_images)

    @property
    def label(self) -> str:
        """The extractor name scores are labelled with (`inception` = canonical names)."""
        return self.extractor.name

    def evaluate(self, candidates: Sequence[Candidate], latents: torch.Tensor, *,
                 eval_mode: bool = True) -> list[CandidateScores]:
        """Scores of every candidate on the same `latents` (N×latent_dim), in order."""
        bank = latents.to(self.device)
        bar = progress_bar(candidates, show=self.progress, desc="scoring candidates", unit="cand", leave=False)
        if not self._score_ahead:
            return [self._score(self._stream_one(c, bank, eval_mode)) for c in bar]
        pending: list[Future[CandidateScores]] = []
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="optgan-scores") as pool:
            for c in bar:
                streamed = self._stream_one(c, bank, eval_mode)
                if len(pending) >= SCORES_IN_FLIGHT:
                    pending[-SCORES_IN_FLIGHT].result()  # bounded: (a worker's error surfaces here too)
                pending.append(pool.submit(self._score_on_side, streamed))
            return [f.result() for f in pending]

    def evaluate_images(self, images: torch.Tensor) -> CandidateScores:
        """Scores of a fixed set of uint8 N×3×H×W images (e.g. held-out real images)."""
        sink = stream_images(images, self.extractor, self.cfg.batch_size, keep_logits="IS" in self.cfg.metrics,
                             keep_features="KID" in self.cfg.metrics)
        return self._scores(sink)

    def _stream_one(self, candidate: Candidate, bank: torch.Tensor, eval_mode: bool) -> _Streamed:
        """Queue a candidate's generation, extraction and accumulation (no host synchronisation)."""
        sink = FeatureSink(self.extractor.feature_dim, self.device, keep_logits="IS" in self.cfg.metrics,
                           keep_features="KID" in self.cfg.metrics)
        bad = torch.zeros((), dtype=torch.bool, device=self.device)
        generate = functools.partial(self._generate, candidate)
        with _modes_restored(candidate, eval_mode), torch.no_grad():
            batches = bank.split(self.cfg.batch_size)
            for images, finite in self._overlapped(generate, batches) if self._gen_stream else map(generate, batches):
                bad |= ~finite
                sink.update(*self.extractor(images))
        done = None
        if self._score_stream is not None:
            done = torch.cuda.Event()
            done.record(torch.cuda.current_stream(self.device))
        return _Streamed(sink, bad, done)

    def _score(self, streamed: _Streamed) -> CandidateScores:
        """Scores of a streamed candidate, or NaN and the reason (synchronises with its work)."""
        if bool(streamed.bad):
            return self._failed("generated images contain NaN or inf")
        start = time.perf_counter()
        try:
            return self._scores(streamed.sink)
        finally:
            self.scoring_seconds += time.perf_counter() - start

    def _score_on_side(self, streamed: _Streamed) -> CandidateScores:
        """:meth:`_score` in the worker thread: on the scoring stream, after the candidate's last batch."""
        side = self._score_stream
        if side is None:  # (no CUDA: the thread alone)
            return self._score(streamed)
        assert streamed.done is not None
        with torch.cuda.stream(side):
            side.wait_event(streamed.done)
            try:
                return self._score(streamed)
            finally:
                side.synchronize()  # nothing of this candidate is still read when its tensors are freed

    def _generate(self, candidate: Candidate, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """uint8 images of one latent batch and whether all of them were finite (a device flag)."""
        x = candidate(z)
        self._check_shape(x, len(z))
        return quantize_to_uint8(x), torch.isfinite(x).all()

    def _overlapped(self, generate: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]],
                    batches: Sequence[torch.Tensor]) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """`generate` of batch k + 1 queued on a side stream before the extractor's work on batch k.

        Same kernels in the same order per stream as the plain loop: only their overlap changes.
        Each batch's outputs are handed to the current stream through an event, and marked as used
        there so the allocator does not recycle them while the extractor still reads them.
        """
        side, main = self._gen_stream, torch.cuda.current_stream(self.device)
        assert side is not None
        side.wait_stream(main)  # the latent bank was copied on the current stream

        def launch(z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.cuda.Event]:
            with torch.cuda.stream(side):
                images, finite = generate(z)
                done = torch.cuda.Event()
                done.record(side)
            return images, finite, done

        pending = launch(batches[0])
        for k in range(len(batches)):
            images, finite, done = pending
            if k + 1 < len(batches):
                pending = launch(batches[k + 1])
            main.wait_event(done)
            images.record_stream(main)
            finite.record_stream(main)
            yield images, finite

    def _check_shape(self, x: torch.Tensor, batch: int) -> None:
        if tuple(x.shape) != (batch, *self.image_shape):
            raise MetricsError(f"a candidate generated images of shape {tuple(x.shape)}, but the reference images "
                               f"are {self.image_shape}; check the widths (bottom_width) against the data's size")

    def _scores(self, sink: FeatureSink) -> CandidateScores:
        cfg, label, values = self.cfg, self.label, {}
        mu, sigma = sink.moments.mean_cov_tensors()  # where the features were accumulated: no copies
        if not bool(torch.isfinite(mu).all() & torch.isfinite(sigma).all()):
            return self._failed("the extractor produced non-finite features")
        if "IS" in cfg.metrics:
            mean, std = inception_score(sink.logits(), splits=cfg.is_splits, seed=cfg.seed)
            values[keys.result_key("IS", label)], values[keys.result_key("IS", label, std=True)] = mean, std
        if "FID" in cfg.metrics:
            assert self._ref_mu is not None and self._ref_sigma is not None
            values[keys.result_key("FID", label)] = frechet_distance(mu, sigma, self._ref_mu, self._ref_sigma,
                                                                       self._linalg, sigma2_sqrt=self._ref_sqrt)
        if "KID" in cfg.metrics:
            assert self._ref_features is not None
            mean, std = kernel_inception_distance(sink.features(), self._ref_features, cfg.kid_subsets,
                                                  self.kid_subset_size, seed=cfg.seed)
            values[keys.result_key("KID", label)], values[keys.result_key("KID", label, std=True)] = mean, std
        values[keys.NUM_IMAGES] = float(sink.n)
        return CandidateScores(label, values)

    def _failed(self, reason: str) -> CandidateScores:
        values = {k: math.nan for k in keys.result_keys(self.cfg.metrics, self.label) if k != keys.NUM_IMAGES}
        log.warning("candidate scored NaN: %s", reason)
        return CandidateScores(self.label, values, reason)


@dataclass(frozen=True)
class _Streamed:
    """A candidate whose images went through the extractor (on the device, maybe not yet done)."""

    sink: FeatureSink
    bad: torch.Tensor  #: 0-d bool on the device: some image was NaN or inf
    done: torch.cuda.Event | None  #: recorded after its last batch (CUDA with `overlap`)


@contextlib.contextmanager
def _modes_restored(candidate: Candidate, eval_mode: bool) -> Iterator[None]:
    """Eval mode for a module candidate (or its bound method / partial) while generating; modes restored."""
    target = candidate.func if isinstance(candidate, functools.partial) else candidate
    owner = target if isinstance(target, nn.Module) else getattr(target, "__self__", None)
    modules = list(owner.modules()) if isinstance(owner, nn.Module) and eval_mode else []
    saved = [m.training for m in modules]
    for m in modules:
        m.training = False
    try:
        yield
    finally:
        for m, mode in zip(modules, saved):
            m.training = mode
