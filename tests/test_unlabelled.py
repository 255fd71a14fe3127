"""bench/unlabelled.py: issue 31's unlabelled set from BLAST databases laid out as Debian's
metastudent-data package lays them out, written here (tests/blastdb_writer.py)."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from blastdb_writer import write_blastdb

ROOT = Path(__file__).resolve().parents[1]
LETTERS = np.array(list("ACDEFGHIKLMNPQRSTVWY"))


@pytest.fixture
def unlabelled(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    import unlabelled
    return unlabelled


def random_seq(rng, n: int) -> str:
    return "".join(rng.choice(LETTERS, n))


def mutated(rng, seq: str, share: float) -> str:
    chars = np.array(list(seq))
    at = rng.choice(len(chars), int(share * len(chars)), replace=False)
    chars[at] = [LETTERS[(list(LETTERS).index(c) + 7) % 20] for c in chars[at]]
    return "".join(chars)


def dataset(folder: Path, contents: dict) -> Path:
    for name, records in contents.items():
        (folder / name).mkdir(parents=True)
        write_blastdb(folder / name / "goasp.fasta", records)
    return folder


def test_a_missing_package_says_how_to_install_it(unlabelled, tmp_path, capsys):
    assert unlabelled.main(["--work", str(tmp_path / "w"), "--dataset",
                            str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "apt-get install metastudent-data" in err
    assert not (tmp_path / "w").exists()


def test_unique_keeps_each_sequence_once_across_databases(unlabelled, tmp_path):
    data = dataset(tmp_path / "d", {"BPO": [("A1|GO:1", "MKVL"), ("A2|GO:1", "MKVLA")],
                                    "CCO": [("A1|GO:2", "MKVL"), ("A3|GO:2", "MKVLAA")],
                                    "MFO": [("A3|GO:3", "MKVLAAW"), ("A2|GO:3", "MKVLA")]})
    facts = unlabelled.unique(data, tmp_path / "unique.fasta")
    assert (tmp_path / "unique.fasta").read_text().split() == [
        ">A1", "MKVL", ">A2", "MKVLA", ">A3", "MKVLAA", ">A3_0", "MKVLAAW"]
    assert [s["new_sequences"] for s in facts["sources"]] == [2, 1, 1]
    assert facts["repeated_accessions"] == 1


def test_every_significant_homolog_is_removed_the_readmes_rule_counted(unlabelled, tmp_path):
    hits = tmp_path / "hits.tsv"
    hits.write_text("DP1\tin\t0.300\t30\t1.000E-03\n"      # on every bound: inside
                    "DP1\tshort\t0.900\t29\t1.0E-10\n"     # alignment under 30 residues
                    "DP2\tfar\t0.299\t100\t1.0E-10\n"      # under 30 %: removed all the same
                    "DP2\tweak\t0.500\t100\t1.1E-03\n")    # e-value over 1e-3
    assert unlabelled.within_rule(hits) == {"all": {"in", "far"}, "inside": {"in"}}


@pytest.mark.skipif(shutil.which("mmseqs") is None, reason="MMseqs2 is not installed")
def test_clusters_and_valid_homologs_are_removed_and_a_rerun_resumes(unlabelled, tmp_path,
                                                                      capsys):
    """The real MMseqs2 (about 12 s here, most of it its search's fixed start)."""
    rng = np.random.default_rng(0)
    family, kin, other = (random_seq(rng, 200) for _ in range(3))
    data = dataset(tmp_path / "d", {
        "BPO": [("F1|GO:1", family), ("F2|GO:1", mutated(rng, family, 0.1))],
        "CCO": [("K1|GO:2", mutated(rng, kin, 0.35)), ("O1|GO:2", other)],
        "MFO": [("F1|GO:3", family)]})
    valid = tmp_path / "valid.fasta"
    valid.write_text(f">DP1\n{kin}\n{'0' * len(kin)}\n")
    work = tmp_path / "w"
    out = unlabelled.build_unlabelled(work, dataset=data, valid=valid)
    kept = [line[1:] for line in out.read_text().split() if line.startswith(">")]
    assert sorted(kept) in (["F1", "O1"], ["F2", "O1"])  # one of the family; kin is valid's
    record = (work / "unlabelled.json").read_text()
    assert '"homologs_removed": 1' in record and '"inside_the_readme_rule": 1' in record
    assert '"package": "metastudent-data"' in record
    stamp = out.stat().st_mtime_ns
    capsys.readouterr()
    unlabelled.build_unlabelled(work, dataset=data, valid=valid)
    assert capsys.readouterr().err.count("done before") == 3 and out.stat().st_mtime_ns == stamp


def test_the_build_command_runs_the_step_only_when_asked(monkeypatch, capsys):
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    import build_predictor
    assert build_predictor.steps_of("unlabelled, models") == ("unlabelled", "models")
    with pytest.raises(SystemExit):
        build_predictor.main(["--steps", "unlabeled"])
    assert "expected some of unlabelled, models" in capsys.readouterr().err
