"""The distilled network's prediction pass three ways, on valid.fasta, in one run: torch, the
same arithmetic in numpy (nn/numpy_forward.py) and ONNX Runtime (what the track ships with).

    python bench/bench_distilled_runtime.py [--budget 65536] [--repeats 2]

Random weights of the track's default size (speed does not depend on their values); prints
seconds and residues/s of each (best of --repeats) and the largest logit difference of numpy
and ONNX Runtime from torch. Figures are printed, never asserted.
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch

from idr_kit.data.load import read_proteins
from idr_kit.data.residue_features import FEATURES, features
from idr_kit.distill.config import DistilledConfig
from idr_kit.data.networks import open_network
from idr_kit.distill.track import SIGNATURE
from idr_kit.nn.export import onnx_bytes
from idr_kit.nn import numpy_forward
from idr_kit.nn.batching import token_budget_batches
from idr_kit.nn.seqnet import SeqNet

from benchdata import data_file


def batches(proteins, budget: int) -> list[tuple[np.ndarray, np.ndarray]]:
    out = []
    for index in token_budget_batches([len(p) for p in proteins], budget, extra=0):
        rows = [features(proteins[i].seq, 1.0) for i in index]
        lengths = np.array([len(r) for r in rows], dtype=np.int64)
        x = np.zeros((len(rows), int(lengths.max()), FEATURES), np.float32)
        for b, r in enumerate(rows):
            x[b, :len(r)] = r
        out.append((x, lengths))
    return out


def best(run, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget", type=int, default=65_536)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    c = DistilledConfig()
    torch.manual_seed(0)
    net = SeqNet.of(FEATURES, c).eval()
    weights = numpy_forward.export_weights(net)
    session = open_network(onnx_bytes(net, FEATURES, "logits"), args.threads, SIGNATURE, "the benched network")
    proteins = read_proteins(data_file("valid.fasta"))
    residues = sum(len(p) for p in proteins)
    work = batches(proteins, args.budget)

    def with_torch():
        with torch.no_grad():
            return [net(torch.from_numpy(x), torch.from_numpy(n)).numpy() for x, n in work]

    runs = {"torch": with_torch,
            "numpy": lambda: [numpy_forward.forward(weights, x, n) for x, n in work],
            "onnxruntime": lambda: [session.run(None, {"x": x, "lengths": n})[0]
                                    for x, n in work]}
    reference = with_torch()
    print(f"{len(proteins)} proteins, {residues:,} residues, batches of {args.budget:,} residues")
    for name, run in runs.items():
        seconds = best(run, args.repeats)
        found = run()
        diff = max(float(np.abs(a[b, :n] - r[b, :n]).max()) for a, r, (_, ns) in
                   zip(found, reference, work) for b, n in enumerate(ns))
        print(f"{name:12} {seconds:7.2f} s {residues / seconds:10,.0f} residues/s  "
              f"max |logit - torch's| {diff:.1e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
