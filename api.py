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

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np

from idr_kit.data.errors import SettingError, WrongType
from idr_kit.data.progress import DELAY
from idr_kit.data.records import Protein, make_protein
from idr_kit.model.decision import Decision, check_threshold, runs
from idr_kit.model.runtime import Runtime
from idr_kit.model.saved import load_model
from idr_kit.tracks import style_refused
from idr_kit.model.shipped import model_path, shipped_folder, shipped_name
from idr_kit.run.profiles import Prediction
from idr_kit.run.stream import (CHUNK_RESIDUES, ChunkPredictor, Chunking, Counts, Source, Tally,
                                in_order, scan_sources, sources_unchanged)

SHIPPED = shipped_folder("default")
SHIPPED_FAST = shipped_folder("fast")  # the convnet alone: the fastest answer
Sequences = "str | Sequence[str] | Mapping[str, str]"


class Predictor:
    """A loaded model in one label style, with that style's decision. ``digest``: the sha256
    of the record of ``source`` (a model folder) that was checked, which worker processes
    check again before they predict with it (none without it)."""

    def __init__(self, track, decisions: dict[str, Decision], style: str, source: str,
                 runtime: Runtime = Runtime(downloads=False), digest: str = ""):
        if not isinstance(style, str) or style not in decisions:
            raise style_refused(source, tuple(decisions), style)
        self.track = track.with_style(style)
        self.decisions, self.style, self.source = decisions, style, source
        self.decision, self.runtime, self.digest = decisions[style], runtime, digest

    @property
    def styles(self) -> tuple[str, ...]:
        return tuple(self.decisions)

    @property
    def threshold(self) -> float:
        return self.decision.threshold

    def __repr__(self) -> str:
        name = shipped_name(self.source)
        d = self.decision
        smoothing = f", smoothing='{d.kind} {d.width}'" if d.kind != "none" else ""
        return (f"idr_kit.Predictor(model={name or self.source!r}, "
                + (f"folder={self.source!r}, " if name else "")
                + f"track={self.track.name!r}, style={self.style!r}, styles={self.styles}, "
                f"threshold={d.threshold:.3f}, min_idr={d.min_length}{smoothing})")

    def with_style(self, style: str) -> "Predictor":
        """This model predicting in label style ``style`` (one of ``styles``)."""
        if style == "" or not isinstance(style, str):  # a style named: no model's own
            raise style_refused(self.source, self.styles, style)
        return Predictor(self.track, self.decisions, style, self.source, self.runtime,
                         self.digest)

    def predict(self, seqs: Sequences):
        """P(disordered) per residue, one (L,) float32 array per sequence: a list for a string
        (of one) or a list of strings, a dict by id for a dict of id -> sequence."""
        return _shaped(seqs, [hit.probs for hit in self.predict_proteins(as_proteins(seqs))])

    def regions(self, seqs: Sequences):
        """Each sequence's disordered regions, 0-based, end excluded, shaped as ``predict``."""
        return _shaped(seqs, [hit.regions for hit in self.predict_proteins(as_proteins(seqs))])

    def predict_proteins(self, proteins: Sequence[Protein]) -> list[Prediction]:
        proteins = list(proteins)
        probs = self.decision.probs(self.track.predict_proba(proteins)) if proteins else []
        return self._hits(proteins, probs)

    def _hits(self, proteins: Sequence[Protein], probs) -> list[Prediction]:
        calls = self.decision.calls(probs)
        return [Prediction(p.id, p.seq, pr.astype(np.float32), c.astype(np.uint8),
                           regions_of(c)) for p, pr, c in zip(proteins, probs, calls)]

    def plot(self, seqs: Sequences, out: str | os.PathLike, fmt: str | None = None
             ) -> list[Path]:
        """Pictures of the predictions (the probability along the sequence, the threshold, the
        predicted IDRs): one sequence (a string) into the file ``out``, in the format its
        extension names (.png, .svg, .pdf; ``fmt``, when given, must agree); several (a list,
        or a dict of id -> sequence) into the folder ``out``, a file each in ``fmt`` (default
        png), named by id, with ``index.tsv`` (id -> file). ``out`` is checked as every output
        is (never inside a model folder, never through a link), and a folder's plots appear
        all at once or not at all (run/plot_folder.py). Needs matplotlib. Returns the paths
        written."""
        from idr_kit.data.errors import MissingExtra
        from idr_kit.run.plots import api_plotter
        from idr_kit.tracks import installed
        if not installed("matplotlib"):
            raise MissingExtra("plots need matplotlib: pip install matplotlib (or the kit's "
                               "'plots' extra)")
        draw = api_plotter(out, fmt, [("the model", self.source)], single=isinstance(seqs, str))
        return draw(self.predict_proteins(as_proteins(seqs)), self.threshold)

    def predict_fasta(self, path: str | os.PathLike, workers: int = 1, chunk_residues: int = 0
                      ) -> Iterator[Prediction]:
        """Every protein of a file (FASTA, or ``-`` for stdin; .pkl and .json are read whole),
        in file order, a chunk at a time: memory follows the chunk, not the file. The whole
        file is checked before the first prediction. ``workers`` > 1 (0: one per core)
        predicts chunks in that many processes, each loading the model and refusing it unless
        it is the folder this predictor checked (saved.py): the same predictions, in the same
        order."""
        return self.predict_sources([Source.of(path)], workers, chunk_residues)

    def predict_sources(self, sources: Sequence[Source], workers: int = 1,
                        chunk_residues: int = 0, progress: bool = False,
                        on_read: Callable[[Counts], None] | None = None
                        ) -> Iterator[Prediction]:
        """The proteins of ``sources`` in order, by the engine ``submit.py --model`` uses
        (stream.py): every source read and checked first (ids unique across them), then
        predicted chunk by chunk (worker processes for files of several chunks a worker),
        and each file checked unchanged at the end. ``progress``: a line every few seconds
        on stderr once a prediction takes longer than two. ``on_read``: told the counts
        (``Counts.sources``: each source's) once every source is checked, before any
        prediction."""
        chunking = Chunking(chunk_residues or CHUNK_RESIDUES, workers)
        counts, digests = scan_sources(sources, chunking)
        if on_read is not None:
            on_read(counts)
        model = (Path(self.source), self.digest) if self.digest else None
        engine = ChunkPredictor.planned(self.track, self.decision, self.runtime,
                                        chunking.workers, model)
        chunks = (chunk for source in sources for chunk in source.chunks(chunking.residues))
        tally = Tally(counts, quiet_under=DELAY if progress else float("inf"))
        for chunk, probs, _ in in_order(chunks, counts.chunks, engine, tally):
            yield from self._hits(chunk, probs)
        sources_unchanged(sources, digests)


def as_proteins(seqs: Sequences) -> list[Protein]:
    """Sequences as records: named seq1, seq2 ... (a dict's keys name them). An error names
    the sequence and the position; anything but strings is WrongType."""
    if isinstance(seqs, str):
        seqs = [seqs]
    if isinstance(seqs, Mapping):
        named = list(seqs.items())
    elif isinstance(seqs, Iterable) and not isinstance(seqs, (bytes, bytearray)):
        named = [(f"seq{i}", seq) for i, seq in enumerate(seqs, 1)]
    else:
        raise WrongType(f"sequences are a string, a list of strings or a dict of id -> string, "
                        f"not {type(seqs).__name__}")
    for name, seq in named:
        if not isinstance(seq, str) or not isinstance(name, str):
            raise WrongType(f"sequence {name!r} is {type(seq).__name__}, not a string of residues"
                            if isinstance(name, str) else
                            f"a dict of sequences is keyed by id strings, not {type(name).__name__}")
    return [make_protein(name, seq) for name, seq in named]


def _shaped(seqs: Sequences, values: list):
    """Per-sequence ``values`` as the sequences were given: by id for a dict, else a list."""
    return dict(zip(seqs, values)) if isinstance(seqs, Mapping) else values


def regions_of(calls: np.ndarray) -> list[tuple[int, int]]:
    starts, ends = runs(calls)
    return [(int(a), int(b)) for a, b in zip(starts, ends)]


def load(path: str | Path | None = None, *, style: str | None = None,
         threshold: float | None = None, fast: bool = False,
         runtime: Runtime | None = None) -> Predictor:
    """The shipped model (``path`` None or ``"default"``; ``fast=True`` or ``"fast"``: its
    fastest form, the kit's own network alone) or any model the kit saved (its folder), ready
    to predict. A string is a shipped model's name unless it is a path (model/shipped.py)."""
    if fast and path is not None:
        raise SettingError("fast=True chooses the shipped model's fast form; a saved model is "
                           "given as it is")
    where = model_path(path) if path is not None else SHIPPED_FAST if fast else SHIPPED
    if path is None and not (where / "track.json").is_file():
        raise SettingError(f"no model ships in this install ({where}); pass a saved model's "
                           "folder (runs/NAME/model)")
    runtime = runtime or Runtime(downloads=False)
    saved = load_model(where, runtime)
    if style is not None:
        saved = saved.in_style(style, str(where))
    decisions = saved.decisions
    if threshold is not None:
        decisions = {k: d.with_threshold(check_threshold(threshold), "threshold")
                     for k, d in decisions.items()}
    return Predictor(saved.track, decisions, saved.default_style, str(where), runtime,
                     saved.digest)


def predict_file(test: str | Path, out: str | Path, model: str | Path | None = None, *,
                 workers: int = 0, shard: "tuple[int, int] | str" = (1, 1), chunk_residues: int = 0,
                 executor=None, overwrite: bool = False) -> dict:
    """``submit.py --model MODEL --test TEST --out OUT`` from Python: the shipped model (or
    ``model``: a shipped model's name, ``"fast"``, or a saved model's folder) predicts a file
    of any size into an output folder a chunk at a time, resumable, on ``workers`` processes
    (0: one per core) or on ``executor`` (a ``dask.distributed.Client``: each chunk a task);
    ``shard=(I, N)`` predicts the I-th of N parts (merge.py joins them). Returns the run's
    record (config.json)."""
    from idr_kit.run.pipeline import RunSpec, run
    from idr_kit.run.stream import parse_shard
    where = model_path(model) if model is not None else SHIPPED
    shard = parse_shard(shard) if isinstance(shard, str) else shard
    if not (isinstance(shard, tuple) and len(shard) == 2 and all(type(i) is int for i in shard)):
        raise WrongType(f"shard is (I, N) or \"I/N\", not {shard!r}")
    chunking = Chunking(chunk_residues or CHUNK_RESIDUES, workers, shard)
    spec = RunSpec(out=Path(out), test=Path(test), model=where, chunking=chunking,
                   runtime=Runtime(downloads=False), overwrite=overwrite,
                   command=("idr_kit.predict_file", str(test), str(out), str(where)))
    return run(spec, executor=executor)

