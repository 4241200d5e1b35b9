"""Storage URLs: which one to use, what it names, and how to show it without its password.

Resolution order: `--storage URL`, else `$OPTGAN_STORAGE`, else `sqlite:///optgan.db`. Only
SQLite and PostgreSQL URLs are accepted (:func:`parse_storage_url`). Passwords never appear in
messages: :func:`redact` hides them in a URL, :func:`scrub_passwords` in any text (a driver's
error message).
"""

from __future__ import annotations

import os
import pathlib
import re
import urllib.parse

import sqlalchemy
import sqlalchemy.exc
from sqlalchemy.engine import make_url

from optgan.errors import StorageError

__all__ = ["DEFAULT_STORAGE", "STORAGE_ENV", "resolve_storage_url", "redact", "scrub_passwords", "url_passwords",
           "sqlite_path", "default_run_root", "parse_storage_url"]

DEFAULT_STORAGE = "sqlite:///optgan.db"
STORAGE_ENV = "OPTGAN_STORAGE"


def resolve_storage_url(url: str | None = None) -> str:
    """The storage URL to use: explicit, else `$OPTGAN_STORAGE`, else `sqlite:///optgan.db`."""
    return url or os.environ.get(STORAGE_ENV) or DEFAULT_STORAGE


def redact(url: str) -> str:
    """`url` with any password (`user:PASSWORD@` or `?password=`) replaced by `***` (safe for
    logs and error messages)."""
    try:
        text = make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - unparsable URLs are reported by open_storage
        return url.split("@")[-1] if "@" in url else url
    return scrub_passwords(text, url)


def url_passwords(url: str) -> list[str]:
    """The passwords written in `url`: in its user part and as a `password` query parameter."""
    try:
        u = make_url(url)
    except Exception:  # noqa: BLE001 - unparsable: nothing known to hide
        return []
    found = [str(u.password)] if u.password else []
    query = u.query.get("password")
    found += [query] if isinstance(query, str) else list(query or ())
    return [p for p in found if p]


def sqlite_path(url: str) -> pathlib.Path | None:
    """The database file of an SQLite URL (None for other back ends or in-memory SQLite)."""
    u = make_url(url)
    if u.get_backend_name() != "sqlite" or not u.database or u.database == ":memory:":
        return None
    return pathlib.Path(u.database)


def default_run_root(url: str) -> pathlib.Path:
    """Where run directories go by default: `optgan-runs/` next to an SQLite file, else cwd."""
    path = sqlite_path(url)
    base = path.resolve().parent if path is not None else pathlib.Path.cwd()
    return base / "optgan-runs"


def parse_storage_url(url: str) -> sqlalchemy.engine.URL:
    """`url` parsed; a StorageError when it is not an SQLite or PostgreSQL database URL."""
    safe = redact(url)
    try:
        parsed = make_url(url)
    except (sqlalchemy.exc.ArgumentError, ValueError) as e:  # ValueError: e.g. a port that is not a number
        raise StorageError(f"storage URL {safe!r} is not a database URL (e.g. sqlite:///optgan.db "
                           "or postgresql://user@host/db)") from e
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        hint = " (did you mean postgresql://…?)" if backend in ("postgres", "pgsql", "psql") else ""
        raise StorageError(f"storage back end {backend!r} of {safe!r} is not supported{hint}; "
                           "use sqlite:///FILE or postgresql://USER@HOST/DB")
    if backend == "sqlite" and parsed.query:  # e.g. ?mode=ro: optgan opens SQLite files itself
        raise StorageError(f"storage URL {safe!r}: SQLite URLs take no options ({', '.join(sorted(parsed.query))}); "
                           "give sqlite:///FILE (a file that cannot be written is opened read-only by itself)")
    return parsed


def scrub_passwords(text: str, url: str) -> str:
    """`text` (e.g. a driver's error message) with the passwords of `url` replaced by `***`:
    wherever one stands as a value (after `:`, `=`, a quote or a space, before `@`, `&`, a quote,
    a space or the end), so that a short password never mangles host, user or database names."""
    for password in url_passwords(url):
        for form in {password, urllib.parse.quote(password, safe="")}:
            text = re.sub(rf"(?:(?<=[:=\s'\"])|^){re.escape(form)}(?=[@&\s'\",;)]|$)", "***", text)
    return text
