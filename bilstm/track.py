"""The bilstm track: ``fit`` trains the network from scratch on labelled proteins (masked BCE,
early stopping on a held-out protein fold, resumable epochs); ``predict_proba`` reads each
protein whole.

Saved state: ``bilstm.pt`` (the weights) and ``bilstm.json`` (the training history).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from idr_kit.data.atomic import atomic_write, write_json
from idr_kit.data.errors import InputError
from idr_kit.data.records import Protein
from idr_kit.data.splits import split_validation
from idr_kit.data.styles import in_style, style_value
from idr_kit.nn.batching import token_budget_batches
from idr_kit.nn.device import start
from idr_kit.nn.train import checkpoint_file, load_into, train
from idr_kit.bilstm.config import BiLstmConfig
from idr_kit.data.residue_features import FEATURES, features, style_of
from idr_kit.nn.seqnet import SeqNet, SeqStep, collate
from idr_kit.nn.track import TorchTrack

WEIGHTS_FILE = "bilstm.pt"
META_FILE = "bilstm.json"


class BiLstmTrack(TorchTrack):
    meta_file = META_FILE
    name = "bilstm"
    Config = BiLstmConfig

    def _setup(self) -> None:
        self.device_, self.world_ = start(self.runtime)
        c = self.config
        torch.manual_seed(c.seed)
        self.net_ = SeqNet.of(FEATURES, c).to(self.device_)

    # -- training -------------------------------------------------------------------------
    def _fit(self, proteins: list[Protein], oof) -> None:
        c = self.config
        if style_value(c.style) not in {style_of(p) for p in proteins}:
            raise InputError(f"style={c.style} predicts in the {c.style.upper()} label style, "
                             "but no training protein is labelled so (PDB style: with "
                             "unassessed '-' residues; NOX style: without)")
        self._setup()
        train_p, valid_p = split_validation(proteins, c.valid_fraction, c.seed)
        train_x, valid_x = self._rows(train_p), self._rows(valid_p)
        checkpoint = checkpoint_file(self.runtime.checkpoint_path("epochs"), c, proteins, self.name)
        self.history_ = train(SeqStep(self.net_),
                              lambda epoch: self._batches(train_p, train_x, c.seed + epoch),
                              self._batches(valid_p, valid_x, None), c,
                              precision=self.runtime.precision, device=self.device_,
                              here=self.world_, checkpoint=checkpoint)

    def _rows(self, proteins: list[Protein]) -> list[np.ndarray]:
        """Each protein's features in the style of its own labels."""
        return [features(p.seq, style_of(p), p.id) for p in proteins]

    def _batches(self, proteins: list[Protein], rows, seed: int | None) -> list[dict]:
        index = token_budget_batches([len(p) for p in proteins], self.config.token_budget,
                                     extra=0, seed=seed)
        return [collate([rows[i] for i in b], [proteins[i].labels for i in b],
                        [proteins[i].mask for i in b]) for b in index]

    def decision_indices(self, proteins) -> list[int]:
        return in_style(proteins, self.config.style)

    # -- prediction -----------------------------------------------------------------------
    @torch.no_grad()
    def _predict(self, proteins: list[Protein]) -> list[np.ndarray]:
        rows = [features(p.seq, style_value(self.config.style), p.id) for p in proteins]
        out: list = [None] * len(proteins)
        self.net_.eval()
        for index in token_budget_batches([len(p) for p in proteins], self.config.token_budget,
                                          extra=0):
            batch = collate([rows[i] for i in index])
            logits = self.net_(batch["x"].to(self.device_), batch["lengths"])
            probs = torch.sigmoid(logits.float()).cpu().numpy()
            for row, i in enumerate(index):
                out[i] = probs[row, :len(proteins[i])].copy()
        return out

    # -- saving ---------------------------------------------------------------------------
    def _save(self, directory: Path) -> None:
        with atomic_write(directory / WEIGHTS_FILE, "wb") as handle:
            torch.save({k: v.detach().cpu() for k, v in self.net_.state_dict().items()}, handle)
        history = self.history_.to_json() if hasattr(self, "history_") else None
        write_json(directory / META_FILE, {"history": history})

    def _restore(self, directory: Path, meta: dict) -> None:
        load_into(self.net_, directory / WEIGHTS_FILE, everything=True)

    def _weights(self) -> torch.nn.Module:
        return self.net_
