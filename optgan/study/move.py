"""A search moved to another storage (`optgan study move`): from a laptop's SQLite file to the
team's PostgreSQL, from one SQLite file to another.

The copy is the same search: its id, config, every trial (WAITING ones too) with its lineage, G*,
the sampler's survivor records (trial ids, mapped to the new database's) and its run directory,
so `optgan run NAME --storage URL` goes on exactly as it would have gone on in the old database.
Under the search's run lease in both databases, the copy is written under temporary study names
(`.move-<id>:gen`, which no search can be named); the source is marked moved
(`optgan:moved_to`); then the copy takes its real names in one transaction. So the two never
both go on, a move stopped at any moment leaves the destination without the search or with all
of it, and running the same command again finishes it. The source stays readable (status, best,
export, report, compare, the dashboard), while run, extend and enqueue refuse it; `optgan study
delete` removes it.
"""

from __future__ import annotations

import json
import logging
import socket
from dataclasses import dataclass

import optuna
import sqlalchemy as sa
import sqlalchemy.orm

from optgan import faults, keys
from optgan.errors import StorageError
from optgan.study.run_dir_claim import RUN_DIR_OWNER, database_file
from optgan.study.search import STAGES, Search, stage_study_name, study_exists
from optgan.study.storage import open_storage
from optgan.study.storage_url import parse_storage_url, redact, sqlite_path

__all__ = ["Moved", "copy_trials", "move_search", "moved_to", "moved_to_in_file", "stored_url"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Moved:
    """What a move did: trials per stage, whether this call copied them (False: an earlier,
    interrupted call had), and whether the run directory's claim now names the destination."""

    trials: dict[str, int]
    copied: bool
    claim_updated: bool


def moved_to(storage: optuna.storages.BaseStorage, name: str) -> str | None:
    """Where search `name` of `storage` was moved (its URL, password hidden), or None."""
    try:
        study_id = storage.get_study_id_from_name(stage_study_name(name, "gen"))
    except KeyError:
        return None
    return storage.get_study_user_attrs(study_id).get(keys.MOVED_TO) or None


def move_search(search: Search, to_url: str) -> Moved:
    """Copy `search` to storage `to_url`, then mark it moved there (see the module doc).

    Refused (StorageError): the same database, a source already moved elsewhere, a run holding
    the search (its run lease), and another search of that name in the destination. Holds the run
    lease of the search in both databases while it works. Called again for the same destination
    (after a stop, or where the run directory is), it finishes what is left: the copy, the mark,
    the run directory's claim.
    """
    from optgan.study.lease import hold_lease

    name = search.name
    parse_storage_url(to_url)
    if _same_database(search.storage_url, to_url):
        raise StorageError(f"search {name!r} is already in {redact(to_url)}: move it to another database")
    with hold_lease(search.storage.engine, name, force_unlock_flag=False):
        if (where := moved_to(search.storage, name)) not in (None, stored_url(to_url)):
            raise StorageError(f"search {name!r} was already moved to {where}")  # to the same place: finished again
        # opened only now: the refusals above leave no new database file behind
        dest = open_storage(to_url)
        with hold_lease(dest.engine, name, force_unlock_flag=False):
            return _move_under_leases(search, dest, to_url, where)


def _move_under_leases(search: Search, dest: optuna.storages.RDBStorage, to_url: str, where: str | None) -> Moved:
    """The move itself, both leases held; `where`: the source's `optgan:moved_to` (None: not marked)."""
    name = search.name
    there = _identity_in(dest, name)
    if there is not None and (there != _identity(search.storage, name) or where is None):
        raise StorageError(f"a search named {name!r} already exists in {redact(to_url)} (a copy of the database "
                           f"file, or another search); delete it there (`optgan study delete {name} --storage "
                           "URL`) or move this one elsewhere")
    copied = there is None
    if copied:  # copy, freeze the source, then name the copy: the two never both go on
        temporary = _copy(search, dest, to_url)
        faults.point("move_copied")
        _mark_moved(search, to_url)
        faults.point("move_marked")
        _rename(search, dest, to_url, temporary)
    trials = {stage: len(dest.get_all_trials(dest.get_study_id_from_name(stage_study_name(name, stage)),
                                              deepcopy=False)) for stage in STAGES}
    claimed = _claim_for(search, to_url)
    log.info("moved search %r from %s to %s", name, redact(search.storage_url), redact(to_url))
    return Moved(trials, copied, claimed)


def stored_url(url: str) -> str:
    """`url` as a search records it (`optgan:moved_to`): an SQLite file by its absolute path, the
    password of any other URL hidden."""
    path = database_file(url)
    return f"sqlite:///{path}" if path is not None else redact(url)


def moved_to_in_file(db_file: str, name: str) -> str | None:
    """Where search `name` of the SQLite file `db_file` was moved (URL, password hidden), read
    without writing anything; None when it was not, or when the file cannot be read as a search's."""
    from optuna.storages._rdb import models

    from optgan.study.storage import read_only_engine

    studies, attrs = models.StudyModel.__table__, models.StudyUserAttributeModel.__table__
    try:
        engine = read_only_engine(f"sqlite:///{db_file}")
    except Exception:  # noqa: BLE001 - not a database we can read: not known to be moved
        return None
    try:
        with engine.connect() as conn:
            value = conn.execute(sa.select(attrs.c.value_json).join(studies, studies.c.study_id == attrs.c.study_id)
                                 .where(studies.c.study_name == stage_study_name(name, "gen"),
                                        attrs.c.key == keys.MOVED_TO)).scalar()
    except sa.exc.SQLAlchemyError:
        return None
    finally:
        engine.dispose()
    return json.loads(value) if value is not None else None


def _same_database(a: str, b: str) -> bool:
    pa, pb = sqlite_path(a), sqlite_path(b)
    if pa is not None or pb is not None:
        return pa is not None and pb is not None and pa.resolve() == pb.resolve()
    return redact(a) == redact(b)


def _identity(storage: optuna.storages.BaseStorage, name: str) -> tuple[str | None, str | None]:
    attrs = storage.get_study_user_attrs(storage.get_study_id_from_name(stage_study_name(name, "gen")))
    return attrs.get(keys.SEARCH_ID), attrs.get(keys.RUN_DIR)


def _identity_in(storage: optuna.storages.BaseStorage, name: str) -> tuple[str | None, str | None] | None:
    """The identity (id, run directory) of the search `name` in `storage`, None when there is none;
    one stage study alone is another search's (never this move's, whose studies appear together)."""
    present = [stage for stage in STAGES if study_exists(storage, stage_study_name(name, stage))]
    if not present:
        return None
    if len(present) < len(STAGES):
        return ("?", "?")
    return _identity(storage, name)


def _temporary_name(search: Search, stage: str) -> str:
    tag = search.search_id or search.name
    return f".move-{tag}:{stage}"


def _mark_moved(search: Search, to_url: str) -> None:
    for stage in STAGES:
        study_id = search.storage.get_study_id_from_name(stage_study_name(search.name, stage))
        search.storage.set_study_user_attr(study_id, keys.MOVED_TO, stored_url(to_url))


def _copy(search: Search, dest: optuna.storages.RDBStorage, to_url: str) -> dict[str, str]:
    """Both stage studies into `dest` under temporary names (left over ones of an interrupted
    move are dropped first); returns those names by stage."""
    src, temporary = search.storage, {stage: _temporary_name(search, stage) for stage in STAGES}
    for stage in STAGES:
        try:
            dest.delete_study(dest.get_study_id_from_name(temporary[stage]))
        except KeyError:
            pass
    for stage in STAGES:
        from_id = src.get_study_id_from_name(stage_study_name(search.name, stage))
        to_id = dest.create_new_study(src.get_study_directions(from_id), temporary[stage])
        for key, value in src.get_study_user_attrs(from_id).items():
            if key != keys.SEARCH_NAME:  # written with the real names: no listing shows a half copy
                dest.set_study_user_attr(to_id, key, value)
        dest.set_study_user_attr(to_id, keys.MOVED_FROM, redact(search.storage_url))
        new_ids = copy_trials(src, from_id, dest, to_id)  # the source's trial ids -> the copy's
        log.info("moving %r: copied %d trials of stage %s", search.name, len(new_ids), stage)
        for key, value in src.get_study_system_attrs(from_id).items():
            if key.startswith(keys.SURVIVORS_PREFIX):  # the sampler's survivors, by trial id
                value = [new_ids[i] for i in value]
            dest.set_study_system_attr(to_id, key, value)
    return temporary


#: Optuna's per-trial tables (each row names its trial by `trial_id`); heartbeats are not copied
_TRIAL_TABLES = ("TrialParamModel", "TrialValueModel", "TrialIntermediateValueModel", "TrialUserAttributeModel",
                 "TrialSystemAttributeModel")


def copy_trials(src: optuna.storages.RDBStorage, from_id: int, dest: optuna.storages.RDBStorage,
                to_id: int) -> dict[int, int]:
    """Every trial of study `from_id` in `src`, row for row (number, state, times, params, values,
    intermediate values, user and system attrs), into the empty study `to_id` of `dest`, in one
    transaction of bulk inserts; returns {source trial id: copy's trial id}.

    Optuna's own path (`create_new_trial` with a template, as `optuna.copy_study` does) makes
    some 98 SQL statements a trial; this makes a few a table (bench/move.py measures both). Both
    databases are at the schema of the Optuna that opened them, so the tables match.
    """
    from optuna.storages._rdb import models

    trials_t = models.TrialModel.__table__
    tables = [getattr(models, name).__table__ for name in _TRIAL_TABLES]
    with src.engine.connect() as conn:
        trials = [dict(r) for r in conn.execute(sa.select(trials_t).where(trials_t.c.study_id == from_id)
                                                .order_by(trials_t.c.number)).mappings()]
        rows = {t.name: [dict(r) for r in conn.execute(
            sa.select(*t.c).join_from(t, trials_t, t.c.trial_id == trials_t.c.trial_id)
            .where(trials_t.c.study_id == from_id).order_by(*t.primary_key.columns)).mappings()] for t in tables}
    numbers = {t["trial_id"]: t["number"] for t in trials}
    with dest.engine.begin() as conn:
        if conn.execute(sa.select(sa.func.count()).where(trials_t.c.study_id == to_id)).scalar():
            raise StorageError(f"copying trials into {redact(dest.engine.url.render_as_string(hide_password=True))}: "
                               "the study already had trials; nothing was copied")
        if trials:
            conn.execute(sa.insert(trials_t), [{**t, "study_id": to_id} for t in _without_key(trials, trials_t)])
        by_number: dict[int, int] = {number: trial_id for number, trial_id in conn.execute(
            sa.select(trials_t.c.number, trials_t.c.trial_id).where(trials_t.c.study_id == to_id))}
        new_ids = {old: by_number[number] for old, number in numbers.items()}
        for t in tables:
            if rows[t.name]:
                conn.execute(sa.insert(t), [{**r, "trial_id": new_ids[r["trial_id"]]}
                                            for r in _without_key(rows[t.name], t)])
    return new_ids


def _without_key(rows: list[dict], table: sa.Table) -> list[dict]:
    """`rows` of `table` without its primary key (the destination numbers rows anew)."""
    keys_ = {c.name for c in table.primary_key.columns}
    return [{k: v for k, v in row.items() if k not in keys_} for row in rows]


def _rename(search: Search, dest: optuna.storages.RDBStorage, to_url: str, temporary: dict[str, str]) -> None:
    """Give the copied studies their real names (and the search name that lists them), both in
    one transaction."""
    from optuna.storages._rdb import models

    try:
        with sqlalchemy.orm.Session(dest.engine) as session, session.begin():
            for stage in STAGES:
                row = session.execute(sa.select(models.StudyModel).where(
                    models.StudyModel.study_name == temporary[stage])).scalar_one()
                row.study_name = stage_study_name(search.name, stage)
                session.add(models.StudyUserAttributeModel(study_id=row.study_id, key=keys.SEARCH_NAME,
                                                           value_json=json.dumps(search.name)))
    except sa.exc.IntegrityError:  # a study of that name appeared (made outside optgan)
        raise StorageError(f"a study of search {search.name!r} appeared in {redact(to_url)} during the move; delete "
                           "it there and run the same command again") from None


def _claim_for(search: Search, to_url: str) -> bool:
    """Make the run directory's `search.json` name the destination (it names the database the
    folder serves), when the folder is here and is this search's."""
    owner_file = search.run_dir / RUN_DIR_OWNER
    try:
        owner = json.loads(owner_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(owner, dict) or owner.get("id") != search.search_id:
        return False
    from optgan.atomic import atomic_write_bytes

    record = {**owner, "storage": redact(to_url), "database": database_file(to_url), "host": socket.gethostname()}
    atomic_write_bytes(owner_file, json.dumps(record).encode())
    return True
