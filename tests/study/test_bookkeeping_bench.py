"""The storage benchmarks `bench/bookkeeping.py` and `bench/move.py` run (SQLite, and
PostgreSQL with a latency proxy when `OPTGAN_TEST_POSTGRES_URL` is set) and report both ways
side by side."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bookkeeping.py"
MOVE_BENCH = BENCH.with_name("move.py")


@pytest.mark.slow
def test_bench_compares_batched_writes_with_one_transaction_per_write(tmp_path: Path) -> None:
    cmd = [sys.executable, str(BENCH), "--population", "4", "--rounds", "2", "--rtt-ms", "1"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=tmp_path, env=os.environ.copy())
    assert proc.returncode == 0, proc.stderr[-2000:]
    res = json.loads(proc.stdout)
    storages = ["sqlite"] + (["postgresql_loopback", "postgresql_rtt_1ms"] if os.environ.get("OPTGAN_TEST_POSTGRES_URL")
                             else [])
    for name in storages:
        naive, batched = res[name]["write_through"], res[name]["batched"]
        assert batched["commits_per_trial"] < naive["commits_per_trial"] - 10  # what batching is for
        assert batched["statements_per_trial"] < naive["statements_per_trial"]
        assert res[name]["speedup_ask_plus_tell"] > 0


@pytest.mark.slow
def test_bench_move_compares_the_bulk_copy_with_optunas_trial_by_trial_copy(tmp_path: Path) -> None:
    cmd = [sys.executable, str(MOVE_BENCH), "--trials", "6", "--rtt-ms", "1"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=tmp_path, env=os.environ.copy())
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr  # the latency proxy closes quietly
    res = json.loads(proc.stdout)  # it exits non-zero when the two copies differ
    assert res["trials"] == 6
    storages = ["sqlite"] + (["postgresql_loopback", "postgresql_rtt_1ms"] if os.environ.get("OPTGAN_TEST_POSTGRES_URL")
                             else [])
    for name in storages:
        naive, bulk = res[name]["trial_by_trial"], res[name]["bulk"]
        assert naive["sql_executions_per_trial"] > 50 and bulk["sql_executions"] <= 20  # a few a table
        assert res[name]["speedup"] == pytest.approx(naive["seconds"] / bulk["seconds"], rel=0.05, abs=0.1)
