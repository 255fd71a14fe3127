"""idr-kit: per-residue prediction of intrinsically disordered regions (IDRs) of proteins.

    import idr_kit
    idr_kit.predict_disorder("MKV...")   # (L,) float32 P(disordered), the shipped model
    idr_kit.predict_idrs("MKV...")       # [(start, end), ...]: 0-based, end excluded
    model = idr_kit.load()               # or idr_kit.load("runs/lgbm/model"): predictor.py
    idr_kit.predict_file("proteome.fasta", "runs/proteome")   # any size, resumable, every core

The checkout's folders are this package's modules (the build maps the repository root to
``idr_kit``): ``data`` (records, formats, splits, metrics), ``nn`` (the shared torch layer), the
tracks (``baselines``, ``token_clf``, ``llm_sft``, ``seqnet``, ``distill``, ``ensemble``),
``tracks`` (the contract and the registry), ``pipeline`` (one run, any track), ``predictor``
(the Python API) and the command lines ``submit``, ``score``, ``fit``, ``predict`` and ``image``.
Importing the package loads none of them: each is imported when first used.
"""
from __future__ import annotations

__version__ = "0.3.0"
__all__ = ["load", "plot_disorder", "predict_disorder", "predict_file", "predict_idrs"]

_DEFAULT = []  # the shipped model, loaded once, on first use


def load(path=None, **options):
    """A Predictor for the shipped model, or for the model saved in ``path``
    (predictor.load: ``style="pdb"|"nox"``, ``threshold=T``)."""
    from idr_kit.predictor import load as _load
    return _load(path, **options)


def _shipped():
    if not _DEFAULT:
        _DEFAULT.append(load())
    return _DEFAULT[0]


def predict_disorder(seqs):
    """Probabilities of disorder from the shipped model: a (L,) float32 array for one
    sequence (a string), a list of them for a list of sequences, a dict by id for a dict of
    id -> sequence."""
    probs = _shipped().predict(seqs)
    return probs[0] if isinstance(seqs, str) else probs


def predict_idrs(seqs):
    """Disordered regions from the shipped model, [(start, end), ...] 0-based with the end
    excluded: one list for one sequence, shaped as ``predict_disorder`` otherwise."""
    spans = _shipped().regions(seqs)
    return spans[0] if isinstance(seqs, str) else spans


def plot_disorder(seqs, out, fmt: str = "png"):
    """Pictures of the shipped model's predictions: one sequence into the file ``out`` (.png
    or .svg), several (a list, or a dict by id) into the folder ``out``, a file each. Needs
    matplotlib (pip install matplotlib). Returns the paths written."""
    return _shipped().plot(seqs, out, fmt)


def predict_file(test, out, model=None, **options) -> dict:
    """A file of any size into an output folder, as ``submit.py --model`` writes it: resumable,
    on every core, or on a Dask cluster (predictor.predict_file: ``workers``, ``shard``,
    ``executor``, ``chunk_residues``, ``overwrite``)."""
    from idr_kit.predictor import predict_file as _predict_file
    return _predict_file(test, out, model, **options)

