"""Score per-residue disorder predictions against a labelled reference, the CAID way.

    idr-score --ref valid.fasta --pred predictions.caid [--threshold 0.4] [--json]

By default the rules are CAID's own evaluator's (BioComputingUP/CAID ``vectorized_metrics``):
a CAID file is read as its parser reads it (data/caid.py: the whole header line is the id,
rows are split on tabs, the position and residue columns are not read), a prediction of
another length is scored on the residues it shares with its reference, and the metrics are
data/metrics.py's. Where score.py departs from CAID it says so, in the report:

* a prediction whose residues mostly differ from its reference's (a prediction of another
  protein) is dropped; CAID, which does not read residues, would score it;
* a protein CAID's parser would stop on (a value that is not a number) or keep a value no
  metric can use for (NaN, a state other than 0 or 1) is dropped, alone;

and ``--strict`` drops every prediction whose length or residues differ at all, while
``--first-word-ids`` matches a prediction's header by its first word, as the kit's own readers do.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

from idr_kit.commands.common import command_parser, guarded, threshold_arg
from idr_kit.data.metrics import DEFAULT_THRESHOLD, format_report
from idr_kit.run.scoring import score


def build_parser() -> argparse.ArgumentParser:
    parser = command_parser("idr-score", "Score per-residue disorder predictions with CAID's "
                            "rules: scores rounded to 3 decimals, '-' residues ignored, all "
                            "residues pooled.")
    parser.add_argument("--ref", required=True, metavar="REF", help=(
        "labelled reference: a competition pickle (.pkl: a list of {'id', 'sequence', "
        "'label'}) or a CAID 3-line FASTA (>id, sequence, labels of 0/1/-)."))
    parser.add_argument("--pred", required=True, metavar="PRED", help=(
        "predictions: a CAID file (.caid: '>id' then 'position<TAB>residue<TAB>score"
        "<TAB>state' per residue), probabilities (.npz: one array per id) or a submission "
        "CSV (.csv: proteinID,sequence,IDRs with 0/1 strings, binary only)."))
    parser.add_argument("--threshold", type=threshold_arg, default=None, metavar="T", help=(
        "call disorder where the rounded score >= T (in [0, 1]); without it the prediction's "
        "binary column is used, else the threshold in the config.json of the run that wrote "
        f"a probs.npz, else {DEFAULT_THRESHOLD}."))
    parser.add_argument("--strict", action="store_true", help=(
        "drop a prediction whose length or residues differ from its reference's at all "
        "(CAID scores the residues they share)"))
    parser.add_argument("--first-word-ids", action="store_true", help=(
        "match a CAID header by its first word (CAID takes the whole header line as the id)"))
    parser.add_argument("--json", action="store_true",
                        help="print the metrics as one JSON object on the last line.")
    return parser


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
    parser = build_parser()
    args = parser.parse_args(argv)
    return guarded(parser.prog, args.debug, lambda: report(args))


if __name__ == "__main__":
    sys.exit(main())
