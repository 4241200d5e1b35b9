"""Crash-proof search, real evaluation (supernet training + classifier metrics, CPU): a tiny
search killed mid-write of a checkpoint, during evaluation and during training,
resumed each time, ends with the trials of an uninterrupted run and bit-identical checkpoints
(weights, optimizer states, RNG states) — on SQLite and PostgreSQL (`storage_url`)."""

from __future__ import annotations

import pytest
from _crash_support import (KILLED, NO_PICTURES, QUICK, assert_generations_full, assert_identical, assert_same_trials,
                            create, lease_rows, run_with_fault, snapshot, subprocess_env)

from optgan.trainer.checkpoint import load_checkpoint

POP = 4
TINY = ["device=cpu", f"sampler.population_size={POP}", "gen_stage.rounds=2", "gen_stage.warmup_epochs=1",
        "gen_stage.iters_per_epoch=1", "gen_stage.batch_size_d=8", "gen_stage.batch_size_g=8",
        "disc_stage.rounds=1", "disc_stage.iters_per_epoch=1", "disc_stage.n_critic=1",
        "disc_stage.batch_size_d=8", "disc_stage.batch_size_g=8", "metrics.num_images=20",
        "metrics.batch_size=20", "metrics.is_splits=2", "metrics.classifier.epochs=1", *NO_PICTURES]
#: per process: mid-write of the warm-up checkpoint; 0.05 s into round 1's scoring; 0.05 s into
#: the 2nd training of the process (gen round 2, after re-running round 1 and checkpointing it);
#: 0.05 s into the 2nd training of the next one, which resumes from round 1's checkpoint (stage
#: disc, after gen round 2). Timer kills land wherever the run is then (reported); between-tells
#: kills are synthetic's.
FAULTS = ["checkpoint_write:1", "evaluate:1+0.05", "train:2+0.05", "train:2+0.05"]


def _config(cache) -> list[str]:  # noqa: ANN001
    return [*TINY, f"metrics.cache_dir={cache}"]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("metrics-cache")


@pytest.fixture(scope="module")
def reference(tmp_path_factory, cache) -> tuple[dict, dict]:
    """The uninterrupted run (a subprocess, as the resumed ones): trials and final checkpoints."""
    tmp = tmp_path_factory.mktemp("reference")
    url = f"sqlite:///{tmp / 'ref.db'}"
    create("ref", url, QUICK, _config(cache), tmp / "run")
    assert run_with_fault("ref", url, None, timeout=600).returncode == 0
    return snapshot(url, "ref"), _checkpoints(tmp / "run")


def _checkpoints(run_dir) -> dict:  # noqa: ANN001
    return {stage: load_checkpoint(str(run_dir / stage / "checkpoint.pt")) for stage in ("gen", "disc")}


@pytest.mark.slow
def test_real_search_killed_and_resumed_is_bit_identical(storage_url: str, unique_name: str, tmp_path,
                                                         cache, reference) -> None:
    want_trials, want_ckpt = reference
    run_dir = tmp_path / "run"
    create(unique_name, storage_url, QUICK, _config(cache), run_dir)
    env = subprocess_env()
    outcomes = []
    # checkpoint files do not depend on the storage: the mid-write kill runs on SQLite only
    faults = FAULTS if storage_url.startswith("sqlite") else FAULTS[1:]
    for i, fault in enumerate(faults):
        outcomes.append(run_with_fault(unique_name, storage_url, fault, env=dict(env), timeout=600))
        for ck in run_dir.glob("*/checkpoint.pt"):
            load_checkpoint(str(ck))  # never torn
        if fault.startswith("checkpoint_write"):  # half a temporary file, no checkpoint yet
            assert list(run_dir.glob("gen/.tmp-*checkpoint.pt")) and not (run_dir / "gen" / "checkpoint.pt").exists()
        if i == faults.index("train:2+0.05"):  # killed in gen round 2: the next run resumes mid-stage
            assert load_checkpoint(str(run_dir / "gen" / "checkpoint.pt"))["rounds_done"] == 1
    print("real crash suite:", [(o.fault, o.where, round(o.seconds, 1)) for o in outcomes])
    assert [o.returncode for o in outcomes] == [KILLED] * len(faults), [(o.fault, o.where) for o in outcomes]
    final = run_with_fault(unique_name, storage_url, None, env=dict(env), timeout=600)
    assert final.returncode == 0

    got = snapshot(storage_url, unique_name)
    assert_same_trials(got, want_trials)
    assert_generations_full(got, POP)
    assert_identical(_checkpoints(run_dir), want_ckpt)
    assert not list(run_dir.glob("*/.tmp-*"))
    assert lease_rows(storage_url, unique_name) == []


@pytest.mark.slow
def test_status_tells_when_the_checkpoint_trails_the_study(tmp_path, cache) -> None:
    """Killed between round 1's tells and its checkpoint: `status` says the next run retrains it."""
    import json

    from _crash_support import optgan

    url, run_dir = f"sqlite:///{tmp_path / 's.db'}", tmp_path / "run"
    create("trail", url, QUICK, _config(cache), run_dir)
    # write 1 = the warm-up checkpoint (0 rounds), write 2 = round 1's, after its tells
    assert run_with_fault("trail", url, "checkpoint_write:2", timeout=600).returncode == KILLED
    text = optgan("status", "trail", "--storage", url)
    assert text.returncode == 0, text.stderr
    assert ("stage gen: 1/2 rounds (the checkpoint holds 0: the next run retrains round 1 from the stored "
            "trials, without telling them again)") in text.stdout, text.stdout
    gen = json.loads(optgan("status", "trail", "--json", "--storage", url).stdout)["stages"][0]
    assert (gen["rounds_done"], gen["rounds_checkpointed"]) == (1, 0)
    assert run_with_fault("trail", url, None, timeout=600).returncode == 0
    text = optgan("status", "trail", "--storage", url).stdout
    assert "stage gen: 2/2 rounds" in text and "the checkpoint holds" not in text, text
