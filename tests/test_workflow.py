"""The Snakemake workflow (workflow/Snakefile): a file split into shards, each predicted as a
job, merged into the bytes one ``submit.py --model`` run writes; run again it does nothing, and
a run stopped halfway resumes, its shards from the chunks they kept."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from runs import HANG, ROOT

SNAKEFILE = ROOT / "workflow" / "Snakefile"
OUTPUTS = ("submit.csv", "probs.npz", "predictions.caid")  # what the merge makes byte for byte
CONFIG = ("fasta=p.fasta", "out=runs/p", "shards=3", "model=fast", "chunk_residues=2000",
          "threads=1")


def snakemake(folder: Path, *config: str, ok: bool = True) -> subprocess.CompletedProcess:
    pytest.importorskip("snakemake", reason="the workflow needs Snakemake: pip install -e "
                        "'.[workflow]'")
    # Snakemake keeps a source cache under the user's home: here, the test's folder instead
    env = {**os.environ, "HOME": str(folder), "XDG_CACHE_HOME": str(folder / ".cache")}
    result = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(SNAKEFILE), "--cores",
                             "2", *(("--config", *config) if config else ())], cwd=folder,
                            env=env, capture_output=True, text=True, timeout=HANG)
    assert (result.returncode == 0) == ok, result.stdout[-3000:] + result.stderr[-3000:]
    return result


@pytest.fixture(scope="module")
def ran(tmp_path_factory, shared_data) -> Path:
    """20 proteins of valid.fasta (plain FASTA, 6 chunks) through the workflow: 3 shards."""
    folder = tmp_path_factory.mktemp("workflow")
    lines = (shared_data / "valid.fasta").read_text().splitlines()[:60]
    records = [f"{lines[i]}\n{lines[i + 1]}\n" for i in range(0, 60, 3)]  # no label lines
    (folder / "p.fasta").write_text("".join(records))
    snakemake(folder, *CONFIG)
    from idr_kit import submit
    assert submit.main(["--model", "fast", "--test", str(folder / "p.fasta"), "--out",
                        str(folder / "one"), "--chunk-residues", "2000"]) in (0, None)
    return folder


def test_the_merged_shards_are_one_runs_bytes(ran):
    for shard in (1, 2, 3):
        assert (ran / "runs" / "p.shards" / str(shard) / "config.json").is_file()
    for name in OUTPUTS:
        assert (ran / "runs" / "p" / name).read_bytes() == (ran / "one" / name).read_bytes(), name
    assert not (ran / "runs" / "p" / "parts").exists()


def test_a_rerun_does_nothing(ran):
    stamps = {name: (ran / "runs" / "p" / name).stat().st_mtime_ns for name in OUTPUTS}
    result = snakemake(ran, *CONFIG)
    assert "Nothing to be done" in result.stdout + result.stderr
    assert stamps == {name: (ran / "runs" / "p" / name).stat().st_mtime_ns for name in OUTPUTS}


def test_a_stopped_run_resumes_its_shards_and_merges_the_same_bytes(ran):
    # What a run stopped inside shard 2 leaves: no merged set, shard 2 unfinished with one
    # of its two chunks kept, the other shards done.
    for name in (*OUTPUTS, "config.json"):
        (ran / "runs" / "p" / name).unlink()
    shard = ran / "runs" / "p.shards" / "2"
    (shard / "config.json").unlink()
    parts = sorted((shard / "parts").glob("0*.npz"))
    assert len(parts) == 2
    parts[0].unlink()
    result = snakemake(ran, *CONFIG)
    said = result.stdout + result.stderr
    assert said.count("localrule shard:") == 1 and "localrule merge:" in said
    assert "1 of 2 chunks already predicted" in (ran / "runs" / "p.shards" / "2.log").read_text()
    for name in OUTPUTS:
        assert (ran / "runs" / "p" / name).read_bytes() == (ran / "one" / name).read_bytes(), name


def test_a_run_with_no_proteins_or_no_shards_says_so(tmp_path):
    said = snakemake(tmp_path, ok=False)
    assert "no proteins given: --config fasta=" in said.stdout + said.stderr
    said = snakemake(tmp_path, "fasta=p.fasta", "shards=0", ok=False)
    assert "shards must be 1 to 1,000,000, got 0" in said.stdout + said.stderr


def test_the_docs_workflow_commands_name_its_settings_and_profiles():
    import re
    import shlex
    settings = set(re.findall(r"^(\w+):", (ROOT / "workflow" / "config.yaml").read_text(), re.M))
    lines = [line for line in (ROOT / "docs" / "scale.md").read_text().splitlines()
             if line.startswith("snakemake ")]
    assert len(lines) == 3
    for line in lines:
        args = shlex.split(line.replace('"$(idr-predict --workflow)"', str(SNAKEFILE)))
        assert (ROOT / args[args.index("-s") + 1]).is_file()
        if "--workflow-profile" in args:
            assert (ROOT / args[args.index("--workflow-profile") + 1] / "config.yaml").is_file()
        given = {a.split("=")[0] for a in args[args.index("--config") + 1:]}
        assert given and given <= settings, given - settings


def test_idr_predict_says_where_the_workflow_is(capsys):
    from idr_kit.commands import predict
    assert predict.main(["--workflow"]) in (0, None)
    assert Path(capsys.readouterr().out.strip()) == SNAKEFILE
