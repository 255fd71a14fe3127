"""Clipped window means, checked against arrays computed by hand."""
import numpy as np
import pytest

from idr_kit.data.window_means import centred_mean, window_bounds, window_mean

VALUES = np.array([[1.0, 10.0],
                   [2.0, 0.0],
                   [3.0, 0.0],
                   [4.0, 0.0],
                   [5.0, 10.0]])


def test_bounds_of_the_baseline_window_clip_at_both_ends():
    lo, hi = window_bounds(5, left=2, right=1)
    assert lo.tolist() == [0, 0, 0, 1, 2]
    assert hi.tolist() == [2, 3, 4, 5, 5]


def test_asymmetric_window_by_hand():
    # Rows i-2 .. i+1 (the official baseline's seq[i-2:i+2]), clipped at the termini.
    expected = np.array([[3 / 2, 10 / 2],  # rows 0-1
                         [6 / 3, 10 / 3],  # rows 0-2
                         [10 / 4, 10 / 4],  # rows 0-3
                         [14 / 4, 10 / 4],  # rows 1-4
                         [12 / 3, 10 / 3]])  # rows 2-4
    out = window_mean(VALUES, left=2, right=1)
    assert out.dtype == np.float32 and out.shape == (5, 2)
    np.testing.assert_allclose(out, expected, rtol=1e-6)


def test_centred_window_by_hand():
    expected = np.array([[1.5], [2.0], [3.0], [4.0], [4.5]])
    np.testing.assert_allclose(centred_mean(VALUES[:, :1], 3), expected, rtol=1e-6)


def test_width_one_is_the_identity():
    np.testing.assert_array_equal(centred_mean(VALUES, 1), VALUES.astype(np.float32))


def test_window_wider_than_the_protein_is_the_protein_mean():
    out = centred_mean(np.array([1.0, 2.0, 6.0]), 7)
    assert out.shape == (3, 1)
    np.testing.assert_allclose(out[:, 0], [3.0, 3.0, 3.0], rtol=1e-6)


def test_one_residue_protein():
    np.testing.assert_allclose(window_mean(np.array([[7.0, -1.0]]), 2, 1), [[7.0, -1.0]])


def test_long_protein_matches_explicit_slices():
    rng = np.random.default_rng(0)
    values = rng.normal(100.0, 50.0, size=(3000, 3))
    out = window_mean(values, left=20, right=5)
    expected = np.array([values[max(0, i - 20):i + 6].mean(0) for i in range(3000)])
    np.testing.assert_allclose(out, expected, rtol=1e-5)


@pytest.mark.parametrize("left,right", [(-1, 0), (0, -2)])
def test_negative_sides_are_refused(left, right):
    with pytest.raises(ValueError, match="must be >= 0"):
        window_mean(VALUES, left, right)


@pytest.mark.parametrize("width", [0, 2, -3])
def test_centred_window_needs_odd_positive_width(width):
    with pytest.raises(ValueError, match="odd width"):
        centred_mean(VALUES, width)
