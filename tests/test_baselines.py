"""The two CPU baselines on real DisProt and CAID proteins: what they learn, and their features.

(The contract every track honours is checked in test_contract.py.) Training uses about 150
proteins of train.pkl with small configs, so the whole file stays well under a minute.
"""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from idr_kit.baselines.embedding import train_table
from idr_kit.baselines.features import FeatureSpec, feature_names, residue_features
from idr_kit.baselines.w2v import W2VTrack
from idr_kit.data.competition import read_pickle
from idr_kit.data.fasta import read_fasta
from idr_kit.data.metrics import roc_auc
from idr_kit.data.records import ALPHABET, Protein, make_protein
from idr_kit.data.scales import SCALE_NAMES, SCALE_TABLE
from idr_kit.data.splits import validation_proteins
from idr_kit.tracks import make_track

BASELINES = ["w2v", "lgbm"]
SMALL = {  # configs of a few seconds' training
    "w2v": {},
    "lgbm": {"vector_size": 8, "num_rounds": 40, "early_stopping_rounds": 10},
}
# Unassessed stretch planted in every training protein: residues [10, 40).
HIDDEN = slice(10, 40)


def hide(p: Protein, value: int) -> Protein:
    """The protein with residues HIDDEN unassessed and their labels overwritten by ``value``."""
    labels, mask = p.labels.copy(), p.mask.copy()
    labels[HIDDEN], mask[HIDDEN] = value, False
    return Protein(p.id, p.seq, labels, mask)


@pytest.fixture(scope="module")
def train(shared_data) -> list[Protein]:
    """About 150 proteins spread over train.pkl, with an unassessed stretch in each."""
    proteins = read_pickle(shared_data / "train.pkl")[::13][:150]
    return [hide(p, 1) for p in proteins]


@pytest.fixture(scope="module")
def probe(shared_data) -> list[Protein]:
    """Proteins to predict: CAID ones, rare letters, and a single residue."""
    odd = [make_protein("rare_letters", "MXUBZOKXAAU"), make_protein("one", "M"),
           make_protein("two", "KE")]
    return read_fasta(shared_data / "valid.fasta")[:12] + odd


@pytest.fixture(scope="module")
def fitted(train):
    return {name: make_track(name, **SMALL[name]).fit(train) for name in BASELINES}


def same_predictions(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))


# ---- what they learn --------------------------------------------------------------------------

@pytest.mark.parametrize("name", BASELINES)
def test_order_of_proteins_changes_nothing(name, fitted, probe):
    forward = fitted[name].predict_proba(probe)
    backward = fitted[name].predict_proba(probe[::-1])[::-1]
    assert same_predictions(forward, backward)


# The same seed giving the same model, and labels under the mask being ignored, are checked for
# every registered track by the contract suite (contract.py).

@pytest.mark.parametrize("name", BASELINES)
def test_unmasking_the_stretch_does_change_the_model(name, fitted, train, probe):
    # The counterpart of the contract's check: the same labels, now assessed, must matter.
    shown = [Protein(p.id, p.seq, p.labels, np.ones(len(p), dtype=bool)) for p in train]
    other = make_track(name, **SMALL[name]).fit(shown)
    assert not same_predictions(other.predict_proba(probe), fitted[name].predict_proba(probe))


@pytest.mark.parametrize("name", BASELINES)
def test_learns_disorder_on_held_out_caid_proteins(name, fitted, shared_data):
    held_out = read_fasta(shared_data / "valid.fasta")[100:160]
    probs = fitted[name].predict_proba(held_out)
    y_true = np.concatenate([p.labels[p.mask] for p in held_out])
    y_score = np.concatenate([prob[p.mask] for p, prob in zip(held_out, probs)])
    # Measured with seeds 0-3: w2v 0.56-0.61, lgbm 0.88-0.91; chance is 0.5.
    assert roc_auc(y_true, y_score) > {"w2v": 0.54, "lgbm": 0.75}[name]


# ---- the w2v baseline -------------------------------------------------------------------------

def test_w2v_feature_is_the_mean_over_the_baseline_slice():
    track = W2VTrack()
    track.table_ = np.zeros((len(ALPHABET), 2), dtype=np.float32)
    track.table_[ALPHABET.index("A")] = [1, 0]
    track.table_[ALPHABET.index("C")] = [0, 1]
    # seq[max(0, i-2):i+2] of "AACCA": AA, AAC, AACC, ACCA, CCA
    expected = [[1, 0], [2 / 3, 1 / 3], [1 / 2, 1 / 2], [1 / 2, 1 / 2], [1 / 3, 2 / 3]]
    np.testing.assert_allclose(track.features(make_protein("t", "AACCA")), expected, rtol=1e-6)


def test_w2v_feature_matches_the_literal_baseline_loop(fitted):
    track, seq = fitted["w2v"], "MKVLAAGIDEXPPS"
    vectors = {c: track.table_[ALPHABET.index(c)] for c in set(seq)}
    literal = [np.mean([vectors[c] for c in seq[max(0, i - 2):i + 2]], axis=0)
               for i in range(len(seq))]
    np.testing.assert_allclose(track.features(make_protein("t", seq)), literal, atol=1e-6)


def test_unseen_letters_get_zero_vectors(train):
    table = train_table([p.seq for p in train[:20]] + ["MKX"], vector_size=10, seed=0)
    for letter in "UBZO":  # absent from these sequences
        assert not table[ALPHABET.index(letter)].any()
    assert table[ALPHABET.index("X")].any()


def test_w2v_seed_changes_the_vectors(train):
    seqs = [p.seq for p in train[:20]]
    assert not np.array_equal(train_table(seqs, vector_size=10, seed=0),
                              train_table(seqs, vector_size=10, seed=1))


# ---- the LightGBM track's features and fold ---------------------------------------------------

def test_feature_columns_and_names_agree():
    table = np.ones((len(ALPHABET), 4), dtype=np.float32)
    for spec in (FeatureSpec(), FeatureSpec(use_length=True, use_protein_means=True)):
        features = residue_features("MKVLAAGIDEKPPS", table, spec)
        assert features.shape == (14, len(feature_names(spec, 4)))
        assert features.dtype == np.float32


def test_features_by_hand():
    spec = FeatureSpec(w2v_widths=(), composition_widths=(3,), scale_widths=(1,),
                       terminus_cap=2, use_length=True)
    names = feature_names(spec, 0)
    features = residue_features("KKEX", np.zeros((len(ALPHABET), 0), np.float32), spec)
    col = {n: features[:, names.index(n)] for n in names}
    np.testing.assert_allclose(col["aa3_K"], [1, 2 / 3, 1 / 3, 0], rtol=1e-6)
    np.testing.assert_allclose(col["aa3_E"], [0, 1 / 3, 1 / 3, 1 / 2], rtol=1e-6)
    np.testing.assert_allclose(col["charge1"], [1, 1, -1, 0])
    np.testing.assert_allclose(col["hydropathy1"], [-3.9, -3.9, -3.5, -0.49], rtol=1e-6)
    np.testing.assert_array_equal(col["to_n_terminus"], [0, 1, 2, 2])
    np.testing.assert_array_equal(col["to_c_terminus"], [2, 2, 1, 0])
    np.testing.assert_allclose(col["relative_position"], [1 / 8, 3 / 8, 5 / 8, 7 / 8])
    np.testing.assert_allclose(col["log_length"], np.log(4), rtol=1e-6)


def test_rare_letters_take_their_documented_scale_values():
    row = {letter: SCALE_TABLE[ALPHABET.index(letter)] for letter in ALPHABET}
    np.testing.assert_allclose(row["B"], (row["D"] + row["N"]) / 2)
    np.testing.assert_allclose(row["Z"], (row["E"] + row["Q"]) / 2)
    np.testing.assert_array_equal(row["U"], row["C"])
    np.testing.assert_array_equal(row["O"], row["K"])
    standard = np.mean([row[a] for a in ALPHABET[:20]], axis=0)
    np.testing.assert_allclose(row["X"], standard)
    assert row["X"][SCALE_NAMES.index("charged")] == pytest.approx(0.2)  # 4 of 20 charged


def test_validation_fold_follows_the_sequence_not_the_order(train):
    held = validation_proteins(train, 0.1, seed=0)
    assert 0 < held.sum() < len(train) // 4
    assert (validation_proteins(train[::-1], 0.1, seed=0)[::-1] == held).all()
    assert not (validation_proteins(train, 0.1, seed=1) == held).all()


def test_w2v_vectors_do_not_depend_on_python_hash_seed(train, tmp_path):
    # gensim seeds each vector from the word's hash in some versions; ours must not vary.
    seqs = [p.seq for p in train[:30]]
    (tmp_path / "seqs.txt").write_text("\n".join(seqs))
    script = ("import sys, numpy as np; from idr_kit.baselines.embedding import train_table; "
              "seqs = open(sys.argv[1]).read().split(); "
              "np.save(sys.argv[2], train_table(seqs, vector_size=10, seed=0))")
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": str(root)}
    subprocess.run([sys.executable, "-c", script, str(tmp_path / "seqs.txt"),
                    str(tmp_path / "table.npy")], check=True, env=env, cwd=root)
    np.testing.assert_array_equal(np.load(tmp_path / "table.npy"),
                                  train_table(seqs, vector_size=10, seed=0))
