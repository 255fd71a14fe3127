"""Should a blend predicting one label style learn from proteins labelled in it only?

    python bench/blend_on_style.py [--run runs/bench_cpu/both/cpu_blend]

Reads the members' out-of-fold arrays of a bench_cpu.py recipe run on both training files
(MMseqs2-grouped folds; valid.fasta is never read) and cross-validates the stacker over the
same folds twice: fitted on every training protein, and on the PDB-style ones only. Prints the
out-of-fold AUC / F1-max of each, on the PDB-style proteins and on train.pkl's NOX ones, and
each member's own.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from idr_kit.data.load import read_proteins
from idr_kit.data.metrics import evaluate
from idr_kit.data.styles import label_style
from idr_kit.ensemble.blend import make_blender
from idr_kit.ensemble.track import blend_out_of_fold, stacked

from benchdata import ROOT
from benchdata import SHARED as DATA

FILES = ("train.pkl", "train_pdb_style.fasta")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, default=ROOT / "runs" / "bench_cpu" / "both" / "cpu_blend")
    parser.add_argument("--members", nargs="+", default=["lgbm", "bilstm", "metapredict"])
    args = parser.parse_args(argv)
    proteins = [p for name in FILES for p in read_proteins(DATA / name)]
    fold_of = json.loads((args.run / "folds.json").read_text())["folds"]
    folds = [fold_of[p.id] for p in proteins]
    oof = {}
    for member in args.members:
        arrays = {}
        for name in FILES:
            with np.load(args.run / "oof" / f"{member}-{Path(name).stem}.npz") as saved:
                arrays.update({k: saved[k] for k in saved.files})
        oof[member] = [arrays[p.id] for p in proteins]
    styles = {s: [i for i, p in enumerate(proteins) if label_style(p) == s] for s in ("pdb", "nox")}

    def scores(probs) -> str:
        found = []
        for style, index in styles.items():
            r = evaluate([proteins[i] for i in index], {proteins[i].id: probs[i] for i in index})
            found.append(f"{style.upper()} {r['auc']:.3f} / {r['f1_max']:.3f}")
        return ", ".join(found)

    for members in (args.members[:2], args.members):
        stack = stacked([oof[m] for m in members])
        for fit_on, chosen in (("all", None), ("pdb", styles["pdb"])):
            blend = blend_out_of_fold(stack, proteins, folds,
                                      lambda: make_blender("stack", seed=0), chosen)
            print(f"stack of {'+'.join(members)}, fitted on {fit_on}: {scores(blend)}", flush=True)
    for member, probs in oof.items():
        print(f"{member} alone: {scores(probs)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
