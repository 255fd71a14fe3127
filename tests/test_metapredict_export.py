"""metapredict V3's network exported from its wheel and run by ONNX Runtime alone gives what
``metapredict.predict_disorder`` gives: within 1e-3 on the contract's proteins (CAID proteins,
rare letters, lower case, one residue), a long protein, and proteins batched together."""
from __future__ import annotations

import numpy as np
import pytest

from idr_kit.data.fasta import read_fasta
from idr_kit.data.records import make_protein

meta = pytest.importorskip("metapredict")
pytest.importorskip("torch")

# What the kit's metapredict track hands metapredict for the letters it does not read.
STANDARD_FOR = str.maketrans({"B": "N", "Z": "Q", "U": "C", "O": "K", "X": "G"})


@pytest.fixture(scope="module")
def member():
    from idr_kit.convnet.members import MetapredictMember
    from idr_kit.nn.metapredict import export_metapredict
    return MetapredictMember(export_metapredict(), threads=1, source="exported")


@pytest.fixture(scope="module")
def proteins(shared_data):
    rng = np.random.default_rng(0)
    long_seq = "".join(rng.choice(list("ACDEFGHIKLMNPQRSTVWY"), 5000))
    return [*read_fasta(shared_data / "valid.fasta")[:12],
            make_protein("unlabelled", "MSEPKQLLVAGDTRHWPPSEEKK"),
            make_protein("rare_letters", "mkXUBZOkxaau"), make_protein("one", "M"),
            make_protein("long", long_seq)]


def test_the_exported_member_gives_metapredicts_scores(member, proteins):
    ours = member.predict([p.seq for p in proteins])
    for p, scores in zip(proteins, ours):
        theirs = np.asarray(meta.predict_disorder(p.seq.translate(STANDARD_FOR)), np.float32)
        assert scores.dtype == np.float32 and scores.shape == theirs.shape, p.id
        assert np.abs(scores - theirs).max() <= 1e-3, p.id
    worst = max(np.abs(s - np.asarray(meta.predict_disorder(p.seq.translate(STANDARD_FOR))))
                .max() for p, s in zip(proteins, ours))
    assert worst <= 2e-4  # 4-decimal rounding apart: ONNX Runtime's LSTM, within 2e-5 before it


def test_a_batch_gives_each_protein_its_own_scores(member, proteins):
    together = member.predict([p.seq for p in proteins])
    for p, scores in zip(proteins, together):
        np.testing.assert_array_equal(member.predict([p.seq])[0], scores)


def test_the_licence_goes_with_the_network():
    from idr_kit.nn.metapredict import licence_text
    text = licence_text()
    assert "MIT License" in text and "Emenecker" in text
