"""Argument checks. Every error names the parameter and says what is allowed."""
from __future__ import annotations

import math
import numbers
from typing import Iterable, Sequence

import torch

__all__ = [
    "check_int", "check_float", "check_fraction", "check_choice", "check_finite",
    "check_shape", "check_dtype", "resolve_device", "check_square_batch", "check_int_list", "check_positive",
    "check_range",
]


def check_range(name: str, value, n: int) -> tuple[int, int]:
    """A half-open index range ``(a, b)`` with ``0 <= a < b <= n`` as a tuple of ints, or ``ValueError``
    naming ``name``."""
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise ValueError(f"{name} must be a pair (a, b) of indices with 0 <= a < b <= {n}, got {value!r}")
    a = check_int(f"{name}[0]", value[0], min=0, max=n - 1)
    return a, check_int(f"{name}[1]", value[1], min=a + 1, max=n)


def check_int(name: str, value, *, min: int | None = None, max: int | None = None) -> int:
    """``value`` as an int, or ``ValueError`` naming ``name`` and the allowed range."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    value = int(value)
    if (min is not None and value < min) or (max is not None and value > max):
        lo = "-inf" if min is None else min
        hi = "inf" if max is None else max
        raise ValueError(f"{name} must be an integer in [{lo}, {hi}], got {value}")
    return value


def check_float(name: str, value, *, min: float | None = None, max: float | None = None,
                min_inclusive: bool = True, max_inclusive: bool = True) -> float:
    """``value`` as a finite float within the bounds, or ``ValueError`` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a real number, got {value!r}")
    value = float(value)
    bad = not math.isfinite(value)
    if min is not None:
        bad |= value < min if min_inclusive else value <= min
    if max is not None:
        bad |= value > max if max_inclusive else value >= max
    if bad:
        lo = "(-inf" if min is None else ("[" if min_inclusive else "(") + f"{min:g}"
        hi = "inf)" if max is None else f"{max:g}" + ("]" if max_inclusive else ")")
        raise ValueError(f"{name} must be a finite number in {lo}, {hi}, got {value!r}")
    return value


def check_int_list(name: str, values, *, min: int | None = None, allow_empty: bool = False) -> list:
    """``values`` as a list of ints ``>= min``, or ``ValueError`` naming ``name`` (empty only with
    ``allow_empty``)."""
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise ValueError(f"{name} must be a list of integers >= {min}, got {values!r}")
    values = [check_int(f"{name}[]", v, min=min) for v in values]
    if not values and not allow_empty:
        raise ValueError(f"{name} must be a non-empty list of integers >= {min}")
    return values


def check_positive(**named) -> dict:
    """Each keyword's value as a finite float ``> 0`` (a tolerance), or ``ValueError`` naming the first bad one."""
    return {name: check_float(name, v, min=0.0, min_inclusive=False) for name, v in named.items()}


def check_fraction(name: str, value) -> float:
    """A fraction in [0, 1) (a pruning rate: 1 would remove everything)."""
    return check_float(name, value, min=0.0, max=1.0, max_inclusive=False)


def check_choice(name: str, value, choices: Iterable):
    """``value`` if it is one of ``choices``, else ``ValueError`` listing them."""
    choices = tuple(choices)
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")
    return value


def check_finite(name: str, tensor: torch.Tensor) -> torch.Tensor:
    """``tensor`` if every entry is finite, else ``ValueError`` naming ``name``."""
    if not torch.is_tensor(tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(tensor).__name__}")
    if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
        n_bad = int((~torch.isfinite(tensor)).sum())
        raise ValueError(f"{name} must be finite; it has {n_bad} NaN or infinite entries")
    return tensor


def check_shape(name: str, tensor: torch.Tensor, shape: Sequence[int | None]) -> torch.Tensor:
    """``tensor`` if its shape matches ``shape`` (``None`` matches any size)."""
    if not torch.is_tensor(tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(tensor).__name__}")
    ok = tensor.dim() == len(shape) and all(s is None or s == t for s, t in zip(shape, tensor.shape))
    if not ok:
        want = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"
        raise ValueError(f"{name} must have shape {want}, got {tuple(tensor.shape)}")
    return tensor


_DTYPES = {"float32": torch.float32, "float64": torch.float64,
           torch.float32: torch.float32, torch.float64: torch.float64}


def check_dtype(name: str, dtype) -> torch.dtype:
    """``torch.float32`` or ``torch.float64`` (also accepted as the strings)."""
    if dtype not in _DTYPES:
        raise ValueError(f"{name} must be torch.float32 or torch.float64 (or 'float32'/'float64'), got {dtype!r}")
    return _DTYPES[dtype]


def resolve_device(device, name: str = "device") -> torch.device:
    """``torch.device(device)``: CPU when ``None``; ``"auto"`` is CUDA when available, else the CPU.

    Accepted: ``None``, ``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"auto"`` or a ``torch.device`` (also
    ``"meta"``, which the tests use to find tensors created on the CPU). A CUDA device that is absent
    here is a ``ValueError``, as is anything else; both name ``name``.
    """
    if device is None:
        return torch.device("cpu")
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    allowed = f"{name} must be 'cpu', 'cuda', 'cuda:N', 'auto' or a torch.device, got {device!r}"
    if not isinstance(device, (str, torch.device)):
        raise ValueError(allowed)
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError) as exc:
        raise ValueError(allowed) from exc
    if dev.type not in ("cpu", "cuda", "meta"):
        raise ValueError(allowed)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"{name}={device!r} was asked for, but CUDA is not available here; use {name}='cpu'")
    return dev


def check_square_batch(name: str, A) -> torch.Tensor:
    """A finite floating-point matrix ``(P, P)`` or batch ``(S, P, P)``, returned as ``(S, P, P)``."""
    if not torch.is_tensor(A) or not A.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor shaped (P, P) or (S, P, P)")
    if A.dim() == 2:
        A = A[None]
    if A.dim() != 3 or A.shape[1] != A.shape[2] or A.shape[1] < 1:
        raise ValueError(f"{name} must be square, shaped (P, P) or (S, P, P), got {tuple(A.shape)}")
    if not bool(torch.isfinite(A).all()):
        raise ValueError(f"{name} must be finite")
    return A
