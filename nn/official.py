"""Published ESM-2 sizes, where their weights live, known digests, and reading the official file.

Importable without torch (the configs ask ``is_esm_name``); torch is imported where a file is read.
(tests/layouts.py writes tiny random models in exactly these layouts, so tests and benchmarks
exercise the real loading code.)
"""
from __future__ import annotations

import argparse
import pickle
from dataclasses import dataclass
from pathlib import Path

from idr_kit.data.errors import UserError


@dataclass(frozen=True)
class EsmSize:
    layers: int
    embed_dim: int
    heads: int
    params: int  # of fair-esm's ESM2 module (tied LM head counted once, contact head included)

    @property
    def dims(self) -> tuple[int, int, int]:
        return self.layers, self.embed_dim, self.heads


# The ESM-2 models fair-esm publishes; the name says layers (t6) and nominal size (8M). The
# parameter counts were computed by building each ESM2 module on the meta device.
ESM2_SIZES: dict[str, EsmSize] = {
    "esm2_t6_8M_UR50D": EsmSize(6, 320, 20, 7_512_474),
    "esm2_t12_35M_UR50D": EsmSize(12, 480, 20, 33_501_394),
    "esm2_t30_150M_UR50D": EsmSize(30, 640, 20, 148_140_154),
    "esm2_t33_650M_UR50D": EsmSize(33, 1280, 20, 651_043_254),
    "esm2_t36_3B_UR50D": EsmSize(36, 2560, 40, 2_839_005_634),
    "esm2_t48_15B_UR50D": EsmSize(48, 5120, 40, 15_129_100_194),
}
MODEL_URL = "https://dl.fbaipublicfiles.com/fair-esm/models/{name}.pt"
# fair-esm's ESM-2 names all start so (and its loader picks the ESM-2 code by the name): any
# other backbone name is a transformers directory or hub id, or "antiberty".
ESM_PREFIX = "esm2_t"
REGRESSION_SUFFIX = "-contact-regression.pt"

# sha256 of official weights files, keyed by file name (fair-esm: NAME.pt; a transformers
# checkpoint: DIR/FILE). Only digests truly established are listed: none could be for ESM-2
# (fair-esm ships and checks none), so an ESM file's digest is recorded at load time instead
# (Encoder.source) and checked when a saved model is rebuilt.
KNOWN_SHA256: dict[str, str] = {
    # antiberty==0.1.3 wheel, antiberty/trained_models/AntiBERTy_md_smooth/pytorch_model.bin:
    # computed from the installed file and equal to the digest in the wheel's RECORD.
    "AntiBERTy_md_smooth/pytorch_model.bin":
        "f1ae33eac8cc8784a7d4be5a600141d2fa7bc7d8d5b3f5324d64a6a63bd0f137",
}


class WeightsMismatch(UserError, ValueError):
    """A weights file is not what its name or a saved model says it is."""


def is_esm_name(name: str) -> bool:
    """Whether a backbone name is a fair-esm ESM-2 (``esm2_t33_650M_UR50D``, or any
    ``esm2_t*`` name given with its weights file), rather than a path that exists."""
    return name.startswith(ESM_PREFIX) and not Path(name).exists()


def model_url(name: str) -> str:
    return MODEL_URL.format(name=name)


def check_known_digest(official_name: str, digest: str, path: Path, *, verify: bool = True) -> None:
    """Raise WeightsMismatch when ``official_name`` has a known digest that ``digest`` is not.

    An error, not a warning: a file named as an official checkpoint with other bytes is a
    truncated download or a different model under the official name, and results from it would
    be reported as the official model's. A deliberately changed file can be renamed, or loaded
    with verify=False.
    """
    known = KNOWN_SHA256.get(official_name)
    if verify and known is not None and known != digest:
        raise WeightsMismatch(
            f"{path}: sha256 {digest} does not match the official {official_name} ({known}); "
            "download it again, or pass verify=False to use this file anyway")


def read_esm_checkpoint(path: Path) -> dict:
    """A fair-esm ``.pt`` (weights or contact regression) as the dict it pickles."""
    # The official files pickle their config as an argparse.Namespace, which torch >= 2.6's
    # weights_only loader refuses; allowing that one class keeps the safe loader for the rest.
    import torch
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            return torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError) as err:
        raise WeightsMismatch(f"{path}: not a loadable fair-esm checkpoint ({err})") from err


def check_esm_architecture(name: str, model_data: dict, path: Path) -> None:
    """Raise WeightsMismatch unless the checkpoint's cfg has the published size of ``name``."""
    cfg = model_data.get("cfg", {}).get("model") if isinstance(model_data, dict) else None
    if cfg is None:
        raise WeightsMismatch(f"{path}: not a fair-esm ESM-2 checkpoint (no cfg['model'])")
    found = (cfg.encoder_layers, cfg.encoder_embed_dim, cfg.encoder_attention_heads)
    if name in ESM2_SIZES and found != ESM2_SIZES[name].dims:
        raise WeightsMismatch(f"{path} holds an ESM-2 of {_dims_text(found)}, but {name} has "
                              f"{_dims_text(ESM2_SIZES[name].dims)}; name the model the file holds")


def _dims_text(dims: tuple[int, int, int]) -> str:
    return "{} layers, embed dim {}, {} heads".format(*dims)


def esm_dims(name_or_dims: str | tuple[int, int, int]) -> tuple[int, int, int]:
    """(layers, embed_dim, heads) of a published name, or the tuple itself."""
    if isinstance(name_or_dims, str):
        if name_or_dims not in ESM2_SIZES:
            raise WeightsMismatch(f"unknown ESM-2 model {name_or_dims!r}; "
                             f"published: {', '.join(ESM2_SIZES)}")
        return ESM2_SIZES[name_or_dims].dims
    return tuple(name_or_dims)


def esm2_module(layers: int, embed_dim: int, heads: int):
    """A fair-esm ESM2 with the ESM-1b alphabet, randomly initialised from torch's global RNG."""
    import esm
    from esm.model.esm2 import ESM2
    alphabet = esm.data.Alphabet.from_architecture("ESM-1b")
    return ESM2(num_layers=layers, embed_dim=embed_dim, attention_heads=heads,
                alphabet=alphabet, token_dropout=True)


def regression_path(path: Path) -> Path:
    return path.with_name(path.stem + REGRESSION_SUFFIX)
