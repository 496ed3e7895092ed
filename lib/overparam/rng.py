"""Explicit random streams.

Every random draw in the library comes from a ``torch.Generator`` derived from ``(seed, stream)``:
the same pair always gives the same generator, different streams give independent ones, and the
global RNG is never touched. Stream names in use: ``"init/<s>"`` (student s of an MLP batch),
``"init"`` (Safran-Shamir students), ``"teacher"``, ``"data"``, ``"split"``, ``"batch"``,
``"probe"`` and ``"probe/<s>"``, ``"mask/<s>"``, ``"shuffle/<s>"``, ``"census/fingerprint"``;
``derive_seed(seed, "reinit")`` seeds the re-initialised lottery control,
``derive_seed(seed, "context")`` the fresh draw of a ticket's context (:mod:`overparam.context`) and
``derive_seed(seed, "census/smooth/<m>")`` the smooth-teacher census's students of width ``m``.
"""
from __future__ import annotations

import hashlib

import torch

from .validate import check_int

__all__ = ["derive_seed", "generator"]


def derive_seed(seed: int, stream: str) -> int:
    """A 63-bit integer seed for ``(seed, stream)`` (SHA-256, so nearby seeds are unrelated)."""
    seed = check_int("seed", seed, min=0)
    if not isinstance(stream, str) or not stream:
        raise ValueError(f"stream must be a non-empty string, got {stream!r}")
    digest = hashlib.sha256(f"overparam/{seed}/{stream}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def generator(seed: int, stream: str, device: str | torch.device = "cpu") -> torch.Generator:
    """A fresh generator for ``(seed, stream)`` on ``device``."""
    g = torch.Generator(device=device)
    g.manual_seed(derive_seed(seed, stream))
    return g
