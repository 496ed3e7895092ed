"""Batched training against a slow, obviously right reference: one nn.Sequential per seed, autograd,
torch.optim.SGD / torch.optim.Adam, in float64, over a sweep of sizes (odd ones included)."""
import math

import numpy as np
import pytest
import torch
from netcases import sequential

from overparam.mlp import MLP, flatten, init_mlp, loss as mlp_loss, select, unflatten
from overparam.rng import generator
from overparam.train import GD, SGD, Adam, train

F64 = torch.float64




def _ref_loss(out, y, kind):
    if kind == "mse":
        return 0.5 * ((out - y) ** 2).sum(dim=1).mean()
    return torch.nn.functional.cross_entropy(out, y)


def reference(net, s, x, y, kind, opt, n_steps, masks=None, seed=0):
    """Seed ``s`` trained alone: weights after n_steps and the per-step loss (minibatch for SGD)."""
    model = sequential(net, s)
    lins = [m for m in model if isinstance(m, torch.nn.Linear)]
    ms = None if masks is None else [m[s] for m in masks]
    if ms is not None:
        with torch.no_grad():
            for lin, m in zip(lins, ms):
                lin.weight.mul_(m)
    xs = x if x.dim() == 2 else x[s]
    ys = y if (y.dim() == (2 if kind == "mse" else 1)) else y[s]
    if isinstance(opt, Adam):
        o = torch.optim.Adam(model.parameters(), lr=opt.lr, betas=opt.betas, eps=opt.eps)
    else:
        o = torch.optim.SGD(model.parameters(), lr=opt.lr, momentum=getattr(opt, "momentum", 0.0))
    N = xs.shape[0]
    minibatch = getattr(opt, "batch_size", None) is not None
    if minibatch:
        g = generator(seed, "batch")
        nb = -(-N // opt.batch_size)
    curve = []
    for t in range(n_steps):
        if minibatch:
            if t % nb == 0:
                perm = torch.randperm(N, generator=g)
            idx = perm[(t % nb) * opt.batch_size:(t % nb + 1) * opt.batch_size]
            xb, yb = xs[idx], ys[idx]
        else:
            xb, yb = xs, ys
        o.zero_grad()
        lv = _ref_loss(model(xb), yb, kind)
        lv.backward()
        curve.append(lv.item())
        if ms is not None:
            for lin, m in zip(lins, ms):
                lin.weight.grad.mul_(m)
        o.step()
        if ms is not None:
            with torch.no_grad():
                for lin, m in zip(lins, ms):
                    lin.weight.mul_(m)
    with torch.no_grad():
        curve.append(_ref_loss(model(xs), ys, kind).item())
    params = []
    for lin in lins:
        params.append(lin.weight.detach().reshape(-1))
        if lin.bias is not None:
            params.append(lin.bias.detach())
    return torch.cat(params), np.array(curve)


def _problem(d, hidden, out, N, S, kind, act="tanh", bias=True, per_seed_x=False, seed=0):
    net = init_mlp((d,) + tuple(hidden) + (out,), S, seed, activation=act, bias=bias, dtype=F64)
    g = generator(seed, "data")
    x = torch.randn(*((S,) if per_seed_x else ()), N, d, generator=g, dtype=F64)
    if kind == "mse":
        y = torch.randn(*x.shape[:-1], out, generator=g, dtype=F64)
    else:
        y = torch.randint(0, out, x.shape[:-1], generator=g)
    return net, x, y


def _random_masks(net, density=0.6, seed=0):
    g = generator(seed, "mask")
    return tuple((torch.rand(w.shape, generator=g, dtype=F64) < density).to(F64) for w in net.weights)


CASES = [  # d, hidden, out, N, S, kind, activation, bias, per-seed x
    (1, (1,), 1, 1, 1, "mse", "relu", True, False),
    (3, (5,), 2, 7, 3, "mse", "tanh", True, False),
    (4, (8, 3), 1, 33, 5, "mse", "relu", False, False),
    (2, (3,), 3, 17, 4, "cross_entropy", "softplus", True, False),
    (5, (7, 4, 3), 2, 13, 3, "mse", "erf", True, True),
    (3, (6,), 1, 11, 2, "mse", "g", True, False),
]
OPTS = [GD(0.1), Adam(0.01, betas=(0.8, 0.99), eps=1e-6), SGD(0.05, batch_size=4, momentum=0.9), SGD(0.1, 3),
        Adam(0.02, batch_size=5)]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[5]}-{c[6]}-d{c[0]}-h{c[1]}-N{c[3]}-S{c[4]}")
@pytest.mark.parametrize("opt", OPTS, ids=str)
@pytest.mark.parametrize("masked", [False, True], ids=["dense", "masked"])
def test_batched_equals_reference_loop(case, opt, masked):
    d, hidden, out, N, S, kind, act, bias, psx = case
    if isinstance(opt, SGD) and opt.batch_size > N:
        opt = SGD(opt.lr, N, opt.momentum)
    if isinstance(opt, Adam) and opt.batch_size is not None and opt.batch_size > N:
        opt = Adam(opt.lr, opt.betas, opt.eps, batch_size=N)
    net, x, y = _problem(d, hidden, out, N, S, kind, act, bias, psx)
    masks = _random_masks(net) if masked else None
    n_steps = 12
    res = train(net, x, y, loss=kind, optimizer=opt, n_steps=n_steps, masks=masks, seed=3)
    theta = flatten(res.net)
    assert res.loss_curve.shape == (S, n_steps + 1)
    assert res.stop_reason == ("step_limit",) * S and (res.steps == n_steps).all()
    for s in range(S):
        ref_theta, ref_curve = reference(net, s, x, y, kind, opt, n_steps, masks, seed=3)
        assert torch.allclose(theta[s], ref_theta, rtol=0, atol=1e-10), (theta[s] - ref_theta).abs().max()
        np.testing.assert_allclose(res.loss_curve[s], ref_curve, rtol=0, atol=1e-10)
        np.testing.assert_allclose(res.final_loss[s], ref_curve[-1], rtol=0, atol=1e-10)
        # the same seed trained alone through the fast path
        solo = train(select(net, [s]), x if x.dim() == 2 else x[s:s + 1], y if not psx else y[s:s + 1],
                     loss=kind, optimizer=opt, n_steps=n_steps, seed=3,
                     masks=None if masks is None else tuple(m[s:s + 1] for m in masks))
        assert torch.allclose(flatten(solo.net)[0], theta[s], rtol=0, atol=1e-10)


def test_grad_norm_matches_autograd():
    net, x, y = _problem(3, (5, 4), 2, 9, 3, "mse", "softplus")
    res = train(net, x, y, optimizer=GD(0.05), n_steps=5)
    theta = flatten(res.net).clone().requires_grad_(True)
    from overparam.mlp import unflatten
    lv = mlp_loss(unflatten(theta, net), x, y)
    (g,) = torch.autograd.grad(lv.sum(), theta)
    np.testing.assert_allclose(res.grad_norm, g.norm(dim=1).numpy(), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(res.final_loss, lv.detach().numpy(), rtol=1e-12)


@pytest.mark.parametrize("opt", [GD(0.2), Adam(0.05), SGD(0.1, 5, momentum=0.5)], ids=str)
def test_masks_keep_pruned_weights_exactly_zero(opt):
    net, x, y = _problem(4, (9, 5), 2, 20, 3, "mse", "relu")
    masks = _random_masks(net, 0.5)
    res = train(net, x, y, optimizer=opt, n_steps=30, masks=masks, snapshot_steps=(0, 7))
    for nt in (res.net, res.snapshots[0], res.snapshots[7]):
        for w, m in zip(nt.weights, masks):
            assert bool((w[m == 0] == 0).all())
            assert bool((w[m == 1] != 0).all())      # kept weights moved and are not zeroed


def test_stop_reasons_loss_first_then_grad_both_inclusive():
    d, N, S = 3, 10, 2
    net, x, _ = _problem(d, (), 1, N, S, "mse", "linear")
    y = (x @ net.weights[0][0].T + net.biases[0][0]).detach()     # seed 0 (almost) exact, seed 1 not
    start = train(net, x, y, optimizer=GD(0.3), n_steps=0)          # the step-0 loss and gradient norm
    assert start.stop_reason == ("step_limit", "step_limit")
    L0, g0 = float(start.final_loss[0]), float(start.grad_norm[0])
    assert start.final_loss[1] > L0 and start.grad_norm[1] > g0
    both = train(net, x, y, optimizer=GD(0.3), n_steps=5, loss_tol=L0, grad_tol=g0)
    assert both.stop_reason == ("loss_tol", "step_limit") and both.steps.tolist() == [0, 5]
    grad = train(net, x, y, optimizer=GD(0.3), n_steps=5, grad_tol=g0)
    assert grad.stop_reason == ("grad_tol", "step_limit") and grad.steps[0] == 0
    assert both.converged.tolist() == [True, False] and grad.converged.tolist() == [True, False]


def test_diverging_seed_is_isolated():
    net, x, y = _problem(3, (6,), 1, 15, 4, "mse", "tanh")
    W = [w.clone() for w in net.weights]
    W[0][1] = float("nan")                             # seed 1: NaN init
    W[1][3] *= 1e155                                   # seed 3: overflows after a few steps
    bad = MLP(tuple(W), net.biases, net.activation)
    res = train(bad, x, y, optimizer=GD(0.5), n_steps=25)
    assert res.stop_reason[1] == "diverged" and res.steps[1] == 0
    assert res.stop_reason[3] == "diverged" and res.steps[3] < 25
    assert np.isnan(res.loss_curve[1, 1:]).all()
    for s in (0, 2):
        assert res.stop_reason[s] == "step_limit"
        solo = train(select(net, [s]), x, y, optimizer=GD(0.5), n_steps=25)
        assert torch.allclose(flatten(res.net)[s], flatten(solo.net)[0], rtol=0, atol=1e-12)
        np.testing.assert_allclose(res.loss_curve[s], solo.loss_curve[0], rtol=0, atol=1e-12)


def test_converged_seeds_leave_the_batch_and_others_continue():
    # Linear regression with a realizable target: GD converges; one seed starts at the solution.
    d, N, S = 3, 10, 3
    net, x, _ = _problem(d, (), 1, N, S, "mse", "linear")
    y = (x @ net.weights[0][0].T + net.biases[0][0]).detach()     # seed 0 is already exact
    res = train(net, x, y, optimizer=GD(0.3), n_steps=400, loss_tol=1e-20, grad_tol=1e-9)
    assert res.stop_reason[0] == "loss_tol" and res.steps[0] == 0     # exact: loss 0 <= loss_tol
    assert all(r in ("loss_tol", "grad_tol") for r in res.stop_reason) and res.converged.all()
    assert (res.grad_norm <= 1e-9).all() or (res.final_loss <= 1e-20).all()
    for s in range(S):
        k = res.steps[s]
        assert np.isfinite(res.loss_curve[s, :k + 1]).all() and np.isnan(res.loss_curve[s, k + 1:]).all()
    solo = train(select(net, [2]), x, y, optimizer=GD(0.3), n_steps=400, loss_tol=1e-20, grad_tol=1e-9)
    assert solo.steps[0] == res.steps[2]
    assert torch.allclose(flatten(solo.net)[0], flatten(res.net)[2], rtol=0, atol=1e-12)


def test_snapshots_are_bitwise_the_weights_after_k_steps():
    net, x, y = _problem(3, (7,), 2, 21, 3, "mse", "relu")
    for opt in (Adam(0.01), SGD(0.05, 8, momentum=0.9)):
        full = train(net, x, y, optimizer=opt, n_steps=10, snapshot_steps=(0, 3, 10), seed=1)
        for k in (0, 3, 10):
            short = train(net, x, y, optimizer=opt, n_steps=k, seed=1)
            assert all(torch.equal(a, b) for a, b in zip(full.snapshots[k].weights, short.net.weights))
            assert all(torch.equal(a, b) for a, b in zip(full.snapshots[k].biases, short.net.biases))
        assert all(torch.equal(a, b) for a, b in zip(full.snapshots[0].weights, net.weights))


def test_eval_history_and_record_every():
    net, x, y = _problem(2, (4,), 1, 12, 3, "mse", "tanh")
    xv = torch.randn(5, 2, generator=generator(9, "data"), dtype=F64)
    yv = torch.randn(5, 1, generator=generator(9, "data"), dtype=F64)
    res = train(net, x, y, optimizer=GD(0.1), n_steps=20, record_every=3, eval_every=5,
                eval_fn=lambda n: {"val": mlp_loss(n, xv, yv)})
    assert list(res.eval_steps) == [0, 5, 10, 15, 20] and res.history["val"].shape == (3, 5)
    assert list(res.curve_steps) == [0, 3, 6, 9, 12, 15, 18] and res.loss_curve.shape == (3, 7)
    k5 = train(net, x, y, optimizer=GD(0.1), n_steps=5)
    np.testing.assert_allclose(res.history["val"][:, 1], mlp_loss(k5.net, xv, yv).numpy(), rtol=1e-12)
    np.testing.assert_allclose(res.loss_curve[:, 1], train(net, x, y, optimizer=GD(0.1), n_steps=3).final_loss,
                               rtol=1e-12)


def test_same_seed_bit_identical_and_batch_seed_matters():
    net, x, y = _problem(3, (5,), 1, 30, 2, "mse", "relu")
    a = train(net, x, y, optimizer=SGD(0.05, 7), n_steps=15, seed=4)
    b = train(net, x, y, optimizer=SGD(0.05, 7), n_steps=15, seed=4)
    c = train(net, x, y, optimizer=SGD(0.05, 7), n_steps=15, seed=5)
    assert torch.equal(flatten(a.net), flatten(b.net))
    assert np.array_equal(a.loss_curve, b.loss_curve)
    assert not torch.equal(flatten(a.net), flatten(c.net))


@pytest.mark.parametrize("chunk_bytes", [1, 700, 1 << 30], ids=["one-seed", "few-seeds", "one-chunk"])
@pytest.mark.parametrize("opt", [GD(0.1), Adam(0.02, batch_size=5)], ids=str)
def test_seed_chunking_matches_the_reference_loop(chunk_bytes, opt):
    """The engine's chunks of seeds (one seed, a few, all at once) give the per-seed reference run."""
    net, x, y = _problem(4, (8, 3), 2, 17, 7, "mse", "tanh")
    masks = _random_masks(net)
    res = train(net, x, y, optimizer=opt, n_steps=10, masks=masks, seed=1, chunk_bytes=chunk_bytes)
    theta = flatten(res.net)
    for s in range(7):
        ref_theta, ref_curve = reference(net, s, x, y, "mse", opt, 10, masks, seed=1)
        assert torch.allclose(theta[s], ref_theta, rtol=0, atol=1e-10), (theta[s] - ref_theta).abs().max()
        np.testing.assert_allclose(res.loss_curve[s], ref_curve, rtol=0, atol=1e-10)
    with pytest.raises(ValueError, match=r"^chunk_bytes\b"):
        train(net, x, y, optimizer=opt, n_steps=1, chunk_bytes=0)


def test_float32_training_follows_float64_within_its_precision():
    """The lottery chapter trains in float32: the same run in float64 is its reference."""
    net, x, y = _problem(5, (12, 6), 3, 40, 3, "cross_entropy", "relu")
    net32 = unflatten(flatten(net).float(), init_mlp((5, 12, 6, 3), 3, 0, dtype=torch.float32))
    masks = _random_masks(net)
    opt = Adam(0.01, batch_size=8)
    r64 = train(net, x, y, loss="cross_entropy", optimizer=opt, n_steps=30, masks=masks, seed=2)
    r32 = train(net32, x.float(), y, loss="cross_entropy", optimizer=opt, n_steps=30,
                masks=tuple(m.float() for m in masks), seed=2)
    assert r32.net.dtype == torch.float32
    d = (flatten(r32.net).double() - flatten(r64.net)).abs().max().item()
    assert d < 1e-4, f"float32 and float64 weights differ by {d:.1e} after 30 Adam steps"
    np.testing.assert_allclose(r32.loss_curve, r64.loss_curve, rtol=1e-4, atol=1e-5)


def test_inputs_are_not_modified_and_float32_runs():
    net, x, y = _problem(3, (5,), 1, 10, 2, "mse", "relu")
    before = flatten(net).clone(), x.clone()
    masks = _random_masks(net)
    train(net, x, y, optimizer=Adam(0.1), n_steps=5, masks=masks)
    assert torch.equal(flatten(net), before[0]) and torch.equal(x, before[1])
    n32 = init_mlp((3, 5, 1), 2, 0, dtype=torch.float32)
    r = train(n32, x.float(), y.float(), optimizer=GD(0.1), n_steps=50)
    assert r.net.dtype == torch.float32 and np.isfinite(r.final_loss).all()
    assert (r.final_loss < r.loss_curve[:, 0]).all()


@pytest.mark.parametrize("kwargs, name", [
    (dict(n_steps=-1), "n_steps"),
    (dict(optimizer="sgd"), "optimizer"),
    (dict(loss="l1"), "loss"),
    (dict(record_every=0), "record_every"),
    (dict(eval_every=3), "eval_every"),
    (dict(snapshot_steps=(11,)), "snapshot_steps"),
    (dict(grad_tol=-1.0), "grad_tol"),
    (dict(optimizer=SGD(0.1, 11)), "batch_size"),
])
def test_bad_arguments_name_the_parameter(kwargs, name):
    net, x, y = _problem(3, (4,), 1, 10, 2, "mse", "relu")
    args = dict(optimizer=GD(0.1), n_steps=10)
    args.update(kwargs)
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        train(net, x, y, **args)


def test_bad_data_and_optimizer_configs():
    net, x, y = _problem(3, (4,), 1, 10, 2, "mse", "relu")
    xbad = x.clone()
    xbad[2, 1] = float("inf")
    with pytest.raises(ValueError, match=r"^x\b"):
        train(net, xbad, y, optimizer=GD(0.1), n_steps=1)
    with pytest.raises(ValueError, match=r"^x\b"):
        train(net, x[:, :2], y, optimizer=GD(0.1), n_steps=1)
    with pytest.raises(ValueError, match=r"^y\b"):
        train(net, x, y[:7], optimizer=GD(0.1), n_steps=1)
    with pytest.raises(ValueError, match=r"^masks\[1\]"):
        train(net, x, y, optimizer=GD(0.1), n_steps=1, masks=(torch.ones(2, 4, 3), torch.ones(2, 2, 4)))
    with pytest.raises(ValueError, match=r"^lr\b"):
        GD(0.0)
    with pytest.raises(ValueError, match=r"^lr\b"):
        GD(math.nan)
    with pytest.raises(ValueError, match=r"^batch_size\b"):
        SGD(0.1, 0)
    with pytest.raises(ValueError, match=r"^betas\b"):
        Adam(0.1, betas=(0.9, 1.0))
    assert str(Adam(0.1)) == "Adam(lr=0.1)" and str(SGD(0.1, 4, momentum=0.9)) == "SGD(lr=0.1, batch_size=4, momentum=0.9)"
