"""DisProt release files (JSON) -> proteins with "NOX style" labels.

A release, as the DisProt API serves it (``/api/search?...&format=json``), looks like

    {"data": [{"disprot_id": "DP00003", "acc": "P03265", "sequence": "MASR...",
               "regions": [{"start": 1, "end": 59, "term_namespace": "Structural state",
                            "term_name": "disorder", "term_id": "IDPO:00076", ...}, ...]},
              ...],
     "size": 3000}

Regions are 1-based and inclusive. A residue is labelled 1 if any region that denotes disorder
covers it, else 0 (nothing is ``-``: the competition's training labels are made this way).

Which regions denote disorder. DisProt annotates regions with IDPO/GO terms in four namespaces
(the ``term_namespace`` field): "Structural state", "Structural transition", "Interaction
partner" and "Disorder function". We count
  - Structural state terms naming a disordered state: "disorder", and the "pre-molten globule"
    and "molten globule" states (collapsed but without a fixed fold); "order" does not count;
  - Structural transition terms with a disordered state on either side ("disorder to order",
    "order to disorder", ...): the region is disordered in one of the conditions studied;
  - every Disorder function term: the namespace holds functions of disordered regions.
"Interaction partner" terms are left out: they say what a region binds, not that it is
disordered, and a disordered binder is already annotated with a state or transition. A region
without a namespace (very old files) counts if its term name is a disordered state.
"""
from __future__ import annotations

import io
import json
import os
from collections.abc import Iterable

import numpy as np

from idr_kit.data.compressed import open_input
from idr_kit.data.errors import InputError
from idr_kit.data.records import Protein, check_id, check_unique_ids, make_protein

DISORDERED_STATES = ("disorder", "pre-molten globule", "molten globule")
STATE, TRANSITION, FUNCTION = "structural state", "structural transition", "disorder function"


def is_disorder_region(region: dict) -> bool:
    """Whether a DisProt region annotation says its residues are disordered (see above)."""
    namespace = str(region.get("term_namespace") or "").strip().lower()
    name = str(region.get("term_name") or "").strip().lower()
    if namespace in (STATE, ""):
        return name in DISORDERED_STATES
    if namespace == TRANSITION:
        return any(state in name for state in DISORDERED_STATES)
    return namespace == FUNCTION


def read_disprot_json(path: str | os.PathLike) -> list[Protein]:
    """Proteins (id = disprot_id) with 0/1 labels from a DisProt release JSON."""
    source = str(path)
    entries = _entries(_load_json(path), source)
    merged = _merge_rows(entries, source)
    proteins = [_protein(entry, regions, source) for entry, regions in merged.values()]
    check_unique_ids(proteins, source=source)
    return proteins


def _load_json(path: str | os.PathLike):
    try:
        with open_input(path) as raw:  # a .json.gz too (data/compressed.py)
            return json.load(io.TextIOWrapper(raw, encoding="utf-8-sig"))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as err:
        raise InputError(f"not a JSON file ({str(err)[:200]})", source=str(path)) from None


def _entries(payload, source: str) -> list[dict]:
    entries = payload.get("data") if isinstance(payload, dict) else payload
    if not isinstance(entries, list):
        raise InputError('not a DisProt release: expected {"data": [entry, ...]} or a list '
                         "of entries", source=source)
    size = payload.get("size") if isinstance(payload, dict) else None
    if isinstance(size, int) and size > len(entries):
        raise InputError(f"holds {len(entries)} of the {size} entries the server reported: "
                         "one page of a paged download; fetch the whole release "
                         "(python -m data.download disprot)", source=source)
    return entries


def _merge_rows(entries: list, source: str) -> dict[str, tuple[dict, list[dict]]]:
    """disprot_id -> (entry, all its regions).

    Some DisProt exports have one row per region (with "regions" a single dict); rows of one
    entry are merged, and must agree on the sequence.
    """
    merged: dict[str, tuple[dict, list[dict]]] = {}
    for index, entry in enumerate(entries):
        pid = _entry_id(index, entry, source)
        regions = _regions(entry, pid, source)
        if pid not in merged:
            merged[pid] = (entry, regions)
        elif merged[pid][0].get("sequence") != entry.get("sequence"):
            raise InputError("listed twice with different sequences", source=source,
                             protein=pid)
        else:
            merged[pid][1].extend(regions)
    return merged


def _entry_id(index: int, entry, source: str) -> str:
    if not isinstance(entry, dict) or "disprot_id" not in entry or "sequence" not in entry:
        raise InputError(f"entry [{index}] is not a DisProt entry (a dict with 'disprot_id' "
                         "and 'sequence')", source=source)
    return check_id(entry["disprot_id"], source=f"{source}: entry [{index}]")


def _regions(entry: dict, pid: str, source: str) -> list[dict]:
    regions = entry.get("regions") or []
    regions = [regions] if isinstance(regions, dict) else regions
    if not isinstance(regions, list) or not all(isinstance(r, dict) for r in regions):
        raise InputError("'regions' is not a list of region objects", source=source,
                         protein=pid)
    return list(regions)


def _protein(entry: dict, regions: Iterable[dict], source: str) -> Protein:
    pid = entry["disprot_id"].strip()  # checked by _entry_id
    plain = make_protein(pid, entry["sequence"], source=source)
    labels = np.zeros(len(plain), dtype=np.uint8)
    for region in regions:
        if is_disorder_region(region):
            start, end = _span(region, len(plain), pid, source)
            labels[start - 1:end] = 1
    return make_protein(pid, plain.seq, labels, source=source)


def _span(region: dict, length: int, pid: str, source: str) -> tuple[int, int]:
    """The region's 1-based inclusive (start, end), checked against the sequence."""
    name = region.get("region_id") or region.get("term_name") or "region"
    try:
        start, end = int(region["start"]), int(region["end"])
    except (KeyError, TypeError, ValueError):
        raise InputError(f"{name}: start/end missing or not whole numbers "
                         f"({region.get('start')!r}, {region.get('end')!r})", source=source,
                         protein=pid)
    if not 1 <= start <= end <= length:
        raise InputError(f"{name}: region {start}-{end} lies outside the sequence "
                         f"(length {length})", source=source, protein=pid,
                         position=start if start < 1 or start > length else end)
    return start, end
