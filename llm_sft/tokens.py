"""Prompts and answers as token ids, with the residue and answer positions known by construction.

A prompt's ids are the tokenizer's ids for the text before the residues, one id per residue,
and the ids for the text after them; an answer is one id per residue and the end-of-turn id.
Building them piece by piece (tests prove it equals tokenizing the whole text) is what makes
every position known without searching, and it keeps a run of unassessed residues as one
'-' token each, where tokenizing '---' would merge them.

Shapes: an ``Example`` holds ids (T,) and targets (T,) aligned for next-token prediction:
targets[t] is the id the model should give after reading ids[: t + 1], or IGNORE_INDEX.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from idr_kit.data.errors import InputError
from idr_kit.data.records import ALPHABET
from idr_kit.llm_sft.prompts import (ANSWER_END, IGNORE_INDEX, LABEL_TOKENS, RESIDUE_SEPARATOR,
                                     UNASSESSED_TOKEN, render_answer, split_prompt)


@dataclass(frozen=True)
class PromptVocab:
    """The ids the format needs, each checked to be exactly one token."""
    residue: dict  # letter -> id of " X"
    labels: tuple  # (id of "0", id of "1")
    unassessed: int
    end: int  # <|im_end|>
    pad: int
    tokenizer: object

    @classmethod
    def from_tokenizer(cls, tokenizer) -> "PromptVocab":
        residue = {r: single_token(tokenizer, RESIDUE_SEPARATOR + r) for r in ALPHABET}
        labels = tuple(single_token(tokenizer, t) for t in LABEL_TOKENS)
        end = single_token(tokenizer, ANSWER_END)
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else end
        return cls(residue, labels, single_token(tokenizer, UNASSESSED_TOKEN), end, pad, tokenizer)

    def text_ids(self, text: str) -> tuple[int, ...]:
        return _encode(self.tokenizer, text)


def single_token(tokenizer, text: str) -> int:
    ids = tokenizer.encode(text, add_special_tokens=False)
    if len(ids) != 1:
        raise ValueError(f"the tokenizer splits {text!r} into {len(ids)} tokens {ids}; the "
                         "prompt format needs it to be one (a Qwen2.5 tokenizer is)")
    return ids[0]


@lru_cache(maxsize=4096)  # prompts differ only in residues and count: the rest repeats
def _encode(tokenizer, text: str) -> tuple[int, ...]:
    return tuple(tokenizer.encode(text, add_special_tokens=False))


@dataclass(frozen=True)
class Prompt:
    ids: np.ndarray  # (T,) int64
    residues: int  # position of the first residue; residue i is at residues + i


def encode_prompt(seq: str, vocab: PromptVocab) -> Prompt:
    before, _, after = split_prompt(seq)
    head = vocab.text_ids(before)
    try:
        body = [vocab.residue[r] for r in seq.upper()]
    except KeyError as err:
        raise InputError(f"residue {err.args[0]!r} is not in the alphabet {ALPHABET}") from None
    ids = np.array([*head, *body, *vocab.text_ids(after)], dtype=np.int64)
    return Prompt(ids, len(head))


@dataclass(frozen=True)
class Example:
    ids: np.ndarray  # (T,) int64: prompt, answer, end of turn
    targets: np.ndarray  # (T,) int64: next-token targets, IGNORE_INDEX on the prompt and '-'
    answer: int  # position of the first answer token


def encode_example(seq: str, labels: np.ndarray, mask: np.ndarray, vocab: PromptVocab) -> Example:
    """Prompt + teacher-forced answer; the loss sees only assessed answer labels and the end."""
    prompt = encode_prompt(seq, vocab)
    ids_of = {**dict(zip(LABEL_TOKENS, vocab.labels)), UNASSESSED_TOKEN: vocab.unassessed}
    answer = np.array([ids_of[c] for c in render_answer(labels, mask)], dtype=np.int64)
    ids = np.concatenate([prompt.ids, answer, [vocab.end]])
    wanted = np.concatenate([answer, [vocab.end]])
    wanted[:len(answer)][~np.asarray(mask, dtype=bool)] = IGNORE_INDEX
    targets = np.full(len(ids), IGNORE_INDEX, dtype=np.int64)
    targets[len(prompt.ids) - 1:-1] = wanted  # the token at t + 1 is predicted at t
    return Example(ids, targets, len(prompt.ids))
