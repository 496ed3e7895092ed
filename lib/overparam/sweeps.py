"""The book's large seed sweeps, sharded in seed blocks (:mod:`overparam.shard`).

:func:`safran_shamir_sweep` runs Safran–Shamir gradient descent over many ``(k, n)`` configurations and
seeds; :func:`safran_shamir_runs` is one configuration; :func:`gradient_descent_runs` is gradient
descent from given starting points. Each is cut into tasks of one configuration and one block of
seeds ``[a, b)`` (``block`` seeds each; one block of all seeds by default) that run in this process
(``workers=1``), on a local Dask cluster (``workers > 1``) or on an existing scheduler (``address`` or
``$DASK_SCHEDULER_ADDRESS``), and are put back together in seed order.

**What the result equals.** Run ``s`` of :func:`overparam.safran_shamir.init_students` is the ``s``-th
block of draws from one generator, so the block ``[a, b)`` is ``init_students(k, n, b, seed)[a:b]``
(tested): every block starts from exactly the rows the whole batch would. With one block (the default)
the result is bit for bit ``gradient_descent(init_students(k, n, n_seeds, seed), ...)``. With smaller
blocks each block is bit for bit ``gradient_descent`` on its own rows; the whole-batch run agrees with
it only up to rounding (a batched row's last bits depend on where it sits in memory; see
:mod:`overparam.shard`), which thousands of steps can grow. So ``block`` is part of a sweep's
definition and ``workers``/``address`` are not: the same ``block`` gives bit-identical results
in-process and on any number of workers (tested with a two-worker cluster).

:func:`ticket_sweep` runs the counting-tickets experiment (:func:`overparam.tickets.run_experiment`) for
several teacher widths at once, one task per ``(width, seed block)``. It is seed-separable too (its
students are ``init_students`` rows, its subnetworks depend on ``seed`` only): a block runs
``run_experiment(..., seeds=(a, b))``. :func:`lottery_sweep` runs the lottery experiment
(:func:`overparam.lottery.run_lottery`) in seed blocks: student ``s`` draws from the streams
``init/<s>``, ``mask/<s>`` (and the re-initialisation's), whatever block it is in, the batch order is
shared, and the rewinding chain runs on the seeds below ``n_rewind_seeds`` wherever they fall; the
blocks are joined by :func:`overparam.lottery.join_results`. With one block (the default) it is the
plain call; blocks of one seed gave bit-identical results on the test problem (tested), but as with
the Safran–Shamir sweeps a batched row's last bits may depend on the batch on other shapes, so
``block`` is part of the run's definition and ``workers`` is not.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from . import lottery
from . import safran_shamir as ss
from . import tickets
from .shard import Task, run_tasks, seed_blocks
from .validate import check_float, check_int, resolve_device
from . import ss_dynamics as ssd

__all__ = ["safran_shamir_sweep", "safran_shamir_runs", "gradient_descent_runs", "concat_results", "lottery_sweep",
           "ticket_sweep", "concat_experiments"]


def concat_results(results: Sequence) -> "ssd.GDResult":
    """Gradient-descent results of consecutive seed blocks as one result (seed axis concatenated)."""
    results = list(results)
    if not results or not all(isinstance(r, ssd.GDResult) for r in results):
        raise ValueError("results must be a non-empty sequence of GDResult")
    if len({r.record_every for r in results}) != 1 or len({r.loss_curve.shape[1] for r in results}) != 1:
        raise ValueError("results must share record_every and the loss-curve length (the same n_steps)")
    if len(results) == 1:
        return results[0]
    return ssd.GDResult(torch.cat([r.W for r in results]), torch.cat([r.loss for r in results]),
                       torch.cat([r.grad_norm for r in results]), torch.cat([r.steps for r in results]),
                       tuple(x for r in results for x in r.stop_reason),
                       np.concatenate([r.loss_curve for r in results]), results[0].record_every)


def _descend(W0, lr, n_steps, grad_tol, loss_tol, record_every):
    return ssd.gradient_descent(W0, lr=lr, n_steps=n_steps, grad_tol=grad_tol, loss_tol=loss_tol,
                                record_every=record_every)


def _ss_block(k: int, n: int, a: int, b: int, seed: int, lr: float, opts: dict, device=None):
    """Gradient descent from rows ``[a, b)`` of ``init_students(k, n, ·, seed)`` on ``device``: one task."""
    return _descend(ss.init_students(k, n, b, seed, device=device)[a:b].clone(), lr, **opts)


def _check_opts(n_steps, grad_tol, loss_tol, record_every) -> dict:
    return dict(n_steps=check_int("n_steps", n_steps, min=0),
                grad_tol=check_float("grad_tol", grad_tol, min=0.0),
                loss_tol=check_float("loss_tol", loss_tol, min=0.0),
                record_every=check_int("record_every", record_every, min=1))


def _check_configs(configs) -> list[tuple[int, int, float]]:
    if not isinstance(configs, (list, tuple)) or not configs:
        raise ValueError(f"configs must be a non-empty list of (k, n, lr), got {configs!r}")
    out = []
    for i, c in enumerate(configs):
        if not isinstance(c, (list, tuple)) or len(c) != 3:
            raise ValueError(f"configs[{i}] must be a (k, n, lr) triple, got {c!r}")
        k = check_int(f"configs[{i}].k", c[0], min=1)
        n = check_int(f"configs[{i}].n", c[1], min=1)
        lr = check_float(f"configs[{i}].lr", c[2], min=0.0, min_inclusive=False)
        if (k, n) in {(o[0], o[1]) for o in out}:
            raise ValueError(f"configs[{i}] repeats (k, n) = ({k}, {n})")
        out.append((k, n, lr))
    return out


def safran_shamir_sweep(configs, n_seeds: int, seed: int, *, n_steps: int, grad_tol: float = 1e-9,
                        loss_tol: float = 1e-6, record_every: int = 100, workers: int = 1,
                        block: int | None = None, address: str | None = None,
                        name: str = "safran_shamir_sweep", device=None) -> dict:
    """Gradient descent on every configuration ``(k, n, lr)`` of ``configs`` from ``n_seeds`` Xavier
    initialisations (``init_students(k, n, n_seeds, seed)``): ``{(k, n): GDResult}``.

    Stopping rules as :func:`overparam.ss_dynamics.gradient_descent` (``n_steps`` the step cap). All
    ``(configuration, seed block)`` tasks are submitted at once, so the workers share the whole grid.
    ``block``, ``workers``, ``address``: see the module docstring; ``name`` names the sweep in errors.
    ``device`` (None: CPU; ``"auto"`` allowed): where every task trains (the draws stay on the CPU).
    """
    device = resolve_device(device)
    configs = _check_configs(configs)
    n_seeds = check_int("n_seeds", n_seeds, min=1)
    seed = check_int("seed", seed, min=0)
    opts = _check_opts(n_steps, grad_tol, loss_tol, record_every)
    blocks = seed_blocks(n_seeds, block)
    tasks = [Task(f"k={k} n={n} seeds [{a}, {b})", _ss_block, (k, n, a, b, seed, lr, opts, device),
                  cost=float((b - a) * n * (n + k) * k))
             for k, n, lr in configs for a, b in blocks]
    results = run_tasks(name, tasks, workers=workers, address=address)
    m = len(blocks)
    return {(k, n): concat_results(results[i * m:(i + 1) * m]) for i, (k, n, _) in enumerate(configs)}


def safran_shamir_runs(k: int, n: int, n_seeds: int, seed: int, *, lr: float, n_steps: int,
                       grad_tol: float = 1e-9, loss_tol: float = 1e-6, record_every: int = 100,
                       workers: int = 1, block: int | None = None, address: str | None = None,
                       device=None) -> "ssd.GDResult":
    """One configuration of :func:`safran_shamir_sweep`: equal, row for row, to
    ``gradient_descent(init_students(k, n, n_seeds, seed), lr=lr, n_steps=n_steps, ...)`` (bit for bit
    with one block; see the module docstring for smaller blocks)."""
    k = check_int("k", k, min=1)
    n = check_int("n", n, min=1)
    lr = check_float("lr", lr, min=0.0, min_inclusive=False)
    return safran_shamir_sweep([(k, n, lr)], n_seeds, seed, n_steps=n_steps, grad_tol=grad_tol,
                               loss_tol=loss_tol, record_every=record_every, workers=workers, block=block,
                               address=address, name="safran_shamir_runs", device=device)[(k, n)]


def _rows_block(W0: torch.Tensor, lr: float, opts: dict):
    return _descend(W0, lr, **opts)


def gradient_descent_runs(W0: torch.Tensor, *, lr: float, n_steps: int, grad_tol: float = 1e-9,
                          loss_tol: float = 1e-6, record_every: int = 100, workers: int = 1,
                          block: int | None = None, address: str | None = None,
                          name: str = "gradient_descent_runs") -> "ssd.GDResult":
    """:func:`overparam.ss_dynamics.gradient_descent` from the given starts ``W0 (S, n, d)``, in
    blocks of ``block`` rows (each block's rows are sent to its worker): bit for bit the plain call
    with one block (the default)."""
    if not torch.is_tensor(W0) or W0.dim() != 3:
        raise ValueError(f"W0 must be a tensor of shape (S, n, d), got "
                         f"{tuple(W0.shape) if torch.is_tensor(W0) else type(W0).__name__}")
    lr = check_float("lr", lr, min=0.0, min_inclusive=False)
    opts = _check_opts(n_steps, grad_tol, loss_tol, record_every)
    S, n, d = W0.shape
    tasks = [Task(f"rows [{a}, {b})", _rows_block, (W0[a:b].clone(), lr, opts),
                  cost=float((b - a) * n * (n + d) * d))
             for a, b in seed_blocks(S, block)]
    return concat_results(run_tasks(name, tasks, workers=workers, address=address))


# --------------------------------------------------------------------------- counting tickets
def _cat_outcomes(parts):
    if parts[0] is None:
        return None
    arrays = [np.concatenate([getattr(p, f) for p in parts])
              for f in ("outcome", "verdict", "loss", "lambda_min", "steps")]
    newton = [p.newton_step for p in parts]
    return tickets.Outcomes(*arrays, torch.cat([p.W for p in parts]),
                            None if any(x is None for x in newton) else np.concatenate(newton))


def concat_experiments(parts: Sequence) -> "tickets.TicketExperiment":
    """Counting-tickets experiments of consecutive seed blocks (same ``k`` and settings) as one."""
    parts = list(parts)
    if not parts or not all(isinstance(p, tickets.TicketExperiment) for p in parts):
        raise ValueError("parts must be a non-empty sequence of TicketExperiment")
    first = parts[0]
    same = all(p.k == first.k and torch.equal(p.idx, first.idx) and torch.equal(p.sampled_idx, first.sampled_idx)
               and list(p.wide) == list(first.wide) and list(p.matched) == list(first.matched)
               and p.lr_scale == first.lr_scale for p in parts)
    if not same:
        raise ValueError("parts must share k, the subnetworks, the widths and the step (blocks of one experiment)")
    if len(parts) == 1:
        return first
    return tickets.TicketExperiment(
        first.k, torch.cat([p.W0 for p in parts]), first.idx, _cat_outcomes([p.sub for p in parts]),
        {n: _cat_outcomes([p.wide[n] for p in parts]) for n in first.wide}, first.sampled_idx,
        _cat_outcomes([p.sampled for p in parts]), first.lr_scale,
        {n: _cat_outcomes([p.matched[n] for p in parts]) for n in first.matched})


def _ticket_block(k: int, n_seeds: int, seed: int, a: int, b: int, kwargs: dict):
    if (a, b) == (0, n_seeds):
        return tickets.run_experiment(k, n_seeds, seed, **kwargs)
    return tickets.run_experiment(k, n_seeds, seed, seeds=(a, b), **kwargs)


def ticket_sweep(specs: dict, n_seeds: int, seed: int, *, workers: int = 1, block: int | None = None,
                 address: str | None = None, name: str = "ticket_sweep", device=None) -> dict:
    """``{k: run_experiment(k, n_seeds, seed, **specs[k])}`` for every teacher width ``k`` of ``specs``
    (a dict ``k -> keyword arguments``), one task per ``(k, seed block)``: with ``block=None`` bit for bit
    the plain calls; smaller blocks run ``run_experiment(..., seeds=(a, b))``. ``device`` (None: CPU;
    ``"auto"`` allowed) is passed to every ``run_experiment`` (a ``device`` in ``specs[k]`` wins)."""
    device = resolve_device(device)
    if not isinstance(specs, dict) or not specs or not all(isinstance(v, dict) for v in specs.values()):
        raise ValueError(f"specs must be a non-empty dict k -> dict of run_experiment keyword arguments, got {specs!r}")
    ks = [check_int(f"specs key {k!r}", k, min=1) for k in specs]
    n_seeds = check_int("n_seeds", n_seeds, min=1)
    seed = check_int("seed", seed, min=0)
    blocks = seed_blocks(n_seeds, block)
    tasks = [Task(f"k={k} seeds [{a}, {b})", _ticket_block, (k, n_seeds, seed, a, b,
                                                          {"device": device, **specs[k]}),
                  cost=float((b - a) * k ** 4)) for k in ks for a, b in blocks]
    results = run_tasks(name, tasks, workers=workers, address=address)
    m = len(blocks)
    return {k: concat_experiments(results[i * m:(i + 1) * m]) for i, k in enumerate(ks)}


# --------------------------------------------------------------------------- lottery tickets
def _lottery_block(data, a: int, b: int, kwargs: dict) -> "lottery.LotteryResult":
    seeds = None if (a, b) == (0, kwargs["n_seeds"]) else (a, b)
    return lottery.run_lottery(data, seeds=seeds, **kwargs)


def lottery_sweep(data, *, n_seeds: int, workers: int = 1, block: int | None = None,
                  address: str | None = None, name: str = "lottery_sweep", **kwargs) -> "lottery.LotteryResult":
    """:func:`overparam.lottery.run_lottery` (``data``, ``n_seeds`` and ``kwargs`` as there) in blocks of
    ``block`` seeds (None: one block, the plain call), one task per block, joined with
    :func:`overparam.lottery.join_results`. ``workers``/``address`` as in :mod:`overparam.shard`."""
    n_seeds = check_int("n_seeds", n_seeds, min=1)
    if "seeds" in kwargs or "progress" in kwargs:
        raise ValueError("seeds and progress are set by lottery_sweep itself; pass block= to cut the seeds")
    kwargs = dict(kwargs, n_seeds=n_seeds)
    tasks = [Task(f"seeds [{a}, {b})", _lottery_block, (data, a, b, kwargs), cost=float(b - a))
             for a, b in seed_blocks(n_seeds, block)]
    return lottery.join_results(run_tasks(name, tasks, workers=workers, address=address))
