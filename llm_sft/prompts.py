"""The instruction format: what the model is asked, how it answers, and reading the answer back.

A prompt is Qwen's chat format (ChatML) with a system and a user turn; the assistant's answer
is one label per residue. The rendering is chosen so that, under the Qwen2.5 tokenizer, every
residue and every label is exactly one token (tests/test_llm_prompts.py proves it on the real
vocabulary):

    residues  " M E T ..."  a space before each letter: " M" is one token, and a letter can
                            never merge with its neighbour across the space
    labels    "0110..."     no separators: Qwen's pre-tokenizer splits digits one by one, while
                            " 0" would be two tokens (a space before a digit stands alone)

Everything here is pure text; token ids are tokens.py's business.
"""
from __future__ import annotations

import numpy as np

IGNORE_INDEX = -100  # targets the loss skips: the prompt, padding and unassessed residues
LABEL_TOKENS = ("0", "1")  # ordered, disordered: index i is the token of label i
UNASSESSED_TOKEN = "-"  # stands in the teacher-forced answer for a '-' residue; never scored
SYSTEM_PROMPT = ("You are an expert in protein structure. You find intrinsically disordered "
                 "regions of proteins, residue by residue.")
USER_TEMPLATE = ("Label every residue of this protein: 1 if it is intrinsically disordered, "
                 "0 if it is ordered. Answer with exactly {n} digits, one per residue in order, "
                 "and nothing else.\nSequence ({n} residues):{residues}")
# Qwen2.5's chat template with a system message, rendered up to the assistant's answer
# (tests check it against the tokenizer's own apply_chat_template).
CHAT_TEMPLATE = ("<|im_start|>system\n{system}<|im_end|>\n"
                 "<|im_start|>user\n{user}<|im_end|>\n"
                 "<|im_start|>assistant\n")
ANSWER_END = "<|im_end|>"
RESIDUE_SEPARATOR = " "


def residue_text(seq: str) -> str:
    """'MEt' -> ' M E T': one token per residue (lowercase is read as uppercase)."""
    return "".join(RESIDUE_SEPARATOR + r for r in seq.upper())


def render_prompt(seq: str) -> str:
    """The chat prompt asking for ``seq``'s labels, ending where the answer starts."""
    user = USER_TEMPLATE.format(n=len(seq), residues=residue_text(seq))
    return CHAT_TEMPLATE.format(system=SYSTEM_PROMPT, user=user)


def split_prompt(seq: str) -> tuple[str, str, str]:
    """``render_prompt(seq)`` as (text before the residues, the residues, text after them)."""
    text, residues = render_prompt(seq), residue_text(seq)
    at = text.rindex(residues) if residues else text.rindex("):") + 2
    return text[:at], residues, text[at + len(residues):]


def render_answer(labels: np.ndarray, mask: np.ndarray | None = None) -> str:
    """(L,) 0/1 labels -> '0110...'; residues where ``mask`` is False become '-'."""
    labels = np.asarray(labels)
    mask = np.ones(len(labels), dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    if labels.shape != mask.shape:
        raise ValueError(f"labels {labels.shape} and mask {mask.shape} differ in shape")
    return "".join(LABEL_TOKENS[int(v)] if m else UNASSESSED_TOKEN for v, m in zip(labels, mask))
