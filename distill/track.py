"""The distilled track: ``fit`` trains the network (torch) on labels and teachers' soft targets
and exports it to ONNX; ``predict_proba`` runs it with ONNX Runtime, so a saved model predicts
in the base install, without torch.

ONNX Runtime rather than the same network in numpy (nn/numpy_forward.py, kept as the tests'
independent reference): on valid.fasta (236,542 residues, batches of 65,536, one run on this
2-core machine, 2026-12-02, `python bench/bench_distilled_runtime.py`) torch took 6.5 s,
numpy 10.0 s and ONNX Runtime 2.4 s, their logits within 4e-8 of one another.

Saved state: ``distilled.onnx`` (the network) and ``distilled.json`` (the style it predicts in,
the training history, how many proteins had soft targets).
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from idr_kit.data.atomic import atomic_write, write_json
from idr_kit.data.errors import FileRefused, brief
from idr_kit.data.networks import Signature, open_network
from idr_kit.data.probs import read_npz
from idr_kit.data.reading import read_bytes, read_record
from idr_kit.data.records import Protein
from idr_kit.data.residue_features import (FEATURES, features, resolved_style, style_of,
                                           training_style)
from idr_kit.data.splits import validation_proteins
from idr_kit.data.styles import STYLES, check_style, in_style, label_style, style_value
from idr_kit.distill.config import AUTO, DistilledConfig
from idr_kit.nn import numpy_forward
from idr_kit.nn.batching import token_budget_batches
from idr_kit.nn.residue_runs import run_residues
from idr_kit.tracks import Track

NETWORK_FILE = "distilled.onnx"
META_FILE = "distilled.json"
# Residues per batch when predicting: ONNX Runtime's LSTM steps the whole batch at once, and
# 65,536 residues of the widest layer (96 float32 channels) are 25 MB.
PREDICT_BUDGET = 65_536
# What the network reads and answers: features (B, T, F) and lengths (B,), logits (B, T).
SIGNATURE = Signature(inputs=(("x", "tensor(float)", ("batch", "residues", FEATURES)),
                              ("lengths", "tensor(int64)", ("batch",))),
                      outputs=(("logits", "tensor(float)", ("batch", "residues")),))


class DistilledTrack(Track):
    name = "distilled"
    Config = DistilledConfig

    # -- training (torch) -----------------------------------------------------------------
    def _fit(self, proteins: list[Protein], oof) -> None:
        import torch

        from idr_kit.nn.device import start
        from idr_kit.nn.export import onnx_bytes
        from idr_kit.nn.seqnet import SeqNet, SeqStep
        from idr_kit.nn.train import bce_objective, checkpoint_file, train
        c = self.config
        self.style_ = training_style(c.style, proteins)
        device, world = start(self.runtime)
        torch.manual_seed(c.seed)
        net = SeqNet.of(FEATURES, c).to(device)
        soft = teacher_targets(c.teachers, proteins)
        self.soft_targets_ = sum(t is not None for t in soft)
        held = validation_proteins(proteins, c.valid_fraction, c.seed)
        fit_on = [i for i in range(len(proteins)) if not held[i]]
        stop_on = [i for i in range(len(proteins)) if held[i]]
        rows = [features(p.seq, style_of(p), p.id) for p in proteins]

        def batches(index: list[int], seed: int | None) -> list[dict]:
            groups = token_budget_batches([len(proteins[i]) for i in index], c.token_budget,
                                          extra=0, seed=seed)
            return [collate([proteins[index[j]] for j in g], [rows[index[j]] for j in g],
                            [soft[index[j]] for j in g]) for g in groups]

        labels_only = bce_objective()

        def objective(logits, batch):
            hard, count = labels_only(logits, batch)
            mask = batch["soft_mask"]
            if c.teacher_weight == 0 or not bool(mask.any()):
                return hard, count
            return hard + c.teacher_weight * masked_soft_bce(logits, batch["soft"], mask), count

        checkpoint = checkpoint_file(self.runtime.checkpoint_path("epochs"), c, proteins, self.name)
        self.history_ = train(SeqStep(net), lambda epoch: batches(fit_on, c.seed + epoch),
                              batches(stop_on, None), c, precision=self.runtime.precision,
                              device=device, here=world, checkpoint=checkpoint,
                              objective=objective, held_objective=labels_only)
        self.onnx_ = onnx_bytes(net.cpu().eval(), FEATURES, "logits")
        self.weights_ = numpy_forward.export_weights(net)  # in memory only: the tests' reference
        self._session = None

    def decision_indices(self, proteins) -> list[int]:
        return in_style(proteins, resolved_style(self.config.style, proteins))

    # -- prediction (ONNX Runtime) --------------------------------------------------------
    def _predict(self, proteins: list[Protein]) -> list[np.ndarray]:
        style = style_value(self.style_)
        logits = run_residues(self.session(), [len(p) for p in proteins],
                              lambda i: features(proteins[i].seq, style, proteins[i].id),
                              self.source, PREDICT_BUDGET)
        return [(1.0 / (1.0 + np.exp(-z.astype(np.float64)))).astype(np.float32)
                for z in logits]

    @property
    def source(self) -> str:
        """Where the network came from, for error lines: its file, once loaded."""
        return getattr(self, "source_", "the distilled network")

    def session(self):
        """An ONNX Runtime session on the network, made once (with the runtime's threads)."""
        if getattr(self, "_session", None) is None:
            self._session = open_network(self.onnx_, self.runtime.threads, SIGNATURE,
                                         self.source)
        return self._session

    @property
    def styles(self) -> tuple[str, ...]:
        """Every label style, its own first: the network is told the style as an input."""
        own = getattr(self, "style_", None) or (self.config.style if self.config.style != AUTO
                                                else STYLES[0])
        return (own, *(s for s in STYLES if s != own))

    def _with_style(self, style: str) -> "DistilledTrack":
        """The same fitted network predicting in another label style (it learnt both when its
        training proteins were labelled in both)."""
        self._require_fitted()
        twin = type(self)(dataclasses.replace(self.config, style=check_style(style)),
                          self.runtime)
        twin.onnx_, twin.style_, twin.fitted_ = self.onnx_, style, True
        twin._session = getattr(self, "_session", None)
        if hasattr(self, "source_"):
            twin.source_ = self.source_
        twin.soft_targets_ = getattr(self, "soft_targets_", 0)
        return twin

    # -- saving ---------------------------------------------------------------------------
    def _save(self, directory: Path) -> None:
        with atomic_write(directory / NETWORK_FILE, "wb") as handle:
            handle.write(self.onnx_)
        history = self.history_.to_json() if hasattr(self, "history_") else None
        write_json(directory / META_FILE, {"style": self.style_, "history": history,
                                           "soft_targets": getattr(self, "soft_targets_", 0)})

    def _load(self, directory: Path) -> None:
        path = directory / NETWORK_FILE
        room = 8 * parameter_count(FEATURES, **self.config.network()) + (1 << 20)
        self.onnx_ = read_bytes(path, room, links=False)
        self.source_ = str(path)
        self._session = None
        self.session()  # a damaged, foreign or hostile file is refused now, not at a protein
        meta = read_record(directory / META_FILE, links=False)
        self.style_ = meta.get("style")
        if self.style_ not in STYLES or self.config.style not in (AUTO, self.style_):
            raise FileRefused(f"{directory / META_FILE}: style {brief(self.style_)} is not one "
                              f"this model's settings ({self.config.style}) predict in")
        self.soft_targets_ = meta.get("soft_targets", 0)




def parameter_count(features: int, embed: int, conv_channels: int, kernel: int, hidden: int,
                    layers: int) -> int:
    """The network's weights, counted from its settings (nn/seqnet.py's layers)."""
    total = features * embed + embed + conv_channels * embed * kernel + conv_channels
    for i in range(layers):
        inputs = conv_channels if i == 0 else 2 * hidden
        total += 2 * (4 * hidden * (inputs + hidden) + 8 * hidden)
    return total + 2 * hidden + 1




def teacher_targets(teachers, proteins: list[Protein]) -> list[np.ndarray | None]:
    """Each protein's soft target: the probabilities for its id of the teacher of its label
    style, else of a teacher of another style that has its id (a protein of a PDB-style file
    whose every residue is assessed reads as NOX-style); None where no teacher has one of its
    length."""
    tables: dict[str, dict[str, np.ndarray]] = {}
    for entry in teachers:
        style, _, path = entry.partition("=")
        tables.setdefault(style, {}).update(read_npz(Path(path).expanduser()))
    found = []
    for p in proteins:
        order = [label_style(p)] + [s for s in tables if s != label_style(p)]
        target = next((tables[s][p.id] for s in order if p.id in tables.get(s, {})), None)
        found.append(target if target is not None and len(target) == len(p) else None)
    if teachers:
        print(f"teachers: soft targets for {sum(t is not None for t in found):,} of "
              f"{len(proteins):,} training proteins", flush=True)
    return found


def collate(proteins: list[Protein], rows: list[np.ndarray], soft: list) -> dict:
    """A padded batch of features, labels and masks, and soft targets with their mask."""
    import torch

    from idr_kit.nn.seqnet import collate as labelled
    batch = labelled(rows, [p.labels for p in proteins], [p.mask for p in proteins])
    width = batch["x"].shape[1]
    targets = np.zeros((len(rows), width), np.float32)
    mask = np.zeros((len(rows), width), bool)
    for b, target in enumerate(soft):
        if target is not None:
            targets[b, :len(target)], mask[b, :len(target)] = target, True
    batch.update(soft=torch.from_numpy(targets), soft_mask=torch.from_numpy(mask))
    return batch


def masked_soft_bce(logits, targets, mask):
    """Mean BCE of logits (B, T) against soft targets in [0, 1] where ``mask`` is True."""
    from idr_kit.nn.head import masked_bce
    return masked_bce(logits, targets, mask)
