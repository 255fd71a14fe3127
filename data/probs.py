"""The one prediction format: id -> (L,) float32 array of P(disordered), saved as ``.npz``.

Every writer calls ``validate_probs`` (or ``validate_binary`` for 0/1 calls) first, so a file
on disk always holds one finite array in [0, 1] per protein, exactly as long as its sequence.
"""
from __future__ import annotations

import contextlib
import os
import zipfile
from collections.abc import Iterator, Mapping, Sequence

import numpy as np

from idr_kit.data.atomic import atomic_write
from idr_kit.data.errors import InputError
from idr_kit.data.outputs import SafeNames

Lengths = Sequence["str | int"]
# bool, signed and unsigned integers and floats; a bool array is a fair way to hand over 0/1 calls.
NUMERIC_KINDS = "biuf"
INDEX = "__ids__"  # an .npz's member name -> id, where an id is no safe member name


def validate_probs(ids: Sequence[str], seqs_or_lengths: Lengths, probs, *,
                   what: str = "predictions") -> None:
    """Check one finite (L,) array in [0, 1] per id; ``probs`` is a list or an id -> array map.

    Raises ValueError naming the protein (and the 1-based position of a bad value).
    """
    for pid, values in _pair_up(ids, seqs_or_lengths, probs, what):
        bad = np.flatnonzero(~np.isfinite(values) | (values < 0) | (values > 1))
        if len(bad):
            raise ValueError(f"{what}: protein {pid}: position {bad[0] + 1}: value "
                             f"{values[bad[0]].item()!r} is not a probability in [0, 1]")


def validate_binary(ids: Sequence[str], seqs_or_lengths: Lengths, binary, *,
                    what: str = "binary predictions") -> None:
    """Like ``validate_probs`` but every value must be exactly 0 or 1."""
    for pid, values in _pair_up(ids, seqs_or_lengths, binary, what):
        bad = np.flatnonzero((values != 0) & (values != 1))
        if len(bad):
            raise ValueError(f"{what}: protein {pid}: position {bad[0] + 1}: value "
                             f"{values[bad[0]].item()!r} is not 0 or 1")


def _pair_up(ids, seqs_or_lengths, arrays, what: str) -> list[tuple[str, np.ndarray]]:
    """Check ids, counts, dimensions and lengths; return (id, 1-D array) pairs."""
    ids = list(ids)
    _check_ids(ids, what)
    if isinstance(arrays, Mapping):
        arrays = [_lookup(arrays, pid, what) for pid in ids]
    lengths = [_length(x) for x in seqs_or_lengths]
    if not len(ids) == len(lengths) == len(arrays):
        raise ValueError(f"{what}: counts differ: {len(ids)} ids, {len(lengths)} sequences, "
                         f"{len(arrays)} arrays")
    return [(pid, _flat(pid, raw, length, what))
            for pid, length, raw in zip(ids, lengths, arrays)]


def _flat(pid: str, raw, length: int, what: str) -> np.ndarray:
    """``raw`` as a 1-D numeric array of ``length`` values."""
    values = np.asarray(raw)
    if values.ndim != 1 or values.dtype.kind not in NUMERIC_KINDS:
        raise ValueError(f"{what}: protein {pid}: expected a flat array of numbers, got "
                         f"shape {values.shape} of {values.dtype}")
    if len(values) != length:
        raise ValueError(f"{what}: protein {pid}: {len(values)} values for a sequence "
                         f"of length {length}")
    return values


def in_id_order(ids: Sequence[str], arrays) -> list:
    """``arrays`` (a list, or an id -> array map) as a list in the order of ``ids``."""
    if isinstance(arrays, Mapping):
        return [arrays[pid] for pid in ids]
    return list(arrays)


def _check_ids(ids: list, what: str) -> None:
    seen: set[str] = set()
    for pid in ids:
        if not isinstance(pid, str) or not pid:
            raise ValueError(f"{what}: protein id {pid!r} is not a non-empty string")
        if pid in seen:
            raise ValueError(f"{what}: protein {pid}: duplicate id")
        seen.add(pid)


def _lookup(arrays: Mapping, pid: str, what: str):
    if pid not in arrays:
        raise ValueError(f"{what}: protein {pid}: no prediction")
    return arrays[pid]


def _length(seq_or_length) -> int:
    if isinstance(seq_or_length, (int, np.integer)):
        return int(seq_or_length)
    return len(seq_or_length)


def write_npz(path: str | os.PathLike, probs: Mapping[str, np.ndarray]) -> None:
    """Save id -> (L,) float32 probabilities as ``path`` (the name is kept as given)."""
    ids = list(probs)
    validate_probs(ids, [np.size(probs[pid]) for pid in ids], probs)
    # Written member by member rather than with np.savez: savez appends ".npz" to a name
    # without it and takes keyword names, so an id such as "file" would clash with its own.
    with npz_writing(path) as members:
        for pid in ids:
            members.add(pid, probs[pid])


class NpzMembers:
    """The members of an .npz being written: each protein's array as ``NAME.npy``, its name
    the id where the id is a safe file name (data/outputs.py), else a derived one; then, if
    any name differs from its id, the index ``__ids__.npy``: a (n, 2) array of str, rows
    (name, id). A naive extractor (``unzip``, ``extractall``) so writes nothing outside its
    folder, and ``numpy.load`` reads every member."""

    def __init__(self, archive: zipfile.ZipFile):
        self.archive, self.names = archive, SafeNames(".npy")

    def add(self, pid: str, values) -> None:
        with self.archive.open(self.names.name(pid), "w", force_zip64=True) as member:
            np.lib.format.write_array(member, np.asarray(values, dtype=np.float32))

    def finish(self) -> None:
        if self.names.index:
            rows = [(name[:-len(".npy")], pid) for name, pid in self.names.index.items()]
            with self.archive.open(f"{INDEX}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.array(rows, dtype=str))


@contextlib.contextmanager
def npz_writing(path: str | os.PathLike) -> Iterator[NpzMembers]:
    """An .npz written atomically member by member; its index is added on a clean exit."""
    with atomic_write(path, "wb") as handle, zipfile.ZipFile(handle, "w") as archive:
        members = NpzMembers(archive)
        yield members
        members.finish()


def read_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """id -> (L,) float32 probabilities, validated like every written prediction."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            ids = _index(archive[INDEX]) if INDEX in archive.files else None
            names = [n for n in archive.files if ids is None or n != INDEX]
            probs = _by_id({n: archive[n].astype(np.float32) for n in names}, ids or {}, path)
    except (OSError, ValueError, zipfile.BadZipFile) as err:
        if isinstance(err, InputError):
            raise
        raise InputError(f"not a readable .npz of predictions ({err})", source=str(path))
    validate_probs(list(probs), [np.size(p) for p in probs.values()], probs,
                   what=str(path))
    return probs


def _index(table) -> dict[str, str] | None:
    """An index member's name -> id, or None when the member is no index (an old file's
    protein that was called ``__ids__``)."""
    if table.ndim != 2 or table.shape[1:] != (2,) or table.dtype.kind != "U":
        return None
    return {str(name): str(pid) for name, pid in table}


def _by_id(arrays: dict, ids: dict[str, str], path) -> dict:
    named = {}
    for name, values in arrays.items():
        pid = ids.get(name, name)
        if pid in named:
            raise InputError(f"protein {pid}: twice (its index names two members)",
                             source=str(path))
        named[pid] = values
    return named


def read_npz_for(path: str | os.PathLike, lengths: Mapping[str, int]
                 ) -> tuple[dict[str, np.ndarray], dict[str, str], list[str]]:
    """The arrays of an .npz for the ids in ``lengths`` (id -> residues of its reference):
    ``(probs, unreadable id -> why, ids not read)``. Each array's header is read first: one
    that is not a flat array of numbers, or is more than twice its reference's length, is
    left out unread (a 1 MB file of zeros can declare 4 GB)."""
    probs, unreadable, unread = {}, {}, []
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.namelist()
            ids = _member_index(archive, members)
            for member in members:
                name = member[:-4] if member.endswith(".npy") else member
                if ids is not None and name == INDEX:
                    continue
                pid = (ids or {}).get(name, name)
                if pid not in lengths:
                    unread.append(pid)
                    continue
                try:
                    probs[pid] = _member_array(archive, member, 2 * lengths[pid] + 16)
                except ValueError as err:
                    unreadable[pid] = str(err)
    except (OSError, zipfile.BadZipFile) as err:
        raise InputError(f"not a readable .npz of predictions ({err})", source=str(path))
    return probs, unreadable, unread


def _member_index(archive: zipfile.ZipFile, members: list[str]) -> dict[str, str] | None:
    """The index member's name -> id (None without one), its size bounded by the members'
    count before it is read."""
    if f"{INDEX}.npy" not in members:
        return None
    with archive.open(f"{INDEX}.npy") as handle:
        version = np.lib.format.read_magic(handle)
        read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                else np.lib.format.read_array_header_2_0)
        shape, _, dtype = read(handle)
    if len(shape) != 2 or shape[0] > len(members) or dtype.kind != "U" or dtype.itemsize > 1 << 16:
        return None
    with archive.open(f"{INDEX}.npy") as handle:
        return _index(np.lib.format.read_array(handle, allow_pickle=False))


def _member_array(archive: zipfile.ZipFile, member: str, longest: int) -> np.ndarray:
    with archive.open(member) as handle:
        version = np.lib.format.read_magic(handle)
        read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                else np.lib.format.read_array_header_2_0)
        shape, _, dtype = read(handle)
    if len(shape) != 1 or dtype.kind not in NUMERIC_KINDS or shape[0] > longest:
        raise ValueError(f"an array of shape {shape} and {dtype}, not the flat array of "
                         "about its protein's length a prediction is")
    with archive.open(member) as handle:
        values = np.lib.format.read_array(handle, allow_pickle=False).astype(np.float32)
    if not np.all((values >= 0) & (values <= 1)):
        raise ValueError("values outside [0, 1] (or not finite)")
    return values


def validate_outputs(proteins: Sequence, probs, what: str) -> None:
    """A track's predictions: a list of one (L,) float32 array in [0, 1] per protein, in order.

    Positional (training ids may repeat across pooled files); ValueError naming the protein.
    """
    if not isinstance(probs, list) or len(probs) != len(proteins):
        count = len(probs) if hasattr(probs, "__len__") else "no"
        raise ValueError(f"{what}: {count} arrays for {len(proteins)} proteins")
    for p, values in zip(proteins, probs):
        if not (isinstance(values, np.ndarray) and values.dtype == np.float32
                and values.shape == (len(p.seq),)):
            shape = getattr(values, "shape", type(values).__name__)
            raise ValueError(f"{what}: protein {p.id}: expected a ({len(p.seq)},) float32 array, "
                             f"got {shape} of {getattr(values, 'dtype', '?')}")
    flat = np.concatenate(probs) if probs else np.zeros(0, np.float32)
    if not np.all((flat >= 0) & (flat <= 1)):  # NaN fails too
        bad = next(p for p, v in zip(proteins, probs) if not np.all((v >= 0) & (v <= 1)))
        raise ValueError(f"{what}: protein {bad.id}: values outside [0, 1]")
