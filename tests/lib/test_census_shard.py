"""The Safran–Shamir census sharded over a loopback Dask cluster equals the single-process census."""
import numpy as np
import pytest
import torch

from overparam import census_runs, shard


@pytest.fixture(autouse=True)
def _no_outer_scheduler(monkeypatch):
    monkeypatch.delenv(shard.ADDRESS_ENV, raising=False)


def _same(a, b) -> bool:
    if len(a.points) != len(b.points):
        return False
    for p, q in zip(a.points, b.points):
        if (p.family, p.k, p.n, p.verdict) != (q.family, q.k, q.n, q.verdict):
            return False
        for f in ("loss", "grad_norm", "lambda_min", "newton_step", "minimum", "minima_loss", "minima_hits"):
            if not np.array_equal(getattr(p, f), getattr(q, f), equal_nan=True):
                return False
        if not torch.equal(p.minima_theta, q.minima_theta):
            return False
    return True


def test_sharded_census_is_bit_identical_and_the_thread_count_does_not_matter():
    kw = dict(extra=(0,), n_steps=4000)       # measured: 2 and 1 certified bad minima among 32 runs
    single = census_runs.safran_shamir_census([7, 8], 32, 0, **kw)
    assert [(p.k, p.n) for p in single.points] == [(7, 7), (8, 8)]
    assert all("strict_min" in p.verdict for p in single.points), "bad minima: finisher and dedup compared"
    sharded = census_runs.safran_shamir_census([7, 8], 32, 0, workers=2, **kw)
    assert _same(single, sharded)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        two_threads = census_runs.safran_shamir_census([7, 8], 32, 0, **kw)
    finally:
        torch.set_num_threads(before)
    assert _same(single, two_threads) and torch.get_num_threads() == before


def test_workers_is_checked():
    with pytest.raises(ValueError, match=r"^workers\b"):
        census_runs.safran_shamir_census([4], 2, 0, workers=0)
