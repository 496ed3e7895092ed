"""The counting-tickets chapter's 1-D control, where tickets do explain success.

Teacher ``relu(x)``, student ``sum_i relu(w_i x + b_i)`` (:func:`overparam.tickets_control.control_gradient_descent`).
:func:`run_control` trains every single neuron of the widest student alone (step 1) and the nested
students of each width ``n`` (step ``1/n``) from the same draws; :func:`control_table` compares, per
width, the measured success with the ticket/restart prediction ``1 - (1 - p_1)^n`` and tallies seed by
seed whether the student and "some neuron wins alone" agree; :func:`control_checks` gives the
numbers the chapter's prose and claims check use.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .. import tickets as T
from ..validate import check_int, resolve_device
from .counting_tickets import rate
from .. import tickets_control as tc

__all__ = ["ControlRuns", "run_control", "control_table", "CONTROL_INTERVALS", "control_checks",
           "control_glue", "control_summary"]

#: The control table's intervals for ``show_table``.
CONTROL_INTERVALS = {"success (95%)": ("success", "low", "high"),
                     "prediction (95%)": ("pred_restarts", "pred_low", "pred_high")}
_TALLY = ("both", "wide_wins_without_ticket", "ticket_without_wide_win", "neither", "undetermined")


@dataclass(frozen=True)
class ControlRuns:
    """The control's runs: ``single`` (every neuron of the widest student alone, ``n_seeds * width``
    runs, seed-major) and ``by_width`` (width ``n`` -> the width-``n`` student of every seed)."""
    n_seeds: int
    width: int
    single: tc.ControlResult
    by_width: dict


def run_control(widths, n_seeds: int, n_points: int, seed: int, *,
                n_steps: int = 30_000, device="cpu") -> ControlRuns:
    """Train the control: ``n_seeds`` draws of ``max(widths)`` neurons
    (:func:`overparam.tickets_control.control_init`), each neuron alone at step 1, and for each width ``n`` the student of the first ``n`` neurons at
    step ``1/n``, on ``n_points`` quadrature points; at most ``n_steps`` steps each. ``device``
    (``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"auto"``): where they train (inputs and draws are made on
    the CPU and moved)."""
    device = resolve_device(device)
    widths = [check_int("widths", n, min=1) for n in widths]
    if not widths:
        raise ValueError("widths must name at least one width")
    x = tc.control_inputs(n_points, device=device)
    nmax = max(widths)
    w, b = tc.control_init(n_seeds, nmax, seed, device=device)
    single = tc.control_gradient_descent(w.reshape(-1, 1), b.reshape(-1, 1), x, lr=1.0,
                                        n_steps=n_steps)
    by_width = {n: tc.control_gradient_descent(w[:, :n].contiguous(), b[:, :n].contiguous(), x,
                                              lr=1.0 / n, n_steps=n_steps)
                for n in widths}
    return ControlRuns(n_seeds, nmax, single, by_width)


def _row(n: int, r: tc.ControlResult, win1: np.ndarray, p1: dict) -> dict:
    resolved = np.array([s != "step_limit" and s != "diverged" for s in r.stop_reason])
    tab = T.seed_table(np.where(r.wins, T.WIN, np.where(resolved, T.FAIL, T.UNRESOLVED)),
                       np.where(win1[:, :n], T.WIN, T.FAIL))
    t = T.tally(tab)
    frac, lo, hi = rate(t["wide_wins"], t["seeds"])
    return dict(n=n, seeds=t["seeds"], success=frac, low=lo, high=hi,
                pred_restarts=float(T.predict_independent_restarts(p1["p"], n, 1)),
                pred_low=float(T.predict_independent_restarts(p1["low"], n, 1)),
                pred_high=float(T.predict_independent_restarts(p1["high"], n, 1)),
                **{key: t[key] for key in _TALLY})


def control_table(runs: ControlRuns) -> tuple[pd.DataFrame, dict]:
    """``(control, p1)``: one row per width (measured success with its Wilson interval, the
    prediction ``1 - (1 - p_1)^n`` with ``p_1``'s interval carried through, the seed-by-seed tally)
    and the single-neuron rate ``p1`` (:func:`overparam.tickets.width_k_rate`)."""
    win1 = runs.single.wins.reshape(runs.n_seeds, runs.width)
    p1 = T.width_k_rate(np.where(win1, T.WIN, T.FAIL))
    rows = [_row(n, r, win1, p1) for n, r in runs.by_width.items()]
    return pd.DataFrame(rows), p1


def control_checks(control: pd.DataFrame) -> dict:
    """``disagree`` (seed, width) cases where the student and "some neuron wins alone" disagree,
    ``total`` cases, and ``within``: at every width the measured and predicted 95% intervals overlap."""
    return {
        "disagree": int((control.wide_wins_without_ticket + control.ticket_without_wide_win).sum()),
        "total": int(control.seeds.sum()),
        "within": bool(((control.pred_high >= control.low) & (control.pred_low <= control.high)).all()),
    }


def control_glue(checks: dict, p1: dict, n_seeds: int) -> dict:
    """The control section's glued numbers."""
    return {"ct-p1": float(p1["p"]), "ct-ctrl-disagree": checks["disagree"],
            "ct-ctrl-total": checks["total"], "ct-ctrl-seeds": n_seeds}


def control_summary(control: pd.DataFrame, p1: dict) -> dict:
    """The summary's ``control`` entry: ``p_1`` with its interval and the table's rows."""
    return {"p_1": p1["p"], "p_1_low": p1["low"], "p_1_high": p1["high"],
            "by_width": control.to_dict("records")}
