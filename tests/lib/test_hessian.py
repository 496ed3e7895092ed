"""The analytic Hessian against torch.autograd.functional.hessian, and the spectral tools (Lanczos, SLQ,
Hutchinson) against eigvalsh and exact traces, over a sweep of sizes (odd ones included), in float64."""
import math

import pytest
import torch
from netcases import trained_g_network

from overparam import hessian as hs
from overparam import mlp
from overparam.rng import generator
from overparam import spectra

F64 = torch.float64
ACTS = ("relu", "tanh", "softplus", "g", "erf", "linear")
# (sizes, loss): depth 2, 3 and 4, one and several outputs, odd widths
CASES = [((3, 5, 1), "mse"), ((2, 7, 3), "mse"), ((3, 4, 5, 2), "mse"), ((2, 3, 5, 1), "mse"),
         ((4, 5, 3), "cross_entropy"), ((3, 4, 3, 5), "cross_entropy"), ((2, 3, 2, 3, 2), "mse")]


def _data(sizes, loss, N, seed=0, S=None):
    g = generator(seed, "data")
    lead = () if S is None else (S,)
    x = torch.randn(*lead, N, sizes[0], generator=g, dtype=F64)
    if loss == "mse":
        y = torch.randn(*lead, N, sizes[-1], generator=g, dtype=F64)
    else:
        y = torch.randint(0, sizes[-1], lead + (N,), generator=g)
    return x, y


def _reference(net, x, y, loss):
    """Per seed, torch.autograd.functional.hessian of mlp.loss: (S, P, P)."""
    out = []
    for s in range(net.n_seeds):
        one = mlp.select(net, s)
        xs = x[s] if x.dim() == 3 else x
        ys = y[s] if (loss == "mse" and y.dim() == 3) or (loss == "cross_entropy" and y.dim() == 2) else y
        f = lambda t: mlp.loss(mlp.unflatten(t[None], one), xs, ys, loss)[0]
        out.append(torch.autograd.functional.hessian(f, mlp.flatten(one)[0]))
    return torch.stack(out)


def _close(a, b, tol=1e-10):
    scale = max(1.0, float(b.abs().max()))
    return float((a - b).abs().max()) <= tol * scale


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("sizes,loss", CASES)
def test_exact_hessian_equals_autograd(act, sizes, loss):
    net = mlp.init_mlp(sizes, 2, 3, activation=act)
    N = 9 + len(sizes)                                  # odd and even sample counts
    x, y = _data(sizes, loss, N)
    r = hs.loss_grad_hessian(net, x, y, loss)
    ref = _reference(net, x, y, loss)
    assert r.hess.shape == (2, net.n_params, net.n_params)
    assert _close(r.hess, ref), float((r.hess - ref).abs().max())
    assert torch.allclose(r.loss, mlp.loss(net, x, y, loss), rtol=0, atol=1e-13)
    th = mlp.flatten(net).detach().requires_grad_(True)
    (g,) = torch.autograd.grad(mlp.loss(mlp.unflatten(th, net), x, y, loss).sum(), th)
    assert _close(r.grad, g, 1e-12)


def test_one_output_gauss_newton_with_several_row_tiles_equals_autograd():
    """One output and P > 512 parameters: the Gauss-Newton block is assembled in several row tiles."""
    sizes = (10, 30, 15, 1)
    net = mlp.init_mlp(sizes, 2, 5, activation="tanh")
    assert net.n_params > 512
    x, y = _data(sizes, "mse", 23)
    r = hs.loss_grad_hessian(net, x, y, "mse")
    ref = _reference(net, x, y, "mse")
    assert _close(r.hess, ref), float((r.hess - ref).abs().max())


@pytest.mark.parametrize("biases", [(True, False, True), (False, True, False), (False, False, False)])
def test_exact_hessian_mixed_biases_and_per_seed_data(biases):
    net = mlp.init_mlp((3, 4, 5, 2), 3, 1, activation="g")
    net = mlp.MLP(net.weights, tuple(b if keep else None for b, keep in zip(net.biases, biases)), "g")
    for loss in ("mse", "cross_entropy"):
        x, y = _data((3, 4, 5, 2), loss, 6, S=3)
        assert _close(hs.hessian(net, x, y, loss), _reference(net, x, y, loss))


def test_chunking_does_not_change_the_hessian():
    """A tiny chunk budget forces many sample chunks and row groups: same numbers to round-off."""
    net = mlp.init_mlp((3, 6, 5, 3), 2, 0, activation="tanh")
    for loss in ("mse", "cross_entropy"):
        x, y = _data((3, 6, 5, 3), loss, 23)
        H = hs.hessian(net, x, y, loss)
        H_small = hs.hessian(net, x, y, loss, chunk_elements=50)
        assert _close(H_small, H, 1e-13)
        assert torch.equal(H, H.transpose(1, 2))


def test_single_sample_and_one_seed_is_the_same_as_in_a_batch():
    net = mlp.init_mlp((2, 3, 1), 4, 5, activation="softplus")
    x, y = _data((2, 3, 1), "mse", 1)
    H = hs.hessian(net, x, y)
    assert _close(H, _reference(net, x, y, "mse"))
    assert _close(hs.hessian(mlp.select(net, 2), x, y)[0], H[2], 1e-14)


def test_gradient_and_objective():
    net = mlp.init_mlp((3, 5, 2), 2, 0, activation="tanh")
    x, y = _data((3, 5, 2), "mse", 10)
    g = hs.gradient(net, x, y)
    f = hs.objective(net, x, y)
    L, G, H = f(mlp.flatten(net))
    assert torch.equal(G, g) and torch.equal(H, hs.hessian(net, x, y))
    L1, G1, H1 = f(mlp.flatten(net)[1:])                # any number of seeds, as newton_finish needs
    assert torch.equal(L1, L[1:]) and torch.equal(H1[0], H[1])


@pytest.mark.parametrize("sizes,loss", [((3, 5, 1), "mse"), ((2, 3, 4, 3), "cross_entropy")])
def test_hvp_equals_H_times_v(sizes, loss):
    net = mlp.init_mlp(sizes, 3, 2, activation="tanh")
    x, y = _data(sizes, loss, 11)
    H = hs.hessian(net, x, y, loss)
    V = torch.randn(3, 4, net.n_params, generator=generator(1, "test"), dtype=F64)
    assert _close(spectra.hvp(net, x, y, V, loss), torch.einsum("spq,srq->srp", H, V), 1e-12)
    assert _close(spectra.hvp(net, x, y, V[:, 0], loss), torch.einsum("spq,sq->sp", H, V[:, 0]), 1e-12)


def _matrix_with_spectrum(eigs, seed):
    P = len(eigs)
    Q, _ = torch.linalg.qr(torch.randn(P, P, generator=generator(seed, "test"), dtype=F64))
    return Q @ torch.diag(torch.as_tensor(eigs, dtype=F64)) @ Q.T


@pytest.mark.parametrize("sizes,act", [((2, 3, 1), "tanh"), ((3, 5, 2), "relu"), ((2, 4, 3, 1), "g"),
                                       ((3, 7, 3), "softplus")])
def test_lanczos_full_length_gives_eigvalsh(sizes, act):
    net = mlp.init_mlp(sizes, 2, 0, activation=act)
    x, y = _data(sizes, "mse", 13)
    H = hs.hessian(net, x, y)
    exact = torch.linalg.eigvalsh(H)
    r = spectra.lanczos(H, n_iter=10_000, seed=4)            # capped at P
    assert r.n_iter == net.n_params and r.method == "lanczos" and r.seed == 4
    scale = float(exact.abs().max())
    assert float((r.eigenvalues - exact).abs().max()) <= 1e-10 * scale
    # through autograd Hessian-vector products: the same Ritz values
    r_hvp = spectra.lanczos(spectra.hvp_operator(net, x, y), n_iter=10_000, seed=4)
    assert float((r_hvp.eigenvalues - exact).abs().max()) <= 1e-10 * scale


def test_lanczos_extremes_converge_early_and_vectors_are_eigenvectors():
    eigs = torch.cat([torch.tensor([-3.0, -2.5]), torch.linspace(-1, 1, 195), torch.tensor([4.0, 5.0, 6.0])])
    A = torch.stack([_matrix_with_spectrum(eigs, 0), _matrix_with_spectrum(2 * eigs, 1)])
    r = spectra.lanczos(A, n_iter=60, seed=0, return_vectors=True)
    exact = torch.linalg.eigvalsh(A)
    assert torch.allclose(r.min_eigenvalue, exact[:, 0], atol=1e-9, rtol=0)
    assert torch.allclose(r.max_eigenvalue, exact[:, -1], atol=1e-9, rtol=0)
    v = r.vectors[:, 0]                                 # Ritz vector of the smallest Ritz value
    resid = (torch.einsum("spq,sq->sp", A, v) - r.min_eigenvalue[:, None] * v).norm(dim=1)
    assert torch.allclose(resid, r.residuals[:, 0], atol=1e-8) and float(resid.max()) < 1e-6


def test_lanczos_with_repeated_eigenvalues_restarts_after_breakdown():
    """Krylov space of dimension 3 < P: the restart still gives every eigenvalue with its multiplicity."""
    eigs = [1.0] * 5 + [-2.0] * 4 + [7.0] * 2
    A = _matrix_with_spectrum(eigs, 3)
    r = spectra.lanczos(A, n_iter=11, seed=1)
    assert torch.allclose(r.eigenvalues[0], torch.tensor(sorted(eigs), dtype=F64), atol=1e-10, rtol=0)
    one = spectra.lanczos(A, n_iter=1, seed=1)                # one step: the Rayleigh quotient of the probe
    v = spectra.rademacher_probes(1, 1, 11, 1)[0, 0] / 11 ** 0.5
    assert one.eigenvalues.shape == (1, 1) and abs(float(one.eigenvalues[0, 0] - v @ A @ v)) < 1e-12


@pytest.mark.parametrize("sizes", [(2, 3, 1), (3, 4, 3, 2), (4, 7, 1)])
def test_slq_moments(sizes):
    net = mlp.init_mlp(sizes, 2, 1, activation="tanh")
    x, y = _data(sizes, "mse", 15)
    H = hs.hessian(net, x, y)
    P, R = net.n_params, 60
    sd = spectra.slq(H, n_iter=5, n_probes=R, seed=7)
    assert sd.nodes.shape == (2, R, 5) and sd.method == "slq" and sd.seed == 7
    assert torch.allclose(sd.weights.sum(-1), torch.ones(2, R, dtype=F64), atol=1e-12)
    v = spectra.rademacher_probes(2, R, P, 7) / math.sqrt(P)
    for k in range(0, 5):
        Hk = torch.linalg.matrix_power(H, k)
        # Gauss quadrature with 5 nodes is exact per probe for degree <= 9
        per_probe = (sd.weights * sd.nodes ** k).sum(-1)
        assert _close(per_probe, torch.einsum("srp,spq,srq->sr", v, Hk, v), 1e-10)
        # and the average estimates tr(H^k) / P
        exact = torch.diagonal(Hk, dim1=1, dim2=2).sum(-1) / P
        se = per_probe.std(1) / math.sqrt(R)
        assert torch.allclose(sd.moment(k), per_probe.mean(1))
        assert bool(((sd.moment(k) - exact).abs() <= 4 * se + 1e-12 * exact.abs().clamp(min=1)).all())


def test_smoothed_density_is_a_density():
    H = _matrix_with_spectrum(torch.linspace(-1, 2, 40), 2)
    sd = spectra.slq(H, n_iter=20, n_probes=4, seed=0)
    grid = torch.linspace(-4, 5, 4001, dtype=F64)
    d = spectra.smoothed_density(sd, grid, sigma=0.1)
    assert d.density.shape == (1, 4001) and bool((d.density >= 0).all())
    assert abs(float(torch.trapezoid(d.density[0], grid)) - 1.0) < 1e-6
    # mean of the smoothed density = first moment
    assert abs(float(torch.trapezoid(grid * d.density[0], grid)) - float(sd.moment(1)[0])) < 1e-6


@pytest.mark.parametrize("sizes", [(2, 3, 1), (3, 5, 2), (2, 4, 3, 1)])
def test_hutchinson_within_three_standard_errors(sizes):
    net = mlp.init_mlp(sizes, 3, 0, activation="softplus")
    x, y = _data(sizes, "mse", 12)
    H = hs.hessian(net, x, y)
    exact = torch.diagonal(H, dim1=1, dim2=2).sum(-1)
    for seed in (0, 1):
        t = spectra.hutchinson_trace(H, n_probes=200, seed=seed)
        assert t.method == "hutchinson" and t.seed == seed and t.samples.shape == (3, 200)
        assert bool(((t.trace - exact).abs() <= 3 * t.standard_error).all()), (t.trace, exact, t.standard_error)
        assert bool((t.standard_error > 0).all())


def test_hutchinson_exact_on_diagonal_matrix():
    """z^T D z = tr(D) for any Rademacher z: every sample is exact and the standard error is 0."""
    D = torch.diag(torch.arange(1.0, 8.0, dtype=F64))
    t = spectra.hutchinson_trace(D, n_probes=5)
    assert torch.allclose(t.samples, torch.full((1, 5), 28.0, dtype=F64)) and float(t.standard_error[0]) == 0


def test_same_probe_seed_same_numbers():
    A = torch.stack([_matrix_with_spectrum(torch.linspace(-1, 3, 30), s) for s in range(3)])
    for f in (lambda s: spectra.lanczos(A, 12, seed=s).eigenvalues, lambda s: spectra.slq(A, 8, 5, seed=s).nodes,
              lambda s: spectra.hutchinson_trace(A, 10, seed=s).samples):
        assert torch.equal(f(3), f(3))
        assert not torch.equal(f(3), f(4))
    # seed s of a batch gets the same probes whatever the batch size
    assert torch.equal(spectra.slq(A[:1], 8, 5, seed=2).nodes, spectra.slq(A, 8, 5, seed=2).nodes[:1])
    p = spectra.rademacher_probes(2, 3, 50, 0)
    assert set(p.unique().tolist()) == {-1.0, 1.0}


def test_bad_input_names_the_parameter():
    net = mlp.init_mlp((3, 4, 2), 2, 0)
    x, y = _data((3, 4, 2), "mse", 5)
    with pytest.raises(ValueError, match=r"^loss\b"):
        hs.hessian(net, x, y, "hinge")
    with pytest.raises(ValueError, match=r"^x\b"):
        hs.hessian(net, x[:, :2], y)
    with pytest.raises(ValueError, match=r"^y\b"):
        hs.hessian(net, x, y[:3])
    with pytest.raises(ValueError, match=r"^x\b"):
        hs.hessian(net, x.clone().fill_(float("nan")), y)
    with pytest.raises(ValueError, match=r"^y\b"):
        hs.hessian(net, x, torch.tensor([0, 1, 2, 0, 1]), "cross_entropy")
    with pytest.raises(ValueError, match=r"^net\b"):
        hs.hessian("net", x, y)
    H = hs.hessian(net, x, y)
    with pytest.raises(ValueError, match=r"^n_iter\b"):
        spectra.lanczos(H, n_iter=0)
    with pytest.raises(ValueError, match=r"^seed\b"):
        spectra.lanczos(H, seed=-1)
    with pytest.raises(ValueError, match=r"^n_probes\b"):
        spectra.hutchinson_trace(H, n_probes=1)
    with pytest.raises(ValueError, match=r"^n_probes\b"):
        spectra.slq(H, n_probes=0)
    with pytest.raises(ValueError, match=r"^A must be symmetric\b"):
        spectra.lanczos(torch.triu(torch.ones(4, 4, dtype=F64)))
    with pytest.raises(ValueError, match=r"^A must be square\b"):
        spectra.hutchinson_trace(torch.ones(3, 4, dtype=F64))
    with pytest.raises(ValueError, match=r"^sigma\b"):
        spectra.smoothed_density(spectra.slq(H, 3, 2), torch.linspace(0, 1, 5), sigma=0.0)
    with pytest.raises(ValueError, match=r"^v must\b"):
        spectra.hvp(net, x, y, torch.ones(2, net.n_params + 1, dtype=F64))


def test_finish_mlp_reaches_a_certified_critical_point():
    net, x, y = trained_g_network()
    out = hs.finish_mlp(net, x, y, grad_tol=1e-10, max_iter=100)
    assert bool(out.result.converged.all())
    r = hs.loss_grad_hessian(out.net, x, y)
    assert float(r.grad.norm(dim=1).max()) < 1e-10
    assert bool((r.loss <= mlp.loss(net, x, y) + 1e-15).all())
    assert bool((torch.linalg.eigvalsh(r.hess)[:, 0] > 1e-4).all())      # a strict minimum
    with pytest.raises(ValueError, match=r"^x\b"):
        hs.finish_mlp(net, x[None].expand(2, -1, -1), y)


def test_one_losses_definition_and_spectra_module():
    from overparam import spectra

    assert hs.LOSSES is mlp.LOSSES
    assert callable(spectra.lanczos) and callable(spectra.hvp_operator)
    with pytest.raises(AttributeError):
        hs.lanczos                      # the spectral tools live in overparam.spectra only
