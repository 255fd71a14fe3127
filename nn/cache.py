"""Frozen-backbone embeddings, computed once per piece and reused by every epoch, fold and rerun.

With the backbone frozen, a piece's hidden states never change, so the expensive forward pass
runs once: epochs train only the head on stored arrays, the out-of-fold folds of one run share
them (one process, one memory cache), and with a ``directory`` a rerun finds them on disk.

Arrays are (n + 2, E) float16, the start and end tokens included: half the memory of float32,
and the head sees the same values at training and prediction time. Keys are the backbone's
identity (``key``) and the piece's sequence, so identical windows are embedded once.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from idr_kit.data.atomic import atomic_write
from idr_kit.data.digests import SHORT, text_sha256
from idr_kit.data.progress import progress
from idr_kit.nn.align import framed
from idr_kit.nn.batching import token_budget_batches
from idr_kit.nn.device import autocast
from idr_kit.nn.pieces import Piece, token_batch

# Shared by every cache object in this process, so folds trained one after another reuse it.
_MEMORY: dict[tuple[str, str], np.ndarray] = {}
_MEMORY_BYTES = [0]  # running total of _MEMORY's arrays


class EmbeddingCache:
    def __init__(self, key: str, directory: str | Path | None = None, max_gb: float = 8.0):
        self.key = key
        self.directory = Path(directory) / key if directory else None
        self.max_bytes = int(max_gb * 2 ** 30)

    def _path(self, seq: str) -> Path:
        name = text_sha256(seq)
        return self.directory / name[:2] / f"{name}.npy"

    def get(self, seq: str) -> np.ndarray | None:
        found = _MEMORY.get((self.key, seq))
        if found is None and self.directory is not None and self._path(seq).is_file():
            found = np.load(self._path(seq))
            self._remember(seq, found)
        return found

    def put(self, seq: str, hidden: np.ndarray) -> np.ndarray:
        """Stores ``hidden`` as float16 (memory while under ``max_gb``, disk if a directory)."""
        hidden = hidden.astype(np.float16)
        self._remember(seq, hidden)
        if self.directory is not None:
            with atomic_write(self._path(seq), "wb") as handle:
                np.save(handle, hidden)
        return hidden

    def _remember(self, seq: str, hidden: np.ndarray) -> None:
        if (self.key, seq) not in _MEMORY and _MEMORY_BYTES[0] + hidden.nbytes <= self.max_bytes:
            _MEMORY[(self.key, seq)] = hidden
            _MEMORY_BYTES[0] += hidden.nbytes


def backbone_key(source: dict, seed: int, computed: str) -> str:
    """Names a frozen backbone's embeddings: where its weights came from (random ones: the seed
    too) and how they were computed (``"cuda-bf16"``, ``"cpu-fp32"``): bf16 embeddings from a
    GPU are not what an fp32 CPU run would compute, so neither reuses the other's."""
    text = (repr(sorted(source.items())) + (f"seed={seed}" if source.get("from_scratch") else "")
            + f"computed={computed}")
    return text_sha256(text)[:SHORT]


@torch.no_grad()
def embed(encoder, pieces: Sequence[Piece], cache: EmbeddingCache, *, budget: int,
          device: torch.device, precision: str) -> list[np.ndarray]:
    """Each piece's hidden states (n + 2, E), from the cache or from one forward pass."""
    found = {p.seq: cache.get(p.seq) for p in pieces}
    todo_pieces = list({p.seq: p for p in pieces if found[p.seq] is None}.values())  # distinct
    encoder.eval()
    batches = token_budget_batches([len(p) for p in todo_pieces], budget)
    with progress(total=sum(len(p) for p in todo_pieces), desc="embedding", unit="residue",
                  unit_scale=True) as bar:
        for index in batches:
            chunk = [todo_pieces[i] for i in index]
            batch = token_batch(chunk, encoder.vocab)
            with autocast(device, precision):
                hidden = encoder(batch["tokens"].to(device), batch["attention"].to(device))
            hidden = hidden.float().cpu().numpy()  # (B, T, E)
            for row, piece in enumerate(chunk):
                found[piece.seq] = cache.put(piece.seq, framed(hidden[row], len(piece)))
            bar.update(sum(len(p) for p in chunk))
    return [found[p.seq] for p in pieces]
