"""A run's output folder: owned by one run at a time, and holding only that run's files.

    with RunFolder(out, identity, inputs=[("the test file", test), ...], overwrite=False):
        ...   # write the outputs; config.json last

On entry the folder is checked by the output policy (data/outputs.py: it holds none of the
run's own inputs, by identity, for a run never deletes what it reads; it lies in no model
folder; it holds nothing but regular files and folders, no link, device or FIFO, for the kit
never follows a link out of the folder it was given, to write or to delete), then created,
checked to be writable (before any work, not after hours of training), locked (a second run
into it stops at once), and claimed:

* empty, or new: the run starts afresh;
* written by the same run (the same identity: track, settings and input files): the run
  resumes. Its checkpoints and predicted chunks are kept; every other file is removed, to be written again;
* anything else: the run refuses, saying how to go on (a new folder, or ``--overwrite``, which
  empties the folder first).

Hidden ``.tmp`` files that a killed write left behind are removed either way. The previous
outputs are removed before any new one is written, and ``config.json`` is written last, so a
folder never mixes the files of two runs: an interrupted run leaves no ``config.json``, and the
same command resumes it. A refused run leaves nothing behind, its lock file and the folders it
made included.
"""
from __future__ import annotations

import errno
import fcntl
import os
import shutil
import signal
import tempfile
from pathlib import Path
from typing import Sequence

from idr_kit.data.atomic import TMP_SUFFIX, write_json
from idr_kit.data.digests import value_digest
from idr_kit.data.errors import FileRefused, UserError
from idr_kit.data.outputs import check_output_folder, lstat_or_none, remove_made
from idr_kit.data.reading import read_record

CLAIM = ".idr-run.json"  # which run owns the folder
LOCK = ".idr-run.lock"  # held while a run writes
# What a resumed run keeps: training checkpoints and the chunks it predicted (stream.py).
KEPT = ("checkpoints", "parts", CLAIM, LOCK)
DISPOSABLE = (CLAIM, LOCK, "folds.json")  # all a run that failed before any work leaves


class FolderBusy(FileRefused):
    """Another run is writing to the folder, or it holds another run's files."""


class RunFolder:
    def __init__(self, out: Path, identity: dict, *, inputs: Sequence[tuple[str, Path]] = (),
                 overwrite: bool = False):
        self.out, self.identity, self.overwrite = Path(out), identity, overwrite
        self.inputs = [(role, Path(path)) for role, path in inputs]
        self._lock: int | None = None
        self._made_lock = False

    def __enter__(self) -> "RunFolder":
        check_output_folder(self.out, self.inputs)  # before anything is made
        made = [p for p in [self.out, *self.out.parents] if lstat_or_none(p) is None]
        try:
            check_writable(self.out)
            self._take_lock()
            self._claim()
        except BaseException:
            self._release(remove=self._made_lock)
            remove_made(made)  # a refused run leaves no folder it made
            raise
        return self

    def __exit__(self, *_) -> None:
        self._release(remove=False)

    def _take_lock(self) -> None:
        path = self.out / LOCK
        self._made_lock = not path.exists()
        try:  # O_NOFOLLOW: a link planted as the lock file is refused, never truncated
            self._lock = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o666)
        except OSError as err:
            raise FileRefused(f"{path}: cannot be the run's lock file ({err.strerror})") from None
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            if err.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            owner = os.pread(self._lock, 200, 0).decode(errors="replace").strip()
            os.close(self._lock)
            self._lock = None
            raise FolderBusy(f"{self.out}: another run ({owner or 'another process'}) is "
                             "writing there now; wait for it to finish, or choose another "
                             "--out") from None
        os.ftruncate(self._lock, 0)
        os.pwrite(self._lock, f"pid {os.getpid()}".encode(), 0)

    def _release(self, *, remove: bool) -> None:
        if self._lock is not None:
            if remove:
                (self.out / LOCK).unlink(missing_ok=True)
            os.close(self._lock)
            self._lock = None

    def _claim(self) -> None:
        digest = value_digest(self.identity)
        owner = self._owner()
        others = [p.name for p in self.out.iterdir() if p.name not in (CLAIM, LOCK)]
        if others and owner is None:  # never empty a folder the kit did not fill
            raise FolderBusy(f"{self.out} holds files that no run of this kit wrote "
                             f"({', '.join(sorted(others)[:3])}); choose another --out")
        if owner == digest and not self.overwrite:
            self._clear(keep=KEPT)  # resume: checkpoints stay, outputs are written again
        elif not others or self.overwrite or not holds_work(self.out):
            self._clear(keep=(LOCK,))
        else:
            raise FolderBusy(f"{self.out} holds the outputs of another run (other settings or "
                             "input files); to go on, choose a new --out, or pass --overwrite "
                             "to empty it first (the same command again resumes its own run)")
        write_json(self.out / CLAIM, {"identity": digest, **self.identity})

    def _owner(self) -> str | None:
        return claimed_identity(self.out)

    def _clear(self, keep: tuple[str, ...]) -> None:
        for path in self.out.iterdir():
            if path.name in keep:
                continue
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)  # removes links inside, never what they point to
            else:
                path.unlink()
        for folder, _, files in os.walk(self.out):  # follows no link (none there: checked)
            for name in files:  # what a killed write left behind
                if name.startswith(".") and name.endswith(TMP_SUFFIX):
                    Path(folder, name).unlink(missing_ok=True)


def holds_work(folder: Path) -> bool:
    """Whether a folder claimed by a run holds anything beyond what a run that failed before
    learning or predicting anything leaves (its claim, its lock, its folds): such a folder is
    free for the next run."""
    for top, _, files in os.walk(folder):
        for name in files:
            if str(Path(top, name).relative_to(folder)) not in DISPOSABLE:
                return True
    return False


def own_folder(base: Path, identity: dict) -> Path:
    """``base`` if it is free (absent, empty, this run's own, or left by a run that failed
    before doing any work), else the first of ``base-2``, ``base-3`` ... that is: where a run
    writes when its user named no folder."""
    digest = value_digest(identity)
    for n in range(1, 10_000):
        folder = base if n == 1 else base.with_name(f"{base.name}-{n}")
        if not folder.exists() or not any(folder.iterdir()) or (
                claimed_identity(folder) is not None and not holds_work(folder)):
            return folder
        if claimed_identity(folder) == digest:
            return folder
    raise FileRefused(f"{base}: no free folder beside it; pass --out")


def claimed_identity(folder: Path) -> str | None:
    """The identity of the run that claimed ``folder``; None when no readable claim is there
    (none, a link, damaged, nested too deep: no run of the kit's)."""
    try:
        identity = read_record(folder / CLAIM, limit=1 << 20, links=False).get("identity")
    except UserError:
        return None
    return identity if isinstance(identity, str) else None


def check_writable(folder: Path) -> None:
    """The folder exists (made if need be) and takes a file, or FileRefused saying so. The
    probe is a new file of a name no one else has (O_EXCL): no planted link is followed."""
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
        handle, probe = tempfile.mkstemp(prefix=".write-test.", suffix=TMP_SUFFIX, dir=folder)
        os.close(handle)
        os.unlink(probe)
    except OSError as err:
        raise FileRefused(f"{folder}: cannot write there ({err.strerror or err}); "
                          "choose another folder") from None


def terminate_as_interrupt() -> None:
    """SIGTERM (``kill``, a scheduler's time limit) unwinds like Ctrl-C, so every atomic write
    in progress removes its temporary file and the lock is released."""
    def handler(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, handler)
