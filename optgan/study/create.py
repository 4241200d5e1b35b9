"""Creating a search: both stage studies in one transaction, under the search's run lease, with
its run directory claimed first (`optgan study create`), and the checks of `--dry-run`.

A crash or a database error at any moment leaves the whole search or none of it; the rerun of the
same command takes back the claim of a create that died (see README, "Crashes and resuming").
"""

from __future__ import annotations

import json
import logging
import pathlib
import uuid
from typing import Any

import optuna
import sqlalchemy.exc

from optgan import faults, keys
from optgan.config.base import to_dict
from optgan.config.study import StudyConfig, with_absolute_paths
from optgan.errors import StorageError
from optgan.study.run_dir_claim import RUN_DIR_OWNER, check_new_run_dir, claim_run_dir, database_file
from optgan.study.search import (
    METRIC_NAMES_ATTR,
    STAGES,
    Search,
    any_stage_exists,
    check_search_name,
    objective_names,
    stage_study_name,
)
from optgan.study.storage import db_error_reason, open_storage, study_names_for_create
from optgan.study.storage_url import default_run_root, parse_storage_url, redact, resolve_storage_url, sqlite_path

__all__ = ["create_search", "check_new_search", "check_name_and_storage"]

log = logging.getLogger(__name__)


def check_name_and_storage(name: str, storage_url: str | None = None) -> str:
    """Refuse, reading only, what :func:`create_search` would refuse first: a bad name, a storage
    it cannot open or use, a name the storage already has. Returns the resolved storage URL."""
    check_search_name(name)
    url = resolve_storage_url(storage_url)
    present = study_names_for_create(url)
    if any(stage_study_name(name, stage) in present for stage in STAGES):
        raise _exists_error(name, url)
    return url


def check_new_search(name: str, config: StudyConfig, storage_url: str | None = None) -> pathlib.Path:
    """What :func:`create_search` would refuse before touching the database (for `--dry-run`): the
    name, the storage URL and the run directory; returns the run directory it would claim."""
    url = check_name_and_storage(name, storage_url)
    root = _run_dir_for(name, config, url)
    try:
        check_new_run_dir(root, create=False)
    except StorageError:
        creator = _gone_lease_token(url, name)  # read only: a dry run creates no lease table
        if creator is None or not _is_claim_of(root, name, url, creator):
            raise
        check_new_run_dir(root, create=False, must_be_empty=False)  # (the create takes the claim back)
        log.info("run directory %s holds only the claim of a killed `optgan study create %s`, which the create "
                 "takes back", root, name)
    return root


def _exists_error(name: str, url: str) -> StorageError:
    return StorageError(f"a search named {name!r} already exists in {redact(url)}; pick another name (or "
                        "`optgan study delete` it)")


def _run_dir_for(name: str, config: StudyConfig, url: str, run_dir: str | None = None) -> pathlib.Path:
    return pathlib.Path(run_dir or config.run_dir or default_run_root(url) / name).expanduser().resolve()


def create_search(name: str, config: StudyConfig, storage_url: str | None = None,
                  run_dir: str | None = None) -> Search:
    """Create both stage studies of a new search; refuses an existing name."""
    check_search_name(name)
    config = with_absolute_paths(config)
    url = resolve_storage_url(storage_url)
    parse_storage_url(url)
    root = _run_dir_for(name, config, url, run_dir)
    db_file = sqlite_path(url)
    if db_file is not None and not db_file.exists():  # a new SQLite file holds no search yet:
        check_new_run_dir(root, create=False)  # judge the run directory before the file is made
    storage = open_storage(url)
    if any_stage_exists(storage, name):
        raise _exists_error(name, url)
    from optgan.study.lease import hold_lease

    # the search's run lease: one creator at a time, and the claim of a creator that died is known stale
    with hold_lease(storage.engine, name, force_unlock_flag=False) as lease:
        if any_stage_exists(storage, name):
            raise _exists_error(name, url)  # created while we waited for the lease
        _drop_interrupted_claim(root, name, url, lease.taken_over)
        check_new_run_dir(root, create=True)  # before the studies: a bad run directory leaves no half-made search
        search_id = uuid.uuid4().hex
        try:  # from the claim on: a stop (Ctrl-C, SIGTERM) can land anywhere
            claim_run_dir(root, name, url, search_id, creator=lease.token)
            faults.point("create")
            _create_studies(name, config, storage, root, search_id, url)
        except BaseException as e:
            made = _created(storage, name, search_id)  # True: the commit went through (only its reply was lost)
            if made is False:
                _unclaim(root, search_id)  # a create that failed must not leave the folder claimed
            if not isinstance(e, sqlalchemy.exc.SQLAlchemyError):
                raise  # a stop, a refusal (the name taken meanwhile), a full disk …
            if made is None:
                raise StorageError(f"the database failed while search {name!r} was being created and cannot tell "
                                   f"whether it was ({db_error_reason(e, url)}); once it answers, `optgan study list` "
                                   "shows it, or run the same command again") from None
            if made is False:
                raise StorageError(f"cannot create search {name!r} in {redact(url)}: {db_error_reason(e, url)}; "
                                   "nothing was created, run the same command again") from None
            log.warning("search %r: the database's reply to its creation was lost (%s), but it was created",
                        name, db_error_reason(e, url))
    log.info("created search %r in %s (run directory %s)", name, redact(url), root)
    return Search(name, config, storage, url, root, search_id)


def _create_studies(name: str, config: StudyConfig, storage: optuna.storages.RDBStorage,
                    root: pathlib.Path, search_id: str, url: str) -> None:
    """Both stage studies with their directions, metric names and attributes, in ONE transaction:
    a crash or a database error at any moment leaves the whole search or none of it."""
    import sqlalchemy.orm
    from optuna.storages._rdb import models
    from optuna.study import StudyDirection

    stored = json.dumps(to_dict(config))
    directions = [StudyDirection[d.upper()] for d in config.directions]
    names = json.dumps(objective_names(config))
    studies = []
    for stage in STAGES:
        other = STAGES[1 - STAGES.index(stage)]
        attrs = {keys.SEARCH_NAME: name, keys.STAGE: stage, keys.CONFIG: stored, keys.RUN_DIR: str(root),
                 keys.SEARCH_ID: search_id, keys.LINKED_STUDY: stage_study_name(name, other)}
        studies.append(models.StudyModel(
            study_name=stage_study_name(name, stage),
            directions=[models.StudyDirectionModel(objective=i, direction=d) for i, d in enumerate(directions)],
            user_attributes=[models.StudyUserAttributeModel(key=k, value_json=json.dumps(v)) for k, v in attrs.items()],
            system_attributes=[models.StudySystemAttributeModel(key=METRIC_NAMES_ATTR, value_json=names)]))
    try:
        with sqlalchemy.orm.Session(storage.engine) as session, session.begin():
            session.add_all(studies)
            session.flush()
            faults.point("create_commit")
    except sqlalchemy.exc.IntegrityError:  # a study of that name appeared (made outside optgan)
        raise _exists_error(name, url) from None


def _created(storage: optuna.storages.RDBStorage, name: str, search_id: str) -> bool | None:
    """Whether this create's studies exist (a study of that name made by someone else is not
    ours); None when the database cannot tell."""
    try:
        for stage in STAGES:
            try:
                study_id = storage.get_study_id_from_name(stage_study_name(name, stage))
            except KeyError:
                continue
            if storage.get_study_user_attrs(study_id).get(keys.SEARCH_ID) == search_id:
                return True
        return False
    except Exception:  # noqa: BLE001 - the database is gone: do not judge
        return None


def _unclaim(root: pathlib.Path, search_id: str) -> None:
    """Remove `root`'s claim if it is this create's (never another creator's)."""
    owner_file = root / RUN_DIR_OWNER
    try:
        if json.loads(owner_file.read_text(encoding="utf-8")).get("id") != search_id:
            return
    except (OSError, ValueError, AttributeError):
        return
    owner_file.unlink(missing_ok=True)


def _drop_interrupted_claim(root: pathlib.Path, name: str, url: str, taken_over: Any) -> None:
    """Remove the run directory's claim left by an `optgan study create` of this search that died
    before its studies were committed: the caller holds the search's lease, saw no study, and took
    that lease over from the dead creator that wrote the claim (its lease token is in the claim; a
    claim written for another database that the same storage string names, or by a live creator
    of such a database, is never taken). The folder holds nothing but `search.json`."""
    if taken_over is None or not _is_claim_of(root, name, url, taken_over.token):
        return  # no creator died holding this database's lease of the search, or not its claim
    (root / RUN_DIR_OWNER).unlink(missing_ok=True)
    log.warning("run directory %s held only the claim of an interrupted `optgan study create %s`: "
                "claimed again", root, name)


def _gone_lease_token(url: str, name: str) -> str | None:
    """The lease token of search `name`'s holder in the database of `url` if that holder is gone
    (e.g. a killed `study create`), read without writing anything; None otherwise or unreadable."""
    from optgan.study.lease import gone_holder_token
    from optgan.study.storage import read_only_engine

    try:
        engine = read_only_engine(url)
    except Exception:  # noqa: BLE001 - no database to read: no dead creator to know of
        return None
    try:
        return gone_holder_token(engine, name)
    finally:
        engine.dispose()


def _is_claim_of(root: pathlib.Path, name: str, url: str, creator: str) -> bool:
    """Whether `root` holds nothing but a claim that creator `creator` (a lease token) wrote for
    search `name` in the database of `url`."""
    try:
        if sorted(p.name for p in root.iterdir()) != [RUN_DIR_OWNER]:
            return False
        owner = json.loads((root / RUN_DIR_OWNER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False  # not ours to judge: the run-directory check says what is wrong
    return (isinstance(owner, dict) and owner.get("creator") == creator and owner.get("search") == name
            and owner.get("storage") == redact(url) and owner.get("database") == database_file(url))
