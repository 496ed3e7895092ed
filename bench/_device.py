"""The device the benches run on: ``BENCH_DEVICE`` ("cpu", "cuda", "auto"; set by ``bench/run.py
--device`` / ``make bench DEVICE=...``), and a clock that waits for the device before it reads."""
import os
import time

import torch

from overparam.validate import resolve_device

DEVICE = resolve_device(os.environ.get("BENCH_DEVICE") or "cpu")


def clock() -> float:
    """``time.perf_counter()`` after the device has finished its queued work (CUDA runs asynchronously)."""
    if DEVICE.type == "cuda":
        torch.cuda.synchronize(DEVICE)
    return time.perf_counter()
