"""Scoring a prediction file against its references as CAID does (docs/scoring.md): matching
ids, dropping what no metric can use and saying why, the pooled metrics. idr-score
(commands/score.py) prints what ``score`` returns.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from idr_kit.data.errors import FileRefused, InputError, UserError, brief
from idr_kit.data.load import PredictionSet, read_predictions, read_proteins
from idr_kit.data.metrics import (DEFAULT_THRESHOLD, binarize, binary_source, drop_reasons,
                                  evaluate)
from idr_kit.data.reading import read_record
from idr_kit.data.records import Protein
from idr_kit.model.decision import check_threshold


SHOWN_IDS = 5  # ids listed per reason before "..."; the count is always complete
ANOTHER_PROTEIN = 0.5  # a prediction whose residues differ from its reference's at more than
# half the positions they share was made for another protein


def read_reference(path: str) -> list[Protein]:
    ref = read_proteins(path)
    unlabelled = [p.id for p in ref if not p.has_labels]
    if not ref or unlabelled:
        what = f"protein {unlabelled[0]} has no labels" if unlabelled else "no proteins"
        raise InputError(f"{what}; the reference must be labelled (0/1/-) to score against",
                         source=path)
    return ref


def _ids(ids: list[str]) -> str:
    shown = ", ".join(i if len(i) <= 40 else i[:37] + "..." for i in ids[:SHOWN_IDS])
    return shown + (", ..." if len(ids) > SHOWN_IDS else "")


@dataclass
class Checked:
    """A prediction made fit to score: each reference protein cut to the residues its
    prediction shares with it, and what was taken out or changed, with why."""
    ref: list[Protein]  # to score: cut to the overlap where the lengths differ
    pred: PredictionSet
    other_protein: list[str] = field(default_factory=list)  # dropped: mostly other residues
    unreadable: list[str] = field(default_factory=list)  # dropped: a row could not be read
    strict: list[str] = field(default_factory=list)  # dropped by --strict
    overlap: list[str] = field(default_factory=list)  # another length: scored on the overlap
    substituted: list[str] = field(default_factory=list)  # a few residues differ: scored
    called: list[str] = field(default_factory=list)  # no states: called at score >= 0.5
    extra: list[str] = field(default_factory=list)  # predicted, not in the reference


def by_first_word(pred: PredictionSet, source: str = "the predictions") -> PredictionSet:
    """The prediction with each id cut to its header's first word; InputError naming both
    headers when two share their first word (one would silently stand for the other)."""
    def cut(values):
        if values is None:
            return None
        found: dict = {}
        for key, value in values.items():
            word = key.split()[0] if key.split() else key
            if word in found:
                raise InputError(f"--first-word-ids: the headers {brief(found[word][0])} and "
                                 f"{brief(key)} share their first word {brief(word)}; score "
                                 "without it, or give them distinct ids", source=source)
            found[word] = (key, value)
        return {word: value for word, (_, value) in found.items()}
    return PredictionSet(cut(pred.scores), cut(pred.binary), cut(pred.seqs),
                         cut(pred.unreadable) or {}, pred.scores_from_states, pred.unread,
                         pred.notes)


def check_against(ref: list[Protein], pred: PredictionSet, strict: bool = False) -> Checked:
    """CAID's matching: by id; a prediction of another length is scored on the residues it
    shares with its reference (its first min(L, L') positions); one whose residues mostly
    differ from the reference's is dropped (``--strict``: any difference of length or
    residues drops it)."""
    by_id = {p.id: p for p in ref}
    predicted = set(pred.scores or {}) | set(pred.binary or {}) | set(pred.unreadable)
    checked = Checked([], pred, extra=sorted(predicted - set(by_id)) + sorted(pred.unread))
    keep_scores, keep_binary = dict(pred.scores or {}), dict(pred.binary or {})
    for p in ref:
        if p.id in pred.unreadable:
            checked.unreadable.append(p.id)
        values = keep_scores.get(p.id, keep_binary.get(p.id))
        if values is None:
            checked.ref.append(p)
            continue
        n = min(len(values), len(p))
        differ = _differences(p.seq[:n], (pred.seqs or {}).get(p.id, "")[:n])
        if differ > ANOTHER_PROTEIN * n or (strict and (differ or len(values) != len(p))):
            (checked.other_protein if differ > ANOTHER_PROTEIN * n else checked.strict
             ).append(p.id)
            keep_scores.pop(p.id, None)
            keep_binary.pop(p.id, None)
            checked.ref.append(p)
            continue
        if differ:
            checked.substituted.append(p.id)
        if n < len(p) or n < len(values):
            checked.overlap.append(p.id)
            for kept in (keep_scores, keep_binary):
                if p.id in kept:
                    kept[p.id] = kept[p.id][:n]
            p = Protein(p.id, p.seq[:n], p.labels[:n], p.mask[:n])
        checked.ref.append(p)
    if pred.binary is not None:  # CAID: a protein without states is called at score >= 0.5
        for pid in sorted(set(keep_scores) - set(keep_binary)):
            keep_binary[pid] = binarize(keep_scores[pid], DEFAULT_THRESHOLD)
            checked.called.append(pid)
    checked.pred = PredictionSet(keep_scores if pred.scores is not None else None,
                                 keep_binary if pred.binary is not None else None,
                                 pred.seqs, pred.unreadable, pred.scores_from_states,
                                 pred.unread, pred.notes)
    return checked


def _differences(ref_seq: str, pred_seq: str) -> int:
    """Positions where a prediction's residue column names another residue (none when the
    format carries no residues)."""
    if not pred_seq:
        return 0
    return sum(a != b for a, b in zip(ref_seq.upper(), pred_seq.upper()))


def drop_report(checked: Checked, threshold: float | None) -> list[str]:
    """Lines: how many reference proteins were dropped, and why; what was scored otherwise
    than as written, and what was extra."""
    ref, pred = checked.ref, checked.pred
    reasons = drop_reasons(ref, pred.scores, pred.binary, threshold)
    told = set(checked.other_protein) | set(checked.unreadable) | set(checked.strict)
    missing = [pid for pid in reasons["missing"] if pid not in told]
    whys = {pid: why for pid, why in pred.unreadable.items() if pid in checked.unreadable}
    parts = [f"{len(ids)} {why} ({_ids(ids)})" for why, ids in
             (("without a prediction", missing),
              ("with a prediction of another length", reasons["wrong_length"]),
              ("with a prediction for another protein (its residues mostly differ)",
               checked.other_protein),
              ("with a prediction of another length or other residues (--strict)",
               checked.strict),
              ("with an unreadable prediction", checked.unreadable)) if ids]
    total = len(reasons["missing"]) + len(reasons["wrong_length"])
    lines = [f"dropped {total} of {len(ref)} reference proteins" + (
        ": " + "; ".join(parts) if parts else "")]
    if whys:
        first = next(iter(whys))
        lines.append(f"  unreadable: {first}: {whys[first]}" + (
            f" (and {len(whys) - 1} more)" if len(whys) > 1 else ""))
    if checked.overlap:
        lines.append(f"scored {len(checked.overlap)} predictions of another length on the "
                     f"residues they share with the reference, as CAID does "
                     f"({_ids(checked.overlap)}); --strict drops them")
    if checked.substituted:
        lines.append(f"scored {len(checked.substituted)} predictions whose residue column "
                     f"differs from the reference at a few positions, as CAID does "
                     f"({_ids(checked.substituted)}); --strict drops them")
    if checked.called:
        lines.append(f"{len(checked.called)} predictions have scores but no states in a file "
                     f"that has states: they are called at score >= {DEFAULT_THRESHOLD}, as "
                     f"CAID calls them ({_ids(checked.called)})")
    scored_states = [pid for pid in pred.scores_from_states if pid in {p.id for p in ref}]
    if scored_states:
        lines.append(f"{len(scored_states)} predictions have states but no scores: their "
                     f"states are their scores, as CAID reads them ({_ids(scored_states)})")
    if checked.extra:
        lines.append(f"ignored {len(checked.extra)} predicted proteins that the reference "
                     f"does not have ({_ids(checked.extra)})" + _first_word_hint(checked))
    return lines + [f"note: {note}" for note in pred.notes]


def _first_word_hint(checked: Checked) -> str:
    names = {p.id for p in checked.ref}
    if any(pid.split() and pid.split()[0] in names for pid in checked.extra):
        return ("; some headers' first word names a reference protein: CAID takes the whole "
                "header line as the id (--first-word-ids matches the first word)")
    return ""


def run_threshold(pred_path: str, pred: PredictionSet) -> tuple[float | None, str | None]:
    """The threshold of the run that wrote a probs.npz: its config.json beside it says. A
    config.json that holds none is no run's; one whose threshold is not a number in [0, 1] is
    refused, naming it."""
    config = Path(pred_path).with_name("config.json")
    if pred.binary is not None or not config.is_file():
        return None, None
    try:
        record = read_record(config)
    except UserError:  # a file beside the predictions that is no run's record
        return None, None
    if not isinstance(record, dict) or "threshold" not in record:
        return None, None
    try:
        threshold = check_threshold(record["threshold"])
    except ValueError:
        raise FileRefused(f"{config}: its threshold {brief(record['threshold'])} is not a "
                          "number in [0, 1]; pass --threshold to choose one") from None
    return threshold, f"the run's threshold ({config})"


def calls_line(pred: PredictionSet, threshold: float | None, source: str | None) -> str:
    kind = binary_source(pred.scores is not None, pred.binary is not None, threshold)
    return "binary calls: " + {"threshold": f"rounded score >= {threshold} ({source})",
                               "binary": "the prediction's binary column",
                               "default": f"rounded score >= {DEFAULT_THRESHOLD} (default)"
                               }[kind]


def score(args) -> tuple[list[str], dict]:
    ref = read_reference(args.ref)
    pred = read_predictions(args.pred, {p.id: len(p) for p in ref})
    if args.first_word_ids:
        pred = by_first_word(pred, str(args.pred))
    checked = check_against(ref, pred, strict=args.strict)
    threshold, source = args.threshold, "--threshold"
    if threshold is None:
        threshold, source = run_threshold(args.pred, checked.pred)
    result = evaluate(checked.ref, checked.pred.scores, checked.pred.binary, threshold)
    dropped = drop_report(checked, threshold)
    if not result.get("proteins"):  # every metric would be n/a: nothing was scored
        raise InputError(f"not one protein of {args.ref} could be scored: {dropped[0]} (is it "
                         "the prediction of these proteins?)", source=str(args.pred))
    return [*dropped, calls_line(checked.pred, threshold, source)], result
