"""`optgan study create` and run-directory claims: a claim is only ever taken back from a creator of this
search that died holding this database's lease, and a failed or stopped create removes only its own claim."""

from __future__ import annotations

import json
import pathlib

import optuna
import pytest
import sqlalchemy as sa
import sqlalchemy.orm
from _crash_support import DRY

from optgan import faults
from optgan.config.study import load_study_config
from optgan.errors import StorageError
from optgan.study import create as create_module
from optgan.study.run_dir_claim import RUN_DIR_OWNER, claim_run_dir
from optgan.study.create import create_search
from optgan.study.storage import open_storage


def test_a_study_made_outside_optgan_meanwhile_leaves_no_claim(tmp_path: pathlib.Path) -> None:
    """The IntegrityError path: a study `s:disc` appears (made outside optgan) between the check and
    the commit. The create is refused, and its run directory must not stay claimed for a search
    that does not exist (its `search.json` would name an id no study has)."""
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    open_storage(url).engine.dispose()

    made: list[bool] = []

    def foreign(session: sqlalchemy.orm.Session, *_: object) -> None:
        if not made and any(isinstance(o, optuna.storages._rdb.models.StudyModel) for o in session.new):
            made.append(True)
            optuna.create_study(study_name="s:disc", storage=url)  # another connection, committed

    sa.event.listen(sqlalchemy.orm.Session, "before_flush", foreign)
    try:
        with pytest.raises(StorageError, match="a search named 's' already exists"):
            create_search("s", load_study_config(DRY), url, str(tmp_path / "run"))
    finally:
        sa.event.remove(sqlalchemy.orm.Session, "before_flush", foreign)
    assert made and not (tmp_path / "run" / RUN_DIR_OWNER).exists()


def test_the_claim_of_a_search_of_another_database_is_never_taken(tmp_path: pathlib.Path) -> None:
    """A bare folder claimed for search `s` under the same storage string (another host's own
    `postgresql://u@localhost/db`, or a per-host SQLite file at the same path, with a shared run
    root): no creator of `s` died in THIS database, so the claim is not this database's to take."""
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    open_storage(url).engine.dispose()
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    claim_run_dir(run_dir, "s", url)  # exactly what the other database's `study create s` wrote
    before = (run_dir / RUN_DIR_OWNER).read_text()
    with pytest.raises(StorageError, match="holds files"):
        create_search("s", load_study_config(DRY), url, str(run_dir))
    assert (run_dir / RUN_DIR_OWNER).read_text() == before


def test_a_stop_right_after_the_claim_leaves_no_claim(tmp_path: pathlib.Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C / SIGTERM (a KeyboardInterrupt raised anywhere) just after the run directory was claimed."""
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"

    def stop(name: str) -> None:
        if name == "create":
            raise KeyboardInterrupt

    monkeypatch.setattr(faults, "point", stop)
    with pytest.raises(KeyboardInterrupt):
        create_search("s", load_study_config(DRY), url, str(tmp_path / "run"))
    assert list((tmp_path / "run").iterdir()) == []


def test_a_failed_create_never_removes_a_claim_it_did_not_write(tmp_path: pathlib.Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """The run directory is claimed by someone else between the check and our claim: our create
    fails, and must leave the other claim alone."""
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    run_dir = tmp_path / "run"
    real_check = create_module.check_new_run_dir

    def check_then_race(root: pathlib.Path, *, create: bool) -> None:
        real_check(root, create=create)
        if create:
            (root / RUN_DIR_OWNER).write_text(json.dumps({"search": "other", "id": "theirs"}))

    monkeypatch.setattr(create_module, "check_new_run_dir", check_then_race)
    with pytest.raises(StorageError, match="was just taken by another search"):
        create_search("s", load_study_config(DRY), url, str(run_dir))
    assert json.loads((run_dir / RUN_DIR_OWNER).read_text())["id"] == "theirs"
