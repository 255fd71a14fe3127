"""The shipped predictor beside its teacher (cpu_blend) and metapredict V3, in one table.

    python bench/bench_predictor.py [--work runs/build_predictor] [--repeats 3]

Reads what bench/build_predictor.py wrote (build.json, and the teacher's run folder: its
valid.fasta scores, and metapredict's own probabilities there as one of its members, at the
member's out-of-fold decision), then times whole prediction processes on the same plain FASTA
of valid.fasta, turn about: `idr-predict` with the shipped model (numbers to a .json),
`submit.py --model` with it, and metapredict's own CLI. Prints accuracy (CAID metrics on
valid.fasta, never used to fit anything), NOX-style figures out of fold on the training
proteins labelled so, seconds, residues/s, peak memory and the speed ratio to metapredict's
CLI. Figures are printed, never asserted.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from idr_kit.data.load import read_proteins
from idr_kit.data.metrics import evaluate
from idr_kit.data.probs import read_npz
from idr_kit.postprocess import Decision

from bench_tracks import best_wall, plain_fasta
from benchdata import ROOT, SHARED


def member_scores(run: Path, name: str) -> dict:
    """A member of a recipe run on valid.fasta, at its own out-of-fold decision."""
    record = json.loads((run / "config.json").read_text())
    decision = Decision.from_dict(record["members"][name]["decision"])
    valid = read_proteins(SHARED / "valid.fasta")
    probs = read_npz(run / "members" / f"{name}.npz")
    smoothed = decision.probs([probs[p.id] for p in valid])
    return evaluate(valid, {p.id: v for p, v in zip(valid, smoothed)},
                    {p.id: c for p, c in zip(valid, decision.calls(smoothed))})


def oof_nox(run: Path) -> dict:
    """The run's out-of-fold figures on train.pkl (NOX labels), as config.json records them."""
    record = json.loads((run / "config.json").read_text())
    key = next(k for k in record["oof"] if k.startswith("ensemble:") and "train.pkl" in k)
    return record["oof"][key]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "build_predictor")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    build = json.loads((args.work / "build.json").read_text())
    teacher_pdb, teacher_nox = args.work / "teacher-pdb", args.work / "teacher-nox"
    rows = [("distilled (shipped), pdb style", build["valid"], build["out_of_fold"]["nox"]),
            ("cpu_blend (its teacher), pdb style",
             json.loads((teacher_pdb / "config.json").read_text())["test_scores"],
             oof_nox(teacher_nox)),
            ("metapredict V3", member_scores(teacher_pdb, "metapredict"), None)]
    print("valid.fasta (CAID2 Disorder-PDB) | out of fold on train.pkl's NOX labels")
    print(f"{'predictor':38} {'AUC':>6} {'APS':>6} {'F1max':>6} {'F1':>6} | "
          f"{'AUC':>6} {'F1max':>6} {'F1':>6}")
    for name, v, o in rows:
        tail = (f"{o['auc']:6.3f} {o['f1_max']:6.3f} {o['f1']:6.3f}" if o else
                f"{'-':>6} {'-':>6} {'-':>6}")
        print(f"{name:38} {v['auc']:6.3f} {v['aps']:6.3f} {v['f1_max']:6.3f} {v['f1']:6.3f} | "
              + tail)
    plain = args.work / "valid_plain.fasta"
    residues = plain_fasta(SHARED / "valid.fasta", plain)
    bin_dir = Path(sys.executable).parent
    commands = {
        "idr-predict (shipped model)": [str(bin_dir / "idr-predict"), str(plain), "-o",
                                        str(args.work / "timed.json")],
        "metapredict-predict-disorder": [str(bin_dir / "metapredict-predict-disorder"),
                                         str(plain), "-o", str(args.work / "mp.csv"), "-s"],
    }
    timed = {}
    for _ in range(args.repeats):  # turn about, best of each
        for name, cmd in commands.items():
            wall, peak = best_wall(cmd, 1)
            old = timed.get(name, (float("inf"), 0))
            timed[name] = (min(old[0], wall), max(old[1], peak))
    peer = timed["metapredict-predict-disorder"][0]
    print(f"\nwhole prediction processes on {plain.name} ({residues:,} residues), best of "
          f"{args.repeats}, turn about:")
    for name, (wall, peak) in timed.items():
        print(f"  {name:30} {wall:6.2f} s {residues / wall:9,.0f} residues/s {peak:7.0f} MiB "
              f"{peer / wall:5.2f}x metapredict's CLI")
    return 0


if __name__ == "__main__":
    sys.exit(main())
