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
import os
import shutil
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np

from idr_kit.data.atomic import write_json
from idr_kit.data.compressed import decompressed
from idr_kit.data.cpus import cpu_budget
from idr_kit.data.digests import file_sha256
from idr_kit.data.errors import FileRefused, InputError, SettingError, UserError
from idr_kit.data.fasta import in_chunks, iter_fasta_text
from idr_kit.data.load import iter_proteins
from idr_kit.data.outset import OutputSet
from idr_kit.data.probs import read_npz_for, write_npz
from idr_kit.data.progress import progress_mode
from idr_kit.data.reading import read_json
from idr_kit.data.records import Protein
from idr_kit.model.decision import Decision
from idr_kit.model.runtime import Runtime
from idr_kit.model.saved import TRACK_FILE, load_model
from idr_kit.run.workers import worker_pool

PARTS = "parts"  # OUT/parts/: the predicted chunks, NNNNNN.npz (+ NNNNNN.NAME.npz per member)
PLAN = "plan.json"  # what the parts were predicted with: parts of another plan are not reused
CHUNK_RESIDUES = 1 << 18  # about 500 proteins: valid.fasta is one chunk, a proteome about 45
MAX_CHUNK_RESIDUES = 1 << 26
MAX_SHARDS = 1_000_000
IN_FLIGHT = 2  # chunks handed to each worker ahead: bounded memory, no idle worker
# Fewer chunks than this per worker are predicted here, with every thread: a worker takes
# about 2 s to start (Python, the libraries, the model), more than it saves on a small file
# (bench/bench_scale.py: 1,000 proteins, 2 chunks, 5.1 s with 2 workers, 7.7 s for lgbm).
MIN_CHUNKS_PER_WORKER = 4


def available_cores() -> int:
    """The cores this process may use (a job scheduler's share, a cgroup quota's,
    OMP_NUM_THREADS: data.cpus.cpu_budget), not the machine's count."""
    return cpu_budget()


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
        if not 1 <= index <= count <= MAX_SHARDS:
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
    # (name, proteins, labelled proteins) of each source, in order: what a run says it read
    sources: list[tuple[str, int, int]] = field(default_factory=list)


def scan(test: Path, chunking: Chunking) -> Counts:
    """``scan_sources`` of one file: its counts."""
    return scan_sources([Source(str(test), path=Path(test))], chunking)[0]


CHANGED = ("changed while it was being predicted (its sha256 is not the one read at the "
           "start); the outputs would mix two files, so none is written: predict it again")


def check_unchanged(path: Path, digest: str) -> None:
    """InputError unless the file's sha256 still starts with ``digest`` (read at the start):
    checked before the outputs are committed."""
    if file_sha256(path)[:len(digest)] != digest:
        raise InputError(CHANGED, source=str(path))


@dataclass
class Source:
    """One input of a prediction: a file (FASTA streamed, other formats read whole), stdin
    (spooled once into an anonymous temporary file, so that it can be checked whole before it
    is predicted), or sequences given in memory."""
    name: str
    path: Path | None = None
    proteins: tuple[Protein, ...] = ()
    spool: object = None  # stdin's bytes, in a file with no name

    @classmethod
    def of(cls, item: str | os.PathLike) -> "Source":
        if str(item) == "-":
            return cls("stdin", spool=_spooled_stdin())
        path = Path(item)
        if not path.is_file():
            raise InputError("file not found" if not path.exists() else "not a file",
                             source=str(path))
        return cls(str(path), path=path)

    def chunks(self, residues: int) -> Iterator[list[Protein]]:
        if self.path is not None:
            return iter_proteins(self.path, residues)
        if self.spool is not None:
            self.spool.seek(0)  # gzip, bzip2 or xz bytes are decompressed, streamed
            return iter_fasta_text(decompressed(self.spool, "stdin"), "stdin",
                                   chunk_residues=residues)
        return in_chunks(list(self.proteins), residues)

    def digest(self) -> str:
        """The file's sha256 ("" for what the kit holds itself: stdin, sequences)."""
        return file_sha256(self.path) if self.path is not None else ""


def _spooled_stdin():
    import tempfile
    spool = tempfile.TemporaryFile()  # no name on Linux (O_TMPFILE): nothing left behind
    shutil.copyfileobj(sys.stdin.buffer, spool)
    return spool


def scan_sources(sources: Sequence["Source"], chunking: Chunking) -> tuple[Counts, list[str]]:
    """Every protein of every source read once and checked, keeping only counts (a bad
    protein, or an id given twice in one source or across them, fails before any work), and
    each file's digest (read first, so a change during the run shows in ``check_unchanged``).
    The one scan of every door: the API, idr-predict, submit.py --model, merge.py."""
    digests = [source.digest() for source in sources]
    counts, seen = Counts(), set()
    for source in sources:
        before = (counts.proteins, counts.labelled)
        for chunk in source.chunks(chunking.residues):
            for p in chunk:
                if p.id in seen:
                    raise InputError("given twice (in one file or in two)", source=source.name,
                                     protein=p.id)
                seen.add(p.id)
            _count(counts, chunk, chunking.mine(counts.chunks))
        counts.sources.append((source.name, counts.proteins - before[0],
                               counts.labelled - before[1]))
    if not counts.proteins:
        raise InputError("no proteins to predict", source=", ".join(s.name for s in sources))
    return counts, digests


def _count(counts: Counts, chunk: list[Protein], mine: bool) -> None:
    size = sum(len(p) for p in chunk)
    counts.proteins += len(chunk)
    counts.residues += size
    counts.labelled += sum(p.has_labels for p in chunk)
    if mine:
        counts.mine.append(counts.chunks)
        counts.mine_proteins += len(chunk)
        counts.mine_residues += size
    counts.chunks += 1


def sources_unchanged(sources: Sequence[Source], digests: Sequence[str]) -> None:
    for source, digest in zip(sources, digests):
        if digest:
            check_unchanged(source.path, digest)


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
            same = read_json(self.folder / PLAN, links=False) == self.plan
        except UserError:  # missing, damaged or planted: parts of no known plan
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


def predict_chunk(model_dir: str, model_sha256: str, runtime: Runtime, style: str,
                  decision: dict, proteins: list[Protein]
                  ) -> tuple[list[np.ndarray], dict[str, list[np.ndarray]]]:
    """One chunk in a worker process (of a pool, or of a Dask cluster): the probabilities
    after the decision's smoothing, and each member's. The model is the one the parent
    checked: its track.json must still have ``model_sha256`` and every file the digest that
    record lists (saved.py), else FileRefused naming the file. ``style``: the label style
    (one of the track's ``styles``) the parent's track predicts in."""
    key = (model_dir, model_sha256, runtime, style)
    if key not in _LOADED:
        _LOADED.clear()
        saved = load_model(Path(model_dir), runtime, digest=model_sha256)
        _LOADED[key] = saved.track.with_style(style)
    probs, members = _LOADED[key].predict_with_members(proteins)
    return Decision.from_dict(decision).probs(probs), members


@dataclass
class ChunkPredictor:
    """Predicts chunks here (``track``), or in worker processes that load ``model_dir`` and
    check it is the folder whose track.json had ``model_sha256`` when this process checked
    it: a pool of ``workers`` (each held to its share of the cores), or any executor with
    ``submit(fn, *args)`` returning futures (a ``dask.distributed.Client``)."""
    track: object
    decision: Decision
    model_dir: Path | None = None
    runtime: Runtime = Runtime()
    workers: int = 1
    executor: object = None
    model_sha256: str = ""  # of the model's track.json, as this process read and checked it

    @classmethod
    def planned(cls, track, decision: Decision, runtime: Runtime, workers: int = 0,
                model: tuple[Path, str] | None = None, executor=None) -> "ChunkPredictor":
        """The one scheduler of every door: ``workers`` processes (0: one per core for a
        track that predicts in workers on the CPU, else 1), each held to its share of the
        cores, loading ``model`` (its folder and the sha256 of the track.json checked)."""
        workers = workers or (available_cores() if track.predicts_in_workers
                              and runtime.device != "cuda" else 1)
        runtime = dataclasses.replace(runtime, threads=max(1, available_cores() // workers),
                                      checkpoint_dir="")
        folder, digest = model if model is not None else (None, "")
        return cls(track, decision, folder, runtime, workers, executor, digest)

    def here(self, chunk: list[Protein]):
        probs, members = self.track.predict_with_members(chunk)
        return self.decision.probs(probs), members

    def task(self) -> tuple:
        """The arguments before the chunk of ``predict_chunk`` in a worker."""
        return (str(self.model_dir), self.model_sha256, self.runtime, self.track.styles[0],
                self.decision.to_dict())


def in_order(chunks: Iterable[list[Protein]], count: int, predictor: ChunkPredictor,
             tally: "Tally") -> Iterator[tuple[list[Protein], list[np.ndarray], dict]]:
    """Each of ``count`` chunks with its probabilities (after the decision's smoothing) and
    its members', in input order: predicted here, or by worker processes ahead of the reader
    (at most ``IN_FLIGHT`` chunks a worker: bounded memory)."""
    pool = _pool(predictor, count)
    if pool is None:
        for chunk in chunks:
            probs, members = predictor.here(chunk)
            tally.finished(chunk)
            yield chunk, probs, members
        return
    pending: deque = deque()
    ahead, finished = IN_FLIGHT * _capacity(pool, predictor.workers), False
    try:
        for chunk in chunks:
            pending.append((chunk, pool.submit(predict_chunk, *predictor.task(), chunk)))
            while len(pending) >= ahead:
                yield _head(pending, tally)
        while pending:
            yield _head(pending, tally)
        finished = True
    finally:
        if pool is not predictor.executor:
            pool.shutdown(wait=finished, cancel_futures=not finished)


def _head(pending: deque, tally: "Tally") -> tuple[list[Protein], list[np.ndarray], dict]:
    chunk, future = pending.popleft()
    probs, members = future.result()
    tally.finished(chunk)
    return chunk, probs, members


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
            or predictor.model_dir is None or not predictor.model_sha256):
        return None
    return worker_pool(predictor.workers)


def _predict_in(pool, parts, test, chunking, predictor, tally, members) -> None:
    pending: dict = {}
    ahead = IN_FLIGHT * _capacity(pool, predictor.workers)
    for k, chunk in mine(test, chunking):
        if tally.found(parts.done(k, chunk, members), chunk):
            continue
        while len(pending) >= ahead:
            _collect(_first_done(pending), pending, parts, tally)
        future = pool.submit(predict_chunk, *predictor.task(), chunk)
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

    def __init__(self, counts: Counts, quiet_under: float = 0.0):
        """``quiet_under``: seconds before the first line (a short prediction says nothing)."""
        self.counts, self.start, self.quiet_under = counts, time.perf_counter(), quiet_under
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
        if (seconds < self.quiet_under or (seconds - self.last < 2 and self.left_residues > 0)
                or progress_mode() == "off"):
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
              decision: Decision, members: Sequence[str], show: int = 0,
              before_commit: Callable[[], None] = lambda: None) -> Written:
    """The output set, in input order, from the parts (``parts_of(k)`` holds chunk k);
    ``before_commit`` runs once everything is written, before the files take their names
    (an error there leaves none of them)."""
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
        before_commit()
    return written


def model_digest(model_dir: Path) -> str:
    """The saved model's record (track.json lists every file's sha256): its digest."""
    path = Path(model_dir) / TRACK_FILE
    if not path.is_file():
        raise FileRefused(f"{model_dir}: no {TRACK_FILE}")
    return file_sha256(path)
