"""Neuron splitting keeps the function (and a critical point critical); negative-curvature directions are
eigenpairs below the threshold; slices pass through the point and equal direct evaluation."""
import pytest
import torch
from netcases import trained_g_network

from overparam import hessian as hs
from overparam import landscape as ls
from overparam import mlp
from overparam.rng import generator
from overparam import ss_dynamics as ssd

F64 = torch.float64
SIZES = [(2, 3, 1), (3, 5, 2), (4, 1, 3), (2, 4, 3, 1), (3, 2, 5, 4, 2)]


def _data(sizes, N=17, seed=0):
    g = generator(seed, "data")
    return (torch.randn(N, sizes[0], generator=g, dtype=F64), torch.randn(N, sizes[-1], generator=g, dtype=F64),
            torch.randint(0, sizes[-1], (N,), generator=g))


@pytest.mark.parametrize("sizes", SIZES)
@pytest.mark.parametrize("act", ["relu", "tanh", "g", "softplus"])
@pytest.mark.parametrize("bias", [True, False])
def test_split_keeps_outputs_and_loss(sizes, act, bias):
    S = 3
    net = mlp.init_mlp(sizes, S, 1, activation=act, bias=bias)
    x, y, lab = _data(sizes)
    before = [t.clone() for t in net.weights]
    f0 = mlp.forward(net, x)
    for layer in range(len(sizes) - 2):
        width = sizes[layer + 1]
        for mu in (0.5, 0.0, 1.0, -0.7, 2.5, [0.3, 1.4, -2.0]):
            neuron = [s % width for s in range(S)]
            wide = ls.split_mlp_neuron(net, layer, neuron, mu)
            assert wide.sizes[layer + 1] == width + 1 and wide.n_params == net.n_params + \
                sizes[layer] + bias + sizes[layer + 2]
            assert float((mlp.forward(wide, x) - f0).abs().max()) <= 1e-12
            assert float((mlp.loss(wide, x, y) - mlp.loss(net, x, y)).abs().max()) <= 1e-12
            if sizes[-1] > 1:
                d = mlp.loss(wide, x, lab, "cross_entropy") - mlp.loss(net, x, lab, "cross_entropy")
                assert float(d.abs().max()) <= 1e-12
    assert all(torch.equal(a, b) for a, b in zip(before, net.weights))       # the input is untouched


def test_split_copies_the_neuron_and_shares_its_output():
    net = mlp.init_mlp((3, 4, 2), 2, 0, activation="tanh")
    wide = ls.split_mlp_neuron(net, 0, [1, 3], mu=0.25)
    for s, i in enumerate([1, 3]):
        assert torch.equal(wide.weights[0][s, 4], net.weights[0][s, i])
        assert torch.equal(wide.biases[0][s, 4], net.biases[0][s, i])
        assert torch.allclose(wide.weights[1][s, :, i], 0.25 * net.weights[1][s, :, i])
        assert torch.allclose(wide.weights[1][s, :, 4], 0.75 * net.weights[1][s, :, i])
        others = [k for k in range(4) if k != i]
        assert torch.equal(wide.weights[1][s, :, others], net.weights[1][s, :, others])


def _critical_point():
    """A 2-2-1 network (activation g) at a strict minimum of a noisy teacher problem: gradient descent,
    then the Newton finisher on the exact Hessian (gradient norm < 1e-11)."""
    net, x, y = trained_g_network()
    net = hs.finish_mlp(net, x, y, grad_tol=1e-11, max_iter=100).net
    assert float(hs.gradient(net, x, y).norm(dim=1).max()) < 1e-11
    return net, x, y


def test_split_of_a_critical_point_is_critical_for_every_mu():
    net, x, y = _critical_point()
    for mu in (0.5, 0.1, 1.0, -1.5, 3.0):
        for i in range(2):
            wide = ls.split_mlp_neuron(net, 0, i, mu)
            assert float(hs.gradient(wide, x, y).norm(dim=1).max()) < 1e-10
    # the check can fail: away from a critical point the split net's gradient is not zero
    off = mlp.init_mlp((2, 2, 1), 2, 0, activation="g")
    assert float(hs.gradient(ls.split_mlp_neuron(off, 0, 0), x, y).norm(dim=1).min()) > 1e-3


def test_negative_curvature_directions_are_eigenpairs_below_threshold():
    net = mlp.init_mlp((3, 5, 2), 2, 4, activation="tanh")
    x, y, _ = _data((3, 5, 2))
    H = hs.hessian(net, x, y)
    for thr in (0.0, -1e-3, 0.05):
        nc = ls.negative_curvature_directions(net, x, y, threshold=thr)
        exact = torch.linalg.eigvalsh(H)
        assert torch.equal(nc.n_below, (exact < thr).sum(1))
        assert nc.method == "eigh" and nc.threshold == thr
        for s in range(2):
            D, lam = nc.directions(s), nc.values(s)
            assert D.shape == (int(nc.n_below[s]), net.n_params) and bool((lam < thr).all())
            assert torch.allclose(D @ H[s], lam[:, None] * D, atol=1e-10)
            assert torch.allclose(D @ D.T, torch.eye(len(lam), dtype=F64), atol=1e-12)
    # along a negative-curvature direction the loss falls to second order (the slice is concave at 0)
    nc = ls.negative_curvature(H)
    s = int(torch.argmax(nc.n_below))
    assert int(nc.n_below[s]) > 0
    d = nc.directions(s)[0]
    fn = ls.mlp_loss_fn(mlp.select(net, s), x, y)
    sl = ls.slice_1d(fn, mlp.flatten(net)[s], d, torch.tensor([-1e-3, 0.0, 1e-3], dtype=F64))
    curv = float((sl.losses[0] - 2 * sl.losses[1] + sl.losses[2]) / 1e-6)
    assert abs(curv - float(nc.values(s)[0])) < 1e-4 * max(1.0, abs(curv))


def test_negative_curvature_on_a_known_spectrum():
    Q, _ = torch.linalg.qr(torch.randn(7, 7, generator=generator(0, "test"), dtype=F64))
    H = Q @ torch.diag(torch.tensor([-2.0, -1.0, 0.0, 1, 2, 3, 4], dtype=F64)) @ Q.T
    nc = ls.negative_curvature(H, threshold=-0.5)
    assert int(nc.n_below[0]) == 2 and torch.allclose(nc.values(0), torch.tensor([-2.0, -1.0], dtype=F64))
    assert torch.allclose((nc.directions(0) @ Q[:, :2]).abs(), torch.eye(2, dtype=F64), atol=1e-10)


@pytest.mark.parametrize("sizes", [(2, 3, 1), (3, 4, 5, 2)])
def test_slices_pass_through_the_point_and_equal_direct_evaluation(sizes):
    net = mlp.init_mlp(sizes, 1, 2, activation="softplus")
    x, y, _ = _data(sizes)
    theta = mlp.flatten(net)[0]
    fn = ls.mlp_loss_fn(net, x, y)
    g = generator(5, "test")
    d1, d2 = torch.randn(2, net.n_params, generator=g, dtype=F64)
    a = torch.linspace(-1, 1, 9, dtype=F64)                     # includes 0
    b = torch.linspace(-0.5, 1.5, 5, dtype=F64)                 # includes 0
    s1 = ls.slice_1d(fn, theta, d1, a, chunk_size=4)
    assert s1.origin_loss == pytest.approx(float(mlp.loss(net, x, y)[0]), abs=1e-15)
    assert float(s1.losses[4]) == pytest.approx(s1.origin_loss, abs=1e-14)
    direct = torch.stack([mlp.loss(mlp.unflatten((theta + t * d1)[None], net), x, y)[0] for t in a])
    assert torch.allclose(s1.losses, direct, atol=1e-13, rtol=0)
    assert torch.allclose(ls.slice_1d(fn, theta, d1, a, chunk_size=100).losses, s1.losses, atol=1e-14, rtol=0)
    s2 = ls.slice_2d(fn, theta, d1, d2, a, b, chunk_size=7)
    assert s2.losses.shape == (9, 5)
    assert float(s2.losses[4, 1]) == pytest.approx(s2.origin_loss, abs=1e-14)
    assert torch.allclose(s2.losses[:, 1], s1.losses, atol=1e-13, rtol=0)   # the b = 0 column is the 1-D slice
    p = theta + a[2] * d1 + b[3] * d2
    assert float(s2.losses[2, 3]) == pytest.approx(float(fn(p[None])[0]), abs=1e-13)


def test_slice_of_any_function():
    A = torch.diag(torch.tensor([1.0, -2.0, 3.0], dtype=F64))
    fn = lambda th: 0.5 * torch.einsum("bp,pq,bq->b", th, A, th)
    s = ls.slice_1d(fn, torch.zeros(3, dtype=F64), torch.tensor([0.0, 1.0, 0.0], dtype=F64), [-1.0, 0.0, 2.0])
    assert torch.allclose(s.losses, torch.tensor([-1.0, 0.0, -4.0], dtype=F64))


def test_bad_input_names_the_parameter():
    net = mlp.init_mlp((2, 3, 1), 2, 0)
    with pytest.raises(ValueError, match=r"^layer\b"):
        ls.split_mlp_neuron(net, 1, 0)
    with pytest.raises(ValueError, match=r"^neuron\b"):
        ls.split_mlp_neuron(net, 0, 3)
    with pytest.raises(ValueError, match=r"^neuron\b"):
        ls.split_mlp_neuron(net, 0, [0, 1, 2])
    with pytest.raises(ValueError, match=r"^mu\b"):
        ls.split_mlp_neuron(net, 0, 0, float("nan"))
    with pytest.raises(ValueError, match=r"^net\b"):
        ls.split_mlp_neuron(mlp.init_mlp((2, 1), 1, 0), 0, 0)
    with pytest.raises(ValueError, match=r"^threshold\b"):
        ls.negative_curvature(torch.eye(3, dtype=F64), threshold=float("inf"))
    with pytest.raises(ValueError, match=r"^H must\b"):
        ls.negative_curvature(torch.ones(2, 3, dtype=F64))
    fn = lambda th: th.sum(1)
    th = torch.zeros(4, dtype=F64)
    with pytest.raises(ValueError, match=r"^direction\b"):
        ls.slice_1d(fn, th, torch.zeros(4, dtype=F64), [0.0])
    with pytest.raises(ValueError, match=r"^direction\b"):
        ls.slice_1d(fn, th, torch.ones(5, dtype=F64), [0.0])
    with pytest.raises(ValueError, match=r"^alphas\b"):
        ls.slice_1d(fn, th, torch.ones(4, dtype=F64), [0.0, float("nan")])
    with pytest.raises(ValueError, match=r"^d2\b"):
        ls.slice_2d(fn, th, torch.ones(4, dtype=F64), torch.zeros(4, dtype=F64), [0.0], [0.0])
    with pytest.raises(ValueError, match=r"^chunk_size\b"):
        ls.slice_1d(fn, th, torch.ones(4, dtype=F64), [0.0], chunk_size=0)
    with pytest.raises(ValueError, match=r"^fn must\b"):
        ls.slice_1d(lambda t: t, th, torch.ones(4, dtype=F64), [0.0])


def test_split_neuron_names_say_their_domain():
    from overparam import safran_shamir as ss

    # the old shared name is gone from every module
    assert not any(hasattr(m, "split_neuron") for m in (ls, ss, ssd))
    net = mlp.init_mlp((2, 3, 1), 2, 0)
    x = torch.randn(5, 2, generator=generator(0, "x"), dtype=torch.float64)
    wide = ls.split_mlp_neuron(net, 0, 1, 0.3)
    assert wide.sizes == (2, 4, 1)
    torch.testing.assert_close(mlp.forward(wide, x), mlp.forward(net, x))
