"""Closed-form Safran–Shamir loss, gradient and Hessian against slow, obviously right references."""
import math

import pytest
import torch

from overparam import safran_shamir as ss
from overparam import ss_dynamics as ssd

DT = torch.float64


def naive_loss(W):
    """The closed form written the obvious way (acos over each distinct pair), for autograd.

    NaN-prone at θ ∈ {0, π}: use only at generic points.
    """
    S, n, d = W.shape
    V = torch.eye(d, dtype=DT)

    def K(u, w):
        nu, nw = u.norm(dim=-1), w.norm(dim=-1)
        th = torch.acos((u * w).sum(-1) / (nu * nw))
        return nu * nw * (torch.sin(th) + (math.pi - th) * torch.cos(th)) / (2 * math.pi)

    total = torch.full((S,), d / 2 + d * (d - 1) / (2 * math.pi), dtype=DT)
    for i in range(n):
        total = total + (W[:, i] * W[:, i]).sum(-1) / 2
        for j in range(i + 1, n):
            total = total + 2 * K(W[:, i], W[:, j])
        for j in range(d):
            total = total - 2 * K(W[:, i], V[j].expand(S, d))
    return 0.5 * total


def fd_grad(W, h=1e-6):
    S = W.shape[0]
    flat = W.reshape(S, -1)
    G = torch.zeros_like(flat)
    for p in range(flat.shape[1]):
        E = torch.zeros_like(flat)
        E[:, p] = h
        G[:, p] = (ss.loss((flat + E).reshape(W.shape)) - ss.loss((flat - E).reshape(W.shape))) / (2 * h)
    return G.reshape(W.shape)


def fd_hess(W, h=1e-6):
    S = W.shape[0]
    flat = W.reshape(S, -1)
    P = flat.shape[1]
    H = torch.zeros(S, P, P, dtype=DT)
    for p in range(P):
        E = torch.zeros_like(flat)
        E[:, p] = h
        H[:, :, p] = (ss.gradient((flat + E).reshape(W.shape)) - ss.gradient((flat - E).reshape(W.shape))).reshape(S, -1) / (2 * h)
    return H


def random_W(S, n, d, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(S, n, d, generator=g, dtype=DT) / math.sqrt(d)


SIZES = [(1, 2), (2, 3), (3, 3), (5, 4), (4, 5)]  # (n, d), odd sizes included


@pytest.mark.parametrize("n,d", [(3, 3), (5, 4), (2, 5)])
def test_loss_equals_monte_carlo(n, d):
    W = random_W(3, n, d, seed=n * 10 + d)
    x = ss.sample_inputs(200_000, d, seed=1)
    mean, se = ss.sampled_loss(W, x)
    z = (ss.loss(W) - mean) / se
    assert z.abs().max() < 4.5, z


@pytest.mark.parametrize("n,d", SIZES)
def test_loss_and_gradient_at_random_points(n, d):
    W = random_W(3, n, d, seed=n + 7 * d)
    L, g = ss.loss_and_gradient(W)
    torch.testing.assert_close(L, naive_loss(W), rtol=0, atol=1e-12)
    Wr = W.clone().requires_grad_(True)
    (g_auto,) = torch.autograd.grad(naive_loss(Wr).sum(), Wr)
    torch.testing.assert_close(g, g_auto, rtol=0, atol=1e-10)
    torch.testing.assert_close(g, fd_grad(W), rtol=0, atol=1e-8)


@pytest.mark.parametrize("n,d", SIZES)
def test_hessian_at_random_points(n, d):
    W = random_W(2, n, d, seed=100 + n + 7 * d)
    H = ss.hessian(W)
    torch.testing.assert_close(H, H.transpose(1, 2), rtol=0, atol=0)
    torch.testing.assert_close(H, fd_hess(W), rtol=0, atol=1e-8)
    for s in range(W.shape[0]):
        Ha = torch.autograd.functional.hessian(lambda w: naive_loss(w.reshape(1, n, d)).sum(), W[s].reshape(-1))
        torch.testing.assert_close(H[s], Ha, rtol=0, atol=1e-10)


def test_loss_is_row_order_and_seed_independent():
    W = random_W(4, 5, 4, seed=3)
    perm = torch.tensor([3, 0, 4, 1, 2])
    torch.testing.assert_close(ss.loss(W[:, perm]), ss.loss(W), rtol=0, atol=1e-14)
    single = torch.cat([ss.loss(W[s:s + 1]) for s in range(4)])
    torch.testing.assert_close(ss.loss(W), single, rtol=0, atol=1e-14)


@pytest.mark.parametrize("mu", [0.5, 0.2, 0.9])
def test_split_points(mu):
    n, d = 3, 4
    W = random_W(2, n, d, seed=11)
    Ws = ssd.split_student_neuron(W, 1, mu)
    assert Ws.shape == (2, n + 1, d)
    x = ss.sample_inputs(1000, d, seed=2)
    torch.testing.assert_close(ss.student_output(Ws, x), ss.student_output(W, x), rtol=0, atol=1e-12)
    torch.testing.assert_close(ss.loss(Ws), ss.loss(W), rtol=0, atol=1e-12)
    g, gs = ss.gradient(W), ss.gradient(Ws)
    # G is 0-homogeneous in the neuron: both halves see the parent's gradient.
    torch.testing.assert_close(gs[:, 1], g[:, 1], rtol=0, atol=1e-12)
    torch.testing.assert_close(gs[:, n], g[:, 1], rtol=0, atol=1e-12)
    torch.testing.assert_close(gs, fd_grad(Ws), rtol=0, atol=1e-8)
    # K is only C² at colinear pairs: central differences are O(h) there, not O(h²).
    H = ss.hessian(Ws)
    assert torch.isfinite(H).all()
    torch.testing.assert_close(H, fd_hess(Ws, h=1e-7), rtol=0, atol=1e-5)
    # ...and the value at θ = 0 is the limit from nearby, non-colinear points.
    nudge = torch.zeros_like(Ws)
    nudge[:, n] = 1e-9 * torch.randn(2, d, generator=torch.Generator().manual_seed(5), dtype=DT)
    torch.testing.assert_close(ss.hessian(Ws + nudge), H, rtol=0, atol=1e-6)


@pytest.mark.parametrize("offset", [0.0, 1e-12, 1e-8, 1e-4])
def test_nearly_opposite_and_colinear_pairs(offset):
    d = 4
    W = random_W(2, 4, d, seed=21)
    noise = offset * torch.randn(2, d, generator=torch.Generator().manual_seed(9), dtype=DT)
    W[:, 2] = -0.7 * W[:, 0] + noise          # student opposite a student
    W[:, 3] = 1.3 * W[:, 1] + noise           # student colinear with a student
    W[:, 1, :] = 0.0
    W[:, 1, 0] = 0.8                           # student colinear with teacher e₀ ...
    W[:, 0, :] = 0.0
    W[:, 0, 2] = -0.5                          # ... and one opposite teacher e₂
    W[:, 0] += noise
    W[:, 2] = -0.7 * W[:, 0] + noise
    L, g = ss.loss_and_gradient(W)
    H = ss.hessian(W)
    for t in (L, g, H):
        assert torch.isfinite(t).all()
    torch.testing.assert_close(g, fd_grad(W), rtol=0, atol=1e-8)
    torch.testing.assert_close(H, fd_hess(W, h=1e-7), rtol=0, atol=2e-6)
    x = ss.sample_inputs(100_000, d, seed=3)
    mean, se = ss.sampled_loss(W, x)
    assert ((L - mean) / se).abs().max() < 4.5


@pytest.mark.parametrize("k", [1, 3, 4, 5])
def test_global_minimum(k):
    perm = torch.randperm(k, generator=torch.Generator().manual_seed(k))
    W = torch.eye(k, dtype=DT)[perm].unsqueeze(0)
    L, g = ss.loss_and_gradient(W)
    assert abs(L.item()) < 1e-14
    assert g.abs().max() < 1e-14
    H = ss.hessian(W)
    lam = torch.linalg.eigvalsh(H)
    assert lam.min() > 1e-3          # n = k: an isolated, strict global minimum
    torch.testing.assert_close(H, fd_hess(W, h=1e-7), rtol=0, atol=2e-6)


def test_zero_neuron_convention():
    W = random_W(2, 4, 3, seed=4)
    W[:, 2] = 0.0
    L, g = ss.loss_and_gradient(W)
    torch.testing.assert_close(L, ss.loss(W[:, [0, 1, 3]]), rtol=0, atol=1e-14)
    assert (g[:, 2] == 0).all()
    torch.testing.assert_close(g[:, [0, 1, 3]], ss.gradient(W[:, [0, 1, 3]]), rtol=0, atol=1e-14)
    H = ss.hessian(W).reshape(2, 4, 3, 4, 3)
    assert (H[:, 2] == 0).all() and (H[:, :, :, 2] == 0).all()
    keep = ss.hessian(W[:, [0, 1, 3]]).reshape(2, 3, 3, 3, 3)
    torch.testing.assert_close(H[:, [0, 1, 3]][:, :, :, [0, 1, 3]], keep, rtol=0, atol=1e-14)


def test_kernel_matches_monte_carlo_and_limits():
    x = ss.sample_inputs(200_000, 3, seed=6)
    u = torch.tensor([[1.0, 0.5, -0.2], [0.3, 0.0, 1.0], [1.0, 0.0, 0.0]], dtype=DT)
    w = torch.tensor([[0.2, -1.0, 0.4], [0.6, 0.0, 2.0], [-2.0, 0.0, 0.0]], dtype=DT)
    prod = torch.relu(x @ u.T) * torch.relu(x @ w.T)
    z = (ss.kernel(u, w) - prod.mean(0))[:2] / (prod.std(0)[:2] / math.sqrt(x.shape[0]))
    assert z.abs().max() < 4.5
    assert ss.kernel(u[1], w[1]).item() == pytest.approx((u[1].norm() * w[1].norm() / 2).item(), abs=1e-15)  # θ = 0
    assert abs(ss.kernel(u[2], w[2]).item()) < 1e-15                                                      # θ = π


def test_init_students():
    W = ss.init_students(6, 7, 50, seed=0)
    assert W.shape == (50, 7, 6) and W.dtype == DT
    assert abs(W.var().item() * 6 - 1) < 0.1
    assert torch.equal(W, ss.init_students(6, 7, 50, seed=0))
    assert torch.equal(W[:20], ss.init_students(6, 7, 20, seed=0))
    assert not torch.equal(W, ss.init_students(6, 7, 50, seed=1))


def test_batched_gradient_descent_equals_loop():
    k, n = 5, 5
    W0 = ss.init_students(k, n, 6, seed=3)
    res = ssd.gradient_descent(W0, lr=5 / k, n_steps=400, record_every=10)
    assert torch.equal(W0, ss.init_students(k, n, 6, seed=3))  # input untouched
    assert len(set(res.steps.tolist())) > 1                      # runs left the batch at different steps
    for s in range(6):
        one = ssd.gradient_descent(W0[s:s + 1], lr=5 / k, n_steps=400, record_every=10)
        torch.testing.assert_close(one.W[0], res.W[s], rtol=0, atol=1e-10)
        torch.testing.assert_close(one.loss[0], res.loss[s], rtol=0, atol=1e-10)
        assert one.steps[0] == res.steps[s] and one.stop_reason[0] == res.stop_reason[s]
        torch.testing.assert_close(torch.as_tensor(one.loss_curve[0]), torch.as_tensor(res.loss_curve[s]),
                                   rtol=0, atol=1e-10, equal_nan=True)


def test_gradient_descent_stop_rules():
    k = 4
    W = torch.cat([torch.eye(k, dtype=DT)[None], ss.init_students(k, k, 2, seed=0)])
    threads = torch.get_num_threads()
    res = ssd.gradient_descent(W, lr=5 / k, n_steps=3, record_every=1, num_threads=1)
    assert torch.get_num_threads() == threads
    assert res.stop_reason == ("loss_tol", "step_limit", "step_limit")
    assert res.steps.tolist() == [0, 3, 3]
    L, g = ss.loss_and_gradient(res.W)
    torch.testing.assert_close(L, res.loss, rtol=0, atol=0)
    # the final W is W0 after exactly `steps` steps
    manual = W[1:2].clone()
    for _ in range(3):
        manual = manual - 5 / k * ss.gradient(manual)
    torch.testing.assert_close(res.W[1:2], manual, rtol=0, atol=1e-14)
    assert res.loss_curve.shape == (3, 4) and torch.isnan(torch.as_tensor(res.loss_curve[0, 1:])).all()
    # a critical point stops on the gradient rule; an absurd step diverges without harming the others
    Wc = torch.full((1, 2, 2), 0.0, dtype=DT)
    Wc[0, 0] = torch.tensor([1.0, 1.0], dtype=DT)  # one neuron on the diagonal, one dead
    crit = ssd.gradient_descent(Wc, lr=0.5, n_steps=20_000, grad_tol=1e-9)
    assert crit.stop_reason == ("grad_tol",) and crit.grad_norm[0] < 1e-9 and crit.loss[0] > 1e-3
    div = ssd.gradient_descent(W, lr=1e200, n_steps=50)
    assert div.stop_reason[0] == "loss_tol" and "diverged" in div.stop_reason


def test_new_neuron_direction_known_case():
    # Student = teacher minus neuron e₁: f − y = −relu(x₁), so δ(u) = −K(u, e₁), minimal at u = e₁, value −1/2.
    d = 4
    W = torch.eye(d, dtype=DT)[[0, 2, 3]].unsqueeze(0)
    res = ssd.new_neuron_direction(W, n_starts=16)
    assert res.value.item() == pytest.approx(-0.5, abs=1e-10)
    torch.testing.assert_close(res.u[0], torch.eye(d, dtype=DT)[1], rtol=0, atol=1e-6)
    # at the global minimum the slope is zero in every direction
    assert abs(ssd.new_neuron_direction(torch.eye(d, dtype=DT)[None]).value.item()) < 1e-14


def test_new_neuron_direction_is_the_one_sided_slope():
    W = random_W(2, 3, 4, seed=8)
    res = ssd.new_neuron_direction(W, n_starts=24)
    # no better direction among many random ones
    u = torch.randn(2, 2000, 4, generator=torch.Generator().manual_seed(1), dtype=DT)
    assert (ssd.neuron_slope(W, u).min(1).values >= res.value - 1e-10).all()
    # (L(W ⊕ t·u) − L(W)) / t → δ(u) as t → 0; exactly δ t + t²/4
    for t in (1e-3, 1e-5):
        slope = (ss.loss(ssd.add_zero_neuron(W, res.u, t)) - ss.loss(W)) / t
        torch.testing.assert_close(slope, res.value + t / 4, rtol=0, atol=1e-9)
    # and a Monte-Carlo estimate of E[(f − y) relu(uᵀx)] agrees
    x = ss.sample_inputs(200_000, 4, seed=4)
    prod = (ss.student_output(W, x) - ss.teacher_output(x)) * torch.relu(torch.einsum("sd,Nd->sN", res.u, x))
    z = (prod.mean(1) - res.value) / (prod.std(1) / math.sqrt(x.shape[0]))
    assert z.abs().max() < 4.5


def test_add_zero_neuron_keeps_loss():
    W = random_W(2, 3, 4, seed=2)
    torch.testing.assert_close(ss.loss(ssd.add_zero_neuron(W)), ss.loss(W), rtol=0, atol=1e-14)


def _hard_points(n, d, seed):
    """Random students, plus the points where the fast path takes other branches: colinear and opposite
    students, a zero neuron, students on (and a hair off) teacher directions, and a split point."""
    W = random_W(4, n, d, seed)
    pts = [W]
    if n >= 2:
        P = W.clone()
        P[0, 1] = 0.3 * P[0, 0]                          # colinear students
        P[1, 1] = -0.7 * P[1, 0] + 1e-9                  # nearly opposite
        P[2, 0] = 0.0                                    # a zero neuron
        P[3, 1] = 1.3 * P[3, 0] * (1 + 1e-7)             # colinear to within round-off
        pts.append(P)
        pts.append(ssd.split_student_neuron(W, 1, 0.3))
    T = W.clone()
    m = min(n, d)
    T[:, :m] = torch.eye(d, dtype=DT)[:m]                # on teacher directions ...
    T[1, :m] += 1e-8 * torch.randn(m, d, generator=torch.Generator().manual_seed(seed), dtype=DT)  # ... and just off
    T[2, 0] = -T[2, 0]                                   # opposite a teacher
    pts.append(T)
    return pts


@pytest.mark.parametrize("n,d", SIZES + [(8, 8), (9, 8), (12, 6)])
def test_fast_loss_and_gradient_equal_the_reference(n, d):
    # The fast path GD runs (teacher block without a product, self pairs set directly, loss by Euler's
    # relation) against the plain all-pairs reference, at generic and at every special point.
    for W in _hard_points(n, d, seed=100 * n + d):
        L, g = ss._loss_grad(W)
        L_ref, g_ref = ss._loss_grad_reference(W)
        scale = 1.0 + L_ref.abs().max()
        torch.testing.assert_close(L, L_ref, rtol=0, atol=1e-13 * scale)
        torch.testing.assert_close(g, g_ref, rtol=0, atol=1e-13 * scale)


@pytest.mark.parametrize("n,d", SIZES + [(6, 5)])
def test_split_hessian_equals_the_hessian_at_the_split_point(n, d):
    W = random_W(3, n, d, seed=7 * n + d)
    W[1, 0] = 0.0                                     # a zero neuron, split or not
    H = ss.hessian(W)
    for i in range(n):
        for mu in (0.05, 0.3, 0.5, 0.9):
            torch.testing.assert_close(ssd.split_hessian(W, i, mu, H), ss.hessian(ssd.split_student_neuron(W, i, mu)),
                                       rtol=0, atol=1e-12)
    torch.testing.assert_close(ssd.split_hessian(W, 0, 0.4), ssd.split_hessian(W, 0, 0.4, H), rtol=0, atol=0)


def test_neuron_curvature_gives_the_split_points_separating_eigenpairs():
    # At mu = 1/2, every eigenpair (lam, y) of D_i is an eigenpair (2 lam, (y, -y)/sqrt 2) of the split
    # point's Hessian, at any W; at other mu the Rayleigh quotient along (y, -y) is lam / (2 mu (1 - mu)).
    n, d = 4, 5
    W = random_W(2, n, d, seed=12)
    D = ssd.neuron_curvature(W)
    assert D.shape == (2, n, d, d)
    torch.testing.assert_close(D, D.transpose(-1, -2), rtol=0, atol=1e-14)
    lam, Y = torch.linalg.eigh(D)
    for i in range(n):
        for mu in (0.5, 0.2):
            Hs = ssd.split_hessian(W, i, mu)
            z = torch.zeros(2, n + 1, d, d, dtype=DT)      # one candidate vector per eigenvector of D_i
            z[:, i] = Y[:, i].transpose(1, 2)
            z[:, n] = -Y[:, i].transpose(1, 2)
            z = z.permute(0, 2, 1, 3).reshape(2, d, -1) / math.sqrt(2)
            Hz = torch.einsum("spq,svq->svp", Hs, z)
            rayleigh = (Hz * z).sum(-1)
            torch.testing.assert_close(rayleigh, lam[:, i] / (2 * mu * (1 - mu)), rtol=0, atol=1e-12)
            if mu == 0.5:
                torch.testing.assert_close(Hz, 2 * lam[:, i].unsqueeze(-1) * z, rtol=0, atol=1e-12)
    # a zero neuron has no curvature term
    W[0, 2] = 0.0
    assert (ssd.neuron_curvature(W)[0, 2] == 0).all()


@pytest.mark.parametrize("mu", [0.5, 0.2, 0.85])
def test_split_hessian_is_congruent_to_narrow_hessian_plus_scaled_curvature(mu):
    # With wide = T (narrow, y): rows j != i unchanged, a = mu w_i + y, b = (1 - mu) w_i - y,
    #   T' H_wide T = blockdiag(H_narrow, D_i / (mu (1 - mu)))   at any W;
    # so (Sylvester) the split point has as many negative eigenvalues as the narrow point and D_i together:
    # a strict minimum splits into a saddle exactly when D_i has a negative eigenvalue.
    n, d, i = 4, 3, 1
    W = random_W(2, n, d, seed=31)
    H = ss.hessian(W)
    P = n * d
    T = torch.zeros((n + 1) * d, P + d, dtype=DT)
    for j in range(n):
        for q in range(d):
            T[j * d + q, j * d + q] = mu if j == i else 1.0
    for q in range(d):
        T[n * d + q, i * d + q] = 1.0 - mu
        T[i * d + q, P + q] = 1.0
        T[n * d + q, P + q] = -1.0
    M = T.T @ ssd.split_hessian(W, i, mu, H) @ T
    D = ssd.neuron_curvature(W, H)[:, i]
    torch.testing.assert_close(M[:, :P, :P], H, rtol=0, atol=1e-12)
    torch.testing.assert_close(M[:, P:, P:], D / (mu * (1 - mu)), rtol=0, atol=1e-12)
    assert M[:, :P, P:].abs().max() < 1e-12
    neg = lambda A: (torch.linalg.eigvalsh(A) < -1e-10).sum(-1)
    assert torch.equal(neg(ssd.split_hessian(W, i, mu, H)), neg(H) + neg(D))


def test_equal_pieces_of_a_split_stay_equal_under_gradient_descent():
    # What the escape experiment relies on: at mu = 1/2 the two pieces are equal and get equal gradients, so
    # gradient descent does not separate them (up to rounding, which negative curvature would amplify only
    # slowly), however far the rest moves; a pair moved apart does separate.
    W = ss.init_students(5, 5, 3, seed=2)
    Ws = ssd.split_student_neuron(W, 1, 0.5)
    res = ssd.gradient_descent(Ws, lr=5 / 6, n_steps=500, grad_tol=0.0, loss_tol=0.0)
    assert (res.W - Ws).abs().max() > 0.1                     # the network moved ...
    torch.testing.assert_close(res.W[:, 1], res.W[:, 5], rtol=0, atol=1e-10)   # ... the pair did not separate
    lam, Y = torch.linalg.eigh(ssd.neuron_curvature(W))
    apart = Ws.clone()
    apart[:, 1] += 1e-3 * Y[:, 1, :, 0]
    apart[:, 5] -= 1e-3 * Y[:, 1, :, 0]
    res = ssd.gradient_descent(apart, lr=5 / 6, n_steps=500, grad_tol=0.0, loss_tol=0.0)
    assert (res.W[:, 1] - res.W[:, 5]).abs().max() > 1e-3


@pytest.mark.parametrize("call,name", [
    (lambda: ss.loss(torch.zeros(2, 3)), "W"),
    (lambda: ss.loss(torch.zeros(1, 2, 3, dtype=torch.float32)), "W"),
    (lambda: ss.loss(torch.full((1, 2, 3), float("nan"), dtype=DT)), "W"),
    (lambda: ss.init_students(0, 3, 5, 0), "k"),
    (lambda: ss.init_students(3, 0, 5, 0), "n"),
    (lambda: ss.init_students(3, 3, 0, 0), "n_seeds"),
    (lambda: ssd.gradient_descent(torch.ones(1, 2, 2, dtype=DT), lr=0.0), "lr"),
    (lambda: ssd.gradient_descent(torch.ones(1, 2, 2, dtype=DT), lr=0.1, n_steps=-1), "n_steps"),
    (lambda: ssd.gradient_descent(torch.ones(1, 2, 2, dtype=DT), lr=0.1, grad_tol=float("nan")), "grad_tol"),
    (lambda: ssd.split_student_neuron(torch.ones(1, 2, 2, dtype=DT), 2, 0.5), "i"),
    (lambda: ssd.split_student_neuron(torch.ones(1, 2, 2, dtype=DT), 0, 1.5), "mu"),
    (lambda: ssd.add_zero_neuron(torch.ones(1, 2, 2, dtype=DT), torch.ones(1, 3), 0.1), "u"),
    (lambda: ssd.new_neuron_direction(torch.ones(1, 2, 2, dtype=DT), n_starts=0), "n_starts"),
    (lambda: ss.sampled_loss(torch.ones(1, 2, 2, dtype=DT), torch.ones(5, 3, dtype=DT)), "x"),
    (lambda: ss.objective(0, 3), "n"),
    (lambda: ssd.split_hessian(torch.ones(1, 2, 2, dtype=DT), 0, 1.0), "mu"),
    (lambda: ssd.split_hessian(torch.ones(1, 2, 2, dtype=DT), 0, 0.0), "mu"),
    (lambda: ssd.split_hessian(torch.ones(1, 2, 2, dtype=DT), 2, 0.5), "i"),
    (lambda: ssd.split_hessian(torch.ones(1, 2, 2, dtype=DT), 0, 0.5, torch.eye(3, dtype=DT)), "H"),
    (lambda: ssd.neuron_curvature(torch.ones(1, 2, 2, dtype=DT), torch.eye(4, dtype=DT)[None, :3]), "H"),
])
def test_bad_input_names_the_parameter(call, name):
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        call()
