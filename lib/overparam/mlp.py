"""Multilayer perceptrons on batched parameters: S independent networks, the seed axis first.

A network is a frozen :class:`MLP` holding plain tensors. Layer ``l`` has weights ``(S, out_l, in_l)``
and biases ``(S, out_l)`` (or ``None``); hidden layers apply ``activation``, the output layer is linear.
The functions here are plain autograd-friendly torch code (the obviously right reference); the fast
training path with a hand-written backward lives in :mod:`overparam.train`.

Initialisations (per layer, ``fan_in = in_l``, ``fan_out = out_l``):

* ``"kaiming_uniform"`` -- exactly PyTorch's ``nn.Linear`` default: ``W ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in))``
  (``kaiming_uniform_`` with ``a = sqrt(5)``) and ``b ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in))``.
* ``"xavier_normal"`` -- Glorot normal, as ``nn.init.xavier_normal_``: ``W ~ N(0, 2 / (fan_in + fan_out))``,
  ``b = 0``.
* ``"lecun_normal"`` -- ``W ~ N(0, 1 / fan_in)``, ``b = 0`` (the usual teacher-student scaling).
* ``"normal"`` -- ``W ~ N(0, std**2)`` with the ``std`` argument, ``b = 0``.

Randomness: student ``s`` draws from ``generator(seed, f"init/{s}")`` (sub-streams of ``"init"``), layer
by layer, ``W`` then ``b``, in float64 on the CPU, then cast to ``dtype`` and moved to ``device``. So
student ``s`` is the same whatever ``n_seeds``, ``dtype`` or device.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch
from torch import Tensor

from .rng import generator
from .validate import check_choice, check_dtype, check_float, check_int, check_shape, resolve_device

__all__ = [
    "ACTIVATIONS", "INITS", "MLP", "init_mlp", "forward", "loss", "accuracy", "flatten", "unflatten",
    "select", "activate", "activation_grad", "activation_grad2", "LOSSES", "check_masks",
]

ACTIVATIONS = ("relu", "softplus", "erf", "tanh", "g", "linear")
INITS = ("kaiming_uniform", "xavier_normal", "lecun_normal", "normal")
LOSSES = ("mse", "cross_entropy")


# ----------------------------------------------------------------------------- activations
def activate(name: str, z: Tensor) -> Tensor:
    """sigma(z) for an activation name in :data:`ACTIVATIONS`. ``g(z) = sigmoid(4z) + softplus(z)``."""
    if name == "relu":
        return torch.relu(z)
    if name == "softplus":
        return torch.nn.functional.softplus(z)
    if name == "erf":
        return torch.erf(z)
    if name == "tanh":
        return torch.tanh(z)
    if name == "g":
        return torch.sigmoid(4 * z) + torch.nn.functional.softplus(z)
    if name == "linear":
        return z
    check_choice("activation", name, ACTIVATIONS)
    raise AssertionError  # unreachable


def activation_grad(name: str, z: Tensor) -> Tensor:
    """sigma'(z). For relu, 1 where z > 0 and 0 elsewhere (torch's convention at 0)."""
    if name == "relu":
        return (z > 0).to(z.dtype)
    if name == "softplus":
        return torch.sigmoid(z)
    if name == "erf":
        return (2 / math.sqrt(math.pi)) * torch.exp(-z * z)
    if name == "tanh":
        return 1 - torch.tanh(z) ** 2
    if name == "g":
        s4 = torch.sigmoid(4 * z)
        return 4 * s4 * (1 - s4) + torch.sigmoid(z)
    if name == "linear":
        return torch.ones_like(z)
    check_choice("activation", name, ACTIVATIONS)
    raise AssertionError


def activation_grad2(name: str, z: Tensor) -> Tensor:
    """sigma''(z) (0 for relu and linear, away from the kink)."""
    if name in ("relu", "linear"):
        return torch.zeros_like(z)
    if name == "softplus":
        s = torch.sigmoid(z)
        return s * (1 - s)
    if name == "erf":
        return (-4 / math.sqrt(math.pi)) * z * torch.exp(-z * z)
    if name == "tanh":
        t = torch.tanh(z)
        return -2 * t * (1 - t * t)
    if name == "g":
        s4 = torch.sigmoid(4 * z)
        s = torch.sigmoid(z)
        return 16 * s4 * (1 - s4) * (1 - 2 * s4) + s * (1 - s)
    check_choice("activation", name, ACTIVATIONS)
    raise AssertionError


# ----------------------------------------------------------------------------- the network
@dataclass(frozen=True)
class MLP:
    """S networks with the same architecture. Layer ``l``: ``weights[l]`` ``(S, out_l, in_l)``,
    ``biases[l]`` ``(S, out_l)`` or ``None``. ``activation`` applies to hidden layers only."""

    weights: tuple
    biases: tuple
    activation: str = "relu"

    def __post_init__(self):
        object.__setattr__(self, "weights", tuple(self.weights))
        object.__setattr__(self, "biases", tuple(self.biases))
        check_choice("activation", self.activation, ACTIVATIONS)
        if len(self.weights) < 1:
            raise ValueError("weights must hold at least one layer")
        if len(self.biases) != len(self.weights):
            raise ValueError(f"biases must have one entry per layer ({len(self.weights)}), got {len(self.biases)}")
        w0 = self.weights[0]
        if not torch.is_tensor(w0) or w0.dim() != 3:
            raise ValueError("weights[0] must be a tensor shaped (S, out, in)")
        check_dtype("weights dtype", w0.dtype)
        S, prev = w0.shape[0], w0.shape[2]
        for l, (w, b) in enumerate(zip(self.weights, self.biases)):
            check_shape(f"weights[{l}]", w, (S, None, prev))
            if w.dtype != w0.dtype or w.device != w0.device:
                raise ValueError(f"weights[{l}] must have dtype {w0.dtype} and device {w0.device} like weights[0]")
            if b is not None:
                check_shape(f"biases[{l}]", b, (S, w.shape[1]))
                if b.dtype != w0.dtype or b.device != w0.device:
                    raise ValueError(f"biases[{l}] must have dtype {w0.dtype} and device {w0.device}")
            prev = w.shape[1]

    @property
    def n_seeds(self) -> int:
        return self.weights[0].shape[0]

    @property
    def sizes(self) -> tuple:
        """(in, h1, ..., out)."""
        return (self.weights[0].shape[2],) + tuple(w.shape[1] for w in self.weights)

    @property
    def dtype(self) -> torch.dtype:
        return self.weights[0].dtype

    @property
    def device(self) -> torch.device:
        return self.weights[0].device

    @property
    def has_bias(self) -> bool:
        return any(b is not None for b in self.biases)

    @property
    def n_params(self) -> int:
        """Parameters per seed."""
        return sum(w[0].numel() + (0 if b is None else b[0].numel()) for w, b in zip(self.weights, self.biases))


def init_mlp(sizes: Sequence[int], n_seeds: int, seed: int, *, activation: str = "relu", bias: bool = True,
             init: str = "kaiming_uniform", std: float | None = None, dtype=torch.float64,
             device=None, first_seed: int = 0) -> MLP:
    """``n_seeds`` independent networks with layer sizes ``sizes = (in, h1, ..., out)``.

    ``std`` is used (and required) only with ``init="normal"``. See the module docstring for the exact
    distributions and random streams. ``first_seed``: network ``s`` is the one a call with more seeds
    would make at position ``first_seed + s`` (stream ``init/<first_seed + s>``), so seeds ``a .. b-1``
    of a large draw are ``init_mlp(..., n_seeds=b - a, first_seed=a)``.
    """
    if isinstance(sizes, (str, bytes)) or not hasattr(sizes, "__len__") or len(sizes) < 2:
        raise ValueError(f"sizes must be a sequence (in, h1, ..., out) of at least two integers, got {sizes!r}")
    sizes = tuple(check_int(f"sizes[{i}]", s, min=1) for i, s in enumerate(sizes))
    n_seeds = check_int("n_seeds", n_seeds, min=1)
    seed = check_int("seed", seed, min=0)
    first_seed = check_int("first_seed", first_seed, min=0)
    check_choice("activation", activation, ACTIVATIONS)
    check_choice("init", init, INITS)
    if not isinstance(bias, bool):
        raise ValueError(f"bias must be True or False, got {bias!r}")
    if init == "normal":
        if std is None:
            raise ValueError("std must be given (a positive number) when init='normal'")
        std = check_float("std", std, min=0.0, min_inclusive=False)
    elif std is not None:
        raise ValueError(f"std is only used with init='normal'; got std={std!r} with init={init!r}")
    dtype = check_dtype("dtype", dtype)
    device = resolve_device(device)

    L = len(sizes) - 1
    Ws = [torch.empty(n_seeds, sizes[l + 1], sizes[l], dtype=torch.float64) for l in range(L)]
    bs = [torch.zeros(n_seeds, sizes[l + 1], dtype=torch.float64) for l in range(L)]
    for s in range(n_seeds):
        g = generator(seed, f"init/{first_seed + s}")
        for l in range(L):
            fan_in, fan_out = sizes[l], sizes[l + 1]
            if init == "kaiming_uniform":
                bound = 1.0 / math.sqrt(fan_in)
                Ws[l][s] = (2 * torch.rand(fan_out, fan_in, generator=g, dtype=torch.float64) - 1) * bound
                if bias:
                    bs[l][s] = (2 * torch.rand(fan_out, generator=g, dtype=torch.float64) - 1) * bound
            else:
                sd = {"xavier_normal": math.sqrt(2.0 / (fan_in + fan_out)),
                      "lecun_normal": math.sqrt(1.0 / fan_in), "normal": std}[init]
                Ws[l][s] = torch.randn(fan_out, fan_in, generator=g, dtype=torch.float64) * sd
    weights = tuple(w.to(dtype=dtype, device=device) for w in Ws)
    biases = tuple(b.to(dtype=dtype, device=device) if bias else None for b in bs)
    return MLP(weights, biases, activation)


# ----------------------------------------------------------------------------- evaluation
def _check_rows(name: str, t: Tensor, net: MLP, n: int | None, width: int) -> None:
    """``t`` shaped ``(n, width)`` (shared by all seeds) or ``(S, n, width)``; ``n`` None: any."""
    if t.dim() == 2:
        check_shape(name, t, (n, width))
    elif t.dim() == 3:
        check_shape(name, t, (net.n_seeds, n, width))
    else:
        raise ValueError(f"{name} must have shape (N, {width}) or ({net.n_seeds}, N, {width}), got {tuple(t.shape)}")


def _check_x(net: MLP, x: Tensor) -> Tensor:
    if not torch.is_tensor(x) or not x.is_floating_point():
        raise ValueError("x must be a floating-point torch.Tensor shaped (N, in) or (S, N, in)")
    _check_rows("x", x, net, None, net.sizes[0])
    return x.to(dtype=net.dtype, device=net.device)


def forward(net: MLP, x: Tensor) -> Tensor:
    """Outputs ``(S, N, out)``; ``x`` is ``(N, in)`` shared by all seeds or ``(S, N, in)``."""
    h = _check_x(net, x)
    L = len(net.weights)
    for l, (w, b) in enumerate(zip(net.weights, net.biases)):
        h = torch.matmul(h, w.transpose(1, 2))            # (S, N, out_l); (N, in) broadcasts over S
        if b is not None:
            h = h + b[:, None, :]
        if l < L - 1:
            h = activate(net.activation, h)
    return h


def _targets_mse(net: MLP, y: Tensor, N: int) -> Tensor:
    out = net.sizes[-1]
    if not torch.is_tensor(y):
        raise ValueError("y must be a torch.Tensor")
    if y.dim() == 1 and out == 1:
        y = y[:, None]
    _check_rows("y", y, net, N, out)
    return y.to(dtype=net.dtype, device=net.device)


def _labels(net: MLP, y: Tensor, N: int) -> Tensor:
    if not torch.is_tensor(y) or y.is_floating_point() or y.is_complex() or y.dtype == torch.bool:
        raise ValueError("y must be an integer tensor of class labels shaped (N,) or (S, N)")
    if y.dim() == 1:
        check_shape("y", y, (N,))
    else:
        check_shape("y", y, (net.n_seeds, N))
    C = net.sizes[-1]
    if y.numel() and (int(y.min()) < 0 or int(y.max()) >= C):
        raise ValueError(f"y labels must lie in [0, {C - 1}] (the network has {C} outputs)")
    return y.to(device=net.device, dtype=torch.long)


def loss(net: MLP, x: Tensor, y: Tensor, kind: str = "mse") -> Tensor:
    """Per-seed loss ``(S,)``.

    ``"mse"``: mean over samples of ``0.5 * sum_outputs (f - y)**2``; ``y`` is ``(N, out)``, ``(S, N, out)``,
    or ``(N,)`` for one output. ``"cross_entropy"``: mean over samples; ``y`` integer labels ``(N,)`` or
    ``(S, N)``.
    """
    check_choice("kind", kind, LOSSES)
    f = forward(net, x)
    N = f.shape[1]
    if kind == "mse":
        r = f - _targets_mse(net, y, N)
        return 0.5 * (r * r).sum(dim=2).mean(dim=1)
    lab = _labels(net, y, N).expand(net.n_seeds, N)
    lse = torch.logsumexp(f, dim=2)
    picked = torch.gather(f, 2, lab[:, :, None])[:, :, 0]
    return (lse - picked).mean(dim=1)


def accuracy(net: MLP, x: Tensor, y: Tensor) -> Tensor:
    """Fraction of samples whose argmax output equals the integer label ``y`` (``(N,)`` or ``(S, N)``);
    for a one-output network, the sign of the output against labels in {0, 1}."""
    f = forward(net, x)
    N = f.shape[1]
    if net.sizes[-1] == 1:
        if not torch.is_tensor(y) or y.is_floating_point():
            raise ValueError("y must be an integer tensor of labels in {0, 1} for a one-output network")
        pred = (f[:, :, 0] > 0).long()
        lab = y.to(device=net.device, dtype=torch.long)
        if lab.shape not in ((N,), (net.n_seeds, N)):
            raise ValueError(f"y must have shape ({N},) or ({net.n_seeds}, {N}), got {tuple(lab.shape)}")
    else:
        lab = _labels(net, y, N)
        pred = f.argmax(dim=2)
    return (pred == lab).to(net.dtype).mean(dim=1)


# ----------------------------------------------------------------------------- parameter vectors
def flatten(net: MLP) -> Tensor:
    """``(S, P)``: layer by layer, ``W`` row-major ``(out, in)``, then ``b`` (when present)."""
    parts = []
    for w, b in zip(net.weights, net.biases):
        parts.append(w.reshape(w.shape[0], -1))
        if b is not None:
            parts.append(b)
    return torch.cat(parts, dim=1)


def unflatten(theta: Tensor, like: MLP) -> MLP:
    """The inverse of :func:`flatten`: an MLP shaped like ``like`` (any number of seeds) from ``theta (S, P)``."""
    if not torch.is_tensor(theta) or theta.dim() != 2 or theta.shape[1] != like.n_params:
        shape = tuple(theta.shape) if torch.is_tensor(theta) else type(theta).__name__
        raise ValueError(f"theta must have shape (S, {like.n_params}), got {shape}")
    S, i = theta.shape[0], 0
    Ws, bs = [], []
    for w, b in zip(like.weights, like.biases):
        o, n = w.shape[1], w.shape[2]
        Ws.append(theta[:, i:i + o * n].reshape(S, o, n))
        i += o * n
        if b is None:
            bs.append(None)
        else:
            bs.append(theta[:, i:i + o])
            i += o
    return MLP(tuple(Ws), tuple(bs), like.activation)


def select(net: MLP, idx) -> MLP:
    """The seeds ``idx`` (an int, a sequence of ints, a slice, a bool mask or an index tensor)."""
    if isinstance(idx, bool):
        raise ValueError("idx must be an int, a slice, a sequence of ints, or an index/bool tensor")
    if isinstance(idx, int):
        idx = [idx]
    if isinstance(idx, slice):
        pick = lambda t: t[idx]
    else:
        t = torch.as_tensor(idx, device=net.device)
        if t.dtype == torch.bool:
            if t.shape != (net.n_seeds,):
                raise ValueError(f"idx as a bool mask must have shape ({net.n_seeds},), got {tuple(t.shape)}")
            t = t.nonzero()[:, 0]
        t = t.long().reshape(-1)
        if t.numel() and (int(t.min()) < -net.n_seeds or int(t.max()) >= net.n_seeds):
            raise ValueError(f"idx must index seeds in [0, {net.n_seeds - 1}]")
        pick = lambda x: x.index_select(0, t % net.n_seeds)
    Ws = tuple(pick(w) for w in net.weights)
    if Ws[0].shape[0] == 0:
        raise ValueError("idx selects no seeds")
    return MLP(Ws, tuple(None if b is None else pick(b) for b in net.biases), net.activation)


def check_masks(masks, net: MLP, name: str = "masks") -> tuple:
    """``masks`` as a tuple in ``net``'s dtype and device, or ``ValueError`` naming ``name``: one tensor per
    layer, each shaped like the layer's weights, holding only 0 and 1."""
    if not isinstance(masks, (tuple, list)) or len(masks) != len(net.weights):
        raise ValueError(f"{name} must be a tuple of {len(net.weights)} tensors shaped like net.weights")
    out = []
    for l, (m, w) in enumerate(zip(masks, net.weights)):
        if not torch.is_tensor(m) or m.shape != w.shape:
            shape = tuple(m.shape) if torch.is_tensor(m) else type(m).__name__
            raise ValueError(f"{name}[{l}] must have shape {tuple(w.shape)} (like net.weights[{l}]), got {shape}")
        m = m.to(dtype=w.dtype, device=w.device)
        if not bool(((m == 0) | (m == 1)).all()):
            raise ValueError(f"{name}[{l}] must hold only 0 (pruned) and 1 (kept)")
        out.append(m)
    return tuple(out)
