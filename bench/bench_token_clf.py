"""Inference speed of the esm track's predict path against a bare forward pass of the same model.

    python bench/bench_token_clf.py [--sizes esm2_t6_8M_UR50D esm2_t12_35M_UR50D] [--residues 30000]

For each published ESM-2 size, writes its architecture with random weights in fair-esm's file
layout (speed does not depend on the weights' values), loads it through the track as a user's
``--weights`` file is loaded, and times, on the same valid.fasta proteins and in the same run:

  bare    fair-esm's batch converter + ``model(tokens, repr_layers=[last])`` under no_grad, over
          length-sorted batches of the same token budget: the least any predictor must do;
  track   ``predict_proba`` in each mode asked for (full: backbone + head; frozen: the same
          through the embedding cache, cold), windows, stitching and all; with the default
          convolutional head and with a linear one, to separate the head's own cost.

The two are timed turn about; prints residues/s (best of --repeats) and the track/bare ratio. Figures are printed, never asserted.
On a GPU (--device cuda) the track runs in bf16 autocast; the bare pass is then timed in bf16 too.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

from idr_kit.data.load import read_proteins
from idr_kit.nn.batching import token_budget_batches
from idr_kit.nn.official import esm_dims
from idr_kit.model.runtime import Runtime
from idr_kit.tracks import make_track

from benchdata import data_file
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the tests' fixtures
from layouts import write_esm_checkpoint  # noqa: E402

ESM_WINDOW = 1022  # proteins up to this length: the bare pass needs no windows either
HEADS = {"default": {}, "linear": {"head_hidden": 0}}  # the track's default head; a linear one


def sample(residues: int, window: int = ESM_WINDOW) -> list:
    """valid.fasta proteins that fit one window, in file order, up to ``residues`` in all."""
    chosen, total = [], 0
    for p in read_proteins(data_file("valid.fasta")):
        if len(p) <= window and total + len(p) <= residues:
            chosen.append(p)
            total += len(p)
    return chosen


def seconds(run) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def best_alternating(repeats: int, first, second) -> tuple[float, float]:
    """Best-of-``repeats`` seconds of two runs timed turn about, so drift hits both alike."""
    a, b = [], []
    for _ in range(repeats):
        a.append(seconds(first))
        b.append(seconds(second))
    return min(a), min(b)


def bare_forward(model, alphabet, proteins, budget: int, device: torch.device) -> None:
    convert = alphabet.get_batch_converter()
    last = model.num_layers
    with torch.no_grad(), torch.autocast(device.type, torch.bfloat16, enabled=device.type == "cuda"):
        for index in token_budget_batches([len(p) for p in proteins], budget):
            _, _, tokens = convert([(proteins[i].id, proteins[i].seq) for i in index])
            model(tokens.to(device), repr_layers=[last])["representations"][last].float().cpu()


def ready_track(name: str, weights: Path, mode: str, head: dict, args):
    """One optimiser step on four training proteins: the public way to a ready track."""
    runtime = Runtime(device=args.device, cache_gb=0.0)
    return make_track("esm", runtime=runtime, backbone=name, weights=str(weights), mode=mode,
                      token_budget=args.budget, epochs=1, max_steps=1, valid_fraction=0.0,
                      **head).fit(read_proteins(data_file("train.pkl"))[:4])


def bench_size(name: str, proteins, args, folder: Path) -> list[dict]:
    import esm
    weights = write_esm_checkpoint(folder / f"{name}.pt", *esm_dims(name), seed=0)
    device = torch.device(args.device)
    rows, residues = [], sum(len(p) for p in proteins)
    alphabet = esm.data.Alphabet.from_architecture("ESM-1b")
    for mode in args.modes:
        for head in args.heads:
            track = ready_track(name, weights, mode, HEADS[head], args)
            model = track.model_.encoder.model
            bare, ours = best_alternating(
                args.repeats, lambda: bare_forward(model, alphabet, proteins, args.budget, device),
                lambda: track.predict_proba(proteins))
            rows.append({"size": name, "mode": mode, "head": head, "residues": residues,
                         "bare_res_s": residues / bare, "track_res_s": residues / ours,
                         "ratio": bare / ours})
            print(f"{name:20} {mode:6} {head:7} bare {residues / bare:7,.0f} res/s   track "
                  f"{residues / ours:7,.0f} res/s   ratio {bare / ours:5.3f}", flush=True)
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", nargs="+", default=["esm2_t6_8M_UR50D", "esm2_t12_35M_UR50D"])
    parser.add_argument("--modes", nargs="+", default=["full", "frozen"])
    parser.add_argument("--heads", nargs="+", default=["default", "linear"], choices=sorted(HEADS))
    parser.add_argument("--residues", type=int, default=30000)
    parser.add_argument("--budget", type=int, default=8192)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    proteins = sample(args.residues)
    print(f"{len(proteins)} valid.fasta proteins, {sum(len(p) for p in proteins):,} residues, "
          f"torch threads {torch.get_num_threads()}, device {args.device}")
    with tempfile.TemporaryDirectory() as folder:
        for name in args.sizes:
            bench_size(name, proteins, args, Path(folder))
    return 0


if __name__ == "__main__":
    sys.exit(main())
