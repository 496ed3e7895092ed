"""The chapter *Escape dimensions*: gradient descent from certified minima embedded one or two neurons wider.

:func:`escape_starts` embeds a batch of narrow minima in width ``n + extra`` (a split neuron or a new
one) and steps off along an escape direction; :func:`run_escapes` runs gradient descent from there for
every teacher width, embedding and number of extra neurons; :func:`escape_by_k` gives the escape
fractions with Wilson intervals; :func:`escape_values` the glued numbers and sentences.
"""
from __future__ import annotations

import math

import pandas as pd
import torch

from .. import safran_shamir as ss
from .. import ss_dynamics as ssd
from ..book import progress
from ..rng import generator
from ..stats import wilson_interval
from ..validate import check_choice, check_float, check_int, resolve_device
from .escape_dimensions import GOOD

__all__ = ["EMBEDDINGS", "EXTRAS", "LOWERED", "ESCAPED", "escape_starts", "run_escapes", "escape_by_k",
           "escape_values"]

EMBEDDINGS = {
    "split-random": "a random neuron split",
    "split-steepest": "the steepest neuron split",
    "zero": "a new neuron",
}
#: The numbers of extra neurons tried.
EXTRAS = (1, 2)
#: A run *lowered* the loss when it ended below this fraction of the narrow minimum's loss.
LOWERED = 0.99
#: A run *escaped* when the loss fell at least this many times.
ESCAPED = 10


def _split_pairs(W, Y, order, extra: int, eps: float) -> torch.Tensor:
    """Split neurons ``order[:, e]`` at μ = ½ (the piece split off becomes row ``n + e``) and move
    each pair apart along ``(y, −y)``, ``y = Y[:, i, :, 0]`` the eigenvector of ``Dᵢ``'s smallest
    eigenvalue."""
    S, n, d = W.shape
    rows = torch.arange(S, device=W.device)
    order = order.to(W.device)
    wide = W
    for e in range(extra):   # ssd.split_student_neuron at mu = 1/2, batched over seeds with a neuron each
        piece = 0.5 * wide[rows, order[:, e]]
        wide = torch.cat([wide, piece[:, None]], dim=1)
        wide[rows, order[:, e]] = piece
    step = (eps * W.norm(dim=(1, 2)) / math.sqrt(2 * extra)).unsqueeze(-1)
    for e in range(extra):
        y = Y[rows, order[:, e], :, 0]
        wide[rows, order[:, e]] += step * y
        wide[:, n + e] -= step * y
    return wide


def escape_starts(W: torch.Tensor, how: str, extra: int, *, eps: float, seed: int) -> torch.Tensor:
    """Embed the narrow minima ``W (S, n, d)`` in width ``n + extra`` and step ``eps`` (relative to
    ``‖W‖``) off them: ``(S, n + extra, d)``, batched over the minima.

    ``split-random`` / ``split-steepest``: split at μ = ½ ``extra`` distinct neurons, chosen at random
    (stream ``"escape-split-{n}-{extra}"`` of ``seed``, one permutation per minimum) or those whose
    curvature terms Dᵢ have the most negative eigenvalues, and move each pair apart along ``(y, −y)``,
    ``y`` that eigenvector (for one split, the split point's most negative eigenvector). Every pair
    must be moved: two equal pieces get equal gradients and stay together but for rounding.
    ``zero``: grow new neurons from zero along the steepest one-sided slope
    (:func:`overparam.ss_dynamics.new_neuron_direction`), one after the other."""
    W = ss._check_W(W)
    check_choice("how", how, EMBEDDINGS)
    extra = check_int("extra", extra, min=1, max=W.shape[1] if how != "zero" else None)
    eps = check_float("eps", eps, min=0.0)
    S, n, d = W.shape
    if how == "zero":
        wide = W
        for _ in range(extra):
            u = ssd.new_neuron_direction(wide, seed=seed).u
            wide = ssd.add_zero_neuron(wide, u, eps)
        return wide
    lam, Y = torch.linalg.eigh(ssd.neuron_curvature(W))
    if how == "split-steepest":
        order = lam[:, :, 0].argsort(dim=1)
    else:
        g = generator(seed, f"escape-split-{n}-{extra}")
        # one permutation per minimum, drawn in turn from one stream (the draws fix the results)
        order = torch.stack([torch.randperm(n, generator=g) for _ in range(S)]).to(W.device)
    return _split_pairs(W, Y, order, extra, eps)


def run_escapes(certified, ks, *, max_minima: int, n_steps: int, eps: float, seed: int,
                device=None) -> pd.DataFrame:
    """Gradient descent (step ``5/n`` at the wider width ``n = k + extra``, at most ``n_steps``
    steps) from :func:`escape_starts` of the first ``max_minima`` certified minima, for every ``k``,
    embedding and number of extra neurons. One row per run: k, embedding, extra, loss_before,
    loss_after, steps, stop_reason, and ``lowered`` (loss below :data:`LOWERED` of the minimum's),
    ``escaped`` (fell :data:`ESCAPED`-fold), ``global`` (below :data:`.escape_dimensions.GOOD`).
    ``device``: None (default) runs where the minima are; ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or
    ``"auto"`` moves them there first (random choices are drawn on the CPU)."""
    max_minima = check_int("max_minima", max_minima, min=1)
    move = (lambda t: t) if device is None else (lambda t, dev=resolve_device(device): t.to(dev))
    rows = []
    for k in progress(list(ks), "escape_dimensions: escapes"):
        Wm, Lm = move(certified[k].W[:max_minima]), move(certified[k].loss[:max_minima])
        for how in EMBEDDINGS if len(Wm) else ():   # no certified minimum: no runs
            for extra in EXTRAS:
                # step 5/n at the wider width (5/k made the k = 6 minimum diverge with two extra)
                res = ssd.gradient_descent(escape_starts(Wm, how, extra, eps=eps, seed=seed),
                                          lr=5 / (k + extra), n_steps=n_steps)
                rows += [dict(k=k, embedding=how, extra=extra, loss_before=Lm[s].item(),
                              loss_after=res.loss[s].item(), steps=res.steps[s].item(),
                              stop_reason=res.stop_reason[s]) for s in range(Wm.shape[0])]
    out = pd.DataFrame(rows)
    out["lowered"] = out.loss_after < LOWERED * out.loss_before
    out["escaped"] = out.loss_after <= out.loss_before / ESCAPED
    out["global"] = out.loss_after < GOOD
    return out


def _select(escapes, how, extra, k=None):
    sel = (escapes.embedding == how) & (escapes.extra == extra)
    return escapes[sel if k is None else sel & (escapes.k == k)]


def escape_by_k(escapes: pd.DataFrame, ks) -> pd.DataFrame:
    """Per teacher width, embedding and extra width: minima, escaped, the escape fraction and its
    95% Wilson interval (``fraction``, ``ci_low``, ``ci_high``)."""
    rows = []
    for k in ks:
        for how in EMBEDDINGS:
            for e in EXTRAS:
                sel = _select(escapes, how, e, k)
                ci = wilson_interval(int(sel.escaped.sum()), len(sel))
                rows.append(dict(k=k, embedding=how, extra=e, minima=len(sel),
                                 escaped=int(sel.escaped.sum()), fraction=ci.fraction,
                                 ci_low=ci.low, ci_high=ci.high))
    return pd.DataFrame(rows)


def _stuck_text(escapes) -> str:
    stuck = escapes[~escapes.escaped]
    if not len(stuck):
        return "Every run got there."
    return (f"The runs that did not get there stopped at a critical point of the wider network with "
            f"lower loss (median {(stuck.loss_after / stuck.loss_before).median():.2f} of the narrow "
            f"minimum's): a critical point one neuron wider (gradient below the stopping tolerance; "
            f"not certified as a minimum).")


def _by_k_text(esc_k) -> str:
    one = esc_k[(esc_k.embedding == "zero") & (esc_k.extra == 1)]
    most = [int(r.k) for r in one.itertuples() if r.ci_low > 0.5]
    few = [int(r.k) for r in one.itertuples() if r.ci_high < 0.5]
    return ("with a new neuron, most minima escaped (lower end of the 95% interval above one half) at "
            + (", ".join(f"*k* = {k}" for k in most) or "no *k*")
            + ", and fewer than half (upper end below one half) at "
            + (", ".join(f"*k* = {k}" for k in few) or "no *k*"))


def _steepest_text(esc_k, ks) -> str:
    worse = [k for k in ks
             if _select(esc_k, "split-steepest", 1, k).iloc[0].ci_high
             < _select(esc_k, "split-random", 1, k).iloc[0].ci_low]
    if not worse:
        return ("splitting the steepest neuron never escaped less often than splitting a random one "
                "beyond the 95% intervals")
    return ("at " + ", ".join(f"*k* = {k}" for k in worse)
            + " splitting the steepest neuron escaped *less* often than splitting a random one, beyond "
            "both 95% intervals: the direction of most negative curvature leads out of the saddle, but "
            "into another uncertified critical point more often than a random split does")


def escape_values(escapes: pd.DataFrame, esc_k: pd.DataFrame, ks) -> dict:
    """The glued numbers (percentages) and sentences (Markdown strings) of the escape runs."""
    out = {}
    for how in EMBEDDINGS:
        for e in EXTRAS:
            sel = _select(escapes, how, e)
            out[f"ed-escape-{how}-{e}"] = 100 * float(sel.escaped.mean())
            out[f"ed-global-{how}-{e}"] = 100 * float(sel["global"].mean())
    zero1 = _select(escapes, "zero", 1)
    out.update({
        "ed-n-escape-runs": int(len(zero1)),
        "ed-n-runs-all": int(len(escapes)),
        "ed-stuck-zero-1": 100 * float(1 - zero1.escaped.mean()),
        "ed-lowered": 100 * float(escapes.lowered.mean()),
        "ed-escaped-global": 100 * float(escapes["global"].sum() / max(int(escapes.escaped.sum()), 1)),
        "ed-stuck": _stuck_text(escapes),
        "ed-escape1-by-k": _by_k_text(esc_k),
        "ed-steepest-note": _steepest_text(esc_k, ks),
    })
    return out
