"""Merge the folders of a sharded prediction into the output set one run would have written.

    python submit.py --model M --test proteome.fasta --shard 3/8 --out shards/3   # each task
    python merge.py shards/* --out runs/proteome                                   # once

The shards' submit.csv, probs.npz and predictions.caid (and scores.json when the test file is
labelled) come out byte for byte as one ``submit.py --model M --test proteome.fasta`` writes
them. The test file is the one the shards recorded (checked by its sha256); --test names it
where it has moved.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

try:
    from idr_kit.commands.common import command_parser, guarded
    from idr_kit.run.folder import terminate_as_interrupt
    from idr_kit.run.shards import merge_shards
except ModuleNotFoundError as err:  # python merge.py in a checkout that is not installed
    if err.name != "idr_kit":
        raise
    sys.exit("merge.py: error: the kit is not installed in this Python: run the README's "
             "install command (pip install -e . in the checkout) first")


def build_parser() -> argparse.ArgumentParser:
    parser = command_parser("idr-merge", __doc__.split("\n\n")[0],
                            epilog=__doc__.split("\n\n", 1)[1],
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("shards", nargs="+", type=Path, metavar="SHARD",
                        help="the output folders of submit.py --shard 1/N ... N/N")
    parser.add_argument("--out", type=Path, required=True, help="the merged output folder")
    parser.add_argument("--test", type=Path, help="the test file the shards predicted, if it "
                        "has moved since (default: the path they recorded)")
    parser.add_argument("--overwrite", action="store_true",
                        help="empty an output folder that holds another run's files first")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    terminate_as_interrupt()
    return guarded(parser.prog, args.debug, lambda: merge_shards(
        args.shards, args.out, test=args.test, overwrite=args.overwrite,
        command=("merge.py", *argv)))


if __name__ == "__main__":
    sys.exit(main())
