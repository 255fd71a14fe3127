"""Residue-to-token alignment for the token-classification backbones (numpy only, no torch).

Every backbone here (ESM-2, BERT-style models such as AntiBERTy) reads one token per residue,
framed by a start token and an end token. This module is the one place that knows that frame:

    tokens  (B, T) int64  row = [cls, r_1 .. r_L, eos, pad ...], T = max(L) + EXTRA_TOKENS
    residue i (0-based) of a protein sits at token i + RESIDUE_OFFSET

so model outputs are cut back to exactly one value per residue by `residue_slice` / `unpad`,
never by ad hoc slicing elsewhere (silent misalignment is the failure this guards against).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from idr_kit.data.errors import InputError

# Every backbone here prepends one start token (<cls> / [CLS]): residue i is token i + 1.
RESIDUE_OFFSET = 1
# The start token and the end token (<eos> / [SEP]) framing each sequence.
EXTRA_TOKENS = 2
# Ambiguous or rare residues, mapped to their closest standard residue only when the vocab
# lacks them: selenocysteine -> cysteine, pyrrolysine -> lysine, Asx -> Asn, Glx -> Gln,
# Xle -> Leu.
NEAREST = {"U": "C", "O": "K", "B": "N", "Z": "Q", "J": "L"}
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


@dataclass(frozen=True)
class Vocab:
    """A backbone's token ids: one-letter residues it knows plus the four specials."""

    ids: Mapping[str, int]  # one-letter residue -> token id (only letters the backbone knows)
    cls_id: int
    eos_id: int
    pad_id: int
    unk_id: int

    @classmethod
    def from_tokens(klass, token_to_id: Mapping[str, int], *, cls: str, eos: str, pad: str,
                    unk: str) -> "Vocab":
        """Keep the single letters A-Z of a tokenizer's vocab as residues; look up the specials.

        (The class is ``klass`` here so that ``cls`` can name the start token.)
        """
        specials = {"cls_id": cls, "eos_id": eos, "pad_id": pad, "unk_id": unk}
        missing = [tok for tok in specials.values() if tok not in token_to_id]
        if missing:
            raise ValueError(f"special tokens {missing} are not in the vocab")
        residues = {tok: int(i) for tok, i in token_to_id.items()
                    if len(tok) == 1 and tok in _LETTERS}
        if not residues:
            raise ValueError("the vocab has no single-letter residue tokens")
        return klass(residues, **{k: int(token_to_id[tok]) for k, tok in specials.items()})


def _lookup(vocab: Vocab) -> np.ndarray:
    """(128,) int64 token id per ASCII upper-case letter; -1 for anything else."""
    table = np.full(128, -1, dtype=np.int64)
    for letter in _LETTERS:
        known = letter if letter in vocab.ids else NEAREST.get(letter)
        table[ord(letter)] = vocab.ids.get(known, vocab.unk_id)
    return table


def residue_ids(seq: str, vocab: Vocab) -> np.ndarray:
    """(L,) int64 token ids of a sequence; lower case is read as upper case.

    A letter the vocab lacks becomes its NEAREST residue if the vocab has that, else unk.
    Raises ValueError (an InputError) naming the character and its 1-based position for
    anything that is not a letter A-Z.
    """
    if not seq.isascii():  # checked before upper(): "ß".upper() is "SS", one residue longer
        raise _invalid(seq, next(i for i, c in enumerate(seq) if not c.isascii()))
    ids = _lookup(vocab)[np.frombuffer(seq.upper().encode(), dtype=np.uint8)]
    bad = np.flatnonzero(ids < 0)
    if len(bad):
        raise _invalid(seq, int(bad[0]))
    return ids


def _invalid(seq: str, pos: int) -> InputError:
    return InputError(f"invalid residue {seq[pos]!r} (letters A-Z only)", position=pos + 1)


def encode_batch(seqs: Sequence[str], vocab: Vocab) -> tuple[np.ndarray, np.ndarray]:
    """Tokens (B, T) int64 and attention (B, T) bool, T = max(L) + EXTRA_TOKENS.

    Row b is [cls, r_1 .. r_L, eos, pad ...]; attention is True on cls, residues and eos.
    """
    rows = [residue_ids(seq, vocab) for seq in seqs]
    width = max((len(r) for r in rows), default=0) + EXTRA_TOKENS
    tokens = np.full((len(rows), width), vocab.pad_id, dtype=np.int64)
    attention = np.zeros((len(rows), width), dtype=bool)
    for b, ids in enumerate(rows):
        end = RESIDUE_OFFSET + len(ids)
        tokens[b, 0], tokens[b, end] = vocab.cls_id, vocab.eos_id
        tokens[b, RESIDUE_OFFSET:end] = ids
        attention[b, : end + 1] = True
    return tokens, attention


def residue_slice(row: np.ndarray, length: int) -> np.ndarray:
    """(T, ...) -> (length, ...): the residue positions of one row (a view, not a copy)."""
    if length < 0 or RESIDUE_OFFSET + length > len(row):
        raise ValueError(f"a row of {len(row)} tokens cannot hold {length} residues")
    return row[RESIDUE_OFFSET : RESIDUE_OFFSET + length]


def framed(row: np.ndarray, length: int) -> np.ndarray:
    """(T, ...) -> (length + EXTRA_TOKENS, ...): one row's start token, residues and end token
    (a view), as a frozen backbone's cached hidden states keep them."""
    residue_slice(row, length)  # the same bounds check
    return row[: length + EXTRA_TOKENS]


def unpad(values: np.ndarray, lengths: Sequence[int]) -> list[np.ndarray]:
    """(B, T, ...) -> one (L_b, ...) array per protein (copies, so the batch can be freed)."""
    if len(values) != len(lengths):
        raise ValueError(f"{len(values)} rows but {len(lengths)} lengths")
    return [residue_slice(row, int(n)).copy() for row, n in zip(values, lengths)]
