"""The kit's CPU table: every CPU track and both CPU recipes, trained three ways, in one run.

    python bench/bench_cpu.py [--sets nox pdb both] [--folds 3] [--repeats 2] [--out DIR]

For each training set (nox: train.pkl; pdb: train_pdb_style.fasta; both: the two pooled), every
run goes through `submit.py` with the same folds, grouped by MMseqs2 cluster
(bench/clusters/train_mmseqs.tsv), and predicts valid.fasta. Rows:

* the recipes recipes/cpu_blend.json and recipes/cpu_own.json, run as a user runs them (plus
  the folds, and ``--set style=`` the style of the set's labels: PDB for ``both``, as
  valid.fasta is). They share one checkpoint folder, so cpu_own reuses what cpu_blend
  trained;
* every member of cpu_blend, read from that run's outputs: its out-of-fold arrays (oof/), and
  from config.json's "members" its decision (fitted on its own out-of-fold arrays as a run of
  it alone would fit it), its seconds and its saved model; a member trains exactly as it would
  alone (same settings, folds, data);
* every other CPU track (w2v, lgbm without the recipe's options), each in its own run.

Columns: AUC, APS, F1-max and F1 at the row's tuned threshold on valid.fasta (CAID's PDB-style
labels), the same out of fold on train.pkl's NOX labels (for the ``pdb`` set: the training
proteins whose sequence is also in train.pkl, scored on train.pkl's labels), seconds out of
fold and to fit, and whole `submit.py --model` prediction processes against metapredict's own
CLI on the same plain FASTA (best of --repeats, no cache: residues/s of the prediction step,
the whole process's seconds, its speed ratio to the CLI, and its peak memory). metapredict V3 is also a member of cpu_blend, so its
rows hold its figures from this same run. Figures are printed, never asserted.
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

import numpy as np

from idr_kit.data.load import read_proteins
from idr_kit.data.metrics import evaluate
from idr_kit.data.records import Protein
from idr_kit.model.decision import Decision
from idr_kit.run.settings import read_recipe

from bench_tracks import best_wall, plain_fasta, run_measured
from benchdata import ROOT, SHARED as DATA

CLUSTERS = ROOT / "bench" / "clusters" / "train_mmseqs.tsv"
SETS = {"nox": ["train.pkl"], "pdb": ["train_pdb_style.fasta"],
        "both": ["train.pkl", "train_pdb_style.fasta"]}
STYLE = {"nox": "nox", "pdb": "pdb", "both": "pdb"}
RECIPES = ("cpu_blend", "cpu_own")  # cpu_blend first: it trains every member
OTHERS = {"w2v": ["--track", "w2v"], "lgbm": ["--track", "lgbm"],
          "lgbm[embeddings=antiberty]": ["--track", "lgbm", "--set", "embeddings=antiberty"]}


def submit(args: list[str], out: Path) -> tuple[float, dict]:
    """One submit.py run into ``out``: (peak MiB, its config.json)."""
    cmd = [sys.executable, str(ROOT / "submit.py"), *args, "--out", str(out)]
    if not (out / "config.json").is_file():  # a finished run is reused: the bench resumes
        _, peak, _ = run_measured(cmd, cwd=ROOT)
        (out / "peak_mib.txt").write_text(f"{peak:.0f}\n")
    return float((out / "peak_mib.txt").read_text()), json.loads((out / "config.json").read_text())


def training_args(which: str, folds: int, seed: int) -> list[str]:
    args = ["--folds", str(folds), "--groups", str(CLUSTERS), "--seed", str(seed),
            "--test", str(DATA / "valid.fasta")]
    for name in SETS[which]:
        args += ["--train", str(DATA / name)]
    return args


def oof_arrays(run: Path, part: str | None, which: str) -> dict[str, np.ndarray]:
    """Out-of-fold arrays of one part (None: the run's own track) over the set's files."""
    arrays = {}
    for name in SETS[which]:
        stem = Path(name).stem
        file = run / "oof" / (f"{part}-{stem}.npz" if part else f"{stem}.npz")
        with np.load(file) as saved:
            arrays.update({k: saved[k] for k in saved.files})
    return arrays


class Reference:
    """The training proteins, and train.pkl's NOX labels by id and by sequence."""

    def __init__(self):
        self.files = {name: read_proteins(DATA / name) for name in SETS["both"]}
        self.nox = self.files["train.pkl"]
        self.nox_by_seq = {p.seq: p for p in self.nox}

    def training(self, which: str) -> list[Protein]:
        return [p for name in SETS[which] for p in self.files[name]]

    def nox_scores(self, which: str, oof: dict[str, np.ndarray], decision: Decision) -> dict:
        """Out-of-fold figures on train.pkl's NOX labels, calls as the decision makes them."""
        train = self.training(which)
        if "train.pkl" in SETS[which]:
            pairs = [(p, oof[p.id]) for p in self.nox]
        else:  # the PDB-style proteins whose sequence train.pkl also holds
            pairs = [(self.nox_by_seq[p.seq], oof[p.id]) for p in train if p.seq in self.nox_by_seq]
            seen = {}
            for ref, probs in pairs:
                seen.setdefault(ref.id, (ref, probs))
            pairs = list(seen.values())
        ref = [p for p, _ in pairs]
        probs = decision.probs([v for _, v in pairs])
        calls = decision.calls([v for _, v in pairs])
        result = evaluate(ref, {p.id: v for p, v in zip(ref, probs)},
                          {p.id: c for p, c in zip(ref, calls)})
        result["proteins_scored"] = len(ref)
        return result


def valid_scores(run: Path) -> dict:
    return json.loads((run / "config.json").read_text())["test_scores"]


def row(label: str, which: str, scores: dict, nox: dict, threshold: float, **extra) -> dict:
    return {"row": label, "set": which, "auc": scores["auc"], "aps": scores["aps"],
            "f1_max": scores["f1_max"], "f1_tuned": scores["f1"], "threshold": threshold,
            "oof_auc": nox["auc"], "oof_aps": nox["aps"], "oof_f1_max": nox["f1_max"],
            "oof_f1_tuned": nox["f1"], "oof_proteins": nox["proteins_scored"], **extra}


def member_seconds(base: Path, reported: dict) -> dict:
    """Each member's seconds out of fold and to fit, as first measured: a rerun of the bench
    reuses members from the checkpoints (reported as "reused"), so the figures are kept."""
    kept = base / "member_seconds.json"
    known = json.loads(kept.read_text()) if kept.is_file() else {}
    for name, figures in reported.items():
        for key, value in figures.items():
            if not isinstance(value, str):  # the first measurement stands
                known.setdefault(name, {}).setdefault(key, value)
    kept.write_text(json.dumps(known, indent=2))
    return known


def slug(label: str) -> str:
    """A row's label as a folder name."""
    return "".join(c if c.isalnum() or c in "._" else "-" for c in label).strip("-")


def member_label(name: str, recipe: dict) -> str:
    mine = [s.split(".", 1)[1] for s in recipe.get("member_settings", []) if s.startswith(name + ".")]
    return name + (f"[{','.join(mine)}]" if mine else "")


def bench_set(which: str, args, ref: Reference, residues: int) -> list[dict]:
    base = args.out / which
    shared = ["--set", f"checkpoint_dir={base / 'checkpoints'}",
              "--set", f"cache_dir={args.cache_dir}", "--set", f"style={STYLE[which]}"]
    rows = []
    # the recipes
    recipe_runs = {}
    for name in RECIPES:
        run = base / name
        peak, record = submit(["--recipe", str(ROOT / "recipes" / f"{name}.json"),
                               *training_args(which, args.folds, args.seed), *shared,
                               *shlex.split(args.recipe_args)], run)
        recipe_runs[name] = record
        decision = Decision.from_dict(record["decision"])
        nox = ref.nox_scores(which, oof_arrays(run, "ensemble", which), decision)
        rows.append(row(name, which, record["test_scores"], nox, record["threshold"],
                        model=str(run / "model"), run_peak_mib=peak))
    # each member of cpu_blend, from its run
    blend_run = base / "cpu_blend"
    _, recipe = read_recipe(ROOT / "recipes" / "cpu_blend.json")
    members = recipe_runs["cpu_blend"]["members"]
    seconds = member_seconds(base, {name: m["seconds"] for name, m in members.items()})
    for name in recipe["members"]:
        oof = oof_arrays(blend_run, name, which)
        decision, model = Decision.from_dict(members[name]["decision"]), members[name]["model"]
        scored = base / f"member-{name}"
        _, record = submit(["--model", str(model), "--test", str(DATA / "valid.fasta"),
                            "--threshold", str(decision.threshold),
                            "--set", f"cache_dir={args.cache_dir}"], scored)
        nox = ref.nox_scores(which, oof, decision)
        rows.append(row(member_label(name, recipe), which, record["test_scores"], nox,
                        decision.threshold, model=str(model),
                        oof_s=seconds[name]["out_of_fold"], train_s=seconds[name]["fit"],
                        predict_res_per_s=residues / record["seconds"]["predict"]))
    for r in rows[:len(RECIPES)]:  # a recipe trains its members: their seconds, added
        _, own = read_recipe(ROOT / "recipes" / f"{r['row']}.json")
        r["oof_s"] = sum(seconds[m]["out_of_fold"] for m in own["members"])
        r["train_s"] = sum(seconds[m]["fit"] for m in own["members"])
    # every other CPU track, alone
    for label in args.others:
        how = OTHERS[label]
        if any(r["row"] == label for r in rows):
            continue  # already a member with the same settings
        run = base / slug(label)
        peak, record = submit([*how, *training_args(which, args.folds, args.seed),
                               "--set", f"cache_dir={args.cache_dir}"], run)
        decision = Decision.from_dict(record["decision"])
        nox = ref.nox_scores(which, oof_arrays(run, None, which), decision)
        rows.append(row(label, which, record["test_scores"], nox, record["threshold"],
                        model=str(run / "model"), run_peak_mib=peak,
                        oof_s=record["seconds"]["out_of_fold"], train_s=record["seconds"]["train"],
                        predict_res_per_s=residues / record["seconds"]["predict"]))
    return rows


def time_processes(rows: list[dict], plain: Path, out: Path, repeats: int, residues: int) -> dict:
    """Each model's whole prediction process against metapredict's CLI, on the same FASTA, in
    a fresh process; its prediction residues/s replace the run's."""
    mp_cli = Path(sys.executable).parent / "metapredict-predict-disorder"
    kept = out / "timed" / "metapredict-cli.json"  # timings are kept: a rerun reuses them
    if not kept.is_file():
        kept.parent.mkdir(parents=True, exist_ok=True)
        wall, peak = best_wall([str(mp_cli), str(plain), "-o", str(out / "mp.csv"), "-s"], repeats)
        kept.write_text(json.dumps({"wall": wall, "peak": peak}))
    peer = json.loads(kept.read_text())
    peer_s, peer_mib = peer["wall"], peer["peak"]
    print(f"\nmetapredict-predict-disorder on {plain.name}: {peer_s:.2f} s, {peer_mib:.0f} MiB "
          f"(best of {repeats})")
    for r in rows:
        folder = out / "timed" / f"{r['set']}-{slug(r['row'])}"
        kept = folder.parent / f"{folder.name}.json"
        if not kept.is_file():
            cmd = [sys.executable, str(ROOT / "submit.py"), "--model", r["model"], "--test",
                   str(plain), "--out", str(folder), "--overwrite"]
            wall, peak = best_wall(cmd, repeats)
            seconds = json.loads((folder / "config.json").read_text())["seconds"]["predict"]
            kept.write_text(json.dumps({"wall": wall, "peak": peak, "predict": seconds}))
        timing = json.loads(kept.read_text())
        r.update(process_s=timing["wall"], predict_peak_mib=timing["peak"],
                 speed_vs_metapredict=peer_s / timing["wall"],
                 predict_res_per_s=residues / timing["predict"])
    return {"metapredict_cli_s": peer_s, "metapredict_cli_peak_mib": peer_mib}


def fmt(value, spec: str) -> str:
    width = int(spec.split(".")[0].rstrip(",df") or 0)
    if value is None or isinstance(value, str):
        return (value or "-").rjust(width)
    return format(value, spec)


COLUMNS = [("set", "set", "4"), ("row", "row", "30"), ("AUC", "auc", "5.3f"),
           ("APS", "aps", "5.3f"), ("F1max", "f1_max", "5.3f"), ("F1@thr", "f1_tuned", "6.3f"),
           ("thr", "threshold", "5.3f"), ("oofAUC", "oof_auc", "6.3f"), ("oofAPS", "oof_aps", "6.3f"),
           ("oofF1max", "oof_f1_max", "8.3f"), ("oofF1@thr", "oof_f1_tuned", "9.3f"),
           ("oof s", "oof_s", "6.0f"), ("fit s", "train_s", "6.0f"),
           ("res/s", "predict_res_per_s", "8,.0f"), ("proc s", "process_s", "6.1f"),
           ("x mp", "speed_vs_metapredict", "5.2f"), ("run MiB", "run_peak_mib", "7.0f"),
           ("pred MiB", "predict_peak_mib", "8.0f")]


def table(rows: list[dict]) -> str:
    """The rows as a Markdown table."""
    lines = ["| " + " | ".join(h for h, _, _ in COLUMNS) + " |",
             "|" + "|".join("---" for _ in COLUMNS) + "|"]
    for r in rows:
        lines.append("| " + " | ".join(fmt(r.get(k), s).strip() for _, k, s in COLUMNS) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", nargs="+", default=list(SETS), choices=list(SETS))
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=2,
                        help="timed prediction processes per model; 0 skips them")
    parser.add_argument("--others", nargs="*", default=list(OTHERS), choices=list(OTHERS),
                        help="the tracks run on their own, beside the recipes' members")
    parser.add_argument("--recipe-args", default="",
                        help="more submit.py arguments for the recipe runs (a smoke run: "
                             "'--set member_settings=lgbm.num_rounds=5,bilstm.epochs=1')")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "bench_cpu")
    parser.add_argument("--cache-dir", type=Path, default=ROOT / "runs" / "embeddings",
                        help="backbone embeddings kept between runs (bench/tune.py's too)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    plain = args.out / "valid_plain.fasta"
    residues = plain_fasta(DATA / "valid.fasta", plain)
    ref = Reference()
    rows = []
    for which in args.sets:
        rows += bench_set(which, args, ref, residues)
        print(table(rows), flush=True)
    peer = time_processes(rows, plain, args.out, args.repeats, residues) if args.repeats else {}
    text = table(rows)
    print("\n" + text)
    (args.out / "results.md").write_text(text + "\n")
    (args.out / "results.json").write_text(json.dumps({"rows": rows, "peer": peer}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
