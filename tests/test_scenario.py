"""The competition's own scenario, for every registered track, run as a user runs it.

A training pickle in the competition's layout and an unlabelled test pickle in
``WSAA_data_test.pkl``'s layout go into ``submit.py``; ``submit.csv`` must follow the
competition's format, and ``submit.py --model`` on the same test must rewrite it byte for byte.
The ensemble runs with w2v, lgbm and a torch track on a tiny model.
"""
from __future__ import annotations

import csv
import json
import pickle
from pathlib import Path

import numpy as np
import pytest

from runs import run_submit
from tiny import CASES, TINY, as_set_pairs, case_settings, member_settings, track_of

ROOT = Path(__file__).resolve().parents[1]
RUNTIME_ARGS = ["--set", "device=cpu", "--set", "threads=1"]


@pytest.fixture(scope="module")
def competition(tmp_path_factory, shared_data) -> Path:
    """WSAA_data_public.pkl: 40 proteins cut to 150 residues, labels as int64 arrays;
    WSAA_data_test.pkl: 6 proteins without a 'label' key, one longer than any tiny window."""
    folder = tmp_path_factory.mktemp("competition")
    with open(shared_data / "train.pkl", "rb") as handle:
        public = [{"id": d["id"], "sequence": d["sequence"][:150],
                   "label": np.asarray(d["label"][:150], dtype=np.int64)}
                  for d in pickle.load(handle)[60:100]]
    rng = np.random.default_rng(1)
    test = [{"id": f"T{i}", "sequence": "".join(rng.choice(list("ACDEFGHIKLMNPQRSTVWYX"), n))}
            for i, n in enumerate((1, 30, 75, 140, 400, 33))]
    for name, items in (("WSAA_data_public.pkl", public), ("WSAA_data_test.pkl", test)):
        with open(folder / name, "wb") as handle:
            pickle.dump(items, handle)
    return folder


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("models")


def settings(name: str, models: Path) -> list[str]:
    if name == "ensemble":  # w2v, lgbm and a torch track: the mix a competitor would blend
        tiny = TINY["ensemble"](models)
        return as_set_pairs({**tiny, "members": ("w2v", "lgbm", "esm"),
                             "member_settings": tiny["member_settings"]
                             + member_settings("esm", models)})
    return as_set_pairs(case_settings(name, models))


def read_submission(path: Path) -> tuple[list[str], list[dict]]:
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames), list(reader)


@pytest.mark.parametrize("name", CASES)
def test_unlabelled_test_pickle_in_a_valid_submission_out(name, competition, models, tmp_path):
    data = [str(competition / "WSAA_data_public.pkl"), "--test",
            str(competition / "WSAA_data_test.pkl")]
    result = run_submit("--track", track_of(name), "--train", *data, "--out", str(tmp_path / "run"),
                        "--folds", "2", *settings(name, models), *RUNTIME_ARGS)
    assert result.returncode == 0, result.stderr[-3000:]
    header, rows = read_submission(tmp_path / "run" / "submit.csv")
    with open(competition / "WSAA_data_test.pkl", "rb") as handle:
        test = pickle.load(handle)
    assert header == ["proteinID", "sequence", "IDRs"]
    assert [r["proteinID"] for r in rows] == [d["id"] for d in test]
    for row, item in zip(rows, test):
        assert row["sequence"] == item["sequence"]
        assert len(row["IDRs"]) == len(item["sequence"]) and set(row["IDRs"]) <= {"0", "1"}
    assert not (tmp_path / "run" / "scores.json").exists()  # nothing to score against

    again = run_submit("--model", str(tmp_path / "run" / "model"), "--test",
                       str(competition / "WSAA_data_test.pkl"), "--out", str(tmp_path / "again"),
                       *RUNTIME_ARGS)
    assert again.returncode == 0, again.stderr[-3000:]
    assert ((tmp_path / "again" / "submit.csv").read_bytes()
            == (tmp_path / "run" / "submit.csv").read_bytes())


@pytest.mark.parametrize("recipe", ["cpu_own", "cpu_blend"])
def test_the_cpu_recipes_run_as_written(recipe, competition, models, tmp_path):
    """As the README gives them (by name, no --track), with tiny members and two folds."""
    small = member_settings("lgbm", models) + member_settings("bilstm", models)
    result = run_submit("--recipe", recipe, "--train", str(competition / "WSAA_data_public.pkl"),
                        "--test", str(competition / "WSAA_data_test.pkl"),
                        "--out", str(tmp_path / "run"), "--folds", "2",
                        *as_set_pairs({"member_settings": small}), *RUNTIME_ARGS)
    assert result.returncode == 0, result.stderr[-3000:]
    _, rows = read_submission(tmp_path / "run" / "submit.csv")
    assert len(rows) == 6 and all(set(r["IDRs"]) <= {"0", "1"} for r in rows)
    record = json.loads((tmp_path / "run" / "config.json").read_text())
    members = {"cpu_own": ["lgbm", "bilstm"], "cpu_blend": ["lgbm", "bilstm", "metapredict"]}
    assert record["track"] == "ensemble"
    assert list(record["track_config"]["members"]) == members[recipe]
    assert record["decision_fitted_on"] == 40  # every training protein: all NOX style
