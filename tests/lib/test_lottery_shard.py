"""The lottery experiment in seed blocks (``run_lottery(seeds=...)``, ``sweeps.lottery_sweep``) equals the
full run: every row, curve, mask and network, bit for bit, in-process and on a loopback Dask cluster."""
import pandas as pd
import pytest
import torch

from overparam import lottery, mlp, prune, shard, sweeps
from test_lottery import KW, toy_data

KW32 = dict(KW, n_seeds=4, n_rewind_seeds=3, dtype=torch.float32)   # the chapter's dtype; seeds 0-2 rewind


@pytest.fixture(autouse=True)
def _no_outer_scheduler(monkeypatch):
    monkeypatch.delenv(shard.ADDRESS_ENV, raising=False)


@pytest.fixture(scope="module")
def full():
    return lottery.run_lottery(toy_data(), **KW32)


def _assert_same(a: lottery.LotteryResult, b: lottery.LotteryResult):
    pd.testing.assert_frame_equal(a.runs, b.runs, check_exact=True)
    pd.testing.assert_frame_equal(a.curves, b.curves, check_exact=True)
    assert a.config == b.config and (a.layer_densities == b.layer_densities).all()
    for x, y in ((a.net0, b.net0), (a.rewind_net, b.rewind_net)):
        assert all(torch.equal(p, q) for p, q in zip(x.weights + x.biases, y.weights + y.biases))
    assert a.masks.keys() == b.masks.keys() == a.trained.keys() == b.trained.keys()
    for c in a.masks:
        assert len(a.masks[c]) == len(b.masks[c])
        for ma, mb, ta, tb in zip(a.masks[c], b.masks[c], a.trained[c], b.trained[c]):
            assert all(torch.equal(p, q) for p, q in zip(ma, mb))
            assert all(torch.equal(p, q) for p, q in zip(ta.weights + ta.biases, tb.weights + tb.biases))


def test_draws_of_a_block_are_the_full_draws():
    net = mlp.init_mlp((5, 4, 3), 6, 7)
    part = mlp.init_mlp((5, 4, 3), 2, 7, first_seed=3)
    assert all(torch.equal(w[3:5], p) for w, p in zip(net.weights + net.biases, part.weights + part.biases))
    masks = prune.dense_masks(net)
    masks = prune.magnitude_prune(net, 0.5, masks=masks)
    full_rm = prune.random_masks(masks, 2)
    part_rm = prune.random_masks(tuple(m[3:5] for m in masks), 2, first_seed=3)
    assert all(torch.equal(f[3:5], p) for f, p in zip(full_rm, part_rm))
    full_re = prune.reinit(net, masks, 2)
    part_re = prune.reinit(mlp.select(net, slice(3, 5)), tuple(m[3:5] for m in masks), 2, first_seed=3)
    assert all(torch.equal(f[3:5], p) for f, p in zip(full_re.weights, part_re.weights))
    with pytest.raises(ValueError, match=r"^first_seed\b"):
        mlp.init_mlp((5, 4, 3), 2, 7, first_seed=-1)


def test_blocks_joined_equal_the_full_run(full):
    # blocks [0, 1), [1, 2), [2, 3), [3, 4): the last one has no seed of the rewind chain
    _assert_same(full, sweeps.lottery_sweep(toy_data(), block=1, **KW32))
    _assert_same(full, sweeps.lottery_sweep(toy_data(), block=3, **KW32))
    _assert_same(full, sweeps.lottery_sweep(toy_data(), **KW32))      # one block: the plain call
    assert sorted(full.runs.seed.unique()) == [0, 1, 2, 3]


def test_blocks_on_a_two_worker_cluster_equal_the_full_run(full):
    _assert_same(full, sweeps.lottery_sweep(toy_data(), block=2, workers=2, **KW32))


def test_bad_input_is_named():
    with pytest.raises(ValueError, match=r"^seeds\[1\]"):
        lottery.run_lottery(toy_data(), seeds=(0, 9), **KW32)
    with pytest.raises(ValueError, match=r"^seeds and progress are set by lottery_sweep"):
        sweeps.lottery_sweep(toy_data(), seeds=(0, 1), **KW32)
    with pytest.raises(ValueError, match=r"^parts must come from one experiment"):
        a = lottery.run_lottery(toy_data(), seeds=(0, 1), **KW32)
        b = lottery.run_lottery(toy_data(), seeds=(1, 2), **dict(KW32, rounds=2))
        lottery.join_results([a, b])
