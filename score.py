"""Score per-residue disorder predictions against a labelled reference, the CAID way.

    python score.py --ref valid.fasta --pred predictions.caid [--threshold 0.4] [--json]

The metrics and their exact rules are in ``data/metrics.py``.
"""
from __future__ import annotations

import argparse
import json
import sys

from idr_kit.data.load import PredictionSet, read_predictions, read_proteins
from idr_kit.data.metrics import (DEFAULT_THRESHOLD, binary_source, drop_reasons, evaluate,
                          format_report)
from idr_kit.data.records import InputError, Protein

SHOWN_IDS = 5  # ids listed per reason before "..."; the count is always complete


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="score.py", description="Score per-residue disorder predictions with CAID's rules: "
        "scores rounded to 3 decimals, '-' residues ignored, all residues pooled.")
    parser.add_argument("--ref", required=True, metavar="REF", help=(
        "labelled reference: a competition pickle (.pkl: a list of {'id', 'sequence', "
        "'label'}) or a CAID 3-line FASTA (>id, sequence, labels of 0/1/-)."))
    parser.add_argument("--pred", required=True, metavar="PRED", help=(
        "predictions: a CAID file (.caid: '>id' then 'position residue score binary' per "
        "residue), probabilities (.npz: one array per id) or a submission CSV (.csv: "
        "proteinID,sequence,IDRs with 0/1 strings, binary only)."))
    parser.add_argument("--threshold", type=float, default=None, metavar="T", help=(
        "call disorder where the rounded score >= T; without it the prediction's binary "
        f"column is used, else {DEFAULT_THRESHOLD}."))
    parser.add_argument("--json", action="store_true",
                        help="print the metrics as one JSON object on the last line.")
    return parser


def read_reference(path: str) -> list[Protein]:
    ref = read_proteins(path)
    unlabelled = [p.id for p in ref if not p.has_labels]
    if not ref or unlabelled:
        what = f"protein {unlabelled[0]} has no labels" if unlabelled else "no proteins"
        raise InputError(f"{what}; the reference must be labelled (0/1/-) to score against",
                         source=path)
    return ref


def _ids(ids: list[str]) -> str:
    shown = ", ".join(ids[:SHOWN_IDS])
    return shown + (", ..." if len(ids) > SHOWN_IDS else "")


def drop_report(ref: list[Protein], pred: PredictionSet, threshold: float | None) -> str:
    """One line: how many reference proteins were dropped, and why."""
    reasons = drop_reasons(ref, pred.scores, pred.binary, threshold)
    parts = [f"{len(ids)} {why} ({_ids(ids)})" for why, ids in
             (("without a prediction", reasons["missing"]),
              ("with a prediction of another length", reasons["wrong_length"])) if ids]
    total = len(reasons["missing"]) + len(reasons["wrong_length"])
    return f"dropped {total} of {len(ref)} reference proteins" + (
        ": " + "; ".join(parts) if parts else "")


def calls_line(pred: PredictionSet, threshold: float | None) -> str:
    source = binary_source(pred.scores is not None, pred.binary is not None, threshold)
    return "binary calls: " + {"threshold": f"rounded score >= {threshold} (--threshold)",
                               "binary": "the prediction's binary column",
                               "default": f"rounded score >= {DEFAULT_THRESHOLD} (default)"
                               }[source]


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        ref = read_reference(args.ref)
        pred = read_predictions(args.pred)
        result = evaluate(ref, pred.scores, pred.binary, args.threshold)
        lines = [drop_report(ref, pred, args.threshold), calls_line(pred, args.threshold)]
    except (InputError, ValueError, OSError) as err:  # FileNotFoundError is an OSError
        print(f"score.py: error: {err}", file=sys.stderr)
        return 2
    print("\n".join(lines + [format_report(result)]))
    if args.json:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
