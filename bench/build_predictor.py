"""Build the predictors the kit ships (models/predictor/ and models/predictor-fast/) from
../shared/data, and their model card.

    python bench/build_predictor.py [--folds 3] [--seed 0] [--work runs/build_predictor]
                                    [--steps unlabelled,models]   # models alone by default

Both are the convnet track (nn/convnet.py: dilated convolutions over residue features, trained
with torch, run by ONNX Runtime), trained on both shared training files at once, each protein
told the label style of its labels:

* default (models/predictor/): the convnet reading metapredict V3's scores as well, a learned
  stack of metapredict (whose network is exported from the installed metapredict wheel and
  shipped beside it, with its MIT licence) and the residues around each position;
* fast (models/predictor-fast/): the convnet alone.

For each: out-of-fold predictions on MMseqs2-grouped folds (bench/clusters/), in both label
styles; a decision for each style (smoothing, threshold, minimum IDR length) fitted on the
out-of-fold probabilities of the proteins labelled in it; the final network on every training
protein, saved with both decisions; then MODEL_CARD.md. valid.fasta is scored once, at the
end, and chooses nothing. Every step is seeded: the same command gives the same models and
figures. Needs the nn and metapredict extras (torch, onnx, metapredict) to build; the models
it writes need neither.
"""
from __future__ import annotations

import argparse
import datetime
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from idr_kit.data.digests import file_sha256
from idr_kit.data.errors import UserError
from idr_kit.data.load import read_proteins
from idr_kit.data.metrics import evaluate
from idr_kit.data.provenance import code_version
from idr_kit.data.splits import fold_groups, make_folds
from idr_kit.data.styles import in_style
from idr_kit.model.decision import DecisionSettings, fit_decision
from idr_kit.model.runtime import Runtime
from idr_kit.model.saved import save_model
from idr_kit.tracks import make_track

from benchdata import ROOT, SHARED

FILES = ("train.pkl", "train_pdb_style.fasta")
CLUSTERS = ROOT / "bench" / "clusters" / "train_mmseqs.tsv"
MODELS = ROOT / "models"
CARD = MODELS / "MODEL_CARD.md"
# Smoothing and a minimum IDR length are fitted too (kept only where they help out of fold):
# regions, not scattered single residues, are what a profile's reader wants.
DECISION = DecisionSettings(smoothing=True, min_length=True)
COMMAND = "python bench/build_predictor.py"
KINDS = {"default": {"members": ("metapredict",), "networks": ("stacked", "residues")},
         "fast": {"members": (), "networks": ("residues",)}}
TARGETS = {"default": MODELS / "predictor", "fast": MODELS / "predictor-fast"}
STEPS = ("unlabelled", "models")  # --steps: what a run builds (models alone by default)


def folds_of(train, args) -> list[int]:
    fold_of = make_folds([p.id for p in train], k=args.folds, seed=args.seed,
                         groups=fold_groups(train, CLUSTERS))
    return [fold_of[p.id] for p in train]


def network(kind: str, args):
    return make_track("convnet", runtime=Runtime(threads=args.threads), seed=args.seed,
                      **KINDS[kind])


def out_of_fold(kind: str, train, folds, args) -> dict[str, list[np.ndarray]]:
    """Each protein predicted in both styles by a network trained without its fold (saved in
    WORK, so that a rerun resumes)."""
    cache = args.work / f"oof-{kind}.npz"
    if cache.is_file():
        saved = np.load(cache)
        return {style: [saved[f"{style}|{i}"] for i in range(len(train))]
                for style in ("pdb", "nox")}
    probs = {"pdb": [None] * len(train), "nox": [None] * len(train)}
    for k in sorted(set(folds)):
        held = [i for i, f in enumerate(folds) if f == k]
        start = time.perf_counter()
        net = network(kind, args).fit([p for p, f in zip(train, folds) if f != k])
        for style in probs:
            for i, values in zip(held, net.with_style(style).predict_proba([train[i]
                                                                             for i in held])):
                probs[style][i] = values
        print(f"{kind}: fold {k}: {time.perf_counter() - start:.0f} s", flush=True)
    np.savez(cache, **{f"{s}|{i}": v for s, values in probs.items()
                       for i, v in enumerate(values)})
    return probs


def style_scores(train, oof, decisions) -> dict:
    """Out-of-fold figures of each style on the proteins labelled in it."""
    found = {}
    for style, decision in decisions.items():
        chosen = in_style(train, style)
        ref = [train[i] for i in chosen]
        probs = decision.probs([oof[style][i] for i in chosen])
        found[style] = evaluate(ref, {p.id: v for p, v in zip(ref, probs)},
                                {p.id: c for p, c in zip(ref, decision.calls(probs))})
    return found


def valid_scores(net, decision) -> tuple[dict, float]:
    valid = read_proteins(SHARED / "valid.fasta")
    start = time.perf_counter()
    probs = decision.probs(net.predict_proba(valid))
    seconds = time.perf_counter() - start
    result = evaluate(valid, {p.id: v for p, v in zip(valid, probs)},
                      {p.id: c for p, c in zip(valid, decision.calls(probs))})
    return result, sum(len(p) for p in valid) / seconds


def build(kind: str, train, folds, args) -> dict:
    oof = out_of_fold(kind, train, folds, args)
    decisions = {style: fit_decision([oof[style][i] for i in in_style(train, style)],
                                     [train[i] for i in in_style(train, style)], DECISION)
                 for style in ("pdb", "nox")}
    scores = style_scores(train, oof, decisions)
    start = time.perf_counter()
    net = network(kind, args).fit(train)
    fit_seconds = time.perf_counter() - start
    valid, speed = valid_scores(net, decisions["pdb"])
    staged = args.work / kind
    shutil.rmtree(staged, ignore_errors=True)
    save_model(net, staged, decisions["pdb"], default_style="pdb",
               decisions={s: d.to_dict() for s, d in decisions.items()},
               train=[{"path": f"../shared/data/{n}", "sha256": file_sha256(SHARED / n)}
                      for n in FILES])
    shutil.rmtree(TARGETS[kind], ignore_errors=True)
    shutil.copytree(staged, TARGETS[kind])
    return {"decisions": {s: d.to_dict() for s, d in decisions.items()},
            "out_of_fold": scores, "valid": valid, "valid_residues_per_s": round(speed),
            "fit_seconds": round(fit_seconds), "epochs": net.history_.epoch + 1,
            "weights": weight_count(staged / "convnet.onnx"),
            "members": list(KINDS[kind]["members"])}


def weight_count(path: Path) -> int:
    import onnx
    model = onnx.load_model_from_string(path.read_bytes())
    return int(sum(np.prod(t.dims) for t in model.graph.initializer if len(t.dims) > 0))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "build_predictor")
    parser.add_argument("--card-only", action="store_true",
                        help="write MODEL_CARD.md again from WORK/build.json, building nothing")
    parser.add_argument("--steps", type=steps_of, default=("models",),
                        help="comma-separated: unlabelled (issue 31's unlabelled set "
                        "in WORK/unlabelled, from Debian's metastudent-data: bench/unlabelled.py"
                        "), models (the shipped predictors and their card; the default)")
    args = parser.parse_args(argv)
    if "unlabelled" in args.steps:
        from unlabelled import build_unlabelled
        try:
            build_unlabelled(args.work / "unlabelled", threads=max(args.threads, 1))
        except UserError as err:  # the package or MMseqs2 missing: one line, what to install
            print(f"error: {err}", file=sys.stderr)
            return 2
    if "models" not in args.steps:
        return 0
    if args.card_only:
        CARD.write_text(card(json.loads((args.work / "build.json").read_text())))
        return 0
    args.work.mkdir(parents=True, exist_ok=True)
    train = [p for name in FILES for p in read_proteins(SHARED / name)]
    folds = folds_of(train, args)
    record = {"date": datetime.date.today().isoformat(), "code_version": code_version(),
              "command": COMMAND + (f" --folds {args.folds}" if args.folds != 3 else ""),
              "proteins": len(train),
              "metapredict_mit": metapredict_baseline(train, folds),
              "models": {kind: build(kind, train, folds, args) for kind in KINDS}}
    (args.work / "build.json").write_text(json.dumps(record, indent=2))
    CARD.write_text(card(record))
    print(json.dumps({k: {s: v[s] for s in ("valid", "out_of_fold")}
                      for k, v in record["models"].items()}, indent=1))
    print(f"wrote {', '.join(map(str, TARGETS.values()))} and {CARD}")
    return 0


def steps_of(text: str) -> tuple[str, ...]:
    steps = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = [step for step in steps if step not in STEPS]
    if unknown or not steps:
        raise argparse.ArgumentTypeError(f"{text!r}: expected some of {', '.join(STEPS)}")
    return steps


def metapredict_baseline(train, folds) -> dict:
    """metapredict V3 alone, for the card: valid.fasta, and the training proteins of each
    style (it never saw their labels), at a threshold fitted as the kit's models' are."""
    from idr_kit.convnet.members import MetapredictMember
    from idr_kit.nn.metapredict import export_metapredict
    member = MetapredictMember(export_metapredict(), 0, "metapredict V3")
    scores = member.predict([p.seq for p in train])
    out = {}
    for style in ("pdb", "nox"):
        chosen = in_style(train, style)
        ref = [train[i] for i in chosen]
        out[f"out_of_fold_{style}"] = evaluate(ref, {p.id: scores[i] for p, i in
                                                     zip(ref, chosen)})
    valid = read_proteins(SHARED / "valid.fasta")
    out["valid"] = evaluate(valid, dict(zip([p.id for p in valid],
                                            member.predict([p.seq for p in valid]))))
    return out


def card(r: dict) -> str:
    d, f = r["models"]["default"], r["models"]["fast"]
    mp = r["metapredict_mit"]

    def row(name, s):
        return (f"| {name} | {s['auc']:.3f} | {s['aps']:.3f} | {s['f1_max']:.3f} | "
                f"{s.get('f1') or 0:.3f} | {s['proteins']} |")

    def decisions(m):
        return "; ".join(f"{style}: threshold {x['threshold']:.3f}, "
                         + ("no smoothing" if x["kind"] == "none" else
                            f"smoothing {x['kind']} {x['width']}")
                         + f", minimum IDR length {x['min_length']}"
                         for style, x in m["decisions"].items())
    return f"""# The kit's shipped predictors (`idr_kit.load()`, `idr-predict`)

Built {r['date']} from code {r['code_version']} with `{r['command']}` (from a checkout with
`../shared/data` beside it and the nn and metapredict extras installed; the same command gives
the same models and figures). Both predict with ONNX Runtime, a base dependency of the kit: no
torch, no metapredict needed.

**What they are.** The `convnet` track: dilated residual convolutions over each residue's
features (its letter, physico-chemical scales and the label style asked for), trained with
torch and exported to ONNX.

- `models/predictor/` (the default; `idr_kit.load()`): the mean of three: metapredict V3's
  scores (its network exported from the metapredict wheel: `metapredict_v3.onnx`, 96,825
  weights), a convnet that reads those scores beside the residues (a learned stack of
  metapredict and the sequence around each position) and a convnet that reads the residues
  alone; {d['weights']:,} weights of the kit's own in the two convnets.
- `models/predictor-fast/` (`idr_kit.load(fast=True)`, `idr-predict --fast`): one convnet
  reading the residues alone, {f['weights']:,} weights.

Each learnt both label styles at once and predicts in either: `pdb` (CAID's PDB-style
references: 0 only where a structure is seen; the default) or `nox` (the competition's: every
residue not annotated disordered is 0), each with its own decision fitted out of fold.
Default: {decisions(d)}. Fast: {decisions(f)}.

**Trained on** {r['proteins']:,} labelled proteins of the two shared training files: DisProt
entries in the NOX style (`train.pkl`) and DisProt 2023_12 in the PDB style
(`train_pdb_style.fasta`), both homology-filtered against `valid.fasta` and a blind set; masked
BCE (unassessed `-` residues ignored), early stopping on a held-out tenth.

**Data and licences.** DisProt (https://disprot.org) and the CAID2 references
(https://caid.idpcentral.org) are CC BY 4.0: these models are derived from them, with credit to
their authors and curators. metapredict V3 (Emenecker, Griffith and Holehouse; MIT licence,
https://github.com/idptools/metapredict) ships inside the default model as
`metapredict_v3.onnx`, its network as its wheel holds it, with its licence beside it
(`metapredict_LICENSE.txt`). The models themselves are shipped under the kit's MIT licence.

**Figures** (CAID's metrics: residues pooled, scores rounded to 3 decimals; F1 at the style's
decision, metapredict's at its own threshold, 0.5).

| model, set | AUC | APS | F1-max | F1 | proteins |
|---|---|---|---|---|---|
{row("default, valid.fasta (CAID2 Disorder-PDB), pdb style", d['valid'])}
{row("fast, valid.fasta, pdb style", f['valid'])}
{row("metapredict V3, valid.fasta", mp['valid'])}
{row("default, out of fold, PDB-labelled training proteins", d['out_of_fold']['pdb'])}
{row("fast, out of fold, PDB-labelled training proteins", f['out_of_fold']['pdb'])}
{row("metapredict V3, PDB-labelled training proteins", mp['out_of_fold_pdb'])}
{row("default, out of fold, NOX-labelled training proteins, nox style", d['out_of_fold']['nox'])}
{row("fast, out of fold, NOX-labelled training proteins, nox style", f['out_of_fold']['nox'])}
{row("metapredict V3, NOX-labelled training proteins", mp['out_of_fold_nox'])}

Out of fold: every training protein predicted by a network trained without its fold, the folds
grouped by MMseqs2 cluster (no protein family on both sides; `bench/clusters/`). `valid.fasta`
was never used to fit or choose anything; it is scored once, here. metapredict V3 never saw
the training proteins' labels, so its rows on them are as new to it as the convnet's
out-of-fold rows. `python bench/bench_predictor.py` prints these beside the kit's cpu_blend
recipe, with speed and memory against metapredict's own CLI. Prediction speed on the build
machine (ONNX Runtime, one process): default {d['valid_residues_per_s']:,} residues/s, fast
{f['valid_residues_per_s']:,} residues/s; training took {d['fit_seconds']} s and
{f['fit_seconds']} s.
"""


if __name__ == "__main__":
    sys.exit(main())
