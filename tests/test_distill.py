"""The distilled track: trained with torch on labels and teachers' soft targets, predicting in
numpy exactly as the torch network would, without torch."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from idr_kit.data.competition import read_pickle
from idr_kit.data.fasta import read_fasta
from idr_kit.data.probs import write_npz
from idr_kit.data.records import Protein, make_protein
from idr_kit.model.runtime import Runtime
from idr_kit.model.saved import load_model, save_model
from idr_kit.tracks import make_track

from runs import ROOT

RUNTIME = Runtime(device="cpu", threads=1)
TINY = dict(embed=8, conv_channels=8, conv_kernel=5, hidden=8, epochs=2)


def cut(p: Protein, n: int) -> Protein:
    return Protein(p.id, p.seq[:n], p.labels[:n], p.mask[:n])


@pytest.fixture(scope="module")
def train(shared_data) -> list[Protein]:
    nox = [cut(p, 200) for p in read_pickle(shared_data / "train.pkl")[:30]]
    pdb = [cut(p, 200) for p in read_fasta(shared_data / "train_pdb_style.fasta")
           if not p.mask[:200].all() and p.mask[:200].any()][:20]
    return nox + pdb


@pytest.fixture(scope="module")
def probe(shared_data) -> list[Protein]:
    rng = np.random.default_rng(1)
    return [*read_fasta(shared_data / "valid.fasta")[:5], make_protein("one", "M"),
            make_protein("rare", "MKXUBZOkk"),
            make_protein("long", "".join(rng.choice(list("ACDEFGHIKLMNPQRSTVWY"), 4000)))]


@pytest.fixture(scope="module")
def fitted(train):
    return make_track("distilled", runtime=RUNTIME, **TINY).fit(train)


def test_onnx_runtime_predicts_what_the_torch_network_does(fitted, probe):
    """The saved network (ONNX, run by ONNX Runtime) against the torch network it was exported
    from and against the same arithmetic in numpy, long proteins included."""
    import torch

    from idr_kit.data.residue_features import FEATURES, features
    from idr_kit.data.styles import style_value
    from idr_kit.nn import numpy_forward
    from idr_kit.nn.seqnet import SeqNet
    c = fitted.config
    net = SeqNet(FEATURES, c.embed, c.conv_channels, c.conv_kernel, c.hidden, c.layers,
                 c.dropout).eval()
    net.load_state_dict({k: torch.from_numpy(v) for k, v in fitted.weights_.items()})
    ours = fitted.predict_proba(probe)
    for p, values in zip(probe, ours):
        x = features(p.seq, style_value(fitted.style_))[None]
        with torch.no_grad():
            theirs = torch.sigmoid(net(torch.from_numpy(x), torch.tensor([len(p)]))).numpy()[0]
        np.testing.assert_allclose(values, theirs, atol=1e-5, rtol=0, err_msg=p.id)
        plain = numpy_forward.sigmoid(numpy_forward.forward(fitted.weights_, x,
                                                            np.array([len(p)])))[0]
        np.testing.assert_allclose(values, plain, atol=1e-5, rtol=0, err_msg=p.id)


def test_soft_targets_are_learnt_from(train, probe, tmp_path):
    rng = np.random.default_rng(0)
    teacher = {p.id: rng.random(len(p)).astype(np.float32) for p in train}
    write_npz(tmp_path / "t.npz", teacher)
    entries = (f"pdb={tmp_path / 't.npz'}", f"nox={tmp_path / 't.npz'}")
    taught = make_track("distilled", runtime=RUNTIME, teachers=entries, teacher_weight=5.0,
                        **TINY).fit(train)
    plain = make_track("distilled", runtime=RUNTIME, **TINY).fit(train)
    assert taught.soft_targets_ == len(train) and plain.soft_targets_ == 0
    assert any(not np.allclose(a, b) for a, b in zip(taught.predict_proba(probe),
                                                     plain.predict_proba(probe)))
    ignored = make_track("distilled", runtime=RUNTIME, teachers=entries, teacher_weight=0.0,
                         **TINY).fit(train)
    for a, b in zip(ignored.predict_proba(probe), plain.predict_proba(probe)):
        np.testing.assert_array_equal(a, b)


def test_auto_style_is_pdb_when_any_protein_is_so_labelled(fitted, train, probe):
    assert fitted.style_ == "pdb"
    nox_only = make_track("distilled", runtime=RUNTIME, **TINY).fit(train[:30])
    assert nox_only.style_ == "nox"
    other = fitted.with_style("nox")
    assert any(not np.allclose(a, b) for a, b in zip(fitted.predict_proba(probe),
                                                     other.predict_proba(probe)))


def test_a_saved_model_predicts_without_torch(fitted, probe, tmp_path):
    save_model(fitted, tmp_path / "model")
    expected = fitted.predict_proba(probe[:3])
    code = ("import sys, numpy as np; sys.modules['torch'] = None\n"
            "from idr_kit.model.saved import load_model\n"
            "from idr_kit.data.fasta import read_fasta\n"
            f"track = load_model({str(tmp_path / 'model')!r}).track\n"
            f"proteins = read_fasta({str(ROOT.parent / 'shared' / 'data' / 'valid.fasta')!r})[:3]\n"
            "np.save(sys.argv[1], np.concatenate(track.predict_proba(proteins)))\n")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "p.npy")],
                          capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    np.testing.assert_array_equal(np.load(tmp_path / "p.npy"), np.concatenate(expected))
    loaded = load_model(tmp_path / "model").track
    assert loaded.style_ == "pdb"
