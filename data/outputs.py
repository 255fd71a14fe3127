"""The one policy every file the kit writes obeys, whatever door it comes through (idr-predict,
submit.py, idr-merge, idr-image, plots, the Python API):

* an output is new or a regular file: never a device, a FIFO, a socket or a symbolic link
  (checked with ``lstat``, here and again by atomic.py just before its rename);
* never one of the run's inputs, nor inside an input folder (a model) or the shipped models'
  folder, and an output folder never holds an input: compared by identity, (st_dev, st_ino) on
  the path and on every existing folder above it, so no spelling (``..``, a trailing slash, a
  link to a folder, relative or absolute), hard link or bind mount gets around it;
* its folders are created only once every check has passed (``made_folders``), and removed
  again if the write then fails;
* names made from ids (.npz members, plot files) are unique and never shaped like a path or an
  option (``SafeNames``), with an index from name to id where the two differ.

    check_output_file(out, [("the model", model), ("an input file", fasta)])
    check_output_folder(folder, inputs)
    with made_folders(folder): ...

Every refusal is a ``FileRefused`` (one line, exit status 2) raised before anything is made.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import re
import stat
import unicodedata
from pathlib import Path
from typing import Iterator, Sequence

from idr_kit.data.errors import FileRefused

Inputs = Sequence["tuple[str, str | os.PathLike]"]  # (role, path): ("the model", m) ...

# The package's shipped models (models/predictor, models/predictor-fast, and any beside them):
# no output goes there, whichever model a run uses.
SHIPPED_MODELS = Path(__file__).resolve().parents[1] / "models"
SHIPPED_ROLE = "the kit's shipped models' folder"
KINDS = {stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device",
         stat.S_IFIFO: "a FIFO (named pipe)", stat.S_IFSOCK: "a socket",
         stat.S_IFLNK: "a symbolic link", stat.S_IFDIR: "a folder", stat.S_IFREG: "a file"}


def kind_of(mode: int) -> str:
    return KINDS.get(stat.S_IFMT(mode), "not a regular file")


def lstat_or_none(path: str | os.PathLike) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None
    except NotADirectoryError:  # a parent is a file: check_output_file says so
        return None


def check_output_file(path: str | os.PathLike, inputs: Inputs = ()) -> None:
    """``path`` may be written as a file, replaced whole: FileRefused otherwise (module doc).
    Creates nothing."""
    given, path = os.fspath(path), Path(path)
    if given.endswith((os.sep, os.sep + ".", os.sep + "..")) or given in (".", ".."):
        raise FileRefused(f"{given}: names a folder; name a file to write")
    st = lstat_or_none(path)
    if st is not None and not stat.S_ISREG(st.st_mode):
        what = kind_of(st.st_mode)
        raise FileRefused(f"{path}: {what}; the kit writes its outputs as new or regular files "
                          "only" + (": name a file" if what == "a folder" else
                                    ": name the place itself" if stat.S_ISLNK(st.st_mode)
                                    else ", never over a device, FIFO or socket"))
    _check_places(path, inputs, folder=False)
    _check_writable_place(path)


def check_output_folder(path: str | os.PathLike, inputs: Inputs = ()) -> None:
    """``path`` may be an output folder that a run fills and may empty: FileRefused otherwise
    (module doc). Creates nothing."""
    path = Path(path)
    st = lstat_or_none(path)
    if st is not None and not stat.S_ISDIR(st.st_mode):
        what = kind_of(st.st_mode)
        raise FileRefused(f"{path}: {what}, not a folder; name a folder to write" +
                          (" (the kit writes through no link: name the place itself)"
                           if stat.S_ISLNK(st.st_mode) else ""))
    _check_places(path, inputs, folder=True)
    if st is not None:
        check_folder_entries(path)
    _check_writable_place(path / "x")


def check_folder_entries(folder: Path) -> None:
    """FileRefused when anything inside ``folder``, at any depth, is neither a regular file
    nor a folder: writing through a link or clearing it could reach files outside the folder,
    and a device, FIFO or socket is never replaced or removed."""
    for top, dirs, files in os.walk(folder):  # os.walk follows no link to a folder
        for name in dirs + files:
            entry = Path(top, name)
            mode = os.lstat(entry).st_mode
            if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                raise FileRefused(f"{folder} holds {kind_of(mode)} ({entry}); the kit's output "
                                  "folders hold only regular files and folders: remove it, or "
                                  "choose another folder")


def check_distinct(paths: Sequence[str | os.PathLike]) -> None:
    """FileRefused when two of the output files ``paths`` are one file under two spellings."""
    seen: list[Path] = []
    for path in map(Path, paths):
        for other in seen:
            if _resolved(path) == _resolved(other) or _same_file(path, other):
                raise FileRefused(f"{other} and {path} are the same file; give each output "
                                  "its own")
        seen.append(path)


def _check_places(out: Path, inputs: Inputs, *, folder: bool) -> None:
    """The output is no input, lies inside no input folder nor the shipped models, and (a
    folder) holds no input: by path once resolved and by identity of every existing folder."""
    where, here = _resolved(out), _identity(out)
    above = _identities(where)  # out itself (if it exists) and every folder above it
    shipped = [(SHIPPED_ROLE, SHIPPED_MODELS)] if SHIPPED_MODELS.is_dir() else []
    for role, given in [*inputs, *shipped]:
        given = Path(given)
        mine = _identity(given)
        if _resolved(given) in (where, *where.parents) or (mine is not None and mine in above):
            how = "is" if mine is not None and mine == here else "lies inside"
            raise FileRefused(f"{out} {how} {role} ({given}); a run never writes where it "
                              "reads, nor into a model folder: choose another output")
        if folder and here is not None and here in _identities(_resolved(given).parent):
            raise FileRefused(f"{out} holds {role} ({given}), which this run reads; a run may "
                              "empty its output folder, so choose one that does not hold its "
                              "inputs")


def _check_writable_place(path: Path) -> None:
    """The nearest existing folder above ``path`` is a folder this process may write in."""
    for parent in _resolved(path).parents:
        st = lstat_or_none(parent)
        if st is None:
            continue
        if not stat.S_ISDIR(st.st_mode):
            raise FileRefused(f"{path}: cannot write there ({parent} is "
                              f"{kind_of(st.st_mode)}, not a folder)")
        if not os.access(parent, os.W_OK | os.X_OK):
            raise FileRefused(f"{path}: cannot write there ({parent}: permission denied, or a "
                              "read-only file system); choose another place")
        return


def _resolved(path: Path) -> Path:
    return Path(os.path.realpath(path))


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _identities(path: Path) -> set[tuple[int, int]]:
    """(st_dev, st_ino) of ``path`` and of each existing folder above it."""
    found = (_identity(p) for p in [path, *path.parents])
    return {i for i in found if i is not None}


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


@contextlib.contextmanager
def made_folders(folder: str | os.PathLike) -> Iterator[Path]:
    """Create ``folder`` and its missing parents; when the block raises, remove again each
    folder this call created that is empty by then (deepest first), so a refused run leaves
    no folder behind."""
    folder = Path(folder)
    missing = [p for p in [folder, *folder.parents] if lstat_or_none(p) is None]
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise FileRefused(f"{folder}: cannot make the folder ({err.strerror or err})") from None
    try:
        yield folder
    except BaseException:
        remove_made(missing)
        raise


def remove_made(folders: Sequence[Path]) -> None:
    """rmdir each of ``folders`` (deepest first) that is still empty."""
    for made in folders:
        try:
            made.rmdir()
        except OSError:
            return  # not empty (or gone): nor is any folder above it to remove


# ---- names from ids --------------------------------------------------------------------------

MAX_STEM_BYTES = 200  # an id + ".npy" or ".png" within the 255 bytes a file name may take
DERIVED = "_"  # derived names start with it and safe ids never do, so they cannot collide
SHOWN_STEM = 40  # characters of a sanitized id kept in its derived name
UNSAFE = re.compile(r"[^A-Za-z0-9_.+=,@~-]")


def is_safe_stem(pid: str) -> bool:
    """Whether ``pid`` is a file name as it is: no path or option shape, no control
    character, not hidden, not the reserved derived-name prefix, not too long."""
    return (isinstance(pid, str) and pid != "" and not pid.startswith(("-", ".", DERIVED))
            and "/" not in pid and "\\" not in pid
            and not any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in pid)
            and len(pid.encode("utf-8", "surrogatepass")) <= MAX_STEM_BYTES)


class SafeNames:
    """Names for ids, given one at a time: ``pid + suffix`` when the id is safe, else
    ``_<the id's safe letters>_<12 hex of its sha256> + suffix``; each name unique.
    ``index`` maps each name that is not ``pid + suffix`` to its id."""

    def __init__(self, suffix: str = ""):
        self.suffix = suffix
        self.index: dict[str, str] = {}
        self._given: set[str] = set()

    def name(self, pid: str) -> str:
        # an id that ends in the suffix too ("x.npy") would read back as another ("x")
        doubled = bool(self.suffix) and pid.lower().endswith(self.suffix.lower())
        stem = pid if is_safe_stem(pid) and not doubled else _derived(pid)
        base, n = stem, 1
        while stem + self.suffix in self._given:  # a derived name twice (or an id twice)
            n += 1
            stem = f"{base}_{n}" if base.startswith(DERIVED) else _derived(f"{pid}\0{n}")
        name = stem + self.suffix
        self._given.add(name)
        if stem != pid:
            self.index[name] = pid
        return name


def _derived(pid: str) -> str:
    digest = hashlib.sha256(pid.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    shown = UNSAFE.sub("_", pid)[:SHOWN_STEM].strip("._-")
    return f"{DERIVED}{shown}_{digest}" if shown else f"{DERIVED}{digest}"


def safe_names(ids: Sequence[str], suffix: str = "") -> tuple[list[str], dict[str, str]]:
    """(a name for each id, in order; the index name -> id of the names that differ from
    ``id + suffix``)."""
    names = SafeNames(suffix)
    return [names.name(pid) for pid in ids], names.index
