"""The damped-Newton finisher: reaches ~1e-10 from near a critical point, per seed, and stays put."""
import pytest
import torch

from overparam import safran_shamir as ss
from overparam.finisher import newton_finish
from overparam import ss_dynamics as ssd

DT = torch.float64


def quartic(A, c):
    """f(x) = ½ (x − c)ᵀA(x − c) + ¼ ‖x − c‖⁴, the same for every seed: one strict minimum at c."""
    def fn(x):
        z = x - c
        Az = z @ A
        r2 = (z * z).sum(-1)
        loss = 0.5 * (z * Az).sum(-1) + 0.25 * r2 ** 2
        grad = Az + r2.unsqueeze(-1) * z
        eye = torch.eye(x.shape[1], dtype=DT)
        hess = A + r2[:, None, None] * eye + 2 * z.unsqueeze(-1) * z.unsqueeze(-2)
        fn.batch_sizes.append(x.shape[0])
        return loss, grad, hess
    fn.batch_sizes = []
    return fn


def problem(P, seed):
    g = torch.Generator().manual_seed(seed)
    M = torch.randn(P, P, generator=g, dtype=DT)
    A = M @ M.T / P + 1e-3 * torch.eye(P, dtype=DT)   # ill-conditioned but positive definite
    return A, torch.randn(P, generator=g, dtype=DT), g


@pytest.mark.parametrize("P", [1, 4, 7])
def test_converges_from_near_a_minimum_without_wandering(P):
    A, c, g = problem(P, P)
    S = 5
    scale = torch.logspace(-6, -1, S, dtype=DT).unsqueeze(-1)
    start = c + scale * torch.randn(S, P, generator=g, dtype=DT)
    start[2] = c                                                       # one seed already there
    fn = quartic(A, c)
    res = newton_finish(start, fn)
    assert res.converged.all() and (res.grad_norm < 1e-10).all()
    assert res.iterations[2] == 0 and torch.equal(res.theta[2], start[2])
    assert (res.distance <= 2 * torch.linalg.vector_norm(start - c, dim=-1) + 1e-12).all()
    torch.testing.assert_close(res.theta, c.expand(S, P), rtol=0, atol=1e-7)
    assert (res.lambda_min > 0).all()
    assert min(fn.batch_sizes) < S - 1                                 # converged seeds left the batch
    assert res.iterations.max() <= 30


def test_batched_equals_one_seed_at_a_time():
    A, c, g = problem(5, 11)
    S = 4
    start = c + torch.logspace(-4, 0, S, dtype=DT).unsqueeze(-1) * torch.randn(S, 5, generator=g, dtype=DT)
    res = newton_finish(start, quartic(A, c))
    assert len(set(res.iterations.tolist())) > 1
    for s in range(S):
        one = newton_finish(start[s:s + 1], quartic(A, c))
        torch.testing.assert_close(one.theta[0], res.theta[s], rtol=0, atol=1e-10)
        assert one.iterations[0] == res.iterations[s] and one.converged[0] == res.converged[s]


def test_escapes_a_saddle_instead_of_converging_to_it():
    # f(x, y) = x² − y² + y⁴: saddle at 0, minima at y = ±1/√2; start next to the saddle.
    def fn(z):
        x, y = z[:, 0], z[:, 1]
        loss = x ** 2 - y ** 2 + y ** 4
        grad = torch.stack([2 * x, -2 * y + 4 * y ** 3], -1)
        hess = torch.zeros(z.shape[0], 2, 2, dtype=DT)
        hess[:, 0, 0] = 2
        hess[:, 1, 1] = -2 + 12 * y ** 2
        return loss, grad, hess

    res = newton_finish(torch.tensor([[1e-3, 1e-4]], dtype=DT), fn)
    assert res.converged.item()
    assert res.theta[0, 1].item() == pytest.approx(2 ** -0.5, abs=1e-9)
    assert res.lambda_min.item() > 1.0


def test_polishes_a_safran_shamir_minimum():
    k = 4
    W = torch.eye(k, dtype=DT)[[2, 0, 3, 1]].unsqueeze(0).repeat(3, 1, 1)
    W = W + 1e-3 * torch.randn(3, k, k, generator=torch.Generator().manual_seed(2), dtype=DT)
    res = newton_finish(W.reshape(3, -1), ss.objective(k, k))
    assert res.converged.all() and (res.loss < 1e-15).all()
    assert (res.distance < 1e-2).all()
    torch.testing.assert_close(res.theta.reshape(3, k, k).abs().sum(1), torch.ones(3, k, dtype=DT), rtol=0, atol=1e-9)


def test_step_limit_reports_not_converged():
    fn = quartic(torch.eye(2, dtype=DT), torch.zeros(2, dtype=DT))
    res = newton_finish(torch.tensor([[5.0, -3.0], [1.0, 1.0]], dtype=DT), fn, max_iter=1)
    assert not res.converged.any() and (res.iterations == 1).all()


@pytest.mark.parametrize("kwargs,name", [
    (dict(theta=torch.zeros(3)), "theta"),
    (dict(theta=torch.full((1, 2), float("inf"))), "theta"),
    (dict(fn=3), "fn"),
    (dict(grad_tol=0.0), "grad_tol"),
    (dict(max_iter=-1), "max_iter"),
    (dict(fn=lambda x: (x.sum(-1), x, x)), "fn"),
])
def test_bad_input_names_the_parameter(kwargs, name):
    args = dict(theta=torch.ones(1, 2, dtype=DT), fn=quartic(torch.eye(2, dtype=DT), torch.zeros(2, dtype=DT)))
    args.update(kwargs)
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        newton_finish(args.pop("theta"), args.pop("fn"), **args)


def test_certifies_a_spurious_minimum_that_widening_turns_into_a_saddle():
    # k = n = 7, seed 0: runs 21 and 31 of the first 40 end at a bad critical point (found by GD).
    from overparam.certify import classify

    k = 7
    W0 = ss.init_students(k, k, 40, seed=0)[[21, 31, 0]]
    gd = ssd.gradient_descent(W0, lr=5 / k)
    assert gd.stop_reason == ("grad_tol", "grad_tol", "loss_tol")
    assert (gd.loss[:2] > 1e-3).all()
    res = newton_finish(gd.W[:2].reshape(2, -1), ss.objective(k, k))
    assert (res.grad_norm < 1e-10).all() and (res.distance < 1e-6).all()
    torch.testing.assert_close(res.loss, gd.loss[:2], rtol=0, atol=1e-12)
    certs = classify(res.loss, res.grad_norm, res.lambda_min)
    assert [c.verdict for c in certs] == ["strict_local_minimum"] * 2
    W = res.theta.reshape(2, k, k)
    wide = ssd.split_student_neuron(W, 0, 0.5)
    L, g = ss.loss_and_gradient(wide)
    lam = torch.linalg.eigvalsh(ss.hessian(wide))[:, 0]
    assert [c.verdict for c in classify(L, g.reshape(2, -1).norm(dim=-1), lam)] == ["saddle"] * 2
    assert (ssd.new_neuron_direction(W).value < -1e-3).all()
