"""A ready predictor: a saved model (the kit's shipped one by default) turned into disorder
profiles, calls and regions, from Python.

    import idr_kit
    model = idr_kit.load()                      # the shipped model; or idr_kit.load("runs/x/model")
    probs = model.predict(["MKV...", "MSE..."])  # one (L,) float32 array per sequence
    spans = model.regions("MKV...")             # [[(start, end), ...]]: 0-based, end excluded
    for hit in model.predict_fasta("proteome.fasta"):   # any size, a chunk at a time
        print(hit.id, hit.regions)

    idr_kit.predict_disorder("MKV...")          # one array
    idr_kit.predict_idrs("MKV...")              # [(start, end), ...], 0-based, end excluded

Probabilities are the model's after its decision's smoothing; calls are the decision's (its
threshold, fitted out of fold, and minimum IDR length); regions are the runs of calls. A model
that learnt both label styles (the shipped one) predicts in either: ``style="pdb"`` (CAID's,
the default) or ``"nox"`` (the competition's), each with its own decision.
"""
from __future__ import annotations

import concurrent.futures as futures
import multiprocessing
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np

from idr_kit.data.errors import SettingError
from idr_kit.data.fasta import iter_fasta
from idr_kit.data.load import FASTA_SUFFIXES, read_proteins
from idr_kit.data.records import Protein, make_protein
from idr_kit.postprocess import Decision, check_threshold, runs
from idr_kit.runtime import Runtime
from idr_kit.saved import load_model
from idr_kit.stream import CHUNK_RESIDUES, IN_FLIGHT, Chunking, available_cores

SHIPPED = Path(__file__).resolve().parent / "models" / "predictor"


@dataclass(frozen=True)
class Prediction:
    id: str
    sequence: str
    probs: np.ndarray  # (L,) float32 in [0, 1]
    calls: np.ndarray  # (L,) uint8, 1 disordered
    regions: list[tuple[int, int]]  # disordered runs, 0-based, end excluded

    @property
    def fraction_disordered(self) -> float:
        return float(self.calls.mean()) if len(self.calls) else 0.0


class Predictor:
    """A loaded model in one label style, with that style's decision."""

    def __init__(self, track, decisions: dict[str, Decision], style: str, source: str):
        if style not in decisions:
            raise SettingError(f"{source} predicts in the style(s) {', '.join(decisions)}, "
                               f"not {style!r}")
        self.track = track.with_style(style) if hasattr(track, "with_style") else track
        self.decisions, self.style, self.source = decisions, style, source
        self.decision = decisions[style]

    @property
    def styles(self) -> tuple[str, ...]:
        return tuple(self.decisions)

    @property
    def threshold(self) -> float:
        return self.decision.threshold

    def with_style(self, style: str) -> "Predictor":
        return Predictor(self.track, self.decisions, style, self.source)

    def predict(self, seqs: str | Iterable[str]) -> list[np.ndarray]:
        """One (L,) float32 array of P(disordered) per sequence (a string is one sequence)."""
        return [hit.probs for hit in self.predict_proteins(as_proteins(seqs))]

    def regions(self, seqs: str | Iterable[str]) -> list[list[tuple[int, int]]]:
        """Each sequence's disordered regions, 0-based, end excluded."""
        return [hit.regions for hit in self.predict_proteins(as_proteins(seqs))]

    def predict_proteins(self, proteins: Sequence[Protein]) -> list[Prediction]:
        proteins = list(proteins)
        probs = self.decision.probs(self.track.predict_proba(proteins)) if proteins else []
        calls = self.decision.calls(probs)
        return [Prediction(p.id, p.seq, pr.astype(np.float32), c.astype(np.uint8),
                           regions_of(c)) for p, pr, c in zip(proteins, probs, calls)]

    def predict_fasta(self, path: str | Path, workers: int = 1, chunk_residues: int = 0
                      ) -> Iterator[Prediction]:
        """Every protein of a file (FASTA, or ``-`` for stdin), in file order, a chunk at a
        time: memory follows the chunk, not the file. Other formats the kit reads (.pkl,
        .json) are read whole. ``workers`` > 1 (0: one per core) predicts chunks in that many
        processes, each loading the model, the predictions the same and in the same order."""
        workers = workers or available_cores()
        chunks = read_chunks(path, chunk_residues or CHUNK_RESIDUES)
        if workers <= 1 or not self.track.predicts_in_workers:
            for chunk in chunks:
                yield from self.predict_proteins(chunk)
            return
        yield from self._in_workers(chunks, workers)

    def _in_workers(self, chunks: Iterator[list[Protein]], workers: int) -> Iterator[Prediction]:
        task = (self.source, self.style, self.decision.to_dict(),
                max(1, available_cores() // workers))
        pool = futures.ProcessPoolExecutor(workers,
                                           mp_context=multiprocessing.get_context("spawn"))
        pending: deque = deque()
        try:
            for chunk in chunks:
                pending.append(pool.submit(_predict_in_worker, *task, chunk))
                if len(pending) >= IN_FLIGHT * workers:
                    yield from pending.popleft().result()
            while pending:
                yield from pending.popleft().result()
        finally:
            pool.shutdown(wait=False, cancel_futures=True)


_WORKER: dict = {}  # a worker process's predictor, loaded once


def _predict_in_worker(source: str, style: str, decision: dict, threads: int,
                       chunk: list[Protein]) -> list[Prediction]:
    key = (source, style, threads)
    if key not in _WORKER:
        _WORKER.clear()
        saved = load_model(Path(source), Runtime(threads=threads, downloads=False))
        _WORKER[key] = saved.track
    predictor = Predictor(_WORKER[key], {style: Decision.from_dict(decision)}, style, source)
    return predictor.predict_proteins(chunk)


def read_chunks(path: str | Path, residues: int) -> Iterator[list[Protein]]:
    if str(path) == "-" or Path(path).suffix.lower() in FASTA_SUFFIXES:
        yield from iter_fasta(path, chunk_residues=residues)
    else:
        yield read_proteins(path)


def as_proteins(seqs: str | Iterable[str]) -> list[Protein]:
    """Sequences as records named seq1, seq2 ... (an error names the sequence and position)."""
    if isinstance(seqs, str):
        seqs = [seqs]
    return [make_protein(f"seq{i}", seq) for i, seq in enumerate(seqs, 1)]


def regions_of(calls: np.ndarray) -> list[tuple[int, int]]:
    starts, ends = runs(calls)
    return [(int(a), int(b)) for a, b in zip(starts, ends)]


def load(path: str | Path | None = None, *, style: str | None = None,
         threshold: float | None = None, runtime: Runtime | None = None) -> Predictor:
    """The shipped model (``path`` None) or any model the kit saved, ready to predict."""
    where = Path(path) if path is not None else SHIPPED
    if path is None and not (where / "track.json").is_file():
        raise SettingError(f"no model ships in this install ({where}); pass a saved model's "
                           "folder (runs/NAME/model)")
    saved = load_model(where, runtime or Runtime(downloads=False))
    decisions = model_decisions(saved)
    if threshold is not None:
        decisions = {k: d.with_threshold(check_threshold(threshold), "threshold")
                     for k, d in decisions.items()}
    chosen = style or saved.meta.get("default_style") or next(iter(decisions))
    return Predictor(saved.track, decisions, chosen, str(where))


def model_decisions(saved) -> dict[str, Decision]:
    """A decision per label style the model predicts in: the record's ``decisions`` (the
    shipped model has one fitted out of fold for each style), else its one decision, under
    the style it predicts in."""
    recorded = saved.meta.get("decisions")
    if isinstance(recorded, dict) and recorded:
        return {style: Decision.from_dict(d) for style, d in recorded.items()}
    style = (getattr(saved.track, "style_", None) or getattr(saved.track.config, "style", "")
             or "default")
    return {style: saved.decision}


def predict_file(test: str | Path, out: str | Path, model: str | Path | None = None, *,
                 workers: int = 0, shard: tuple[int, int] = (1, 1), chunk_residues: int = 0,
                 executor=None, overwrite: bool = False) -> dict:
    """``submit.py --model MODEL --test TEST --out OUT`` from Python: the shipped model (or the
    model saved in ``model``) predicts a file of any size into an output folder a chunk at a
    time, resumable, on ``workers`` processes (0: one per core) or on ``executor`` (a
    ``dask.distributed.Client``: each chunk a task); ``shard=(I, N)`` predicts the I-th of N
    parts (merge.py joins them). Returns the run's record (config.json)."""
    from idr_kit.pipeline import RunSpec, run
    where = Path(model) if model is not None else SHIPPED
    chunking = Chunking(chunk_residues or CHUNK_RESIDUES, workers, tuple(shard))
    spec = RunSpec(out=Path(out), test=Path(test), model=where, chunking=chunking,
                   runtime=Runtime(downloads=False), overwrite=overwrite,
                   command=("idr_kit.predict_file", str(test), str(out), str(where)))
    return run(spec, executor=executor)

