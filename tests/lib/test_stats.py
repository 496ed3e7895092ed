"""Intervals: Wilson against textbook values and its exact ends; Student-t against scipy's interval."""
import numpy as np
import pytest
from scipy import stats as st

from overparam.stats import t_interval, wilson_interval


@pytest.mark.parametrize("k, n, low, high", [(0, 10, 0.0, 0.2775), (3, 10, 0.1078, 0.6032), (10, 10, 0.7225, 1.0),
                                             (50, 100, 0.4038, 0.5962)])
def test_wilson_matches_textbook_values(k, n, low, high):
    r = wilson_interval(k, n)
    assert r.fraction == k / n
    assert abs(r.low - low) < 5e-5 and abs(r.high - high) < 5e-5


@pytest.mark.parametrize("n", [1, 7, 16, 150, 200, 400, 1001])
def test_wilson_ends_are_exact_at_zero_and_all(n):
    assert wilson_interval(0, n).low == 0.0
    assert wilson_interval(n, n).high == 1.0
    for k in range(0, n + 1, max(1, n // 7)):
        r = wilson_interval(k, n)
        assert r.low <= r.fraction <= r.high


def test_t_interval_matches_scipy():
    x = np.array([0.3, 0.5, 0.45, 0.61, 0.2])
    r = t_interval(x)
    lo, hi = st.t.interval(0.95, df=4, loc=x.mean(), scale=st.sem(x))
    assert r.mean == pytest.approx(x.mean()) and r.low == pytest.approx(lo) and r.high == pytest.approx(hi)
    assert r.n == 5 and r.half_width == pytest.approx((hi - lo) / 2)


def test_bad_input_names_the_parameter():
    with pytest.raises(ValueError, match=r"^successes\b"):
        wilson_interval(11, 10)
    with pytest.raises(ValueError, match=r"^n must\b"):
        wilson_interval(0, 0)
    with pytest.raises(ValueError, match=r"^level\b"):
        t_interval([1.0, 2.0], level=1.5)
    with pytest.raises(ValueError, match=r"^values must be finite\b"):
        t_interval([1.0, float("nan")])
