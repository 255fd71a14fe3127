"""Train a GPU track (esm, bert, llm) and save it, on one device or many under torchrun.

    python -m idr_kit.token_clf.fit --track esm --weights esm2_t33_650M_UR50D.pt --train train.pkl --out runs/esm
    torchrun --nproc_per_node 4 -m idr_kit.token_clf.fit --track esm --set mode=lora --train train.pkl --out runs/esm
    torchrun --nproc_per_node 8 -m idr_kit.llm_sft.fit --model-name DIR --train train.pkl --out runs/llm
    accelerate launch --num_processes 8 -m idr_kit.llm_sft.fit --model-name DIR --train train.pkl --out runs/llm

Every process trains (DistributedDataParallel keeps their weights identical); the first one
writes OUT/model/, which ``submit.py --model OUT/model --test TEST`` then predicts with. Out-of-
fold threshold tuning is submit.py's job: this script saves the model with the 0.5 threshold
unless --threshold is given.
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import sys
from pathlib import Path

import torch

from idr_kit.data.load import read_proteins
from idr_kit.tracks import make_track, parse_overrides, read_recipe, save_track, track_class

GPU_TRACKS = ("esm", "bert", "llm")
DEFAULT_THRESHOLD = 0.5


def build_parser(prog: str = "python -m fit", track: str = "esm") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    parser.add_argument("--track", choices=GPU_TRACKS, default=track)
    parser.add_argument("--train", type=Path, action="append", required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--backbone")
    parser.add_argument("--weights")
    parser.add_argument("--model-name", help="llm: a local model directory or hub id")
    parser.add_argument("--from-scratch", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threshold", type=float,
                        help=f"0/1 threshold saved with the model (default {DEFAULT_THRESHOLD})")
    parser.add_argument("--recipe", type=Path, metavar="JSON", help="settings file (recipes/)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    return parser


def overrides_from(args) -> dict:
    config_cls = track_class(args.track).Config
    overrides = read_recipe(config_cls, args.recipe) if args.recipe else {}
    overrides.update(parse_overrides(config_cls, args.overrides))
    for name in ("backbone", "weights", "model_name"):
        if getattr(args, name):
            if name not in {f.name for f in dataclasses.fields(config_cls)}:
                raise ValueError(f"--{name.replace('_', '-')} does not apply to track {args.track!r}")
            overrides[name] = getattr(args, name)
    if args.from_scratch:
        overrides["from_scratch"] = True
    overrides.setdefault("seed", args.seed)
    overrides.setdefault("checkpoint_dir", str(args.out / "checkpoints"))
    return overrides


def checksum(model: torch.nn.Module) -> str:
    """A digest of the weights that trained: equal on every process when DDP kept them in step."""
    digest = hashlib.sha256()
    trained = {n: p for n, p in model.named_parameters() if p.requires_grad}
    for name, value in sorted(trained.items()):
        digest.update(name.encode())
        digest.update(value.detach().float().cpu().numpy().tobytes())
    return digest.hexdigest()[:16]


def main(argv: list[str] | None = None, *, prog: str = "python -m fit",
         default_track: str = "esm") -> int:
    args = build_parser(prog, default_track).parse_args(argv)
    train = [p for path in args.train for p in read_proteins(path)]
    track = make_track(args.track, **overrides_from(args)).fit(train)
    here = track.world_
    print(f"rank {here.rank}/{here.size}: {track.history_.steps} steps, "
          f"weights {checksum(track.trained_module())}", flush=True)
    if here.main:
        given = args.threshold is not None
        save_track(track, args.out / "model",
                   threshold=args.threshold if given else DEFAULT_THRESHOLD,
                   threshold_source="--threshold" if given else "default",
                   train=[str(p) for p in args.train])
        print(f"wrote {args.out / 'model'}")
    if torch.distributed.is_initialized():
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
