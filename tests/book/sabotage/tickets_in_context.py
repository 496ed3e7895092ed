"""Sabotage cases for the chapter *Tickets in context*: each breaks the data right after the last
``experiment`` cell (the teacher-student runs) so that it contradicts one claim; the claims-check cell
must then fail. The MNIST-1D runs ``mn`` were analysed before that cell (``mna``): the cases that break
them rebind ``mn`` to a copy with a modified ``runs`` table and recompute ``mna`` with the library's own
``analyse_mnist1d``.

- ``ticket_part_as_good``: in every context run and in the dense network, the ticket's part alone
  classifies exactly as well as the ticket trained alone ("the ticket is not what the network uses").
- ``large_context_harmless``: the largest context ends exactly where the ordinary one (s = 1) ends ("a
  large context does hurt").
- ``extracted_as_good``: the ticket cut out of the trained dense network scores one point above the ticket
  trained alone ("at every density it is below the ticket alone").
- ``wide_never_fails``: every certified failure of the wide teacher-student students becomes a win ("one
  more neuron ... is enough to make a winning ticket fail").
"""

_MN = '''
import dataclasses as _dc
import pandas as _pd
from overparam.experiments import tickets_in_context as _tic


def _take(runs, target, source, col, add=0.0):
    # rows selected by `target` take `col` from the `source` rows at the same (round, seed), plus add
    src = runs[source].set_index(["round", "seed"])[col]
    out = runs.copy()
    keys = _pd.MultiIndex.from_frame(out.loc[target, ["round", "seed"]])
    out.loc[target, col] = src.reindex(keys).to_numpy() + add
    return out


def _rebind(runs):
    m = _dc.replace(mn, runs=runs)
    return m, _tic.analyse_mnist1d(m)


_r, _c = mn.runs, mn.runs.condition
'''

CASES: dict[str, str] = {
    "ticket_part_as_good": _MN + '''
mn, mna = _rebind(_take(_r, _c.isin(["context", "dense"]), _c == "ticket_alone", "ticket_part_acc"))
''',
    "large_context_harmless": _MN + '''
_ctx = _c == "context"
_r = _take(_r, _ctx & (_r.scale == max(mn.scales)), _ctx & (_r.scale == 1.0), "test_acc")
mn, mna = _rebind(_r)
''',
    "extracted_as_good": _MN + '''
mn, mna = _rebind(_take(_r, _c == "extracted", _c == "ticket_alone", "test_acc", add=0.01))
''',
    "wide_never_fails": '''
import dataclasses as _dc
import numpy as _np
from overparam import tickets as _T


def _no_fails(o):
    return _dc.replace(o, outcome=_np.where(o.outcome == _T.FAIL, _T.WIN, o.outcome))


students = [_dc.replace(st, wide={s: _no_fails(o) for s, o in st.wide.items()}) for st in students]
''',
}
