"""The chapter *Escape dimensions*: random-start rates, certified traps, and the numbers it reports.

The Safran–Shamir family (:mod:`overparam.safran_shamir`) at teacher width ``k``: :func:`run_rates`
runs batched gradient descent from ``n_seeds`` Xavier initialisations at student width ``n`` (a pure
function of its arguments, so a sweep can be cut into blocks of runs with ``first_run``);
:func:`run_rate_sweep` runs it over a list of ``(k, n)``; :func:`rate_table` counts the bad runs with
Wilson intervals; :func:`certify_minima` polishes every bad end point at ``n = k`` with Newton's
method on the exact Hessian and keeps the certified strict local minima. :func:`compare_published` and
:func:`separation` set the rates beside the published ones and beside each other.

The other steps live beside this module: :mod:`.escape_split` (split spectra, the zero-neuron slope),
:mod:`.escape_runs` (gradient descent from the embedded minima), :mod:`.escape_slice` (the 2-D slice)
and :mod:`.escape_report` (the claims' inputs, findings and ``summary.json``).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import pandas as pd
import torch

from .. import safran_shamir as ss
from .. import ss_dynamics as ssd
from .. import sweeps
from ..book import progress
from ..certify import classify
from ..finisher import newton_finish
from ..stats import wilson_interval
from ..validate import check_float, check_int, resolve_device

__all__ = [
    "BAD", "GOOD", "GRAD_TOL", "RARE", "WIDE_NS", "check_chapter_parameters", "step_size",
    "run_rates", "rate_pairs", "run_rate_sweep", "rate_record", "rate_table", "CertifiedMinima",
    "certify_minima", "certification_summary", "certification_values", "compare_published",
    "PUBLISHED_NAMES", "separation", "rate_values",
]

#: A run is bad when it stops at loss at least this.
BAD = 1e-3
#: ``loss_tol`` of the random-start runs: below it a run found the global minimum.
GOOD = 1e-6
#: ``grad_tol`` of the random-start runs: below it a run stopped at a critical point.
GRAD_TOL = 1e-9
#: Below this bad-run rate at ``n = k`` a few hundred runs cannot separate ``n = k + 1`` from ``n = k``.
RARE = 0.02
#: The wider student widths a chapter may ask for, as functions of ``k``.
WIDE_NS = {"k+2": lambda k: k + 2, "2k": lambda k: 2 * k}


def check_chapter_parameters(*, ks, wide_ns, mu_values, slice_k) -> None:
    """The chapter's checks beyond ``overparam.book.check_parameters``: ``wide_ns`` a list of
    ``"k+2"``/``"2k"``, ``mu_values`` containing 0.5 (the escape experiments split at μ = ½) and
    ``slice_k`` one of ``ks``. ``ValueError`` naming the parameter otherwise."""
    if not (isinstance(wide_ns, list) and set(wide_ns) <= set(WIDE_NS)):
        raise ValueError(f"wide_ns must be a list of 'k+2' and/or '2k'; got {wide_ns!r}")
    if 0.5 not in list(mu_values):
        raise ValueError(f"mu_values must contain 0.5 (the escape experiments split at mu = 0.5); "
                         f"got {mu_values!r}")
    if slice_k not in list(ks):
        raise ValueError(f"slice_k must be one of ks = {ks}; got {slice_k!r}")


def step_size(k: int, n: int) -> float:
    """The random-start step: ``5/k``, or ``5/n`` for students wider than ``k + 2`` (at ``n = 2k`` a
    step ``5/k`` diverges: every run, measured at ``k = 8``)."""
    k = check_int("k", k, min=1)
    n = check_int("n", n, min=1)
    return 5 / k if n <= k + 2 else 5 / n


def run_rates(k: int, n: int, n_seeds: int, seed: int, n_steps: int, *, first_run: int = 0,
              grad_tol: float = GRAD_TOL, loss_tol: float = GOOD, device="cpu") -> ssd.GDResult:
    """Gradient descent on the exact loss at teacher width ``k``, student width ``n``: runs
    ``first_run, ..., first_run + n_seeds − 1`` of seed ``seed`` (Xavier initialisation,
    :func:`overparam.safran_shamir.init_students`, whose run ``s`` does not depend on the batch size),
    step :func:`step_size`, at most ``n_steps`` steps, stopping at gradient norm below ``grad_tol`` or
    loss below ``loss_tol``. A pure function: blocks of runs give the runs of one call. ``device``:
    where the runs train (the initial weights are drawn on the CPU and moved; checked there)."""
    k = check_int("k", k, min=1)
    n = check_int("n", n, min=1)
    n_seeds = check_int("n_seeds", n_seeds, min=1)
    first_run = check_int("first_run", first_run, min=0)
    n_steps = check_int("n_steps", n_steps, min=0)
    W0 = ss.init_students(k, n, first_run + n_seeds, seed, device=device)[first_run:]
    return ssd.gradient_descent(W0, lr=step_size(k, n), n_steps=n_steps, grad_tol=grad_tol,
                               loss_tol=loss_tol)


def rate_pairs(ks, ks_wide=(), wide_ns=()) -> list[tuple[int, int]]:
    """The ``(k, n)`` the chapter runs: ``n = k`` and ``k + 1`` for every ``k`` in ``ks``, and for
    ``k`` in ``ks_wide`` also the widths named in ``wide_ns`` (:data:`WIDE_NS`). Sorted, no repeats."""
    pairs = {(check_int("ks", k, min=1), k + e) for k in ks for e in (0, 1)}
    for name in wide_ns:
        if name not in WIDE_NS:
            raise ValueError(f"wide_ns must name widths among {list(WIDE_NS)}; got {name!r}")
    for k in ks_wide:
        k = check_int("ks_wide", k, min=1)
        pairs |= {(k, k), (k, k + 1)} | {(k, WIDE_NS[w](k)) for w in wide_ns}
    return sorted(pairs)


def run_rate_sweep(pairs, *, n_seeds: int, seed: int, n_steps: int,
                   workers: int = 1, device="cpu") -> dict[tuple[int, int], ssd.GDResult]:
    """:func:`run_rates` at every ``(k, n)`` of ``pairs``: ``{(k, n): GDResult}``, through
    :func:`overparam.sweeps.safran_shamir_sweep` (one task per ``(k, n)``; ``workers > 1``: a local
    Dask cluster, see :mod:`overparam.shard`). Bit for bit :func:`run_rates` per pair, any ``workers``.
    ``device`` (``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"auto"``): where the runs train; the results'
    tensors are there."""
    device = resolve_device(device)
    configs = [(k, n, step_size(k, n)) for k, n in pairs]
    n_steps = check_int("n_steps", n_steps, min=0)
    return sweeps.safran_shamir_sweep(configs, n_seeds, seed, n_steps=n_steps, grad_tol=GRAD_TOL,
                                      loss_tol=GOOD, workers=workers,
                                      name="escape_dimensions: gradient descent", device=device)


def rate_record(k: int, n: int, res: ssd.GDResult, *, bad: float = BAD) -> dict:
    """One row of the rates table: runs that stopped (``runs``), bad ones (final loss at least
    ``bad``) with the Wilson interval of their fraction, and ``unresolved`` runs (step limit or
    diverged), which are counted apart, never as bad."""
    bad = check_float("bad", bad, min=0.0)
    unresolved = res.reason_mask("step_limit") | res.reason_mask("diverged")
    is_bad = (res.loss >= bad) & ~unresolved
    resolved = int((~unresolved).sum())
    ci = wilson_interval(int(is_bad.sum()), max(resolved, 1))
    return dict(k=k, n=n, runs=resolved, bad=int(is_bad.sum()), bad_fraction=ci.fraction,
                ci_low=ci.low, ci_high=ci.high, unresolved=int(unresolved.sum()))


def rate_table(runs) -> pd.DataFrame:
    """:func:`rate_record` for every ``(k, n): GDResult`` of ``runs``, sorted by ``(k, n)``."""
    return pd.DataFrame([rate_record(k, n, r) for (k, n), r in sorted(runs.items())])


@dataclass(frozen=True)
class CertifiedMinima:
    """The certified strict local minima at ``n = k`` for one teacher width ``k``.

    ``W (m, k, k)``, ``loss (m,)`` and ``lambda_min (m,)`` after the Newton polish; ``moved`` the
    farthest any bad end point moved in the polish (0 when there was none)."""
    W: torch.Tensor
    loss: torch.Tensor
    lambda_min: torch.Tensor
    moved: float

    @property
    def count(self) -> int:
        """The number of certified minima ``m``."""
        return int(self.W.shape[0])


def _certify_one(k: int, res: ssd.GDResult, bad: float):
    is_bad = (res.loss >= bad) & res.reason_mask("grad_tol")
    Wb = res.W[is_bad]
    if not len(Wb):
        empty = torch.zeros(0, dtype=res.W.dtype, device=res.W.device)
        return CertifiedMinima(W=torch.zeros(0, k, k, dtype=res.W.dtype, device=res.W.device), loss=empty,
                               lambda_min=empty,
                               moved=0.0), []
    fin = newton_finish(Wb.reshape(Wb.shape[0], -1), ss.objective(k, k))
    certs = classify(fin.loss, fin.grad_norm, fin.lambda_min)
    strict = torch.tensor([c.verdict == "strict_local_minimum" for c in certs], dtype=torch.bool,
                          device=fin.theta.device)
    minima = CertifiedMinima(W=fin.theta[strict].reshape(-1, k, k), loss=fin.loss[strict],
                             lambda_min=fin.lambda_min[strict],
                             moved=fin.distance.max().item() if len(certs) else 0.0)
    rows = [dict(k=k, verdict=c.verdict, loss=c.loss, grad_norm=c.grad_norm, lambda_min=c.lambda_min,
                 distance_moved=dist) for c, dist in zip(certs, fin.distance.tolist())]
    return minima, rows


_CERT_COLUMNS = ["k", "verdict", "loss", "grad_norm", "lambda_min", "distance_moved"]


def certify_minima(runs, ks, *, bad: float = BAD, device=None) -> tuple[dict[int, CertifiedMinima], pd.DataFrame]:
    """Polish every bad run at ``n = k`` that stopped at a critical point (``runs[(k, k)]``, final
    loss at least ``bad``) with :func:`overparam.finisher.newton_finish` on the exact Hessian and
    classify it (:func:`overparam.certify.classify`). Returns ``{k: CertifiedMinima}`` (the strict
    local minima) and the table of every polished point (k, verdict, loss, grad_norm, lambda_min,
    distance_moved). ``device``: None (default) polishes where the runs' weights are; ``"cpu"``,
    ``"cuda"``, ``"cuda:N"`` or ``"auto"`` moves them there first. The verdicts are computed on the CPU
    (:func:`overparam.certify.classify`); the minima's tensors stay on the device."""
    bad = check_float("bad", bad, min=0.0)
    dev = None if device is None else resolve_device(device)
    certified, rows = {}, []
    for k in progress(list(ks), "escape_dimensions: Newton finish and certification"):
        if (k, k) not in runs:
            raise ValueError(f"runs must hold the runs at (k, n) = ({k}, {k}); it has {sorted(runs)}")
        res = runs[(k, k)]
        if dev is not None:
            res = replace(res, W=res.W.to(dev), loss=res.loss.to(dev))
        certified[k], more = _certify_one(k, res, bad)
        rows += more
    return certified, pd.DataFrame(rows, columns=_CERT_COLUMNS)


def certification_summary(cert_table: pd.DataFrame) -> pd.DataFrame:
    """The polished points per ``(k, verdict)``: count, lowest loss, lowest λmin, farthest move."""
    return cert_table.groupby(["k", "verdict"]).agg(
        count=("loss", "size"), loss=("loss", "min"), lambda_min=("lambda_min", "min"),
        max_moved=("distance_moved", "max"))


def _bad_at(rates: pd.DataFrame, k: int) -> int:
    return int(rates[(rates.k == k) & (rates.n == k)].bad.iloc[0])


def certification_values(rates, certified, cert_table, ks) -> dict:
    """The glued numbers of the certification: bad runs and certified minima at ``n = k`` (all
    ``ks``), the smallest certified λmin and the farthest Newton move."""
    lam = [certified[k].lambda_min.min() for k in ks if len(certified[k].lambda_min)]
    return {
        "ed-n-bad": int(sum(_bad_at(rates, k) for k in ks)),
        "ed-n-certified": int(sum(certified[k].count for k in ks)),
        "ed-lam-before-min": float(min(lam)),
        "ed-max-moved": float(cert_table.distance_moved.max()),
    }


#: The published rates' sources (``book/_data/safran_shamir_rates.csv``, column ``source``).
PUBLISHED_NAMES = {"ss2018": "Safran & Shamir 2018", "sys2021": "Safran et al. 2021"}


def compare_published(rates: pd.DataFrame, published: pd.DataFrame) -> pd.DataFrame:
    """The rates at the ``(k, n)`` that were also published, with ``inside``: the published fraction
    (``bad_fraction_pub``) lies inside our 95% Wilson interval."""
    cmp = rates.merge(published, on=["k", "n"], suffixes=("", "_pub"))
    cmp["inside"] = (cmp.bad_fraction_pub >= cmp.ci_low) & (cmp.bad_fraction_pub <= cmp.ci_high)
    return cmp


def separation(rates: pd.DataFrame, ks) -> dict[int, tuple[bool, float]]:
    """Per ``k``: (the ``n = k + 1`` interval's upper end lies below the ``n = k`` interval's lower
    end, the bad fraction at ``n = k``)."""
    sep = {}
    for k in ks:
        at_k = rates[(rates.k == k) & (rates.n == k)].iloc[0]
        wide = rates[(rates.k == k) & (rates.n == k + 1)].iloc[0]
        sep[k] = (bool(wide.ci_high < at_k.ci_low), float(at_k.bad_fraction))
    return sep


def rate_values(cmp: pd.DataFrame, sep: dict) -> dict:
    """The glued numbers and texts (Markdown strings) of the rates against the published ones and of
    the separation of ``n = k + 1`` from ``n = k``."""
    outside = cmp[~cmp.inside]
    not_sep = [k for k, (ok, _) in sep.items() if not ok]
    return {
        "ed-pub-total": int(len(cmp)),
        "ed-pub-inside": int(cmp.inside.sum()),
        "ed-pub-chance": 0.05 * len(cmp),  # expected outside a 95% interval by chance alone
        "ed-pub-outside": "; ".join(
            f"*k* = {r.k}, *n* = {r.n} ({PUBLISHED_NAMES[r.source]} {r.bad_fraction_pub:.3f}, "
            f"ours {r.bad_fraction:.3f}, interval {r.ci_low:.3f} to {r.ci_high:.3f})"
            for r in outside.itertuples()) or "none",
        "ed-sep-count": sum(ok for ok, _ in sep.values()),
        "ed-sep-total": len(sep),
        "ed-not-sep": ", ".join(f"*k* = {k} ({100 * sep[k][1]:.1f}% bad at *n* = *k*)"
                                for k in not_sep) if not_sep else "none",
    }
