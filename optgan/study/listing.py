"""What `optgan study list` and `optgan study show` print: every search of a storage, or one in full.

Listing reads trial counts and start times in two queries over Optuna's tables (its study
summaries read every trial of every study: minutes on a team's PostgreSQL with hundreds of
searches), and whether a run holds each search now (:func:`optgan.study.lease.run_states`).
"""

from __future__ import annotations

import json
from typing import Any

from optgan import keys
from optgan.config.base import to_dict
from optgan.study.search import STAGES, Search, incomplete_search_error, stage_study_name
from optgan.study.storage import open_storage
from optgan.study.storage_url import redact, resolve_storage_url

__all__ = ["describe_search", "list_searches"]


def describe_search(search: Search) -> dict[str, Any]:
    """What `optgan study show` prints: where the search lives, its stored config, what its first
    real run loaded (data, extractor) and the G* of stage `disc` once fixed."""
    attrs = {}
    for stage in STAGES:
        try:
            study_id = search.storage.get_study_id_from_name(stage_study_name(search.name, stage))
        except KeyError:
            raise incomplete_search_error(search.name, search.storage_url, stage) from None
        attrs[stage] = search.storage.get_study_user_attrs(study_id)
    return {
        "search": search.name,
        "storage": redact(search.storage_url),
        "run_dir": str(search.run_dir),
        "search_id": search.search_id,
        "studies": [stage_study_name(search.name, stage) for stage in STAGES],
        "data_identity": attrs["gen"].get(keys.DATA_IDENTITY),
        "extractor_identity": attrs["gen"].get(keys.EXTRACTOR_IDENTITY),
        "gen_star": attrs["disc"].get(keys.GEN_STAR),
        "gen_star_source": attrs["disc"].get(keys.GEN_STAR_SOURCE),
        "config": to_dict(search.config),
    }


def list_searches(storage_url: str | None = None) -> list[dict[str, Any]]:
    """One row per search: name, trials per stage, when its first trial started (`started`, absent
    before it ran), whether a run holds it now (`run`, as :func:`optgan.study.lease.run_state`),
    the stage studies it lacks (`missing`: deleted behind optgan's back; normally empty), and the
    storage it was moved to (`moved_to`, None unless `optgan study move` moved it)."""
    from optgan.study.lease import run_states

    storage = open_storage(resolve_storage_url(storage_url), create=False)
    runs = run_states(storage.engine)
    rows: dict[str, dict[str, Any]] = {}
    for search, stage, n_trials, first_start, moved_to in _stage_study_rows(storage.engine):
        if stage not in STAGES:
            continue
        run = {"state": "unknown"} if runs is None else runs.get(search, {"state": "idle"})
        row = rows.setdefault(search, {"name": search, "gen_trials": 0, "disc_trials": 0, "run": run,
                                       "missing": list(STAGES), "moved_to": None})
        row["moved_to"] = row["moved_to"] or moved_to
        row[f"{stage}_trials"] = n_trials
        row["missing"].remove(stage)
        if first_start is not None:  # the stage's first trial; the search started with the earlier stage's
            started = first_start.isoformat(timespec="seconds")
            row["started"] = min(row.get("started", started), started)
    for row in rows.values():  # a stage study deleted behind optgan's back (e.g. in the dashboard)
        row["missing"] = [stage_study_name(row["name"], stage) for stage in row["missing"]]
    return sorted(rows.values(), key=lambda r: r["name"])


def _stage_study_rows(engine: Any) -> list[tuple[str, Any, int, Any, str | None]]:
    """(search name, stage, trial count, first trial's start, where it was moved) of every study optgan made, in two
    queries. (Optuna's study summaries read every trial of every study: minutes on a team's
    PostgreSQL that holds hundreds of searches.)"""
    import sqlalchemy as sa
    from optuna.storages._rdb import models

    attrs_t, trials_t = models.StudyUserAttributeModel.__table__, models.TrialModel.__table__
    with engine.connect() as conn:
        attrs = conn.execute(sa.select(attrs_t.c.study_id, attrs_t.c.key, attrs_t.c.value_json)
                             .where(attrs_t.c.key.in_([keys.SEARCH_NAME, keys.STAGE, keys.MOVED_TO]))).all()
        counts = {row.study_id: (row.n, row.first) for row in conn.execute(
            sa.select(trials_t.c.study_id, sa.func.count().label("n"), sa.func.min(trials_t.c.datetime_start)
                      .label("first")).group_by(trials_t.c.study_id))}
    studies: dict[int, dict[str, Any]] = {}
    for study_id, key, value in attrs:
        studies.setdefault(study_id, {})[key] = json.loads(value)
    return [(a[keys.SEARCH_NAME], a.get(keys.STAGE), *counts.get(study_id, (0, None)), a.get(keys.MOVED_TO))
            for study_id, a in sorted(studies.items()) if keys.SEARCH_NAME in a]
