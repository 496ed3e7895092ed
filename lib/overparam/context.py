"""Tickets in context: does a winning ticket still win when the rest of the network is
perturbed?

The literal lottery reading says a dense network trains well *because* it holds a
winning ticket, the other weights being passengers. Then the ticket, kept at its own
initial values, should carry the dense network whatever the other weights start at. Two
tests, each one call:

**MNIST-1D** (:func:`run_mnist1d`). The lottery chapter's network and IMP chain
(:func:`overparam.lottery.run_lottery`, ticket chain only). At each requested density
(the IMP round nearest to it, :func:`pick_rounds`), per seed, one batched training of
every condition:

* ``"ticket_alone"``: the IMP ticket (mask, survivors at θ0), from the lottery run
  itself;
* ``"context"`` at scale ``s``: no mask, every weight trained; the ticket's weights
  start at θ0 and every other weight at ``s`` times a fresh draw from the same
  initialisation (:func:`context_init`); biases start at θ0 (they belong to the ticket,
  which never prunes them);
* ``"dense"``: the original dense network (the rest at its own θ0), the lottery run's
  round 0;
* ``"extracted"``: the mask applied to the dense network's *trained* weights, evaluated
  as it is;
* ``"finetuned"``: that extracted ticket trained under its mask for ``finetune_steps``
  more updates (fresh Adam state, the same batch order), evaluated at the end.

Every run reports its test accuracy at early stopping (the lottery chapter's rule: the
evaluation with the lowest validation loss), its test accuracy at the end, the accuracy
of *the ticket's part alone* at the end (the mask applied to the trained weights,
:func:`ticket_part_accuracy`) and how far the ticket's weights moved from θ0
(:func:`ticket_movement`), also relative to the ticket trained alone.

**Teacher-student** (:func:`run_students`), on the Safran–Shamir family of
:mod:`overparam.tickets`. Per seed, every width-``k`` subnetwork of the width-``(k+1)``
student is trained alone (step ``lr_scale/k``, the counting chapter's rule); a seed
*holds a ticket* when one of them wins (certified global minimum). For each holder and
its first winning subnetwork, the width-``(k+1)`` student whose ``k`` ticket neurons
start at their initial rows and whose extra neuron starts at ``s`` times its own initial
row is trained with step ``lr_scale/(k+1)``. ``s = 1`` is the counting chapter's wide
student; ``s = 0`` is the ticket alone at the wide step: a zero neuron has zero gradient
(relu'(0) = 0), so it never moves and the network computes exactly what the ticket
computes; it is trained as the ``k``-neuron ticket, whose critical points can be
certified (the zero neuron's Hessian rows are zero, so the ``(k+1)``-neuron run could
only ever be "unresolved"). Outcomes and certificates as
:func:`overparam.tickets.train_students`.

Random streams: θ0 ``init_mlp(seed)`` (as the lottery chapter); the fresh draw
``init_mlp`` under the derived seed ``derive_seed(seed, "context")`` (student ``s`` from
``generator(derive_seed(seed, "context"), "init/s")``: apart from θ0 and from the
lottery's re-initialised control); batch order ``generator(seed, "batch")``;
teacher-student initial rows ``safran_shamir.init_students`` (stream ``"init"``)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
import torch

from . import lottery, prune
from . import safran_shamir as ss
from . import tickets as T
from .mlp import MLP, accuracy, init_mlp, select
from .rng import derive_seed
from .stats import MeanCI, t_interval, wilson_interval
from .train import SGD, Adam, GD, train
from .validate import check_dtype, check_float, check_fraction, check_int

__all__ = [
    "chain_densities",
    "pick_rounds",
    "fresh_draw",
    "context_init",
    "ticket_part_accuracy",
    "ticket_movement",
    "MNIST1DContext",
    "train_context",
    "run_mnist1d",
    "summarize_mnist1d",
    "paired_difference",
    "StudentContext",
    "run_students",
    "summarize_students",
]

STREAM = "context"


# --------------------------------------------------------------- densities of the chain
def chain_densities(
    sizes: Sequence[int], rounds: int, fraction: float, output_fraction: float
) -> np.ndarray:
    """Overall density (fraction of all weights kept) after rounds ``0..rounds`` of
    layer-wise IMP on a network of layer ``sizes``: the counts follow
    :func:`overparam.prune.prune_counts` alone, so this is known before any training
    (every seed of the lottery run has exactly these densities)."""
    rounds = check_int("rounds", rounds, min=0)
    fraction = check_fraction("fraction", fraction)
    output_fraction = check_fraction("output_fraction", output_fraction)
    n = [int(a) * int(b) for a, b in zip(sizes[1:], sizes[:-1])]
    total = sum(n)
    out = [1.0]
    for _ in range(rounds):
        n = [
            m
            - int(
                prune.prune_counts(m, output_fraction if l == len(n) - 1 else fraction)
            )
            for l, m in enumerate(n)
        ]
        out.append(sum(n) / total)
    return np.array(out)


def pick_rounds(densities: Sequence[float], chain: np.ndarray) -> tuple[int, ...]:
    """For each target in ``densities`` the IMP round ``r >= 1`` of ``chain`` (densities
    of rounds ``0..R``) nearest to it on a log scale. A target must lie within half a
    round (geometric midpoint) of a pruned round, and two targets may not pick the same
    round; else ``ValueError`` naming it."""
    chain = np.asarray(chain, dtype=float)
    if chain.size < 2:
        raise ValueError(
            "rounds must be at least 1: the IMP chain has no pruned round to pick from"
        )
    logc = np.log(chain)
    lo = logc[-1] - (logc[-2] - logc[-1]) / 2  # half a round past the last
    hi = (logc[0] + logc[1]) / 2  # half way between dense and round 1
    picked = []
    for i, d in enumerate(densities):
        d = check_float(f"densities[{i}]", d, min=0.0, max=1.0, min_inclusive=False)
        if not lo <= math.log(d) <= hi:
            raise ValueError(
                f"densities[{i}] must be a density the IMP chain reaches (rounds 1 to "
                f"{chain.size - 1}: {chain[1]:.4g} down to {chain[-1]:.4g}, a target "
                f"within half a round of one); got {d:g}"
            )
        r = int(np.argmin(np.abs(logc[1:] - math.log(d)))) + 1
        if r in picked:
            raise ValueError(
                f"densities[{i}] = {d:g} picks IMP round {r} ({chain[r]:.4g}), as an "
                f"earlier target does; give distinct densities"
            )
        picked.append(r)
    return tuple(picked)


# ---------------------------------------------------------------------- building blocks
def fresh_draw(net0: MLP, seed: int) -> MLP:
    """A fresh draw from ``net0``'s initialisation (PyTorch's default, as
    :func:`overparam.lottery.run_lottery` uses): ``init_mlp`` under ``derive_seed(seed,
    "context")``, same sizes, dtype, device."""
    seed = check_int("seed", seed, min=0)
    return init_mlp(
        net0.sizes,
        net0.n_seeds,
        derive_seed(seed, STREAM),
        activation=net0.activation,
        bias=net0.has_bias,
        dtype=net0.dtype,
        device=net0.device,
    )


def context_init(net0: MLP, masks, scale: float, fresh: MLP) -> MLP:
    """The ticket in context: where ``masks`` keeps a weight, its value in ``net0``
    (θ0); elsewhere ``scale`` times ``fresh``'s value. Biases are ``net0``'s. Inputs are
    not modified. With ``fresh = net0`` and ``scale = 1`` this is ``net0`` bit for bit;
    with ``scale = 0`` it is the ticket (:func:`overparam.prune.rewind`)."""
    scale = check_float("scale", scale, min=0.0)
    masks = prune.check_masks(masks, net0)
    if (
        not isinstance(fresh, MLP)
        or fresh.sizes != net0.sizes
        or fresh.n_seeds != net0.n_seeds
    ):
        raise ValueError(
            f"fresh must be an MLP shaped like net0 (sizes {net0.sizes}, "
            f"{net0.n_seeds} seeds)"
        )
    Ws = tuple(
        torch.where(m > 0, w0, scale * f.to(w0.dtype))
        for w0, m, f in zip(net0.weights, masks, fresh.weights)
    )
    return MLP(
        Ws,
        tuple(None if b is None else b.clone() for b in net0.biases),
        net0.activation,
    )


def ticket_part_accuracy(
    net: MLP, masks, x: torch.Tensor, y: torch.Tensor
) -> np.ndarray:
    """``(S,)`` accuracy of the ticket's part of ``net`` alone: ``masks`` applied to its
    weights (biases kept)."""
    with torch.no_grad():
        return accuracy(prune.apply_masks(net, masks), x, y).cpu().numpy().astype(float)


def ticket_movement(net: MLP, net0: MLP, masks) -> np.ndarray:
    """``(S,)`` Euclidean distance between the ticket's weights in ``net`` and in
    ``net0`` (the weights ``masks`` keeps, all layers; biases not counted)."""
    masks = prune.check_masks(masks, net0)
    sq = sum(
        ((m * (w - w0)).to(torch.float64) ** 2).reshape(m.shape[0], -1).sum(1)
        for w, w0, m in zip(net.weights, net0.weights, masks)
    )
    return sq.sqrt().cpu().numpy()


def _cat(nets: Sequence[MLP]) -> MLP:
    return lottery._cat_nets(nets)


# ----------------------------------------------------------------------------- MNIST-1D
@dataclass(frozen=True)
class MNIST1DContext:
    """What :func:`run_mnist1d` measured. ``runs``: one row per (condition, round,
    scale, seed) with ``density``, ``scale`` (NaN except for ``"context"``),
    ``test_acc`` (at early stopping; for ``"extracted"`` as it is, for ``"finetuned"``
    at the end of the fine-tune), ``final_test_acc``, ``ticket_part_acc`` (the mask on
    the weights at the end), ``ticket_move`` and ``ticket_move_ratio`` (over the ticket
    alone's), ``stop_step`` and ``censored`` (NaN where there is no early stopping).
    ``rounds``/``densities``: the picked IMP rounds and their densities; ``scales``;
    ``config``; ``lottery``: the underlying :class:`overparam.lottery.LotteryResult`;
    ``fresh``: the fresh draw."""

    runs: pd.DataFrame
    rounds: tuple
    densities: tuple
    scales: tuple
    config: dict
    lottery: lottery.LotteryResult
    fresh: MLP


def train_context(
    net0: MLP,
    masks_by_round: Sequence[tuple],
    scales: Sequence[float],
    fresh: MLP,
    data,
    *,
    optimizer,
    n_steps: int,
    eval_every: int,
    seed: int,
):
    """One batched, unmasked training of every (round, scale) start: block ``(i, j)`` of
    the batch (seeds ``S·(i·len(scales) + j)`` onward) starts from ``context_init(net0,
    masks_by_round[i], scales[j], fresh)``. Returns the
    :class:`overparam.train.TrainResult`."""
    starts = [context_init(net0, m, s, fresh) for m in masks_by_round for s in scales]
    return train(
        _cat(starts),
        data.x_train,
        data.y_train,
        loss="cross_entropy",
        optimizer=optimizer,
        n_steps=n_steps,
        seed=seed,
        record_every=n_steps,
        eval_every=eval_every,
        eval_fn=lottery._eval_fn(data),
    )


def run_mnist1d(
    data,
    *,
    hidden: Sequence[int] = (300, 100),
    n_seeds: int,
    seed: int = 0,
    rounds: int,
    fraction: float,
    output_fraction: float,
    densities: Sequence[float],
    scales: Sequence[float],
    optimizer,
    n_steps: int,
    eval_every: int,
    finetune_steps: int,
    dtype=torch.float32,
) -> MNIST1DContext:
    """The MNIST-1D experiment (module docstring). ``densities`` are targets, each
    matched to an IMP round by :func:`pick_rounds` before anything trains; ``scales``
    are the ``s`` of the context runs."""
    sizes = (
        data.n_features,
        *[check_int(f"hidden[{i}]", h, min=1) for i, h in enumerate(hidden)],
        data.n_classes,
    )
    scales = tuple(
        check_float(f"scales[{i}]", s, min=0.0) for i, s in enumerate(scales)
    )
    if not scales:
        raise ValueError("scales must hold at least one scale s >= 0")
    n_steps = check_int("n_steps", n_steps, min=1)
    eval_every = check_int("eval_every", eval_every, min=1, max=n_steps)
    finetune_steps = check_int("finetune_steps", finetune_steps, min=1)
    chain = chain_densities(sizes, rounds, fraction, output_fraction)
    picked = pick_rounds(densities, chain)
    if not isinstance(optimizer, (GD, Adam, SGD)):
        raise ValueError(
            f"optimizer must be overparam.train GD(...), Adam(...) or SGD(...), "
            f"got {optimizer!r}"
        )
    dtype = check_dtype("dtype", dtype)
    lot = lottery.run_lottery(
        data,
        hidden=sizes[1:-1],
        n_seeds=n_seeds,
        seed=seed,
        rounds=rounds,
        fraction=fraction,
        output_fraction=output_fraction,
        optimizer=optimizer,
        n_steps=n_steps,
        eval_every=eval_every,
        conditions=("ticket",),
        dtype=dtype,
    )
    net0 = lot.net0
    fresh = fresh_draw(net0, seed)
    masks = [lot.masks["ticket"][r] for r in picked]
    ctx = train_context(
        net0,
        masks,
        scales,
        fresh,
        data,
        optimizer=optimizer,
        n_steps=n_steps,
        eval_every=eval_every,
        seed=seed,
    )
    dense_net = lot.trained["ticket"][0]
    extracted = [prune.apply_masks(dense_net, m) for m in masks]
    ft = train(
        _cat(extracted),
        data.x_train,
        data.y_train,
        loss="cross_entropy",
        optimizer=optimizer,
        n_steps=finetune_steps,
        masks=_cat_masks(masks),
        seed=seed,
        record_every=finetune_steps,
        eval_every=finetune_steps,
        eval_fn=lottery._eval_fn(data),
    )
    runs = _mnist1d_rows(lot, picked, chain, masks, scales, ctx, ft, data)
    config = dict(
        sizes=sizes,
        n_seeds=n_seeds,
        seed=seed,
        rounds=rounds,
        fraction=fraction,
        output_fraction=output_fraction,
        targets=[float(d) for d in densities],
        scales=list(scales),
        optimizer=str(optimizer),
        n_steps=n_steps,
        eval_every=eval_every,
        finetune_steps=finetune_steps,
        dtype=str(dtype),
    )
    return MNIST1DContext(
        runs, picked, tuple(float(chain[r]) for r in picked), scales, config, lot, fresh
    )


def _cat_masks(masks: Sequence[tuple]) -> tuple:
    return lottery._cat_masks(masks)


def _mnist1d_rows(lot, picked, chain, masks, scales, ctx, ft, data) -> pd.DataFrame:
    S = lot.net0.n_seeds
    lot_runs = lot.runs
    rows = []
    nan = float("nan")
    steps = ctx.eval_steps
    idx, cens = lottery.early_stop(steps, ctx.history["val_loss"])
    for i, (r, m) in enumerate(zip(picked, masks)):
        dens = float(chain[r])
        alone = lot.trained["ticket"][r]
        move_alone = ticket_movement(alone, lot.net0, m)
        t_rows = lot_runs[(lot_runs.condition == "ticket") & (lot_runs["round"] == r)]
        t_rows = t_rows.sort_values("seed")
        d_rows = lot_runs[lot_runs.condition == "dense"].sort_values("seed")
        dense_net = lot.trained["ticket"][0]
        part_dense = ticket_part_accuracy(dense_net, m, data.x_test, data.y_test)
        move_dense = ticket_movement(dense_net, lot.net0, m)
        for s in range(S):
            t, d = t_rows.iloc[s], d_rows.iloc[s]
            for cond, run, part, move in (
                ("ticket_alone", t, t.final_test_acc, move_alone[s]),
                ("dense", d, part_dense[s], move_dense[s]),
            ):
                rows.append(
                    dict(
                        condition=cond,
                        round=r,
                        density=dens,
                        scale=nan,
                        seed=s,
                        test_acc=run.test_acc,
                        final_test_acc=run.final_test_acc,
                        ticket_part_acc=part,
                        ticket_move=move,
                        ticket_move_ratio=move / move_alone[s],
                        stop_step=run.stop_step,
                        censored=run.censored,
                    )
                )
            acc0, acc1 = ft.history["test_acc"][i * S + s]
            rows.append(
                dict(
                    condition="extracted",
                    round=r,
                    density=dens,
                    scale=nan,
                    seed=s,
                    test_acc=acc0,
                    final_test_acc=acc0,
                    ticket_part_acc=acc0,
                    ticket_move=move_dense[s],
                    ticket_move_ratio=move_dense[s] / move_alone[s],
                    stop_step=nan,
                    censored=nan,
                )
            )
            rows.append(
                dict(
                    condition="finetuned",
                    round=r,
                    density=dens,
                    scale=nan,
                    seed=s,
                    test_acc=acc1,
                    final_test_acc=acc1,
                    ticket_part_acc=acc1,
                    ticket_move=nan,
                    ticket_move_ratio=nan,
                    stop_step=nan,
                    censored=nan,
                )
            )
        for j, sc in enumerate(scales):
            lo = (i * len(scales) + j) * S
            net = select(ctx.net, slice(lo, lo + S))
            part = ticket_part_accuracy(net, m, data.x_test, data.y_test)
            move = ticket_movement(net, lot.net0, m)
            for s in range(S):
                g = lo + s
                rows.append(
                    dict(
                        condition="context",
                        round=r,
                        density=dens,
                        scale=sc,
                        seed=s,
                        test_acc=ctx.history["test_acc"][g, idx[g]],
                        final_test_acc=ctx.history["test_acc"][g, -1],
                        ticket_part_acc=part[s],
                        ticket_move=move[s],
                        ticket_move_ratio=move[s] / move_alone[s],
                        stop_step=int(steps[idx[g]]),
                        censored=bool(cens[g]),
                    )
                )
    out = pd.DataFrame(rows)
    for c in (
        "test_acc",
        "final_test_acc",
        "ticket_part_acc",
        "ticket_move",
        "ticket_move_ratio",
        "stop_step",
        "scale",
    ):
        out[c] = out[c].astype(float)
    return out


def _ci(values, level) -> MeanCI:
    return t_interval(np.asarray(values, dtype=float), level)


def summarize_mnist1d(result: MNIST1DContext, level: float = 0.95) -> dict:
    """The summary the chapter saves. ``mnist1d``: one record per (density, scale) of
    the context runs with ``acc_*`` (test accuracy at early stopping) and
    ``ticket_part_acc_*`` (the ticket's part alone at the end) as mean and Student-t
    interval over seeds, plus ``ticket_move_ratio_mean`` and ``censored_fraction``;
    ``ticket_alone`` and ``dense``: one record per density with the same fields;
    ``extracted``: per density ``acc_*`` (as extracted) and ``finetuned_acc_*``."""
    runs = result.runs

    def rec(g, density):
        a, p = _ci(g.test_acc, level), _ci(g.ticket_part_acc, level)
        return {
            "density": density,
            "acc_mean": a.mean,
            "acc_ci_low": a.low,
            "acc_ci_high": a.high,
            "ticket_part_acc_mean": p.mean,
            "ticket_part_acc_ci_low": p.low,
            "ticket_part_acc_ci_high": p.high,
            "ticket_move_ratio_mean": float(g.ticket_move_ratio.mean()),
            "censored_fraction": float(g.censored.astype(float).mean()),
        }

    out = {"mnist1d": [], "ticket_alone": [], "dense": [], "extracted": []}
    for r, d in zip(result.rounds, result.densities):
        at = runs[runs["round"] == r]
        for s in result.scales:
            g = at[(at.condition == "context") & (at.scale == s)]
            out["mnist1d"].append({**rec(g, d), "scale": s})
        out["ticket_alone"].append(rec(at[at.condition == "ticket_alone"], d))
        out["dense"].append(rec(at[at.condition == "dense"], d))
        e, f = (
            _ci(at[at.condition == "extracted"].test_acc, level),
            _ci(at[at.condition == "finetuned"].test_acc, level),
        )
        out["extracted"].append(
            {
                "density": d,
                "acc_mean": e.mean,
                "acc_ci_low": e.low,
                "acc_ci_high": e.high,
                "finetuned_acc_mean": f.mean,
                "finetuned_acc_ci_low": f.low,
                "finetuned_acc_ci_high": f.high,
            }
        )
    return out


def paired_difference(
    result: MNIST1DContext,
    density_index: int,
    a: tuple,
    b: tuple = ("ticket_alone",),
    field: str = "test_acc",
    level: float = 0.95,
) -> MeanCI:
    """Mean over seeds of ``a`` minus ``b`` at the ``density_index``-th picked density,
    with a Student-t interval over seeds (seed ``s`` of every condition shares its θ0
    and its mask). A condition is ``(name,)`` or ``("context", scale)``."""
    i = check_int(
        "density_index",
        density_index,
        min=-len(result.rounds),
        max=len(result.rounds) - 1,
    )
    at = result.runs[result.runs["round"] == result.rounds[i]]

    def values(cond):
        g = at[at.condition == cond[0]]
        if cond[0] == "context":
            g = g[g.scale == check_float("scale", cond[1], min=0.0)]
        if g.empty:
            raise ValueError(
                f"condition {cond!r} has no runs (names: ticket_alone, dense, "
                f"extracted, finetuned, context with a scale of {list(result.scales)})"
            )
        return g.sort_values("seed")[field].to_numpy()

    return t_interval(values(a) - values(b), level)


# ---------------------------------------------------------------------- teacher-student
@dataclass(frozen=True)
class StudentContext:
    """What :func:`run_students` measured at teacher width ``k``. ``sub``: every
    width-``k`` subnetwork of the first ``k + 1`` neurons trained alone at step
    ``lr_scale/k``, outcomes ``(S, k+1)``; ``holders``: the seeds where one wins;
    ``ticket``/``extra``: per holder the winning subnetwork's column (the first) and the
    neuron it leaves out. ``wide[s]``: outcomes ``(H,)`` of the width-``(k+1)`` student
    at scale ``s`` (``s = 0``: the ticket alone, see the module docstring), all at step
    ``lr_scale/(k+1)``."""

    k: int
    n_seeds: int
    W0: torch.Tensor
    idx: torch.Tensor
    sub: T.Outcomes
    holders: np.ndarray
    ticket: np.ndarray
    extra: np.ndarray
    wide: dict
    lr_scale: float

    def table(self) -> pd.DataFrame:
        """One row per (holder seed, scale): ``outcome`` (win/fail/unresolved),
        ``verdict``, ``loss``, ``lambda_min``, ``steps``."""
        names = {T.WIN: "win", T.FAIL: "fail", T.UNRESOLVED: "unresolved"}
        rows = []
        for s, o in self.wide.items():
            for j, seed in enumerate(self.holders):
                rows.append(
                    dict(
                        k=self.k,
                        seed=int(seed),
                        ticket=int(self.ticket[j]),
                        extra=int(self.extra[j]),
                        scale=float(s),
                        outcome=names[int(o.outcome[j])],
                        verdict=str(o.verdict[j]),
                        loss=float(o.loss[j]),
                        lambda_min=float(o.lambda_min[j]),
                        steps=int(o.steps[j]),
                    )
                )
        return pd.DataFrame(rows)


def run_students(
    k: int,
    n_seeds: int,
    seed: int,
    scales: Sequence[float],
    *,
    lr_scale: float = 5.0,
    max_steps: int = 30_000,
    **kwargs,
) -> StudentContext:
    """The teacher-student experiment at teacher width ``k`` (module docstring). Keyword
    arguments go to :func:`overparam.tickets.train_students`."""
    k = check_int("k", k, min=2)
    n_seeds = check_int("n_seeds", n_seeds, min=1)
    scales = tuple(
        check_float(f"scales[{i}]", s, min=0.0) for i, s in enumerate(scales)
    )
    if not scales:
        raise ValueError("scales must hold at least one scale s >= 0")
    lr_scale = check_float("lr_scale", lr_scale, min=0.0, min_inclusive=False)
    common = dict(max_steps=max_steps, **kwargs)
    W0 = ss.init_students(k, k + 1, n_seeds, seed)
    idx = T.subnetworks(k + 1, k)
    sub = T.train_subnetworks(W0, idx, lr=lr_scale / k, **common)
    holders = np.flatnonzero(sub.wins.any(1))
    ticket = np.array([np.flatnonzero(sub.wins[h])[0] for h in holders], dtype=np.int64)
    extra = np.array(
        [int(sorted(set(range(k + 1)) - set(idx[c].tolist()))[0]) for c in ticket],
        dtype=np.int64,
    )
    wide = {}
    H = holders.size
    if H:
        lr = lr_scale / (k + 1)
        hold_t = torch.as_tensor(holders)
        positive = [s for s in scales if s > 0]
        if positive:
            W = W0[hold_t].repeat(len(positive), 1, 1)
            rows = torch.arange(W.shape[0])
            W[rows, torch.as_tensor(extra).repeat(len(positive))] *= torch.tensor(
                positive, dtype=W.dtype
            ).repeat_interleave(H)[:, None]
            o = T.train_students(W, lr=lr, **common).reshape(len(positive), H)
            for i, s in enumerate(positive):
                wide[s] = T.Outcomes(
                    o.outcome[i],
                    o.verdict[i],
                    o.loss[i],
                    o.lambda_min[i],
                    o.steps[i],
                    o.W[i],
                )
        if 0.0 in scales:
            alone = torch.stack([W0[h, idx[c]] for h, c in zip(holders, ticket)])
            wide[0.0] = T.train_students(alone, lr=lr, **common)
        wide = {s: wide[s] for s in scales}
    return StudentContext(
        k, n_seeds, W0, idx, sub, holders, ticket, extra, wide, lr_scale
    )


def summarize_students(
    results: Sequence[StudentContext], level: float = 0.95
) -> list[dict]:
    """One record per (k, scale): ``holders`` (seeds holding a ticket), ``unresolved``
    (of those, runs neither certified won nor certified failed), ``wide_fails``
    (certified strict local minima), ``fail_fraction`` over the resolved holders with
    its Wilson interval (``ci_low``, ``ci_high``; NaN when none is resolved), and
    ``seeds`` (before selection)."""
    out = []
    for r in results:
        for s in r.wide if r.holders.size else []:
            o = r.wide[s]
            fails, unres = int(o.fails.sum()), int(o.unresolved.sum())
            n = int(r.holders.size) - unres
            ci = wilson_interval(fails, n, level) if n else None
            out.append(
                {
                    "k": r.k,
                    "scale": float(s),
                    "seeds": r.n_seeds,
                    "holders": int(r.holders.size),
                    "wide_fails": fails,
                    "fail_fraction": ci.fraction if ci else float("nan"),
                    "ci_low": ci.low if ci else float("nan"),
                    "ci_high": ci.high if ci else float("nan"),
                    "unresolved": unres,
                }
            )
    return out
