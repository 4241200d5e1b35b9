"""A round's checkpoint is never newer than the durable study: SQLite (WAL, synchronous=NORMAL)
syncs its log only at WAL checkpoints, so the runner fsyncs the log before every checkpoint."""

from __future__ import annotations

import os

from _crash_support import DRY, SMALL, create
from click.testing import CliRunner

from optgan.engines.synthetic import SyntheticEngine
from optgan.study import storage as storage_mod
from optgan.study.storage import make_durable
from optgan_cli.main import main


def test_the_wal_is_synced_before_every_checkpoint(tmp_path, monkeypatch, unique_name: str) -> None:
    db = tmp_path / "s.db"
    url = f"sqlite:///{db}"
    create(unique_name, url, DRY, SMALL, tmp_path / "run")
    events: list[str] = []
    real_fsync, real_save = os.fsync, SyntheticEngine.save

    def fsync(fd: int) -> None:
        events.append("sync " + os.path.basename(os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def save(self, rounds_done: int) -> None:  # noqa: ANN001
        events.append(f"checkpoint {self.stage} {rounds_done}")
        real_save(self, rounds_done)

    monkeypatch.setattr(storage_mod.os, "fsync", fsync)
    monkeypatch.setattr(SyntheticEngine, "save", save)
    r = CliRunner().invoke(main, ["run", unique_name, "--storage", url], catch_exceptions=False)
    assert r.exit_code == 0, r.stderr
    checkpoints = [i for i, e in enumerate(events) if e.startswith("checkpoint")]
    assert [events[i] for i in checkpoints] == ["checkpoint gen 1", "checkpoint gen 2", "checkpoint gen 3",
                                                "checkpoint disc 1"]
    previous = -1
    for i in checkpoints:  # since the previous checkpoint: the log, then the file, were synced
        synced = events[previous + 1:i]
        assert "sync s.db-wal" in synced and "sync s.db" in synced, (events[i], synced)
        assert synced.index("sync s.db-wal") < synced.index("sync s.db")
        previous = i


def test_make_durable_skips_postgres_and_a_missing_wal(tmp_path, monkeypatch) -> None:
    calls: list[int] = []
    monkeypatch.setattr(storage_mod.os, "fsync", calls.append)
    make_durable("postgresql+psycopg://u@localhost/db")
    assert calls == []
    (tmp_path / "a.db").write_bytes(b"")
    make_durable(f"sqlite:///{tmp_path / 'a.db'}")  # no a.db-wal: only the file
    assert len(calls) == 1


def test_a_run_directory_deleted_during_a_run_is_claimed_again(tmp_path, monkeypatch, unique_name: str,
                                                              caplog) -> None:
    import json
    import shutil

    url = f"sqlite:///{tmp_path / 's.db'}"
    run_dir = tmp_path / "run"
    create(unique_name, url, DRY, [*SMALL, "pictures.rounds=true"], run_dir)
    claimed = json.loads((run_dir / "search.json").read_text())
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
