"""Batched descent with per-seed stopping: the one loop behind every descent of the library, the MLP
trainer (:func:`overparam.train.train`: GD, Adam, SGD), the Safran–Shamir gradient descent
(:func:`overparam.ss_dynamics.gradient_descent`) and the 1-D control
(:func:`overparam.tickets_control.control_gradient_descent`).

Vocabulary: ``n_steps`` is the step cap; step ``t`` runs for ``t = 0 .. n_steps`` and a run that stops
at step ``t`` has taken ``t`` updates. At each step every still-running seed gets its loss ``L`` and
gradient norm ``‖g‖`` at the current parameters, then stops with one of :data:`STOP_REASONS`:

- ``"diverged"``: ``L`` or ``‖g‖`` is NaN or infinite;
- ``"loss_tol"``: ``L <= loss_tol`` (checked before the gradient: a global minimum is a critical point);
- ``"grad_tol"``: ``‖g‖ <= grad_tol``;
- ``"step_limit"``: ``t = n_steps`` and none of the above.

Both tolerances compare inclusively; ``None`` switches a check off. A stopped seed leaves the batch:
its parameters, loss and gradient norm are frozen, and it never affects the others (a diverged seed
cannot poison the batch). The rest take one update.

Two ways in: :func:`descend` for a tuple of tensors with a ``loss_grad`` and a ``step`` function, and
:func:`run` for a problem object that keeps its own state (optimizer moments, per-seed data, buffers),
as the MLP trainer does. Everything stays on the parameters' device; only the loss curve and the stop
reasons come back to the CPU (numpy, Python).
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Protocol

import numpy as np
import torch

from .validate import check_float, check_int

__all__ = ["STOP_REASONS", "DescentResult", "DescentProblem", "stop_masks", "run", "descend",
           "torch_threads"]

STOP_REASONS = ("loss_tol", "grad_tol", "step_limit", "diverged")


@dataclass(frozen=True)
class DescentResult:
    """How each seed's run ended.

    ``params``: the final parameters, one tensor per parameter group, seed axis first (on the
    parameters' device). ``loss``, ``grad_norm`` ``(S,)``: at the final parameters (same device).
    ``steps`` ``(S,)`` int64 (same device): updates taken. ``stop_reason``: one of :data:`STOP_REASONS` per
    seed. ``loss_curve`` ``(S, T)`` numpy: the loss at steps ``0, record_every, ...`` (NaN after a seed
    stopped), or ``None`` when not recorded.
    """
    params: tuple
    loss: torch.Tensor
    grad_norm: torch.Tensor
    steps: torch.Tensor
    stop_reason: tuple
    loss_curve: np.ndarray | None
    record_every: int | None


class DescentProblem(Protocol):
    """What :func:`run` drives. ``params``: the still-running seeds' parameters, a tuple of tensors
    with the seed axis first. ``loss_grad(t)``: ``(loss (S,), grads, grad_norm (S,))`` at step ``t``,
    ``grads`` a tuple of tensors (or ``None`` entries) with the seed axis first. ``step(grads, t)``:
    one update of the running seeds (``t`` updates already taken). ``keep(mask)``: drop the seeds where
    the bool ``(S,)`` ``mask`` is False from every per-seed state."""
    params: tuple

    def loss_grad(self, t: int): ...

    def step(self, grads: tuple, t: int) -> None: ...

    def keep(self, mask: torch.Tensor) -> None: ...


def _check_tol(name, value):
    return None if value is None else check_float(name, value, min=0.0)


def stop_masks(L: torch.Tensor, gn: torch.Tensor, grad_tol: float | None, loss_tol: float | None):
    """Disjoint ``(S,)`` masks ``(diverged, loss_tol, grad_tol)`` for losses ``L`` and gradient norms
    ``gn`` (the rules of the module docstring; a ``None`` tolerance never stops)."""
    bad = ~(torch.isfinite(L) & torch.isfinite(gn))
    stop_l = torch.zeros_like(bad) if loss_tol is None else (L <= loss_tol) & ~bad
    stop_g = torch.zeros_like(bad) if grad_tol is None else (gn <= grad_tol) & ~bad & ~stop_l
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
    """Final values of stopped seeds, indexed by the seed's place in the full batch; ``alive`` holds
    the full-batch places of the running seeds (on the parameters' device and as numpy)."""

    def __init__(self, params, S: int):
        self.params = [p.clone() for p in params]
        dt, dev = params[0].dtype, params[0].device
        self.loss = torch.full((S,), float("nan"), dtype=dt, device=dev)
        self.grad_norm = torch.full((S,), float("nan"), dtype=dt, device=dev)
        self.steps = torch.zeros(S, dtype=torch.int64, device=dev)
        self.reasons = [""] * S
        self.alive = torch.arange(S, device=dev)
        self.alive_np = np.arange(S)

    def finish(self, mask, reason, t, params, L, gn):
        idx = self.alive[mask]
        for out, p in zip(self.params, params):
            out[idx] = p[mask]
        self.loss[idx] = L[mask].to(self.loss.dtype)
        self.grad_norm[idx] = gn[mask].to(self.grad_norm.dtype)
        self.steps[idx] = t
        for i in self.alive_np[mask.cpu().numpy()].tolist():
            self.reasons[i] = reason

    def keep(self, mask):
        self.alive = self.alive[mask]
        self.alive_np = self.alive_np[mask.cpu().numpy()]

    def current(self, params) -> tuple:
        """All seeds' parameters: the frozen ones of stopped seeds, the running ones from ``params``."""
        return tuple(full.index_copy(0, self.alive, p) for full, p in zip(self.params, params))


def run(problem: DescentProblem, *, n_steps: int, grad_tol: float | None, loss_tol: float | None,
        record_every: int | None = None, observe: Callable | None = None) -> DescentResult:
    """Drive ``problem`` (a :class:`DescentProblem`) for at most ``n_steps`` updates, each seed stopping
    by itself (module docstring). ``record_every``: record the loss every that many steps (``None``:
    no curve). ``observe(t, current)``, if given, is called at the start of every step, before the
    loss, with ``current()`` returning all seeds' parameters after ``t`` updates (stopped seeds
    frozen); it is how the trainer takes snapshots and evaluations."""
    n_steps = check_int("n_steps", n_steps, min=0)
    grad_tol, loss_tol = _check_tol("grad_tol", grad_tol), _check_tol("loss_tol", loss_tol)
    if record_every is not None:
        record_every = check_int("record_every", record_every, min=1)
    params = tuple(problem.params)
    S = params[0].shape[0]
    rec = _Record(params, S)
    curve = None if record_every is None else np.full((S, n_steps // record_every + 1), np.nan)
    for t in range(n_steps + 1):
        if observe is not None:
            observe(t, lambda: rec.current(problem.params))
        L, grads, gn = problem.loss_grad(t)
        if curve is not None and t % record_every == 0:
            curve[rec.alive_np, t // record_every] = L.detach().cpu().numpy()
        bad, stop_l, stop_g = stop_masks(L, gn, grad_tol, loss_tol)
        done = bad | stop_l | stop_g
        if t == n_steps:
            rec.finish(~done, "step_limit", t, problem.params, L, gn)
            done = torch.ones_like(done)
        if bool(done.any()):
            for mask, reason in ((stop_g, "grad_tol"), (stop_l, "loss_tol"), (bad, "diverged")):
                if bool(mask.any()):
                    rec.finish(mask, reason, t, problem.params, L, gn)
            keep = ~done
            if not bool(keep.any()):
                break
            rec.keep(keep)
            problem.keep(keep)
            grads = tuple(None if g is None else g[keep] for g in grads)
        problem.step(grads, t)
    return DescentResult(tuple(rec.params), rec.loss, rec.grad_norm, rec.steps, tuple(rec.reasons),
                         curve, record_every)


class _Functional:
    """A :class:`DescentProblem` from a tuple of tensors and two functions (see :func:`descend`)."""

    def __init__(self, params, loss_grad, step):
        self.params = tuple(p.clone() for p in params)
        self._loss_grad, self._step = loss_grad, step

    def loss_grad(self, t):
        return self._loss_grad(self.params)

    def step(self, grads, t):
        self.params = tuple(self._step(self.params, grads))

    def keep(self, mask):
        self.params = tuple(p[mask] for p in self.params)


def descend(params, loss_grad: Callable, step: Callable, *, n_steps: int, grad_tol: float | None,
            loss_tol: float | None, record_every: int | None = None) -> DescentResult:
    """Run ``params ← step(params, grads)`` on all seeds at once, each seed stopping by itself.

    ``params``: a tuple of tensors, seed axis first (not modified). ``loss_grad(params)`` returns
    ``(loss (S,), grads (tuple like params), grad_norm (S,))``; ``step(params, grads)`` returns the
    updated tuple (it may update in place: ``descend`` works on copies). See the module docstring
    for the stop rules. ``record_every``: record the loss every that many steps (``None``: no curve).
    """
    n_steps = check_int("n_steps", n_steps, min=0)
    return run(_Functional(params, loss_grad, step), n_steps=n_steps, grad_tol=grad_tol,
               loss_tol=loss_tol, record_every=record_every)
