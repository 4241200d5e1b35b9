"""Typed, frozen config dataclasses built from plain dicts (YAML) with strict validation.

`from_dict(Cls, data)` walks the dataclass's type hints: unknown keys, wrong types and
values outside a `Literal[...]` are :class:`~optgan.errors.ConfigError` s that name the full
key path and the allowed values. Range checks live in each dataclass's `__post_init__`
(use :func:`check_range`). `to_dict` is the inverse. Reading YAML files and applying `--set`
overrides is :mod:`optgan.config.yaml_input`.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

from optgan.errors import ConfigError

T = TypeVar("T")

__all__ = ["from_dict", "to_dict", "flatten", "check_range", "check_device_name", "env_seconds", "refuse_other_config_kind"]

_DEVICE = re.compile(r"auto|cpu|cuda(:\d+)?")


def check_range(
    key: str,
    value: float | int | None,
    *,
    low: float | None = None,
    high: float | None = None,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
    low_source: str = "",
    high_source: str = "",
) -> None:
    """Raise a ConfigError naming `key` unless `value` lies in the given interval (None passes);
    `low_source` / `high_source` say where a bound comes from when it is another key's value
    (shown when that bound is the one crossed)."""
    if value is None:
        return
    too_low = low is not None and (value < low if low_inclusive else value <= low)
    too_high = high is not None and (value > high if high_inclusive else value >= high)
    if too_low or too_high:
        lo = "-inf" if low is None else f"{low}"
        hi = "inf" if high is None else f"{high}"
        lb = "[" if low_inclusive else "("
        hb = "]" if high_inclusive else ")"
        source = low_source if too_low else high_source
        raise ConfigError(f"`{key}` = {value!r} is out of range; allowed: {lb}{lo}, {hi}{hb}"
                          + (f" ({source})" if source else ""))


def env_seconds(name: str, default: float, *, minimum: float) -> float:
    """A duration from environment variable `name` (`default` when unset or empty), checked."""
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < minimum:
        raise ConfigError(f"${name} = {text!r} must be a number of seconds ≥ {minimum:g} (unset it for {default:g})")
    return value


def check_device_name(name: str) -> None:
    """A ConfigError unless `name` is `auto`, `cpu`, `cuda` or `cuda:N` (the hardware is checked
    when the device is resolved, `optgan.backends.resolve_device`)."""
    if not isinstance(name, str) or not _DEVICE.fullmatch(name):
        raise ConfigError(f"`device` = {name!r}; allowed: auto, cpu, cuda, cuda:N")


def from_dict(cls: type[T], data: Any, path: str = "") -> T:
    """Build dataclass `cls` from `data`, validating keys and types recursively."""
    if isinstance(data, cls):
        return data
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"`{path or cls.__name__}` must be a mapping, got {_tname(data)}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    unknown = sorted(set(map(str, data)) - set(fields))
    if unknown:
        where = f" in `{path}`" if path else ""
        raise ConfigError(
            f"unknown key `{_printable(_join(path, unknown[0]))}`{where}; allowed keys: {', '.join(sorted(fields))}"
        )
    hints = get_type_hints(cls)
    kwargs = {name: _convert(hints[name], _over_field_default(fields[name], data[name]), _join(path, name))
              for name in data}
    try:
        return cls(**kwargs)
    except ConfigError as e:
        # a class used under several keys names itself by `CONFIG_SECTION` (e.g. `caps.params_M`):
        # say which one (`caps.gen.params_M`)
        section = getattr(cls, "CONFIG_SECTION", None)
        if section and path and path != section and f"`{section}." in str(e):
            raise ConfigError(str(e).replace(f"`{section}.", f"`{path}.")) from e
        raise
    except TypeError as e:  # a required field is missing
        missing = [n for n, f in fields.items() if n not in data and _is_required(f)]
        if missing:
            raise ConfigError(f"missing required key `{_join(path, missing[0])}`") from e
        raise


def to_dict(obj: Any) -> Any:
    """Inverse of :func:`from_dict`: plain dicts / lists / scalars, suitable for YAML or JSON."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, Mapping):
        return {str(k): to_dict(v) for k, v in obj.items()}
    return obj


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """`{"data": {"root": x}}` → `{"data.root": x}` (lists, scalars and empty sections are leaves)."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


# ----------------------------------------------------------------------------- internals


def _convert(tp: Any, value: Any, path: str) -> Any:
    origin = get_origin(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _convert(arg, value, path)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0] if len(errors) == 1 else f"`{path}` = {value!r} has the wrong type; expected {_tname_t(tp)}")
    if origin is Literal:
        allowed = get_args(tp)
        if value not in allowed or type(value) is bool and not any(a is value for a in allowed):
            raise ConfigError(
                f"`{path}` = {value!r} is not allowed; allowed values: {', '.join(map(repr, allowed))}"
            )
        return value
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return from_dict(tp, value, path)
    if origin in (tuple, list, typing.Sequence):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"`{path}` must be a list, got {_tname(value)}")
        args = get_args(tp)
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise ConfigError(f"`{path}` must have {len(args)} elements, got {len(value)}")
            return tuple(_convert(a, v, f"{path}[{i}]") for i, (a, v) in enumerate(zip(args, value)))
        inner = args[0] if args else Any
        return tuple(_convert(inner, v, f"{path}[{i}]") for i, v in enumerate(value))
    if origin in (dict, Mapping, typing.Mapping):
        if not isinstance(value, Mapping):
            raise ConfigError(f"`{path}` must be a mapping, got {_tname(value)}")
        _, vt = get_args(tp) or (Any, Any)
        return {str(k): _convert(vt, v, _join(path, str(k))) for k, v in value.items()}
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"`{path}` must be true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            else:
                raise ConfigError(f"`{path}` must be an integer, got {value!r}")
        if not -_INT_LIMIT <= value < _INT_LIMIT:  # no setting needs more; torch and numpy take 64 bits
            raise ConfigError(f"`{path}` = an integer of {value.bit_length()} bits is out of range; "
                              f"allowed: |value| < 2**63")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            number = None
            if isinstance(value, str):
                try:
                    number = float(value)  # YAML 1.1 reads `1e-4` as a string
                except ValueError:
                    pass
            if number is None:
                raise ConfigError(f"`{path}` must be a number, got {value!r}")
            value = number
        if not math.isfinite(value):  # NaN / inf would pass every range check and fail later
            raise ConfigError(f"`{path}` must be a finite number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"`{path}` must be a string, got {value!r}")
        if "\x00" in value:  # no path or name holds one; the OS refuses it much later
            raise ConfigError(f"`{path}` contains a NUL character")
        return value
    raise TypeError(f"unsupported config type {tp!r} at {path}")  # programming error


_INT_LIMIT = 2**63


def _over_field_default(f: dataclasses.Field, value: Any) -> Any:
    """A partial section over a field whose default is not its class's defaults (TrainConfig.metrics:
    [IS, FID, KID], 50,000 images): the keys it does not give keep the field's default."""
    if (value is None or isinstance(value, Mapping)) and f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        default = f.default_factory()  # type: ignore[misc]
        if dataclasses.is_dataclass(default):
            return {**to_dict(default), **(value or {})}
    return value


def _is_required(f: dataclasses.Field) -> bool:
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING  # type: ignore[misc]


def _printable(text: str) -> str:
    """`text` with control characters escaped (a key with a newline must not cut the one-line error)."""
    return text if text.isprintable() else repr(text)[1:-1]


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _tname(value: Any) -> str:
    return type(value).__name__


def _tname_t(tp: Any) -> str:
    return " or ".join(getattr(a, "__name__", repr(a)) for a in get_args(tp))


def refuse_other_config_kind(data: Any, path: str | None, foreign: Iterable[str], what: str, instead: str) -> None:
    """A one-line ConfigError when the file at `path` is the other kind of config: it has one of
    the `foreign` top-level keys, which only `what` has (`instead`: where such a file goes)."""
    if path is None or not isinstance(data, Mapping):
        return
    found = sorted(set(map(str, data)) & set(foreign))
    if found:
        raise ConfigError(f"{path} looks like {what} (it has `{found[0]}`); {instead}")
    arch = sorted(set(map(str, data)) & {"array", "cells"})
    if arch:
        raise ConfigError(f"{path} looks like an architecture file, as `optgan export` writes (it has `{arch[0]}`), "
                          "not a config; pass it with `optgan train --gen-arch` / `--disc-arch`")
