"""Tickets in context: does a winning ticket still win when the rest of the network is
perturbed?

The literal lottery reading says a dense network trains well *because* it holds a
winning ticket, the other weights being passengers. Then the ticket, kept at its own
initial values, should carry the dense network whatever the other weights start at. Two
tests, each one call:

**MNIST-1D** (:func:`overparam.context_mnist1d.run_mnist1d`). The lottery chapter's network and IMP chain
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

**Teacher-student** (:func:`overparam.context_students.run_students`), on the Safran–Shamir family of
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

Modules: this one (the building blocks), :mod:`overparam.context_mnist1d` (the MNIST-1D test) and
:mod:`overparam.context_students` (the teacher-student test); their public names are also reachable
here.

Random streams: θ0 ``init_mlp(seed)`` (as the lottery chapter); the fresh draw
``init_mlp`` under the derived seed ``derive_seed(seed, "context")`` (student ``s`` from
``generator(derive_seed(seed, "context"), "init/s")``: apart from θ0 and from the
lottery's re-initialised control); batch order ``generator(seed, "batch")``;
teacher-student initial rows ``safran_shamir.init_students`` (stream ``"init"``)."""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch

from . import lottery, prune
from .mlp import MLP, accuracy, check_masks, init_mlp
from .rng import derive_seed
from .validate import check_float, check_fraction, check_int

__all__ = [
    "chain_densities",
    "pick_rounds",
    "fresh_draw",
    "context_init",
    "ticket_part_accuracy",
    "ticket_movement",
    "check_scales",
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
    masks = check_masks(masks, net0)
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
    masks = check_masks(masks, net0)
    sq = sum(
        ((m * (w - w0)).to(torch.float64) ** 2).reshape(m.shape[0], -1).sum(1)
        for w, w0, m in zip(net.weights, net0.weights, masks)
    )
    return sq.sqrt().cpu().numpy()


def _cat(nets: Sequence[MLP]) -> MLP:
    return lottery._cat_nets(nets)


def check_scales(scales: Sequence[float]) -> tuple:
    """The context scales ``s >= 0`` as a tuple of floats (at least one), or ``ValueError``."""
    scales = tuple(check_float(f"scales[{i}]", s, min=0.0) for i, s in enumerate(scales))
    if not scales:
        raise ValueError("scales must hold at least one scale s >= 0")
    return scales
