"""What a GPU would show, checked on a CPU: full-precision heads, one device per process, cache
keys, bounded training memory, seed-built bases, and the GPU check script's CPU form."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from idr_kit.data.records import make_protein
from idr_kit.nn.cache import backbone_key
from idr_kit.nn.head import Head, masked_bce
from idr_kit.nn.pieces import cut, token_batch
from idr_kit.model.runtime import Runtime
from idr_kit.token_clf.model import TokenStep
from idr_kit.tracks import make_track

from layouts import write_esm_checkpoint, write_hf_bert_dir

ROOT = Path(__file__).resolve().parents[1]
CPU = Runtime(device="cpu")


def bf16_autocast():
    """The GPU's bf16 autocast, on the CPU."""
    return torch.autocast("cpu", dtype=torch.bfloat16)


@pytest.mark.parametrize("hidden_size", [0, 8])
def test_the_head_runs_in_fp32_under_bf16_autocast(hidden_size):
    torch.manual_seed(0)
    head = Head(16, hidden_size, 5, dropout=0.0).eval()
    hidden = torch.randn(2, 40, 16).to(torch.bfloat16)  # what a bf16 backbone hands over
    attention = torch.ones(2, 40, dtype=torch.bool)
    with torch.no_grad():
        plain = head(hidden, attention)
        with bf16_autocast():
            mixed = head(hidden, attention)
    assert mixed.dtype == torch.float32
    torch.testing.assert_close(mixed, plain, rtol=0, atol=0)
    many = torch.randn(1, 50_000, 16).to(torch.bfloat16)
    with torch.no_grad(), bf16_autocast():
        probs = torch.sigmoid(head(many, torch.ones(1, 50_000, dtype=torch.bool)))
    assert len(torch.unique(probs)) > 20_000  # fp32's resolution, not bf16's few thousand


def test_the_loss_and_its_pos_weight_stay_fp32_under_autocast():
    logits = torch.randn(3, 50)
    labels = (torch.rand(3, 50) > 0.5).float()
    mask = torch.rand(3, 50) > 0.2
    with bf16_autocast():
        mixed = masked_bce(logits, labels, mask, 3.7)
    assert mixed.dtype == torch.float32
    torch.testing.assert_close(mixed, masked_bce(logits, labels, mask, 3.7), rtol=0, atol=0)


def test_embeddings_are_cached_by_device_and_precision():
    source = {"kind": "esm", "name": "esm2_t6_8M_UR50D", "sha256": "x", "from_scratch": False}
    keys = {backbone_key(source, 0, computed) for computed in ("cpu-fp32", "cuda-bf16",
                                                               "cuda-fp32")}
    assert len(keys) == 3


def test_each_process_takes_its_own_gpu_before_joining_the_group(monkeypatch):
    from idr_kit.nn import device as runtime
    calls = []
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "set_device", lambda device: calls.append(("set", device)))
    monkeypatch.setattr(runtime.dist, "is_initialized", lambda: False)
    monkeypatch.setattr(runtime.dist, "init_process_group",
                        lambda backend, **kw: calls.append((backend, kw.get("device_id"))))
    device = runtime.pick_device("auto")
    assert device == torch.device("cuda", 1)
    here = runtime.start_group(device)
    assert (here.rank, here.size, here.local_rank) == (1, 2, 1)
    assert calls == [("set", torch.device("cuda", 1)), ("nccl", torch.device("cuda", 1))]


def test_frozen_mode_under_torchrun_is_refused_before_any_work(monkeypatch, tmp_path):
    monkeypatch.setenv("WORLD_SIZE", "2")
    weights = write_esm_checkpoint(tmp_path / "esm2_t2_tiny.pt", 2, 32, 4, seed=0)
    track = make_track("esm", runtime=CPU, backbone="esm2_t2_tiny", weights=str(weights))
    with pytest.raises(ValueError, match="without torchrun"):
        track.fit([make_protein("a", "MKVLAAG", "0011100")])


def lora_step(kind: str, folder: Path, checkpointing: bool) -> dict:
    """One LoRA training step of a tiny backbone; the trained parameters afterwards."""
    if kind == "esm":
        weights = write_esm_checkpoint(folder / "esm2_t2_tiny.pt", 2, 32, 4, seed=0)
        settings = dict(backbone="esm2_t2_tiny", weights=str(weights))
    else:
        settings = dict(backbone=str(write_hf_bert_dir(folder / "bert", 2, 32, 4, seed=0)))
    track = make_track(kind, runtime=Runtime(device="cpu", checkpoint_activations=checkpointing),
                       mode="lora", dropout=0.1, lora_dropout=0.1, **settings)
    track._prepare()  # the untrained model as fit() builds it
    rng = np.random.default_rng(0)
    proteins = [make_protein(f"p{i}", "".join(rng.choice(list("ACDEFGHIKLMNPQRSTVWY"), 60)),
                             rng.integers(0, 2, 60)) for i in range(3)]
    batch = token_batch(cut(proteins, 64, 0), track.model_.encoder.vocab)
    step = TokenStep(track.model_).train()
    torch.manual_seed(1)  # dropout draws: the same in both runs
    masked_bce(step(batch), batch["labels"], batch["mask"]).backward()
    return {n: p.grad.clone() for n, p in step.named_parameters() if p.requires_grad}


@pytest.mark.parametrize("kind", ["esm", "bert"])
def test_per_layer_checkpointing_gives_the_same_gradients(kind, tmp_path):
    plain = lora_step(kind, tmp_path / "a", checkpointing=False)
    recomputed = lora_step(kind, tmp_path / "b", checkpointing=True)
    assert plain.keys() == recomputed.keys() and any("lora_" in n for n in plain)
    for name in plain:
        torch.testing.assert_close(recomputed[name], plain[name], rtol=1e-5, atol=1e-7)


def test_a_from_scratch_llm_base_is_drawn_on_the_cpu(monkeypatch, tmp_path):
    """Whatever device it goes to: CUDA's generator would draw other weights for the seed."""
    from transformers import AutoModelForCausalLM

    from idr_kit.llm_sft.model import load_causal_lm

    from layouts import tiny_config, write_tokenizer
    tiny_config().save_pretrained(tmp_path)
    write_tokenizer(tmp_path)
    drawn_on = []
    original = AutoModelForCausalLM.from_config

    def spy(config, **kwargs):
        drawn_on.append(torch.empty(1).device.type)
        return original(config, **kwargs)
    monkeypatch.setattr(AutoModelForCausalLM, "from_config", spy)
    torch.manual_seed(3)
    first = load_causal_lm(str(tmp_path), dtype=torch.float32, device=torch.device("meta"),
                           from_scratch=True, offline=True)
    assert drawn_on == ["cpu"] and next(first.parameters()).device.type == "meta"
    torch.manual_seed(3)
    a = load_causal_lm(str(tmp_path), dtype=torch.float32, device=torch.device("cpu"),
                       from_scratch=True, offline=True)
    torch.manual_seed(3)
    b = load_causal_lm(str(tmp_path), dtype=torch.float32, device=torch.device("cpu"),
                       from_scratch=True, offline=True)
    for x, y in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(x, y, rtol=0, atol=0)


def test_the_gpu_check_script_runs_in_its_cpu_form(tmp_path):
    # The script calls `python`: this interpreter's, even when its environment is not activated.
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    env = {**os.environ, "OUT": str(tmp_path), "OMP_NUM_THREADS": "1", "PATH": path}
    result = subprocess.run(["bash", str(ROOT / "bench" / "gpu_check.sh"), "cpu"], cwd=ROOT,
                            env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    for name in ("esm_memory.json", "esm_memory.txt", "esm_predict.txt", "llm_head.txt",
                 "llm_generate.txt"):
        assert (tmp_path / name).stat().st_size > 0, name
    assert "== done" in result.stdout
