"""Sabotage cases for the chapter *Lottery tickets*: each breaks the experiment's data (``result``, right
after the ``experiment`` cell) so that it contradicts one claim the chapter's verdict rests on; the
claims-check cell must then fail.

- ``reinit_beats_ticket``: the re-initialised twin gets the ticket's accuracy plus 1-3 points (per seed),
  so the ticket no longer beats it ("the winning ticket beats its re-initialised twin", the verdict).
- ``random_mask_beats_ticket``: the same for the random mask ("it also beats a random mask").
- ``reinit_learns_faster``: the re-initialised twin stops 50-150 updates before the ticket ("learn
  faster").
- ``rewinding_helps``: the rewound ticket gets the ticket's accuracy plus 2-3 points ("no benefit of
  rewinding is detected").

Each case rebinds ``result`` to a new LotteryResult whose ``runs`` table is a modified copy.
"""

_LIKE = '''
import dataclasses as _dc
import pandas as _pd


def _like(runs, target, source, col, shift):
    # rows of `target` take the value of `source` at the same (round, seed), plus shift(seed)
    idx = ["round", "seed"]
    src = runs[runs.condition == source].set_index(idx)[col]
    out = runs.copy()
    m = out.condition == target
    keys = _pd.MultiIndex.from_frame(out.loc[m, idx])
    out.loc[m, col] = src.reindex(keys).to_numpy() + shift(out.loc[m, "seed"].to_numpy())
    return out
'''

CASES: dict[str, str] = {
    "reinit_beats_ticket": _LIKE + '''
result = _dc.replace(result, runs=_like(result.runs, "reinit", "ticket", "test_acc", lambda s: 0.01 * (1 + s % 3)))
''',
    "random_mask_beats_ticket": _LIKE + '''
result = _dc.replace(
    result, runs=_like(result.runs, "random_mask", "ticket", "test_acc", lambda s: 0.01 * (1 + s % 3)))
''',
    "reinit_learns_faster": _LIKE + '''
result = _dc.replace(result, runs=_like(result.runs, "reinit", "ticket", "stop_step", lambda s: -50 * (1 + s % 3)))
''',
    "rewinding_helps": _LIKE + '''
result = _dc.replace(
    result, runs=_like(result.runs, "rewind", "ticket", "test_acc", lambda s: 0.02 + 0.005 * (s % 3)))
''',
}
