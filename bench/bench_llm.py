"""Cost of the llm track: a LoRA training step and prediction, each against a Hugging Face peer.

    python bench/bench_llm.py                          # GPU: Qwen2.5-7B, 7 x 512 residues
    python bench/bench_llm.py --model 7b --length 512 --batch 7 --residues 8000
    python bench/bench_llm.py --model tiny --device cpu --threads 1  # CPU: regression tracking

The model is Qwen2.5-7B-Instruct's real architecture (``tests/layouts.py``'s ``QWEN2_5_7B``) with random
weights, bf16 on a GPU (speed and memory do not depend on the weights' values), or the tiny
two-layer Qwen2 of the tests in fp32 on CPU. Nothing is written but config.json and the real
Qwen2.5 tokenizer files: the track builds the weights on the device itself (``from_scratch``),
LoRA on every linear projection and gradient checkpointing as its config sets them.

For each mode (generate, head), in the same run:

  train    ``--steps`` AdamW steps on one batch of ``--batch`` valid.fasta pieces cut to
           ``--length`` residues, after a warm-up step; tokens/s counts the batch's real
           (non-pad) tokens, residues/s its labelled residues; peak GPU memory on CUDA.
           generate: ours (``SftStep`` + ``sft_objective``: the output layer only where a
           target is) against the standard Hugging Face SFT step on the same batch and LoRA
           model, ``lm(input_ids, attention_mask, position_ids, labels)``, which computes
           full-vocabulary logits at every position; both print their loss, which must agree.
           head: ``HeadStep`` + masked BCE, against generate mode's residues/s and memory.
  predict  ``predict_proba`` on valid.fasta proteins up to the track's window (``--residues``
           in all). generate: ours (``decode.label_probs``) against Hugging Face
           ``lm.generate`` (greedy, exactly one label token per residue through a logits
           processor that notes P(label = 1) and masks every other token) on the same
           length-sorted batches; the two answers' largest difference is printed too.
           head: one forward pass, against generate mode's residues/s.

Each contender is timed turn about with its peer, best of ``--repeats``; ratios are ours/peer
(above 1 is faster, or more memory). Figures are printed, never asserted: machines are shared.
The default batch, 7 x 512 residues (about 1,110 prompt and answer tokens each), is what the
track's default token budget (8,192 padded tokens) packs.
"""
from __future__ import annotations

import argparse
import gc
import math
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from idr_kit.data.load import read_proteins
from idr_kit.llm_sft.batches import example_batch, prompt_batch
from idr_kit.llm_sft.config import MODES, LlmConfig
from idr_kit.llm_sft.model import HeadStep, SftStep, positions, sft_objective
from idr_kit.llm_sft.prompts import IGNORE_INDEX
from idr_kit.llm_sft.tokens import encode_example, encode_prompt
from idr_kit.nn.backbones import enable_checkpointing
from idr_kit.nn.device import autocast, pick_device
from idr_kit.nn.pieces import cut
from idr_kit.nn.train import bce_objective
from idr_kit.model.runtime import Runtime
from idr_kit.tracks import make_track

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the tests' fixtures
import layouts  # noqa: E402
from bench_token_clf import sample  # valid.fasta proteins that fit one window
from benchdata import data_file

GIB = 2 ** 30
# Per model: residues per training piece, pieces per batch, timed steps, repeats, and residues
# to predict.
DEFAULTS = {"7b": dict(length=512, batch=7, steps=3, repeats=2, residues=8000),
            "tiny": dict(length=64, batch=4, steps=3, repeats=2, residues=2000)}


@dataclass(frozen=True)
class Row:
    figure: str
    ours: float
    peer: float = math.nan
    peer_name: str = ""

    def text(self) -> str:
        ratio = self.ours / self.peer if self.peer else math.nan
        return (f"{self.figure:30} {_num(self.ours):>12} {_num(self.peer):>12} {_num(ratio, 3):>9}"
                f"  {self.peer_name}")


def _num(value: float, digits: int | None = None) -> str:
    """'-' for nan; whole numbers from 100 up, two decimals below, unless ``digits`` says."""
    if math.isnan(value):
        return "-"
    if digits is None:
        digits = 0 if abs(value) >= 100 else 2
    return f"{value:,.{digits}f}"


# -- model and data ---------------------------------------------------------------------------
def write_model_dir(size: str, directory: Path) -> Path:
    """config.json and the tokenizer files only: the weights are made on the device."""
    config = layouts.qwen_config() if size == "7b" else layouts.tiny_config()
    config.save_pretrained(directory)
    layouts.write_tokenizer(directory)
    return directory


def base_on_device(source: str, *, dtype, device, from_scratch: bool, offline):
    """A random base drawn on the GPU itself: the track draws a from-scratch base on the CPU
    (so that a saved model finds its base again on any device), which for 7.6 B parameters
    would spend a minute of lent GPU time; a benchmark's weights need no such care."""
    from transformers import AutoConfig, AutoModelForCausalLM
    config = AutoConfig.from_pretrained(source)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    model.config.use_cache = False
    return model


def ready_track(mode: str, directory: Path, args):
    """The track built as ``fit`` builds it (random base, LoRA, checkpointing), untrained."""
    if pick_device(args.device).type == "cuda":
        import idr_kit.llm_sft.track as llm_track
        llm_track.load_causal_lm = base_on_device
    runtime = Runtime(device=args.device, threads=args.threads)
    track = make_track("llm", runtime=runtime, model_name=str(directory), from_scratch=True,
                       mode=mode)
    track._setup()
    track._build()
    if runtime.checkpoint_activations:
        enable_checkpointing(track.lm_)
    track.fitted_ = True  # untrained weights: speed and memory do not depend on their values
    return track


def training_pieces(length: int, batch: int) -> list:
    """The first ``batch`` labelled valid.fasta pieces of exactly ``length`` residues."""
    pieces = [p for p in cut(read_proteins(data_file("valid.fasta")), length, 0) if len(p) == length]
    if len(pieces) < batch:
        raise ValueError(f"valid.fasta has only {len(pieces)} pieces of {length} residues")
    return pieces[:batch]


# -- timing -----------------------------------------------------------------------------------
def measured(run, device: torch.device) -> tuple[float, float]:
    """(seconds, peak GPU memory in GiB; nan on CPU) of one call of ``run``."""
    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    run()
    if cuda:
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - start
    return seconds, torch.cuda.max_memory_allocated(device) / GIB if cuda else math.nan


def best_alternating(repeats: int, runs: dict, device: torch.device) -> dict:
    """name -> (best seconds, largest peak GiB) of runs timed turn about: drift hits all alike."""
    seen: dict = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            seen[name].append(measured(run, device))
    return {name: (min(s for s, _ in got), max(m for _, m in got)) for name, got in seen.items()}


# -- training step ----------------------------------------------------------------------------
def hf_labels(targets: torch.Tensor) -> torch.Tensor:
    """Our targets are shifted (targets[t] is the token at t + 1); Hugging Face shifts itself."""
    labels = torch.full_like(targets, IGNORE_INDEX)
    labels[:, 1:] = targets[:, :-1]
    return labels


def our_sft_loss(track, batch: dict) -> torch.Tensor:
    return sft_objective(SftStep(track.lm_)(batch), batch)[0]


def hf_sft_loss(track, batch: dict) -> torch.Tensor:
    attention = batch["attention"]
    return track.lm_(input_ids=batch["ids"], attention_mask=attention.long(),
                     position_ids=positions(attention), labels=hf_labels(batch["targets"])).loss


def head_loss(track, batch: dict) -> torch.Tensor:
    return bce_objective()(HeadStep(track.lm_, track.head_)(batch), batch)[0]


def steps_of(loss_of, track, batch: dict, optimiser, steps: int):
    """A run of ``steps`` optimiser steps as the training loop takes them (no schedule)."""
    params = [p for group in optimiser.param_groups for p in group["params"]]

    def run() -> None:
        for _ in range(steps):
            with autocast(track.device_, track.runtime.precision):
                loss = loss_of(track, batch)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, track.config.grad_clip)
            optimiser.step()
            optimiser.zero_grad(set_to_none=True)
    return run


def training_batch(track, pieces) -> dict:
    vocab = track.vocab_
    if track.config.mode == "generate":
        examples = [encode_example(p.seq, p.labels, p.mask, vocab) for p in pieces]
        batch = example_batch(examples, vocab.pad)
    else:
        batch = prompt_batch([encode_prompt(p.seq, vocab) for p in pieces], pieces, vocab.pad)
    return {k: v.to(track.device_) for k, v in batch.items()}


def print_losses(track, batch: dict, losses: dict) -> None:
    """Each contender's loss on the same weights, before any step: one objective, one number."""
    track.lm_.eval()
    if track.head_ is not None:
        track.head_.eval()
    with torch.no_grad(), autocast(track.device_, track.runtime.precision):
        got = {name: float(loss_of(track, batch)) for name, loss_of in losses.items()}
    print("  loss before training: " + ", ".join(f"{n} {v:.6f}" for n, v in got.items()),
          flush=True)


def bench_training(track, pieces, args) -> dict:
    """name -> (tokens/s, residues/s, peak GiB) of training steps, after one warm-up step each."""
    batch = training_batch(track, pieces)
    losses = ({"ours": our_sft_loss, "HF SFT": hf_sft_loss} if track.config.mode == "generate"
              else {"ours": head_loss})
    print_losses(track, batch, losses)
    parts = [track.lm_] + ([track.head_] if track.head_ is not None else [])
    for part in parts:
        part.train()
    optimiser = torch.optim.AdamW([p for part in parts for p in part.parameters()
                                   if p.requires_grad], lr=track.config.lr)
    for loss_of in losses.values():
        steps_of(loss_of, track, batch, optimiser, 1)()
    runs = {name: steps_of(f, track, batch, optimiser, args.steps) for name, f in losses.items()}
    best = best_alternating(args.repeats, runs, track.device_)
    tokens, residues = int(batch["attention"].sum()), sum(len(p) for p in pieces)
    return {name: (tokens * args.steps / s, residues * args.steps / s, peak)
            for name, (s, peak) in best.items()}


# -- prediction -------------------------------------------------------------------------------
class KeepLabels:
    """A logits processor: notes P(label = 1) from the two label logits, then masks all others."""

    def __init__(self, label_ids: tuple[int, int]):
        self.label_ids, self.p1 = list(label_ids), []

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        pair = scores[:, self.label_ids].float()  # (B, 2)
        self.p1.append(torch.softmax(pair, dim=-1)[:, 1])
        kept = torch.full_like(scores, -math.inf)
        kept[:, self.label_ids] = scores[:, self.label_ids]
        return kept


def hf_label_probs(track, batch: dict, lengths: list[int]) -> list[np.ndarray]:
    """Hugging Face's greedy ``generate``, one label token per residue; P(1) at each step."""
    from transformers import LogitsProcessorList
    keep, n = KeepLabels(track.vocab_.labels), max(lengths)
    track.lm_.generate(input_ids=batch["ids"].to(track.device_),
                       attention_mask=batch["attention"].long().to(track.device_),
                       max_new_tokens=n, min_new_tokens=n, do_sample=False, num_beams=1,
                       logits_processor=LogitsProcessorList([keep]),
                       pad_token_id=track.vocab_.pad, use_cache=True)
    table = torch.stack(keep.p1, dim=1).cpu().numpy()  # (B, n)
    return [table[row, :m] for row, m in enumerate(lengths)]


def hf_generate(track, proteins) -> list[np.ndarray]:
    """P(1) per protein through ``generate``, over the batches ``predict_proba`` would form."""
    pieces, prompts = track._prompted(proteins)  # one piece per protein: none exceeds the window
    sizes = [len(q.ids) + len(p) for p, q in zip(pieces, prompts)]
    values: list = [None] * len(pieces)
    track.lm_.eval()
    for index in track._group(sizes, None):
        chunk = [pieces[i] for i in index]
        batch = prompt_batch([prompts[i] for i in index], chunk, track.vocab_.pad)
        with autocast(track.device_, track.runtime.precision):
            probs = hf_label_probs(track, batch, [len(p) for p in chunk])
        for i, p in zip(index, probs):
            values[i] = p
    return values


def bench_prediction(track, proteins, args) -> dict:
    """name -> residues/s of ``predict_proba`` (and of HF generate in generate mode)."""
    out: dict = {}
    runs = {"ours": lambda: out.update(ours=track.predict_proba(proteins))}
    if track.config.mode == "generate":
        runs["HF generate"] = lambda: out.update(peer=hf_generate(track, proteins))
    track.predict_proba(proteins[:1])  # warm-up: first calls pay for kernels and allocations
    if track.config.mode == "generate":
        hf_generate(track, proteins[:1])
    best = best_alternating(args.repeats, runs, track.device_)
    if "peer" in out:
        gap = max(float(np.abs(a - b).max()) for a, b in zip(out["ours"], out["peer"]))
        print(f"  largest |P(1) ours - P(1) HF generate| {gap:.2e}", flush=True)
    residues = sum(len(p) for p in proteins)
    return {name: residues / s for name, (s, _) in best.items()}


# -- the run ----------------------------------------------------------------------------------
def bench_mode(mode: str, directory: Path, pieces, proteins, args) -> dict:
    track = ready_track(mode, directory, args)
    device = track.device_
    parts = [track.lm_] + ([track.head_] if track.head_ is not None else [])
    trainable = sum(p.numel() for part in parts for p in part.parameters()
                    if p.requires_grad)
    resident = (f", model resident {torch.cuda.memory_allocated(device) / GIB:.2f} GiB"
                if device.type == "cuda" else "")
    print(f"{mode}: {trainable:,} trainable parameters{resident}", flush=True)
    figures = {"train": bench_training(track, pieces, args),
               "predict": bench_prediction(track, proteins, args)}
    del track
    gc.collect()  # the next mode's model must not share the GPU with this one
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return figures


def table_rows(found: dict) -> list[Row]:
    rows, gen = [], found.get("generate")
    if gen:
        (tok, _, peak), (hf_tok, _, hf_peak) = gen["train"]["ours"], gen["train"]["HF SFT"]
        rows += [Row("train generate tokens/s", tok, hf_tok, "HF SFT step"),
                 Row("train generate peak GiB", peak, hf_peak, "HF SFT step"),
                 Row("predict generate residues/s", gen["predict"]["ours"],
                     gen["predict"]["HF generate"], "HF generate")]
    if "head" in found:
        _, res, peak = found["head"]["train"]["ours"]
        g_res, g_peak = (gen["train"]["ours"][1:] if gen else (math.nan, math.nan))
        rows += [Row("train head residues/s", res, g_res, "generate mode"),
                 Row("train head peak GiB", peak, g_peak, "generate mode"),
                 Row("predict head residues/s", found["head"]["predict"]["ours"],
                     gen["predict"]["ours"] if gen else math.nan, "generate mode")]
    return rows


def print_table(found: dict, args, device: torch.device, residues: int) -> None:
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"\ndevice {name}, model {args.model}, training batch {args.batch} x {args.length} "
          f"residues, {args.steps} steps, best of {args.repeats}; prediction {residues:,} "
          f"residues; torch threads {torch.get_num_threads()}")
    print(f"{'figure':30} {'ours':>12} {'peer':>12} {'ours/peer':>9}  peer")
    for row in table_rows(found):
        if not math.isnan(row.ours):  # peak memory is measured on CUDA only
            print(row.text())


def parse(argv) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=sorted(DEFAULTS),
                        default="7b" if torch.cuda.is_available() else "tiny")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    for name in DEFAULTS["7b"]:
        parser.add_argument(f"--{name}", type=int, default=None, help="default: per --model")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch CPU threads (0: torch's default); 1 steadies a shared CPU")
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    args = parser.parse_args(argv)
    for name, value in DEFAULTS[args.model].items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    return args


def main(argv=None) -> int:
    args = parse(argv)
    pieces = training_pieces(args.length, args.batch)
    proteins = sample(args.residues, LlmConfig.window)
    residues = sum(len(p) for p in proteins)
    print(f"{len(proteins)} valid.fasta proteins to predict ({residues:,} residues); training "
          f"batch {args.batch} x {args.length} residues", flush=True)
    with tempfile.TemporaryDirectory() as folder:
        directory = write_model_dir(args.model, Path(folder))
        found = {mode: bench_mode(mode, directory, pieces, proteins, args) for mode in args.modes}
    print_table(found, args, pick_device(args.device), residues)
    return 0


if __name__ == "__main__":
    sys.exit(main())
