"""The llm track end to end on a tiny random-weight Qwen2 in the hub's layout, on CPU."""
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from idr_kit.data.metrics import evaluate
from idr_kit.data.records import make_protein
from idr_kit.llm_sft.batches import prompt_batch
from idr_kit.llm_sft.decode import label_probs
from idr_kit.llm_sft.model import (add_lora, decoder_hidden, load_causal_lm, load_tokenizer,
                                   output_layer)
from idr_kit.llm_sft.tokens import PromptVocab, encode_prompt
from idr_kit.nn.backbones import WeightsUnavailable
from idr_kit.nn.pieces import cut
from idr_kit.model.runtime import Runtime
from idr_kit.model.saved import load_model, save_model
from idr_kit.tracks import make_track

from layouts import tiny_config, write_qwen_dir
from runs import OFFLINE, run_tool

REPO = Path(__file__).resolve().parents[1]
CPU = torch.device("cpu")
RUNTIME = Runtime(device="cpu")
FAST = dict(window=64, overlap=16, token_budget=2048, lora_r=8,
            valid_fraction=0.2, patience=20)
HEAD = dict(FAST, mode="head", epochs=6, lr=3e-3, head_hidden=0)
GENERATE = dict(FAST, mode="generate", epochs=8, lr=3e-2, token_budget=1024)


def per_residue_toy(n: int, seed: int) -> list:
    """Label 1 exactly on disorder-prone residues, with one '-' per protein."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        seq = "".join(rng.choice(list("ACDEFGHIKLMNPQRSTVWY"), rng.integers(12, 40)))
        labels = ["1" if r in "PESQKGD" else "0" for r in seq]
        labels[rng.integers(len(seq))] = "-"
        out.append(make_protein(f"r{seed}_{i}", seq, "".join(labels)))
    return out


def per_protein_toy(n: int, seed: int) -> list:
    """Whole proteins disordered (from P E S Q K G D) or ordered (from A V I L M F W C)."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        disordered = i % 2 == 0
        seq = "".join(rng.choice(list("PESQKGD" if disordered else "AVILMFWC"), rng.integers(10, 30)))
        out.append(make_protein(f"p{seed}_{i}", seq, ("1" if disordered else "0") * len(seq)))
    return out


def auc(track, proteins) -> float:
    probs = track.predict_proba(proteins)
    return evaluate(proteins, {p.id: s for p, s in zip(proteins, probs)})["auc"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> str:
    return str(write_qwen_dir(tmp_path_factory.mktemp("qwen") / "tiny-qwen2", seed=0))


@pytest.fixture(scope="module")
def head_track(tiny):
    return make_track("llm", runtime=RUNTIME, model_name=tiny, **HEAD).fit(per_residue_toy(32, 1))


@pytest.fixture(scope="module")
def generate_track(tiny):
    return make_track("llm", runtime=RUNTIME, model_name=tiny, **GENERATE).fit(per_protein_toy(24, 1))


def test_head_mode_learns_the_per_residue_toy_task(head_track):
    losses = head_track.history_.train_loss
    assert losses[-1] < 0.5 * losses[0]
    assert auc(head_track, per_residue_toy(10, 2)) > 0.9


def test_generate_mode_loss_falls_and_it_learns_the_per_protein_toy_task(generate_track):
    losses, held = generate_track.history_.train_loss, generate_track.history_.valid_loss
    assert losses[-1] < losses[0] - 2 and held[-1] < held[0]  # nats; it starts near ln(151936)
    assert auc(generate_track, per_protein_toy(8, 2)) > 0.9


@pytest.mark.parametrize("which", ["head_track", "generate_track"])
def test_predictions_have_every_length_and_stay_in_range(which, request):
    track = request.getfixturevalue(which)
    proteins = [make_protein("a", "M"), make_protein("b", "mkvXUbzOle"),
                make_protein("long", "MSEPKQLLVAGDTRHW" * 9)]  # 144 > window 64: three windows
    probs = track.predict_proba(proteins)
    assert [len(p) for p in probs] == [1, 10, 144]
    for p in probs:
        assert p.dtype == np.float32 and np.isfinite(p).all() and (p >= 0).all() and (p <= 1).all()


@pytest.mark.parametrize("which", ["head_track", "generate_track"])
def test_long_proteins_are_windows_averaged_over_their_overlap(which, request):
    track = request.getfixturevalue(which)
    seq = "MSEPKQLLVAGDTRHW" * 10  # 160 residues; window 64, overlap 16: spans 0-64, 48-112, 96-160
    (whole,) = track.predict_proba([make_protein("long", seq)])
    parts = [track.predict_proba([make_protein(f"w{s}", seq[s:e])])[0]
             for s, e in [(0, 64), (48, 112), (96, 160)]]
    np.testing.assert_allclose(whole[:48], parts[0][:48], atol=1e-5)
    np.testing.assert_allclose(whole[48:64], (parts[0][48:] + parts[1][:16]) / 2, atol=1e-5)
    np.testing.assert_allclose(whole[64:96], parts[1][16:48], atol=1e-5)
    np.testing.assert_allclose(whole[96:112], (parts[1][48:] + parts[2][:16]) / 2, atol=1e-5)
    np.testing.assert_allclose(whole[112:], parts[2][16:], atol=1e-5)


@pytest.mark.parametrize("which", ["head_track", "generate_track"])
def test_batch_equals_single_and_padding_changes_nothing(which, request):
    track = request.getfixturevalue(which)
    proteins = per_residue_toy(5, 3)
    together = track.predict_proba(proteins)
    for protein, batched in zip(proteins, together):
        (alone,) = track.predict_proba([protein])
        np.testing.assert_allclose(alone, batched, atol=1e-4)


@pytest.mark.parametrize("which", ["head_track", "generate_track"])
def test_saved_adapters_reload_to_the_same_predictions(which, request, tmp_path):
    track = request.getfixturevalue(which)
    save_model(track, tmp_path / "model")
    assert (tmp_path / "model" / "adapter" / "adapter_model.safetensors").is_file()
    assert (tmp_path / "model" / "adapter" / "adapter_config.json").is_file()
    assert (tmp_path / "model" / "head.safetensors").is_file() == (which == "head_track")
    again = load_model(tmp_path / "model", RUNTIME).track
    proteins = per_residue_toy(4, 4)
    for a, b in zip(track.predict_proba(proteins), again.predict_proba(proteins)):
        np.testing.assert_array_equal(a, b)


def test_decoding_with_the_cache_equals_one_pass_over_the_chosen_answer(tiny):
    """P(1) read step by step through the KV cache = the same read from one full forward pass."""
    torch.manual_seed(0)
    lm = add_lora(load_causal_lm(tiny, dtype=torch.float32, device=CPU), ["q_proj", "v_proj"], 4, 8, 0.0)
    for name, param in lm.named_parameters():  # non-zero adapters: the LoRA path counts too
        if "lora_B" in name:
            torch.nn.init.normal_(param, std=0.5)
    lm.eval()
    vocab = PromptVocab.from_tokenizer(load_tokenizer(tiny))
    proteins = [make_protein("a", "MKVLE"), make_protein("b", "PPSEDKQG")]
    pieces = cut(proteins, 64, 16)
    batch = prompt_batch([encode_prompt(p.seq, vocab) for p in pieces], pieces, vocab.pad)
    stepwise = label_probs(lm, batch, [5, 8], vocab.labels, CPU)
    pair = output_layer(lm).weight[list(vocab.labels)]
    for piece, probs in zip(pieces, stepwise):
        chosen = [vocab.labels[int(p > 0.5)] for p in probs[:-1]]
        ids = torch.tensor([[*encode_prompt(piece.seq, vocab).ids, *chosen]])
        with torch.no_grad():
            hidden = decoder_hidden(lm, ids, torch.ones_like(ids, dtype=torch.bool))[0]
        reads = hidden[-len(piece):] @ pair.T  # the last prompt token and each chosen label
        np.testing.assert_allclose(probs, torch.softmax(reads, -1)[:, 1].numpy(), atol=1e-5)


def test_unassessed_residues_do_not_steer_training(tiny):
    proteins = per_residue_toy(8, 5)
    flipped = [type(p)(p.id, p.seq, np.where(p.mask, p.labels, 1 - p.labels).astype(np.uint8), p.mask)
               for p in proteins]
    for settings in (dict(HEAD, epochs=1), dict(GENERATE, epochs=1)):
        a = make_track("llm", runtime=RUNTIME, model_name=tiny, **settings).fit(proteins)
        b = make_track("llm", runtime=RUNTIME, model_name=tiny, **settings).fit(flipped)
        assert a.history_.train_loss == b.history_.train_loss
        for x, y in zip(a.predict_proba(proteins[:2]), b.predict_proba(proteins[:2])):
            np.testing.assert_array_equal(x, y)


def test_a_rerun_resumes_from_its_checkpoint(tiny, tmp_path, capsys):
    settings = dict(HEAD, epochs=2)
    runtime = Runtime(device="cpu", checkpoint_dir=str(tmp_path))
    proteins = per_residue_toy(8, 6)
    first = make_track("llm", runtime=runtime, model_name=tiny, **settings).fit(proteins)
    again = make_track("llm", runtime=runtime, model_name=tiny, **settings).fit(proteins)
    assert "resuming" in capsys.readouterr().out
    assert again.history_.train_loss == first.history_.train_loss
    for x, y in zip(first.predict_proba(proteins[:3]), again.predict_proba(proteins[:3])):
        np.testing.assert_array_equal(x, y)


def test_from_scratch_base_is_recreated_from_its_seed(tmp_path):
    model_dir = tmp_path / "config-only"
    tiny_config().save_pretrained(model_dir)  # an architecture without weights
    from layouts import write_tokenizer
    write_tokenizer(model_dir)
    track = make_track("llm", runtime=RUNTIME, model_name=str(model_dir), from_scratch=True,
                       **dict(HEAD, epochs=1, seed=3)).fit(per_residue_toy(6, 7))
    save_model(track, tmp_path / "model")
    again = load_model(tmp_path / "model", RUNTIME).track
    proteins = per_residue_toy(3, 8)
    for a, b in zip(track.predict_proba(proteins), again.predict_proba(proteins)):
        np.testing.assert_array_equal(a, b)


def test_adapters_refuse_a_base_of_another_architecture(head_track, tmp_path):
    save_model(head_track, tmp_path / "model")
    other = write_qwen_dir(tmp_path / "other", tiny_config(layers=3))
    meta = (tmp_path / "model" / "track.json").read_text()
    (tmp_path / "model" / "track.json").write_text(meta.replace(head_track.config.model_name, str(other)))
    with pytest.raises(ValueError, match="architecture differs"):
        load_model(tmp_path / "model", RUNTIME).track


@pytest.mark.parametrize("setting, message", [("mode=answer", "unknown mode"),
                                              ("pos_weight=2", "mode=head only"),
                                              ("window=0", "window.*at least 1")])
def test_bad_settings_are_named(tiny, setting, message):
    key, value = setting.split("=")
    settings = {**GENERATE, key: type(GENERATE.get(key, 1))(value) if key != "mode" else value}
    with pytest.raises(ValueError, match=message):  # when the settings are given, before fit
        make_track("llm", runtime=RUNTIME, model_name=tiny, **settings)


def test_without_the_model_offline_the_message_says_how_to_supply_it(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))  # an empty cache
    track = make_track("llm", runtime=RUNTIME)
    with pytest.raises(WeightsUnavailable, match="--model-name DIR") as err:
        track.fit(per_residue_toy(4, 10))
    assert "Qwen/Qwen2.5-7B-Instruct" in str(err.value)


# -- the command line ---------------------------------------------------------------------------
def run(*args, module=None, env_extra=None):
    return run_tool("submit.py", *args, module=module, cwd=REPO,
                    env_extra={**OFFLINE, "OMP_NUM_THREADS": "1", **(env_extra or {})})


@pytest.fixture(scope="module")
def toy_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("toy")
    for name, proteins in (("train", per_residue_toy(16, 11)), ("test", per_residue_toy(6, 12))):
        (root / f"{name}.fasta").write_text(
            "".join(f">{p.id}\n{p.seq}\n{p.label_string()}\n" for p in proteins))
    return root


def test_submit_trains_the_llm_track_and_a_saved_model_predicts_the_same(tiny, toy_files, tmp_path):
    out = tmp_path / "run"
    result = run("--track", "llm", "--model-name", tiny, "--train", str(toy_files / "train.fasta"),
                 "--test", str(toy_files / "test.fasta"), "--out", str(out), "--folds", "2",
                 "--set", "mode=head", "--set", "epochs=2", "--set", "window=64", "--set", "device=cpu")
    assert result.returncode == 0, result.stderr[-3000:]
    for name in ("submit.csv", "probs.npz", "config.json", "model/track.json",
                 "model/llm_sft.json", "model/adapter/adapter_model.safetensors"):
        assert (out / name).is_file(), name
    again = run("--model", str(out / "model"), "--test", str(toy_files / "test.fasta"),
                "--out", str(tmp_path / "again"))
    assert again.returncode == 0, again.stderr[-3000:]
    assert (out / "submit.csv").read_text() == (tmp_path / "again" / "submit.csv").read_text()


def test_submit_without_the_model_offline_exits_2_with_the_way_out(toy_files, tmp_path):
    result = run("--track", "llm", "--train", str(toy_files / "train.fasta"),
                 "--test", str(toy_files / "test.fasta"), "--out", str(tmp_path / "run"),
                 env_extra={"HF_HOME": str(tmp_path / "hf")})
    assert result.returncode == 2
    assert "--model-name DIR" in result.stderr
    assert not (tmp_path / "run" / "model").exists()


LAUNCHERS = {
    "torchrun": ["torch.distributed.run", "--nproc_per_node", "2"],
    # accelerate hands a multi-process launch to torch.distributed.run; on CPU the track's
    # device=cpu makes it a gloo group.
    "accelerate": ["accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
                   "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"],
}


@pytest.mark.parametrize("launcher", sorted(LAUNCHERS))
def test_training_under_a_launcher_keeps_both_processes_in_step(launcher, tiny, toy_files, tmp_path):
    module, *options = LAUNCHERS[launcher]
    port = 29600 + os.getpid() % 1000 + (launcher == "accelerate")
    result = run(*options, "--main_process_port" if launcher == "accelerate" else "--master_port",
                 str(port), "-m", "idr_kit.commands.fit", "--track", "llm", "--model-name", tiny,
                 "--train", str(toy_files / "train.fasta"), "--out", str(tmp_path),
                 "--set", "epochs=1", "--set", "window=64", "--set", "device=cpu",
                 "--set", "token_budget=1024", module=module)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [line for line in result.stdout.splitlines() if "state " in line]
    assert {line.split(":")[0] for line in lines} == {"rank 0/2", "rank 1/2"}
    assert len({line.split("state ")[1] for line in lines}) == 1
    predicted = run("--model", str(tmp_path / "model"), "--test", str(toy_files / "test.fasta"),
                    "--out", str(tmp_path / "predict"))
    assert predicted.returncode == 0, predicted.stderr[-3000:]
