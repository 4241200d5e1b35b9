"""Pictures of a running search, stored where optuna-dashboard shows them.

Optuna refuses to change a finished trial (`upload_artifact` writes a trial system attr, and
`UpdateFinishedTrialError` is raised once the trial is told), so the runner calls

- :func:`record_trial_artifacts` for every trial *before its tell*: the architecture picture
  and, when the engine returned images (`Evaluation.samples`), a sample grid, uploaded as
  trial artifacts into the search's artifact store, their ids stored as the trial user attrs
  `arch_picture_artifact` / `sample_grid_artifact`;
- :func:`record_round` once per round *after the tells*: the round's Pareto picture and the
  learning curves, written to `<run_dir>/<stage>/pictures/` and uploaded as study artifacts,
  and the study note (Markdown, :mod:`optgan.study.study_note`) updated.

A picture never stops a search: failures are logged as warnings (`optgan report` redraws the
round pictures from the study at any time). Re-running an interrupted round reuses the round
pictures its first run uploaded (they are drawn from the same stored trials); a trial cut off
between its picture uploads and its tell is re-scored by the re-run, and its new pictures replace
the old ones: a trial's picture ids are fixed (:func:`trial_artifact_id`), so nothing is listed
twice and nothing is left unreferenced.
"""

from __future__ import annotations

import hashlib
import json
import logging
import mimetypes
import pathlib
import shutil
import tempfile
import uuid
from typing import TYPE_CHECKING, Any

import optuna
from optuna.artifacts import get_all_artifact_meta, upload_artifact
from optuna.artifacts._upload import ARTIFACTS_ATTR_PREFIX  # private: optgan/optuna_support.py
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import FrozenTrial

from optgan import keys
from optgan.errors import StorageError
from optgan.search_space import Genotype
from optgan.atomic import write_atomically
from optgan.study.artifacts import ARTIFACTS_DIRNAME, search_artifact_store
from optgan.study.pictures import save_sample_grid
from optgan.study.results import choose_best
from optgan.study.stage_pictures import (StageData, draw_architecture, draw_learning_curves, draw_pareto,
                                         stage_data)
from optgan.study.study_note import NoteInputs, stage_note_markdown, trial_note_markdown

if TYPE_CHECKING:
    from optgan.engines.base import Evaluation
    from optgan.study.search import Search

__all__ = ["PICTURES_DIRNAME", "pictures_dir", "record_trial_artifacts", "record_round", "choice_rule",
           "architecture_png"]

log = logging.getLogger(__name__)

PICTURES_DIRNAME = "pictures"


def pictures_dir(run_dir: pathlib.Path, stage: str) -> pathlib.Path:
    """`<run_dir>/<stage>/pictures/` (created)."""
    path = pathlib.Path(run_dir) / stage / PICTURES_DIRNAME
    path.mkdir(parents=True, exist_ok=True)
    return path


def architecture_png(search: Search, genotype: Genotype) -> pathlib.Path:
    """The genotype's picture, drawn once per distinct genotype (`pictures/arch/<hash>.png`)."""
    digest = hashlib.sha1(genotype.to_json().encode()).hexdigest()[:16]
    path = pictures_dir(search.run_dir, genotype.net) / "arch" / f"{digest}.png"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.png")
        draw_architecture(genotype, search.config.widths, tmp)
        tmp.replace(path)  # atomic: a concurrent reader never sees half a file
    return path


def record_trial_artifacts(search: Search, study: optuna.Study, trial: FrozenTrial, genotype: Genotype,
                           evaluation: Evaluation) -> dict[str, str]:
    """Upload a RUNNING trial's pictures and store their artifact ids as its user attrs.

    Call it before the trial is told. Returns `{user attr key: artifact id}` ({} on failure).
    """
    cfg = search.config.pictures
    ids: dict[str, str] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="optgan-pictures-") as tmp:
            folder = pathlib.Path(tmp)
            pictures: dict[str, pathlib.Path] = {}
            if cfg.architecture:
                pictures[keys.ARCH_PICTURE_ARTIFACT] = path = folder / f"arch-trial-{trial.number:04d}.png"
                shutil.copyfile(architecture_png(search, genotype), path)
            samples = getattr(evaluation, "samples", None)
            if cfg.sample_grid and samples is not None:
                pictures[keys.SAMPLE_GRID_ARTIFACT] = save_sample_grid(
                    samples[: cfg.grid_images], folder / f"samples-trial-{trial.number:04d}.png")
            for key, path in pictures.items():
                ids[key] = _put(search.run_dir, path, trial, study, trial_artifact_id(search, trial, key))
        for key, artifact_id in ids.items():
            study._storage.set_trial_user_attr(trial._trial_id, key, artifact_id)
    except UpdateFinishedTrialError:  # finished elsewhere meanwhile (the runner keeps it as it is)
        log.warning("trial %d: could not store its pictures: it was finished elsewhere meanwhile", trial.number)
        return {}
    except StorageError:  # the lease lost, the database gone: the run stops, not only its pictures
        raise
    except Exception:  # noqa: BLE001 - pictures must never stop a search
        log.warning("trial %d: could not store its pictures", trial.number, exc_info=True)
        return {}
    return ids


#: namespace of the trial pictures' artifact ids (uuid5: one id per search, trial and picture)
_TRIAL_ARTIFACTS = uuid.UUID("5b0f6a3e-6f1d-4c43-9a43-0b4e8c1d7f21")


def trial_artifact_id(search: Search, trial: FrozenTrial, key: str) -> str:
    """The artifact id of picture `key` of `trial`: the same every time the trial is scored, so a
    trial re-scored after a crash (at any point of its uploads) replaces its pictures in place."""
    return str(uuid.uuid5(_TRIAL_ARTIFACTS, f"{search.search_id or search.name}/{trial._trial_id}/{key}"))


def _upload(store: Any, path: pathlib.Path, target: FrozenTrial | optuna.Study, study: optuna.Study) -> str:
    return upload_artifact(artifact_store=store, file_path=str(path), study_or_trial=target,
                           storage=study._storage, mimetype="image/png")


def _put(run_dir: pathlib.Path, path: pathlib.Path, trial: FrozenTrial, study: optuna.Study, artifact_id: str) -> str:
    """Store `path` as artifact `artifact_id` of `trial`, new or in place of an earlier one: its
    record as `upload_artifact` writes it, then its file, atomically (a dashboard never reads half
    a picture, a failed write keeps the old one)."""
    meta = {"artifact_id": artifact_id, "filename": path.name, "mimetype": "image/png",
            "encoding": mimetypes.guess_type(path.name)[1]}
    # the record first: a trial finished elsewhere meanwhile refuses it before its file is touched
    study._storage.set_trial_system_attr(trial._trial_id, ARTIFACTS_ATTR_PREFIX + artifact_id, json.dumps(meta))
    data = path.read_bytes()
    write_atomically(run_dir / ARTIFACTS_DIRNAME / artifact_id, lambda f: f.write(data), fault_point=False)
    return artifact_id


def choice_rule(objectives: list[str], directions: list[str], labels: list[str] | None = None) -> str:
    """How `optgan.study.results.choose_best` picks, in words (`labels`: the objectives' display names)."""
    key = next((o for o in ("FID", "KID", "IS") if o in objectives), objectives[0])
    j = objectives.index(key)
    best = "highest" if directions[j] == "maximize" else "lowest"
    return f"{best} {(labels or objectives)[j]} on the last round's Pareto front"


def record_round(search: Search, stage: str, study: optuna.Study, generation: int) -> dict[str, pathlib.Path]:
    """After the tells of `generation`: round pictures (files + study artifacts) and the note.

    Returns `{caption: PNG path}` of the pictures written ({} when off or on failure).
    """
    cfg = search.config
    if not cfg.pictures.rounds:
        return {}
    try:
        return _record_round(search, stage, study, generation)
    except StorageError:  # the lease lost, the database gone: the run stops, not only its pictures
        raise
    except OSError as e:  # the file system (full, deleted run directory, …): one line
        log.warning("stage %s round %d: could not store the round pictures (%s)", stage, generation + 1, e)
    except Exception:  # noqa: BLE001 - pictures must never stop a search; anything else is a bug: its traceback
        log.warning("stage %s round %d: could not store the round pictures", stage, generation + 1, exc_info=True)
    return {}


def _record_round(search: Search, stage: str, study: optuna.Study, generation: int) -> dict[str, pathlib.Path]:
    cfg = search.config
    data = stage_data(study)
    total = (cfg.gen_stage if stage == "gen" else cfg.disc_stage).rounds
    done = generation + 1 >= total
    chosen = choose_best(study, list(cfg.objectives)) if done and data.rounds else None
    folder = pictures_dir(search.run_dir, stage)
    drawn = {
        f"Pareto front, round {generation + 1}": draw_pareto(data, generation, folder,
                                                             chosen=chosen.number if chosen else None),
        f"Learning curves, rounds 1–{generation + 1}": draw_learning_curves(data, generation, folder),
    }
    written = {cap: p for cap, p in drawn.items() if p is not None}
    store = search_artifact_store(search.run_dir)
    # a re-run of an interrupted round draws the same pictures from the same stored trials:
    # reuse what the first run uploaded instead of listing every picture twice
    uploaded = {m.filename: m.artifact_id for m in get_all_artifact_meta(study, storage=study._storage)}
    urls = {cap: f"/artifacts/{study._study_id}/{uploaded.get(p.name) or _upload(store, p, study, study)}"
            for cap, p in written.items()}
    chosen_picture = None
    if chosen is not None and keys.ARCH_PICTURE_ARTIFACT in chosen.user_attrs:
        chosen_picture = f"/artifacts/{study._study_id}/{chosen._trial_id}/{chosen.user_attrs[keys.ARCH_PICTURE_ARTIFACT]}"
    inputs = NoteInputs(search_name=search.name, stage=stage, study_attrs=study.user_attrs,
                        rounds_done=generation + 1, rounds_total=total, pictures=urls, chosen=chosen,
                        chosen_picture=chosen_picture, rule=choice_rule(list(cfg.objectives), cfg.directions, search.labels))
    from optuna_dashboard import save_note

    save_note(study, stage_note_markdown(cfg, data, inputs))
    _save_trial_notes(study, data, generation)
    return written


class _TrialRef:
    """What `optuna_dashboard.save_note` reads from a trial (storage, study, id).

    A finished trial cannot be wrapped in `optuna.Trial` (its constructor calls the sampler's
    `before_trial`); trial notes themselves are study system attrs, writable at any time.
    """

    def __init__(self, study: optuna.Study, trial_id: int) -> None:
        self.study = study
        self.storage = study._storage
        self._trial_id = trial_id


def _save_trial_notes(study: optuna.Study, data: StageData, generation: int) -> None:
    from optuna_dashboard import save_note

    front = data.front_numbers(generation)
    for t in data.all_rounds.get(generation, []):
        base = f"/artifacts/{study._study_id}/{t._trial_id}/"
        urls = {cap: base + t.user_attrs[key] for cap, key in
                (("sample grid", keys.SAMPLE_GRID_ARTIFACT), ("architecture", keys.ARCH_PICTURE_ARTIFACT))
                if key in t.user_attrs}
        save_note(_TrialRef(study, t._trial_id),  # type: ignore[arg-type]
                  trial_note_markdown(t, data, on_front=t.number in front, urls=urls))
