"""Magnitude pruning, iterative magnitude pruning (IMP) with rewinding, and the controls.

Masks are a tuple of tensors shaped like ``net.weights`` (``(S, out, in)`` per layer), 1 = kept,
0 = pruned, in the weights' dtype; biases are never pruned. Every function works per seed: seed ``s``
of the batch has its own mask, ranking and random draws.

Rounding rule. A layer (or, with ``scope="global"``, the pool of hidden layers) holding ``n`` surviving
weights loses ``round_half_up(fraction * n)`` of them, i.e. ``floor(fraction * n + 1/2)``, but never its
last weight: at most ``n - 1``. So after ``k`` rounds at rate ``p`` a layer keeps ``n_k`` weights with
``|n_k - (1-p)^k n_0| <= 1/(2p)`` (each round adds a rounding error of at most 1/2, shrunk by later
rounds), as long as the one-weight floor has not been reached.

Ranking. Surviving weights are ranked by ``|w|``; the smallest go. Ties are broken by position (the
earlier flat index ``out * in_size + in`` is kept), so results are deterministic. Every kept weight's
``|w|`` is at least that of every newly pruned one.

Scopes. ``"layer"``: each layer loses ``fraction`` of its survivors (the output layer
``output_fraction``). ``"global"``: one threshold across all hidden layers together (each seed its own),
the output layer separately at ``output_fraction``. A network with a single layer has only its output
layer.

IMP (Frankle & Carbin 2019; rewinding: Frankle et al. 2020). Round 0 trains the dense network from
``net0``; each later round prunes the previous round's trained weights (survivors only), resets the
survivors to the rewind point (the step-``k`` weights of round 0's training; ``net0`` itself for
``k = 0``; biases are reset too), and trains again under the new mask. Training is the caller's:
``train_fn(net, masks) -> (trained_net, rewind_net_or_None[, info])``.

Controls for a mask (each returns a new object; inputs are never modified):

* :func:`reinit` -- the same mask on freshly drawn initial weights (biases re-drawn too). Student ``s``
  draws from ``init_mlp``'s stream ``init/s`` under the derived seed ``derive_seed(seed, "reinit")``:
  independent of ``seed``'s own initialization, identical whatever the batch size.
* :func:`random_masks` -- per seed and layer the same number of kept weights at uniformly random
  positions; student ``s`` draws from ``generator(seed, "mask/s")``.
* :func:`shuffle_weights` -- the surviving values of each layer permuted uniformly at random among the
  surviving positions (the mask and each layer's multiset of values are kept); ``generator(seed,
  "shuffle/s")``.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch import Tensor

from .mlp import MLP, check_masks, init_mlp
from .rng import derive_seed, generator
from .validate import check_choice, check_fraction, check_int

__all__ = [
    "SCOPES", "dense_masks", "apply_masks", "densities", "overall_density", "prune_counts",
    "magnitude_prune", "rewind", "random_masks", "reinit", "shuffle_weights", "IMPResult", "imp",
]

SCOPES = ("layer", "global")


# ----------------------------------------------------------------------------- masks
def dense_masks(net: MLP) -> tuple:
    """All-ones masks shaped like ``net.weights``."""
    return tuple(torch.ones_like(w) for w in net.weights)


def apply_masks(net: MLP, masks) -> MLP:
    """A new MLP with ``weights[l] * masks[l]``; biases unchanged."""
    masks = check_masks(masks, net)
    return dataclasses.replace(net, weights=tuple(w * m for w, m in zip(net.weights, masks)))


def densities(masks) -> np.ndarray:
    """``(S, L)``: fraction of each layer's weights kept, per seed."""
    return np.stack([m.reshape(m.shape[0], -1).to(torch.float64).mean(1).cpu().numpy() for m in masks], axis=1)


def overall_density(masks) -> np.ndarray:
    """``(S,)``: fraction of all weights (biases not counted) kept, per seed."""
    kept = sum(m.reshape(m.shape[0], -1).to(torch.float64).sum(1) for m in masks)
    total = sum(m[0].numel() for m in masks)
    return (kept / total).cpu().numpy()


def prune_counts(n_alive, fraction: float) -> Tensor:
    """How many of ``n_alive`` survivors a round at ``fraction`` removes: ``floor(fraction*n + 1/2)``,
    at most ``n - 1`` (a layer keeps at least one weight), 0 when ``n = 0``."""
    fraction = check_fraction("fraction", fraction)
    n = torch.as_tensor(n_alive, dtype=torch.int64)
    k = torch.floor(fraction * n.to(torch.float64) + 0.5).to(torch.int64)
    return torch.minimum(k, (n - 1).clamp(min=0))


def _keep_top(scores: Tensor, n_keep: Tensor) -> Tensor:
    """Bool ``(S, M)``: per row the ``n_keep[s]`` largest scores (ties: the earlier index wins)."""
    S, M = scores.shape
    order = torch.argsort(scores, dim=1, descending=True, stable=True)
    ranks = torch.empty_like(order)
    ranks.scatter_(1, order, torch.arange(M, device=scores.device).expand(S, M).contiguous())
    return ranks < n_keep.to(scores.device)[:, None]


def _prune_group(ws: list, ms: list, fraction: float) -> list:
    """Magnitude-prune the survivors of the layers ``ws`` pooled together (per seed)."""
    S = ws[0].shape[0]
    sizes = [w[0].numel() for w in ws]
    for w, m in zip(ws, ms):
        if not bool(torch.isfinite(w[m > 0]).all()):
            raise ValueError("net.weights must be finite where the mask keeps them (a diverged seed?)")
    alive = torch.cat([m.reshape(S, -1) > 0 for m in ms], dim=1)
    mag = torch.cat([w.detach().reshape(S, -1).abs().to(torch.float64) for w in ws], dim=1)
    scores = torch.where(alive, mag, torch.full_like(mag, -1.0))  # pruned ones always rank last
    n_alive = alive.sum(1).cpu()
    keep = _keep_top(scores, n_alive - prune_counts(n_alive, fraction))
    out = []
    for part, w in zip(torch.split(keep, sizes, dim=1), ws):
        out.append(part.reshape(w.shape).to(w.dtype))
    return out


def magnitude_prune(net: MLP, fraction: float, *, masks=None, output_fraction: float | None = None,
                    scope: str = "layer") -> tuple:
    """New masks: the current survivors (``masks``, all ones when ``None``) minus the smallest-magnitude
    ``fraction`` of them, per seed; the output layer at ``output_fraction`` (default ``fraction``).
    See the module docstring for the rounding rule and the scopes."""
    fraction = check_fraction("fraction", fraction)
    output_fraction = fraction if output_fraction is None else check_fraction("output_fraction", output_fraction)
    check_choice("scope", scope, SCOPES)
    masks = dense_masks(net) if masks is None else check_masks(masks, net)
    ws, ms = list(net.weights), list(masks)
    hidden = range(len(ws) - 1)
    if scope == "layer":
        new = [_prune_group([ws[l]], [ms[l]], fraction)[0] for l in hidden]
    else:
        new = _prune_group(ws[:-1], ms[:-1], fraction) if len(ws) > 1 else []
    new.append(_prune_group([ws[-1]], [ms[-1]], output_fraction)[0])
    return tuple(new)


def rewind(rewind_net: MLP, masks) -> MLP:
    """The network a pruning round starts from: ``rewind_net``'s weights under ``masks``, its biases."""
    return apply_masks(rewind_net, masks)


# ----------------------------------------------------------------------------- controls
def _check_seed_and_masks(net_or_masks, seed):
    seed = check_int("seed", seed, min=0)
    if not isinstance(net_or_masks, (tuple, list)) or not all(torch.is_tensor(m) for m in net_or_masks):
        raise ValueError("masks must be a tuple of tensors shaped (S, out, in)")
    for l, m in enumerate(net_or_masks):
        if m.dim() != 3 or m.shape[0] != net_or_masks[0].shape[0]:
            raise ValueError(f"masks[{l}] must have shape (S, out, in) with the same S as masks[0], "
                             f"got {tuple(m.shape)}")
        if not bool(((m == 0) | (m == 1)).all()):
            raise ValueError(f"masks[{l}] must hold only 0 (pruned) and 1 (kept)")
    return seed


def random_masks(masks, seed: int, *, first_seed: int = 0) -> tuple:
    """Masks with, per seed and layer, as many kept weights as ``masks`` at uniformly random positions.
    Student ``s`` draws from ``generator(seed, f"mask/{first_seed + s}")``, layer by layer
    (``first_seed``: the block's place in a larger batch, as in :func:`overparam.mlp.init_mlp`)."""
    seed = _check_seed_and_masks(masks, seed)
    first_seed = check_int("first_seed", first_seed, min=0)
    S = masks[0].shape[0]
    out = [torch.empty(m.shape, dtype=torch.bool) for m in masks]
    for s in range(S):
        g = generator(seed, f"mask/{first_seed + s}")
        for l, m in enumerate(masks):
            n_keep = (m[s] > 0).sum().reshape(1).cpu()
            u = torch.rand(1, m[s].numel(), generator=g, dtype=torch.float64)
            out[l][s] = _keep_top(u, n_keep).reshape(m[s].shape)
    return tuple(o.to(dtype=m.dtype, device=m.device) for o, m in zip(out, masks))


def reinit(net: MLP, masks, seed: int, *, init: str = "kaiming_uniform", std: float | None = None,
           first_seed: int = 0) -> MLP:
    """``masks`` applied to freshly drawn initial weights shaped like ``net`` (same sizes, activation,
    bias, dtype and device; ``init``/``std``/``first_seed`` as in :func:`overparam.mlp.init_mlp`). The
    draw uses the derived seed ``derive_seed(seed, "reinit")``, a stream apart from ``seed``'s own
    initialization."""
    seed = check_int("seed", seed, min=0)
    masks = check_masks(masks, net)
    fresh = init_mlp(net.sizes, net.n_seeds, derive_seed(seed, "reinit"), activation=net.activation,
                     bias=net.has_bias, init=init, std=std, dtype=net.dtype, device=net.device,
                     first_seed=first_seed)
    return apply_masks(fresh, masks)


def shuffle_weights(net: MLP, masks, seed: int) -> MLP:
    """``net`` with each layer's surviving weights permuted at random among the surviving positions
    (pruned ones stay 0; biases unchanged). Student ``s`` draws from ``generator(seed, f"shuffle/{s}")``."""
    seed = check_int("seed", seed, min=0)
    masks = check_masks(masks, net)
    S = net.n_seeds
    new = [torch.zeros_like(w) for w in net.weights]
    for s in range(S):
        g = generator(seed, f"shuffle/{s}")
        for l, (w, m) in enumerate(zip(net.weights, masks)):
            alive = (m[s] > 0).reshape(-1).cpu()
            idx = alive.nonzero()[:, 0]
            perm = idx[torch.randperm(idx.numel(), generator=g)]
            flat = new[l][s].reshape(-1)
            flat[perm.to(w.device)] = w[s].detach().reshape(-1)[idx.to(w.device)]
    return dataclasses.replace(net, weights=tuple(new))


# ----------------------------------------------------------------------------- IMP
@dataclass(frozen=True)
class IMPResult:
    """Iterative magnitude pruning, round by round (round 0 = dense). Entry ``r`` of each tuple is round
    ``r``; ``densities[r]`` is ``(S, L)``, the fraction of each layer kept."""
    masks: tuple            # rounds + 1 mask tuples; masks[0] all ones
    densities: np.ndarray   # (rounds + 1, S, L)
    start_nets: tuple       # the (masked) network each round trained from
    trained: tuple          # each round's trained network
    rewind_net: MLP         # the rewind point (unmasked): net0 for rewind_step = 0
    infos: tuple            # each round's third value returned by train_fn (None if it returned two)
    fraction: float
    output_fraction: float
    rewind_step: int
    scope: str

    @property
    def n_rounds(self) -> int:
        """Pruning rounds (``len(masks) - 1``)."""
        return len(self.masks) - 1

    @property
    def overall_density(self) -> np.ndarray:
        """``(rounds + 1, S)``: fraction of all weights kept."""
        return np.stack([overall_density(m) for m in self.masks])


def _call_train(train_fn, net, masks, r):
    out = train_fn(net, masks)
    if not isinstance(out, tuple) or len(out) not in (2, 3):
        raise ValueError("train_fn must return (trained_net, rewind_net_or_None) or "
                         f"(trained_net, rewind_net_or_None, info); round {r} returned {type(out).__name__}")
    trained, rew = out[0], out[1]
    info = out[2] if len(out) == 3 else None
    if not isinstance(trained, MLP) or tuple(w.shape for w in trained.weights) != tuple(w.shape for w in net.weights):
        raise ValueError(f"train_fn must return a trained MLP shaped like its input (round {r})")
    return trained, rew, info


def imp(net0: MLP, train_fn: Callable, rounds: int, fraction: float, output_fraction: float | None = None,
        rewind_step: int = 0, scope: str = "layer") -> IMPResult:
    """Iterative magnitude pruning: ``rounds`` pruning rounds after the dense round 0.

    ``train_fn(net, masks)`` trains ``net`` under ``masks`` and returns ``(trained_net, rewind_net)`` or
    ``(trained_net, rewind_net, info)``; ``rewind_net`` is the network after ``rewind_step`` updates of
    that training, needed in round 0 when ``rewind_step > 0`` (ignored otherwise; ``None`` is fine).
    """
    if not isinstance(net0, MLP):
        raise ValueError(f"net0 must be an overparam.mlp.MLP, got {type(net0).__name__}")
    if not callable(train_fn):
        raise ValueError("train_fn must be callable: train_fn(net, masks) -> (trained_net, rewind_net_or_None)")
    rounds = check_int("rounds", rounds, min=0)
    fraction = check_fraction("fraction", fraction)
    output_fraction = fraction if output_fraction is None else check_fraction("output_fraction", output_fraction)
    rewind_step = check_int("rewind_step", rewind_step, min=0)
    check_choice("scope", scope, SCOPES)

    masks = dense_masks(net0)
    all_masks, starts, trained_nets, infos = [masks], [net0], [], []
    trained, rew, info = _call_train(train_fn, net0, masks, 0)
    if rewind_step == 0:
        rewind_net = net0
    else:
        if not isinstance(rew, MLP) or tuple(w.shape for w in rew.weights) != tuple(w.shape for w in net0.weights):
            raise ValueError(f"train_fn must return the step-{rewind_step} network (an MLP shaped like net0) "
                             "as its second value in round 0 when rewind_step > 0")
        rewind_net = rew
    trained_nets.append(trained)
    infos.append(info)
    for r in range(1, rounds + 1):
        masks = magnitude_prune(trained, fraction, masks=masks, output_fraction=output_fraction, scope=scope)
        start = rewind(rewind_net, masks)
        trained, _, info = _call_train(train_fn, start, masks, r)
        all_masks.append(masks)
        starts.append(start)
        trained_nets.append(trained)
        infos.append(info)
    return IMPResult(masks=tuple(all_masks), densities=np.stack([densities(m) for m in all_masks]),
                     start_nets=tuple(starts), trained=tuple(trained_nets), rewind_net=rewind_net,
                     infos=tuple(infos), fraction=fraction, output_fraction=output_fraction,
                     rewind_step=rewind_step, scope=scope)
