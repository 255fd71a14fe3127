"""Backbone loading: tiny models written in the official layouts, and the real AntiBERTy weights."""
import json
import logging
import pickle
import warnings

import numpy as np
import pytest
import torch

from idr_kit.data.digests import file_sha256 as sha256_file
from idr_kit.data.errors import FileRefused
from idr_kit.nn import official
from idr_kit.nn.align import encode_batch
from idr_kit.nn.backbones import WeightsUnavailable, antiberty_dir, load_encoder, load_esm, load_hf
from idr_kit.nn.official import ESM2_SIZES, KNOWN_SHA256, WeightsMismatch, read_esm_checkpoint

from layouts import write_esm_checkpoint, write_hf_bert_dir, write_hf_esm_dir

TINY = (2, 32, 4)  # layers, embed dim, heads
SHORT, LONG = "MKVLAAGIDERST", "MSTNPKPQRKTKRNTNRRPQDVKFPGGXUBZ"
KINDS = ("esm", "hf_esm", "hf_bert", "antiberty")


def hidden(encoder, seqs):
    tokens, attention = encode_batch(seqs, encoder.vocab)
    with torch.no_grad():
        return encoder(torch.from_numpy(tokens), torch.from_numpy(attention)).numpy()


def tiny_esm(tmp_path, name="esm2_t2_tiny", seed=0, **kw):
    return write_esm_checkpoint(tmp_path / f"{name}.pt", *TINY, seed, **kw)


def build(kind, root):
    """A fresh encoder of each kind, its files written under root."""
    if kind == "esm":
        return load_esm("esm2_t2_tiny", str(tiny_esm(root)))
    if kind == "hf_esm":
        return load_hf(str(write_hf_esm_dir(root / "hf_esm", *TINY, seed=0)), offline=True)
    if kind == "hf_bert":
        return load_hf(str(write_hf_bert_dir(root / "hf_bert", *TINY, seed=0)), offline=True)
    return load_hf("antiberty", offline=True)


@pytest.fixture(scope="module")
def encoders(tmp_path_factory):
    root = tmp_path_factory.mktemp("encoders")
    return {kind: build(kind, root) for kind in KINDS}


# ---- fair-esm files -----------------------------------------------------------------------------

def test_official_file_needs_namespace_allowed(tmp_path):
    path = tiny_esm(tmp_path)
    with pytest.raises(pickle.UnpicklingError, match="Namespace"):
        torch.load(path, map_location="cpu", weights_only=True)  # why backbones allows Namespace
    data = read_esm_checkpoint(path)
    assert data["cfg"]["model"].encoder_layers == 2
    assert all(k.startswith(("encoder.sentence_encoder.", "encoder.lm_head.")) for k in data["model"])


@pytest.mark.parametrize("regression", [True, False])
def test_esm_file_loads_with_or_without_regression(tmp_path, regression):
    path = tiny_esm(tmp_path, regression=regression)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # fair-esm's missing-regression warning must not escape
        encoder = load_esm("esm2_t2_tiny", str(path))
    assert hidden(encoder, [SHORT, LONG]).shape == (2, len(LONG) + 2, 32)
    assert encoder.source["sha256"] == sha256_file(path) and encoder.max_residues == 1022
    if regression:
        saved = torch.load(official.regression_path(path), weights_only=True)["model"]
        assert torch.equal(encoder.model.contact_head.regression.weight,
                           saved["contact_head.regression.weight"])


def test_wrong_architecture_and_names_are_refused(tmp_path):
    path = tiny_esm(tmp_path, name="esm2_t6_8M_UR50D")
    both = r"2 layers, embed dim 32, 4 heads.*esm2_t6_8M_UR50D has 6 layers, embed dim 320, 20 heads"
    with pytest.raises(WeightsMismatch, match=both):
        load_esm("esm2_t6_8M_UR50D", str(path))
    with pytest.raises(ValueError, match="esm2_"):
        load_esm("tiny", str(path))
    with pytest.raises(ValueError, match="no weights file"):
        load_esm("esm2_t6_8M_UR50D", str(path), from_scratch=True)


def test_known_digest_mismatch_is_an_error_unless_unverified(tmp_path, monkeypatch):
    path = tiny_esm(tmp_path)
    monkeypatch.setitem(KNOWN_SHA256, path.name, "0" * 64)
    with pytest.raises(WeightsMismatch, match="does not match the official"):
        load_esm("esm2_t2_tiny", str(path))
    assert load_esm("esm2_t2_tiny", str(path), verify=False).source["verify"] is False


def test_load_encoder_round_trips_and_refuses_a_changed_file(tmp_path):
    path = write_esm_checkpoint(tmp_path / "tiny.pt", *TINY, seed=0)  # stem lacks "esm2": name says
    encoder = load_esm("esm2_tiny", str(path))
    source = json.loads(json.dumps(encoder.source))
    np.testing.assert_array_equal(hidden(load_encoder(source), [SHORT, LONG]),
                                  hidden(encoder, [SHORT, LONG]))
    write_esm_checkpoint(path, *TINY, seed=1)
    with pytest.raises(WeightsMismatch, match=f"{sha256_file(path)}.*recorded {source['sha256']}"):
        load_encoder(source)


def test_offline_without_weights_says_how_to_supply_them(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    cache = tmp_path / "hub" / "checkpoints" / "esm2_t6_8M_UR50D.pt"
    with pytest.raises(WeightsUnavailable) as caught:
        load_esm("esm2_t6_8M_UR50D", offline=True)
    url = official.model_url("esm2_t6_8M_UR50D")
    for needed in ("esm2_t6_8M_UR50D", "--weights PATH", str(cache), url):
        assert needed in str(caught.value)
    monkeypatch.setenv("IDR_OFFLINE", "1")
    with pytest.raises(WeightsUnavailable):
        load_esm("esm2_t6_8M_UR50D")


def test_a_file_in_the_hub_cache_is_used_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    tiny_esm(tmp_path / "hub" / "checkpoints")
    encoder = load_esm("esm2_t2_tiny", offline=True)
    assert encoder.source["hub"] is True
    assert load_encoder(encoder.source).source["sha256"] == encoder.source["sha256"]


def test_from_scratch_is_the_published_architecture_seeded_by_torch():
    torch.manual_seed(3)
    first = load_esm("esm2_t6_8M_UR50D", from_scratch=True)
    torch.manual_seed(3)
    second = load_esm("esm2_t6_8M_UR50D", from_scratch=True)
    assert sum(p.numel() for p in first.model.parameters()) == ESM2_SIZES["esm2_t6_8M_UR50D"].params
    assert torch.equal(first.model.embed_tokens.weight, second.model.embed_tokens.weight)
    assert first.source["from_scratch"] and first.embed_dim == 320


def test_published_sizes_match_fair_esm_modules():
    for name, size in ESM2_SIZES.items():
        with torch.device("meta"):  # shapes only: no memory for the 15B model
            model = official.esm2_module(*size.dims)
        assert sum(p.numel() for p in model.parameters()) == size.params, name


# ---- transformers directories and AntiBERTy -----------------------------------------------------

@pytest.mark.parametrize("writer, eos, max_residues", [(write_hf_esm_dir, 2, 1022),
                                                       (write_hf_bert_dir, 3, 510)])
def test_hf_dir_loads_offline(tmp_path, monkeypatch, writer, eos, max_residues):
    directory = writer(tmp_path / "model", *TINY, seed=0)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    encoder = load_hf(str(directory))
    assert hidden(encoder, [SHORT, LONG]).shape == (2, len(LONG) + 2, 32)
    assert (encoder.vocab.eos_id, encoder.max_residues) == (eos, max_residues)
    assert encoder.source["sha256"] == sha256_file(directory / "model.safetensors")
    scratch = load_hf(str(directory), from_scratch=True)
    assert not np.allclose(hidden(scratch, [SHORT]), hidden(encoder, [SHORT]))


def test_missing_encoder_weights_are_an_error(tmp_path):
    from safetensors.torch import load_file, save_file
    directory = write_hf_bert_dir(tmp_path / "model", *TINY, seed=0)
    weights = load_file(directory / "model.safetensors")
    del weights["bert.encoder.layer.0.attention.self.query.weight"]
    save_file(weights, directory / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(WeightsMismatch, match="layer.0.attention.self.query.weight"):
        load_hf(str(directory), offline=True)


def test_hf_hub_id_not_cached_offline_says_how_to(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(WeightsUnavailable, match="hf download idr-kit-tests/no-such-model"):
        load_hf("idr-kit-tests/no-such-model")
    with pytest.raises(FileRefused, match="not a transformers model directory"):
        load_hf(str(tmp_path / "absent" / "dir"))


class Records(logging.Handler):
    def __init__(self):
        super().__init__()
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def test_antiberty_loads_the_wheel_weights():
    records, hf_logger = Records(), logging.getLogger("transformers")
    hf_logger.addHandler(records)  # transformers' own logger does not propagate to caplog
    try:
        encoder, directory = load_hf("antiberty"), antiberty_dir()
    finally:
        hf_logger.removeHandler(records)
    assert not [m for m in records.messages if "LOAD REPORT" in m]  # its unused MLM/species heads
    saved = torch.load(directory / "pytorch_model.bin", map_location="cpu", weights_only=True)
    assert torch.equal(encoder.model.embeddings.word_embeddings.weight,
                       saved["bert.embeddings.word_embeddings.weight"])
    assert 25_000_000 < sum(p.numel() for p in encoder.parameters()) < 27_000_000
    assert encoder.max_residues == 510 and encoder.embed_dim == 512
    tokens = (directory.parent / "vocab.txt").read_text().splitlines()
    assert encoder.vocab.ids == {tok: i for i, tok in enumerate(tokens) if len(tok) == 1}  # 20 letters
    assert tokens[encoder.vocab.cls_id] == "[CLS]" and tokens[encoder.vocab.pad_id] == "[PAD]"
    assert encoder.source["sha256"] == KNOWN_SHA256["AntiBERTy_md_smooth/pytorch_model.bin"]


# ---- every kind ---------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
def test_padding_does_not_change_a_protein(encoders, kind):
    alone = hidden(encoders[kind], [SHORT])[0]
    batched = hidden(encoders[kind], [SHORT, LONG])[0]
    n = len(SHORT)
    np.testing.assert_allclose(batched[1 : n + 1], alone[1 : n + 1], atol=1e-5)


@pytest.mark.parametrize("kind, per_layer", [("esm", 4), ("hf_esm", 6), ("hf_bert", 6)])
def test_peft_finds_and_uses_the_lora_targets(tmp_path, kind, per_layer):
    from peft import LoraConfig, get_peft_model
    encoder = build(kind, tmp_path)
    before = hidden(encoder, [SHORT])
    adapted = get_peft_model(encoder, LoraConfig(target_modules=list(encoder.lora_targets), r=4))
    lora_b = [m for name, m in adapted.named_modules() if name.endswith("lora_B.default")]
    assert len(lora_b) == per_layer * TINY[0]  # q, k, v, out (+ the two feed-forward "dense")
    with torch.no_grad():
        for module in lora_b:
            module.weight.fill_(0.1)  # peft starts B at zero; non-zero B must change the output
    assert not np.allclose(hidden(adapted, [SHORT]), before)
