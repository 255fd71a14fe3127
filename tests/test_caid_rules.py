"""score.py gives CAID's figures on CAID's files: checked against an independent reading of what
CAID's evaluator does (BioComputingUP/CAID vectorized_metrics: parsers.parse_prediction, then
align_reference_prediction, then the dataset curves), on files made to hit every rule where
the kit's own readers once departed from it. Where score.py departs on purpose, it says so.
"""
from __future__ import annotations

import io
import json
from itertools import groupby
from pathlib import Path

import numpy as np
import pytest

from runs import run_tool

# ---- CAID, as its code reads (an independent transcription of the rules, for the oracle) ----


def caid_reference(text: str) -> dict[tuple[str, int], float]:
    """(id, position) -> state (NaN for '-'): the header's first word is the id."""
    ref = {}
    lines = [line for line in text.splitlines() if line]
    for i in range(0, len(lines), 3):
        acc = lines[i][1:].strip().split()[0]
        for j, state in enumerate(lines[i + 2].strip()):
            ref[(acc, j)] = {"0": 0.0, "1": 1.0}.get(state, np.nan)
    return ref


def caid_prediction(text: str, ids: set[str]) -> dict[tuple[str, int], float]:
    """(id, position) -> score rounded to 3 decimals; the whole header line is the id, rows
    are split on tabs and zipped, 3 columns give scores, 4 states too, others drop it."""
    pred = {}
    groups = (g for _, g in groupby(io.StringIO(text), lambda line: line[0] == ">"))
    for header in groups:
        acc = next(header).strip()[1:]
        body = next(groups)
        if acc not in ids:
            continue
        columns = list(zip(*(line.strip("\n").rsplit("\t") for line in body)))
        scores = states = None
        if len(columns) == 3:
            _, _, scores = columns
        elif len(columns) == 4:
            _, _, scores, states = columns
        if states is not None and states[0]:
            states = np.array(states, dtype=np.float64)
            scores = np.array(scores, dtype=np.float64) if scores[0] else states
        elif scores is not None and scores[0]:
            scores = np.array(scores, dtype=np.float64)
        else:
            continue
        for i, value in enumerate(scores.round(3)):
            pred[(acc, i)] = value
    return pred


def caid_dataset(ref: dict, pred: dict) -> dict:
    """The pooled rows CAID keeps (both present, neither NaN) and its AUC, APS and F1-max."""
    keys = [k for k in ref if k in pred and not np.isnan(ref[k]) and not np.isnan(pred[k])]
    y = np.array([ref[k] for k in keys])
    s = np.array([pred[k] for k in keys])
    order = np.argsort(s, kind="mergesort")[::-1]
    s, y = s[order], y[order] == 1.0
    idx = np.r_[np.where(np.diff(s))[0], len(y) - 1]
    tps = np.cumsum(y, dtype=np.float64)[idx]
    fps = 1 + idx - tps
    fpr = np.round(np.r_[0, fps] / fps[-1], 3)
    tpr = np.round(np.r_[0, tps] / tps[-1], 3)
    auc = round(float(np.trapezoid(tpr, fpr)), 3)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.nan_to_num(tps / (tps + fps))
    ppv, rec = np.round(np.r_[1, precision], 3), np.round(np.r_[0, tps / tps[-1]], 3)
    aps = round(float(-np.sum(np.diff(rec[::-1]) * ppv[::-1][:-1])), 3)
    p, r = ppv[1:], rec[1:]
    denom = np.where(p + r == 0, 1, p + r)
    f1 = np.round(2 * p * r / denom, 3)
    return {"residues": len(keys), "auc": auc, "aps": aps, "f1_max": float(f1.max())}


# ---- the files --------------------------------------------------------------------------------

RNG = np.random.default_rng(7)
LETTERS = list("ACDEFGHIKLMNPQRSTVWY")


def protein(n: int) -> tuple[str, str]:
    seq = "".join(RNG.choice(LETTERS, n))
    labels = "".join(RNG.choice(list("01-"), n, p=[0.45, 0.35, 0.2]))
    return seq, labels


REF = {f"T{i}": protein(n) for i, n in enumerate((40, 55, 31, 60, 47, 38, 52, 44, 36, 41))}
REF["T_U"] = ("MKU" + REF["T0"][0][3:], REF["T0"][1])  # a selenocysteine in the reference


def ref_text() -> str:
    return "".join(f">{pid} some description\n{seq}\n{labels}\n"
                   for pid, (seq, labels) in REF.items())


def rows(seq: str, scores, states=None, sep: str = "\t") -> list[str]:
    out = []
    for i, (aa, sc) in enumerate(zip(seq, scores), 1):
        cells = [str(i), aa, f"{sc:.3f}"] + ([str(states[i - 1])] if states is not None else [])
        out.append(sep.join(cells))
    return out


def prediction_text() -> str:
    """One protein for each rule: see the comments."""
    lines = []

    def add(header: str, body: list[str]):
        lines.extend([f">{header}", *body])

    def scores_for(pid, n=None):
        seq = REF[pid][0]
        return RNG.random(n if n is not None else len(seq))

    add("T0", rows(REF["T0"][0], scores_for("T0"), RNG.integers(0, 2, 40)))  # plain
    add("T_U", rows("MKC" + REF["T_U"][0][3:], scores_for("T_U")))  # C where the reference has U
    seq = REF["T1"][0]
    add("T1", rows(seq[:20] + ("A" if seq[20] != "A" else "C") + seq[21:], scores_for("T1")))
    add("T2", rows(REF["T2"][0][:-1], scores_for("T2", 30)))  # one residue short
    add("T3", rows(REF["T3"][0] + "K", scores_for("T3", 61)))  # one residue long
    add("T4 a description", rows(REF["T4"][0], scores_for("T4")))  # CAID: another id
    add("T5", rows(REF["T5"][0], scores_for("T5"), sep=" "))  # not tab separated: dropped
    add("T6", [*rows(REF["T6"][0], scores_for("T6"))[:10], "",
               *rows(REF["T6"][0], scores_for("T6"))[10:]])  # a blank line among its rows
    states = RNG.integers(0, 2, 44)
    add("T7", [f"{i}\t{aa}\t\t{st}" for i, (aa, st) in enumerate(zip(REF["T7"][0], states), 1)])
    add("T8", [row.replace(f"{i}\t", f"{i + 5}\t", 1)  # positions that do not run 1, 2, 3
               for i, row in enumerate(rows(REF["T8"][0], scores_for("T8")), 1)])
    add("EXTRA", rows("MKV", [0.1, 0.2, 0.3]))  # a protein the reference lacks
    return "\n".join(lines) + "\n"  # T9 has no prediction


PREDICTION = prediction_text()


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("caid")
    (folder / "ref.fasta").write_text(ref_text())
    (folder / "pred.caid").write_text(PREDICTION)
    return folder


def score(folder: Path, *more) -> tuple[dict, str]:
    result = run_tool("commands/score.py", "--ref", folder / "ref.fasta", "--pred", folder / "pred.caid",
                      "--json", *more)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1]), result.stdout


def test_score_gives_caids_figures_on_a_caid_file(files):
    ref = caid_reference(ref_text())
    caid = caid_dataset(ref, caid_prediction(PREDICTION, {k[0] for k in ref}))
    ours, _ = score(files)
    assert {k: ours[k] for k in caid} == caid


def test_each_rule_is_caids(files):
    ours, text = score(files)
    # scored: T0, T_U (C for U), T1 (one substitution), T2 and T3 on their overlap, T7 (its
    # states as its scores), T8 (positions are not read); dropped: T4 (the whole header is
    # its id), T5 (spaces), T6 (a blank row), T9 (no prediction)
    assert ours["dropped"] == 4 and ours["proteins"] == 7
    assert "scored 2 predictions of another length" in text and "T2" in text and "T3" in text
    assert "differs from the reference at a few positions" in text and "T_U" in text
    assert "states are their scores" in text and "T7" in text
    assert "ignored 2 predicted proteins" in text and "--first-word-ids" in text
    assert "tab-separated column" in text  # why T5 and T6 were dropped


def test_strict_drops_every_prediction_that_differs(files):
    ours, text = score(files, "--strict")
    assert ours["dropped"] == 8 and ours["proteins"] == 3  # T0, T7, T8 remain
    assert "(--strict)" in text


def test_first_word_ids_match_a_described_header(files):
    default, _ = score(files)
    matched, _ = score(files, "--first-word-ids")
    assert matched["dropped"] == default["dropped"] - 1


def test_a_prediction_for_another_protein_is_dropped_and_said_so(tmp_path):
    (tmp_path / "ref.fasta").write_text(ref_text())
    other = protein(40)[0]
    (tmp_path / "pred.caid").write_text("\n".join([">T0", *rows(other, RNG.random(40))]) + "\n")
    result = run_tool("commands/score.py", "--ref", tmp_path / "ref.fasta", "--pred",
                      tmp_path / "pred.caid", "--json")
    # Nothing left to score is an error (a score over 0 proteins is no score), and it says why.
    assert result.returncode == 2, result.stdout
    assert "1 with a prediction for another protein" in result.stderr
