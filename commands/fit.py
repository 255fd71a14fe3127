"""Train a track and save it, on one device or many under torchrun / accelerate launch.

    python -m idr_kit.commands.fit --track esm --weights esm2_t33_650M_UR50D.pt --train train.pkl --out runs/esm
    torchrun --nproc_per_node 4 -m idr_kit.commands.fit --track esm --set mode=lora --train train.pkl --out runs/esm
    torchrun --nproc_per_node 8 -m idr_kit.commands.fit --track llm --model-name DIR --train train.pkl --out runs/llm
    accelerate launch --num_processes 8 -m idr_kit.commands.fit --track llm --model-name DIR --train train.pkl --out runs/llm

Every process trains (DistributedDataParallel keeps their weights identical, and each prints a
digest of what it learnt); the first one writes OUT/model/, which ``submit.py --model OUT/model
--test TEST`` then predicts with. Out-of-fold threshold tuning is submit.py's job: this script
saves the model with the 0.5 threshold unless --threshold is given.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from idr_kit.commands.common import (add_track_options, command_parser, guarded, settings_help,
                                     track_in, track_settings, with_checkpoints)
from idr_kit.run.pipeline import default_decision, describe_inputs, read_training
from idr_kit.run.folder import check_writable, terminate_as_interrupt
from idr_kit.model.runtime import World
from idr_kit.model.saved import save_model
from idr_kit.tracks import make_track


def build_parser(prog: str = "idr-fit", shown: str | None = None) -> argparse.ArgumentParser:
    """``shown``: the track whose settings --help lists in full."""
    parser = command_parser(prog, __doc__.split("\n\n")[0],
                            formatter_class=argparse.RawDescriptionHelpFormatter,
                            epilog="Settings (--set KEY=VALUE, or in a --recipe file):\n"
                                   + settings_help(shown))
    parser.add_argument("--train", type=Path, action="append", required=True,
                        help="labelled training file; repeat to pool several")
    parser.add_argument("--out", type=Path, required=True,
                        help="the output folder: the model goes to OUT/model")
    add_track_options(parser)
    return parser


def fit(args) -> None:
    settings = track_settings(args)
    runtime = with_checkpoints(settings.runtime, args.out)
    check_writable(args.out)  # before training, not after it
    train, sizes = read_training(args.train)
    track = make_track(settings.name, settings.config, runtime).fit(train)
    here = World.from_env()
    # One write per line: the processes share one stdout, and a write this short is atomic.
    sys.stdout.write(f"rank {here.rank}/{here.size}: state {track.state_digest()}\n")
    sys.stdout.flush()
    if here.main:
        decision = default_decision(args.threshold, "fit.py tunes no threshold; submit.py does")
        save_model(track, args.out / "model", decision,
                   train=describe_inputs(args.train, sizes))
        print(f"wrote {args.out / 'model'}")
    _leave_process_group()


def _leave_process_group() -> None:
    """Wait for every process, then leave the group (only when torch made one)."""
    distributed = sys.modules.get("torch.distributed")
    if distributed is not None and distributed.is_initialized():
        distributed.barrier()
        distributed.destroy_process_group()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(shown=track_in(argv))
    args = parser.parse_args(argv)
    terminate_as_interrupt()
    return guarded(parser.prog, args.debug, lambda: fit(args))


if __name__ == "__main__":
    sys.exit(main())
