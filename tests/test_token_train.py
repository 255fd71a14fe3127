"""The token_clf pieces that need no backbone: masked loss, head, pieces, and the training loop."""
import dataclasses
import math

import numpy as np
import pytest
import torch

from idr_kit.data.records import make_protein
from idr_kit.nn.config import LoopConfig
from idr_kit.nn.head import Head, masked_bce
from idr_kit.nn.pieces import cut, hidden_batch, reassemble
from idr_kit.nn.train import train
from idr_kit.model.runtime import World
from idr_kit.token_clf.model import HiddenStep

SETTINGS = LoopConfig(epochs=30, lr=0.05, weight_decay=0.0, warmup=0.1, grad_clip=1.0,
                      accumulate=1, patience=100, pos_weight=1.0, seed=0)


def test_masked_bce_ignores_unassessed_positions_entirely():
    logits = torch.tensor([[2.0, -1.0, 50.0, 0.5]])
    labels = torch.tensor([[1.0, 0.0, 0.0, 1.0]])
    mask = torch.tensor([[True, True, False, False]])
    # By hand: mean of softplus(-2) and softplus(-1), the two assessed positions only.
    expected = (math.log1p(math.exp(-2.0)) + math.log1p(math.exp(-1.0))) / 2
    assert masked_bce(logits, labels, mask).item() == pytest.approx(expected, rel=1e-6)
    # Whatever an unassessed position holds changes nothing.
    logits[0, 2:] = torch.tensor([-50.0, 9.0])
    assert masked_bce(logits, labels, mask).item() == pytest.approx(expected, rel=1e-6)


def test_masked_bce_positive_weight_scales_disordered_terms():
    logits = torch.tensor([[0.0, 0.0]])
    labels = torch.tensor([[1.0, 0.0]])
    mask = torch.ones(1, 2, dtype=torch.bool)
    assert masked_bce(logits, labels, mask, 3.0).item() == pytest.approx(4 * math.log(2) / 2)


@pytest.mark.parametrize("hidden_size, kernel", [(0, 1), (8, 5)])
def test_head_prediction_does_not_depend_on_padding(hidden_size, kernel):
    torch.manual_seed(0)
    head = Head(6, hidden_size, kernel).eval()
    alone = torch.randn(1, 5, 6)
    padded = torch.cat([alone, torch.randn(1, 4, 6) * 100], dim=1)  # garbage in the padding
    attention = torch.tensor([[True] * 5 + [False] * 4])
    a = head(alone, torch.ones(1, 5, dtype=torch.bool))
    b = head(padded, attention)
    torch.testing.assert_close(a[0], b[0, :5])


def test_cut_and_reassemble_cover_every_residue_of_a_long_protein():
    seq = "MKV" * 700  # 2100 residues, three windows of 1000
    protein = make_protein("long", seq, "01" * 1050)
    pieces = cut([protein], window=1000, overlap=100)
    assert len(pieces) == 3 and all(len(p) <= 1000 for p in pieces)
    assert "".join(p.seq for p in pieces[:1]) == seq[:1000]
    # Each piece reports its own positions; stitching them back gives the positions exactly.
    values = [np.arange(p.start, p.end, dtype=np.float32) for p in pieces]
    (back,) = reassemble([protein], pieces, values)
    np.testing.assert_array_equal(back, np.arange(2100, dtype=np.float32))
    for p in pieces:
        np.testing.assert_array_equal(p.labels, protein.labels[p.start:p.end])


def test_hidden_batch_puts_labels_on_residue_positions_only():
    a = make_protein("a", "MKV", "1-0")
    pieces = cut([a], window=10, overlap=2)
    batch = hidden_batch(pieces, [np.ones((5, 4), np.float16)])
    assert batch["hidden"].shape == (1, 5, 4)
    assert batch["labels"][0].tolist() == [0, 1, 0, 0, 0]
    assert batch["mask"][0].tolist() == [False, True, False, True, False]


def _toy_task(n=40, seed=0):
    """Cached-embedding batches where dimension 0 of a residue's vector says its label."""
    rng = np.random.default_rng(seed)
    proteins, hidden = [], []
    for i in range(n):
        labels = rng.integers(0, 2, 12)
        proteins.append(make_protein(f"p{i}", "A" * 12, "".join(map(str, labels))))
        h = rng.normal(size=(14, 4)).astype(np.float32)
        h[1:13, 0] = labels * 2 - 1 + rng.normal(scale=0.3, size=12)
        hidden.append(h)
    pieces = cut(proteins, window=12, overlap=2)
    return [hidden_batch(pieces[i:i + 8], hidden[i:i + 8]) for i in range(0, n, 8)]


def _loss(step, batches):
    with torch.no_grad():
        step.eval()
        return np.mean([masked_bce(step(b), b["labels"], b["mask"]).item() for b in batches])


def test_training_lowers_the_loss_and_keeps_the_best_epoch():
    torch.manual_seed(0)
    batches = _toy_task()
    step = HiddenStep(Head(4, dropout=0.0))
    before = _loss(step, batches)
    history = train(step, lambda epoch: batches, batches, SETTINGS, precision="auto",
                    device=torch.device("cpu"), here=World())
    after = _loss(step, batches)
    assert after < before * 0.5
    assert after == pytest.approx(history.best_loss, rel=1e-4)


def test_a_rerun_resumes_from_the_checkpoint_and_ends_where_an_unbroken_run_ends(tmp_path):
    batches = _toy_task()
    cpu, here = torch.device("cpu"), World()
    settings = dataclasses.replace(SETTINGS, epochs=6)

    def run(checkpoint, stop_at=None):
        def batches_for(epoch):
            if epoch == stop_at:
                raise KeyboardInterrupt  # the run is killed as epoch 3 starts
            return batches

        torch.manual_seed(0)
        step = HiddenStep(Head(4, dropout=0.2))
        history = train(step, batches_for, batches, settings, precision="auto", device=cpu,
                        here=here, checkpoint=checkpoint)
        return step, history

    whole, _ = run(None)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "ckpt.pt", stop_at=3)
    resumed, history = run(tmp_path / "ckpt.pt")
    assert history.epoch == 5 and len(history.train_loss) == 6
    for a, b in zip(whole.parameters(), resumed.parameters()):
        torch.testing.assert_close(a, b)


def test_max_steps_caps_optimiser_steps():
    batches = _toy_task()
    step = HiddenStep(Head(4))
    settings = dataclasses.replace(SETTINGS, max_steps=7)
    history = train(step, lambda e: batches, batches, settings, precision="auto",
                    device=torch.device("cpu"), here=World())
    assert history.steps == 7
