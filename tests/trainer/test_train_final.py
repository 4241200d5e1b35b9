"""The final training loop on tiny CPU runs: outputs, resume equality, refusals, MMD bound state.

A fake scorer (deterministic numbers computed from the EMA generator's images) stands in for the
metrics module here; the CLI tests run the real evaluator.
"""

from __future__ import annotations

import csv
import json
import os
from typing import Any

import pytest
import torch

import optgan
from optgan.config.train import train_config_from_dict
from optgan.errors import CheckpointError, ConfigError
from optgan.search_space.genotype import Genotype
from optgan.trainer.final import train_final
from optgan.trainer.final_setup import resolve_disc

G = [[1, 1, 1, 0, 2, 3, 1], [1, 1, 0, 1, 3, 0, 5], [0, 1, 0, 3, 0, 0, 3]]
D = "[[3,0,3,0,2,0,0],[1,0,3,0,1,-1,-1],[3,0,3,0,1,-1,-1]]"


@pytest.fixture(autouse=True)
def one_thread():
    # tiny convolutions: one thread is ~10× faster than two on a busy 2-core machine
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def tiny_cfg(**over: Any):
    base: dict[str, Any] = {
        "seed": 3, "device": "cpu", "deterministic": True,
        "widths": {"gf_dim": 16, "df_dim": 16, "latent_dim": 12, "bottom_width": 2},
        "data": {"name": "digits", "max_images": 64},
        "disc": D, "epochs": 2, "iters_per_epoch": 4, "batch_size_g": 8, "batch_size_d": 8, "n_critic": 2,
        "autogan_df_dim": 8, "checkpoint_every_iters": 3,
        "evaluation": {"every_epochs": 1, "grid_images": 16},
        "metrics": {"extractor": "classifier", "num_images": 16, "batch_size": 8},
    }
    base.update(over)
    return train_config_from_dict(base)


def mmd_cfg(**over: Any):
    return tiny_cfg(loss="mmd", disc="autogan", n_critic=1, mmd={"patience": 1}, **over)


class FakeScorer:
    """Deterministic stand-in for the metrics: FID = 50 + number of calls (`by_calls`, so the MMD
    bound must move) or a function of the generated images (so a resumed run sees the same FIDs)."""

    def __init__(self, by_calls: bool = False) -> None:
        self.calls, self.by_calls = 0, by_calls

    def __call__(self, fn) -> dict[str, float]:
        self.calls += 1
        x = fn(torch.randn(16, 12, generator=torch.Generator().manual_seed(0)))
        assert x.shape == (16, 3, 16, 16) and x.min() >= -1 and x.max() <= 1
        fid = 50.0 + self.calls if self.by_calls else 50.0 + 100.0 * float(x.mean())
        return {"IS": 1 + float(x.std()), "IS_std": 0.1, "FID": fid, "KID": 0.1, "KID_std": 0.01, "num_images": 16.0}


def genotype() -> Genotype:
    return Genotype.from_array("gen", G)


def run(cfg, out, **kw):
    return train_final(cfg, genotype(), resolve_disc(cfg), str(out), scorer=kw.pop("scorer", FakeScorer()),
                       progress=False, **kw)


def weights(out) -> dict[str, torch.Tensor]:
    ck = torch.load(os.path.join(out, "checkpoint-last.pt"), weights_only=True)
    flat = {f"{part}.{k}": v for part in ("gen", "gen_ema", "disc_state") for k, v in ck[part].items()}
    for part in ("opt_g", "opt_d"):
        for i, st in ck[part]["state"].items():
            flat.update({f"{part}.{i}.{k}": v for k, v in st.items()})
    return flat


def assert_same_weights(a, b) -> None:
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k


def test_hinge_run_writes_every_output(tmp_path) -> None:
    result = run(tiny_cfg(), tmp_path, scorer=FakeScorer(by_calls=True))
    assert result.finished and result.epochs_done == 2 and result.iterations == 8 and result.best_fid == 51.0
    for name in ("checkpoint-last.pt", "checkpoint-best.pt", "metrics.csv", "metrics.jsonl", "learning_curve.png",
                 "samples/epoch-0001.png", "samples/epoch-0002.png"):
        assert (tmp_path / name).is_file(), name
    rows = list(csv.DictReader(open(tmp_path / "metrics.csv")))
    assert [r["epoch"] for r in rows] == ["1", "2"] and rows[1]["g_steps"] == "4" and rows[0]["FID"] == "51.0"
    lines = [json.loads(x) for x in open(tmp_path / "metrics.jsonl")]
    assert lines[1]["iteration"] == 8 and lines[0]["upper_bound"] is None and lines[0]["num_images"] == 16
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".tmp")]


def test_best_checkpoint_is_a_loadable_generator(tmp_path) -> None:
    run(tiny_cfg(), tmp_path)
    net = optgan.load_generator(str(tmp_path / "checkpoint-best.pt"))
    with torch.no_grad():
        x = net(torch.randn(4, 12))
    assert x.shape == (4, 3, 16, 16) and not net.training
    raw = optgan.load_generator(str(tmp_path), ema=False)
    assert any(not torch.equal(a, b) for a, b in zip(net.state_dict().values(), raw.state_dict().values()))


@pytest.mark.parametrize("make_cfg", [tiny_cfg, mmd_cfg], ids=["hinge", "mmd"])
@pytest.mark.parametrize("stop_at", [5, 8])  # mid-epoch 2 (last save at 3), right at the end of epoch 2
def test_stopped_and_resumed_equals_uninterrupted(tmp_path, make_cfg, stop_at) -> None:
    cfg = make_cfg(epochs=3)
    run(cfg, tmp_path / "full")
    stopped = run(cfg, tmp_path / "resumed", stop_after_iters=stop_at)
    assert not stopped.finished
    resumed = run(cfg, tmp_path / "resumed")
    assert resumed.finished and resumed.iterations == 12
    assert_same_weights(tmp_path / "full", tmp_path / "resumed")
    a = torch.load(tmp_path / "full" / "checkpoint-last.pt", weights_only=True)
    b = torch.load(tmp_path / "resumed" / "checkpoint-last.pt", weights_only=True)
    assert a["mmd_bound"] == b["mmd_bound"] and a["best"] == b["best"]  # the best FID so far is restored
    best_a = torch.load(tmp_path / "full" / "checkpoint-best.pt", weights_only=True)
    best_b = torch.load(tmp_path / "resumed" / "checkpoint-best.pt", weights_only=True)
    assert all(torch.equal(v, best_b["gen_ema"][k]) for k, v in best_a["gen_ema"].items())
    drop = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]  # noqa: E731
    assert drop(a["history"]) == drop(b["history"])
    assert len(list(csv.DictReader(open(tmp_path / "resumed" / "metrics.csv")))) == 3


def test_mmd_bound_moves_and_is_logged(tmp_path) -> None:
    run(mmd_cfg(epochs=3), tmp_path, scorer=FakeScorer(by_calls=True))
    ck = torch.load(tmp_path / "checkpoint-last.pt", weights_only=True)
    # FIDs 51, 52, 53 with patience 1: the 2nd and 3rd evaluations double the bound 4 → 8 → 16
    assert ck["mmd_bound"] == {"value": 16.0, "counter": 1, "best_fid": 51.0}
    assert [r["upper_bound"] for r in ck["history"]] == [4.0, 4.0, 8.0]
    assert ck["best"]["epoch"] == 1 and ck["best"]["fid"] == 51.0


def test_rerun_of_a_finished_run_does_nothing(tmp_path) -> None:
    run(tiny_cfg(), tmp_path)
    before = (tmp_path / "checkpoint-last.pt").stat().st_mtime_ns
    scorer = FakeScorer()
    assert run(tiny_cfg(), tmp_path, scorer=scorer).finished
    assert scorer.calls == 0 and (tmp_path / "checkpoint-last.pt").stat().st_mtime_ns == before


def test_more_epochs_continue_a_finished_run(tmp_path) -> None:
    run(tiny_cfg(epochs=1), tmp_path)
    assert run(tiny_cfg(epochs=2), tmp_path).iterations == 8


def test_resume_refuses_another_architecture(tmp_path) -> None:
    run(tiny_cfg(epochs=1), tmp_path)
    cfg = tiny_cfg(epochs=1, disc="simple")
    with pytest.raises(CheckpointError, match="another architecture"):
        train_final(cfg, genotype(), resolve_disc(cfg), str(tmp_path), scorer=FakeScorer(), progress=False)
    other = genotype().with_op(0, 2, "conv_3x3")
    with pytest.raises(CheckpointError, match="another architecture"):
        train_final(tiny_cfg(), other, resolve_disc(tiny_cfg()), str(tmp_path), scorer=FakeScorer(), progress=False)


def test_resume_refuses_another_config(tmp_path) -> None:
    run(tiny_cfg(epochs=1), tmp_path)
    with pytest.raises(CheckpointError, match="`batch_size_g`"):
        run(tiny_cfg(epochs=1, batch_size_g=4), tmp_path)
    # nested keys are named by their dotted path
    metrics = {"extractor": "classifier", "num_images": 16, "batch_size": 4}
    with pytest.raises(CheckpointError, match="`metrics.batch_size` = 8, now 4"):
        run(tiny_cfg(epochs=1, metrics=metrics), tmp_path)


def test_resume_accepts_moved_data_and_cache(tmp_path) -> None:
    run(tiny_cfg(epochs=1), tmp_path)
    moved = tiny_cfg(epochs=2, data={"name": "digits", "max_images": 64, "root": str(tmp_path / "elsewhere")},
                     metrics={"extractor": "classifier", "num_images": 16, "batch_size": 8,
                              "cache_dir": str(tmp_path / "cache")})
    assert run(moved, tmp_path).iterations == 8


def test_a_resume_reads_its_checkpoint_onto_the_cpu(tmp_path, monkeypatch) -> None:
    # mapped to a GPU (`map_location=device`), the data stream's and NumPy's RNG states are refused
    import optgan.trainer.final_state as fs

    run(tiny_cfg(), tmp_path, stop_after_iters=3)
    real_load, where = fs.load_checkpoint, []
    monkeypatch.setattr(fs, "load_checkpoint", lambda path, map_location=None: where.append(map_location)
                        or real_load(path, map_location=map_location))
    assert run(tiny_cfg(), tmp_path).finished
    assert where == ["cpu"]


def test_deterministic_on_cuda_warns_for_the_bilinear_backward_instead_of_failing(monkeypatch, caplog) -> None:
    # every generator differentiates a bilinear upsampling (cell 2's skip input), which has no
    # deterministic CUDA kernel: `use_deterministic_algorithms(True)` alone would raise at the first G step
    from optgan.trainer import final

    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", "recorded")  # so that monkeypatch restores what was there
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG")
    monkeypatch.setattr(final, "_on_cuda", lambda cfg: True)
    with final._torch_settings(tiny_cfg()):
        assert torch.are_deterministic_algorithms_enabled() and torch.is_deterministic_algorithms_warn_only_enabled()
        assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"  # cuBLAS's deterministic workspace
    assert "not bitwise" in caplog.text
    assert not torch.are_deterministic_algorithms_enabled() and not torch.is_deterministic_algorithms_warn_only_enabled()
    monkeypatch.setattr(final, "_on_cuda", lambda cfg: False)
    with final._torch_settings(tiny_cfg()):  # the CPU: strict, as before
        assert torch.are_deterministic_algorithms_enabled() and not torch.is_deterministic_algorithms_warn_only_enabled()


class IdentifiedScorer(FakeScorer):
    """A fake scorer that says which extractor it stands for (as the real one does)."""

    def __init__(self, weights: str) -> None:
        super().__init__()
        self.extractor_identity = {"extractor": "inception-v3-compat", "weights_sha256": weights, "mode": "exact"}


def test_resume_refuses_scores_from_another_extractor(tmp_path) -> None:
    run(tiny_cfg(epochs=1), tmp_path, scorer=IdentifiedScorer("a" * 64))
    for name in ("checkpoint-last.pt", "checkpoint-best.pt"):
        assert torch.load(tmp_path / name, weights_only=True)["extractor_identity"]["weights_sha256"] == "a" * 64
    with pytest.raises(ConfigError, match=r"feature extractor differs .* \(weights_sha256 bbbbbbbbbbbb… now, "
                                          r"aaaaaaaaaaaa… before\).*--inception-weights FILE"):
        run(tiny_cfg(epochs=2), tmp_path, scorer=IdentifiedScorer("b" * 64))
    assert run(tiny_cfg(epochs=2), tmp_path, scorer=IdentifiedScorer("a" * 64)).iterations == 8
    # the weights' location may change (another machine); their content is what is compared
    moved = tiny_cfg(epochs=3, metrics={"extractor": "classifier", "num_images": 16, "batch_size": 8,
                                        "inception_weights": str(tmp_path / "w.pth"), "inception_download": False})
    assert run(moved, tmp_path, scorer=IdentifiedScorer("a" * 64)).iterations == 12


def test_a_run_not_yet_scored_takes_the_extractor_it_finds(tmp_path) -> None:
    # stopped after its first checkpoint (iteration 3), before the first evaluation (end of epoch 1)
    run(tiny_cfg(epochs=1), tmp_path, scorer=IdentifiedScorer("a" * 64), stop_after_iters=3)
    ck = torch.load(tmp_path / "checkpoint-last.pt", weights_only=True)
    assert ck["progress"]["global_iter"] == 3 and not ck["best"]
    run(tiny_cfg(epochs=1), tmp_path, scorer=IdentifiedScorer("b" * 64))
    assert torch.load(tmp_path / "checkpoint-last.pt", weights_only=True)["extractor_identity"]["weights_sha256"] == "b" * 64


def test_same_seed_same_run_other_seed_other_run(tmp_path) -> None:
    run(tiny_cfg(epochs=1), tmp_path / "a")
    run(tiny_cfg(epochs=1), tmp_path / "b")
    run(tiny_cfg(epochs=1, seed=4), tmp_path / "c")
    assert_same_weights(tmp_path / "a", tmp_path / "b")
    wa, wc = weights(tmp_path / "a"), weights(tmp_path / "c")
    assert any(not torch.equal(wa[k], wc[k]) for k in wa)


def _nan_d_loss_at(monkeypatch, iterations) -> None:  # noqa: ANN001
    """Make the D loss NaN at the given global iterations (and the G loss at the same ones)."""
    from optgan.trainer import final_state

    real_d, real_g = final_state.RunState.d_loss, final_state.RunState.g_loss

    def poisoned(real):  # noqa: ANN001, ANN202
        def loss(self, *args):  # noqa: ANN001, ANN202
            out = real(self, *args)
            return out * float("nan") if self.global_iter in iterations else out
        return loss

    monkeypatch.setattr(final_state.RunState, "d_loss", poisoned(real_d))
    monkeypatch.setattr(final_state.RunState, "g_loss", poisoned(real_g))


def test_nonfinite_steps_are_skipped_and_counted(tmp_path, monkeypatch) -> None:
    _nan_d_loss_at(monkeypatch, {2, 5})  # iteration 2 also has a G step (n_critic 2), 5 has none
    result = run(tiny_cfg(), tmp_path)
    assert result.finished
    ck = torch.load(tmp_path / "checkpoint-last.pt", weights_only=True)
    assert [r["nonfinite_steps"] for r in ck["history"]] == [2, 1]  # epoch 1: D + G at 2; epoch 2: D at 5
    assert all(r["d_loss"] is not None and r["d_loss"] == r["d_loss"] for r in ck["history"])
    # (the state of a parameter without gradients, unused by this G, stays at step 0)
    d_steps = {float(s["step"]) for s in ck["opt_d"]["state"].values()}
    g_steps = {float(s["step"]) for s in ck["opt_g"]["state"].values() if s["exp_avg_sq"].any()}
    assert d_steps == {6.0} and g_steps == {3.0}  # 8 - 2 D steps and 4 - 1 G steps were taken
    assert all(torch.isfinite(v).all() for v in weights(tmp_path).values())
    rows = list(csv.DictReader(open(tmp_path / "metrics.csv")))
    assert [r["nonfinite_steps"] for r in rows] == ["2", "1"]


def test_a_run_whose_losses_stay_nonfinite_stops_and_resumes(tmp_path, monkeypatch) -> None:
    from optgan.errors import TrainingDivergedError

    _nan_d_loss_at(monkeypatch, set(range(2, 100)))
    # the device statistics are read every min(50, patience) = 3 iterations and at checkpoints (iteration 3,
    # epoch end 4): the streak reaches 3 at iteration 5 and is seen at the read after iteration 6
    with pytest.raises(TrainingDivergedError, match=r": 4 D losses in a row were NaN/inf \(by iteration 6, epoch 2\)") as e:
        run(tiny_cfg(nonfinite_patience=3), tmp_path)
    assert f"rerun to resume from {tmp_path / 'checkpoint-last.pt'}" in str(e.value)
    ck = torch.load(tmp_path / "checkpoint-last.pt", weights_only=True)
    assert ck["progress"]["global_iter"] == 4 and ck["progress"]["nonfinite_streak"] == 2  # end of epoch 1
    monkeypatch.undo()  # say a lower learning rate and a clip fix it: resume with them (allowed)
    result = run(tiny_cfg(nonfinite_patience=50, lr_d=1e-4, lr_g=1e-4, grad_clip=10.0), tmp_path)
    assert result.finished and result.iterations == 8
    ck = torch.load(tmp_path / "checkpoint-last.pt", weights_only=True)
    assert [g["lr"] for o in ("opt_g", "opt_d") for g in ck[o]["param_groups"]] == pytest.approx([1e-4, 1e-4])  # the new rates ran
    assert ck["history"][-1]["lr_d"] == 1e-4


def test_a_run_that_diverges_before_its_first_checkpoint_says_it_starts_again(tmp_path, monkeypatch) -> None:
    from optgan.errors import TrainingDivergedError

    _nan_d_loss_at(monkeypatch, set(range(0, 100)))
    with pytest.raises(TrainingDivergedError, match="no checkpoint had been saved yet — rerun to start again"):
        run(tiny_cfg(nonfinite_patience=2), tmp_path)
    assert not (tmp_path / "checkpoint-last.pt").exists()


def test_epoch_means_are_the_means_of_the_step_losses(tmp_path, monkeypatch) -> None:
    """The device-side sums, read every few iterations, give the same means as the host would."""
    from optgan.trainer import final_state

    seen: dict[str, list[tuple[int, float]]] = {"d": [], "g": []}
    real_d, real_g = final_state.RunState.d_loss, final_state.RunState.g_loss

    def spy(real, key):  # noqa: ANN001, ANN202
        def loss(self, *args):  # noqa: ANN001, ANN202
            out = real(self, *args)
            seen[key].append((self.global_iter, float(out.detach())))
            return out
        return loss

    monkeypatch.setattr(final_state.RunState, "d_loss", spy(real_d, "d"))
    monkeypatch.setattr(final_state.RunState, "g_loss", spy(real_g, "g"))
    run(tiny_cfg(nonfinite_patience=2), tmp_path)  # statistics read every 2 iterations and at iteration 3
    history = torch.load(tmp_path / "checkpoint-last.pt", weights_only=True)["history"]
    for epoch, row in enumerate(history):
        for key in ("d", "g"):
            values = [v for it, v in seen[key] if epoch * 4 <= it < (epoch + 1) * 4]
            assert len(values) == (4 if key == "d" else 2)
            assert row[f"{key}_loss"] == pytest.approx(sum(values) / len(values), rel=1e-12)


def test_linear_lr_decay_reaches_the_optimisers(tmp_path) -> None:
    run(tiny_cfg(lr_decay="linear", epochs=4), tmp_path)
    ck = torch.load(tmp_path / "checkpoint-last.pt", weights_only=True)
    # the rate of an epoch's row is the one of its last iteration: 2e-4 · (1 − (4e − 1) / 16)
    want = [2e-4 * (1 - (4 * e - 1) / 16) for e in range(1, 5)]
    assert [r["lr_g"] for r in ck["history"]] == pytest.approx(want)
    assert ck["opt_d"]["param_groups"][0]["lr"] == pytest.approx(want[-1])


def test_a_checkpoint_from_before_newer_config_keys_resumes(tmp_path) -> None:
    run(tiny_cfg(), tmp_path, stop_after_iters=5)
    path = tmp_path / "checkpoint-last.pt"
    ck = torch.load(path, weights_only=True)
    del ck["config"]["nonfinite_patience"], ck["config"]["metrics"]["overlap"]  # written by an older optgan
    del ck["progress"]["nonfinite_streak"], ck["progress"]["sums"]["nonfinite"]
    for name in ("opt_g", "opt_d"):  # a plain Adam's state: CPU step counts, no state for unused parameters
        opt = ck[name]
        opt["param_groups"] = [{**g, "fused": None} for g in opt["param_groups"]]
        opt["state"] = {i: {**st, "step": st["step"].cpu()} for i, st in opt["state"].items() if st["exp_avg_sq"].any()}
    torch.save(ck, path)
    assert run(tiny_cfg(), tmp_path).finished
    ck = torch.load(path, weights_only=True)
    assert {float(st["step"]) for st in ck["opt_d"]["state"].values()} == {8.0}


@pytest.mark.parametrize("make_cfg", [tiny_cfg, mmd_cfg], ids=["hinge", "mmd"])
def test_bf16_autocast_trains_fp32_weights_close_to_the_fp32_run(tmp_path, make_cfg) -> None:
    run(make_cfg(precision="fp32"), tmp_path / "fp32")
    result = run(make_cfg(precision="bf16"), tmp_path / "bf16")  # CPU autocast: the same code path as CUDA's
    assert result.finished
    a, b = weights(tmp_path / "fp32"), weights(tmp_path / "bf16")
    assert all(v.dtype != torch.bfloat16 and torch.isfinite(v.float()).all() for v in b.values())
    assert any(not torch.equal(a[k], b[k]) for k in a)  # bf16 arithmetic really ran
    ha = torch.load(tmp_path / "fp32" / "checkpoint-last.pt", weights_only=True)["history"]
    hb = torch.load(tmp_path / "bf16" / "checkpoint-last.pt", weights_only=True)["history"]
    for ra, rb in zip(ha, hb):
        assert rb["d_loss"] == pytest.approx(ra["d_loss"], abs=0.02)  # measured: ≤ 0.006
        assert rb["g_loss"] == pytest.approx(ra["g_loss"], abs=0.02)
    # precision may change when a run is resumed (the checkpoint holds fp32 state either way)
    run(make_cfg(precision="fp32", epochs=3), tmp_path / "bf16")


def test_evaluations_score_the_ema_generator(tmp_path) -> None:
    """The scorer (and the sample grids) see the EMA G's images, not the raw G's (SPEC §6)."""
    seen: list[torch.Tensor] = []
    z = torch.randn(16, 12, generator=torch.Generator().manual_seed(0))

    def scorer(fn) -> dict[str, float]:  # noqa: ANN001
        seen.append(fn(z).clone())
        return {"IS": 1.0, "IS_std": 0.1, "FID": 50.0, "KID": 0.1, "KID_std": 0.01, "num_images": 16.0}

    run(tiny_cfg(), tmp_path, scorer=scorer)
    with torch.no_grad():
        ema = optgan.load_generator(str(tmp_path / "checkpoint-last.pt"))(z)
        raw = optgan.load_generator(str(tmp_path / "checkpoint-last.pt"), ema=False)(z)
    assert torch.allclose(seen[-1], ema, atol=1e-6)
    assert (seen[-1] - raw).abs().max() > 1e-3


def test_a_skipped_g_step_leaves_the_ema_alone(tmp_path, monkeypatch) -> None:
    """A G step whose loss is non-finite is skipped, and so is its EMA update (device-side flag)."""
    from optgan.trainer.ema import EMA

    skips: list[bool | None] = []
    real_update = EMA.update

    def update(self, model, skip=None) -> None:  # noqa: ANN001
        skips.append(None if skip is None else bool(skip))
        real_update(self, model, skip=skip)

    monkeypatch.setattr(EMA, "update", update)
    _nan_d_loss_at(monkeypatch, {2})  # G steps at iterations 0, 2, 4, 6 (n_critic 2)
    run(tiny_cfg(), tmp_path)
    assert skips == [False, True, False, False]


def test_a_rerun_of_a_finished_run_restores_history_files_a_kill_cut_short(tmp_path) -> None:
    """A kill after the last checkpoint but before metrics.csv / .jsonl / the curve were rewritten:
    the rerun ("nothing to do") rewrites them from the checkpoint's history; intact files are
    left alone (a finished run on a read-only medium stays readable)."""
    run(tiny_cfg(), tmp_path)
    files = [tmp_path / n for n in ("metrics.csv", "metrics.jsonl", "learning_curve.png")]
    whole = [f.read_bytes() for f in files]
    files[0].write_text(files[0].read_text().splitlines()[0] + "\n" + files[0].read_text().splitlines()[1] + "\n")
    files[1].write_text(files[1].read_text().splitlines()[0] + "\n")
    files[2].unlink()
    assert run(tiny_cfg(), tmp_path).finished
    assert [f.read_bytes() for f in files[:2]] == whole[:2] and files[2].is_file()
    stamps = [f.stat().st_mtime_ns for f in files]
    run(tiny_cfg(), tmp_path)
    assert [f.stat().st_mtime_ns for f in files] == stamps  # nothing rewritten


def test_resume_refuses_other_images_under_the_same_config(tmp_path) -> None:
    """The checkpoint records the data's fingerprint: an .npz rewritten in place (same path, same
    config) is refused on resume, and the in-process image cache does not hide the new file."""
    import numpy as np

    def write(seed: int) -> None:
        rng = np.random.default_rng(seed)
        np.savez(tmp_path / "d.npz", images=rng.integers(0, 256, (64, 16, 16, 3), dtype=np.uint8),
                 labels=np.arange(64) % 2)

    write(0)
    data = {"name": "npz", "path": str(tmp_path / "d.npz")}
    run(tiny_cfg(epochs=1, data=data), tmp_path / "out")
    write(1)
    with pytest.raises(CheckpointError, match="was trained on other data"):
        run(tiny_cfg(epochs=2, data=data), tmp_path / "out")


def test_a_resumed_run_keeps_its_non_finite_streak(tmp_path, monkeypatch) -> None:
    """The count of non-finite D losses in a row is part of the checkpoint: a run stopped mid-streak
    and resumed diverges at the very iteration the uninterrupted run does."""
    from optgan.errors import TrainingDivergedError

    _nan_d_loss_at(monkeypatch, set(range(2, 100)))
    cfg = tiny_cfg(nonfinite_patience=4, epochs=3)
    with pytest.raises(TrainingDivergedError) as whole:
        run(cfg, tmp_path / "a")
    assert not run(cfg, tmp_path / "b", stop_after_iters=4).finished  # saved at iteration 3: streak 2
    with pytest.raises(TrainingDivergedError) as resumed:
        run(cfg, tmp_path / "b")
    where = lambda e: str(e.value).split("; ")[0]  # noqa: E731
    assert where(resumed) == where(whole)


def test_the_runs_random_streams_have_their_own_seeds(tmp_path, monkeypatch) -> None:
    """Latents, data order, global RNGs (and the scorer's bank) are seeded for different purposes:
    no two streams of a run share a seed (they would draw correlated numbers)."""
    from optgan.trainer import final_setup, final_state

    purposes: list[int] = []
    real = final_setup.derived_seed

    def spy(seed: int, purpose: int) -> int:
        purposes.append(purpose)
        return real(seed, purpose)

    monkeypatch.setattr(final_state, "derived_seed", spy)
    run(tiny_cfg(epochs=1), tmp_path)
    assert len(purposes) >= 3 and len(set(purposes)) == len(purposes)


# ---------------------------------------------------------------------------- the recipe, step by step
def _open(cfg, out):  # noqa: ANN001, ANN202
    from optgan.trainer.final_state import RunState

    return RunState.open(cfg, genotype(), resolve_disc(cfg), str(out))


def test_the_run_builds_the_recipes_optimisers_ema_and_mmd_d(tmp_path) -> None:
    """Adam (β₁, β₂) = (0, 0.9) with each network's own learning rate (STL-10: G 3e-4, D 2e-4), the
    configured EMA decay (0.99 in the quickstart), and for MMD the AutoGAN D at its width with 16 outputs."""
    from optgan.supernet.autogan_disc import AutoGANDiscriminator

    state = _open(tiny_cfg(lr_g=3e-4, lr_d=2e-4, ema_decay=0.99), tmp_path / "hinge")
    try:
        state.apply_lr_decay()  # what every iteration does first
        for opt, lr in ((state.opt_g, 3e-4), (state.opt_d, 2e-4)):
            (group,) = opt.param_groups
            assert float(group["lr"]) == pytest.approx(lr) and tuple(group["betas"]) == (0.0, 0.9)
        assert state.ema.decay == 0.99
    finally:
        state.close()
    state = _open(mmd_cfg(), tmp_path / "mmd")
    try:
        assert isinstance(state.d_net, AutoGANDiscriminator) and state.d_net.df_dim == 8
        assert state.d_net(torch.zeros(3, 3, 16, 16)).shape == (3, 16)
    finally:
        state.close()


def test_the_d_loss_reads_the_scheduled_mmd_bound_also_after_a_resume(tmp_path) -> None:
    """When the schedule raises the kernel's upper bound, the D loss uses the new bound (not the
    config's starting 4), and a resumed run goes on with the bound it had."""
    from optgan.trainer.losses import mmd_repulsive_d_loss

    real = torch.tensor([[0.0], [1.0], [3.0]])  # real-real squared distances 1, 9, 4
    fake = torch.tensor([[0.0], [0.2], [2.0]])
    want = {b: mmd_repulsive_d_loss(real, fake, upper_bound=b, lower_bound=0.25).item() for b in (4.0, 8.0)}
    assert want[4.0] != pytest.approx(want[8.0])  # the bound matters for these outputs
    state = _open(mmd_cfg(), tmp_path)  # patience 1
    try:
        assert state.d_loss(real, fake).item() == pytest.approx(want[4.0])
        state.record_eval(1, {"FID": 50.0})
        state.record_eval(2, {"FID": 51.0})  # no better: 4 → 8
        assert state.bound.value == 8.0
        assert state.d_loss(real, fake).item() == pytest.approx(want[8.0])
        state.save_last()
    finally:
        state.close()
    resumed = _open(mmd_cfg(), tmp_path)
    try:
        assert resumed.bound.value == 8.0
        assert resumed.d_loss(real, fake).item() == pytest.approx(want[8.0])
    finally:
        resumed.close()


@pytest.mark.parametrize("make_cfg", [tiny_cfg, mmd_cfg], ids=["hinge", "mmd"])
def test_an_iteration_is_a_d_step_on_real_and_fake_then_a_g_step(tmp_path, monkeypatch, make_cfg) -> None:
    """Known answer of one iteration (D batch 8, G batch 4): D's loss compares D(real batch) with
    D(G(z_d)), z_d of D's batch size; G's loss is taken on G(z_g), z_g of G's batch size drawn after
    z_d, against the D just stepped (MMD: and D of the same real batch)."""
    import copy

    from optgan.trainer import final_step, losses
    from optgan.trainer.data import BatchStream

    cfg = make_cfg(batch_size_d=8, batch_size_g=4)
    state = _open(cfg, tmp_path)
    try:
        seen: dict[str, Any] = {}
        real_step = final_step.guarded_adam_step

        def step(opt, loss, acc, slot):  # noqa: ANN001, ANN202
            name = "d" if opt is state.opt_d else "g"
            seen[f"{name}_loss"] = float(loss.detach())
            bad = real_step(opt, loss, acc, slot)
            if name == "d":  # D as the G step finds it
                seen["d_after"] = {k: v.detach().clone() for k, v in state.d_net.state_dict().items()}
            return bad

        monkeypatch.setattr(final_step, "guarded_adam_step", step)
        stream = BatchStream(state.image_set.images, 8, torch.Generator())
        stream.load_state_dict(state.stream.state_dict())
        latents = torch.Generator().set_state(state.latent_gen.get_state())
        g, d, d1 = copy.deepcopy(state.g_net), copy.deepcopy(state.d_net), copy.deepcopy(state.d_net)
        state.apply_lr_decay()
        final_step.FinalStepper(state).iteration(with_g=True)

        real = next(stream)
        z_d = torch.empty(8, 12).normal_(generator=latents)
        z_g = torch.empty(4, 12).normal_(generator=latents)
        with torch.no_grad():  # the same calls in the same order (spectral norm's power iterations)
            d_real, d_fake = d(real), d(g(z_d))
            fake_g = g(z_g)
            d1.load_state_dict(seen["d_after"])
            if cfg.loss == "mmd":
                want_d = losses.mmd_repulsive_d_loss(d_real, d_fake, upper_bound=4.0, lower_bound=0.25)
                d1_real = d1(real)
                want_g = losses.mmd_g_loss(d1_real, d1(fake_g))
            else:
                want_d = losses.hinge_d_loss(d_real, d_fake)
                want_g = losses.hinge_g_loss(d1(fake_g))
        assert seen["d_loss"] == pytest.approx(float(want_d), rel=1e-5, abs=1e-7)
        assert seen["g_loss"] == pytest.approx(float(want_g), rel=1e-5, abs=1e-7)
    finally:
        state.close()


def test_an_epoch_is_one_pass_at_the_d_batch_size(tmp_path) -> None:
    """Without `iters_per_epoch` an epoch is len(images) // batch_size_d iterations, whatever G's batch."""
    cfg = tiny_cfg(iters_per_epoch=None, epochs=1, batch_size_d=16, batch_size_g=8, checkpoint_every_iters=None)
    result = run(cfg, tmp_path)  # 64 images
    assert result.iterations == 4
    assert torch.load(tmp_path / "checkpoint-last.pt", weights_only=True)["history"][0]["g_steps"] == 2


def test_grad_clip_bounds_the_gradient_norm_of_both_networks(tmp_path, monkeypatch) -> None:
    """`grad_clip` (EAGAN STL-10: 50) clips the total gradient norm of D and of G before each step."""
    from optgan.trainer import final_step

    norms: dict[str, list[float]] = {"d": [], "g": []}
    real_step = final_step.guarded_adam_step

    def step(opt, loss, acc, slot):  # noqa: ANN001, ANN202
        grads = [p.grad for group in opt.param_groups for p in group["params"] if p.grad is not None]
        norms["d" if slot == 0 else "g"].append(float(torch.linalg.vector_norm(torch.stack(
            [torch.linalg.vector_norm(g) for g in grads]))))
        return real_step(opt, loss, acc, slot)

    monkeypatch.setattr(final_step, "guarded_adam_step", step)
    run(tiny_cfg(epochs=1), tmp_path / "free")
    assert min(norms["d"]) > 1e-3 and min(norms["g"]) > 1e-3  # the clip below does bind
    norms = {"d": [], "g": []}
    run(tiny_cfg(epochs=1, grad_clip=1e-3), tmp_path / "clipped")
    assert len(norms["d"]) == 4 and len(norms["g"]) == 2
    assert max(norms["d"] + norms["g"]) <= 1e-3 * (1 + 1e-4)


class SequenceScorer:
    """A scorer that returns the given FIDs in turn."""

    def __init__(self, fids: list[float]) -> None:
        self.fids = list(fids)

    def __call__(self, fn) -> dict[str, float]:  # noqa: ANN001
        fn(torch.zeros(2, 12))
        return {"FID": self.fids.pop(0), "num_images": 2.0}


def test_evaluations_run_every_n_epochs_after_the_start_epoch_and_after_the_last(tmp_path) -> None:
    """`evaluation`: every `every_epochs` epochs once more than `start_epoch` are done (EAGAN: every
    5 after 300, so not at 300 itself), and always after the last epoch."""
    cfg = tiny_cfg(epochs=7, iters_per_epoch=1, checkpoint_every_iters=None,
                   evaluation={"every_epochs": 2, "start_epoch": 2, "grid_images": 4})
    run(cfg, tmp_path, scorer=SequenceScorer([50.0] * 7))
    history = torch.load(tmp_path / "checkpoint-last.pt", weights_only=True)["history"]
    assert [r["epoch"] for r in history if "FID" in r] == [4, 6, 7]


def test_the_best_checkpoint_holds_the_epoch_of_the_lowest_fid(tmp_path) -> None:
    """checkpoint-best.pt is written only when FID improves strictly (a tie keeps the earlier epoch);
    a run folder loads as its best checkpoint, not its last."""
    cfg = tiny_cfg(epochs=4, iters_per_epoch=2, checkpoint_every_iters=None)
    result = run(cfg, tmp_path, scorer=SequenceScorer([60.0, 50.0, 50.0, 55.0]))
    assert result.best_fid == 50.0
    best = torch.load(tmp_path / "checkpoint-best.pt", weights_only=True)
    last = torch.load(tmp_path / "checkpoint-last.pt", weights_only=True)
    assert best["progress"]["epoch"] == 2 and best["best"]["epoch"] == 2 and last["best"]["epoch"] == 2
    assert any(not torch.equal(best["gen_ema"][k], last["gen_ema"][k]) for k in best["gen_ema"])
    from_dir = optgan.load_generator(str(tmp_path)).state_dict()
    assert all(torch.equal(from_dir[k], best["gen_ema"][k]) for k in from_dir)


def test_exactly_nonfinite_patience_losses_in_a_row_stop_the_run(tmp_path, monkeypatch) -> None:
    from optgan.errors import TrainingDivergedError

    _nan_d_loss_at(monkeypatch, {1, 2})  # two in a row, then finite again
    with pytest.raises(TrainingDivergedError, match=r": 2 D losses in a row were NaN/inf"):
        run(tiny_cfg(nonfinite_patience=2), tmp_path)


def test_divergence_is_noticed_within_nonfinite_patience_iterations(tmp_path, monkeypatch) -> None:
    """The statistics are read every min(50, nonfinite_patience) iterations, checkpoints or not."""
    from optgan.errors import TrainingDivergedError

    _nan_d_loss_at(monkeypatch, set(range(100)))
    with pytest.raises(TrainingDivergedError, match=r"\(by iteration 3, epoch 1\)"):
        run(tiny_cfg(nonfinite_patience=3, checkpoint_every_iters=None), tmp_path)


def test_the_resumable_checkpoint_is_also_written_every_checkpoint_every_iters(tmp_path) -> None:
    run(tiny_cfg(checkpoint_every_iters=3), tmp_path, stop_after_iters=3)  # killed right after iteration 3
    assert torch.load(tmp_path / "checkpoint-last.pt", weights_only=True)["progress"]["global_iter"] == 3


def test_resume_refuses_a_changed_recipe(tmp_path) -> None:
    """Keys that make it another training (loss, n_critic, EMA decay, seed, lr schedule) must match."""
    run(tiny_cfg(epochs=1), tmp_path)
    for key, value in (("n_critic", 1), ("ema_decay", 0.99), ("loss", "mmd"), ("seed", 4), ("lr_decay", "linear")):
        with pytest.raises(CheckpointError, match=f"`{key}` = "):
            run(tiny_cfg(epochs=2, **{key: value}), tmp_path)


def test_sample_grids_map_minus_one_to_black_zero_to_grey_one_to_white_in_a_square(tmp_path) -> None:
    import numpy as np
    from PIL import Image

    from optgan.trainer.final_outputs import save_grid

    images = torch.full((9, 3, 4, 4), -1.0)  # black
    images[0], images[4] = 0.0, 1.0  # the first one mid-grey, the middle one white
    save_grid(images, str(tmp_path / "g.png"))
    grid = np.asarray(Image.open(tmp_path / "g.png").convert("RGB"))
    assert grid.shape == (3 * 6 + 2, 3 * 6 + 2, 3)  # 3 × 3 tiles of 4 px with torchvision's 2-px padding
    assert (grid[2:6, 2:6] == 128).all() and (grid[8:12, 8:12] == 255).all() and (grid[14:18, 14:18] == 0).all()


def test_a_run_begun_on_another_kind_of_device_resumes(tmp_path, caplog) -> None:
    # `device` may change on resume: the latent stream of a run begun on CUDA (a 16-byte Philox
    # state) goes on here from a seed derived from it instead of failing the resume
    run(tiny_cfg(), tmp_path, stop_after_iters=3)
    path = tmp_path / "checkpoint-last.pt"
    ck = torch.load(path, weights_only=True)
    ck["rng"]["generators"]["latent"] = torch.arange(16, dtype=torch.uint8)  # as saved by a CUDA generator
    torch.save(ck, path)
    assert run(tiny_cfg(), tmp_path).finished
    assert "saved on another kind of device cannot continue on cpu" in caplog.text


def test_a_changed_extractor_is_refused_before_the_reference_statistics_are_computed(tmp_path, monkeypatch, caplog):
    from optgan.metrics import PopulationEvaluator

    train_final(tiny_cfg(epochs=1), genotype(), resolve_disc(tiny_cfg()), str(tmp_path), progress=False)  # real scorer
    path = tmp_path / "checkpoint-last.pt"
    ck = torch.load(path, weights_only=True)
    assert ck["extractor_identity"]["extractor"] == "optgan.classifier.v1"
    ck["extractor_identity"]["weights_sha256"] = "f" * 64  # as if the classifier had been trained elsewhere
    torch.save(ck, path)

    def no_statistics(self, *a, **k):  # noqa: ANN001, ANN002, ANN003, ANN202
        raise AssertionError("the reference statistics were computed before the refusal")

    monkeypatch.setattr(PopulationEvaluator, "__init__", no_statistics)
    with pytest.raises(ConfigError, match="copy the trained classifier"):
        train_final(tiny_cfg(epochs=2), genotype(), resolve_disc(tiny_cfg()), str(tmp_path), progress=False)
    ck["extractor_identity"] = None  # a checkpoint of an optgan that did not record it: said, then adopted
    torch.save(ck, path)
    with pytest.raises(AssertionError, match="reference statistics were computed"):
        train_final(tiny_cfg(epochs=2), genotype(), resolve_disc(tiny_cfg()), str(tmp_path), progress=False)
    assert "did not record its feature extractor" in caplog.text


def test_extractor_changes_name_their_cause() -> None:
    from optgan.metrics.extractor_base import identity_change

    inc = {"extractor": "inception-v3-compat", "weights_sha256": "a" * 64, "mode": "exact", "preprocessing": "p1"}
    cls = {"extractor": "optgan.classifier.v1", "classifier": "k", "weights_sha256": "a" * 64}
    assert identity_change(inc, dict(inc)) is None
    assert identity_change(inc, dict(inc, weights_sha256="b" * 64))[1] == "weights"
    assert identity_change(inc, dict(inc, mode="fast-bf16")) == ("mode fast-bf16 now, exact before", "mode")
    assert identity_change(inc, dict(inc, preprocessing="p2"))[1] == "version"  # another optgan
    assert identity_change(cls, dict(cls, extractor="optgan.classifier.v2"))[1] == "version"
    assert identity_change(cls, dict(cls, weights_sha256="b" * 64))[1] == "classifier"
    assert identity_change(cls, inc)[1] == "extractor"


def test_op_forms_reach_the_networks_and_may_change_on_resume(tmp_path) -> None:
    """`op_forms: rewritten` builds G (and so its EMA copy) in the rewritten forms; a run started
    natively resumes with them (an implementation choice, like `precision`), and the other config
    keys are still checked."""
    run(tiny_cfg(epochs=1), tmp_path)
    rewritten = lambda net: sum(getattr(m, "phases", False) or getattr(m, "subgrid", False)  # noqa: E731
                                for m in net.modules())
    state = _open(tiny_cfg(epochs=2, op_forms="rewritten"), tmp_path)
    try:
        assert rewritten(state.g_net) == rewritten(state.ema.module) > 0
    finally:
        state.close()
    assert run(tiny_cfg(epochs=2, op_forms="rewritten"), tmp_path).iterations == 8
    with pytest.raises(CheckpointError, match="n_critic"):
        run(tiny_cfg(epochs=3, op_forms="rewritten", n_critic=1), tmp_path)
