"""The one-dimensional control of the counting-tickets chapter, where tickets do explain success.

Teacher ``relu(x)``, student ``Σᵢ relu(wᵢx + bᵢ)`` (no output weights), full-batch gradient descent on
fixed inputs (standard-normal quantiles) through :func:`overparam.descent.descend`, with the stop rules
of the main experiment. The names are also reachable from :mod:`overparam.tickets`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from .descent import descend
from .rng import generator
from .validate import check_float, check_int, resolve_device

__all__ = ["control_inputs", "control_init", "ControlResult", "control_loss_grad", "control_gradient_descent"]

_DT = torch.float64


def control_inputs(n_points: int = 400, *, device=None) -> torch.Tensor:
    """The control's "population": ``n_points`` standard-normal quantiles ``Φ⁻¹((j + ½)/N)``, float64,
    computed on the CPU (the same numbers everywhere) and returned on ``device`` (None: CPU)."""
    n_points = check_int("n_points", n_points, min=2)
    device = resolve_device(device)
    q = (torch.arange(n_points, dtype=_DT) + 0.5) / n_points
    return (math.sqrt(2.0) * torch.erfinv(2.0 * q - 1.0)).to(device)


def control_init(n_seeds: int, width: int, seed: int, *, device=None):
    """``(w, b)``, each ``(n_seeds, width)`` N(0, 1), stream ``"init"`` (drawn on the CPU, returned on
    ``device``; None: CPU). For nested students draw the widest once and take its first neurons."""
    n_seeds = check_int("n_seeds", n_seeds, min=1)
    width = check_int("width", width, min=1)
    device = resolve_device(device)
    g = generator(seed, "init")
    wb = torch.stack([torch.randn(2, width, generator=g, dtype=_DT) for _ in range(n_seeds)]).to(device)
    return wb[:, 0].contiguous(), wb[:, 1].contiguous()


@dataclass(frozen=True)
class ControlResult:
    """Per run: final ``w``, ``b``, ``loss``, ``steps`` and ``stop_reason`` (as in gradient_descent)."""
    w: torch.Tensor
    b: torch.Tensor
    loss: torch.Tensor
    steps: torch.Tensor
    stop_reason: tuple

    @property
    def wins(self) -> np.ndarray:
        return np.array([r == "loss_tol" for r in self.stop_reason])


def control_loss_grad(w: torch.Tensor, b: torch.Tensor, x: torch.Tensor):
    """Loss ``½ mean_x (Σᵢ relu(wᵢx + bᵢ) − relu(x))²`` ``(S,)`` and its gradients ``(S, n)`` each."""
    pre = w.unsqueeze(-1) * x + b.unsqueeze(-1)        # (S, n, N)
    act = (pre > 0).to(w.dtype)
    r = (pre * act).sum(-2) - torch.relu(x)            # (S, N)
    L = 0.5 * (r * r).mean(-1)
    ra = act * r.unsqueeze(-2) / x.numel()
    return L, (ra * x).sum(-1), ra.sum(-1)


def control_gradient_descent(w0: torch.Tensor, b0: torch.Tensor, x: torch.Tensor, *, lr: float,
                             n_steps: int = 20_000, grad_tol: float = 1e-9,
                             loss_tol: float = 1e-6) -> ControlResult:
    """1-D control: teacher ``relu(x)``, student ``Σᵢ relu(wᵢx + bᵢ)`` (no output weights), full-batch
    gradient descent on the inputs ``x`` with the loop and stop rules of the main experiment
    (:func:`overparam.descent.descend`: ``"loss_tol"``, ``"grad_tol"``, ``"step_limit"`` after
    ``n_steps`` steps, default 20 000, ``"diverged"``). A neuron inactive on every input has zero
    gradient and stays dead. Runs on ``w0.device`` (``x`` is moved there)."""
    lr = check_float("lr", lr, min=0.0, min_inclusive=False)
    n_steps = check_int("n_steps", n_steps, min=0)
    if not (torch.is_tensor(w0) and torch.is_tensor(b0) and w0.dim() == 2 and w0.shape == b0.shape):
        raise ValueError("w0 and b0 must be tensors of the same shape (S, width)")
    x = x.to(w0.device)

    def loss_grad(params):
        L, gw, gb = control_loss_grad(params[0], params[1], x)
        return L, (gw, gb), torch.sqrt((gw * gw).sum(-1) + (gb * gb).sum(-1))

    def step(params, grads):
        return params[0] - lr * grads[0], params[1] - lr * grads[1]

    res = descend((w0.to(_DT), b0.to(_DT)), loss_grad, step, n_steps=n_steps, grad_tol=grad_tol,
                  loss_tol=loss_tol)
    return ControlResult(res.params[0], res.params[1], res.loss, res.steps, res.stop_reason)
