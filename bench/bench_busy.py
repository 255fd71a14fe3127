"""Training and prediction beside competing load: wall and CPU time, idle and beside N busy loops.

    mkdir -p /tmp/old/idr_kit && git archive COMMIT | tar -x -C /tmp/old/idr_kit
    python bench/bench_busy.py --old /tmp/old --loads 0 2 7

Cluster nodes and laptops are busy machines. For each load N this starts N pure-Python busy
loops (``while`` loops, each ending by itself after ``--cap`` seconds and killed when the level
is done), then times, turn about, the checkout's code and (``--old DIR``: a folder holding an
older ``idr_kit``, run through PYTHONPATH) the old code on

* **train**: one LightGBM fit on the bundled demo data, predicting its 61 test proteins
  (``python submit.py --track lgbm --folds 0``); ``--full`` times the README's demo command
  itself (``python submit.py --track lgbm``: 5 folds, then the fit);
* **predict**: ``idr-predict FILE -o x.npz`` with the shipped model (FILE: ``--fasta``, by
  default ../shared/data/valid.fasta, else the demo's test proteins).

Wall and CPU time are each whole process's (its workers included: ``wait4``'s usage). The
OpenMP and ONNX Runtime settings are left to the code timed (OMP_WAIT_POLICY and
GOMP_SPINCOUNT are taken out of the environment). The machine's own load (other users' work)
adds to N: it is printed beside each level, as the 1-minute load average when the level starts.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED_VALID = ROOT.parent / "shared" / "data" / "valid.fasta"
DEMO_TEST = ROOT / "data" / "demo" / "test.fasta"
# Left to the code timed: the old code set neither, the new one sets the wait policy itself.
UNSET = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "PYTHONPATH", "IDR_DATA")
BUSY_LOOP = "import sys, time\nend = time.monotonic() + float(sys.argv[1])\nwhile time.monotonic() < end:\n    pass\n"


def busy_loops(count: int, cap: float) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, "-c", BUSY_LOOP, str(cap)]) for _ in range(count)]


def stop(loops: list[subprocess.Popen]) -> None:
    for loop in loops:
        loop.kill()
    for loop in loops:
        loop.wait()


def timed(command: list[str], env: dict, cwd: Path, log: Path) -> tuple[float, float]:
    """(wall s, CPU s) of one whole process and its children; a failed run stops the bench."""
    with open(log, "w") as out:
        started = time.perf_counter()
        process = subprocess.Popen(command, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        sys.exit(f"{' '.join(command)} failed ({process.returncode}):\n{log.read_text()[-2000:]}")
    return wall, usage.ru_utime + usage.ru_stime


def commands(code: Path, fasta: Path, full: bool, work: Path) -> dict[str, list[str]]:
    folds = [] if full else ["--folds", "0"]
    return {"train": [sys.executable, str(code / "submit.py"), "--track", "lgbm", *folds,
                      "--out", str(work / "train")],
            "predict": [sys.executable, "-m", "idr_kit.commands.predict", str(fasta),
                        "-o", str(work / "x.npz")]}


def environment(code: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in UNSET}
    env.update(IDR_OFFLINE="1", HF_HUB_OFFLINE="1", IDR_PROGRESS="lines")
    if code != ROOT:
        env["PYTHONPATH"] = str(code.parent)  # DIR/idr_kit is imported as idr_kit
    return env


def run_level(load: int, codes: dict[str, Path], args, scratch: Path) -> list[tuple]:
    rows, machine = [], os.getloadavg()[0]
    loops = busy_loops(load, args.cap)
    try:
        for repeat in range(args.repeats):
            order = list(codes.items())
            for name, code in order[::-1] if repeat % 2 else order:  # turn about
                work = Path(tempfile.mkdtemp(dir=scratch))
                for what, command in commands(code, args.fasta, args.full, work).items():
                    if what not in args.runs:
                        continue
                    wall, cpu = timed(command, environment(code), work, work / f"{what}.log")
                    rows.append((load, machine, what, name, repeat, wall, cpu))
                    print(f"  load {load} (machine {machine:.1f}) {what:7s} {name:4s} "
                          f"{wall:7.1f} s wall {cpu:7.1f} s CPU", flush=True)
    finally:
        stop(loops)
    return rows


def table(rows: list[tuple], codes: list[str]) -> None:
    """Best of the repeats, per load, command and code; the old code's time over the new."""
    best = {}
    for load, machine, what, name, _, wall, cpu in rows:
        key = (load, what, name)
        if key not in best or wall < best[key][1]:
            best[key] = (machine, wall, cpu)
    print("\n| busy loops | machine load | run | " + " | ".join(
        f"{c} wall s | {c} CPU s" for c in codes) + (" | old/new wall |" if len(codes) > 1 else " |"))
    print("|---:|---:|---|" + "---:|---:|" * len(codes) + ("---:|" if len(codes) > 1 else ""))
    for load, what in sorted({(k[0], k[1]) for k in best}):
        cells = [best[(load, what, c)] for c in codes]
        line = f"| {load} | {cells[0][0]:.1f} | {what} | " + " | ".join(
            f"{wall:.1f} | {cpu:.1f}" for _, wall, cpu in cells)
        ratio = f" | {cells[1][1] / cells[0][1]:.2f} |" if len(codes) > 1 else " |"
        print(line + ratio)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--loads", type=int, nargs="+", default=[0, 2, 7])
    parser.add_argument("--old", type=Path, help="a folder holding an older idr_kit/")
    parser.add_argument("--fasta", type=Path,
                        default=SHARED_VALID if SHARED_VALID.is_file() else DEMO_TEST)
    parser.add_argument("--full", action="store_true", help="the README's whole demo command")
    parser.add_argument("--runs", nargs="+", choices=("train", "predict"),
                        default=["train", "predict"])
    parser.add_argument("--repeats", type=int, default=1, help="best of this many, turn about")
    parser.add_argument("--cap", type=float, default=3600, help="seconds a busy loop lives")
    args = parser.parse_args(argv)
    codes = {"new": ROOT}
    if args.old:
        codes["old"] = (args.old / "idr_kit").resolve()
        if not (codes["old"] / "submit.py").is_file():
            parser.error(f"{args.old}/idr_kit/submit.py: not the kit's code")
    print(f"{os.cpu_count()} CPUs, this process may use {len(os.sched_getaffinity(0))}; "
          f"predicting {args.fasta}")
    with tempfile.TemporaryDirectory() as scratch:
        rows = [row for load in args.loads for row in run_level(load, codes, args, Path(scratch))]
    table(rows, list(codes))


if __name__ == "__main__":
    main()
