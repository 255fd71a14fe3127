"""Atomic file writes: a reader sees the old file or the whole new one, never half of one."""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import IO, Iterator

from idr_kit.data.errors import FileRefused, InputError, UserError

TMP_SUFFIX = ".tmp"  # hidden ".NAME.XXXX.tmp" files beside their target while being written


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
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TMP_SUFFIX, dir=path.parent)
    except OSError as err:
        raise _refused(path, err) from None
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


def _refused(path: Path, err: OSError) -> FileRefused:
    return FileRefused(f"{path}: cannot write there ({err.strerror or err})")


def write_json(path: str | os.PathLike, obj) -> None:
    with atomic_write(path) as handle:
        json.dump(obj, handle, indent=2)
        handle.write("\n")


def read_json(path: str | os.PathLike):
    """A JSON file's value; a missing, unreadable or invalid file is one error naming it."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileRefused(f"{path}: missing") from None
    except OSError as err:
        raise FileRefused(f"{path}: cannot read it ({err.strerror or err})") from None
    except (ValueError, UnicodeDecodeError, RecursionError) as err:  # JSONDecodeError: ValueError
        raise InputError(f"not valid JSON ({str(err)[:200]})", source=str(path)) from None
