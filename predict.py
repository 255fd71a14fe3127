"""Predict disorder: per-residue probabilities, calls and IDR regions, with the shipped model.

    idr-predict -s MKVLAAGGSEEKPAPSPAPS           # a table on stdout
    idr-predict proteome.fasta -o disorder.json   # by extension: .caid .csv .json .npz
    cat my.fasta | idr-predict - --style nox -o calls.csv
    idr-predict my.fasta --model runs/lgbm/model -o out.caid

Text outputs give regions 1-based and inclusive (as DisProt does); the Python API
(predictor.py) gives them 0-based, end excluded. A file is read, predicted and written a chunk at
a time, and the output appears whole (a reader never sees half a file).
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Iterable

import numpy as np

try:
    from idr_kit.cli import guarded, threshold_arg
    from idr_kit.data.atomic import atomic_write
    from idr_kit.data.errors import SettingError
    from idr_kit.data.fasta import caid_record
    from idr_kit.data.outset import NpzWriter
    from idr_kit.data.styles import STYLES
    from idr_kit.predictor import SHIPPED, Prediction, as_proteins, load
    from idr_kit.runfolder import check_output, check_writable, terminate_as_interrupt
    from idr_kit.stream import CHUNK_RESIDUES, Chunking, Source
except ModuleNotFoundError as err:  # python predict.py in a checkout that is not installed
    if err.name != "idr_kit":
        raise
    sys.exit("predict.py: error: the kit is not installed in this Python: run the README's "
             "install command (pip install -e . in the checkout) first")

FORMATS = (".caid", ".csv", ".json", ".npz")
DECIMALS = 3


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="idr-predict", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("files", nargs="*", type=str, metavar="FILE",
                        help="FASTA files (or .pkl / .json as the kit reads them); - for stdin")
    parser.add_argument("-s", "--sequence", action="append", default=[], metavar="SEQUENCE",
                        help="a sequence to predict (repeatable; named seq1, seq2 ...)")
    parser.add_argument("-o", "--output", type=Path, metavar="OUT",
                        help=f"write here, the format by extension ({', '.join(FORMATS)}); "
                             "without it, a short table on stdout")
    parser.add_argument("--style", choices=STYLES, help="the label style to predict in: pdb "
                        "(CAID's, the shipped model's default) or nox (the competition's)")
    parser.add_argument("--model", type=Path, help="a model folder the kit saved (default: the "
                        "model shipped with the kit)")
    parser.add_argument("--threshold", type=threshold_arg,
                        help="call disorder at this probability instead of the model's")
    parser.add_argument("--workers", type=int, default=0, metavar="N",
                        help="processes predicting a file's chunks (default 0: one per core); "
                             "the outputs do not depend on it")
    parser.add_argument("--chunk-residues", type=int, default=CHUNK_RESIDUES, metavar="R",
                        help="residues read and predicted at a time (default: %(default)s)")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    return parser


def run(args) -> None:
    """Everything checked first (the output's place, the model, every input), then the
    prediction, chunk by chunk, into the output, which appears whole at the end."""
    if not args.files and not args.sequence:
        raise SettingError("nothing to predict: give FASTA files, - for stdin, or -s SEQUENCE")
    if args.files.count("-") > 1:
        raise SettingError("- (stdin) can be given once")
    chunking = Chunking(args.chunk_residues, args.workers)  # the ranges, before any work
    inputs = [Path(f) for f in args.files if f != "-"]
    writer = None
    if args.output is not None:
        writer = writer_for(args.output)
        check_output(args.output, [("the model", args.model or SHIPPED),
                                   *(("an input file", f) for f in inputs)], folder=False)
        check_writable(args.output.parent)
    model = load(args.model, style=args.style, threshold=args.threshold)
    sources = ([Source("the sequences given", proteins=tuple(as_proteins(args.sequence)))]
               if args.sequence else []) + [Source.of(f) for f in args.files]
    hits = model.predict_sources(sources, chunking.workers, chunking.residues, progress=True)
    if writer is None:
        write_table(hits, sys.stdout)
        return
    count = writer(hits, args.output)
    print(f"wrote {args.output} ({count} proteins)", file=sys.stderr)


def writer_for(path: Path):
    suffix = path.suffix.lower()
    if suffix not in WRITERS:
        raise SettingError(f"{path}: unknown output format; by extension: {', '.join(FORMATS)}")
    return WRITERS[suffix]


def regions_text(hit: Prediction) -> str:
    """1-based, inclusive: '12-45,80-97' (DisProt's way), '-' for none."""
    return ",".join(f"{a + 1}-{b}" for a, b in hit.regions) or "-"


def write_table(hits: Iterable[Prediction], out) -> None:
    """A row per protein; the header comes with the first row (an error before it prints
    none)."""
    for i, hit in enumerate(hits):
        if i == 0:
            out.write(f"{'id':<24} {'length':>7} {'disordered':>10}  regions (1-based, "
                      "inclusive)\n")
        out.write(f"{hit.id:<24} {len(hit.sequence):>7} {hit.fraction_disordered:>10.1%}  "
                  f"{regions_text(hit)}\n")


def write_caid(hits: Iterable[Prediction], path: Path) -> int:
    count = 0
    with atomic_write(path) as handle:
        for hit in hits:
            handle.write(caid_record(hit.id, hit.sequence, hit.probs, hit.calls))
            count += 1
    return count


def write_csv(hits: Iterable[Prediction], path: Path) -> int:
    """One row per residue: id, position (1-based), residue, probability, disordered; an id
    with a comma or a quote is quoted, as CSV readers expect."""
    count = 0
    with atomic_write(path, "w", newline="", encoding="utf-8") as handle:
        rows = csv.writer(handle, lineterminator="\n")
        rows.writerow(("id", "position", "residue", "probability", "disordered"))
        for hit in hits:
            rows.writerows((hit.id, i, aa, f"{p:.{DECIMALS}f}", c) for i, (aa, p, c) in
                           enumerate(zip(hit.sequence, hit.probs, hit.calls.tolist()), 1))
            count += 1
    return count


def write_json(hits: Iterable[Prediction], path: Path) -> int:
    """{"regions_are": ..., "proteins": [{id, length, fraction_disordered, regions,
    probabilities, calls}, ...]}, written protein by protein."""
    count = 0
    with atomic_write(path) as handle:
        handle.write('{"regions_are": "1-based, inclusive", "proteins": [\n')
        for hit in hits:
            record = {"id": hit.id, "length": len(hit.sequence),
                      "fraction_disordered": round(hit.fraction_disordered, DECIMALS),
                      "regions": [[a + 1, b] for a, b in hit.regions],
                      "probabilities": np.round(hit.probs.astype(np.float64), DECIMALS).tolist(),
                      "calls": "".join(map(str, hit.calls.tolist()))}
            handle.write(("" if count == 0 else ",\n") + json.dumps(record))
            count += 1
        handle.write("\n]}\n")
    return count


def write_npz(hits: Iterable[Prediction], path: Path) -> int:
    """id -> (L,) float32 probabilities, member by member (the kit's probs.npz format)."""
    count = 0
    with ExitStack() as stack:
        writer = NpzWriter(stack, path)
        for hit in hits:
            writer.add([hit.id], [hit.probs])
            count += 1
    return count


WRITERS = {".caid": write_caid, ".csv": write_csv, ".json": write_json, ".npz": write_npz}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    terminate_as_interrupt()
    return guarded("idr-predict", args.debug, lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
