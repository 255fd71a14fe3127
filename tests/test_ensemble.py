"""The ensemble track: the out-of-fold protocol, its leak-freedom and reuse, and submit.py end to end."""
from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from idr_kit.baselines.w2v import W2VTrack
from idr_kit.data.load import read_proteins
from idr_kit.data.probs import read_npz
from idr_kit.data.records import make_protein
from idr_kit.ensemble.blend import make_blender
from idr_kit.ensemble.track import EnsembleTrack, blend_out_of_fold, stack_parts
from idr_kit.tracks import TRACKS, Entry, Runtime, load_model, make_track, save_model

ROOT = Path(__file__).resolve().parents[1]
QUICK = ("w2v.vector_size=20",)  # quicker than the baseline's 100, and it still learns


class SpyTrack(W2VTrack):
    """The real w2v track, noting which proteins each instance trains on and predicts."""
    name = "spy"
    calls: list = []

    def fit(self, proteins, folds=None):
        SpyTrack.calls.append(("fit", [p.id for p in proteins]))
        return super().fit(proteins, folds)

    def predict_proba(self, proteins):
        SpyTrack.calls.append(("predict", [p.id for p in proteins]))
        return super().predict_proba(proteins)


@pytest.fixture
def spy(monkeypatch):
    monkeypatch.setitem(TRACKS, "spy", Entry(f"{__name__}:SpyTrack",
                                             "idr_kit.baselines.w2v:W2VConfig"))
    SpyTrack.calls = []
    return SpyTrack


@pytest.fixture(scope="module")
def train(shared_data):
    from idr_kit.data.competition import read_pickle
    return read_pickle(shared_data / "train.pkl")[:90]


@pytest.fixture(scope="module")
def test(shared_data):
    return read_proteins(shared_data / "valid.fasta")[:20]


def ensemble(runtime: Runtime | None = None, **settings) -> EnsembleTrack:
    members = settings.get("members", EnsembleTrack.Config.members)
    quick = tuple(s for s in QUICK if s.split(".")[0] in members)
    return make_track("ensemble", runtime=runtime,
                      **{"folds": 3, "member_settings": quick, **settings})


# -- the protocol -----------------------------------------------------------------------------
def test_no_fold_is_predicted_by_a_member_that_saw_it(spy, train):
    ensemble(members=("spy", "w2v")).fit(train)
    calls = spy.calls
    # out of fold: fit on the other folds, then predict the held-out fold; then one fit on all
    pairs = [(calls[i][1], calls[i + 1][1]) for i in range(0, 6, 2)]
    assert [kind for kind, _ in calls] == ["fit", "predict"] * 3 + ["fit"]
    for fitted, predicted in pairs:
        assert not set(fitted) & set(predicted)
        assert set(fitted) | set(predicted) == {p.id for p in train}
    assert sorted(i for _, predicted in pairs for i in predicted) == sorted(p.id for p in train)
    assert sorted(calls[-1][1]) == sorted(p.id for p in train)


def test_a_fold_of_the_blend_never_sees_its_own_labels(train):
    rng = np.random.default_rng(0)
    parts = [rng.random((len(p), 2)).astype(np.float32) for p in train]
    folds = [i % 3 for i in range(len(train))]
    flipped = [type(p)(p.id, p.seq, np.where(f == 0, 1 - p.labels, p.labels).astype(np.uint8), p.mask)
               for p, f in zip(train, folds)]
    make = lambda: make_blender("stack", seed=0)  # noqa: E731
    a = blend_out_of_fold(parts, train, folds, make)
    b = blend_out_of_fold(parts, flipped, folds, make)
    for x, y, f in zip(a, b, folds):
        if f == 0:
            np.testing.assert_array_equal(x, y)  # fold 0's blend came from folds 1 and 2 only
    assert any(not np.array_equal(x, y) for x, y, f in zip(a, b, folds) if f != 0)


def test_the_out_of_fold_then_fit_protocol_trains_each_fold_once(spy, train):
    track = ensemble(members=("spy", "w2v"))
    folds = [i % 3 for i in range(len(train))]
    parts = track.out_of_fold(train, folds)
    assert set(parts) == {"ensemble", "spy", "w2v"}
    track.fit(train, folds)  # the members' out-of-fold arrays are reused, not recomputed
    assert [kind for kind, _ in spy.calls] == ["fit", "predict"] * 3 + ["fit"]


def test_members_out_of_fold_arrays_and_models_are_reused(spy, train, tmp_path):
    runtime = Runtime(checkpoint_dir=str(tmp_path))
    folds = [i % 3 for i in range(len(train))]
    first = ensemble(runtime, members=("spy",))
    first_oof = first.out_of_fold(train, folds)["ensemble"]
    first.fit(train, folds)
    assert len(spy.calls) == 7
    oof = read_npz(tmp_path / "members" / "spy" / "oof.npz")
    assert set(oof) == {p.id for p in train}
    record = json.loads((tmp_path / "members" / "spy" / "oof.json").read_text())
    assert record["track"] == "spy" and len(record["folds"]) == len(train)
    spy.calls = []
    again = ensemble(runtime, members=("spy",))
    again_oof = again.out_of_fold(train, folds)["ensemble"]
    again.fit(train, folds)
    assert spy.calls == []  # every fold and the final model came from the checkpoints
    for x, y in zip(first_oof, again_oof):
        np.testing.assert_array_equal(x, y)
    ensemble(runtime, members=("spy",), member_settings=("spy.vector_size=16",)).fit(train, folds)
    assert len(spy.calls) == 7  # other settings: computed afresh


def test_member_predictions_for_unlabelled_proteins_are_kept_and_reused(spy, train, tmp_path):
    track = ensemble(Runtime(checkpoint_dir=str(tmp_path)), members=("spy",)).fit(train)
    unlabelled = [make_protein(f"u{i}", p.seq) for i, p in enumerate(train[:4])]
    first = track.predict_proba(unlabelled)
    spy.calls = []
    again = track.predict_proba(unlabelled)
    assert spy.calls == []
    for x, y in zip(first, again):
        np.testing.assert_array_equal(x, y)


def test_the_ensemble_predicts_saves_and_reloads(train, test, tmp_path):
    track = ensemble(members=("w2v", "lgbm"), member_settings=QUICK + ("lgbm.num_rounds=60",)).fit(train)
    parts = track.predict_parts(test)
    assert set(parts) == {"ensemble", "w2v", "lgbm"}
    for name, probs in parts.items():
        assert [len(p) for p in probs] == [len(p.seq) for p in test], name
        assert all(p.dtype == np.float32 and (p >= 0).all() and (p <= 1).all() for p in probs)
    save_model(track, tmp_path / "model")
    again = load_model(tmp_path / "model").track
    for a, b in zip(track.predict_proba(test), again.predict_proba(test)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("settings, message", [
    (dict(members=("w2v", "w2v")), "distinct"),
    (dict(members=("ensemble",)), "its own member"),
    (dict(members=("nonexistent",)), "unknown track"),
    (dict(member_settings=("spy.nonexistent=1",)), "nonexistent"),
    (dict(member_settings=("w2v.vector_size=8",)), "for a member in"),
    (dict(blender="vote"), "vote")])
def test_bad_settings_fail_before_any_training(settings, message, spy, train):
    with pytest.raises((ValueError, KeyError), match=message):
        ensemble(**{"members": ("spy",), **settings}).fit(train)
    assert spy.calls == []


def test_metapredict_is_a_track_that_reads_any_residue():
    pytest.importorskip("metapredict")
    proteins = [make_protein("odd", "MKVLXUBZOEE", "00011111100"), make_protein("one", "M", "1")]
    probs = make_track("metapredict").fit(proteins).predict_proba(proteins)
    assert [len(p) for p in probs] == [11, 1] and all(p.dtype == np.float32 for p in probs)


def test_stack_parts_shapes():
    a = [np.zeros(3, np.float32), np.ones(2, np.float32)]
    b = [np.full(3, 0.5, np.float32), np.full(2, 0.25, np.float32)]
    parts = stack_parts([a, b])
    assert [p.shape for p in parts] == [(3, 2), (2, 2)]
    np.testing.assert_array_equal(parts[1], [[1, 0.25], [1, 0.25]])


# -- submit.py --------------------------------------------------------------------------------
def run_submit(*args):
    return subprocess.run([sys.executable, str(ROOT / "submit.py"), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def files(tmp_path_factory, shared_data):
    folder = tmp_path_factory.mktemp("data")
    with open(shared_data / "train.pkl", "rb") as handle:
        data = pickle.load(handle)[:90]
    with open(folder / "train.pkl", "wb") as handle:
        pickle.dump(data, handle)
    lines = (shared_data / "valid.fasta").read_text().splitlines()[: 3 * 12]
    (folder / "test.fasta").write_text("\n".join(lines) + "\n")
    return folder


def test_submit_builds_an_ensemble_with_plots_and_a_saved_model_predicts_the_same(files, tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "run"
    result = run_submit("--track", "ensemble", "--members", "w2v,lgbm", "--train",
                        str(files / "train.pkl"), "--test", str(files / "test.fasta"),
                        "--out", str(out), "--folds", "3", "--plot", "--plot-first", "3",
                        "--set", "member_settings=w2v.vector_size=20,lgbm.num_rounds=60")
    assert result.returncode == 0, result.stderr[-3000:]
    for name in ("submit.csv", "probs.npz", "predictions.caid", "folds.json", "config.json",
                 "model/track.json", "model/ensemble.json", "oof/ensemble-train.npz",
                 "oof/w2v-train.npz", "oof/lgbm-train.npz", "checkpoints/members/lgbm/oof.npz",
                 "parts/w2v.npz", "parts/lgbm.npz", "plots/summary.png"):
        assert (out / name).is_file(), name
    assert len(list((out / "plots" / "proteins").glob("*.png"))) == 3
    probs, member = np.load(out / "probs.npz"), np.load(out / "parts" / "lgbm.npz")
    assert sorted(member.files) == sorted(probs.files)
    assert all(member[k].shape == probs[k].shape for k in probs.files)
    record = json.loads((out / "config.json").read_text())
    for name in ("w2v", "lgbm"):  # each member's seconds, as this run spent them
        seconds = record["track_report"]["member_seconds"][name]
        assert seconds["out_of_fold"] > 0 and seconds["fit"] > 0
    assert record["threshold_source"].startswith("F1-max on out-of-fold")
    saved = json.loads((out / "model" / "track.json").read_text())["decision"]
    assert record["threshold"] == saved["threshold"] and record["decision"] == saved
    again = run_submit("--model", str(out / "model"), "--test", str(files / "test.fasta"),
                       "--out", str(tmp_path / "again"))
    assert again.returncode == 0, again.stderr[-3000:]
    assert (out / "submit.csv").read_text() == (tmp_path / "again" / "submit.csv").read_text()


def test_without_run_folds_an_ensemble_blends_on_its_own_folds(files, tmp_path):
    result = run_submit("--track", "ensemble", "--train", str(files / "train.pkl"),
                        "--test", str(files / "test.fasta"), "--out", str(tmp_path), "--folds", "0",
                        "--set", "member_settings=w2v.vector_size=20,lgbm.num_rounds=30",
                        "--set", "folds=2")
    assert result.returncode == 0, result.stderr[-3000:]
    record = json.loads((tmp_path / "config.json").read_text())
    assert record["threshold"] == 0.5 and record["threshold_source"] == "default"
    assert "--folds 0" in result.stderr and not (tmp_path / "oof").exists()


def test_with_a_style_the_blend_and_the_decision_learn_from_proteins_labelled_in_it(
        spy, train, shared_data, monkeypatch):
    from idr_kit.ensemble import blend
    from idr_kit.tracks import in_style
    pdb = [p for p in read_proteins(shared_data / "train_pdb_style.fasta") if not p.mask.all()][:30]
    mixed = [*train[:30], *pdb]
    assert in_style(mixed, "pdb") == list(range(30, 60))
    assert in_style(mixed, "nox") == list(range(30))
    assert in_style(mixed, "") == list(range(60))
    assert in_style(train[:5], "pdb") == list(range(5))  # none labelled so: all
    fitted_on = []
    real = blend.MeanBlender.fit

    def noting(self, parts, proteins):
        fitted_on.append({p.id for p in proteins})
        return real(self, parts, proteins)

    monkeypatch.setattr(blend.MeanBlender, "fit", noting)
    track = ensemble(members=("spy",), blender="mean", style="pdb", folds=2)
    folds = [i % 2 for i in range(len(mixed))]
    track.out_of_fold(mixed, folds)
    track.fit(mixed, folds)
    pdb_ids = {p.id for p in pdb}
    assert len(fitted_on) == 3 and all(ids and ids <= pdb_ids for ids in fitted_on)
    assert track.alike(mixed) == list(range(30, 60))
    assert ensemble(members=("spy",)).alike(mixed) == list(range(60))  # no style: all
