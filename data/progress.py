"""Progress of long work: a bar on a terminal, one line per stage in a log.

A bar redrawn many times a second is right on a terminal and noise in a log (CI, ``nohup``, a
pipe), where it leaves hundreds of carriage-return fragments. So ``progress`` draws tqdm's bar
only when standard error is a terminal; otherwise it prints one line when a stage ends, naming
it, what it counted and how long it took. Stages shorter than ``DELAY`` stay silent either way.

``stage(name)`` prefixes every bar and line opened inside it, so an ensemble's work reads
``[lgbm] boosting`` rather than ``boosting``. ``stage(name, every_step=True)`` (each fold of
out-of-fold predictions) prints each of its lines however short the step, so every fold says
the same steps, not only those that happened to pass ``DELAY``. The environment variable ``IDR_PROGRESS`` sets the
mode: ``auto`` (the default, as above), ``bars``, ``lines`` or ``off``.
"""
from __future__ import annotations

import contextlib
import contextvars
import os
import sys
import time
from typing import Iterable, Iterator

from tqdm.auto import tqdm

DELAY = 2.0  # seconds a stage must last before it shows: small jobs stay quiet
MODE_ENV = "IDR_PROGRESS"
MODES = ("auto", "bars", "lines", "off")
_prefix: contextvars.ContextVar[str] = contextvars.ContextVar("progress_prefix", default="")
_every: contextvars.ContextVar[bool] = contextvars.ContextVar("progress_every", default=False)


def progress_mode() -> str:
    """bars (a terminal), lines (a log), or off: IDR_PROGRESS, else by where stderr goes."""
    return _mode()


def _mode() -> str:
    mode = os.environ.get(MODE_ENV, "auto").strip().lower() or "auto"
    if mode not in MODES:
        raise ValueError(f"{MODE_ENV}={mode!r}: expected one of {', '.join(MODES)}")
    if mode == "auto":
        return "bars" if sys.stderr.isatty() else "lines"
    return mode


@contextlib.contextmanager
def stage(name: str, every_step: bool = False) -> Iterator[None]:
    """Prefix every progress bar or line opened inside with ``[name]``; ``every_step``: in a
    log, each of their lines is printed however short its step was."""
    token = _prefix.set(f"{_prefix.get()}[{name}] ")
    every = _every.set(True) if every_step else None
    try:
        yield
    finally:
        if every is not None:
            _every.reset(every)
        _prefix.reset(token)


def progress(iterable: Iterable | None = None, *, desc: str, total: int | None = None,
             unit: str = "it", unit_scale: bool = False):
    """A tqdm-like object (iterate it, or ``update``/``close`` it, or use it in ``with``)."""
    label = _prefix.get() + desc
    mode = _mode()
    if mode == "bars":
        return tqdm(iterable, desc=label, total=total, unit=unit, unit_scale=unit_scale,
                    delay=DELAY, leave=False)
    return StageLine(iterable, label, total, unit, quiet=mode == "off")


class StageLine:
    """Counts like a tqdm bar and prints one line when closed, if the stage took DELAY or more."""

    def __init__(self, iterable, desc: str, total: int | None, unit: str, quiet: bool):
        self.iterable, self.desc, self.unit, self.quiet = iterable, desc, unit, quiet
        self.total = total if total is not None else _length(iterable)
        self.n, self.start, self.closed = 0, time.perf_counter(), False
        self.every = _every.get()  # in a stage that says every step (a fold)

    def __iter__(self):
        try:
            for item in self.iterable:
                self.n += 1  # counted when handed out: a loop that breaks still counts it
                yield item
        finally:
            self.close()

    def __enter__(self) -> "StageLine":
        return self

    def __exit__(self, *_) -> None:
        self.close()

    def update(self, n: int = 1) -> None:
        self.n += n

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        seconds = time.perf_counter() - self.start
        if self.quiet or (seconds < DELAY and not self.every):
            return
        count = f"{self.n:,}" if self.total is None else f"{self.n:,}/{self.total:,}"
        many = self.n if self.total is None else self.total
        unit = self.unit if many == 1 or self.unit.endswith("s") else (
            self.unit + ("es" if self.unit.endswith(("ch", "sh", "x")) else "s"))
        print(f"{self.desc}: {count} {unit} in {seconds:.1f} s", file=sys.stderr, flush=True)


def _length(iterable) -> int | None:
    try:
        return len(iterable)
    except TypeError:
        return None
