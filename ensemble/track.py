"""The ensemble track: members' out-of-fold probabilities in, a blend fitted on them out.

Protocol, over one fixed set of protein-level folds (the run's, else made here by the kit's
rule with ``folds`` folds: proteins of one sequence share a fold):

1. every member predicts every training protein out of fold, through its own ``out_of_fold``:
   trained on k-1 folds, predicting the k-th. With a checkpoint folder the arrays are saved
   with the config that made them (``members/NAME/oof.npz``) and reused when the config, folds
   and data match;
2. ``fit``: every member is trained once more on all proteins, to predict new ones (also kept),
   and the blender learns from the members' out-of-fold arrays only;
3. ``out_of_fold``: the blender is cross-validated over the same folds, so the ensemble's own
   out-of-fold blend, from which the run fits its threshold and post-processing, was never
   fitted on the fold it predicts.

Members are any registered tracks (tracks.py), metapredict among them. The ensemble is a Track
like the others: the run pipeline treats it as it treats any track.
"""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from idr_kit.crossval import fingerprint
from idr_kit.data.atomic import read_json, write_json
from idr_kit.data.digests import proteins_digest
from idr_kit.data.probs import read_npz, validate_outputs, write_npz
from idr_kit.data.progress import stage
from idr_kit.data.records import Protein
from idr_kit.data.splits import fold_groups, make_folds
from idr_kit.ensemble.blend import blender_from_state, make_blender
from idr_kit.ensemble.config import EnsembleConfig
from idr_kit.postprocess import DecisionSettings
from idr_kit.tracks import Track, in_style, load_model, make_track, save_model

META_FILE = "ensemble.json"
MEMBERS_DIR = "members"


class EnsembleTrack(Track):
    name = "ensemble"
    Config = EnsembleConfig
    decision_defaults = DecisionSettings(smoothing=True, min_length=True)

    # -- training -------------------------------------------------------------------------
    def _fit(self, proteins: list[Protein], folds: list[int] | None) -> None:
        self._check()
        folds = folds or self._own_folds(proteins)
        member_oof = self._members_oof(proteins, folds)
        self.tags_ = {name: self._member_tag(name, proteins) for name in self.config.members}
        self.members_ = {name: self._member_fit(name, proteins) for name in self.config.members}
        parts, alike = stack_parts(list(member_oof.values())), self.alike(proteins)
        self.blender_ = self._blender().fit([parts[i] for i in alike], [proteins[i] for i in alike])

    def out_of_fold(self, proteins: Sequence[Protein], folds: Sequence[int]
                    ) -> dict[str, list[np.ndarray]]:
        """The blend of each fold from a blender fitted on the other folds, and each member's
        own out-of-fold arrays, which the blender learnt from."""
        self._check()
        proteins, folds = list(proteins), list(folds)
        member_oof = self._members_oof(proteins, folds)
        parts = stack_parts(list(member_oof.values()))
        return {self.name: blend_out_of_fold(parts, proteins, folds, self._blender,
                                             self.alike(proteins)),
                **member_oof}

    def alike(self, proteins) -> list[int]:
        """With a style, the blend learns from proteins labelled in it only. On both training
        files, pooled, in MMseqs2-grouped folds (bench/blend_on_style.py), the stack of lgbm,
        bilstm and metapredict predicting PDB style reached out-of-fold AUC / F1-max
        0.883 / 0.735 on the PDB-style proteins fitted on them, 0.873 / 0.723 fitted on all;
        lgbm and bilstm alone 0.868 / 0.709 against 0.864 / 0.705."""
        return in_style(proteins, self.config.style)

    def _check(self) -> None:
        """Bad settings fail before any member trains."""
        c = self.config
        if not c.members or len(set(c.members)) != len(c.members):
            raise ValueError(f"ensemble members must be distinct track names, got {c.members}")
        if self.name in c.members:
            raise ValueError("an ensemble cannot be its own member")
        strays = sorted({s.split(".", 1)[0] for s in c.member_settings} - set(c.members))
        if strays or any("." not in s for s in c.member_settings):
            raise ValueError(f"member_settings are MEMBER.KEY=VALUE for a member in {c.members}; "
                             f"got {', '.join(c.member_settings)}")
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

    def _members_oof(self, proteins: list[Protein], folds: list[int]) -> dict[str, list]:
        return {name: self._member_oof(name, proteins, folds) for name in self.config.members}

    def _member_oof(self, name: str, proteins: list[Protein], folds: list[int]) -> list:
        """A member's out-of-fold arrays: from this process's memo, else its fold checkpoints."""
        settings = dataclasses.asdict(self.config.member_config(name))
        key = (name, fingerprint({"track": name, **settings}, folds, proteins))
        memo = self.__dict__.setdefault("_oof_memo", {})
        if key not in memo:
            start = time.perf_counter()
            with stage(name):
                memo[key] = self._member(name).out_of_fold(proteins, folds)[name]
            self._seconds(name)["out_of_fold"] = round(time.perf_counter() - start, 2)
            where = self.runtime.checkpoint_path(MEMBERS_DIR, name)
            if where:  # the first-class artefact: id -> float32, with the config that made it
                write_npz(where / "oof.npz", dict(zip(unique_keys(proteins), memo[key])))
                write_json(where / "oof.json", {"track": name, "config": settings,
                                                "folds": folds, "ids": [p.id for p in proteins]})
        return memo[key]

    def _member_tag(self, name: str, proteins) -> str:
        """Names a member model: its track, settings and training data."""
        settings = dataclasses.asdict(self.config.member_config(name))
        return fingerprint({"track": name, **settings}, [], proteins)

    def _member_fit(self, name: str, proteins) -> Track:
        """The member trained on every protein; a kept one with the same settings and data is reused."""
        where = self.runtime.checkpoint_path(MEMBERS_DIR, name, f"model-{self.tags_[name]}")
        if where and (where / "track.json").is_file():
            self._seconds(name)["fit"] = "reused"
            return load_model(where, self.runtime.under(MEMBERS_DIR, name)).track
        start = time.perf_counter()
        with stage(name):
            track = self._member(name).fit(proteins)
        self._seconds(name)["fit"] = round(time.perf_counter() - start, 2)
        if where:
            save_model(track, where)
        return track

    def _seconds(self, name: str) -> dict:
        """Where a member's training seconds are noted for the run's record."""
        return self.__dict__.setdefault("seconds_", {}).setdefault(name, {})

    def report(self) -> dict:
        """Each member's seconds out of fold and to fit ("reused": from the checkpoints)."""
        return {"member_seconds": getattr(self, "seconds_", {})}

    # -- prediction -----------------------------------------------------------------------
    def predict_parts(self, proteins: Sequence[Protein]) -> dict[str, list[np.ndarray]]:
        """The blend under "ensemble", and each member's probabilities under its name."""
        self._require_fitted()
        proteins = list(proteins)
        member = {name: self._member_predict(name, track, proteins)
                  for name, track in self.members_.items()}
        blend = self.blender_.predict(stack_parts(list(member.values()))) if proteins else []
        validate_outputs(proteins, blend, f"track {self.name}")
        return {self.name: blend, **member}

    def _predict(self, proteins: list[Protein]) -> list[np.ndarray]:
        return self.predict_parts(proteins)[self.name]

    def _member_predict(self, name: str, track: Track, proteins) -> list[np.ndarray]:
        """A member's predictions, reused from the checkpoint folder for the same model and
        proteins (labels play no part: a test set is named by its ids and sequences)."""
        tag = proteins_digest(proteins, labels=False)
        path = self.runtime.checkpoint_path(MEMBERS_DIR, name,
                                            f"predictions-{self.tags_[name]}-{tag}.npz")
        if path and path.is_file():
            saved = read_npz(path)
            return [saved[k] for k in unique_keys(proteins)]
        with stage(name):
            probs = track.predict_proba(proteins)
        if path:
            write_npz(path, dict(zip(unique_keys(proteins), probs)))
        return probs

    # -- saving ---------------------------------------------------------------------------
    def _save(self, directory: Path) -> None:
        for name, track in self.members_.items():
            save_model(track, directory / MEMBERS_DIR / name)
        write_json(directory / META_FILE, {"members": list(self.members_),
                                           "blender": self.blender_.state(), "tags": self.tags_})

    def _load(self, directory: Path) -> None:
        meta = read_json(directory / META_FILE)
        self.members_ = {name: load_model(directory / MEMBERS_DIR / name,
                                          self.runtime.under(MEMBERS_DIR, name)).track
                         for name in meta["members"]}
        self.blender_ = blender_from_state(meta["blender"])
        self.tags_ = meta["tags"]


def stack_parts(member_probs: list[list[np.ndarray]]) -> list[np.ndarray]:
    """M members' per-protein (L,) arrays -> per-protein (L, M) arrays."""
    return [np.stack(arrays, axis=1).astype(np.float32) for arrays in zip(*member_probs)]


def blend_out_of_fold(parts: list[np.ndarray], proteins: Sequence[Protein], folds: Sequence[int],
                      make, alike: Sequence[int] | None = None) -> list[np.ndarray]:
    """The blend of each fold's proteins from a blender fitted on the other folds only (and
    of those, on the ``alike`` proteins only, when given)."""
    out: list = [None] * len(parts)
    fit_on = set(range(len(parts)) if alike is None else alike)
    for k in sorted(set(folds)):
        rest = ([i for i, f in enumerate(folds) if f != k and i in fit_on]
                or [i for i, f in enumerate(folds) if f != k])
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
