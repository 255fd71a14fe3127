"""Atomic file writes: a reader sees the old file or the whole new one, never half of one.

The temporary file beside the target is locked (flock) while it is written, so a temporary
file that a killed process left behind (SIGKILL, a power cut: no handler runs) is known by its
lock being free, whatever its age, and the next write of the same target removes it. A writer
locks its file a moment after ``mkstemp`` makes it; a cleaner that takes the lock in that
moment removes the file only while holding the lock, and the writer, once it has the lock,
checks that the name is still its file (else it makes another): no age window is needed.

Every write obeys the output policy (data/outputs.py): the target is new or a regular file,
checked when the write starts and again just before the rename, so a device, FIFO, socket or
link is never replaced; an existing file keeps its permissions (a 600 file stays 600), a new
one gets what ``open`` gives under the umask; missing folders are made, and removed again if
the write fails.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import stat
import tempfile
from pathlib import Path
from typing import IO, Iterator

from idr_kit.data.errors import FileRefused, UserError
from idr_kit.data.outputs import kind_of, lstat_or_none, made_folders

TMP_SUFFIX = ".tmp"  # hidden ".NAME.XXXX.tmp" files beside their target while being written
LOCK_TRIES = 100  # temporary files a writer makes before giving up (each lost to a cleaner)


def umask() -> int:
    """The process's umask, read without changing it where Linux tells it (/proc)."""
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def new_file_mode() -> int:
    """What ``open(path, "w")`` gives a new file (mkstemp's files are 0600 whatever the umask)."""
    return 0o666 & ~umask()


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w", **open_kwargs) -> Iterator[IO]:
    """Open a temporary file beside ``path``; on a clean exit, rename it over ``path``.

    Text (``mode`` without ``b``) is UTF-8 unless ``encoding`` says otherwise. On an
    exception the temporary file is removed and ``path`` is left as it was. A write the
    system refuses (no space, no permission), or a ``path`` that is not a regular file, is a
    ``FileRefused`` naming ``path``.
    """
    path = Path(path)
    if "b" not in mode:  # every text file the kit writes is UTF-8, whatever the locale says
        open_kwargs.setdefault("encoding", "utf-8")
    existing = regular_or_absent(path)
    with made_folders(path.parent):
        try:
            remove_stale_temporaries(path)
            fd, tmp = _locked_temporary(path)
        except OSError as err:
            raise _refused(path, err) from None
        lock = os.dup(fd)  # holds the lock until the file has its name, after the handle closes
        try:
            _give_mode(fd, existing)
            with os.fdopen(fd, mode, **open_kwargs) as handle:
                yield handle
                handle.flush()
                os.fsync(handle.fileno())
            regular_or_absent(path)  # again: it may have been replaced while we wrote
            os.replace(tmp, path)
        except BaseException as err:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            if isinstance(err, OSError) and not isinstance(err, UserError):
                raise _refused(path, err) from None
            raise
        finally:
            os.close(lock)


def regular_or_absent(path: Path) -> os.stat_result | None:
    """``path``'s lstat when it is a regular file, None when there is none; FileRefused for
    anything else (a link, device, FIFO, socket, folder): never unlinked nor replaced."""
    st = lstat_or_none(path)
    if st is not None and not stat.S_ISREG(st.st_mode):
        raise FileRefused(f"{path}: {kind_of(st.st_mode)}; the kit writes its outputs as new "
                          "or regular files only, and never replaces anything else")
    return st


def _give_mode(fd: int, existing: os.stat_result | None) -> None:
    """The new file's permissions: those of the file it replaces (and its owner and group
    where this process may keep them), else the umask's."""
    if existing is None:
        os.fchmod(fd, new_file_mode())
        return
    os.fchmod(fd, stat.S_IMODE(existing.st_mode))
    with contextlib.suppress(OSError):  # only root may give a file to another user
        if (existing.st_uid, existing.st_gid) != (os.getuid(), os.getgid()):
            os.fchown(fd, existing.st_uid, existing.st_gid)
            os.fchmod(fd, stat.S_IMODE(existing.st_mode))  # fchown clears setuid/setgid


def _locked_temporary(path: Path) -> tuple[int, str]:
    """A new temporary file beside ``path``, locked, that still bears its name: a cleaner
    that took its lock before us may have removed it, and then we make another."""
    for _ in range(LOCK_TRIES):
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TMP_SUFFIX, dir=path.parent)
        fcntl.flock(fd, fcntl.LOCK_EX)
        if _bears_name(fd, tmp):
            return fd, tmp
        os.close(fd)
    raise OSError(f"no temporary file could be kept beside it ({LOCK_TRIES} tries)")


def _bears_name(fd: int, name: str) -> bool:
    st, held = lstat_or_none(name), os.fstat(fd)
    return st is not None and (st.st_dev, st.st_ino) == (held.st_dev, held.st_ino)


def remove_stale_temporaries(path: Path) -> None:
    """Remove the temporary files of ``path`` that no living writer holds (their lock is
    free), whatever their age: a writer that had not locked its file yet finds it gone once it
    has the lock, and makes another."""
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
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if _bears_name(fd, name):  # and not a new file that took a removed one's name
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
