"""Settings as the command line takes them: ``--set KEY=VALUE``, recipe files and the flags
that stand for config fields, routed by name to a track's config, the run's decision settings
or its runtime. Part of the run layer: tracks know nothing of it.

Every value is typed by the field it sets (data.fields): text from ``--set`` and flags, JSON
from recipes, by the same rules.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Sequence

from idr_kit.data.errors import FileRefused, InputError, SettingError
from idr_kit.data.reading import read_json
from idr_kit.data.fields import defaults_of, parse_pairs, typed_json
from idr_kit.model.decision import DecisionSettings
from idr_kit.model.runtime import Runtime
from idr_kit.tracks import TRACKS, config_class

SETTING_KINDS = ("config", "decision", "runtime")
RECIPES = Path(__file__).resolve().parents[1] / "recipes"
BACKBONE_HELP = ("backbone: a fair-esm ESM-2 name (esm2_t33_650M_UR50D ...), a transformers "
                 "model directory or hub id, or 'antiberty'")
# Config fields that the command line offers as flags of their own (--backbone ...): the one
# place their help text is written.
FLAGS: dict[str, str] = {
    "backbone": BACKBONE_HELP,
    "weights": "a local fair-esm checkpoint (.pt) for the --backbone named",
    "from_scratch": "train from random weights (never done unless asked)",
    "model_name": "llm: a local model directory or hub id (default Qwen/Qwen2.5-7B-Instruct)",
    "members": "ensemble members: comma-separated track names, e.g. w2v,lgbm,metapredict",
}


def settings_fields(name: str) -> dict[str, tuple[str, Any]]:
    """Every setting a run of track ``name`` takes: key -> (kind, default value)."""
    defaults = {"config": config_class(name)(), "decision": DecisionSettings(),
                "runtime": Runtime()}
    return {key: (kind, value) for kind, default in defaults.items()
            for key, value in defaults_of(default).items()}


def parse_settings(name: str, pairs: Sequence[str]) -> dict[str, Any]:
    """``--set`` pairs of a run of track ``name``: its config's, the decision's, the runtime's."""
    return parse_pairs(pairs, {k: v for k, (_, v) in settings_fields(name).items()})


def split_settings(name: str, values: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Settings by kind: ``{"config": {...}, "decision": {...}, "runtime": {...}}``."""
    fields = settings_fields(name)
    out: dict[str, dict[str, Any]] = {kind: {} for kind in SETTING_KINDS}
    for key, value in values.items():
        out[fields[key][0]][key] = value
    return out


def read_recipe(path: str | Path) -> tuple[str | None, dict[str, Any]]:
    """A recipe file: ``(its track, its settings)``, untyped. A recipe is a JSON object of
    settings (config, decision or runtime), with ``_track`` naming its track; other ``_``
    keys are comments."""
    try:
        settings = read_json(path)
    except InputError as err:
        raise SettingError(f"{err} (a recipe is a JSON object of settings)") from None
    if not isinstance(settings, dict):
        raise SettingError(f"{path}: a recipe is a JSON object of settings")
    track = settings.get("_track")
    if track is not None and not isinstance(track, str):
        raise SettingError(f"{path}: '_track' must name a track, not {track!r}")
    return track, {k: v for k, v in settings.items() if not k.startswith("_")}


def typed_recipe(name: str, settings: dict[str, Any], path: str | Path) -> dict[str, Any]:
    """A recipe's settings for track ``name``, each checked against its field's type."""
    fields = settings_fields(name)
    unknown = sorted(set(settings) - set(fields))
    if unknown:
        raise SettingError(f"{path}: unknown setting(s) {', '.join(unknown)} for track "
                           f"{name!r}; known: {', '.join(sorted(fields))}")
    try:
        return {k: typed_json(k, fields[k][1], v) for k, v in settings.items()}
    except SettingError as err:
        raise SettingError(f"{path}: {err}") from None


def recipe_path(given: str | Path) -> Path:
    """A recipe file by path, or by the name of one shipped with the kit (``cpu_own``)."""
    path = Path(given)
    if path.is_file():
        return path
    shipped = RECIPES / f"{path.stem}.json"
    if path.parent == Path(".") and shipped.is_file():
        return shipped
    known = sorted(p.stem for p in RECIPES.glob("*.json"))
    raise FileRefused(f"{given}: no such recipe file; shipped recipes: {', '.join(known)}")


def command_flags() -> dict[str, tuple[str, Any]]:
    """The config fields offered as flags: name -> (help, default of the first track with it)."""
    flags: dict[str, tuple[str, Any]] = {}
    for field, text in FLAGS.items():
        owner = next(n for n in TRACKS if field in defaults_of(config_class(n)()))
        flags[field] = (text, defaults_of(config_class(owner)())[field])
    return flags


def field_notes(cls) -> dict[str, str]:
    """Each dataclass field's one line of meaning: the comment after it on its line, in the
    source of the class that declares it (or of a base class)."""
    import inspect
    import io
    import tokenize
    notes: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        try:
            source = inspect.getsource(klass)
        except (OSError, TypeError):
            continue
        lines = source.splitlines()
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type != tokenize.COMMENT:
                continue
            line = lines[token.start[0] - 1]
            name = line.strip().split(":", 1)[0]
            if name.isidentifier() and line.startswith("    ") and not line.startswith("     "):
                notes[name] = token.string.lstrip("#").strip()
    return notes


def settings_table(name: str) -> str:
    """Track ``name``'s settings, the decision's and the runtime's, one line each: the key,
    its default, its range where it has one, and what it means (from its field's comment)."""
    rows = []
    for kind, cls in (("track " + name, config_class(name)), ("decision", DecisionSettings),
                      ("runtime", Runtime)):
        notes, ranges = field_notes(cls), getattr(cls, "ranges", dict)()
        rows.append(f"  {kind}:")
        for key, default in defaults_of(cls()).items():
            shown = ",".join(map(str, default)) if isinstance(default, (tuple, list)) else default
            span = (f" [{_number(ranges[key].low)}..{_number(ranges[key].high)}]"
                    if key in ranges else "")
            rows.append(f"    {key}={shown}{span}  {notes.get(key, '')}".rstrip())
    return "\n".join(rows)


def _number(value: float) -> str:
    return f"{int(value):,}" if float(value).is_integer() else f"{value:g}"
