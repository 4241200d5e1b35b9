"""Under pytest-xdist every test that reaches the shared PostgreSQL server runs on one worker
(tests/_xdist_groups.py): checked on a small suite run with two workers, as CI runs the real one."""

from __future__ import annotations

import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from _xdist_groups import reaches_shared_server

TESTS = Path(__file__).resolve().parent


@pytest.mark.parametrize(("nodeid", "shared"), [
    ("tests/study/test_crash_lease.py::test_status_says_whether_a_run_holds_the_search[postgres]", True),
    ("tests/study/test_crash_lease.py::test_status_says_whether_a_run_holds_the_search[sqlite]", False),
    ("tests/sampler/test_sampler_resume.py::test_resume[postgres-4]", True),
    ("tests/study/test_bookkeeping_bench.py::test_bench_compares_batched_writes", True),
    ("tests/study/test_crash_pg_restart.py::test_postgres_restart_during_a_run", True),
    ("tests/study/test_crash_lease.py::test_a_run_in_another_thread_leaves_the_hook_alone", False),
])
def test_which_tests_reach_the_shared_server(nodeid: str, shared: bool) -> None:
    assert reaches_shared_server(nodeid) is shared


@pytest.mark.parametrize("dist", ["load", "loadgroup"])
def test_two_workers_run_the_shared_server_tests_on_one(tmp_path: Path, dist: str) -> None:
    (tmp_path / "conftest.py").write_text(
        f"import sys\nsys.path.insert(0, {str(TESTS)!r})\n"
        "from _xdist_groups import pytest_xdist_make_scheduler  # noqa: F401\n")
    (tmp_path / "test_mix.py").write_text(
        "import os, pytest, time\n"
        "@pytest.mark.parametrize('db', ['postgres', 'sqlite'] * 6)\n"
        "def test_one(db, request):\n"
        "    time.sleep(0.05)\n"
        "    with open('ran.txt', 'a') as f:\n"
        "        f.write(f\"{db} {os.environ['PYTEST_XDIST_WORKER']}\\n\")\n")
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "2", "--dist", dist,
                        "-o", "addopts=", "-o", "testpaths=", "test_mix.py"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    workers: dict[str, set[str]] = defaultdict(set)
    for line in (tmp_path / "ran.txt").read_text().splitlines():
        db, worker = line.split()
        workers[db].add(worker)
    assert len(workers["postgres"]) == 1, workers
