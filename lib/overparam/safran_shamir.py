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
growing it is :func:`overparam.ss_dynamics.new_neuron_direction`.

Gradient descent on this loss and the embeddings that add a neuron are in :mod:`overparam.ss_dynamics`.
"""
from __future__ import annotations

import math
import torch

from .rng import generator
from .validate import check_finite, check_int, resolve_device

__all__ = [
    "teacher", "init_students", "loss", "gradient", "loss_and_gradient", "hessian", "objective",
    "kernel", "sample_inputs", "teacher_output", "student_output", "sampled_loss",
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
    return torch.eye(d, dtype=dtype, device=resolve_device(device))


def init_students(k: int, n: int, n_seeds: int, seed: int, *, device=None) -> torch.Tensor:
    """Xavier init: ``(n_seeds, n, k)`` entries N(0, 1/d), ``d = k``, from stream ``"init"``, drawn on the
    CPU and returned on ``device`` (None: CPU; ``"auto"`` allowed), so every device starts alike.

    Run ``s`` takes the ``s``-th block of ``n·k`` draws from one generator, so the first runs of a
    larger batch equal a smaller batch with the same seed.
    """
    k = check_int("k", k, min=1)
    n = check_int("n", n, min=1)
    n_seeds = check_int("n_seeds", n_seeds, min=1)
    device = resolve_device(device)
    g = generator(seed, "init")
    W = torch.stack([torch.randn(n, k, generator=g, dtype=_DT) for _ in range(n_seeds)])
    W /= math.sqrt(k)
    return W.to(device)


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


# --------------------------------------------------------------------------- sampled data
def sample_inputs(n_samples: int, d: int, seed: int, *, device=None) -> torch.Tensor:
    """``x ~ N(0, I_d)``, shape ``(n_samples, d)``, from stream ``"data"`` (drawn on the CPU, returned on
    ``device``; None: CPU)."""
    n_samples = check_int("n_samples", n_samples, min=1)
    d = check_int("d", d, min=1)
    device = resolve_device(device)
    return torch.randn(n_samples, d, generator=generator(seed, "data"), dtype=_DT).to(device)


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
