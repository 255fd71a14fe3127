"""Each check of the contract suite fails on a track broken in the way it guards against, and
passes on the real track it was broken from (w2v), so no check can pass whatever a track does."""
from __future__ import annotations

import json

import numpy as np
import pytest

from idr_kit.baselines.w2v import W2VTrack
from idr_kit.data.competition import read_pickle
from idr_kit.data.fasta import read_fasta
from idr_kit.data.records import Protein, make_protein
from idr_kit.model.runtime import Runtime

import contract


class ReturnsNothing(W2VTrack):
    def fit(self, proteins, oof=None):
        super().fit(proteins, oof)


class LearnsUnassessed(W2VTrack):
    """Reads the label array where the mask says '-': unassessed residues count as labelled."""
    def _fit(self, proteins, oof):
        super()._fit([Protein(p.id, p.seq, p.labels, np.ones(len(p), bool)) for p in proteins],
                     oof)


class Unseeded(W2VTrack):
    """Adds noise drawn from an unseeded generator to what it learnt."""
    def _fit(self, proteins, oof):
        super()._fit(proteins, oof)
        self.table_ = self.table_ + np.random.default_rng().normal(0, 0.5, self.table_.shape
                                                                    ).astype(np.float32)


class PredictsWhatItLearnt(W2VTrack):
    """Out of fold, one model trained on every protein predicts them all."""
    def _out_of_fold(self, proteins, folds):
        return self.fresh().fit(proteins).predict_proba(proteins), {}


class LeaksQuietly(W2VTrack):
    """The same leak, past the public methods: fits on every protein, then predicts them."""
    def _out_of_fold(self, proteins, folds):
        track = self.fresh()
        track._fit(proteins, None)
        return [np.clip(p, 0, 1).astype(np.float32) for p in track._predict(proteins)], {}


class SavesItsRuntime(W2VTrack):
    def _save(self, directory):
        super()._save(directory)
        (directory / "where.json").write_text(json.dumps({"cache_dir": self.runtime.cache_dir}))


def maker(cls):
    return lambda **settings: cls(cls.Config(vector_size=8, **settings), Runtime(threads=1))


@pytest.fixture(scope="module")
def train(shared_data):
    nox = [p for p in read_pickle(shared_data / "train.pkl")[:20]]
    seen = {p.seq for p in nox}
    pdb = [p for p in read_fasta(shared_data / "train_pdb_style.fasta")
           if not p.mask.all() and p.mask.any() and p.seq not in seen][:10]
    return nox + pdb


@pytest.fixture(scope="module")
def probe(shared_data):
    return [*read_fasta(shared_data / "valid.fasta")[:3], make_protein("u", "MKVLAAGGSEEK")]


def test_the_real_track_passes_every_check(train, probe, tmp_path):
    make = maker(W2VTrack)
    fitted = contract.check_fit_returns_the_track(make, train)
    contract.check_same_seed_same_predictions(make, train, probe, fitted)
    contract.check_unassessed_labels_change_nothing(make, train, probe, fitted)
    contract.check_out_of_fold_never_saw_its_protein(make, train)
    contract.check_runtime_is_never_saved(fitted, tmp_path)
    contract.check_styles(fitted, probe)


class NamesItsOwnStyle(W2VTrack):
    """Trained without a style, yet names one that --style does not accept."""
    styles = ("default",)


class TakesAnyStyle(W2VTrack):
    def with_style(self, style):
        return self


@pytest.mark.parametrize("broken, words", [(NamesItsOwnStyle, "a name --style accepts"),
                                           (TakesAnyStyle, "accepted a style")])
def test_a_track_whose_styles_mislead_fails(train, probe, broken, words):
    with pytest.raises(AssertionError, match=words):
        contract.check_styles(maker(broken)().fit(train), probe)


def test_a_fit_that_returns_nothing_fails(train):
    with pytest.raises(AssertionError, match="fit must return the track"):
        contract.check_fit_returns_the_track(maker(ReturnsNothing), train)


def test_a_track_that_learns_from_unassessed_residues_fails(train, probe):
    make = maker(LearnsUnassessed)
    with pytest.raises(AssertionError, match="unassessed"):
        contract.check_unassessed_labels_change_nothing(make, train, probe, make().fit(train))


def test_a_track_that_ignores_its_seed_fails(train, probe):
    make = maker(Unseeded)
    with pytest.raises(AssertionError, match="same seed"):
        contract.check_same_seed_same_predictions(make, train, probe, make().fit(train))


def test_out_of_fold_predictions_from_a_model_that_saw_them_fail(train):
    with pytest.raises(AssertionError, match="predicted by a model trained on them"):
        contract.check_out_of_fold_never_saw_its_protein(maker(PredictsWhatItLearnt), train)


def test_the_same_leak_past_the_public_methods_fails(train):
    with pytest.raises(AssertionError, match="flipping fold 0's labels changed"):
        contract.check_out_of_fold_never_saw_its_protein(maker(LeaksQuietly), train)


def test_a_saved_runtime_fails(train, tmp_path):
    track = maker(SavesItsRuntime)().fit(train)
    with pytest.raises(AssertionError, match="runtime"):
        contract.check_runtime_is_never_saved(track, tmp_path)
