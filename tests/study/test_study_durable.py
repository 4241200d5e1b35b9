"""A round's checkpoint is never newer than the durable study: SQLite (WAL, synchronous=NORMAL)
syncs its log only at WAL checkpoints, so the runner fsyncs the log before every checkpoint."""

from __future__ import annotations

from _crash_support import DRY, SMALL, create
from click.testing import CliRunner

from optgan.engines.synthetic import SyntheticEngine
from optgan.study.storage import make_durable
from optgan_cli.main import main


def test_every_checkpoint_finds_its_rounds_in_the_database_file_itself(tmp_path, monkeypatch,
                                                                        unique_name: str) -> None:
    # what the write-ahead log holds is not synced under synchronous=NORMAL; the runner moves it
    # into the (synced) database file before each checkpoint: a copy of that file alone has them
    import shutil
    import sqlite3

    db = tmp_path / "s.db"
    url = f"sqlite:///{db}"
    create(unique_name, url, DRY, SMALL, tmp_path / "run")
    seen: list[tuple[str, int, int]] = []
    real_save = SyntheticEngine.save

    def save(self, rounds_done: int) -> None:  # noqa: ANN001
        alone = tmp_path / "alone.db"
        shutil.copyfile(db, alone)  # without s.db-wal
        with sqlite3.connect(alone) as conn:
            (told,) = conn.execute("SELECT COUNT(*) FROM trials t JOIN studies s ON t.study_id = s.study_id "
                                   "WHERE s.study_name = ? AND t.state IN ('COMPLETE', 'FAIL')",
                                   (f"{unique_name}:{self.stage}",)).fetchone()
        alone.unlink()
        seen.append((self.stage, rounds_done, told))
        real_save(self, rounds_done)

    monkeypatch.setattr(SyntheticEngine, "save", save)
    r = CliRunner().invoke(main, ["run", unique_name, "--storage", url], catch_exceptions=False)
    assert r.exit_code == 0, r.stderr
    assert seen == [("gen", 1, 4), ("gen", 2, 8), ("gen", 3, 12), ("disc", 1, 4)]


def test_make_durable_leaves_postgres_alone(monkeypatch) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine("postgresql+psycopg://u@localhost:1/db")  # never connected
    make_durable(engine)


def test_a_run_directory_deleted_during_a_run_is_claimed_again(tmp_path, monkeypatch, unique_name: str,
                                                              caplog) -> None:
    import json
    import shutil

    url = f"sqlite:///{tmp_path / 's.db'}"
    run_dir = tmp_path / "run"
    create(unique_name, url, DRY, [*SMALL, "pictures.rounds=true"], run_dir)
    claimed = json.loads((run_dir / "search.json").read_text())
    claimed.pop("creator")  # the lease token of the `study create` that wrote it: only the first claim has it
    real_train = SyntheticEngine.train

    def train(self, population) -> None:  # noqa: ANN001
        if self.stage == "gen" and self.rounds_done == 1:  # someone cleans up during round 2
            shutil.rmtree(run_dir)
        real_train(self, population)

    monkeypatch.setattr(SyntheticEngine, "train", train)
    r = CliRunner().invoke(main, ["run", unique_name, "--stage", "gen", "--storage", url], catch_exceptions=False)
    assert r.exit_code == 0, r.stderr
    assert "was deleted while the run went on: recreated and claimed again" in caplog.text
    assert "Traceback" not in caplog.text  # the round pictures that could not be stored: one line
    assert json.loads((run_dir / "search.json").read_text()) == claimed
    monkeypatch.setattr(SyntheticEngine, "train", real_train)
    r = CliRunner().invoke(main, ["run", unique_name, "--storage", url], catch_exceptions=False)  # the next run goes on
    assert r.exit_code == 0, r.stderr
    assert "stage disc: 1/1 rounds, finished" in r.stdout


def test_the_wal_sync_waits_for_readers_a_quarter_of_the_lease_ttl(tmp_path, monkeypatch, caplog) -> None:
    """A FULL WAL checkpoint blocks every writer (the lease heartbeat too) while a reader holds an
    old snapshot: it gives up after TTL/4 with a warning, not after the 60 s busy timeout (by then
    another process could judge the lease expired), and the connection's busy timeout is restored."""
    import logging
    import sqlite3

    import sqlalchemy as sa

    from optgan.study.lease import TTL_ENV
    from optgan.study.storage import open_storage

    monkeypatch.setenv(TTL_ENV, "2")
    db = tmp_path / "s.db"
    engine = open_storage(f"sqlite:///{db}").engine
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
        conn.exec_driver_sql("INSERT INTO t VALUES (1)")
    reader = sqlite3.connect(db, isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT * FROM t").fetchall()  # holds this snapshot
    with engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO t VALUES (2)")  # the log now holds a frame the reader does not see
    pragmas: list[str] = []

    def seen(conn, cursor, statement, *args):  # noqa: ANN001, ANN202
        if statement.startswith("PRAGMA busy_timeout"):
            pragmas.append(statement)

    sa.event.listen(engine, "before_cursor_execute", seen)
    with caplog.at_level(logging.WARNING, "optgan.study.storage"):
        make_durable(engine)
    reader.close()
    assert pragmas == ["PRAGMA busy_timeout = 500", "PRAGMA busy_timeout = 60000"]
    assert "could not be synced before this checkpoint (readers kept it busy)" in caplog.text
    engine.dispose()
