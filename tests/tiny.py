"""Tiny settings of every registered track: seconds of training on a CPU, real code paths.

The contract suite (test_contract.py) and the competition scenario (test_scenario.py) run over
``tracks.TRACKS`` itself, so registering a track puts it under both; a track missing here fails
``test_every_registered_track_has_tiny_settings`` until it gets an entry. ``VARIANTS`` adds
options that change what a track computes (lgbm with embeddings) as cases of their own. The torch tracks load
random-weight models written in their official file layouts (layouts.py).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from idr_kit.model.runtime import Runtime

# One thread: on this shared 2-core machine tiny matmuls run several times faster than with two.
RUNTIME = Runtime(device="cpu", threads=1)
TORCH_WINDOWS = dict(window=64, overlap=16, token_budget=2048)


def _esm(folder: Path) -> dict[str, Any]:
    from layouts import write_esm_checkpoint
    weights = folder / "esm2_t2_tiny.pt"
    if not weights.is_file():
        write_esm_checkpoint(weights, 2, 32, 4, seed=0)
    return dict(backbone="esm2_t2_tiny", weights=str(weights), mode="lora", epochs=2,
                head_hidden=8, head_kernel=5, **TORCH_WINDOWS)


def _hf_bert(folder: Path) -> str:
    from layouts import write_hf_bert_dir
    where = folder / "hf_bert"
    if not where.is_dir():
        write_hf_bert_dir(where, 2, 32, 4, seed=0)
    return str(where)


def _bert(folder: Path) -> dict[str, Any]:
    return dict(backbone=_hf_bert(folder), mode="frozen", epochs=2, head_hidden=0,
                **TORCH_WINDOWS)


def _lgbm_plm(folder: Path) -> dict[str, Any]:
    return dict(TINY["lgbm"](folder), embeddings=_hf_bert(folder), embedding_dims=4,
                embedding_widths=(1, 5))


def _llm(folder: Path) -> dict[str, Any]:
    from layouts import write_qwen_dir
    where = folder / "tiny-qwen2"
    if not where.is_dir():
        write_qwen_dir(where, seed=0)
    return dict(model_name=str(where), mode="head", epochs=1, lora_r=4, head_hidden=0,
                **TORCH_WINDOWS)


def _ensemble(folder: Path) -> dict[str, Any]:
    return dict(members=("w2v", "lgbm"), folds=2,
                member_settings=("w2v.vector_size=20", "lgbm.vector_size=8",
                                 "lgbm.num_rounds=40", "lgbm.early_stopping_rounds=10"))


# name -> settings, given a folder to write model files into (reused when already there).
TINY: dict[str, Callable[[Path], dict[str, Any]]] = {
    "w2v": lambda folder: dict(vector_size=20),
    "lgbm": lambda folder: dict(vector_size=8, num_rounds=40, early_stopping_rounds=10),
    "esm": _esm,
    "bert": _bert,
    "llm": _llm,
    "metapredict": lambda folder: {},
    "bilstm": lambda folder: dict(embed=8, conv_channels=8, conv_kernel=5, hidden=8, epochs=2),
    "ensemble": _ensemble,
    "distilled": lambda folder: dict(embed=8, conv_channels=8, conv_kernel=5, hidden=8,
                                     epochs=2),
    "convnet": lambda folder: dict(channels=8, dilations=(1, 2), epochs=2),
}


# Options that change what a track computes, checked as if they were tracks of their own:
# case name -> (track, settings).
VARIANTS: dict[str, tuple[str, Callable[[Path], dict[str, Any]]]] = {
    "lgbm+plm": ("lgbm", _lgbm_plm),
    # the shipped predictor's kind: metapredict V3's scores read as inputs
    "convnet+metapredict": ("convnet", lambda folder: dict(
        TINY["convnet"](folder), members=("metapredict",), networks=("stacked", "residues"))),
}
CASES = sorted([*TINY, *VARIANTS])  # what the contract suite and the scenario run over


def track_of(case: str) -> str:
    return VARIANTS[case][0] if case in VARIANTS else case


def case_settings(case: str, folder: Path) -> dict[str, Any]:
    return (VARIANTS[case][1] if case in VARIANTS else TINY[case])(folder)


def member_settings(name: str, folder: Path) -> tuple[str, ...]:
    """A member's tiny settings as the ensemble's ``member_settings`` entries."""
    return tuple(f"{name}.{key}={_text(value)}" for key, value in TINY[name](folder).items())


def as_set_pairs(settings: dict[str, Any]) -> list[str]:
    """Settings as submit.py's ``--set KEY=VALUE`` arguments."""
    return [arg for key, value in settings.items() for arg in ("--set", f"{key}={_text(value)}")]


def _text(value) -> str:
    return ",".join(map(str, value)) if isinstance(value, tuple) else str(value)
