"""The large-language-model track (``llm``): Qwen2.5-7B-Instruct, LoRA instruction-tuned.

``fit`` loads the model (bf16 on GPU), wraps it with LoRA adapters on every linear projection,
cuts proteins into windows, and trains in one of two modes (model.py): ``generate`` teaches it
to answer with one label per residue; ``head`` trains a token-classification head on the
prompt's residues. ``predict_proba`` gives P(disordered) for every residue either way:
constrained decoding of the answer (decode.py), or the head's one forward pass.

Saved state: ``adapter/`` (peft's adapter_config.json + adapter_model.safetensors, loadable by
peft anywhere), ``head.safetensors`` in head mode, and ``llm_sft.json`` (the base model's source,
the window, the training history). A from-scratch base is re-created from its seed.
"""
from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from idr_kit.baselines.rows import assessed_labels, require_both_classes, require_labels
from idr_kit.data.atomic import write_json
from idr_kit.data.records import Protein
from idr_kit.data.splits import validation_proteins
from idr_kit.llm_sft.batches import example_batch, prompt_batch, residue_values
from idr_kit.llm_sft.decode import label_probs
from idr_kit.llm_sft.model import (LORA_TARGETS, MODES, HeadStep, SftStep, add_lora, enable_checkpointing,
                           load_causal_lm, load_tokenizer, sft_objective, weights_dtype)
from idr_kit.llm_sft.official import QWEN_7B_INSTRUCT
from idr_kit.llm_sft.tokens import PromptVocab, encode_example, encode_prompt
from idr_kit.token_clf.batching import token_budget_batches
from idr_kit.token_clf.model import Head
from idr_kit.token_clf.pieces import cut, reassemble
from idr_kit.token_clf.runtime import autocast, pick_device, start_group
from idr_kit.token_clf.train import PROGRESS_DELAY, History, LoopSettings, checkpoint_file, train

ADAPTER_DIR = "adapter"
HEAD_FILE = "head.safetensors"
META_FILE = "llm_sft.json"
RUN_ONLY = ("device", "threads", "checkpoint_dir", "gradient_checkpointing")


@dataclass(frozen=True)
class LlmConfig:
    model_name: str = QWEN_7B_INSTRUCT  # a hub id or a local model directory
    from_scratch: bool = False  # random base weights: benchmarks only, never a fallback
    mode: str = "generate"  # generate | head (model.py)
    seed: int = 0
    epochs: int = 2
    lr: float = 2e-4
    weight_decay: float = 0.0
    warmup: float = 0.03
    grad_clip: float = 1.0
    accumulate: int = 1
    token_budget: int = 8192  # padded tokens per batch (prompt + answer): similar lengths together
    window: int = 1000  # residues per chunk; longer proteins are cut with overlap and stitched
    overlap: int = 128
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    lora_targets: tuple = LORA_TARGETS
    gradient_checkpointing: bool = True
    head_hidden: int = 64  # head mode: token_clf.model.Head over the residues' hidden states
    head_kernel: int = 31
    dropout: float = 0.1
    pos_weight: float = 1.0  # head mode only
    valid_fraction: float = 0.1  # proteins held out for early stopping
    patience: int = 2
    max_steps: int = 0  # cap on optimiser steps (0: none), for smoke runs and benchmarks
    device: str = "auto"
    precision: str = "auto"  # bf16 weights and autocast on GPU, fp32 on CPU
    threads: int = 0
    checkpoint_dir: str = ""

    def loop(self) -> LoopSettings:
        return LoopSettings.from_config(self)


class LlmTrack:
    Config = LlmConfig

    def __init__(self, config: LlmConfig | None = None):
        self.config = config if config is not None else self.Config()

    # -- building -------------------------------------------------------------------------
    def _setup(self) -> None:
        c = self.config
        if c.mode not in MODES:
            raise ValueError(f"unknown mode {c.mode!r}; expected one of {', '.join(MODES)}")
        if c.mode == "generate" and c.pos_weight != 1:
            raise ValueError("pos_weight applies to mode=head only")
        if c.window < 1 or c.overlap < 0:
            raise ValueError(f"need window >= 1 and overlap >= 0, got {c.window}, {c.overlap}")
        if c.threads:
            torch.set_num_threads(c.threads)
        self.device_ = pick_device(c.device)
        self.world_ = start_group(self.device_)

    def _build(self, adapter: Path | None = None, saved: dict | None = None) -> None:
        """Tokenizer, base model and LoRA: fresh adapters, or the ``adapter`` directory's
        (then ``saved``, the base they were trained on, must match the base loaded now)."""
        c = self.config
        self.vocab_ = PromptVocab.from_tokenizer(load_tokenizer(c.model_name))
        torch.manual_seed(c.seed)  # first: a from-scratch base is the same on every load
        base = load_causal_lm(c.model_name, dtype=weights_dtype(c.precision, self.device_),
                              device=self.device_, from_scratch=c.from_scratch)
        if adapter is None:
            self.lm_ = add_lora(base, c.lora_targets, c.lora_r, c.lora_alpha, c.lora_dropout)
        else:
            from peft import PeftModel
            _check_base(saved, base_record(c, base), adapter.parent)
            self.lm_ = PeftModel.from_pretrained(base, adapter, is_trainable=False)
        self.head_ = (Head(base.config.hidden_size, c.head_hidden, c.head_kernel, c.dropout)
                      .to(self.device_) if c.mode == "head" else None)

    # -- training -------------------------------------------------------------------------
    def fit(self, proteins: Sequence[Protein]) -> "LlmTrack":
        require_labels(proteins)
        require_both_classes(assessed_labels(proteins))
        c = self.config
        self._setup()
        self._build()
        if c.gradient_checkpointing:
            enable_checkpointing(self.lm_)
        held = validation_proteins(proteins, c.valid_fraction, c.seed)
        train_p = [p for p, h in zip(proteins, held) if not h]
        valid_p = [p for p, h in zip(proteins, held) if h]
        make = self._sft_batches if c.mode == "generate" else self._head_batches
        step, batches_for, valid, objective = make(train_p, valid_p)
        checkpoint = checkpoint_file(c, proteins, RUN_ONLY, "LlmTrack")
        self.history_ = train(step, batches_for, valid, c.loop(), device=self.device_,
                              here=self.world_, checkpoint=checkpoint, objective=objective)
        return self

    def _pieces(self, proteins):
        # The configured overlap, but never more than half a window (short custom windows).
        return cut(proteins, self.config.window, min(self.config.overlap, self.config.window // 2))

    def _sft_batches(self, train_p, valid_p):
        encode = lambda ps: [encode_example(p.seq, p.labels, p.mask, self.vocab_)  # noqa: E731
                             for p in self._pieces(ps)]
        train_x, valid_x = encode(train_p), encode(valid_p)

        def batches(examples, seed):
            return [example_batch([examples[i] for i in b], self.vocab_.pad)
                    for b in self._group([len(e.ids) for e in examples], seed)]

        return (SftStep(self.lm_), lambda epoch: batches(train_x, self.config.seed + epoch),
                batches(valid_x, None), sft_objective)

    def _head_batches(self, train_p, valid_p):
        train_x, valid_x = self._prompted(train_p), self._prompted(valid_p)
        batches = lambda pieces, prompts, seed: [  # noqa: E731
            prompt_batch([prompts[i] for i in b], [pieces[i] for i in b], self.vocab_.pad)
            for b in self._group([len(q.ids) for q in prompts], seed)]
        return (HeadStep(self.lm_, self.head_),
                lambda epoch: batches(*train_x, self.config.seed + epoch),
                batches(*valid_x, None), None)

    def _prompted(self, proteins):
        pieces = self._pieces(proteins)
        return pieces, [encode_prompt(p.seq, self.vocab_) for p in pieces]

    def _group(self, sizes: list[int], seed: int | None) -> list[list[int]]:
        """Indices batched by similar size under the token budget (sizes in tokens)."""
        return token_budget_batches(sizes, self.config.token_budget, extra=0, seed=seed)

    def trained_module(self) -> torch.nn.Module:
        """Everything with weights, for fit.py's cross-process checksum."""
        parts = {"lm": self.lm_} if self.head_ is None else {"lm": self.lm_, "head": self.head_}
        return torch.nn.ModuleDict(parts)

    # -- prediction -----------------------------------------------------------------------
    def predict_proba(self, proteins: Sequence[Protein]) -> list[np.ndarray]:
        if not hasattr(self, "lm_"):
            raise RuntimeError("LlmTrack is not fitted: call fit() or load() first")
        pieces, prompts = self._prompted(proteins)
        values: list = [None] * len(pieces)
        self.lm_.eval()
        if self.head_ is not None:
            self.head_.eval()
        # The budget counts each answer too: decoding caches prompt and answer alike.
        answers = len if self.config.mode == "generate" else (lambda piece: 0)
        sizes = [len(q.ids) + answers(p) for p, q in zip(pieces, prompts)]
        batches = self._group(sizes, None)
        for index in tqdm(batches, desc="predicting", unit="batch", delay=PROGRESS_DELAY, leave=False):
            chunk = [pieces[i] for i in index]
            batch = prompt_batch([prompts[i] for i in index], chunk, self.vocab_.pad)
            with autocast(self.device_, self.config.precision):
                probs = self._predict_batch(batch, chunk)
            for i, p in zip(index, probs):
                values[i] = p
        return reassemble(proteins, pieces, values)

    @torch.no_grad()
    def _predict_batch(self, batch: dict, pieces) -> list[np.ndarray]:
        if self.config.mode == "generate":
            return label_probs(self.lm_, batch, [len(p) for p in pieces], self.vocab_.labels,
                               self.device_)
        on_device = {k: v.to(self.device_) for k, v in batch.items()}
        logits = HeadStep(self.lm_, self.head_)(on_device)
        return residue_values(torch.sigmoid(logits.float()), batch, pieces)

    # -- saving ---------------------------------------------------------------------------
    def save(self, directory: str | Path) -> None:
        directory = Path(directory)
        fresh = directory / (ADAPTER_DIR + ".tmp")
        shutil.rmtree(fresh, ignore_errors=True)
        self.lm_.save_pretrained(fresh, safe_serialization=True)
        shutil.rmtree(directory / ADAPTER_DIR, ignore_errors=True)
        fresh.rename(directory / ADAPTER_DIR)  # a reader never sees half an adapter
        if self.head_ is not None:
            from safetensors.torch import save_file
            state = {k: v.detach().cpu().contiguous() for k, v in self.head_.state_dict().items()}
            save_file(state, str(directory / (HEAD_FILE + ".tmp")))
            (directory / (HEAD_FILE + ".tmp")).replace(directory / HEAD_FILE)
        history = self.history_.to_json() if hasattr(self, "history_") else None
        write_json(directory / META_FILE, {"model": base_record(self.config, self.lm_.get_base_model()),
                                           "history": history})

    @classmethod
    def load(cls, directory: str | Path, config: LlmConfig) -> "LlmTrack":
        directory = Path(directory)
        meta = json.loads((directory / META_FILE).read_text())
        track = cls(config)
        track._setup()
        track._build(adapter=directory / ADAPTER_DIR, saved=meta["model"])
        if track.head_ is not None:
            from safetensors.torch import load_file
            track.head_.load_state_dict(load_file(str(directory / HEAD_FILE)))
        if meta.get("history"):
            track.history_ = History.from_json(meta["history"])
        return track


def base_record(config: LlmConfig, base) -> dict:
    """Which base model the adapters belong to: its source and a digest of its architecture.

    The weights themselves (15 GB) are not hashed; a base of another shape is still refused.
    """
    arch = base.config.to_json_string(use_diff=False)
    keep = {k: v for k, v in json.loads(arch).items() if k not in ("transformers_version", "dtype",
                                                                    "torch_dtype", "use_cache")}
    digest = hashlib.sha256(json.dumps(keep, sort_keys=True).encode()).hexdigest()[:16]
    return {"source": config.model_name, "from_scratch": config.from_scratch, "seed": config.seed,
            "architecture_sha256_16": digest}


def _check_base(saved: dict, now: dict, directory: Path) -> None:
    if saved["architecture_sha256_16"] != now["architecture_sha256_16"]:
        raise ValueError(f"{directory}: the adapters were trained on {saved['source']}, whose "
                         f"architecture differs from {now['source']} loaded now")
