"""Where the work runs: device, precision, and the process group under ``torchrun``.

One process per GPU under ``torchrun`` (DistributedDataParallel); a plain ``python`` run is a
world of one. On CPU the same code runs with the gloo backend, which is how the tests check it.
"""
from __future__ import annotations

import contextlib

import torch
import torch.distributed as dist

from idr_kit.data.errors import SettingError
from idr_kit.model.runtime import DEVICES, PRECISIONS, World


def start_group(device: torch.device) -> World:
    """Join the process group when launched by torchrun (nccl on GPU, gloo on CPU).

    On GPUs each process first makes its own GPU (``LOCAL_RANK``) the current one and binds
    the group to it, so nothing, a barrier included, opens a context on GPU 0 from every rank.
    """
    here = World.from_env()
    if here.size > 1 and not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
            dist.init_process_group("nccl", device_id=device)
        else:
            dist.init_process_group("gloo")
    return here


def start(runtime) -> tuple[torch.device, World]:
    """Where a track runs, from its ``runtime.Runtime``: torch's CPU threads set, the device
    picked, the process group joined under torchrun."""
    torch.set_num_threads(runtime.cpu_threads)  # torch's default counts the machine's CPUs
    device = pick_device(runtime.device)
    return device, start_group(device)


def pick_device(name: str) -> torch.device:
    if name not in DEVICES:
        raise SettingError(f"unknown device {name!r}; expected one of {', '.join(DEVICES)}")
    if name == "cpu" or (name == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise SettingError("device 'cuda' asked for, but torch sees no GPU")
    return torch.device("cuda", World.from_env().local_rank)


def compute_dtype(device: torch.device, precision: str) -> str:
    """What the backbone computes in: "bf16" on GPU ('auto' or 'bf16'), else "fp32" (on CPU
    bf16 is slower here)."""
    if precision not in PRECISIONS:
        raise SettingError(f"unknown precision {precision!r}; expected one of "
                           f"{', '.join(PRECISIONS)}")
    return "bf16" if device.type == "cuda" and precision in ("auto", "bf16") else "fp32"


def autocast(device: torch.device, precision: str):
    """bf16 autocast where ``compute_dtype`` says bf16; full fp32 otherwise."""
    if compute_dtype(device, precision) == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type="cuda", dtype=torch.bfloat16)


def all_sum(values: list[float], device: torch.device) -> list[float]:
    """Element-wise sum over every process (the identity in a world of one)."""
    if not (dist.is_available() and dist.is_initialized()):
        return values
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return tensor.tolist()
