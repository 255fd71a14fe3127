"""Train a track, or load a saved one, predict a test set and write a competition submission.

    python submit.py --track lgbm                          # the bundled demo data
    python submit.py --track w2v --train TRAIN --test TEST --out DIR
    python submit.py --model DIR/model --test TEST --out DIR2

Writes DIR/submit.csv (the competition's proteinID,sequence,IDRs), DIR/probs.npz (id -> float32
probabilities), DIR/predictions.caid (CAID's format), DIR/config.json (everything that made them)
and, when training, DIR/model/ (the trained track), DIR/folds.json and DIR/oof/ (out-of-fold
predictions on the training set, which the threshold is tuned on).
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

try:
    from idr_kit.commands.common import (
        add_track_options,
        command_parser,
        guarded,
        runtime_settings,
        settings_help,
        track_in,
        track_settings,
        with_checkpoints,
    )
    from idr_kit.data.errors import FileRefused, SettingError
    from idr_kit.data.styles import STYLES
    from idr_kit.run.pipeline import RunSpec, run
    from idr_kit.run.folder import terminate_as_interrupt
    from idr_kit.model.runtime import Runtime
    from idr_kit.model.shipped import MODEL_HELP, model_path
    from idr_kit.run.stream import CHUNK_RESIDUES, Chunking, parse_shard
    from idr_kit.tracks import track_class
except ModuleNotFoundError as err:  # python submit.py in a checkout that is not installed
    if err.name != "idr_kit":
        raise
    sys.exit("submit.py: error: the kit is not installed in this Python: run the README's "
             "install command (pip install -e . in the checkout) first")

DATA_ENV = "IDR_DATA"
# The competition ships its files under these names; our own data folder uses the short ones.
TRAIN_NAMES = ("WSAA_data_public.pkl", "train.pkl")
TEST_NAMES = ("WSAA_data_test.pkl", "test.pkl")
DEMO = Path(__file__).resolve().parent / "data" / "demo"
DEMO_NOTE = ("using the bundled demo data ({train} to train on, {test} to predict and score; "
             "data/demo/README.md): pass --train/--test, or --data-dir, for your own")

DESCRIPTION = __doc__.split("\n\n")[0]
EPILOG = """\
Files (TRAIN and TEST): a competition pickle (.pkl), a CAID 3-line FASTA or a plain FASTA,
or a DisProt release (.json). Several --train files are pooled; unassessed '-' residues are
ignored. When TEST has labels, its scores are printed and saved to DIR/scores.json.

Without --train/--test, the files are looked up in --data-dir (default: ${data_env}, else the
current folder) under the competition's names: {train_names} and
{test_names}; when neither is given nor found there, the kit's bundled demo data
is used, and the run says so.

The threshold that turns probabilities into 0/1 is the one that maximises F1 on out-of-fold
predictions of the training set (--folds), unless --threshold is given. With --model,
--style nox|pdb chooses the label style (and its decision) of a model that learnt both: the
competition's submission from the shipped model is --model default --style nox, from any
folder (default and fast name the shipped models; a value with a '/' is a folder).

Settings (--set KEY=VALUE, or in a --recipe file):
{settings}

Examples:
  python submit.py --track lgbm                      # trains and scores on the demo data
  python submit.py --track lgbm --train train.pkl --test my.fasta --out runs/lgbm
  python submit.py --model runs/lgbm/model --test more.fasta --out runs/more
  python submit.py --track lgbm --set num_leaves=63 --set use_length=false
  python submit.py --recipe cpu_blend --train train.pkl --test test.pkl --out runs/blend
"""


def build_parser(track: str | None = None) -> argparse.ArgumentParser:
    """The parser; ``track``: the one whose settings --help lists in full."""
    epilog = EPILOG.format(data_env=DATA_ENV, train_names=" or ".join(TRAIN_NAMES),
                           test_names=" or ".join(TEST_NAMES), settings=settings_help(track))
    parser = command_parser("idr-submit", DESCRIPTION, epilog=epilog,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", metavar="NAME|DIR",
                        help="predict with this model, no training: " + MODEL_HELP)
    parser.add_argument("--train", type=Path, action="append",
                        help="labelled training file; repeat to pool several")
    parser.add_argument("--test", type=Path, help="proteins to predict")
    parser.add_argument("--style", choices=STYLES,
                        help="with --model: the label style to predict in, with the model's "
                             "decision for it: nox (the competition's) or pdb (CAID's); the "
                             "shipped model's default is pdb. A training run takes a track's "
                             "style as --set style=...")
    parser.add_argument("--out", type=Path,
                        help="output folder (default: runs/TRACK, runs/RECIPE with --recipe, "
                             "runs/predict with --model; runs/TRACK-demo ... when the run "
                             "falls back to the bundled demo data; a folder holding another "
                             "run's outputs gets -2, -3 ...)")
    parser.add_argument("--data-dir", type=Path,
                        help=f"where to look for the competition's files (default: ${DATA_ENV}, "
                             "else the current folder)")
    parser.add_argument("--folds", type=int, default=5,
                        help="folds for out-of-fold threshold tuning; 0 skips them (default: 5)")
    parser.add_argument("--groups", type=Path, metavar="CLUSTERS",
                        help="cluster table (id,cluster columns, or MMseqs2's rep<TAB>member): "
                             "proteins of one cluster share a fold")
    parser.add_argument("--plot", action="store_true",
                        help="write PNGs to DIR/plots: each protein's probabilities (the first "
                             "--plot-first) and ROC / precision-recall curves when TEST is "
                             "labelled (needs matplotlib)")
    parser.add_argument("--plot-first", type=int, default=20, metavar="N",
                        help="proteins to plot one by one (default: %(default)s)")
    parser.add_argument("--overwrite", action="store_true",
                        help="empty an output folder that holds another run's files first "
                             "(without it such a folder is refused; the same command resumes)")
    parser.add_argument("--workers", type=int, default=0, metavar="N",
                        help="processes predicting the test file's chunks (default 0: one per "
                             "core this process may use); the outputs do not depend on it")
    parser.add_argument("--chunk-residues", type=int, default=CHUNK_RESIDUES, metavar="R",
                        help="residues predicted, and checkpointed, at a time "
                             "(default: %(default)s)")
    parser.add_argument("--shard", type=parse_shard, default=(1, 1), metavar="I/N",
                        help="with --model: predict only the I-th of N parts of the test file "
                             "(a job array's task); merge.py joins the N folders into the "
                             "output set one run writes")
    add_track_options(parser)
    return parser


def find_inputs(args, data_dir: Path | None, wants_train: bool
                ) -> tuple[list[Path], Path, tuple[str, ...]]:
    """Training files (when ``wants_train``), the test file, and a note when they are the
    bundled demo data."""
    where = data_dir or (Path(os.environ[DATA_ENV]) if os.environ.get(DATA_ENV) else None)
    if not args.train and not args.test and where is None:
        found = [_first(Path("."), TRAIN_NAMES), _first(Path("."), TEST_NAMES)]
        if all(found) or (not wants_train and found[1]):
            return [found[0]] if wants_train else [], found[1], ()
        train, test = DEMO / "train.fasta", DEMO / "test.fasta"
        note = DEMO_NOTE.format(train=train.name, test=test.name)
        return [train] if wants_train else [], test, (note,)
    where = where or Path(".")
    train = args.train or ([_required(where, TRAIN_NAMES, "train")] if wants_train else [])
    return train, args.test or _required(where, TEST_NAMES, "test"), ()


def _first(folder: Path, names: tuple[str, ...]) -> Path | None:
    return next((folder / n for n in names if (folder / n).is_file()), None)


def _required(folder: Path, names: tuple[str, ...], role: str) -> Path:
    found = _first(folder, names)
    if found is None:
        raise FileRefused(
            f"no {role} file given and none of {', '.join(names)} is in {folder.resolve()}: "
            f"pass --{role} FILE, or --data-dir / ${DATA_ENV} pointing at the competition's files")
    return found


def default_out(name: str, demo: bool) -> Path:
    """runs/NAME (NAME: the track, the recipe, or predict for --model), runs/NAME-demo when
    the run fell back to the bundled demo data: a first try on the demo never takes the
    folder that the same command on one's own data writes."""
    return Path("runs") / (f"{name}-demo" if demo else name)


def spec_from_args(args, argv: list[str]) -> RunSpec:
    common = dict(seed=args.seed, threshold=args.threshold, plot=args.plot,
                  plot_first=args.plot_first, overwrite=args.overwrite,
                  command=("submit.py", *argv), out_given=args.out is not None,
                  chunking=Chunking(args.chunk_residues, args.workers, args.shard))
    if args.model is not None:
        given = [flag for flag in ("track", "recipe") if getattr(args, flag)]
        if given:
            raise SettingError(f"--model predicts with a saved model: --{given[0]} does not apply")
        _, test, notes = find_inputs(args, args.data_dir, wants_train=False)
        # Without --out, a folder of its own (runs/predict, else runs/predict-2 ...).
        out = args.out or default_out("predict", demo=bool(notes))
        # A model folder names its backbone; it never decides to reach for the network.
        runtime = runtime_settings(args, base=Runtime(downloads=False))
        return RunSpec(out=out, test=test, model=model_path(args.model), runtime=runtime,
                       notes=notes, style=args.style, **common)
    if args.style is not None:
        raise SettingError("--style chooses how a saved model (--model) predicts; a training "
                           "run takes the style of a track that has one as --set style=...")
    if args.shard != (1, 1):
        raise SettingError("--shard predicts with a saved model (--model): train once, then "
                           "run the shards")
    settings = track_settings(args)
    # A track that learns nothing needs no training file where nothing is tuned (--folds 0).
    wants_train = bool(args.folds) or track_class(settings.name).learns
    train, test, notes = find_inputs(args, args.data_dir, wants_train)
    common.update(test=test, notes=notes)
    out = args.out or default_out(Path(args.recipe).stem if args.recipe else settings.name,
                                  demo=bool(notes))
    return RunSpec(out=out, train=tuple(train), track=settings.name, config=settings.config,
                   decision=settings.decision, runtime=with_checkpoints(settings.runtime, out),
                   folds=args.folds,
                   groups=args.groups, **common)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(track_in(argv))
    args = parser.parse_args(argv)
    terminate_as_interrupt()
    return guarded(parser.prog, args.debug, lambda: run(spec_from_args(args, argv)))


if __name__ == "__main__":
    sys.exit(main())
