"""The causal language model: loading it, its LoRA adapters, and what training calls.

Two modes share one LoRA-tuned backbone:
    generate  the model learns to answer with one label token per residue (next-token
              cross-entropy on the answer only); prediction decodes the answer and reads
              P(label = 1) at each step (decode.py)
    head      a token-classification head reads the backbone's hidden state at every residue
              of the prompt (masked BCE); one forward pass per protein, no answer at all

Shapes: ids (B, T) int64 and attention (B, T) bool, left-padded (batches.py); the decoder gives
hidden (B, T, E). Positions count from each row's first real token, so padding never shifts a
protein: a padded batch gives each row what it would give alone.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from idr_kit.llm_sft.prompts import IGNORE_INDEX
from idr_kit.nn.backbones import WeightsUnavailable, hf_location, is_offline, quiet_transformers
from idr_kit.nn.head import Head

DTYPES = {"bf16": torch.bfloat16, "fp32": torch.float32}


def weights_dtype(precision: str, device: torch.device) -> torch.dtype:
    """bf16 weights on GPU ('auto'); fp32 on CPU, where bf16 matmuls are slower."""
    if precision == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    if precision not in DTYPES:
        raise ValueError(f"unknown precision {precision!r}; expected auto, {', '.join(DTYPES)}")
    return DTYPES[precision]


def load_tokenizer(source: str, *, offline: bool | None = None):
    from transformers import AutoTokenizer
    where = hf_location(source)
    try:
        return AutoTokenizer.from_pretrained(where, local_files_only=is_offline(offline))
    except OSError as err:
        if isinstance(where, Path):
            raise
        raise WeightsUnavailable(how_to(source, err)) from err


def load_causal_lm(source: str, *, dtype: torch.dtype, device: torch.device,
                   from_scratch: bool = False, offline: bool | None = None) -> nn.Module:
    """A local model directory or hub id as a causal LM on ``device``.

    from_scratch=True: the same architecture with random weights (benchmarks); the caller seeds.
    """
    from transformers import AutoConfig, AutoModelForCausalLM
    where, local_only = hf_location(source), is_offline(offline)
    try:
        with quiet_transformers():
            if from_scratch:
                # Drawn on the CPU, whatever the device: CUDA's generator gives other numbers
                # for the same seed, and saved adapters must find the base they trained on.
                config = AutoConfig.from_pretrained(where, local_files_only=local_only)
                model = AutoModelForCausalLM.from_config(config, dtype=dtype)
            else:
                model = AutoModelForCausalLM.from_pretrained(
                    where, dtype=dtype, local_files_only=local_only,
                    device_map={"": device} if device.type == "cuda" else None)
    except OSError as err:
        if isinstance(where, Path):
            raise
        raise WeightsUnavailable(how_to(source, err)) from err
    model.config.use_cache = False  # training; prediction asks for the cache explicitly
    return model.to(device)


def how_to(source: str, err: OSError) -> str:
    return (f"{source}: not in the local Hugging Face cache and not downloadable here "
            f"({' '.join(str(err).split())}). On a machine with internet run `hf download "
            f"{source} --local-dir DIR` (about 15 GB for Qwen2.5-7B-Instruct), copy DIR here and "
            "pass --model-name DIR (a saved model downloads only with --set downloads=true)")


def add_lora(model: nn.Module, targets, r: int, alpha: int, dropout: float) -> nn.Module:
    """The model wrapped by peft with LoRA on ``targets``; only the adapters train."""
    from peft import LoraConfig, get_peft_model
    config = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout,
                        target_modules=list(targets), task_type="CAUSAL_LM")
    return get_peft_model(model, config)


def positions(attention: torch.Tensor) -> torch.Tensor:
    """(B, T) positions counted from each row's first real token (left padding gets 0)."""
    return (attention.long().cumsum(-1) - 1).clamp_min(0)


def decoder_hidden(lm: nn.Module, ids: torch.Tensor, attention: torch.Tensor) -> torch.Tensor:
    """The last hidden states (B, T, E) of the causal LM's decoder (no output layer)."""
    decoder = lm.get_base_model().get_decoder() if hasattr(lm, "get_base_model") else lm.get_decoder()
    out = decoder(input_ids=ids, attention_mask=attention.long(), position_ids=positions(attention),
                  use_cache=False)
    return out.last_hidden_state


def output_layer(lm: nn.Module) -> nn.Linear:
    return lm.get_output_embeddings()


class SftStep(nn.Module):
    """Generate mode's training step: a batch -> logits (N, V) at the N positions with a target.

    The output layer runs only where a target is, not over the prompt: a 152k-token vocabulary
    over every position would be most of the memory.
    """

    def __init__(self, lm: nn.Module):
        super().__init__()
        self.lm = lm

    def forward(self, batch: dict) -> torch.Tensor:
        hidden = decoder_hidden(self.lm, batch["ids"], batch["attention"])  # (B, T, E)
        return output_layer(self.lm)(hidden[batch["targets"] != IGNORE_INDEX])  # (N, V)


def sft_objective(logits: torch.Tensor, batch: dict):
    """Next-token cross-entropy over the answer's assessed labels and its end (mean, count)."""
    targets = batch["targets"][batch["targets"] != IGNORE_INDEX]  # (N,)
    return F.cross_entropy(logits.float(), targets), targets.numel()


class HeadStep(nn.Module):
    """Head mode: a batch of prompts -> logits (B, T); only residue positions are ever read."""

    def __init__(self, lm: nn.Module, head: Head):
        super().__init__()
        self.lm, self.head = lm, head

    def forward(self, batch: dict) -> torch.Tensor:
        hidden = decoder_hidden(self.lm, batch["ids"], batch["attention"])  # (B, T, E)
        return self.head(hidden, batch["residues"])  # (B, T) float32
