"""Typed values for a frozen dataclass's fields, from text (``--set KEY=VALUE``) or from JSON
(recipes, saved records): the field's default says the type, and a value of another type is a
``SettingError`` naming the key and the type expected, never a silent coercion (the string
"false" is not a true bool).

    parse_pairs(["window=5", "widths=5,11,21"], defaults) -> {"window": 5, "widths": (5, 11, 21)}
    typed_json("use_length", False, value_from_json)      -> a bool, or SettingError
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, NamedTuple, Sequence

from idr_kit.data.errors import SettingError, brief

TRUE, FALSE = ("true", "1", "yes"), ("false", "0", "no")


def defaults_of(instance) -> dict[str, Any]:
    """A dataclass instance's fields as name -> value."""
    return {f.name: getattr(instance, f.name) for f in dataclasses.fields(instance)}


def parse_pairs(pairs: Sequence[str], defaults: dict[str, Any]) -> dict[str, Any]:
    """``["window=5", "use_length=false"]`` -> typed values, each read as its default's type."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or key not in defaults:
            raise SettingError(f"bad setting {pair!r}: expected KEY=VALUE with KEY one of: "
                               f"{', '.join(sorted(defaults))}")
        out[key] = typed_text(key, defaults[key], text.strip())
    return out


def typed_text(key: str, default: Any, text: str) -> Any:
    """``text`` as the type of ``default`` (a tuple's items as its first item's type)."""
    try:
        if isinstance(default, bool):
            if text.lower() not in TRUE + FALSE:
                raise ValueError(text)
            return text.lower() in TRUE
        if isinstance(default, tuple):
            kind = type(default[0]) if default else str
            return tuple(_scalar(kind, t.strip()) for t in text.split(",") if t.strip())
        if default is None:
            return text
        return _scalar(type(default), text)
    except ValueError:
        raise SettingError(f"bad value {text!r} for setting {key!r} "
                           f"(expected {_kind_name(default)})") from None


def typed_json(key: str, default: Any, value: Any) -> Any:
    """A JSON ``value`` checked against the type of ``default``: bools are true/false, whole
    numbers for ints, numbers for floats, text for text, lists for tuples (of the same item
    type); an int where a float is due is taken as that float."""
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif isinstance(default, str) or default is None:
        ok = isinstance(value, str)
    elif isinstance(default, tuple):
        ok = isinstance(value, (list, tuple))
        item = default[0] if default else ""  # an empty default holds text, as typed_text reads it
        if ok:
            value = tuple(typed_json(f"{key}[{i}]", item, v) for i, v in enumerate(value))
    else:
        ok = isinstance(value, type(default))
    if not ok:
        raise SettingError(f"setting {key!r} must be {_kind_name(default)}, not "
                           f"{type(value).__name__} {brief(value)}")
    return value


class Range(NamedTuple):
    """The values a numeric setting may take: ``low <= value <= high`` (``low < value`` when
    ``open_low``). Settings are held to sane sizes before anything is built from them: a track
    that reads ``hidden = 100000`` from a model folder would otherwise ask for 160 GB."""
    low: float
    high: float
    open_low: bool = False

    def holds(self, value: float) -> bool:
        return (self.low < value if self.open_low else self.low <= value) and value <= self.high

    def text(self) -> str:
        return f"{'above' if self.open_low else 'at least'} {self.low:g} and at most {self.high:g}"


def check_ranges(instance, ranges: dict[str, Range]) -> None:
    """SettingError naming the first field of ``instance`` outside its Range (for a tuple, the
    first item outside it)."""
    for key, allowed in ranges.items():
        value = getattr(instance, key)
        for item in value if isinstance(value, tuple) else (value,):
            if isinstance(item, bool) or not isinstance(item, (int, float)):
                continue
            if not (math.isfinite(item) and allowed.holds(item)):
                raise SettingError(f"setting {key!r} is {brief(value)}: it must be "
                                   f"{allowed.text()}")


def _scalar(kind: type, text: str):
    value = kind(text)
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(text)
    return value


def _kind_name(default: Any) -> str:
    if isinstance(default, bool):
        return "true or false"
    if isinstance(default, tuple):
        item = type(default[0]).__name__ if default else "str"
        return f"a list of {item}"
    return {int: "a whole number", float: "a number", str: "text"}.get(type(default),
                                                                       type(default).__name__)
