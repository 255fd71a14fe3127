"""Plots as outputs, the same through every door (idr-predict --plot, submit.py --plot,
``Predictor.plot``, ``idr_kit.plot_disorder``):

* where they go is checked as every output is (data/outputs.py): never an input, never inside
  a model folder (the run's or the shipped ones), never through a link, a device or a FIFO;
* the format is one of ``FORMATS``, and a file's bytes are always those of its extension;
* a folder of plots appears whole when the run succeeds and not at all when it fails: the
  plots are drawn into a hidden staging folder beside it, moved into place by ``commit``;
* files are named by id (``PlotNames``): an id that is a safe name keeps it, any other gets
  a derived name no id can have, and ``index.tsv`` in the folder maps every id to its file.

    with PlotFolder(folder, "png", inputs=[("the model", model)]) as plots:
        for hit in hits:
            plots.draw(hit.id, lambda path: protein_plot(path, ...))
    plots.paths   # the files, in place
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import stat
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Callable, Sequence

from idr_kit.data import outputs
from idr_kit.data.atomic import umask
from idr_kit.data.errors import FileRefused, SettingError, WrongType

FORMATS = ("png", "svg", "pdf")  # what matplotlib's Agg figure writes without another library
INDEX = "index.tsv"  # id -> file of every protein plotted, in the folder of its plots
STAGING = ".tmp"  # ".FOLDER.XXXX.tmp": the staging folder beside the plot folder


def check_format(fmt) -> str:
    """``fmt`` if it is one of FORMATS; else WrongType (not text) or SettingError."""
    if not isinstance(fmt, str):
        raise WrongType(f"a plot format is a name ({', '.join(FORMATS)}), not "
                        f"{type(fmt).__name__}")
    if fmt not in FORMATS:
        raise SettingError(f"plot format {fmt!r} is not one the kit writes: {', '.join(FORMATS)}")
    return fmt


def format_of(path: str | os.PathLike, fmt: str | None = None) -> str:
    """The format of a plot file: its extension's, which must be one of FORMATS and agree
    with ``fmt`` when that is given."""
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in FORMATS:
        raise SettingError(f"{path}: a plot's file name ends in its format: "
                           f"{', '.join('.' + f for f in FORMATS)}")
    if fmt is not None and check_format(fmt) != suffix:
        raise SettingError(f"{path}: the name says {suffix}, but the format asked is {fmt}")
    return suffix


class PlotNames:
    """``outputs.SafeNames`` for plot files, also unique ignoring case (macOS and Windows
    ignore it): a name taken already ignoring case gets the derived form."""

    def __init__(self, suffix: str):
        self.safe, self.suffix, self.taken = outputs.SafeNames(suffix), suffix, set()

    def __call__(self, pid: str) -> str:
        name = self.safe.name(pid)
        n = 1
        while name.lower() in self.taken:
            n += 1
            name = outputs._derived(f"{pid}\0{n}") + self.suffix
        self.taken.add(name.lower())
        return name


class PlotFolder:
    """The plots of one run, all or none (module doc). ``proteins``: the subfolder that holds
    the protein plots and their index ("" for the folder itself)."""

    def __init__(self, folder: str | os.PathLike, fmt: str = "png", inputs: outputs.Inputs = (),
                 proteins: str = ""):
        self.folder, self.fmt, self.proteins = Path(folder), check_format(fmt), proteins
        outputs.check_output_folder(self.folder, inputs)
        self.names, self.index, self.paths = PlotNames(f".{fmt}"), [], []
        self._stack, self.staging = ExitStack(), None

    def check_apart(self, files: Sequence[str | os.PathLike]) -> None:
        """FileRefused when one of the run's output ``files`` is the folder, or above it, or
        where a plot or the index may go (the folder holds the run's other outputs only under
        other names)."""
        folder = Path(os.path.realpath(self.folder))
        for given in files:
            path = Path(os.path.realpath(given))
            taken = path.parent == folder and (path.name == INDEX or path.suffix.lower()
                                               .lstrip(".") in FORMATS)
            if path == folder or path in folder.parents or taken:
                raise FileRefused(f"{given}: where the plots ({self.folder}) go; give the "
                                  "plots and the other outputs places of their own")

    def __enter__(self) -> "PlotFolder":
        parent = self.folder.absolute().parent
        self._stack.enter_context(outputs.made_folders(parent))
        remove_abandoned_folders(parent, self._prefix)
        self.staging, lock = locked_folder(parent, self._prefix, STAGING)
        self._stack.callback(os.close, lock)
        return self

    @property
    def _prefix(self) -> str:
        return f".{self.folder.name}."

    def draw(self, pid: str, draw: Callable[[Path], object]) -> None:
        """``draw(path)`` writes the plot of protein ``pid`` at ``path`` (staged)."""
        name = Path(self.proteins, self.names(pid))
        self._drawn(name, draw)
        self.index.append((pid, name.name))

    def add(self, name: str, draw: Callable[[Path], object]) -> None:
        """Another file of the set (a summary), at ``name`` inside the folder."""
        self._drawn(Path(name), draw)

    def _drawn(self, name: Path, draw: Callable[[Path], object]) -> None:
        (self.staging / name).parent.mkdir(parents=True, exist_ok=True)
        draw(self.staging / name)
        self.paths.append(self.folder / name)

    def __exit__(self, kind, error, trace) -> None:
        try:
            if kind is None:
                self._write_index()
                commit(self.staging, self.folder)
        except BaseException as failure:
            kind, error, trace = type(failure), failure, failure.__traceback__
            raise
        finally:
            shutil.rmtree(self.staging, ignore_errors=True)  # moved away already, on success
            self._stack.__exit__(kind, error, trace)  # the lock; made folders, on failure

    def _write_index(self) -> None:
        if self.index:
            rows = "".join(f"{pid}\t{name}\n" for pid, name in self.index)
            Path(self.staging, self.proteins, INDEX).write_text("id\tfile\n" + rows,
                                                                encoding="utf-8")


def commit(staging: Path, folder: Path) -> None:
    """The staged files into ``folder``: the staging folder takes its name when there is none
    yet (the set appears at once), else each file replaces its namesake, once every place has
    been checked to be new or a regular file (a folder, link, FIFO or device there is
    refused, and nothing is moved)."""
    if outputs.lstat_or_none(folder) is None:
        os.chmod(staging, 0o777 & ~umask())  # mkdtemp's 0700 would be the plot folder's
        try:
            os.rename(staging, folder)
            return
        except OSError as err:  # made meanwhile, by another run: file by file, as below
            if err.errno not in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR):
                raise
    _check_place(folder.parent, Path(folder.name), wanted=stat.S_ISDIR)
    files = [Path(top, name).relative_to(staging) for top, _, names in os.walk(staging)
             for name in names]
    for name in files:
        _check_place(folder, name)
    for name in files:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging / name, folder / name)
    shutil.rmtree(staging)


def _check_place(folder: Path, name: Path, wanted=stat.S_ISREG) -> None:
    """FileRefused unless ``folder / name`` is new or passes ``wanted``, and each folder
    between is new or a folder."""
    for place in [*reversed(name.parents[:-1]), name]:
        st = outputs.lstat_or_none(folder / place)
        if st is not None and not (wanted if place == name else stat.S_ISDIR)(st.st_mode):
            raise FileRefused(f"{folder / place}: {outputs.kind_of(st.st_mode)}, where a plot "
                              "goes; none is written: remove it, or choose another folder")


def locked_folder(parent: str | os.PathLike, prefix: str, suffix: str = "") -> tuple[Path, int]:
    """A new folder in ``parent`` and a descriptor holding its lock (flock on the folder
    itself) for as long as it is open: a folder whose lock is free was left by a dead process."""
    while True:
        folder = tempfile.mkdtemp(prefix=prefix, suffix=suffix, dir=parent)
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        fcntl.flock(fd, fcntl.LOCK_EX)
        with contextlib.suppress(FileNotFoundError):  # a cleaner took it before the lock
            if os.stat(folder, follow_symlinks=False).st_ino == os.fstat(fd).st_ino:
                return Path(folder), fd
        os.close(fd)


def remove_abandoned_folders(parent: str | os.PathLike, prefix: str, suffix: str = "") -> None:
    """Remove the folders in ``parent`` named ``prefix...suffix`` that are this user's and
    that no living process holds (their lock is free): what a killed process left."""
    with os.scandir(parent) as entries:
        found = [entry.path for entry in entries if entry.name.startswith(prefix)
                 and entry.name.endswith(suffix) and entry.is_dir(follow_symlinks=False)
                 and entry.stat(follow_symlinks=False).st_uid == os.getuid()]
    for folder in found:
        try:
            fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            shutil.rmtree(folder, ignore_errors=True)  # rmtree follows no link inside
        except OSError:  # locked: its process is alive
            continue
        finally:
            os.close(fd)
