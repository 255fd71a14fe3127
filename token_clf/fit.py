"""Train a token_clf track and save it, on one device or many under torchrun.

    python -m token_clf.fit --track esm --weights esm2_t33_650M_UR50D.pt --train train.pkl --out runs/esm
    torchrun --nproc_per_node 4 -m token_clf.fit --track esm --set mode=lora --train train.pkl --out runs/esm

Every process trains (DistributedDataParallel keeps their weights identical); the first one
writes OUT/model/, which ``submit.py --model OUT/model --test TEST`` then predicts with. Out-of-
fold threshold tuning is submit.py's job: this script saves the model with the 0.5 threshold
unless --threshold is given.
"""
from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import torch

from data.load import read_proteins
from tracks import make_track, parse_overrides, read_recipe, save_track, track_class

TOKEN_TRACKS = ("esm", "bert")
DEFAULT_THRESHOLD = 0.5


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m token_clf.fit", description=__doc__.split("\n\n")[0])
    parser.add_argument("--track", choices=TOKEN_TRACKS, default="esm")
    parser.add_argument("--train", type=Path, action="append", required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--backbone")
    parser.add_argument("--weights")
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
    for name in ("backbone", "weights"):
        if getattr(args, name):
            overrides[name] = getattr(args, name)
    if args.from_scratch:
        overrides["from_scratch"] = True
    overrides.setdefault("seed", args.seed)
    overrides.setdefault("checkpoint_dir", str(args.out / "checkpoints"))
    return overrides


def checksum(model: torch.nn.Module) -> str:
    """A digest of every weight: equal on every process when DDP kept them in step."""
    digest = hashlib.sha256()
    for name, value in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(value.detach().float().cpu().numpy().tobytes())
    return digest.hexdigest()[:16]


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    train = [p for path in args.train for p in read_proteins(path)]
    track = make_track(args.track, **overrides_from(args)).fit(train)
    here = track.world_
    print(f"rank {here.rank}/{here.size}: {track.history_.steps} steps, "
          f"weights {checksum(track.model_)}", flush=True)
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
