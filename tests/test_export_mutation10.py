"""`optgan.export` on hand-made checkpoints: which file a run folder resolves to, the errors a
damaged architecture record or an unfinished run give, and the state of the rebuilt generator.

Checkpoints are written directly (the header keys `optgan train` writes, tiny widths), so the
tests take well under a second and need no training run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from optgan.errors import CheckpointError
from optgan.export import generator_from_checkpoint, load_generator, read_training_checkpoint, resolve_checkpoint_path
from optgan.search_space import Widths, random_genotype
from optgan.supernet import build_generator

W = Widths(gf_dim=8, df_dim=8, latent_dim=12, bottom_width=1)
G = random_genotype("gen", np.random.default_rng(3))


def _checkpoint(seed: int = 0) -> dict[str, Any]:
    """The keys `optgan train` writes that `optgan.export` reads; EMA weights differ from the raw ones."""
    g = build_generator(G, W, generator=torch.Generator().manual_seed(seed))
    raw = {k: v.clone() for k, v in g.state_dict().items()}
    ema = {k: (v + 0.5 if v.is_floating_point() else v.clone()) for k, v in raw.items()}
    arch = {"gen": G.to_json_dict(), "widths": {"gf_dim": 8, "df_dim": 8, "latent_dim": 12, "bottom_width": 1}}
    return {"format": "optgan.final-training", "arch": arch, "gen": raw, "gen_ema": ema}


def test_a_run_folder_resolves_to_its_best_checkpoint_else_its_last(tmp_path: Path) -> None:
    """`load_generator(run_dir)` uses checkpoint-best.pt when both exist (the evaluated best epoch),
    checkpoint-last.pt only when there is no best one yet."""
    torch.save(_checkpoint(0), tmp_path / "checkpoint-last.pt")
    assert resolve_checkpoint_path(str(tmp_path)) == str(tmp_path / "checkpoint-last.pt")
    torch.save(_checkpoint(1), tmp_path / "checkpoint-best.pt")
    assert resolve_checkpoint_path(str(tmp_path)) == str(tmp_path / "checkpoint-best.pt")
    assert read_training_checkpoint(str(tmp_path))["path"] == str(tmp_path / "checkpoint-best.pt")


def test_a_missing_checkpoint_file_is_named(tmp_path: Path) -> None:
    """A path that is neither a folder nor a file is a one-line CheckpointError naming it."""
    with pytest.raises(CheckpointError, match="checkpoint not found: .*nope.pt"):
        resolve_checkpoint_path(str(tmp_path / "nope.pt"))


def test_a_run_folder_whose_training_still_runs_says_to_retry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run folder without checkpoints whose training process holds its marker: the error names the
    holder and says to retry later, not that the training stopped (which asks for a rerun)."""
    from optgan.trainer import run_lock
    from optgan.trainer.final_outputs import RUN_MARKER

    (tmp_path / RUN_MARKER).write_text("")
    monkeypatch.setattr(run_lock, "training_holder", lambda marker: "PID 7 on host h (since t)")
    with pytest.raises(CheckpointError, match=r"its training \(PID 7 on host h \(since t\)\) saves one .*retry later"):
        resolve_checkpoint_path(str(tmp_path))


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        (lambda a: a.update(widths=None), "the architecture record is malformed"),  # TypeError
        (lambda a: a["widths"].update(depth=3), "the architecture record is malformed"),  # TypeError
        (lambda a: a.pop("widths"), "the architecture record is malformed"),  # KeyError
        (lambda a: a["widths"].update(latent_dim=13), "must be divisible by 3"),  # ConfigError
        (lambda a: a.update(gen={"net": "disc", "array": a["gen"]["array"]}), "expected a gen genotype"),  # GenotypeError
    ],
    ids=["widths-null", "widths-unknown-key", "widths-missing", "widths-invalid", "genotype-of-a-disc"],
)
def test_a_damaged_architecture_record_is_a_checkpoint_error(tmp_path: Path, edit, needle: str) -> None:  # noqa: ANN001
    """Whatever is wrong with the stored genotype or widths, the caller gets a CheckpointError that
    names the file (what the CLI turns into a one-line error), never a bare TypeError / ConfigError."""
    ck = _checkpoint()
    edit(ck["arch"])
    ck["path"] = str(tmp_path / "c.pt")
    with pytest.raises(CheckpointError, match=needle) as info:
        generator_from_checkpoint(ck)
    assert str(info.value).startswith(str(tmp_path / "c.pt"))


def test_the_rebuilt_generator_is_in_eval_mode_with_the_chosen_weights(tmp_path: Path) -> None:
    """`load_generator` returns the network in eval mode (BN running statistics: a batch of one
    image works) holding the EMA weights, or the raw ones with `ema=False`."""
    ck = _checkpoint()
    torch.save(ck, tmp_path / "checkpoint-last.pt")
    for ema, key in ((True, "gen_ema"), (False, "gen")):
        net = load_generator(str(tmp_path), ema=ema)
        assert not net.training and not any(m.training for m in net.modules())
        state = net.state_dict()
        assert all(torch.equal(state[k], v) for k, v in ck[key].items())
        assert net(torch.zeros(1, W.latent_dim)).shape == (1, 3, 8, 8)
