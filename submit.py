"""Train a track, or load a saved one, predict a test set and write a competition submission.

    python submit.py --track w2v --train TRAIN --test TEST --out DIR
    python submit.py --model DIR/model --test TEST --out DIR2

Writes DIR/submit.csv (the competition's proteinID,sequence,IDRs), DIR/probs.npz (id -> float32
probabilities), DIR/predictions.caid (CAID's format), DIR/config.json (everything that made them)
and, when training, DIR/model/ (the trained track), DIR/folds.json and DIR/oof/ (out-of-fold
predictions on the training set, which the threshold is tuned on).
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import os
import platform
import sys
import time
import traceback
from pathlib import Path

import numpy as np

from idr_kit import crossval
from idr_kit.data.atomic import write_json
from idr_kit.data.competition import write_submission
from idr_kit.data.fasta import write_caid
from idr_kit.data.load import read_proteins
from idr_kit.data.metrics import DECIMALS, evaluate, format_report
from idr_kit.data.probs import write_npz
from idr_kit.data.records import InputError
from idr_kit.data.splits import fold_groups, make_folds, save_folds
from idr_kit.tracks import (TRACKS, code_version, load_track, make_track, parse_overrides,
                    read_recipe, read_track_meta, save_track, track_class)

DATA_ENV = "IDR_DATA"
# The competition ships its files under these names; our own data folder uses the short ones.
TRAIN_NAMES = ("WSAA_data_public.pkl", "train.pkl")
TEST_NAMES = ("WSAA_data_test.pkl", "test.pkl")

DESCRIPTION = __doc__.split("\n\n")[0]
EPILOG = f"""\
Files (TRAIN and TEST): a competition pickle (.pkl), a CAID 3-line FASTA or a plain FASTA,
or a DisProt release (.json). Several --train files are pooled; unassessed '-' residues are
ignored. When TEST has labels, its scores are printed and saved to DIR/scores.json.

Without --train/--test, the files are looked up in --data-dir (default: ${DATA_ENV}, else the
current folder) under the competition's names: {' or '.join(TRAIN_NAMES)} and
{' or '.join(TEST_NAMES)}.

The threshold that turns probabilities into 0/1 is the one that maximises F1 on out-of-fold
predictions of the training set (--folds), unless --threshold is given.

Examples:
  python submit.py --track w2v                       # the official baseline, competition files
  python submit.py --track lgbm --train train.pkl --test my.fasta --out runs/lgbm
  python submit.py --model runs/lgbm/model --test more.fasta --out runs/more
  python submit.py --track lgbm --set num_leaves=63 --set use_length=false
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="submit.py", description=DESCRIPTION, epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--track", choices=sorted(TRACKS), default="w2v",
                      help="train this track (default: %(default)s, the official baseline)")
    what.add_argument("--model", type=Path, help="predict with a saved model/ folder, no training")
    parser.add_argument("--train", type=Path, action="append",
                        help="labelled training file; repeat to pool several")
    parser.add_argument("--test", type=Path, help="proteins to predict")
    parser.add_argument("--out", type=Path, help="output folder (default: runs/TRACK)")
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get(DATA_ENV, ".")),
                        help=f"where to look for the competition's files (default: ${DATA_ENV} or .)")
    parser.add_argument("--seed", type=int, default=0, help="seed for folds and the track")
    parser.add_argument("--folds", type=int, default=5,
                        help="folds for out-of-fold threshold tuning; 0 skips them (default: 5)")
    parser.add_argument("--groups", type=Path, metavar="CLUSTERS",
                        help="cluster table (id,cluster columns, or MMseqs2's rep<TAB>member): "
                             "proteins of one cluster share a fold")
    parser.add_argument("--threshold", type=float, help="fixed 0/1 threshold instead of the tuned one")
    parser.add_argument("--recipe", type=Path, metavar="JSON",
                        help="track settings from a recipe file (see recipes/); --set overrides it")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a track setting (repeatable)")
    plm = parser.add_argument_group("protein language model tracks (esm, bert; --from-scratch: llm too)")
    plm.add_argument("--backbone", help="fair-esm name (esm2_t33_650M_UR50D ...), a transformers "
                                        "model directory or hub id, or 'antiberty'")
    plm.add_argument("--weights", help="local fair-esm checkpoint (.pt) for the --backbone named")
    plm.add_argument("--from-scratch", action="store_true",
                     help="train the backbone from random weights (never done unless asked)")
    llm = parser.add_argument_group("large language model track (llm)")
    llm.add_argument("--model-name", help="a local model directory or hub id "
                                          "(default Qwen/Qwen2.5-7B-Instruct)")
    ens = parser.add_argument_group("ensemble track")
    ens.add_argument("--members", help="comma-separated member tracks, e.g. w2v,lgbm,metapredict")
    ens.add_argument("--plot", action="store_true",
                     help="write PNGs to DIR/plots: each protein's probabilities (the first "
                          "--plot-first) and ROC / precision-recall curves when TEST is labelled "
                          "(needs matplotlib)")
    ens.add_argument("--plot-first", type=int, default=20, metavar="N",
                     help="proteins to plot one by one (default: %(default)s)")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    return parser


def find_default(data_dir: Path, names: tuple[str, ...], role: str) -> Path:
    for name in names:
        if (data_dir / name).is_file():
            return data_dir / name
    raise FileNotFoundError(
        f"no {role} file given and none of {', '.join(names)} is in {data_dir.resolve()}: "
        f"pass --{role} FILE, or --data-dir / ${DATA_ENV} pointing at the competition's files")


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def describe_inputs(paths: list[Path]) -> list[dict]:
    return [{"path": str(p), "sha256_16": file_digest(p)} for p in paths]


def read_labelled(paths: list[Path]) -> tuple[list, list[int]]:
    """The proteins of all ``paths`` in order, and how many came from each file."""
    proteins, sizes = [], []
    for path in paths:
        batch = read_proteins(path)
        if not all(p.has_labels for p in batch):
            raise InputError("training file has proteins without labels", source=str(path))
        proteins.extend(batch)
        sizes.append(len(batch))
    return proteins, sizes


def binarize(probs, threshold: float):
    """0/1 as CAID reads it: the score rounded to 3 decimals, then compared to the threshold."""
    return [(np.round(p, DECIMALS) >= threshold).astype(np.uint8) for p in probs]


def calls(track, probs, threshold: float):
    """The 0/1 submission: the track's own rule when it has one (the ensemble's minimum IDR
    length), else CAID's reading of the scores at the threshold."""
    return track.calls(probs, threshold) if hasattr(track, "calls") else binarize(probs, threshold)


def write_predictions(out: Path, proteins, probs, binary) -> None:
    ids, seqs = [p.id for p in proteins], [p.seq for p in proteins]
    write_npz(out / "probs.npz", dict(zip(ids, probs)))
    write_caid(out / "predictions.caid", ids, seqs, probs, binary)
    write_submission(out / "submit.csv", ids, seqs, binary)


def score_test(out: Path, proteins, probs, binary, threshold: float) -> dict | None:
    labelled = [(p, s, b) for p, s, b in zip(proteins, probs, binary) if p.has_labels]
    if not labelled:
        return None
    ref = [p for p, _, _ in labelled]
    scores = {p.id: s for p, s, _ in labelled}
    # The calls are scored as submitted: at the threshold, after any post-processing.
    result = evaluate(ref, scores, {p.id: b for p, _, b in labelled})
    print(f"\nScores on {len(ref)} labelled test proteins (threshold {threshold:.3f}):")
    print(format_report(result))
    write_json(out / "scores.json", result)
    return result


def write_folds(args, train, out: Path) -> list[int]:
    """The run's one fold assignment, saved to DIR/folds.json: every track and member uses it."""
    fold_of = make_folds([p.id for p in train], k=args.folds, seed=args.seed,
                         groups=fold_groups(train, args.groups))
    save_folds(out / "folds.json", fold_of, k=args.folds, seed=args.seed,
               source=[str(p) for p in args.train])
    return [fold_of[p.id] for p in train]


def oof_threshold(args, make, train, out: Path, record: dict) -> float | None:
    """Out-of-fold predictions on the training set; returns the F1-max threshold over them."""
    folds = write_folds(args, train, out)
    oof = crossval.out_of_fold(make, train, folds, checkpoint_dir=out / "oof",
                               config=record["track_config"])
    write_oof(args, train, oof, out, record)
    return crossval.tune_threshold(train, oof)


def write_oof(args, train, oof, out: Path, record: dict, name: str | None = None) -> None:
    """Out-of-fold arrays per training file (DIR/oof/[NAME-]FILE.npz) and their scores."""
    record.setdefault("oof", {})
    start = 0
    stems = [path.stem for path in args.train]
    for i, (path, n) in enumerate(zip(args.train, record["train_sizes"])):
        part, probs = train[start:start + n], oof[start:start + n]
        start += n
        stem = path.stem if stems.count(path.stem) == 1 else f"{i}-{path.stem}"
        file = f"{name}-{stem}" if name else stem
        write_npz(out / "oof" / f"{file}.npz", {p.id: s for p, s in zip(part, probs)})
        key = f"{name}: {path}" if name else str(path)
        record["oof"][key] = evaluate(part, {p.id: s for p, s in zip(part, probs)})
        print(f"out-of-fold{' ' + name if name else ''} on {path.name}: "
              f"AUC {record['oof'][key]['auc']}, F1-max {record['oof'][key]['f1_max']}")


def track_overrides(args, config_cls: type) -> dict:
    """--set pairs, the backbone flags and the run's seed and checkpoint folder, as config values."""
    overrides = read_recipe(config_cls, args.recipe) if args.recipe else {}
    overrides.update(parse_overrides(config_cls, args.overrides))
    fields = {f.name for f in dataclasses.fields(config_cls)}
    flags = {"backbone": args.backbone, "weights": args.weights, "model_name": args.model_name,
             "from_scratch": args.from_scratch or None,
             "members": tuple(m.strip() for m in args.members.split(",") if m.strip())
             if args.members else None}
    for name, value in flags.items():
        if value is not None and name not in fields:
            raise ValueError(f"--{name.replace('_', '-')} does not apply to track {args.track!r}")
        if value is not None:
            overrides[name] = value
    if "seed" in fields:
        overrides.setdefault("seed", args.seed)
    if "checkpoint_dir" in fields:
        overrides.setdefault("checkpoint_dir", str(args.out / "checkpoints"))
    if "cache_dir" in fields and args.track == "ensemble":
        overrides.setdefault("cache_dir", str(args.out / "members"))
    return overrides


def run_train(args, record: dict) -> tuple[object, float]:
    cls = track_class(args.track)
    overrides = track_overrides(args, cls.Config)
    args.train = args.train or [find_default(args.data_dir, TRAIN_NAMES, "train")]
    train, sizes = read_labelled(args.train)
    record.update(track=args.track, train=describe_inputs(args.train), train_sizes=sizes,
                  groups=str(args.groups) if args.groups else None,
                  track_config=dataclasses.asdict(cls.Config(**overrides)))
    make = lambda: make_track(args.track, **overrides)  # noqa: E731 (a factory per fold)
    if getattr(cls, "OWN_OUT_OF_FOLD", False):
        track, tuned = fit_own_oof(args, cls, overrides, train, record)
    else:
        tuned = oof_threshold(args, make, train, args.out, record) if args.folds else None
        start = time.perf_counter()
        track = make().fit(train)
        record["seconds"]["train"] = round(time.perf_counter() - start, 2)
    threshold, source = _pick_threshold(args.threshold, tuned)
    save_track(track, args.out / "model", threshold=threshold, threshold_source=source,
               train=record["train"])
    record.update(threshold=threshold, threshold_source=source)
    return track, threshold


def fit_own_oof(args, cls, overrides: dict, train, record: dict) -> tuple[object, float]:
    """A track that runs the out-of-fold protocol itself (the ensemble) on the run's folds."""
    if not args.folds:
        raise ValueError(f"track {args.track!r} learns from out-of-fold predictions: "
                         "--folds must be at least 2")
    write_folds(args, train, args.out)
    overrides = {**overrides, "folds": args.folds, "folds_file": str(args.out / "folds.json")}
    record["track_config"] = dataclasses.asdict(cls.Config(**overrides))
    start = time.perf_counter()
    track = make_track(args.track, **overrides).fit(train)
    record["seconds"]["train"] = round(time.perf_counter() - start, 2)
    for name, oof in track.oof_.items():
        write_oof(args, train, oof, args.out, record, name=name)
    return track, track.threshold_


def _pick_threshold(given: float | None, tuned: float | None) -> tuple[float, str]:
    if given is not None:
        return given, "--threshold"
    if tuned is not None:
        return tuned, "F1-max on out-of-fold predictions of the training set"
    print("warning: no out-of-fold predictions (--folds 0): using threshold "
          f"{crossval.DEFAULT_THRESHOLD}; pass --threshold to choose", file=sys.stderr)
    return crossval.DEFAULT_THRESHOLD, "default"


def run_load(args, record: dict) -> tuple[object, float]:
    meta = read_track_meta(args.model)
    track = load_track(args.model)
    given = args.threshold
    threshold = given if given is not None else float(meta.get("threshold", 0.5))
    record.update(track=meta["track"], model=str(args.model), track_config=meta["config"],
                  model_code_version=meta.get("code_version"), threshold=threshold,
                  threshold_source="--threshold" if given is not None else "saved with the model")
    return track, threshold


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = sys.argv[1:] if argv is None else list(argv)
    try:
        return run(args)
    except KeyboardInterrupt:
        print("submit.py: interrupted", file=sys.stderr)
        return 130
    except (ValueError, KeyError, OSError) as err:  # InputError is a ValueError
        if args.debug:
            traceback.print_exc()
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"submit.py: error: {message}", file=sys.stderr)
        return 2


def run(args) -> int:
    if args.folds == 1 or args.folds < 0:
        raise ValueError("--folds must be 0 (no tuning) or at least 2")
    name = args.track if args.model is None else "predict"
    args.out = args.out or Path("runs") / name
    args.test = args.test or find_default(args.data_dir, TEST_NAMES, "test")
    test = read_proteins(args.test)  # read first: a bad test file fails before training
    record = {"command": ["submit.py", *args.argv], "code_version": code_version(),
              "seed": args.seed, "folds": args.folds, "test": describe_inputs([args.test]),
              "python": platform.python_version(), "seconds": {}}
    if args.model is None:
        track, threshold = run_train(args, record)
    else:
        track, threshold = run_load(args, record)
    start = time.perf_counter()
    # An ensemble gives its members' probabilities too (for the plots), for the same work.
    parts = track.predict_parts(test) if hasattr(track, "predict_parts") else None
    probs = parts["ensemble"] if parts else track.predict_proba(test)
    record["seconds"]["predict"] = round(time.perf_counter() - start, 2)
    binary = calls(track, probs, threshold)
    write_predictions(args.out, test, probs, binary)
    record["test_scores"] = score_test(args.out, test, probs, binary, threshold)
    if args.plot:
        name = record["track"]
        record["plots"] = plot(args, test, parts or {name: probs}, name, threshold)
    write_json(args.out / "config.json", record)
    print(f"wrote {args.out / 'submit.csv'} ({len(test)} proteins, threshold {threshold:.3f})")
    return 0


def plot(args, test, curves: dict, highlight: str, threshold: float) -> list[str]:
    """PNGs in DIR/plots: the first --plot-first proteins, and a ROC / PR summary if labelled."""
    from idr_kit.ensemble import plots
    written = plots.plot_proteins(args.out / "plots", test, curves, threshold, args.plot_first,
                                  highlight)
    labelled = [i for i, p in enumerate(test) if p.has_labels]
    if labelled:
        written.append(plots.summary_plot(
            args.out / "plots" / "summary.png", [test[i] for i in labelled],
            {k: [v[i] for i in labelled] for k, v in curves.items()}, highlight))
    print(f"wrote {len(written)} plots to {args.out / 'plots'}")
    return [str(path) for path in written]


if __name__ == "__main__":
    sys.exit(main())
