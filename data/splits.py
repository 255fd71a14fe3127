"""Protein-level k-fold splits, fixed once and saved, so every track and the blender see the
same folds and no protein (or homologue in its cluster) sits on both sides of a split."""
from __future__ import annotations

import csv
import hashlib
import json
import os
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from idr_kit.data.atomic import atomic_write
from idr_kit.data.errors import InputError
from idr_kit.data.records import Protein

ID_COLUMN, CLUSTER_COLUMN = "id", "cluster"


def make_folds(ids: Sequence[str], k: int = 5, seed: int = 0,
               groups: Sequence[str] | None = None) -> dict[str, int]:
    """id -> fold in [0, k): deterministic per seed, fold sizes (in ids) as even as groups allow.

    Proteins sharing a group (``groups[i]`` for ``ids[i]``, e.g. a sequence cluster) share a
    fold; so do repeats of one id, even across groups, which links those groups together.
    """
    ids = [str(pid) for pid in ids]
    if groups is not None and len(groups) != len(ids):
        raise ValueError(f"{len(groups)} groups for {len(ids)} ids")
    components = linked_components(ids, ids if groups is None else [str(g) for g in groups])
    if not 2 <= k <= len(components):
        raise ValueError(f"k={k} folds needs 2 <= k <= the number of groups "
                         f"({len(components)})")
    return _assign(components, k, seed)


def linked_components(ids: list[str], groups: list[str]) -> list[list[str]]:
    """Sets of ids linked by a shared id or a shared group; sorted, so input order is moot."""
    parent: dict[tuple[str, str], tuple[str, str]] = {}
    for pid, group in zip(ids, groups):
        a, b = _root(parent, ("id", pid)), _root(parent, ("group", group))
        if a != b:
            parent[a] = b
    members: dict[tuple[str, str], set[str]] = defaultdict(set)
    for pid in ids:
        members[_root(parent, ("id", pid))].add(pid)
    return sorted(sorted(ids_) for ids_ in members.values())


def _root(parent: dict, node):
    """Union-find root of ``node``, halving the path on the way up."""
    parent.setdefault(node, node)
    while parent[node] != node:
        parent[node] = parent[parent[node]]
        node = parent[node]
    return node


def _assign(components: list[list[str]], k: int, seed: int) -> dict[str, int]:
    """Largest component first into the emptiest fold; the seed orders components of one size."""
    order = np.random.default_rng(seed).permutation(len(components)).tolist()
    order.sort(key=lambda i: -len(components[i]))  # stable: random within a size
    loads = [0] * k
    folds: dict[str, int] = {}
    for i in order:
        fold = loads.index(min(loads))
        folds.update(dict.fromkeys(components[i], fold))
        loads[fold] += len(components[i])
    return folds


def save_folds(path: str | os.PathLike, folds: dict[str, int], *, k: int, seed: int,
               source: str | None = None) -> None:
    """Write the folds with the settings that made them, as JSON."""
    _check_folds(folds, k, str(path))
    sizes = np.bincount(np.fromiter(folds.values(), dtype=np.int64), minlength=k).tolist()
    record = {"k": k, "seed": seed, "source": source, "sizes": sizes,
              "folds": {str(pid): int(fold) for pid, fold in folds.items()}}
    with atomic_write(path) as handle:
        json.dump(record, handle, indent=1)


def _check_folds(folds: dict, k, source: str) -> None:
    if not isinstance(k, int) or k < 2:
        raise InputError(f"k must be a whole number >= 2, got {k!r}", source=source)
    for pid, fold in folds.items():
        if isinstance(fold, bool) or not isinstance(fold, (int, np.integer)) or not 0 <= fold < k:
            raise InputError(f"fold {fold!r} is not in 0..{k - 1}", source=source,
                             protein=str(pid))


def fold_groups(train, groups_file: str | os.PathLike | None) -> list[str]:
    """The group of each training protein: its cluster in ``groups_file``, else its sequence.

    Grouping by sequence matters even without clusters: train.pkl and train_pdb_style.fasta
    hold the same proteins under different ids, and one protein in two folds would leak into
    its own out-of-fold prediction.
    """
    clusters = read_groups(groups_file) if groups_file else {}
    by_seq = {p.seq: clusters[p.id] for p in train if p.id in clusters}

    def group(p) -> str:
        if p.id in clusters:
            return "cluster:" + clusters[p.id]
        return "cluster:" + by_seq[p.seq] if p.seq in by_seq else "sequence:" + p.seq

    return [group(p) for p in train]


def read_groups(path: str | os.PathLike) -> dict[str, str]:
    """id -> group from a cluster table.

    Accepted: a TSV/CSV with columns ``id`` and ``cluster`` (any order, others ignored), or
    MMseqs2 easy-cluster's headerless ``representative<TAB>member`` (group = representative).
    """
    source = str(path)
    rows = _table_rows(Path(path), source)
    header = [cell.strip().lower() for cell in rows[0]]
    if ID_COLUMN in header and CLUSTER_COLUMN in header:
        columns = (header.index(ID_COLUMN), header.index(CLUSTER_COLUMN))
        body, first_line = rows[1:], 2
    elif all(len(row) == 2 for row in rows):
        columns, body, first_line = (1, 0), rows, 1  # member, representative
    else:
        raise InputError(f"not a cluster table: expected columns '{ID_COLUMN}' and "
                         f"'{CLUSTER_COLUMN}', or MMseqs2's two columns (representative, "
                         "member)", source=source)
    return _groups(body, columns, first_line, source)


def _table_rows(path: Path, source: str) -> list[list[str]]:
    lines = [line for line in path.read_text(encoding="utf-8-sig").splitlines() if line.strip()]
    if not lines:
        raise InputError("empty cluster table", source=source)
    delimiter = "\t" if "\t" in lines[0] else ","
    return list(csv.reader(lines, delimiter=delimiter))


def _groups(body: list[list[str]], columns: tuple[int, int], first_line: int,
            source: str) -> dict[str, str]:
    id_col, group_col = columns
    groups: dict[str, str] = {}
    for line, row in enumerate(body, first_line):
        if len(row) <= max(columns):
            raise InputError(f"line {line}: too few columns ({row!r})", source=source)
        pid, group = row[id_col].strip(), row[group_col].strip()
        if groups.setdefault(pid, group) != group:
            raise InputError(f"line {line}: in two clusters ({groups[pid]!r} and {group!r})",
                             source=source, protein=pid)
    return groups


def validation_proteins(proteins: Sequence[Protein], fraction: float, seed: int) -> np.ndarray:
    """Which proteins form the early-stopping fold -> (P,) bool.

    A protein's side depends only on its sequence and the seed: duplicated sequences (the
    same protein labelled two ways) fall on one side, and input order changes nothing.
    """
    def unit(seq: str) -> float:
        digest = hashlib.blake2b(f"{seed}:{seq}".encode(), digest_size=8).digest()
        return int.from_bytes(digest, "little") / 2.0 ** 64

    return np.array([unit(p.seq) < fraction for p in proteins], dtype=bool)


def split_validation(proteins: Sequence[Protein], fraction: float, seed: int
                     ) -> tuple[list[Protein], list[Protein]]:
    """``(train, held)``: the proteins a track trains on and those it stops early on."""
    held = validation_proteins(proteins, fraction, seed)
    return ([p for p, h in zip(proteins, held) if not h], [p for p, h in zip(proteins, held) if h])
