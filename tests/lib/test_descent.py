"""overparam.descent: the one batched descent loop with per-seed stopping, and its vocabulary."""
import numpy as np
import pytest
import torch

from overparam import descent
from overparam import safran_shamir as ss
from overparam import ss_dynamics as ssd
from overparam import tickets_control as tc

DT = torch.float64


def _quadratic(params):
    """L = ½ a‖x‖² per seed; ``a`` rides along as a second parameter group that never moves."""
    x, a = params
    g = a[:, None] * x
    return 0.5 * a * (x * x).sum(-1), (g, torch.zeros_like(a)), g.norm(dim=-1)


def _gd(lr):
    return lambda p, g: (p[0] - lr * g[0], p[1])


def _ss_loss_grad(p):
    L, g = ss.loss_and_gradient(p[0])
    return L, (g,), torch.linalg.vector_norm(g.reshape(g.shape[0], -1), dim=-1)


def test_batched_descent_equals_each_seed_alone():
    W0 = ss.init_students(3, 4, 6, seed=2)
    step = lambda p, g: (p[0] - 0.5 * g[0],)
    kw = dict(n_steps=300, grad_tol=1e-6, loss_tol=1e-4, record_every=10)
    res = descent.descend((W0,), _ss_loss_grad, step, **kw)
    assert len(set(res.steps.tolist())) >= 2, "seeds stop at different steps"
    for s in range(6):
        one = descent.descend((W0[s:s + 1],), _ss_loss_grad, step, **kw)
        # equal up to rounding: batched products of other sizes may round differently
        torch.testing.assert_close(one.params[0][0], res.params[0][s], rtol=0, atol=1e-10)
        assert one.stop_reason[0] == res.stop_reason[s] and int(one.steps[0]) == int(res.steps[s])
        torch.testing.assert_close(torch.as_tensor(one.loss_curve[0]), torch.as_tensor(res.loss_curve[s]),
                                   rtol=0, atol=1e-10, equal_nan=True)
    assert torch.equal(W0, ss.init_students(3, 4, 6, seed=2)), "the starting parameters are not modified"


def test_stop_reasons_and_their_order():
    x0 = torch.tensor([[0.0, 0.0], [1e3, 0.0], [1.0, 1.0], [float("nan"), 0.0]], dtype=DT)
    a = torch.tensor([1.0, 1e-12, 1.0, 1.0], dtype=DT)
    res = descent.descend((x0, a), _quadratic, _gd(0.1), n_steps=3, grad_tol=1e-6, loss_tol=1e-8,
                          record_every=1)
    # seed 0: loss and gradient both 0 -> "loss_tol" (checked first); seed 1: loss 5e-7 but gradient
    # 1e-9 -> "grad_tol"; seed 2: neither within 3 steps -> "step_limit"; seed 3: NaN -> "diverged"
    assert res.stop_reason == ("loss_tol", "grad_tol", "step_limit", "diverged")
    assert res.steps.tolist() == [0, 0, 3, 0]
    assert set(res.stop_reason) <= set(descent.STOP_REASONS)
    assert np.isfinite(res.loss_curve[2]).all() and np.isnan(res.loss_curve[0, 1:]).all()
    torch.testing.assert_close(res.params[0][2], torch.full((2,), 0.9 ** 3, dtype=DT))
    assert float(res.loss[2]) == pytest.approx(0.9 ** 6) and torch.isnan(res.loss[3])


def test_diverged_seed_never_poisons_the_others():
    x0 = torch.tensor([[1.0], [1.0]], dtype=DT)
    a = torch.tensor([1.0, 1e6], dtype=DT)
    res = descent.descend((x0, a), _quadratic, _gd(0.5), n_steps=200, grad_tol=None, loss_tol=None)
    assert res.stop_reason == ("step_limit", "diverged")
    alone = descent.descend((x0[:1], a[:1]), _quadratic, _gd(0.5), n_steps=200, grad_tol=None, loss_tol=None)
    assert torch.equal(alone.params[0][0], res.params[0][0])
    assert res.loss_curve is None, "no curve unless record_every is given"


def test_gradient_descent_and_control_run_on_descend():
    W0 = ss.init_students(2, 3, 5, seed=1)
    a = ssd.gradient_descent(W0, lr=5 / 3, n_steps=400, record_every=20)
    b = descent.descend((W0,), _ss_loss_grad, lambda p, g: (p[0].sub_(g[0], alpha=5 / 3),), n_steps=400,
                        grad_tol=1e-9, loss_tol=1e-6, record_every=20)
    assert torch.equal(a.W, b.params[0]) and a.stop_reason == b.stop_reason
    np.testing.assert_array_equal(a.loss_curve, b.loss_curve)
    w, bias = tc.control_init(4, 3, 0)
    c = tc.control_gradient_descent(w, bias, tc.control_inputs(100), lr=0.3, n_steps=500)
    assert set(c.stop_reason) <= set(descent.STOP_REASONS) and int(c.steps.max()) <= 500


def test_n_steps_is_the_only_step_cap():
    W0 = ss.init_students(2, 3, 4, seed=3)
    with pytest.raises(TypeError, match=r"^gradient_descent\(\) got an unexpected keyword argument 'max_steps'$"):
        ssd.gradient_descent(W0, lr=1.0, max_steps=10)
    with pytest.raises(ValueError, match=r"^n_steps\b"):
        ssd.gradient_descent(W0, lr=1.0, n_steps=-1)
    assert not hasattr(descent, "resolve_n_steps")


def test_torch_threads_restores_the_setting():
    before = torch.get_num_threads()
    with descent.torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with pytest.raises(ValueError, match=r"^num_threads\b"):
        with descent.torch_threads(0):
            pass


def test_bad_input():
    p = (torch.ones(2, 1, dtype=DT), torch.ones(2, dtype=DT))
    with pytest.raises(ValueError, match=r"^n_steps\b"):
        descent.descend(p, _quadratic, _gd(0.1), n_steps=-1, grad_tol=0.0, loss_tol=0.0)
    with pytest.raises(ValueError, match=r"^record_every\b"):
        descent.descend(p, _quadratic, _gd(0.1), n_steps=1, grad_tol=0.0, loss_tol=0.0, record_every=0)
    with pytest.raises(ValueError, match=r"^grad_tol\b"):
        descent.descend(p, _quadratic, _gd(0.1), n_steps=1, grad_tol=-1.0, loss_tol=None)
    with pytest.raises(ValueError, match=r"^loss_tol\b"):
        descent.descend(p, _quadratic, _gd(0.1), n_steps=1, grad_tol=None, loss_tol=float("nan"))


def test_tolerances_are_inclusive_and_none_switches_them_off():
    x0 = torch.zeros(1, 1, dtype=DT)                      # loss and gradient exactly 0 from the start
    a = torch.ones(1, dtype=DT)
    on = descent.descend((x0, a), _quadratic, _gd(0.1), n_steps=5, grad_tol=0.0, loss_tol=0.0)
    assert on.stop_reason == ("loss_tol",) and on.steps.tolist() == [0]
    grad_only = descent.descend((x0, a), _quadratic, _gd(0.1), n_steps=5, grad_tol=0.0, loss_tol=None)
    assert grad_only.stop_reason == ("grad_tol",)
    off = descent.descend((x0, a), _quadratic, _gd(0.1), n_steps=5, grad_tol=None, loss_tol=None)
    assert off.stop_reason == ("step_limit",) and off.steps.tolist() == [5]


class _Counter:
    """A stateful DescentProblem: GD on ½ a‖x‖² with a per-seed step counter it must drop with the seed."""

    def __init__(self, x0, a, lr):
        self.params, self.a, self.lr = (x0.clone(),), a.clone(), lr
        self.updates = torch.zeros(len(a), dtype=torch.int64)
        self.seen = []

    def loss_grad(self, t):
        self.seen.append(t)
        L, (g, _), gn = _quadratic((self.params[0], self.a))
        return L, (g, None), gn

    def step(self, grads, t):
        self.params = (self.params[0] - self.lr * grads[0],)
        self.updates += 1

    def keep(self, mask):
        self.params, self.a, self.updates = (self.params[0][mask],), self.a[mask], self.updates[mask]


def test_run_drives_a_stateful_problem_like_descend():
    x0 = torch.tensor([[1.0], [2.0], [0.5]], dtype=DT)
    a = torch.tensor([1.0, 0.5, 2.0], dtype=DT)
    kw = dict(n_steps=60, grad_tol=1e-3, loss_tol=None, record_every=5)
    views = []
    prob = _Counter(x0, a, 0.4)
    res = descent.run(prob, observe=lambda t, cur: views.append((t, cur()[0].clone())), **kw)
    ref = descent.descend((x0, a), _quadratic, _gd(0.4), **kw)
    assert torch.equal(res.params[0], ref.params[0]) and res.stop_reason == ref.stop_reason
    np.testing.assert_array_equal(res.loss_curve, ref.loss_curve)
    assert len(set(res.steps.tolist())) == 3, "the three seeds stop at different steps"
    assert prob.seen == list(range(int(res.steps.max()) + 1)), "one loss_grad per step, in order"
    # observe sees all seeds at every step; a stopped seed stays frozen at its final parameters
    assert [t for t, _ in views] == prob.seen
    for t, cur in views:
        assert cur.shape == x0.shape
        for s in range(3):
            if t >= res.steps[s]:
                assert torch.equal(cur[s], res.params[0][s])
