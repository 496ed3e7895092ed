"""Tickets in context, the teacher-student test (:func:`run_students`; see :mod:`overparam.context`
for the experiment): does a certified winning subnetwork still win inside the width-``(k+1)``
student whose extra neuron starts at ``s`` times its initial row?"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
import torch

from . import safran_shamir as ss
from . import tickets as T
from .context import check_scales
from .stats import wilson_interval
from .validate import check_float, check_int, resolve_device

__all__ = ["StudentContext", "run_students", "summarize_students"]


@dataclass(frozen=True)
class StudentContext:
    """What :func:`run_students` measured at teacher width ``k``. ``sub``: every
    width-``k`` subnetwork of the first ``k + 1`` neurons trained alone at step
    ``lr_scale/k``, outcomes ``(S, k+1)``; ``holders``: the seeds where one wins;
    ``ticket``/``extra``: per holder the winning subnetwork's column (the first) and the
    neuron it leaves out. ``wide[s]``: outcomes ``(H,)`` of the width-``(k+1)`` student
    at scale ``s`` (``s = 0``: the ticket alone, see the module docstring), all at step
    ``lr_scale/(k+1)``."""

    k: int
    n_seeds: int
    W0: torch.Tensor
    idx: torch.Tensor
    sub: T.Outcomes
    holders: np.ndarray
    ticket: np.ndarray
    extra: np.ndarray
    wide: dict
    lr_scale: float

    def table(self) -> pd.DataFrame:
        """One row per (holder seed, scale): ``outcome`` (win/fail/unresolved),
        ``verdict``, ``loss``, ``lambda_min``, ``steps``."""
        names = {T.WIN: "win", T.FAIL: "fail", T.UNRESOLVED: "unresolved"}
        rows = []
        for s, o in self.wide.items():
            for j, seed in enumerate(self.holders):
                rows.append(
                    dict(
                        k=self.k,
                        seed=int(seed),
                        ticket=int(self.ticket[j]),
                        extra=int(self.extra[j]),
                        scale=float(s),
                        outcome=names[int(o.outcome[j])],
                        verdict=str(o.verdict[j]),
                        loss=float(o.loss[j]),
                        lambda_min=float(o.lambda_min[j]),
                        steps=int(o.steps[j]),
                    )
                )
        return pd.DataFrame(rows)


def run_students(
    k: int,
    n_seeds: int,
    seed: int,
    scales: Sequence[float],
    *,
    lr_scale: float = 5.0,
    n_steps: int = 30_000,
    device=None,
    **kwargs,
) -> StudentContext:
    """The teacher-student experiment at teacher width ``k`` (module docstring). ``n_steps``: the
    gradient-descent step cap. Keyword arguments go to :func:`overparam.tickets.train_students`.
    ``device`` (None: CPU; ``"auto"`` allowed): where the students train (initial weights drawn on the
    CPU and moved); ``W0`` is there, ``idx`` and the holder bookkeeping stay on the CPU."""
    device = resolve_device(device)
    k = check_int("k", k, min=2)
    n_seeds = check_int("n_seeds", n_seeds, min=1)
    scales = check_scales(scales)
    lr_scale = check_float("lr_scale", lr_scale, min=0.0, min_inclusive=False)
    n_steps = check_int("n_steps", n_steps, min=0)
    common = dict(n_steps=n_steps, **kwargs)
    W0 = ss.init_students(k, k + 1, n_seeds, seed, device=device)
    idx = T.subnetworks(k + 1, k)
    sub = T.train_subnetworks(W0, idx, lr=lr_scale / k, **common)
    holders = np.flatnonzero(sub.wins.any(1))
    ticket = np.array([np.flatnonzero(sub.wins[h])[0] for h in holders], dtype=np.int64)
    extra = np.array(
        [int(sorted(set(range(k + 1)) - set(idx[c].tolist()))[0]) for c in ticket],
        dtype=np.int64,
    )
    wide = _wide_runs(W0, idx, holders, ticket, extra, scales, lr_scale / (k + 1), common)
    return StudentContext(
        k, n_seeds, W0, idx, sub, holders, ticket, extra, wide, lr_scale
    )


def _wide_runs(W0, idx, holders, ticket, extra, scales, lr, common) -> dict:
    """Per scale ``s`` the outcomes ``(H,)`` of the holders' width-``(k+1)`` students whose extra
    neuron starts at ``s`` times its initial row (``s = 0``: the ticket alone); ``{}`` without holders."""
    wide = {}
    H = holders.size
    if not H:
        return wide
    dev = W0.device
    hold_t = torch.as_tensor(holders, device=dev)
    positive = [s for s in scales if s > 0]
    if positive:
        W = W0[hold_t].repeat(len(positive), 1, 1)
        rows = torch.arange(W.shape[0], device=dev)
        W[rows, torch.as_tensor(extra, device=dev).repeat(len(positive))] *= torch.tensor(
            positive, dtype=W.dtype, device=dev
        ).repeat_interleave(H)[:, None]
        o = T.train_students(W, lr=lr, **common).reshape(len(positive), H)
        for i, s in enumerate(positive):
            wide[s] = T.Outcomes(o.outcome[i], o.verdict[i], o.loss[i], o.lambda_min[i], o.steps[i], o.W[i])
    if 0.0 in scales:
        alone = torch.stack([W0[h, idx[c].to(dev)] for h, c in zip(holders, ticket)])
        wide[0.0] = T.train_students(alone, lr=lr, **common)
    return {s: wide[s] for s in scales}


def summarize_students(
    results: Sequence[StudentContext], level: float = 0.95
) -> list[dict]:
    """One record per (k, scale): ``holders`` (seeds holding a ticket), ``unresolved``
    (of those, runs neither certified won nor certified failed), ``wide_fails``
    (certified strict local minima), ``fail_fraction`` over the resolved holders with
    its Wilson interval (``ci_low``, ``ci_high``; NaN when none is resolved), and
    ``seeds`` (before selection)."""
    out = []
    for r in results:
        for s in r.wide if r.holders.size else []:
            o = r.wide[s]
            fails, unres = int(o.fails.sum()), int(o.unresolved.sum())
            n = int(r.holders.size) - unres
            ci = wilson_interval(fails, n, level) if n else None
            out.append(
                {
                    "k": r.k,
                    "scale": float(s),
                    "seeds": r.n_seeds,
                    "holders": int(r.holders.size),
                    "wide_fails": fails,
                    "fail_fraction": ci.fraction if ci else float("nan"),
                    "ci_low": ci.low if ci else float("nan"),
                    "ci_high": ci.high if ci else float("nan"),
                    "unresolved": unres,
                }
            )
    return out
