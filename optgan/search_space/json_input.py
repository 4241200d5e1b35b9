"""JSON given on a command line or in a config: inline (`'{"net": "gen", ...}'`) or as a file path.

Every problem (not JSON, a folder, unreadable, not UTF-8, too deeply nested) is a one-line
GenotypeError that names what was expected ("genotype", "gen architecture") and the file.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from typing import Any

from optgan.errors import GenotypeError

__all__ = ["read_json_argument", "json_source"]


@contextlib.contextmanager
def json_source(text_or_path: str, what: str) -> Iterator[None]:
    """Prefix a GenotypeError raised in the body with where its JSON came from (`what`, the file)."""
    try:
        yield
    except GenotypeError as e:
        path = text_or_path.strip()
        where = f"{what} file {path}" if os.path.isfile(path) else f"{what} (JSON given inline)"
        raise GenotypeError(f"{where}: {e}") from None


def read_json_argument(text_or_path: str, what: str) -> Any:
    """The JSON value given inline or in a file at `text_or_path`; problems are GenotypeErrors
    naming `what` (e.g. "genotype", "gen architecture")."""
    text = text_or_path.strip()
    try:
        return _parse_json(text, what)
    except json.JSONDecodeError as e:
        if text.startswith(("[", "{")):
            raise GenotypeError(f"{what} is not valid JSON: {e.msg} (line {e.lineno}, column {e.colno})") from e
    if os.path.isdir(text):
        raise GenotypeError(f"{what} {text_or_path!r} is a folder; give a JSON file or a JSON string")
    if os.path.exists(text) and not os.path.isfile(text):
        raise GenotypeError(f"{what} {text_or_path!r} is not a regular file (a pipe or a device?); give a JSON file")
    if not os.path.isfile(text):
        raise GenotypeError(f"{what} {text_or_path!r} is neither JSON nor an existing file")
    try:
        with open(text, encoding="utf-8") as f:
            content = f.read()
    except OSError as e:
        raise GenotypeError(f"cannot read {what} file {text_or_path}: {e.strerror}") from e
    except UnicodeDecodeError as e:
        raise GenotypeError(f"{what} file {text_or_path} is not UTF-8 text (byte {e.start}); is it a JSON file?") from e
    try:
        return _parse_json(content, f"{what} file {text_or_path}")
    except json.JSONDecodeError as e:
        raise GenotypeError(f"{what} file {text_or_path} is not valid JSON: {e.msg} "
                            f"(line {e.lineno}, column {e.colno})") from e


def _parse_json(text: str, what: str) -> Any:
    """`json.loads`, with nesting and number-size limits as GenotypeErrors naming `what`."""
    try:
        return json.loads(text)
    except RecursionError:
        raise GenotypeError(f"{what} nests too deeply to be a genotype (3 rows of 7 edges)") from None
    except json.JSONDecodeError:
        raise
    except ValueError as e:  # e.g. an integer of more than 4,300 digits
        raise GenotypeError(f"{what} holds a value JSON cannot read ({str(e)[:80]})") from None
