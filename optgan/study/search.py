"""A search = two linked Optuna studies (`NAME:gen`, `NAME:disc`) plus a run directory.

:func:`optgan.study.create.create_search` makes one: it stores the resolved config on both
studies (a later `optgan run` reads it from there, never from flags), their objective names and
the link between stages. `load_search` reopens it with the sampler rebuilt from the stored
config, so a resumed study never silently falls back to Optuna's default sampler. This module
checks and adopts the run directory (its claim, `search.json`, is :mod:`optgan.study.run_dir_claim`);
listing searches is :mod:`optgan.study.listing`.
"""

from __future__ import annotations

import difflib
import functools
import json
import logging
import os
import pathlib
import re
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import optuna

from optgan import keys
from optgan.atomic import atomic_write_bytes, writable_dir_problem
from optgan.config.study import StudyConfig, study_config_from_dict
from optgan.errors import StorageError
from optgan.sampler import make_sampler
from optgan.study.run_dir_claim import RUN_DIR_OWNER, check_new_run_dir, claim_run_dir, database_file
from optgan.study.storage import open_storage, refuse_if_read_only
from optgan.study.storage_url import redact, resolve_storage_url

__all__ = ["STAGES", "Search", "load_search", "load_search_ref", "search_ref", "stage_study_name", "check_search_name",
           "incomplete_search_error", "stage_studies_present", "study_exists"]

log = logging.getLogger(__name__)

STAGES = ("gen", "disc")


def stage_study_name(name: str, stage: str) -> str:
    """The Optuna study name of one stage of search `name`."""
    return f"{name}:{stage}"


@dataclass
class Search:
    """An opened search: its config, storage, run directory and the two stage studies."""

    name: str
    config: StudyConfig
    storage: optuna.storages.RDBStorage
    storage_url: str
    run_dir: pathlib.Path
    search_id: str | None = None  #: None for searches created before run directories were claimed

    @functools.cached_property
    def labels(self) -> list[str]:
        """The objectives as shown to people: metric scores labelled by their extractor
        (`FID_classifier`, never a bare `FID`, for the classifier extractor). Read once."""
        try:  # as stored at create (what the dashboard, notes and pictures show): a search created
            # before a labelling change keeps its names everywhere
            study_id = self.storage.get_study_id_from_name(stage_study_name(self.name, "gen"))
            stored = self.storage.get_study_system_attrs(study_id).get(METRIC_NAMES_ATTR)
        except KeyError:
            stored = None
        return list(stored) if stored else objective_names(self.config)

    def stored_config(self) -> StudyConfig:
        """The config as storage holds it now: a command that loaded the search before taking its
        run lease reads it again under the lease (a `study extend` may have changed it meanwhile).
        Refused (StorageError) for a search moved to another storage: what changes it (run, extend,
        enqueue) must go on there."""
        try:
            study_id = self.storage.get_study_id_from_name(stage_study_name(self.name, "gen"))
        except KeyError:
            raise incomplete_search_error(self.name, self.storage_url, "gen") from None
        attrs = self.storage.get_study_user_attrs(study_id)
        if attrs.get(keys.MOVED_TO):
            raise StorageError(f"search {self.name!r} was moved to {attrs[keys.MOVED_TO]} (`optgan study move`): go "
                               f"on there with --storage URL; this copy in {redact(self.storage_url)} is kept "
                               f"read-only (`optgan study delete {self.name}` removes it)")
        return study_config_from_dict(json.loads(attrs[keys.CONFIG]))

    def study(self, stage: str) -> optuna.Study:
        """The Optuna study of `stage`, with the sampler rebuilt from the stored config."""
        net = "gen" if stage == "gen" else "disc"
        sampler = make_sampler(self.config, net=net)
        storage: optuna.storages.BaseStorage = self.storage
        if getattr(storage, "sole_writer", False):  # `optgan run`: the lease makes it the only writer
            from optgan.study.sole_writer_cache import SoleWriterCache

            storage = SoleWriterCache(self.storage)
        try:
            return optuna.load_study(study_name=stage_study_name(self.name, stage), storage=storage, sampler=sampler)
        except KeyError:
            raise incomplete_search_error(self.name, self.storage_url, stage) from None

    def check_run_dir(self, adopt: bool = False) -> None:
        """Refuse to run when the run directory belongs to another search (two databases that
        hold a search of the same name in one folder would otherwise share checkpoints).

        With `adopt` (the runner, under the run lease) an SQLite search makes a folder it found
        elsewhere its own: a copy of the folder made for a copied database, or — when the folder
        was claimed on this host — the folder of a database moved on this machine, or a folder
        moved while its stored path is missing. `search.json` and the study's stored path
        (`optgan:run_dir`) then name it, so that later commands find it without --run-dir and a
        later copy of the database is refused it. Another host's view of a shared SQLite file, or
        a PostgreSQL search, changes nothing: each host may see the folder at its own path."""
        owner_file = self.run_dir / RUN_DIR_OWNER
        if self.search_id is None:
            return  # a search created before run directories were claimed
        if not owner_file.is_file():  # moved to another path, or lost: never retrain silently
            state = "is missing" if not self.run_dir.exists() else f"has no {RUN_DIR_OWNER}"
            raise StorageError(f"run directory {self.run_dir} of search {self.name!r} {state}; if it is elsewhere on "
                               f"this machine pass `optgan run {self.name} --run-dir DIR`, if it is lost make a new "
                               "empty folder and pass it with --run-dir to retrain its stages there (the study's "
                               "rounds are kept)")
        owner = self._owner_of(self.run_dir)
        original, here = owner.get("database"), database_file(self.storage_url)
        if here is None:
            return  # PostgreSQL & co: one database, whose hosts may each mount the folder elsewhere
        claimed_here = owner.get("host") == socket.gethostname()  # unknown (an older search.json): not here
        why = None
        if original and here != original:
            if os.path.exists(original):
                from optgan.study.move import moved_to_in_file

                if (moved := moved_to_in_file(original, self.name)) and database_file(moved) == here:
                    why = f"the search moved here from {original} (`optgan study move`)"
                elif owner.get("path") == str(self.run_dir):
                    raise StorageError(f"search {self.name!r} in {here} is a copy of the one in {original}, which "
                                       f"still exists and uses run directory {self.run_dir}; give the copy its own "
                                       f"copy of that folder with `optgan run {self.name} --run-dir DIR` (or run "
                                       "the original)")
                else:
                    why = "a copy of the folder made for it"
            elif claimed_here:
                why = f"its database moved here from {original}"
        elif claimed_here and adopt:
            stored = self.stored_run_dir()
            if stored != self.run_dir and not (stored / RUN_DIR_OWNER).is_file():
                why = f"moved from {stored}, which is missing"
        if adopt and why is not None:
            self._adopt_run_dir(owner, why)

    def _adopt_run_dir(self, owner: dict[str, Any], why: str) -> None:
        """`search.json` names this database and where the folder is now; the studies store the path."""
        try:
            ids = [self.storage.get_study_id_from_name(stage_study_name(self.name, st)) for st in STAGES]
        except KeyError:
            missing = next(st for st in STAGES if not study_exists(self.storage, stage_study_name(self.name, st)))
            raise incomplete_search_error(self.name, self.storage_url, missing) from None
        record = {**owner, "path": str(self.run_dir), "database": database_file(self.storage_url),
                  "storage": redact(self.storage_url), "host": socket.gethostname()}
        atomic_write_bytes(self.run_dir / RUN_DIR_OWNER, json.dumps(record).encode())
        for study_id in ids:
            self.storage.set_study_user_attr(study_id, keys.RUN_DIR, str(self.run_dir))
        log.info("search %s: its run directory is now %s (%s)", self.name, self.run_dir, why)

    def stored_run_dir(self) -> pathlib.Path:
        """The run directory's path as the study stores it (`run_dir` may be where this host sees it)."""
        study_id = self.storage.get_study_id_from_name(stage_study_name(self.name, "gen"))
        return pathlib.Path(self.storage.get_study_user_attrs(study_id)[keys.RUN_DIR])

    def keep_run_dir_claimed(self) -> None:
        """Recreate and claim again a run directory deleted while the run went on (the runner calls
        this before each checkpoint): the checkpoint about to be written then stays usable by the
        next run. Earlier rounds' pictures and artifacts are gone with the folder."""
        if self.search_id is None or (self.run_dir / RUN_DIR_OWNER).is_file():
            return
        self.run_dir.mkdir(parents=True, exist_ok=True)
        claim_run_dir(self.run_dir, self.name, self.storage_url, self.search_id)
        log.warning("run directory %s was deleted while the run went on: recreated and claimed again; the "
                    "pictures and artifacts of earlier rounds are lost, the training goes on from this round",
                    self.run_dir)

    def use_run_dir(self, path: str | os.PathLike) -> None:
        """Run with the search's run directory found at `path` (another host's mount of it, a copy):
        it must be the folder `study create` claimed for this search."""
        refuse_if_read_only(self.storage.engine, self.name)  # before anything is written
        moved = pathlib.Path(path).expanduser().resolve()
        if not (moved / RUN_DIR_OWNER).is_file():
            if (self.run_dir / RUN_DIR_OWNER).is_file() and moved != self.run_dir:
                raise StorageError(f"{moved} is not a run directory of {self.name!r} (no {RUN_DIR_OWNER}), and its "
                                   f"stored one, {self.run_dir}, is intact: a new folder only replaces a lost one")
            if not moved.exists() and self.search_id is not None:  # a typo must not start a retrained copy
                raise StorageError(f"{moved} does not exist; give the folder `study create` made for {self.name!r} "
                                   f"(stored as {self.run_dir}), or create a new empty folder first (mkdir) to "
                                   "retrain its stages there from the start")
            if self.search_id is None or writable_dir_problem(moved, must_be_empty=True, create=False):
                raise StorageError(f"{moved} is not the run directory of an optgan search (no {RUN_DIR_OWNER}); give "
                                   f"the folder `study create` made for {self.name!r} (stored as {self.run_dir}), or a "
                                   "new empty folder to retrain its stages there")
            check_new_run_dir(moved, create=True)  # a lost run directory is rebuilt here, claimed for this search
            claim_run_dir(moved, self.name, self.storage_url, self.search_id)
            log.warning("run directory %s is new: the stages are retrained there from the start", moved)
        self.run_dir = moved
        self.check_run_dir(adopt=False)  # the run adopts it under its lease

    def read_run_dir(self, path: str | os.PathLike) -> None:
        """Read (never write) the search's pictures and artifacts from its run directory found at
        `path` (another host's mount of it, a copy): it must be the folder claimed for this search."""
        moved = pathlib.Path(path).expanduser().resolve()
        claimed = (moved / RUN_DIR_OWNER).is_file()
        if self.search_id is None and claimed:  # a search older than claims never wrote one
            raise StorageError(f"{moved} belongs to a newer search (it has {RUN_DIR_OWNER}), not to {self.name!r}")
        if self.search_id is not None and not claimed:
            raise StorageError(f"{moved} is not a run directory of an optgan search (no {RUN_DIR_OWNER}); give the "
                               f"folder `study create` made for {self.name!r} (stored as {self.run_dir})")
        if not moved.is_dir():
            raise StorageError(f"run directory {moved} is not a folder")
        if claimed:
            self._owner_of(moved)
        self.run_dir = moved

    def _owner_of(self, folder: pathlib.Path) -> dict[str, Any]:
        """`folder`'s `search.json`, refused unless it names this search (when its id is known)."""
        owner_file = folder / RUN_DIR_OWNER
        try:
            owner = json.loads(owner_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise StorageError(f"cannot read {owner_file} ({e}); it names the search this run directory "
                               "belongs to") from e
        if not isinstance(owner, dict):
            raise StorageError(f"{owner_file} is not a search record (a JSON object); it names the search this "
                               "run directory belongs to")
        if self.search_id is not None and owner.get("id") != self.search_id:
            theirs = owner.get("database") or owner.get("storage")  # an SQLite file by its full path
            ours = database_file(self.storage_url) or redact(self.storage_url)
            raise StorageError(f"run directory {folder} belongs to search {owner.get('search')!r} of {theirs}, "
                               f"not to {self.name!r} of {ours}; its checkpoints are not this search's")
        return owner

    def stage_dir(self, stage: str) -> pathlib.Path:
        """`<run_dir>/<stage>`; made by the first file written there (a run that fails to start leaves none)."""
        return self.run_dir / stage


def objective_names(config: StudyConfig) -> list[str]:
    """Names shown in the dashboard; classifier-based and synthetic scores are labelled as such
    (`FID_classifier`, `FID_synthetic`: never a bare `FID` for what is not Inception's)."""
    from optgan.metrics.keys import METRICS, objective_display_name

    if config.evaluation.kind == "synthetic":
        return [f"{o}_synthetic" if o in METRICS else o for o in config.objectives]
    return [objective_display_name(o, config.metrics.extractor) for o in config.objectives]


METRIC_NAMES_ATTR = "study:metric_names"
"""Where `optuna.Study.set_metric_names` keeps the objectives' names (a study system attribute)."""


def load_search(name: str, storage_url: str | None = None) -> Search:
    """Reopen search `name`; its config comes from storage."""
    if "@" in name:  # `NAME@URL` of `optgan compare` given to a command that reads one search
        bare, _, at = name.partition("@")
        at = redact(at) if at else ""
        raise StorageError(f"'{bare}@{at}': NAME@URL is read by `optgan compare` and `optgan study enqueue --front`; "
                           f"elsewhere give the storage as an option: {bare} --storage {at or 'URL'}")
    url = resolve_storage_url(storage_url)
    storage = open_storage(url, create=False)
    try:  # one study by name: summaries of every study cost ~20 ms each on a shared PostgreSQL
        study_id = storage.get_study_id_from_name(stage_study_name(name, "gen"))
    except KeyError:
        if study_exists(storage, stage_study_name(name, "disc")):
            raise incomplete_search_error(name, url, "gen") from None
        known = sorted({s.study_name.rsplit(":", 1)[0] for s in storage.get_all_studies()
                        if s.study_name.endswith(":gen")})
        raise StorageError(f"no search named {name!r} in {redact(url)}{_known_searches_hint(name, known)}") from None
    attrs: dict[str, Any] = storage.get_study_user_attrs(study_id)
    config = study_config_from_dict(json.loads(attrs[keys.CONFIG]))
    return Search(name, config, storage, url, pathlib.Path(attrs[keys.RUN_DIR]), attrs.get(keys.SEARCH_ID))


#: up to this many searches in a storage, "no search named …" lists them all
KNOWN_SEARCHES_LISTED = 8


def _known_searches_hint(name: str, known: Sequence[str]) -> str:
    """The end of the "no search named …" line: every search of a small storage; in a team's
    storage, how many there are and the names closest to `name`."""
    if not known:
        return "; create one with `optgan study create`"
    if len(known) <= KNOWN_SEARCHES_LISTED:
        return f"; known searches: {', '.join(known)}"
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
    return (f"; {len(known)} searches there (`optgan study list` lists them)"
            + (f", the closest: {', '.join(close)}" if close else ""))


def search_ref(ref: str, storage_url: str | None = None) -> tuple[str, str]:
    """`(name, storage URL)` of a search named `NAME` (in `storage_url`, resolved as `--storage`
    is) or `NAME@URL` (in storage `URL`: how a command that reads several searches reaches one in
    another database). A search name has no `@`, so the first one ends the name."""
    name, at, url = ref.partition("@")
    if at and not url:
        raise StorageError(f"{ref!r}: give a storage URL after '@', e.g. {name}@sqlite:///path/to/optuna.db")
    check_search_name(name)
    return name, url if at else resolve_storage_url(storage_url)


def load_search_ref(ref: str, storage_url: str | None = None) -> Search:
    """:func:`load_search` of a search named `NAME` or `NAME@URL` (see :func:`search_ref`)."""
    return load_search(*search_ref(ref, storage_url))


def incomplete_search_error(name: str, url: str, stage: str) -> StorageError:
    """The one-line error for a search one of whose stage studies was deleted behind optgan's back."""
    return StorageError(f"search {name!r} in {redact(url)} is incomplete: its study {stage_study_name(name, stage)} "
                        f"is gone (deleted or renamed, e.g. in optuna-dashboard); `optgan study delete {name}` "
                        "removes the rest")


def stage_studies_present(name: str, storage_url: str | None = None) -> tuple[optuna.storages.RDBStorage, list[str]]:
    """The storage and the stage studies of search `name` it holds (both, one of an incomplete
    search, or none)."""
    storage = open_storage(resolve_storage_url(storage_url), create=False)
    return storage, [stage_study_name(name, st) for st in STAGES if study_exists(storage, stage_study_name(name, st))]


def any_stage_exists(storage: optuna.storages.RDBStorage, name: str) -> bool:
    return any(study_exists(storage, stage_study_name(name, stage)) for stage in STAGES)


def study_exists(storage: optuna.storages.BaseStorage, study_name: str) -> bool:
    """Whether `storage` holds a study named `study_name`."""
    try:
        storage.get_study_id_from_name(study_name)
    except KeyError:
        return False
    return True


_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def check_search_name(name: str) -> None:
    """A StorageError unless `name` can name a search (it is also a folder name, `optgan-runs/NAME`:
    no paths, no `..`, nothing a shell mangles)."""
    if not _NAME.fullmatch(name):
        raise StorageError(f"search name {name!r} must be 1-100 letters, digits, '.', '_' or '-', "
                           "starting with a letter or digit")
