"""The comparison harness itself: non-finite values are compared, never hidden (issue 17).

Before, both sides went through nan_to_num, so NaN against NaN anywhere, NaN against 0 and inf against inf
all counted as equal. Now NaN / +inf / -inf must sit at the same places with the same sign, matching ones
are counted and reported, and a mismatch fails naming the leaf, the count and the first index.
"""
import numpy as np
import pytest
import torch

from jrestore.parity.harness import assert_close, max_abs_report

NAN, INF = float("nan"), float("inf")


def _pair(jax_values, torch_values):
    return np.array(jax_values, dtype=np.float32), torch.tensor(torch_values, dtype=torch.float32)


def test_nan_at_different_places_fails_naming_leaf_count_and_first_index():
    a, b = _pair([[1.0, NAN, 3.0]], [[1.0, 2.0, NAN]])
    with pytest.raises(AssertionError) as info:
        assert_close({"y": a}, {"y": b}, atol=1.0, name="out")
    message = str(info.value)
    assert "out.y" in message and "2 non-finite mismatch(es)" in message and "first at (0, 1)" in message
    report = max_abs_report({"y": a}, {"y": b}, "out")["out.y"]
    assert report["max_abs"] == INF and report["argmax"] == (0, 1)


def test_nan_at_the_same_place_passes_and_is_reported():
    a, b = _pair([1.0, NAN, 3.0, NAN], [1.25, NAN, 3.0, NAN])
    report = assert_close(a, b, atol=0.5, name="out")["out"]
    assert report["nonfinite"] == 2 and report["nonfinite_mismatch"] is None
    assert report["max_abs"] == 0.25 and report["argmax"] == (0,)  # from the finite places only
    assert report["scale"] == 3.0


def test_nan_against_zero_fails_either_way():
    for a, b in (_pair([0.0, NAN], [0.0, 0.0]), _pair([0.0, 0.0], [0.0, NAN])):
        with pytest.raises(AssertionError, match=r"1 non-finite mismatch\(es\), first at \(1,\)"):
            assert_close(a, b, atol=1.0)


def test_inf_of_the_same_sign_passes_and_opposite_sign_fails():
    a, b = _pair([INF, -INF, 2.0], [INF, -INF, 2.0])
    assert assert_close(a, b, atol=0.0)["outputs"]["nonfinite"] == 2
    a, b = _pair([INF, 2.0], [-INF, 2.0])
    with pytest.raises(AssertionError, match="first at"):
        assert_close(a, b, atol=1.0)
    a, b = _pair([INF], [NAN])  # both non-finite, but not the same value
    with pytest.raises(AssertionError, match="non-finite mismatch"):
        assert_close(a, b, atol=1.0)


def test_relative_tolerance_ignores_matching_infinities_in_the_scale():
    # With inf in the scale any difference would pass a relative check.
    a, b = _pair([INF, 1.0], [INF, 1.5])
    with pytest.raises(AssertionError, match="max_abs 5.000e-01"):
        assert_close(a, b, atol=1e-3, relative=True)


def test_rank4_torch_layout_is_applied_before_matching_positions():
    x = np.zeros((1, 2, 3, 4), np.float32)  # NHWC
    x[0, 1, 2, 3] = NAN
    t = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))  # same value, NCHW
    assert assert_close(x, t, atol=0.0)["outputs"]["nonfinite"] == 1
