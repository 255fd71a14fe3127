"""Shard folders, as merge.py (idr-merge) reads them back, are untrusted input: every field of
their records checked and bounded, the decision the one their parts were predicted with, the
merged output never inside a shard, the test file unchanged until the output is committed."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import idr_kit
from idr_kit.api import SHIPPED

from runs import ROOT, one_line_error, run_tool

OUTPUTS = ("submit.csv", "probs.npz", "predictions.caid")


@pytest.fixture(scope="module")
def shards(shared_data, tmp_path_factory) -> tuple[Path, list[Path]]:
    """The shipped model's prediction of 40 valid proteins in 3 shards of 2,000-residue
    chunks, and the test file."""
    folder = tmp_path_factory.mktemp("shards")
    test = folder / "test.fasta"
    test.write_text("\n".join((shared_data / "valid.fasta").read_text().splitlines()[:120]) + "\n")
    for i in (1, 2, 3):
        idr_kit.predict_file(test, folder / f"s{i}", shard=f"{i}/3", chunk_residues=2000,
                             workers=1)
    return test, [folder / f"s{i}" for i in (1, 2, 3)]


@pytest.fixture
def copies(shards, tmp_path) -> tuple[Path, list[Path]]:
    test, folders = shards
    return test, [Path(shutil.copytree(f, tmp_path / f.name)) for f in folders]


def merge(folders, out, *more):
    return run_tool("commands/merge.py", *folders, "--out", out, *more)


def edit(path: Path, change) -> None:
    record = json.loads(path.read_text())
    change(record)
    path.write_text(json.dumps(record))


def test_the_shards_merge_into_what_one_run_writes(shards, tmp_path):
    test, folders = shards
    assert merge(folders, tmp_path / "m").returncode == 0
    idr_kit.predict_file(test, tmp_path / "one", chunk_residues=2000, workers=1)
    for name in OUTPUTS:
        assert (tmp_path / "m" / name).read_bytes() == (tmp_path / "one" / name).read_bytes()


def test_an_edited_decision_in_a_shard_record_is_refused(copies, tmp_path):
    _, folders = copies
    for folder in folders:  # all alike: the parts' plan still says otherwise
        edit(folder / "config.json", lambda r: r.update(threshold=0.01) or r["decision"].update(
            threshold=0.01))
    one_line_error(merge(folders, tmp_path / "m"), "config.json", "decision")
    assert not (tmp_path / "m").exists()


def test_a_shard_count_of_millions_is_refused_without_the_memory(copies, tmp_path):
    _, folders = copies
    for folder in folders:
        edit(folder / "config.json", lambda r: r["shard"].update(of=50_000_000))

    def limit():
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
    done = subprocess.run([sys.executable, str(ROOT / "commands" / "merge.py"), *map(str, folders), "--out",
                           str(tmp_path / "m")], capture_output=True, text=True, timeout=120,
                          preexec_fn=limit)
    one_line_error(done, "config.json")


@pytest.mark.parametrize("where", ["inside", "the shard"])
def test_a_merge_never_writes_into_a_shard(copies, tmp_path, where):
    _, folders = copies
    before = {p: p.read_bytes() for p in folders[0].rglob("*") if p.is_file()}
    out = folders[0] / "merged" if where == "inside" else folders[0]
    one_line_error(merge(folders, out), str(folders[0]))
    assert {p: p.read_bytes() for p in folders[0].rglob("*") if p.is_file()} == before


@pytest.mark.parametrize("name", ["parts/plan.json", "config.json"])
def test_a_deeply_nested_record_is_one_line(copies, tmp_path, name):
    _, folders = copies
    (folders[1] / name).write_text("[" * 200_000 + "]" * 200_000)
    one_line_error(merge(folders, tmp_path / "m"), name)


def test_a_deeply_nested_run_claim_is_one_line(copies, tmp_path):
    test, folders = copies
    (folders[0] / ".idr-run.json").write_text("{\"a\":" * 200_000 + "1" + "}" * 200_000)
    done = run_tool("submit.py", "--model", SHIPPED, "--test", test, "--out", folders[0],
                    "--shard", "1/3", "--chunk-residues", "2000", "--workers", "1")
    assert "Traceback" not in done.stderr and done.returncode in (0, 2), done.stderr[-2000:]


def test_a_test_file_changed_during_a_merge_commits_nothing(copies, tmp_path, monkeypatch):
    from idr_kit.run import stream
    from idr_kit.run.shards import merge_shards
    test, folders = copies
    moved = tmp_path / "moved.fasta"
    shutil.copy(test, moved)
    load = stream.Parts.load

    def load_then_swap(self, k, *args):
        if k == 1:
            moved.write_text(moved.read_text().replace("\nM", "\nA", 1))
        return load(self, k, *args)
    monkeypatch.setattr(stream.Parts, "load", load_then_swap)
    with pytest.raises(Exception, match="changed while it was being predicted"):
        merge_shards(folders, tmp_path / "m", test=moved)
    assert not any((tmp_path / "m" / name).exists() for name in OUTPUTS)
