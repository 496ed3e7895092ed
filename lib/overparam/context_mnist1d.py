"""Tickets in context, the MNIST-1D test (:func:`run_mnist1d`; see :mod:`overparam.context` for the
conditions): the lottery chapter's IMP ticket kept at θ0 inside a network whose other weights start at
``s`` times a fresh draw, against the ticket alone, the dense network, and the extracted and fine-tuned
ticket."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
import torch

from . import lottery, prune
from .context import (_cat, chain_densities, check_scales, context_init, fresh_draw, pick_rounds,
                      ticket_movement, ticket_part_accuracy)
from .mlp import MLP, select
from .stats import MeanCI, t_interval
from .train import SGD, Adam, GD, train
from .validate import check_dtype, check_float, check_int

__all__ = ["MNIST1DContext", "train_context", "run_mnist1d", "summarize_mnist1d", "paired_difference"]


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


def _check_mnist1d(data, hidden, rounds, fraction, output_fraction, densities, scales, optimizer,
                   n_steps, eval_every, finetune_steps, dtype) -> dict:
    """The checked arguments of :func:`run_mnist1d`, the IMP chain's densities and the picked rounds."""
    a = dict(sizes=(data.n_features, *[check_int(f"hidden[{i}]", h, min=1) for i, h in enumerate(hidden)],
                    data.n_classes),
             scales=check_scales(scales))
    a["n_steps"] = check_int("n_steps", n_steps, min=1)
    a["eval_every"] = check_int("eval_every", eval_every, min=1, max=a["n_steps"])
    a["finetune_steps"] = check_int("finetune_steps", finetune_steps, min=1)
    a["chain"] = chain_densities(a["sizes"], rounds, fraction, output_fraction)
    a["picked"] = pick_rounds(densities, a["chain"])
    if not isinstance(optimizer, (GD, Adam, SGD)):
        raise ValueError(
            f"optimizer must be overparam.train GD(...), Adam(...) or SGD(...), "
            f"got {optimizer!r}"
        )
    a["dtype"] = check_dtype("dtype", dtype)
    return a


def _finetune(dense_net, masks, data, *, optimizer, finetune_steps, seed):
    """The dense network's trained weights under each mask (extracted), trained ``finetune_steps``
    more under the mask: the :class:`overparam.train.TrainResult`, evaluated at both ends."""
    extracted = [prune.apply_masks(dense_net, m) for m in masks]
    return train(_cat(extracted), data.x_train, data.y_train, loss="cross_entropy", optimizer=optimizer,
                 n_steps=finetune_steps, masks=_cat_masks(masks), seed=seed, record_every=finetune_steps,
                 eval_every=finetune_steps, eval_fn=lottery._eval_fn(data))


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
    matched to an IMP round by :func:`overparam.context.pick_rounds` before anything trains; ``scales``
    are the ``s`` of the context runs."""
    a = _check_mnist1d(data, hidden, rounds, fraction, output_fraction, densities, scales, optimizer,
                       n_steps, eval_every, finetune_steps, dtype)
    sizes, scales, chain, picked = a["sizes"], a["scales"], a["chain"], a["picked"]
    steps = dict(optimizer=optimizer, n_steps=a["n_steps"], eval_every=a["eval_every"])
    lot = lottery.run_lottery(data, hidden=sizes[1:-1], n_seeds=n_seeds, seed=seed, rounds=rounds,
                              fraction=fraction, output_fraction=output_fraction, conditions=("ticket",),
                              dtype=a["dtype"], **steps)
    fresh = fresh_draw(lot.net0, seed)
    masks = [lot.masks["ticket"][r] for r in picked]
    ctx = train_context(lot.net0, masks, scales, fresh, data, seed=seed, **steps)
    ft = _finetune(lot.trained["ticket"][0], masks, data, optimizer=optimizer,
                   finetune_steps=a["finetune_steps"], seed=seed)
    runs = _mnist1d_rows(lot, picked, chain, masks, scales, ctx, ft, data)
    config = dict(sizes=sizes, n_seeds=n_seeds, seed=seed, rounds=rounds, fraction=fraction,
                  output_fraction=output_fraction, targets=[float(d) for d in densities],
                  scales=list(scales), optimizer=str(optimizer), n_steps=a["n_steps"],
                  eval_every=a["eval_every"], finetune_steps=a["finetune_steps"], dtype=str(a["dtype"]))
    return MNIST1DContext(
        runs, picked, tuple(float(chain[r]) for r in picked), scales, config, lot, fresh
    )


def _cat_masks(masks: Sequence[tuple]) -> tuple:
    return lottery._cat_masks(masks)


_VALUES = ("test_acc", "final_test_acc", "ticket_part_acc", "ticket_move", "ticket_move_ratio",
           "stop_step", "censored")


def _row(cond, r, dens, scale, s, *values) -> dict:
    """One row of ``runs``: the keys, then ``_VALUES`` in order."""
    return dict(condition=cond, round=r, density=dens, scale=scale, seed=s, **dict(zip(_VALUES, values)))


def _round_rows(lot, r, dens, m, ft_acc, data, move_alone) -> list:
    """Per seed the rows of one round without a scale: ticket alone, dense, extracted, finetuned."""
    S, nan = lot.net0.n_seeds, float("nan")
    lot_runs = lot.runs
    t_rows = lot_runs[(lot_runs.condition == "ticket") & (lot_runs["round"] == r)].sort_values("seed")
    d_rows = lot_runs[lot_runs.condition == "dense"].sort_values("seed")
    dense_net = lot.trained["ticket"][0]
    part_dense = ticket_part_accuracy(dense_net, m, data.x_test, data.y_test)
    move_dense = ticket_movement(dense_net, lot.net0, m)
    rows = []
    for s in range(S):
        t, d = t_rows.iloc[s], d_rows.iloc[s]
        for cond, run, part, move in (
            ("ticket_alone", t, t.final_test_acc, move_alone[s]),
            ("dense", d, part_dense[s], move_dense[s]),
        ):
            rows.append(_row(cond, r, dens, nan, s, run.test_acc, run.final_test_acc, part, move,
                             move / move_alone[s], run.stop_step, run.censored))
        acc0, acc1 = ft_acc[s]
        rows.append(_row("extracted", r, dens, nan, s, acc0, acc0, acc0, move_dense[s],
                         move_dense[s] / move_alone[s], nan, nan))
        rows.append(_row("finetuned", r, dens, nan, s, acc1, acc1, acc1, nan, nan, nan, nan))
    return rows


def _context_rows(lot, i, r, dens, m, scales, ctx, data, move_alone) -> list:
    """Per scale and seed the ``"context"`` rows of round ``r`` (block ``i`` of the context batch)."""
    S = lot.net0.n_seeds
    steps = ctx.eval_steps
    idx, cens = lottery.early_stop(steps, ctx.history["val_loss"])
    rows = []
    for j, sc in enumerate(scales):
        lo = (i * len(scales) + j) * S
        net = select(ctx.net, slice(lo, lo + S))
        part = ticket_part_accuracy(net, m, data.x_test, data.y_test)
        move = ticket_movement(net, lot.net0, m)
        for s in range(S):
            g = lo + s
            rows.append(_row("context", r, dens, sc, s, ctx.history["test_acc"][g, idx[g]],
                             ctx.history["test_acc"][g, -1], part[s], move[s], move[s] / move_alone[s],
                             int(steps[idx[g]]), bool(cens[g])))
    return rows


def _mnist1d_rows(lot, picked, chain, masks, scales, ctx, ft, data) -> pd.DataFrame:
    """The ``runs`` table of :class:`MNIST1DContext`, round by round."""
    S = lot.net0.n_seeds
    rows = []
    for i, (r, m) in enumerate(zip(picked, masks)):
        dens = float(chain[r])
        move_alone = ticket_movement(lot.trained["ticket"][r], lot.net0, m)
        ft_acc = [ft.history["test_acc"][i * S + s] for s in range(S)]
        rows += _round_rows(lot, r, dens, m, ft_acc, data, move_alone)
        rows += _context_rows(lot, i, r, dens, m, scales, ctx, data, move_alone)
    out = pd.DataFrame(rows)
    for c in _VALUES[:-1] + ("scale",):
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


