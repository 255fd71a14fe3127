"""Protein-level folds: deterministic, balanced, groups and repeats kept together, saved."""
import json
from collections import Counter
from pathlib import Path

import pytest

from idr_kit.data.competition import read_pickle
from idr_kit.data.errors import InputError
from idr_kit.data.splits import linked_components, make_folds, read_groups, save_folds

IDS = [f"P{i:03d}" for i in range(103)]


def fold_sizes(folds, k):
    counts = Counter(folds.values())
    return [counts[f] for f in range(k)]


def test_every_id_gets_a_fold_and_sizes_differ_by_at_most_one():
    folds = make_folds(IDS, k=5, seed=3)
    assert sorted(folds) == IDS and set(folds.values()) == set(range(5))
    assert sorted(fold_sizes(folds, 5)) == [20, 20, 21, 21, 21]


def test_deterministic_per_seed_and_different_across_seeds():
    assert make_folds(IDS, seed=7) == make_folds(IDS, seed=7)
    assert make_folds(IDS, seed=7) == make_folds(list(reversed(IDS)), seed=7)
    assert make_folds(IDS, seed=7) != make_folds(IDS, seed=8)


def test_groups_share_a_fold_and_stay_balanced():
    groups = [f"c{i // 4}" if i < 40 else f"s{i}" for i in range(len(IDS))]  # 10 clusters of 4
    folds = make_folds(IDS, k=4, seed=0, groups=groups)
    for cluster in set(groups):
        members = {folds[pid] for pid, g in zip(IDS, groups) if g == cluster}
        assert len(members) == 1
    sizes = fold_sizes(folds, 4)
    assert sum(sizes) == len(IDS) and max(sizes) - min(sizes) <= 4


def test_repeated_ids_land_together_and_link_their_groups():
    ids = ["A", "B", "C", "A", "D", "E", "F"]  # "A" comes from two training files
    groups = ["g1", "g1", "g3", "g4", "g4", "g5", "g6"]  # ... and sits in two clusters
    assert linked_components(ids, groups) == [["A", "B", "D"], ["C"], ["E"], ["F"]]
    for seed in range(5):
        folds = make_folds(ids, k=2, seed=seed, groups=groups)
        assert folds["A"] == folds["B"] == folds["D"]
    folds = make_folds(ids + ids[:3], k=3, seed=1)  # repeats without groups
    assert len(folds) == 6


@pytest.mark.parametrize("k, groups", [(1, None), (104, None), (3, ["g"] * 51 + ["h"] * 52)])
def test_impossible_k_is_refused(k, groups):
    with pytest.raises(ValueError, match="number of groups"):
        make_folds(IDS, k=k, groups=groups)


def test_group_count_must_match_ids():
    with pytest.raises(ValueError, match="2 groups for 103 ids"):
        make_folds(IDS, groups=["a", "b"])


def test_saved_folds_record_the_settings_that_made_them(tmp_path):
    folds = make_folds(IDS, k=5, seed=2)
    path = tmp_path / "run" / "folds.json"
    save_folds(path, folds, k=5, seed=2, source="train.pkl")
    record = json.loads(path.read_text())
    assert record["folds"] == folds
    assert (record["k"], record["seed"], record["source"]) == (5, 2, "train.pkl")
    assert record["sizes"] == fold_sizes(folds, 5)


def test_save_refuses_out_of_range_folds_and_keeps_the_old_file(tmp_path):
    path = tmp_path / "folds.json"
    path.write_text("old")
    with pytest.raises(InputError, match="protein P1: fold 5 is not in 0..4"):
        save_folds(path, {"P0": 0, "P1": 5}, k=5, seed=0)
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["folds.json"]


@pytest.mark.parametrize("name, text", [
    ("clusters.tsv", "id\tcluster\tsize\nP1\tc1\t2\nP2\tc1\t2\nP3\tc2\t1\n"),
    ("clusters.csv", "cluster,id\nc1,P1\nc1,P2\n\nc2,P3\n"),
    ("mmseqs_cluster.tsv", "P1\tP1\nP1\tP2\nP3\tP3\n"),  # representative, member
])
def test_read_groups_layouts(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    groups = read_groups(path)
    assert set(groups) == {"P1", "P2", "P3"}
    assert groups["P1"] == groups["P2"] != groups["P3"]


@pytest.mark.parametrize("text, expected", [
    ("P1\tP1\nP1\tP2\nP3\tP2\n", "protein P2: line 3: in two clusters"),
    ("a\tb\tc\n1\t2\t3\n", "not a cluster table"),
    ("id,cluster\nP1\n", "line 2: too few columns"),
    ("\n\n", "empty cluster table"),
])
def test_read_groups_errors(tmp_path, text, expected):
    path = tmp_path / "c.tsv"
    path.write_text(text)
    with pytest.raises(InputError, match=expected) as err:
        read_groups(path)
    assert str(path) in str(err.value)


def test_real_training_set_folds(shared_data):
    ids = [p.id for p in read_pickle(shared_data / "train.pkl")]
    folds = make_folds(ids, k=5, seed=0)
    assert sorted(fold_sizes(folds, 5)) == [384, 384, 385, 385, 385]


def test_the_shipped_cluster_table_covers_every_training_protein(shared_data):
    """bench/clusters/train_mmseqs.tsv: homology clusters for honest folds on ../shared/data."""
    from idr_kit.data.load import read_proteins
    table = Path(__file__).resolve().parents[1] / "bench" / "clusters" / "train_mmseqs.tsv"
    groups = read_groups(table)
    for name in ("train.pkl", "train_pdb_style.fasta"):
        assert {p.id for p in read_proteins(shared_data / name)} <= set(groups), name
