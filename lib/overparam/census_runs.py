"""The census runs (:mod:`overparam.census`): finish and certify end points, and the two families.

:func:`certify_points` classifies points from an exact Hessian; ``_end_points`` finishes every run that
did not reach the global minimum (``overparam.finisher.newton_finish``), certifies it and groups the bad
strict minima (:mod:`overparam.census_counting`); :func:`safran_shamir_census` and :func:`smooth_census`
run the two families. Random stream: ``"census/smooth/<m>"`` (the width-``m`` students' seed).
"""

from __future__ import annotations

import numpy as np
import torch

from . import data as _data
from . import hessian as _hs
from . import mlp as _mlp
from . import safran_shamir as _ss
from . import ss_dynamics as _ssd
from .book import progress as _progress
from .census import Census, EndPoints, classify_end_points, newton_step_length
from .census_counting import distinct_minima, fingerprint
from .descent import torch_threads
from .finisher import newton_finish
from .rng import derive_seed
from .shard import Task, run_tasks
from .train import Adam, train
from .validate import check_float, check_int, check_int_list, check_positive, resolve_device

__all__ = ["certify_points", "safran_shamir_census", "smooth_census"]

_DT = torch.float64


def _np(t):
    """A (possibly CUDA) tensor as a numpy array on the CPU; anything else through ``np.asarray``."""
    return t.detach().cpu().numpy() if torch.is_tensor(t) else np.asarray(t)


# ================================================================== the shared pipeline
def _finish(theta, fn, max_iter, chunk):
    """newton_finish in chunks of seeds; a chunk whose eigensolver fails is redone seed
    by seed and a seed that still fails keeps its start point (it is then unresolved:
    its gradient is not small).
    """
    outs = []
    for i in range(0, theta.shape[0], chunk):
        part = theta[i : i + chunk]
        try:
            outs.append(newton_finish(part, fn, max_iter=max_iter).theta)
        except torch.linalg.LinAlgError:
            for s in range(part.shape[0]):
                try:
                    outs.append(
                        newton_finish(part[s : s + 1], fn, max_iter=max_iter).theta
                    )
                except torch.linalg.LinAlgError:
                    outs.append(part[s : s + 1])
    return torch.cat(outs) if outs else theta


def certify_points(
    theta: torch.Tensor,
    fn,
    *,
    loss_tol: float,
    grad_tol: float,
    eig_tol: float,
    chunk: int = 64,
):
    """Classify points ``theta (S, P)`` as they are (no finishing) from ``fn(theta) ->
    (loss, grad, hess)``'s exact Hessian: ``(classes, loss, grad_norm, lambda_min,
    newton_step)``, numpy per point. A point whose Hessian is not finite or whose
    eigensolver fails gets NaN (``"unresolved"``).
    """
    if not torch.is_tensor(theta) or theta.dim() != 2:
        raise ValueError("theta must be a tensor shaped (S, P)")
    chunk = check_int("chunk", chunk, min=1)
    L, G, E, N = [], [], [], []
    for i in range(0, theta.shape[0], chunk):
        loss, grad, hess = fn(theta[i : i + chunk])
        hess = 0.5 * (hess + hess.transpose(1, 2))
        L.append(loss)
        G.append(torch.linalg.vector_norm(grad, dim=-1))
        finite = torch.isfinite(hess).flatten(1).all(1)
        lam = torch.full((hess.shape[0],), float("nan"), dtype=_DT, device=hess.device)
        step = torch.full_like(lam, float("nan"))
        if bool(finite.any()):
            try:
                lam[finite] = torch.linalg.eigvalsh(hess[finite])[:, 0]
                step[finite] = newton_step_length(grad[finite], hess[finite])
            except torch.linalg.LinAlgError:
                pass
        E.append(lam)
        N.append(step)
    loss, gn, lam, step = (_np(torch.cat(t)) for t in (L, G, E, N))
    classes = classify_end_points(
        loss, gn, lam, loss_tol=loss_tol, grad_tol=grad_tol, eig_tol=eig_tol
    )
    return classes, loss, gn, lam, step


def _certify_runs(start, done_global, final_loss, fn, *, finish_iter, loss_tol, grad_tol, eig_tol,
                  chunk):
    """Finish and certify every finite run of ``start (S, P)`` not ``done_global``: the finished points
    and per run its loss, gradient norm, λmin, Newton step (NaN where not computed) and class."""
    S = start.shape[0]
    loss = np.asarray(_np(final_loss), dtype=float).copy()
    done_global = _np(done_global)
    gn, lam, step = (np.full(S, np.nan) for _ in range(3))
    todo = np.flatnonzero(~done_global)
    theta = start.clone()
    if todo.size:
        ok = todo[np.isfinite(_np(start[todo])).all(1)]
        if ok.size:
            theta[ok] = _finish(start[ok], fn, finish_iter, chunk)
            _, loss[ok], gn[ok], lam[ok], step[ok] = certify_points(
                theta[ok], fn, loss_tol=loss_tol, grad_tol=grad_tol, eig_tol=eig_tol, chunk=chunk)
    verdict = list(classify_end_points(
        loss, np.where(done_global, 0.0, gn), np.where(done_global, 0.0, lam),
        loss_tol=loss_tol, grad_tol=grad_tol, eig_tol=eig_tol))
    return theta, loss, gn, lam, step, verdict


def _bad_minima(theta, loss, verdict, rows_of, *, permute_columns, dedup_tol):
    """The distinct bad strict minima among the runs: per run its minimum (−1: none), and per minimum
    its mean loss, its hits and the flat parameters of its first run."""
    S = theta.shape[0]
    bad = np.flatnonzero([v == "strict_min" for v in verdict])
    minimum = np.full(S, -1, dtype=np.int64)
    m_loss, m_hits = np.zeros(0), np.zeros(0, dtype=np.int64)
    m_theta = theta.new_zeros(0, theta.shape[1])
    if bad.size:
        labels = distinct_minima(
            fingerprint(rows_of(theta[bad]), permute_columns=permute_columns), dedup_tol)
        minimum[bad] = labels
        m_hits = np.bincount(labels)
        m_loss = np.array([loss[bad][labels == c].mean() for c in range(len(m_hits))])
        m_theta = theta[bad][[int(np.flatnonzero(labels == c)[0]) for c in range(len(m_hits))]]
    return minimum, m_loss, m_hits, m_theta


def _end_points(family, k, n, start, done_global, final_loss, fn, rows_of, *, permute_columns,
                finish_iter, loss_tol, grad_tol, eig_tol, dedup_tol, chunk):
    """Finish and certify every run of ``start (S, P)`` except those already ``done_global``; group
    the bad strict minima. An :class:`overparam.census.EndPoints`."""
    theta, loss, gn, lam, step, verdict = _certify_runs(
        start, done_global, final_loss, fn, finish_iter=finish_iter, loss_tol=loss_tol,
        grad_tol=grad_tol, eig_tol=eig_tol, chunk=chunk)
    minimum, m_loss, m_hits, m_theta = _bad_minima(
        theta, loss, verdict, rows_of, permute_columns=permute_columns, dedup_tol=dedup_tol)
    return EndPoints(family, k, n, tuple(verdict), loss, gn, lam, step, minimum, m_loss, m_hits, m_theta)


def _finishing(finish_iter, chunk, **tols) -> dict:
    """The finishing and certification settings shared by both censuses, checked."""
    check_positive(**tols)
    return dict(finish_iter=check_int("finish_iter", finish_iter, min=0),
                chunk=check_int("chunk", chunk, min=1), **tols)


# ======================================================================== Safran–Shamir
def safran_shamir_census(ks, n_seeds: int, seed: int, *, extra=(0, 1, 2), double_ks=(), n_steps: int = 30_000,
                         gd_grad_tol: float = 1e-8, loss_tol: float = 1e-10, grad_tol: float = 1e-9,
                         eig_tol: float = 1e-6, finish_iter: int = 100, dedup_tol: float = 1e-3,
                         chunk: int = 64, device="cpu", workers: int = 1, address: str | None = None) -> Census:
    """For each teacher width ``k`` in ``ks`` and student width ``n = k + e`` (``e`` in
    ``extra``; also ``n = 2k`` for ``k`` in ``double_ks``): ``n_seeds`` runs of
    ``overparam.ss_dynamics.gradient_descent`` from
    ``overparam.safran_shamir.init_students`` (``seed``), step ``5/n``, stopping at
    loss below ``loss_tol`` (global), gradient norm below ``gd_grad_tol`` or
    ``n_steps``; every other end point is finished by
    ``overparam.finisher.newton_finish`` (``finish_iter`` iterations, gradient
    1e-10) and classified with the exact Hessian (see the module docstring). ``device`` (``"cpu"``,
    ``"cuda"``, ``"cuda:N"``, ``"auto"``): where the descent, the finisher and the Hessians run (the
    initial weights are drawn on the CPU and moved); the per-run tables are numpy, ``minima_theta``
    stays on ``device``.

    Each ``(k, n)`` is one task of :func:`overparam.shard.run_tasks`, run on one torch thread (the
    results do not depend on the caller's thread count): in this process with ``workers=1``, else on a
    Dask cluster of ``workers`` processes (or the scheduler at ``address`` /
    ``$DASK_SCHEDULER_ADDRESS``), with the same results bit for bit."""
    device = resolve_device(device)
    ks = check_int_list("ks", ks, min=2)
    double_ks = check_int_list("double_ks", double_ks, min=2, allow_empty=True)
    extra = check_int_list("extra", extra, min=0, allow_empty=True)
    n_seeds = check_int("n_seeds", n_seeds, min=1)
    seed = check_int("seed", seed, min=0)
    n_steps = check_int("n_steps", n_steps, min=0)
    check_positive(gd_grad_tol=gd_grad_tol)
    finishing = _finishing(finish_iter, chunk, loss_tol=loss_tol, grad_tol=grad_tol, eig_tol=eig_tol,
                           dedup_tol=dedup_tol)
    opts = dict(n_seeds=n_seeds, seed=seed, n_steps=n_steps, gd_grad_tol=gd_grad_tol, loss_tol=loss_tol,
                finishing=finishing, device=str(device))
    tasks = [Task(f"k={k} n={n}", _ss_point, (k, n, opts), cost=float(n_seeds * n * (n + k) * k))
             for k in ks for n in sorted({k + e for e in extra} | ({2 * k} if k in double_ks else set()))]
    points = run_tasks("census: Safran-Shamir (k, n)", tasks, workers=workers, address=address)
    return Census("safran_shamir", tuple(points))


def _ss_point(k: int, n: int, opts: dict) -> EndPoints:
    """One ``(k, n)`` of :func:`safran_shamir_census` (a shard task: plain arguments, one thread)."""
    finishing, dev = opts["finishing"], opts["device"]
    with torch_threads(1):
        W0 = _ss.init_students(k, n, opts["n_seeds"], opts["seed"], device=dev)
        gd = _ssd.gradient_descent(W0, lr=5 / n, n_steps=opts["n_steps"], grad_tol=opts["gd_grad_tol"],
                                   loss_tol=opts["loss_tol"])
        return _end_points(
            "safran_shamir", k, n, gd.W.reshape(opts["n_seeds"], -1), _np(gd.reason_mask("loss_tol")),
            _np(gd.loss), _ss.objective(n, k), lambda th: th.reshape(-1, n, k), permute_columns=True,
            **finishing)


# ======================================================================= smooth teacher
def smooth_census(r_star: int, d: int, widths, n_seeds: int, seed: int, *, n_samples: int = 10_000,
                  n_steps: int = 5000, lr: float = 0.01, finish_iter: int = 200, loss_tol: float = 1e-10,
                  grad_tol: float = 1e-9, eig_tol: float = 1e-8, dedup_tol: float = 1e-3,
                  chunk: int = 64, device="cpu") -> Census:
    """Teacher-student with the smooth activation ``g(x) = sigmoid(4x) + softplus(x)``:
    a random teacher of width ``r_star`` (``overparam.data.teacher_student``, no
    biases, output weights N(0, 1/r*), ``n_samples`` standard-normal inputs of dimension
    ``d``), students of each width ``m`` in ``widths`` (Glorot-normal init, seed
    ``derive_seed(seed, "census/smooth/<m>")``), full-batch Adam (``lr``, ``n_steps``),
    then ``overparam.hessian.finish_mlp`` (``finish_iter``, gradient 1e-10) and the
    classification of the module docstring with MLPGradientFlow's threshold ``eig_tol =
    1e-8``. ``k`` in the result is ``r_star``, ``n`` the student width. ``device`` (``"cpu"``, ``"cuda"``,
    ``"cuda:N"``, ``"auto"``): where the data, the students, the training and the finisher live (all
    draws are made on the CPU and moved)."""
    device = resolve_device(device)
    r_star = check_int("r_star", r_star, min=1)
    d = check_int("d", d, min=1)
    widths = check_int_list("widths", widths, min=1)
    n_seeds = check_int("n_seeds", n_seeds, min=1)
    seed = check_int("seed", seed, min=0)
    n_samples = check_int("n_samples", n_samples, min=1)
    n_steps = check_int("n_steps", n_steps, min=0)
    lr = check_float("lr", lr, min=0.0, min_inclusive=False)
    finishing = _finishing(finish_iter, chunk, loss_tol=loss_tol, grad_tol=grad_tol, eig_tol=eig_tol,
                           dedup_tol=dedup_tol)
    ts = _data.teacher_student(d, r_star, n_samples, seed, activation="g", output="normal", device=device)
    points = []
    for m in _progress(widths, "census: smooth-teacher student widths"):
        net = _mlp.init_mlp((d, m, 1), n_seeds, derive_seed(seed, f"census/smooth/{m}"), activation="g",
                            bias=False, init="xavier_normal", device=device)
        res = train(net, ts.x, ts.y, optimizer=Adam(lr), n_steps=n_steps, grad_tol=1e-8, loss_tol=loss_tol,
                    record_every=max(1, n_steps))
        done = (res.final_loss < loss_tol) & ~res.diverged
        points.append(_end_points(
            "smooth", r_star, m, _mlp.flatten(res.net), done, res.final_loss,
            _hs.objective(res.net, ts.x, ts.y), _neuron_rows(res.net), permute_columns=False,
            **finishing))
    return Census("smooth", tuple(points))


def _neuron_rows(like):
    """``theta (S, P) -> (S, m, in + 1)``: hidden neuron ``i`` as the row ``(w_i, a_i)`` of a
    two-layer network shaped like ``like``."""
    def rows_of(theta):
        nn = _mlp.unflatten(theta, like)
        return torch.cat([nn.weights[0], nn.weights[1].transpose(1, 2)], dim=2)
    return rows_of
