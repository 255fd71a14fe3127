"""Score per-residue disorder predictions against a labelled reference, the CAID way.

    python score.py --ref valid.fasta --pred predictions.caid [--threshold 0.4] [--json]

The metrics and their exact rules are in ``data/metrics.py``.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from idr_kit.cli import guarded, threshold_arg
from idr_kit.data.errors import InputError
from idr_kit.data.load import PredictionSet, read_predictions, read_proteins
from idr_kit.data.metrics import (DEFAULT_THRESHOLD, binary_source, drop_reasons, evaluate,
                                  format_report)
from idr_kit.data.records import Protein

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
    parser.add_argument("--threshold", type=threshold_arg, default=None, metavar="T", help=(
        "call disorder where the rounded score >= T (in [0, 1]); without it the prediction's "
        "binary column is used, else the threshold in the config.json of the run that wrote "
        f"a probs.npz, else {DEFAULT_THRESHOLD}."))
    parser.add_argument("--json", action="store_true",
                        help="print the metrics as one JSON object on the last line.")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
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


@dataclass(frozen=True)
class Checked:
    """A prediction made fit to score: what cannot be scored is taken out and said why."""
    pred: PredictionSet
    other_sequence: list[str]  # reference proteins predicted for another sequence
    unreadable: list[str]  # reference proteins whose prediction row could not be read
    extra: list[str]  # predicted proteins the reference does not have


def check_against(ref: list[Protein], pred: PredictionSet) -> Checked:
    """Predictions whose file names their sequence must be for the reference's sequence (one
    of another length is dropped as such by the scoring)."""
    by_id = {p.id: p for p in ref}
    other = [p.id for p in ref if pred.seqs and p.id in pred.seqs
             and len(pred.seqs[p.id]) == len(p.seq) and pred.seqs[p.id] != p.seq]
    unreadable = [p.id for p in ref if p.id in pred.unreadable]
    predicted = set(pred.scores or {}) | set(pred.binary or {}) | set(pred.unreadable)
    extra = sorted(predicted - set(by_id))

    def keep(values):
        return None if values is None else {k: v for k, v in values.items() if k not in other}
    return Checked(PredictionSet(keep(pred.scores), keep(pred.binary), pred.seqs,
                                 pred.unreadable), other, unreadable, extra)


def drop_report(ref: list[Protein], checked: Checked, threshold: float | None) -> str:
    """One line: how many reference proteins were dropped, and why; and what was extra."""
    reasons = drop_reasons(ref, checked.pred.scores, checked.pred.binary, threshold)
    told = set(checked.other_sequence) | set(checked.unreadable)
    missing = [pid for pid in reasons["missing"] if pid not in told]
    parts = [f"{len(ids)} {why} ({_ids(ids)})" for why, ids in
             (("without a prediction", missing),
              ("with a prediction of another length", reasons["wrong_length"]),
              ("with a prediction for another sequence", checked.other_sequence),
              ("with an unreadable prediction", checked.unreadable)) if ids]
    total = len(reasons["missing"]) + len(reasons["wrong_length"])
    line = f"dropped {total} of {len(ref)} reference proteins" + (
        ": " + "; ".join(parts) if parts else "")
    if checked.extra:
        line += (f"\nignored {len(checked.extra)} predicted proteins that the reference does "
                 f"not have ({_ids(checked.extra)})")
    return line


def run_threshold(pred_path: str, pred: PredictionSet) -> tuple[float | None, str | None]:
    """The threshold of the run that wrote a probs.npz: its config.json beside it says."""
    config = Path(pred_path).with_name("config.json")
    if pred.binary is not None or not config.is_file():
        return None, None
    try:
        threshold = json.loads(config.read_text())["threshold"]
    except (ValueError, KeyError, TypeError):
        return None, None
    return float(threshold), f"the run's threshold ({config})"


def calls_line(pred: PredictionSet, threshold: float | None, source: str | None) -> str:
    kind = binary_source(pred.scores is not None, pred.binary is not None, threshold)
    return "binary calls: " + {"threshold": f"rounded score >= {threshold} ({source})",
                               "binary": "the prediction's binary column",
                               "default": f"rounded score >= {DEFAULT_THRESHOLD} (default)"
                               }[kind]


def score(args) -> tuple[list[str], dict]:
    ref = read_reference(args.ref)
    checked = check_against(ref, read_predictions(args.pred))
    threshold, source = args.threshold, "--threshold"
    if threshold is None:
        threshold, source = run_threshold(args.pred, checked.pred)
    result = evaluate(ref, checked.pred.scores, checked.pred.binary, threshold)
    return [drop_report(ref, checked, threshold),
            calls_line(checked.pred, threshold, source)], result


def report(args) -> None:
    lines, result = score(args)
    try:
        print("\n".join(lines + [format_report(result)]))
        if args.json:
            print(json.dumps(result))
        sys.stdout.flush()
    except BrokenPipeError:  # score.py ... | head: the reader has all it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return guarded("score.py", args.debug, lambda: report(args))


if __name__ == "__main__":
    sys.exit(main())
