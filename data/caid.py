"""CAID prediction files, read as CAID's own evaluator reads them.

The rules of BioComputingUP/CAID ``vectorized_metrics/parsers.py`` (``parse_prediction``):

* a line starting with ``>`` is a header, and the protein's id is the whole line after the
  ``>`` (so ``>P12345 some description`` is the id ``P12345 some description``, which matches
  no reference protein);
* every other line is a row, split on tabs only; a protein's columns are those every one of
  its rows has (CAID zips the rows, so the shortest row decides): three columns are
  (position, residue, score), four add the binary state; any other count (rows split by
  spaces are one column each, a blank line among the rows is one empty column) drops the
  protein;
* the position and residue columns are not read: a prediction is matched to its reference by
  id alone (score.py compares the residues itself, to catch a prediction of another protein);
* the score column counts as given when its first row has one; so does the state column. An
  empty score column with states takes the states as scores; neither drops the protein.

Where CAID would stop the whole evaluation (a value that is not a number) or keep a value no
metric can use (NaN, inf, a state other than 0 or 1), the protein is left out instead, with the
reason, so that one bad row costs one protein: ``unreadable`` holds them, and score.py reports
them. A protein given twice, or a header with no rows, is left out the same way (CAID would
let one block overwrite or borrow another's rows).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from idr_kit.data.errors import InputError

TAB = "\t"


@dataclass(frozen=True)
class CaidPredictions:
    scores: dict[str, np.ndarray]  # id -> (L,) float32
    binary: dict[str, np.ndarray]  # id -> (L,) uint8, where the state column is given
    seqs: dict[str, str]  # id -> the residue column (one character a row, upper case)
    unreadable: dict[str, str] = field(default_factory=dict)  # id -> why it is left out
    scores_from_states: list[str] = field(default_factory=list)  # CAID's rule, above
    notes: list[str] = field(default_factory=list)  # where the file departs from CAID's reading


def read_caid(path: str | os.PathLike) -> CaidPredictions:
    source = str(path)
    out = CaidPredictions({}, {}, {})
    seen: set[str] = set()
    records = _records(_lines(path, source), source)
    while records and records[-1][1] and not records[-1][1][-1].strip():
        records[-1][1].pop()  # blank lines that end the file
        if not out.notes:
            out.notes.append(f"blank lines end the file: read as the end of "
                             f"{records[-1][0][:60]!r} (CAID would read them as rows of it, and "
                             "drop it)")
    for pid, rows in records:
        if pid in seen:
            out.unreadable[pid] = "given twice in the file"
            for kept in (out.scores, out.binary, out.seqs):
                kept.pop(pid, None)
            continue
        seen.add(pid)
        try:
            _read_protein(pid, rows, out)
        except ValueError as err:
            out.unreadable[pid] = str(err)
    return out


def _lines(path, source: str) -> list[str]:
    try:
        text = Path(path).read_text(encoding="utf-8-sig")  # a byte-order mark is not text
    except UnicodeDecodeError as err:
        raise InputError(f"not a text file ({err.reason} at byte {err.start})",
                         source=source) from None
    return text.splitlines()


def _records(lines: list[str], source: str) -> list[tuple[str, list[str]]]:
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None or not any(line.startswith(">") for line in lines):
        raise InputError("not a CAID prediction file: no '>' header line", source=source)
    if not lines[first].startswith(">"):
        raise InputError(f"not a CAID prediction file: {lines[first][:40]!r} comes before the "
                         "first '>' header", source=source)
    records: list[tuple[str, list[str]]] = []
    for line in lines[first:]:
        if line.startswith(">"):
            records.append((line[1:].strip(), []))
        else:
            records[-1][1].append(line)
    return records


def _read_protein(pid: str, rows: list[str], out: CaidPredictions) -> None:
    if not rows:
        raise ValueError("a header with no rows")
    fields = [row.split(TAB) for row in rows]
    columns = min(len(f) for f in fields)
    if columns not in (3, 4):
        raise ValueError(f"rows of {columns} tab-separated column(s), not 3 or 4 (CAID reads "
                         "position, residue, score[, state] split by tabs, and drops it)")
    scores = _column([f[2] for f in fields], "score") if fields[0][2].strip() else None
    states = (_column([f[3] for f in fields], "state")
              if columns == 4 and fields[0][3].strip() else None)
    if scores is None and states is None:
        raise ValueError("neither a score nor a state column")
    if states is not None:
        bad = np.flatnonzero((states != 0) & (states != 1))
        if len(bad):
            raise ValueError(f"state {states[bad[0]]!r} at row {bad[0] + 1} is not 0 or 1")
        out.binary[pid] = states.astype(np.uint8)
    if scores is None:
        scores = states
        out.scores_from_states.append(pid)
    out.scores[pid] = scores.astype(np.float32)
    out.seqs[pid] = "".join((f[1].strip()[:1] or "?").upper() for f in fields)


def _column(values: list[str], name: str) -> np.ndarray:
    """(L,) float64 of a column's text; ValueError naming the first value that is not a
    finite number."""
    numbers = np.empty(len(values))
    for i, text in enumerate(values):
        try:
            numbers[i] = float(text)
        except ValueError:
            raise ValueError(f"{name} {text.strip()[:20]!r} at row {i + 1} is not a number") \
                from None
        if not np.isfinite(numbers[i]):
            raise ValueError(f"{name} {text.strip()[:20]!r} at row {i + 1} is not a finite "
                             "number")
    return numbers
