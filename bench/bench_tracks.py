"""Benchmark every CPU track against metapredict V3 on the held-out CAID set, in one run.

    python bench/bench_tracks.py [--tracks w2v lgbm] [--styles nox pdb both] [--folds 5]
    python bench/bench_tracks.py --tracks lgbm bert --extra "bert=--backbone antiberty" --repeats 0

For each track and training-label style: trains through `submit.py` (out-of-fold threshold tuning
included) on the training file(s), predicts ``valid.fasta`` and prints AUC, APS, F1-max, F1 at the
tuned threshold, training seconds, prediction residues/s and peak memory. Then times a whole
`submit.py --model` prediction process against metapredict's own CLI on the same plain FASTA
(best of --repeats) and prints the ratio. Figures are printed, never asserted: machines are shared.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

from benchdata import ROOT
from benchdata import SHARED as DATA

STYLES = {"nox": ["train.pkl"], "pdb": ["train_pdb_style.fasta"],
          "both": ["train.pkl", "train_pdb_style.fasta"]}


def run_measured(cmd: list[str], **kwargs) -> tuple[float, float, str]:
    """Run ``cmd``; return (wall seconds, peak resident memory in MiB, stdout)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, **kwargs)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    if proc.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed with exit code {proc.returncode}")
    return wall, usage.ru_maxrss / 1024, out


def plain_fasta(src: Path, dest: Path) -> int:
    """Write ``src``'s sequences without labels (what metapredict's CLI reads); return residues."""
    from idr_kit.data.load import read_proteins
    proteins = read_proteins(src)
    dest.write_text("".join(f">{p.id}\n{p.seq}\n" for p in proteins))
    return sum(len(p) for p in proteins)


def bench_track(track: str, style: str, args, out: Path, residues: int) -> dict:
    run_dir = out / f"{track}-{style}"
    cmd = [sys.executable, str(ROOT / "submit.py"), "--track", track, "--seed", str(args.seed),
           "--folds", str(args.folds), "--test", str(DATA / "valid.fasta"), "--out", str(run_dir)]
    for name in STYLES[style]:
        cmd += ["--train", str(DATA / name)]
    cmd += args.extra.get(track, [])
    wall, peak, _ = run_measured(cmd, cwd=ROOT)
    record = json.loads((run_dir / "config.json").read_text())
    scores = record["test_scores"]
    return {"track": track, "style": style, "auc": scores["auc"], "aps": scores["aps"],
            "f1_max": scores["f1_max"], "f1_tuned": scores["f1"],
            "threshold": record["threshold"], "train_s": record["seconds"]["train"],
            "predict_res_per_s": residues / max(record["seconds"]["predict"], 1e-9),
            "peak_mib": peak, "whole_run_s": wall, "model": str(run_dir / "model")}


def best_wall(cmd: list[str], repeats: int) -> tuple[float, float]:
    runs = [run_measured(cmd, cwd=ROOT) for _ in range(repeats)]
    return min(r[0] for r in runs), max(r[1] for r in runs)


METAPREDICT_SNIPPET = """
import json, sys, time
import metapredict as meta
from idr_kit.data.load import read_proteins
proteins = read_proteins(sys.argv[1])
start = time.perf_counter()
out = meta.predict_disorder(dict((p.id, p.seq) for p in proteins), version="V3")
seconds = time.perf_counter() - start
import numpy as np
from idr_kit.data.metrics import evaluate
scores = {pid: np.clip(np.asarray(v[1], dtype=np.float32), 0, 1) for pid, v in out.items()}
result = evaluate(proteins, scores)
result["seconds"] = seconds
print(json.dumps(result))
"""


def bench_metapredict(out: Path, residues: int) -> dict:
    cmd = [sys.executable, "-c", METAPREDICT_SNIPPET, str(DATA / "valid.fasta"), str(ROOT)]
    _, peak, stdout = run_measured(cmd, cwd=out)
    result = json.loads(stdout.strip().splitlines()[-1])
    return {"track": "metapredict V3", "style": "-", "auc": result["auc"], "aps": result["aps"],
            "f1_max": result["f1_max"], "f1_tuned": None, "threshold": None, "train_s": None,
            "predict_res_per_s": residues / result["seconds"], "peak_mib": peak}


def fmt(value, spec: str) -> str:
    """``format(value, spec)``, or a dash as wide as the spec's field for a missing value."""
    width = int(spec.split(".")[0].rstrip(",df") or 0)
    return "-".rjust(width) if value is None else format(value, spec)


def print_table(rows: list[dict]) -> None:
    print(f"\n{'track':16} {'train':6} {'AUC':>6} {'APS':>6} {'F1max':>6} {'F1@thr':>6} "
          f"{'thr':>5} {'train s':>8} {'run s':>6} {'pred res/s':>11} {'peak MiB':>9}")
    for r in rows:
        print(f"{r['track']:16} {r['style']:6} {fmt(r['auc'], '6.3f')} {fmt(r['aps'], '6.3f')} "
              f"{fmt(r['f1_max'], '6.3f')} {fmt(r['f1_tuned'], '6.3f')} "
              f"{fmt(r['threshold'], '5.3f')} {fmt(r['train_s'], '8.1f')} "
              f"{fmt(r.get('whole_run_s'), '6.0f')} "
              f"{fmt(r['predict_res_per_s'], '11,.0f')} {fmt(r['peak_mib'], '9.0f')}")


def compare_processes(rows: list[dict], plain: Path, out: Path, repeats: int) -> list[dict]:
    """Whole prediction processes on the same plain FASTA: each track vs metapredict's CLI."""
    mp_cli = Path(sys.executable).parent / "metapredict-predict-disorder"
    peer_s, peer_mib = best_wall([str(mp_cli), str(plain), "-o", str(out / "mp.csv"), "-s"],
                                 repeats)
    lines = [{"process": "metapredict-predict-disorder", "wall_s": peer_s, "peak_mib": peer_mib}]
    for r in rows:
        if r.get("model"):
            cmd = [sys.executable, str(ROOT / "submit.py"), "--model", r["model"], "--test",
                   str(plain), "--out", str(out / f"predict-{r['track']}-{r['style']}")]
            wall, peak = best_wall(cmd, repeats)
            lines.append({"process": f"submit.py --model ({r['track']}, {r['style']})",
                          "wall_s": wall, "peak_mib": peak, "speedup_vs_peer": peer_s / wall})
    print(f"\nwhole prediction process on {plain.name}, best of {repeats}:")
    for line in lines:
        ratio = line.get("speedup_vs_peer")
        extra = f"  {ratio:5.2f}x metapredict's speed" if ratio else ""
        print(f"  {line['process']:42} {line['wall_s']:7.2f} s {line['peak_mib']:7.0f} MiB{extra}")
    return lines


def parse_extra(pairs: list[str]) -> dict[str, list[str]]:
    """``["bert=--backbone antiberty"]`` -> ``{"bert": ["--backbone", "antiberty"]}``."""
    extra: dict[str, list[str]] = {}
    for pair in pairs:
        track, sep, text = pair.partition("=")
        if not sep:
            raise SystemExit(f"--extra wants TRACK=ARGS, got {pair!r}")
        extra.setdefault(track, []).extend(shlex.split(text))
    return extra


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tracks", nargs="+", default=["w2v", "lgbm"])
    parser.add_argument("--styles", nargs="+", default=["nox"], choices=sorted(STYLES),
                        help="training labels: nox=train.pkl, pdb=train_pdb_style.fasta, both")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3,
                        help="timed whole prediction processes per model; 0 skips that comparison")
    parser.add_argument("--extra", action="append", default=[], metavar="TRACK=ARGS",
                        help="more submit.py arguments for one track, e.g. "
                             "'bert=--backbone antiberty --set epochs=5' (repeatable)")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "bench")
    args = parser.parse_args(argv)
    args.extra = parse_extra(args.extra)
    args.out.mkdir(parents=True, exist_ok=True)
    plain = args.out / "valid_plain.fasta"
    residues = plain_fasta(DATA / "valid.fasta", plain)
    rows = [bench_track(t, s, args, args.out, residues) for t in args.tracks for s in args.styles]
    rows.append(bench_metapredict(args.out, residues))
    print_table(rows)
    processes = compare_processes(rows, plain, args.out, args.repeats) if args.repeats else []
    (args.out / "results.json").write_text(json.dumps({"rows": rows, "processes": processes},
                                                      indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
