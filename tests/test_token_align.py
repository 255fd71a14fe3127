"""Token alignment, windows and token-budget batches, checked against arrays written by hand
and against the real tokenizers of fair-esm and transformers."""
import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from idr_kit.nn.align import (NEAREST, RESIDUE_OFFSET, Vocab, encode_batch, residue_ids,
                              residue_slice, unpad)
from idr_kit.nn.batching import token_budget_batches
from idr_kit.nn.windows import plan_windows, stitch

REPO = Path(__file__).resolve().parents[1]
# A tiny hand-made vocab: the specials first, then 7 residues (no U, O, B, Z, J, X).
TINY = Vocab({"A": 4, "C": 5, "K": 6, "M": 7, "N": 8, "Q": 9, "L": 10},
             cls_id=0, eos_id=2, pad_id=1, unk_id=3)


# ---- align ---------------------------------------------------------------------------------

def test_encode_batch_by_hand():
    tokens, attention = encode_batch(["MKA", "ac"], TINY)
    assert tokens.dtype == np.int64 and attention.dtype == bool
    np.testing.assert_array_equal(tokens, [[0, 7, 6, 4, 2],
                                           [0, 4, 5, 2, 1]])
    np.testing.assert_array_equal(attention, [[1, 1, 1, 1, 1],
                                              [1, 1, 1, 1, 0]])


def test_rare_residues_go_to_the_nearest_only_when_the_vocab_lacks_them():
    assert residue_ids("UOBZJ", TINY).tolist() == [5, 6, 8, 9, 10]  # C K N Q L
    with_u = Vocab({**TINY.ids, "U": 11}, cls_id=0, eos_id=2, pad_id=1, unk_id=3)
    assert residue_ids("UuO", with_u).tolist() == [11, 11, 6]
    assert set(NEAREST) == set("UOBZJ")


def test_unknown_letters_become_unk():
    assert residue_ids("XWx", TINY).tolist() == [3, 3, 3]
    no_c = Vocab({"A": 4}, cls_id=0, eos_id=2, pad_id=1, unk_id=3)
    assert residue_ids("UA", no_c).tolist() == [3, 4]  # U's nearest (C) is missing too


@pytest.mark.parametrize("seq, char, pos", [("MK1A", "1", 3), ("-MK", "-", 1),
                                            ("MKA*", "*", 4), ("M A", " ", 2), ("MKé", "é", 3)])
def test_a_non_letter_is_named_with_its_position(seq, char, pos):
    with pytest.raises(ValueError, match=rf"position {pos}: invalid residue '{char}'"):
        residue_ids(seq, TINY)


def test_residue_slice_and_unpad_return_exactly_the_residues():
    tokens, _ = encode_batch(["MKA", "ac"], TINY)
    assert RESIDUE_OFFSET == 1
    assert residue_slice(tokens[0], 3).tolist() == [7, 6, 4]
    assert [r.tolist() for r in unpad(tokens, [3, 2])] == [[7, 6, 4], [4, 5]]
    hidden = np.arange(2 * 5 * 2).reshape(2, 5, 2)  # (B, T, E)
    first, second = unpad(hidden, [3, 2])
    np.testing.assert_array_equal(first, [[2, 3], [4, 5], [6, 7]])
    np.testing.assert_array_equal(second, [[12, 13], [14, 15]])


def test_slicing_past_the_row_raises():
    with pytest.raises(ValueError, match="cannot hold 5 residues"):
        residue_slice(np.zeros(5), 5)
    with pytest.raises(ValueError, match="2 rows but 1 lengths"):
        unpad(np.zeros((2, 5)), [3])


def test_from_tokens_keeps_letters_and_finds_specials():
    vocab = Vocab.from_tokens({"<s>": 0, "</s>": 1, "<p>": 2, "?": 3, "A": 4, "-": 5, "AB": 6},
                              cls="<s>", eos="</s>", pad="<p>", unk="?")
    assert vocab == Vocab({"A": 4}, cls_id=0, eos_id=1, pad_id=2, unk_id=3)
    with pytest.raises(ValueError, match="not in the vocab"):
        Vocab.from_tokens({"A": 0}, cls="<s>", eos="</s>", pad="<p>", unk="?")


def test_same_ids_as_fair_esm_batch_converter():
    esm_data = pytest.importorskip("esm.data")
    alphabet = esm_data.Alphabet.from_architecture("ESM-1b")
    vocab = Vocab.from_tokens(alphabet.tok_to_idx, cls="<cls>", eos="<eos>", pad="<pad>",
                              unk="<unk>")
    seqs = ["MKVLAAGIVGLLLA", "ACDEFGHIKLMNPQRSTVWY", "XBUZO"]
    _, _, expected = alphabet.get_batch_converter()([(str(i), s) for i, s in enumerate(seqs)])
    tokens, attention = encode_batch(seqs, vocab)
    np.testing.assert_array_equal(tokens, expected.numpy())
    np.testing.assert_array_equal(attention, expected.numpy() != alphabet.padding_idx)


def test_same_ids_as_the_antiberty_bert_tokenizer():
    transformers = pytest.importorskip("transformers")
    spec = importlib.util.find_spec("antiberty")  # locates the wheel without importing torch
    if spec is None:
        pytest.skip("antiberty is not installed")
    vocab_file = Path(spec.submodule_search_locations[0]) / "trained_models" / "vocab.txt"
    names = vocab_file.read_text().split()
    vocab = Vocab.from_tokens({tok: i for i, tok in enumerate(names)}, cls="[CLS]",
                              eos="[SEP]", pad="[PAD]", unk="[UNK]")
    # transformers 5 ignores vocab_file= (every residue becomes [UNK]); vocab= loads the file.
    tokenizer = transformers.BertTokenizer(vocab=str(vocab_file), do_lower_case=False)
    assert len(tokenizer) == len(names) == 25
    seqs = ["ACDEFGHIKLMNPQRSTVWY", "MKVLAAG"]
    expected = tokenizer([" ".join(s) for s in seqs], padding=True, return_tensors="np")
    tokens, attention = encode_batch(seqs, vocab)
    np.testing.assert_array_equal(tokens, expected["input_ids"])
    np.testing.assert_array_equal(attention, expected["attention_mask"].astype(bool))


def test_the_pure_modules_do_not_import_torch():
    code = ("import sys, idr_kit.nn.align, idr_kit.nn.windows, idr_kit.nn.batching; "
            "sys.exit('torch' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO).returncode == 0


# ---- windows -------------------------------------------------------------------------------

@pytest.mark.parametrize("length, expected", [(5, [(0, 5)]), (10, [(0, 10)]),
                                              (11, [(0, 10), (1, 11)]),
                                              (20, [(0, 10), (7, 17), (10, 20)])])
def test_plan_windows_by_hand(length, expected):
    assert plan_windows(length, size=10, overlap=3) == expected


def test_plan_windows_for_a_long_protein_by_hand():
    # Stride 1022 - 256 = 766: starts 0 and 766, then the last window shifted to end at 2500.
    assert plan_windows(2500, 1022, 256) == [(0, 1022), (766, 1788), (1478, 2500)]


@pytest.mark.parametrize("length", [1, 7, 8, 9, 15, 16, 17, 50, 101])
@pytest.mark.parametrize("size, overlap", [(8, 0), (8, 3), (8, 7), (1, 0)])
def test_plan_windows_invariants(length, size, overlap):
    spans = plan_windows(length, size, overlap)
    assert spans == plan_windows(length, size, overlap)
    covered = np.zeros(length, dtype=int)
    for start, end in spans:
        assert 0 <= start < end <= length and end - start <= size
        covered[start:end] += 1
    assert covered.min() >= 1 and spans[0][0] == 0 and spans[-1][1] == length
    for (s0, e0), (s1, _) in zip(spans, spans[1:]):
        assert s0 < s1 and e0 - s1 >= overlap


@pytest.mark.parametrize("length, size, overlap", [(5, 0, 0), (5, 4, 4), (5, 4, -1), (0, 4, 1)])
def test_plan_windows_rejects_bad_settings(length, size, overlap):
    with pytest.raises(ValueError):
        plan_windows(length, size, overlap)


def test_stitch_averages_the_overlap_by_hand():
    out = stitch(7, [(0, 4), (3, 7)], [np.array([1, 2, 3, 4]), np.array([10, 20, 30, 40])])
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [1, 2, 3, (4 + 10) / 2, 20, 30, 40])
    three = stitch(5, [(0, 3), (1, 4), (2, 5)], [np.array([1, 2, 3]), np.array([4, 5, 6]),
                                                 np.array([7, 8, 9])])
    np.testing.assert_allclose(three, [1, (2 + 4) / 2, (3 + 5 + 7) / 3, (6 + 8) / 2, 9])


def test_stitch_of_constant_pieces_is_constant():
    spans = plan_windows(2500, 1022, 256)
    out = stitch(2500, spans, [np.full(e - s, 0.25) for s, e in spans])
    np.testing.assert_array_equal(out, np.full(2500, 0.25, dtype=np.float32))


def test_stitch_errors():
    with pytest.raises(ValueError, match="residue 4 .* no window"):
        stitch(7, [(0, 3), (4, 7)], [np.zeros(3), np.zeros(3)])
    with pytest.raises(ValueError, match="piece of shape"):
        stitch(7, [(0, 4), (3, 7)], [np.zeros(4), np.zeros(3)])
    with pytest.raises(ValueError, match="outside"):
        stitch(7, [(0, 8)], [np.zeros(8)])
    with pytest.raises(ValueError, match="2 spans but 1 pieces"):
        stitch(7, [(0, 4), (3, 7)], [np.zeros(4)])


# ---- batching ------------------------------------------------------------------------------

LENGTHS = [5, 1, 8, 3, 2, 9, 30]


def test_token_budget_batches_by_hand():
    # Widths (length + 2) in length order: i1 3, i4 4, i3 5, i0 7, i2 10, i5 11, i6 32.
    # [1,4,3]: 3*5=15; adding i0 would give 4*7=28 > 24. [0,2]: 2*10=20; adding i5, 3*11=33.
    # [5]: adding i6, 2*32=64. [6]: 32 > 24 alone.
    assert token_budget_batches(LENGTHS, 24) == [[1, 4, 3], [0, 2], [5], [6]]
    assert token_budget_batches([4, 4, 4], 12) == [[0, 1], [2]]  # ties keep index order
    assert token_budget_batches([4, 4, 4], 12, extra=0) == [[0, 1, 2]]
    assert token_budget_batches([], 10) == []


def test_every_index_once_and_budget_respected():
    lengths = np.random.default_rng(0).integers(1, 600, size=300).tolist()
    batches = token_budget_batches(lengths, 2000)
    assert sorted(i for b in batches for i in b) == list(range(300))
    for batch in batches:
        width = max(lengths[i] for i in batch) + 2
        assert len(batch) * width <= 2000 or len(batch) == 1
    firsts = [lengths[b[0]] for b in batches]
    assert firsts == sorted(firsts)  # seed=None: batches in length order


def test_seed_shuffles_batch_order_not_contents():
    plain = token_budget_batches(LENGTHS, 24)
    shuffled = [token_budget_batches(LENGTHS, 24, seed=s) for s in range(5)]
    assert shuffled[0] == token_budget_batches(LENGTHS, 24, seed=0)
    assert all(sorted(s) == sorted(plain) for s in shuffled)
    assert any(s != plain for s in shuffled)


def test_batching_rejects_bad_input():
    with pytest.raises(ValueError):
        token_budget_batches([3], 0)
    with pytest.raises(ValueError, match="index 1"):
        token_budget_batches([3, -1], 10)
