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

from pathlib import Path

import numpy as np
import torch

from idr_kit.data.atomic import atomic_write, write_json
from idr_kit.data.errors import FileRefused, SettingError, brief
from idr_kit.data.records import Protein
from idr_kit.data.splits import split_validation
from idr_kit.nn.align import unpad
from idr_kit.nn.backbones import load_backbone, load_encoder
from idr_kit.nn.batching import token_budget_batches
from idr_kit.nn.cache import EmbeddingCache, backbone_key, embed
from idr_kit.nn.device import autocast, compute_dtype, start
from idr_kit.nn.head import Head
from idr_kit.nn.pieces import cut, hidden_batch, reassemble, token_batch
from idr_kit.nn.train import (checkpoint_file, load_into,
                              train, trainable_state)
from idr_kit.model.runtime import World
from idr_kit.token_clf.config import BertConfig, EsmConfig
from idr_kit.token_clf.model import HiddenStep, TokenClassifier, TokenStep, add_lora, set_trainable
from idr_kit.nn.track import TorchTrack

WEIGHTS_FILE = "token_clf.pt"
META_FILE = "token_clf.json"


class TokenTrack(TorchTrack):
    meta_file = META_FILE
    Config = EsmConfig
    predicts_in_workers = False  # a language model: one process, on its device

    # -- training -------------------------------------------------------------------------
    def _fit(self, proteins: list[Protein], oof) -> None:
        c = self.config
        if c.mode == "frozen" and World.from_env().size > 1:
            raise SettingError("mode=frozen trains a head on embeddings computed once, in one "
                             "process: run it without torchrun (python submit.py or python -m "
                             "idr_kit.commands.fit); torchrun is for mode=lora and mode=full")
        self._prepare()
        train_p, valid_p = split_validation(proteins, c.valid_fraction, c.seed)
        make = self._frozen_batches if c.mode == "frozen" else self._token_batches
        step, batches_for, valid = make(train_p, valid_p)
        checkpoint = checkpoint_file(self.runtime.checkpoint_path("epochs"), c, proteins, self.name)
        self.history_ = train(step, batches_for, valid, c, precision=self.runtime.precision,
                              device=self.device_, here=self.world_, checkpoint=checkpoint)

    def _prepare(self) -> None:
        """The untrained model on its device, as training starts from it."""
        c = self.config
        self._setup()
        torch.manual_seed(c.seed)
        self.model_ = self._build(load_backbone(c.backbone, c.weights, from_scratch=c.from_scratch,
                                                offline=self.runtime.offline))
        if c.mode != "frozen" and self.runtime.checkpoint_activations:
            self.model_.encoder.checkpoint_layers()  # memory bounded by one layer's attention

    def _setup(self) -> None:
        self.device_, self.world_ = start(self.runtime)

    def _build(self, encoder) -> TokenClassifier:
        c = self.config
        if c.window > encoder.max_residues:
            raise SettingError(f"window {c.window} is longer than the backbone sees "
                               f"({encoder.max_residues})")
        head = Head(encoder.embed_dim, c.head_hidden, c.head_kernel, c.dropout)
        model = TokenClassifier(encoder, head)
        if c.mode == "lora":
            add_lora(encoder, c.lora_r, c.lora_alpha, c.lora_dropout)
        set_trainable(model, c.mode)
        self.window_ = c.window or encoder.max_residues
        return model.to(self.device_)

    def _token_batches(self, train_p, valid_p):
        train_pieces = cut(train_p, self.window_, self.config.overlap)
        valid_pieces = cut(valid_p, self.window_, self.config.overlap)
        vocab = self.model_.encoder.vocab

        def batches(pieces, seed):
            index = token_budget_batches([len(p) for p in pieces], self.config.token_budget, seed=seed)
            return [token_batch([pieces[i] for i in b], vocab) for b in index]

        return (TokenStep(self.model_), lambda epoch: batches(train_pieces, self.config.seed + epoch),
                batches(valid_pieces, None))

    def _frozen_batches(self, train_p, valid_p):
        train_pieces = cut(train_p, self.window_, self.config.overlap)
        valid_pieces = cut(valid_p, self.window_, self.config.overlap)
        train_hidden, valid_hidden = self._embed(train_pieces), self._embed(valid_pieces)

        def batches(pieces, hidden, seed):
            index = token_budget_batches([len(p) for p in pieces], self.config.token_budget, seed=seed)
            return [hidden_batch([pieces[i] for i in b], [hidden[i] for i in b]) for b in index]

        return (HiddenStep(self.model_.head),
                lambda epoch: batches(train_pieces, train_hidden, self.config.seed + epoch),
                batches(valid_pieces, valid_hidden, None))

    def _embed(self, pieces) -> list[np.ndarray]:
        r = self.runtime
        computed = f"{self.device_.type}-{compute_dtype(self.device_, r.precision)}"
        key = backbone_key(self.model_.encoder.source, self.config.seed, computed)
        cache = EmbeddingCache(key, r.cache_dir or None, r.cache_gb)
        return embed(self.model_.encoder, pieces, cache, budget=self.config.token_budget,
                     device=self.device_, precision=r.precision)

    # -- prediction -----------------------------------------------------------------------
    def _predict(self, proteins: list[Protein]) -> list[np.ndarray]:
        pieces = cut(proteins, self.window_, self.config.overlap)
        frozen = self.config.mode == "frozen"
        hidden = self._embed(pieces) if frozen else None
        values: list = [None] * len(pieces)
        self.model_.eval()
        for index in token_budget_batches([len(p) for p in pieces], self.config.token_budget):
            chunk = [pieces[i] for i in index]
            probs = self._probs(chunk, [hidden[i] for i in index] if frozen else None)
            for i, residues in zip(index, unpad(probs, [len(p) for p in chunk])):
                values[i] = residues
        return reassemble(proteins, pieces, values)

    @torch.no_grad()
    def _probs(self, chunk, hidden) -> np.ndarray:
        """Probabilities (B, T) float32 for one batch of pieces, at every token position."""
        if hidden is not None:
            batch = hidden_batch(chunk, hidden)
            run = lambda: self.model_.head(batch["hidden"].to(self.device_),  # noqa: E731
                                           batch["attention"].to(self.device_))
        else:
            batch = token_batch(chunk, self.model_.encoder.vocab)
            run = lambda: self.model_(batch["tokens"].to(self.device_),  # noqa: E731
                                      batch["attention"].to(self.device_))
        with autocast(self.device_, self.runtime.precision):
            logits = run()
        return torch.sigmoid(logits.float()).cpu().numpy()

    # -- saving ---------------------------------------------------------------------------
    def _saves_everything(self) -> bool:
        return self.config.mode == "full" or self.config.from_scratch

    def _save(self, directory: Path) -> None:
        state = (self.model_.state_dict() if self._saves_everything()
                 else trainable_state(self.model_))
        with atomic_write(directory / WEIGHTS_FILE, "wb") as handle:
            torch.save({k: v.detach().cpu() for k, v in state.items()}, handle)
        history = self.history_.to_json() if hasattr(self, "history_") else None
        write_json(directory / META_FILE, {"source": self.model_.encoder.source,
                                           "window": self.window_, "history": history})

    def _restore(self, directory: Path, meta: dict) -> None:
        torch.manual_seed(self.config.seed)
        self.model_ = self._build(load_encoder(meta["source"], offline=self.runtime.offline))
        self.window_ = meta.get("window")
        if (isinstance(self.window_, bool) or not isinstance(self.window_, int)
                or not 1 <= self.window_ <= self.model_.encoder.max_residues):
            raise FileRefused(f"{directory / META_FILE}: window {brief(self.window_)} is not one "
                              f"the backbone reads (1 to {self.model_.encoder.max_residues})")
        load_into(self.model_, directory / WEIGHTS_FILE, everything=self._saves_everything())
        self.model_.to(self.device_)

    def _weights(self) -> torch.nn.Module:
        return self.model_


class EsmTrack(TokenTrack):
    name = "esm"
    Config = EsmConfig


class BertTrack(TokenTrack):
    name = "bert"
    Config = BertConfig
