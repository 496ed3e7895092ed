"""The device the library tests run on: ``pytest --device cuda`` (or ``OVERPARAM_TEST_DEVICE=cuda``).

The default is the CPU. The fixture ``device`` (a ``torch.device``) is what the device tests in
``test_device.py`` run on; they compare with the same call on the CPU. Asking for CUDA where
``torch.cuda.is_available()`` is False stops the whole session at the start (never a silent CPU run).
The other test files keep running on the CPU whatever is asked for.
"""
from __future__ import annotations

import os

import pytest
import torch

ENV = "OVERPARAM_TEST_DEVICE"


def pytest_addoption(parser):
    parser.addoption("--device", action="store", default=None,
                     help=f"torch device for the device tests: cpu (default), cuda, cuda:N or auto; "
                          f"also read from ${ENV}")


def requested_device(config) -> str:
    """The option, else the environment variable, else ``"cpu"``."""
    return config.getoption("--device") or os.environ.get(ENV) or "cpu"


def resolve_test_device(name: str) -> torch.device:
    """``name`` as a torch.device; ``pytest.UsageError`` if it is malformed or CUDA is absent."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        dev = torch.device(name)
    except (RuntimeError, TypeError, ValueError) as exc:
        raise pytest.UsageError(f"--device/{ENV} must be 'cpu', 'cuda', 'cuda:N' or 'auto', got {name!r}") from exc
    if dev.type not in ("cpu", "cuda"):
        raise pytest.UsageError(f"--device/{ENV} must be 'cpu', 'cuda', 'cuda:N' or 'auto', got {name!r}")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise pytest.UsageError(f"--device/{ENV}={name!r} asked for CUDA, but torch.cuda.is_available() is "
                                    f"False here; run without it (CPU) or on a machine with a GPU")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise pytest.UsageError(f"--device/{ENV}={name!r}: only {torch.cuda.device_count()} CUDA device(s)")
        if dev.index is None:   # tensors report "cuda:N": compare like with like
            dev = torch.device("cuda", torch.cuda.current_device())
    return dev


def pytest_configure(config):
    config._overparam_device = resolve_test_device(requested_device(config))


def pytest_report_header(config):
    return f"overparam test device: {config._overparam_device}"


@pytest.fixture(scope="session")
def device(pytestconfig) -> torch.device:
    """The torch.device the device tests run on (CPU unless ``--device``/``$OVERPARAM_TEST_DEVICE``)."""
    return pytestconfig._overparam_device
