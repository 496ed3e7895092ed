"""Sabotage cases for the chapter *Bad minima are rare*: each breaks the censuses right after the last
``experiment`` cell (the smooth census) so that they contradict one claim; the claims-check cell must
then fail. The Safran–Shamir census ran in an earlier ``experiment`` cell, whose analysis ``ss`` the
later cells read: the cases that break that census therefore rebind ``ss_census`` and recompute ``ss``
from it with the library's own ``analyse_safran_shamir``.

- ``wider_not_rarer``: every student of width ``k + 1`` ends where the width-``k`` runs ended (same
  classes, same Newton steps), so one extra neuron no longer makes bad minima rarer (the verdict).
- ``far_from_critical``: every certified bad minimum of the Safran–Shamir census is 1e-3 (a Newton
  step) from its critical point ("every certified bad minimum lies within ... of an exact critical
  point").
- ``uncertified_ends``: 2% of the runs of every (k, n) (taken from the global minima) end at saddles
  ("fewer than one run in a hundred" ends uncertified).
- ``smooth_wide_worse``: every run of the widest smooth student that reached the global minimum ends at
  a bad minimum instead ("the global share at the widest width at least the narrowest's").
"""

_SS = '''
import dataclasses as _dc
import math as _math
import numpy as _np
from overparam.experiments import bad_minima_rare as _bm


def _ss_points(change):
    # a new Safran-Shamir census with change(point) applied to each (k, n), and its analysis
    c = _dc.replace(ss_census, points=tuple(change(p) for p in ss_census.points))
    return c, _bm.analyse_safran_shamir(c, ks)
'''

CASES: dict[str, str] = {
    "wider_not_rarer": _SS + '''
_at_k = {p.k: p for p in ss_census.points if p.n == p.k}
ss_census, ss = _ss_points(lambda p: _dc.replace(
    p, verdict=_at_k[p.k].verdict, newton_step=_at_k[p.k].newton_step) if p.n == p.k + 1 else p)
''',
    "far_from_critical": _SS + '''
def _far(p):
    strict = _np.array([v == "strict_min" for v in p.verdict], dtype=bool)
    return _dc.replace(p, newton_step=_np.where(strict, 1e-3, p.newton_step))


ss_census, ss = _ss_points(_far)
''',
    "uncertified_ends": _SS + '''
def _saddles(p):
    n_bad = max(1, _math.ceil(0.02 * p.runs))
    glob = [i for i, v in enumerate(p.verdict) if v == "global"][:n_bad]
    return _dc.replace(p, verdict=tuple("saddle" if i in glob else v for i, v in enumerate(p.verdict)))


ss_census, ss = _ss_points(_saddles)
''',
    "smooth_wide_worse": '''
import dataclasses as _dc

_wide = max(p.n for p in sm_census.points)
sm_census = _dc.replace(sm_census, points=tuple(
    _dc.replace(p, verdict=tuple("strict_min" if v == "global" else v for v in p.verdict))
    if p.n == _wide else p for p in sm_census.points))
''',
}
