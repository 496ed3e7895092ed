"""Exact Hessians of MLP losses, batched over seeds (the spectral tools that read them: :mod:`overparam.spectra`).

Exact Hessian
-------------
:func:`hessian` returns the exact Hessian ``(S, P, P)`` of :func:`overparam.mlp.loss` with respect to the
flat parameters (the order of :func:`overparam.mlp.flatten`), for any depth, every activation of
:mod:`overparam.mlp`, and both losses. It is assembled analytically, without autograd. Write layer ``l`` as
``z_l = W~_l a~_{l-1}`` with ``W~_l = [W_l | b_l]`` and ``a~ = [a; 1]``, hidden ``a_l = sigma(z_l)``, output
``f = z_L``, and let ``G_{m<-l} = dz_m/dz_l`` (per sample). The loss is a composition of three kinds of
operation, and the Hessian is the sum of each operation's second derivative, weighted by the adjoint
(backpropagated gradient) at its output and sandwiched between the Jacobians of its inputs:

* the per-sample loss ``l(f)``: ``H_out = I`` (mse) or ``diag(p) - p p^T`` (cross-entropy),
* each activation ``a_q = sigma(z_q)``: ``c_q = sigma''(z_q) * g_q`` with ``g_q = dL/da_q``,
* each product ``W_q a_{q-1}``: bilinear, weighted by ``delta_q = dL/dz_q``.

The first two collapse into a per-sample "backpropagated Hessian" of the pre-activations,
``Phi_L = H_out / N``, ``Phi_m = diag(c_m) + B^T Phi_{m+1} B`` with ``B = W_{m+1} diag(sigma'(z_m))``
(the Gauss-Newton term and the activation residual together), and the block between layers ``l <= m`` is

``H[W~_l(i,j), W~_m(k,h)] = sum_n (G_{m<-l}^T Phi_m)_n[i,k] a~_{l-1,n}[j] a~_{m-1,n}[h]``

(one batched matrix product over the samples per pair of layers, ``O(N P_l P_m)``), plus the bilinear term
``H[W_q(i,j), W~_l(k,h)] += sum_n delta_q[i] sigma'(z_{q-1})[j] G_{q-1<-l}[j,k] a~_{l-1}[h]`` for ``l < q``
and its transpose. In practice the Gauss-Newton part is split off: with one output it is ``J^T J`` of the
flat Jacobian (lower triangle only, one large matrix product); the diagonal ``c_m`` terms are
block-diagonal or a Hadamard product with ``W_m``, so only ``B^T Psi B`` cores of deeper networks need the
general product. Only the lower triangle is assembled (directly in flatten order) and then mirrored, so
``H`` is exactly symmetric. Samples are processed in chunks so that no temporary much exceeds
``chunk_elements``. Measured (bench/bench_hessian.py): about 2000 parameters, N = 1000, see the README.
"""
from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Callable

import torch
from torch import Tensor

from . import mlp as _mlp
from .mlp import LOSSES
from .validate import check_choice, check_int

__all__ = [
    "LOSSES", "LossGradHessian", "FinishedMLP", "hessian", "gradient", "loss_grad_hessian", "objective",
    "finish_mlp",
]

_CHUNK_ELEMENTS = 1 << 24   # largest temporary (elements): 128 MB in float64


# ============================================================================ exact Hessian
@dataclass(frozen=True)
class LossGradHessian:
    """Loss ``(S,)``, gradient ``(S, P)`` and Hessian ``(S, P, P)`` at one batch of networks
    (flat parameters in :func:`overparam.mlp.flatten` order)."""
    loss: Tensor
    grad: Tensor
    hess: Tensor | None
    kind: str
    method: str = "analytic"


def _prepare(net: _mlp.MLP, x: Tensor, y: Tensor, kind: str):
    """Validated ``x (S, N, in)`` and the targets: ``(S, N, out)`` floats (mse) or ``(S, N)`` labels."""
    if not isinstance(net, _mlp.MLP):
        raise ValueError(f"net must be an overparam.mlp.MLP, got {type(net).__name__}")
    check_choice("loss", kind, LOSSES)
    x = _mlp._check_x(net, x)
    if not bool(torch.isfinite(x).all()):
        raise ValueError("x must be finite")
    S, N = net.n_seeds, x.shape[-2]
    if N < 1:
        raise ValueError("x must hold at least one sample (N >= 1)")
    x = x.expand(S, N, x.shape[-1])
    if kind == "mse":
        t = _mlp._targets_mse(net, y, N)
        if not bool(torch.isfinite(t).all()):
            raise ValueError("y must be finite")
        t = t.expand(S, N, t.shape[-1])
    else:
        t = _mlp._labels(net, y, N).expand(S, N)
    return x, t


def _aug(a: Tensor, bias) -> Tensor:
    return a if bias is None else torch.cat([a, a.new_ones(a.shape[:-1] + (1,))], dim=-1)


def _forward_backward(net, x, t, kind):
    """Forward and backward pass keeping what the Hessian needs (all per sample, divided by N)."""
    act, L, N = net.activation, len(net.weights), x.shape[1]
    a_aug, sp, spp = [], [], []
    h = x
    for l, (W, b) in enumerate(zip(net.weights, net.biases)):
        a_aug.append(_aug(h, b))
        z = torch.matmul(h, W.transpose(1, 2))
        if b is not None:
            z = z + b[:, None, :]
        if l < L - 1:
            sp.append(_mlp.activation_grad(act, z))
            spp.append(_mlp.activation_grad2(act, z))
            h = _mlp.activate(act, z)
        else:
            f = z
    if kind == "mse":
        r = f - t
        value = 0.5 * (r * r).sum(2).mean(1)
        p = None
    else:
        lse = torch.logsumexp(f, dim=2)
        value = (lse - torch.gather(f, 2, t[:, :, None])[:, :, 0]).mean(1)
        p = torch.softmax(f, dim=2)
        r = p - torch.nn.functional.one_hot(t, f.shape[2]).to(f.dtype)
    delta = [None] * L
    c = [None] * (L - 1)
    delta[L - 1] = r / N
    for l in range(L - 1, 0, -1):
        g = torch.matmul(delta[l], net.weights[l])          # dL/da_{l-1}: (S, N, n_{l-1})
        delta[l - 1] = sp[l - 1] * g
        c[l - 1] = spp[l - 1] * g
    grads = []
    for l, b in enumerate(net.biases):
        gw = torch.matmul(delta[l].transpose(1, 2), a_aug[l][..., :net.weights[l].shape[2]])
        grads.append(gw.reshape(gw.shape[0], -1))
        if b is not None:
            grads.append(delta[l].sum(1))
    return dict(value=value, grad=torch.cat(grads, dim=1), a_aug=a_aug, sp=sp, c=c, delta=delta, p=p)


def _outer_block(T: Tensor, u: Tensor, v: Tensor, budget: int):
    """Yield ``(i0, i1, R)`` with ``R[:, i, j, k, h] = sum_n T[n,i0+i,k] u[n,j] v[n,h]`` for row groups of
    ``T (S,n,a,b)``, ``u (S,n,pu)``, ``v (S,n,pv)``: one batched matrix product over the samples, ``T (n, a*b)``
    against the per-sample outer products ``u v^T (n, pu*pv)``; each group stays under ``budget``."""
    S, n, a, b = T.shape
    pu, pv = u.shape[2], v.shape[2]
    Q = (u[:, :, :, None] * v[:, :, None, :]).reshape(S, n, pu * pv)
    ib = int(max(1, min(a, budget // max(1, S * b * pu * pv))))
    for i0 in range(0, a, ib):
        i1 = min(a, i0 + ib)
        R = torch.bmm(T[:, :, i0:i1].reshape(S, n, -1).transpose(1, 2), Q)       # [(i, k), (j, h)]
        yield i0, i1, R.reshape(S, i1 - i0, b, pu, pv).permute(0, 1, 3, 2, 4)


def _mirror_lower(H: Tensor, tile: int = 64) -> None:
    """Copy the lower triangle of each ``H[s]`` onto its upper triangle, in place, tile by tile."""
    P = H.shape[1]
    for a0 in range(0, P, tile):
        a1 = min(P, a0 + tile)
        D = H[:, a0:a1, a0:a1]
        iu = torch.triu_indices(a1 - a0, a1 - a0, 1, device=H.device)
        D[:, iu[0], iu[1]] = D[:, iu[1], iu[0]]
        H[:, a0:a1, a1:].copy_(H[:, a1:, a0:a1].transpose(1, 2))


class _FlatBlocks:
    """Views of the flat-order Hessian shaped like the augmented blocks. Layer ``l``'s augmented
    parameters ``W~_l = [W_l | b_l]`` are indexed ``(i, j)``, ``j = n_in`` the bias; in flatten order the
    ``W`` part comes first (row-major), then ``b``. ``pieces(r, c)`` gives ``(V, ja, jb)`` with
    ``V (S, n_r, |ja|, n_c, |jb|)`` the flat entries of augmented block ``(r, c)`` restricted to ``ja, jb``."""

    def __init__(self, H, n_out, n_in, has_bias):
        self.H, self.n_out, self.parts = H, n_out, []
        fo = 0
        for no, ni, hb in zip(n_out, n_in, has_bias):
            part = [(fo, fo + no * ni, slice(0, ni))]
            fo += no * ni
            if hb:
                part.append((fo, fo + no, slice(ni, ni + 1)))
                fo += no
            self.parts.append(part)
        self.offsets = [p[0][0] for p in self.parts] + [fo]

    def pieces(self, r, c, rows_w_only=False):
        for a0, a1, ja in self.parts[r][:1] if rows_w_only else self.parts[r]:
            for b0, b1, jb in self.parts[c]:
                V = self.H[:, a0:a1, b0:b1].unflatten(1, (self.n_out[r], -1)).unflatten(3, (self.n_out[c], -1))
                yield V, ja, jb

    def add(self, r, c, R, i0=0):
        """Add ``R (S, i1-i0, p_r, n_c, p_c)`` (augmented layout) to rows ``i0:i1`` of block ``(r, c)``."""
        for V, ja, jb in self.pieces(r, c):
            V[:, i0:i0 + R.shape[1]].add_(R[:, :, ja, :, jb])


def _assemble(net, fb, kind, chunk_elements):
    """The exact Hessian ``(S, P, P)`` from the forward/backward quantities ``fb``: per sample chunk the
    Gauss-Newton part, the activation curvature and the bilinear terms, lower triangle only, then mirrored."""
    W = net.weights
    L = len(W)
    n_out = [w.shape[1] for w in W]
    n_in = [w.shape[2] for w in W]
    p_aug = [fb["a_aug"][l].shape[2] for l in range(L)]
    sizes = [n_out[l] * p_aug[l] for l in range(L)]
    P = sum(sizes)
    H = torch.zeros(net.n_seeds, P, P, dtype=net.dtype, device=net.device)
    d = SimpleNamespace(W=W, L=L, S=net.n_seeds, N=fb["a_aug"][0].shape[1], n_out=n_out, n_in=n_in,
                        p_aug=p_aug, sizes=sizes, P=P, H=H, kind=kind, chunk_elements=chunk_elements,
                        fl=_FlatBlocks(H, n_out, n_in, [p > ni for p, ni in zip(p_aug, n_in)]),
                        tile=int(max(64, min(P, 512))))
    # per-sample storage (Gauss-Newton Jacobian, the cores B, G, Psi) bounds the sample chunk
    per = ((P if n_out[-1] == 1 else 0) + sum(n_out[l] * n_out[m] for l in range(L) for m in range(L))
           + 4 * max(n_out) ** 2)
    nc = int(max(1, min(d.N, chunk_elements // (d.S * per))))
    for s0 in range(0, d.N, nc):
        ch = _chunk(d, fb, slice(s0, min(d.N, s0 + nc)))
        _gauss_newton(d, ch)
        _activation_curvature(d, ch)
        _bilinear(d, ch)
    # the lower triangle (flat order) is complete: mirror it, so that H is exactly symmetric
    _mirror_lower(H)
    return H


def _chunk(d, fb, sl):
    """One sample chunk: inputs ``A``, ``sp`` (sigma'), ``c``, ``dl`` (delta), ``p`` (softmax), and the
    cores ``Bm[m] = dz_m/dz_{m-1} = W_m diag(sigma'_{m-1})``, ``G[m][l] = dz_m/dz_l`` (``l < m``)."""
    L, W = d.L, d.W
    ch = SimpleNamespace(A=[a[:, sl] for a in fb["a_aug"]], sp=[v[:, sl] for v in fb["sp"]],
                         c=[v[:, sl] for v in fb["c"]], dl=[v[:, sl] for v in fb["delta"]],
                         p=fb["p"][:, sl] if d.kind != "mse" else None)
    ch.n = ch.A[0].shape[1]
    ch.Bm = [None] * L
    for m in range(1, L):
        ch.Bm[m] = W[m][:, None] * ch.sp[m - 1][:, :, None, :]
    ch.G = [dict() for _ in range(L)]
    for m in range(1, L):
        ch.G[m][m - 1] = ch.Bm[m]
        for l in range(m - 1):
            ch.G[m][l] = ch.Bm[m] @ ch.G[m - 1][l]
    return ch


def _gauss_newton(d, ch):
    """1. Gauss-Newton, C C^T = H_out / N, CG_l = C^T dz_L/dz_l. One output: J^T J with J the flat
    Jacobian (lower triangle, row tiles). Several: cores CG_m^T CG_l, O(N P_m P_l) whatever the outputs."""
    L, S, n, H, fl, G, A = d.L, d.S, ch.n, d.H, d.fl, ch.G, ch.A
    r_out = d.n_out[-1]
    if d.kind == "mse":
        CG = [G[L - 1][l] if l < L - 1 else None for l in range(L)]
    else:
        p = ch.p
        sq = p.sqrt()[:, :, :, None]
        CG = [None if l == L - 1 else sq * (G[L - 1][l] - (p[:, :, None, :] @ G[L - 1][l]))
              for l in range(L)]
        CG[L - 1] = sq * (torch.eye(r_out, dtype=p.dtype, device=p.device) - p[:, :, None, :])
    eye = torch.eye(r_out, dtype=H.dtype, device=H.device).expand(S, n, r_out, r_out)
    CG = [(eye if g is None else g) * d.N ** -0.5 for g in CG]
    if r_out == 1:
        J = H.new_empty(S, n, d.P)
        for l in range(L):
            o0, o1, _ = fl.parts[l][0]
            J[:, :, o0:o1].view(S, n, d.n_out[l], d.n_in[l]).copy_(
                CG[l][:, :, 0, :, None] * A[l][:, :, None, :d.n_in[l]])
            if d.p_aug[l] > d.n_in[l]:
                b0, b1, _ = fl.parts[l][1]
                J[:, :, b0:b1].copy_(CG[l][:, :, 0])
        for a0 in range(0, d.P, d.tile):
            a1 = min(d.P, a0 + d.tile)
            H[:, a0:a1, :a1].add_(torch.bmm(J[:, :, a0:a1].transpose(1, 2), J[:, :, :a1]))
        del J
    else:
        for m in range(L):
            for l in range(m + 1):
                for i0, _, R in _outer_block(CG[m].transpose(2, 3) @ CG[l], A[m], A[l], d.chunk_elements):
                    fl.add(m, l, R, i0)


def _activation_curvature(d, ch):
    """2. activation curvature: Psi_m = diag(c_m) + dense_m, dense_m = B^T Psi_{m+1} B (hidden layers
    below the last), and the block (m, l) has core Psi_m G_{m<-l}."""
    L, S, n, fl, A, c, Bm = d.L, d.S, ch.n, d.fl, ch.A, ch.c, ch.Bm
    n_out, p_aug, ce = d.n_out, d.p_aug, d.chunk_elements
    dense = [None] * L

    def psi_times(m, X):                                   # Psi_m @ X
        out = c[m][..., None] * X
        return out if dense[m] is None else out + dense[m] @ X

    for m in range(L - 2, -1, -1):
        if m + 1 < L - 1:
            dense[m] = Bm[m + 1].transpose(2, 3) @ psi_times(m + 1, Bm[m + 1])
        # the diagonal part of block (m, m): sum_n c[n,i] a~[n,j] a~[n,h] on the (i, i) sub-blocks
        X = (c[m][:, :, :, None] * A[m][:, :, None, :]).reshape(S, n, -1)
        D = torch.bmm(X.transpose(1, 2), A[m]).reshape(S, n_out[m], p_aug[m], p_aug[m])
        for V, ja, jb in fl.pieces(m, m):
            V.diagonal(0, 1, 3).add_(D[:, :, ja, jb].permute(0, 2, 3, 1))
        if dense[m] is not None:
            for i0, _, R in _outer_block(dense[m], A[m], A[m], ce):
                fl.add(m, m, R, i0)
        if m >= 1:
            # block (m, m-1), diagonal part: core c_m[i] W_m[i,k] sigma'_{m-1}[k], so the block is
            # W_m[i,k] * (U^T V)[(i,j),(k,h)] with U = c_m a~_m, V = sigma'_{m-1} a~_{m-1}: one product
            l = m - 1
            U = (c[m][:, :, :, None] * A[m][:, :, None, :]).reshape(S, n, d.sizes[m])
            V = (ch.sp[l][:, :, :, None] * A[l][:, :, None, :]).reshape(S, n, d.sizes[l])
            M = torch.bmm(U.transpose(1, 2), V).reshape(S, n_out[m], p_aug[m], n_out[l], p_aug[l])
            fl.add(m, l, M.mul_(d.W[m][:, :, None, :, None]))
            if dense[m] is not None:
                for i0, _, R in _outer_block(dense[m] @ Bm[m], A[m], A[l], ce):
                    fl.add(m, l, R, i0)
        for l in range(m - 1):
            for i0, _, R in _outer_block(psi_times(m, ch.G[m][l]), A[m], A[l], ce):
                fl.add(m, l, R, i0)


def _bilinear(d, ch):
    """3. bilinear terms of W_q a_{q-1}: block (q, l), l < q; only the W rows of W~_q."""
    S, n, fl, A, sp, dl = d.S, ch.n, d.fl, ch.A, ch.sp, ch.dl
    for q in range(1, d.L):
        nq, ni = d.n_out[q], d.n_in[q]
        # l = q-1: dz_{q-1}/dz_{q-1} = I, so only k = j: sum_n delta_q[i] sigma'[j] a~_{q-1}[h]
        l = q - 1
        X = (dl[q][:, :, :, None] * sp[l][:, :, None, :]).reshape(S, n, nq * ni)
        D = torch.bmm(X.transpose(1, 2), A[l]).reshape(S, nq, ni, d.p_aug[l])
        for V, _, jb in fl.pieces(q, l, rows_w_only=True):
            V.diagonal(0, 2, 3).add_(D[:, :, :, jb].permute(0, 1, 3, 2))
        for l in range(q - 1):
            E = sp[q - 1][:, :, :, None] * ch.G[q - 1][l]                # (S, n, ni, n_l)
            Y = (dl[q][:, :, :, None] * A[l][:, :, None, :]).reshape(S, n, nq * d.p_aug[l])
            R = torch.bmm(Y.transpose(1, 2), E.reshape(S, n, ni * d.n_out[l]))
            R = R.reshape(S, nq, d.p_aug[l], ni, d.n_out[l]).permute(0, 1, 3, 4, 2)   # (i, j, k, h)
            for V, _, jb in fl.pieces(q, l, rows_w_only=True):
                V.add_(R[..., jb])


def loss_grad_hessian(net: _mlp.MLP, x: Tensor, y: Tensor, loss: str = "mse", *, with_hessian: bool = True,
                      chunk_elements: int = _CHUNK_ELEMENTS) -> LossGradHessian:
    """Loss ``(S,)``, gradient ``(S, P)`` and (unless ``with_hessian=False``) the exact Hessian ``(S, P, P)``
    of ``overparam.mlp.loss(net, x, y, loss)``, analytically (see the module docstring)."""
    x, t = _prepare(net, x, y, loss)
    chunk_elements = check_int("chunk_elements", chunk_elements, min=1)
    fb = _forward_backward(net, x, t, loss)
    H = _assemble(net, fb, loss, chunk_elements) if with_hessian else None
    return LossGradHessian(fb["value"], fb["grad"], H, loss)


def hessian(net: _mlp.MLP, x: Tensor, y: Tensor, loss: str = "mse", *,
            chunk_elements: int = _CHUNK_ELEMENTS) -> Tensor:
    """The exact Hessian ``(S, P, P)`` of the loss with respect to ``flatten(net)``."""
    return loss_grad_hessian(net, x, y, loss, chunk_elements=chunk_elements).hess


def gradient(net: _mlp.MLP, x: Tensor, y: Tensor, loss: str = "mse") -> Tensor:
    """The gradient ``(S, P)`` of the loss with respect to ``flatten(net)`` (analytic backward pass)."""
    return loss_grad_hessian(net, x, y, loss, with_hessian=False).grad


def objective(like: _mlp.MLP, x: Tensor, y: Tensor, loss: str = "mse") -> Callable:
    """``fn(theta (S, P)) -> (loss (S,), grad (S, P), hess (S, P, P))`` for networks shaped like ``like``
    (any number of seeds): the signature :func:`overparam.finisher.newton_finish` expects."""
    if not isinstance(like, _mlp.MLP):
        raise ValueError(f"like must be an overparam.mlp.MLP, got {type(like).__name__}")
    check_choice("loss", loss, LOSSES)

    def fn(theta: Tensor):
        r = loss_grad_hessian(_mlp.unflatten(theta, like), x, y, loss)
        return r.loss, r.grad, r.hess
    return fn


# ============================================================================ finishing
@dataclass(frozen=True)
class FinishedMLP:
    """The networks after :func:`finish_mlp`, with the finisher's per-seed record."""
    net: _mlp.MLP
    result: object


def finish_mlp(net: _mlp.MLP, x: Tensor, y: Tensor, loss: str = "mse", **kwargs) -> FinishedMLP:
    """Trust-region Newton (:func:`overparam.finisher.newton_finish`, float64) on the exact Hessian of this
    module, from ``net`` down to gradient norm ``grad_tol``; ``kwargs`` go to ``newton_finish``."""
    from .finisher import newton_finish
    if not isinstance(net, _mlp.MLP):
        raise ValueError(f"net must be an overparam.mlp.MLP, got {type(net).__name__}")
    if net.dtype != torch.float64:
        raise ValueError(f"net must be float64 to be finished (certified), got {net.dtype}")
    _prepare(net, x, y, loss)
    # newton_finish evaluates subsets of the seeds, so the data must be shared by all of them
    if x.dim() == 3:
        raise ValueError("x must be shared by all seeds, shaped (N, in), to be finished with newton_finish")
    if (loss == "mse" and y.dim() == 3) or (loss == "cross_entropy" and y.dim() == 2):
        raise ValueError("y must be shared by all seeds (no seed axis) to be finished with newton_finish")
    res = newton_finish(_mlp.flatten(net).detach().clone(), objective(net, x, y, loss), **kwargs)
    return FinishedMLP(_mlp.unflatten(res.theta, net), res)
