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
import json
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

try:
    from idr_kit.cli import guarded, threshold_arg
    from idr_kit.data.atomic import atomic_write
    from idr_kit.data.errors import InputError, SettingError
    from idr_kit.data.fasta import caid_record
    from idr_kit.data.outset import NpzWriter
    from idr_kit.data.styles import STYLES
    from idr_kit.predictor import CHUNK_RESIDUES, Prediction, as_proteins, load
    from idr_kit.runfolder import terminate_as_interrupt
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


def predictions(args) -> Iterator[Prediction]:
    model = load(args.model, style=args.style, threshold=args.threshold)
    seen: set[str] = set()
    for hit in _all(model, args):
        if hit.id in seen:  # every output names a protein once
            raise InputError("given twice (in one file or in two)", protein=hit.id)
        seen.add(hit.id)
        yield hit


def _all(model, args) -> Iterator[Prediction]:
    if args.sequence:
        yield from model.predict_proteins(as_proteins(args.sequence))
    for path in args.files:
        yield from model.predict_fasta(path, workers=args.workers,
                                       chunk_residues=args.chunk_residues)


def run(args) -> None:
    if not args.files and not args.sequence:
        raise SettingError("nothing to predict: give FASTA files, - for stdin, or -s SEQUENCE")
    if args.output is None:
        write_table(predictions(args), sys.stdout)
        return
    suffix = args.output.suffix.lower()
    if suffix not in FORMATS:
        raise SettingError(f"{args.output}: unknown output format; by extension: "
                           f"{', '.join(FORMATS)}")
    count = WRITERS[suffix](predictions(args), args.output)
    print(f"wrote {args.output} ({count} proteins)", file=sys.stderr)


def regions_text(hit: Prediction) -> str:
    """1-based, inclusive: '12-45,80-97' (DisProt's way), '-' for none."""
    return ",".join(f"{a + 1}-{b}" for a, b in hit.regions) or "-"


def write_table(hits: Iterable[Prediction], out) -> None:
    out.write(f"{'id':<24} {'length':>7} {'disordered':>10}  regions (1-based, inclusive)\n")
    for hit in hits:
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
    """One row per residue: id, position (1-based), residue, probability, disordered."""
    count = 0
    with atomic_write(path) as handle:
        handle.write("id,position,residue,probability,disordered\n")
        for hit in hits:
            rows = (f"{hit.id},{i},{aa},{p:.{DECIMALS}f},{c}\n"
                    for i, (aa, p, c) in enumerate(zip(hit.sequence, hit.probs, hit.calls), 1))
            handle.writelines(rows)
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
