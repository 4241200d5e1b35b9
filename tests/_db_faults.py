"""Database faults for tests, injected through SQLAlchemy events: the error a dropped connection
raises, and a transaction that commits and then loses its reply. Import as `from _db_faults import …`."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import sqlalchemy as sa
import sqlalchemy.exc
import sqlalchemy.orm

__all__ = ["dropped_connection", "commit_then_drop"]


def dropped_connection() -> sqlalchemy.exc.OperationalError:
    """What a connection that dropped mid-statement raises (the password must never be shown)."""
    return sqlalchemy.exc.OperationalError("UPDATE …", {}, Exception("server closed the connection unexpectedly "
                                                                     "(password s3cret-pw)"))


@contextlib.contextmanager
def commit_then_drop(statement: str) -> Iterator[list[int]]:
    """The first transaction that runs `statement` commits, then its reply is lost (the list
    yielded gets an entry when that has happened)."""
    dropped: list[int] = []
    pending = {"now": False}

    def seen(conn, cursor, sql, *args):  # noqa: ANN001, ANN202
        if not dropped and sql.lstrip().startswith(statement):
            pending["now"] = True

    def committed(session):  # noqa: ANN001, ANN202
        if pending["now"]:
            pending["now"] = False
            dropped.append(1)
            raise dropped_connection()

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", seen)
    sa.event.listen(sa.orm.Session, "after_commit", committed)
    try:
        yield dropped
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", seen)
        sa.event.remove(sa.orm.Session, "after_commit", committed)
