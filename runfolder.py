"""A run's output folder: owned by one run at a time, and holding only that run's files.

    with RunFolder(out, identity, overwrite=False):
        ...   # write the outputs; config.json last

On entry the folder is created, locked (a second run into it stops at once), checked to be
writable (before any work, not after hours of training), and claimed:

* empty, or new: the run starts afresh;
* written by the same run (the same identity: track, settings and input files): the run
  resumes. Its checkpoints are kept; every other file is removed, to be written again;
* anything else: the run refuses, saying how to go on (a new folder, or ``--overwrite``, which
  empties the folder first).

Hidden ``.tmp`` files that a killed write left behind are removed either way. The previous
outputs are removed before any new one is written, and ``config.json`` is written last, so a
folder never mixes the files of two runs: an interrupted run leaves no ``config.json``, and the
same command resumes it.
"""
from __future__ import annotations

import errno
import fcntl
import json
import os
import shutil
import signal
from pathlib import Path

from idr_kit.data.atomic import TMP_SUFFIX, write_json
from idr_kit.data.digests import value_digest
from idr_kit.data.errors import FileRefused

CLAIM = ".idr-run.json"  # which run owns the folder
LOCK = ".idr-run.lock"  # held while a run writes
KEPT = ("checkpoints", CLAIM, LOCK)  # what a resumed run keeps


class FolderBusy(FileRefused):
    """Another run is writing to the folder, or it holds another run's files."""


class RunFolder:
    def __init__(self, out: Path, identity: dict, *, overwrite: bool = False):
        self.out, self.identity, self.overwrite = Path(out), identity, overwrite
        self._lock = None

    def __enter__(self) -> "RunFolder":
        check_writable(self.out)
        self._take_lock()
        try:
            self._claim()
        except BaseException:
            self._release()
            raise
        return self

    def __exit__(self, *_) -> None:
        self._release()

    def _take_lock(self) -> None:
        self._lock = open(self.out / LOCK, "a+")
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            if err.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            self._lock.seek(0)
            owner = self._lock.read().strip() or "another process"
            self._lock.close()
            self._lock = None
            raise FolderBusy(f"{self.out}: another run ({owner}) is writing there now; wait "
                             "for it to finish, or choose another --out") from None
        self._lock.seek(0)
        self._lock.truncate()
        self._lock.write(f"pid {os.getpid()}")
        self._lock.flush()

    def _release(self) -> None:
        if self._lock is not None:
            self._lock.close()
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
        elif not others or self.overwrite:
            self._clear(keep=(LOCK,))
        else:
            raise FolderBusy(f"{self.out} holds the outputs of another run (other settings or "
                             "input files); to go on, choose a new --out, or pass --overwrite "
                             "to empty it first (the same command again resumes its own run)")
        write_json(self.out / CLAIM, {"identity": digest, **self.identity})

    def _owner(self) -> str | None:
        try:
            return json.loads((self.out / CLAIM).read_text()).get("identity")
        except (OSError, ValueError, AttributeError):
            return None

    def _clear(self, keep: tuple[str, ...]) -> None:
        for path in self.out.iterdir():
            if path.name in keep:
                continue
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
        for stale in self.out.rglob(f".*{TMP_SUFFIX}"):  # what a killed write left behind
            stale.unlink(missing_ok=True)


def check_writable(folder: Path) -> None:
    """The folder exists (made if need be) and takes a file, or FileRefused saying so."""
    probe = Path(folder) / f".write-test{TMP_SUFFIX}"
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise FileRefused(f"{folder}: cannot write there ({err.strerror or err}); "
                          "choose another folder") from None


def terminate_as_interrupt() -> None:
    """SIGTERM (``kill``, a scheduler's time limit) unwinds like Ctrl-C, so every atomic write
    in progress removes its temporary file and the lock is released."""
    def handler(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, handler)
