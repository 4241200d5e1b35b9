"""YAML in: config files and `--set key.path=value` overrides, as plain dicts with one-line errors.

`load_yaml` reads a mapping strictly (a key given twice is an error, not "last one wins") and
turns I/O, encoding and syntax problems into :class:`~optgan.errors.ConfigError` s with a
line and column; `apply_overrides` applies `--set` strings (values parsed as YAML). Both refuse
YAML aliases that refer to themselves or expand to more than :data:`MAX_CONFIG_VALUES` values.
Validation against the config dataclasses is :func:`optgan.config.base.from_dict`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

import yaml

from optgan.errors import ConfigError

__all__ = ["load_yaml", "apply_overrides", "override_key_parts", "MAX_CONFIG_VALUES"]


def override_key_parts(item: str) -> list[str]:
    """The dotted key of a `key.path=value` override as its parts; a ConfigError for an empty part."""
    if "=" not in item:
        raise ConfigError(f"override {item!r} must look like `key.path=value`")
    parts = [p.strip() for p in item.split("=", 1)[0].strip().split(".")]
    if not any(parts):
        raise ConfigError(f"override {item!r} has an empty key")
    if not all(parts):
        raise ConfigError(f"override {item!r}: the key has an empty part (a `..` or a leading/trailing `.`)")
    return parts


def apply_overrides(data: dict[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """Return a deep copy of `data` with each `a.b.c=value` applied (value parsed as YAML)."""
    out = _deepcopy(data)
    for item in overrides:
        parts = override_key_parts(item)
        raw = item.split("=", 1)[1]
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError as e:
            raise ConfigError(f"override {item!r}: value is not valid YAML ({e.problem})") from e
        except RecursionError:
            raise ConfigError(f"override {item[:60]!r}…: value nests too deeply") from None
        except ValueError as e:  # e.g. an integer of more than 4,300 digits
            raise ConfigError(f"override {item[:60]!r}…: the value cannot be read ({e})") from None
        _check_expansion(value, f"override {item!r}")
        node = out
        for p in parts[:-1]:
            nxt = node.get(p)
            if nxt is None:
                nxt = node[p] = {}
            if not isinstance(nxt, dict):
                raise ConfigError(f"override {item!r}: `{p}` is not a section")
            node = nxt
        node[parts[-1]] = value
    return out


class _StrictLoader(yaml.SafeLoader):
    """YAML's safe loader, but a key given twice in one mapping is an error (not "last one wins")."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *base`: merged by flatten_mapping below
                continue
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, (list, dict)):
                raise yaml.constructor.ConstructorError(None, None, "found a list or mapping used as a key (keys are names)",
                                                        key_node.start_mark)
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"key {key!r} is given twice",
                                                        key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep)


def load_yaml(path: str) -> dict[str, Any]:
    """Read a YAML mapping from `path`, turning I/O and syntax problems into one-line errors."""
    if os.path.exists(path) and not os.path.isdir(path) and not os.path.isfile(path):
        raise ConfigError(f"config file {path} is not a regular file (a pipe or a device?)")  # reading could block
    try:
        with open(path, "rb") as f:
            text = f.read().decode("utf-8")  # decoded whole: the error's byte is the file's offset
        data = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except FileNotFoundError as e:
        raise ConfigError(f"config file not found: {path}") from e
    except OSError as e:
        raise ConfigError(f"cannot read config file {path}: {e.strerror}") from e
    except UnicodeDecodeError as e:
        raise ConfigError(f"config file {path} is not UTF-8 text (byte {e.start}); save it as UTF-8") from e
    except RecursionError as e:
        raise ConfigError(f"config file {path} nests too deeply (a YAML alias that refers to itself?)") from e
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(e, "problem", None)
        if isinstance(e, yaml.reader.ReaderError):  # a character YAML does not allow (e.g. NUL)
            where = f" (character {e.position + 1})"
            shown = chr(e.character) if isinstance(e.character, int) else e.character
            problem = f"{e.reason} {shown!r}"
        raise ConfigError(f"config file {path} is not valid YAML{where}" + (f": {problem}" if problem else "")) from e
    except ValueError as e:  # e.g. an integer of more than 4,300 digits
        raise ConfigError(f"config file {path} holds a value YAML cannot read ({e})") from e
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must contain a mapping at top level")
    _check_expansion(data, f"config file {path}")
    return data


#: a config with more values than this after expanding YAML aliases is refused (a real one has ~100)
MAX_CONFIG_VALUES = 100_000


def _check_expansion(value: Any, what: str) -> None:
    """A ConfigError naming `what` for YAML aliases that refer to themselves or multiply (a tiny
    text that would expand to an exponential config)."""
    size = _expanded_size(value, {})
    if size is None:
        raise ConfigError(f"{what} has a YAML alias that refers to itself")
    if size > MAX_CONFIG_VALUES:
        raise ConfigError(f"{what} expands to more than {MAX_CONFIG_VALUES:,} values "
                          "(YAML aliases that repeat each other?)")


def _expanded_size(value: Any, memo: dict[int, int | None]) -> int | None:
    """How many values `value` holds once every alias is written out (each shared node is walked
    once); None when a node contains itself (an alias inside its own anchor)."""
    if not isinstance(value, (dict, list)):
        return 1
    key = id(value)
    if key not in memo:
        memo[key] = None  # being walked: meeting it again below means a cycle
        total = 1
        for item in [*value.keys(), *value.values()] if isinstance(value, dict) else value:
            size = _expanded_size(item, memo)
            if size is None:
                return None
            total += size
        memo[key] = total
    return memo[key]


def _deepcopy(d: Any) -> Any:
    if isinstance(d, dict):
        return {k: _deepcopy(v) for k, v in d.items()}
    if isinstance(d, list):
        return [_deepcopy(v) for v in d]
    return d
