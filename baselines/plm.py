"""Protein-language-model embeddings as LightGBM features: ESMDisPred's recipe (a frozen
backbone's last layer per residue, with window statistics) as an option of the lgbm track.

    plm = PlmFeatures.build(config, runtime)   # loads the backbone (torch)
    plm.fit(proteins)                          # embeds them; fits the reduction
    plm.prepare(proteins)                      # embeds many at once, ahead of plm(protein)
    plm(protein) -> (L, len(widths) * dims) float32

Any backbone the shared torch layer loads works (nn.backbones.load_backbone): ``antiberty``
(inside its wheel, offline), a fair-esm ESM-2 name (``esm2_t33_650M_UR50D``, ESMDisPred's) or
a transformers directory. A protein longer than the backbone sees is cut into windows
(nn.pieces, with the frozen token track's default overlap) whose overlaps are averaged. Each residue's vector is centred and projected
on ``dims`` principal components of the training residues, then averaged over centred windows
of each width (1: the residue's own). Embeddings are computed once per window sequence and
kept (nn.cache: in memory, and on disk under the runtime's cache_dir, shared with the frozen
token track of the same backbone).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from idr_kit.data.errors import SettingError
from idr_kit.data.records import Protein
from idr_kit.data.window_means import centred_mean
from idr_kit.nn.align import residue_slice
from idr_kit.nn.backbones import load_backbone, load_encoder
from idr_kit.nn.cache import EmbeddingCache, backbone_key, embed
from idr_kit.nn.config import LoopConfig
from idr_kit.nn.device import compute_dtype, start
from idr_kit.nn.pieces import cut
from idr_kit.nn.windows import OVERLAP  # the token tracks' default: the two share cached windows

BUDGET = LoopConfig.token_budget  # tokens per embedding batch
SAMPLE = 50_000  # training residues the principal components are fitted on


class PlmFeatures:
    def __init__(self, encoder, dims: int, widths: Sequence[int], seed: int, runtime, device):
        self.encoder, self.dims, self.widths = encoder, dims, tuple(widths)
        self.seed, self.runtime, self.device = seed, runtime, device
        self.mean: np.ndarray | None = None  # (E,) float32, set by fit or from a saved state
        self.components: np.ndarray | None = None  # (E, dims) float32; None keeps all E

    @classmethod
    def build(cls, config, runtime, source: dict | None = None) -> "PlmFeatures":
        """The backbone ``config.embeddings`` names (or a saved model's ``source``), ready."""
        device, _ = start(runtime)
        if source is None:
            encoder = load_backbone(config.embeddings, config.embedding_weights,
                                    offline=runtime.offline)
        else:
            encoder = load_encoder(source, offline=runtime.offline)
        return cls(encoder.to(device).eval(), config.embedding_dims, config.embedding_widths,
                   config.seed, runtime, device)

    @property
    def source(self) -> dict:
        return self.encoder.source

    def width(self) -> int:
        """Feature columns per residue."""
        return len(self.widths) * (self.dims or self.encoder.embed_dim)

    # -- embeddings -----------------------------------------------------------------------
    def _cache(self) -> EmbeddingCache:
        computed = f"{self.device.type}-{compute_dtype(self.device, self.runtime.precision)}"
        key = backbone_key(self.encoder.source, self.seed, computed)
        return EmbeddingCache(key, self.runtime.cache_dir or None, self.runtime.cache_gb)

    def _hidden(self, proteins: Sequence[Protein]) -> tuple[list, list[np.ndarray]]:
        """The proteins' windows and each window's hidden states (cached)."""
        pieces = cut(proteins, self.encoder.max_residues, OVERLAP)
        hidden = embed(self.encoder, pieces, self._cache(), budget=BUDGET, device=self.device,
                       precision=self.runtime.precision)
        return pieces, hidden

    def embeddings(self, proteins: Sequence[Protein]) -> list[np.ndarray]:
        """Each protein's (L, E) float32 last-layer vectors, windows' overlaps averaged."""
        pieces, hidden = self._hidden(proteins)
        own: list[list[int]] = [[] for _ in proteins]
        for k, piece in enumerate(pieces):
            own[piece.protein].append(k)
        out = []
        for p, mine in zip(proteins, own):  # one protein's float64 sums at a time
            sums, counts = np.zeros((len(p), self.encoder.embed_dim)), np.zeros((len(p), 1))
            for k in mine:
                piece = pieces[k]
                sums[piece.start:piece.end] += residue_slice(hidden[k], len(piece))
                counts[piece.start:piece.end] += 1
            out.append((sums / counts).astype(np.float32))
        return out

    def prepare(self, proteins: Sequence[Protein]) -> None:
        """Embeds ``proteins`` in batches, so that calls for each one find them cached."""
        self._hidden(proteins)

    # -- the reduction --------------------------------------------------------------------
    def fit(self, proteins: Sequence[Protein]) -> "PlmFeatures":
        """Embeds the training proteins and fits the principal components on a sample of
        their residues (the same sample for the same seed). Only the sample is held: every
        residue's vector at once would be gigabytes (1.7 M x 512 float32: 3.4 GB)."""
        self.prepare(proteins)
        total = sum(len(p) for p in proteins)
        rng = np.random.default_rng(self.seed)
        picked = np.sort(rng.choice(total, SAMPLE, replace=False)) if total > SAMPLE else None
        rows, start = [], 0
        for p in proteins:
            vectors = self.embeddings([p])[0]
            if picked is None:
                rows.append(vectors)
            else:
                lo, hi = np.searchsorted(picked, [start, start + len(p)])
                rows.append(vectors[picked[lo:hi] - start])
            start += len(p)
        vectors = np.concatenate(rows)  # (min(N, SAMPLE), E)
        self.mean = vectors.mean(axis=0).astype(np.float32)
        if self.dims:
            if self.dims > min(vectors.shape):
                raise SettingError(f"embedding_dims={self.dims} exceeds what {len(vectors)} "
                                 f"training residues of {vectors.shape[1]} dims can give")
            _, _, vt = np.linalg.svd(vectors - self.mean, full_matrices=False)
            self.components = vt[:self.dims].T.astype(np.float32)  # (E, dims)
        return self

    def __call__(self, protein: Protein) -> np.ndarray:
        """(L, width) float32: the reduced vectors' means over each window width."""
        vectors = self.embeddings([protein])[0] - self.mean
        if self.components is not None:
            vectors = vectors @ self.components
        return np.concatenate([centred_mean(vectors, w) for w in self.widths], axis=1)

    def state(self) -> dict[str, np.ndarray]:
        state = {"mean": self.mean}
        if self.components is not None:
            state["components"] = self.components
        return state

    def state_shapes(self) -> dict[str, tuple]:
        """The shapes a saved ``state()`` must have for this backbone and these settings."""
        width = self.encoder.embed_dim
        return {"mean": (width,), **({"components": (width, self.dims)} if self.dims else {})}

    def load_state(self, state: dict[str, np.ndarray]) -> "PlmFeatures":
        self.mean = state["mean"]
        self.components = state.get("components")
        return self
