"""The population evaluator with a cheap fake extractor: streaming, caching, NaN handling, modes."""

from __future__ import annotations

import functools
import math
from pathlib import Path

import pytest
import torch

from _metrics_helpers import PoolExtractor, TinyGenerator, random_images
from optgan.config.metrics import MetricsConfig
from optgan.errors import MetricsError
from optgan.metrics import (
    PopulationEvaluator,
    features_to_statistics,
    frechet_distance,
    inception_score,
    make_latent_bank,
    quantize_to_uint8,
)


def _cfg(tmp_path: Path, **kw) -> MetricsConfig:
    base = dict(metrics=("IS", "FID", "KID"), num_images=40, batch_size=16, is_splits=4, kid_subsets=5,
                kid_subset_size=20, cache_dir=str(tmp_path / "cache"))
    return MetricsConfig(**{**base, **kw})


def _evaluator(tmp_path: Path, real=None, **kw) -> PopulationEvaluator:
    return PopulationEvaluator(_cfg(tmp_path, **kw), real or random_images(64), "cpu",
                               extractor=PoolExtractor(), progress=False)


def test_scores_equal_direct_computation(tmp_path: Path) -> None:
    real = random_images(64)
    ev = _evaluator(tmp_path, real)
    gen = TinyGenerator()
    z = make_latent_bank(40, 8, seed=3)
    [scores] = ev.evaluate([gen], z)
    with torch.no_grad():
        gen.eval()
        images = quantize_to_uint8(gen(z))
    f, logits = PoolExtractor()(images)
    fr, _ = PoolExtractor()(real.images)
    expected_fid = frechet_distance(*features_to_statistics(f), *features_to_statistics(fr))
    assert scores.ok and scores.values["num_images"] == 40
    assert scores.metric("FID") == pytest.approx(expected_fid, rel=1e-6)  # generator batches differ in float32
    assert scores.metric("IS") == pytest.approx(inception_score(logits, splits=4)[0], rel=1e-12)
    assert set(scores.values) == {"IS_fake", "IS_fake_std", "FID_fake", "KID_fake", "KID_fake_std", "num_images"}


def test_fid_linear_algebra_runs_on_the_evaluators_device(tmp_path: Path, monkeypatch) -> None:
    # never on a bare `cuda` (= cuda:0) beside an evaluator on cuda:1, nor on a GPU beside `device: cpu`
    import optgan.metrics.evaluator as evaluator_module

    devices: list = []
    for name in ("psd_sqrt", "frechet_distance"):
        real = getattr(evaluator_module, name)
        monkeypatch.setattr(evaluator_module, name, lambda *a, _real=real, **k: devices.append(a[-1]) or _real(*a, **k))
    _evaluator(tmp_path).evaluate([TinyGenerator()], make_latent_bank(40, 8, 0))
    assert devices == [torch.device("cpu")] * 2


def test_labels_come_from_the_extractor(tmp_path: Path) -> None:
    scores = _evaluator(tmp_path).evaluate([TinyGenerator()], make_latent_bank(40, 8, 0))[0]
    assert "FID_fake" in scores.values and "FID" not in scores.values
    assert scores.metric("FID") == scores.values["FID_fake"]


def test_batch_size_independence(tmp_path: Path) -> None:
    z = make_latent_bank(40, 8, seed=1)
    a = _evaluator(tmp_path, batch_size=7).evaluate([TinyGenerator()], z)[0]
    b = _evaluator(tmp_path, batch_size=40).evaluate([TinyGenerator()], z)[0]
    for key in a.values:
        assert a.values[key] == pytest.approx(b.values[key], rel=1e-6, abs=1e-9), key  # float32 BLAS per batch size


def test_nan_candidate_gets_nan_and_a_reason_others_are_scored(tmp_path: Path) -> None:
    def broken(z: torch.Tensor) -> torch.Tensor:
        x = torch.zeros(len(z), 3, 8, 8)
        x[0, 0, 0, 0] = float("nan")
        return x

    good = TinyGenerator()
    out = _evaluator(tmp_path).evaluate([good, broken, good], make_latent_bank(40, 8, 0))
    assert out[0].ok and out[2].ok and out[0].values == out[2].values
    assert not out[1].ok and "NaN" in out[1].reason
    assert all(math.isnan(v) for v in out[1].values.values())


def test_non_finite_features_fail_that_candidate_with_a_reason_others_are_scored(tmp_path: Path) -> None:
    """Finite images whose features overflow (an extractor in low precision on extreme images):
    that candidate fails with its reason; the round goes on."""

    class Overflowing(PoolExtractor):
        def extract(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
            f, logits = super().extract(images)
            return torch.where((images == 255).flatten(1).all(1, keepdim=True), torch.inf, f), logits

    def white(z: torch.Tensor) -> torch.Tensor:
        return torch.ones(len(z), 3, 8, 8)

    good = TinyGenerator()
    ev = PopulationEvaluator(_cfg(tmp_path), random_images(64), "cpu", extractor=Overflowing(), progress=False)
    out = ev.evaluate([good, white], make_latent_bank(40, 8, 0))
    assert out[0].ok and out[0].values == _evaluator(tmp_path).evaluate([good], make_latent_bank(40, 8, 0))[0].values
    assert not out[1].ok and out[1].reason == "the extractor produced non-finite features"
    assert all(math.isnan(v) for v in out[1].values.values())


def test_a_candidate_nan_only_in_its_first_batch_still_fails(tmp_path: Path) -> None:
    """NaN in an early batch and finite later ones: the flag accumulates over every batch (a NaN
    quantised to 0 must never be scored as a black pixel)."""
    calls = []

    def early_nan(z: torch.Tensor) -> torch.Tensor:
        calls.append(1)
        x = torch.zeros(len(z), 3, 8, 8)
        if len(calls) == 1:
            x[0, 0, 0, 0] = float("nan")
        return x

    (out,) = _evaluator(tmp_path, batch_size=10).evaluate([early_nan], make_latent_bank(40, 8, 0))
    assert len(calls) == 4 and not out.ok and "NaN" in out.reason


def test_modes_are_restored_and_generation_runs_in_eval_mode(tmp_path: Path) -> None:
    ev = _evaluator(tmp_path)
    z = make_latent_bank(40, 8, 0)
    trained, frozen = TinyGenerator().train(), TinyGenerator().eval()
    ev.evaluate([trained, functools.partial(frozen.forward)], z)
    assert trained.training and trained.bn.training and not frozen.training
    assert trained.seen_training and not any(trained.seen_training)
    kept = TinyGenerator().train()
    ev.evaluate([kept], z, eval_mode=False)
    assert all(kept.seen_training) and kept.training


def test_one_extractor_and_cached_reference(tmp_path: Path) -> None:
    real = random_images(64)
    ext = PoolExtractor()
    cfg = _cfg(tmp_path)
    ev = PopulationEvaluator(cfg, real, "cpu", extractor=ext, progress=False)
    ref_calls = ext.calls
    ev.evaluate([TinyGenerator(seed=s) for s in range(3)], make_latent_bank(40, 8, 0))
    assert ext.calls == ref_calls + 3 * 3  # 3 candidates × ceil(40 / 16) batches, no reference recompute
    files = list((tmp_path / "cache" / "reference").iterdir())
    assert len(files) == 1 and not [p for p in files if p.name.endswith(".tmp")]
    ext2 = PoolExtractor()
    ev2 = PopulationEvaluator(cfg, real, "cpu", extractor=ext2, progress=False)
    assert ext2.calls == 0 and ev2.reference.key == ev.reference.key  # loaded, not recomputed
    other = PopulationEvaluator(cfg, random_images(64, seed=9), "cpu", extractor=ext2, progress=False)
    assert other.reference.key != ev.reference.key and ext2.calls > 0  # new data → new statistics
    fewer = PopulationEvaluator(_cfg(tmp_path, reference_images=32), real, "cpu", extractor=PoolExtractor(),
                                progress=False)
    assert fewer.reference.num_images == 32 and fewer.reference.key != ev.reference.key


def test_corrupted_cache_file_is_recomputed(tmp_path: Path) -> None:
    ev = _evaluator(tmp_path)
    [path] = list((tmp_path / "cache" / "reference").iterdir())
    path.write_bytes(b"garbage")
    ev2 = _evaluator(tmp_path)
    assert ev2.reference.key == ev.reference.key
    assert (ev2.reference.mu == ev.reference.mu).all()


def test_wrong_image_size_is_a_clear_error(tmp_path: Path) -> None:
    ev = _evaluator(tmp_path, real=random_images(64, size=16))
    with pytest.raises(MetricsError, match="shape"):
        ev.evaluate([TinyGenerator(size=8)], make_latent_bank(40, 8, 0))


def test_evaluate_images_and_latent_bank_determinism(tmp_path: Path) -> None:
    real = random_images(64)
    ev = _evaluator(tmp_path, real)
    same = ev.evaluate_images(real.images)
    assert same.metric("FID") < 1e-6
    assert torch.equal(make_latent_bank(10, 4, 7), make_latent_bank(10, 4, 7))
    assert not torch.equal(make_latent_bank(10, 4, 7), make_latent_bank(10, 4, 8))


def test_accepts_the_trainers_image_set(tmp_path: Path) -> None:
    images_mod = pytest.importorskip("optgan.trainer.data.images")
    x = random_images(64).images
    image_set = images_mod.ImageSet(x, None, None, "random", images_mod.fingerprint_of(x, None, None))
    ev = PopulationEvaluator(_cfg(tmp_path, metrics=("FID",)), image_set, "cpu", extractor=PoolExtractor(),
                             progress=False)
    assert ev.evaluate([TinyGenerator()], make_latent_bank(40, 8, 0))[0].ok


def test_is_without_logits_is_refused(tmp_path: Path) -> None:
    ext = PoolExtractor()
    ext.has_logits = False
    with pytest.raises(MetricsError, match="no logits"):
        PopulationEvaluator(_cfg(tmp_path), random_images(64), "cpu", extractor=ext, progress=False)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu(tmp_path: Path) -> None:
    z = make_latent_bank(40, 8, 0)
    real = random_images(64)
    cpu = PopulationEvaluator(_cfg(tmp_path), real, "cpu", extractor=PoolExtractor(), progress=False)
    cuda = PopulationEvaluator(_cfg(tmp_path), real, "cuda", extractor=PoolExtractor("cuda"), progress=False)
    a = cpu.evaluate([TinyGenerator()], z)[0]
    b = cuda.evaluate([TinyGenerator().cuda()], z)[0]
    for key in a.values:
        assert a.values[key] == pytest.approx(b.values[key], rel=1e-4, abs=1e-6), key


def test_overlap_is_a_no_op_on_the_cpu(tmp_path: Path) -> None:
    z = make_latent_bank(40, 8, 0)
    plain = _evaluator(tmp_path).evaluate([TinyGenerator()], z)[0]
    ev = _evaluator(tmp_path, overlap=True)
    assert ev._gen_stream is None and ev._score_stream is None and not ev._score_ahead
    assert ev.evaluate([TinyGenerator()], z)[0].values == plain.values


def _scoring_ahead(ev: PopulationEvaluator) -> PopulationEvaluator:
    """`ev` scoring in its worker thread as on CUDA with `overlap` (the streams aside)."""
    ev._score_ahead = True
    return ev


def test_scores_computed_ahead_equal_sequential_in_order_with_nan_and_failures(tmp_path: Path) -> None:
    """The worker-thread path (CUDA with `overlap`; forced here on the CPU): same scores, same order,
    NaN candidates still fail with their reason, scoring time is counted."""
    def broken(z: torch.Tensor) -> torch.Tensor:
        return torch.full((len(z), 3, 8, 8), float("nan"))

    gens = [TinyGenerator(seed=s) for s in range(4)]
    population = [gens[0], broken, *gens[1:]]
    z = make_latent_bank(40, 8, 0)
    seq_ev, ahead_ev = _evaluator(tmp_path), _scoring_ahead(_evaluator(tmp_path))
    seq, ahead = seq_ev.evaluate(population, z), ahead_ev.evaluate(population, z)
    assert [s.values for s in ahead if s.ok] == [s.values for s in seq if s.ok]  # bit for bit, in order
    assert [s.reason for s in ahead] == [s.reason for s in seq] and not ahead[1].ok
    assert len({s.metric("FID") for s in ahead if s.ok}) == 4  # (the candidates do differ)
    assert seq_ev.scoring_seconds > 0 and ahead_ev.scoring_seconds > 0


def test_scores_ahead_stay_bounded_and_a_scoring_error_reaches_the_caller(tmp_path: Path, monkeypatch) -> None:
    """At most SCORES_IN_FLIGHT candidates wait for their scores (each holds a D×D float64 sum), and
    an exception in the worker is raised by `evaluate`, not lost in the thread."""
    import threading
    import time

    import optgan.metrics.evaluator as evaluator_module

    ev = _scoring_ahead(_evaluator(tmp_path))
    lock, waiting, most = threading.Lock(), [0], [0]
    stream_one, score = ev._stream_one, ev._score

    def counted_stream(*a, **k):
        out = stream_one(*a, **k)
        with lock:
            waiting[0] += 1
            most[0] = max(most[0], waiting[0])
        return out

    def slow_score(streamed):
        time.sleep(0.2)  # scoring much slower than streaming: the main thread must wait, not pile up
        try:
            return score(streamed)
        finally:
            with lock:
                waiting[0] -= 1

    monkeypatch.setattr(ev, "_stream_one", counted_stream)
    monkeypatch.setattr(ev, "_score", slow_score)
    out = ev.evaluate([TinyGenerator(seed=s) for s in range(8)], make_latent_bank(40, 8, 0))
    assert len(out) == 8 and all(s.ok for s in out)
    # k-1 and k scored or queued while k+1 streams (unbounded, all 8 would wait at once)
    assert 2 <= most[0] <= evaluator_module.SCORES_IN_FLIGHT + 1

    def failing(streamed):
        raise RuntimeError("eigen-solver failed")

    monkeypatch.setattr(ev, "_score", failing)
    with pytest.raises(RuntimeError, match="eigen-solver failed"):
        ev.evaluate([TinyGenerator()] * 3, make_latent_bank(40, 8, 0))


def test_the_scoring_stream_waits_for_its_candidate_and_drains_before_returning(tmp_path: Path, monkeypatch) -> None:
    """The CUDA half of the worker path, its protocol checked with a recording stand-in stream:
    scoring runs inside the scoring stream's context, only after waiting on the event recorded at
    the candidate's last batch, and that stream is synchronised before the worker lets go of the
    candidate's tensors (also when scoring fails)."""
    import contextlib

    import optgan.metrics.evaluator as evaluator_module

    log: list[str] = []

    class Stream:
        def wait_event(self, event) -> None:
            log.append(f"wait {event}")

        def synchronize(self) -> None:
            log.append("synchronize")

    @contextlib.contextmanager
    def stream(s):
        log.append("enter")
        try:
            yield
        finally:
            log.append("exit")

    monkeypatch.setattr(evaluator_module.torch.cuda, "stream", stream)
    ev = _scoring_ahead(_evaluator(tmp_path))
    streamed = ev._stream_one(TinyGenerator(), make_latent_bank(40, 8, 0).to(ev.device), True)
    ev._score_stream = Stream()
    score = ev._score
    monkeypatch.setattr(ev, "_score", lambda streamed: log.append("score") or score(streamed))
    streamed = evaluator_module._Streamed(streamed.sink, streamed.bad, "event-of-last-batch")  # type: ignore[arg-type]
    assert ev._score_on_side(streamed).ok
    assert log == ["enter", "wait event-of-last-batch", "score", "synchronize", "exit"]

    log.clear()
    monkeypatch.setattr(ev, "_score", lambda streamed: log.append("score") or 1 / 0)
    with pytest.raises(ZeroDivisionError):
        ev._score_on_side(streamed)
    assert log == ["enter", "wait event-of-last-batch", "score", "synchronize", "exit"]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_overlap_equals_sequential_and_keeps_nan_handling(tmp_path: Path) -> None:
    z = make_latent_bank(200, 8, 0)
    real = random_images(64)
    gens = [TinyGenerator(seed=s).cuda() for s in range(3)]
    evs = [PopulationEvaluator(_cfg(tmp_path, num_images=200, overlap=o), real, "cuda",
                               extractor=PoolExtractor("cuda"), progress=False) for o in (False, True)]
    assert evs[0]._gen_stream is None and evs[1]._gen_stream is not None
    assert not evs[0]._score_ahead and evs[1]._score_ahead and evs[1]._score_stream is not None
    # (the NaN candidate gets its own generator, in eval mode: it must not move the others' BN statistics)
    seq, ovl = (ev.evaluate([*gens, _NanLate(TinyGenerator().cuda().eval(), after=3)], z) for ev in evs)
    for a, b in zip(seq[:3], ovl[:3]):
        assert a.ok and b.ok
        for key in a.values:
            assert b.values[key] == pytest.approx(a.values[key], rel=1e-6, abs=1e-9), key
    assert not seq[3].ok and not ovl[3].ok and ovl[3].reason == seq[3].reason


class _NanLate:
    """A candidate whose batches turn NaN after the first `after` (a late failure)."""

    def __init__(self, gen: torch.nn.Module, after: int) -> None:
        self.gen, self.after, self.calls = gen, after, 0

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        x = self.gen(z)
        return x * float("nan") if self.calls > self.after else x


def test_kid_subset_larger_than_reference_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(MetricsError, match="kid_subset_size"):
        _evaluator(tmp_path, real=random_images(16), kid_subset_size=20)


def test_each_candidate_of_a_round_gets_its_own_sample_grid(tmp_path: Path) -> None:
    """The round scorer's trial pictures: each candidate's own images of the round's first
    latents (not the first candidate's for all)."""
    from optgan.config.pictures import PicturesConfig
    from optgan.config.study import StudyConfig
    from optgan.engines.scoring import PopulationScorer, round_seed
    from optgan.search_space.widths import Widths

    gens = [TinyGenerator(latent_dim=12, seed=s) for s in (0, 1)]
    cfg = StudyConfig(widths=Widths(gf_dim=8, df_dim=8, latent_dim=12, bottom_width=1),
                      metrics=_cfg(tmp_path, metrics=("FID",)), pictures=PicturesConfig(grid_images=4))
    scorer = PopulationScorer(cfg, random_images(64), torch.device("cpu"), extractor=PoolExtractor())
    out = scorer.evaluate(gens, round_index=2, stage="gen")
    z = make_latent_bank(40, 12, round_seed(0, "gen", 2))[:4]
    for gen, ev in zip(gens, out):
        with torch.no_grad():
            assert torch.equal(ev.samples, quantize_to_uint8(gen(z)))
    assert not torch.equal(out[0].samples, out[1].samples)


def test_the_round_scorer_keeps_each_candidates_failure_reason(tmp_path: Path) -> None:
    """A candidate whose images hold NaN fails with its reason; the others of the round are scored."""
    from optgan.config.pictures import PicturesConfig
    from optgan.config.study import StudyConfig
    from optgan.engines.scoring import PopulationScorer
    from optgan.search_space.widths import Widths

    def broken(z: torch.Tensor) -> torch.Tensor:
        return torch.full((len(z), 3, 8, 8), float("nan"))

    cfg = StudyConfig(widths=Widths(gf_dim=8, df_dim=8, latent_dim=12, bottom_width=1),
                      metrics=_cfg(tmp_path, metrics=("FID",)), pictures=PicturesConfig(sample_grid=False))
    scorer = PopulationScorer(cfg, random_images(64), torch.device("cpu"), extractor=PoolExtractor())
    good, bad = scorer.evaluate([TinyGenerator(latent_dim=12), broken], round_index=0, stage="disc")
    assert good.reason is None and math.isfinite(good.values["FID"])
    assert bad.reason and "NaN" in bad.reason and math.isnan(bad.values["FID"])
