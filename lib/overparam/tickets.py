"""Counting tickets: does a wide student win because one of its subnetworks wins alone?

The literal lottery reading of overparameterisation: a width-``n`` network trains well because among
its ``C(n, k)`` width-``k`` subnetworks some well-initialised one can learn the task alone. On the
Safran–Shamir family (:mod:`overparam.safran_shamir`) we check it seed by seed: train a width-``n``
student, and from the very same initial weights each of its width-``k`` subnetworks alone (the
subnetwork keeps rows ``idx`` of ``W0``; the dropped neurons are removed, not zeroed).

Outcomes of a run (codes in :data:`WIN`, :data:`FAIL`, :data:`UNRESOLVED`), with the stopping and
certification rules of the escape-dimensions chapter:

* ``WIN``: gradient descent stops at loss < ``loss_tol`` (the global minimum); or it stops at a
  critical point that the Newton finisher takes below ``loss_tol``;
* ``FAIL``: it stops at gradient norm < ``grad_tol`` with loss >= ``bad_tol``, and the finisher
  certifies a strict local minimum there (gradient < ``grad_tol``, smallest Hessian eigenvalue >
  ``eig_tol``): a trap, not a slow saddle;
* ``UNRESOLVED``: everything else (step cap, divergence, a critical point the finisher cannot certify,
  loss in between): reported separately, never counted as a win or as a failure.

Predictions of the lottery reading for the success of width ``n`` from the success rate ``p`` of width
``k`` (:func:`predict_independent_tickets`, :func:`predict_independent_restarts`), the seed-by-seed
tally (:func:`seed_table`, :func:`tally`), the comparison of a wide winner with its winning subnetwork
(:func:`compare_winners`) and a one-dimensional control where tickets do explain success
(:mod:`overparam.tickets_control`).
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from . import safran_shamir as ss
from . import ss_dynamics
from .certify import classify
from .finisher import newton_finish
from .rng import generator
from .validate import check_float, check_int, check_range, resolve_device

__all__ = [
    "WIN", "FAIL", "UNRESOLVED", "Outcomes", "subnetworks", "sample_subnetworks", "restrict",
    "train_students", "train_subnetworks", "seed_table", "tally", "predict_independent_tickets",
    "predict_independent_restarts", "compare_winners", "teacher_assignment",
    "TicketExperiment", "run_experiment", "width_k_rate",
]

WIN, FAIL, UNRESOLVED = 1, 0, -1
_DT = torch.float64


# --------------------------------------------------------------------------- subnetworks
def subnetworks(n: int, k: int, *, device=None) -> torch.Tensor:
    """All ``C(n, k)`` width-``k`` subnetworks of neurons ``0..n-1``: ``(C(n, k), k)`` int64 rows,
    each sorted, in lexicographic order (so the first row is ``0..k-1``), on ``device`` (None: CPU)."""
    n = check_int("n", n, min=1)
    k = check_int("k", k, min=1, max=n)
    return torch.tensor(list(itertools.combinations(range(n), k)), dtype=torch.int64,
                        device=resolve_device(device)).reshape(-1, k)


def sample_subnetworks(n: int, k: int, m: int, seed: int, *, device=None) -> torch.Tensor:
    """``min(m, C(n, k))`` distinct width-``k`` subnetworks of ``0..n-1`` drawn uniformly without
    replacement (stream ``"mask"``), each row sorted, rows in lexicographic order. When ``m`` covers
    them all, this is :func:`subnetworks`. The draw is on the CPU; the rows are returned on ``device``."""
    n = check_int("n", n, min=1)
    k = check_int("k", k, min=1, max=n)
    m = check_int("m", m, min=1)
    total = math.comb(n, k)
    if m >= total:
        return subnetworks(n, k, device=device)
    g = generator(seed, "mask")
    chosen: set[tuple[int, ...]] = set()
    while len(chosen) < m:
        perm = torch.randperm(n, generator=g)[:k]
        chosen.add(tuple(sorted(perm.tolist())))
    return torch.tensor(sorted(chosen), dtype=torch.int64, device=resolve_device(device))


def restrict(W: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """Rows ``idx (C, k)`` of every seed's ``W (S, n, d)``: ``(S, C, k, d)`` (a copy)."""
    if not torch.is_tensor(W) or W.dim() != 3:
        raise ValueError(f"W must have shape (S, n, d), got {tuple(W.shape) if torch.is_tensor(W) else type(W).__name__}")
    if not torch.is_tensor(idx) or idx.dim() != 2 or idx.dtype != torch.int64:
        raise ValueError("idx must be an int64 tensor of shape (C, k) (see subnetworks())")
    if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= W.shape[1]):
        raise ValueError(f"idx must hold neuron indices in [0, {W.shape[1] - 1}], got "
                         f"[{int(idx.min())}, {int(idx.max())}]")
    return W[:, idx.to(W.device), :].clone()


# --------------------------------------------------------------------------- training and outcomes
@dataclass(frozen=True)
class Outcomes:
    """How each run ended. ``outcome`` holds :data:`WIN`/:data:`FAIL`/:data:`UNRESOLVED`;
    ``verdict`` the reason in words (``"loss_tol"``, ``"strict_local_minimum"``, ``"step_limit"``, …);
    ``loss`` the final loss (after the finisher for runs it polished), ``lambda_min`` the smallest
    Hessian eigenvalue where the finisher ran (NaN elsewhere), ``steps`` the gradient-descent steps,
    ``W`` the final weights, ``newton_step`` the length of the Newton step ``‖H⁻¹g‖`` at every certified
    failure (how far the point may still lie from the exact minimum; NaN elsewhere, None when not
    computed). Leading axes: ``(S,)`` for students, ``(S, C)`` for subnetworks."""
    outcome: np.ndarray
    verdict: np.ndarray
    loss: np.ndarray
    lambda_min: np.ndarray
    steps: np.ndarray
    W: torch.Tensor
    newton_step: np.ndarray | None = None

    @property
    def wins(self) -> np.ndarray:
        return self.outcome == WIN

    @property
    def fails(self) -> np.ndarray:
        return self.outcome == FAIL

    @property
    def unresolved(self) -> np.ndarray:
        return self.outcome == UNRESOLVED

    def reshape(self, *shape) -> "Outcomes":
        d = self.W.shape[-2:]
        return Outcomes(self.outcome.reshape(shape), self.verdict.reshape(shape), self.loss.reshape(shape),
                        self.lambda_min.reshape(shape), self.steps.reshape(shape), self.W.reshape(*shape, *d),
                        None if self.newton_step is None else self.newton_step.reshape(shape))

    def select(self, cols) -> "Outcomes":
        """The subnetwork columns ``cols`` of ``(S, C)`` outcomes, or column ``cols`` as ``(S,)``."""
        return Outcomes(self.outcome[:, cols], self.verdict[:, cols], self.loss[:, cols],
                        self.lambda_min[:, cols], self.steps[:, cols], self.W[:, cols],
                        None if self.newton_step is None else self.newton_step[:, cols])


def train_students(W0: torch.Tensor, *, lr: float, n_steps: int = 30_000, grad_tol: float = 1e-9,
                   loss_tol: float = 1e-6, bad_tol: float = 1e-3, eig_tol: float = 1e-6,
                   finisher_iter: int = 50, chunk: int = 4096,
                   finisher_chunk: int = 128) -> Outcomes:
    """Gradient descent (:func:`overparam.ss_dynamics.gradient_descent`) from every ``W0 (S, n, d)``,
    then the finisher and the certificate at every critical point above ``loss_tol``; see the module
    docstring for the outcome rules. ``n_steps``: the step cap. ``chunk`` runs train at once; ``W0`` is not modified.
    Everything runs on ``W0.device``; ``Outcomes.W`` is there, the other fields are numpy."""
    if not torch.is_tensor(W0) or W0.dim() != 3:
        raise ValueError(f"W0 must have shape (S, n, d), got {tuple(W0.shape) if torch.is_tensor(W0) else type(W0).__name__}")
    lr = check_float("lr", lr, min=0.0, min_inclusive=False)
    n_steps = check_int("n_steps", n_steps, min=0)
    bad_tol = check_float("bad_tol", bad_tol, min=0.0)
    loss_tol = check_float("loss_tol", loss_tol, min=0.0, max=bad_tol)
    chunk = check_int("chunk", chunk, min=1)
    finisher_chunk = check_int("finisher_chunk", finisher_chunk, min=1)
    S, n, d = W0.shape
    W = torch.empty(S, n, d, dtype=_DT, device=W0.device)
    loss = np.full(S, np.nan)
    lam = np.full(S, np.nan)
    newton = np.full(S, np.nan)
    steps = np.zeros(S, dtype=np.int64)
    verdict = np.empty(S, dtype=object)
    outcome = np.full(S, UNRESOLVED, dtype=np.int64)
    for lo in range(0, S, chunk):
        res = ss_dynamics.gradient_descent(W0[lo:lo + chunk], lr=lr, n_steps=n_steps, grad_tol=grad_tol,
                                           loss_tol=loss_tol, record_every=max(1, n_steps))
        sl = slice(lo, lo + res.n_seeds)
        W[sl] = res.W
        loss[sl] = res.loss.cpu().numpy()
        steps[sl] = res.steps.cpu().numpy()
        verdict[sl] = res.stop_reason
    outcome[verdict == "loss_tol"] = WIN
    crit = np.flatnonzero(verdict == "grad_tol")
    fn = ss.objective(n, d)
    for lo in range(0, crit.size, finisher_chunk):
        ids = torch.as_tensor(crit[lo:lo + finisher_chunk], device=W.device)
        fin = newton_finish(W[ids].reshape(ids.numel(), -1), fn, grad_tol=grad_tol, max_iter=finisher_iter)
        certs = classify(fin.loss, fin.grad_norm, fin.lambda_min, grad_tol=grad_tol, loss_tol=loss_tol,
                         eig_tol=eig_tol)
        W[ids] = fin.theta.reshape(-1, n, d)
        for j, c in zip(ids.tolist(), certs):
            loss[j], lam[j], verdict[j] = c.loss, c.lambda_min, c.verdict
            if c.verdict == "global_minimum":
                outcome[j] = WIN
            elif c.verdict == "strict_local_minimum" and c.loss >= bad_tol:
                outcome[j] = FAIL
    fails = torch.as_tensor(np.flatnonzero(outcome == FAIL), device=W.device)
    for lo in range(0, fails.numel(), finisher_chunk):
        ids = fails[lo:lo + finisher_chunk]
        newton[ids.cpu().numpy()] = newton_step_length(W[ids]).cpu().numpy()
    return Outcomes(outcome, verdict, loss, lam, steps, W, newton)


def newton_step_length(W: torch.Tensor) -> torch.Tensor:
    """``‖H⁻¹ g‖`` at students ``W (S, n, d)`` (closed-form gradient and Hessian): at a strict minimum,
    about the distance to the exact critical point. ``(S,)``."""
    from .census import newton_step_length as step_length  # one definition of the step

    _, g = ss.loss_and_gradient(W)
    return step_length(g.reshape(W.shape[0], -1), ss.hessian(W))


def train_subnetworks(W0: torch.Tensor, idx: torch.Tensor, **kwargs) -> Outcomes:
    """Train each subnetwork ``idx (C, k)`` of each seed's ``W0 (S, n, d)`` alone (one batch of
    ``S·C`` width-``k`` students; keyword arguments as :func:`train_students`): outcomes ``(S, C)``."""
    sub = restrict(W0, idx)
    S, C, k, d = sub.shape
    return train_students(sub.reshape(S * C, k, d), **kwargs).reshape(S, C)


# --------------------------------------------------------------------------- seed-by-seed tally
def seed_table(wide: np.ndarray, sub: np.ndarray) -> pd.DataFrame:
    """One row per seed from the wide student's outcome ``(S,)`` and its subnetworks' ``(S, C)``.

    ``ticket`` is True when some subnetwork wins alone, False when every subnetwork certifiably
    fails, and None (undetermined) otherwise; ``wide`` is ``"win"``, ``"fail"`` or ``"unresolved"``.
    """
    wide = np.asarray(wide)
    sub = np.asarray(sub)
    if wide.ndim != 1 or sub.ndim != 2 or sub.shape[0] != wide.shape[0]:
        raise ValueError(f"wide must be (S,) and sub (S, C) with the same S, got {wide.shape} and {sub.shape}")
    names = {WIN: "win", FAIL: "fail", UNRESOLVED: "unresolved"}
    n_win = (sub == WIN).sum(1)
    n_fail = (sub == FAIL).sum(1)
    ticket = np.where(n_win > 0, True, np.where(n_fail == sub.shape[1], False, None))
    return pd.DataFrame({
        "seed": np.arange(wide.shape[0]), "wide": [names[int(o)] for o in wide],
        "subnetworks": sub.shape[1], "winning_subnetworks": n_win, "failing_subnetworks": n_fail,
        "unresolved_subnetworks": sub.shape[1] - n_win - n_fail, "ticket": ticket,
    })


def tally(table: pd.DataFrame) -> dict:
    """Counts over the seeds of a :func:`seed_table` whose wide outcome and ticket are both determined.

    ``seeds`` (determined), ``undetermined``, ``wide_wins``, ``some_subnetwork_wins``, ``both``,
    ``wide_wins_without_ticket``, ``ticket_without_wide_win``, ``neither``.
    """
    det = (table["wide"] != "unresolved") & table["ticket"].notna()
    t = table[det]
    w = (t["wide"] == "win").to_numpy()
    tk = t["ticket"].astype(bool).to_numpy()
    return {
        "seeds": int(det.sum()), "undetermined": int((~det).sum()),
        "wide_wins": int(w.sum()), "some_subnetwork_wins": int(tk.sum()), "both": int((w & tk).sum()),
        "wide_wins_without_ticket": int((w & ~tk).sum()), "ticket_without_wide_win": int((~w & tk).sum()),
        "neither": int((~w & ~tk).sum()),
    }


# --------------------------------------------------------------------------- predictions
def _p(p):
    p = np.asarray(p, dtype=float)
    if np.any(~np.isfinite(p)) or np.any((p < 0) | (p > 1)):
        raise ValueError(f"p must be a success probability in [0, 1], got {p!r}")
    return p


def predict_independent_tickets(p, n: int, k: int):
    """``1 − (1 − p)^C(n, k)``: success of width ``n`` if each of its width-``k`` subnetworks were an
    independent ticket winning with probability ``p`` and training always found a winner."""
    n = check_int("n", n, min=1)
    k = check_int("k", k, min=1, max=n)
    return 1.0 - (1.0 - _p(p)) ** math.comb(n, k)


def predict_independent_restarts(p, n: int, k: int):
    """``1 − (1 − p)^(n / k)``: success of spending the same ``n`` neurons on independent width-``k``
    restarts (``n / k`` of them, fractional allowed), keeping the best."""
    n = check_int("n", n, min=1)
    k = check_int("k", k, min=1, max=n)
    return 1.0 - (1.0 - _p(p)) ** (n / k)


# --------------------------------------------------------------------------- inside the winner
def teacher_assignment(W: torch.Tensor) -> torch.Tensor:
    """For each neuron of ``W (..., n, d)`` the teacher neuron (coordinate axis) it points at most
    closely (largest cosine): ``(..., n)`` int64."""
    return torch.argmax(W / W.norm(dim=-1, keepdim=True).clamp(min=1e-300), dim=-1)


def compare_winners(W_wide: torch.Tensor, W_sub: torch.Tensor, idx: torch.Tensor, pairs) -> pd.DataFrame:
    """Compare the wide solution restricted to a subnetwork with the subnetwork's own solution.

    ``W_wide (S, n, d)`` final wide weights, ``W_sub (S, C, k, d)`` final subnetwork weights, ``idx (C, k)``
    the subnetworks, ``pairs`` an iterable of ``(seed, c)``. Per pair: ``distance`` ‖W_wide[idx_c] −
    W_sub_c‖ (Frobenius), ``relative_distance`` (over ‖W_sub_c‖), ``restriction_loss`` (the loss of
    ``W_wide[idx_c]`` alone), ``same_assignment`` (each neuron points at the same teacher neuron in both).
    """
    rows = []
    for s, c in pairs:
        r = W_wide[s, idx[c]].unsqueeze(0)
        w = W_sub[s, c].unsqueeze(0)
        dist = float(torch.linalg.vector_norm(r - w))
        rows.append({
            "seed": int(s), "subnetwork": int(c), "distance": dist,
            "relative_distance": dist / float(torch.linalg.vector_norm(w)),
            "restriction_loss": float(ss.loss(r)[0]),
            "same_assignment": bool(torch.equal(teacher_assignment(r), teacher_assignment(w))),
        })
    return pd.DataFrame(rows, columns=["seed", "subnetwork", "distance", "relative_distance",
                                       "restriction_loss", "same_assignment"])


# --------------------------------------------------------------------------- the experiment
@dataclass(frozen=True)
class TicketExperiment:
    """One teacher width ``k``, ``S`` seeds. ``W0 (S, max(widths), k)``: seed ``s``'s width-``n``
    student starts from its first ``n`` rows (nested initialisations). ``idx (C, k)``: all width-``k``
    subnetworks of the first ``k + 2`` neurons, ``sub (S, C)`` their outcomes alone (column 0, neurons
    ``0..k-1``, is the width-``k`` student itself). ``wide``: width -> outcomes ``(S,)``.
    ``sampled_idx (m, k)``/``sampled (S, m)``: sampled subnetworks of the widest student (m may be 0).
    Step size ``lr_scale / width`` for every student: ``sub`` at ``lr_scale / k``, the width-``k``
    rate. ``matched[n]`` (``k < n <= k + max_extra``): the width-``n`` student's subnetworks trained
    alone again with the wide student's own step ``lr_scale / n``, so that a seed-by-seed comparison
    differs only in the neurons (empty when run without ``matched_step``)."""
    k: int
    W0: torch.Tensor
    idx: torch.Tensor
    sub: Outcomes
    wide: dict
    sampled_idx: torch.Tensor
    sampled: Outcomes | None
    lr_scale: float
    matched: dict = field(default_factory=dict)

    def columns_within(self, n: int) -> np.ndarray:
        """Columns of ``idx`` that are subnetworks of the width-``n`` student (all neurons < n)."""
        return np.flatnonzero((self.idx.max(dim=1).values < n).cpu().numpy())

    @property
    def max_extra(self) -> int:
        return int(self.idx.max()) + 1 - self.k

    def subnetworks_of(self, n: int, *, matched: bool = False) -> np.ndarray:
        """Outcome codes ``(S, C(n, k))`` of the width-``n`` student's subnetworks (``k <= n <= k +
        max_extra``), trained at step ``lr_scale / k`` or, with ``matched``, at the wide step."""
        return self.subnetwork_outcomes(n, matched=matched).outcome

    def subnetwork_outcomes(self, n: int, *, matched: bool = False) -> Outcomes:
        """As :meth:`subnetworks_of`, the whole :class:`Outcomes` (weights, certificates)."""
        if not self.k <= n <= self.k + self.max_extra:
            raise ValueError(f"n must be in [{self.k}, {self.k + self.max_extra}] (all subnetworks are "
                             f"trained only there), got {n}")
        if matched and n > self.k:
            if n not in self.matched:
                raise ValueError(f"matched: no subnetworks trained at the width-{n} step (run_experiment "
                                 f"with matched_step=True)")
            return self.matched[n]
        return self.sub.select(self.columns_within(n))


def run_experiment(k: int, n_seeds: int, seed: int, *, widths=None, max_extra: int = 2, n_sampled: int = 0,
                   lr_scale: float = 5.0, n_steps: int = 30_000, matched_step: bool = False,
                   seeds: tuple[int, int] | None = None, device=None, **kwargs) -> TicketExperiment:
    """Train, per seed, the students of ``widths`` (default ``k, k+1, k+2, 2k``) and every width-``k``
    subnetwork of the first ``k + max_extra`` neurons alone (``max_extra`` 1 or 2), plus ``n_sampled``
    random subnetworks of the widest student. With ``matched_step``, the subnetworks of each width
    ``n = k+1 .. k+max_extra`` are trained a second time at the step ``lr_scale / n`` of the width-``n``
    student (``TicketExperiment.matched``). ``n_steps``: the step cap. ``seeds=(a, b)``: only seeds
    ``a .. b-1`` of the ``n_seeds`` (their initial weights are those rows of the whole draw; used by
    :func:`overparam.sweeps.ticket_sweep` to shard the seeds). Other keyword arguments go to
    :func:`train_students`. ``device`` (None: CPU; ``"auto"`` allowed): where the students train; the
    initial weights are drawn on the CPU and moved, so every device starts from the same numbers. The
    index sets ``idx``/``sampled_idx`` stay on the CPU (bookkeeping)."""
    device = resolve_device(device)
    k = check_int("k", k, min=1)
    max_extra = check_int("max_extra", max_extra, min=0, max=2)
    n_seeds = check_int("n_seeds", n_seeds, min=1)
    widths = sorted(set([k, k + 1, k + 2, 2 * k] if widths is None else [int(n) for n in widths]))
    if widths[0] < k:
        raise ValueError(f"widths must all be >= k = {k}, got {widths}")
    lr_scale = check_float("lr_scale", lr_scale, min=0.0, min_inclusive=False)
    n_max = max(widths + [k + max_extra])
    a, b = (0, n_seeds) if seeds is None else check_range("seeds", seeds, n_seeds)
    W0 = ss.init_students(k, n_max, b, seed, device=device)[a:b].contiguous()
    idx = subnetworks(k + max_extra, k)
    n_steps = check_int("n_steps", n_steps, min=0)
    common = dict(n_steps=n_steps, **kwargs)
    sub = train_subnetworks(W0, idx, lr=lr_scale / k, **common)
    wide = {}
    for n in widths:
        if n == k:   # the width-k student is subnetwork 0: same weights, same step, same run
            o = sub
            wide[n] = o.select(0)
        else:
            wide[n] = train_students(W0[:, :n].contiguous(), lr=lr_scale / n, **common)
    n_sampled = check_int("n_sampled", n_sampled, min=0)
    if n_sampled:
        sidx = sample_subnetworks(max(widths), k, n_sampled, seed)
        sampled = train_subnetworks(W0[:, :max(widths)], sidx, lr=lr_scale / k, **common)
    else:
        sidx, sampled = torch.zeros(0, k, dtype=torch.int64), None
    matched = {}
    if matched_step:
        for n in range(k + 1, k + max_extra + 1):
            cols = np.flatnonzero((idx.max(dim=1).values < n).numpy())
            matched[n] = train_subnetworks(W0, idx[cols], lr=lr_scale / n, **common)
    return TicketExperiment(k, W0, idx, sub, wide, sidx, sampled, lr_scale, matched)


def width_k_rate(sub: np.ndarray, level: float = 0.95) -> dict:
    """Success rate of width-``k`` students from subnetwork outcomes ``(S, C)``: every subnetwork is a
    width-``k`` Xavier initialisation, so ``p`` is the mean over seeds of each seed's win fraction among
    its determined runs; the interval is Student-t over seeds (seeds are independent, subnetworks of
    one seed are not). Seeds with no determined run are left out."""
    from .stats import t_interval
    sub = np.asarray(sub)
    det = (sub != UNRESOLVED).sum(1)
    frac = (sub == WIN).sum(1)[det > 0] / det[det > 0]
    ci = t_interval(frac, level)
    return {"p": ci.mean, "low": max(0.0, ci.low), "high": min(1.0, ci.high), "seeds": ci.n,
            "runs": int(det.sum())}
