"""`evaluation: {kind: real}`: supernet training + batched metrics, with an atomic checkpoint.

The checkpoint (`<run_dir>/<stage>/checkpoint.pt`) holds the trainer's whole state (supernets,
optimizers, G copies, RNG states, data position), the number of completed rounds and whether
warm-up is done; it is written after warm-up and after every round, so a crash costs at most
the round in progress, which a rerun repeats identically.

Stage `disc` also keeps the weights G* started from (`<run_dir>/disc/g_star_start.pt`, written
when the stage first builds): a rebuild of a lost checkpoint starts from them, not from a stage-gen
supernet that trained on meanwhile, and a resume no longer needs stage gen's checkpoint.
"""

from __future__ import annotations

import logging
import math
import pathlib
from collections.abc import Sequence
from typing import cast


from optgan.atomic import remove_partial_writes
from optgan.backends import resolve_device
from optgan.engines.base import Engine, Evaluation
from optgan.errors import CheckpointError, ConfigError, OptganError
from optgan.metrics.cache import check_cache_dir
from optgan.metrics.extractor_base import create_extractor
from optgan.search_space import Genotype
from optgan.study.inputs import check_same_data, check_same_extractor, record_inputs
from optgan.trainer.checkpoint import atomic_torch_save, load_checkpoint
from optgan.trainer.data import load_images
from optgan.trainer.search_training import Stage, make_stage_trainer

__all__ = ["RealEngine", "best_index", "gen_checkpoint_path", "CHECKPOINT_NAME", "G_STAR_START_NAME"]

log = logging.getLogger(__name__)

CHECKPOINT_NAME = "checkpoint.pt"
G_STAR_START_NAME = "g_star_start.pt"
_FORMAT = 1


class RealEngine(Engine):
    def __init__(self, search, stage: str, gen_star: Genotype | None = None) -> None:  # noqa: ANN001
        super().__init__(search, stage)
        cfg = search.config
        try:
            self.device = resolve_device(cfg.device)
        except ConfigError as e:  # the search stores its device: say how to run it on this machine
            raise ConfigError(f"{e}; for this run: `optgan run {search.name} --set device=auto` (the search "
                              "keeps its stored device for later runs)") from None
        check_cache_dir(cfg.metrics.resolved_cache_dir,
                        f"pass a writable one with `optgan run {search.name} --set metrics.cache_dir=DIR`")
        self.images = load_images(cfg.data, cfg.widths.img_size)
        #: what this run found, recorded with its first checkpoint (a run that fails early records nothing)
        self._unrecorded_inputs = check_same_data(search, self.images)  # `run` may point at the data anew
        self.checkpoint_path = self.stage_dir / CHECKPOINT_NAME
        remove_partial_writes(self.checkpoint_path)  # a crash mid-write leaves a temporary file, never a torn one
        self.warmup_done = False
        gen_state, snapshot_due = self._g_star_weights(gen_star) if stage == "disc" else (None, False)
        self.trainer = make_stage_trainer(cfg, cast(Stage, stage), device=self.device, images=self.images,
                                          gen_genotype=gen_star, gen_supernet_state=gen_state)
        if snapshot_due:
            assert gen_star is not None  # the trainer refuses stage disc without G*
            self._save_g_star_start(gen_star)
        extractor = create_extractor(cfg.metrics, self.device, self.images)
        # before the reference statistics are computed with it
        self._unrecorded_inputs |= check_same_extractor(search, extractor.identity)
        self.evaluator = _make_evaluator(search, self.images, self.device, extractor)
        self.extractor_label = self.evaluator.label
        if self.checkpoint_path.exists():
            self._restore()

    # ------------------------------------------------------------------ round steps
    def prepare(self) -> None:
        if self.stage != "gen" or self.warmup_done:
            return
        epochs = self.search.config.gen_stage.warmup_epochs
        if epochs:
            log.info("stage gen: warm-up, %d epochs", epochs)
            stats = self.trainer.warmup(epochs)
            _check_stats(stats, "warm-up", self.search.name)
        self.warmup_done = True
        self.save(self.rounds_done)

    def train(self, population: Sequence[Genotype]) -> None:
        cfg = self.search.config
        epochs = (cfg.gen_stage if self.stage == "gen" else cfg.disc_stage).epochs_per_round
        stats = self.trainer.train_round(population, epochs)
        _check_stats(stats, f"round {self.rounds_done + 1}", self.search.name)

    def evaluate(self, population: Sequence[Genotype]) -> list[Evaluation]:
        candidates = self.trainer.candidates(population)
        evaluations = self.evaluator.evaluate(candidates, round_index=self.rounds_done, stage=self.stage)
        self._record_inputs()  # before these scores are told
        return evaluations

    def end_round(self, population: Sequence[Genotype], evaluations: Sequence[Evaluation]) -> None:
        self.trainer.end_round(population, best_index(evaluations, self.search.config.objectives))

    def save(self, rounds_done: int) -> None:
        self.rounds_done = rounds_done
        atomic_torch_save({"format": _FORMAT, "stage": self.stage, "rounds_done": rounds_done,
                           "warmup_done": self.warmup_done, "trainer": self.trainer.state_dict()},
                          str(self.checkpoint_path))
        self._record_inputs()

    def _record_inputs(self) -> None:
        record_inputs(self.search, self._unrecorded_inputs)
        self._unrecorded_inputs = {}

    # ------------------------------------------------------------------ checkpoint
    def _restore(self) -> None:
        try:
            state = load_checkpoint(str(self.checkpoint_path))
        except CheckpointError as e:
            raise CheckpointError(f"{e}; move it away and rerun to retrain stage {self.stage} from the start "
                                  "(the study's rounds are kept)") from e
        if state.get("format") != _FORMAT or state.get("stage") != self.stage:
            raise CheckpointError(f"{self.checkpoint_path} is not a stage-{self.stage} checkpoint of this optgan "
                                  "version")
        self.trainer.load_state_dict(state["trainer"])
        self.rounds_done = int(state["rounds_done"])
        self.warmup_done = bool(state["warmup_done"])
        self.restored = True
        log.info("stage %s: resumed from %s after %d rounds", self.stage, self.checkpoint_path, self.rounds_done)

    def _g_star_weights(self, gen_star: Genotype | None) -> tuple[dict | None, bool]:
        """Stage disc: the state G* starts from, and whether to snapshot it. None when the stage's
        checkpoint (which holds every G copy) is restored; else the start snapshot of an earlier
        build; else stage gen's supernet as it is now (snapshotted once the trainer is built)."""
        if gen_star is None or self.checkpoint_path.exists():
            return None, False
        path = self.stage_dir / G_STAR_START_NAME
        remove_partial_writes(path)
        if path.exists():
            try:
                snap = load_checkpoint(str(path))
                same = Genotype.from_json(snap["gen_star"], net="gen") == gen_star
            except (CheckpointError, OptganError, KeyError, TypeError, ValueError) as e:
                log.warning("stage disc: ignoring %s (%s); G* starts from stage gen's supernet as it is now",
                            path, str(e).splitlines()[0][:160] or type(e).__name__)
            else:
                if same:
                    log.info("stage disc: G* starts from the weights it had when the stage began (%s)", path)
                    return snap["g_star"], False
                log.warning("stage disc: %s holds another G*; G* starts from stage gen's supernet as it is now",
                            path)
        from optgan.study.results import completed_rounds

        if completed_rounds(self.search.study("disc"), self.search.config.sampler.population_size):
            # a stage begun without a snapshot (an older optgan): today's weights are not its start
            log.warning("stage disc: no record of the weights G* began with (%s); G* starts from stage gen's "
                        "supernet as it is now, which may have trained on since the stage began", path)
            return self._gen_supernet_state(), False
        return self._gen_supernet_state(), True

    def _save_g_star_start(self, gen_star: Genotype) -> None:
        weights = {k: v.detach().to("cpu", copy=True) for k, v in self.trainer.g_star_state().items()}
        atomic_torch_save({"format": _FORMAT, "gen_star": gen_star.to_json_dict(), "g_star": weights},
                          str(self.stage_dir / G_STAR_START_NAME))

    def _gen_supernet_state(self) -> dict:
        from optgan.engines.base import no_gen_supernet_error
        from optgan.trainer.search_training import gen_supernet_state_of

        path = gen_checkpoint_path(self.search)
        if not path.is_file():
            raise no_gen_supernet_error(self.search)
        return gen_supernet_state_of(load_checkpoint(str(path))["trainer"])


def gen_checkpoint_path(search) -> pathlib.Path:  # noqa: ANN001 - Search (import cycle)
    """Where stage `gen` keeps its checkpoint (stage `disc` starts from its G supernet)."""
    return search.run_dir / "gen" / CHECKPOINT_NAME


def best_index(evaluations: Sequence[Evaluation], objectives: Sequence[str]) -> int:
    """The round's best candidate for weight-resetting: lowest FID (else KID, else highest IS)."""
    key, sign = next(((k, s) for k, s in (("FID", 1.0), ("KID", 1.0), ("IS", -1.0))
                      if any(k in e.values for e in evaluations)), ("", 1.0))
    scores = [sign * e.values.get(key, math.nan) if e.reason is None else math.nan for e in evaluations]
    finite = [(s, i) for i, s in enumerate(scores) if math.isfinite(s)]
    return min(finite)[1] if finite else 0


def _check_stats(stats, what: str, search_name: str) -> None:  # noqa: ANN001 - RoundStats
    if stats.iterations and stats.nonfinite_steps:
        log.warning("%s: %d optimizer steps skipped on non-finite losses", what, stats.nonfinite_steps)
    if stats.iterations and not math.isfinite(stats.loss_d) and not math.isfinite(stats.loss_g):
        raise OptganError(f"{what}: every training loss was non-finite; the search stopped at its last checkpoint, "
                          "and a rerun repeats this deterministic round: start a new search with lower learning "
                          f"rates (`optgan study show {search_name}` prints this one's config)")


def _make_evaluator(search, images, device, extractor):  # noqa: ANN001, ANN202
    from optgan.engines.scoring import PopulationScorer

    return PopulationScorer(search.config, images, device, extractor=extractor)
