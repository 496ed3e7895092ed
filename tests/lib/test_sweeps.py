"""Sharded Safran–Shamir sweeps: bit for bit the plain calls, and the same on a two-worker cluster."""

import numpy as np
import pytest
import torch

from overparam import safran_shamir as ss
from overparam import shard, sweeps, tickets
from overparam import ss_dynamics as ssd

OPTS = dict(n_steps=400, grad_tol=1e-9, loss_tol=1e-6, record_every=50)


@pytest.fixture(autouse=True)
def _no_outer_scheduler(monkeypatch):
    monkeypatch.delenv(shard.ADDRESS_ENV, raising=False)


@pytest.fixture(scope="module", autouse=True)
def _close_clusters_at_the_end():
    yield
    shard.close_clusters()


def assert_identical(a, b):
    assert torch.equal(a.W, b.W) and torch.equal(a.loss, b.loss) and torch.equal(a.grad_norm, b.grad_norm)
    assert torch.equal(a.steps, b.steps) and a.stop_reason == b.stop_reason
    assert np.array_equal(a.loss_curve, b.loss_curve, equal_nan=True) and a.record_every == b.record_every


def plain(W0, lr):
    return ssd.gradient_descent(W0, lr=lr, n_steps=OPTS["n_steps"], grad_tol=OPTS["grad_tol"],
                               loss_tol=OPTS["loss_tol"], record_every=OPTS["record_every"])


@pytest.mark.parametrize("k, n, S", [(3, 4, 9), (5, 5, 7)])
def test_a_block_of_init_students_is_the_rows_of_the_whole_batch(k, n, S):
    full = ss.init_students(k, n, S, 3)
    for a, b in shard.seed_blocks(S, 2) + [(0, S), (S - 1, S)]:
        assert torch.equal(ss.init_students(k, n, b, 3)[a:b], full[a:b])


def test_one_block_is_bit_for_bit_the_plain_call():
    k, n, S = 4, 5, 10
    res = sweeps.safran_shamir_runs(k, n, S, 1, lr=5 / k, **OPTS)
    assert_identical(res, plain(ss.init_students(k, n, S, 1), 5 / k))
    assert len(set(res.stop_reason)) > 1          # the test covers runs that stop at different steps


def test_each_block_is_bit_for_bit_the_plain_call_on_its_rows():
    k, n, S = 4, 5, 10
    res = sweeps.safran_shamir_runs(k, n, S, 1, lr=5 / k, block=4, **OPTS)
    W0 = ss.init_students(k, n, S, 1)
    for a, b in [(0, 4), (4, 8), (8, 10)]:
        part = plain(W0[a:b].clone(), 5 / k)
        assert torch.equal(res.W[a:b], part.W) and torch.equal(res.loss[a:b], part.loss)
        assert torch.equal(res.steps[a:b], part.steps) and res.stop_reason[a:b] == part.stop_reason
        assert np.array_equal(res.loss_curve[a:b], part.loss_curve, equal_nan=True)


def test_sharded_on_two_local_workers_equals_single_process():
    """The issue's bar: a sharded sweep is bit-identical to the single-process one (loopback cluster)."""
    configs = [(4, 4, 5 / 4), (4, 5, 5 / 4), (3, 5, 1.0)]
    single = sweeps.safran_shamir_sweep(configs, 9, 2, block=2, **OPTS)
    sharded = sweeps.safran_shamir_sweep(configs, 9, 2, block=2, workers=2, **OPTS)
    assert list(sharded) == [(4, 4), (4, 5), (3, 5)]
    for key in single:
        assert_identical(sharded[key], single[key])
        assert sharded[key].n_seeds == 9
    W0 = ss.init_students(4, 6, 5, 0)
    assert_identical(sweeps.gradient_descent_runs(W0, lr=1.0, block=2, workers=2, **OPTS),
                     sweeps.gradient_descent_runs(W0, lr=1.0, block=2, **OPTS))
    specs = {2: TICKET_KW, 3: dict(TICKET_KW, widths=[3, 4])}
    sharded = sweeps.ticket_sweep(specs, 3, 0, workers=2)
    for k, kw in specs.items():
        assert_same_experiment(sharded[k], tickets.run_experiment(k, 3, 0, **kw))


def test_gradient_descent_runs_one_block_is_the_plain_call():
    W0 = ss.init_students(3, 4, 6, 5) * 1.5
    before = W0.clone()
    assert_identical(sweeps.gradient_descent_runs(W0, lr=1.0, **OPTS), plain(W0, 1.0))
    assert torch.equal(W0, before)


@pytest.mark.parametrize("call, pattern", [
    (lambda: sweeps.safran_shamir_runs(0, 3, 4, 0, lr=1.0, n_steps=5), r"^k\b"),
    (lambda: sweeps.safran_shamir_runs(3, 0, 4, 0, lr=1.0, n_steps=5), r"^n\b"),
    (lambda: sweeps.safran_shamir_runs(3, 3, 0, 0, lr=1.0, n_steps=5), r"^n_seeds\b"),
    (lambda: sweeps.safran_shamir_runs(3, 3, 4, -1, lr=1.0, n_steps=5), r"^seed\b"),
    (lambda: sweeps.safran_shamir_runs(3, 3, 4, 0, lr=0.0, n_steps=5), r"^lr\b"),
    (lambda: sweeps.safran_shamir_runs(3, 3, 4, 0, lr=1.0, n_steps=-1), r"^n_steps\b"),
    (lambda: sweeps.safran_shamir_runs(3, 3, 4, 0, lr=1.0, n_steps=5, grad_tol=-1.0), r"^grad_tol\b"),
    (lambda: sweeps.safran_shamir_runs(3, 3, 4, 0, lr=1.0, n_steps=5, block=0), r"^block\b"),
    (lambda: sweeps.safran_shamir_runs(3, 3, 4, 0, lr=1.0, n_steps=5, workers=0), r"^workers\b"),
    (lambda: sweeps.safran_shamir_sweep([], 4, 0, n_steps=5), r"^configs\b"),
    (lambda: sweeps.safran_shamir_sweep([(3, 3)], 4, 0, n_steps=5), r"^configs\[0\]"),
    (lambda: sweeps.safran_shamir_sweep([(3, 0, 1.0)], 4, 0, n_steps=5), r"^configs\[0\]\.n\b"),
    (lambda: sweeps.safran_shamir_sweep([(3, 3, 1.0), (3, 3, 2.0)], 4, 0, n_steps=5), r"^configs\[1\]"),
    (lambda: sweeps.gradient_descent_runs(torch.zeros(3, 3), lr=1.0, n_steps=5), r"^W0\b"),
    (lambda: sweeps.concat_results([]), r"^results\b"),
])
def test_bad_arguments_are_named(call, pattern):
    with pytest.raises(ValueError, match=pattern):
        call()


def test_concat_refuses_results_of_different_lengths():
    W0 = ss.init_students(3, 3, 2, 0)
    a = ssd.gradient_descent(W0, lr=1.0, n_steps=10, record_every=5)
    b = ssd.gradient_descent(W0, lr=1.0, n_steps=20, record_every=5)
    with pytest.raises(ValueError, match=r"^results\b"):
        sweeps.concat_results([a, b])


# --------------------------------------------------------------------------- counting tickets
TICKET_KW = dict(widths=[2, 3], max_extra=1, n_steps=300, matched_step=True)


def assert_same_outcomes(a, b):
    assert (a is None) == (b is None)
    if a is None:
        return
    for f in ("outcome", "loss", "lambda_min", "steps"):
        assert np.array_equal(getattr(a, f), getattr(b, f), equal_nan=True), f
    assert a.verdict.tolist() == b.verdict.tolist() and torch.equal(a.W, b.W)
    assert (a.newton_step is None and b.newton_step is None) or np.array_equal(a.newton_step, b.newton_step,
                                                                                equal_nan=True)


def assert_same_experiment(a, b):
    assert a.k == b.k and torch.equal(a.W0, b.W0) and torch.equal(a.idx, b.idx) and a.lr_scale == b.lr_scale
    assert torch.equal(a.sampled_idx, b.sampled_idx) and list(a.wide) == list(b.wide)
    assert list(a.matched) == list(b.matched)
    assert_same_outcomes(a.sub, b.sub)
    assert_same_outcomes(a.sampled, b.sampled)
    for n in a.wide:
        assert_same_outcomes(a.wide[n], b.wide[n])
    for n in a.matched:
        assert_same_outcomes(a.matched[n], b.matched[n])


def test_ticket_sweep_in_one_block_is_the_plain_call():
    res = sweeps.ticket_sweep({2: TICKET_KW}, 3, 0)
    assert_same_experiment(res[2], tickets.run_experiment(2, 3, 0, **TICKET_KW))


def test_concat_experiments_stacks_the_seed_axis():
    a = tickets.run_experiment(2, 2, 0, **TICKET_KW)
    b = tickets.run_experiment(2, 1, 7, **TICKET_KW)
    ab = sweeps.concat_experiments([a, b])
    assert torch.equal(ab.W0, torch.cat([a.W0, b.W0]))
    for part, rows in ((a, slice(0, 2)), (b, slice(2, 3))):
        assert np.array_equal(ab.sub.outcome[rows], part.sub.outcome)
        assert torch.equal(ab.sub.W[rows], part.sub.W)
        for n in a.wide:
            assert np.array_equal(ab.wide[n].loss[rows], part.wide[n].loss, equal_nan=True)
        for n in a.matched:
            assert ab.matched[n].verdict[rows].tolist() == part.matched[n].verdict.tolist()
    with pytest.raises(ValueError, match=r"^parts\b"):
        sweeps.concat_experiments([a, tickets.run_experiment(3, 1, 0, **dict(TICKET_KW, widths=[3]))])


def test_ticket_sweep_seed_blocks():
    res = sweeps.ticket_sweep({2: TICKET_KW}, 3, 0, block=2)[2]
    full = tickets.run_experiment(2, 3, 0, **TICKET_KW)
    assert torch.equal(res.W0, full.W0) and res.sub.outcome.shape == full.sub.outcome.shape
    # each block is bit for bit run_experiment on those seeds
    parts = [tickets.run_experiment(2, 3, 0, seeds=ab, **TICKET_KW) for ab in [(0, 2), (2, 3)]]
    assert_same_experiment(res, sweeps.concat_experiments(parts))
    for bad in [(2, 2), (0, 4), (-1, 1), 3]:
        with pytest.raises(ValueError, match=r"^seeds\b"):
            tickets.run_experiment(2, 3, 0, seeds=bad, **TICKET_KW)


@pytest.mark.parametrize("call, pattern", [
    (lambda: sweeps.ticket_sweep({}, 3, 0), r"^specs\b"),
    (lambda: sweeps.ticket_sweep({2: 1}, 3, 0), r"^specs\b"),
    (lambda: sweeps.ticket_sweep({0: {}}, 3, 0), r"^specs key\b"),
    (lambda: sweeps.ticket_sweep({2: {}}, 0, 0), r"^n_seeds\b"),
    (lambda: sweeps.ticket_sweep({2: {}}, 3, 0, workers=0), r"^workers\b"),
    (lambda: sweeps.concat_experiments([]), r"^parts\b"),
])
def test_ticket_sweep_bad_arguments_are_named(call, pattern):
    with pytest.raises(ValueError, match=pattern):
        call()
