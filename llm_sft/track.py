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

import json
import shutil
from pathlib import Path

import numpy as np
import torch

from idr_kit.data.atomic import write_json
from idr_kit.data.digests import value_digest
from idr_kit.data.progress import progress
from idr_kit.data.records import Protein
from idr_kit.data.splits import split_validation
from idr_kit.llm_sft.batches import example_batch, prompt_batch, residue_values
from idr_kit.llm_sft.config import LlmConfig
from idr_kit.llm_sft.decode import label_probs
from idr_kit.llm_sft.model import (HeadStep, SftStep, add_lora, load_causal_lm, load_tokenizer,
                                   sft_objective, weights_dtype)
from idr_kit.llm_sft.tokens import PromptVocab, encode_example, encode_prompt
from idr_kit.nn.backbones import enable_checkpointing
from idr_kit.nn.batching import token_budget_batches
from idr_kit.nn.device import autocast, start
from idr_kit.nn.head import Head
from idr_kit.nn.official import WeightsMismatch
from idr_kit.nn.pieces import cut, reassemble
from idr_kit.nn.train import checkpoint_file, train
from idr_kit.nn.track import TorchTrack

ADAPTER_DIR = "adapter"
HEAD_FILE = "head.safetensors"
META_FILE = "llm_sft.json"


class LlmTrack(TorchTrack):
    meta_file = META_FILE
    name = "llm"
    Config = LlmConfig
    predicts_in_workers = False  # a 7B model: one process, on its device

    # -- building -------------------------------------------------------------------------
    def _setup(self) -> None:
        self.device_, self.world_ = start(self.runtime)

    def _build(self, adapter: Path | None = None, saved: dict | None = None) -> None:
        """Tokenizer, base model and LoRA: fresh adapters, or the ``adapter`` directory's
        (then ``saved``, the base they were trained on, must match the base loaded now)."""
        c = self.config
        offline = self.runtime.offline
        self.vocab_ = PromptVocab.from_tokenizer(load_tokenizer(c.model_name, offline=offline))
        torch.manual_seed(c.seed)  # first: a from-scratch base is the same on every load
        base = load_causal_lm(c.model_name, dtype=weights_dtype(self.runtime.precision, self.device_),
                              device=self.device_, from_scratch=c.from_scratch, offline=offline)
        if adapter is None:
            self.lm_ = add_lora(base, c.lora_targets, c.lora_r, c.lora_alpha, c.lora_dropout)
        else:
            from peft import PeftModel
            _check_base(saved, base_record(c, base), adapter.parent)
            self.lm_ = PeftModel.from_pretrained(base, adapter, is_trainable=False)
        self.head_ = (Head(base.config.hidden_size, c.head_hidden, c.head_kernel, c.dropout)
                      .to(self.device_) if c.mode == "head" else None)

    # -- training -------------------------------------------------------------------------
    def _fit(self, proteins: list[Protein], oof) -> None:
        c = self.config
        self._setup()
        self._build()
        if self.runtime.checkpoint_activations:
            enable_checkpointing(self.lm_)
        train_p, valid_p = split_validation(proteins, c.valid_fraction, c.seed)
        make = self._sft_batches if c.mode == "generate" else self._head_batches
        step, batches_for, valid, objective = make(train_p, valid_p)
        checkpoint = checkpoint_file(self.runtime.checkpoint_path("epochs"), c, proteins, self.name)
        self.history_ = train(step, batches_for, valid, c, precision=self.runtime.precision,
                              device=self.device_, here=self.world_, checkpoint=checkpoint,
                              objective=objective)

    def _pieces(self, proteins):
        return cut(proteins, self.config.window, self.config.overlap)

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

    # -- prediction -----------------------------------------------------------------------
    def _predict(self, proteins: list[Protein]) -> list[np.ndarray]:
        pieces, prompts = self._prompted(proteins)
        values: list = [None] * len(pieces)
        self.lm_.eval()
        if self.head_ is not None:
            self.head_.eval()
        # The budget counts each answer too: decoding caches prompt and answer alike.
        answers = len if self.config.mode == "generate" else (lambda piece: 0)
        sizes = [len(q.ids) + answers(p) for p, q in zip(pieces, prompts)]
        batches = self._group(sizes, None)
        for index in progress(batches, desc="predicting", unit="batch"):
            chunk = [pieces[i] for i in index]
            batch = prompt_batch([prompts[i] for i in index], chunk, self.vocab_.pad)
            with autocast(self.device_, self.runtime.precision):
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
    def _save(self, directory: Path) -> None:
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

    def _restore(self, directory: Path, meta: dict) -> None:
        self._build(adapter=directory / ADAPTER_DIR, saved=meta["model"])
        if self.head_ is not None:
            from safetensors.torch import load_file
            self.head_.load_state_dict(load_file(str(directory / HEAD_FILE)))

    def _weights(self) -> torch.nn.Module:
        """The adapters, and the head in head mode."""
        parts = {"lm": self.lm_} if self.head_ is None else {"lm": self.lm_, "head": self.head_}
        return torch.nn.ModuleDict(parts)


def base_record(config: LlmConfig, base) -> dict:
    """Which base model the adapters belong to: its source and a digest of its architecture.

    The weights themselves (15 GB) are not hashed; a base of another shape is still refused.
    """
    arch = base.config.to_json_string(use_diff=False)
    keep = {k: v for k, v in json.loads(arch).items() if k not in ("transformers_version", "dtype",
                                                                    "torch_dtype", "use_cache")}
    return {"source": config.model_name, "from_scratch": config.from_scratch, "seed": config.seed,
            "architecture_sha256_16": value_digest(keep)}


def _check_base(saved: dict, now: dict, directory: Path) -> None:
    if saved["architecture_sha256_16"] != now["architecture_sha256_16"]:
        raise WeightsMismatch(f"{directory}: the adapters were trained on {saved['source']}, whose "
                         f"architecture differs from {now['source']} loaded now")
