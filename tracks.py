"""The track contract and the registry of tracks.

Every track is a ``Track``: it turns proteins into per-residue probabilities of disorder.

    track = make_track("lgbm", config, runtime)   # __init__ only stores settings
    oof = track.out_of_fold(proteins, folds)      # -> OutOfFold: every protein predicted by a
                                                  #    model that never saw it
    track.fit(proteins, oof=None) -> track        # labelled proteins; oof: its out-of-fold
                                                  #    value on them, if the run has one
    track.predict_proba(proteins)                 # -> one (L,) float32 array in [0, 1] each
    track.predict_with_members(proteins)          # -> (probs, {member: probs}) for an ensemble
    track.styles                                  # -> the label styles it predicts in, its own
                                                  #    first: ("pdb", "nox"), ("nox",), or ("",)
    track.with_style("nox")                       # -> the fitted track predicting in that style

The base class enforces the contract in code: training data is checked once (labels, both
classes), predictions are checked for count, length, dtype and range, an out-of-fold value is
checked to belong to the proteins it is handed with, and an unfitted track refuses with
``NotFittedError``. Subclasses write ``_fit``, ``_predict``, ``_save``, ``_load`` (and
``_out_of_fold`` when it is more than k fresh copies trained on k - 1 folds each).

``config`` is what the track learns with: a frozen dataclass, saved with the model, importable
without torch. ``runtime`` (runtime.py) is where and how it runs: given by the caller every
time, never saved with a model nor read back from one. Saving and loading whole model folders
is saved.py's.

The registry maps a name to the dotted paths of its track and config classes and to what it
needs beyond the base install, so a name resolves without importing any track, and a missing
extra is reported before any work.
"""
from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import tempfile
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, NamedTuple, Sequence

import numpy as np

from idr_kit.model import crossval
from idr_kit.data.digests import file_sha256, proteins_digest, text_sha256, value_digest
from idr_kit.data.errors import FileRefused, MissingExtra, SettingError, WrongType, brief
from idr_kit.data.fields import Range, check_ranges
from idr_kit.data.probs import validate_outputs
from idr_kit.data.provenance import DISTRIBUTION
from idr_kit.data.records import Protein, check_residues, require_training
from idr_kit.data.styles import STYLES
from idr_kit.model.decision import DecisionSettings
from idr_kit.model.runtime import Runtime

# torch must come from its CPU wheel first: an unpinned torch pulls gigabytes of CUDA packages.
TORCH_FIRST = "pip install torch==2.13.0 (the CPU build; any CUDA build on a GPU machine), then "


class NotFittedError(RuntimeError):
    """A track asked to predict or save before ``fit`` or ``load`` (a bug of the caller's)."""


@dataclass(frozen=True)
class TrackConfig:
    """Base of every track's config: a seed, JSON lists read back as tuples, and each numeric
    setting held to its ``RANGES`` (gathered from the class and its bases), so that no value,
    from the command line, a recipe or a model folder, asks a library for the impossible or
    for gigabytes."""
    seed: int = 0  # every random choice of the track (weights, batches, splits)
    RANGES: ClassVar[dict[str, Range]] = {"seed": Range(0, 2 ** 31 - 1)}

    def __post_init__(self):
        for f in dataclasses.fields(self):
            if isinstance(f.default, tuple) and isinstance(getattr(self, f.name), list):
                object.__setattr__(self, f.name, tuple(getattr(self, f.name)))
        check_ranges(self, self.ranges())

    @classmethod
    def ranges(cls) -> dict[str, Range]:
        found: dict[str, Range] = {}
        for klass in reversed(cls.__mro__):
            found.update(vars(klass).get("RANGES", {}))
        return found

    def train_needs(self) -> tuple[tuple[str, str], ...]:
        """(module, extra) pairs that training with these settings needs beyond the track's
        own (a member network exported from another package's wheel)."""
        return ()

    def components(self) -> dict[str, "TrackConfig | None"]:
        """Registered tracks whose packages this one needs (an ensemble's members, the
        backbone of lgbm's embeddings), each with its config where it has one."""
        return {}


@dataclass(frozen=True, eq=False)
class OutOfFold:
    """A track's out-of-fold predictions on its training proteins, handed as a value from
    ``out_of_fold`` to ``fit`` (and to the run, which fits the decision on them).

    ``probs[i]`` is protein i's (L,) float32 probabilities from a model trained without its
    fold; ``decision_indices`` the proteins a decision is fitted on (those labelled in the
    style the track predicts); ``members`` an ensemble's members', each a value of its own;
    ``key`` names the track, config and proteins it belongs to, so ``fit`` refuses another's.
    """
    probs: list
    decision_indices: tuple[int, ...]
    key: str
    seconds: float = 0.0
    members: dict[str, "OutOfFold"] = field(default_factory=dict)


# ---- the contract -----------------------------------------------------------------------------

class Track(ABC):
    name: ClassVar[str]  # its registry name
    Config: ClassVar[type[TrackConfig]]
    # How its out-of-fold predictions become 0/1 calls, unless the run says otherwise.
    decision_defaults: ClassVar[DecisionSettings] = DecisionSettings()
    # Whether fit learns anything: a peer trained by its authors (metapredict) learns nothing,
    # and fits on no proteins at all where nothing is tuned on them (--folds 0).
    learns: ClassVar[bool] = True
    # Whether a large file is best predicted by several processes, each loading the model (a
    # CPU model of a few MB); a language model predicts in one process, on its device.
    predicts_in_workers: ClassVar[bool] = True

    def __init__(self, config: TrackConfig | None = None, runtime: Runtime | None = None):
        self.config = config if config is not None else self.Config()
        self.runtime = runtime if runtime is not None else Runtime()

    def fit(self, proteins: Sequence[Protein], oof: OutOfFold | None = None) -> "Track":
        """Learn from labelled ``proteins``. ``oof``: this track's own ``out_of_fold`` value
        on the same proteins, when the run has it; a track that learns from out-of-fold
        predictions (an ensemble's blend) takes them from it instead of computing them."""
        proteins = list(proteins)
        if proteins or self.learns:
            require_training(proteins)
        if oof is not None and oof.key != self._oof_key(proteins):
            raise ValueError(f"track {self.name}: the out-of-fold value handed to fit belongs "
                             "to other proteins or another config")
        self._fit(proteins, oof)
        self.fitted_ = True
        return self

    def predict_proba(self, proteins: Sequence[Protein]) -> list[np.ndarray]:
        self._require_fitted()
        proteins = list(proteins)
        check_residues(proteins)
        probs = self._predict(proteins) if proteins else []
        try:
            validate_outputs(proteins, probs, f"track {self.name}")
        except ValueError as err:
            if not hasattr(self, "source_"):
                raise  # a track that breaks the contract is a bug of the kit's
            raise FileRefused(f"{self.source_}: its predictions break the contract of "
                              f"every track: {err}") from None
        return probs

    def predict_with_members(self, proteins: Sequence[Protein]
                             ) -> tuple[list[np.ndarray], dict[str, list[np.ndarray]]]:
        """The track's probabilities, and each member's by name (none but an ensemble's)."""
        return self.predict_proba(proteins), {}

    @property
    def styles(self) -> tuple[str, ...]:
        """The label styles (data/styles.py) it predicts in, the one it predicts in now first.
        A track told a style (``config.style``) has that one; a track trained without one has
        one style, its training labels', with no name (""), which no ``--style`` chooses. A
        network told each protein's style as an input overrides this with every style."""
        style = getattr(self.config, "style", "")
        return (style,) if style in STYLES else ("",)

    def with_style(self, style: str) -> "Track":
        """This fitted track predicting in ``style``, one of ``styles``; SettingError for any
        other. A track of one style is itself in it."""
        if not isinstance(style, str) or style not in self.styles:
            raise style_refused(f"track {self.name}", self.styles, style)
        return self if len(self.styles) == 1 else self._with_style(style)

    def _with_style(self, style: str) -> "Track":
        """A twin predicting in ``style``: written by a track of several styles."""
        raise NotImplementedError(f"track {self.name} lists several styles but no _with_style")

    def out_of_fold(self, proteins: Sequence[Protein], folds: Sequence[int]) -> OutOfFold:
        """Every protein's probabilities from a model trained without its fold (``folds[i]``
        is protein i's). Finished folds are checkpointed (runtime.checkpoint_dir/folds) and
        reused by a rerun."""
        proteins, folds = list(proteins), [int(f) for f in folds]
        require_training(proteins)
        start = time.perf_counter()
        probs, members = self._out_of_fold(proteins, folds)
        validate_outputs(proteins, probs, f"track {self.name} out of fold")
        return OutOfFold(probs, tuple(self.decision_indices(proteins)),
                         self._oof_key(proteins), round(time.perf_counter() - start, 2),
                         members)

    def _out_of_fold(self, proteins: list[Protein], folds: list[int]
                     ) -> tuple[list[np.ndarray], dict[str, OutOfFold]]:
        """k fresh copies of this track, each trained on k - 1 folds: (probs, members)."""
        probs = crossval.out_of_fold(self.fresh, proteins, folds,
                                     checkpoint_dir=self.runtime.checkpoint_path("folds"),
                                     config=self.identity())
        return probs, {}

    def decision_indices(self, proteins: Sequence[Protein]) -> list[int]:
        """Indices of the training proteins a decision for this track is fitted on (and an
        ensemble's blend): all of them, unless the track is told to predict one label style
        (bilstm, ensemble), then those labelled in it (data.styles.in_style)."""
        return list(range(len(proteins)))

    def identity(self) -> dict:
        """What names this track's learning: its name and config (checkpoints are keyed by it)."""
        return {"track": self.name, **dataclasses.asdict(self.config)}

    def _oof_key(self, proteins: Sequence[Protein]) -> str:
        return value_digest({**self.identity(),
                             "proteins": proteins_digest(proteins, labels=True)})

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
        track.source_ = str(directory)  # a loaded model's outputs are the folder's doing
        track._load(Path(directory))
        track.fitted_ = True
        return track

    @property
    def member_names(self) -> tuple[str, ...]:
        """The members whose probabilities ``predict_with_members`` gives: none but an
        ensemble's."""
        return ()

    def saved_members(self, directory: str | Path) -> dict[str, Path]:
        """Where ``save(directory)`` put each member as a saved model of its own (saved.py
        loads it, ``submit.py --model`` predicts with it): none but an ensemble's."""
        return {}

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
    def _fit(self, proteins: list[Protein], oof: OutOfFold | None) -> None: ...

    @abstractmethod
    def _predict(self, proteins: list[Protein]) -> list[np.ndarray]: ...

    @abstractmethod
    def _save(self, directory: Path) -> None: ...

    @abstractmethod
    def _load(self, directory: Path) -> None: ...


def style_refused(who: str, styles: Sequence[str], style) -> SettingError | WrongType:
    """The one refusal of a label style that ``who`` (a track, a model folder) does not
    predict in; a style with no name ("") is described, never named."""
    if not isinstance(style, str):
        named = f" ({', '.join(styles)})" if "" not in styles else ""
        return WrongType(f"style is a label style's name{named}, not {type(style).__name__}")
    if tuple(styles) == ("",):
        return SettingError(f"{who} predicts in one label style only, that of its training "
                            "labels (it was trained without a style); --style chooses between "
                            "the styles of a model that learnt both (the shipped one)")
    which = (f"one label style only, {styles[0]}" if len(styles) == 1 else
             f"the label styles {', '.join(styles)}")
    return SettingError(f"{who} predicts in {which}, not {brief(style)}")


# ---- the registry -----------------------------------------------------------------------------

class Entry(NamedTuple):
    track: str  # "module:Class"
    config: str  # "module:Class", importable without the extra
    needs: tuple[str, ...] = ()  # modules beyond the base install
    extra: str = ""  # the pip extra that installs them
    train_needs: tuple[str, ...] = ()  # modules beyond those that training alone needs
    train_extra: str = ""


# What a run trains unless told: the strongest track of the base install (valid.fasta AUC
# 0.912 trained on both files, against w2v's 0.675, the challenge's official baseline), in
# about a minute on the demo data.
DEFAULT_TRACK = "lgbm"
TRACKS: dict[str, Entry] = {
    "w2v": Entry("idr_kit.baselines.w2v:W2VTrack", "idr_kit.baselines.config:W2VConfig"),
    "lgbm": Entry("idr_kit.baselines.lgbm:LGBMTrack", "idr_kit.baselines.config:LGBMConfig"),
    "esm": Entry("idr_kit.token_clf.track:EsmTrack", "idr_kit.token_clf.config:EsmConfig",
                 ("torch", "esm", "transformers", "peft"), "esm"),
    "bert": Entry("idr_kit.token_clf.track:BertTrack", "idr_kit.token_clf.config:BertConfig",
                  ("torch", "transformers", "peft"), "esm"),
    "bilstm": Entry("idr_kit.bilstm.track:BiLstmTrack", "idr_kit.bilstm.config:BiLstmConfig",
                    ("torch",), "nn"),
    "llm": Entry("idr_kit.llm_sft.track:LlmTrack", "idr_kit.llm_sft.config:LlmConfig",
                 ("torch", "transformers", "peft", "safetensors"), "llm"),
    # An external predictor (peers.py): nothing to train.
    "metapredict": Entry("idr_kit.ensemble.peers:MetapredictTrack",
                         "idr_kit.ensemble.peers:MetapredictConfig", ("torch", "metapredict"),
                         "metapredict"),
    "ensemble": Entry("idr_kit.ensemble.track:EnsembleTrack", "idr_kit.ensemble.config:EnsembleConfig"),
    # Trains with torch, predicts with numpy: a saved model runs in the base install.
    "distilled": Entry("idr_kit.distill.track:DistilledTrack",
                       "idr_kit.distill.config:DistilledConfig",
                       train_needs=("torch", "onnx"), train_extra="nn"),
    # The shipped predictor's network: trains with torch, predicts with ONNX Runtime alone.
    "convnet": Entry("idr_kit.convnet.track:ConvNetTrack", "idr_kit.convnet.config:ConvNetConfig",
                     train_needs=("torch", "onnx"), train_extra="nn"),
}


def _entry(name: str) -> Entry:
    if name not in TRACKS:
        raise SettingError(f"unknown track {name!r}; known tracks: {', '.join(sorted(TRACKS))}")
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


def missing_modules(name: str, config: TrackConfig | None = None, *, training: bool = False
                    ) -> list[tuple[str, str]]:
    """``(module, extra)`` pairs that track ``name`` (and the tracks it runs) lacks here, to
    predict or, with ``training``, to train too."""
    entry = _entry(name)
    wanted = [(m, entry.extra) for m in entry.needs]
    if training:
        wanted += [(m, entry.train_extra) for m in entry.train_needs]
        wanted += list(config.train_needs()) if config is not None else []
    missing = [(module, extra) for module, extra in wanted if not installed(module)]
    for component, settings in (config.components() if config is not None else {}).items():
        missing += [m for m in missing_modules(component, settings, training=training)
                    if m not in missing]
    return missing


def needed_extras(name: str, config: TrackConfig | None = None) -> list[str]:
    """The pip extras track ``name`` (and the tracks it runs) needs beyond the base install to
    predict."""
    extras = {_entry(name).extra} - {""}
    for component, settings in (config.components() if config is not None else {}).items():
        extras |= set(needed_extras(component, settings))
    return sorted(extras)


def require_installed(name: str, config: TrackConfig | None = None, *,
                      training: bool = False) -> None:
    """MissingExtra, in one line naming the extras to install, unless everything is here."""
    missing = missing_modules(name, config, training=training)
    if missing:
        modules = ", ".join(sorted({m for m, _ in missing}))
        extras = ",".join(sorted({e for _, e in missing}))
        raise MissingExtra(f"track {name!r} needs {modules}, not installed here: "
                           f"{TORCH_FIRST}pip install -e \".[{extras}]\" in the checkout "
                           f"(or pip install \"{DISTRIBUTION}[{extras}]\")")


def make_track(name: str, config: TrackConfig | None = None, runtime: Runtime | None = None,
               **settings: Any) -> Track:
    """A fresh, untrained track: ``config`` (else the default) updated by ``settings``."""
    config = config if config is not None else config_class(name)()
    if settings:
        config = dataclasses.replace(config, **settings)
    require_installed(name, config)
    return track_class(name)(config, runtime)
