"""Peak memory against file size: does memory follow the chunk, or grow with the file?

    python bench/bench_memory.py [--sizes-mb 1 10 50] [--runs default fast] [--work DIR]

Builds plain FASTA files of about 1, 10 and 50 MB in a temporary folder (or ``--work``, kept;
never inside the checkout): the shared sequences (../shared/data, else the demo's) in turn
under unique ids, every copy after the first with 1% of its residues substituted at random
(seeded), so no two records are alike and the chunks differ in shape, as a real proteome's do.
On each: ``idr-predict FILE -o out.npz --workers 1`` (the shipped predictor) and the same with
``--fast``, each a whole process of its own. Printed per run: the file's MB and residues, the
wall seconds and the peak resident memory of the process (``getrusage(RUSAGE_CHILDREN)``,
read in a fresh Python that only waits for the command, so it is that command's peak and
nothing else's). With ``--workers 1`` the prediction runs in that one process. Figures are
printed, never asserted.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from idr_kit.data.load import read_proteins

from benchdata import data_file

SOURCES = ("train.pkl", "valid.fasta")
AMINO_ACIDS = np.frombuffer(b"ACDEFGHIKLMNPQRSTVWY", dtype=np.uint8)
PREDICT = str(Path(sys.executable).parent / "idr-predict")
RUNS = {"default": [], "fast": ["--fast"]}
# A fresh interpreter that runs the command and reports the peak RSS of its children (KiB on
# Linux): the figure is the command's alone, not this script's (which holds the sequences).
PEAK = ("import resource, subprocess, sys\n"
        "rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode\n"
        "print(rc, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n")


def make_file(path: Path, megabytes: float, sequences: list[str]) -> int:
    """Records cycling through ``sequences`` until the file holds ``megabytes`` MB (10**6
    bytes), ids P0000001 ...; every copy after the first with 1% of its residues (at least one)
    substituted (seeded). Returns the residues written."""
    target, written, residues = int(megabytes * 1e6), 0, 0
    with open(path, "w") as handle:
        i = 0
        while written < target:
            seq = sequences[i % len(sequences)]
            if i >= len(sequences):
                seq = _substituted(seq, np.random.default_rng(i))
            record = f">P{i + 1:07d}\n{seq}\n"
            handle.write(record)
            written, residues, i = written + len(record), residues + len(seq), i + 1
    return residues


def _substituted(seq: str, rng: np.random.Generator) -> str:
    chars = np.frombuffer(seq.encode(), dtype=np.uint8).copy()
    where = rng.choice(len(chars), max(1, len(chars) // 100), replace=False)
    chars[where] = rng.choice(AMINO_ACIDS, len(where))
    return chars.tobytes().decode()


def peak_run(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and peak MiB of ``cmd`` as one process."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", PEAK, *cmd], capture_output=True, text=True)
    wall = time.perf_counter() - start
    rc, kib = (done.stdout.split() + ["?", "0"])[:2]
    if done.returncode or rc != "0":
        raise RuntimeError(f"{' '.join(cmd)} failed ({rc}): {done.stderr[-2000:]}")
    return wall, int(kib) / 1024


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes-mb", type=float, nargs="+", default=[1, 10, 50])
    parser.add_argument("--runs", nargs="+", choices=tuple(RUNS), default=list(RUNS))
    parser.add_argument("--work", type=Path, help="folder for the files (kept); default: a "
                        "temporary folder, removed")
    args = parser.parse_args(argv)
    sequences = [p.seq for name in SOURCES for p in read_proteins(data_file(name))]
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        for mb in args.sizes_mb:
            test = work / f"proteins-{mb:g}mb.fasta"
            residues = make_file(test, mb, sequences)
            for run in args.runs:
                cmd = [PREDICT, str(test), "-o", str(work / "out.npz"), "--workers", "1",
                       *RUNS[run]]
                wall, peak = peak_run(cmd)
                print(json.dumps({"run": run, "file_mb": mb, "residues": residues,
                                  "seconds": round(wall, 1), "peak_mib": round(peak)}),
                      flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
