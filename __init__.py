"""idr-kit: per-residue prediction of intrinsically disordered regions (IDRs) of proteins.

    import idr_kit
    idr_kit.predict_disorder("MKV...")   # (L,) float32 P(disordered), the shipped model
    idr_kit.predict_idrs("MKV...")       # [(start, end), ...]: 0-based, end excluded
    model = idr_kit.load()               # or idr_kit.load("runs/lgbm/model")
    idr_kit.predict_file("proteome.fasta", "runs/proteome")   # any size, resumable, every core

What ``__all__`` lists is the public API: the functions above, the Track contract and its
registry (``Track``, ``TrackConfig``, ``TRACKS``, ``make_track``), where a track runs
(``Runtime``), saved models (``save_model``, ``load_model``) and the pipeline's run
(``RunSpec``, ``run_pipeline``). Everything else is internal and may move between versions.
The folders are the layers (docs/layout.md): ``data/``, ``model/`` with ``tracks.py`` (the
contract), ``nn/``, the track packages, ``run/`` (pipeline, prediction engine, run folders),
``api.py`` (this API's implementation) and ``commands/`` with ``submit.py`` (command lines).
Importing the package loads none of them: each is imported when first used.
"""
from __future__ import annotations

import os as _os
import threading

# OpenMP's waiting threads spin by default (libgomp, in LightGBM, scikit-learn and torch): on a
# busy machine they hold the CPUs that the thread they wait for needs, and one LightGBM fit on
# the demo data took 298 s at load 14 on 2 cores against 33 s with them asleep
# (bench/bench_busy.py, docs/scale.md). libgomp reads this once, as it loads: so here, before
# any library of the kit's is imported. A value the user set stands.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.3.0"
__all__ = ["TRACKS", "RunSpec", "Runtime", "Track", "TrackConfig", "load", "load_model",
           "make_track", "plot_disorder", "predict_disorder", "predict_file", "predict_idrs",
           "run_pipeline", "save_model"]

# Public names defined elsewhere, imported on first use: name -> (module, attribute).
_LAZY = {"Track": ("idr_kit.tracks", "Track"), "TrackConfig": ("idr_kit.tracks", "TrackConfig"),
         "TRACKS": ("idr_kit.tracks", "TRACKS"), "make_track": ("idr_kit.tracks", "make_track"),
         "Runtime": ("idr_kit.model.runtime", "Runtime"),
         "save_model": ("idr_kit.model.saved", "save_model"),
         "load_model": ("idr_kit.model.saved", "load_model"),
         "RunSpec": ("idr_kit.run.pipeline", "RunSpec"),
         "run_pipeline": ("idr_kit.run.pipeline", "run")}

_DEFAULT = []  # the shipped model, loaded once, on first use
_DEFAULT_LOCK = threading.Lock()  # threads asking at once wait for that one load


def __getattr__(name: str):
    if name in _LAZY:
        import importlib
        module, attribute = _LAZY[name]
        return getattr(importlib.import_module(module), attribute)
    raise AttributeError(f"module 'idr_kit' has no attribute {name!r}")


def load(path=None, **options):
    """A ready model: the shipped one, or any model the kit saved.

    Parameters
    ----------
    path : str or os.PathLike, optional
        A saved model's folder (``runs/NAME/model``); None (the default) for the shipped model.
    style : {"pdb", "nox"}, optional
        The label style to predict in, for a model that learnt both (the shipped ones did):
        ``"pdb"`` (CAID's PDB-style references, the shipped model's default) or ``"nox"``
        (the competition's).
    threshold : float, optional
        The 0/1 threshold in place of the one fitted out of fold.
    fast : bool, default False
        The shipped model's fastest form (the kit's own network alone).
    runtime : Runtime, optional
        Where it runs (threads, device); the default predicts on the CPU, downloading nothing.

    Returns
    -------
    api.Predictor
        With ``predict(seqs)``, ``regions(seqs)``, ``plot(seqs, out)`` and
        ``predict_fasta(path)``.

    Raises
    ------
    idr_kit.data.errors.UserError
        The folder is no model, fails its checks (each file is read as untrusted input), or a
        setting is wrong; the message names the file and the problem.
    """
    from idr_kit.api import load as _load
    return _load(path, **options)


def _shipped():
    with _DEFAULT_LOCK:
        if not _DEFAULT:
            _DEFAULT.append(load())
        return _DEFAULT[0]


def predict_disorder(seqs):
    """Probabilities of disorder from the shipped model.

    Parameters
    ----------
    seqs : str, list of str, or dict of str to str
        One sequence, a list of them, or id -> sequence. Upper or lower case; ``X``, ``U``,
        ``B``, ``Z`` and ``O`` are read.

    Returns
    -------
    numpy.ndarray, list of numpy.ndarray, or dict of str to numpy.ndarray
        For each sequence a (L,) float32 array of P(disordered), shaped as ``seqs``: one array
        for one string, a list for a list, a dict by id for a dict.

    Raises
    ------
    idr_kit.data.errors.UserError
        A sequence holds a letter that is no residue (the message names it and its position).
    """
    probs = _shipped().predict(seqs)
    return probs[0] if isinstance(seqs, str) else probs


def predict_idrs(seqs):
    """Disordered regions from the shipped model.

    Parameters
    ----------
    seqs : str, list of str, or dict of str to str
        As for ``predict_disorder``.

    Returns
    -------
    list of (int, int), or a list or dict of them
        The IDRs of each sequence, ``(start, end)`` 0-based with the end excluded
        (``seq[start:end]``), shaped as ``seqs``.

    Raises
    ------
    idr_kit.data.errors.UserError
        As for ``predict_disorder``.
    """
    spans = _shipped().regions(seqs)
    return spans[0] if isinstance(seqs, str) else spans


def plot_disorder(seqs, out, fmt=None):
    """Pictures of the shipped model's predictions: probability, calls and regions.

    Parameters
    ----------
    seqs : str, list of str, or dict of str to str
        As for ``predict_disorder``.
    out : str or os.PathLike
        For one sequence the file to write, its format by extension (.png, .svg, .pdf); for
        several a folder, a file each (named by id) and ``index.tsv`` (id -> file).
    fmt : {"png", "svg", "pdf"} or None
        The pictures' format: for one sequence it must agree with the extension; for several
        it defaults to "png".

    Returns
    -------
    list of pathlib.Path
        The files written.

    Raises
    ------
    idr_kit.data.errors.UserError
        matplotlib is not installed (``pip install matplotlib``); ``fmt`` or the extension is
        not a format above; or ``out`` may not be written: inside a model folder, a link, a
        device or FIFO, not writable (checked before anything is predicted or written).
    """
    return _shipped().plot(seqs, out, fmt)


def predict_file(test, out, model=None, **options) -> dict:
    """A file of any size into an output folder, as ``submit.py --model`` writes it.

    Parameters
    ----------
    test : str or os.PathLike
        A FASTA (plain or CAID 3-line), a competition pickle or a DisProt JSON file.
    out : str or os.PathLike
        The output folder: ``submit.csv``, ``probs.npz``, ``predictions.caid``, ``config.json``.
    model : str or os.PathLike, optional
        A saved model's folder; None for the shipped model.
    workers : int, default 0
        Worker processes (0: one per core this process may use).
    shard : (int, int) or str, default (1, 1)
        The I-th of N parts of the file (``"I/N"``), to merge later with ``idr-merge``.
    executor : dask.distributed.Client, optional
        A Dask cluster to predict the chunks on.
    chunk_residues : int, default 0
        Residues per chunk (0: the default, 262,144).
    overwrite : bool, default False
        Replace an earlier run's outputs in ``out``.

    Returns
    -------
    dict
        The run's record (what ``config.json`` holds).

    Raises
    ------
    idr_kit.data.errors.UserError
        A bad input file, model or folder; nothing is written before the inputs are checked,
        and a killed run resumes where it stopped.
    """
    from idr_kit.api import predict_file as _predict_file
    return _predict_file(test, out, model, **options)

