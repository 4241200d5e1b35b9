"""The real engine's round steps against a recording trainer (no networks, no metrics): each stage
trains its own epochs per round and weight-resets to the round's best candidate (SPEC §3)."""

from __future__ import annotations

import math
import types

import pytest

from optgan.config.search import DiscStageConfig, GenStageConfig
from optgan.config.study import StudyConfig
from optgan.engines.base import Evaluation
from optgan.engines.real import RealEngine, best_index
from optgan.errors import OptganError
from optgan.trainer.search_training import RoundStats


class _Trainer:
    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def train_round(self, population, epochs):
        self.calls.append(("train", list(population), epochs))
        return RoundStats(4, 1.0, -1.0, 0)

    def end_round(self, population, best):
        self.calls.append(("end", list(population), best))


def _engine(stage: str) -> RealEngine:
    engine = object.__new__(RealEngine)  # the round steps only: no data, trainer or metrics built
    config = StudyConfig(gen_stage=GenStageConfig(epochs_per_round=3), disc_stage=DiscStageConfig(epochs_per_round=7))
    engine.search = types.SimpleNamespace(config=config, name="s")
    engine.stage, engine.rounds_done, engine.trainer = stage, 0, _Trainer()
    return engine


@pytest.mark.parametrize(("stage", "epochs"), [("gen", 3), ("disc", 7)])
def test_each_stage_trains_its_own_epochs_per_round(stage: str, epochs: int) -> None:
    engine = _engine(stage)
    engine.train(["a", "b"])
    assert engine.trainer.calls == [("train", ["a", "b"], epochs)]


def test_end_round_resets_to_the_rounds_best_candidate() -> None:
    engine = _engine("disc")
    evaluations = [Evaluation(values={"FID": 9.0}), Evaluation(values={"FID": 1.0}), Evaluation(values={"FID": 4.0})]
    engine.end_round(["a", "b", "c"], evaluations)
    assert engine.trainer.calls == [("end", ["a", "b", "c"], 1)]


def test_best_index_prefers_fid_over_kid_and_is() -> None:
    """SPEC §3's best D: lowest FID when the round has FID, whatever KID and IS say."""
    def ev(**values: float) -> Evaluation:
        return Evaluation(values=values)

    assert best_index([ev(FID=1.0, KID=0.5, IS=1.0), ev(FID=2.0, KID=0.1, IS=9.0)], ["FID", "KID", "IS"]) == 0
    assert best_index([ev(KID=0.5, IS=9.0), ev(KID=0.1, IS=1.0)], ["IS", "KID"]) == 1
    assert best_index([ev(FID=math.nan, KID=0.1), ev(FID=3.0, KID=0.9)], ["FID", "KID"]) == 1


def test_a_round_stops_only_when_every_loss_was_nonfinite(caplog) -> None:
    """One network's losses all non-finite (its steps skipped) is a warning; both is the stop."""
    engine = _engine("gen")
    engine.trainer.train_round = lambda population, epochs: RoundStats(4, math.nan, -1.0, 4)
    engine.train(["a"])
    assert "4 optimizer steps skipped" in caplog.text
    engine.trainer.train_round = lambda population, epochs: RoundStats(4, math.nan, math.nan, 8)
    with pytest.raises(OptganError, match="every training loss was non-finite"):
        engine.train(["a"])
