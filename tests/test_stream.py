"""Prediction a chunk at a time (stream.py): the same bytes whatever the chunks, the workers,
the shards or the Dask cluster; a killed prediction resumes where it stopped."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from idr_kit.data.competition import read_pickle, write_submission
from idr_kit.data.errors import InputError
from idr_kit.data.fasta import iter_fasta, read_fasta, write_caid
from idr_kit.data.outset import OutputSet
from idr_kit.data.probs import write_npz
from idr_kit.data.records import make_protein
from idr_kit.model.runtime import Runtime
from idr_kit.model.saved import save_model
from idr_kit.tracks import make_track

from runs import HANG, ROOT, run_submit, run_tool

OUTPUTS = ("submit.csv", "probs.npz", "predictions.caid", "scores.json")
CHUNK = "3000"  # residues: the test file below is about 25 chunks


@pytest.fixture(scope="module")
def files(shared_data, tmp_path_factory):
    """A saved lgbm and a saved distilled model, and 80 labelled valid proteins (CAID FASTA)."""
    folder = tmp_path_factory.mktemp("stream")
    train = read_pickle(shared_data / "train.pkl")[:60]
    runtime = Runtime(device="cpu", threads=1)
    save_model(make_track("lgbm", runtime=runtime, num_rounds=30).fit(train), folder / "lgbm")
    save_model(make_track("distilled", runtime=runtime, embed=8, conv_channels=8, conv_kernel=5,
                          hidden=8, epochs=1).fit(train), folder / "distilled")
    lines = (shared_data / "valid.fasta").read_text().splitlines()[: 3 * 80]
    (folder / "test.fasta").write_text("\n".join(lines) + "\n")
    return folder


def predict(files, out, *args, model="lgbm"):
    result = run_submit("--model", files / model, "--test", files / "test.fasta", "--out", out,
                        "--chunk-residues", CHUNK, *args, env_extra={"IDR_PROGRESS": "lines"})
    assert result.returncode == 0, result.stderr
    return result


def same_outputs(a: Path, b: Path, names=OUTPUTS) -> None:
    for name in names:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


@pytest.fixture(scope="module")
def single(files, tmp_path_factory):
    """One process, one worker: the reference every other way must equal."""
    out = tmp_path_factory.mktemp("single")
    predict(files, out, "--workers", "1")
    return out


def test_a_chunked_output_set_is_what_one_chunk_writes(files, single, tmp_path):
    """The chunk size changes nothing (lgbm predicts each protein on its own), and a file
    that fits in one chunk is written by the writers that write lists whole."""
    predict(files, tmp_path / "whole", "--workers", "1", "--chunk-residues", "10000000")
    same_outputs(single, tmp_path / "whole")
    assert not (single / "parts").exists()  # a finished run keeps no parts
    record = json.loads((single / "config.json").read_text())
    assert record["prediction"]["chunks"] > 20 and record["prediction"]["predicted"] > 20


@pytest.mark.parametrize("model", ["lgbm", "distilled"])
def test_two_workers_write_the_bytes_one_writes(files, tmp_path, model):
    predict(files, tmp_path / "one", "--workers", "1", model=model)
    result = predict(files, tmp_path / "two", "--workers", "2", model=model)
    same_outputs(tmp_path / "one", tmp_path / "two")
    assert json.loads((tmp_path / "two" / "config.json").read_text())["prediction"]["workers"] == 2
    assert "residues/s" in result.stderr  # progress: proteins and residues per second


def test_a_killed_prediction_resumes_and_writes_the_same_bytes(files, single, tmp_path):
    out = tmp_path / "killed"
    command = [sys.executable, str(ROOT / "submit.py"), "--model", str(files / "lgbm"),
               "--test", str(files / "test.fasta"), "--out", str(out), "--workers", "1",
               "--chunk-residues", "1000"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + HANG  # catches a hang: a loaded machine may take minutes
    while len(list(out.glob("parts/0*.npz"))) < 5 and time.monotonic() < deadline:
        assert process.poll() is None, "the run finished before it could be killed"
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (out / "config.json").exists()  # killed, unfinished
    done = len(list(out.glob("parts/0*.npz")))
    result = run_tool("submit.py", *command[2:], env_extra={"IDR_PROGRESS": "lines"})
    assert result.returncode == 0, result.stderr
    assert f"resuming: {done} of" in result.stderr
    record = json.loads((out / "config.json").read_text())["prediction"]
    assert record["found_done"] == done and record["predicted"] == record["chunks"] - done
    # a resumed run cut into other chunks than "single"'s (1000 residues, not 3000): lgbm's
    # predictions do not depend on the cut, so the set is the same
    same_outputs(single, out)


def test_parts_of_another_model_are_not_reused(files, tmp_path):
    out = tmp_path / "run"
    predict(files, out, "--workers", "1", "--shard", "1/2")
    result = predict(files, out, "--workers", "1", "--shard", "1/2")
    assert "already done: all" in result.stderr
    plan = json.loads((out / "parts" / "plan.json").read_text())
    plan["model_sha256"] = "0" * 64  # as if predicted by another model
    (out / "parts" / "plan.json").write_text(json.dumps(plan))
    result = predict(files, out, "--workers", "1", "--shard", "1/2")
    assert "already done" not in result.stderr and "resuming" not in result.stderr


def test_shards_merge_into_the_single_run_set(files, single, tmp_path):
    shards = [tmp_path / f"shard{i}" for i in (1, 2, 3)]
    for i, folder in enumerate(shards, 1):
        result = predict(files, folder, "--workers", "1", "--shard", f"{i}/3")
        assert f"shard {i}/3 done" in result.stdout
        assert not (folder / "submit.csv").exists()
    result = run_tool("commands/merge.py", *shards[::-1], "--out", tmp_path / "merged")
    assert result.returncode == 0, result.stderr
    same_outputs(single, tmp_path / "merged")
    refused = run_tool("commands/merge.py", shards[0], shards[2], "--out", tmp_path / "partial")
    assert refused.returncode == 2 and "each of 1/3 to 3/3 once" in refused.stderr


def test_a_shard_of_another_model_is_refused(files, tmp_path):
    predict(files, tmp_path / "a", "--workers", "1", "--shard", "1/2")
    predict(files, tmp_path / "b", "--workers", "1", "--shard", "2/2", model="distilled")
    refused = run_tool("commands/merge.py", tmp_path / "a", tmp_path / "b", "--out", tmp_path / "m")
    assert refused.returncode == 2 and "another model" in refused.stderr
    assert not (tmp_path / "m").exists()


def test_a_shard_needs_a_saved_model(files, tmp_path):
    result = run_submit("--track", "lgbm", "--test", files / "test.fasta", "--folds", "0",
                        "--shard", "1/2", "--out", tmp_path / "o")
    assert result.returncode == 2 and "--shard predicts with a saved model" in result.stderr


def test_a_dask_cluster_of_two_workers_writes_the_single_run_set(files, single, tmp_path):
    distributed = pytest.importorskip("distributed")
    import idr_kit
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        record = idr_kit.predict_file(files / "test.fasta", tmp_path / "dask", files / "lgbm",
                                      chunk_residues=int(CHUNK), executor=client)
    assert record["prediction"]["workers"] == "dask"
    same_outputs(single, tmp_path / "dask")


# ---- the data layer: streamed reading, streamed writing ----------------------------------------

def test_a_streamed_fasta_reads_what_the_whole_file_reads(shared_data):
    whole = read_fasta(shared_data / "valid.fasta")
    streamed = [p for chunk in iter_fasta(shared_data / "valid.fasta", chunk_residues=5000)
                for p in chunk]
    assert [(p.id, p.seq, p.labels.tolist(), p.mask.tolist()) for p in streamed] == \
           [(p.id, p.seq, p.labels.tolist(), p.mask.tolist()) for p in whole]


def test_a_streamed_fasta_refuses_mixed_layouts_and_binary_files(tmp_path):
    mixed = tmp_path / "mixed.fasta"
    mixed.write_text(">a\nMKV\n001\n>b\nMKVL\n")
    with pytest.raises(InputError, match="b"):
        [chunk for chunk in iter_fasta(mixed)]
    binary = tmp_path / "binary.fasta"
    binary.write_bytes(b">a\nMK\xff\xfeV\n")
    with pytest.raises(InputError, match="not a text file"):
        [chunk for chunk in iter_fasta(binary)]


def test_an_output_set_written_in_chunks_is_byte_identical_to_whole_lists(tmp_path):
    rng = np.random.default_rng(0)
    proteins = [make_protein(f"p{i}", "".join(rng.choice(list("ACDEKLMPQRSTVWY"), n)))
                for i, n in enumerate([1, 5, 300, 47, 1200])]
    probs = [rng.random(len(p)).astype(np.float32) for p in proteins]
    calls = [(v > 0.5).astype(np.uint8) for v in probs]
    ids, seqs = [p.id for p in proteins], [p.seq for p in proteins]
    write_npz(tmp_path / "probs.npz", dict(zip(ids, probs)))
    write_caid(tmp_path / "predictions.caid", ids, seqs, probs, calls)
    write_submission(tmp_path / "submit.csv", ids, seqs, calls)
    out = tmp_path / "set"
    with OutputSet(out, members=("m",)) as outputs:
        for a, b in ((0, 2), (2, 3), (3, 5)):
            outputs.add(proteins[a:b], probs[a:b], calls[a:b], {"m": probs[a:b]})
    same_outputs(tmp_path, out, ("probs.npz", "predictions.caid", "submit.csv"))
    assert (out / "members" / "m.npz").read_bytes() == (tmp_path / "probs.npz").read_bytes()


def test_an_output_set_that_fails_leaves_no_file(tmp_path):
    protein = make_protein("p", "MKV")
    with pytest.raises(ValueError, match="duplicate"):
        with OutputSet(tmp_path) as outputs:
            outputs.add([protein], [np.zeros(3, np.float32)], [np.zeros(3, np.uint8)])
            outputs.add([protein], [np.zeros(3, np.float32)], [np.zeros(3, np.uint8)])
    assert os.listdir(tmp_path) == []


def test_idr_predict_with_two_workers_writes_what_one_writes(files, tmp_path):
    for workers in ("1", "2"):
        result = run_tool("commands/predict.py", files / "test.fasta", "--model", files / "distilled",
                          "-o", tmp_path / f"w{workers}.json", "--workers", workers,
                          "--chunk-residues", CHUNK)
        assert result.returncode == 0, result.stderr
    assert (tmp_path / "w1.json").read_bytes() == (tmp_path / "w2.json").read_bytes()


# ---- hostile folders: what a crafted part or shard record can do -------------------------------

def test_a_planted_part_that_claims_gigabytes_is_predicted_again(files, single, tmp_path):
    """A tiny part whose array header claims 2**31 values, under a plan that matches, is not
    read (headers are checked first): the chunk is predicted again, the outputs are the
    single run's."""
    import zipfile

    from idr_kit.data.digests import SHORT, file_sha256
    from idr_kit.model.saved import load_model
    from idr_kit.run.stream import Chunking, model_digest, plan_of
    out = tmp_path / "run"
    predict(files, out, "--workers", "1")  # finished: the folder is this run's
    decision = load_model(files / "lgbm", Runtime()).decision
    plan = plan_of(file_sha256(files / "test.fasta")[:SHORT], model_digest(files / "lgbm"),
                   decision, Chunking(residues=int(CHUNK)))
    (out / "parts").mkdir()
    (out / "parts" / "plan.json").write_text(json.dumps(plan))
    first_id = (files / "test.fasta").read_text().split("\n", 1)[0][1:].split()[0]
    header = {"descr": "<f4", "fortran_order": False, "shape": (2**31,)}
    with zipfile.ZipFile(out / "parts" / "000000.npz", "w") as archive, \
            archive.open(f"{first_id}.npy", "w") as member:
        np.lib.format.write_array_header_1_0(member, header)
        member.write(b"\0" * 64)
    result = predict(files, out, "--workers", "1")
    assert "resuming: 1 of" in result.stderr  # the plan was kept, the part found and refused
    assert json.loads((out / "config.json").read_text())["prediction"]["found_done"] == 0
    same_outputs(single, out)


@pytest.fixture(scope="module")
def two_shards(files, tmp_path_factory):
    folder = tmp_path_factory.mktemp("shards")
    for i in (1, 2):
        predict(files, folder / f"s{i}", "--workers", "1", "--shard", f"{i}/2")
    return [folder / "s1", folder / "s2"]


@pytest.mark.parametrize("damage", [
    lambda r: r["shard"].update(index="1"),
    lambda r: r["shard"].update(members=["../../etc"]),
    lambda r: r.update(test=[{"path": 5}]),
    lambda r: r.update(decision={"threshold": 7}),
    lambda r: r.update(decision="median"),
])
def test_a_crafted_shard_record_is_one_line_naming_it(two_shards, tmp_path, damage):
    import shutil
    shards = [tmp_path / folder.name for folder in two_shards]
    for source, copy in zip(two_shards, shards):
        shutil.copytree(source, copy)
    record = json.loads((shards[0] / "config.json").read_text())
    damage(record)
    (shards[0] / "config.json").write_text(json.dumps(record))
    result = run_tool("commands/merge.py", *shards, "--out", tmp_path / "m")
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert not (tmp_path / "m").exists()


def test_caid_rows_of_float32_scores_are_what_python_formats():
    """The fast writer of float32 scores gives f"{score:.3f}" exactly, ties and ends too."""
    from idr_kit.data.fasta import caid_record
    rng = np.random.default_rng(0)
    near = (rng.integers(0, 1000, 20000) / 1000 + 0.0005).astype(np.float32)
    edges = np.array([0, 1, 0.0625, 0.0005, 0.9995, 0.5, np.nextafter(np.float32(0.0005), 1),
                      np.nextafter(np.float32(0.0005), 0)], np.float32)
    probs = np.clip(np.concatenate([near, edges, rng.random(20000).astype(np.float32)]), 0, 1)
    seq = "".join(rng.choice(list("ACDEKLMPQRSTVWY"), len(probs)))
    calls = (probs > 0.5).astype(np.uint8)
    expected = ">p\n" + "".join(f"{i}\t{r}\t{s:.3f}\t{b}\n" for i, (r, s, b) in enumerate(
        zip(seq, probs.astype(float).tolist(), calls.astype(int).tolist()), 1))
    assert caid_record("p", seq, probs, calls) == expected
