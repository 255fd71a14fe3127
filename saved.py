"""A saved model: a folder with the track's learned files and ``track.json`` (its name,
config, decision, the code version that trained it, and each file's size and sha256).

    save_model(track, directory, decision)        # learned state + track.json
    load_model(directory, runtime) -> SavedModel  # the track and its decision

The one reader of model folders: before anything is built from a folder, its record is checked
(types and ranges of every setting, the decision) and every file it lists is checked to be the
file that was saved (size, then sha256), so a damaged or swapped file is one line naming it,
never a library's crash. Each track then reads its files with shape checks of its own
(data/arrays.py, nn/train.py). The runtime is never read from the folder: the caller gives it
(runtime.py).
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, NamedTuple

from idr_kit.data.atomic import read_json, write_json
from idr_kit.data.digests import file_sha256
from idr_kit.data.errors import FileRefused, SettingError, brief
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
                                        "code_version": code_version(),
                                        "files": file_records(directory), **record})
    return directory


def file_records(directory: Path) -> dict[str, dict]:
    """Each file of a saved model (track.json aside), relative path -> bytes and sha256."""
    return {str(path.relative_to(directory)): {"bytes": path.stat().st_size,
                                               "sha256": file_sha256(path)}
            for path in sorted(directory.rglob("*"))
            if path.is_file() and path != directory / TRACK_FILE}


def check_files(directory: Path, records) -> None:
    """Every listed file is there, of its size and its sha256; FileRefused naming the first
    that is not (a model saved before the kit listed its files has no records to check)."""
    if records is None:
        return
    if not isinstance(records, dict):
        raise FileRefused(f"{directory / TRACK_FILE}: 'files' is not a record of files")
    for name, record in records.items():
        path = directory / name
        if (not isinstance(record, dict) or ".." in Path(name).parts or Path(name).is_absolute()
                or path.is_symlink()):
            raise FileRefused(f"{directory / TRACK_FILE}: a bad file record {brief(name)}")
        if not path.is_file() or path.stat().st_size != record.get("bytes") \
                or file_sha256(path) != record.get("sha256"):
            raise FileRefused(f"{path}: not the file this model was saved with (missing, "
                              "damaged or changed since); save the model again")


def read_model_meta(directory: str | Path) -> dict:
    path = Path(directory) / TRACK_FILE
    if not path.is_file():
        raise FileRefused(f"{directory}: not a saved model (no {TRACK_FILE}); "
                          "pass the model/ folder that submit.py wrote")
    meta = read_json(path)
    if (not isinstance(meta, dict) or not isinstance(meta.get("config"), dict)
            or not isinstance(meta.get("track"), str)):
        raise FileRefused(f"{path}: not a model record: no 'track' and 'config'")
    return meta


def load_model(directory: str | Path, runtime: Runtime | None = None) -> SavedModel:
    """A saved model with ``runtime`` (never one read from the folder), checked first."""
    directory = Path(directory)
    meta = read_model_meta(directory)
    source = str(directory / TRACK_FILE)
    name = meta["track"]
    config = build_config(name, meta["config"], source=source)
    try:
        decision = Decision.from_dict(meta.get("decision") or {})
    except SettingError as err:
        raise SettingError(f"{source}: decision: {err}") from None
    require_installed(name, config)
    check_files(directory, meta.get("files"))
    track = track_class(name).load(directory, config, runtime)
    return SavedModel(track, decision, meta)


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
