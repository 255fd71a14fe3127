"""The ensemble against its members and metapredict V3 on the held-out CAID set.

    python bench/bench_ensemble.py [--members w2v lgbm metapredict] [--styles nox pdb]
                                   [--blenders mean weighted rank stack] [--folds 5]

For each training-label style (nox: train.pkl; pdb: train_pdb_style.fasta) and each blender, an
ensemble of the members is fitted by the out-of-fold protocol on the training file (members'
out-of-fold arrays are computed once per style and reused by every blender, through their fold
checkpoints),
then predicts ``valid.fasta``, which is never used for fitting anything. Prints, for each member
and each ensemble: AUC, APS, F1-max and F1 at the threshold tuned on out-of-fold predictions of
the training set (CAID metrics, pooled residues), and the ensemble's gain over its best member
and over metapredict. Figures are printed, never asserted.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from idr_kit.data.load import read_proteins
from idr_kit.data.metrics import binarize, evaluate, roc_auc
from idr_kit.data.records import pooled
from idr_kit.data.splits import fold_groups, make_folds
from idr_kit.model.decision import fit_decision, tune_threshold
from idr_kit.model.runtime import Runtime
from idr_kit.tracks import make_track

from benchdata import SHARED as DATA

STYLES = {"nox": "train.pkl", "pdb": "train_pdb_style.fasta"}
COLUMNS = ("auc", "aps", "f1_max", "f1")


def scores(proteins, probs, binary) -> dict:
    ids = [p.id for p in proteins]
    return evaluate(proteins, dict(zip(ids, probs)), dict(zip(ids, binary)))


def oof_auc(train, probs) -> float:
    """Pooled AUC of out-of-fold predictions on the training file: what choices are made on."""
    return roc_auc(*pooled(train, probs))


def member_rows(members, train, valid, oof, parts) -> list[dict]:
    """Each member on valid.fasta, at the threshold tuned on its own out-of-fold predictions."""
    rows = []
    for name in members:
        threshold = tune_threshold(train, oof[name])
        binary = [binarize(p, threshold) for p in parts[name]]
        rows.append({"name": name, "threshold": threshold, "oof_auc": oof_auc(train, oof[name]),
                     **scores(valid, parts[name], binary)})
    return rows


def ensemble_row(track, train, valid, oof, parts, blender: str, seconds: float) -> dict:
    """The ensemble as submit.py runs it: its decision fitted on its out-of-fold blend."""
    decision = fit_decision(oof["ensemble"], train, track.decision_defaults)
    probs = decision.probs(parts["ensemble"])
    post = {k: v for k, v in decision.to_dict().items() if k not in ("threshold", "source")}
    return {"name": f"ensemble[{blender}]", "threshold": decision.threshold, "fit_s": seconds,
            "oof_auc": oof_auc(train, decision.probs(oof["ensemble"])), "post": post,
            **scores(valid, probs, decision.calls(probs))}


def bench_style(style: str, args, cache: Path) -> list[dict]:
    train = read_proteins(DATA / STYLES[style])
    valid = read_proteins(DATA / "valid.fasta")
    fold_of = make_folds([p.id for p in train], k=args.folds, seed=args.seed,
                         groups=fold_groups(train, None))
    folds = [fold_of[p.id] for p in train]
    runtime = Runtime(checkpoint_dir=str(cache / style))
    rows = []
    for i, blender in enumerate(args.blenders):
        start = time.perf_counter()
        track = make_track("ensemble", runtime=runtime, members=tuple(args.members),
                           blender=blender, folds=args.folds, seed=args.seed)
        value = track.out_of_fold(train, folds)
        track.fit(train, value)  # the members' out-of-fold arrays come from the value
        seconds = time.perf_counter() - start
        blend, member_probs = track.predict_with_members(valid)
        oof = {"ensemble": value.probs, **{n: v.probs for n, v in value.members.items()}}
        parts = {"ensemble": blend, **member_probs}
        if i == 0:
            rows += member_rows(args.members, train, valid, oof, parts)
        rows.append(ensemble_row(track, train, valid, oof, parts, blender, seconds))
        print(f"{style} {blender}: fitted in {seconds:.0f} s (members cached after the first)",
              flush=True)
    return rows


def fmt(value) -> str:
    return "-" if value is None else f"{value:.3f}"


def print_style(style: str, rows: list[dict]) -> None:
    members = [r for r in rows if not r["name"].startswith("ensemble")]
    best = {k: max(r[k] for r in members) for k in ("auc", "f1_max")}
    peer = next((r for r in members if r["name"] == "metapredict"), None)
    print(f"\n{style} ({STYLES[style]}) -> valid.fasta")
    print(f"{'predictor':22} {'OOF AUC':>7} {'AUC':>6} {'APS':>6} {'F1max':>6} {'F1@thr':>6} {'thr':>6}  "
          f"{'dAUC best':>9} {'dF1max best':>11} {'dAUC mp':>8} {'dF1max mp':>9}  post")
    for r in rows:
        gains = ""
        if r["name"].startswith("ensemble"):
            gains = f"{r['auc'] - best['auc']:+9.3f} {r['f1_max'] - best['f1_max']:+11.3f}"
            if peer:
                gains += f" {r['auc'] - peer['auc']:+8.3f} {r['f1_max'] - peer['f1_max']:+9.3f}"
        post = r.get("post", "")
        print(f"{r['name']:22} {fmt(r['oof_auc']):>7} {fmt(r['auc']):>6} {fmt(r['aps']):>6} {fmt(r['f1_max']):>6} "
              f"{fmt(r['f1']):>6} {fmt(r['threshold']):>6}  {gains:40} {post}")


def parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", nargs="+", default=["w2v", "lgbm", "metapredict"])
    parser.add_argument("--styles", nargs="+", choices=sorted(STYLES), default=["nox", "pdb"])
    parser.add_argument("--blenders", nargs="+", default=["mean", "weighted", "rank", "stack"])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache", type=Path, help="keep members' arrays here (default: a temp dir)")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse(argv)
    with tempfile.TemporaryDirectory() as tmp:
        cache = args.cache or Path(tmp)
        results = {style: bench_style(style, args, cache) for style in args.styles}
    for style, rows in results.items():
        print_style(style, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
