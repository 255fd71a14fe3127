"""The ensemble track: members' out-of-fold probabilities in, a blend fitted on them out.

Protocol (``fit``), over one fixed set of protein-level folds (``folds_file``, written by
submit.py, else made here by the same rule: proteins of one sequence or cluster share a fold):

1. every member predicts every training protein out of fold: trained on k-1 folds, predicting
   the k-th (crossval.out_of_fold). The arrays are saved with the config that made them and
   reused when the config, folds and data match;
2. every member is trained once more on all proteins, to predict new ones (also cached);
3. the blender learns from the members' out-of-fold arrays only. Its own out-of-fold blend,
   fitted without each fold in turn, is what the post-processing and the threshold are tuned
   on, so nothing is tuned on predictions that saw their own labels.

Members are any registered track (tracks.py), with ``metapredict`` as an external one
(peers.py). The ensemble honours the track contract, so submit.py treats it like any other.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from idr_kit.crossval import fingerprint, out_of_fold, tune_threshold
from idr_kit.data.atomic import write_json
from idr_kit.data.metrics import DECIMALS
from idr_kit.data.probs import read_npz, write_npz
from idr_kit.data.records import Protein
from idr_kit.data.splits import fold_groups, load_folds, make_folds
from idr_kit.ensemble.blend import blender_from_state, make_blender
from idr_kit.ensemble.postprocess import (PostProcess, fit_min_length, fit_smoothing,
                                  tune_threshold_per_protein)
from idr_kit.tracks import load_track, make_track, parse_overrides, save_track, track_class

META_FILE = "ensemble.json"
MEMBERS_DIR = "members"
THRESHOLDS = ("pooled", "per_protein")


@dataclass(frozen=True)
class EnsembleConfig:
    members: tuple = ("w2v", "lgbm")  # registered track names
    member_settings: tuple = ()  # "lgbm.num_leaves=63": a member's setting, as --set gives it
    blender: str = "stack"  # mean | weighted | rank | stack (blend.py)
    metric: str = "auc"  # what the weighted blend and the smoothing maximise: auc | f1
    folds: int = 5
    groups: str = ""  # cluster table: proteins of one cluster share a fold
    folds_file: str = ""  # a saved fold assignment (submit.py's folds.json) to use instead
    threshold: str = "pooled"  # pooled F1-max, or per_protein: the best mean per-protein F1
    smoothing: bool = True  # fit a moving median/mean on the out-of-fold blend
    min_length: bool = True  # fit a minimum IDR length for the 0/1 calls
    seed: int = 0
    cache_dir: str = ""  # members' out-of-fold arrays, models and predictions, reused

    def member_config(self, name: str) -> dict:
        mine = [s.split(".", 1)[1] for s in self.member_settings if s.split(".", 1)[0] == name]
        return {"seed": self.seed, **parse_overrides(track_class(name).Config, mine)}


class EnsembleTrack:
    Config = EnsembleConfig
    OWN_OUT_OF_FOLD = True  # submit.py hands it the run's folds and takes its threshold

    def __init__(self, config: EnsembleConfig | None = None):
        self.config = config if config is not None else self.Config()

    # -- training -------------------------------------------------------------------------
    def fit(self, proteins: Sequence[Protein]) -> "EnsembleTrack":
        c = self._checked()
        folds = self._folds(proteins)
        member_oof = {name: self._member_oof(name, proteins, folds) for name in c.members}
        self.tags_ = {name: self._member_tag(name, proteins) for name in c.members}
        self.members_ = {name: self._member_fit(name, proteins) for name in c.members}
        parts = stack_parts([member_oof[name] for name in c.members])
        oof = blend_out_of_fold(parts, proteins, folds, lambda: self._blender())
        self.blender_ = self._blender().fit(parts, proteins)
        self._fit_post(oof, proteins)
        self.oof_ = {"ensemble": self.post_.apply_probs(oof), **member_oof}
        return self

    def _checked(self) -> EnsembleConfig:
        c = self.config
        if not c.members or len(set(c.members)) != len(c.members):
            raise ValueError(f"ensemble members must be distinct track names, got {c.members}")
        if "ensemble" in c.members:
            raise ValueError("an ensemble cannot be its own member")
        if c.threshold not in THRESHOLDS:
            raise ValueError(f"unknown threshold {c.threshold!r}; expected {', '.join(THRESHOLDS)}")
        strays = sorted({s.split(".", 1)[0] for s in c.member_settings} - set(c.members))
        if strays or any("." not in s for s in c.member_settings):
            raise ValueError(f"member_settings are MEMBER.KEY=VALUE for a member in {c.members}; "
                             f"got {', '.join(c.member_settings)}")
        for name in c.members:
            c.member_config(name)  # unknown tracks and settings fail before any training
        make_blender(c.blender, **self._blender_kwargs())
        return c

    def _blender_kwargs(self) -> dict:
        c = self.config
        return {"weighted": {"metric": c.metric}, "stack": {"seed": c.seed}}.get(c.blender, {})

    def _blender(self):
        return make_blender(self.config.blender, **self._blender_kwargs())

    def _folds(self, proteins: Sequence[Protein]) -> list[int]:
        c = self.config
        if c.folds_file:
            fold_of = load_folds(c.folds_file)
            missing = [p.id for p in proteins if p.id not in fold_of]
            if missing:
                raise ValueError(f"{c.folds_file}: no fold for protein {missing[0]} "
                                 f"({len(missing)} missing)")
        else:
            fold_of = make_folds([p.id for p in proteins], k=c.folds, seed=c.seed,
                                 groups=fold_groups(proteins, c.groups or None))
        return [fold_of[p.id] for p in proteins]

    def _member_oof(self, name: str, proteins, folds) -> list[np.ndarray]:
        settings = self.config.member_config(name)
        where = self._member_dir(name)
        probs = out_of_fold(lambda: make_track(name, **settings), proteins, folds,
                            checkpoint_dir=where and where / "oof-folds",
                            config={"track": name, **settings})
        if where:  # the first-class artefact: id -> float32, with the config that made it
            write_npz(where / "oof.npz", dict(zip(unique_keys(proteins), probs)))
            write_json(where / "oof.json", {"track": name, "config": settings,
                                            "folds": folds, "ids": [p.id for p in proteins]})
        return probs

    def _member_tag(self, name: str, proteins) -> str:
        """Names a member model: its track, settings and training data."""
        return fingerprint({"track": name, **self.config.member_config(name)}, [], proteins)

    def _member_fit(self, name: str, proteins):
        """The member trained on every protein; a saved one with the same settings and data is reused."""
        where = self._member_dir(name)
        model = where and where / f"model-{self.tags_[name]}"
        if model and (model / "track.json").is_file():
            return load_track(model)
        track = make_track(name, **self.config.member_config(name)).fit(proteins)
        if model:
            save_track(track, model)
        return track

    def _member_dir(self, name: str) -> Path | None:
        return Path(self.config.cache_dir) / name if self.config.cache_dir else None

    def _fit_post(self, oof: list[np.ndarray], proteins) -> None:
        """Smoothing, then the threshold, then the minimum IDR length, each on the OOF blend."""
        c = self.config
        kind, width = (fit_smoothing(oof, proteins, metric=c.metric) if c.smoothing
                       else ("none", 1))
        smoothed = PostProcess(kind, width).apply_probs(oof)
        tune = tune_threshold_per_protein if c.threshold == "per_protein" else tune_threshold
        self.threshold_ = float(tune(proteins, smoothed))
        length = fit_min_length(smoothed, proteins, self.threshold_) if c.min_length else 0
        self.post_ = PostProcess(kind, width, length)

    # -- prediction -----------------------------------------------------------------------
    def predict_parts(self, proteins: Sequence[Protein]) -> dict[str, list[np.ndarray]]:
        """Each member's probabilities and the ensemble's ("ensemble"), per protein."""
        if not hasattr(self, "members_"):
            raise RuntimeError("EnsembleTrack is not fitted: call fit() or load() first")
        member = {name: self._member_predict(name, track, proteins)
                  for name, track in self.members_.items()}
        blend = self.blender_.predict(stack_parts([member[n] for n in self.members_]))
        return {"ensemble": self.post_.apply_probs(blend), **member}

    def predict_proba(self, proteins: Sequence[Protein]) -> list[np.ndarray]:
        return self.predict_parts(proteins)["ensemble"]

    def calls(self, probs: Sequence[np.ndarray], threshold: float) -> list[np.ndarray]:
        """0/1 calls as CAID reads them (rounded scores >= threshold), short IDRs removed."""
        binary = [(np.round(p, DECIMALS) >= threshold).astype(np.uint8) for p in probs]
        return self.post_.apply_binary(binary)

    def _member_predict(self, name: str, track, proteins) -> list[np.ndarray]:
        """A member's predictions, reused from the cache for the same model and proteins."""
        where = self._member_dir(name)
        tag = fingerprint({"model": self.tags_[name]}, [], proteins)
        path = where and where / f"predictions-{tag}.npz"
        if path and path.is_file():
            saved = read_npz(path)
            return [saved[k] for k in unique_keys(proteins)]
        probs = track.predict_proba(proteins)
        if path:
            write_npz(path, dict(zip(unique_keys(proteins), probs)))
        return probs

    # -- saving ---------------------------------------------------------------------------
    def save(self, directory: str | Path) -> None:
        directory = Path(directory)
        for name, track in self.members_.items():
            save_track(track, directory / MEMBERS_DIR / name)
        write_json(directory / META_FILE, {"members": list(self.members_),
                                           "blender": self.blender_.state(),
                                           "post": self.post_.to_dict(), "tags": self.tags_,
                                           "threshold": self.threshold_})

    @classmethod
    def load(cls, directory: str | Path, config: EnsembleConfig) -> "EnsembleTrack":
        directory = Path(directory)
        meta = json.loads((directory / META_FILE).read_text())
        track = cls(config)
        track.members_ = {name: load_track(directory / MEMBERS_DIR / name) for name in meta["members"]}
        track.blender_ = blender_from_state(meta["blender"])
        track.post_ = PostProcess.from_dict(meta["post"])
        track.threshold_ = meta["threshold"]
        track.tags_ = meta["tags"]
        return track


def stack_parts(member_probs: list[list[np.ndarray]]) -> list[np.ndarray]:
    """M members' per-protein (L,) arrays -> per-protein (L, M) arrays."""
    return [np.stack(arrays, axis=1).astype(np.float32) for arrays in zip(*member_probs)]


def blend_out_of_fold(parts: list[np.ndarray], proteins: Sequence[Protein], folds: Sequence[int],
                      make) -> list[np.ndarray]:
    """The blend of each fold's proteins from a blender fitted on the other folds only."""
    out: list = [None] * len(parts)
    for k in sorted(set(folds)):
        rest = [i for i, f in enumerate(folds) if f != k]
        held = [i for i, f in enumerate(folds) if f == k]
        blender = make().fit([parts[i] for i in rest], [proteins[i] for i in rest])
        for i, probs in zip(held, blender.predict([parts[i] for i in held])):
            out[i] = probs
    return out


def unique_keys(proteins: Sequence[Protein]) -> list[str]:
    """Protein ids as .npz keys; a repeated id (pooled files) gets its position as a prefix."""
    ids = [p.id for p in proteins]
    if len(set(ids)) == len(ids):
        return ids
    return [f"{i}:{pid}" for i, pid in enumerate(ids)]
