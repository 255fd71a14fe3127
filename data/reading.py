"""Reading the files the kit is given as the hostile input they can be.

    with open_regular(path) as handle: ...         # a regular file, or FileRefused
    data = read_bytes(path, limit=1 << 20)         # never more than ``limit`` bytes
    record = read_record(path)                     # a JSON object, bounded in size and depth
    names = folder_files(folder)                   # every file of a folder, none a link

A file is opened without blocking (a FIFO planted where a file should be never hangs a run),
checked to be a regular file by the handle that is then read (a link to ``/dev/zero`` is not
one), and, inside the folders the kit reads as a whole (a model folder, a run folder, a
shard), never through a symbolic link (``links=False``: O_NOFOLLOW). Sizes are bounded
before anything is read: a small file cannot ask for gigabytes. Every refusal is one
``FileRefused`` (or ``InputError`` for bad contents) naming the file.
"""
from __future__ import annotations

import errno
import json
import os
import stat
from pathlib import Path
from typing import BinaryIO

from idr_kit.data.errors import FileRefused, InputError

MAX_RECORD_BYTES = 64 << 20  # a JSON record of the kit's (track.json, config.json, a plan)


def open_regular(path: str | os.PathLike, *, links: bool = True) -> BinaryIO:
    """``path`` opened for reading in binary, once it is known to be a regular file;
    ``links=False`` refuses a symbolic link as the last part of the path."""
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    if not links:
        flags |= os.O_NOFOLLOW
    try:
        fd = os.open(path, flags)
    except OSError as err:
        if err.errno == errno.ENOENT:
            raise FileRefused(f"{path}: missing") from None
        if err.errno == errno.ELOOP and not links:
            raise FileRefused(f"{path}: a symbolic link, where the kit reads only the files "
                              "themselves") from None
        raise FileRefused(f"{path}: cannot read it ({err.strerror or err})") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise FileRefused(f"{path}: not a regular file (a folder, a device, a pipe or a "
                              "socket)")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_bytes(path: str | os.PathLike, limit: int, *, links: bool = True) -> bytes:
    """A regular file's bytes, refused when it holds more than ``limit``."""
    with open_regular(path, links=links) as handle:
        size = os.fstat(handle.fileno()).st_size
        data = handle.read(limit + 1) if size <= limit else b""
    if size > limit or len(data) > limit:
        raise FileRefused(f"{path}: {max(size, len(data)):,} bytes, more than the "
                          f"{limit:,} such a file may hold")
    return data


def read_json(path: str | os.PathLike, *, limit: int = MAX_RECORD_BYTES, links: bool = True):
    """A JSON file's value: a missing, oversized, unreadable or invalid file (too deeply
    nested included) is one error naming it."""
    data = read_bytes(path, limit, links=links)
    try:
        return json.loads(data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError) as err:  # JSONDecodeError too
        raise InputError(f"not valid JSON ({str(err)[:200]})", source=str(path)) from None


def read_record(path: str | os.PathLike, *, limit: int = MAX_RECORD_BYTES,
                links: bool = True) -> dict:
    """``read_json``, which must be a JSON object (a record of named fields)."""
    value = read_json(path, limit=limit, links=links)
    if not isinstance(value, dict):
        raise InputError(f"not a record: a JSON {type(value).__name__}, not an object",
                         source=str(path))
    return value


def folder_files(folder: str | os.PathLike) -> list[str]:
    """Every file under ``folder``, as sorted paths relative to it; FileRefused naming the
    first entry that is a symbolic link or anything but a folder or a regular file."""
    folder = Path(folder)
    if folder.is_symlink() or not folder.is_dir():
        raise FileRefused(f"{folder}: not a folder")
    found = []
    for top, dirs, files in os.walk(folder):  # os.walk lists links to folders, never enters
        for name in sorted(dirs) + sorted(files):
            path = Path(top, name)
            mode = os.lstat(path).st_mode
            if stat.S_ISLNK(mode):
                raise FileRefused(f"{path}: a symbolic link in {folder}, where the kit reads "
                                  "only the files themselves")
            if stat.S_ISREG(mode):
                found.append(str(path.relative_to(folder)))
            elif not stat.S_ISDIR(mode):
                raise FileRefused(f"{path}: not a regular file (a device, a pipe or a socket)")
    return sorted(found)
