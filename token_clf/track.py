"""The protein-language-model tracks: ESM-2 (``esm``) and BERT-style (``bert``) token classifiers.

Both honour the track contract (tracks.py). ``fit`` loads the backbone, cuts proteins into
windows the backbone can see whole, holds out a protein-level fold for early stopping and trains
in one of three modes (model.py). ``predict_proba`` scores every window and averages the
overlaps, so every residue of a protein of any length gets a probability.

Saved state: ``token_clf.pt`` (the weights that trained: head, LoRA adapters, or everything for
full fine-tuning and --from-scratch) and ``token_clf.json`` (where the backbone came from, with
its file's sha256, so reloading checks it is the same backbone).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from idr_kit.baselines.rows import assessed_labels, require_both_classes, require_labels
from idr_kit.data.atomic import atomic_write, write_json
from idr_kit.data.records import Protein
from idr_kit.data.splits import validation_proteins
from idr_kit.token_clf.align import RESIDUE_OFFSET
from idr_kit.token_clf.batching import token_budget_batches
from idr_kit.token_clf.cache import EmbeddingCache, backbone_key, embed
from idr_kit.token_clf.model import (Head, HiddenStep, TokenClassifier, TokenStep, add_lora,
                             set_trainable)
from idr_kit.token_clf.pieces import cut, hidden_batch, reassemble, token_batch
from idr_kit.token_clf.runtime import autocast, pick_device, start_group
from idr_kit.token_clf.train import (LoopSettings, History, checkpoint_file, load_trainable,
                             trainable_state, train)

WEIGHTS_FILE = "token_clf.pt"
META_FILE = "token_clf.json"
ESM_NAME_PREFIX = "esm2_t"  # fair-esm's published ESM-2 names; anything else goes to transformers
# Settings that change where or how fast a run goes, never what it learns.
RUN_ONLY = ("device", "threads", "checkpoint_dir", "cache_dir", "cache_gb")


@dataclass(frozen=True)
class TokenConfig:
    backbone: str = "esm2_t6_8M_UR50D"
    weights: str = ""  # a local fair-esm checkpoint (.pt) for the backbone named above
    from_scratch: bool = False  # random backbone weights: only when asked, never as a fallback
    mode: str = "frozen"  # frozen | lora | full (model.py)
    seed: int = 0
    epochs: int = 20
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup: float = 0.05
    grad_clip: float = 1.0
    accumulate: int = 1
    token_budget: int = 8192  # padded tokens per batch: long proteins get small batches
    window: int = 0  # residues per window; 0: the backbone's limit (1022 for ESM-2)
    overlap: int = 128  # residues shared by neighbouring windows, averaged when stitched
    pos_weight: float = 1.0
    # The head: 0 is linear per residue; >0 projects to head_hidden channels and convolves
    # head_kernel residues (model.Head). Frozen AntiBERTy, 20% of train.pkl held out (never
    # valid.fasta): linear AUC 0.740; a direct convolution of all 512 dims, 32 channels x 15
    # residues 0.791, 64 x 31 0.804; the projected 64 x 31 here 0.797 at a third of the cost.
    head_hidden: int = 64
    head_kernel: int = 31
    dropout: float = 0.1
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    valid_fraction: float = 0.1  # proteins held out for early stopping
    patience: int = 3
    max_steps: int = 0  # cap on optimiser steps (0: none), for smoke runs and benchmarks
    device: str = "auto"
    precision: str = "auto"  # bf16 autocast on GPU, fp32 on CPU
    threads: int = 0  # torch CPU threads; 0 keeps torch's default
    checkpoint_dir: str = ""  # where epochs are checkpointed; a rerun resumes from there
    cache_dir: str = ""  # frozen mode: keep embeddings on disk too
    cache_gb: float = 8.0  # frozen mode: embeddings kept in memory

    def loop(self) -> LoopSettings:
        return LoopSettings.from_config(self)


@dataclass(frozen=True)
class BertConfig(TokenConfig):
    backbone: str = "antiberty"  # the protein BERT inside the antiberty wheel (backbones.py)


def build_encoder(c: TokenConfig):
    from idr_kit.token_clf import backbones
    if c.backbone.startswith(ESM_NAME_PREFIX) and not Path(c.backbone).exists():
        return backbones.load_esm(c.backbone, c.weights or None, from_scratch=c.from_scratch)
    if c.weights:
        raise ValueError(f"--weights is for fair-esm checkpoints of an {ESM_NAME_PREFIX}* backbone; "
                         f"give a transformers model directory as --backbone instead")
    return backbones.load_hf(c.backbone, from_scratch=c.from_scratch)


class TokenTrack:
    Config = TokenConfig

    def __init__(self, config: TokenConfig | None = None):
        self.config = config if config is not None else self.Config()

    # -- training -------------------------------------------------------------------------
    def fit(self, proteins: Sequence[Protein]) -> "TokenTrack":
        require_labels(proteins)
        require_both_classes(assessed_labels(proteins))
        c = self.config
        self._setup()
        torch.manual_seed(c.seed)
        self.model_ = self._build(build_encoder(c))
        held = validation_proteins(proteins, c.valid_fraction, c.seed)
        train_p = [p for p, h in zip(proteins, held) if not h]
        valid_p = [p for p, h in zip(proteins, held) if h]
        make = self._frozen_batches if c.mode == "frozen" else self._token_batches
        step, batches_for, valid = make(train_p, valid_p)
        checkpoint = checkpoint_file(c, proteins, RUN_ONLY, type(self).__name__)
        self.history_ = train(step, batches_for, valid, c.loop(), device=self.device_,
                              here=self.world_, checkpoint=checkpoint)
        return self

    def _setup(self) -> None:
        if self.config.threads:
            torch.set_num_threads(self.config.threads)
        self.device_ = pick_device(self.config.device)
        self.world_ = start_group(self.device_)

    def _build(self, encoder) -> TokenClassifier:
        c = self.config
        if c.window > encoder.max_residues:
            raise ValueError(f"window {c.window} is longer than the backbone sees ({encoder.max_residues})")
        head = Head(encoder.embed_dim, c.head_hidden, c.head_kernel, c.dropout)
        model = TokenClassifier(encoder, head)
        if c.mode == "lora":
            add_lora(encoder, c.lora_r, c.lora_alpha, c.lora_dropout)
        set_trainable(model, c.mode)
        self.window_ = c.window or encoder.max_residues
        return model.to(self.device_)

    def _token_batches(self, train_p, valid_p):
        train_pieces = cut(train_p, self.window_, self._overlap())
        valid_pieces = cut(valid_p, self.window_, self._overlap())
        vocab = self.model_.encoder.vocab

        def batches(pieces, seed):
            index = token_budget_batches([len(p) for p in pieces], self.config.token_budget, seed=seed)
            return [token_batch([pieces[i] for i in b], vocab) for b in index]

        return (TokenStep(self.model_), lambda epoch: batches(train_pieces, self.config.seed + epoch),
                batches(valid_pieces, None))

    def _frozen_batches(self, train_p, valid_p):
        train_pieces = cut(train_p, self.window_, self._overlap())
        valid_pieces = cut(valid_p, self.window_, self._overlap())
        train_hidden, valid_hidden = self._embed(train_pieces), self._embed(valid_pieces)

        def batches(pieces, hidden, seed):
            index = token_budget_batches([len(p) for p in pieces], self.config.token_budget, seed=seed)
            return [hidden_batch([pieces[i] for i in b], [hidden[i] for i in b]) for b in index]

        return (HiddenStep(self.model_.head),
                lambda epoch: batches(train_pieces, train_hidden, self.config.seed + epoch),
                batches(valid_pieces, valid_hidden, None))

    def _overlap(self) -> int:
        """The configured overlap, but never more than half a window (short custom windows)."""
        return min(self.config.overlap, self.window_ // 2)

    def _embed(self, pieces) -> list[np.ndarray]:
        c = self.config
        key = backbone_key(self.model_.encoder.source, c.seed)
        cache = EmbeddingCache(key, c.cache_dir or None, c.cache_gb)
        return embed(self.model_.encoder, pieces, cache, budget=c.token_budget,
                     device=self.device_, precision=c.precision)

    def trained_module(self) -> torch.nn.Module:
        """Everything with weights, for fit.py's cross-process checksum."""
        return self.model_

    # -- prediction -----------------------------------------------------------------------
    def predict_proba(self, proteins: Sequence[Protein]) -> list[np.ndarray]:
        if not hasattr(self, "model_"):
            raise RuntimeError(f"{type(self).__name__} is not fitted: call fit() or load() first")
        pieces = cut(proteins, self.window_, self._overlap())
        frozen = self.config.mode == "frozen"
        hidden = self._embed(pieces) if frozen else None
        values: list = [None] * len(pieces)
        self.model_.eval()
        for index in token_budget_batches([len(p) for p in pieces], self.config.token_budget):
            chunk = [pieces[i] for i in index]
            logits = self._logits(chunk, [hidden[i] for i in index] if frozen else None)
            for row, i in enumerate(index):
                values[i] = logits[row, RESIDUE_OFFSET:RESIDUE_OFFSET + len(pieces[i])]
        return reassemble(proteins, pieces, values)

    @torch.no_grad()
    def _logits(self, chunk, hidden) -> np.ndarray:
        """Probabilities (B, T) float32 for one batch of pieces."""
        if hidden is not None:
            batch = hidden_batch(chunk, hidden)
            run = lambda: self.model_.head(batch["hidden"].to(self.device_),  # noqa: E731
                                           batch["attention"].to(self.device_))
        else:
            batch = token_batch(chunk, self.model_.encoder.vocab)
            run = lambda: self.model_(batch["tokens"].to(self.device_),  # noqa: E731
                                      batch["attention"].to(self.device_))
        with autocast(self.device_, self.config.precision):
            logits = run()
        return torch.sigmoid(logits.float()).cpu().numpy()

    # -- saving ---------------------------------------------------------------------------
    def _saves_everything(self) -> bool:
        return self.config.mode == "full" or self.config.from_scratch

    def save(self, directory: str | Path) -> None:
        directory = Path(directory)
        state = (self.model_.state_dict() if self._saves_everything()
                 else trainable_state(self.model_))
        with atomic_write(directory / WEIGHTS_FILE, "wb") as handle:
            torch.save({k: v.detach().cpu() for k, v in state.items()}, handle)
        history = self.history_.to_json() if hasattr(self, "history_") else None
        write_json(directory / META_FILE, {"source": self.model_.encoder.source,
                                           "window": self.window_, "history": history})

    @classmethod
    def load(cls, directory: str | Path, config: TokenConfig) -> "TokenTrack":
        from idr_kit.token_clf.backbones import load_encoder
        directory = Path(directory)
        meta = json.loads((directory / META_FILE).read_text())
        track = cls(config)
        track._setup()
        torch.manual_seed(config.seed)
        track.model_ = track._build(load_encoder(meta["source"]))
        track.window_ = meta["window"]
        state = torch.load(directory / WEIGHTS_FILE, map_location="cpu", weights_only=True)
        if track._saves_everything():
            track.model_.load_state_dict(state)
        else:
            load_trainable(track.model_, state)
        track.model_.to(track.device_)
        if meta.get("history"):
            track.history_ = History.from_json(meta["history"])
        return track


class EsmTrack(TokenTrack):
    Config = TokenConfig


class BertTrack(TokenTrack):
    Config = BertConfig
