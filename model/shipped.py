"""The models the kit ships, by name, and the one reading of a ``--model`` value.

    model_path("default")           # the shipped predictor, from any folder
    model_path("fast")              # its fast form (the kit's own network alone)
    model_path("runs/lgbm/model")   # a folder the kit saved

How a value is told apart: a string with a '/' in it (``./fast``, ``runs/x/model``, an
absolute path), ``.`` or ``..``, or one naming something that exists in the current folder
is a path; any other string is a shipped model's name. So ``--model fast`` is the shipped
fast model unless a ``fast`` folder lies where the command runs (then ``./fast`` is meant,
as for any folder there); a path object (``pathlib.Path``) is always a path. A name that is
no shipped model's, or a path where nothing is, is FileRefused saying "not found".
"""
from __future__ import annotations

import os
from pathlib import Path

from idr_kit.data.errors import FileRefused, WrongType

MODELS = Path(__file__).resolve().parents[1] / "models"
# name -> folder under models/; "default" first: what idr_kit.load() and idr-predict load
SHIPPED = {"default": "predictor", "fast": "predictor-fast"}


MODEL_HELP = ("a shipped model's name, default (the shipped predictor) or fast (its fast "
              "form), or a folder the kit saved (runs/NAME/model); a value with a '/' or "
              "naming something in the current folder is a path (./fast for a folder called "
              "fast)")


def shipped_folder(name: str = "default") -> Path:
    """The folder of the shipped model ``name`` (one of SHIPPED)."""
    return MODELS / SHIPPED[name]


def model_path(value: str | os.PathLike) -> Path:
    """The model folder ``value`` names: a shipped model's name or a path (the module's
    docstring says which is which). FileRefused, saying "not found", when there is none."""
    if not isinstance(value, (str, os.PathLike)):
        raise WrongType(f"a model is a shipped model's name ({', '.join(SHIPPED)}) or a "
                        f"folder's path, not {type(value).__name__}")
    if isinstance(value, str) and not value.strip():
        raise FileRefused(f"{value!r}: not found: an empty model name (the shipped models: "
                          f"{_names()})")
    if isinstance(value, str) and is_name(value):
        if value not in SHIPPED:
            raise FileRefused(f"{value}: not found: no file or folder of that name here, and "
                              f"no shipped model's name ({_names()})")
        where = shipped_folder(value)
        if not where.is_dir():
            raise FileRefused(f"{value}: the shipped model {where} is not in this install")
        return where
    where = Path(value)
    if not os.path.lexists(where):
        raise FileRefused(f"{where}: not found (no such model folder); the shipped models, "
                          f"from any folder: {_names()}")
    return where


def is_name(value: str) -> bool:
    """True when the string ``value`` is read as a shipped model's name, not a path."""
    separators = {"/", os.sep, os.altsep} - {None}
    return (bool(value) and value not in (".", "..") and not any(s in value for s in separators)
            and not os.path.lexists(value))


def shipped_name(folder: str | os.PathLike) -> str | None:
    """The name of the shipped model in ``folder``, None when it is not one."""
    try:
        where = Path(folder).resolve()
    except (OSError, RuntimeError):
        return None
    return next((name for name in SHIPPED if shipped_folder(name) == where), None)


def _names() -> str:
    """The shipped names, as a user gives them: ``--model NAME`` or ``idr_kit.load(NAME)``."""
    return " and ".join(SHIPPED) + ", as --model NAME or idr_kit.load(NAME)"
