"""A saved model: a folder with the track's learned files and ``track.json`` (its name,
config, decision, the code version that trained it, and each file's size and sha256).

    save_model(track, directory, decision)        # learned state + track.json
    load_model(directory, runtime) -> SavedModel  # the track and its decision
    saved.in_style("nox")                         # told a label style, with that style's decision
    load_model(directory, runtime, saved.digest)  # a worker: the very record the parent checked

The one reader of model folders: before anything is built from a folder, its record is checked
(types and ranges of every setting, the decision) and every file it lists is checked to be the
file that was saved (size, then sha256), so a damaged or swapped file is one line naming it,
never a library's crash. Each track then reads its files with shape checks of its own
(data/arrays.py, nn/train.py). The runtime is never read from the folder: the caller gives it
(runtime.py). A process that loads a model another process checked (a worker predicting
chunks) is given the sha256 of the record that process read (``SavedModel.digest``), so a
folder changed in between is refused, naming the file, instead of predicting unchecked.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any, NamedTuple

from idr_kit.data.atomic import write_json
from idr_kit.data.digests import file_sha256
from idr_kit.data.errors import FileRefused, InputError, SettingError, brief
from idr_kit.data.fields import defaults_of, typed_json
from idr_kit.data.provenance import code_version
from idr_kit.data.reading import folder_files, read_bytes
from idr_kit.data.styles import STYLES
from idr_kit.model.decision import Decision
from idr_kit.model.runtime import Runtime
from idr_kit.tracks import (Track, TrackConfig, config_class, require_installed, style_refused,
                            track_class)

TRACK_FILE = "track.json"
MAX_RECORD = 16 << 20  # bytes of a track.json: a config, decisions, file records
MAX_FILES = 100_000  # files of one model folder
MAX_BYTES = 1 << 42  # bytes of one of its files (4 TiB: any weights there are)


class SavedModel(NamedTuple):
    track: Track
    decision: Decision
    meta: dict
    # style -> its decision: the record's ``decisions`` (the shipped model has one fitted out
    # of fold per label style), else the one decision under the style the track predicts in
    decisions: dict[str, Decision] = {}
    default_style: str = ""  # the style it predicts in: the first of ``decisions`` unless told
    digest: str = ""  # sha256 of the track.json read and checked: every file's digest is in it

    def in_style(self, style: str, source: str) -> "SavedModel":
        """This model predicting in label style ``style``: its track so told and that style's
        decision; SettingError (``source`` naming the model) when it has no decision for it."""
        if not isinstance(style, str) or style not in self.decisions or style == "":
            raise style_refused(source, tuple(self.decisions), style)
        return self._replace(track=self.track.with_style(style), decision=self.decisions[style],
                             default_style=style)


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
    return {name: {"bytes": (directory / name).stat().st_size,
                   "sha256": file_sha256(directory / name, links=False)}
            for name in folder_files(directory) if name != TRACK_FILE}


def check_files(directory: Path, records, changed: str = "") -> None:
    """The folder holds exactly the files its record lists, each a regular file (no link, no
    device, no pipe) of its recorded size and sha256: FileRefused naming the first that is
    not. What a track then reads is what was saved, whatever the folder's author wrote.
    ``changed``: what a file that differs is said to be (by default: not the one saved)."""
    source = directory / TRACK_FILE
    if records is None:
        raise FileRefused(f"{source}: records no 'files' (their sizes and sha256), which the kit "
                          "checks before it reads a model; a model saved by a kit before 0.3 "
                          "lacks them: train or save it again")
    if not isinstance(records, dict) or len(records) > MAX_FILES:
        raise FileRefused(f"{source}: 'files' is not a record of files")
    present = set(folder_files(directory))
    unlisted = sorted(present - set(records) - {TRACK_FILE})
    if unlisted:
        raise FileRefused(f"{directory / unlisted[0]}: a file that {TRACK_FILE} does not list" + (
            f", {changed}" if changed else "; a model folder holds only the files it was saved "
            "with (move it out)"))
    for name, record in records.items():
        if not (isinstance(record, dict) and _whole(record.get("bytes"))
                and isinstance(record.get("sha256"), str)) or name == TRACK_FILE:
            raise FileRefused(f"{source}: a bad file record {brief(name)}")
        path = directory / name
        if name not in present or path.stat().st_size != record["bytes"] \
                or file_sha256(path, links=False) != record["sha256"]:
            raise FileRefused(f"{path}: {changed}" if changed else
                              f"{path}: not the file this model was saved with (missing, "
                              "damaged or changed since); save the model again")


def _whole(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_BYTES


def read_model_meta(directory: str | Path) -> dict:
    """The folder's ``track.json``: a record with a track name and its config."""
    return read_model_record(directory)[0]


def read_model_record(directory: str | Path) -> tuple[dict, str]:
    """The folder's ``track.json``, and the sha256 of the very bytes it was read from."""
    path = Path(directory) / TRACK_FILE
    if not Path(directory).exists() and not Path(directory).is_symlink():
        raise FileRefused(f"{directory}: not found (no such model folder)")
    if not path.exists() and not path.is_symlink():
        raise FileRefused(f"{directory}: not a saved model (no {TRACK_FILE}); "
                          "pass the model/ folder that submit.py wrote")
    data = read_bytes(path, MAX_RECORD, links=False)
    try:
        meta = json.loads(data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError) as err:
        raise InputError(f"not valid JSON ({str(err)[:200]})", source=str(path)) from None
    if not isinstance(meta, dict):
        raise InputError(f"not a record: a JSON {type(meta).__name__}, not an object",
                         source=str(path))
    if not isinstance(meta.get("config"), dict) or not isinstance(meta.get("track"), str):
        raise FileRefused(f"{path}: not a model record: no 'track' and 'config'")
    return meta, hashlib.sha256(data).hexdigest()


CHANGED = ("changed since this run checked it at its start (the model folder was replaced "
           "or edited during the run); the outputs would mix two models, so none is written: "
           "predict again")


def load_model(directory: str | Path, runtime: Runtime | None = None, digest: str = ""
               ) -> SavedModel:
    """A saved model with ``runtime`` (never one read from the folder), checked first.
    ``digest``: the sha256 its track.json had when another process checked it (a worker's
    parent); a record that differs is refused, and every file is then checked against it."""
    directory = Path(directory)
    meta, found = read_model_record(directory)
    source = str(directory / TRACK_FILE)
    if digest and found != digest:
        raise FileRefused(f"{source}: {CHANGED}")
    name = meta["track"]
    config = build_config(name, meta["config"], source=source)
    try:
        decision = Decision.from_dict(meta.get("decision") or {})
    except SettingError as err:
        raise SettingError(f"{source}: decision: {err}") from None
    require_installed(name, config)
    check_files(directory, meta.get("files"), CHANGED if digest else "")
    track = track_class(name).load(directory, config, runtime)
    if digest:  # and after: what the track read, between the two checks, is what was checked
        check_files(directory, meta.get("files"), CHANGED)
    decisions = style_decisions(meta, decision, track, source)
    default = meta.get("default_style", next(iter(decisions)))
    if not isinstance(default, str) or default not in decisions:
        raise SettingError(f"{source}: default_style {brief(default)} is not one of the styles "
                           f"it has decisions for ({', '.join(decisions)})")
    return SavedModel(track, decision, meta, decisions, default, found)


def style_decisions(meta: dict, decision: Decision, track: Track, source: str
                    ) -> dict[str, Decision]:
    """A decision per label style the model predicts in: the record's ``decisions``, else its
    one decision under the style its track predicts in; SettingError naming the key."""
    recorded = meta.get("decisions")
    if recorded is None:
        return {track.styles[0]: decision}
    if not isinstance(recorded, dict) or not recorded or not set(recorded) <= set(STYLES):
        raise SettingError(f"{source}: decisions: {brief(recorded)} is not a record of a "
                           f"decision per label style ({', '.join(STYLES)})")
    if not set(recorded) <= set(track.styles):
        raise style_refused(f"{source}: decisions: its track", track.styles,
                            next(s for s in recorded if s not in track.styles))
    found = {}
    for style, value in recorded.items():
        try:
            found[style] = Decision.from_dict(value)
        except SettingError as err:
            raise SettingError(f"{source}: decisions.{style}: {err}") from None
    return found


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
