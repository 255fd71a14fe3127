"""Disorder profiles in every format idr-predict writes (.caid, .csv, .json, .npz, a
submission, the table on stdout), each a sink taking one prediction at a time.
"""
from __future__ import annotations

import csv
import json
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from idr_kit.data.atomic import atomic_write
from idr_kit.data.competition import SUBMISSION_COLUMNS, submission_row
from idr_kit.data.errors import SettingError
from idr_kit.data.fasta import caid_record
from idr_kit.data.outset import NpzWriter
from idr_kit.data.probs import validate_binary, validate_probs


@dataclass(frozen=True)
class Prediction:
    """One protein's answer: what every writer takes and the Python API gives."""
    id: str
    sequence: str
    probs: np.ndarray  # (L,) float32 in [0, 1]
    calls: np.ndarray  # (L,) uint8, 1 disordered
    regions: list[tuple[int, int]]  # disordered runs, 0-based, end excluded

    @property
    def fraction_disordered(self) -> float:
        return float(self.calls.mean()) if len(self.calls) else 0.0

FORMATS = (".caid", ".csv", ".json", ".npz")
DECIMALS = 3


def writer_for(path: Path):
    suffix = path.suffix.lower()
    if suffix not in WRITERS:
        raise SettingError(f"{path}: unknown output format; by extension: {', '.join(FORMATS)}")
    return WRITERS[suffix]


def regions_text(hit: Prediction) -> str:
    """1-based, inclusive: '12-45,80-97' (DisProt's way), '-' for none."""
    return ",".join(f"{a + 1}-{b}" for a, b in hit.regions) or "-"


def write_table(hits: Iterable[Prediction], out) -> None:
    """A row per protein; the header comes with the first row (an error before it prints
    none). An id the stream's encoding cannot carry (a terminal in an ASCII locale) is shown
    with backslash escapes, never a crash after the prediction (files are always UTF-8)."""
    encoding = getattr(out, "encoding", None) or "utf-8"
    for i, hit in enumerate(hits):
        if i == 0:
            out.write(f"{'id':<24} {'length':>7} {'disordered':>10}  regions (1-based, "
                      "inclusive)\n")
        pid = hit.id.encode(encoding, "backslashreplace").decode(encoding)
        out.write(f"{pid:<24} {len(hit.sequence):>7} {hit.fraction_disordered:>10.1%}  "
                  f"{regions_text(hit)}\n")


# Each writer opens its file (atomic: it appears whole when ``stack`` closes cleanly, not at all
# otherwise) and returns what writes one protein into it, once ``validated``.

def validated(write: Callable[[Prediction], None]) -> Callable[[Prediction], None]:
    """``write``, after the checks every writer of the kit makes (data/probs.py): one finite
    probability in [0, 1] and one 0/1 call per residue; ValueError naming the protein."""
    def checked(hit: Prediction) -> None:
        validate_probs([hit.id], [hit.sequence], [hit.probs])
        validate_binary([hit.id], [hit.sequence], [hit.calls])
        write(hit)
    return checked


def write_caid(stack: ExitStack, path: Path) -> Callable[[Prediction], None]:
    handle = stack.enter_context(atomic_write(path))
    return validated(lambda hit: handle.write(caid_record(hit.id, hit.sequence, hit.probs,
                                                          hit.calls)))


def write_csv(stack: ExitStack, path: Path) -> Callable[[Prediction], None]:
    """One row per residue: id, position (1-based), residue, probability, disordered; an id
    with a comma or a quote is quoted, as CSV readers expect."""
    rows = csv.writer(stack.enter_context(atomic_write(path, "w", newline="", encoding="utf-8")),
                      lineterminator="\n")
    rows.writerow(("id", "position", "residue", "probability", "disordered"))
    return validated(lambda hit: rows.writerows(
        (hit.id, i, aa, f"{p:.{DECIMALS}f}", c)
        for i, (aa, p, c) in enumerate(zip(hit.sequence, hit.probs, hit.calls.tolist()), 1)))


def write_json(stack: ExitStack, path: Path) -> Callable[[Prediction], None]:
    """{"regions_are": ..., "proteins": [{id, length, fraction_disordered, regions,
    probabilities, calls}, ...]}, written protein by protein."""
    handle = stack.enter_context(atomic_write(path))
    handle.write('{"regions_are": "1-based, inclusive", "proteins": [\n')
    stack.callback(handle.write, "\n]}\n")  # before the file is committed (LIFO)
    first = [True]

    def write(hit: Prediction) -> None:
        record = {"id": hit.id, "length": len(hit.sequence),
                  "fraction_disordered": round(hit.fraction_disordered, DECIMALS),
                  "regions": [[a + 1, b] for a, b in hit.regions],
                  "probabilities": np.round(hit.probs.astype(np.float64), DECIMALS).tolist(),
                  "calls": "".join(map(str, hit.calls.tolist()))}
        handle.write(("" if first[0] else ",\n") + json.dumps(record))
        first[0] = False
    return validated(write)


def write_npz(stack: ExitStack, path: Path) -> Callable[[Prediction], None]:
    """id -> (L,) float32 probabilities (the kit's probs.npz format)."""
    writer = NpzWriter(stack, path)
    return validated(lambda hit: writer.add([hit.id], [hit.probs]))


def write_submission(stack: ExitStack, path: Path) -> Callable[[Prediction], None]:
    """The competition's CSV: proteinID,sequence,IDRs (the calls as a 0/1 string), written by
    the same record writer as a run's submit.csv."""
    rows = csv.writer(stack.enter_context(atomic_write(path, "w", newline="", encoding="utf-8")),
                      lineterminator="\n")
    rows.writerow(SUBMISSION_COLUMNS)
    return validated(lambda hit: rows.writerow(submission_row(hit.id, hit.sequence, hit.calls)))


WRITERS = {".caid": write_caid, ".csv": write_csv, ".json": write_json, ".npz": write_npz}
