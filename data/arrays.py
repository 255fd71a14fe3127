"""Arrays of a model folder (``.npz``), checked against the shapes they must have before any
memory is given to them: the header of each array is read first, and an array of another
shape, dtype or size is refused with one line naming the file. A 4 MB ``.npz`` of zeros can
declare 4 GB; it never gets them.

    read_arrays(path, {"table": (25, 100)})            # exact shape
    read_arrays(path, {"mean": (None,)}, max_items=N)  # any length, at most N values
"""
from __future__ import annotations

import os
import zipfile
from typing import Mapping

import numpy as np

from idr_kit.data.errors import FileRefused

Shape = tuple  # of int, or None for "any size"
MAX_ITEMS = 1 << 28  # 2^28 values (1 GiB of float32): more than any array a model here holds


def read_arrays(path: str | os.PathLike, shapes: Mapping[str, Shape], *,
                max_items: int = MAX_ITEMS, kinds: str = "fiub") -> dict[str, np.ndarray]:
    """The arrays ``shapes`` names, each of that shape (None: any length), of a numeric kind,
    with at most ``max_items`` values; FileRefused otherwise."""
    try:
        with zipfile.ZipFile(path) as archive:
            return {name: _read(archive, name, shape, max_items, kinds, path)
                    for name, shape in shapes.items()}
    except (zipfile.BadZipFile, OSError, EOFError) as err:
        if isinstance(err, FileRefused):
            raise
        raise FileRefused(f"{path}: not a readable array file ({str(err)[:200]})") from None


def _read(archive: zipfile.ZipFile, name: str, shape: Shape, max_items: int, kinds: str,
          path) -> np.ndarray:
    member = f"{name}.npy"
    if member not in archive.namelist():
        raise FileRefused(f"{path}: has no array {name!r}")
    with archive.open(member) as handle:
        found, dtype = _header(handle, path, name)
    size = int(np.prod(found, dtype=np.float64))
    fits = len(found) == len(shape) and all(want is None or want == got
                                            for want, got in zip(shape, found))
    if not fits or dtype.kind not in kinds or size > max_items:
        raise FileRefused(f"{path}: array {name!r} is {found} of {dtype}, not the "
                          f"{tuple('any' if s is None else s for s in shape)} it must be "
                          "(damaged, or from another model)")
    with archive.open(member) as handle:
        try:
            return np.lib.format.read_array(handle, allow_pickle=False)
        except (ValueError, OSError, EOFError) as err:
            raise FileRefused(f"{path}: array {name!r} cannot be read ({str(err)[:200]})") \
                from None


def _header(handle, path, name) -> tuple[tuple, np.dtype]:
    try:
        version = np.lib.format.read_magic(handle)
        read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                else np.lib.format.read_array_header_2_0)
        shape, _, dtype = read(handle)
    except (ValueError, OSError, EOFError) as err:
        raise FileRefused(f"{path}: array {name!r} has no readable header ({str(err)[:200]})") \
            from None
    return tuple(shape), dtype
