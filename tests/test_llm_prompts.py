"""The llm track's text format and its token ids, on the real Qwen2.5 tokenizer vocabulary."""
import numpy as np
import pytest

from idr_kit.data.records import ALPHABET
from idr_kit.llm_sft.batches import example_batch, prompt_batch
from idr_kit.llm_sft.prompts import (ANSWER_END, IGNORE_INDEX, LABEL_TOKENS, SYSTEM_PROMPT,
                                     USER_TEMPLATE, render_answer, render_prompt, residue_text,
                                     split_prompt)
from idr_kit.llm_sft.tokens import PromptVocab, encode_example, encode_prompt, single_token
from idr_kit.nn.pieces import Piece

from layouts import qwen_tokenizer_dir

GOLDEN_PROMPT = (
    "<|im_start|>system\n"
    "You are an expert in protein structure. You find intrinsically disordered regions of "
    "proteins, residue by residue.<|im_end|>\n"
    "<|im_start|>user\n"
    "Label every residue of this protein: 1 if it is intrinsically disordered, 0 if it is "
    "ordered. Answer with exactly 3 digits, one per residue in order, and nothing else.\n"
    "Sequence (3 residues): M E T<|im_end|>\n"
    "<|im_start|>assistant\n")


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer
    return AutoTokenizer.from_pretrained(qwen_tokenizer_dir())


@pytest.fixture(scope="module")
def vocab(tokenizer):
    return PromptVocab.from_tokenizer(tokenizer)


# -- text -------------------------------------------------------------------------------------
def test_prompt_golden():
    assert render_prompt("MEt") == GOLDEN_PROMPT
    assert residue_text("mEt") == " M E T"
    assert split_prompt("MET") == (GOLDEN_PROMPT.split(" M E T")[0], " M E T",
                                   "<|im_end|>\n<|im_start|>assistant\n")


def test_prompt_is_qwens_own_chat_template(tokenizer):
    for seq in ("MET", "A", "XUBZO" * 7):
        messages = [{"role": "system", "content": SYSTEM_PROMPT},
                    {"role": "user", "content": USER_TEMPLATE.format(n=len(seq),
                                                                     residues=residue_text(seq))}]
        assert tokenizer.apply_chat_template(messages, tokenize=False,
                                             add_generation_prompt=True) == render_prompt(seq)


def test_answer_golden():
    assert render_answer(np.array([0, 1, 1, 0])) == "0110"
    assert render_answer(np.array([0, 1, 0, 1]), np.array([True, False, False, True])) == "0--1"
    with pytest.raises(ValueError, match="shape"):
        render_answer(np.array([0, 1]), np.array([True]))


# -- tokens (the real Qwen2.5 vocabulary and merges) -------------------------------------------
def test_every_residue_and_label_is_one_token(tokenizer):
    for r in ALPHABET:
        assert len(tokenizer.encode(" " + r, add_special_tokens=False)) == 1, r
    for label in LABEL_TOKENS:
        assert len(tokenizer.encode(label, add_special_tokens=False)) == 1, label
    # In context too: a whole answer is one token per label, a whole sequence one per residue.
    answer = render_answer(np.random.default_rng(1).integers(0, 2, 300))
    assert len(tokenizer.encode(answer, add_special_tokens=False)) == 300
    seq = ALPHABET * 12
    assert len(tokenizer.encode(residue_text(seq), add_special_tokens=False)) == len(seq)


def test_spaced_digits_would_not_be_one_token(tokenizer):
    """Why labels carry no separators: Qwen makes ' 0' two tokens (space, digit)."""
    assert len(tokenizer.encode(" 0", add_special_tokens=False)) == 2


def test_vocab_ids(vocab, tokenizer):
    assert [tokenizer.decode([i]) for i in vocab.labels] == list(LABEL_TOKENS)
    assert tokenizer.decode([vocab.residue["W"]]) == " W"
    assert tokenizer.decode([vocab.end]) == ANSWER_END
    assert len(set(vocab.residue.values())) == len(ALPHABET)


def test_single_token_refuses_a_split(tokenizer):
    with pytest.raises(ValueError, match="into 2 tokens"):
        single_token(tokenizer, " 0")


@pytest.mark.parametrize("seq", ["MET", "A", "ACDEFGHIKLMNPQRSTVWYXUBZO" * 5, "mkvl" * 40])
def test_prompt_ids_equal_tokenizing_the_whole_text(vocab, tokenizer, seq):
    prompt = encode_prompt(seq, vocab)
    assert prompt.ids.tolist() == tokenizer.encode(render_prompt(seq), add_special_tokens=False)
    residues = prompt.ids[prompt.residues:prompt.residues + len(seq)]
    assert tokenizer.decode(residues) == residue_text(seq)


def test_example_targets_golden(vocab):
    labels, mask = np.array([1, 0, 1]), np.array([True, False, True])
    example = encode_example("MET", labels, mask, vocab)
    prompt = encode_prompt("MET", vocab).ids
    zero, one = vocab.labels
    answer = [one, vocab.unassessed, one, vocab.end]
    assert example.ids.tolist() == prompt.tolist() + answer
    assert example.answer == len(prompt)
    # targets[t] is the token at t + 1: the last prompt position predicts the first label.
    expected = [IGNORE_INDEX] * (len(prompt) - 1) + [one, IGNORE_INDEX, one, vocab.end, IGNORE_INDEX]
    assert example.targets.tolist() == expected


def test_example_batch_pads_on_the_left():
    from idr_kit.llm_sft.tokens import Example
    a = Example(np.array([5, 6, 7]), np.array([6, 7, -100]), 1)
    b = Example(np.array([8]), np.array([-100]), 0)
    batch = example_batch([a, b], pad=0)
    assert batch["ids"].tolist() == [[5, 6, 7], [0, 0, 8]]
    assert batch["attention"].tolist() == [[True] * 3, [False, False, True]]
    assert batch["targets"].tolist() == [[6, 7, -100], [-100, -100, -100]]


def test_prompt_batch_marks_residues_and_their_labels(vocab):
    pieces = [Piece(0, 0, 3, "MET", np.array([1, 0, 1], np.float32), np.array([True, False, True])),
              Piece(1, 0, 1, "A", np.array([1], np.float32), np.array([True]))]
    prompts = [encode_prompt(p.seq, vocab) for p in pieces]
    batch = prompt_batch(prompts, pieces, vocab.pad)
    ids, residues = batch["ids"].numpy(), batch["residues"].numpy()
    for row, piece in enumerate(pieces):
        assert ids[row][residues[row]].tolist() == [vocab.residue[r] for r in piece.seq]
        assert batch["labels"][row][residues[row]].tolist() == piece.labels.tolist()
        assert batch["mask"][row][residues[row]].tolist() == piece.mask.tolist()
    assert int(batch["mask"].sum()) == 3 and batch["labels"][~batch["residues"]].sum() == 0
    width = ids.shape[1]
    assert (~batch["attention"][1, :width - len(prompts[1].ids)]).all()  # left padding
