"""Proteome scale: whole prediction processes on files of 1,000 to 100,000 proteins, the kit
beside metapredict's own CLI, in one run.

    python bench/bench_scale.py [--sizes 1000 10000 22250 100000] [--single 1000 10000 22250]
                                [--work runs/bench_scale]

The files are the shared sequences (train.pkl, train_pdb_style.fasta, valid.fasta) repeated in
order under new ids, each repeat with 1% of its residues substituted (no two records alike),
as plain FASTA; 22,250 proteins (11.4 million residues) is the size of the
human proteome. On each: ``submit.py --model M --test FILE --out DIR`` with the shipped
predictor (models/predictor) and with an lgbm model trained on both training files (trained
once, into WORK/lgbm), by default (one worker per core) and, on the --single sizes, as one
worker held to one thread (``--workers 1 --set threads=1``); and
``metapredict-predict-disorder FILE -o OUT.csv``. Each is timed as a whole process; its peak
memory is the most its whole process tree (workers included) held at once, sampled every
0.1 s. Printed: seconds, residues per second, peak MiB; the default's speed-up over one worker
held to one thread; the kit's speed over metapredict's CLI; and across sizes, time per residue
and peak memory against the 10,000-protein file's. Figures are printed, never asserted.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psutil

from idr_kit.data.load import read_proteins

from benchdata import ROOT, SHARED

SOURCES = ("train.pkl", "train_pdb_style.fasta", "valid.fasta")
SHIPPED = ROOT / "models" / "predictor"
SHIPPED_FAST = ROOT / "models" / "predictor-fast"


AMINO_ACIDS = np.frombuffer(b"ACDEFGHIKLMNPQRSTVWY", dtype=np.uint8)


def make_file(path: Path, proteins: int, sequences: list[str]) -> int:
    """``proteins`` records cycling through ``sequences``, ids P0000001 ...; every copy after
    the first with 1% of its residues (at least one) substituted at random (seeded), so that
    no two records share a sequence: a predictor that caches identical sequences (as
    metapredict's CLI does) gains nothing a real proteome would not give it. The residues."""
    residues = 0
    with open(path, "w") as handle:
        for i in range(proteins):
            seq = sequences[i % len(sequences)]
            if i >= len(sequences):
                rng = np.random.default_rng(i)
                chars = np.frombuffer(seq.encode(), dtype=np.uint8).copy()
                where = rng.choice(len(chars), max(1, len(chars) // 100), replace=False)
                chars[where] = rng.choice(AMINO_ACIDS, len(where))
                seq = chars.tobytes().decode()
            handle.write(f">P{i + 1:07d}\n{seq}\n")
            residues += len(seq)
    return residues


def measured(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and peak MiB of the whole process tree (sampled every 0.1 s)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    root, peak = psutil.Process(proc.pid), 0
    while proc.poll() is None:
        try:
            tree = [root, *root.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
        except psutil.Error:
            pass
        time.sleep(0.1)
    wall = time.perf_counter() - start
    if proc.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): "
                           f"{proc.stderr.read()[-2000:]}")
    return wall, peak / 2**20


def lgbm_model(work: Path) -> Path:
    model = work / "lgbm" / "model"
    if not (work / "lgbm" / "config.json").is_file():
        subprocess.run([sys.executable, str(ROOT / "submit.py"), "--track", "lgbm",
                        "--train", str(SHARED / "train.pkl"),
                        "--train", str(SHARED / "train_pdb_style.fasta"),
                        "--test", str(SHARED / "valid.fasta"), "--folds", "0",
                        "--threshold", "0.5", "--out", str(work / "lgbm")], check=True, cwd=ROOT)
    return model


def kit(model: Path, test: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, str(ROOT / "submit.py"), "--model", str(model), "--test", str(test),
            "--out", str(out), *extra]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 22250, 100000])
    parser.add_argument("--single", type=int, nargs="*", default=[1000, 10000, 22250],
                        help="sizes also run as one worker held to one thread")
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "bench_scale")
    parser.add_argument("--models", nargs="+", choices=("default", "fast", "lgbm"),
                        default=["default", "fast", "lgbm"],
                        help="the shipped predictor (default), its fast form, an lgbm model")
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    sequences = [p.seq for name in SOURCES for p in read_proteins(SHARED / name)]
    named = {"default": ("shipped predictor", lambda: SHIPPED),
             "fast": ("shipped, fast", lambda: SHIPPED_FAST),
             "lgbm": ("lgbm", lambda: lgbm_model(args.work))}
    models = {named[m][0]: named[m][1]() for m in args.models}
    peer = str(Path(sys.executable).parent / "metapredict-predict-disorder")
    rows = []
    for size in args.sizes:
        test = args.work / f"proteins-{size}.fasta"
        residues = make_file(test, size, sequences)
        runs = {}
        for name, model in models.items():
            runs[f"{name}, default"] = kit(model, test, args.work / "out")
            if size in args.single:
                runs[f"{name}, 1 worker 1 thread"] = kit(model, test, args.work / "out",
                                                         "--workers", "1", "--set", "threads=1")
        runs["metapredict CLI"] = [peer, str(test), "-o", str(args.work / "mp.csv")]
        for name, cmd in runs.items():
            shutil.rmtree(args.work / "out", ignore_errors=True)
            wall, peak = measured(cmd)
            rows.append({"proteins": size, "residues": residues, "run": name,
                         "seconds": round(wall, 1), "residues_per_s": round(residues / wall),
                         "peak_mib": round(peak)})
            print(json.dumps(rows[-1]), flush=True)
    (args.work / "scale.json").write_text(json.dumps(rows, indent=1))
    report(rows)
    return 0


def report(rows: list[dict]) -> None:
    at = {(r["proteins"], r["run"]): r for r in rows}
    print(f"\n{'proteins':>8} {'residues':>11} {'run':34} {'s':>7} {'res/s':>9} {'MiB':>6} "
          f"{'vs 1w1t':>8} {'vs mp CLI':>9}")
    for r in rows:
        base = r["run"].split(",")[0]
        single = at.get((r["proteins"], f"{base}, 1 worker 1 thread"))
        mp = at.get((r["proteins"], "metapredict CLI"))
        speedup = (f"{single['seconds'] / r['seconds']:7.2f}x" if single and
                   r["run"].endswith("default") else "")
        ratio = f"{mp['seconds'] / r['seconds']:8.2f}x" if mp and r is not mp else ""
        print(f"{r['proteins']:>8,} {r['residues']:>11,} {r['run']:34} {r['seconds']:7.1f} "
              f"{r['residues_per_s']:9,} {r['peak_mib']:6,} {speedup:>8} {ratio:>9}")
    sizes = sorted({r["proteins"] for r in rows})
    ref = 10000 if 10000 in sizes else sizes[0]
    print(f"\nacross sizes, against {ref:,} proteins: time per residue and peak memory")
    for run in dict.fromkeys(r["run"] for r in rows):
        base = at.get((ref, run))
        if base is None:
            continue
        cells = [f"{s:,}: {base['residues_per_s'] / at[(s, run)]['residues_per_s']:.2f}x time, "
                 f"{at[(s, run)]['peak_mib'] / base['peak_mib']:.2f}x memory"
                 for s in sizes if (s, run) in at]
        print(f"  {run:34} " + "; ".join(cells))


if __name__ == "__main__":
    sys.exit(main())
