"""Data sets: teacher-student problems, MNIST-1D (generated locally), scikit-learn digits.

Random streams: inputs from ``generator(seed, "data")``, teacher weights from
``generator(teacher_seed, "teacher")``, data splits from ``generator(seed, "split")``. Nothing here
touches the global RNG (``mnist1d.make_dataset`` seeds numpy's and Python's global RNGs; their states
are saved and restored around it).
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import json
import math
import os
import random
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from .mlp import ACTIVATIONS, MLP, forward
from .rng import generator
from .validate import check_choice, check_dtype, check_fraction, check_int, resolve_device

__all__ = ["TeacherStudent", "Dataset", "teacher_student", "mnist1d", "digits", "validation_split", "to_device",
           "cache_dir"]

# Bump when the way cached arrays are produced or stored changes: old cache files are then ignored.
CACHE_VERSION = "1"


@dataclass(frozen=True)
class TeacherStudent:
    """Gaussian inputs and a two-layer teacher's outputs. ``teacher`` is an MLP with one seed,
    sizes ``(d, k, 1)``; ``y = forward(teacher, x)[0]``."""
    x: Tensor              # (N, d)
    y: Tensor              # (N, 1)
    teacher: MLP
    x_test: Tensor         # (n_test, d)
    y_test: Tensor         # (n_test, 1)

    @property
    def d(self) -> int:
        return self.x.shape[1]

    @property
    def k(self) -> int:
        return self.teacher.sizes[1]


@dataclass(frozen=True)
class Dataset:
    """A classification data set: float features ``(n, n_features)``, integer labels ``(n,)``."""
    name: str
    x_train: Tensor
    y_train: Tensor
    x_test: Tensor
    y_test: Tensor
    n_classes: int
    x_val: Tensor | None = None
    y_val: Tensor | None = None

    @property
    def n_features(self) -> int:
        return self.x_train.shape[1]


# ----------------------------------------------------------------------------- teacher-student
def teacher_student(d: int, k: int, n: int, seed: int, *, activation: str = "relu", bias: bool = False,
                    output: str = "ones", n_test: int = 0, teacher_seed: int | None = None,
                    dtype=torch.float64, device=None) -> TeacherStudent:
    """``x ~ N(0, I_d)``, ``n`` training and ``n_test`` test samples; teacher
    ``f(x) = sum_i a_i sigma(w_i . x + b_i) + c`` of width ``k``.

    Teacher weights (stream ``"teacher"`` of ``teacher_seed``, default ``seed``): ``w_i ~ N(0, I_d / d)``
    (unit-variance pre-activations); with ``bias=True``, ``b_i ~ N(0, 1)`` and ``c ~ N(0, 1)``, else 0;
    output weights ``a_i = 1`` (``output="ones"``, a committee machine) or ``a_i ~ N(0, 1/k)``
    (``output="normal"``). Inputs come from stream ``"data"`` of ``seed``: the training rows, then the test rows.
    """
    d = check_int("d", d, min=1)
    k = check_int("k", k, min=1)
    n = check_int("n", n, min=1)
    n_test = check_int("n_test", n_test, min=0)
    seed = check_int("seed", seed, min=0)
    teacher_seed = seed if teacher_seed is None else check_int("teacher_seed", teacher_seed, min=0)
    check_choice("activation", activation, ACTIVATIONS)
    check_choice("output", output, ("ones", "normal"))
    if not isinstance(bias, bool):
        raise ValueError(f"bias must be True or False, got {bias!r}")
    dtype = check_dtype("dtype", dtype)
    device = resolve_device(device)

    g = generator(teacher_seed, "teacher")
    W = torch.randn(k, d, generator=g, dtype=torch.float64) / math.sqrt(d)
    a = (torch.ones(1, k, dtype=torch.float64) if output == "ones"
         else torch.randn(1, k, generator=g, dtype=torch.float64) / math.sqrt(k))
    b = torch.randn(k, generator=g, dtype=torch.float64) if bias else None
    c = torch.randn(1, generator=g, dtype=torch.float64) if bias else None
    to = dict(dtype=dtype, device=device)
    teacher = MLP((W[None].to(**to), a[None].to(**to)),
                  (None if b is None else b[None].to(**to), None if c is None else c[None].to(**to)), activation)
    gx = generator(seed, "data")
    x = torch.randn(n, d, generator=gx, dtype=torch.float64).to(**to)
    x_test = torch.randn(n_test, d, generator=gx, dtype=torch.float64).to(**to)
    with torch.no_grad():
        y, y_test = forward(teacher, x)[0], forward(teacher, x_test)[0]
    return TeacherStudent(x, y, teacher, x_test, y_test)


# ----------------------------------------------------------------------------- cache
def cache_dir() -> Path:
    """``$OVERPARAM_CACHE`` if set, else ``~/.cache/overparam`` (outside the repository)."""
    env = os.environ.get("OVERPARAM_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "overparam"


def _cache_key(name: str, args: dict, package: str) -> str:
    blob = json.dumps({"name": name, "args": args, "package": package,
                       "package_version": importlib.metadata.version(package), "cache_version": CACHE_VERSION},
                      sort_keys=True)
    return f"{name}-{hashlib.sha256(blob.encode()).hexdigest()[:20]}"


def _write_npz_atomic(path: Path, arrays: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


# ----------------------------------------------------------------------------- real data
def _to_dataset(name, arrays, n_classes, dtype, device):
    f = lambda a: torch.as_tensor(a, dtype=dtype, device=device)
    i = lambda a: torch.as_tensor(a, dtype=torch.long, device=device)
    return Dataset(name, f(arrays["x_train"]), i(arrays["y_train"]), f(arrays["x_test"]), i(arrays["y_test"]),
                   n_classes)


def mnist1d(*, cache: str | os.PathLike | None = None, dtype=torch.float32, device=None, **overrides) -> Dataset:
    """MNIST-1D generated locally with ``mnist1d.data.make_dataset(get_dataset_args())``: 4000 training and
    1000 test sequences of length 40, 10 classes (the standard split). ``overrides`` change generation
    arguments (e.g. ``seed=1``, ``num_samples=...``). The arrays are cached as ``.npz`` under ``cache``
    (default :func:`cache_dir`), keyed by the arguments, the mnist1d version and :data:`CACHE_VERSION`.
    """
    dtype = check_dtype("dtype", dtype)
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args(as_dict=True)
    args.pop("url", None)
    for key in overrides:
        if key not in args:
            raise ValueError(f"{key} is not an mnist1d generation argument; allowed: {', '.join(sorted(args))}")
    args.update(overrides)
    path = Path(cache) if cache is not None else cache_dir()
    path = path / (_cache_key("mnist1d", args, "mnist1d") + ".npz")
    if path.exists():
        with np.load(path) as z:
            arrays = {k: z[k] for k in z.files}
    else:
        np_state, py_state = np.random.get_state(), random.getstate()
        try:
            raw = make_dataset(_ArgView(args))
        finally:
            np.random.set_state(np_state)
            random.setstate(py_state)
        arrays = {"x_train": raw["x"], "y_train": raw["y"], "x_test": raw["x_test"], "y_test": raw["y_test"]}
        _write_npz_atomic(path, arrays)
    return _to_dataset("mnist1d", arrays, 10, dtype, resolve_device(device))


class _ArgView:
    def __init__(self, d):
        self.__dict__.update(d)


def digits(seed: int = 0, *, test_fraction: float = 0.25, dtype=torch.float32, device=None) -> Dataset:
    """scikit-learn's 8x8 digits (1797 images, shipped with the package), pixels scaled to [0, 1], split
    into train and test by a permutation from ``generator(seed, "split")``."""
    seed = check_int("seed", seed, min=0)
    test_fraction = check_fraction("test_fraction", test_fraction)
    dtype = check_dtype("dtype", dtype)
    from sklearn.datasets import load_digits

    raw = load_digits()
    x, y = raw.data / 16.0, raw.target
    perm = torch.randperm(len(y), generator=generator(seed, "split")).numpy()
    n_test = int(round(test_fraction * len(y)))
    te, tr = perm[:n_test], perm[n_test:]
    return _to_dataset("digits", {"x_train": x[tr], "y_train": y[tr], "x_test": x[te], "y_test": y[te]}, 10,
                       dtype, resolve_device(device))


def to_device(data: Dataset, device) -> Dataset:
    """``data`` with every tensor on ``device`` (None: CPU; ``"auto"`` allowed); dtypes unchanged."""
    if not isinstance(data, Dataset):
        raise ValueError(f"data must be an overparam.data.Dataset, got {type(data).__name__}")
    device = resolve_device(device)
    move = lambda t: None if t is None else t.to(device)
    return replace(data, x_train=move(data.x_train), y_train=move(data.y_train), x_test=move(data.x_test),
                   y_test=move(data.y_test), x_val=move(data.x_val), y_val=move(data.y_val))


def validation_split(data: Dataset, fraction: float, seed: int) -> Dataset:
    """``data`` with a fraction of its training set moved to ``x_val``/``y_val`` (a permutation from
    ``generator(seed, "split")``); the test set is unchanged."""
    if not isinstance(data, Dataset):
        raise ValueError(f"data must be an overparam.data.Dataset, got {type(data).__name__}")
    fraction = check_fraction("fraction", fraction)
    seed = check_int("seed", seed, min=0)
    if data.x_val is not None:
        raise ValueError("data already has a validation split")
    n = data.x_train.shape[0]
    n_val = int(round(fraction * n))
    if n_val < 1 or n_val >= n:
        raise ValueError(f"fraction={fraction} of {n} training samples leaves an empty train or validation set")
    perm = torch.randperm(n, generator=generator(seed, "split")).to(data.x_train.device)
    va, tr = perm[:n_val], perm[n_val:]
    return replace(data, x_train=data.x_train[tr], y_train=data.y_train[tr],
                   x_val=data.x_train[va], y_val=data.y_train[va])
