"""Which tests pytest-xdist must run on one worker, one after another: those that reach the one
PostgreSQL server CI starts (they share its database; one restarts the server, others drop the
lease table), whatever `--dist` mode asks for load balancing (`load`, `loadgroup`).

Done by the controller's scheduler (`pytest_xdist_make_scheduler`, imported by tests/conftest.py)
from node ids alone, not with `xdist_group` marks: pytest-xdist ≤ 3.8 turns those marks into groups
by rewriting `item._nodeid`, which pytest 9.2 no longer reads, so under pytest 9.2 the marks are
silently ignored and such tests ran side by side on two workers (tests/test_xdist_groups.py).
"""

from __future__ import annotations

from typing import Any

SHARED_SERVER_GROUP = "postgres"
#: modules whose tests all reach the shared server although their node ids do not say `postgres`
SHARED_SERVER_MODULES = ("test_bookkeeping_bench.py", "test_crash_pg_restart.py")


def reaches_shared_server(nodeid: str) -> bool:
    """Whether the test `nodeid` uses the shared PostgreSQL server (`[postgres]` parameters, or a
    module in SHARED_SERVER_MODULES)."""
    module = nodeid.split("::", 1)[0].rsplit("/", 1)[-1]
    return SHARED_SERVER_GROUP in nodeid.lower() or module in SHARED_SERVER_MODULES


def pytest_xdist_make_scheduler(config: Any, log: Any) -> Any:
    """Load balancing with every shared-server test in one work unit (`--dist load` or
    `loadgroup`); None (xdist's own choice) for the other modes."""
    if config.getvalue("dist") not in ("load", "loadgroup"):
        return None
    from xdist.scheduler import LoadGroupScheduling

    class SharedServerScheduling(LoadGroupScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return SHARED_SERVER_GROUP if reaches_shared_server(nodeid) else super()._split_scope(nodeid)

    return SharedServerScheduling(config, log)
