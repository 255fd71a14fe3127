"""Predict disorder: per-residue probabilities, calls and IDR regions, with the shipped model.

    idr-predict -s MKVLAAGGSEEKPAPSPAPS           # a table on stdout
    idr-predict proteome.fasta -o disorder.json   # by extension: .caid .csv .json .npz
    cat my.fasta | idr-predict - --style nox -o calls.csv
    idr-predict my.fasta --model runs/lgbm/model -o out.caid
    idr-predict WSAA_data_test.pkl --style nox --submission submit.csv   # the competition's
    idr-predict my.fasta --plot plots/            # a picture of each protein (matplotlib)

Text outputs give regions 1-based and inclusive (as DisProt does); the Python API
(api.py) gives them 0-based, end excluded. A file is read, predicted and written a chunk at
a time, and the output appears whole (a reader never sees half a file).
"""
from __future__ import annotations

import argparse
import os
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Iterable

try:
    from idr_kit.commands.common import (command_parser, guarded, output_arg,
                                         stdout_or_refused, threshold_arg)
    from idr_kit.data.outputs import check_distinct, check_output_file
    from idr_kit.data.errors import SettingError
    from idr_kit.data.styles import STYLES
    from idr_kit.api import SHIPPED, SHIPPED_FAST, Prediction, as_proteins, load
    from idr_kit.model.shipped import MODEL_HELP, model_path
    from idr_kit.run.folder import terminate_as_interrupt
    from idr_kit.run.plot_folder import FORMATS as PLOT_FORMATS, PlotFolder
    from idr_kit.run.stream import CHUNK_RESIDUES, Chunking, Source
    from idr_kit.run.profiles import FORMATS, write_submission, write_table, writer_for
except ModuleNotFoundError as err:  # python predict.py in a checkout that is not installed
    if err.name != "idr_kit":
        raise
    sys.exit("predict.py: error: the kit is not installed in this Python: run the README's "
             "install command (pip install -e . in the checkout) first")

PLOT_FIRST = 100  # proteins drawn by --plot unless told: a proteome would take hours
SEQUENCES = "the sequences given"  # the source of -s sequences, in error messages
WORKFLOW = Path(__file__).resolve().parents[1] / "workflow" / "Snakefile"  # installed with the kit


def build_parser() -> argparse.ArgumentParser:
    parser = command_parser("idr-predict", __doc__.split("\n\n")[0],
                            formatter_class=argparse.RawDescriptionHelpFormatter,
                            epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("files", nargs="*", type=str, metavar="FILE",
                        help="FASTA files (or .pkl / .json as the kit reads them); - for stdin")
    parser.add_argument("-s", "--sequence", action="append", default=[], metavar="SEQUENCE",
                        help="a sequence to predict (repeatable; named seq1, seq2 ...)")
    parser.add_argument("-o", "--output", type=output_arg, metavar="OUT",
                        help=f"write here, the format by extension ({', '.join(FORMATS)}); "
                             "without it, a short table on stdout")
    parser.add_argument("--submission", type=output_arg, metavar="CSV",
                        help="also write the competition's submission (proteinID,sequence,IDRs "
                             "with 0/1 strings) there: with --style nox for the WSAA challenge")
    parser.add_argument("--plot", type=Path, metavar="DIR",
                        help="draw each protein (its probability along the sequence, the "
                             "threshold, the predicted IDRs) into DIR, one file a protein "
                             "(needs matplotlib: pip install matplotlib)")
    parser.add_argument("--plot-first", type=int, default=PLOT_FIRST, metavar="N",
                        help="proteins drawn with --plot: the first N (default: %(default)s)")
    parser.add_argument("--plot-format", choices=PLOT_FORMATS, default="png",
                        help="the pictures' format (default: %(default)s)")
    parser.add_argument("--style", choices=STYLES, help="the label style to predict in: pdb "
                        "(CAID's, the shipped model's default) or nox (the competition's)")
    parser.add_argument("--model", metavar="NAME|DIR", help=MODEL_HELP)
    parser.add_argument("--fast", action="store_true",
                        help="the shipped model's fast form (--model fast): the kit's own "
                             "network alone, without metapredict V3's (about twice the speed, "
                             "a little less accurate: models/MODEL_CARD.md)")
    parser.add_argument("--threshold", type=threshold_arg,
                        help="call disorder at this probability instead of the model's")
    parser.add_argument("--workers", type=int, default=0, metavar="N",
                        help="processes predicting a file's chunks (default 0: one per core); "
                             "the outputs do not depend on it")
    parser.add_argument("--chunk-residues", type=int, default=CHUNK_RESIDUES, metavar="R",
                        help="residues read and predicted at a time (default: %(default)s)")
    parser.add_argument("--workflow", action="store_true",
                        help="print where the kit's Snakemake workflow for whole proteomes is "
                             "(snakemake -s \"$(idr-predict --workflow)\" --cores 8 --config "
                             "fasta=P.fasta: docs/scale.md), and exit")
    return parser


def run(args) -> None:
    """Everything checked first (the outputs' places, the model, every input), then the
    prediction, chunk by chunk, into the outputs, which appear whole at the end."""
    if args.workflow:
        print(WORKFLOW)
        return
    if not args.files and not args.sequence:
        raise SettingError("nothing to predict: give FASTA files, - for stdin, or -s SEQUENCE")
    if args.files.count("-") > 1:
        raise SettingError("- (stdin) can be given once")
    chunking = Chunking(args.chunk_residues, args.workers)  # the ranges, before any work
    if args.fast and args.model is not None:
        raise SettingError("--fast chooses the shipped model's fast form; --model names another")
    model_dir = model_path(args.model) if args.model is not None else (
        SHIPPED_FAST if args.fast else SHIPPED)
    inputs = [("the model", model_dir),
              *(("an input file", Path(f)) for f in args.files if f != "-")]
    outputs = ([(args.output, writer_for(args.output))] if args.output else []) + (
        [(args.submission, write_submission)] if args.submission else [])
    for path, _ in outputs:  # the output policy (data/outputs.py), before any work
        check_output_file(path, inputs)
    check_distinct([p for p, _ in outputs])
    if not outputs:
        stdout_or_refused()  # the table's place
    plots = check_plots(args, inputs, [p for p, _ in outputs]) if args.plot else None
    model = load(model_dir, style=args.style, threshold=args.threshold)
    sources = ([Source(SEQUENCES, proteins=tuple(as_proteins(args.sequence)))]
               if args.sequence else []) + [Source.of(f) for f in args.files]
    hits = model.predict_sources(sources, chunking.workers, chunking.residues, progress=True,
                                 on_read=say_read)
    with ExitStack() as stack:
        sinks = [writer(stack, path) for path, writer in outputs]
        if plots is not None:  # entered last, so committed first: a refused set leaves no output
            hits = drawn = Plotted(hits, stack.enter_context(plots), args.plot_first,
                                   model.threshold)
        if outputs:
            count = filled(sinks, hits)
        else:
            write_table(hits, sys.stdout)
    for path, _ in outputs:
        print(f"wrote {path} ({count} proteins)", file=sys.stderr)
    if plots is not None:
        print(drawn.said(), file=sys.stderr)


def filled(sinks, hits: Iterable[Prediction]) -> int:
    """Each hit into every sink; how many there were."""
    count = 0
    for hit in hits:
        for sink in sinks:
            sink(hit)
        count += 1
    return count


def say_read(counts) -> None:
    """One line on stderr for each input file (stdin too) read and checked: where, how many
    proteins, labelled or not; sequences given with -s are said by the table itself."""
    from idr_kit.run.pipeline import input_line
    for name, proteins, labelled in counts.sources:
        if name != SEQUENCES:
            shown = name if name == "stdin" else os.path.abspath(name)
            print(input_line("read", shown, proteins, labelled), file=sys.stderr, flush=True)


def check_plots(args, inputs, files: list[Path]) -> PlotFolder:
    """Before any work: matplotlib is there, and the plot folder is a place to write (as every
    output: plot_folder.py), apart from the run's other outputs."""
    from idr_kit.data.errors import MissingExtra
    from idr_kit.tracks import installed
    if not installed("matplotlib"):
        raise MissingExtra("--plot needs matplotlib: pip install matplotlib (or the kit's "
                           "'plots' extra)")
    if not 0 <= args.plot_first <= 1_000_000:
        raise SettingError(f"--plot-first must be 0 to 1,000,000, got {args.plot_first}")
    plots = PlotFolder(args.plot, args.plot_format, inputs)
    plots.check_apart(files)
    return plots


class Plotted:
    """``hits``, the first ``first`` of them drawn into ``plots`` as they pass."""

    def __init__(self, hits: Iterable[Prediction], plots, first: int, threshold: float):
        from idr_kit.run.plots import prediction_plotter
        self.hits, self.plots, self.count = hits, plots, 0
        self.plot, self.written = prediction_plotter(plots, threshold, first)

    def __iter__(self):
        for hit in self.hits:
            self.plot(hit)
            self.count += 1
            yield hit

    def said(self) -> str:
        drawn = len(self.written)
        more = f" (the first {drawn} of {self.count}: --plot-first)" if self.count > drawn else ""
        return f"drew {drawn} proteins in {self.plots.folder}{more}"


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    terminate_as_interrupt()
    return guarded(parser.prog, args.debug, lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
