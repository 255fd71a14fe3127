"""The registry, settings and recipes, saving and loading, out-of-fold predictions."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from idr_kit.model import crossval
from idr_kit.data.errors import FileRefused, SettingError
from idr_kit.data.fields import defaults_of, parse_pairs
from idr_kit.data.records import make_protein
from idr_kit.model.decision import Decision, tune_threshold
from idr_kit.model.saved import load_model, read_model_meta, save_model
from idr_kit.run.settings import parse_settings, read_recipe, split_settings, typed_recipe
from idr_kit.tracks import TRACKS, config_class, make_track, track_class


@dataclasses.dataclass(frozen=True)
class Example:
    size: int = 100
    rate: float = 0.1
    flag: bool = True
    widths: tuple = (5, 11)
    name: str = "x"


def test_overrides_are_typed_by_the_defaults():
    got = parse_pairs(["size=3", "rate=0.5", "flag=false", "widths=3,7,9", "name=abc"],
                      defaults_of(Example()))
    assert got == {"size": 3, "rate": 0.5, "flag": False, "widths": (3, 7, 9), "name": "abc"}


@pytest.mark.parametrize("pair, words", [("nope=1", "nope"), ("size", "KEY=VALUE"),
                                         ("size=big", "size"), ("flag=maybe", "flag")])
def test_bad_overrides_name_the_problem(pair, words):
    with pytest.raises(ValueError, match=words):
        parse_pairs([pair], defaults_of(Example()))


def test_unknown_track_lists_the_known_ones():
    with pytest.raises(SettingError, match="w2v"):
        track_class("nonexistent")


def test_settings_go_to_the_config_the_decision_or_the_runtime():
    values = parse_settings("lgbm", ["num_leaves=63", "smoothing=true", "threads=1"])
    assert split_settings("lgbm", values) == {"config": {"num_leaves": 63},
                                              "decision": {"smoothing": True},
                                              "runtime": {"threads": 1}}


@pytest.mark.parametrize("name", sorted(TRACKS))
def test_config_decision_and_runtime_keys_never_clash(name):
    from idr_kit.model.decision import DecisionSettings
    from idr_kit.model.runtime import Runtime
    keys = [{f.name for f in dataclasses.fields(cls)}
            for cls in (config_class(name), DecisionSettings, Runtime)]
    assert not (keys[0] & keys[1] or keys[0] & keys[2] or keys[1] & keys[2])


@pytest.fixture(scope="module")
def small_train(shared_data):
    from idr_kit.data.competition import read_pickle
    return read_pickle(shared_data / "train.pkl")[:60]


def test_saved_model_records_name_config_decision_and_version(small_train, tmp_path):
    track = make_track("w2v", seed=3).fit(small_train)
    save_model(track, tmp_path, Decision(threshold=0.42, source="test"))
    meta = read_model_meta(tmp_path)
    assert meta["track"] == "w2v" and meta["config"]["seed"] == 3
    assert meta["decision"]["threshold"] == 0.42 and meta["code_version"]
    again = load_model(tmp_path)
    assert again.decision.threshold == 0.42
    for a, b in zip(track.predict_proba(small_train[:5]),
                    again.track.predict_proba(small_train[:5])):
        np.testing.assert_array_equal(a, b)


def test_loading_a_folder_without_a_model_says_what_to_pass(tmp_path):
    with pytest.raises(FileRefused, match="model/"):
        load_model(tmp_path)


def test_a_saved_config_with_an_unknown_setting_is_refused(small_train, tmp_path):
    save_model(make_track("w2v").fit(small_train), tmp_path)
    meta = json.loads((tmp_path / "track.json").read_text())
    meta["config"]["cache_dir"] = "/elsewhere"
    (tmp_path / "track.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="unknown setting.*cache_dir"):
        load_model(tmp_path)


def test_threshold_is_the_f1_max_of_pooled_assessed_residues():
    # Pooled assessed residues: scores .9 .8 .3 .2 with truth 1 1 0 1; the '-' (score .95) is out.
    # t=.9: P=1 R=1/3 F1=.5; t=.8: P=1 R=2/3 F1=.8; t=.3: P=2/3 R=2/3 F1=.667;
    # t=.2: P=.75 R=1 F1=.857 -> best is 0.2.
    a = make_protein("a", "MKV", "1-1")
    b = make_protein("b", "MK", "01")
    probs = [np.array([0.9, 0.95, 0.8], np.float32), np.array([0.3, 0.2], np.float32)]
    assert tune_threshold([a, b], probs) == pytest.approx(0.2)


def test_one_class_training_labels_cannot_tune_a_threshold():
    a = make_protein("a", "MKV", "000")
    with pytest.raises(ValueError, match="one class"):
        tune_threshold([a], [np.zeros(3, np.float32)])


def test_out_of_fold_never_predicts_a_protein_with_a_model_that_saw_it(small_train, tmp_path):
    folds = [i % 3 for i in range(len(small_train))]
    seen = []

    def make():
        track = make_track("w2v", seed=0)
        fit = track.fit
        track.fit = lambda proteins: (seen.append({p.id for p in proteins}), fit(proteins))[1]
        return track

    oof = crossval.out_of_fold(make, small_train, folds, checkpoint_dir=tmp_path)
    assert len(seen) == 3 and len(oof) == len(small_train)
    for k, trained_on in enumerate(seen):
        held = {p.id for p, f in zip(small_train, folds) if f == k}
        assert not held & trained_on
    assert all(len(s) == len(p) for s, p in zip(oof, small_train))
    # A rerun resumes: every fold comes from its checkpoint, no training at all.
    seen.clear()
    again = crossval.out_of_fold(make, small_train, folds, checkpoint_dir=tmp_path)
    assert seen == []
    for x, y in zip(oof, again):
        np.testing.assert_array_equal(x, y)


def test_a_changed_config_does_not_reuse_checkpoints(small_train, tmp_path):
    folds = [i % 2 for i in range(len(small_train))]
    calls = []

    def make():
        calls.append(1)
        return make_track("w2v", seed=0)

    crossval.out_of_fold(make, small_train, folds, checkpoint_dir=tmp_path, config={"seed": 0})
    crossval.out_of_fold(make, small_train, folds, checkpoint_dir=tmp_path, config={"seed": 1})
    assert len(calls) == 4


def test_changed_training_labels_do_not_reuse_checkpoints(small_train, tmp_path):
    from idr_kit.data.records import Protein
    folds = [i % 2 for i in range(len(small_train))]
    calls = []

    def make():
        calls.append(1)
        return make_track("w2v", seed=0)

    crossval.out_of_fold(make, small_train, folds, checkpoint_dir=tmp_path)
    first = small_train[0]
    flipped = Protein(first.id, first.seq, 1 - first.labels, first.mask)
    crossval.out_of_fold(make, [flipped, *small_train[1:]], folds, checkpoint_dir=tmp_path)
    assert len(calls) == 4


def test_recipes_in_the_repository_name_only_real_settings():
    from idr_kit.model.decision import DecisionSettings
    from idr_kit.model.runtime import Runtime
    recipes = sorted((Path(__file__).resolve().parents[1] / "recipes").glob("*.json"))
    assert recipes
    for recipe in recipes:
        track, settings = read_recipe(recipe)
        assert track in TRACKS, recipe  # every recipe names its track
        kinds = split_settings(track, typed_recipe(track, settings, recipe))
        config_class(track)(**kinds["config"])  # builds: every value has a usable type
        DecisionSettings(**kinds["decision"])
        Runtime(**kinds["runtime"])


def test_a_recipe_with_an_unknown_setting_is_refused(tmp_path):
    (tmp_path / "r.json").write_text('{"_track": "esm", "mode": "lora", "learning_rate": 0.1}')
    track, settings = read_recipe(tmp_path / "r.json")
    with pytest.raises(SettingError, match="learning_rate"):
        typed_recipe(track, settings, tmp_path / "r.json")


def test_each_fold_model_is_let_go_before_the_next_is_made(small_train):
    """Two models never sit in memory together (a 7B model would need twice the GPU)."""
    import weakref
    folds = [i % 3 for i in range(len(small_train))]
    made: list[weakref.ref] = []

    def make():
        assert all(ref() is None for ref in made), "the previous fold's model is still alive"
        track = make_track("w2v", seed=0)
        made.append(weakref.ref(track))
        return track

    crossval.out_of_fold(make, small_train, folds)
    assert len(made) == 3
