"""Sabotage cases for the chapter *Escape dimensions*: each breaks the chapter's data right after the
``experiment`` cell (the escape runs) so that it contradicts one claim the verdict rests on; the
claims-check cell, which recomputes its inputs from ``rates``, ``splits`` and ``escapes``
(``escape_report.claim_measures``), must then fail.

- ``split_not_saddle``: every split point's smallest Hessian eigenvalue made positive (its absolute
  value), so no certified minimum turns into a saddle when a neuron is split ("every minimum becomes
  a saddle when some neuron is split").
- ``zero_neuron_slope_positive``: the steepest new-neuron slope and the teacher-direction slope sums
  made positive at every minimum ("a new neuron grown from zero lowers the loss at first order":
  the steepest slope negative at every certified minimum, the zero-neuron theorem's inequality).
- ``no_escape``: every escape run ends where it started (loss after = loss before, nothing lowered,
  escaped or global): "gradient descent escapes; with two extra neurons most minima escape" (the
  front page's verdict).
- ``wider_not_rarer``: the bad-run rates (fractions and intervals) at ``n = k`` and ``n = k + 1``
  swapped, so that one extra neuron makes bad end points more common ("one extra neuron lowers the
  bad-run rate").
"""

CASES: dict[str, str] = {
    "split_not_saddle": """
import dataclasses as _dc

splits = {k: _dc.replace(a, split_lam=a.split_lam.abs()) for k, a in splits.items()}
""",
    "zero_neuron_slope_positive": """
import dataclasses as _dc

splits = {
    k: _dc.replace(a, slope=a.slope.abs(), teacher_sum=a.teacher_sum.abs())
    for k, a in splits.items()
}
""",
    "no_escape": """
escapes = escapes.assign(
    loss_after=escapes.loss_before, lowered=False, escaped=False, **{"global": False}
)
""",
    "wider_not_rarer": """
_cols = ["bad_fraction", "ci_low", "ci_high"]
_narrow, _wide = rates.n == rates.k, rates.n == rates.k + 1
_old, rates = rates, rates.copy()  # a new object: the saved table is left as it was
rates.loc[_narrow, _cols] = _old.loc[_wide, _cols].to_numpy()
rates.loc[_wide, _cols] = _old.loc[_narrow, _cols].to_numpy()
""",
}
