"""The deflines of a BLAST database's header file (``.phr``): ASN.1 BER ``Blast-def-line-set``.

    accession, title = read_defline(blob, source="db.phr", record=7)

Each header is one BER value (NCBI's asn.all, module NCBI-BlastDL):

    Blast-def-line-set ::= SEQUENCE OF Blast-def-line
    Blast-def-line ::= SEQUENCE { title [0] VisibleString OPTIONAL, seqid [1] SEQUENCE OF Seq-id,
                                  taxid [2] INTEGER OPTIONAL, ... }

NCBI writes every tagged field as an explicit, constructed tag of indefinite length around its
universal value (``a0 80 1a 5e <title> 00 00``); definite lengths are read as well. Only the
first defline is read (the others of a set are the same sequence under other names). A blob
that is not such a value (a length past its end, nesting deeper than MAX_DEPTH, a defline
without ids) is one ``InputError`` naming the file and the record.
"""
from __future__ import annotations

from idr_kit.data.errors import InputError, brief
from idr_kit.data.records import MAX_ID_CHARS

MAX_DEPTH = 24  # a defline nests 8 deep; deeper is a garbled or hostile blob
UNIVERSAL, CONTEXT = 0, 2
SEQUENCE, VISIBLE_STRING, INTEGER = 16, 26, 2
ORDINAL_DB = "BL_ORD_ID"  # makeblastdb's own id (the record's number) when no id was parsed
# Seq-id choices (NCBI-Seqloc) whose value is a Textseq-id {name, accession, release, version}.
TEXTSEQ_CHOICES = {4, 5, 6, 7, 9, 12, 13, 15, 16, 17, 18, 19}
LOCAL, GENERAL, GI, PDB = 0, 10, 11, 14
# FASTA-style tags before an accession in a title's first word ("sp|P12345|NAME").
FASTA_TAGS = {"sp", "tr", "gb", "emb", "dbj", "ref", "pir", "prf", "pdb", "lcl", "gi", "tpg",
              "tpe", "tpd", "gpp", "nat", "pat", "bbs", "bbm", "gim", "gnl"}


class Garbled(Exception):
    """A BER blob that does not decode; becomes an InputError naming file and record."""


def read_defline(blob: bytes, *, source: str, record: int) -> tuple[str, str]:
    """(accession, title) of the first defline of a header blob."""
    try:
        node, end = parse(blob, 0, len(blob), 0)
        if end != len(blob):
            raise Garbled(f"{len(blob) - end} bytes after the defline set")
        first = _first_defline(node)
        title = _string(_field(first, 0)) if 0 in first[2] else ""
        accession = _accession(_field(first, 1), title)
        if not 0 < len(accession) <= MAX_ID_CHARS or any(c.isspace() for c in accession):
            raise Garbled(f"no accession of 1 to {MAX_ID_CHARS} characters in its ids or "
                          f"title ({brief(accession)})")
        return accession, title
    except Garbled as err:
        raise InputError(f"header of record {record + 1:,} is not a Blast-def-line-set "
                         f"({err})", source=source) from None


def parse(buf: bytes, pos: int, end: int, depth: int):
    """One BER value at ``pos``: ((class, number, children or bytes), the position after it)."""
    if depth > MAX_DEPTH:
        raise Garbled(f"nested more than {MAX_DEPTH} deep")
    cls, constructed, number, pos = _tag(buf, pos, end)
    length, pos = _length(buf, pos, end, constructed)
    if not constructed:
        return (cls, number, bytes(buf[pos:pos + length])), pos + length
    children, stop = [], end if length is None else pos + length
    while True:
        if length is None and buf[pos:pos + 2] == b"\0\0":
            return (cls, number, {"items": children}), pos + 2
        if length is not None and pos == stop:
            return (cls, number, {"items": children}), pos
        if pos >= stop:
            raise Garbled("a value runs past its end")
        child, pos = parse(buf, pos, stop, depth + 1)
        children.append(child)


def _tag(buf: bytes, pos: int, end: int) -> tuple[int, bool, int, int]:
    if pos >= end:
        raise Garbled("a value runs past its end")
    first = buf[pos]
    number, pos = first & 0x1F, pos + 1
    if number == 0x1F:  # a high tag number, base 128
        number = 0
        for _ in range(4):
            if pos >= end:
                raise Garbled("a tag runs past its end")
            number, more, pos = number << 7 | buf[pos] & 0x7F, buf[pos] & 0x80, pos + 1
            if not more:
                break
        else:
            raise Garbled("a tag number of more than 4 bytes")
    return first >> 6, bool(first & 0x20), number, pos


def _length(buf: bytes, pos: int, end: int, constructed: bool) -> tuple[int | None, int]:
    if pos >= end:
        raise Garbled("a length runs past its end")
    first, pos = buf[pos], pos + 1
    if first == 0x80:
        if not constructed:
            raise Garbled("an indefinite length on a primitive value")
        return None, pos
    if first < 0x80:
        length = first
    else:
        size = first & 0x7F
        if size > 4 or pos + size > end:
            raise Garbled("a length of more than 4 bytes or past the end")
        length, pos = int.from_bytes(buf[pos:pos + size], "big"), pos + size
    if pos + length > end:
        raise Garbled(f"a length of {length:,} bytes past the end")
    return length, pos


def _first_defline(node):
    items = _items(node, UNIVERSAL, SEQUENCE, "the defline set")
    if not items:
        raise Garbled("no defline")
    first = items[0]
    _items(first, UNIVERSAL, SEQUENCE, "a defline")
    fields = {}
    for cls, number, value in first[2]["items"]:
        if cls == CONTEXT and isinstance(value, dict):
            fields.setdefault(number, (cls, number, value))
    return first[0], first[1], fields


def _items(node, cls: int, number: int, what: str) -> list:
    if node[0] != cls or node[1] != number or not isinstance(node[2], dict):
        raise Garbled(f"{what} is not a SEQUENCE")
    return node[2]["items"]


def _field(defline, number: int):
    """The value inside a defline's explicit tag ``[number]``."""
    if number not in defline[2]:
        raise Garbled(f"no field [{number}]")
    return _inner(defline[2][number])


def _inner(tagged):
    items = tagged[2]["items"] if isinstance(tagged[2], dict) else []
    if len(items) != 1:
        raise Garbled(f"tag [{tagged[1]}] holds {len(items)} values, not 1")
    return items[0]


def _string(node) -> str:
    if node[0] != UNIVERSAL or node[1] != VISIBLE_STRING or isinstance(node[2], dict):
        raise Garbled("a string field that is not a VisibleString")
    return node[2].decode("utf-8", errors="replace")


def _integer(node) -> int:
    if node[0] != UNIVERSAL or node[1] != INTEGER or isinstance(node[2], dict) \
            or not 1 <= len(node[2]) <= 8:
        raise Garbled("an integer field that is not an INTEGER of 1 to 8 bytes")
    return int.from_bytes(node[2], "big", signed=True)


def _accession(seqids, title: str) -> str:
    """The name of the first Seq-id that carries one; for makeblastdb's ordinal id alone,
    the accession in the title's first word (``B0RED7|GO:...``, ``sp|P12345|NAME``)."""
    for choice in _items(seqids, UNIVERSAL, SEQUENCE, "the seqid list"):
        name = _seqid_name(choice)
        if name:
            return name
    return title_accession(title)


def _seqid_name(choice) -> str:
    if choice[0] != CONTEXT:
        raise Garbled("a Seq-id that is not a CHOICE")
    value, number = _inner(choice), choice[1]
    if number in TEXTSEQ_CHOICES:
        fields = {n: _inner((c, n, v)) for c, n, v in _items(value, UNIVERSAL, SEQUENCE,
                                                             "a Textseq-id")}
        return next((_string(fields[n]) for n in (1, 0) if n in fields), "")
    if number == GENERAL:
        fields = {n: _inner((c, n, v)) for c, n, v in _items(value, UNIVERSAL, SEQUENCE,
                                                             "a Dbtag")}
        if 0 not in fields or 1 not in fields:
            raise Garbled("a Dbtag without db or tag")
        return "" if _string(fields[0]) == ORDINAL_DB else _object_id(fields[1])
    if number == LOCAL:
        return _object_id(value)
    if number == GI:
        return str(_integer(value))
    if number == PDB:
        fields = _items(value, UNIVERSAL, SEQUENCE, "a PDB-seq-id")
        return _string(_inner(fields[0])) if fields else ""
    return ""


def _object_id(choice) -> str:
    """Object-id ::= CHOICE { id [0] INTEGER, str [1] VisibleString }."""
    if choice[0] != CONTEXT or not isinstance(choice[2], dict):
        raise Garbled("an Object-id that is not a CHOICE")
    value = _inner(choice)
    return str(_integer(value)) if choice[1] == 0 else _string(value)


def title_accession(title: str) -> str:
    words = title.split(maxsplit=1)
    fields = words[0].split("|") if words else [""]
    if fields[0].lower() in FASTA_TAGS and len(fields) > 1:
        return fields[2] if fields[0].lower() == "gnl" and len(fields) > 2 else fields[1]
    return fields[0]
