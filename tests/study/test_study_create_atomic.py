"""`optgan study create` leaves the whole search or none of it: its two studies are written in one
transaction, a creator killed at any moment leaves at most its run directory's claim, which the
rerun of the same command takes back, and two creators of one name take turns (the search's lease)."""

from __future__ import annotations

import json
import pathlib

import optuna
import pytest
import sqlalchemy as sa
import sqlalchemy.orm
from _crash_support import DRY, KILLED, lease_rows, optgan, subprocess_env
from _db_faults import commit_then_drop, dropped_connection

from optgan import keys
from optgan.config.study import load_study_config
from optgan.errors import StorageError
from optgan.study.lease import Lease
from optgan.study.run_dir_claim import RUN_DIR_OWNER
from optgan.study.search import load_search, stage_study_name
from optgan.study.create import create_search
from optgan.study.storage import open_storage


def _studies(url: str, name: str) -> list[str]:
    engine = open_storage(url, create=False).engine
    try:
        with engine.connect() as conn:
            return sorted(conn.execute(sa.text("SELECT study_name FROM studies WHERE study_name LIKE :n"),
                                       {"n": f"{name}:%"}).scalars())
    finally:
        engine.dispose()


def test_the_studies_are_what_optunas_api_would_store(tmp_path: pathlib.Path) -> None:
    """Written as rows in one transaction, they read back through Optuna as `create_study`,
    `set_metric_names` and `set_user_attr` would have made them."""
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    config = load_study_config(DRY)
    search = create_search("s", config, url, str(tmp_path / "run"))
    for stage, other in (("gen", "disc"), ("disc", "gen")):
        study = optuna.load_study(study_name=stage_study_name("s", stage), storage=url)
        assert [d.name.lower() for d in study.directions] == config.directions == ["maximize", "minimize", "minimize"]
        assert study.metric_names == ["IS_synthetic", "FID_synthetic", "params_M"]  # a dry run: labelled
        assert study.user_attrs == {keys.SEARCH_NAME: "s", keys.STAGE: stage, keys.CONFIG: study.user_attrs[keys.CONFIG],
                                    keys.RUN_DIR: str(tmp_path / "run"), keys.SEARCH_ID: search.search_id,
                                    keys.LINKED_STUDY: f"s:{other}"}
        assert study.trials == []
    assert load_search("s", url).config == search.config
    assert search.labels == ["IS_synthetic", "FID_synthetic", "params_M"]
    # a search created before dry-run scores were labelled keeps its stored names everywhere
    study = optuna.load_study(study_name=stage_study_name("s", "gen"), storage=url)
    study.set_metric_names(["IS", "FID", "params_M"])
    assert load_search("s", url).labels == ["IS", "FID", "params_M"]


@pytest.mark.parametrize("storage_url", ["sqlite", "postgres"], indirect=True)
@pytest.mark.parametrize("fault", ["create:1", "create_commit:1"])
def test_a_killed_create_leaves_no_search_and_its_rerun_creates_it(storage_url: str, unique_name: str, fault: str,
                                                                   tmp_path: pathlib.Path) -> None:
    """SIGKILL after the run directory was claimed (`create`) or with the studies written but not
    committed (`create_commit`): no study exists, nothing is listed; the same command again takes
    the dead creator's lease over, takes the claim back and creates the search."""
    run_dir = tmp_path / "run"
    args = ("study", "create", unique_name, "--config", DRY, "--run-dir", str(run_dir), "--storage", storage_url)
    killed = optgan(*args, env=subprocess_env(fault))
    assert killed.returncode == KILLED and f"SIGKILL at {fault.split(':')[0]}#1" in killed.stderr, killed.stderr[-2000:]
    assert _studies(storage_url, unique_name) == []
    assert sorted(p.name for p in run_dir.iterdir()) == [RUN_DIR_OWNER]
    assert len(lease_rows(storage_url, unique_name)) == 1  # the dead creator's
    listed = optgan("study", "list", "--storage", storage_url)
    assert unique_name not in listed.stdout
    dry = optgan(*args, "--dry-run")  # judges the claim as the create will (reading the lease table only)
    assert dry.returncode == 0 and "holds only the claim of a killed `optgan study create" in dry.stderr, dry.stderr
    assert sorted(p.name for p in run_dir.iterdir()) == [RUN_DIR_OWNER]  # (nothing changed)

    again = optgan(*args)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "held only the claim of an interrupted `optgan study create" in again.stderr
    assert _studies(storage_url, unique_name) == [f"{unique_name}:disc", f"{unique_name}:gen"]
    assert lease_rows(storage_url, unique_name) == []  # released
    search = load_search(unique_name, storage_url)
    search.check_run_dir(adopt=False)  # the folder is claimed for the search that now exists
    assert json.loads((run_dir / RUN_DIR_OWNER).read_text())["id"] == search.search_id
    search.storage.engine.dispose()


def test_a_database_error_at_commit_leaves_nothing(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The commit that writes the disc study fails: no study at all (the gen study went in the same
    transaction), and the run directory is no longer claimed."""
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"

    def fail(session: sqlalchemy.orm.Session) -> None:
        if any(isinstance(o, optuna.storages._rdb.models.StudyModel) and o.study_name == "s:disc"
               for o in session):  # (flushed already: not in session.new)
            raise dropped_connection()

    sa.event.listen(sqlalchemy.orm.Session, "before_commit", fail)
    try:
        with pytest.raises(StorageError, match="cannot create search 's' in sqlite:.*server closed the connection "
                                               "unexpectedly .*nothing was created, run the same command again") as e:
            create_search("s", load_study_config(DRY), url, str(tmp_path / "run"))
    finally:
        sa.event.remove(sqlalchemy.orm.Session, "before_commit", fail)
    assert "\n" not in str(e.value)
    assert _studies(url, "s") == [] and list((tmp_path / "run").iterdir()) == []
    assert lease_rows(url, "s") == []
    create_search("s", load_study_config(DRY), url, str(tmp_path / "run"))  # and the name is free
    assert _studies(url, "s") == ["s:disc", "s:gen"]


def test_a_commit_whose_reply_is_lost_is_a_created_search(tmp_path: pathlib.Path,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    """The commit went through, only its reply was lost: the studies are this create's (its
    search id), so it succeeds with a warning, and its run directory stays claimed."""
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    with commit_then_drop("INSERT INTO studies") as dropped:
        made = create_search("s", load_study_config(DRY), url, str(tmp_path / "run"))
    assert dropped and _studies(url, "s") == ["s:disc", "s:gen"]
    assert "the database's reply to its creation was lost" in caplog.text
    search = load_search("s", url)
    assert search.search_id == made.search_id
    search.check_run_dir(adopt=False)
    search.storage.engine.dispose()


def test_a_database_that_cannot_tell_keeps_the_claim_and_says_so(tmp_path: pathlib.Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The commit failed and the database cannot be read afterwards: whether the search exists is
    unknown, so the claim stays (a rerun takes it back if the search is not there) and the one
    line says what to do."""
    from optgan.study import create as create_module

    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    monkeypatch.setattr(create_module, "_created", lambda *args: None)

    def fail(session: sqlalchemy.orm.Session) -> None:
        if any(isinstance(o, optuna.storages._rdb.models.StudyModel) for o in session):
            raise dropped_connection()

    sa.event.listen(sqlalchemy.orm.Session, "before_commit", fail)
    try:
        with pytest.raises(StorageError, match="cannot tell whether it was .*`optgan study list` shows it, or run "
                                               "the same command again"):
            create_search("s", load_study_config(DRY), url, str(tmp_path / "run"))
    finally:
        sa.event.remove(sqlalchemy.orm.Session, "before_commit", fail)
    assert (tmp_path / "run" / RUN_DIR_OWNER).exists()


def test_a_second_creator_meanwhile_is_refused_not_raced(tmp_path: pathlib.Path) -> None:
    """While another creator (here: a live lease of this process) holds the name, a second
    create is refused in one line and claims nothing."""
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    lease = Lease(open_storage(url).engine, "s")
    lease.acquire()
    try:
        with pytest.raises(StorageError, match="search 's' is being run by PID"):
            create_search("s", load_study_config(DRY), url, str(tmp_path / "run"))
    finally:
        lease.release()
    assert _studies(url, "s") == [] and not (tmp_path / "run").exists()


@pytest.mark.parametrize("owner, extra", [({"search": "other"}, None), ({}, "checkpoint.pt")],
                         ids=["another-search", "more-than-the-claim"])
def test_only_a_bare_claim_of_this_search_in_this_database_is_taken_back(
        tmp_path: pathlib.Path, owner: dict, extra: str | None) -> None:
    """A folder claimed by another search, or holding more than the claim, is refused as before."""
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    open_storage(url).engine.dispose()
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    record = {"search": "s", "id": "x", "storage": url, "database": str((tmp_path / "db.sqlite").resolve()),
              "path": str(run_dir), "host": "h", **owner}
    (run_dir / RUN_DIR_OWNER).write_text(json.dumps(record))
    if extra:
        (run_dir / extra).write_bytes(b"weights")
    with pytest.raises(StorageError, match="holds files"):
        create_search("s", load_study_config(DRY), url, str(run_dir))
    assert json.loads((run_dir / RUN_DIR_OWNER).read_text()) == record  # untouched
    record["database"] = "/elsewhere/db.sqlite"  # the same search name in another database
    (run_dir / RUN_DIR_OWNER).write_text(json.dumps({**record, "search": "s"}))
    (run_dir / "checkpoint.pt").unlink(missing_ok=True)
    with pytest.raises(StorageError, match="holds files"):
        create_search("s", load_study_config(DRY), url, str(run_dir))
