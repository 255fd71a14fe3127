"""The ensemble track: members' out-of-fold probabilities in, a blend fitted on them out.

Protocol, over one fixed set of protein-level folds (the run's, else made here by the kit's
rule with ``folds`` folds: proteins of one sequence share a fold):

1. ``out_of_fold``: every member predicts every training protein out of fold, through its own
   ``out_of_fold`` (trained on k-1 folds, predicting the k-th; checkpointed by each member
   under its own folder), and the blender is cross-validated over the same folds, so the
   ensemble's own out-of-fold blend, from which the run fits its threshold and
   post-processing, was never fitted on the fold it predicts. The members' values come back
   inside the ensemble's (``OutOfFold.members``);
2. ``fit(proteins, oof)``: every member is trained once more on all proteins, to predict new
   ones, and the blender learns from the members' out-of-fold arrays, taken from ``oof``
   (without it, the ensemble computes them on its own folds first).

Members are any registered tracks (tracks.py), metapredict among them, made and saved through
the registry. The ensemble is a Track like the others: the run pipeline treats it as it
treats any track. Predicting writes nothing.
"""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from idr_kit.data.atomic import write_json
from idr_kit.data.reading import read_record
from idr_kit.data.digests import checkpoint_tag
from idr_kit.data.errors import FileRefused, SettingError, brief
from idr_kit.data.probs import validate_outputs
from idr_kit.data.progress import stage
from idr_kit.data.records import Protein
from idr_kit.data.splits import fold_groups, make_folds
from idr_kit.data.styles import in_style
from idr_kit.ensemble.blend import blender_from_state, make_blender
from idr_kit.ensemble.config import EnsembleConfig
from idr_kit.model.decision import DecisionSettings
from idr_kit.model.saved import TRACK_FILE, load_model, save_model
from idr_kit.tracks import OutOfFold, Track, make_track, track_class

META_FILE = "ensemble.json"
MEMBERS_DIR = "members"


class EnsembleTrack(Track):
    name = "ensemble"
    Config = EnsembleConfig
    decision_defaults = DecisionSettings(smoothing=True, min_length=True)

    # -- out of fold ----------------------------------------------------------------------
    def _out_of_fold(self, proteins: list[Protein], folds: list[int]
                     ) -> tuple[list[np.ndarray], dict[str, OutOfFold]]:
        """The blend of each fold from a blender fitted on the other folds, and each member's
        own out-of-fold value, which the blender learns from."""
        self._check()
        members = self._members_oof(proteins, folds)
        stack = stacked([members[name].probs for name in self.config.members])
        return blend_out_of_fold(stack, proteins, folds, self._blender,
                                 self.decision_indices(proteins)), members

    def _members_oof(self, proteins: list[Protein], folds: list[int]) -> dict[str, OutOfFold]:
        out = {}
        for name in self.config.members:
            with stage(name):
                out[name] = self._member(name).out_of_fold(proteins, folds)
        return out

    def decision_indices(self, proteins) -> list[int]:
        """With a style, the blend learns from proteins labelled in it only. On both training
        files, pooled, in MMseqs2-grouped folds (bench/blend_on_style.py), the stack of lgbm,
        bilstm and metapredict predicting PDB style reached out-of-fold AUC / F1-max
        0.883 / 0.735 on the PDB-style proteins fitted on them, 0.873 / 0.723 fitted on all;
        lgbm and bilstm alone 0.868 / 0.709 against 0.864 / 0.705."""
        return in_style(proteins, self.config.style)

    # -- training -------------------------------------------------------------------------
    def _fit(self, proteins: list[Protein], oof: OutOfFold | None) -> None:
        self._check()
        members = oof.members if oof is not None else self._members_oof(
            proteins, self._own_folds(proteins))
        if sorted(members) != sorted(self.config.members):
            raise ValueError(f"out-of-fold members {sorted(members)} are not the ensemble's "
                             f"{sorted(self.config.members)}")
        self.member_seconds_ = {name: {"out_of_fold": members[name].seconds}
                                for name in self.config.members}
        self.tags_ = {name: self._member_tag(name, proteins) for name in self.config.members}
        self.members_ = {name: self._member_fit(name, proteins) for name in self.config.members}
        stack = stacked([members[name].probs for name in self.config.members])
        chosen = self.decision_indices(proteins)
        self.blender_ = self._blender().fit([stack[i] for i in chosen],
                                            [proteins[i] for i in chosen])

    def _check(self) -> None:
        """Bad settings fail before any member trains."""
        c = self.config
        if not c.members or len(set(c.members)) != len(c.members):
            raise SettingError(f"ensemble members must be distinct track names, got {c.members}")
        if self.name in c.members:
            raise SettingError("an ensemble cannot be its own member")
        strays = sorted({s.split(".", 1)[0] for s in c.member_settings} - set(c.members))
        if strays or any("." not in s for s in c.member_settings):
            raise SettingError(f"member_settings are MEMBER.KEY=VALUE for a member in "
                               f"{c.members}; got {', '.join(c.member_settings)}")
        for name in c.members:
            c.member_config(name)  # unknown tracks and settings
        self._blender()

    def _blender(self):
        c = self.config
        kwargs = {"weighted": {"metric": c.metric}, "stack": {"seed": c.seed}}.get(c.blender, {})
        return make_blender(c.blender, **kwargs)

    def _own_folds(self, proteins: list[Protein]) -> list[int]:
        fold_of = make_folds([p.id for p in proteins], k=self.config.folds, seed=self.config.seed,
                             groups=fold_groups(proteins, None))
        return [fold_of[p.id] for p in proteins]

    def _member(self, name: str) -> Track:
        return make_track(name, self.config.member_config(name),
                          self.runtime.under(MEMBERS_DIR, name))

    def _member_tag(self, name: str, proteins) -> str:
        """Names a member model: its track, settings and training data."""
        settings = dataclasses.asdict(self.config.member_config(name))
        return checkpoint_tag({"track": name, **settings}, [], proteins)

    def _member_fit(self, name: str, proteins) -> Track:
        """The member trained on every protein; a kept one with the same settings and data is
        reused (training checkpoints, under the runtime's checkpoint folder)."""
        where = self.runtime.checkpoint_path(MEMBERS_DIR, name, f"model-{self.tags_[name]}")
        if where and (where / TRACK_FILE).is_file():
            self.member_seconds_[name]["fit"] = "reused"
            return load_model(where, self.runtime.under(MEMBERS_DIR, name)).track
        start = time.perf_counter()
        with stage(name):
            track = self._member(name).fit(proteins)
        self.member_seconds_[name]["fit"] = round(time.perf_counter() - start, 2)
        if where:
            save_model(track, where)
        return track

    @property
    def member_names(self) -> tuple[str, ...]:
        return tuple(self.config.members)

    @property
    def predicts_in_workers(self) -> bool:  # type: ignore[override]
        return all(track_class(name).predicts_in_workers for name in self.config.members)

    def saved_members(self, directory) -> dict[str, Path]:
        return {name: Path(directory) / MEMBERS_DIR / name for name in self.config.members}

    def report(self) -> dict:
        """Each member's seconds out of fold and to fit ("reused": from the checkpoints)."""
        return {"member_seconds": getattr(self, "member_seconds_", {})}

    # -- prediction -----------------------------------------------------------------------
    def predict_with_members(self, proteins: Sequence[Protein]
                             ) -> tuple[list[np.ndarray], dict[str, list[np.ndarray]]]:
        """The blend, and each member's probabilities by name."""
        self._require_fitted()
        proteins = list(proteins)
        member_probs = {}
        for name, track in self.members_.items():
            with stage(name):
                member_probs[name] = track.predict_proba(proteins)
        blend = self.blender_.predict(stacked(list(member_probs.values()))) if proteins else []
        validate_outputs(proteins, blend, f"track {self.name}")
        return blend, member_probs

    def _predict(self, proteins: list[Protein]) -> list[np.ndarray]:
        return self.predict_with_members(proteins)[0]

    # -- saving ---------------------------------------------------------------------------
    def _save(self, directory: Path) -> None:
        for name, track in self.members_.items():
            save_model(track, directory / MEMBERS_DIR / name)
        write_json(directory / META_FILE, {"members": list(self.members_),
                                           "blender": self.blender_.state(), "tags": self.tags_})

    def _load(self, directory: Path) -> None:
        """The members by the names the config gives (registered tracks, each a folder of
        ``members/``), never by a path the record holds, then the blender."""
        meta = read_record(directory / META_FILE, links=False)
        if meta.get("members") != list(self.config.members):
            raise FileRefused(f"{directory / META_FILE}: its members {brief(meta.get('members'))}"
                              f" are not the ensemble's {list(self.config.members)}")
        self.members_ = {name: load_model(directory / MEMBERS_DIR / name,
                                          self.runtime.under(MEMBERS_DIR, name)).track
                         for name in self.config.members}
        try:
            self.blender_ = blender_from_state(meta["blender"])
        except (KeyError, TypeError, ValueError) as err:
            raise FileRefused(f"{directory / META_FILE}: not a blender's state ({brief(err)})") \
                from None
        self.tags_ = meta.get("tags", {})


def stacked(member_probs: list[list[np.ndarray]]) -> list[np.ndarray]:
    """M members' per-protein (L,) arrays -> per-protein (L, M) arrays, column m = member m."""
    return [np.stack(arrays, axis=1).astype(np.float32) for arrays in zip(*member_probs)]


def blend_out_of_fold(stack: list[np.ndarray], proteins: Sequence[Protein], folds: Sequence[int],
                      make, fit_on: Sequence[int] | None = None) -> list[np.ndarray]:
    """The blend of each fold's proteins from a blender fitted on the other folds only (and
    of those, on the ``fit_on`` proteins only, when given)."""
    out: list = [None] * len(stack)
    chosen = set(range(len(stack)) if fit_on is None else fit_on)
    for k in sorted(set(folds)):
        rest = ([i for i, f in enumerate(folds) if f != k and i in chosen]
                or [i for i, f in enumerate(folds) if f != k])
        held = [i for i, f in enumerate(folds) if f == k]
        blender = make().fit([stack[i] for i in rest], [proteins[i] for i in rest])
        for i, probs in zip(held, blender.predict([stack[i] for i in held])):
            out[i] = probs
    return out
