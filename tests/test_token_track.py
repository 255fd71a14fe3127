"""The esm and bert tracks end to end on tiny random-weight models in the official file layouts."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from idr_kit.data.metrics import evaluate
from idr_kit.data.records import make_protein
from idr_kit.model.runtime import Runtime
from idr_kit.model.saved import load_model, save_model
from idr_kit.tracks import make_track

import runs
from layouts import write_esm_checkpoint, write_hf_bert_dir, write_hf_esm_dir

REPO = Path(__file__).resolve().parents[1]
TINY = "esm2_t2_tiny"  # not a published size: the file's own architecture is used
DISORDER_PRONE = set("PESQKGD")
FAST = dict(epochs=8, lr=3e-3, window=64, overlap=16, token_budget=2048, valid_fraction=0.2,
            head_hidden=0)  # a linear head learns the per-residue toy task fastest
CPU = Runtime(device="cpu")


def reload(directory):
    return load_model(directory, CPU).track


def toy_proteins(n: int, seed: int) -> list:
    """Random sequences whose label is 1 exactly on disorder-prone residues, with a few '-'."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        seq = "".join(rng.choice(list("ACDEFGHIKLMNPQRSTVWY"), rng.integers(20, 90)))
        labels = ["1" if r in DISORDER_PRONE else "0" for r in seq]
        labels[rng.integers(len(seq))] = "-"
        out.append(make_protein(f"toy{seed}_{i}", seq, "".join(labels)))
    return out


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("models")
    return {"esm_pt": write_esm_checkpoint(root / f"{TINY}.pt", 2, 32, 4, seed=0),
            "hf_esm": write_hf_esm_dir(root / "hf_esm", 2, 32, 4, seed=0),
            "hf_bert": write_hf_bert_dir(root / "hf_bert", 2, 32, 4, seed=0)}


@pytest.fixture(scope="module")
def toy():
    return toy_proteins(48, seed=1), toy_proteins(12, seed=2)


def esm_track(models, runtime=CPU, **settings):
    return make_track("esm", runtime=runtime, backbone=TINY, weights=str(models["esm_pt"]),
                      **{**FAST, **settings})


def auc(track, proteins) -> float:
    probs = track.predict_proba(proteins)
    return evaluate(proteins, {p.id: s for p, s in zip(proteins, probs)})["auc"]


@pytest.mark.parametrize("mode", ["frozen", "lora", "full"])
def test_each_mode_learns_the_toy_task_and_reloads_identically(models, toy, mode, tmp_path):
    train, test = toy
    lr = {"frozen": 3e-2, "lora": 1e-2, "full": 3e-3}[mode]  # fewer weights move: bigger steps
    track = esm_track(models, mode=mode, lr=lr).fit(train)
    losses = track.history_.train_loss
    assert losses[-1] < losses[0]
    assert auc(track, test) > 0.8
    save_model(track, tmp_path / "model")
    again = reload(tmp_path / "model")
    for a, b in zip(track.predict_proba(test), again.predict_proba(test)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("backbone", ["hf_esm", "hf_bert"])
def test_transformers_directories_train_and_reload(models, toy, backbone, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    train, test = toy
    track = make_track("bert", runtime=CPU, backbone=str(models[backbone]), mode="full",
                       **FAST).fit(train)
    assert auc(track, test) > 0.8
    save_model(track, tmp_path / "model")
    again = reload(tmp_path / "model")
    for a, b in zip(track.predict_proba(test), again.predict_proba(test)):
        np.testing.assert_array_equal(a, b)


@pytest.fixture(scope="module")
def lora_track(models, toy):
    # A convolutional head here: batch, padding and window checks must hold for it too.
    return esm_track(models, mode="lora", epochs=2, head_hidden=8, head_kernel=5).fit(toy[0])


def test_batch_equals_single_and_padding_changes_nothing(lora_track, toy):
    test = toy[1]
    together = lora_track.predict_proba(test)
    for protein, batched in zip(test, together):
        (alone,) = lora_track.predict_proba([protein])
        np.testing.assert_allclose(alone, batched, atol=1e-5)


def test_long_proteins_are_windows_averaged_over_their_overlap(lora_track):
    seq = "MSEPKQLLVAGDTRHW" * 10  # 160 residues; window 64, overlap 16: spans 0-64, 48-112, 96-160
    (whole,) = lora_track.predict_proba([make_protein("long", seq)])
    parts = [lora_track.predict_proba([make_protein(f"w{s}", seq[s:e])])[0]
             for s, e in [(0, 64), (48, 112), (96, 160)]]
    assert whole.shape == (160,) and np.isfinite(whole).all()
    np.testing.assert_allclose(whole[:48], parts[0][:48], atol=1e-5)
    np.testing.assert_allclose(whole[48:64], (parts[0][48:] + parts[1][:16]) / 2, atol=1e-5)
    np.testing.assert_allclose(whole[64:96], parts[1][16:48], atol=1e-5)
    np.testing.assert_allclose(whole[96:112], (parts[1][48:] + parts[2][:16]) / 2, atol=1e-5)
    np.testing.assert_allclose(whole[112:], parts[2][16:], atol=1e-5)


def test_lora_trains_only_adapters_and_changes_the_encoder(models, lora_track):
    from idr_kit.nn.backbones import load_esm
    base = load_esm(TINY, str(models["esm_pt"]))
    trained = dict(lora_track.model_.encoder.named_parameters())
    adapters = [n for n in trained if "lora_" in n]
    assert adapters
    for name, param in base.named_parameters():
        if name.startswith("model.contact_head"):  # unused, and random when no regression file
            continue
        lora_name = next(n for n in trained if n.replace(".base_layer", "") == name)
        torch.testing.assert_close(trained[lora_name], param)  # backbone weights untouched
    tokens = torch.tensor([[0, 5, 6, 7, 8, 2]])
    attention = torch.ones_like(tokens, dtype=torch.bool)
    with torch.no_grad():
        changed = lora_track.model_.encoder.eval()(tokens, attention)
        plain = base.eval()(tokens, attention)
    assert not torch.allclose(changed, plain, atol=1e-4)


def test_unassessed_residues_do_not_steer_training(models, toy):
    """Flipping labels that sit under '-' leaves training exactly where it was."""
    train = toy[0][:16]
    flipped = []
    for p in train:
        labels = p.labels.copy()
        labels[~p.mask] = 1 - labels[~p.mask]
        flipped.append(type(p)(p.id, p.seq, labels, p.mask))
    a = esm_track(models, mode="full", epochs=1).fit(train)
    b = esm_track(models, mode="full", epochs=1).fit(flipped)
    for x, y in zip(a.predict_proba(train[:3]), b.predict_proba(train[:3])):
        np.testing.assert_array_equal(x, y)


def test_a_rerun_resumes_from_its_checkpoint(models, toy, tmp_path, capsys):
    settings = dict(mode="frozen", epochs=3, runtime=Runtime(device="cpu", checkpoint_dir=str(tmp_path)))
    first = esm_track(models, **settings).fit(toy[0])
    again = esm_track(models, **settings).fit(toy[0])
    assert "resuming" in capsys.readouterr().out
    assert again.history_.train_loss == first.history_.train_loss
    for x, y in zip(first.predict_proba(toy[1]), again.predict_proba(toy[1])):
        np.testing.assert_array_equal(x, y)


def test_antiberty_backbone_fine_tunes_from_its_real_weights(toy):
    track = make_track("bert", runtime=CPU, backbone="antiberty", mode="lora", epochs=1,
                       max_steps=2, token_budget=1024).fit(toy[0][:8])
    assert track.model_.encoder.max_residues == 510
    probs = track.predict_proba(toy[1][:2])
    assert [len(p) for p in probs] == [len(p.seq) for p in toy[1][:2]]


def run_submit(*args, env_extra=None, cwd=REPO):
    return runs.run_submit(*args, cwd=cwd, env_extra={**runs.OFFLINE, **(env_extra or {})})


@pytest.fixture(scope="module")
def toy_files(toy, tmp_path_factory):
    """The toy sets as CAID 3-line FASTA files."""
    root = tmp_path_factory.mktemp("toy")
    for name, proteins in zip(("train", "test"), toy):
        (root / f"{name}.fasta").write_text(
            "".join(f">{p.id}\n{p.seq}\n{p.label_string()}\n" for p in proteins))
    return root


def test_without_weights_offline_the_esm_track_says_how_to_supply_them(toy_files, tmp_path):
    result = run_submit("--track", "esm", "--train", str(toy_files / "train.fasta"),
                        "--test", str(toy_files / "test.fasta"), "--out", str(tmp_path / "run"))
    assert result.returncode == 2
    assert "--weights" in result.stderr and "esm2_t6_8M_UR50D" in result.stderr
    assert not (tmp_path / "run" / "model").exists()


def test_submit_trains_the_esm_track_and_a_saved_model_predicts_the_same(models, toy_files, tmp_path):
    out = tmp_path / "run"
    result = run_submit("--track", "esm", "--backbone", TINY, "--weights", str(models["esm_pt"]),
                        "--train", str(toy_files / "train.fasta"), "--test", str(toy_files / "test.fasta"),
                        "--out", str(out), "--folds", "2", "--set", "epochs=3", "--set", "window=64",
                        "--set", "device=cpu")
    assert result.returncode == 0, result.stderr
    for name in ("submit.csv", "probs.npz", "config.json", "model/track.json", "model/token_clf.pt"):
        assert (out / name).is_file()
    again = run_submit("--model", str(out / "model"), "--test", str(toy_files / "test.fasta"),
                       "--out", str(tmp_path / "again"))
    assert again.returncode == 0, again.stderr
    assert (out / "submit.csv").read_text() == (tmp_path / "again" / "submit.csv").read_text()


def test_training_under_torchrun_keeps_both_processes_in_step(models, toy_files, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
               "--master_port", str(29500 + os.getpid() % 1000), "-m", "idr_kit.commands.fit",
               "--track", "esm", "--backbone", TINY, "--weights", str(models["esm_pt"]),
               "--train", str(toy_files / "train.fasta"), "--out", str(tmp_path),
               "--set", "mode=full", "--set", "epochs=2", "--set", "window=64", "--set", "device=cpu"]
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    digests = {line.split("state ")[1] for line in result.stdout.splitlines() if "state " in line}
    ranks = {line.split(":")[0] for line in result.stdout.splitlines() if "state " in line}
    assert ranks == {"rank 0/2", "rank 1/2"} and len(digests) == 1
    assert (tmp_path / "model" / "track.json").is_file()


def test_from_scratch_is_a_random_backbone_saved_whole(toy, tmp_path):
    track = make_track("esm", runtime=CPU, backbone="esm2_t6_8M_UR50D", from_scratch=True,
                       mode="frozen", **{**FAST, "epochs": 1, "max_steps": 1}).fit(toy[0][:6])
    assert track.model_.encoder.source["from_scratch"]
    save_model(track, tmp_path / "model")
    again = reload(tmp_path / "model")  # random weights cannot be re-drawn: they were saved
    for a, b in zip(track.predict_proba(toy[1][:3]), again.predict_proba(toy[1][:3])):
        np.testing.assert_array_equal(a, b)
