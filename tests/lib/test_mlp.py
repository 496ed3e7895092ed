"""MLP on batched parameters against nn.Sequential built from the same weights, over a sweep of sizes."""
import math

import pytest
import torch
from netcases import sequential

from overparam.mlp import (ACTIVATIONS, MLP, accuracy, activate, activation_grad, activation_grad2, flatten,
                           forward, init_mlp, loss, select, unflatten)

F64 = torch.float64

SIZES = [(1, 1), (3, 5, 2), (4, 8, 1), (2, 7, 3, 5), (5, 1, 4, 6, 3)]






@pytest.mark.parametrize("sizes", SIZES, ids=str)
@pytest.mark.parametrize("act", ACTIVATIONS)
@pytest.mark.parametrize("bias", [True, False])
def test_forward_matches_sequential(sizes, act, bias):
    S, N = 3, 9
    net = init_mlp(sizes, S, 7, activation=act, bias=bias)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(N, sizes[0], generator=g, dtype=F64)
    xs = torch.randn(S, N, sizes[0], generator=g, dtype=F64)
    f, fs = forward(net, x), forward(net, xs)
    assert f.shape == (S, N, sizes[-1])
    for s in range(S):
        seq = sequential(net, s)
        assert torch.allclose(f[s], seq(x), rtol=0, atol=1e-13)
        assert torch.allclose(fs[s], seq(xs[s]), rtol=0, atol=1e-13)
        y = torch.randn(N, sizes[-1], generator=g, dtype=F64)
        ref = 0.5 * ((seq(x) - y) ** 2).sum(1).mean()
        assert torch.allclose(loss(net, x, y)[s], ref, rtol=1e-13, atol=0)


def test_cross_entropy_and_accuracy_match_torch():
    net = init_mlp((4, 6, 5), 3, 2, activation="tanh")
    x = torch.randn(13, 4, dtype=F64, generator=torch.Generator().manual_seed(1))
    y = torch.randint(0, 5, (13,), generator=torch.Generator().manual_seed(2))
    f = forward(net, x)
    ref = torch.stack([torch.nn.functional.cross_entropy(f[s], y) for s in range(3)])
    assert torch.allclose(loss(net, x, y, "cross_entropy"), ref, rtol=1e-13)
    ys = torch.stack([y, (y + 1) % 5, y])
    assert torch.allclose(loss(net, x, ys, "cross_entropy")[1], torch.nn.functional.cross_entropy(f[1], ys[1]))
    acc = accuracy(net, x, y)
    assert torch.allclose(acc, (f.argmax(2) == y).double().mean(1))
    with pytest.raises(ValueError, match=r"^y\b"):
        loss(net, x, torch.full((13,), 5), "cross_entropy")


@pytest.mark.parametrize("act", ACTIVATIONS)
def test_activation_derivatives_match_autograd(act):
    z = torch.linspace(-3, 3, 61, dtype=F64).add(1e-3).requires_grad_(True)   # avoid relu's kink
    (d1,) = torch.autograd.grad(activate(act, z).sum(), z, create_graph=True)
    assert torch.allclose(d1, activation_grad(act, z), rtol=1e-12, atol=1e-14)
    if act != "relu" and act != "linear":
        (d2,) = torch.autograd.grad(d1.sum(), z)
        assert torch.allclose(d2, activation_grad2(act, z), rtol=1e-10, atol=1e-12)
    else:
        assert torch.equal(activation_grad2(act, z), torch.zeros_like(z))


def test_g_is_sigmoid4_plus_softplus():
    z = torch.tensor([-2.0, 0.0, 1.5], dtype=F64)
    ref = 1 / (1 + torch.exp(-4 * z)) + torch.log1p(torch.exp(z))
    assert torch.allclose(activate("g", z), ref, rtol=1e-14)


def test_kaiming_uniform_is_nn_linear_default():
    net = init_mlp((50, 40, 3), 200, 0)
    for w, b in zip(net.weights, net.biases):
        bound = 1 / math.sqrt(w.shape[2])
        assert float(w.abs().max()) <= bound and float(w.abs().max()) > 0.99 * bound
        assert float(b.abs().max()) <= bound
        assert abs(float(w.var()) - bound ** 2 / 3) < 0.03 * bound ** 2 / 3       # U(-a, a): a^2/3


@pytest.mark.parametrize("init, kwargs, var", [
    ("xavier_normal", {}, lambda i, o: 2 / (i + o)),
    ("lecun_normal", {}, lambda i, o: 1 / i),
    ("normal", {"std": 0.3}, lambda i, o: 0.09),
])
def test_normal_inits_have_documented_variance(init, kwargs, var):
    net = init_mlp((30, 20, 10), 100, 1, init=init, **kwargs)
    for w, b in zip(net.weights, net.biases):
        v = var(w.shape[2], w.shape[1])
        assert abs(float(w.var()) / v - 1) < 0.05 and abs(float(w.mean())) < 0.05 * math.sqrt(v)
        assert torch.equal(b, torch.zeros_like(b))


def test_init_determinism_streams_and_prefix_stability():
    state = torch.get_rng_state()
    a = init_mlp((3, 5, 2), 4, 0)
    assert torch.equal(torch.get_rng_state(), state)                                  # global RNG untouched
    b = init_mlp((3, 5, 2), 4, 0)
    c = init_mlp((3, 5, 2), 4, 1)
    assert torch.equal(flatten(a), flatten(b)) and not torch.equal(flatten(a), flatten(c))
    assert torch.equal(flatten(init_mlp((3, 5, 2), 2, 0)), flatten(a)[:2])          # student s ignores n_seeds
    assert not torch.equal(flatten(a)[0], flatten(a)[1])                              # students differ
    f32 = init_mlp((3, 5, 2), 4, 0, dtype=torch.float32)
    assert f32.dtype == torch.float32 and torch.equal(flatten(f32), flatten(a).float())


def test_properties_flatten_unflatten_select():
    net = init_mlp((3, 5, 4, 2), 6, 0, activation="softplus")
    assert net.n_seeds == 6 and net.sizes == (3, 5, 4, 2) and net.dtype == F64
    assert net.device == torch.device("cpu") and net.n_params == 3 * 5 + 5 + 5 * 4 + 4 + 4 * 2 + 2
    theta = flatten(net)
    assert theta.shape == (6, net.n_params)
    assert torch.equal(theta[2, :15], net.weights[0][2].reshape(-1))                 # W row-major, then b
    assert torch.equal(theta[2, 15:20], net.biases[0][2])
    back = unflatten(theta, net)
    assert all(torch.equal(p, q) for p, q in zip(back.weights + back.biases, net.weights + net.biases))
    sub = select(net, [4, 1])
    assert sub.n_seeds == 2 and torch.equal(flatten(sub), theta[[4, 1]])
    assert torch.equal(flatten(select(net, 3)), theta[3:4])
    assert torch.equal(flatten(select(net, torch.arange(6) % 2 == 0)), theta[::2])
    assert torch.equal(flatten(unflatten(theta[:2], net)), theta[:2])
    nb = init_mlp((3, 4, 1), 2, 0, bias=False)
    assert nb.n_params == 16 and flatten(nb).shape == (2, 16) and not nb.has_bias


@pytest.mark.parametrize("call, name", [
    (lambda: init_mlp((3, 0, 1), 2, 0), r"^sizes\[1\]"),
    (lambda: init_mlp((3,), 2, 0), r"^sizes\b"),
    (lambda: init_mlp((3, 4, 1), 0, 0), r"^n_seeds\b"),
    (lambda: init_mlp((3, 4, 1), 2, -1), r"^seed\b"),
    (lambda: init_mlp((3, 4, 1), 2, 0, activation="gelu"), r"^activation\b"),
    (lambda: init_mlp((3, 4, 1), 2, 0, init="orthogonal"), r"^init\b"),
    (lambda: init_mlp((3, 4, 1), 2, 0, init="normal"), r"^std\b"),
    (lambda: init_mlp((3, 4, 1), 2, 0, dtype=torch.int32), r"^dtype\b"),
    (lambda: forward(init_mlp((3, 4, 1), 2, 0), torch.zeros(5, 4, dtype=F64)), r"^x\b"),
    (lambda: forward(init_mlp((3, 4, 1), 2, 0), torch.zeros(3, 5, 3, dtype=F64)), r"^x\b"),
    (lambda: loss(init_mlp((3, 4, 2), 2, 0), torch.zeros(5, 3, dtype=F64), torch.zeros(5, 1)), r"^y\b"),
    (lambda: loss(init_mlp((3, 4, 2), 2, 0), torch.zeros(5, 3, dtype=F64), torch.zeros(5, 2), "l1"), r"^kind\b"),
    (lambda: unflatten(torch.zeros(2, 5), init_mlp((3, 4, 1), 2, 0)), r"^theta\b"),
    (lambda: select(init_mlp((3, 4, 1), 2, 0), [2]), r"^idx\b"),
    (lambda: MLP((torch.zeros(2, 4, 3), torch.zeros(2, 1, 5)), (None, None), "relu"), r"^weights\[1\]"),
    (lambda: MLP((torch.zeros(2, 4, 3),), (torch.zeros(2, 3),), "relu"), r"^biases\[0\]"),
])
def test_bad_input_names_the_parameter(call, name):
    with pytest.raises(ValueError, match=name):
        call()
