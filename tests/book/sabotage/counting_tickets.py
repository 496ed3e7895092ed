"""Sabotage cases for the chapter *Counting tickets*: each breaks the experiment's data right after the
``experiment`` cell (``experiments``, ``{k: TicketExperiment}``, and ``control_runs``, the 1-D
control) so that it contradicts one claim the chapter's verdict rests on; the claims-check cell must
then fail.

- ``restarts_explain_2k``: the width-2k student wins only where its first k neurons win alone as a
  width-k student, so its success no longer lies above the independent-restarts prediction ("more
  neurons buy far more than independent restarts would").
- ``ticket_is_sufficient``: the width-(k+1) student wins at every seed where some width-k subnetwork
  wins alone (trained at the wide step): no ticket holder fails ("holding a winning ticket is not
  sufficient", the front page's verdict).
- ``wide_is_ticket_plus_inert``: where both win, the width-(k+1) student's solution becomes the first
  winning ticket's own solution plus a zero neuron ("in the others, the wide student reached the
  global minimum by a different assignment ... than any winning ticket did alone").
- ``control_shuffled``: the 1-D control's width-n students' runs are permuted across seeds, so a
  student's success no longer goes with its own neurons' ("seed by seed the wide student and 'some
  neuron wins alone' disagree in only a few cases": the control that confirms the lottery where it
  is right).

Each case rebinds ``experiments`` or ``control_runs`` to new objects (``dataclasses.replace``); no
object is changed in place.
"""

_IMPORTS = '''
import dataclasses as _dc
import numpy as _np
from overparam import tickets as _T
from overparam import tickets_control as _tc


def _with_wide(ex, n, **changes):
    # a copy of ex whose width-n student's Outcomes has the given fields replaced
    return _dc.replace(ex, wide={**ex.wide, n: _dc.replace(ex.wide[n], **changes)})
'''

CASES: dict[str, str] = {
    "restarts_explain_2k": _IMPORTS + '''
experiments = {
    k: _with_wide(ex, 2 * k, outcome=ex.wide[k].outcome.copy()) if 2 * k in ex.wide else ex
    for k, ex in experiments.items()
}
''',
    "ticket_is_sufficient": _IMPORTS + '''
def _sufficient(ex):
    n = ex.k + 1
    holds = (ex.subnetworks_of(n, matched=True) == _T.WIN).any(axis=1)
    return _with_wide(ex, n, outcome=_np.where(holds, _T.WIN, ex.wide[n].outcome))


experiments = {k: _sufficient(ex) for k, ex in experiments.items()}
''',
    "wide_is_ticket_plus_inert": _IMPORTS + '''
def _inert(ex):
    n = ex.k + 1
    sub = ex.subnetwork_outcomes(n, matched=True)
    idx = ex.idx[ex.columns_within(n)]
    W = ex.wide[n].W.clone()
    for s in range(W.shape[0]):
        wins = _np.flatnonzero(sub.outcome[s] == _T.WIN)
        if ex.wide[n].outcome[s] == _T.WIN and wins.size:
            W[s] = 0.0
            W[s, idx[wins[0]]] = sub.W[s, wins[0]]
    return _with_wide(ex, n, W=W)


experiments = {k: _inert(ex) for k, ex in experiments.items()}
''',
    "control_shuffled": _IMPORTS + '''
_perm = _np.random.default_rng(0).permutation(control_runs.n_seeds)
control_runs = _dc.replace(control_runs, by_width={
    n: _tc.ControlResult(r.w[_perm], r.b[_perm], r.loss[_perm], r.steps[_perm],
                         tuple(r.stop_reason[i] for i in _perm))
    for n, r in control_runs.by_width.items()
})
''',
}
