"""Intervals the book reports: Student-t for means over seeds, Wilson for success fractions."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats as _st

from .validate import check_float, check_int

__all__ = ["MeanCI", "RateCI", "t_interval", "wilson_interval"]


@dataclass(frozen=True)
class MeanCI:
    mean: float
    low: float
    high: float
    n: int

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2


@dataclass(frozen=True)
class RateCI:
    successes: int
    n: int
    fraction: float
    low: float
    high: float


def t_interval(values, level: float = 0.95) -> MeanCI:
    """Mean and two-sided Student-t interval of ``values`` (1-D; NaN entries are an error)."""
    level = check_float("level", level, min=0.0, max=1.0, min_inclusive=False, max_inclusive=False)
    x = np.asarray(values, dtype=float).ravel()
    if x.size == 0:
        raise ValueError("values must hold at least one number")
    if not np.all(np.isfinite(x)):
        raise ValueError("values must be finite")
    m = float(x.mean())
    if x.size == 1:
        return MeanCI(m, float("nan"), float("nan"), 1)
    half = float(_st.t.ppf(0.5 + level / 2, df=x.size - 1) * x.std(ddof=1) / np.sqrt(x.size))
    return MeanCI(m, m - half, m + half, int(x.size))


def wilson_interval(successes: int, n: int, level: float = 0.95) -> RateCI:
    """Wilson score interval for ``successes`` out of ``n`` trials."""
    n = check_int("n", n, min=1)
    successes = check_int("successes", successes, min=0, max=n)
    level = check_float("level", level, min=0.0, max=1.0, min_inclusive=False, max_inclusive=False)
    z = float(_st.norm.ppf(0.5 + level / 2))
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # At 0 or n successes the bound is exactly 0 or 1 (rounding gave 1.7e-18 and 0.9999999999999999,
    # which made error bars negative and a rate of 1 fall outside its own interval).
    low = 0.0 if successes == 0 else float(max(0.0, centre - half))
    high = 1.0 if successes == n else float(min(1.0, centre + half))
    return RateCI(successes, n, p, low, high)
