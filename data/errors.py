"""The one kind of error that is the user's to fix, and its named cases.

A ``UserError`` is bad input, a bad setting, a missing extra, a refused folder, weights that
cannot be had: the command lines print its message as one line and exit with status 2. Any
other exception is a bug in the kit, and shows its traceback.

Each case also derives from the built-in error a caller would expect (``InputError`` is a
``ValueError``, ``MissingExtra`` an ``ImportError``, a refused folder an ``OSError``), so code
that catches those keeps working.
"""
from __future__ import annotations

SHOWN = 60  # characters of a user's value quoted in a message


def brief(value) -> str:
    """``repr(value)``, cut to SHOWN characters: an error line quotes what it refuses without
    becoming as large as it (a 3-million-element id would make a 26 MB line)."""
    text = repr(value)
    if len(text) <= SHOWN:
        return text
    # The value's own length where it has one (a 201-character id is 201, not its repr's 203)
    size = (f"{len(value):,} characters" if isinstance(value, str) else
            f"{len(value):,} items" if hasattr(value, "__len__") else f"{len(text):,} chars")
    return f"{text[:SHOWN - 15]}... ({size})"


class UserError(Exception):
    """A mistake a person can fix; the message says what and where, in one line."""


class InputError(UserError, ValueError):
    """Bad input, described by file, protein and 1-based position, for a person to fix."""

    def __init__(self, message: str, *, source: str | None = None,
                 protein: str | None = None, position: int | None = None):
        self.source, self.protein, self.position = source, protein, position
        where = []
        if source is not None:
            where.append(str(source))
        if protein is not None:
            where.append(f"protein {protein}")
        if position is not None:
            where.append(f"position {position}")
        super().__init__(": ".join(where + [message]))


class SettingError(UserError, ValueError):
    """A setting (from --set, a recipe, a flag or a saved model's record) that cannot be used:
    an unknown key, a value of the wrong type or out of range."""


class MissingExtra(UserError, ImportError):
    """A track needs packages that this install lacks; the message says what to install."""


class WrongType(UserError, TypeError):
    """A value of the wrong kind handed to the Python API (bytes for a sequence, a list for a
    style): a TypeError that says what was expected."""


class FileRefused(UserError, OSError):
    """A file or folder the kit was given cannot be used: missing, unreadable, not writable,
    or holding another run's files."""
