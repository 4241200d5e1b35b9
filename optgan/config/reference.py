"""Every config key, its type, default and meaning, read off the config dataclasses.

The meaning is the field's ``#:`` comment in the source (Sphinx's convention), so the code is the
one place a key is explained. ``python -m optgan.config.reference`` prints the Markdown that
README.md's "Config reference" holds between its markers (a test keeps the two equal).
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import re
import textwrap
import types
import typing
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

__all__ = ["KeyDoc", "config_keys", "reference_markdown"]


@dataclass(frozen=True)
class KeyDoc:
    key: str  #: dotted path, e.g. `gen_stage.lr_g`
    kind: str  #: allowed values or type, as a config file writes them
    default: str  #: as YAML writes it
    doc: str  #: the field's `#:` comment (empty when it has none)


def config_keys(cls: type, prefix: str = "", defaults: Any = None) -> list[KeyDoc]:
    """Every leaf key of config dataclass `cls` (nested sections flattened), in field order, with
    the defaults of `defaults` (an instance; None = ``cls()``: a nested section's defaults are the
    ones its parent gives it, e.g. a training recipe's 50,000 evaluation images)."""
    defaults = cls() if defaults is None else defaults
    hints = typing.get_type_hints(cls, include_extras=False)
    docs = _field_comments(cls)
    out: list[KeyDoc] = []
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        key, hint, default = f"{prefix}{f.name}", hints[f.name], getattr(defaults, f.name)
        if dataclasses.is_dataclass(hint) and isinstance(hint, type):
            out += config_keys(hint, f"{key}.", default)
            continue
        out.append(KeyDoc(key, _kind(hint), _yaml(default), _null(docs.get(f.name, ""))))
    return out


def reference_markdown() -> str:
    """The tables of README.md's "Config reference": search configs and training recipes."""
    from optgan.config.study import StudyConfig
    from optgan.config.train import TrainConfig

    parts = []
    for title, cls in (("Search configs (`optgan study create --config`, `studies/*.yaml` but `train-*`)",
                        StudyConfig),
                       ("Training recipes (`optgan train --config`, `studies/train-*.yaml`)", TrainConfig)):
        rows = [f"| `{k.key}` | {k.kind} | `{k.default}` | {k.doc} |" for k in config_keys(cls)]
        parts.append("\n".join([f"#### {title}", "", "| key | values | default | meaning |",
                                "| --- | --- | --- | --- |", *rows]))
    return "\n\n".join(parts) + "\n"


# ---------------------------------------------------------------------------------- rendering
def _null(doc: str) -> str:
    """Python's None as a config file writes it."""
    return re.sub(r"\bNone\b", "`null`", doc)


def _kind(hint: Any) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Literal:
        return " \\| ".join(f"`{_yaml(a)}`" for a in args)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        text = " or ".join(_kind(a) for a in inner)
        return f"{text} or `null`" if len(inner) < len(args) else text
    if origin is tuple:
        items = [a for a in args if a is not Ellipsis]
        if len(args) == 2 and args[1] is Ellipsis:
            return f"list of {_kind(items[0])}"
        return f"[{', '.join(_kind(a) for a in items)}]"
    if isinstance(hint, type):
        return {"int": "integer", "float": "number", "str": "text", "bool": "`true` \\| `false`"}.get(
            hint.__name__, hint.__name__)
    return str(hint)


def _yaml(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(_yaml(v) for v in value) + "]"
    if dataclasses.is_dataclass(value):
        return "{" + ", ".join(f"{f.name}: {_yaml(getattr(value, f.name))}" for f in dataclasses.fields(value)) + "}"
    if isinstance(value, float) and value and (abs(value) < 1e-3 or abs(value) >= 1e6):
        return f"{value:g}"
    return str(value)


@cache
def _field_comments(cls: type) -> dict[str, str]:
    """`name -> text` of the `#:` comments right above (or after) each field of `cls` and its bases."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if klass is object or not dataclasses.is_dataclass(klass):
            continue
        lines, _ = inspect.getsourcelines(klass)
        tree = ast.parse(textwrap.dedent("".join(lines)))
        body = tree.body[0].body  # type: ignore[attr-defined]
        for node in body:
            if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
                continue
            index = node.lineno - 1  # 0-based line of the field in `lines`
            above: list[str] = []
            i = index - 1
            while i >= 0 and lines[i].strip().startswith("#:"):
                above.insert(0, lines[i].strip()[2:].strip())
                i -= 1
            trailing = lines[index].split("#:", 1)[1].strip() if "#:" in lines[index] else ""
            text = " ".join(above) or trailing
            if text:
                docs[node.target.id] = text.replace("|", "\\|")
    return docs


if __name__ == "__main__":
    print(reference_markdown(), end="")
