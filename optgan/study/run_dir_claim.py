"""A search's claim on its run directory: `<run_dir>/search.json`, written exclusively.

One search per run directory: a new search refuses a folder that holds files (a deleted
search's checkpoints would be resumed by it) and claims it by creating `search.json` with
O_EXCL (name, id, storage, database file, path, host). :class:`optgan.study.search.Search`
checks the claim before every run and adopts a folder found elsewhere.
"""

from __future__ import annotations

import json
import os
import pathlib
import socket
import uuid

from optgan.atomic import writable_dir_problem
from optgan.errors import StorageError
from optgan.study.storage_url import redact, sqlite_path

__all__ = ["RUN_DIR_OWNER", "check_new_run_dir", "claim_run_dir", "database_file"]


def check_new_run_dir(root: pathlib.Path, *, create: bool, must_be_empty: bool = True) -> None:
    """Refuse (and with `create`, make) the new search's run directory: it must not hold files (a
    deleted search's checkpoints would be resumed by the new one) and must be writable."""
    problem = writable_dir_problem(root, must_be_empty=must_be_empty, create=create)
    if problem:
        hint = " (of another search, or a deleted one?); remove it or" if "holds files" in problem else ";"
        raise StorageError(f"run directory {problem}{hint} pass --run-dir with another folder")


RUN_DIR_OWNER = "search.json"


def claim_run_dir(root: pathlib.Path, name: str, url: str, search_id: str | None = None, *,
                   creator: str | None = None) -> str:
    """Write `<root>/search.json` naming the search (exclusively: one search per run directory);
    a new search gets a new random id. `creator`: the lease token of the `study create` writing it."""
    search_id = search_id or uuid.uuid4().hex
    record = {"search": name, "id": search_id, "storage": redact(url), "database": database_file(url),
              "path": str(root), "host": socket.gethostname()}
    if creator is not None:
        record["creator"] = creator
    try:
        fd = os.open(root / RUN_DIR_OWNER, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies, as for any written file
    except FileExistsError:
        raise StorageError(f"run directory {root} was just taken by another search; "
                           "pass --run-dir with another folder") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(record, f)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:  # a stop or a full disk mid-write: no empty or cut claim is left behind
        (root / RUN_DIR_OWNER).unlink(missing_ok=True)
        raise
    return search_id


def database_file(url: str) -> str | None:
    """The resolved path of an SQLite database file (None for other back ends)."""
    path = sqlite_path(url)
    return str(path.resolve()) if path is not None else None
