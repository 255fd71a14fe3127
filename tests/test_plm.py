"""lgbm's protein-language-model features (baselines/plm.py) on a tiny random BERT in the
transformers layout: vectors exactly where the backbone put them, windows stitched, the
reduction reproducible; and the ensemble's shared label style."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from idr_kit.baselines.config import LGBMConfig
from idr_kit.baselines.plm import PlmFeatures
from idr_kit.data.records import make_protein
from idr_kit.ensemble.config import EnsembleConfig
from idr_kit.nn.align import residue_slice
from idr_kit.nn.pieces import token_batch
from idr_kit.tracks import missing_modules

from layouts import write_hf_bert_dir
from tiny import RUNTIME

RNG = np.random.default_rng(3)
LETTERS = list("ACDEFGHIKLMNPQRSTVWY")


def random_protein(name: str, n: int):
    return make_protein(name, "".join(RNG.choice(LETTERS, n)))


@pytest.fixture(scope="module")
def plm(tmp_path_factory) -> PlmFeatures:
    where = write_hf_bert_dir(tmp_path_factory.mktemp("bert") / "hf_bert", 2, 32, 4, seed=0)
    config = LGBMConfig(embeddings=str(where), embedding_dims=4, embedding_widths=(1, 5))
    return PlmFeatures.build(config, RUNTIME)


def direct(plm: PlmFeatures, seq: str) -> np.ndarray:
    """The backbone's last layer at the residues of ``seq``, read in one forward pass."""
    batch = token_batch([make_protein("x", seq)], plm.encoder.vocab)
    with torch.no_grad():
        hidden = plm.encoder(batch["tokens"], batch["attention"])[0].numpy()
    return residue_slice(hidden, len(seq))


def test_a_short_protein_gets_the_backbones_own_vectors(plm):
    p = random_protein("short", 40)
    # float16 in the cache: equal to the forward pass at its precision
    np.testing.assert_allclose(plm.embeddings([p])[0], direct(plm, p.seq), atol=2e-3, rtol=1e-3)


def test_a_long_protein_is_windowed_and_the_overlap_averaged(plm):
    window = plm.encoder.max_residues
    p = random_protein("long", window + 200)
    got = plm.embeddings([p])[0]
    assert got.shape == (len(p), plm.encoder.embed_dim)
    first = direct(plm, p.seq[:window])
    last = direct(plm, p.seq[-window:])
    only_first = len(p) - window  # residues before the last window starts
    np.testing.assert_allclose(got[:only_first], first[:only_first], atol=2e-3, rtol=1e-3)
    shared = slice(only_first, window)  # covered by both windows
    np.testing.assert_allclose(got[shared], (first[shared] + last[:window - only_first]) / 2,
                               atol=2e-3, rtol=1e-3)


def test_the_reduction_is_orthonormal_reproducible_and_sized(plm):
    train = [random_protein(f"t{i}", n) for i, n in enumerate((30, 60, 90))]
    components = plm.fit(train).components.copy()
    assert components.shape == (plm.encoder.embed_dim, 4)
    np.testing.assert_allclose(components.T @ components, np.eye(4), atol=1e-5)
    np.testing.assert_array_equal(plm.fit(train).components, components)
    features = plm(train[0])
    assert features.shape == (30, plm.width()) == (30, 2 * 4)
    # width 1 is the residue's own reduced vector; width 5 its centred mean
    own = (plm.embeddings(train[:1])[0] - plm.mean) @ components
    np.testing.assert_allclose(features[:, :4], own, atol=1e-5)
    np.testing.assert_allclose(features[10, 4:], own[8:13].mean(0), atol=1e-5)


def test_more_dimensions_than_the_data_has_are_refused(plm):
    config = LGBMConfig(embeddings="unused", embedding_dims=64)
    wide = PlmFeatures(plm.encoder, config.embedding_dims, (1,), 0, RUNTIME, plm.device)
    with pytest.raises(ValueError, match="embedding_dims=64"):
        wide.fit([random_protein("t", 50)])


@pytest.mark.parametrize("settings, words", [
    (dict(embedding_widths=(1, 4)), "odd widths"),
    (dict(embedding_widths=()), "odd widths"),
    (dict(embedding_dims=-1), "embedding_dims"),
])
def test_bad_embedding_settings_are_refused(settings, words):
    with pytest.raises(ValueError, match=words):
        LGBMConfig(**settings)


def test_embeddings_make_lgbm_need_the_backbones_packages():
    assert LGBMConfig().components() == {}
    assert LGBMConfig(embeddings="antiberty").components() == {"bert": None}
    assert LGBMConfig(embeddings="esm2_t33_650M_UR50D").components() == {"esm": None}
    assert missing_modules("lgbm", LGBMConfig(embeddings="antiberty")) == []  # all here


def test_the_ensembles_style_reaches_every_member_that_has_one():
    config = EnsembleConfig(members=("lgbm", "bilstm"), style="pdb")
    assert config.member_config("bilstm").style == "pdb"
    assert not hasattr(config.member_config("lgbm"), "style")
    own = EnsembleConfig(members=("bilstm",), style="pdb", member_settings=("bilstm.style=nox",))
    assert own.member_config("bilstm").style == "nox"  # a member's own setting wins
    assert EnsembleConfig(members=("bilstm",)).member_config("bilstm").style == "nox"
    with pytest.raises(ValueError, match="unknown style 'caid'"):
        EnsembleConfig(style="caid")
