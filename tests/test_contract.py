"""The track contract, checked on every registered track (as scikit-learn's check_estimator).

Parametrised from ``tracks.TRACKS`` itself with the tiny settings of tiny.py: registering a
track is enough to put it under every check of contract.py. Training data: 32 NOX-style
DisProt proteins (train.pkl) and 16 PDB-style ones (train_pdb_style.fasta, with unassessed
residues), cut to their first 150 residues so that the torch tracks train in seconds.
"""
from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from idr_kit.data.competition import read_pickle
from idr_kit.data.errors import InputError
from idr_kit.data.fasta import read_fasta
from idr_kit.data.records import Protein, make_protein
from idr_kit.model.decision import Decision, DecisionSettings
from idr_kit.model.saved import load_model, save_model
from idr_kit.tracks import (TRACKS, NotFittedError, Track, TrackConfig, config_class, make_track,
                            track_class)

import contract
from tiny import CASES, RUNTIME, TINY, case_settings, track_of

NAMES = sorted(TRACKS)
REPO = Path(__file__).resolve().parents[1]


def cut(p: Protein, n: int) -> Protein:
    return Protein(p.id, p.seq[:n], p.labels[:n], p.mask[:n])


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("models")


def factory(case: str, models: Path):
    settings = case_settings(case, models)
    return lambda **more: make_track(track_of(case), runtime=RUNTIME, **{**settings, **more})


@pytest.fixture(scope="module")
def train(shared_data) -> list[Protein]:
    nox = [cut(p, 150) for p in read_pickle(shared_data / "train.pkl")[5:37]]
    seen = {p.seq for p in nox}
    pdb = [q for q in (cut(p, 150) for p in read_fasta(shared_data / "train_pdb_style.fasta"))
           if not q.mask.all() and q.mask.any() and q.seq not in seen][:16]
    return nox + pdb


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
    """Each case fitted once, on first use (that fit checks that fit returns the track)."""
    cache: dict[str, Track] = {}

    def get(case: str) -> Track:
        if case not in cache:
            cache[case] = contract.check_fit_returns_the_track(factory(case, models), train)
        return cache[case]
    return get


# ---- the registry -----------------------------------------------------------------------------

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
            "[config_class(n)() for n in TRACKS]; import idr_kit.submit, idr_kit.commands.score, "
            f"idr_kit.commands.fit; print([m for m in {HEAVY!r} if m in sys.modules])")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


# ---- the contract, over every case ------------------------------------------------------------

@pytest.mark.parametrize("case", CASES)
def test_one_float32_array_per_protein_in_range(case, fitted, probe):
    contract.check_one_float32_array_per_protein_in_range(fitted(case), probe)


@pytest.mark.parametrize("case", CASES)
def test_batch_equals_one_by_one(case, fitted, probe):
    contract.check_batch_equals_one_by_one(fitted(case), probe)


@pytest.mark.parametrize("case", CASES)
def test_the_same_seed_gives_the_same_predictions(case, fitted, train, probe, models):
    contract.check_same_seed_same_predictions(factory(case, models), train, probe, fitted(case))


@pytest.mark.parametrize("case", CASES)
def test_the_labels_of_unassessed_residues_change_nothing(case, fitted, train, probe, models):
    contract.check_unassessed_labels_change_nothing(factory(case, models), train, probe,
                                                    fitted(case))


@pytest.mark.parametrize("case", CASES)
def test_out_of_fold_predictions_come_from_models_that_never_saw_their_protein(
        case, train, models):
    contract.check_out_of_fold_never_saw_its_protein(factory(case, models), train)


@pytest.mark.parametrize("case", CASES)
def test_the_runtime_is_never_saved(case, fitted, tmp_path):
    contract.check_runtime_is_never_saved(fitted(case), tmp_path)


@pytest.mark.parametrize("case", CASES)
def test_every_track_says_its_label_styles(case, fitted, probe):
    contract.check_styles(fitted(case), probe)


@pytest.mark.parametrize("case", CASES)
def test_members_come_by_name(case, fitted, probe):
    contract.check_members_by_name(fitted(case), probe)


@pytest.mark.parametrize("case", CASES)
def test_no_proteins_no_predictions(case, fitted):
    assert fitted(case).predict_proba([]) == []


@pytest.mark.parametrize("case", CASES)
def test_save_then_load_predicts_the_same(case, fitted, probe, tmp_path):
    track = fitted(case)
    decision = Decision(threshold=0.25, source="test")
    save_model(track, tmp_path / "model", decision)
    loaded = load_model(tmp_path / "model", RUNTIME)
    assert type(loaded.track) is type(track) and loaded.track.config == track.config
    assert loaded.decision == decision
    contract.assert_same(track.predict_proba(probe), loaded.track.predict_proba(probe),
                         "the reloaded model predicts differently")


@pytest.mark.parametrize("case", CASES)
def test_training_labels_of_one_class_are_refused(case, train, models):
    ordered = [Protein(p.id, p.seq, np.zeros(len(p), np.uint8), p.mask) for p in train[:6]]
    with pytest.raises(InputError, match="both classes"):
        factory(case, models)().fit(ordered)


@pytest.mark.parametrize("case", CASES)
def test_training_proteins_without_labels_are_refused(case, train, models):
    with pytest.raises(InputError, match="protein bare"):
        factory(case, models)().fit([*train[:4], Protein("bare", train[4].seq)])


@pytest.mark.parametrize("case", CASES)
def test_predicting_or_saving_before_fitting_is_refused(case, models, tmp_path):
    track = factory(case, models)()
    with pytest.raises(NotFittedError, match=f"track {track_of(case)} is not fitted"):
        track.predict_proba([make_protein("p", "MKV")])
    with pytest.raises(NotFittedError):
        save_model(track, tmp_path)


@pytest.mark.parametrize("case", CASES)
def test_a_bad_residue_is_named_with_protein_and_position(case, fitted):
    with pytest.raises(InputError, match="protein odd: position 3"):
        fitted(case).predict_proba([make_protein("ok", "MKV"), Protein("odd", "MK7L")])
