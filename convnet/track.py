"""The convnet track: ``fit`` trains its networks (torch) on labelled proteins of either label
style, told each protein's, and exports them to ONNX as one graph; ``predict_proba`` runs it
with ONNX Runtime, so a saved model predicts in the base install.

Its prediction is the mean of its networks' probabilities and of its members' scores. A
"residues" network reads each residue's features; with ``members=("metapredict",)`` a
"stacked" network reads metapredict V3's scores too (each residue's score and its logit), and
metapredict's scores join the mean. ``fit`` exports metapredict's network from the installed
wheel (nn/metapredict.py), and the scores the stacked network learns from are the ones that
network gives when the model predicts (convnet/members.py, ONNX Runtime both times).
metapredict never saw the kit's training proteins' labels, so its scores on them are as new
to it as a test protein's: the stacked network learns how far to trust them, where, and in
which label style.

Saved state: ``convnet.onnx`` (the network), ``convnet.json`` (the style it predicts in, its
members, the training history) and, with metapredict as a member, ``metapredict_v3.onnx`` and
``metapredict_LICENSE.txt`` (MIT: its notice goes with its network).
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from idr_kit.convnet.config import AUTO, ConvNetConfig, parameter_count
from idr_kit.convnet.members import LICENCE_FILE, NETWORK_FILE as METAPREDICT_FILE
from idr_kit.convnet.members import MetapredictMember
from idr_kit.data.atomic import atomic_write, write_json
from idr_kit.data.errors import FileRefused, brief
from idr_kit.data.networks import Signature, open_network
from idr_kit.data.reading import read_bytes, read_record
from idr_kit.data.records import Protein
from idr_kit.data.residue_features import (FEATURES, features, resolved_style, style_of,
                                           training_style)
from idr_kit.data.splits import validation_proteins
from idr_kit.data.styles import STYLES, check_style, in_style, style_value
from idr_kit.nn.batching import token_budget_batches
from idr_kit.nn.residue_runs import run_residues
from idr_kit.tracks import Track

NETWORK_FILE = "convnet.onnx"
META_FILE = "convnet.json"
MEMBER_COLUMNS = 2  # a member's score and its logit
LOGIT_EPS = 1e-3  # scores of exactly 0 or 1 get a finite logit (|logit| < 7)
# Residues per batch when predicting (ONNX Runtime): 16,384 residues of 32 channels are 2 MB,
# which the caches hold (members.BUDGET says what it gained).
PREDICT_BUDGET = 16_384
MEMBER_BYTES = 4 << 20  # metapredict V3's exported network is 0.4 MB


def inputs_of(members: tuple[str, ...]) -> int:
    """Columns the network reads: the residue features, and each member's two."""
    return FEATURES + MEMBER_COLUMNS * len(members)


def signature(members: tuple[str, ...]) -> Signature:
    return Signature(inputs=(("x", "tensor(float)", ("batch", "residues", inputs_of(members))),
                             ("lengths", "tensor(int64)", ("batch",))),
                     outputs=(("probs", "tensor(float)", ("batch", "residues")),))


def reads_of(network: str, members: tuple[str, ...]) -> int:
    """The input columns a network reads: the residue features, then (stacked) the members'."""
    return FEATURES if network == "residues" else inputs_of(members)


class ConvNetTrack(Track):
    name = "convnet"
    Config = ConvNetConfig

    # -- training (torch) -----------------------------------------------------------------
    def _fit(self, proteins: list[Protein], oof) -> None:
        import torch

        from idr_kit.nn.convnet import ConvNet, ConvStep, Mean, export_onnx
        from idr_kit.nn.device import start
        from idr_kit.nn.seqnet import collate
        from idr_kit.nn.train import checkpoint_file, train
        c = self.config
        self.style_ = training_style(c.style, proteins)
        self._members(export=True)
        device, world = start(self.runtime)
        rows = self._rows(proteins, [style_of(p) for p in proteins])
        held = validation_proteins(proteins, c.valid_fraction, c.seed)

        def batches(index: list[int], reads: int, seed: int | None) -> list[dict]:
            groups = token_budget_batches([len(proteins[i]) for i in index], c.token_budget,
                                          extra=0, seed=seed)
            return [collate([rows[index[j]][:, :reads] for j in g],
                            [proteins[index[j]].labels for j in g],
                            [proteins[index[j]].mask for j in g]) for g in groups]

        fit_on = [i for i in range(len(proteins)) if not held[i]]
        stop_on = [i for i in range(len(proteins)) if held[i]]
        nets, reads = [], []
        for n, kind in enumerate(c.networks):
            for k in range(c.seeds):  # each its own weights, dropout and batch order
                one = dataclasses.replace(c, seed=c.seed + 100 * n + k, networks=(kind,))
                width = reads_of(kind, c.members)
                torch.manual_seed(one.seed)
                net = ConvNet(width, c.channels, c.kernel, c.dilations, c.dropout)
                checkpoint = checkpoint_file(self.runtime.checkpoint_path("epochs"), one,
                                             proteins, self.name)
                self.history_ = train(
                    ConvStep(net.to(device)),
                    lambda epoch, w=width, s=one.seed: batches(fit_on, w, s + epoch),
                    batches(stop_on, width, None), one, precision=self.runtime.precision,
                    device=device, here=world, checkpoint=checkpoint)
                nets.append(net)
                reads.append(width)
        scores = [FEATURES + MEMBER_COLUMNS * m for m in range(len(c.members))]
        self.onnx_ = export_onnx(Mean(nets, reads, scores), inputs_of(c.members))
        self._session = None

    def decision_indices(self, proteins) -> list[int]:
        return in_style(proteins, resolved_style(self.config.style, proteins))

    def _members(self, export: bool = False) -> dict[str, MetapredictMember]:
        """The member networks, made once: exported from their wheels when training."""
        if getattr(self, "members_", None) is None:
            self.members_ = {}
            if "metapredict" in self.config.members:
                if export:
                    from idr_kit.nn.metapredict import export_metapredict, licence_text
                    self.member_onnx_ = {"metapredict": export_metapredict()}
                    self.member_licence_ = licence_text()
                self.members_["metapredict"] = MetapredictMember(
                    self.member_onnx_["metapredict"], self.runtime.threads,
                    getattr(self, "member_source_", "metapredict V3 (exported)"))
        return self.members_

    def _rows(self, proteins: list[Protein], styles: list[float]) -> list[np.ndarray]:
        """Each protein's inputs (L, F + 2 per member): its residue features in ``styles[i]``,
        then each member's scores and their logits."""
        seqs = [p.seq for p in proteins]
        scores = [member.predict(seqs) for member in self._members().values()]
        rows = []
        for i, (p, style) in enumerate(zip(proteins, styles)):
            columns = [features(p.seq, style, p.id)]
            for member in scores:
                s = np.clip(member[i], LOGIT_EPS, 1 - LOGIT_EPS)
                columns.append(np.stack([member[i], np.log(s / (1 - s))], axis=1))
            rows.append(np.concatenate(columns, axis=1).astype(np.float32))
        return rows

    # -- prediction (ONNX Runtime) --------------------------------------------------------
    def _predict(self, proteins: list[Protein]) -> list[np.ndarray]:
        rows = self._rows(proteins, [style_value(self.style_)] * len(proteins))
        return run_residues(self.session(), [len(r) for r in rows], rows.__getitem__,
                            self.source, PREDICT_BUDGET)

    @property
    def source(self) -> str:
        """Where the network came from, for error lines: its file, once loaded."""
        return getattr(self, "network_source_", "the convnet network")

    def session(self):
        """An ONNX Runtime session on the network, made once (with the runtime's threads)."""
        if getattr(self, "_session", None) is None:
            self._session = open_network(self.onnx_, self.runtime.threads,
                                         signature(self.config.members), self.source)
        return self._session

    @property
    def styles(self) -> tuple[str, ...]:
        """Every label style, its own first: the network is told the style as an input."""
        own = getattr(self, "style_", None) or (self.config.style if self.config.style != AUTO
                                                else STYLES[0])
        return (own, *(s for s in STYLES if s != own))

    def _with_style(self, style: str) -> "ConvNetTrack":
        """The same fitted network predicting in another label style (it learnt every style
        its training proteins were labelled in)."""
        self._require_fitted()
        twin = type(self)(dataclasses.replace(self.config, style=check_style(style)),
                          self.runtime)
        for name in ("onnx_", "member_onnx_", "members_", "_session", "history_", "source_",
                     "network_source_", "member_source_"):
            if hasattr(self, name):
                setattr(twin, name, getattr(self, name))
        twin.style_, twin.fitted_ = style, True
        return twin

    # -- saving ---------------------------------------------------------------------------
    def _save(self, directory: Path) -> None:
        with atomic_write(directory / NETWORK_FILE, "wb") as handle:
            handle.write(self.onnx_)
        if "metapredict" in self.config.members:
            with atomic_write(directory / METAPREDICT_FILE, "wb") as handle:
                handle.write(self.member_onnx_["metapredict"])
            with atomic_write(directory / LICENCE_FILE) as handle:
                handle.write(self.member_licence_)
        history = self.history_.to_json() if hasattr(self, "history_") else None
        write_json(directory / META_FILE, {"style": self.style_, "history": history,
                                           "members": list(self.config.members)})

    def _load(self, directory: Path) -> None:
        c = self.config
        path = directory / NETWORK_FILE
        room = 8 * c.seeds * sum(parameter_count(reads_of(kind, c.members), c.channels, c.kernel,
                                                 len(c.dilations)) for kind in c.networks)
        room += 1 << 20
        self.onnx_ = read_bytes(path, room, links=False)
        self.network_source_ = str(path)
        self._session = None
        self.session()  # a damaged, foreign or hostile file is refused now, not at a protein
        if "metapredict" in c.members:
            self.member_source_ = str(directory / METAPREDICT_FILE)
            self.member_onnx_ = {"metapredict": read_bytes(directory / METAPREDICT_FILE,
                                                           MEMBER_BYTES, links=False)}
            self.member_licence_ = read_bytes(directory / LICENCE_FILE, 1 << 16,
                                              links=False).decode("utf-8", "replace")
        self.members_ = None
        self._members()
        meta = read_record(directory / META_FILE, links=False)
        self.style_ = meta.get("style")
        if self.style_ not in STYLES or c.style not in (AUTO, self.style_):
            raise FileRefused(f"{directory / META_FILE}: style {brief(self.style_)} is not one "
                              f"this model's settings ({c.style}) predict in")


