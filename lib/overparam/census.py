"""Where gradient descent ends: a certified census of end points across widths.

Many runs from random initialisations; every end point is polished by the second-order
finisher (``overparam.finisher.newton_finish``) and classified from its loss,
gradient norm and the smallest eigenvalue of the exact Hessian
(``overparam.certify.classify``), into ``CLASSES``::

    "global"        loss below loss_tol (whatever the gradient: global minima of
                    wider students come in flat families, where λmin ≈ 0);
    "strict_min"    gradient norm below grad_tol and λmin > eig_tol: a bad
                    (non-global) strict local minimum;
    "degenerate"    gradient below grad_tol and |λmin| ≤ eig_tol: no negative
                    curvature found, but second order cannot certify a minimum;
    "saddle"        gradient below grad_tol and λmin < −eig_tol;
    "unresolved"    neither: the finisher hit its iteration cap (or the run diverged).

Distinct minima up to permutation symmetry: ``fingerprint`` maps each point to a
vector that is invariant under the symmetry by construction and continuous in the point
(sorted quantities), and ``distinct_minima`` groups points whose fingerprints agree
to a relative tolerance. Permuted copies of one minimum are therefore never counted
twice; two different minima could in principle share a fingerprint, so the count is a
lower bound. ``rarefaction`` is the expected number of distinct minima found in a
random subset of the runs (Hurlbert's formula).

Two families: ``safran_shamir_census`` (the closed-form relu family of
``overparam.safran_shamir``; symmetry: permutations of the student neurons and, since
the teacher is the identity, of the input coordinates) and ``smooth_census`` (a
two-layer network with the smooth activation ``g`` on a random teacher, trained with
``overparam.train.train`` and finished with ``overparam.hessian.finish_mlp``;
symmetry: permutations of the hidden neurons). ``subspace_counts`` counts the affine
pieces of the global-minimum manifold and of the symmetry-induced critical sets (see its
docstring for the rule).

Random streams: ``"census/fingerprint"`` (the fixed projection directions of
``fingerprint``, seed 0) and ``"census/smooth/<m>"`` (the seed of the width-``m``
students of ``smooth_census``).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import torch
from scipy.special import gammaln, stirling2

from . import data as _data
from .book import progress as _progress
from . import hessian as _hs
from . import mlp as _mlp
from . import safran_shamir as _ss
from .certify import classify
from .finisher import newton_finish
from .rng import derive_seed, generator
from .stats import wilson_interval
from .train import Adam, train
from .validate import check_choice, check_float, check_int

__all__ = [
    "CLASSES",
    "EndPoints",
    "Census",
    "classify_end_points",
    "certify_points",
    "newton_step_length",
    "fingerprint",
    "distinct_minima",
    "rarefaction",
    "safran_shamir_census",
    "smooth_census",
    "subspace_counts",
]

CLASSES = ("global", "strict_min", "degenerate", "saddle", "unresolved")
_FROM_CERT = {
    "global_minimum": "global",
    "strict_local_minimum": "strict_min",
    "degenerate": "degenerate",
    "saddle": "saddle",
    "not_converged": "unresolved",
}
_DT = torch.float64


# ======================================================================= classification
def classify_end_points(
    loss, grad_norm, lambda_min, *, loss_tol: float, grad_tol: float, eig_tol: float
) -> tuple[str, ...]:
    """One class of ``CLASSES`` per point, from ``overparam.certify.classify``'s
    verdicts; a point with loss below ``loss_tol`` is ``"global"`` even when its
    gradient is not below ``grad_tol``.
    """
    certs = classify(
        loss,
        grad_norm,
        lambda_min,
        grad_tol=grad_tol,
        loss_tol=loss_tol,
        eig_tol=eig_tol,
    )
    return tuple(
        "global" if c.loss < loss_tol else _FROM_CERT[c.verdict] for c in certs
    )


def newton_step_length(grad: torch.Tensor, hess: torch.Tensor) -> torch.Tensor:
    """``‖H⁻¹g‖`` per point ``(S,)`` (with ``|λ|`` for the eigenvalues, so it is defined
    at saddles): how far the point is from the critical point that Newton's method would
    jump to. Infinite where ``g`` has a component along an exactly zero eigenvalue."""
    if not (
        torch.is_tensor(grad)
        and torch.is_tensor(hess)
        and grad.dim() == 2
        and hess.dim() == 3
        and hess.shape == (grad.shape[0], grad.shape[1], grad.shape[1])
    ):
        raise ValueError("grad must be (S, P) and hess (S, P, P)")
    lam, Q = torch.linalg.eigh(0.5 * (hess + hess.transpose(1, 2)).to(_DT))
    gt = torch.einsum("spq,sp->sq", Q, grad.to(_DT))
    return torch.sqrt(((gt / lam.abs()) ** 2).sum(-1))


# ====================================================================== distinct minima
def fingerprint(rows: torch.Tensor, *, permute_columns: bool = False) -> torch.Tensor:
    """A vector ``(S, F)`` per point that is invariant under permuting the neurons
    ``rows (S, n, p)`` (and, with ``permute_columns``, also the columns) and continuous
    in the point.

    Neurons only: the sorted projections of the rows on ``p + 2`` fixed generic
    directions (stream ``"census/fingerprint"``), with the sorted row norms. Rows and
    columns (the Safran–Shamir family, ``W ↦ P W Qᵀ``): the sorted entries, the sorted
    row and column norms and sums, and the singular values.
    """
    if not torch.is_tensor(rows) or rows.dim() != 3 or min(rows.shape) < 1:
        raise ValueError(
            f"rows must be a tensor shaped (S, n, p), got "
            f"{tuple(rows.shape) if torch.is_tensor(rows) else type(rows).__name__}"
        )
    if not isinstance(permute_columns, bool):
        raise ValueError(
            f"permute_columns must be True or False, got {permute_columns!r}"
        )
    R = rows.to(_DT)
    S, n, p = R.shape
    norms = torch.linalg.vector_norm(R, dim=-1).sort(-1).values
    if not permute_columns:
        U = torch.randn(
            p, p + 2, generator=generator(0, "census/fingerprint"), dtype=_DT
        )
        proj = (R @ U).sort(dim=1).values  # (S, n, p + 2)
        return torch.cat([proj.transpose(1, 2).reshape(S, -1), norms], dim=1)
    parts = [
        R.reshape(S, -1).sort(-1).values,
        norms,
        torch.linalg.vector_norm(R, dim=1).sort(-1).values,
        R.sum(2).sort(-1).values,
        R.sum(1).sort(-1).values,
        torch.linalg.svdvals(R),
    ]
    return torch.cat(parts, dim=1)


def distinct_minima(fp: torch.Tensor, tol: float = 1e-3) -> np.ndarray:
    """Group points by fingerprint ``fp (S, F)``: labels ``(S,)`` numbered by first
    appearance. Point ``i`` joins the first group whose first member's fingerprint is
    within ``tol·(1 + max|fp|)`` of its own in the max norm."""
    if not torch.is_tensor(fp) or fp.dim() != 2:
        raise ValueError("fp must be a tensor shaped (S, F)")
    tol = check_float("tol", tol, min=0.0, min_inclusive=False)
    labels = np.full(fp.shape[0], -1, dtype=np.int64)
    reps: list[int] = []
    for i in range(fp.shape[0]):
        if reps:
            R = fp[reps]
            scale = 1 + torch.maximum(R.abs().amax(-1), fp[i].abs().max())
            close = ((R - fp[i]).abs().amax(-1) <= tol * scale).nonzero()
            if close.numel():
                labels[i] = int(close[0, 0])
                continue
        labels[i] = len(reps)
        reps.append(i)
    return labels


def rarefaction(counts, n_runs: int) -> np.ndarray:
    """Expected number of distinct minima among ``t`` runs drawn without replacement
    from ``n_runs``, for ``t = 1 .. n_runs``, when minimum ``c`` was reached by
    ``counts[c]`` of them: ``Σ_c 1 − C(n_runs − counts[c], t) / C(n_runs, t)`` (Hurlbert
    1971)."""
    n_runs = check_int("n_runs", n_runs, min=1)
    c = np.asarray(counts, dtype=np.int64).ravel()
    if c.size and (c.min() < 1 or c.sum() > n_runs):
        raise ValueError(
            f"counts must be positive and sum to at most n_runs={n_runs}, "
            f"got {c.tolist()}"
        )
    t = np.arange(1, n_runs + 1)

    def logC(a, b):
        return gammaln(a + 1) - gammaln(b + 1) - gammaln(a - b + 1)

    out = np.zeros(n_runs)
    for ci in c:
        miss = np.where(
            t <= n_runs - ci,
            np.exp(logC(n_runs - ci, np.minimum(t, n_runs - ci)) - logC(n_runs, t)),
            0.0,
        )
        out += 1 - miss
    return out


# ============================================================================ results
@dataclass(frozen=True)
class EndPoints:
    """Every run of one (family, k, n): its class, loss, gradient norm, λmin and Newton
    step ``‖H⁻¹g‖`` at the finished point (NaN where no Hessian was needed: global
    minima reached by gradient descent itself), and ``minimum`` (which distinct bad
    strict minimum, −1 for the others). ``minima_loss``, ``minima_hits`` and
    ``minima_theta (D, P)``: per distinct bad minimum, its loss, how many runs ended
    there and the flat parameters of the first run that did."""

    family: str
    k: int
    n: int
    verdict: tuple
    loss: np.ndarray
    grad_norm: np.ndarray
    lambda_min: np.ndarray
    newton_step: np.ndarray
    minimum: np.ndarray
    minima_loss: np.ndarray
    minima_hits: np.ndarray
    minima_theta: torch.Tensor

    @property
    def runs(self) -> int:
        """The number of runs."""
        return len(self.verdict)

    def count(self, cls: str) -> int:
        """How many runs ended in class ``cls`` (one of ``CLASSES``)."""
        check_choice("cls", cls, CLASSES)
        return sum(v == cls for v in self.verdict)

    def share(self, cls: str):
        """The fraction of resolved runs (all but ``"unresolved"``) in class ``cls``,
        with its 95% Wilson interval (``overparam.stats.RateCI``); 0 of 1 when
        every run is unresolved.
        """
        resolved = self.runs - self.count("unresolved")
        return wilson_interval(self.count(cls) if resolved else 0, max(resolved, 1))

    def record(self) -> dict:
        """The census row: runs, each class, distinct bad minima, the bad share
        (``share`` of
        ``"strict_min"``) and the largest Newton step at a strict minimum."""
        counts = {c: self.count(c) for c in CLASSES}
        ci = self.share("strict_min")
        strict = np.array([v == "strict_min" for v in self.verdict])
        return dict(
            family=self.family,
            k=self.k,
            n=self.n,
            runs=self.runs,
            **counts,
            distinct_bad_minima=int(len(self.minima_hits)),
            bad_share=ci.fraction,
            bad_ci_low=ci.low,
            bad_ci_high=ci.high,
            max_newton_step=(
                float(self.newton_step[strict].max()) if strict.any() else None
            ),
        )

    def rarefaction(self) -> np.ndarray:
        """Expected distinct bad minima found against the runs ``1 .. runs``."""
        return rarefaction(self.minima_hits, self.runs)


@dataclass(frozen=True)
class Census:
    """All (k, n) of one family."""

    family: str
    points: tuple

    def __getitem__(self, kn) -> EndPoints:
        """The end points of ``kn = (k, n)``."""
        for p in self.points:
            if (p.k, p.n) == tuple(kn):
                return p
        raise KeyError(
            f"no end points for (k, n) = {kn!r}; "
            f"have {[(p.k, p.n) for p in self.points]}"
        )

    def records(self) -> list:
        """``EndPoints.record`` of every (k, n), in order."""
        return [p.record() for p in self.points]

    def table(self):
        """One row per (k, n) (a pandas DataFrame): ``EndPoints.record``, then
        ``singletons`` (distinct bad minima reached by one run only) and the global
        share with its interval (``EndPoints.share``).
        """
        import pandas as pd

        rows = []
        for p in self.points:
            g = p.share("global")
            rows.append(
                p.record()
                | dict(
                    singletons=int((p.minima_hits == 1).sum()),
                    global_share=g.fraction,
                    global_ci_low=g.low,
                    global_ci_high=g.high,
                )
            )
        return pd.DataFrame(rows)

    def minima(self):
        """One row per distinct bad minimum: family, k, n, its loss and the runs that
        ended there."""
        import pandas as pd

        return pd.DataFrame(
            [
                dict(
                    family=p.family, k=p.k, n=p.n, minimum=i, loss=float(l), hits=int(h)
                )
                for p in self.points
                for i, (l, h) in enumerate(zip(p.minima_loss, p.minima_hits))
            ],
            columns=["family", "k", "n", "minimum", "loss", "hits"],
        )

    def end_points(self):
        """One row per run: family, k, n, run, class, loss, grad_norm, lambda_min,
        newton_step, minimum."""
        import pandas as pd

        return pd.DataFrame(
            [
                dict(
                    family=p.family,
                    k=p.k,
                    n=p.n,
                    run=s,
                    verdict=p.verdict[s],
                    loss=p.loss[s],
                    grad_norm=p.grad_norm[s],
                    lambda_min=p.lambda_min[s],
                    newton_step=p.newton_step[s],
                    minimum=int(p.minimum[s]),
                )
                for p in self.points
                for s in range(p.runs)
            ]
        )

    def rarefaction_table(self):
        """Expected distinct bad minima against runs, one row per (k, n, runs)."""
        import pandas as pd

        return pd.DataFrame(
            [
                dict(family=p.family, k=p.k, n=p.n, runs=t + 1, distinct=float(v))
                for p in self.points
                for t, v in enumerate(p.rarefaction())
            ]
        )


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
        lam = torch.full((hess.shape[0],), float("nan"), dtype=_DT)
        step = torch.full_like(lam, float("nan"))
        if bool(finite.any()):
            try:
                lam[finite] = torch.linalg.eigvalsh(hess[finite])[:, 0]
                step[finite] = newton_step_length(grad[finite], hess[finite])
            except torch.linalg.LinAlgError:
                pass
        E.append(lam)
        N.append(step)
    loss, gn, lam, step = (torch.cat(t).detach().numpy() for t in (L, G, E, N))
    classes = classify_end_points(
        loss, gn, lam, loss_tol=loss_tol, grad_tol=grad_tol, eig_tol=eig_tol
    )
    return classes, loss, gn, lam, step


def _end_points(
    family,
    k,
    n,
    start,
    done_global,
    final_loss,
    fn,
    rows_of,
    *,
    permute_columns,
    finish_iter,
    loss_tol,
    grad_tol,
    eig_tol,
    dedup_tol,
    chunk,
):
    """Finish and certify every run of ``start (S, P)`` except those already
    ``done_global``."""
    S = start.shape[0]
    loss = np.asarray(final_loss, dtype=float).copy()
    gn, lam, step = (np.full(S, np.nan) for _ in range(3))
    todo = np.flatnonzero(~done_global)
    theta = start.clone()
    if todo.size:
        ok = todo[np.isfinite(start[todo].numpy()).all(1)]
        if ok.size:
            theta[ok] = _finish(start[ok], fn, finish_iter, chunk)
            _, loss[ok], gn[ok], lam[ok], step[ok] = certify_points(
                theta[ok],
                fn,
                loss_tol=loss_tol,
                grad_tol=grad_tol,
                eig_tol=eig_tol,
                chunk=chunk,
            )
    verdict = list(
        classify_end_points(
            loss,
            np.where(done_global, 0.0, gn),
            np.where(done_global, 0.0, lam),
            loss_tol=loss_tol,
            grad_tol=grad_tol,
            eig_tol=eig_tol,
        )
    )
    bad = np.flatnonzero([v == "strict_min" for v in verdict])
    minimum = np.full(S, -1, dtype=np.int64)
    m_loss, m_hits = np.zeros(0), np.zeros(0, dtype=np.int64)
    m_theta = theta.new_zeros(0, theta.shape[1])
    if bad.size:
        labels = distinct_minima(
            fingerprint(rows_of(theta[bad]), permute_columns=permute_columns), dedup_tol
        )
        minimum[bad] = labels
        m_hits = np.bincount(labels)
        m_loss = np.array([loss[bad][labels == c].mean() for c in range(len(m_hits))])
        m_theta = theta[bad][
            [int(np.flatnonzero(labels == c)[0]) for c in range(len(m_hits))]
        ]
    return EndPoints(
        family,
        k,
        n,
        tuple(verdict),
        loss,
        gn,
        lam,
        step,
        minimum,
        m_loss,
        m_hits,
        m_theta,
    )


# ======================================================================== Safran–Shamir
def safran_shamir_census(
    ks,
    n_seeds: int,
    seed: int,
    *,
    extra=(0, 1, 2),
    double_ks=(),
    n_steps: int = 30_000,
    gd_grad_tol: float = 1e-8,
    loss_tol: float = 1e-10,
    grad_tol: float = 1e-9,
    eig_tol: float = 1e-6,
    finish_iter: int = 100,
    dedup_tol: float = 1e-3,
    chunk: int = 64,
) -> Census:
    """For each teacher width ``k`` in ``ks`` and student width ``n = k + e`` (``e`` in
    ``extra``; also ``n = 2k`` for ``k`` in ``double_ks``): ``n_seeds`` runs of
    ``overparam.safran_shamir.gradient_descent`` from
    ``overparam.safran_shamir.init_students`` (``seed``), step ``5/n``, stopping at
    loss below ``loss_tol`` (global), gradient norm below ``gd_grad_tol`` or
    ``n_steps``; every other end point is finished by
    ``overparam.finisher.newton_finish`` (``finish_iter`` iterations, gradient
    1e-10) and classified with the exact Hessian (see the module docstring)."""
    ks = _int_list("ks", ks, 2)
    double_ks = _int_list("double_ks", double_ks, 2, allow_empty=True)
    extra = _int_list("extra", extra, 0, allow_empty=True)
    n_seeds = check_int("n_seeds", n_seeds, min=1)
    seed = check_int("seed", seed, min=0)
    n_steps = check_int("n_steps", n_steps, min=0)
    finish_iter = check_int("finish_iter", finish_iter, min=0)
    chunk = check_int("chunk", chunk, min=1)
    for name, v in (
        ("gd_grad_tol", gd_grad_tol),
        ("loss_tol", loss_tol),
        ("grad_tol", grad_tol),
        ("eig_tol", eig_tol),
        ("dedup_tol", dedup_tol),
    ):
        check_float(name, v, min=0.0, min_inclusive=False)
    finishing = dict(finish_iter=finish_iter, loss_tol=loss_tol, grad_tol=grad_tol,
                     eig_tol=eig_tol, dedup_tol=dedup_tol, chunk=chunk)
    points = []
    for k in _progress(ks, "census: Safran-Shamir teacher widths"):
        ns = sorted({k + e for e in extra} | ({2 * k} if k in double_ks else set()))
        for n in ns:
            gd = _ss.gradient_descent(
                _ss.init_students(k, n, n_seeds, seed),
                lr=5 / n,
                max_steps=n_steps,
                grad_tol=gd_grad_tol,
                loss_tol=loss_tol,
            )
            done = gd.reason_mask("loss_tol").numpy()
            start = gd.W.reshape(n_seeds, -1)
            points.append(
                _end_points(
                    "safran_shamir",
                    k,
                    n,
                    start,
                    done,
                    gd.loss.numpy(),
                    _ss.objective(n, k),
                    lambda th, n=n, k=k: th.reshape(-1, n, k),
                    permute_columns=True,
                    **finishing,
                )
            )
    return Census("safran_shamir", tuple(points))


# ======================================================================= smooth teacher
def smooth_census(
    r_star: int,
    d: int,
    widths,
    n_seeds: int,
    seed: int,
    *,
    n_samples: int = 10_000,
    n_steps: int = 5000,
    lr: float = 0.01,
    finish_iter: int = 200,
    loss_tol: float = 1e-10,
    grad_tol: float = 1e-9,
    eig_tol: float = 1e-8,
    dedup_tol: float = 1e-3,
    chunk: int = 64,
) -> Census:
    """Teacher-student with the smooth activation ``g(x) = sigmoid(4x) + softplus(x)``:
    a random teacher of width ``r_star`` (``overparam.data.teacher_student``, no
    biases, output weights N(0, 1/r*), ``n_samples`` standard-normal inputs of dimension
    ``d``), students of each width ``m`` in ``widths`` (Glorot-normal init, seed
    ``derive_seed(seed, "census/smooth/<m>")``), full-batch Adam (``lr``, ``n_steps``),
    then ``overparam.hessian.finish_mlp`` (``finish_iter``, gradient 1e-10) and the
    classification of the module docstring with MLPGradientFlow's threshold ``eig_tol =
    1e-8``. ``k`` in the result is ``r_star``, ``n`` the student width."""
    r_star = check_int("r_star", r_star, min=1)
    d = check_int("d", d, min=1)
    widths = _int_list("widths", widths, 1)
    n_seeds = check_int("n_seeds", n_seeds, min=1)
    seed = check_int("seed", seed, min=0)
    n_samples = check_int("n_samples", n_samples, min=1)
    n_steps = check_int("n_steps", n_steps, min=0)
    lr = check_float("lr", lr, min=0.0, min_inclusive=False)
    finish_iter = check_int("finish_iter", finish_iter, min=0)
    chunk = check_int("chunk", chunk, min=1)
    for name, v in (
        ("loss_tol", loss_tol),
        ("grad_tol", grad_tol),
        ("eig_tol", eig_tol),
        ("dedup_tol", dedup_tol),
    ):
        check_float(name, v, min=0.0, min_inclusive=False)
    ts = _data.teacher_student(
        d, r_star, n_samples, seed, activation="g", output="normal"
    )
    finishing = dict(finish_iter=finish_iter, loss_tol=loss_tol, grad_tol=grad_tol,
                     eig_tol=eig_tol, dedup_tol=dedup_tol, chunk=chunk)
    points = []
    for m in _progress(widths, "census: smooth-teacher student widths"):
        net = _mlp.init_mlp(
            (d, m, 1),
            n_seeds,
            derive_seed(seed, f"census/smooth/{m}"),
            activation="g",
            bias=False,
            init="xavier_normal",
        )
        res = train(
            net,
            ts.x,
            ts.y,
            optimizer=Adam(lr),
            n_steps=n_steps,
            grad_tol=1e-8,
            loss_tol=loss_tol,
            record_every=max(1, n_steps),
        )
        start = _mlp.flatten(res.net)
        done = (res.final_loss < loss_tol) & ~res.diverged
        fn = _hs.objective(res.net, ts.x, ts.y)

        def rows_of(theta, like=res.net, m=m):
            nn = _mlp.unflatten(theta, like)  # neuron i: (w_i, a_i)
            return torch.cat([nn.weights[0], nn.weights[1].transpose(1, 2)], dim=2)

        points.append(
            _end_points(
                "smooth",
                r_star,
                m,
                start,
                done,
                res.final_loss,
                fn,
                rows_of,
                permute_columns=False,
                **finishing,
            )
        )
    return Census("smooth", tuple(points))


# ================================================================== counting the pieces
def _configurations(r: int, m: int) -> int:
    """By enumeration: maps from the ``m`` student neurons to ``{0, 1, ..., r}`` (0: a
    zero-type neuron, ``j``: a copy of neuron ``j``) that use every ``j ≥ 1``."""
    count = 0
    need = set(range(1, r + 1))
    for a in itertools.product(range(r + 1), repeat=m):
        if need.issubset(a):
            count += 1
    return count


def _closed_form(r: int, m: int) -> int:
    """``Σ_k C(m, k) r! S(m − k, r)``: choose the ``k`` zero-type neurons, then a
    surjection of the others onto the ``r`` neurons (``S`` the Stirling numbers of the
    second kind)."""
    return sum(
        math.comb(m, k) * math.factorial(r) * int(stirling2(m - k, r, exact=True))
        for k in range(0, m - r + 1)
    )


def subspace_counts(r_star: int, ms, *, enumerate_up_to: int = 8) -> list:
    """``T`` and ``G`` for a two-layer network of width ``m`` (each in ``ms``, ``m ≥
    r_star``) and a teacher of width ``r_star ≥ 2``, counted by this rule (Şimşek et al.
    2021's setting; their closed forms were not available to check against):

    - ``T``: affine pieces of the global-minimum manifold. Each student neuron copies
      one teacher neuron (copies share its input weights; their output weights sum to
      its output weight) or is zero-type (output weight 0, input weights free); every
      teacher neuron is copied at least once.
    - ``G``: pieces of symmetry-induced critical points made from one critical point
      of width ``r = r_star − 1`` (with its ``r!`` permutations) by the same rule, a
      zero-type neuron having input and output weights 0.

    Both are numbers of configurations, ``_closed_form(r, m)``; for ``m ≤
    enumerate_up_to`` they are counted by enumerating all ``(r + 1)^m`` assignments
    (``source = "enumeration"``), which also checks the closed form, else from it
    (``"closed form"``)."""
    r_star = check_int("r_star", r_star, min=2)
    ms = _int_list("ms", ms, r_star)
    enumerate_up_to = check_int("enumerate_up_to", enumerate_up_to, min=0, max=10)
    out = []
    for m in ms:
        if m <= enumerate_up_to:
            T, G = _configurations(r_star, m), _configurations(r_star - 1, m)
            if (T, G) != (_closed_form(r_star, m), _closed_form(r_star - 1, m)):
                raise AssertionError(
                    f"enumeration and closed form disagree at r*={r_star}, m={m}"
                )
            src = "enumeration"
        else:
            T, G, src = (
                _closed_form(r_star, m),
                _closed_form(r_star - 1, m),
                "closed form",
            )
        out.append(dict(r_star=r_star, m=m, T=T, G=G, source=src))
    return out


def _int_list(name, values, lo, allow_empty=False):
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise ValueError(f"{name} must be a list of integers >= {lo}, got {values!r}")
    values = [check_int(f"{name}[]", v, min=lo) for v in values]
    if not values and not allow_empty:
        raise ValueError(f"{name} must be a non-empty list of integers >= {lo}")
    return values
