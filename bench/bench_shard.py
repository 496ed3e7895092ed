"""One Safran–Shamir sweep single-process against the same sweep on a two-worker local Dask cluster.

The sweep (:func:`overparam.sweeps.safran_shamir_sweep`): the escape-dimensions chapter's gradient-descent
grid at its quick profile: (k, n) = (8, 8), (8, 9), (8, 10), (10, 10), (10, 11), step 5/k, 200 seeds each,
step cap 30 000, in blocks of 50 seeds: 20 tasks, 1000 runs. (k = 8, n = 8, 9 alone, 400 runs, was too
small: about 25 s single-process at load 10, less than the cluster's start-up there.)
The sharded time counts everything the driver waits for, the cluster's start-up included (two worker
processes, each importing torch on its first task); the start-up alone is printed beside it, and the
ratio without it. On two cores expect at most 2x, less when the machine is shared.
Bar: the two runs are bit-identical (every field of every result); a difference fails the bench.
"""
import os
import time

import numpy as np
import torch

from overparam import shard, sweeps

CONFIGS = [(8, 8, 5 / 8), (8, 9, 5 / 8), (8, 10, 5 / 8), (10, 10, 5 / 10), (10, 11, 5 / 10)]
SWEEP = dict(n_seeds=200, seed=0, n_steps=30_000, grad_tol=1e-9, loss_tol=1e-6, record_every=100, block=50)


def identical(a, b) -> bool:
    """Every field of two dicts of GDResult equal, bit for bit (NaN where NaN)."""
    return list(a) == list(b) and all(
        torch.equal(a[k].W, b[k].W) and torch.equal(a[k].loss, b[k].loss)
        and torch.equal(a[k].grad_norm, b[k].grad_norm) and torch.equal(a[k].steps, b[k].steps)
        and a[k].stop_reason == b[k].stop_reason
        and np.array_equal(a[k].loss_curve, b[k].loss_curve, equal_nan=True) for k in a)


def main():
    os.environ.pop(shard.ADDRESS_ENV, None)          # a local cluster, whatever the environment says
    t0 = time.perf_counter()
    single = sweeps.safran_shamir_sweep(CONFIGS, workers=1, **SWEEP)
    t_single = time.perf_counter() - t0
    t0 = time.perf_counter()
    client = shard._client(2, None)
    client.gather(client.map(__import__, ["overparam.sweeps"] * 2, pure=False))   # start-up: torch imported
    t_start = time.perf_counter() - t0
    t1 = time.perf_counter()
    sharded = sweeps.safran_shamir_sweep(CONFIGS, workers=2, **SWEEP)
    t_compute = time.perf_counter() - t1
    shard.close_clusters()
    same = identical(single, sharded)
    runs = sum(r.n_seeds for r in single.values())
    steps = sum(int(r.steps.sum()) for r in single.values())
    print(f"sharded_load_avg_1min: {os.getloadavg()[0]:.2f}")
    print(f"sharded_sweep_runs: {runs}")
    print(f"sharded_sweep_total_steps: {steps}")
    print(f"sharded_single_s: {t_single:.1f}")
    print(f"sharded_2_workers_s: {t_start + t_compute:.1f}")
    print(f"sharded_cluster_start_s: {t_start:.1f}")
    print(f"sharded_vs_single_identical: {int(same)}")
    print(f"sharded_2_workers_vs_single_speedup: {t_single / (t_start + t_compute):.2f}")
    print(f"sharded_2_workers_vs_single_speedup_after_start: {t_single / t_compute:.2f}")
    assert same, "the sharded sweep differs from the single-process sweep (bar: bit-identical)"


if __name__ == "__main__":
    main()
