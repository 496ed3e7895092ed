"""Counting tickets: subnetworks, batched subnetwork training, outcome rules, tallies, predictions."""
import itertools
import math

import numpy as np
import pytest
import torch

from overparam import safran_shamir as ss
from overparam import tickets as T
from overparam import tickets_control as tc

DT = torch.float64


def ref_loss(W):
    """The population loss written pair by pair with acos (generic points only)."""
    S, n, d = W.shape
    V = torch.eye(d, dtype=DT)

    def K(u, w):
        nu, nw = u.norm(), w.norm()
        th = torch.acos(torch.clamp(u @ w / (nu * nw), -1, 1))
        return nu * nw * (torch.sin(th) + (math.pi - th) * torch.cos(th)) / (2 * math.pi)

    out = []
    for s in range(S):
        Z = list(W[s]) + list(V)
        sign = [1.0] * n + [-1.0] * d
        tot = sum(sign[i] * sign[j] * K(Z[i], Z[j]) for i in range(len(Z)) for j in range(len(Z)))
        out.append(0.5 * tot)
    return torch.stack(out)


@pytest.mark.parametrize("n,d", [(3, 3), (5, 4), (7, 7)])
def test_library_loss_matches_private_reference(n, d):
    W = torch.randn(3, n, d, generator=torch.Generator().manual_seed(n + d), dtype=DT) / math.sqrt(d)
    torch.testing.assert_close(ss.loss(W), ref_loss(W), rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------- subnetworks
@pytest.mark.parametrize("n,k", [(1, 1), (4, 2), (5, 3), (7, 5), (9, 7), (8, 8)])
def test_subnetworks_are_all_k_subsets_once(n, k):
    idx = T.subnetworks(n, k)
    assert idx.shape == (math.comb(n, k), k) and idx.dtype == torch.int64
    rows = [tuple(r) for r in idx.tolist()]
    assert len(set(rows)) == len(rows)
    assert all(list(r) == sorted(r) and len(set(r)) == k for r in rows)
    assert rows == sorted(rows)
    assert set(rows) == set(itertools.combinations(range(n), k))
    assert rows[0] == tuple(range(k))


def test_subnetworks_rejects_k_above_n():
    with pytest.raises(ValueError, match=r"^k\b"):
        T.subnetworks(3, 4)


def test_sample_subnetworks_distinct_deterministic_and_complete_when_asked_for_all():
    a = T.sample_subnetworks(12, 6, 40, seed=3)
    assert a.shape == (40, 6)
    rows = [tuple(r) for r in a.tolist()]
    assert len(set(rows)) == 40 and all(list(r) == sorted(r) for r in rows)
    assert int(a.min()) >= 0 and int(a.max()) <= 11
    assert torch.equal(a, T.sample_subnetworks(12, 6, 40, seed=3))
    assert not torch.equal(a, T.sample_subnetworks(12, 6, 40, seed=4))
    assert torch.equal(T.sample_subnetworks(5, 3, 100, seed=0), T.subnetworks(5, 3))


def test_restrict_matches_a_loop():
    W = torch.randn(3, 5, 4, dtype=DT)
    idx = T.subnetworks(5, 3)
    R = T.restrict(W, idx)
    for s in range(3):
        for c, row in enumerate(idx.tolist()):
            assert torch.equal(R[s, c], W[s, row])
    with pytest.raises(ValueError, match=r"^idx\b"):
        T.restrict(W, torch.tensor([[0, 5]]))


# --------------------------------------------------------------------------- training
def test_batched_subnetwork_training_equals_training_each_alone():
    k, S = 4, 2
    W0 = ss.init_students(k, k + 2, S, seed=1)
    idx = T.subnetworks(k + 2, k)
    batch = T.train_subnetworks(W0, idx, lr=5 / k, n_steps=1500)
    assert batch.outcome.shape == (S, idx.shape[0])
    for s in range(S):
        for c, row in list(enumerate(idx.tolist()))[::4]:
            alone = T.train_students(W0[s:s + 1, row].clone(), lr=5 / k, n_steps=1500)
            assert batch.outcome[s, c] == alone.outcome[0]
            assert batch.steps[s, c] == alone.steps[0]
            assert batch.verdict[s, c] == alone.verdict[0]
            torch.testing.assert_close(batch.W[s, c], alone.W[0], rtol=1e-10, atol=1e-12)


def test_outcome_rules_on_real_runs():
    """Wins end below 1e-6; failures are certified strict minima at loss >= 1e-3 (k = 8 has traps)."""
    W0 = ss.init_students(8, 8, 40, seed=0)
    out = T.train_students(W0, lr=5 / 8)
    assert out.wins.sum() > 0 and out.fails.sum() > 0, "k = n = 8 should give both wins and traps"
    assert np.all(out.loss[out.wins] < 1e-6)
    assert np.all(out.loss[out.fails] >= 1e-3)
    assert np.all(out.lambda_min[out.fails] > 1e-6)
    assert set(out.verdict[out.fails]) == {"strict_local_minimum"}
    assert not torch.equal(out.W, W0)


def test_global_minimum_wins_at_once_and_step_cap_is_unresolved():
    perm = torch.eye(4, dtype=DT)[[2, 0, 3, 1]].unsqueeze(0)
    out = T.train_students(perm, lr=1.0)
    assert out.outcome[0] == T.WIN and out.steps[0] == 0
    W0 = ss.init_students(6, 6, 4, seed=0)
    capped = T.train_students(W0, lr=5 / 6, n_steps=2)
    assert np.all(capped.outcome == T.UNRESOLVED)
    assert set(capped.verdict) == {"step_limit"}


# --------------------------------------------------------------------------- tallies
def test_seed_table_and_tally_count_every_case():
    W, F, U = T.WIN, T.FAIL, T.UNRESOLVED
    wide = np.array([W, W, F, F, W, U, W, F])
    sub = np.array([
        [W, F, F],   # both
        [F, F, F],   # wide wins without a ticket
        [F, W, F],   # ticket without a wide win
        [F, F, F],   # neither
        [F, U, F],   # undetermined ticket
        [W, W, W],   # undetermined wide
        [U, W, U],   # both (a win decides the ticket)
        [F, F, F],   # neither
    ])
    tab = T.seed_table(wide, sub)
    assert list(tab["winning_subnetworks"]) == [1, 0, 1, 0, 0, 3, 1, 0]
    assert list(tab["unresolved_subnetworks"]) == [0, 0, 0, 0, 1, 0, 2, 0]
    assert list(tab["ticket"]) == [True, False, True, False, None, True, True, False]
    t = T.tally(tab)
    assert t == {"seeds": 6, "undetermined": 2, "wide_wins": 3, "some_subnetwork_wins": 3, "both": 2,
                 "wide_wins_without_ticket": 1, "ticket_without_wide_win": 1, "neither": 2}


def test_seed_table_checks_shapes():
    with pytest.raises(ValueError, match=r"^wide must be \(S,\) and sub \(S, C\) with the same S\b"):
        T.seed_table(np.array([1, 0]), np.ones((3, 2)))


# --------------------------------------------------------------------------- predictions
def test_predictions_on_hand_computed_cases():
    assert T.predict_independent_tickets(0.5, 3, 2) == pytest.approx(1 - 0.5 ** 3)
    assert T.predict_independent_tickets(0.2, 6, 4) == pytest.approx(1 - 0.8 ** 15)
    assert T.predict_independent_restarts(0.5, 3, 2) == pytest.approx(1 - 0.5 ** 1.5)
    assert T.predict_independent_restarts(0.3, 8, 4) == pytest.approx(1 - 0.7 ** 2)
    for f in (T.predict_independent_tickets, T.predict_independent_restarts):
        assert f(0.37, 5, 5) == pytest.approx(0.37)       # n = k: the width-k rate itself
        assert f(0.0, 7, 3) == 0.0 and f(1.0, 7, 3) == 1.0
        np.testing.assert_allclose(f(np.array([0.1, 0.4]), 4, 2), [f(0.1, 4, 2), f(0.4, 4, 2)])
        with pytest.raises(ValueError, match=r"^p must\b"):
            f(1.2, 4, 2)
    # independent tickets grow with the subnetwork count, restarts with the neuron count
    assert T.predict_independent_tickets(0.1, 10, 8) > T.predict_independent_restarts(0.1, 10, 8)


def test_width_k_rate_is_the_mean_of_per_seed_fractions():
    W, F, U = T.WIN, T.FAIL, T.UNRESOLVED
    sub = np.array([[W, F, F, F], [W, W, F, U], [U, U, U, U], [W, W, W, W]])
    r = T.width_k_rate(sub)
    fr = [0.25, 2 / 3, 1.0]
    assert r["p"] == pytest.approx(np.mean(fr))
    assert r["seeds"] == 3 and r["runs"] == 11
    assert r["low"] < r["p"] < r["high"]


# --------------------------------------------------------------------------- inside the winner
def test_compare_winners_on_a_split_teacher_neuron():
    k = 3
    eye = torch.eye(k, dtype=DT)
    wide = torch.cat([eye, eye[:1]], 0).clone()
    wide[0] *= 0.5
    wide[3] *= 0.5                                         # teacher neuron 0 split in halves
    W_wide = wide.unsqueeze(0)
    idx = T.subnetworks(k + 1, k)                          # (0,1,2), (0,1,3), (0,2,3), (1,2,3)
    W_sub = eye.expand(1, idx.shape[0], k, k).clone()
    W_sub[0, 3] = eye[[1, 2, 0]]
    assert float(ss.loss(W_wide)[0]) < 1e-14
    df = T.compare_winners(W_wide, W_sub, idx, [(0, 0), (0, 3)])
    # restriction (0,1,2) keeps half of teacher neuron 0: loss ½·E[(½ relu(x₀))²] = 1/16
    assert df.loc[0, "restriction_loss"] == pytest.approx(1 / 16)
    assert df.loc[0, "distance"] == pytest.approx(0.5)
    assert df.loc[0, "relative_distance"] == pytest.approx(0.5 / math.sqrt(3))
    assert bool(df.loc[0, "same_assignment"])
    assert df.loc[1, "restriction_loss"] == pytest.approx(1 / 16)
    assert bool(df.loc[1, "same_assignment"])


def test_teacher_assignment():
    W = torch.tensor([[[0.1, 2.0, -3.0], [1.0, 0.2, 0.3]]], dtype=DT)
    assert T.teacher_assignment(W).tolist() == [[1, 0]]


# --------------------------------------------------------------------------- experiment
def test_run_experiment_is_nested_and_consistent():
    k, S = 3, 3
    ex = T.run_experiment(k, S, seed=2, n_sampled=5, n_steps=1500)
    assert sorted(ex.wide) == [3, 4, 5, 6]
    assert ex.W0.shape == (S, 6, k)
    assert ex.idx.shape == (math.comb(5, 3), 3)
    assert ex.subnetworks_of(4).shape == (S, 4) and ex.subnetworks_of(5).shape == (S, 10)
    np.testing.assert_array_equal(ex.wide[3].outcome, ex.sub.outcome[:, 0])
    again = T.train_students(ex.W0[:, :4].contiguous(), lr=5 / 4, n_steps=1500)
    np.testing.assert_array_equal(again.outcome, ex.wide[4].outcome)
    assert ex.sampled.outcome.shape == (S, 5)
    with pytest.raises(ValueError, match=r"^n must be\b"):
        ex.subnetworks_of(6)


# --------------------------------------------------------------------------- the 1-D control
def test_control_gradient_matches_autograd():
    x = tc.control_inputs(50)
    w, b = tc.control_init(3, 4, seed=0)
    L, gw, gb = tc.control_loss_grad(w, b, x)
    wr, br = w.clone().requires_grad_(), b.clone().requires_grad_()
    Lr = 0.5 * ((torch.relu(wr[..., None] * x + br[..., None]).sum(-2) - torch.relu(x)) ** 2).mean(-1)
    gwr, gbr = torch.autograd.grad(Lr.sum(), (wr, br))
    torch.testing.assert_close(L, Lr.detach())
    torch.testing.assert_close(gw, gwr)
    torch.testing.assert_close(gb, gbr)


def test_control_inputs_are_normal_quantiles():
    x = tc.control_inputs(1000)
    assert torch.all(x[1:] > x[:-1]) and abs(float(x.mean())) < 1e-12
    assert float((x * x).mean()) == pytest.approx(1.0, abs=0.01)


def test_control_rules_teacher_wins_dead_neuron_stays_dead_batch_equals_loop():
    x = tc.control_inputs(200)
    res = tc.control_gradient_descent(torch.tensor([[1.0, -1.0]], dtype=DT), torch.tensor([[0.0, -5.0]], dtype=DT),
                                     x, lr=0.25)
    assert res.stop_reason == ("loss_tol",) and int(res.steps[0]) == 0
    dead = tc.control_gradient_descent(torch.tensor([[1.0]], dtype=DT), torch.tensor([[-10.0]], dtype=DT), x, lr=0.5)
    assert dead.stop_reason == ("grad_tol",) and float(dead.w[0, 0]) == 1.0
    w, b = tc.control_init(6, 3, seed=1)
    batch = tc.control_gradient_descent(w, b, x, lr=0.5 / 3, n_steps=3000)
    for s in range(6):
        one = tc.control_gradient_descent(w[s:s + 1], b[s:s + 1], x, lr=0.5 / 3, n_steps=3000)
        assert one.stop_reason[0] == batch.stop_reason[s]
        torch.testing.assert_close(one.w[0], batch.w[s])


def test_run_experiment_max_extra_one_trains_only_the_k_plus_1_subnetworks():
    ex = T.run_experiment(3, 2, seed=0, widths=[3, 4], max_extra=1, n_steps=1500)
    assert ex.idx.shape == (4, 3) and ex.max_extra == 1 and ex.sampled is None
    assert ex.subnetworks_of(4).shape == (2, 4)
    with pytest.raises(ValueError, match=r"^n must be\b"):
        ex.subnetworks_of(5)
