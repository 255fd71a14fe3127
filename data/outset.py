"""A run's output set written protein by protein: ``probs.npz``, ``predictions.caid``,
``submit.csv`` (and an ensemble's ``members/NAME.npz``).

    with OutputSet(out, members=("lgbm", "bilstm")) as outputs:
        for chunk, probs, calls, member_probs in ...:
            outputs.add(chunk, probs, calls, member_probs)

Each file is written by the same record writer as its whole-list writer (data/probs.py,
data/fasta.py, data/competition.py), so a set written a chunk at a time is byte for byte the
set written at once. Each is atomic: the files appear, whole, when the ``with`` block ends
cleanly, and not at all if it raises. Every chunk is validated as the whole-list writers
validate; ids must be unique across the whole set.
"""
from __future__ import annotations

import csv
from contextlib import ExitStack
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from idr_kit.data.atomic import atomic_write
from idr_kit.data.competition import SUBMISSION_COLUMNS, submission_row
from idr_kit.data.fasta import caid_record, check_bare_ids
from idr_kit.data.probs import npz_writing, validate_binary, validate_probs
from idr_kit.data.records import Protein

MEMBERS = "members"  # OUT/members/NAME.npz: an ensemble's members' probabilities
FILES = ("probs.npz", "predictions.caid", "submit.csv")


class NpzWriter:
    """id -> (L,) float32 arrays, member by member: data/probs.py's ``write_npz`` format (safe
    member names, and their index)."""

    def __init__(self, stack: ExitStack, path: Path):
        self.members = stack.enter_context(npz_writing(path))

    def add(self, ids: Sequence[str], probs: Sequence[np.ndarray]) -> None:
        for pid, values in zip(ids, probs):
            self.members.add(pid, values)


class OutputSet:
    def __init__(self, out: Path, members: Sequence[str] = ()):
        self.out, self.members = Path(out), tuple(members)
        self.count, self._seen = 0, set()

    def __enter__(self) -> "OutputSet":
        self._stack = ExitStack().__enter__()
        try:
            self._npz = NpzWriter(self._stack, self.out / "probs.npz")
            self._caid = self._stack.enter_context(atomic_write(self.out / "predictions.caid"))
            handle = self._stack.enter_context(atomic_write(self.out / "submit.csv", "w",
                                                            newline="", encoding="utf-8"))
            self._csv = csv.writer(handle, lineterminator="\n")  # not \r\n: awk and cut read it
            self._csv.writerow(SUBMISSION_COLUMNS)
            self._member_npz = {name: NpzWriter(self._stack, self.out / MEMBERS / f"{name}.npz")
                                for name in self.members}
        except BaseException as err:
            self._stack.__exit__(type(err), err, err.__traceback__)
            raise
        return self

    def __exit__(self, *exc) -> bool:
        return self._stack.__exit__(*exc)

    def add(self, proteins: Sequence[Protein], probs: Sequence[np.ndarray],
            calls: Sequence[np.ndarray],
            member_probs: Mapping[str, Sequence[np.ndarray]] | None = None) -> None:
        """One chunk: its proteins in order, their probabilities and 0/1 calls."""
        ids, seqs = [p.id for p in proteins], [p.seq for p in proteins]
        validate_probs(ids, seqs, list(probs))
        validate_binary(ids, seqs, list(calls))
        check_bare_ids(ids)
        for pid in ids:
            if pid in self._seen:
                raise ValueError(f"predictions: protein {pid}: duplicate id")
            self._seen.add(pid)
        self._npz.add(ids, probs)
        for pid, seq, prob, call in zip(ids, seqs, probs, calls):
            self._caid.write(caid_record(pid, seq, np.asarray(prob), np.asarray(call)))
        self._csv.writerows(submission_row(pid, seq, call)
                            for pid, seq, call in zip(ids, seqs, calls))
        for name, writer in self._member_npz.items():
            values = list((member_probs or {})[name])
            validate_probs(ids, seqs, values, what=f"member {name}")
            writer.add(ids, values)
        self.count += len(ids)
