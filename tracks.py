"""The track contract, the runtime a track runs in, and the registry of tracks.

Every track is a ``Track``: it turns proteins into per-residue probabilities of disorder.

    track = Registry.make("lgbm", config, runtime)   # __init__ only stores settings
    track.fit(proteins, folds=None) -> track       # labelled proteins; folds: the run's
    track.predict_proba(proteins)                  # -> one (L,) float32 array in [0, 1] each
    track.predict_parts(proteins)                  # -> {name: probs, ...} (members too)
    track.out_of_fold(proteins, folds)             # -> {name: probs, ...} for every protein,
                                                   #    each from a model that never saw it
    save_model(track, directory, decision)         # learned state + track.json
    load_model(directory, runtime) -> SavedModel   # the track and its decision

The base class enforces the contract in code: training data is checked once (labels, both
classes), predictions are checked for count, length, dtype and range, and an unfitted track
refuses with ``NotFittedError``. Subclasses write ``_fit``, ``_predict``, ``_save``, ``_load``.

``config`` is what the track learns with: a frozen dataclass, saved with the model, importable
without torch. ``runtime`` is where and how it runs (device, threads, checkpoint and cache
folders): given by the caller every time, never saved with a model nor read back from one.

The registry maps a name to the dotted paths of its track and config classes and to what it
needs beyond the base install, so a name resolves without importing any track, and a missing
extra is reported before any work.
"""
from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import json
import os
import subprocess
import tempfile
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, NamedTuple, Sequence

import numpy as np

from idr_kit import crossval
from idr_kit.data.atomic import read_json, write_json
from idr_kit.data.digests import file_sha256, text_sha256
from idr_kit.data.probs import validate_outputs
from idr_kit.data.records import Protein, check_residues, label_style, require_training
from idr_kit.postprocess import Decision, DecisionSettings

TRACK_FILE = "track.json"
DISTRIBUTION = "idr-kit"
# torch must come from its CPU wheel first: an unpinned torch pulls gigabytes of CUDA packages.
TORCH_FIRST = "pip install torch==2.13.0 (the CPU build; any CUDA build on a GPU machine), then "


class NotFittedError(RuntimeError):
    """A track asked to predict or save before ``fit`` or ``load``."""


class MissingExtra(ImportError):
    """A track needs packages that this install lacks; the message says what to install."""


# ---- where a track runs -----------------------------------------------------------------------

@dataclass(frozen=True)
class World:
    """This process's place in a ``torchrun`` launch (a world of one otherwise)."""
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_env(cls) -> "World":
        return cls(int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)),
                   int(os.environ.get("LOCAL_RANK", 0)))


@dataclass(frozen=True)
class Runtime:
    """Where and how a track runs. Never part of what it learns; never saved with a model."""
    device: str = "auto"  # auto | cpu | cuda
    precision: str = "auto"  # auto (bf16 on GPU, fp32 on CPU) | bf16 | fp32
    threads: int = 0  # CPU threads for torch and LightGBM; 0: the library's default
    checkpoint_dir: str = ""  # resumable work (epochs, folds, ensemble members); "": none
    cache_dir: str = ""  # reusable derived data (frozen-backbone embeddings) on disk; "": none
    cache_gb: float = 8.0  # embeddings kept in memory
    checkpoint_activations: bool = True  # recompute activations in backward: less GPU memory
    downloads: bool = True  # may fetch pretrained weights from the hub (else: local files only)

    def under(self, *parts: str) -> "Runtime":
        """The same runtime with checkpoints in a sub-folder (a fold's, a member's)."""
        if not self.checkpoint_dir:
            return self
        return dataclasses.replace(self, checkpoint_dir=str(Path(self.checkpoint_dir, *parts)))

    @property
    def offline(self) -> bool | None:
        """For the weight loaders: True when downloads are off; None lets the environment
        (HF_HUB_OFFLINE, IDR_OFFLINE) decide."""
        return True if not self.downloads else None

    def checkpoint_path(self, *parts: str) -> Path | None:
        return Path(self.checkpoint_dir, *parts) if self.checkpoint_dir else None


@dataclass(frozen=True)
class TrackConfig:
    """Base of every track's config: a seed, and JSON lists read back as tuples."""
    seed: int = 0
    # Config fields the command line offers as their own flags (--backbone ...), with help.
    FLAGS: ClassVar[dict[str, str]] = {}

    def __post_init__(self):
        for f in dataclasses.fields(self):
            if isinstance(f.default, tuple) and isinstance(getattr(self, f.name), list):
                object.__setattr__(self, f.name, tuple(getattr(self, f.name)))

    def components(self) -> dict[str, "TrackConfig | None"]:
        """Registered tracks whose packages this one needs (an ensemble's members, the
        backbone of lgbm's embeddings), each with its config where it has one."""
        return {}


# ---- the contract -----------------------------------------------------------------------------

class Track(ABC):
    name: ClassVar[str]  # its registry name
    Config: ClassVar[type[TrackConfig]]
    # How its out-of-fold predictions become 0/1 calls, unless the run says otherwise.
    decision_defaults: ClassVar[DecisionSettings] = DecisionSettings()

    def __init__(self, config: TrackConfig | None = None, runtime: Runtime | None = None):
        self.config = config if config is not None else self.Config()
        self.runtime = runtime if runtime is not None else Runtime()

    def fit(self, proteins: Sequence[Protein], folds: Sequence[int] | None = None) -> "Track":
        """Learn from labelled ``proteins``; ``folds[i]`` is protein i's fold in the run, for a
        track that learns from out-of-fold predictions (others ignore it)."""
        proteins = list(proteins)
        require_training(proteins)
        self._fit(proteins, None if folds is None else list(folds))
        self.fitted_ = True
        return self

    def predict_proba(self, proteins: Sequence[Protein]) -> list[np.ndarray]:
        self._require_fitted()
        proteins = list(proteins)
        check_residues(proteins)
        probs = self._predict(proteins) if proteins else []
        validate_outputs(proteins, probs, f"track {self.name}")
        return probs

    def predict_parts(self, proteins: Sequence[Protein]) -> dict[str, list[np.ndarray]]:
        """The track's probabilities under its name, and those of any parts it combines."""
        return {self.name: self.predict_proba(proteins)}

    def out_of_fold(self, proteins: Sequence[Protein], folds: Sequence[int]
                    ) -> dict[str, list[np.ndarray]]:
        """Probabilities for every protein from a copy of this track trained without its fold.

        Finished folds are checkpointed (runtime.checkpoint_dir/folds) and reused by a rerun.
        """
        proteins = list(proteins)
        require_training(proteins)
        probs = crossval.out_of_fold(self.fresh, proteins, folds,
                                     checkpoint_dir=self.runtime.checkpoint_path("folds"),
                                     config={"track": self.name, **dataclasses.asdict(self.config)})
        return {self.name: probs}

    def alike(self, proteins: Sequence[Protein]) -> list[int]:
        """Indices of the training proteins labelled in the style this track predicts: what
        its decision (and an ensemble's blend) is fitted on. All of them, unless the track
        is told to predict one label style (bilstm, ensemble): then ``in_style``."""
        return list(range(len(proteins)))

    def fresh(self) -> "Track":
        """An unfitted track with the same config and runtime."""
        return type(self)(self.config, self.runtime)

    def save(self, directory: str | Path) -> None:
        self._require_fitted()
        Path(directory).mkdir(parents=True, exist_ok=True)
        self._save(Path(directory))

    @classmethod
    def load(cls, directory: str | Path, config: TrackConfig, runtime: Runtime | None = None):
        track = cls(config, runtime)
        track._load(Path(directory))
        track.fitted_ = True
        return track

    def report(self) -> dict:
        """What the run records of this track's training beyond its config (never saved
        with the model); an ensemble gives its members' seconds."""
        return {}

    def state_digest(self) -> str:
        """A digest of what was learnt: equal for equal models (torchrun checks its ranks by it)."""
        with tempfile.TemporaryDirectory() as tmp:
            self.save(tmp)
            files = sorted(p for p in Path(tmp).rglob("*") if p.is_file())
            return text_sha256("".join(f"{p.relative_to(tmp)}:{file_sha256(p)}\n"
                                       for p in files))[:16]

    def _require_fitted(self) -> None:
        if not getattr(self, "fitted_", False):
            raise NotFittedError(f"track {self.name} is not fitted: call fit() or load() first")

    @abstractmethod
    def _fit(self, proteins: list[Protein], folds: list[int] | None) -> None: ...

    @abstractmethod
    def _predict(self, proteins: list[Protein]) -> list[np.ndarray]: ...

    @abstractmethod
    def _save(self, directory: Path) -> None: ...

    @abstractmethod
    def _load(self, directory: Path) -> None: ...


# ---- the registry -----------------------------------------------------------------------------

class Entry(NamedTuple):
    track: str  # "module:Class"
    config: str  # "module:Class", importable without the extra
    needs: tuple[str, ...] = ()  # modules beyond the base install
    extra: str = ""  # the pip extra that installs them


DEFAULT_TRACK = "w2v"  # what a run trains unless told: the challenge's official baseline
TRACKS: dict[str, Entry] = {
    "w2v": Entry("idr_kit.baselines.w2v:W2VTrack", "idr_kit.baselines.config:W2VConfig"),
    "lgbm": Entry("idr_kit.baselines.lgbm:LGBMTrack", "idr_kit.baselines.config:LGBMConfig"),
    "esm": Entry("idr_kit.token_clf.track:EsmTrack", "idr_kit.token_clf.config:EsmConfig",
                 ("torch", "esm", "transformers", "peft"), "esm"),
    "bert": Entry("idr_kit.token_clf.track:BertTrack", "idr_kit.token_clf.config:BertConfig",
                  ("torch", "transformers", "peft"), "esm"),
    "bilstm": Entry("idr_kit.seqnet.track:BiLstmTrack", "idr_kit.seqnet.config:BiLstmConfig",
                    ("torch",), "nn"),
    "llm": Entry("idr_kit.llm_sft.track:LlmTrack", "idr_kit.llm_sft.config:LlmConfig",
                 ("torch", "transformers", "peft", "safetensors"), "llm"),
    # An external predictor (peers.py): nothing to train.
    "metapredict": Entry("idr_kit.ensemble.peers:MetapredictTrack",
                         "idr_kit.ensemble.peers:MetapredictConfig", ("torch", "metapredict"),
                         "metapredict"),
    "ensemble": Entry("idr_kit.ensemble.track:EnsembleTrack", "idr_kit.ensemble.config:EnsembleConfig"),
}


def _entry(name: str) -> Entry:
    if name not in TRACKS:
        raise KeyError(f"unknown track {name!r}; known tracks: {', '.join(sorted(TRACKS))}")
    return TRACKS[name]


def _resolve(dotted: str):
    module, _, attr = dotted.partition(":")
    return getattr(importlib.import_module(module), attr)


def config_class(name: str) -> type[TrackConfig]:
    return _resolve(_entry(name).config)


def track_class(name: str) -> type[Track]:
    require_installed(name)
    return _resolve(_entry(name).track)


def installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def missing_modules(name: str, config: TrackConfig | None = None) -> list[tuple[str, str]]:
    """``(module, extra)`` pairs that track ``name`` (and the tracks it runs) lacks here."""
    entry = _entry(name)
    missing = [(module, entry.extra) for module in entry.needs if not installed(module)]
    for part, settings in (config.components() if config is not None else {}).items():
        missing += [m for m in missing_modules(part, settings) if m not in missing]
    return missing


def require_installed(name: str, config: TrackConfig | None = None) -> None:
    """MissingExtra, in one line naming the extras to install, unless everything is here."""
    missing = missing_modules(name, config)
    if missing:
        modules = ", ".join(sorted({m for m, _ in missing}))
        extras = ",".join(sorted({e for _, e in missing}))
        raise MissingExtra(f"track {name!r} needs {modules}, not installed here: "
                           f"{TORCH_FIRST}pip install -e \".[{extras}]\" in the checkout "
                           f"(or pip install \"{DISTRIBUTION}[{extras}]\")")


def in_style(proteins: Sequence[Protein], style: str) -> list[int]:
    """Indices of the proteins labelled in ``style`` ("nox", "pdb"; records.label_style), or
    all of them when ``style`` is "" or none is labelled so."""
    chosen = [i for i, p in enumerate(proteins) if label_style(p) == style]
    return chosen if style and chosen else list(range(len(proteins)))


def make_track(name: str, config: TrackConfig | None = None, runtime: Runtime | None = None,
               **settings: Any) -> Track:
    """A fresh, untrained track: ``config`` (else the default) updated by ``settings``."""
    config = config if config is not None else config_class(name)()
    if settings:
        config = dataclasses.replace(config, **settings)
    require_installed(name, config)
    return track_class(name)(config, runtime)


# ---- saving and loading -----------------------------------------------------------------------

class SavedModel(NamedTuple):
    track: Track
    decision: Decision
    meta: dict


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
            return version(DISTRIBUTION)
        except PackageNotFoundError:
            return "unknown"


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
        raise FileNotFoundError(f"{directory}: not a saved model (no {TRACK_FILE}); "
                                "pass the model/ folder that submit.py wrote")
    meta = read_json(path)
    if not isinstance(meta, dict) or not isinstance(meta.get("config"), dict):
        raise ValueError(f"{path}: not a model record: no 'track' and 'config'")
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
    cls = config_class(name)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"{source}: unknown setting(s) {', '.join(unknown)} for track {name!r}")
    return cls(**values)


# ---- settings from the command line and recipes -----------------------------------------------

SETTING_KINDS = ("config", "decision", "runtime")


def settings_fields(name: str) -> dict[str, tuple[str, Any]]:
    """Every setting a run of track ``name`` takes: key -> (kind, default value)."""
    defaults = {"config": config_class(name)(), "decision": DecisionSettings(),
                "runtime": Runtime()}
    return {key: (kind, value) for kind, default in defaults.items()
            for key, value in defaults_of(default).items()}


def parse_pairs(pairs: Sequence[str], defaults: dict[str, Any]) -> dict[str, Any]:
    """``["window=5", "widths=5,11,21", "use_length=false"]`` -> typed values.

    ``defaults`` maps each known key to its default, whose type the text is read as: so the
    command line follows the dataclasses.
    """
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or key not in defaults:
            raise ValueError(f"bad setting {pair!r}: expected KEY=VALUE with KEY one of: "
                             f"{', '.join(sorted(defaults))}")
        out[key] = typed(defaults[key], text.strip(), key)
    return out


def defaults_of(instance) -> dict[str, Any]:
    """A dataclass instance's fields as name -> value."""
    return {f.name: getattr(instance, f.name) for f in dataclasses.fields(instance)}


def parse_settings(name: str, pairs: Sequence[str]) -> dict[str, Any]:
    """Settings of a run of track ``name``: its config's, the decision's and the runtime's."""
    return parse_pairs(pairs, {k: v for k, (_, v) in settings_fields(name).items()})


def parse_overrides(config_cls: type, pairs: Sequence[str]) -> dict[str, Any]:
    """Settings of one config dataclass only (an ensemble member's)."""
    return parse_pairs(pairs, defaults_of(config_cls()))


def split_settings(name: str, values: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Settings by kind: ``{"config": {...}, "decision": {...}, "runtime": {...}}``."""
    fields = settings_fields(name)
    out: dict[str, dict[str, Any]] = {kind: {} for kind in SETTING_KINDS}
    for key, value in values.items():
        out[fields[key][0]][key] = value
    return out


def read_recipe(path: str | Path) -> tuple[str | None, dict[str, Any]]:
    """A recipe file: ``(its track, its settings)``. A recipe is a JSON object of settings
    (config, decision or runtime), with ``_track`` naming its track; ``_`` keys are comments."""
    try:
        settings = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not a JSON recipe ({err})") from None
    if not isinstance(settings, dict):
        raise ValueError(f"{path}: a recipe is a JSON object of settings")
    track = settings.get("_track")
    return track, {k: v for k, v in settings.items() if not k.startswith("_")}


def check_recipe(name: str, settings: dict[str, Any], path: str | Path) -> None:
    unknown = sorted(set(settings) - set(settings_fields(name)))
    if unknown:
        raise ValueError(f"{path}: unknown setting(s) {', '.join(unknown)} for track {name!r}; "
                         f"known: {', '.join(sorted(settings_fields(name)))}")


def recipe_path(given: str | Path) -> Path:
    """A recipe file by path, or by the name of one shipped with the kit (``cpu_own``)."""
    path = Path(given)
    if path.is_file():
        return path
    shipped = Path(__file__).resolve().parent / "recipes" / f"{path.stem}.json"
    if path.parent == Path(".") and shipped.is_file():
        return shipped
    known = sorted(p.stem for p in shipped.parent.glob("*.json"))
    raise FileNotFoundError(f"{given}: no such recipe file; shipped recipes: {', '.join(known)}")


def typed(default: Any, text: str, key: str) -> Any:
    try:
        if isinstance(default, bool):
            if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(text)
            return text.lower() in ("true", "1", "yes")
        if isinstance(default, tuple):
            kind = type(default[0]) if default else str
            return tuple(kind(t.strip()) for t in text.split(",") if t.strip())
        if default is None:
            return text
        return type(default)(text)
    except ValueError:
        raise ValueError(f"bad value {text!r} for setting {key!r} "
                         f"(expected {type(default).__name__})") from None


def command_flags() -> dict[str, tuple[str, Any]]:
    """Config fields that registered tracks offer as their own flags: name -> (help, default)."""
    flags: dict[str, tuple[str, Any]] = {}
    for name in TRACKS:
        cls = config_class(name)
        defaults = cls()
        for field, text in cls.FLAGS.items():
            flags.setdefault(field, (text, getattr(defaults, field)))
    return flags
