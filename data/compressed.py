"""Compressed inputs (gzip, bzip2, xz), read as the bytes they hold, streamed.

    with open_input(path) as handle: ...       # a regular file's bytes, decompressed if need be
    handle = decompressed(raw, source, name)   # an open binary stream, decompressed if need be
    inner_name("x.fasta.gz")                   # "x.fasta": what the format is recognised by

The bytes decide: a file (or stdin) that starts with gzip's, bzip2's or xz's magic is
decompressed whatever its name; a name that says ``.gz`` (``.bz2``, ``.xz``) over bytes that
are not compressed is refused. Decompression is streamed (a block at a time, memory bounded
by the reader's buffer, never the file), every member of a concatenated gzip (or stream of a
concatenated bzip2 or xz) is read, and each checksum is checked. A truncated or damaged
archive, bytes after its end that are not another member, and more than ``MAX_RATIO`` times
the compressed size (a decompression bomb) are each one ``InputError`` naming the file.
What the kit's digests name is the file as stored (its compressed bytes): data/digests.py.
"""
from __future__ import annotations

import bz2
import io
import lzma
import os
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

from idr_kit.data.errors import InputError
from idr_kit.data.reading import open_regular

BLOCK = 1 << 16  # compressed bytes read at a time
# Decompressed bytes may be at most this many times the compressed bytes read (once past
# FREE_BYTES): real protein files compress 3 to 20 times; a bomb, thousands of times.
MAX_RATIO = 256
FREE_BYTES = 64 << 20


@dataclass(frozen=True)
class Compression:
    name: str
    suffixes: tuple[str, ...]
    magic: bytes
    new: Callable[[], object]  # a fresh decompressor for one member (stream)
    zlib_like: bool = False  # zlib keeps unconsumed input in ``unconsumed_tail``


COMPRESSIONS = (
    Compression("gzip", (".gz", ".gzip"), b"\x1f\x8b", lambda: zlib.decompressobj(31), True),
    Compression("bzip2", (".bz2",), b"BZh", bz2.BZ2Decompressor),
    Compression("xz", (".xz",), b"\xfd7zXZ\x00",
                lambda: lzma.LZMADecompressor(format=lzma.FORMAT_XZ)),
)
MAGIC_BYTES = max(len(c.magic) for c in COMPRESSIONS)
DAMAGE = (zlib.error, OSError, lzma.LZMAError, EOFError)


def by_magic(head: bytes) -> Compression | None:
    """The compression whose magic ``head`` starts with, or None."""
    return next((c for c in COMPRESSIONS if head.startswith(c.magic)), None)


def by_name(name: str | os.PathLike) -> Compression | None:
    """The compression a file's name says (``x.fasta.gz``: gzip), or None."""
    suffix = Path(name).suffix.lower()
    return next((c for c in COMPRESSIONS if suffix in c.suffixes), None)


def inner_name(name: str | os.PathLike) -> str:
    """The name without its compression suffix: what names the format inside."""
    return str(Path(name).with_suffix("")) if by_name(name) else str(name)


@contextmanager
def open_input(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """A regular file (data/reading.py's ``open_regular``), as the bytes it holds: decompressed
    when it is compressed."""
    with open_regular(path) as raw:
        yield decompressed(raw, str(path), str(path))


def decompressed(raw: BinaryIO, source: str, name: str | None = None) -> BinaryIO:
    """``raw``'s bytes, decompressed when they start with a compression's magic (``raw`` stays
    its caller's to close); ``name``, when it says a compression, must be one. A buffered
    stream, so lines are read at C speed."""
    head, raw = _head(raw)
    found, named = by_magic(head), by_name(name) if name else None
    if found is None and named is not None:
        what = f"its first bytes are {head[:MAGIC_BYTES]!r}" if head else "it is empty"
        raise InputError(f"named {Path(name).suffix} but not {named.name} data ({what})",
                         source=source)
    if found is None:
        return raw
    return io.BufferedReader(_Inflating(raw, found, source), BLOCK)


def is_compressed(handle: BinaryIO) -> bool:
    """Whether ``handle`` came from ``decompressed`` decompressing."""
    return isinstance(getattr(handle, "raw", None), _Inflating)


def decompressed_bytes(handle: BinaryIO) -> int:
    """Bytes a handle from ``decompressed`` has given so far (its file's size when it is not
    compressed): what bounds what the file can hold."""
    if is_compressed(handle):
        return handle.raw.given
    return os.fstat(handle.fileno()).st_size


def _head(raw: BinaryIO) -> tuple[bytes, BinaryIO]:
    """The first bytes (up to MAGIC_BYTES) and a stream that still starts with them."""
    peek = getattr(raw, "peek", None)
    head = peek(MAGIC_BYTES)[:MAGIC_BYTES] if peek else b""
    if len(head) >= MAGIC_BYTES:
        return head, raw
    if raw.seekable():  # a regular file (or the spool of stdin): read, then back
        head = raw.read(MAGIC_BYTES)
        raw.seek(-len(head), io.SEEK_CUR)
        return head, raw
    head = raw.read(MAGIC_BYTES) if not head else raw.read(len(head))
    while head and len(head) < MAGIC_BYTES:  # a pipe gives what was written so far
        more = raw.read(MAGIC_BYTES - len(head))
        if not more:
            break
        head += more
    return head, io.BufferedReader(_Prefixed(head, raw), BLOCK)


class _Prefixed(io.RawIOBase):
    """``head`` (already read from ``raw``), then the rest of ``raw``."""

    def __init__(self, head: bytes, raw: BinaryIO):
        self.head, self.rest = head, raw

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self.head[:len(buffer)] if self.head else self.rest.read(len(buffer))
        self.head = self.head[len(data):]
        buffer[:len(data)] = data
        return len(data)


class _Inflating(io.RawIOBase):
    """The decompressed bytes of ``raw``: every member, each checksum checked, errors as one
    InputError naming ``source``."""

    def __init__(self, raw: BinaryIO, kind: Compression, source: str):
        self.raw, self.kind, self.source = raw, kind, source
        self.decompressor, self.pending, self.over = kind.new(), b"", False
        self.taken = self.given = 0  # compressed bytes read, decompressed bytes given

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self._read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def _read(self, size: int) -> bytes:
        while not self.over:
            if self.decompressor.eof:
                self._next_member()
                continue
            if not self.pending and self._needs_input():
                self.pending = self._take()
                # At the file's end, zlib may still hold output of what it was given
                if not self.pending and not (self.kind.zlib_like and not self.decompressor.eof
                                             and (data := self._decompress(size))):
                    raise self._error("truncated: the file ends inside the compressed data")
                if not self.pending:
                    return self._give(data)
            data = self._decompress(size)
            if data:
                return self._give(data)
        return b""

    def _give(self, data: bytes) -> bytes:
        self.given += len(data)
        if self.given > FREE_BYTES and self.given > MAX_RATIO * self.taken:
            raise self._error(f"decompresses to more than {MAX_RATIO} times its size "
                              f"({self.given:,} bytes from {self.taken:,}): a decompression "
                              "bomb, or no protein file (decompress it yourself if it is real)")
        return data

    def _needs_input(self) -> bool:
        return self.kind.zlib_like or self.decompressor.needs_input

    def _take(self) -> bytes:
        data = self.raw.read(BLOCK)
        self.taken += len(data)
        return data

    def _decompress(self, size: int) -> bytes:
        try:
            if self.kind.zlib_like:
                data = self.decompressor.decompress(self.pending, size)
                self.pending = self.decompressor.unconsumed_tail
            else:
                feed = self.pending if self.decompressor.needs_input else b""
                data = self.decompressor.decompress(feed, size)
                self.pending = b"" if feed else self.pending
        except DAMAGE as err:
            raise self._error(f"damaged ({err})") from None
        if self.decompressor.eof:  # what follows the member (zlib's tail repeats it)
            self.pending = self.decompressor.unused_data + (
                b"" if self.kind.zlib_like else self.pending)
        return data

    def _next_member(self) -> None:
        """After a member's end: another member, the end of the file (zero padding allowed,
        as gzip and xz allow it), or bytes that are refused."""
        magic = self.kind.magic
        while len(self.pending) < len(magic) and (more := self._take()):
            self.pending += more
        if self.pending.startswith(magic):
            self.decompressor = self.kind.new()
            return
        while self.pending:
            if self.pending.strip(b"\0"):
                raise self._error("bytes after the end of the compressed data that are not "
                                  f"another {self.kind.name} member")
            self.pending = self._take()
        self.over = True

    def _error(self, why: str) -> InputError:
        return InputError(f"not a readable {self.kind.name} file: {why}", source=self.source)
