"""Atomic file writes: a reader sees the old file or the whole new one, never half of one.

The temporary file beside the target is locked (flock) while it is written, so a temporary
file that a killed process left behind (SIGKILL, a power cut: no handler runs) is known by its
lock being free, and the next write of the same target removes it.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
import time
from pathlib import Path
from typing import IO, Iterator

from idr_kit.data.errors import FileRefused, UserError

TMP_SUFFIX = ".tmp"  # hidden ".NAME.XXXX.tmp" files beside their target while being written
STALE_SECONDS = 10  # a temporary file this old whose lock is free was left by a dead writer


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# mkstemp creates files 0600 whatever the umask; a finished file gets what open() would give.
FILE_MODE = 0o666 & ~_umask()


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w", **open_kwargs) -> Iterator[IO]:
    """Open a temporary file beside ``path``; on a clean exit, rename it over ``path``.

    On an exception the temporary file is removed and ``path`` is left as it was. A write the
    system refuses (no space, no permission) is a ``FileRefused`` naming ``path``.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(path)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TMP_SUFFIX, dir=path.parent)
    except OSError as err:
        raise _refused(path, err) from None
    lock = os.dup(fd)  # holds the lock until the file has its name, after the handle closes
    fcntl.flock(lock, fcntl.LOCK_EX)
    os.fchmod(fd, FILE_MODE)
    try:
        with os.fdopen(fd, mode, **open_kwargs) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(err, OSError) and not isinstance(err, UserError):
            raise _refused(path, err) from None
        raise
    finally:
        os.close(lock)


def remove_stale_temporaries(path: Path) -> None:
    """Remove the temporary files of ``path`` that no living writer holds (their lock is
    free) and that are older than ``STALE_SECONDS`` (a writer locks its file the moment after
    it makes it)."""
    prefix = f".{path.name}."
    with os.scandir(path.parent) as entries:
        stale = [entry.path for entry in entries if entry.name.startswith(prefix)
                 and entry.name.endswith(TMP_SUFFIX) and entry.is_file(follow_symlinks=False)]
    for name in stale:
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            continue
        try:
            if time.time() - os.fstat(fd).st_mtime < STALE_SECONDS:
                continue
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.unlink(name)
        except OSError:  # locked: its writer is alive
            continue
        finally:
            os.close(fd)


def _refused(path: Path, err: OSError) -> FileRefused:
    return FileRefused(f"{path}: cannot write there ({err.strerror or err})")


def write_json(path: str | os.PathLike, obj) -> None:
    with atomic_write(path) as handle:
        json.dump(obj, handle, indent=2)
        handle.write("\n")
