"""Where and how a track runs: never part of what it learns, never saved with a model.

``Runtime`` is given by the caller every time (the command line, a test, a bench) and read
back from nowhere: a model folder cannot steer where a run writes or whether it downloads.
``World`` is this process's place in a ``torchrun`` launch (a world of one otherwise).
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

from idr_kit.data.cpus import cpu_budget
from idr_kit.data.errors import SettingError

DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("auto", "fp32", "bf16")  # auto: bf16 on a GPU, fp32 on a CPU


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_env(cls) -> "World":
        return cls(int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)),
                   int(os.environ.get("LOCAL_RANK", 0)))


@dataclass(frozen=True)
class Runtime:
    device: str = "auto"  # auto | cpu | cuda
    precision: str = "auto"  # auto (bf16 on GPU, fp32 on CPU) | bf16 | fp32
    threads: int = 0  # CPU threads for torch, LightGBM, ONNX Runtime; 0: data.cpus.cpu_budget()
    checkpoint_dir: str = ""  # resumable work (epochs, folds, ensemble members); "": none
    cache_dir: str = ""  # reusable derived data (frozen-backbone embeddings) on disk; "": none
    cache_gb: float = 8.0  # embeddings kept in memory
    checkpoint_activations: bool = True  # recompute activations in backward: less GPU memory
    downloads: bool = True  # may fetch pretrained weights from the hub (else: local files only)

    def __post_init__(self):
        if self.device not in DEVICES:
            raise SettingError(f"unknown device {self.device!r}; expected one of {', '.join(DEVICES)}")
        if self.precision not in PRECISIONS:
            raise SettingError(f"unknown precision {self.precision!r}; expected one of "
                               f"{', '.join(PRECISIONS)}")
        if not (0 <= self.threads <= 4096 and 0 <= self.cache_gb <= 1e6):
            raise SettingError(f"threads must be 0 to 4096 and cache_gb 0 to 1e6, got "
                               f"{self.threads} and {self.cache_gb}")

    @property
    def cpu_threads(self) -> int:
        """The threads a library is told to use: ``threads``, else ``data.cpus.cpu_budget()``
        (a library's own default counts the machine's CPUs, not a job's share of them)."""
        return self.threads or cpu_budget()

    def under(self, *parts: str) -> "Runtime":
        """The same runtime with checkpoints in a sub-folder (a fold's, a member's)."""
        if not self.checkpoint_dir:
            return self
        return dataclasses.replace(self, checkpoint_dir=str(Path(self.checkpoint_dir, *parts)))

    @property
    def offline(self) -> bool | None:
        """For the weight loaders: True when downloads are off; None lets the environment
        (HF_HUB_OFFLINE, IDR_OFFLINE) decide."""
        return True if not self.downloads else None

    def checkpoint_path(self, *parts: str) -> Path | None:
        return Path(self.checkpoint_dir, *parts) if self.checkpoint_dir else None
