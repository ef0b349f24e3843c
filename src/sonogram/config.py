"""Typed configs from plain data: YAML files, ``--set key=value`` overrides, dataclass validation.

Configs are dataclasses. :func:`from_dict` builds one from a dict and rejects unknown keys and
wrong types with a :class:`ConfigError` that names the dotted key and the valid options, so a
typo in a recipe fails before any work starts.

Example:
    >>> from dataclasses import dataclass
    >>> @dataclass
    ... class Optim:
    ...     lr: float = 1e-3
    ...     name: str = "adamw"
    >>> data = apply_overrides({"optim": {"lr": 0.1}}, ["optim.name=sgd"])
    >>> from_dict(Optim, data["optim"], "optim")
    Optim(lr=0.1, name='sgd')
"""

from __future__ import annotations

import copy
import dataclasses
import math
import types
import typing
from pathlib import Path
from typing import Any

import yaml

from sonogram.errors import ConfigError


def load_yaml(path: str | Path) -> dict:
    """Read a YAML mapping; a missing file, bad YAML or a non-mapping is a :class:`ConfigError`."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such config file")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of keys to values, got {type(data).__name__}")
    return data


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """Return a copy of ``data`` with each ``dotted.key=value`` set; values are parsed as YAML.

    List items are addressed by index (``design.frontend.0.n_mels=64``).
    """
    data = copy.deepcopy(data)
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"override {item!r} is not KEY=VALUE")
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError:
            value = raw
        *parents, leaf = key.split(".")
        node: Any = data
        for i, part in enumerate(parents):
            where = ".".join(parents[: i + 1])
            if isinstance(node, list):
                node = node[_list_index(part, node, where)]
            else:
                node = node.setdefault(part, {})
            if not isinstance(node, (dict, list)):
                raise ConfigError(f"override {item!r}: {where} is a value, not a section")
        if isinstance(node, list):
            node[_list_index(leaf, node, key)] = value
        else:
            node[leaf] = value
    return data


def _list_index(part: str, items: list, where: str) -> int:
    if not part.isdigit() or int(part) >= len(items):
        raise ConfigError(f"{where}: expected a list index below {len(items)}, got {part!r}")
    return int(part)


def from_dict(cls: type, data: dict | None, where: str = ""):
    """Build dataclass ``cls`` from ``data``, checking key names and value types recursively."""
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise ConfigError(f"{where or cls.__name__}: expected a mapping, got {data!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"unknown key {_join(where, unknown[0])!r}; valid keys: {', '.join(fields)}")
    hints = typing.get_type_hints(cls)
    values = {name: check_type(value, hints[name], _join(where, name)) for name, value in data.items()}
    for name, value in values.items():
        check_range(value, fields[name].metadata, _join(where, name))
    try:
        return cls(**values)
    except TypeError as exc:
        raise ConfigError(f"{where or cls.__name__}: {exc}") from None


def bounded(default, low: float | None = None, high: float | None = None, *, above: bool = False,
            below: bool = False, help: str = ""):
    """A dataclass field whose numeric value must lie in ``[low, high]`` (``above``/``below``: strictly).

    Example:
        >>> from dataclasses import dataclass
        >>> @dataclass
        ... class Train:
        ...     epochs: int = bounded(30, 1)
        >>> from_dict(Train, {"epochs": 0})
        Traceback (most recent call last):
        ...
        sonogram.errors.ConfigError: epochs must be at least 1, got 0
    """
    factory = {"default_factory": default} if callable(default) else {"default": default}
    return dataclasses.field(**factory, metadata={"low": low, "high": high, "above": above, "below": below,
                                                  "help": help})


def check_range(value, metadata, where: str) -> None:
    """Raise for a non-finite float anywhere, and for a number outside a :func:`bounded` field's range."""
    numbers = value if isinstance(value, (list, tuple)) else [value]
    for number in numbers:
        if isinstance(number, float) and not math.isfinite(number):
            raise ConfigError(f"{where} must be a finite number, got {number}")
        if not isinstance(number, (int, float)) or isinstance(number, bool):
            continue
        low, high = metadata.get("low"), metadata.get("high")
        if low is not None and (number <= low if metadata["above"] else number < low):
            raise ConfigError(f"{where} must be {'above' if metadata['above'] else 'at least'} {low}, got {number}")
        if high is not None and (number >= high if metadata["below"] else number > high):
            raise ConfigError(f"{where} must be {'below' if metadata['below'] else 'at most'} {high}, got {number}")


def to_dict(config) -> dict:
    """A dataclass as plain data (tuples become lists) for YAML and checkpoints."""
    return _plain(dataclasses.asdict(config))


def _plain(value):
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def check_type(value, hint, where: str):
    """Return ``value`` converted to ``hint`` (int -> float, list -> tuple, nested dataclasses) or raise."""
    origin = typing.get_origin(hint)
    if hint is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return check_type(value, option, where)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if len(errors) == 1 else f"{where}: {value!r} matches none of {hint}")
    if origin is typing.Literal:
        choices = typing.get_args(hint)
        if value not in choices:
            raise ConfigError(f"{where}: {value!r} is not one of {', '.join(map(repr, choices))}")
        return value
    if dataclasses.is_dataclass(hint):
        return from_dict(hint, value, where)
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        args = typing.get_args(hint)
        item = args[0] if args else Any
        items = [check_type(v, item, f"{where}.{i}") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return value
    if hint is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if hint is float and isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    if isinstance(hint, type) and isinstance(value, hint) and not (hint is int and isinstance(value, bool)):
        return value
    raise ConfigError(f"{where}: expected {getattr(hint, '__name__', hint)}, got {value!r}")


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key
