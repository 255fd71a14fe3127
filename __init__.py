"""idr-kit: per-residue prediction of intrinsically disordered regions (IDRs) of proteins.

The checkout's folders are this package's modules (the build maps the repository root to
``idr_kit``): ``data`` (records, formats, splits, metrics), the tracks (``baselines``,
``token_clf``, ``llm_sft``, ``ensemble``), ``tracks`` (the contract and the registry),
``pipeline`` (one run, any track) and the command lines ``submit``, ``score`` and ``fit``.
"""
__version__ = "0.2.0"
