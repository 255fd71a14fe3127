"""Training memory of the esm track's LoRA step, with and without per-layer checkpointing.

    python bench/bench_esm_memory.py                          # CPU: t6 and t12, extrapolated
    python bench/bench_esm_memory.py --device cuda --sizes esm2_t33_650M_UR50D --windows 16

One LoRA training step (forward, masked BCE, backward, AdamW) of the track's own model on
``--windows`` windows of 1022 residues (a full ESM-2 window; 16 fill the 650M recipe's token
budget of 16,384), random weights of the published architecture (``from_scratch``: memory does
not depend on the weights' values), each configuration in a fresh process. Memory is what the
step adds to the process once the model and batch exist: peak CUDA memory allocated on a GPU,
the growth of the peak resident set on a CPU.

On a CPU the figures are then extrapolated to esm2_t33_650M at the recipe's budget, on a model
of the memory one window adds, fitted to the two sizes measured (both have 20 heads):

    off  L * layer(E, H)                every layer keeps its activations, its H x T x T
                                        attention among them, for the backward pass
    on   k * layer(E, H) + L * E * T * 4 bytes
                                        each layer keeps only its input; the activations of
                                        the layer being recomputed, and their gradients, exist
                                        k times at the peak
    layer(E, H) = T * (a * E + b * H * T)

with L layers, width E, H heads, T = 1024 tokens: the two sizes' "off" figures give a and b,
their "on" figures k (the larger of the two, to err high). It is an estimate of fp32 CPU memory
(resident set, so the allocator's slack is in it); under bf16 autocast on a GPU most
activations take half the bytes, the attention softmax does not. Figures are printed, never
asserted.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np

from idr_kit.nn.official import ESM2_SIZES
from idr_kit.model.runtime import Runtime
from idr_kit.tracks import make_track

WINDOW = 1022  # residues: ESM-2's full window (1024 tokens with <cls> and <eos>)
TOKENS = WINDOW + 2
GIB = 2 ** 30


def one_step(size: str, windows: int, checkpointing: bool, device: str) -> dict:
    """Build the track's LoRA model, then time and measure one training step."""
    import torch

    from idr_kit.data.records import make_protein
    from idr_kit.nn.device import autocast
    from idr_kit.nn.head import masked_bce
    from idr_kit.nn.pieces import cut, token_batch
    from idr_kit.token_clf.model import TokenStep
    runtime = Runtime(device=device, checkpoint_activations=checkpointing)
    track = make_track("esm", runtime=runtime, backbone=size, from_scratch=True, mode="lora")
    track._prepare()  # the untrained model as fit() builds it, checkpointing as the runtime says
    rng = np.random.default_rng(0)
    proteins = [make_protein(f"w{i}", "".join(rng.choice(list("ACDEFGHIKLMNPQRSTVWY"), WINDOW)),
                             rng.integers(0, 2, WINDOW)) for i in range(windows)]
    batch = token_batch(cut(proteins, WINDOW, 0), track.model_.encoder.vocab)
    batch = {k: v.to(track.device_) for k, v in batch.items()}
    step = TokenStep(track.model_).train()
    params = [p for p in step.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(params, lr=1e-4)
    cuda = track.device_.type == "cuda"
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
    else:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    start = time.perf_counter()
    with autocast(track.device_, runtime.precision):
        logits = step(batch)
    loss = masked_bce(logits, batch["labels"], batch["mask"])
    loss.backward()
    optimiser.step()
    if cuda:
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated() - before
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before
    seconds = time.perf_counter() - start
    return {"size": size, "windows": windows, "checkpointing": checkpointing,
            "step_gib": peak / GIB, "seconds": seconds,
            "residues_per_s": windows * WINDOW / seconds, "loss": float(loss)}


def measure(size: str, windows: int, checkpointing: bool, device: str) -> dict:
    """``one_step`` in a fresh process (this script, with --one-step), so no allocation of
    another run is counted."""
    out = subprocess.run([sys.executable, __file__, "--one-step", size, str(windows),
                          "1" if checkpointing else "0", device], capture_output=True, text=True,
                         check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def per_window(rows: list[dict], size: str, checkpointing: bool) -> float:
    """GiB per window: the least-squares slope of memory over windows."""
    chosen = [r for r in rows if r["size"] == size and r["checkpointing"] == checkpointing]
    x = np.array([r["windows"] for r in chosen], float)
    y = np.array([r["step_gib"] for r in chosen])
    return float(np.polyfit(x, y, 1)[0]) if len(chosen) > 1 else float(y[0] / x[0])


def extrapolate(rows: list[dict], sizes: list[str], target: str, windows: int) -> dict:
    """Fit a and b (off) and k (on) on two measured sizes; the target's memory for
    ``windows`` windows, in GiB."""
    (s1, s2), T = sizes[:2], TOKENS
    dims = {s: ESM2_SIZES[s] for s in (s1, s2, target)}
    # off: m / (L T) = a E + b H T, for two sizes -> a, b
    lhs = np.array([[dims[s].embed_dim, dims[s].heads * T] for s in (s1, s2)], float)
    rhs = np.array([per_window(rows, s, False) / (dims[s].layers * T) for s in (s1, s2)])
    a, b = np.linalg.solve(lhs, rhs)

    def layer(d) -> float:
        return T * (a * d.embed_dim + b * d.heads * T)

    def stored(d) -> float:  # each layer's fp32 input, kept for the backward pass
        return d.layers * d.embed_dim * T * 4 / GIB

    k = max((per_window(rows, s, True) - stored(dims[s])) / layer(dims[s]) for s in (s1, s2))
    d = dims[target]
    return {"target": target, "windows": windows, "off_gib": windows * d.layers * layer(d),
            "on_gib": windows * (k * layer(d) + stored(d)), "layer_gib": layer(d),
            "a": a, "b": b, "k": k}


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--one-step"]:  # the child process of measure()
        size, windows, checkpointing, device = argv[1:5]
        print(json.dumps(one_step(size, int(windows), checkpointing == "1", device)))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", nargs="+", default=["esm2_t6_8M_UR50D", "esm2_t12_35M_UR50D"])
    parser.add_argument("--windows", nargs="+", type=int, default=[1, 2, 4])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--target", default="esm2_t33_650M_UR50D")
    parser.add_argument("--target-windows", type=int, default=16,
                        help="windows of the target's batch (16: the 650M recipe's budget)")
    parser.add_argument("--json", help="also write the rows here")
    args = parser.parse_args(argv)
    rows = []
    print(f"{'size':22} {'windows':>7} {'checkpointing':>13} {'step GiB':>9} {'res/s':>8}")
    for size in args.sizes:
        for checkpointing in (False, True):
            for windows in args.windows:
                row = measure(size, windows, checkpointing, args.device)
                rows.append(row)
                print(f"{size:22} {windows:7d} {str(checkpointing):>13} {row['step_gib']:9.2f} "
                      f"{row['residues_per_s']:8,.0f}", flush=True)
    result = {"rows": rows}
    if args.device == "cpu" and len(args.sizes) >= 2:
        found = extrapolate(rows, args.sizes, args.target, args.target_windows)
        result["extrapolated"] = found
        print(f"\nextrapolated to {args.target}, {args.target_windows} windows of {WINDOW} "
              f"residues (fp32 activations): without checkpointing {found['off_gib']:.1f} GiB, "
              f"with per-layer checkpointing {found['on_gib']:.1f} GiB")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(result, handle, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
