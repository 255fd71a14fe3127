"""A test file of any size predicted a chunk at a time: bounded memory, every core, resumable,
and in shards across machines.

    counts = scan(test, chunking)                  # the whole file checked, nothing kept
    parts = Parts(out / PARTS, plan_of(test_digest, model_digest(model), decision, chunking))
    follower = Follower(parts, lambda parts_of: write_set(out, test, chunking, parts_of, ...))
    record = predict_parts(parts, test, chunking, ChunkPredictor(...), counts, members, follower)
    written = follower.finish()                    # the output set, written while predicting

The input is cut into chunks by one rule (data/fasta.py's ``in_chunks``), so chunk k holds the
same proteins whatever the workers or the shards. Each chunk's probabilities (after the
decision's smoothing) are saved in OUT/parts/ the moment they are predicted, by this process,
by worker processes or by a Dask cluster; a killed run finds them and predicts only the rest.
The output set is written in one ordered pass over the input and the parts (by a thread that
follows the workers), so it is byte for byte the same whatever order the chunks finished in or
how many workers there were. A shard
(``Chunking.shard = (I, N)``) predicts the chunks k with k % N == I - 1 and keeps its parts;
merge.py writes, from the parts of all N shards, the output set that one run writes.
"""
from __future__ import annotations

import concurrent.futures as futures
import dataclasses
import json
import multiprocessing
import os
import shutil
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np

from idr_kit.data.atomic import write_json
from idr_kit.data.digests import file_sha256
from idr_kit.data.errors import FileRefused, InputError, SettingError
from idr_kit.data.load import iter_proteins
from idr_kit.data.outset import OutputSet
from idr_kit.data.probs import read_npz_for, write_npz
from idr_kit.data.records import Protein
from idr_kit.postprocess import Decision
from idr_kit.runtime import Runtime
from idr_kit.saved import TRACK_FILE, load_model

PARTS = "parts"  # OUT/parts/: the predicted chunks, NNNNNN.npz (+ NNNNNN.NAME.npz per member)
PLAN = "plan.json"  # what the parts were predicted with: parts of another plan are not reused
CHUNK_RESIDUES = 1 << 18  # about 500 proteins: valid.fasta is one chunk, a proteome about 45
MAX_CHUNK_RESIDUES = 1 << 26
IN_FLIGHT = 2  # chunks handed to each worker ahead: bounded memory, no idle worker
# Fewer chunks than this per worker are predicted here, with every thread: a worker takes
# about 2 s to start (Python, the libraries, the model), more than it saves on a small file
# (bench/bench_scale.py: 1,000 proteins, 2 chunks, 5.1 s with 2 workers, 7.7 s for lgbm).
MIN_CHUNKS_PER_WORKER = 4


def available_cores() -> int:
    """The cores this process may use (a job scheduler's share, not the machine's count)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@dataclass(frozen=True)
class Chunking:
    residues: int = CHUNK_RESIDUES
    workers: int = 0  # processes predicting chunks; 0: one per core (one for a single chunk)
    shard: tuple[int, int] = (1, 1)  # (I, N): the I-th of N parts of the input, 1-based

    def __post_init__(self):
        if not 1 <= self.residues <= MAX_CHUNK_RESIDUES:
            raise SettingError(f"--chunk-residues must be 1 to {MAX_CHUNK_RESIDUES:,}, got "
                               f"{self.residues}")
        if not 0 <= self.workers <= 1024:
            raise SettingError(f"--workers must be 0 (one per core) to 1024, got {self.workers}")
        index, count = self.shard
        if not 1 <= index <= count <= 1_000_000:
            raise SettingError(f"--shard I/N needs 1 <= I <= N, got {index}/{count}")

    @property
    def sharded(self) -> bool:
        return self.shard[1] > 1

    def mine(self, k: int) -> bool:
        return k % self.shard[1] == self.shard[0] - 1

    def record(self) -> dict:
        """What decides the outputs (the workers do not)."""
        return {"residues": self.residues, "shard": list(self.shard)}


def parse_shard(text: str) -> tuple[int, int]:
    """``"2/8"`` -> (2, 8)."""
    index, _, count = text.partition("/")
    try:
        shard = (int(index), int(count))
    except ValueError:
        raise SettingError(f"--shard takes I/N (say 2/8), got {text!r}") from None
    Chunking(shard=shard)
    return shard


@dataclass
class Counts:
    """What ``scan`` found: the file's proteins, residues and chunks, and this shard's."""
    proteins: int = 0
    residues: int = 0
    chunks: int = 0
    labelled: int = 0
    mine: list[int] = field(default_factory=list)  # this shard's chunks
    mine_proteins: int = 0
    mine_residues: int = 0


def scan(test: Path, chunking: Chunking) -> Counts:
    """Read the whole file once, checking every protein (a bad one fails before any work),
    keeping only counts."""
    counts = Counts()
    for k, chunk in enumerate(iter_proteins(test, chunking.residues)):
        size = sum(len(p) for p in chunk)
        counts.proteins += len(chunk)
        counts.residues += size
        counts.labelled += sum(p.has_labels for p in chunk)
        counts.chunks += 1
        if chunking.mine(k):
            counts.mine.append(k)
            counts.mine_proteins += len(chunk)
            counts.mine_residues += size
    if not counts.proteins:
        raise InputError("no proteins to predict", source=str(test))
    return counts


def mine(test: Path, chunking: Chunking) -> Iterator[tuple[int, list[Protein]]]:
    for k, chunk in enumerate(iter_proteins(test, chunking.residues)):
        if chunking.mine(k):
            yield k, chunk


# ---- the parts --------------------------------------------------------------------------------

class Parts:
    """A folder of predicted chunks, and the plan they were predicted with."""

    def __init__(self, folder: Path, plan: dict):
        self.folder, self.plan = Path(folder), plan

    def open(self) -> int:
        """Keep parts of the same plan (a resumed run), remove any others; the chunks kept."""
        try:
            same = json.loads((self.folder / PLAN).read_text()) == self.plan
        except (OSError, ValueError):
            same = False
        if not same and self.folder.exists():
            shutil.rmtree(self.folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        write_json(self.folder / PLAN, self.plan)
        return len(list(self.folder.glob("[0-9]*[0-9].npz")))

    def path(self, k: int, member: str = "") -> Path:
        return self.folder / (f"{k:06d}.{member}.npz" if member else f"{k:06d}.npz")

    def save(self, k: int, chunk: Sequence[Protein], probs, member_probs: dict) -> None:
        """Members first: the chunk's own file, written last, says the part is whole."""
        ids = [p.id for p in chunk]
        for name, values in member_probs.items():
            write_npz(self.path(k, name), dict(zip(ids, values)))
        write_npz(self.path(k), dict(zip(ids, probs)))

    def done(self, k: int, chunk: Sequence[Protein], members: Sequence[str]) -> bool:
        try:
            self.load(k, chunk, members)
        except InputError:
            return False
        return True

    def load(self, k: int, chunk: Sequence[Protein], members: Sequence[str]
             ) -> tuple[list[np.ndarray], dict[str, list[np.ndarray]]]:
        """The chunk's arrays, checked to be the chunk's proteins, in order, of their lengths."""
        return (self._arrays(self.path(k), chunk),
                {name: self._arrays(self.path(k, name), chunk) for name in members})

    def _arrays(self, path: Path, chunk: Sequence[Protein]) -> list[np.ndarray]:
        if not path.is_file() or path.is_symlink():
            raise InputError("missing: that chunk was not predicted", source=str(path))
        # Each array's header is read first: a planted part cannot ask for gigabytes.
        arrays, unreadable, unread = read_npz_for(path, {p.id: len(p) for p in chunk})
        if unreadable or unread or list(arrays) != [p.id for p in chunk] or any(
                len(arrays[p.id]) != len(p) for p in chunk):
            raise InputError("holds other proteins than its chunk of the input (another input "
                             "file, or another --chunk-residues)", source=str(path))
        return [arrays[p.id] for p in chunk]


def plan_of(test_digest: str, model_digest: str, decision: Decision, chunking: Chunking) -> dict:
    return {"test_sha256_16": test_digest, "model_sha256": model_digest,
            "decision": decision.to_dict(), "chunking": chunking.record()}


# ---- predicting -------------------------------------------------------------------------------

_LOADED: dict = {}  # a worker's model, loaded once per process


def predict_chunk(model_dir: str, runtime: Runtime, decision: dict, proteins: list[Protein]
                  ) -> tuple[list[np.ndarray], dict[str, list[np.ndarray]]]:
    """One chunk in a worker process (of a pool, or of a Dask cluster): the probabilities
    after the decision's smoothing, and each member's."""
    key = (model_dir, runtime)
    if key not in _LOADED:
        _LOADED.clear()
        _LOADED[key] = load_model(Path(model_dir), runtime).track
    probs, members = _LOADED[key].predict_with_members(proteins)
    return Decision.from_dict(decision).probs(probs), members


@dataclass
class ChunkPredictor:
    """Predicts chunks here (``track``), or in worker processes that load ``model_dir``: a pool
    of ``workers`` (each held to its share of the cores), or any executor with
    ``submit(fn, *args)`` returning futures (a ``dask.distributed.Client``)."""
    track: object
    decision: Decision
    model_dir: Path | None = None
    runtime: Runtime = Runtime()
    workers: int = 1
    executor: object = None

    def here(self, chunk: list[Protein]):
        probs, members = self.track.predict_with_members(chunk)
        return self.decision.probs(probs), members


def predict_parts(parts: Parts, test: Path, chunking: Chunking, predictor: ChunkPredictor,
                  counts: Counts, members: Sequence[str], follower: "Follower | None" = None
                  ) -> dict:
    """Predict every chunk of this shard that ``parts`` lacks; what was done, for the record.
    With worker processes, ``follower`` writes the output set meanwhile, chunk by chunk."""
    kept = parts.open()
    tally = Tally(counts)
    pool = _pool(predictor, len(counts.mine))
    workers = (1 if pool is None else "dask" if pool is predictor.executor
               else predictor.workers)
    if kept:
        what = (f"shard {chunking.shard[0]}/{chunking.shard[1]}" if chunking.sharded
                else "the test file")
        print(f"already done: all {kept} chunks of {what} were predicted in {parts.folder}"
              if kept >= len(counts.mine) else
              f"resuming: {kept} of {len(counts.mine)} chunks already predicted in "
              f"{parts.folder}", file=sys.stderr, flush=True)
    try:
        if pool is None:
            for k, chunk in mine(test, chunking):
                if tally.found(parts.done(k, chunk, members), chunk):
                    continue
                parts.save(k, chunk, *predictor.here(chunk))
                tally.finished(chunk)
        else:
            if follower is not None:
                follower.start()
                tally.on_saved = follower.saved
            _predict_in(pool, parts, test, chunking, predictor, tally, members)
    finally:
        if pool is not None and pool is not predictor.executor:
            pool.shutdown(wait=False, cancel_futures=True)
    return {"chunks": len(counts.mine), "found_done": tally.skipped,
            "predicted": tally.chunks, "workers": workers,
            "seconds": round(time.perf_counter() - tally.start, 2)}


def _pool(predictor: ChunkPredictor, chunks: int):
    if predictor.executor is not None:
        return predictor.executor
    if (predictor.workers <= 1 or chunks < MIN_CHUNKS_PER_WORKER * predictor.workers
            or predictor.model_dir is None):
        return None
    # spawn, not fork: a parent that trained with OpenMP (LightGBM) or torch threads cannot be
    # forked safely; each worker starts clean and loads the saved model once.
    return futures.ProcessPoolExecutor(predictor.workers,
                                       mp_context=multiprocessing.get_context("spawn"))


def _predict_in(pool, parts, test, chunking, predictor, tally, members) -> None:
    pending: dict = {}
    ahead = IN_FLIGHT * _capacity(pool, predictor.workers)
    decision = predictor.decision.to_dict()
    for k, chunk in mine(test, chunking):
        if tally.found(parts.done(k, chunk, members), chunk):
            continue
        while len(pending) >= ahead:
            _collect(_first_done(pending), pending, parts, tally)
        future = pool.submit(predict_chunk, str(predictor.model_dir), predictor.runtime,
                             decision, chunk)
        pending[future] = (k, chunk)
    while pending:
        _collect(_first_done(pending), pending, parts, tally)


def _capacity(pool, workers: int) -> int:
    """Chunks the pool predicts at once: its workers (a Dask cluster's, when it is one)."""
    info = getattr(pool, "scheduler_info", None)
    if callable(info):
        return max(1, sum(w.get("nthreads", 1) for w in info().get("workers", {}).values()))
    return max(1, workers)


def _first_done(pending: dict):
    """The finished futures, once at least one is: a pool's, or a Dask cluster's."""
    if isinstance(next(iter(pending)), futures.Future):
        return futures.wait(pending, return_when=futures.FIRST_COMPLETED).done
    from distributed import wait  # a dask.distributed future: the dask extra is installed
    return wait(list(pending), return_when="FIRST_COMPLETED").done


def _collect(finished, pending: dict, parts: Parts, tally: "Tally") -> None:
    for future in finished:
        k, chunk = pending.pop(future)
        parts.save(k, chunk, *future.result())
        tally.finished(chunk)


class Tally:
    """Progress of the prediction: chunks, proteins, residues per second, time left."""

    def __init__(self, counts: Counts):
        self.counts, self.start = counts, time.perf_counter()
        self.chunks = self.skipped = self.proteins = self.residues = 0
        self.left_residues = counts.mine_residues
        self.last = 0.0
        self.on_saved: Callable[[], None] = lambda: None

    def found(self, done: bool, chunk) -> bool:
        if done:
            self.skipped += 1
            self.left_residues -= sum(len(p) for p in chunk)
        return done

    def finished(self, chunk) -> None:
        self.on_saved()
        self.chunks += 1
        self.proteins += len(chunk)
        size = sum(len(p) for p in chunk)
        self.residues += size
        self.left_residues -= size
        seconds = time.perf_counter() - self.start
        if seconds - self.last < 2 and self.left_residues > 0:
            return
        self.last = seconds
        speed = self.residues / max(seconds, 1e-9)
        left = self.left_residues / speed if speed else 0
        print(f"predicted {self.chunks + self.skipped}/{len(self.counts.mine)} chunks: "
              f"{self.proteins:,} proteins, {self.residues:,} residues in {seconds:.0f} s "
              f"({self.proteins / max(seconds, 1e-9):,.0f} proteins/s, {speed:,.0f} residues/s)"
              + (f", about {_duration(left)} left" if self.left_residues > 0 else ""),
              file=sys.stderr, flush=True)


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


# ---- writing ----------------------------------------------------------------------------------

class Follower:
    """The output set written while the chunks are predicted: ``write(parts_of)`` (a
    ``write_set``) runs in a thread of its own and takes chunk k as soon as its part is
    saved, so the writing (one process, in order) overlaps the workers' predicting. Without
    workers nothing overlaps: ``finish`` writes the set after the prediction."""

    def __init__(self, parts: Parts, write: Callable[[Callable[[int], "Follower"]], "Written"]):
        self.parts, self.write = parts, write
        self.condition = threading.Condition()
        self.over, self.result, self.error = False, None, None
        self.thread = threading.Thread(target=self._run, name="output-writer", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def _run(self) -> None:
        try:
            self.result = self.write(lambda k: self)
        except BaseException as err:  # noqa: BLE001 - handed to the main thread by finish()
            self.error = err

    def saved(self) -> None:
        with self.condition:
            self.condition.notify_all()

    def load(self, k: int, chunk: Sequence[Protein], members: Sequence[str]):
        """Chunk k's arrays, once its part is saved; an error once the prediction is over
        (or has failed) and the part is still not there."""
        with self.condition:
            while True:
                try:
                    return self.parts.load(k, chunk, members)
                except InputError:
                    if self.over:
                        raise
                    self.condition.wait(0.5)

    def finish(self) -> "Written":
        """After the prediction: the written set (the writer's error, if it had one)."""
        self._stop()
        if self.result is None and self.error is None:  # never started: no workers
            self._run()
        if self.error is not None:
            raise self.error
        return self.result

    def abort(self) -> None:
        """The prediction failed: the writer stops at the first chunk it lacks, and its files
        are removed (atomic writes)."""
        self._stop()

    def _stop(self) -> None:
        with self.condition:
            self.over = True
            self.condition.notify_all()
        if self.thread.is_alive():
            self.thread.join()


@dataclass
class Written:
    """What ``write_set`` kept besides the files: the labelled proteins (to score) and the
    first ``show`` proteins (to plot), with their probabilities, members' and calls."""
    count: int = 0
    labelled: list = field(default_factory=list)  # (protein, probs, calls, member probs)
    shown: list = field(default_factory=list)  # (protein, probs, member_probs)


def write_set(out: Path, test: Path, chunking: Chunking, parts_of: Callable[[int], Parts],
              decision: Decision, members: Sequence[str], show: int = 0) -> Written:
    """The output set, in input order, from the parts (``parts_of(k)`` holds chunk k)."""
    written = Written()
    every = dataclasses.replace(chunking, shard=(1, 1))
    with OutputSet(out, members) as outputs:
        for k, chunk in mine(test, every):
            probs, member_probs = parts_of(k).load(k, chunk, members)
            calls = decision.calls(probs)
            outputs.add(chunk, probs, calls, member_probs)
            for i, p in enumerate(chunk):
                members_i = {n: v[i] for n, v in member_probs.items()}
                if p.has_labels:
                    written.labelled.append((p, probs[i], calls[i], members_i))
                if len(written.shown) < show:
                    written.shown.append((p, probs[i], members_i))
        written.count = outputs.count
    return written


def model_digest(model_dir: Path) -> str:
    """The saved model's record (track.json lists every file's sha256): its digest."""
    path = Path(model_dir) / TRACK_FILE
    if not path.is_file():
        raise FileRefused(f"{model_dir}: no {TRACK_FILE}")
    return file_sha256(path)
