"""`bench/bookkeeping.py` runs (SQLite, and PostgreSQL with a latency proxy when
`OPTGAN_TEST_POSTGRES_URL` is set) and reports both ways side by side."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bookkeeping.py"


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
