"""Batched descent with per-seed stopping: the loop behind every full-batch gradient descent of the
Safran–Shamir stack (:func:`overparam.ss_dynamics.gradient_descent`,
:func:`overparam.tickets_control.control_gradient_descent`).

Vocabulary (shared with :func:`overparam.train.train`): ``n_steps`` is the step cap; step ``t`` runs
for ``t = 0 .. n_steps`` and a run that stops at step ``t`` has taken ``t`` updates. At each step every
still-running seed gets its loss ``L`` and gradient norm ``‖g‖`` at the current parameters, then
stops with one of :data:`STOP_REASONS`:

- ``"diverged"``: ``L`` or ``‖g‖`` is NaN or infinite;
- ``"loss_tol"``: ``L < loss_tol`` (checked before the gradient: a global minimum is a critical point);
- ``"grad_tol"``: ``‖g‖ < grad_tol``;
- ``"step_limit"``: ``t = n_steps`` and none of the above.

A stopped seed leaves the batch: its parameters, loss and gradient norm are frozen, and it never
affects the others (a diverged seed cannot poison the batch). The rest take one update.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from .validate import check_int

__all__ = ["STOP_REASONS", "DescentResult", "stop_masks", "descend", "torch_threads"]

STOP_REASONS = ("loss_tol", "grad_tol", "step_limit", "diverged")


@dataclass(frozen=True)
class DescentResult:
    """How each seed's run of :func:`descend` ended.

    ``params``: the final parameters, one tensor per parameter group, seed axis first.
    ``loss``, ``grad_norm`` ``(S,)``: at the final parameters. ``steps`` ``(S,)`` int64: updates taken.
    ``stop_reason``: one of :data:`STOP_REASONS` per seed. ``loss_curve`` ``(S, T)``: the loss at steps
    ``0, record_every, ...`` (NaN after a seed stopped), or ``None`` when not recorded.
    """
    params: tuple
    loss: torch.Tensor
    grad_norm: torch.Tensor
    steps: torch.Tensor
    stop_reason: tuple
    loss_curve: np.ndarray | None
    record_every: int | None


def stop_masks(L: torch.Tensor, gn: torch.Tensor, grad_tol: float, loss_tol: float):
    """Disjoint ``(S,)`` masks ``(diverged, loss_tol, grad_tol)`` for losses ``L`` and gradient norms ``gn``."""
    bad = ~(torch.isfinite(L) & torch.isfinite(gn))
    stop_l = (L < loss_tol) & ~bad
    stop_g = (gn < grad_tol) & ~bad & ~stop_l
    return bad, stop_l, stop_g


@contextmanager
def torch_threads(n: int | None):
    """Run the block with ``n`` torch threads (restored afterwards); ``None`` leaves the setting alone."""
    if n is None:
        yield
        return
    n = check_int("num_threads", n, min=1)
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class _Record:
    """Final values of stopped seeds, indexed by the seed's place in the full batch."""

    def __init__(self, params, S: int):
        self.params = [p.clone() for p in params]
        dt = params[0].dtype
        self.loss = torch.full((S,), float("nan"), dtype=dt)
        self.grad_norm = torch.full((S,), float("nan"), dtype=dt)
        self.steps = torch.zeros(S, dtype=torch.int64)
        self.reasons = [""] * S

    def finish(self, alive, mask, reason, t, params, L, gn):
        idx = alive[mask]
        for out, p in zip(self.params, params):
            out[idx] = p[mask]
        self.loss[idx] = L[mask]
        self.grad_norm[idx] = gn[mask]
        self.steps[idx] = t
        for i in idx.tolist():
            self.reasons[i] = reason


def descend(params, loss_grad: Callable, step: Callable, *, n_steps: int, grad_tol: float,
            loss_tol: float, record_every: int | None = None) -> DescentResult:
    """Run ``params ← step(params, grads)`` on all seeds at once, each seed stopping by itself.

    ``params``: a tuple of tensors, seed axis first (not modified). ``loss_grad(params)`` returns
    ``(loss (S,), grads (tuple like params), grad_norm (S,))``; ``step(params, grads)`` returns the
    updated tuple (it may update in place: ``descend`` works on copies). See the module docstring
    for the stop rules. ``record_every``: record the loss every that many steps (``None``: no curve).
    """
    n_steps = check_int("n_steps", n_steps, min=0)
    if record_every is not None:
        record_every = check_int("record_every", record_every, min=1)
    params = tuple(p.clone() for p in params)
    S = params[0].shape[0]
    rec = _Record(params, S)
    curve = None if record_every is None else np.full((S, n_steps // record_every + 1), np.nan)
    alive = torch.arange(S)
    for t in range(n_steps + 1):
        L, grads, gn = loss_grad(params)
        if curve is not None and t % record_every == 0:
            curve[alive.numpy(), t // record_every] = L.numpy()
        bad, stop_l, stop_g = stop_masks(L, gn, grad_tol, loss_tol)
        done = bad | stop_l | stop_g
        if t == n_steps:
            rec.finish(alive, ~done, "step_limit", t, params, L, gn)
            done = torch.ones_like(done)
        if bool(done.any()):
            for mask, reason in ((stop_g, "grad_tol"), (stop_l, "loss_tol"), (bad, "diverged")):
                if bool(mask.any()):
                    rec.finish(alive, mask, reason, t, params, L, gn)
            keep = ~done
            alive = alive[keep]
            params = tuple(p[keep] for p in params)
            grads = tuple(g[keep] for g in grads)
            if alive.numel() == 0:
                break
        params = step(params, grads)
    return DescentResult(tuple(rec.params), rec.loss, rec.grad_norm, rec.steps, tuple(rec.reasons),
                         curve, record_every)
