"""A saved model: a folder with the track's learned files and ``track.json`` (its name,
config, decision and the code version that trained it).

    save_model(track, directory, decision)        # learned state + track.json
    load_model(directory, runtime) -> SavedModel  # the track and its decision

The runtime is never read from the folder: the caller gives it (runtime.py).
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, NamedTuple

from idr_kit.data.atomic import read_json, write_json
from idr_kit.data.errors import FileRefused, SettingError
from idr_kit.data.fields import defaults_of, typed_json
from idr_kit.data.provenance import code_version
from idr_kit.postprocess import Decision
from idr_kit.runtime import Runtime
from idr_kit.tracks import Track, TrackConfig, config_class, require_installed, track_class

TRACK_FILE = "track.json"


class SavedModel(NamedTuple):
    track: Track
    decision: Decision
    meta: dict


def save_model(track: Track, directory: str | Path, decision: Decision = Decision(),
               **record: Any) -> Path:
    """The track's learned state, and ``track.json``: its name, config, decision and version."""
    directory = Path(directory)
    track.save(directory)
    write_json(directory / TRACK_FILE, {"track": track.name,
                                        "config": dataclasses.asdict(track.config),
                                        "decision": decision.to_dict(),
                                        "code_version": code_version(), **record})
    return directory


def read_model_meta(directory: str | Path) -> dict:
    path = Path(directory) / TRACK_FILE
    if not path.is_file():
        raise FileRefused(f"{directory}: not a saved model (no {TRACK_FILE}); "
                          "pass the model/ folder that submit.py wrote")
    meta = read_json(path)
    if not isinstance(meta, dict) or not isinstance(meta.get("config"), dict):
        raise FileRefused(f"{path}: not a model record: no 'track' and 'config'")
    return meta


def load_model(directory: str | Path, runtime: Runtime | None = None) -> SavedModel:
    """A saved model with ``runtime`` (never one read from the folder)."""
    meta = read_model_meta(directory)
    name = meta.get("track")
    config = build_config(name, meta["config"], source=str(Path(directory) / TRACK_FILE))
    require_installed(name, config)
    track = track_class(name).load(Path(directory), config, runtime)
    return SavedModel(track, Decision.from_dict(meta.get("decision") or {}), meta)


def build_config(name: str, values: dict, *, source: str) -> TrackConfig:
    """Track ``name``'s config from ``values``, each checked against its field's type
    (data.fields.typed_json); an unknown key or a wrong type is a SettingError naming
    ``source``."""
    cls = config_class(name)
    defaults = defaults_of(cls())
    unknown = sorted(set(values) - set(defaults))
    if unknown:
        raise SettingError(f"{source}: unknown setting(s) {', '.join(unknown)} for track {name!r}")
    try:
        return cls(**{k: typed_json(k, defaults[k], v) for k, v in values.items()})
    except SettingError as err:
        raise SettingError(f"{source}: {err}") from None
