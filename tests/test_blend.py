"""Blenders and fast metrics checked against hand-computed numbers and against data.metrics."""
import json
import math

import numpy as np
import pytest

import idr_kit.ensemble.blend as blend
from idr_kit.data.metrics import f1_max, roc_auc
from idr_kit.data.records import Protein, make_protein
from idr_kit.ensemble.blend import (BLENDERS, MeanBlender, RankBlender, StackBlender,
                                    WeightedBlender, blender_from_state, context_features, fast_auc,
                                    fast_f1_max, make_blender, pooled_members)

# ---- fast metrics ----------------------------------------------------------------------------

# The pooled example of tests/test_metrics.py: AUC .6875 -> .688, F1-max .727 at .2.
Y = np.array([1, 1, 0, 0, 1, 0, 1, 0])
S = np.array([.9, .4, .4, .1, .7, .4, .2, .6])
# Exact 3-decimal halves: data.metrics rounds with np.round (half to even on the float64 value),
# so 0.0005 -> 0.000 and 0.0015 -> 0.002; the float32 versions sit a hair off the half.
HALVES = np.array([0.0005, 0.0015, 0.0025, 0.1235, 0.4995, 0.5005, 0.9985, 0.9995])


def test_fast_metrics_by_hand():
    assert fast_auc(Y, S) == 0.688
    assert fast_f1_max(Y, S) == 0.727


def test_a_half_rounds_like_data_metrics():
    # 0.0005 rounds to 0.000 and ties with 0.0004: one shared threshold, AUC 0.5 (half-up
    # rounding would split them and give 1.0).
    assert fast_auc([1, 0], [0.0005, 0.0004]) == roc_auc([1, 0], [0.0005, 0.0004]) == 0.5
    # 0.0015 rounds to 0.002 and beats 0.0014 -> 0.001: AUC 1.0.
    assert fast_auc([1, 0], [0.0015, 0.0014]) == roc_auc([1, 0], [0.0015, 0.0014]) == 1.0


def random_case(seed: int, n: int, dtype) -> tuple[np.ndarray, np.ndarray]:
    """Labels and scores with many ties, exact halves, 0 and 1."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    s = np.where(y == 1, rng.beta(2, 1.5, n), rng.beta(1.5, 2, n))
    pick = rng.random(n)
    s = np.where(pick < 0.3, np.round(s, 2), s)  # ties
    s = np.where(pick > 0.8, rng.choice(np.r_[HALVES, 0.0, 1.0], n), s)
    return y, s.astype(dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("seed,n", [(0, 5), (1, 37), (2, 1000), (3, 20000)])
def test_fast_metrics_equal_data_metrics(seed, n, dtype):
    y, s = random_case(seed, n, dtype)
    assert fast_auc(y, s) == roc_auc(y, s)
    assert fast_f1_max(y, s) == f1_max(y, s)[0]


@pytest.mark.parametrize("seed", range(5))
def test_fast_metrics_equal_data_metrics_at_halves(seed):
    # Only halves and their neighbours one bin down or up, on a few residues: a wrong rounding
    # moves a score into the wrong tie and changes the metrics.
    rng = np.random.default_rng(seed)
    s = rng.choice(np.r_[HALVES, HALVES - 0.0004, HALVES + 0.0004], 12)
    y = rng.integers(0, 2, 12)
    assert fast_auc(y, s) == roc_auc(y, s)
    assert fast_f1_max(y, s) == f1_max(y, s)[0]


def test_fast_metrics_one_class():
    s = np.array([0.1, 0.5, 0.9])
    assert fast_auc([1, 1, 1], s) is None and roc_auc([1, 1, 1], s) is None
    assert fast_f1_max([0, 0, 0], s) == f1_max([0, 0, 0], s)[0] == 0.0


@pytest.mark.parametrize("y,s", [([1, 0], [0.5, 1.2]), ([1, 0], [0.5, np.nan]),
                                 ([1, 0], [0.5]), ([1, 2], [0.5, 0.4]), ([1.0, 0.0], [.5, .4])])
def test_fast_metrics_reject_bad_input(y, s):
    with pytest.raises(ValueError):
        fast_auc(np.array(y), np.array(s))


# ---- context features ------------------------------------------------------------------------

def test_context_features_by_hand():
    part = np.array([[0.5, 0.2], [0.25, 0.4], [0.75, 0.6], [1.0, 0.8], [0.0, 1.0]])
    big = math.log(9999)  # logit(1 - 1e-4): 0 and 1 are clipped by LOGIT_EPS
    expected = np.array([
        # logit m0          logit m1              mean3 m0     mean3 m1
        [0.0, math.log(0.25), 0.75 / 2, 0.6 / 2],  # edge: mean of 2 residues
        [-math.log(3), -math.log(1.5), 1.5 / 3, 1.2 / 3],
        [math.log(3), math.log(1.5), 2.0 / 3, 1.8 / 3],
        [big, math.log(4), 1.75 / 3, 2.4 / 3],
        [-big, big, 1.0 / 2, 1.8 / 2],  # edge
    ])
    got = context_features(part, (3,))
    assert got.shape == (5, 4)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)


def test_context_features_width_one_is_the_probability():
    part = np.random.default_rng(0).random((7, 3))
    got = context_features(part, (1, 5))
    assert got.shape == (7, 9)
    np.testing.assert_allclose(got[:, 3:6], part, rtol=1e-6)


# ---- synthetic members where the truth is visible --------------------------------------------

def synthetic(seed: int, n_proteins: int = 30, noise=(0.5, 1.5, None)):
    """Proteins with disordered stretches and members of growing noise; None = pure noise."""
    rng = np.random.default_rng(seed)
    proteins, parts = [], []
    for i in range(n_proteins):
        length = int(rng.integers(20, 300))
        truth = (np.convolve(rng.random(length), np.ones(15) / 15, "same") > 0.5).astype(int)
        mask = rng.random(length) > 0.1
        columns = [rng.random(length) if sd is None else
                   1 / (1 + np.exp(-(2 * truth - 1) - rng.normal(0, sd, length)))
                   for sd in noise]
        parts.append(np.stack(columns, axis=1).astype(np.float32))
        proteins.append(Protein(f"P{i}", "A" * length, (truth * mask).astype(np.uint8), mask))
    return parts, proteins


def pooled_auc(probs, proteins) -> float:
    y, s = pooled_members([p[:, None] for p in probs], proteins)
    return fast_auc(y, s[:, 0])


SETTINGS = {"mean": {}, "weighted": {"metric": "auc", "rounds": 10},
            "rank": {}, "stack": {"widths": (3, 9), "C": 1.0, "seed": 0}}


@pytest.fixture(scope="module")
def train():
    return synthetic(0)


@pytest.fixture(scope="module")
def test_set():
    return synthetic(1, n_proteins=10)


@pytest.mark.parametrize("name", sorted(BLENDERS))
def test_blender_contract(name, train, test_set):
    parts, proteins = train
    blender = make_blender(name, **SETTINGS[name]).fit(parts, proteins)
    assert blender.fit(parts, proteins) is blender
    probs = blender.predict(test_set[0])
    for prob, p in zip(probs, test_set[1]):
        assert prob.dtype == np.float32 and prob.shape == (len(p),)
        assert np.all((prob >= 0) & (prob <= 1))
    # one protein at a time gives the same as the batch
    for part, prob in zip(test_set[0], probs):
        np.testing.assert_array_equal(blender.predict([part])[0], prob)


@pytest.mark.parametrize("name", sorted(BLENDERS))
def test_blender_is_deterministic_and_round_trips(name, train, test_set):
    parts, proteins = train
    first = make_blender(name, **SETTINGS[name]).fit(parts, proteins)
    second = make_blender(name, **SETTINGS[name]).fit(parts, proteins)
    state = json.loads(json.dumps(first.state()))
    assert state == second.state() and state["kind"] == name
    again = blender_from_state(state)
    assert type(again) is BLENDERS[name]
    for a, b in zip(first.predict(test_set[0]), again.predict(test_set[0])):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", sorted(BLENDERS))
def test_blender_beats_its_worst_member(name, train, test_set):
    parts, proteins = train
    probs = make_blender(name, **SETTINGS[name]).fit(parts, proteins).predict(test_set[0])
    members = [pooled_auc([part[:, m] for part in test_set[0]], test_set[1]) for m in range(3)]
    assert pooled_auc(probs, test_set[1]) >= min(members)
    if name != "mean":  # the mean is dragged down by the noise member; learned blends are not
        assert pooled_auc(probs, test_set[1]) >= members[1]


# ---- each blender by hand --------------------------------------------------------------------

def test_mean_by_hand():
    probs = MeanBlender().predict([np.array([[0.2, 0.4], [1.0, 0.0]])])
    np.testing.assert_allclose(probs[0], [0.3, 0.5])


@pytest.mark.parametrize("metric", ["auc", "f1"])
def test_weighted_gives_noise_no_weight(metric, train):
    parts, proteins = train
    weights = WeightedBlender(metric, rounds=20).fit(parts, proteins).weights_
    assert weights.shape == (3,) and np.all(weights >= 0)
    assert weights.sum() == pytest.approx(1.0)
    assert weights[2] <= 0.05 and weights[0] >= 0.5


def test_weighted_picks_a_perfect_member_alone():
    # m0 separates the classes, m1 inverts them: round 1 picks m0 (AUC 1 vs 0); round 2's best
    # is m0 again (still 1); no later round beats 1 strictly, so round 1's selection is kept.
    protein = make_protein("P", "ACDE", "1100")
    part = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.1, 0.9]])
    blender = WeightedBlender("auc", rounds=3).fit([part], [protein])
    np.testing.assert_array_equal(blender.weights_, [1.0, 0.0])
    np.testing.assert_allclose(blender.predict([part])[0], part[:, 0])


def test_rank_by_hand():
    # OOF m0 = 0, .25, .5, .75, 1: its quantile of x is x.
    # OOF m1 = 0, 0, 0, 0, 1: quantiles 0 .. .75 all hold 0 -> 0 maps to their middle, .375;
    # above, the value at quantile q is 4 (q - .75), so .5 maps to .875.
    protein = make_protein("P", "ACDEF", "00011")
    oof = np.array([[0.0, 0.0], [0.25, 0.0], [0.5, 0.0], [0.75, 0.0], [1.0, 1.0]])
    blender = RankBlender().fit([oof], [protein])
    new = np.array([[0.5, 0.0], [0.25, 0.5], [1.0, 1.0], [-0.0, 0.0]])
    np.testing.assert_allclose(blender.predict([new])[0],
                               [(0.5 + 0.375) / 2, (0.25 + 0.875) / 2, 1.0, 0.375 / 2], atol=1e-6)


def test_stack_trusts_the_good_member(train):
    parts, proteins = train
    blender = StackBlender(widths=(5,)).fit(parts, proteins)
    coef = blender.coef_  # logit m0, m1, m2, then mean5 m0, m1, m2
    assert coef.shape == (6,) and coef[0] > 0 and abs(coef[2]) < abs(coef[0])


def test_stack_subsample_is_seeded(train, monkeypatch):
    monkeypatch.setattr(blend, "STACK_MAX_ROWS", 500)
    parts, proteins = train
    one, two = (StackBlender(seed=3).fit(parts, proteins) for _ in range(2))
    other = StackBlender(seed=4).fit(parts, proteins)
    np.testing.assert_array_equal(one.coef_, two.coef_)
    assert not np.array_equal(one.coef_, other.coef_)


# ---- edge cases --------------------------------------------------------------------------------

def one_protein(labels="0101"):
    return [make_protein("P", "ACDE", labels)]


PART = np.full((4, 2), 0.5)


@pytest.mark.parametrize("parts,proteins,message", [
    ([PART, np.full((4, 3), 0.5)], one_protein() * 2, "same M"),
    ([np.full(4, 0.5)], one_protein(), "same M"),
    ([PART, PART], one_protein(), "2 stacked arrays for 1 proteins"),
    ([np.full((5, 2), 0.5)], one_protein(), "5 stacked rows for 4 residues"),
    ([PART], [make_protein("P", "ACDE")], "no labels"),
    ([PART], one_protein("11-1"), "only one class"),
    ([PART], one_protein("----"), "only one class"),
    ([np.full((4, 2), 1.5)], one_protein(), r"in \[0, 1\]"),
    ([np.full((4, 2), np.nan)], one_protein(), r"in \[0, 1\]"),
    ([], [], "no proteins"),
])
@pytest.mark.parametrize("name", sorted(BLENDERS))
def test_fit_rejects_bad_input(name, parts, proteins, message):
    with pytest.raises(ValueError, match=message):
        make_blender(name).fit(parts, proteins)


@pytest.mark.parametrize("name", ["weighted", "rank", "stack"])
def test_predict_checks_the_member_count_and_fit(name, train):
    with pytest.raises(ValueError, match="not fitted"):
        make_blender(name).predict([PART])
    blender = make_blender(name).fit(*train)
    with pytest.raises(ValueError, match="expected 3"):
        blender.predict([PART])


@pytest.mark.parametrize("make", [lambda: make_blender("vote"),
                                  lambda: blender_from_state({"kind": "vote"}),
                                  lambda: WeightedBlender(metric="aps"),
                                  lambda: WeightedBlender(rounds=0),
                                  lambda: StackBlender(widths=(4,))])
def test_bad_settings(make):
    with pytest.raises(ValueError):
        make()
