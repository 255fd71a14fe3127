"""The registry of tracks, and saving and loading a trained one.

Every track honours one contract (see ../STYLE.md, principle 1):

    track = cls(config)                   # __init__ only stores the frozen config
    track.fit(proteins) -> track          # proteins: list[data.Protein] with labels
    track.predict_proba(proteins)         # -> list of (L,) float32 arrays in [0, 1]
    track.save(directory)                 # writes its learned state into directory
    cls.load(directory, config) -> track  # reads it back

The factories import their track lazily, so the CPU baselines start without torch.
"""
from __future__ import annotations

import dataclasses
import json
import subprocess
from pathlib import Path
from typing import Any, Callable

from idr_kit.data.atomic import write_json


def _w2v():
    from idr_kit.baselines.w2v import W2VTrack
    return W2VTrack


def _lgbm():
    from idr_kit.baselines.lgbm import LGBMTrack
    return LGBMTrack


def _esm():
    from idr_kit.token_clf.track import EsmTrack
    return EsmTrack


def _bert():
    from idr_kit.token_clf.track import BertTrack
    return BertTrack


def _llm():
    from idr_kit.llm_sft.track import LlmTrack
    return LlmTrack


def _ensemble():
    from idr_kit.ensemble.track import EnsembleTrack
    return EnsembleTrack


def _metapredict():
    from idr_kit.ensemble.peers import MetapredictTrack
    return MetapredictTrack


TRACKS: dict[str, Callable[[], type]] = {
    "w2v": _w2v,
    "lgbm": _lgbm,
    "esm": _esm,
    "bert": _bert,
    "llm": _llm,
    "metapredict": _metapredict,  # an external predictor (peers.py): nothing to train
    "ensemble": _ensemble,
}

TRACK_FILE = "track.json"


def track_class(name: str) -> type:
    if name not in TRACKS:
        raise KeyError(f"unknown track {name!r}; known tracks: {', '.join(sorted(TRACKS))}")
    return TRACKS[name]()


def make_track(name: str, **overrides: Any):
    """A fresh, untrained track with its default config updated by ``overrides``."""
    cls = track_class(name)
    return cls(dataclasses.replace(cls.Config(), **overrides))


def code_version() -> str:
    """The git commit of this checkout (with ``+dirty`` for local edits), or the package version."""
    here = Path(__file__).resolve().parent
    try:
        sha = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=here, text=True,
                             capture_output=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=here, text=True, capture_output=True, timeout=10).stdout
        return sha + ("+dirty" if dirty.strip() else "")
    except (OSError, subprocess.SubprocessError):
        from importlib.metadata import PackageNotFoundError, version
        try:
            return version("idr-kit")
        except PackageNotFoundError:
            return "unknown"


def track_name(track) -> str:
    for name, factory in TRACKS.items():
        if type(track) is factory():
            return name
    raise KeyError(f"{type(track).__name__} is not a registered track")


def save_track(track, directory: str | Path, **extra: Any) -> Path:
    """Write the track's learned state and a ``track.json`` naming it, its config and version."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    track.save(directory)
    meta = {"track": track_name(track), "config": dataclasses.asdict(track.config),
            "code_version": code_version(), **extra}
    write_json(directory / TRACK_FILE, meta)
    return directory


def read_track_meta(directory: str | Path) -> dict:
    path = Path(directory) / TRACK_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{directory}: not a saved model (no {TRACK_FILE}); "
                                "pass the model/ folder that submit.py wrote")
    return json.loads(path.read_text())


def load_track(directory: str | Path):
    meta = read_track_meta(directory)
    cls = track_class(meta["track"])
    return cls.load(Path(directory), cls.Config(**meta["config"]))


def parse_overrides(config_cls: type, pairs: list[str]) -> dict[str, Any]:
    """``["window=5", "widths=5,11,21", "use_length=false"]`` -> typed values for ``config_cls``.

    Types come from the field's default value, so the command line follows the dataclass.
    """
    fields = {f.name: f for f in dataclasses.fields(config_cls)}
    defaults = config_cls()
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or key not in fields:
            known = ", ".join(sorted(fields))
            raise ValueError(f"bad setting {pair!r}: expected KEY=VALUE with KEY one of: {known}")
        out[key] = _typed(getattr(defaults, key), text.strip(), key)
    return out


def read_recipe(config_cls: type, path: str | Path) -> dict[str, Any]:
    """Settings from a recipe file (a JSON object of config fields), checked against ``config_cls``.

    A recipe is how a full-size run is written down once (recipes/); --set still overrides it.
    """
    try:
        settings = json.loads(Path(path).read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not a JSON recipe ({err})") from None
    known = {f.name for f in dataclasses.fields(config_cls)}
    if not isinstance(settings, dict):
        raise ValueError(f"{path}: a recipe is a JSON object of settings")
    settings = {k: v for k, v in settings.items() if not k.startswith("_")}  # "_comment" keys
    unknown = sorted(set(settings) - known)
    if unknown:
        raise ValueError(f"{path}: unknown setting(s) {', '.join(unknown)}; "
                         f"known: {', '.join(sorted(known))}")
    return settings


def _typed(default: Any, text: str, key: str) -> Any:
    try:
        if isinstance(default, bool):
            if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(text)
            return text.lower() in ("true", "1", "yes")
        if isinstance(default, tuple):
            kind = type(default[0]) if default else str
            return tuple(kind(t) for t in text.split(",") if t.strip())
        if default is None:
            return text
        return type(default)(text)
    except ValueError:
        raise ValueError(f"bad value {text!r} for setting {key!r} "
                         f"(expected {type(default).__name__})") from None
