"""The Safran–Shamir teacher-student family, with its population loss in closed form.

Student ``x ↦ Σᵢ relu(wᵢᵀx)`` with ``n`` neurons (no output weights, no bias); teacher with
``k = d`` orthonormal relu neurons (the identity, ``vⱼ = eⱼ``); ``x ~ N(0, I_d)``. Parameters
``W`` have shape ``(S, n, d)``: the seed axis first. Everything is float64.

The population loss ``L(W) = ½ E[(f(x) − y(x))²]`` follows from the Gaussian relu kernel::

    K(u, w) = E[relu(uᵀx) relu(wᵀx)] = ‖u‖‖w‖ (sin θ + (π − θ) cos θ) / (2π)

and its derivatives (``θ`` the angle between ``u`` and ``w``, ``a = u/‖u‖``, ``b = w/‖w‖``,
``r = b − cos θ a`` so that ``‖r‖ = sin θ``)::

    G(u, w) = ∂K/∂u     = ((π − θ) w + ‖w‖ sin θ a) / (2π)
    C(u, w) = ∂²K/∂u∂w  = ((π − θ) I + sin θ cos θ aaᵀ − cos θ rrᵀ/‖r‖ + sin θ (arᵀ + raᵀ)) / (2π)
    D(u, w) = ∂G/∂u     = ‖w‖/‖u‖ (sin θ (I − aaᵀ) + rrᵀ/‖r‖) / (2π)

so that ``∂L/∂wᵢ = Σⱼ G(wᵢ, wⱼ) − Σⱼ G(wᵢ, vⱼ)``, the off-diagonal Hessian blocks are
``C(wᵢ, wⱼ)`` and the diagonal ones ``C(wᵢ, wᵢ) + Σⱼ D(wᵢ, wⱼ) − Σⱼ D(wᵢ, vⱼ)`` with
``C(w, w) = I/2``. Written this way every term stays bounded and continuous as ``θ → 0``
(colinear, e.g. a split neuron) and ``θ → π`` (opposite): ``K`` is C² there (``g(θ)`` has a
``θ³`` term), and these are the limits of the Hessian. Angles come from ``atan2(sin θ, cos θ)``;
for nearly (anti)parallel pairs ``θ = 2·atan2(‖a − b‖, ‖a + b‖)`` from the explicit difference,
never from ``acos``.

**A zero neuron** (``wᵢ = 0``): the loss is not differentiable there (it is 1-homogeneous in
``wᵢ``). The functions return what the convention ``relu'(0) = 0`` gives, the same as autograd of
a sampled loss: ``G(0, ·) = 0``, so the neuron's gradient row is zero, and its Hessian rows and
columns are zero. Gradient descent therefore never moves a zero neuron; the one-sided slope for
growing it is :func:`new_neuron_direction`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from .rng import generator
from .validate import check_float, check_finite, check_int, check_square_batch

__all__ = [
    "teacher", "init_students", "loss", "gradient", "loss_and_gradient", "hessian", "objective",
    "kernel", "GDResult", "gradient_descent", "NewNeuronResult", "new_neuron_direction",
    "neuron_slope", "split_neuron", "neuron_curvature", "split_hessian", "add_zero_neuron",
    "sample_inputs", "teacher_output", "student_output", "sampled_loss",
]

_TWO_PI = 2.0 * math.pi
_DT = torch.float64
# Pairs with 1 − |cos θ| below this get θ from the explicit difference (see module docstring).
_NEAR_PARALLEL = 1e-6


def _check_W(W, name: str = "W") -> torch.Tensor:
    if not torch.is_tensor(W):
        raise ValueError(f"{name} must be a torch.Tensor of shape (S, n, d), got {type(W).__name__}")
    if W.dim() != 3 or min(W.shape) < 1:
        raise ValueError(f"{name} must have shape (S, n, d) with S, n, d >= 1, got {tuple(W.shape)}")
    if W.dtype != _DT:
        raise ValueError(f"{name} must be float64 (certification needs it), got {W.dtype}")
    return check_finite(name, W)


def teacher(d: int, *, dtype=_DT, device=None) -> torch.Tensor:
    """The teacher's weights: ``k = d`` orthonormal neurons, the identity ``(d, d)``."""
    d = check_int("d", d, min=1)
    return torch.eye(d, dtype=dtype, device=device)


def init_students(k: int, n: int, n_seeds: int, seed: int, *, device=None) -> torch.Tensor:
    """Xavier init: ``(n_seeds, n, k)`` entries N(0, 1/d), ``d = k``, from stream ``"init"``.

    Run ``s`` takes the ``s``-th block of ``n·k`` draws from one generator, so the first runs of a
    larger batch equal a smaller batch with the same seed.
    """
    k = check_int("k", k, min=1)
    n = check_int("n", n, min=1)
    n_seeds = check_int("n_seeds", n_seeds, min=1)
    g = generator(seed, "init")
    W = torch.stack([torch.randn(n, k, generator=g, dtype=_DT) for _ in range(n_seeds)])
    W /= math.sqrt(k)
    return W if device is None else W.to(device)


# --------------------------------------------------------------------------- geometry of pairs
def _norms_dirs(W: torch.Tensor):
    """Row norms ``(S, n)``, unit rows ``(S, n, d)`` (zero rows stay zero) and the nonzero mask."""
    U = torch.linalg.vector_norm(W, dim=-1)
    nz = U > torch.finfo(W.dtype).tiny
    a = W / torch.where(nz, U, torch.ones_like(U)).unsqueeze(-1)
    return U, a, nz


def _angles(a: torch.Tensor, b: torch.Tensor):
    """cos θ, sin θ, θ for all pairs of unit rows ``a (S, n, d)``, ``b (S, m, d)``: ``(S, n, m)``.

    Zero rows give cos θ = 0 (their terms are masked by the callers).
    """
    c = torch.bmm(a, b.transpose(1, 2)).clamp_(-1.0, 1.0)
    s = torch.sqrt((1.0 - c) * (1.0 + c))
    near = (1.0 - c.abs()) < _NEAR_PARALLEL
    if bool(near.any()):
        idx = near.nonzero(as_tuple=True)
        ai, bj = a[idx[0], idx[1]], b[idx[0], idx[2]]
        th = 2.0 * torch.atan2(torch.linalg.vector_norm(ai - bj, dim=-1),
                               torch.linalg.vector_norm(ai + bj, dim=-1))
        c = c.index_put(idx, torch.cos(th))
        s = s.index_put(idx, torch.sin(th))
    return c, s, torch.atan2(s, c)


def _all_neurons(W: torch.Tensor):
    """Students then teachers: norms, directions, weights, nonzero mask, and the signs σ."""
    S, n, d = W.shape
    U, a, nz = _norms_dirs(W)
    V = torch.eye(d, dtype=W.dtype, device=W.device).expand(S, d, d)
    Zn = torch.cat([U, torch.ones(S, d, dtype=W.dtype, device=W.device)], dim=1)
    b = torch.cat([a, V], dim=1)
    Z = torch.cat([W, V], dim=1)
    sigma = torch.cat([torch.ones(n, dtype=W.dtype, device=W.device),
                       -torch.ones(d, dtype=W.dtype, device=W.device)])
    return U, a, nz, Zn, b, Z, sigma


def _teacher_constant(d: int) -> float:
    """Σⱼₗ K(vⱼ, vₗ) for the identity teacher: d/2 + d(d − 1)/(2π)."""
    return d / 2.0 + d * (d - 1) / _TWO_PI


def kernel(u: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """``E[relu(uᵀx) relu(wᵀx)]`` for rows ``u (..., d)``, ``w (..., d)`` (broadcast), float64."""
    u, w = torch.broadcast_tensors(u, w)
    shape = u.shape[:-1]
    u2, w2 = u.reshape(1, -1, u.shape[-1]), w.reshape(1, -1, w.shape[-1])
    Uu, au, _ = _norms_dirs(u2)
    Uw, aw, _ = _norms_dirs(w2)
    cos = (au * aw).sum(-1).clamp(-1, 1)
    s = torch.sqrt((1 - cos) * (1 + cos))
    th = 2.0 * torch.atan2(torch.linalg.vector_norm(au - aw, dim=-1), torch.linalg.vector_norm(au + aw, dim=-1))
    near = (1 - cos.abs()) < _NEAR_PARALLEL
    s = torch.where(near, torch.sin(th), s)
    cos = torch.where(near, torch.cos(th), cos)
    th = torch.atan2(s, cos)
    return (Uu * Uw * (s + (math.pi - th) * cos) / _TWO_PI).reshape(shape)


# --------------------------------------------------------------------------- loss, gradient, Hessian
def _loss_grad(W: torch.Tensor, need_grad: bool = True):
    """Loss ``(S,)`` and gradient ``(S, n, d)``: the fast path that gradient descent runs.

    Same mathematics as :func:`_loss_grad_reference`, arranged for fewer passes over the pair arrays:

    - the student-teacher cosines are the unit rows themselves (the teacher is the identity), and
      multiplying by the teacher's weights is the identity: no matrix product for that block;
    - self pairs (θ = 0) are set directly instead of going through the near-parallel fix-up, which
      then runs only when some other pair is within ``_NEAR_PARALLEL`` of (anti)parallel;
    - the loss comes from the gradient by Euler's relation (``K`` is 1-homogeneous in each
      argument, so ``wᵢ·∂L/∂wᵢ = Σⱼ σⱼ K(wᵢ, zⱼ)``): ``2L = Σᵢ wᵢ·gᵢ − E[f y] + E[y²]``, where
      ``E[f y] = Σᵢ (wᵢ·(π − θᵢ) + ‖wᵢ‖ Σⱼ sin θᵢⱼ) / 2π`` over the teacher block only.
    """
    S, n, d = W.shape
    U, a, nz = _norms_dirs(W)
    thr = 2.0 * _NEAR_PARALLEL            # sin²θ below this: 1 − |cos θ| below about _NEAR_PARALLEL
    # student-student block (S, n, n)
    c_ss = torch.bmm(a, a.transpose(1, 2))
    c_ss.diagonal(dim1=1, dim2=2).zero_()                  # self pairs: set below
    s2_ss = torch.addcmul(torch.ones((), dtype=W.dtype, device=W.device), c_ss, c_ss, value=-1.0)
    # student-teacher block (S, n, d): cos θᵢⱼ = aᵢⱼ
    c_st = a.clamp(-1.0, 1.0)
    s2_st = torch.addcmul(torch.ones((), dtype=W.dtype, device=W.device), c_st, c_st, value=-1.0)
    blocks = []
    for c, s2, other in ((c_ss, s2_ss, None), (c_st, s2_st, "teacher")):
        if bool(s2.min() < thr):
            idx = (s2 < thr).nonzero(as_tuple=True)
            ai = a[idx[0], idx[1]]
            if other is None:
                bj = a[idx[0], idx[2]]
            else:
                bj = torch.zeros_like(ai)
                bj[torch.arange(bj.shape[0], device=W.device), idx[2]] = 1.0
            th_near = 2.0 * torch.atan2(torch.linalg.vector_norm(ai - bj, dim=-1),
                                        torch.linalg.vector_norm(ai + bj, dim=-1))
            c.index_put_(idx, torch.cos(th_near))
            s2.index_put_(idx, torch.sin(th_near) ** 2)
        s = s2.sqrt_()                     # s2 >= thr > 0 except at the pairs just set
        blocks.append((s, torch.atan2(s, c)))
    (s_ss, th_ss), (s_st, th_st) = blocks
    th_ss.diagonal(dim1=1, dim2=2).zero_()
    s_ss.diagonal(dim1=1, dim2=2).zero_()
    pi_ss = torch.sub(math.pi, th_ss)
    pi_st = torch.sub(math.pi, th_st)
    # E[f y] = Σᵢⱼ K(wᵢ, eⱼ), from the teacher block alone
    Efy = ((W * pi_st).sum((1, 2)) + (U * s_st.sum(-1)).sum(-1)) / _TWO_PI
    B = torch.bmm(s_ss, U.unsqueeze(-1)).squeeze(-1) - s_st.sum(-1)          # (S, n)
    grad = (torch.bmm(pi_ss, W) - pi_st + B.unsqueeze(-1) * a) / _TWO_PI
    grad = grad * nz.unsqueeze(-1)  # relu'(0) = 0 at a zero neuron
    L = 0.5 * ((W * grad).sum((1, 2)) - Efy + _teacher_constant(d))
    return L, (grad if need_grad else None)


def _loss_grad_reference(W: torch.Tensor, need_grad: bool = True):
    """Loss and gradient over all (student, student-or-teacher) pairs at once: the slow, plain
    reference that :func:`_loss_grad` is tested and benchmarked against."""
    S, n, d = W.shape
    U, a, nz, Zn, b, Z, sigma = _all_neurons(W)
    c, s, th = _angles(a, b)
    pi_th = math.pi - th
    # K / (‖u‖‖z‖) per pair; the loss weights student-student pairs by 1 and student-teacher by -2.
    g = s + pi_th * c
    tau = torch.cat([Zn[:, :n], -2.0 * Zn[:, n:]], dim=1)  # (S, m)
    L = 0.5 * ((U * torch.bmm(g, tau.unsqueeze(-1)).squeeze(-1)).sum(-1) / _TWO_PI + _teacher_constant(d))
    if not need_grad:
        return L, None
    A = pi_th * sigma
    B = (s * (Zn * sigma).unsqueeze(1)).sum(-1)
    grad = (torch.bmm(A, Z) + B.unsqueeze(-1) * a) / _TWO_PI
    grad = grad * nz.unsqueeze(-1)  # relu'(0) = 0 at a zero neuron
    return L, grad


def loss(W: torch.Tensor) -> torch.Tensor:
    """Population loss ``(S,)`` of students ``W (S, n, d)`` against the identity teacher."""
    return _loss_grad(_check_W(W), need_grad=False)[0]


def gradient(W: torch.Tensor) -> torch.Tensor:
    """``∂L/∂W``, shape ``(S, n, d)``; zero rows for zero neurons (see the module docstring)."""
    return _loss_grad(_check_W(W))[1]


def loss_and_gradient(W: torch.Tensor):
    """``(loss (S,), gradient (S, n, d))`` in one pass."""
    return _loss_grad(_check_W(W))


def hessian(W: torch.Tensor) -> torch.Tensor:
    """Exact Hessian ``(S, n·d, n·d)`` of the population loss, parameters ordered as ``W.reshape(S, -1)``.

    Continuous limits at colinear and opposite pairs; zero rows and columns for a zero neuron.
    """
    W = _check_W(W)
    S, n, d = W.shape
    U, a, nz, Zn, b, Z, sigma = _all_neurons(W)
    c, s, th = _angles(a, b)
    r = b.unsqueeze(1) - c.unsqueeze(-1) * a.unsqueeze(2)          # (S, n, m, d), ‖r‖ = sin θ
    rn = torch.linalg.vector_norm(r, dim=-1)
    e = r / torch.where(rn > 0, rn, torch.ones_like(rn)).unsqueeze(-1)  # unit, or 0 when θ ∈ {0, π}
    eye = torch.eye(d, dtype=W.dtype, device=W.device)
    # Off-diagonal (and self) blocks C(wᵢ, wⱼ) between students.
    cs, ss, ts = c[:, :, :n], s[:, :, :n], th[:, :, :n]
    rs, es, rns = r[:, :, :n], e[:, :, :n], rn[:, :, :n]
    aa = a.unsqueeze(-1) * a.unsqueeze(-2)                               # (S, n, d, d)
    C = ((math.pi - ts)[..., None, None] * eye
         + (ss * cs)[..., None, None] * aa.unsqueeze(2)
         - (cs * rns)[..., None, None] * (es.unsqueeze(-1) * es.unsqueeze(-2))
         + ss[..., None, None] * (a[:, :, None, :, None] * rs.unsqueeze(-2)
                                  + rs.unsqueeze(-1) * a[:, :, None, None, :])) / _TWO_PI
    # Diagonal corrections Σⱼ σⱼ D(wᵢ, zⱼ), zero neurons excluded on both sides.
    ratio = torch.where(nz, 1.0 / torch.where(nz, U, torch.ones_like(U)), torch.zeros_like(U))
    wgt = sigma * Zn * torch.cat([nz.to(W.dtype), torch.ones_like(Zn[:, n:])], 1)  # (S, m)
    coef = wgt.unsqueeze(1) * ratio.unsqueeze(-1)                                  # (S, n, m)
    Dsum = ((coef * s).sum(-1)[..., None, None] * (eye - aa)
            + torch.einsum("snm,snmd,snme->snde", coef * rn, e, e)) / _TWO_PI
    C = C * (nz.unsqueeze(2) & nz.unsqueeze(1)).to(W.dtype)[..., None, None]
    idx = torch.arange(n, device=W.device)
    C[:, idx, idx] += Dsum * nz.to(W.dtype)[..., None, None]
    H = C.permute(0, 1, 3, 2, 4).reshape(S, n * d, n * d)
    return 0.5 * (H + H.transpose(1, 2))


def objective(n: int, d: int):
    """``fn(theta (S, n·d)) -> (loss (S,), grad (S, n·d), hess (S, n·d, n·d))`` for :func:`overparam.finisher.newton_finish`."""
    n = check_int("n", n, min=1)
    d = check_int("d", d, min=1)

    def fn(theta: torch.Tensor):
        W = theta.reshape(theta.shape[0], n, d)
        L, g = _loss_grad(_check_W(W, "theta"))
        return L, g.reshape(theta.shape[0], -1), hessian(W)

    return fn


# --------------------------------------------------------------------------- gradient descent
@dataclass(frozen=True)
class GDResult:
    """How each run of :func:`gradient_descent` ended.

    ``stop_reason[s]`` is ``"grad_tol"`` (gradient norm below ``grad_tol``: a critical point),
    ``"loss_tol"`` (loss below ``loss_tol``), ``"step_limit"`` or ``"diverged"`` (non-finite).
    ``steps[s]`` is the number of steps taken; ``loss``/``grad_norm`` are at the final ``W``.
    ``loss_curve`` ``(S, T)`` holds the loss at steps ``0, record_every, ...``, NaN after a run stopped.
    """
    W: torch.Tensor
    loss: torch.Tensor
    grad_norm: torch.Tensor
    steps: torch.Tensor
    stop_reason: tuple
    loss_curve: np.ndarray
    record_every: int

    @property
    def n_seeds(self) -> int:
        return self.W.shape[0]

    def reason_mask(self, reason: str) -> torch.Tensor:
        return torch.tensor([r == reason for r in self.stop_reason], dtype=torch.bool)


def gradient_descent(W0: torch.Tensor, *, lr: float, max_steps: int = 30_000, grad_tol: float = 1e-9,
                     loss_tol: float = 1e-6, record_every: int = 100, num_threads: int | None = 1) -> GDResult:
    """Batched gradient descent ``W ← W − lr ∇L(W)`` on the exact population loss.

    A run stops (and leaves the batch) at the first step where its gradient norm (over all ``n·d``
    entries) is below ``grad_tol`` or its loss below ``loss_tol``, when it turns non-finite, or
    after ``max_steps`` steps. ``W0`` is not modified.

    ``num_threads`` torch threads are used meanwhile (the previous setting is restored): these tensors
    are tiny, and measured here on 2 busy cores, 2 threads ran 50× slower than 1 (spinning worker
    threads); ``None`` keeps the caller's setting.
    """
    if num_threads is not None:
        num_threads = check_int("num_threads", num_threads, min=1)
        before = torch.get_num_threads()
        torch.set_num_threads(num_threads)
        try:
            return gradient_descent(W0, lr=lr, max_steps=max_steps, grad_tol=grad_tol, loss_tol=loss_tol,
                                    record_every=record_every, num_threads=None)
        finally:
            torch.set_num_threads(before)
    W = _check_W(W0, "W0").clone()
    lr = check_float("lr", lr, min=0.0, min_inclusive=False)
    max_steps = check_int("max_steps", max_steps, min=0)
    grad_tol = check_float("grad_tol", grad_tol, min=0.0)
    loss_tol = check_float("loss_tol", loss_tol, min=0.0)
    record_every = check_int("record_every", record_every, min=1)
    S = W.shape[0]
    final_W = W.clone()
    final_loss = torch.full((S,), float("nan"), dtype=_DT)
    final_gn = torch.full((S,), float("nan"), dtype=_DT)
    steps = torch.zeros(S, dtype=torch.int64)
    reasons = [""] * S
    curve = np.full((S, max_steps // record_every + 1), np.nan)
    alive = torch.arange(S)

    def finish(mask, reason, t, L, gn):
        idx = alive[mask]
        final_W[idx] = W[mask]
        final_loss[idx] = L[mask]
        final_gn[idx] = gn[mask]
        steps[idx] = t
        for i in idx.tolist():
            reasons[i] = reason

    for t in range(max_steps + 1):
        L, g = _loss_grad(W)
        gn = torch.linalg.vector_norm(g.reshape(g.shape[0], -1), dim=-1)
        if t % record_every == 0:
            curve[alive.numpy(), t // record_every] = L.numpy()
        bad = ~(torch.isfinite(L) & torch.isfinite(gn))
        stop_l = (L < loss_tol) & ~bad
        stop_g = (gn < grad_tol) & ~bad & ~stop_l
        done = bad | stop_g | stop_l
        if t == max_steps:
            finish(~done, "step_limit", t, L, gn)
            done = torch.ones_like(done)
        if bool(done.any()):
            for mask, reason in ((stop_g, "grad_tol"), (stop_l, "loss_tol"), (bad, "diverged")):
                if bool(mask.any()):
                    finish(mask, reason, t, L, gn)
            keep = ~done
            alive, W, g = alive[keep], W[keep], g[keep]
            if alive.numel() == 0:
                break
        W.sub_(g, alpha=lr)
    return GDResult(final_W, final_loss, final_gn, steps, tuple(reasons), curve, record_every)


# --------------------------------------------------------------------------- adding a neuron
@dataclass(frozen=True)
class NewNeuronResult:
    """Steepest one-sided slope for growing a new neuron from zero.

    ``value[s] = min over unit u of E[(f − y)·relu(uᵀx)]`` (best of ``n_starts`` starts) and
    ``u[s]`` the minimiser; a negative value means that adding the neuron ``t·u`` lowers the loss
    at rate ``value`` for small ``t > 0``.
    """
    value: torch.Tensor
    u: torch.Tensor
    n_starts: int


def _slope_and_grad(W: torch.Tensor, u: torch.Tensor):
    """``δ(u) = Σᵢ K(u, wᵢ) − Σⱼ K(u, vⱼ)`` and its Euclidean gradient for unit ``u (S, R, d)``."""
    S, n, d = W.shape
    _, _, _, Zn, b, Z, sigma = _all_neurons(W)
    c, s, th = _angles(u, b)                     # (S, R, m); zero students drop out via Zn = 0
    w = Zn * sigma                                # (S, m)
    val = ((s + (math.pi - th) * c) * w.unsqueeze(1)).sum(-1) / _TWO_PI
    grad = (torch.bmm((math.pi - th) * sigma, Z) + (s * w.unsqueeze(1)).sum(-1, keepdim=True) * u) / _TWO_PI
    return val, grad


def neuron_slope(W: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """``E[(f − y)·relu(uᵀx)]`` for directions ``u (S, R, d)`` (normalised here): ``(S, R)``."""
    W = _check_W(W)
    if not torch.is_tensor(u) or u.dim() != 3 or u.shape[0] != W.shape[0] or u.shape[2] != W.shape[2]:
        raise ValueError(f"u must have shape (S, R, d) = ({W.shape[0]}, R, {W.shape[2]}), got "
                         f"{tuple(u.shape) if torch.is_tensor(u) else type(u).__name__}")
    return _slope_and_grad(W, _norms_dirs(u.to(_DT))[1])[0]


def new_neuron_direction(W: torch.Tensor, *, n_starts: int = 32, n_iter: int = 300, seed: int = 0) -> NewNeuronResult:
    """Minimise ``δ(u) = E[(f − y)·relu(uᵀx)]`` over the unit sphere, per seed.

    Riemannian gradient descent with a per-start adaptive step, from the ± teacher directions,
    the ± student directions and random starts (stream ``"probe"``), ``n_starts`` in all (at least
    the deterministic ones). ``δ`` is smooth on the sphere (C² where ``u`` is parallel to a neuron).
    """
    W = _check_W(W)
    n_starts = check_int("n_starts", n_starts, min=1)
    n_iter = check_int("n_iter", n_iter, min=1)
    S, n, d = W.shape
    _, a, _ = _norms_dirs(W)
    eye = torch.eye(d, dtype=_DT).expand(S, d, d)
    fixed = torch.cat([eye, -eye, a, -a], dim=1)
    n_rand = max(0, n_starts - fixed.shape[1])
    g = generator(seed, "probe")
    rand = torch.randn(S, n_rand, d, generator=g, dtype=_DT)
    u = _norms_dirs(torch.cat([fixed, rand], dim=1))[1]
    u = torch.where(torch.linalg.vector_norm(u, dim=-1, keepdim=True) > 0, u, eye[:, :1])
    R = u.shape[1]
    val, gr = _slope_and_grad(W, u)
    eta = torch.full((S, R), 1.0, dtype=_DT)
    for _ in range(n_iter):
        rg = gr - (gr * u).sum(-1, keepdim=True) * u          # tangent part
        trial = u - eta.unsqueeze(-1) * rg
        trial = trial / torch.linalg.vector_norm(trial, dim=-1, keepdim=True)
        tval, tgr = _slope_and_grad(W, trial)
        ok = tval <= val - 1e-4 * eta * (rg * rg).sum(-1)
        u = torch.where(ok.unsqueeze(-1), trial, u)
        val = torch.where(ok, tval, val)
        gr = torch.where(ok.unsqueeze(-1), tgr, gr)
        eta = torch.where(ok, (eta * 1.5).clamp(max=10.0), eta * 0.5).clamp(min=1e-12)
    best = val.argmin(dim=1)
    ar = torch.arange(S)
    return NewNeuronResult(val[ar, best], u[ar, best], R)


def split_neuron(W: torch.Tensor, i: int, mu: float) -> torch.Tensor:
    """Embed in width ``n + 1`` with the same function: row ``i → μ wᵢ``, new last row ``(1 − μ) wᵢ``.

    relu's positive homogeneity keeps the function for ``μ ∈ [0, 1]``; the ends give a zero neuron.
    Every critical point of width ``n`` maps to one of width ``n + 1`` (``G`` is 0-homogeneous in ``u``).
    """
    W = _check_W(W)
    i = check_int("i", i, min=0, max=W.shape[1] - 1)
    mu = check_float("mu", mu, min=0.0, max=1.0)
    out = torch.cat([W, (1.0 - mu) * W[:, i:i + 1]], dim=1)
    out[:, i] = mu * W[:, i]
    return out


def _check_H(H, S: int, P: int) -> torch.Tensor:
    H = check_square_batch("H", H)
    if tuple(H.shape) != (S, P, P):
        raise ValueError(f"H must be the Hessian at W, shaped (S, n·d, n·d) = ({S}, {P}, {P}), got {tuple(H.shape)}")
    return H


def neuron_curvature(W: torch.Tensor, H: torch.Tensor | None = None) -> torch.Tensor:
    """Per-neuron curvature ``Dᵢ = Σⱼ σⱼ D(wᵢ, zⱼ)``, shape ``(S, n, d, d)``.

    It is neuron ``i``'s diagonal Hessian block minus ``C(wᵢ, wᵢ) = I/2`` (zero for a zero neuron):
    the part of the curvature that scales as ``1/‖wᵢ‖``. ``H``, the Hessian at ``W``, is computed
    when not given.

    At a split point (:func:`split_neuron` with ratio μ) the direction that moves the two pieces
    apart, ``(y, −y)``, has curvature ``yᵀDᵢy / (2μ(1 − μ))`` per unit length; at μ = ½ every
    eigenpair ``(λ, y)`` of ``Dᵢ`` gives an exact eigenpair ``(2λ, (y, −y)/√2)`` of the split
    point's Hessian (see :func:`split_hessian`).
    """
    W = _check_W(W)
    S, n, d = W.shape
    if H is None:
        H = hessian(W)
    H = _check_H(H, S, n * d)
    blocks = H.reshape(S, n, d, n, d).diagonal(dim1=1, dim2=3).permute(0, 3, 1, 2)   # (S, n, d, d)
    nz = _norms_dirs(W)[2].to(W.dtype)
    eye = torch.eye(d, dtype=W.dtype, device=W.device)
    return (blocks - 0.5 * eye) * nz[..., None, None]


def split_hessian(W: torch.Tensor, i: int, mu: float, H: torch.Tensor | None = None) -> torch.Tensor:
    """The exact Hessian at ``split_neuron(W, i, mu)``, assembled from the Hessian ``H`` at ``W``.

    ``C`` is 0-homogeneous in both neurons and ``D(u, ·)`` scales as ``1/‖u‖``, so the pieces
    ``a = μwᵢ`` (row ``i``) and ``b = (1 − μ)wᵢ`` (new last row) see neuron ``i``'s off-diagonal
    blocks unchanged, ``H_ab = C(wᵢ, wᵢ) = I/2``, ``H_aa = I/2 + Dᵢ/μ`` and ``H_bb = I/2 + Dᵢ/(1 − μ)``
    (:func:`neuron_curvature`); every other block is as in ``H``. This holds at any ``W``, critical or
    not, and costs a copy instead of a new Hessian: equal to ``hessian(split_neuron(W, i, mu))`` up
    to rounding (tested). ``0 < mu < 1``.
    """
    W = _check_W(W)
    S, n, d = W.shape
    i = check_int("i", i, min=0, max=n - 1)
    mu = check_float("mu", mu, min=0.0, max=1.0, min_inclusive=False, max_inclusive=False)
    if H is None:
        H = hessian(W)
    H = _check_H(H, S, n * d)
    D = neuron_curvature(W, H)[:, i]
    nz = _norms_dirs(W)[2][:, i].to(W.dtype)[:, None, None]
    half = 0.5 * torch.eye(d, dtype=W.dtype, device=W.device) * nz
    B = H.reshape(S, n, d, n, d)
    out = W.new_zeros(S, n + 1, d, n + 1, d)
    out[:, :n, :, :n] = B
    out[:, n, :, :n] = B[:, i]
    out[:, :n, :, n] = B[:, :, :, i]
    out[:, i, :, i] = half + D / mu
    out[:, n, :, n] = half + D / (1.0 - mu)
    out[:, i, :, n] = half
    out[:, n, :, i] = half
    return out.reshape(S, (n + 1) * d, (n + 1) * d)


def add_zero_neuron(W: torch.Tensor, u: torch.Tensor | None = None, t: float = 0.0) -> torch.Tensor:
    """Width ``n + 1``: a new last neuron ``t·u`` (``u (S, d)`` unit; zero when ``t = 0``)."""
    W = _check_W(W)
    t = check_float("t", t, min=0.0)
    S, n, d = W.shape
    if u is None:
        new = torch.zeros(S, 1, d, dtype=_DT)
    else:
        if not torch.is_tensor(u) or tuple(u.shape) != (S, d):
            raise ValueError(f"u must have shape (S, d) = ({S}, {d}), got "
                             f"{tuple(u.shape) if torch.is_tensor(u) else type(u).__name__}")
        new = (t * u.to(_DT)).unsqueeze(1)
    return torch.cat([W, new], dim=1)


# --------------------------------------------------------------------------- sampled data
def sample_inputs(n_samples: int, d: int, seed: int) -> torch.Tensor:
    """``x ~ N(0, I_d)``, shape ``(n_samples, d)``, from stream ``"data"``."""
    n_samples = check_int("n_samples", n_samples, min=1)
    d = check_int("d", d, min=1)
    return torch.randn(n_samples, d, generator=generator(seed, "data"), dtype=_DT)


def teacher_output(x: torch.Tensor) -> torch.Tensor:
    """``y = Σⱼ relu(xⱼ)`` (identity teacher), shape ``(N,)``."""
    return torch.relu(x).sum(-1)


def student_output(W: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``f(x) = Σᵢ relu(wᵢᵀx)`` for each seed: ``(S, N)``."""
    return torch.relu(torch.einsum("snd,Nd->sNn", W, x)).sum(-1)


def sampled_loss(W: torch.Tensor, x: torch.Tensor):
    """Monte-Carlo estimate of the population loss on inputs ``x (N, d)``: ``(mean (S,), standard error (S,))``."""
    W = _check_W(W)
    if not torch.is_tensor(x) or x.dim() != 2 or x.shape[1] != W.shape[2]:
        raise ValueError(f"x must have shape (N, d) with d = {W.shape[2]}, got "
                         f"{tuple(x.shape) if torch.is_tensor(x) else type(x).__name__}")
    per = 0.5 * (student_output(W, x) - teacher_output(x)) ** 2
    return per.mean(-1), per.std(-1) / math.sqrt(x.shape[0])
