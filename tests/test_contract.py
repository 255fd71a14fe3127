"""The track contract, checked on every registered track (as scikit-learn's check_estimator).

Parametrised from ``tracks.TRACKS`` itself with the tiny settings of tiny.py: registering a
track is enough to put it under these checks. Training data: 48 real DisProt proteins, cut to
their first 150 residues so that the torch tracks train in seconds.
"""
from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from idr_kit.data.competition import read_pickle
from idr_kit.data.fasta import read_fasta
from idr_kit.data.records import InputError, Protein, make_protein
from idr_kit.postprocess import Decision, DecisionSettings
from idr_kit.tracks import (TRACKS, NotFittedError, Track, TrackConfig, config_class,
                            load_model, make_track, save_model, track_class)
from tiny import CASES, RUNTIME, TINY, case_settings, track_of

NAMES = sorted(TRACKS)


def make(case: str, models: Path) -> Track:
    return make_track(track_of(case), runtime=RUNTIME, **case_settings(case, models))
REPO = Path(__file__).resolve().parents[1]


def cut(p: Protein, n: int) -> Protein:
    return Protein(p.id, p.seq[:n], p.labels[:n], p.mask[:n])


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="module")
def train(shared_data) -> list[Protein]:
    return [cut(p, 150) for p in read_pickle(shared_data / "train.pkl")[5:53]]


@pytest.fixture(scope="module")
def probe(shared_data) -> list[Protein]:
    """Labelled CAID proteins, unlabelled ones (the competition's test), rare letters, lower
    case, one residue, and a protein longer than any tiny window."""
    rng = np.random.default_rng(0)
    long_seq = "".join(rng.choice(list("ACDEFGHIKLMNPQRSTVWY"), 1500))
    return [*read_fasta(shared_data / "valid.fasta")[:4],
            make_protein("unlabelled", "MSEPKQLLVAGDTRHWPPSEEKK"),
            make_protein("rare_letters", "mkXUBZOkxaau"), make_protein("one", "M"),
            make_protein("long", long_seq)]


@pytest.fixture(scope="module")
def fitted(train, models):
    """Each track fitted once, on first use."""
    cache: dict[str, Track] = {}

    def get(name: str) -> Track:
        if name not in cache:
            cache[name] = make(name, models).fit(train)
        return cache[name]
    return get


def test_every_registered_track_has_tiny_settings():
    assert sorted(TINY) == NAMES, "add the new track's tiny settings to tests/tiny.py"


@pytest.mark.parametrize("name", NAMES)
def test_the_registry_name_config_and_class_agree(name):
    cls = track_class(name)
    assert issubclass(cls, Track) and cls.name == name
    assert cls.Config is config_class(name) and issubclass(cls.Config, TrackConfig)
    config = cls.Config()
    assert "seed" in {f.name for f in dataclasses.fields(config)}
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.seed = 1
    assert isinstance(cls.decision_defaults, DecisionSettings)


HEAVY = ("torch", "sklearn", "scipy", "lightgbm", "gensim", "transformers", "matplotlib")


def test_configs_and_command_lines_import_without_any_heavy_library():
    """A config needs no extra, and a command line starts in a fraction of a second."""
    code = ("import sys; from idr_kit.tracks import TRACKS, config_class; "
            "[config_class(n)() for n in TRACKS]; import idr_kit.submit, idr_kit.score, "
            f"idr_kit.fit; print([m for m in {HEAVY!r} if m in sys.modules])")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("name", CASES)
def test_one_float32_array_per_protein_in_range(name, fitted, probe):
    probs = fitted(name).predict_proba(probe)
    assert len(probs) == len(probe)
    for p, prob in zip(probe, probs):
        assert prob.dtype == np.float32 and prob.shape == (len(p),), p.id
        assert np.isfinite(prob).all() and (prob >= 0).all() and (prob <= 1).all(), p.id


@pytest.mark.parametrize("name", CASES)
def test_batch_equals_one_by_one(name, fitted, probe):
    track = fitted(name)
    batch = track.predict_proba(probe)
    for p, together in zip(probe, batch):
        np.testing.assert_allclose(track.predict_proba([p])[0], together, atol=1e-5,
                                   err_msg=p.id)


@pytest.mark.parametrize("name", CASES)
def test_no_proteins_no_predictions(name, fitted):
    assert fitted(name).predict_proba([]) == []


@pytest.mark.parametrize("name", CASES)
def test_save_then_load_predicts_the_same(name, fitted, probe, tmp_path):
    track = fitted(name)
    decision = Decision(threshold=0.25, source="test")
    save_model(track, tmp_path / "model", decision)
    loaded = load_model(tmp_path / "model", RUNTIME)
    assert type(loaded.track) is type(track) and loaded.track.config == track.config
    assert loaded.decision == decision
    for a, b in zip(track.predict_proba(probe), loaded.track.predict_proba(probe)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", CASES)
def test_parts_hold_the_track_under_its_name(name, fitted, probe):
    track = fitted(name)
    parts = track.predict_parts(probe)
    for a, b in zip(parts[track_of(name)], track.predict_proba(probe)):
        np.testing.assert_allclose(a, b, atol=1e-6)
    for part, probs in parts.items():
        assert [len(p) for p in probs] == [len(p) for p in probe], part


@pytest.mark.parametrize("name", CASES)
def test_out_of_fold_predicts_every_training_protein(name, train, models):
    folds = [i % 2 for i in range(len(train))]
    parts = make(name, models).out_of_fold(train, folds)
    assert track_of(name) in parts
    for part, probs in parts.items():
        assert [len(p) for p in probs] == [len(p) for p in train], part
        assert all(p.dtype == np.float32 for p in probs), part


@pytest.mark.parametrize("name", CASES)
def test_training_labels_of_one_class_are_refused(name, train, models):
    ordered = [Protein(p.id, p.seq, np.zeros(len(p), np.uint8), p.mask) for p in train[:6]]
    with pytest.raises(ValueError, match="both classes"):
        make(name, models).fit(ordered)


@pytest.mark.parametrize("name", CASES)
def test_training_proteins_without_labels_are_refused(name, train, models):
    with pytest.raises(ValueError, match="protein bare"):
        make(name, models).fit(
            [*train[:4], Protein("bare", train[4].seq)])


@pytest.mark.parametrize("name", CASES)
def test_predicting_or_saving_before_fitting_is_refused(name, models, tmp_path):
    track = make(name, models)
    with pytest.raises(NotFittedError, match=f"track {track_of(name)} is not fitted"):
        track.predict_proba([make_protein("p", "MKV")])
    with pytest.raises(NotFittedError):
        save_model(track, tmp_path)


@pytest.mark.parametrize("name", CASES)
def test_runtime_is_never_saved_with_the_model(name, fitted, tmp_path):
    track = fitted(name)
    save_model(track, tmp_path / "model")
    text = "".join(p.read_text(errors="ignore") for p in (tmp_path / "model").rglob("*.json"))
    for field in ("checkpoint_dir", "cache_dir", "device", "threads"):
        assert f'"{field}"' not in text, field


@pytest.mark.parametrize("name", CASES)
def test_a_bad_residue_is_named_with_protein_and_position(name, fitted):
    with pytest.raises(InputError, match="protein odd: position 3"):
        fitted(name).predict_proba([make_protein("ok", "MKV"), Protein("odd", "MK7L")])
