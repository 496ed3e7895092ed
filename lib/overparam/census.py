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

Modules: this one (classes, results), :mod:`overparam.census_counting` (fingerprints, distinct minima,
rarefaction, piece counts) and :mod:`overparam.census_runs` (finishing and certifying end points, the two
families' censuses); every public name of the three is also reachable here.

Random streams: ``"census/fingerprint"`` (the fixed projection directions of
``fingerprint``, seed 0) and ``"census/smooth/<m>"`` (the seed of the width-``m``
students of ``smooth_census``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .certify import classify
from .census_counting import rarefaction
from .stats import wilson_interval
from .validate import check_choice

__all__ = [
    "CLASSES",
    "EndPoints",
    "Census",
    "classify_end_points",
    "newton_step_length",
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
