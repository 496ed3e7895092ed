"""The lottery-ticket experiment (Frankle & Carbin 2019) with its controls, many seeds at once.

:func:`run_lottery` runs iterative magnitude pruning (:mod:`overparam.prune`) on ``n_seeds`` networks and,
at every density, trains side by side, as ONE batched :func:`overparam.train.train` call:

* ``"ticket"``      -- the IMP chain: survivors reset to their initial values (rewind to step 0);
* ``"reinit"``      -- the ticket's mask on re-drawn initial weights (:func:`overparam.prune.reinit`);
* ``"random_mask"`` -- the original initial weights under a random mask with the ticket's per-layer
  densities (:func:`overparam.prune.random_masks`);
* ``"rewind"``      -- a second IMP chain (its own masks) whose survivors are reset to their values after
  ``rewind_step`` updates of the dense training (Frankle et al. 2020), on the first ``n_rewind_seeds``
  seeds.

Round 0 trains the dense networks once (condition ``"dense"``); it is round 0 of both chains, and its
snapshot at ``rewind_step`` is the rewind point. Round ``r >= 1`` prunes each chain's round ``r - 1``
trained weights. Every network is trained for ``n_steps`` updates with the same optimizer and the same
batch order; every ``eval_every`` updates the validation loss and accuracy and the test accuracy are
recorded. Early stopping (as Frankle & Carbin): the stop step is the evaluation with the lowest validation
loss (the first one on ties), and the reported accuracy is the test accuracy there. A stop step equal to
the last evaluation is *censored*: the validation loss was still falling when training ended.

The ticket chain is exactly :func:`overparam.prune.imp` with ``rewind_step=0`` (tested); only the batching
of the conditions into one training call is added here. Random streams: initial weights
``init_mlp(seed)``, the controls as in :mod:`overparam.prune` with ``seed``, batch order
``generator(seed, "batch")`` (inside ``train``).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import pandas as pd
import torch

from . import prune
from .mlp import MLP, accuracy, init_mlp, loss as mlp_loss, select
from .stats import MeanCI, t_interval
from .train import GD, SGD, Adam, train
from .validate import check_choice, check_dtype, check_fraction, check_int, check_range

__all__ = ["CONDITIONS", "LotteryResult", "run_lottery", "join_results", "summarize", "seed_differences",
           "paired_difference", "early_stop"]

CONDITIONS = ("ticket", "reinit", "random_mask", "rewind")


@dataclass(frozen=True)
class LotteryResult:
    """What :func:`run_lottery` measured.

    ``runs``: one row per (condition, round, seed) with ``density`` (fraction of all weights kept),
    ``stop_step``, ``censored``, ``test_acc`` (at the stop step), ``val_loss`` (there), ``final_test_acc``
    and the training ``stop_reason``. ``curves``: the evaluations, one row per (condition, round, seed,
    step) with ``val_loss``, ``val_acc``, ``test_acc``. ``layer_densities[r]``: the ticket's per-layer
    densities in round ``r`` (seed 0; all seeds agree with layer-wise pruning). ``config``: the arguments.
    ``net0``: the initial networks (all seeds); ``rewind_net``: the rewind point (first ``n_rewind_seeds``
    seeds, unmasked; None without the rewind chain). ``masks[cond][r]`` and ``trained[cond][r]``: each
    condition's masks and trained networks in round ``r`` (entry 0 of every condition is the dense run).
    """
    runs: pd.DataFrame
    curves: pd.DataFrame
    layer_densities: np.ndarray
    config: dict
    net0: MLP
    rewind_net: MLP | None
    masks: dict
    trained: dict

    @property
    def densities(self) -> np.ndarray:
        """The ticket's overall density per round (round 0 = 1)."""
        t = self.runs[self.runs.condition.isin(["dense", "ticket"])]
        return t.groupby("round").density.mean().to_numpy()


def early_stop(steps: np.ndarray, val_loss: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row of ``val_loss`` ``(S, E)`` at evaluation ``steps`` ``(E,)``: the index of the lowest
    validation loss (first on ties; NaN counts as +inf) and whether it is the last evaluation (censored)."""
    v = np.where(np.isfinite(val_loss), val_loss, np.inf)
    i = np.argmin(v, axis=1)
    return i, i == len(steps) - 1


def _eval_fn(data):
    """Validation loss and accuracy and test accuracy, network by network: a seed's numbers do not
    depend on which other networks share its training batch (a batched evaluation's last bits do), so a
    run in seed blocks evaluates exactly as the full run."""
    def one(net: MLP) -> tuple:
        return (mlp_loss(net, data.x_val, data.y_val, kind="cross_entropy"), accuracy(net, data.x_val, data.y_val),
                accuracy(net, data.x_test, data.y_test))

    def fn(net: MLP) -> dict:
        with torch.no_grad():
            cols = zip(*(one(select(net, slice(s, s + 1))) for s in range(net.n_seeds)))
            return dict(zip(("val_loss", "val_acc", "test_acc"), (torch.cat(c) for c in cols)))
    return fn


def _cat_nets(nets: Sequence[MLP]) -> MLP:
    return MLP(tuple(torch.cat(ws) for ws in zip(*[n.weights for n in nets])),
               tuple(None if bs[0] is None else torch.cat(bs) for bs in zip(*[n.biases for n in nets])),
               nets[0].activation)


def _cat_masks(masks: Sequence[tuple]) -> tuple:
    return tuple(torch.cat(ms) for ms in zip(*masks))


def _check_lottery(data, hidden, n_seeds, seed, rounds, fraction, output_fraction, rewind_step,
                   n_rewind_seeds, optimizer, n_steps, eval_every, conditions, dtype, seeds) -> dict:
    """The checked arguments of :func:`run_lottery` (a dict), or ``ValueError`` naming the bad one."""
    if getattr(data, "x_val", None) is None:
        raise ValueError("data must be an overparam.data.Dataset with a validation split "
                         "(overparam.data.validation_split)")
    a = dict(hidden=tuple(check_int(f"hidden[{i}]", h, min=1) for i, h in enumerate(hidden)),
             n_seeds=check_int("n_seeds", n_seeds, min=1), seed=check_int("seed", seed, min=0),
             rounds=check_int("rounds", rounds, min=0), fraction=check_fraction("fraction", fraction),
             output_fraction=check_fraction("output_fraction", output_fraction),
             n_steps=check_int("n_steps", n_steps, min=1))
    a["rewind_step"] = check_int("rewind_step", rewind_step, min=0, max=a["n_steps"])
    a["eval_every"] = check_int("eval_every", eval_every, min=1, max=a["n_steps"])
    if not isinstance(optimizer, (GD, Adam, SGD)):
        raise ValueError(f"optimizer must be overparam.train GD(...), Adam(...) or SGD(...), got {optimizer!r}")
    a["conditions"] = tuple(check_choice("conditions[]", c, CONDITIONS) for c in conditions)
    if "ticket" not in a["conditions"]:
        raise ValueError("conditions must include 'ticket' (the controls are built from its masks)")
    a["use_rewind"] = "rewind" in a["conditions"]
    a["n_rw"] = (a["n_seeds"] if n_rewind_seeds is None
                 else check_int("n_rewind_seeds", n_rewind_seeds, min=1, max=a["n_seeds"]))
    a["dtype"] = check_dtype("dtype", dtype)
    # this call's block of seeds [first, last): all of them, or seeds=(first, last) of a sharded run
    a["first"], a["last"] = (0, a["n_seeds"]) if seeds is None else check_range("seeds", seeds, a["n_seeds"])
    a["n_local"] = a["last"] - a["first"]
    a["n_rw_local"] = max(0, min(a["last"], a["n_rw"]) - a["first"])  # rewind chain: global seeds < n_rw
    a["use_rewind"] = a["use_rewind"] and a["n_rw_local"] > 0
    if a["n_steps"] % a["eval_every"]:
        raise ValueError(f"eval_every must divide n_steps so that the last step is evaluated; "
                         f"got n_steps={a['n_steps']}, eval_every={a['eval_every']}")
    return a


class _Lottery:
    """One run of the experiment: training calls, the rows recorded so far, and every round's masks and
    trained networks per condition."""

    def __init__(self, data, optimizer, a: dict):
        self.data, self.optimizer, self.a = data, optimizer, a
        self.sizes = (data.n_features, *a["hidden"], data.n_classes)
        self.net0 = init_mlp(self.sizes, a["n_local"], a["seed"], dtype=a["dtype"], device=data.x_train.device,
                             first_seed=a["first"])
        self.eval_fn = _eval_fn(data)
        self.runs, self.curves, self.layer_dens = [], [], []
        conds = [c for c in a["conditions"] if c != "rewind" or a["use_rewind"]]
        self.all_masks = {c: [] for c in conds}
        self.all_trained = {c: [] for c in conds}
        self.trained, self.masks, self.rewind_net = {}, {}, None

    def fit(self, nets: list, masks: list, snapshot=()):
        """Train the networks ``nets`` with ``masks`` as one batch (cross-entropy, evaluations)."""
        a, d = self.a, self.data
        return train(_cat_nets(nets), d.x_train, d.y_train, loss="cross_entropy", optimizer=self.optimizer,
                     n_steps=a["n_steps"], masks=_cat_masks(masks), seed=a["seed"], record_every=a["n_steps"],
                     eval_every=a["eval_every"], eval_fn=self.eval_fn, snapshot_steps=snapshot)

    def record(self, out, lo, hi, cond, r, masks):
        """Rows of ``runs`` and ``curves`` for seeds ``lo:hi`` of the batch ``out``."""
        steps = out.eval_steps
        vl = out.history["val_loss"][lo:hi]
        idx, cens = early_stop(steps, vl)
        dens = prune.overall_density(masks)
        for j in range(hi - lo):
            s, g = self.a["first"] + j, lo + j
            self.runs.append(dict(
                condition=cond, round=r, seed=s, density=float(dens[j]), stop_step=int(steps[idx[j]]),
                censored=bool(cens[j]), test_acc=float(out.history["test_acc"][g, idx[j]]),
                val_loss=float(vl[j, idx[j]]), final_test_acc=float(out.history["test_acc"][g, -1]),
                stop_reason=out.stop_reason[g]))
            self.curves.append(pd.DataFrame(dict(
                condition=cond, round=r, seed=s, step=steps, val_loss=out.history["val_loss"][g],
                val_acc=out.history["val_acc"][g], test_acc=out.history["test_acc"][g])))

    def dense_round(self):
        """Round 0: the dense networks (and the rewind point's snapshot)."""
        a = self.a
        dense = prune.dense_masks(self.net0)
        out = self.fit([self.net0], [dense], snapshot=(a["rewind_step"],) if a["use_rewind"] else ())
        self.record(out, 0, a["n_local"], "dense", 0, dense)
        self.layer_dens.append(prune.densities(dense)[0])
        self.trained["ticket"] = out.net
        self.masks["ticket"] = dense
        for c in self.all_masks:
            k = a["n_rw_local"] if c == "rewind" else a["n_local"]
            self.all_masks[c].append(tuple(m[:k] for m in dense))
            self.all_trained[c].append(select(out.net, slice(0, k)))
        if a["use_rewind"]:
            n_rw = a["n_rw_local"]
            self.rewind_net = select(out.snapshots[a["rewind_step"]], slice(0, n_rw))
            self.trained["rewind"] = select(out.net, slice(0, n_rw))
            self.masks["rewind"] = tuple(m[:n_rw] for m in dense)

    def _prune(self, cond):
        a = self.a
        self.masks[cond] = prune.magnitude_prune(self.trained[cond], a["fraction"], masks=self.masks[cond],
                                                 output_fraction=a["output_fraction"])
        return self.masks[cond]

    def pruning_round(self, r: int):
        """Round ``r >= 1``: prune the ticket (and the rewind chain), build every condition's start, train
        them as one batch, record."""
        a, net0 = self.a, self.net0
        batch = []   # (condition, start net, masks)
        m = self._prune("ticket")
        batch.append(("ticket", prune.rewind(net0, m), m))
        if "reinit" in a["conditions"]:
            batch.append(("reinit", prune.reinit(net0, m, a["seed"], first_seed=a["first"]), m))
        if "random_mask" in a["conditions"]:
            rm = prune.random_masks(m, a["seed"], first_seed=a["first"])
            batch.append(("random_mask", prune.apply_masks(net0, rm), rm))
        if a["use_rewind"]:
            mr = self._prune("rewind")
            batch.append(("rewind", prune.rewind(self.rewind_net, mr), mr))
        out = self.fit([b[1] for b in batch], [b[2] for b in batch])
        lo = 0
        for cond, start, mc in batch:
            hi = lo + start.n_seeds
            self.record(out, lo, hi, cond, r, mc)
            self.trained[cond] = select(out.net, slice(lo, hi))
            self.all_masks[cond].append(mc)
            self.all_trained[cond].append(self.trained[cond])
            lo = hi
        self.layer_dens.append(prune.densities(self.masks["ticket"])[0])

    def result(self) -> LotteryResult:
        a = self.a
        config = dict(sizes=self.sizes, n_seeds=a["n_seeds"], seed=a["seed"], rounds=a["rounds"],
                      fraction=a["fraction"], output_fraction=a["output_fraction"], rewind_step=a["rewind_step"],
                      n_rewind_seeds=a["n_rw"] if "rewind" in a["conditions"] else 0,
                      optimizer=str(self.optimizer),
                      n_steps=a["n_steps"], eval_every=a["eval_every"], conditions=a["conditions"],
                      dtype=str(a["dtype"]))
        return LotteryResult(runs=pd.DataFrame(self.runs), curves=pd.concat(self.curves, ignore_index=True),
                             layer_densities=np.stack(self.layer_dens), config=config, net0=self.net0,
                             rewind_net=self.rewind_net,
                             masks={c: tuple(v) for c, v in self.all_masks.items()},
                             trained={c: tuple(v) for c, v in self.all_trained.items()})


def run_lottery(data, *, hidden: Sequence[int] = (300, 100), n_seeds: int, seed: int = 0, rounds: int,
                fraction: float, output_fraction: float, rewind_step: int = 0, n_rewind_seeds: int | None = None,
                optimizer, n_steps: int, eval_every: int, conditions: Sequence[str] = CONDITIONS,
                dtype=torch.float32, progress: Callable | None = None,
                seeds: tuple[int, int] | None = None) -> LotteryResult:
    """Run the experiment on ``data`` (an :class:`overparam.data.Dataset` with a validation split).

    The network is ``(n_features, *hidden, n_classes)``, relu, biases, PyTorch's default initialisation,
    cross-entropy loss. ``n_rewind_seeds`` (default ``n_seeds``) seeds run the rewinding chain; it is
    skipped when ``"rewind"`` is not in ``conditions``. ``progress(round, seconds)`` is called after each
    round. See the module docstring for the conditions and the early-stopping rule.

    ``seeds=(a, b)``: only seeds ``a .. b-1`` of the ``n_seeds`` (each seed's draws, batch order and
    training are those of the full run; the rewind chain runs on those below ``n_rewind_seeds``);
    :func:`overparam.sweeps.lottery_sweep` runs blocks of seeds, on a Dask cluster if asked, and
    joins them (:func:`join_results`) into the full run's result.
    """
    a = _check_lottery(data, hidden, n_seeds, seed, rounds, fraction, output_fraction, rewind_step,
                       n_rewind_seeds, optimizer, n_steps, eval_every, conditions, dtype, seeds)
    run = _Lottery(data, optimizer, a)
    for r in range(a["rounds"] + 1):
        t0 = time.perf_counter()
        run.dense_round() if r == 0 else run.pruning_round(r)
        if progress is not None:
            progress(r, time.perf_counter() - t0)
    return run.result()


def join_results(parts: Sequence[LotteryResult]) -> LotteryResult:
    """The :class:`LotteryResult` of the full run from the results of consecutive seed blocks
    (``run_lottery(..., seeds=(a, b))``, in seed order): rows in the full run's order (round, then
    condition as trained, then seed), networks and masks concatenated along the seed axis."""
    parts = list(parts)
    if not parts or not all(isinstance(p, LotteryResult) for p in parts):
        raise ValueError("parts must be a non-empty list of LotteryResult (seed blocks in order)")
    if any(p.config != parts[0].config for p in parts):
        raise ValueError("parts must come from one experiment (their configs differ)")
    if len(parts) == 1:
        return parts[0]
    order = {c: i for i, c in enumerate(("dense", *parts[0].config["conditions"]))}

    def rows(frames, keys):
        df = pd.concat(frames, ignore_index=True)
        df = df.assign(_c=df.condition.map(order)).sort_values(["round", "_c", *keys], kind="stable")
        return df.drop(columns="_c").reset_index(drop=True)

    def cat(items):
        items = [x for x in items if x is not None]
        return _cat_nets(items) if items else None

    masks, trained = {}, {}
    for c in parts[0].masks:
        have = [p for p in parts if c in p.masks]
        masks[c] = tuple(_cat_masks([p.masks[c][r] for p in have]) for r in range(len(have[0].masks[c])))
        trained[c] = tuple(_cat_nets([p.trained[c][r] for p in have]) for r in range(len(have[0].trained[c])))
    return LotteryResult(runs=rows([p.runs for p in parts], ["seed"]),
                         curves=rows([p.curves for p in parts], ["seed", "step"]),
                         layer_densities=parts[0].layer_densities, config=parts[0].config,
                         net0=cat([p.net0 for p in parts]), rewind_net=cat([p.rewind_net for p in parts]),
                         masks=masks, trained=trained)


def summarize(result: LotteryResult, level: float = 0.95) -> dict:
    """Per condition, lists over rounds ``1..R`` (densities from high to low): ``acc_mean``, ``acc_ci_low``,
    ``acc_ci_high`` (Student-t over seeds), ``stop_iter_mean``, ``stop_iter_censored_fraction``, ``density``;
    ``dense``: the same accuracy fields and stop fields as scalars."""
    runs = result.runs
    out = {}
    for cond in ["dense", *result.config["conditions"]]:
        rows = runs[runs.condition == cond]
        per = {"density": [], "acc_mean": [], "acc_ci_low": [], "acc_ci_high": [], "stop_iter_mean": [],
               "stop_iter_censored_fraction": [], "n_seeds": []}
        for r, g in rows.groupby("round"):
            ci = t_interval(g.test_acc.to_numpy(), level)
            per["density"].append(float(g.density.mean()))
            per["acc_mean"].append(ci.mean)
            per["acc_ci_low"].append(ci.low)
            per["acc_ci_high"].append(ci.high)
            per["stop_iter_mean"].append(float(g.stop_step.mean()))
            per["stop_iter_censored_fraction"].append(float(g.censored.mean()))
            per["n_seeds"].append(int(len(g)))
        out[cond] = {k: v[0] for k, v in per.items()} if cond == "dense" else per
    return out


def seed_differences(result: LotteryResult, a: str = "ticket", b: str = "reinit",
                     n_lowest: int = 3) -> pd.Series:
    """Per seed, accuracy of ``a`` − accuracy of ``b`` averaged over the ``n_lowest`` lowest-density
    rounds; indexed by the seeds both conditions ran (the pairing: seed ``s`` of both conditions
    shares its mask or its initialisation)."""
    runs = result.runs
    rounds = sorted(runs[runs.condition == a]["round"].unique())
    n_lowest = check_int("n_lowest", n_lowest, min=1, max=len(rounds))
    pick = rounds[-n_lowest:]
    A = runs[(runs.condition == a) & runs["round"].isin(pick)].pivot(index="seed", columns="round", values="test_acc")
    B = runs[(runs.condition == b) & runs["round"].isin(pick)].pivot(index="seed", columns="round", values="test_acc")
    common = A.index.intersection(B.index)
    return (A.loc[common] - B.loc[common]).mean(axis=1)


def paired_difference(result: LotteryResult, a: str = "ticket", b: str = "reinit", n_lowest: int = 3,
                      level: float = 0.95) -> MeanCI:
    """Mean over seeds of :func:`seed_differences` with a Student-t interval over seeds."""
    diff = seed_differences(result, a, b, n_lowest)
    if len(diff) < 2:
        raise ValueError(f"conditions {a!r} and {b!r} share fewer than two seeds; no interval")
    return t_interval(diff.to_numpy(), level)
