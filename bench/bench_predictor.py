"""The shipped predictors (default and fast) beside metapredict V3 and the kit's cpu_blend recipe,
in one table: accuracy on valid.fasta and out of fold on grouped folds, whole-process speed and
peak memory against metapredict's own CLI, in the same run.

    python bench/bench_predictor.py [--work runs/build_predictor] [--repeats 3]

Accuracy: the default, fast and metapredict rows are read from what bench/build_predictor.py
wrote (WORK/build.json: valid.fasta scored once, and out-of-fold figures on the training
proteins labelled in each style, on the 3 MMseqs2-grouped folds of both training files).
cpu_blend is trained here as a user trains it (submit.py --recipe cpu_blend on both files,
--groups, --folds 3, --seed 0, --set style=pdb: the same folds), once, into WORK/cpu_blend;
its out-of-fold figures are on the PDB-labelled proteins (its run predicts in that style).

Speed: whole prediction processes on valid.fasta as plain FASTA, best of --repeats, turn
about: `idr-predict` with the default and with `--fast` (numbers to a .json) and
metapredict's own CLI (`metapredict-predict-disorder`), each with the peak memory of its
process tree. Figures are printed, never asserted.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from idr_kit.data.load import read_proteins
from idr_kit.data.metrics import evaluate
from idr_kit.data.probs import read_npz
from idr_kit.data.styles import in_style

from bench_scale import measured
from bench_tracks import plain_fasta
from benchdata import ROOT, SHARED

FILES = ("train.pkl", "train_pdb_style.fasta")
CLUSTERS = ROOT / "bench" / "clusters" / "train_mmseqs.tsv"


def cpu_blend(work: Path) -> tuple[dict, dict]:
    """cpu_blend trained on both files in the PDB style: (valid.fasta scores, out-of-fold
    scores on the PDB-labelled training proteins)."""
    out = work / "cpu_blend"
    if not (out / "config.json").is_file():
        subprocess.run([sys.executable, str(ROOT / "submit.py"), "--recipe", "cpu_blend",
                        *[a for name in FILES for a in ("--train", str(SHARED / name))],
                        "--test", str(SHARED / "valid.fasta"), "--groups", str(CLUSTERS),
                        "--folds", "3", "--seed", "0", "--set", "style=pdb", "--out", str(out)],
                       check=True, cwd=ROOT)
    record = json.loads((out / "config.json").read_text())
    train = [p for name in FILES for p in read_proteins(SHARED / name)]
    oof = {}
    for name in FILES:
        oof.update(read_npz(out / "oof" / f"ensemble-{Path(name).stem}.npz"))
    chosen = [train[i] for i in in_style(train, "pdb")]
    return record["test_scores"], evaluate(chosen, {p.id: oof[p.id] for p in chosen})


def line(name: str, valid: dict, pdb: dict | None, nox: dict | None) -> str:
    def cells(s):
        return (f"{s['auc']:6.3f} {s['f1_max']:6.3f}" if s else f"{'-':>6} {'-':>6}")
    return (f"{name:34} {valid['auc']:6.3f} {valid['aps']:6.3f} {valid['f1_max']:6.3f} | "
            f"{cells(pdb)} | {cells(nox)}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "build_predictor")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-cpu-blend", action="store_true",
                        help="leave cpu_blend out (training it takes about 25 minutes)")
    args = parser.parse_args(argv)
    build = json.loads((args.work / "build.json").read_text())
    default, fast = build["models"]["default"], build["models"]["fast"]
    mp = build["metapredict_mit"]
    print("accuracy: valid.fasta (CAID2 Disorder-PDB; AUC APS F1max) | out of fold, "
          "PDB-labelled (AUC F1max) | NOX-labelled, nox style (AUC F1max)")
    print(line("default (convnet + metapredict V3)", default["valid"],
               default["out_of_fold"]["pdb"], default["out_of_fold"]["nox"]))
    print(line("fast (convnet alone)", fast["valid"], fast["out_of_fold"]["pdb"],
               fast["out_of_fold"]["nox"]))
    print(line("metapredict V3", mp["valid"], mp["out_of_fold_pdb"], mp["out_of_fold_nox"]))
    if not args.no_cpu_blend:
        valid, pdb = cpu_blend(args.work)
        print(line("cpu_blend (pdb style)", valid, pdb, None))
    plain = args.work / "valid_plain.fasta"
    residues = plain_fasta(SHARED / "valid.fasta", plain)
    bin_dir = Path(sys.executable).parent
    commands = {
        "idr-predict (default)": [str(bin_dir / "idr-predict"), str(plain), "-o",
                                  str(args.work / "timed.json")],
        "idr-predict --fast": [str(bin_dir / "idr-predict"), str(plain), "--fast", "-o",
                               str(args.work / "timed-fast.json")],
        "metapredict-predict-disorder": [str(bin_dir / "metapredict-predict-disorder"),
                                         str(plain), "-o", str(args.work / "mp.csv"), "-s"],
    }
    timed: dict[str, tuple[float, float]] = {}
    for _ in range(args.repeats):  # turn about, best of each
        for name, cmd in commands.items():
            wall, peak = measured(cmd)
            old = timed.get(name, (float("inf"), 0.0))
            timed[name] = (min(old[0], wall), max(old[1], peak))
    peer_wall, peer_peak = timed["metapredict-predict-disorder"]
    print(f"\nwhole prediction processes on {plain.name} ({residues:,} residues), best of "
          f"{args.repeats}, turn about:")
    for name, (wall, peak) in timed.items():
        print(f"  {name:30} {wall:6.2f} s {residues / wall:9,.0f} residues/s {peak:7.0f} MiB "
              f"| {wall / peer_wall:5.2f} of metapredict's time, {peak / peer_peak:4.2f} of "
              "its memory")
    return 0


if __name__ == "__main__":
    sys.exit(main())
