"""Choose a track's settings on homology-grouped folds of the training files.

    python bench/tune.py --track bilstm --candidate "" --candidate "lr=1e-3,patience=5"
    python bench/tune.py --track lgbm --candidate "" --candidate "embeddings=antiberty"

Both training files are pooled (train.pkl, NOX style; train_pdb_style.fasta, PDB style) and cut
into folds grouped by MMseqs2 cluster (bench/clusters/train_mmseqs.tsv), so no protein family
is on both sides. For each candidate, every fold's model predicts its held-out proteins (a track
with a ``style`` setting in both label styles); the out-of-fold AUC and F1-max are scored in
each style on the file labelled in it. valid.fasta is never read: it is for reporting, not for
choosing. ``--cache-dir`` keeps backbone embeddings on disk between candidates and runs.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import time

from idr_kit.data.fields import defaults_of, parse_pairs
from idr_kit.data.load import read_proteins
from idr_kit.data.metrics import evaluate
from idr_kit.data.splits import fold_groups, make_folds
from idr_kit.model.runtime import Runtime
from idr_kit.tracks import config_class, make_track

from benchdata import ROOT
from benchdata import SHARED as DATA

CLUSTERS = ROOT / "bench" / "clusters" / "train_mmseqs.tsv"
FILES = {"nox": "train.pkl", "pdb": "train_pdb_style.fasta"}


def grouped_folds(train, k: int, seed: int) -> list[int]:
    fold_of = make_folds([p.id for p in train], k=k, seed=seed,
                         groups=fold_groups(train, CLUSTERS))
    return [fold_of[p.id] for p in train]


def candidate_oof(name: str, settings: dict, train, sources, folds, runtime: Runtime) -> dict:
    """Out-of-fold probabilities of each protein, predicted in both styles where the track
    has them."""
    oof = {style: [None] * len(train) for style in FILES}
    for k in sorted(set(folds)):
        rest = [p for p, f in zip(train, folds) if f != k]
        held = [i for i, f in enumerate(folds) if f == k]
        track = make_track(name, runtime=runtime, **settings).fit(rest)
        styled = "style" in {f.name for f in dataclasses.fields(track.config)}
        once = None if styled else track.predict_proba([train[i] for i in held])
        for style in FILES:
            if styled:
                track.config = dataclasses.replace(track.config, style=style)
            predicted = track.predict_proba([train[i] for i in held]) if styled else once
            for i, probs in zip(held, predicted):
                oof[style][i] = probs
        history = getattr(track, "history_", None)
        print(f"  fold {k}" + (f": best epoch {history.best_epoch + 1}, {history.steps} steps"
                               if history else " done"), flush=True)
    scores = {}
    for style in FILES:
        chosen = [i for i, s in enumerate(sources) if s == style]
        ref = [train[i] for i in chosen]
        result = evaluate(ref, {train[i].id: oof[style][i] for i in chosen})
        scores[style] = (result["auc"], result["f1_max"])
    return scores


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--track", default="bilstm")
    parser.add_argument("--candidate", action="append", default=[],
                        help="comma-separated settings (KEY=VALUE,...); '' is the defaults")
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--cache-dir", default="", help="keep backbone embeddings here")
    args = parser.parse_args(argv)
    train, sources = [], []
    for style, name in FILES.items():
        proteins = read_proteins(DATA / name)
        train += proteins
        sources += [style] * len(proteins)
    folds = grouped_folds(train, args.folds, args.seed)
    rows = []
    for text in args.candidate or [""]:
        pairs = [t for t in text.split(",") if t.strip()]
        settings = parse_pairs(pairs, defaults_of(config_class(args.track)()))
        start = time.perf_counter()
        print(f"candidate {text or '(defaults)'}", flush=True)
        runtime = Runtime(device="cpu", threads=args.threads, cache_dir=args.cache_dir)
        scores = candidate_oof(args.track, settings, train, sources, folds, runtime)
        rows.append((text or "(defaults)", scores, time.perf_counter() - start))
        print(f"  NOX AUC / F1-max {scores['nox'][0]:.3f} / {scores['nox'][1]:.3f}, PDB "
              f"{scores['pdb'][0]:.3f} / {scores['pdb'][1]:.3f}", flush=True)
    print(f"\n{'candidate':40} {'NOX AUC':>8} {'NOX F1max':>9} {'PDB AUC':>8} {'PDB F1max':>9} "
          f"{'seconds':>8}")
    for text, scores, seconds in rows:
        print(f"{text:40} {scores['nox'][0]:8.3f} {scores['nox'][1]:9.3f} {scores['pdb'][0]:8.3f} "
              f"{scores['pdb'][1]:9.3f} {seconds:8.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
