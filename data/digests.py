"""Digests that name things: a file's bytes, a JSON-able value, a set of proteins.

Every digest in the kit is sha256 (hex) from here, so a record written by one part of the kit
can be checked by another. ``SHORT`` hex digits name checkpoints and caches: enough to never
collide by chance among one user's runs, short enough to read in a file name.
"""
from __future__ import annotations

import hashlib
import json
import os
from typing import Iterable

from idr_kit.data.reading import open_regular
from idr_kit.data.records import Protein

SHORT = 16
BLOCK = 1 << 20  # bytes read at a time: a 15 GB weights file never sits in memory


def file_sha256(path: str | os.PathLike, *, links: bool = True) -> str:
    """The sha256 of a regular file's bytes, 64 hex digits (``links=False``: never through a
    symbolic link)."""
    digest = hashlib.sha256()
    with open_regular(path, links=links) as handle:
        for block in iter(lambda: handle.read(BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def value_digest(value) -> str:
    """SHORT hex digits naming a JSON-able value; key order does not matter."""
    return text_sha256(json.dumps(value, sort_keys=True, default=str))[:SHORT]


def proteins_digest(proteins: Iterable[Protein], *, labels: bool) -> str:
    """SHORT hex digits naming proteins in order: ids and sequences, and labels when asked.

    Training data is named with its labels (a changed label is other training data); proteins
    to predict without them, so unlabelled proteins and labelled ones share a name.
    """
    digest = hashlib.sha256()
    for p in proteins:
        text = p.label_string() if labels and p.has_labels else ""
        digest.update(f"{p.id}\n{p.seq}\n{text}\n".encode())
    return digest.hexdigest()[:SHORT]


def checkpoint_tag(config: dict, folds: Iterable[int], proteins: Iterable[Protein]) -> str:
    """Names a piece of resumable work (a fold, an epoch file, a member's model): a change of
    config, folds or training data (labels too) starts afresh."""
    return value_digest({"config": config, "folds": [int(f) for f in folds],
                         "proteins": proteins_digest(proteins, labels=True)})
