"""The track contract's checks, as functions (scikit-learn's ``check_estimator`` is the model):
test_contract.py runs each over every registered track, and test_contract_checks.py proves each
one fails on a track broken in the way it guards against.

Each check takes ``make()``, a factory of fresh unfitted tracks with one case's settings
(``make(seed=1)`` overrides a setting), and real proteins: ``train`` holds NOX-style and
PDB-style proteins, so some residues are unassessed ('-'); ``probe`` holds labelled and
unlabelled proteins, rare letters, one residue and one longer than any tiny window. A failed
check raises AssertionError saying which promise was broken.
"""
from __future__ import annotations

import contextlib
import dataclasses
import weakref
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from idr_kit.data.errors import SettingError
from idr_kit.data.records import Protein
from idr_kit.data.styles import STYLES
from idr_kit.model.runtime import Runtime
from idr_kit.model.saved import TRACK_FILE, save_model
from idr_kit.tracks import OutOfFold, Track

Make = Callable[..., Track]
RUNTIME_FIELDS = tuple(f.name for f in dataclasses.fields(Runtime))


def assert_same(a: Sequence[np.ndarray], b: Sequence[np.ndarray], what: str,
                atol: float = 0.0) -> None:
    assert len(a) == len(b), f"{what}: {len(a)} arrays against {len(b)}"
    for i, (x, y) in enumerate(zip(a, b)):
        assert x.shape == y.shape and np.allclose(x, y, rtol=0, atol=atol), \
            f"{what}: protein {i} differs by up to {np.max(np.abs(x - y)) if x.shape == y.shape else 'shape'}"


# ---- fitting --------------------------------------------------------------------------------

def check_fit_returns_the_track(make: Make, train: list[Protein]) -> Track:
    track = make()
    fitted = track.fit(train)
    assert fitted is track, "fit must return the track itself"
    return track


def check_same_seed_same_predictions(make: Make, train, probe, fitted: Track) -> None:
    """Two fits with one seed predict the same, to the bit (another seed may differ)."""
    again = make(seed=fitted.config.seed).fit(train)
    assert_same(fitted.predict_proba(probe), again.predict_proba(probe),
                "two fits with the same seed predict differently")


def with_unassessed_flipped(proteins: Sequence[Protein]) -> list[Protein]:
    """The same proteins with every unassessed ('-') residue's stored label flipped."""
    out = [Protein(p.id, p.seq, np.where(p.mask, p.labels, 1 - p.labels).astype(np.uint8),
                   p.mask) for p in proteins]
    assert any((a.labels != b.labels).any() for a, b in zip(proteins, out)), \
        "the training proteins have no unassessed residue to flip"
    return out


def check_unassessed_labels_change_nothing(make: Make, train, probe, fitted: Track) -> None:
    """What a '-' residue's label array holds is never learnt from."""
    flipped = make(seed=fitted.config.seed).fit(with_unassessed_flipped(train))
    assert_same(fitted.predict_proba(probe), flipped.predict_proba(probe),
                "changing the labels of unassessed '-' residues changed the predictions")


# ---- predicting -----------------------------------------------------------------------------

def check_one_float32_array_per_protein_in_range(fitted: Track, probe) -> None:
    probs = fitted.predict_proba(probe)
    assert len(probs) == len(probe), f"{len(probs)} arrays for {len(probe)} proteins"
    for p, prob in zip(probe, probs):
        assert prob.dtype == np.float32 and prob.shape == (len(p),), p.id
        assert np.isfinite(prob).all() and (prob >= 0).all() and (prob <= 1).all(), p.id


def check_batch_equals_one_by_one(fitted: Track, probe) -> None:
    batch = fitted.predict_proba(probe)
    for p, together in zip(probe, batch):
        alone = fitted.predict_proba([p])[0]
        assert np.allclose(alone, together, rtol=0, atol=1e-5), \
            f"protein {p.id}: predicted alone it differs from predicted in a batch"


def check_members_by_name(fitted: Track, probe) -> None:
    probs, members = fitted.predict_with_members(probe)
    assert_same(probs, fitted.predict_proba(probe), "predict_with_members' own probabilities",
                atol=1e-6)
    for name, values in members.items():
        assert [len(v) for v in values] == [len(p) for p in probe], name


def check_styles(fitted: Track, probe) -> None:
    """The label styles it predicts in: its own first, each a name ``--style`` accepts (or
    its one style, unnamed, for a track trained without one); ``with_style`` gives a track
    predicting in each (in its own, what it predicts now) and refuses every other name."""
    styles = fitted.styles
    assert isinstance(styles, tuple) and styles and len(set(styles)) == len(styles), styles
    assert styles == ("",) or set(styles) <= set(STYLES), \
        f"styles {styles}: each a name --style accepts, or one style with no name"
    assert_same(fitted.with_style(styles[0]).predict_proba(probe), fitted.predict_proba(probe),
                f"with_style({styles[0]!r}), its own style, predicts differently")
    for style in styles[1:]:
        told = fitted.with_style(style)
        assert told.styles[0] == style, f"with_style({style!r}) predicts in {told.styles[0]!r}"
        check_one_float32_array_per_protein_in_range(told, probe)
    for other in sorted({*STYLES, "", "default", "auto"} - set(styles)):
        try:
            fitted.with_style(other)
        except SettingError:
            continue
        raise AssertionError(f"with_style({other!r}) accepted a style not in {styles}")


# ---- out of fold ----------------------------------------------------------------------------

def _key(p: Protein) -> tuple[str, str]:
    return p.id, p.seq


@contextlib.contextmanager
def watching_tracks():
    """Every Track's fit and predict_proba noted: which instance trained on which proteins,
    and any protein an instance predicted after training on it (``violations``)."""
    trained: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
    violations: list[tuple[str, str]] = []
    real_fit, real_predict = Track.fit, Track.predict_proba

    def fit(self, proteins, oof=None):
        proteins = list(proteins)
        out = real_fit(self, proteins, oof)
        trained.setdefault(self, set()).update(map(_key, proteins))
        return out

    def predict_proba(self, proteins):
        proteins = list(proteins)
        violations.extend(k for k in map(_key, proteins) if k in trained.get(self, ()))
        return real_predict(self, proteins)

    Track.fit, Track.predict_proba = fit, predict_proba
    try:
        yield violations
    finally:
        Track.fit, Track.predict_proba = real_fit, real_predict


def _fold_labels_flipped(train: Sequence[Protein], folds: Sequence[int], fold: int):
    return [Protein(p.id, p.seq, (1 - p.labels).astype(np.uint8), p.mask) if f == fold else p
            for p, f in zip(train, folds)]


def _held_out_unchanged(a: OutOfFold, b: OutOfFold, held: list[int], what: str) -> None:
    """Fold-0 predictions of a track without members must not move when fold 0's labels do;
    of an ensemble, its members' must not (its blend of fold 0 is fitted on the other folds'
    labels, through member predictions that saw fold 0: the usual stacking protocol)."""
    if not a.members:
        assert_same([a.probs[i] for i in held], [b.probs[i] for i in held],
                    f"{what}: flipping fold 0's labels changed fold 0's out-of-fold predictions")
    for name in a.members:
        _held_out_unchanged(a.members[name], b.members[name], held, f"{what}/{name}")


def check_out_of_fold_never_saw_its_protein(make: Make, train) -> OutOfFold:
    """Every training protein is predicted, by a model that was never trained on it: no
    instance predicts a protein it was fitted on, and fold 0's predictions do not depend on
    fold 0's labels."""
    folds = [i % 2 for i in range(len(train))]
    with watching_tracks() as violations:
        oof = make().out_of_fold(train, folds)
        flipped = make().out_of_fold(_fold_labels_flipped(train, folds, 0), folds)
    assert not violations, f"proteins predicted by a model trained on them: {violations[:3]}"
    for value in (oof, *oof.members.values()):
        assert [len(p) for p in value.probs] == [len(p) for p in train]
        assert all(p.dtype == np.float32 for p in value.probs)
    assert all(0 <= i < len(train) for i in oof.decision_indices)
    _held_out_unchanged(oof, flipped, [i for i, f in enumerate(folds) if f == 0], "out of fold")
    return oof


# ---- saving ---------------------------------------------------------------------------------

def check_runtime_is_never_saved(fitted: Track, folder: Path) -> None:
    """No file of a saved model holds the runtime: not its folders, not its settings."""
    marked = Runtime(device="cpu", threads=1, checkpoint_dir=str(folder / "RUNTIME-MARK-ckpt"),
                     cache_dir=str(folder / "RUNTIME-MARK-cache"))
    original, fitted.runtime = fitted.runtime, marked
    try:
        save_model(fitted, folder / "model")
    finally:
        fitted.runtime = original
    for path in (folder / "model").rglob("*"):
        if path.is_file():
            assert b"RUNTIME-MARK" not in path.read_bytes(), f"{path.name} holds a runtime folder"
    for path in (folder / "model").rglob("*.json"):
        text = path.read_text()
        for name in RUNTIME_FIELDS:
            assert f'"{name}"' not in text, f"{path.name} holds the runtime's {name}"
    assert (folder / "model" / TRACK_FILE).is_file()
