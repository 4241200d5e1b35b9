"""Rules of the final training (`optgan.trainer.final*`) the other tests leave open (found by
mutation testing, round 15): the torch switches a run sets for itself (deterministic kernels, TF32
by `precision`, cuDNN autotuning off under `deterministic`, the CPU threads) and gives back after;
the one log line per epoch without a progress bar; each network's learning rate in its own history
column; no best checkpoint reported when no evaluation gave a finite FID; the global RNG seeded by
the run; stale temporary files of the samples folder removed on open; a failed start removing the
folder it made but keeping an empty one the user made; and `optgan eval`'s metrics
settings (IS splits and KID subsets no larger than the images scored).

All runs are tiny (the recipe of `test_train_final.py`), seeded, on the CPU, with a fake scorer.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from optgan.config.metrics import MetricsConfig
from optgan.config.train import TrainConfig, train_config_from_dict
from optgan.search_space.genotype import Genotype
from optgan.trainer.final import TrainResult, train_final
from optgan.trainer.final_setup import derived_seed, resolve_disc

G = [[1, 1, 1, 0, 2, 3, 1], [1, 1, 0, 1, 3, 0, 5], [0, 1, 0, 3, 0, 0, 3]]
D = "[[3,0,3,0,2,0,0],[1,0,3,0,1,-1,-1],[3,0,3,0,1,-1,-1]]"


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """Tiny convolutions run fastest on one thread on a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _cfg(**over: Any) -> TrainConfig:
    base: dict[str, Any] = {
        "seed": 3, "device": "cpu", "deterministic": True,
        "widths": {"gf_dim": 16, "df_dim": 16, "latent_dim": 12, "bottom_width": 2},
        "data": {"name": "digits", "max_images": 64},
        "disc": D, "epochs": 1, "iters_per_epoch": 2, "batch_size_g": 8, "batch_size_d": 8, "n_critic": 1,
        "checkpoint_every_iters": None,
        "evaluation": {"every_epochs": 1, "grid_images": 4},
        "metrics": {"extractor": "classifier", "num_images": 16, "batch_size": 8},
    }
    base.update(over)
    return train_config_from_dict(base)


class _Scorer:
    """A fake scorer returning the given FID and recording `probe()` at each call (inside the run)."""

    def __init__(self, fid: float = 50.0, probe: Callable[[], Any] | None = None) -> None:
        self.fid, self.probe, self.seen = fid, probe, []

    def __call__(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> dict[str, float]:
        fn(torch.zeros(2, 12))
        if self.probe is not None:
            self.seen.append(self.probe())
        return {"FID": self.fid, "num_images": 2.0}


def _run(cfg: TrainConfig, out: Path, scorer: _Scorer | None = None, **kw: Any) -> TrainResult:
    return train_final(cfg, Genotype.from_array("gen", G), resolve_disc(cfg), str(out),
                       scorer=scorer or _Scorer(), progress=False, **kw)


def _switches() -> tuple[bool, bool, bool, int]:
    return (torch.are_deterministic_algorithms_enabled(), torch.backends.cuda.matmul.allow_tf32,
            torch.backends.cudnn.benchmark, torch.get_num_threads())


@pytest.mark.parametrize(("precision", "tf32"), [("fp32", False), ("tf32", True)])
def test_the_run_sets_its_torch_switches_and_restores_them(tmp_path: Path, precision: str, tf32: bool) -> None:
    """During a run: deterministic kernels when `deterministic`, TF32 unless `precision: fp32`,
    no cuDNN autotuning under `deterministic` (even with `cudnn_benchmark: true`), `cpu_threads`
    threads; after it, the process's own settings are back."""
    torch.use_deterministic_algorithms(False)
    saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32, torch.backends.cudnn.benchmark)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = not tf32
    torch.backends.cudnn.benchmark = True
    try:
        before = _switches()
        scorer = _Scorer(probe=_switches)
        _run(_cfg(precision=precision, cudnn_benchmark=True, cpu_threads=2, iters_per_epoch=1), tmp_path, scorer)
        assert scorer.seen == [(True, tf32, False, 2)]
        assert _switches() == before
    finally:
        torch.use_deterministic_algorithms(False)
        (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32,
         torch.backends.cudnn.benchmark) = saved


def test_cudnn_autotuning_is_on_when_not_deterministic(tmp_path: Path) -> None:
    """Without `deterministic`, `cudnn_benchmark: true` turns cuDNN autotuning on for the run."""
    saved = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = False
    try:
        scorer = _Scorer(probe=lambda: torch.backends.cudnn.benchmark)
        _run(_cfg(deterministic=False, cudnn_benchmark=True, iters_per_epoch=1), tmp_path, scorer)
        assert scorer.seen == [True] and torch.backends.cudnn.benchmark is False
    finally:
        torch.backends.cudnn.benchmark = saved


def test_without_a_progress_bar_each_epoch_logs_one_line(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """`progress=False` (a log file, no terminal): one INFO line per epoch says the epoch, its time and
    the mean losses."""
    with caplog.at_level(logging.INFO, logger="optgan.trainer.final"):
        _run(_cfg(epochs=2, iters_per_epoch=1), tmp_path / "plain")
    lines = [r.getMessage() for r in caplog.records if " done in " in r.getMessage()]
    assert [line.split(" done in ")[0] for line in lines] == ["epoch 1/2", "epoch 2/2"]
    assert all("D loss " in line and "G loss " in line and "n/a" not in line for line in lines)


def test_the_history_holds_each_networks_own_learning_rate(tmp_path: Path) -> None:
    """`lr_g` and `lr_d` columns of the history are G's and D's rates (not swapped)."""
    _run(_cfg(lr_g=3e-4, lr_d=1e-4, iters_per_epoch=1), tmp_path)
    (row,) = torch.load(tmp_path / "checkpoint-last.pt", weights_only=True)["history"]
    assert row["lr_g"] == pytest.approx(3e-4) and row["lr_d"] == pytest.approx(1e-4)


def test_no_finite_fid_means_no_best_checkpoint(tmp_path: Path) -> None:
    """An evaluation whose FID is NaN (a failed evaluation) is no improvement: no checkpoint-best.pt
    is written and the result reports none (nor a best FID)."""
    result = _run(_cfg(iters_per_epoch=1), tmp_path, _Scorer(fid=math.nan))
    assert result.finished and result.best_checkpoint is None and result.best_fid is None
    assert not (tmp_path / "checkpoint-best.pt").exists()


def test_a_new_run_seeds_the_global_rng_from_its_seed(tmp_path: Path) -> None:
    """A fresh run seeds torch's global RNG with its own derived seed (for any op drawing from it),
    so what it draws does not depend on what the process did before."""
    from optgan.trainer.final_state import RunState

    cfg = _cfg()
    torch.manual_seed(12345)
    state = RunState.open(cfg, Genotype.from_array("gen", G), resolve_disc(cfg), str(tmp_path))
    try:
        assert torch.initial_seed() == derived_seed(cfg.seed, 5)
    finally:
        state.close()


def test_opening_a_run_removes_stale_temporary_files_of_its_samples(tmp_path: Path) -> None:
    """A kill during an atomic write leaves a temporary file in the run folder or its samples
    folder; (re)opening the run removes both, and nothing else."""
    from optgan.atomic import TMP_PREFIX
    from optgan.trainer.final_state import RunState

    cfg = _cfg()
    (tmp_path / "samples").mkdir()
    (tmp_path / ".optgan-train").touch()
    stale = [tmp_path / f"{TMP_PREFIX}x", tmp_path / "samples" / f"{TMP_PREFIX}epoch-0001.png"]
    kept = tmp_path / "samples" / "epoch-0001.png"
    for path in [*stale, kept]:
        path.write_bytes(b"x")
    state = RunState.open(cfg, Genotype.from_array("gen", G), resolve_disc(cfg), str(tmp_path))
    state.close()
    assert not any(p.exists() for p in stale) and kept.exists()


def test_eval_splits_and_kid_subsets_fit_the_images_scored() -> None:
    """`optgan eval -n N`: IS in min(10, N) splits, KID subsets no larger than N (nor the reference
    images), at least 2."""
    from optgan.trainer.final_metrics import eval_metrics_config

    base = MetricsConfig(extractor="classifier", kid_subset_size=1000)
    small = eval_metrics_config(base, extractor=None, num_images=6, batch_size=3, num_real=500)
    assert small.is_splits == 6 and small.kid_subset_size == 6
    assert small.metrics == ("IS", "FID", "KID") and small.num_images == 6 and small.batch_size == 3
    big = eval_metrics_config(base, extractor=None, num_images=5000, batch_size=100, num_real=500)
    assert big.is_splits == 10 and big.kid_subset_size == 500


def test_every_random_stream_of_a_run_has_its_own_seed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """G's and D's initialisation, the latents, the data order, the global RNGs and the sample grid's
    latents are all seeded for different purposes (no two draw the same numbers)."""
    from optgan.trainer import final, final_setup, final_state

    purposes: list[int] = []
    real = final_setup.derived_seed

    def spy(seed: int, purpose: int) -> int:
        purposes.append(purpose)
        return real(seed, purpose)

    for module in (final, final_setup, final_state):
        monkeypatch.setattr(module, "derived_seed", spy)
    _run(_cfg(iters_per_epoch=1), tmp_path)
    assert len(purposes) == 6 and len(set(purposes)) == 6


def test_a_resumed_run_rewrites_history_files_a_kill_left_behind(tmp_path: Path) -> None:
    """A resume first rewrites metrics.csv / metrics.jsonl from the checkpoint's history (a kill
    between the checkpoint and them), before it trains on."""
    _run(_cfg(epochs=2, iters_per_epoch=2), tmp_path, stop_after_iters=3)  # epoch 1 saved, stopped in epoch 2
    assert (tmp_path / "metrics.csv").read_text().count("\n") == 2
    (tmp_path / "metrics.csv").unlink()
    (tmp_path / "metrics.jsonl").write_text("")
    _run(_cfg(epochs=2, iters_per_epoch=2), tmp_path, stop_after_iters=3)  # stopped mid-epoch 2
    assert (tmp_path / "metrics.csv").read_text().count("\n") == 2
    assert (tmp_path / "metrics.jsonl").read_text().count("\n") == 1


def test_a_fresh_start_that_fails_opening_the_run_leaves_no_folder(tmp_path: Path) -> None:
    """A new run refused while it is being set up (here: a D batch larger than the data set) removes
    the output folder it had just created."""
    from optgan.errors import OptganError

    out = tmp_path / "out"
    with pytest.raises(OptganError):
        _run(_cfg(data={"name": "digits", "max_images": 16}, batch_size_d=32), out)
    assert not out.exists()


def test_a_failed_start_keeps_the_empty_folder_the_user_made(tmp_path: Path) -> None:
    """`--out` naming an empty folder the user made: a refused start takes back its run marker only,
    and leaves the folder as it found it (empty), not deleted."""
    from optgan.errors import OptganError

    out = tmp_path / "made-by-user"
    out.mkdir()
    with pytest.raises(OptganError):
        _run(_cfg(data={"name": "digits", "max_images": 16}, batch_size_d=32), out)
    assert out.is_dir() and list(out.iterdir()) == []


def test_eval_reports_nan_as_null_the_ema_weights_and_scores_on_the_runs_threads(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`evaluate_checkpoint`: a NaN score is reported as None (valid JSON), `weights.which` says
    `ema` / `raw` as asked, and scoring runs on the run's `cpu_threads` unless `threads` is given."""
    import optgan.metrics
    from types import SimpleNamespace

    from optgan.trainer.final_metrics import evaluate_checkpoint

    _run(_cfg(iters_per_epoch=1, cpu_threads=2), tmp_path)
    threads: list[int] = []

    class FakeEvaluator:
        label = "classifier"

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            self.extractor = SimpleNamespace(feature_dim=8)

        def evaluate(self, nets: list[Any], bank: torch.Tensor) -> list[Any]:
            threads.append(torch.get_num_threads())
            return [SimpleNamespace(values={"IS": math.nan, "FID_classifier": 3.0}, reason=None)]

    monkeypatch.setattr(optgan.metrics, "PopulationEvaluator", FakeEvaluator)
    ema = evaluate_checkpoint(str(tmp_path / "checkpoint-last.pt"), num_images=4, progress=False)
    raw = evaluate_checkpoint(str(tmp_path / "checkpoint-last.pt"), num_images=4, progress=False, ema=False,
                              threads=1)
    assert ema["IS"] is None and ema["FID_classifier"] == 3.0
    assert ema["weights"]["which"] == "ema" and raw["weights"]["which"] == "raw"
    assert threads == [2, 1]


def test_checkpoints_say_their_kind_and_another_format_version_is_not_resumed(tmp_path: Path) -> None:
    """checkpoint-best.pt is of kind `best`, checkpoint-last.pt of kind `last` (what `optgan eval`
    reports); a last checkpoint of another format version is refused, not resumed."""
    from optgan.errors import CheckpointError

    _run(_cfg(iters_per_epoch=1), tmp_path)
    best = torch.load(tmp_path / "checkpoint-best.pt", weights_only=True)
    last = torch.load(tmp_path / "checkpoint-last.pt", weights_only=True)
    assert best["kind"] == "best" and last["kind"] == "last"
    last["format_version"] += 1
    torch.save(last, tmp_path / "checkpoint-last.pt")
    with pytest.raises(CheckpointError, match="not an optgan final-training checkpoint"):
        _run(_cfg(epochs=2, iters_per_epoch=1), tmp_path)


def test_an_existing_empty_folder_may_hold_a_new_run(tmp_path: Path) -> None:
    """`--out` may name a folder that exists but is empty (it is marked as a run); a folder of
    other files is refused."""
    from optgan.errors import ConfigError
    from optgan.trainer.final_run_dir import make_out_dir

    (tmp_path / "empty").mkdir()
    make_out_dir(str(tmp_path / "empty"))
    assert [p.name for p in (tmp_path / "empty").iterdir()] == [".optgan-train"]
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="holds other files"):
        make_out_dir(str(tmp_path / "other"))


def test_metrics_csv_names_each_score_column_once(tmp_path: Path) -> None:
    """Rows that share score columns (every evaluated epoch has `FID`) give one `FID` column."""
    from optgan.trainer.final_outputs import HISTORY_FIELDS, write_history

    rows = [{**dict.fromkeys(HISTORY_FIELDS, 1.0), "epoch": e, "FID": 50.0 + e} for e in (1, 2)]
    write_history(str(tmp_path), rows)
    header = (tmp_path / "metrics.csv").read_text().splitlines()[0].split(",")
    assert header == [*HISTORY_FIELDS, "FID"]


def test_a_grid_that_is_not_square_gets_ceil_sqrt_columns(tmp_path: Path) -> None:
    """8 images make a grid of 3 columns (⌈√8⌉) and 3 rows, not 2 columns."""
    from PIL import Image

    from optgan.trainer.final_outputs import save_grid

    save_grid(torch.zeros(8, 3, 4, 4), str(tmp_path / "g.png"))
    assert Image.open(tmp_path / "g.png").size == (3 * 6 + 2, 3 * 6 + 2)  # torchvision's 2-px padding


def test_a_rerun_of_a_finished_run_restores_a_missing_learning_curve(tmp_path: Path) -> None:
    """A finished run whose learning_curve.png is missing (a kill before it was written) gets it
    back when the command is rerun."""
    _run(_cfg(iters_per_epoch=1), tmp_path)
    (tmp_path / "learning_curve.png").unlink()
    assert _run(_cfg(iters_per_epoch=1), tmp_path).finished
    assert (tmp_path / "learning_curve.png").is_file()


def test_cuda_graphs_take_effect_only_when_asked_for_and_on_cuda() -> None:
    """`cuda_graphs: true` captures the steps on a CUDA device only; `false` never does."""
    from optgan.trainer.final_setup import uses_cuda_graphs

    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert uses_cuda_graphs(_cfg(cuda_graphs=True), cuda)
    assert not uses_cuda_graphs(_cfg(cuda_graphs=True), cpu)
    assert not uses_cuda_graphs(_cfg(cuda_graphs=False), cuda)
