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
from idr_kit.data.compressed import decompressed_bytes, open_input
from idr_kit.data.errors import InputError, brief
from idr_kit.data.probs import in_id_order, validate_binary
from idr_kit.data.records import Protein, check_id, make_protein

SUBMISSION_COLUMNS = ("proteinID", "sequence", "IDRs")
# The only globals a pickle of the competition's layout needs: numpy arrays, their dtypes and
# numpy scalars (under numpy 1's and numpy 2's module names, protocols 2 to 5), and the
# str -> bytes step protocol 2 uses for an array's buffer. Lists, dicts, strings and numbers
# need none. Anything else is refused before it is looked up, so no code from a file runs.
SAFE_GLOBALS = frozenset({
    *((f"numpy.{core}.multiarray", name) for core in ("core", "_core")
      for name in ("_reconstruct", "scalar")),
    *((f"numpy.{core}.numeric", "_frombuffer") for core in ("core", "_core")),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
})


class RefusedGlobal(pickle.UnpicklingError):
    """A pickle asked for something other than the competition layout's lists, dicts,
    strings, numbers and numpy arrays."""


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) not in SAFE_GLOBALS:
            raise RefusedGlobal(f"refused to load {module}.{name}: a competition pickle holds "
                                "only lists, dicts, strings, numbers and numpy arrays (the kit "
                                "never runs code from a pickle)")
        return super().find_class(module, name)


def read_pickle(path: str | os.PathLike) -> list[Protein]:
    """Proteins from the competition pickle; 'label' is optional (the test file has none).

    Read with a restricted unpickler (SAFE_GLOBALS): a pickle that would run code is refused.
    """
    source = str(path)
    try:
        with open_input(path) as handle:  # a .pkl.gz too (data/compressed.py)
            items = _SafeUnpickler(handle).load()
            size = decompressed_bytes(handle)
    except RefusedGlobal as err:
        raise InputError(str(err), source=source) from None
    except InputError:  # a damaged archive: its own line
        raise
    # A damaged or foreign file can fail inside the unpickler in many ways (a text file read
    # as protocol 0 raises ValueError, for one); each means the same to the user.
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, IndexError,
            ValueError, TypeError, KeyError, UnicodeDecodeError, RecursionError) as err:
        raise InputError(f"not a readable pickle ({type(err).__name__}: {str(err)[:200]})",
                         source=source) from None
    if not isinstance(items, list):
        raise InputError(f"expected a list of dicts with 'id' and 'sequence', got a "
                         f"{type(items).__name__}", source=source)
    _check_items(items, size, source)
    return [make_protein(item["id"], item["sequence"], item.get("label"), source=source)
            for item in items]


def _check_items(items: list, size: int, source: str) -> None:
    """What the items claim, checked before any is turned into a protein: the layout, the ids
    (once each), and no more residues than the file has bytes. A pickle stores a string or an
    array once and may refer to it many times: 300 references to one 120,000-residue protein
    take 0.2 MB on disk and 36 M residues in memory, so such a file is refused, not expanded."""
    seen: set[str] = set()
    residues = 0
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise InputError(f"item [{index}] is a {type(item).__name__}, not a dict with 'id' "
                             "and 'sequence'", source=source)
        missing = [key for key in ("id", "sequence") if key not in item]
        if missing:
            name = (f"item [{index}] (id {brief(item['id'])})" if "id" in item
                    else f"item [{index}]")
            raise InputError(f"{name} has no {' or '.join(map(repr, missing))} key",
                             source=source)
        pid = check_id(item["id"], source=source)
        if pid in seen:
            raise InputError("duplicate protein id", source=source, protein=pid)
        seen.add(pid)
        residues += len(item["sequence"]) if isinstance(item["sequence"], str) else 0
    if residues > size:
        raise InputError(f"claims {residues:,} residues in a file of {size:,} bytes: its items "
                         "share their sequences by reference, so it would expand far beyond "
                         "its size; refused", source=source)


def write_submission(path: str | os.PathLike, ids: Sequence[str], seqs: Sequence[str],
                     binary) -> None:
    """Write the challenge CSV; binary: per protein an (L,) array of 0/1 (list or id -> array)."""
    ids = list(ids)
    validate_binary(ids, seqs, binary)
    rows = [submission_row(pid, seq, call)
            for pid, seq, call in zip(ids, seqs, in_id_order(ids, binary))]
    with atomic_write(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")  # not csv's \r\n: awk and cut read it
        writer.writerow(SUBMISSION_COLUMNS)
        writer.writerows(rows)


def submission_row(pid: str, seq: str, call) -> tuple[str, str, str]:
    """One protein's row of the challenge CSV."""
    return pid, seq, _bits(call)


def _bits(call) -> str:
    """(L,) 0/1 array -> '0110...'."""
    return (np.asarray(call).astype(np.uint8) + ord("0")).tobytes().decode()


def read_submission(path: str | os.PathLike
                    ) -> tuple[dict[str, np.ndarray], dict[str, str], dict[str, str]]:
    """Binary (L,) uint8 arrays and sequences per protein id from a submission CSV, and the
    proteins whose row cannot be read, id -> why (left out, as CAID drops a bad prediction)."""
    source = str(path)
    binary, seqs, problems = {}, {}, {}
    # A field may be as long as the file (one protein of any length): csv's default limit,
    # 131,072 characters, would refuse the kit's own submission of a longer protein.
    csv.field_size_limit(max(csv.field_size_limit(), os.path.getsize(path) + 1))
    with open(path, newline="", encoding="utf-8-sig") as handle:  # a BOM is not the header
        reader = csv.DictReader(handle)
        _check_header(reader.fieldnames, source)
        for row in reader:
            pid, seq, bits = (str(row[key] or "").strip() for key in SUBMISSION_COLUMNS)
            if pid in seqs or pid in problems:
                raise InputError("duplicate protein id", source=source, protein=pid)
            try:
                binary[pid] = _parse_bits(bits, len(seq), pid, source)
                seqs[pid] = seq
            except InputError as err:
                problems[pid] = str(err)
    return binary, seqs, problems


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
