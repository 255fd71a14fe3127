"""Backbone encoders: ESM-2 through fair-esm, BERT-style models through ``transformers``.

Every loader returns an ``Encoder``: tokens (B, T) int64 and attention (B, T) bool, framed as
``align.encode_batch`` frames them, -> hidden (B, T, E). It carries the backbone's ``vocab``, the
longest protein it reads in one window (``max_residues``), the module names LoRA adapts, and
``source``: a JSON-able record of where the weights came from, so ``load_encoder`` can rebuild a
saved model's encoder and refuse a weights file that has changed since.

fair-esm, transformers and peft are imported inside the functions that need them.
"""
from __future__ import annotations

import contextlib
import http.client
import importlib.util
import logging
import os
import warnings
from pathlib import Path

import torch
from torch import nn

from idr_kit.data.digests import file_sha256
from idr_kit.data.errors import FileRefused, SettingError, UserError, brief
from idr_kit.nn.align import EXTRA_TOKENS, Vocab
from idr_kit.nn.official import (ESM2_SIZES, ESM_PREFIX, WeightsMismatch, check_esm_architecture,
                                 check_known_digest, esm2_module, esm_dims, is_esm_name, model_url,
                                 read_esm_checkpoint, regression_path)

log = logging.getLogger(__name__)

# ESM-2 was trained on crops of 1024 tokens (<cls> + 1022 residues + <eos>). Its rotary positions
# have no table to overflow, but no longer protein was ever seen, so longer ones are windowed.
ESM_MAX_RESIDUES = 1022
# fair-esm's attention projections; HF ESM and BERT call the same roles query/key/value/dense.
ESM_LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "out_proj")
HF_LORA_TARGETS = ("query", "key", "value", "dense")
OFFLINE_ENV = ("HF_HUB_OFFLINE", "IDR_OFFLINE")
ANTIBERTY = "antiberty"


class WeightsUnavailable(UserError, OSError):
    """Pretrained weights cannot be had here; the message says how to supply them.

    An OSError, like the missing file or unreachable server behind it.
    """


class Encoder(nn.Module):
    """A pretrained (or from-scratch) backbone: tokens (B, T), attention (B, T) -> hidden (B, T, E)."""

    def __init__(self, model: nn.Module, vocab: Vocab, *, max_residues: int, embed_dim: int,
                 lora_targets: tuple[str, ...], source: dict):
        super().__init__()
        self.model = model
        self.vocab, self.max_residues, self.embed_dim = vocab, max_residues, embed_dim
        self.lora_targets, self.source = lora_targets, source


class EsmEncoder(Encoder):
    def checkpoint_layers(self) -> None:
        """Keep only each layer's input for the backward pass and recompute the rest.

        fair-esm materialises every layer's attention (heads x T x T, an fp32 softmax and its
        bf16 copy) and autograd keeps it for backward: about 0.19 GiB per 1022-token window per
        layer at the 650M width. Recomputed layer by layer, the memory that grows with T^2 is
        one layer's, not all 33. Non-reentrant checkpointing replays dropout's random draws, so
        the gradients are those of an unbroken pass.
        """
        for layer in self.model.layers:
            layer.forward = _checkpointed(layer.forward)

    def forward(self, tokens: torch.Tensor, attention: torch.Tensor) -> torch.Tensor:
        # fair-esm derives its padding mask from the pad tokens, so ``attention`` is implied.
        last = self.model.num_layers
        return self.model(tokens, repr_layers=[last])["representations"][last]  # (B, T, E)


class HFEncoder(Encoder):
    def checkpoint_layers(self) -> None:
        """transformers' own per-layer activation checkpointing (non-reentrant)."""
        enable_checkpointing(self.model)

    def forward(self, tokens: torch.Tensor, attention: torch.Tensor) -> torch.Tensor:
        out = self.model(input_ids=tokens, attention_mask=attention.long())
        return out.last_hidden_state  # (B, T, E)


def enable_checkpointing(model: nn.Module) -> None:
    """A transformers model recomputes each block's activations in the backward pass: memory
    for one block, not all (non-reentrant, so frozen inputs and dropout are handled)."""
    kwargs = {"use_reentrant": False}
    if hasattr(model, "activation_checkpointing_enable"):  # its name since transformers 5.x
        model.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)


def _checkpointed(forward):
    """``forward`` recomputed in the backward pass when training, as it is otherwise."""
    from torch.utils.checkpoint import checkpoint

    def run(*args, **kwargs):
        if torch.is_grad_enabled():
            return checkpoint(forward, *args, use_reentrant=False, **kwargs)
        return forward(*args, **kwargs)
    return run


def is_offline(offline: bool | None) -> bool:
    """``offline`` itself, or (when None) whether HF_HUB_OFFLINE or IDR_OFFLINE is set true."""
    if offline is not None:
        return offline
    return any(os.environ.get(var, "").strip().lower() in {"1", "true", "yes", "on"}
               for var in OFFLINE_ENV)


# ---- ESM-2 through fair-esm -------------------------------------------------------------------

def load_esm(name: str, weights: str | None = None, *, from_scratch: bool = False,
             offline: bool | None = None, verify: bool = True) -> Encoder:
    """ESM-2 ``name`` from ``weights`` (a fair-esm .pt), torch's hub cache, or a download.

    ``name`` is a published size (the file's architecture is checked against it) or, with
    ``weights``, any name starting with ``ESM_PREFIX`` (the file's own architecture is used).
    from_scratch=True: the published architecture with random weights from torch's RNG.
    """
    _check_esm_name(name)
    if from_scratch:
        if weights is not None:
            raise SettingError("from_scratch=True builds random weights; it takes no weights file")
        model = esm2_module(*esm_dims(name))
        return _esm_encoder(model, name, path=None, sha256=None, from_scratch=True)
    if weights is not None:
        return _load_esm_file(name, Path(weights), verify=verify)
    return _load_esm_file(name, fetch_esm(name, is_offline(offline)), verify=verify, hub=True)


def _check_esm_name(name: str) -> None:
    # fair-esm picks its ESM-2 loader by the name's prefix, so every name needs it.
    if not name.startswith(ESM_PREFIX):
        raise SettingError(f"{name!r}: ESM-2 models are named {ESM_PREFIX}...; "
                         f"published: {', '.join(ESM2_SIZES)}")


def fetch_esm(name: str, offline: bool) -> Path:
    """The hub-cache path of ``name``.pt, downloading it there first when it is absent."""
    cached = Path(torch.hub.get_dir()) / "checkpoints" / f"{name}.pt"
    if cached.is_file():
        return cached
    if name not in ESM2_SIZES:
        raise WeightsUnavailable(f"{name} is not a published ESM-2 model; pass --weights PATH")
    if offline:
        reason = ("offline: downloads are off (a saved model never downloads unless "
                  "--set downloads=true), or HF_HUB_OFFLINE / IDR_OFFLINE is set")
        raise WeightsUnavailable(_esm_how_to(name, cached, reason))
    cached.parent.mkdir(parents=True, exist_ok=True)
    try:
        torch.hub.download_url_to_file(model_url(name), str(cached), progress=True)
    except (OSError, http.client.HTTPException) as err:  # URLError, HTTPError, timeouts, cut off
        raise WeightsUnavailable(_esm_how_to(name, cached, f"download failed: {err}")) from err
    return cached


def _esm_how_to(name: str, cached: Path, reason: str) -> str:
    return (f"ESM-2 weights for {name} are unavailable ({reason}). Supply them either way: pass "
            f"--weights PATH to a local copy of {name}.pt, or put that file at {cached} (torch's "
            f"hub cache). Download it from {model_url(name)}")


def _load_esm_file(name: str, path: Path, *, verify: bool = True, hub: bool = False,
                   expect: str | None = None) -> Encoder:
    """Check the file (digest, architecture) and build its model; ``expect``: a recorded digest."""
    if not path.is_file():
        raise FileRefused(f"{path}: no such ESM-2 weights file")
    digest = file_sha256(path)  # ~1 min for the 15B file; it pins exactly what was trained on
    _check_unchanged(path, digest, expect)
    check_known_digest(path.name, digest, path, verify=verify)
    model_data = read_esm_checkpoint(path)
    check_esm_architecture(name, model_data, path)
    extra = regression_path(path)
    model = _build_esm(name, model_data, read_esm_checkpoint(extra) if extra.is_file() else None)
    return _esm_encoder(model, name, path=str(path.resolve()), sha256=digest, from_scratch=False,
                        hub=hub, verify=verify)


def _build_esm(name: str, model_data: dict, regression: dict | None) -> nn.Module:
    import esm
    with warnings.catch_warnings():
        # Without the regression file fair-esm warns that contacts will be wrong; none are used here.
        warnings.filterwarnings("ignore", message="Regression weights not found")
        model, _ = esm.pretrained.load_model_and_alphabet_core(name, model_data, regression)
    if regression is None:
        log.info("%s: no contact-regression file beside the weights; contacts are not used", name)
    return model


def _esm_encoder(model: nn.Module, name: str, **source) -> Encoder:
    vocab = Vocab.from_tokens(model.alphabet.tok_to_idx, cls="<cls>", eos="<eos>", pad="<pad>",
                              unk="<unk>")
    return EsmEncoder(model, vocab, max_residues=ESM_MAX_RESIDUES, embed_dim=model.embed_dim,
                      lora_targets=ESM_LORA_TARGETS,
                      source={"kind": "esm", "name": name, **source}).eval()


def _check_unchanged(path: Path, digest: str, expect: str | None) -> None:
    if expect is not None and digest != expect:
        raise WeightsMismatch(f"{path} has changed since the model was saved: sha256 {digest}, "
                              f"recorded {expect}; restore the original file")


# ---- a backbone by name -----------------------------------------------------------------------

def load_backbone(name: str, weights: str = "", *, from_scratch: bool = False,
                  offline: bool | None = None) -> Encoder:
    """The encoder a track's settings name: a fair-esm ESM-2 (``is_esm_name``; ``weights``, a
    local .pt, else the hub cache or a download), else a transformers directory or hub id, or
    "antiberty"."""
    if is_esm_name(name):
        return load_esm(name, weights or None, from_scratch=from_scratch, offline=offline)
    if weights:
        raise SettingError(f"weights are for fair-esm checkpoints of an {ESM_PREFIX}* backbone; "
                           f"give a transformers model directory as the backbone instead")
    return load_hf(name, from_scratch=from_scratch, offline=offline)


# ---- rebuilding a saved model's encoder -------------------------------------------------------

def load_encoder(source: dict, *, offline: bool | None = None) -> Encoder:
    """The encoder ``source`` (an Encoder.source) records; refuses a weights file that changed.

    A from-scratch source comes back with fresh random weights of the same architecture: the
    caller loads its trained state dict over them. ``offline`` as ``is_offline`` reads it: a
    saved model's record alone never decides to reach for the network.
    """
    if (not isinstance(source, dict) or source.get("kind") not in ("esm", "hf")
            or not isinstance(source.get("name"), str)):
        raise FileRefused(f"not a record of a backbone's source: {brief(source)}")
    kind, name, verify = source["kind"], source["name"], source.get("verify", True) is not False
    if kind == "esm" and source["from_scratch"]:
        return load_esm(name, from_scratch=True)
    if kind == "esm":
        path = fetch_esm(name, is_offline(offline)) if source.get("hub") else Path(source["path"])
        return _load_esm_file(name, path, verify=verify, hub=bool(source.get("hub")),
                              expect=source["sha256"])
    if kind == "hf":
        where = name if name == ANTIBERTY or not source["path"] else source["path"]
        return _load_hf(where, from_scratch=source["from_scratch"], offline=offline,
                        verify=verify, expect=source["sha256"])
    raise FileRefused(f"unknown encoder kind {kind!r} in {source}")


# ---- BERT-style models through transformers ---------------------------------------------------

def antiberty_dir() -> Path:
    """The AntiBERTy checkpoint directory inside the installed antiberty wheel."""
    spec = importlib.util.find_spec(ANTIBERTY)  # finds the package without importing it
    if spec is None or spec.origin is None:
        raise WeightsUnavailable("antiberty is not installed: pip install antiberty==0.1.3")
    return Path(spec.origin).parent / "trained_models" / "AntiBERTy_md_smooth"


def load_hf(source: str, *, from_scratch: bool = False, offline: bool | None = None,
            verify: bool = True) -> Encoder:
    """A transformers model directory, hub id, or "antiberty", as its encoder (head dropped).

    The directory's token-classification model is loaded with one label and its ``base_model``
    kept: the track adds its own head. from_scratch=True: the same config, random weights.
    """
    return _load_hf(source, from_scratch=from_scratch, offline=offline, verify=verify)


def _load_hf(source: str, *, from_scratch: bool, offline: bool | None, verify: bool,
             expect: str | None = None) -> Encoder:
    where, local_only = hf_location(source), is_offline(offline)
    weights = _weights_file(where) if isinstance(where, Path) and not from_scratch else None
    digest = file_sha256(weights) if weights else None
    if weights:
        _check_unchanged(weights, digest, expect)
        check_known_digest(f"{where.name}/{weights.name}", digest, weights, verify=verify)
    try:
        model = _hf_model(where, from_scratch, local_only)
        vocab = _hf_vocab(source, where, local_only)
    except OSError as err:
        if isinstance(where, Path):
            raise
        raise WeightsUnavailable(_hf_how_to(source, err)) from err
    path = str(where.resolve()) if isinstance(where, Path) else None  # None: a hub id
    record = {"kind": "hf", "name": source, "path": path, "sha256": digest,
              "from_scratch": from_scratch, "verify": verify}
    return HFEncoder(model.base_model, vocab, max_residues=_hf_max_residues(model.config),
                     embed_dim=model.config.hidden_size, lora_targets=HF_LORA_TARGETS,
                     source=record).eval()


def hf_location(source: str) -> Path | str:
    """A local model directory as a Path; a hub id (e.g. facebook/esm2_t6_8M_UR50D) as is."""
    if source == ANTIBERTY:
        return antiberty_dir()
    path = Path(source).expanduser()
    if path.is_dir():
        return path
    if path.exists() or source.startswith((".", "/", "~")) or source.count("/") > 1:
        raise FileRefused(f"{source}: not a transformers model directory")
    return source


def _weights_file(directory: Path) -> Path | None:
    """The single weights file to pin by digest (None for sharded checkpoints)."""
    found = [directory / n for n in ("model.safetensors", "pytorch_model.bin")]
    return next((path for path in found if path.is_file()), None)


def _hf_how_to(source: str, err: OSError) -> str:
    return (f"{source}: not in the local Hugging Face cache and not downloadable here "
            f"({' '.join(str(err).split())}). "
            f"Where there is network, run `hf download {source}` (fills the cache) or save the model "
            "to a directory and pass its path; downloading needs HF_HUB_OFFLINE and IDR_OFFLINE unset "
            "(and, for a saved model, --set downloads=true)")


def _hf_model(where: Path | str, from_scratch: bool, local_only: bool) -> nn.Module:
    from transformers import AutoConfig, AutoModelForTokenClassification
    with quiet_transformers():
        if from_scratch:
            config = AutoConfig.from_pretrained(where, num_labels=1, local_files_only=local_only)
            return AutoModelForTokenClassification.from_config(config)
        # adapter_kwargs too: transformers 5 looks for a peft adapter without local_files_only.
        model, info = AutoModelForTokenClassification.from_pretrained(
            where, num_labels=1, local_files_only=local_only, output_loading_info=True,
            adapter_kwargs={"local_files_only": local_only})
    _check_loading(where, info)
    return model


@contextlib.contextmanager
def quiet_transformers():
    """Silence transformers' LOAD REPORT (it lists the pretraining heads the track drops) and its
    progress bar. Loading errors still raise, and _check_loading catches missing encoder weights."""
    from transformers.utils import logging as hf_logging
    level, bar = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
        if bar:
            hf_logging.enable_progress_bar()


def _check_loading(where: Path | str, info: dict) -> None:
    # Only the new one-label classifier may be missing: anything else would train from random.
    missing = [key for key in info["missing_keys"] if not key.startswith("classifier.")]
    if missing:
        raise WeightsMismatch(f"{where}: the checkpoint lacks encoder weights {sorted(missing)[:5]}")
    if info["unexpected_keys"]:
        log.info("%s: dropped %d weights of heads the track does not use", where,
                 len(info["unexpected_keys"]))


def _hf_vocab(source: str, where: Path | str, local_only: bool) -> Vocab:
    if source == ANTIBERTY:  # its vocab.txt sits one level above the checkpoint, one token a line
        lines = (where.parent / "vocab.txt").read_text().splitlines()
        return Vocab.from_tokens({tok: i for i, tok in enumerate(lines)}, cls="[CLS]", eos="[SEP]",
                                 pad="[PAD]", unk="[UNK]")
    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(where, local_files_only=local_only)
    eos = tok.sep_token or tok.eos_token  # BERT closes a sequence with [SEP], ESM with <eos>
    return Vocab.from_tokens(tok.get_vocab(), cls=tok.cls_token, eos=eos, pad=tok.pad_token,
                             unk=tok.unk_token)


def _hf_max_residues(config) -> int:
    if getattr(config, "position_embedding_type", "absolute") == "rotary":
        return ESM_MAX_RESIDUES  # ESM-2's rotary positions: its training crop, as above
    # An absolute position table bounds the tokens; HF ESM numbers positions from pad id + 1.
    first = config.pad_token_id + 1 if config.model_type == "esm" else 0
    return config.max_position_embeddings - first - EXTRA_TOKENS
