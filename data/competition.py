"""The WSAA IDR challenge's own formats: its pickle of proteins, and its CSV submission.

    pickle      list of {'id': str, 'sequence': str, 'label': (L,) int array}  (test: no label)
    submission  CSV ``proteinID,sequence,IDRs``; IDRs is a 0/1 string as long as the sequence
"""
from __future__ import annotations

import csv
import os
import pickle
from collections.abc import Sequence

import numpy as np

from idr_kit.data.atomic import atomic_write
from idr_kit.data.probs import in_id_order, validate_binary
from idr_kit.data.records import InputError, Protein, check_unique_ids, make_protein

SUBMISSION_COLUMNS = ("proteinID", "sequence", "IDRs")


def read_pickle(path: str | os.PathLike) -> list[Protein]:
    """Proteins from the competition pickle; 'label' is optional (the test file has none).

    Unpickling runs code from the file: only read pickles from a source you trust.
    """
    source = str(path)
    try:
        with open(path, "rb") as handle:
            items = pickle.load(handle)
    # A damaged or foreign file can fail inside the unpickler in many ways (a text file read
    # as protocol 0 raises ValueError, for one); each means the same to the user.
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, IndexError,
            ValueError, TypeError, KeyError, UnicodeDecodeError) as err:
        raise InputError(f"not a readable pickle ({type(err).__name__}: {err})", source=source)
    if not isinstance(items, list):
        raise InputError(f"expected a list of dicts with 'id' and 'sequence', got a "
                         f"{type(items).__name__}", source=source)
    proteins = [_protein(index, item, source) for index, item in enumerate(items)]
    check_unique_ids(proteins, source=source)
    return proteins


def _protein(index: int, item, source: str) -> Protein:
    if not isinstance(item, dict):
        raise InputError(f"item [{index}] is a {type(item).__name__}, not a dict with 'id' "
                         "and 'sequence'", source=source)
    missing = [key for key in ("id", "sequence") if key not in item]
    if missing:
        name = f"item [{index}] (id {item['id']!r})" if "id" in item else f"item [{index}]"
        raise InputError(f"{name} has no {' or '.join(map(repr, missing))} key",
                         source=source)
    return make_protein(item["id"], item["sequence"], item.get("label"), source=source)


def write_submission(path: str | os.PathLike, ids: Sequence[str], seqs: Sequence[str],
                     binary) -> None:
    """Write the challenge CSV; binary: per protein an (L,) array of 0/1 (list or id -> array)."""
    ids = list(ids)
    validate_binary(ids, seqs, binary)
    rows = [(pid, seq, _bits(call)) for pid, seq, call in zip(ids, seqs, in_id_order(ids, binary))]
    with atomic_write(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(SUBMISSION_COLUMNS)
        writer.writerows(rows)


def _bits(call) -> str:
    """(L,) 0/1 array -> '0110...'."""
    return (np.asarray(call).astype(np.uint8) + ord("0")).tobytes().decode()


def read_submission(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Binary (L,) uint8 arrays and sequences per protein id from a submission CSV."""
    source = str(path)
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        _check_header(reader.fieldnames, source)
        binary, seqs = {}, {}
        for row in reader:
            pid, seq, bits = (str(row[key] or "").strip() for key in SUBMISSION_COLUMNS)
            if pid in seqs:
                raise InputError("duplicate protein id", source=source, protein=pid)
            binary[pid], seqs[pid] = _parse_bits(bits, len(seq), pid, source), seq
    return binary, seqs


def _check_header(fieldnames, source: str) -> None:
    missing = [key for key in SUBMISSION_COLUMNS if key not in (fieldnames or [])]
    if missing:
        raise InputError(f"not a submission CSV: header {fieldnames} lacks "
                         f"{', '.join(missing)} (expected {','.join(SUBMISSION_COLUMNS)})",
                         source=source)


def _parse_bits(bits: str, length: int, pid: str, source: str) -> np.ndarray:
    if len(bits) != length:
        raise InputError(f"IDRs has {len(bits)} characters but the sequence has {length}",
                         source=source, protein=pid)
    bad = [i for i, char in enumerate(bits) if char not in "01"]
    if bad:
        raise InputError(f"IDRs character {bits[bad[0]]!r} is not 0 or 1", source=source,
                         protein=pid, position=bad[0] + 1)
    return (np.frombuffer(bits.encode(), dtype=np.uint8) - ord("0")).astype(np.uint8)
