"""The ensemble track: the out-of-fold protocol, its leak-freedom and reuse, and submit.py end to end."""
from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest

from idr_kit.baselines.w2v import W2VTrack
from idr_kit.data.errors import SettingError
from idr_kit.data.load import read_proteins
from idr_kit.data.probs import read_npz
from idr_kit.data.records import make_protein
from idr_kit.ensemble.blend import make_blender
from idr_kit.ensemble.track import EnsembleTrack, blend_out_of_fold, stacked
from idr_kit.model.decision import DecisionSettings, fit_decision
from idr_kit.model.runtime import Runtime
from idr_kit.model.saved import load_model, save_model
from idr_kit.tracks import TRACKS, Entry, make_track

from runs import run_submit

ROOT = Path(__file__).resolve().parents[1]
QUICK = ("w2v.vector_size=20",)  # quicker than the baseline's 100, and it still learns


class SpyTrack(W2VTrack):
    """The real w2v track, noting which proteins each instance trains on and predicts."""
    name = "spy"
    calls: list = []

    def fit(self, proteins, oof=None):
        SpyTrack.calls.append(("fit", [p.id for p in proteins]))
        return super().fit(proteins, oof)

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
    stack = [rng.random((len(p), 2)).astype(np.float32) for p in train]
    folds = [i % 3 for i in range(len(train))]
    flipped = [type(p)(p.id, p.seq, np.where(f == 0, 1 - p.labels, p.labels).astype(np.uint8), p.mask)
               for p, f in zip(train, folds)]
    make = lambda: make_blender("stack", seed=0)  # noqa: E731
    a = blend_out_of_fold(stack, train, folds, make)
    b = blend_out_of_fold(stack, flipped, folds, make)
    for x, y, f in zip(a, b, folds):
        if f == 0:
            np.testing.assert_array_equal(x, y)  # fold 0's blend came from folds 1 and 2 only
    assert any(not np.array_equal(x, y) for x, y, f in zip(a, b, folds) if f != 0)


def test_the_out_of_fold_value_is_handed_to_fit_and_each_fold_trains_once(spy, train):
    track = ensemble(members=("spy", "w2v"))
    folds = [i % 3 for i in range(len(train))]
    oof = track.out_of_fold(train, folds)
    assert sorted(oof.members) == ["spy", "w2v"]
    assert all(len(v.probs) == len(train) and v.seconds >= 0 for v in oof.members.values())
    assert track.fit(train, oof) is track  # the members' out-of-fold arrays come from the value
    assert [kind for kind, _ in spy.calls] == ["fit", "predict"] * 3 + ["fit"]
    report = track.report()["member_seconds"]
    assert report["spy"]["out_of_fold"] == oof.members["spy"].seconds and report["spy"]["fit"] > 0


def test_fit_refuses_an_out_of_fold_value_of_other_proteins_or_settings(spy, train):
    folds = [i % 3 for i in range(60)]
    oof = ensemble(members=("spy",)).out_of_fold(train[:60], folds)
    with pytest.raises(ValueError, match="belongs to other proteins or another config"):
        ensemble(members=("spy",)).fit(train[:59] + [train[60]], oof)
    with pytest.raises(ValueError, match="belongs to other proteins or another config"):
        ensemble(members=("spy",), blender="mean").fit(train[:60], oof)


def test_members_folds_and_models_are_reused_from_the_checkpoints(spy, train, tmp_path):
    runtime = Runtime(checkpoint_dir=str(tmp_path))
    folds = [i % 3 for i in range(len(train))]
    first = ensemble(runtime, members=("spy",))
    first_oof = first.out_of_fold(train, folds)
    first.fit(train, first_oof)
    assert len(spy.calls) == 7
    assert len(list((tmp_path / "members" / "spy" / "folds").glob("fold*.npz"))) == 3
    spy.calls = []
    again = ensemble(runtime, members=("spy",))
    again_oof = again.out_of_fold(train, folds)
    again.fit(train, again_oof)
    assert spy.calls == []  # every fold and the final model came from the checkpoints
    for x, y in zip(first_oof.probs, again_oof.probs):
        np.testing.assert_array_equal(x, y)
    other = ensemble(runtime, members=("spy",), member_settings=("spy.vector_size=16",))
    other.fit(train, other.out_of_fold(train, folds))
    assert len(spy.calls) == 7  # other settings: computed afresh


def test_predicting_writes_nothing(spy, train, tmp_path):
    track = ensemble(Runtime(checkpoint_dir=str(tmp_path)), members=("spy",)).fit(train)
    before = sorted(str(p) for p in tmp_path.rglob("*"))
    unlabelled = [make_protein(f"u{i}", p.seq) for i, p in enumerate(train[:4])]
    spy.calls = []
    first = track.predict_proba(unlabelled)
    again = track.predict_proba(unlabelled)
    assert [kind for kind, _ in spy.calls] == ["predict", "predict"]
    assert sorted(str(p) for p in tmp_path.rglob("*")) == before
    for x, y in zip(first, again):
        np.testing.assert_array_equal(x, y)


def test_the_ensemble_predicts_saves_and_reloads(train, test, tmp_path):
    track = ensemble(members=("w2v", "lgbm"), member_settings=QUICK + ("lgbm.num_rounds=60",)).fit(train)
    blend, member_probs = track.predict_with_members(test)
    assert set(member_probs) == {"w2v", "lgbm"}
    for name, probs in {"ensemble": blend, **member_probs}.items():
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
    with pytest.raises(SettingError, match=message):
        ensemble(**{"members": ("spy",), **settings}).fit(train)
    assert spy.calls == []


def test_metapredict_is_a_track_that_reads_any_residue():
    pytest.importorskip("metapredict")
    proteins = [make_protein("odd", "MKVLXUBZOEE", "00011111100"), make_protein("one", "M", "1")]
    probs = make_track("metapredict").fit(proteins).predict_proba(proteins)
    assert [len(p) for p in probs] == [11, 1] and all(p.dtype == np.float32 for p in probs)


def test_stacked_shapes():
    a = [np.zeros(3, np.float32), np.ones(2, np.float32)]
    b = [np.full(3, 0.5, np.float32), np.full(2, 0.25, np.float32)]
    stack = stacked([a, b])
    assert [rows.shape for rows in stack] == [(3, 2), (2, 2)]
    np.testing.assert_array_equal(stack[1], [[1, 0.25], [1, 0.25]])


# -- submit.py --------------------------------------------------------------------------------
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
                 "oof/w2v-train.npz", "oof/lgbm-train.npz", "members/w2v.npz",
                 "members/lgbm.npz", "plots/summary.png"):
        assert (out / name).is_file(), name
    assert len(list((out / "plots" / "proteins").glob("*.png"))) == 3
    probs, member = np.load(out / "probs.npz"), np.load(out / "members" / "lgbm.npz")
    assert sorted(member.files) == sorted(probs.files)
    assert all(member[k].shape == probs[k].shape for k in probs.files)
    record = json.loads((out / "config.json").read_text())
    for name in ("w2v", "lgbm"):  # each member's seconds, as this run spent them
        seconds = record["track_report"]["member_seconds"][name]
        assert seconds["out_of_fold"] > 0 and seconds["fit"] > 0
        assert record["members"][name]["seconds"] == seconds
        # and its decision, as a run of it alone fits it on its out-of-fold arrays
        member_oof = read_npz(out / "oof" / f"{name}-train.npz")
        alone = fit_decision([member_oof[p.id] for p in read_proteins(files / "train.pkl")],
                             read_proteins(files / "train.pkl"), DecisionSettings())
        assert record["members"][name]["decision"] == alone.to_dict()
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
    from idr_kit.data.styles import in_style
    from idr_kit.ensemble import blend
    pdb = [p for p in read_proteins(shared_data / "train_pdb_style.fasta") if not p.mask.all()][:30]
    mixed = [*train[:30], *pdb]
    assert in_style(mixed, "pdb") == list(range(30, 60))
    assert in_style(mixed, "nox") == list(range(30))
    assert in_style(mixed, "") == list(range(60))
    assert in_style(train[:5], "pdb") == list(range(5))  # none labelled so: all
    fitted_on = []
    real = blend.MeanBlender.fit

    def noting(self, stack, proteins):
        fitted_on.append({p.id for p in proteins})
        return real(self, stack, proteins)

    monkeypatch.setattr(blend.MeanBlender, "fit", noting)
    track = ensemble(members=("spy",), blender="mean", style="pdb", folds=2)
    folds = [i % 2 for i in range(len(mixed))]
    oof = track.out_of_fold(mixed, folds)
    track.fit(mixed, oof)
    pdb_ids = {p.id for p in pdb}
    assert len(fitted_on) == 3 and all(ids and ids <= pdb_ids for ids in fitted_on)
    assert oof.decision_indices == tuple(range(30, 60))
    assert track.decision_indices(mixed) == list(range(30, 60))
    assert ensemble(members=("spy",)).decision_indices(mixed) == list(range(60))  # no style
