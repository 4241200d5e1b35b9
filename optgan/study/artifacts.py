"""Artifact stores: pictures live in each search's run directory (`<run_dir>/artifacts/`).

Runs upload through :func:`search_artifact_store` (Optuna's file-system store rooted in the
search's run directory). The dashboard serves every search of a storage at once, so it gets a
:class:`RunDirsArtifactStore` that finds an artifact id in whichever run directory holds it
(the run directories are read from the studies' user attrs, plus any given on the command line
for folders seen elsewhere than their stored path).
"""

from __future__ import annotations

import pathlib
import threading
from collections.abc import Iterable
from typing import BinaryIO

import optuna
from optuna.artifacts import FileSystemArtifactStore
from optuna.artifacts.exceptions import ArtifactNotFound

from optgan import keys
from optgan.errors import StorageError

__all__ = ["ARTIFACTS_DIRNAME", "search_artifact_store", "RunDirsArtifactStore", "check_run_dirs"]

ARTIFACTS_DIRNAME = "artifacts"


def search_artifact_store(run_dir: pathlib.Path) -> FileSystemArtifactStore:
    """The artifact store of one search (created on first use)."""
    path = run_dir / ARTIFACTS_DIRNAME
    path.mkdir(parents=True, exist_ok=True)
    return FileSystemArtifactStore(str(path))


class RunDirsArtifactStore:
    """Reads artifacts from the run directories of all searches in a storage.

    Uploads made through the dashboard itself go to `fallback_dir`; `extra_run_dirs` are searched
    too (run directories mounted or copied elsewhere than the path their search stores).
    """

    def __init__(self, storage: optuna.storages.BaseStorage, fallback_dir: pathlib.Path,
                 extra_run_dirs: Iterable[pathlib.Path] = ()) -> None:
        self._storage = storage
        self._fallback = fallback_dir
        self._extra = [pathlib.Path(d) / ARTIFACTS_DIRNAME for d in extra_run_dirs]
        self._lock = threading.Lock()
        self._dirs: list[pathlib.Path] = []

    def _refresh(self) -> list[pathlib.Path]:
        dirs = {self._fallback, *self._extra}
        for s in self._storage.get_all_studies():
            run_dir = s.user_attrs.get(keys.RUN_DIR)
            if run_dir:
                dirs.add(pathlib.Path(run_dir) / ARTIFACTS_DIRNAME)
        with self._lock:
            self._dirs = sorted(dirs)
            return list(self._dirs)

    def _find(self, artifact_id: str) -> pathlib.Path:
        if "/" in artifact_id or "\\" in artifact_id or artifact_id in ("", ".", ".."):
            raise ArtifactNotFound(f"invalid artifact id {artifact_id!r}")
        with self._lock:
            dirs = list(self._dirs)
        for attempt in range(2):
            for d in dirs:
                if (d / artifact_id).is_file():
                    return d / artifact_id
            if attempt == 0:
                dirs = self._refresh()
        raise ArtifactNotFound(f"artifact {artifact_id} not found in any run directory")

    def open_reader(self, artifact_id: str) -> BinaryIO:
        return open(self._find(artifact_id), "rb")  # noqa: SIM115 - the caller closes it

    def write(self, artifact_id: str, content_body: BinaryIO) -> None:
        self._fallback.mkdir(parents=True, exist_ok=True)
        FileSystemArtifactStore(str(self._fallback)).write(artifact_id, content_body)

    def remove(self, artifact_id: str) -> None:
        self._find(artifact_id).unlink()


def check_run_dirs(paths: Iterable[str | pathlib.Path]) -> list[pathlib.Path]:
    """`paths` resolved, each refused with one line unless it is a search's run directory (it holds
    `search.json`, or for a search older than that file, an artifact store)."""
    from optgan.study.run_dir_claim import RUN_DIR_OWNER

    out = []
    for p in paths:
        folder = pathlib.Path(p).expanduser().resolve()
        if not (folder / RUN_DIR_OWNER).is_file() and not (folder / ARTIFACTS_DIRNAME).is_dir():
            raise StorageError(f"{folder} is not a run directory of an optgan search (no {RUN_DIR_OWNER} "
                               f"or {ARTIFACTS_DIRNAME}/)")
        out.append(folder)
    return out
