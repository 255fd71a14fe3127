"""One run of any track, from its inputs to a submission, on plain values.

    read inputs -> folds -> out-of-fold predictions -> decision (threshold, post-processing)
    -> final fit -> predict -> the output set -> scores -> plots

Every step takes and returns plain values; ``run`` chains them for one frozen ``RunSpec`` and
writes ``config.json``, the record of everything that made the outputs. Nothing here knows any
particular track: a track, an ensemble among them, is driven through the contract in tracks.py.
"""
from __future__ import annotations

import dataclasses
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from idr_kit.data.atomic import write_json
from idr_kit.data.digests import SHORT, file_sha256
from idr_kit.data.errors import InputError, MissingExtra, SettingError
from idr_kit.data.compressed import inner_name
from idr_kit.data.load import read_proteins
from idr_kit.data.metrics import DEFAULT_THRESHOLD, evaluate, format_report
from idr_kit.data.probs import write_npz
from idr_kit.data.provenance import code_version, library_versions
from idr_kit.data.records import Protein
from idr_kit.data.splits import fold_groups, make_folds, save_folds
from idr_kit.model.decision import Decision, DecisionSettings, fit_decision
from idr_kit.run.folder import RunFolder, check_writable, own_folder
from idr_kit.model.runtime import Runtime
from idr_kit.model.saved import load_model, save_model
from idr_kit.model.shipped import shipped_name
from idr_kit.run.stream import (PARTS, ChunkPredictor, Chunking, Counts, Follower, Parts,
                                check_unchanged, model_digest, plan_of, predict_parts, scan,
                                write_set)
from idr_kit.tracks import (OutOfFold, Track, TrackConfig, installed, make_track, require_installed,
                            track_class)



@dataclass(frozen=True)
class RunSpec:
    """Everything one run needs. Training when ``model`` is None, else predicting with it."""
    out: Path
    test: Path
    train: tuple[Path, ...] = ()
    track: str = ""
    config: TrackConfig | None = None
    decision: DecisionSettings = DecisionSettings()
    model: Path | None = None
    seed: int = 0
    folds: int = 5  # 0: no out-of-fold predictions (the threshold is --threshold, else 0.5)
    groups: Path | None = None  # cluster table: proteins of one cluster share a fold
    threshold: float | None = None  # fixed instead of tuned
    runtime: Runtime = Runtime()
    plot: bool = False
    plot_first: int = 20
    overwrite: bool = False  # empty an output folder that another run of the kit filled
    out_given: bool = True  # False: ``out`` is a default, and a run of another identity there
    # gets a folder of its own beside it (OUT-2, OUT-3 ...) instead of a refusal
    command: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())  # said once at the start (e.g. demo data)
    chunking: Chunking = Chunking()  # the test file a chunk at a time: workers, shards
    style: str | None = None  # with a model: the label style to predict in (its decision)

    def __post_init__(self):
        if self.chunking.sharded and self.model is None:
            raise SettingError("--shard predicts with a saved model (--model): train once, "
                               "then run the shards")
        if self.folds == 1 or self.folds < 0:
            raise SettingError("--folds must be 0 (no out-of-fold predictions) or at least 2")
        if self.model is None and (not self.track or (not self.train and self.folds)):
            raise SettingError("a training run needs a track and training files")
        if self.style is not None and self.model is None:
            raise SettingError("the style of a training run is its track's setting "
                               "(--set style=...)")


# ---- reading ----------------------------------------------------------------------------------

def read_training(paths: Sequence[Path]) -> tuple[list[Protein], list[int]]:
    """The proteins of all ``paths`` in order, and how many came from each file."""
    proteins, sizes = [], []
    for path in paths:
        batch = read_proteins(path)
        if not batch:
            raise InputError("no proteins to train on", source=str(path))
        if not all(p.has_labels for p in batch):
            raise InputError("training file has proteins without labels", source=str(path))
        proteins.extend(batch)
        sizes.append(len(batch))
    return proteins, sizes


def describe_inputs(paths: Sequence[Path], sizes: Sequence[int] | None = None) -> list[dict]:
    return [{"path": str(p), "sha256_16": file_sha256(p)[:SHORT],
             **({"proteins": n} if sizes else {})}
            for p, n in zip(paths, sizes or [None] * len(paths))]


def input_line(role: str, name: str, proteins: int, labelled: int) -> str:
    """What a run read, said first: ``test file: /data/x.pkl (200 proteins, unlabelled)``."""
    labels = ("labelled" if labelled == proteins else "unlabelled" if not labelled
              else f"{labelled:,} of them labelled")
    return f"{role}: {name} ({proteins:,} protein{'s' * (proteins != 1)}, {labels})"


def say_inputs(spec: RunSpec, counts: Counts, sizes: Sequence[int], saved) -> None:
    """The run's first lines: each file it read (where, how many proteins, labelled or not)
    and the model it predicts with, before any work."""
    for path, n in zip(spec.train, sizes):
        print(input_line("training file", os.path.abspath(path), n, n), flush=True)
    print(input_line("test file", os.path.abspath(spec.test), counts.proteins, counts.labelled),
          flush=True)
    if saved is not None:
        name = shipped_name(spec.model)
        print(f"model: {os.path.abspath(spec.model)} ("
              + (f"the shipped model {name!r}; " if name else "")
              + f"{saved.track.name}, style {saved.default_style})", flush=True)


# ---- training ---------------------------------------------------------------------------------

def run_folds(train: Sequence[Protein], k: int, seed: int, groups: Path | None,
              out: Path, sources: Sequence[Path]) -> list[int]:
    """The run's one fold assignment, saved as OUT/folds.json; every part of the run uses it."""
    fold_of = make_folds([p.id for p in train], k=k, seed=seed,
                         groups=fold_groups(train, groups))
    save_folds(out / "folds.json", fold_of, k=k, seed=seed, source=[str(p) for p in sources])
    return [fold_of[p.id] for p in train]


def write_oof(out: Path, paths: Sequence[Path], sizes: Sequence[int], train: Sequence[Protein],
              oof: OutOfFold, name: str) -> dict[str, dict]:
    """Out-of-fold arrays per training file and their scores: OUT/oof/FILE.npz, or with members
    OUT/oof/NAME-FILE.npz for the track and for each member."""
    scores = {}
    stems = [Path(inner_name(path)).stem for path in paths]  # train.pkl.gz: train
    named = {name: oof.probs, **{member: value.probs for member, value in oof.members.items()}}
    for who, probs in named.items():
        start = 0
        for i, (path, n) in enumerate(zip(paths, sizes)):
            chunk, values = train[start:start + n], probs[start:start + n]
            start += n
            stem = stems[i] if stems.count(stems[i]) == 1 else f"{i}-{stems[i]}"
            file = stem if not oof.members else f"{who}-{stem}"
            write_npz(out / "oof" / f"{file}.npz", {p.id: s for p, s in zip(chunk, values)})
            key = str(path) if not oof.members else f"{who}: {path}"
            scores[key] = evaluate(chunk, {p.id: s for p, s in zip(chunk, values)})
            print(f"out-of-fold{' ' + who if oof.members else ''} on {path.name}: "
                  f"AUC {scores[key]['auc']}, F1-max {scores[key]['f1_max']}", flush=True)
    return scores


def fitted_decision(oof: OutOfFold, train: Sequence[Protein], settings: DecisionSettings,
                    threshold: float | None) -> Decision:
    """The decision fitted on out-of-fold probabilities, on the proteins it is fitted on."""
    chosen = oof.decision_indices
    return fit_decision([oof.probs[i] for i in chosen], [train[i] for i in chosen], settings,
                        threshold)


def member_record(track: Track, oof: OutOfFold, train: Sequence[Protein], model: Path) -> dict:
    """Each member's decision, as a run of it alone would fit it (its own defaults, on the
    proteins it would fit on), its seconds out of fold and to fit, and where its model is."""
    seconds = track.report().get("member_seconds", {})
    folders = track.saved_members(model)
    return {name: {"decision": fitted_decision(value, train, track_class(name).decision_defaults,
                                               None).to_dict(),
                   "seconds": seconds.get(name, {"out_of_fold": value.seconds}),
                   "model": str(folders[name])}
            for name, value in oof.members.items()}


def default_decision(threshold: float | None, why: str = "--folds 0") -> Decision:
    """Without out-of-fold predictions nothing is fitted: the given threshold, else 0.5 (with
    a warning saying ``why`` there are none)."""
    if threshold is not None:
        return Decision().with_threshold(threshold, "--threshold")
    print(f"warning: no out-of-fold predictions ({why}): using threshold "
          f"{DEFAULT_THRESHOLD}; pass --threshold to choose", file=sys.stderr)
    return Decision()


def train_model(spec: RunSpec, train: list[Protein], sizes: list[int], described: list[dict]
                ) -> tuple[Track, Decision, dict]:
    """Folds, out-of-fold predictions, the decision fitted on them, the final fit; the model
    is saved as OUT/model. Returns the track, its decision and what to record."""
    track = make_track(spec.track, spec.config, spec.runtime)
    record: dict = {"seconds": {}}
    oof = None
    if spec.folds:
        folds = run_folds(train, spec.folds, spec.seed, spec.groups, spec.out, spec.train)
        oof = track.out_of_fold(train, folds)
        record["seconds"]["out_of_fold"] = oof.seconds
        record["oof"] = write_oof(spec.out, spec.train, sizes, train, oof, track.name)
        decision = fitted_decision(oof, train, spec.decision, spec.threshold)
        record["decision_fitted_on"] = len(oof.decision_indices)
    else:
        decision = default_decision(spec.threshold)
    start = time.perf_counter()
    track.fit(train, oof)
    record["seconds"]["train"] = round(time.perf_counter() - start, 2)
    record["track_report"] = track.report()
    save_model(track, spec.out / "model", decision, train=described)
    if oof is not None and oof.members:
        record["members"] = member_record(track, oof, train, spec.out / "model")
    return track, decision, record


# ---- predicting and writing -------------------------------------------------------------------

def model_folder(spec: RunSpec) -> Path:
    """The saved model the run predicts with: the given one, else the one it trained."""
    return spec.model if spec.model is not None else spec.out / "model"


def predict_test(spec: RunSpec, track: Track, decision: Decision, counts: Counts,
                 parts: Parts, executor=None, follower: Follower | None = None) -> dict:
    """The test file's chunks predicted into OUT/parts (resuming from any there), in worker
    processes when the file has several chunks (stream.py's one scheduler), the workers
    loading the model whose record the plan holds (``parts.plan["model_sha256"]``, the one
    checked), ``follower`` writing the output set meanwhile; what was done."""
    model = (model_folder(spec), parts.plan["model_sha256"])
    predictor = ChunkPredictor.planned(track, decision, spec.runtime, spec.chunking.workers,
                                       model, executor)
    return predict_parts(parts, spec.test, spec.chunking, predictor, counts, track.member_names,
                         follower)


def score_test(out: Path, labelled: list, threshold: float) -> dict | None:
    """CAID scores of the labelled test proteins, calls scored exactly as submitted;
    ``labelled``: (protein, probs, calls, member probs) each."""
    if not labelled:
        return None
    ref = [p for p, *_ in labelled]
    result = evaluate(ref, {p.id: probs for p, probs, *_ in labelled},
                      {p.id: calls for p, _, calls, _ in labelled})
    print(f"\nScores on {len(ref)} labelled test proteins (threshold {threshold:.3f}):")
    print(format_report(result))
    write_json(out / "scores.json", result)
    return result


def write_plots(out: Path, shown: list, labelled: list, name: str, threshold: float
                ) -> list[str]:
    """PNGs: the ``shown`` proteins in OUT/plots/proteins (a protein may be called "summary"),
    named by id with index.tsv (id -> file), and OUT/plots/summary.png, ROC and
    precision-recall, if the test is labelled; all or none (run/plot_folder.py). ``shown``:
    (protein, probs, member probs); ``labelled``: (protein, probs, calls, member probs)."""
    from idr_kit.run import plots
    from idr_kit.run.plot_folder import PlotFolder
    with PlotFolder(out / "plots", "png", proteins="proteins") as drawn:
        plots.plot_proteins(drawn, [p for p, *_ in shown],
                            _curves(name, [(p, v, m) for p, v, m in shown]), threshold,
                            len(shown), name)
        if labelled:
            drawn.add("summary.png", lambda path: plots.summary_plot(
                path, [p for p, *_ in labelled],
                _curves(name, [(p, v, m) for p, v, _, m in labelled]), name))
    print(f"wrote {len(drawn.paths)} plots to {out / 'plots'}")
    return [str(path) for path in drawn.paths]


def _curves(name: str, rows: list) -> dict[str, list[np.ndarray]]:
    """name -> probabilities per protein: the track's under ``name``, then each member's."""
    curves = {name: [values for _, values, _ in rows]}
    for member in (rows[0][2] if rows else {}):
        curves[member] = [members[member] for _, _, members in rows]
    return curves


# ---- the whole run ----------------------------------------------------------------------------

def check_ready(spec: RunSpec) -> None:
    """Everything the run will need is installed: found now, not after hours of training."""
    if spec.model is None:
        require_installed(spec.track, spec.config, training=True)
    if spec.plot and not installed("matplotlib"):
        raise MissingExtra("--plot needs matplotlib: pip install matplotlib (or the kit's "
                           "'plots' extra)")


def identity(spec: RunSpec, inputs: dict[str, list[dict]]) -> dict:
    """What makes two runs the same run: what they train (or load) and on which files."""
    what = ({"model": str(spec.model), **({"style": spec.style} if spec.style else {})}
            if spec.model is not None else
            {"track": spec.track, "config": dataclasses.asdict(spec.config),
             "decision": dataclasses.asdict(spec.decision), "seed": spec.seed,
             "folds": spec.folds, "groups": str(spec.groups) if spec.groups else None})
    chunks = spec.chunking.record()  # recorded where not the default: older runs resume
    return {**what, "threshold": spec.threshold,
            **{k: [d["sha256_16"] for d in v] for k, v in inputs.items()},
            **({"chunking": chunks} if chunks != Chunking().record() else {})}


def run(spec: RunSpec, executor=None) -> dict:
    """Train (or load) a model, predict the test set, write the output set; the record.

    Everything that can fail fast does so before the output folder is touched: missing extras,
    unreadable inputs (the test file is read through once, and not kept), a damaged model, an
    output folder that holds an input, is not writable or belongs to another run. The test
    file is then predicted a chunk at a time (stream.py): by worker processes, or by
    ``executor`` (a ``dask.distributed.Client``) when given.
    """
    check_ready(spec)
    for note in spec.notes:
        print(note, flush=True)
    inputs = {"test": describe_inputs([spec.test])}  # its digest first: a change shows at the end
    counts = scan(spec.test, spec.chunking)  # a bad input fails before anything is written
    inputs["test"][0]["proteins"] = counts.proteins
    train, sizes = read_training(spec.train) if spec.model is None else ([], [])
    if spec.model is None:
        inputs["train"] = describe_inputs(spec.train, sizes)
    saved = load_model(spec.model, spec.runtime) if spec.model is not None else None
    if saved is not None and spec.style is not None:
        saved = saved.in_style(spec.style, str(spec.model))
    say_inputs(spec, counts, sizes, saved)
    if spec.runtime.cache_dir:
        check_writable(Path(spec.runtime.cache_dir))
    read = [("the test file", spec.test), *(("a training file", p) for p in spec.train),
            *([("the model", spec.model)] if spec.model else []),
            *([("the cluster table", spec.groups)] if spec.groups else [])]
    who = identity(spec, inputs)
    if not spec.out_given and not spec.overwrite:  # --overwrite: the default folder itself
        chosen = own_folder(spec.out, who)
        if chosen != spec.out:
            print(f"{spec.out} holds another run's outputs: this run writes to {chosen} (--out "
                  "chooses the folder, --overwrite replaces what is there)", flush=True)
        spec = dataclasses.replace(spec, out=chosen)
    with RunFolder(spec.out, who, inputs=read, overwrite=spec.overwrite):
        print(f"output folder: {spec.out}", flush=True)
        return _run(spec, counts, train, sizes, inputs, saved, executor)


def _run(spec: RunSpec, counts: Counts, train, sizes, inputs, saved, executor) -> dict:
    record: dict = {"command": list(spec.command), "code_version": code_version(),
                    "versions": library_versions(), "seed": spec.seed, "folds": spec.folds,
                    "groups": str(spec.groups) if spec.groups else None, **inputs,
                    "runtime": dataclasses.asdict(spec.runtime), "seconds": {}}
    if spec.model is None:
        track, decision, trained = train_model(spec, train, sizes, inputs["train"])
        record.update(trained)
    else:
        track, decision, meta = saved.track, saved.decision, saved.meta
        if spec.threshold is not None:
            decision = decision.with_threshold(spec.threshold, "--threshold")
        record.update(model=str(spec.model), model_code_version=meta.get("code_version"),
                      style=saved.default_style)
    warn_extreme(decision)
    record.update(track=track.name, track_config=dataclasses.asdict(track.config),
                  decision=decision.to_dict(), threshold=decision.threshold,
                  threshold_source=decision.source)
    checked = saved.digest if saved is not None else model_digest(model_folder(spec))
    parts = Parts(spec.out / PARTS, plan_of(inputs["test"][0]["sha256_16"], checked, decision,
                                            spec.chunking))
    unchanged = lambda: check_unchanged(spec.test, inputs["test"][0]["sha256_16"])  # noqa: E731
    if spec.chunking.sharded:
        record["prediction"] = predict_test(spec, track, decision, counts, parts, executor)
        record["seconds"]["predict"] = record["prediction"]["seconds"]
        unchanged()
        return finish_shard(spec, counts, record, track.member_names)
    follower = Follower(parts, lambda parts_of: write_set(
        spec.out, spec.test, spec.chunking, parts_of, decision, track.member_names,
        spec.plot_first if spec.plot else 0, before_commit=unchanged))
    try:
        record["prediction"] = predict_test(spec, track, decision, counts, parts, executor,
                                            follower)
    except BaseException:
        follower.abort()
        raise
    record["seconds"]["predict"] = record["prediction"]["seconds"]
    written = follower.finish()
    finish_set(spec.out, written, record, track.name, decision, spec.plot)
    shutil.rmtree(spec.out / PARTS)  # after config.json: a killed run keeps what it predicted
    return record


def finish_set(out: Path, written, record: dict, name: str, decision: Decision, plot: bool
               ) -> None:
    """Scores and plots of a written output set, then config.json, its last file."""
    record["test_scores"] = score_test(out, written.labelled, decision.threshold)
    if plot:
        record["plots"] = write_plots(out, written.shown, written.labelled, name,
                                      decision.threshold)
    write_json(out / "config.json", record)  # last: a folder without it is unfinished
    print(f"wrote {out / 'submit.csv'} ({written.count} proteins, threshold "
          f"{decision.threshold:.3f})")


def finish_shard(spec: RunSpec, counts: Counts, record: dict, members: Sequence[str]) -> dict:
    """A shard's record: its chunks are its output, kept in OUT/parts for merge.py."""
    index, count = spec.chunking.shard
    record["shard"] = {"index": index, "of": count, "chunks": counts.mine,
                       "proteins": counts.mine_proteins, "residues": counts.mine_residues,
                       "test_chunks": counts.chunks, "test_proteins": counts.proteins,
                       "chunk_residues": spec.chunking.residues, "members": list(members)}
    write_json(spec.out / "config.json", record)
    print(f"shard {index}/{count} done: {len(counts.mine)} of {counts.chunks} chunks "
          f"({counts.mine_proteins:,} proteins) in {spec.out / PARTS}; when all {count} are "
          f"done: python merge.py SHARD_FOLDERS... --out DIR")
    return record


def warn_extreme(decision: Decision) -> None:
    """A threshold at an end of the scale calls every residue one way: say so."""
    if decision.threshold <= 0.001 or decision.threshold >= 0.999:
        side = "disordered" if decision.threshold <= 0.001 else "ordered"
        print(f"warning: threshold {decision.threshold:.3f} ({decision.source}) calls almost "
              f"every residue {side}; the out-of-fold predictions may be too few or too "
              "extreme to tune on (pass --threshold to choose)", file=sys.stderr)
