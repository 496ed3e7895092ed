"""Property tests for overparam.prune: every strategy (layer, global, IMP with and without rewinding,
the three controls) against plain-Python references, over a sweep of sizes (odd ones too)."""
import math

import numpy as np
import pytest
import torch

from overparam import prune
from overparam.mlp import MLP, init_mlp, loss as mlp_loss

SIZES = [(5, 7, 3), (4, 9, 6, 2), (3, 11, 13, 5, 4), (6, 1, 3)]


def net_for(sizes, S=3, seed=0):
    return init_mlp(sizes, S, seed, dtype=torch.float64)


def n_removed(n, p):
    """The stated rounding rule, in plain Python."""
    return min(math.floor(p * n + 0.5), max(n - 1, 0))


def ref_prune_pool(ws, ms, p):
    """Slow reference for one seed: pool the given layers, rank survivors by (|w|, -position)."""
    cands = []
    for l, (w, m) in enumerate(zip(ws, ms)):
        for i, (v, keep) in enumerate(zip(w.reshape(-1).tolist(), m.reshape(-1).tolist())):
            if keep:
                cands.append((abs(v), -l, -i, l, i))   # smallest magnitude first; ties: later position first
    cands.sort()
    k = n_removed(len(cands), p)
    out = [m.clone() for m in ms]
    for _, _, _, l, i in cands[:k]:
        out[l].view(-1)[i] = 0
    return out


def ref_magnitude_prune(net, p, masks, p_out, scope):
    S, L = net.n_seeds, len(net.weights)
    res = [torch.empty_like(w) for w in net.weights]
    for s in range(S):
        ws = [w[s] for w in net.weights]
        ms = [m[s] for m in masks]
        if scope == "layer":
            new = [ref_prune_pool([ws[l]], [ms[l]], p)[0] for l in range(L - 1)]
        else:
            new = ref_prune_pool(ws[:-1], ms[:-1], p) if L > 1 else []
        new.append(ref_prune_pool([ws[-1]], [ms[-1]], p_out)[0])
        for l in range(L):
            res[l][s] = new[l]
    return tuple(res)


def perturb(net, seed):
    """A stand-in for training: new random weights of the same shapes."""
    g = torch.Generator().manual_seed(seed)
    return MLP(tuple(torch.randn(w.shape, generator=g, dtype=w.dtype) for w in net.weights), net.biases,
               net.activation)


def gd_train_fn(x, y, n_steps=5, lr=0.1, rewind_step=0, record=None):
    """Tiny hand-written masked gradient descent (autograd on mlp.loss)."""
    def train_fn(net, masks):
        ws = [w.clone() * m for w, m in zip(net.weights, masks)]
        bs = [None if b is None else b.clone() for b in net.biases]
        snap = None
        for t in range(n_steps + 1):
            if t == rewind_step:
                snap = MLP(tuple(w.clone() for w in ws), tuple(None if b is None else b.clone() for b in bs),
                           net.activation)
            if t == n_steps:
                break
            params = [w.requires_grad_(True) for w in ws] + [b.requires_grad_(True) for b in bs if b is not None]
            cur = MLP(tuple(ws), tuple(bs), net.activation)
            grads = torch.autograd.grad(mlp_loss(cur, x, y).sum(), params)
            with torch.no_grad():
                ws = [(w - lr * g * m).detach() for w, g, m in zip(ws, grads[:len(ws)], masks)]
                gb = iter(grads[len(ws):])
                bs = [None if b is None else (b - lr * next(gb)).detach() for b in bs]
        out = MLP(tuple(ws), tuple(bs), net.activation)
        if record is not None:
            record.append((net, masks, out))
        return out, snap
    return train_fn


def regression_data(sizes, N=17, seed=1):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(N, sizes[0], generator=g, dtype=torch.float64),
            torch.randn(N, sizes[-1], generator=g, dtype=torch.float64))


# ----------------------------------------------------------------------------- magnitude pruning
def test_prune_counts_rule():
    assert prune.prune_counts([10, 5, 1, 0, 3], 0.25).tolist() == [3, 1, 0, 0, 1]  # 2.5 -> 3, 1.25 -> 1, 0.75 -> 1
    assert prune.prune_counts([4], 0.99).tolist() == [3]                             # never the last weight
    for n in range(0, 60, 7):
        for p in (0.0, 0.1, 0.2, 0.37, 0.5, 0.8):
            assert int(prune.prune_counts(n, p)) == n_removed(n, p)


@pytest.mark.parametrize("sizes", SIZES)
@pytest.mark.parametrize("scope", ["layer", "global"])
@pytest.mark.parametrize("p,p_out", [(0.2, 0.1), (0.4, 0.2), (0.5, 0.5), (0.0, 0.3)])
def test_magnitude_prune_equals_reference(sizes, scope, p, p_out):
    net = net_for(sizes, S=3, seed=len(sizes))
    masks = prune.dense_masks(net)
    for r in range(3):  # several rounds, each on new "trained" weights
        got = prune.magnitude_prune(net, p, masks=masks, output_fraction=p_out, scope=scope)
        want = ref_magnitude_prune(net, p, masks, p_out, scope)
        for g, w in zip(got, want):
            assert torch.equal(g, w)
        masks = got
        net = perturb(net, 100 + r)


@pytest.mark.parametrize("sizes", SIZES)
def test_layerwise_fraction_on_target(sizes):
    net = net_for(sizes, S=4)
    p, p_out = 0.3, 0.15
    masks = prune.magnitude_prune(net, p, output_fraction=p_out)
    L = len(masks)
    for l, m in enumerate(masks):
        n = m[0].numel()
        rate = p_out if l == L - 1 else p
        assert m.reshape(4, -1).sum(1).tolist() == [n - n_removed(n, rate)] * 4


@pytest.mark.parametrize("sizes", SIZES)
def test_global_fraction_on_target_and_one_threshold(sizes):
    net = net_for(sizes, S=4, seed=3)
    p, p_out = 0.45, 0.2
    masks = prune.magnitude_prune(net, p, output_fraction=p_out, scope="global")
    hidden_total = sum(m[0].numel() for m in masks[:-1])
    kept_hidden = sum(m.reshape(4, -1).sum(1) for m in masks[:-1])
    assert kept_hidden.tolist() == [hidden_total - n_removed(hidden_total, p)] * 4
    n_out = masks[-1][0].numel()
    assert masks[-1].reshape(4, -1).sum(1).tolist() == [n_out - n_removed(n_out, p_out)] * 4
    for s in range(4):  # one threshold across hidden layers
        kept = torch.cat([w[s][m[s] > 0].abs() for w, m in zip(net.weights[:-1], masks[:-1])])
        pruned = torch.cat([w[s][m[s] == 0].abs() for w, m in zip(net.weights[:-1], masks[:-1])])
        if pruned.numel():
            assert pruned.max() <= kept.min()


@pytest.mark.parametrize("scope", ["layer", "global"])
def test_threshold_separates_kept_from_pruned(scope):
    net = net_for((7, 13, 9, 3), S=3)
    masks = prune.dense_masks(net)
    for r in range(4):
        new = prune.magnitude_prune(net, 0.3, masks=masks, output_fraction=0.2, scope=scope)
        groups = [[0, 1], [2]] if scope == "global" else [[0], [1], [2]]
        for s in range(3):
            for grp in groups:
                kept = torch.cat([net.weights[l][s][new[l][s] > 0].abs() for l in grp])
                gone = torch.cat([net.weights[l][s][(masks[l][s] > 0) & (new[l][s] == 0)].abs() for l in grp])
                assert gone.numel() > 0
                assert gone.max() <= kept.min()
        masks = new
        net = perturb(net, r)


def test_ties_are_deterministic_and_exact_count():
    w = torch.ones(2, 4, 5, dtype=torch.float64)  # all magnitudes equal
    net = MLP((w,), (None,), "relu")
    m = prune.magnitude_prune(net, 0.5)
    assert m[0].reshape(2, -1).sum(1).tolist() == [10, 10]
    assert torch.equal(m[0].reshape(2, -1)[:, :10], torch.ones(2, 10, dtype=torch.float64))  # earlier kept


@pytest.mark.parametrize("scope", ["layer", "global"])
@pytest.mark.parametrize("p", [0.2, 0.4, 0.55])
def test_masks_only_shrink_density_geometric(scope, p):
    net = net_for((9, 31, 17, 5), S=2, seed=4)
    masks = prune.dense_masks(net)
    n0 = np.array([m[0].numel() for m in masks])
    p_out = p / 2
    for k in range(1, 7):
        new = prune.magnitude_prune(net, p, masks=masks, output_fraction=p_out, scope=scope)
        for a, b in zip(new, masks):
            assert bool((a <= b).all())           # only shrink
        masks = new
        net = perturb(net, 10 + k)
        kept = np.array([[float(m[s].sum()) for m in masks] for s in range(2)])
        if scope == "layer":
            target = n0 * np.array([(1 - p) ** k] * (len(n0) - 1) + [(1 - p_out) ** k])
            assert np.all(np.abs(kept - target) <= 0.5 / np.array([p] * (len(n0) - 1) + [p_out]) + 1e-9)
        else:
            hidden = kept[:, :-1].sum(1)
            assert np.all(np.abs(hidden - n0[:-1].sum() * (1 - p) ** k) <= 0.5 / p + 1e-9)
            assert np.all(np.abs(kept[:, -1] - n0[-1] * (1 - p_out) ** k) <= 0.5 / p_out + 1e-9)


def test_magnitude_prune_does_not_modify_inputs():
    net = net_for((5, 8, 3))
    masks = prune.magnitude_prune(net, 0.3)
    w_before = [w.clone() for w in net.weights]
    m_before = [m.clone() for m in masks]
    prune.magnitude_prune(net, 0.3, masks=masks)
    prune.apply_masks(net, masks)
    assert all(torch.equal(a, b) for a, b in zip(w_before, net.weights))
    assert all(torch.equal(a, b) for a, b in zip(m_before, masks))


def test_apply_masks_and_densities():
    net = net_for((5, 8, 3), S=2)
    masks = prune.magnitude_prune(net, 0.5, output_fraction=0.25)
    pruned = prune.apply_masks(net, masks)
    for w, m, w0 in zip(pruned.weights, masks, net.weights):
        assert torch.equal(w, w0 * m)
    assert all(torch.equal(a, b) for a, b in zip(pruned.biases, net.biases))
    d = prune.densities(masks)
    assert d.shape == (2, 2)
    np.testing.assert_allclose(d[:, 0], 20 / 40)
    np.testing.assert_allclose(d[:, 1], 18 / 24)
    np.testing.assert_allclose(prune.overall_density(masks), 38 / 64)


# ----------------------------------------------------------------------------- IMP
@pytest.mark.parametrize("scope", ["layer", "global"])
@pytest.mark.parametrize("sizes", [(4, 9, 3), (3, 11, 7, 2)])
def test_imp_reference_and_pruned_weights_stay_zero(scope, sizes):
    x, y = regression_data(sizes)
    net0 = net_for(sizes, S=3, seed=2)
    rec = []
    res = prune.imp(net0, gd_train_fn(x, y, record=rec), rounds=4, fraction=0.3, output_fraction=0.15,
                    scope=scope)
    assert res.n_rounds == 4 and len(res.trained) == 5 and res.densities.shape == (5, 3, len(sizes) - 1)
    assert all(torch.equal(m, torch.ones_like(m)) for m in res.masks[0])
    # a slow reference: the loop written out by hand
    masks = prune.dense_masks(net0)
    trained = rec[0][2]
    for r in range(1, 5):
        masks = ref_magnitude_prune(trained, 0.3, masks, 0.15, scope)
        for a, b in zip(res.masks[r], masks):
            assert torch.equal(a, b)
        trained = rec[r][2]
        for w, m in zip(res.trained[r].weights, res.masks[r]):
            assert bool((w[m == 0] == 0).all())            # pruned weights stay exactly zero
            assert bool((w[m == 1] != 0).all())
        for a, b in zip(res.masks[r], res.masks[r - 1]):
            assert bool((a <= b).all())
    # training was really under the masks: the train_fn saw the round's masks
    for r in range(5):
        assert all(torch.equal(a, b) for a, b in zip(rec[r][1], res.masks[r]))


def test_imp_rewind_zero_restores_initial_weights():
    sizes = (4, 9, 7, 3)
    x, y = regression_data(sizes)
    net0 = net_for(sizes, S=2, seed=5)
    res = prune.imp(net0, gd_train_fn(x, y), rounds=3, fraction=0.4, output_fraction=0.2)
    assert res.rewind_net is net0
    for r in range(4):
        for w, w0, m in zip(res.start_nets[r].weights, net0.weights, res.masks[r]):
            assert torch.equal(w, w0 * m)
        assert all(torch.equal(b, b0) for b, b0 in zip(res.start_nets[r].biases, net0.biases))


@pytest.mark.parametrize("k", [1, 3])
def test_imp_rewind_restores_step_k_weights(k):
    sizes = (4, 9, 7, 3)
    x, y = regression_data(sizes)
    net0 = net_for(sizes, S=2, seed=6)
    res = prune.imp(net0, gd_train_fn(x, y, n_steps=6, rewind_step=k), rounds=3, fraction=0.4,
                    output_fraction=0.2, rewind_step=k)
    # the step-k weights, computed independently: k steps of the same GD from net0
    step_k, _ = gd_train_fn(x, y, n_steps=k)(net0, prune.dense_masks(net0))
    for a, b in zip(res.rewind_net.weights, step_k.weights):
        assert torch.equal(a, b)
    assert not torch.equal(step_k.weights[0], net0.weights[0])
    for r in range(1, 4):
        for w, wk, m in zip(res.start_nets[r].weights, step_k.weights, res.masks[r]):
            assert torch.equal(w, wk * m)                   # survivors at exactly the step-k values
        assert all(torch.equal(b, bk) for b, bk in zip(res.start_nets[r].biases, step_k.biases))


def test_imp_with_library_trainer_keeps_pruned_weights_zero():
    from overparam import train
    sizes = (5, 12, 7, 3)
    g = torch.Generator().manual_seed(3)
    x = torch.randn(40, 5, generator=g, dtype=torch.float64)
    y = torch.randint(0, 3, (40,), generator=g)
    net0 = net_for(sizes, S=2, seed=7)

    def train_fn(net, masks):
        out = train.train(net, x, y, loss="cross_entropy", optimizer=train.Adam(0.01), n_steps=20, masks=masks,
                          snapshot_steps=(4,))
        return out.net, out.snapshots[4]

    res = prune.imp(net0, train_fn, rounds=3, fraction=0.4, output_fraction=0.2, rewind_step=4)
    for r in range(1, 4):
        for w, m in zip(res.trained[r].weights, res.masks[r]):
            assert bool((w[m == 0] == 0).all())
        for w, wk, m in zip(res.start_nets[r].weights, res.rewind_net.weights, res.masks[r]):
            assert torch.equal(w, wk * m)


def test_imp_densities_geometric():
    sizes = (8, 40, 20, 4)
    x, y = regression_data(sizes)
    net0 = net_for(sizes, S=2)
    res = prune.imp(net0, gd_train_fn(x, y, n_steps=2), rounds=5, fraction=0.2, output_fraction=0.1)
    n0 = np.array([40 * 8, 20 * 40, 4 * 20])
    for k in range(6):
        target = np.array([0.8 ** k, 0.8 ** k, 0.9 ** k])
        bound = 0.5 / np.array([0.2, 0.2, 0.1]) / n0
        assert np.all(np.abs(res.densities[k] - target) <= bound + 1e-12)


def test_imp_same_seed_bit_identical():
    sizes = (4, 9, 3)
    x, y = regression_data(sizes)
    a = prune.imp(net_for(sizes, seed=1), gd_train_fn(x, y), rounds=2, fraction=0.5)
    b = prune.imp(net_for(sizes, seed=1), gd_train_fn(x, y), rounds=2, fraction=0.5)
    for ma, mb in zip(a.masks, b.masks):
        assert all(torch.equal(u, v) for u, v in zip(ma, mb))
    assert all(torch.equal(u, v) for u, v in zip(a.trained[-1].weights, b.trained[-1].weights))


# ----------------------------------------------------------------------------- controls
def sparse_masks(sizes=(7, 13, 9, 3), S=4, seed=0):
    net = net_for(sizes, S=S, seed=seed)
    masks = prune.magnitude_prune(net, 0.6, output_fraction=0.3)
    masks = prune.magnitude_prune(perturb(net, 1), 0.6, masks=masks, output_fraction=0.3)
    return net, masks


def test_random_masks_keep_per_layer_counts_and_are_seeded():
    net, masks = sparse_masks()
    rm = prune.random_masks(masks, seed=3)
    for a, b in zip(rm, masks):
        assert a.shape == b.shape and a.dtype == b.dtype
        assert bool(((a == 0) | (a == 1)).all())
        assert torch.equal(a.reshape(4, -1).sum(1), b.reshape(4, -1).sum(1))
    np.testing.assert_array_equal(prune.densities(rm), prune.densities(masks))
    again = prune.random_masks(masks, seed=3)
    assert all(torch.equal(a, b) for a, b in zip(rm, again))                 # bit-identical
    other = prune.random_masks(masks, seed=4)
    assert not all(torch.equal(a, b) for a, b in zip(rm, other))             # another seed, another mask
    assert not torch.equal(rm[0], masks[0])                                  # not the magnitude mask
    assert not torch.equal(rm[0][0], rm[0][1])                               # students differ
    first2 = prune.random_masks(tuple(m[:2] for m in masks), seed=3)         # student s independent of S
    assert all(torch.equal(a, b[:2]) for a, b in zip(first2, rm))


def test_random_masks_uniform_positions():
    m = torch.zeros(1, 4, 5)
    m.view(-1)[:8] = 1                                          # 8 of 20 kept
    counts = torch.zeros(20)
    n = 400
    for seed in range(n):
        counts += prune.random_masks((m,), seed)[0].reshape(-1)
    p = 8 / 20                                                  # each position kept with probability 0.4
    z = (counts - n * p) / math.sqrt(n * p * (1 - p))
    assert float(z.abs().max()) < 4.5
    assert float(counts.sum()) == 8 * n


def test_reinit_same_mask_new_weights():
    net, masks = sparse_masks()
    re = prune.reinit(net, masks, seed=0)
    np.testing.assert_array_equal(prune.densities(tuple((w != 0).double() for w in re.weights)),
                                  prune.densities(masks))
    for w, w0, m in zip(re.weights, net.weights, masks):
        assert bool((w[m == 0] == 0).all()) and bool((w[m == 1] != 0).all())
        assert not bool(torch.isclose(w, w0)[m == 1].any())   # re-drawn, not the original values
        bound = 1 / math.sqrt(w.shape[2])                       # same distribution (kaiming uniform)
        assert float(w.abs().max()) <= bound
    assert all(torch.equal(a, b) for a, b in zip(re.weights, prune.reinit(net, masks, seed=0).weights))
    assert not torch.equal(re.weights[0], prune.reinit(net, masks, seed=1).weights[0])
    # seed 0's re-draw differs from seed 0's own initialization and from any student of it
    assert not bool(torch.isclose(re.weights[1], init_mlp(net.sizes, 4, 0).weights[1]).any())


def test_shuffle_keeps_mask_and_multiset():
    net, masks = sparse_masks()
    sh = prune.shuffle_weights(net, masks, seed=2)
    for w, w0, m in zip(sh.weights, net.weights, masks):
        assert bool((w[m == 0] == 0).all())
        for s in range(4):
            a = torch.sort(w[s][m[s] == 1]).values
            b = torch.sort(w0[s][m[s] == 1]).values
            assert torch.equal(a, b)                            # same multiset per seed and layer
        assert not torch.equal(w * m, w0 * m)                  # really moved
    assert all(torch.equal(a, b) for a, b in zip(sh.biases, net.biases))
    same = prune.shuffle_weights(net, masks, seed=2)
    assert all(torch.equal(a, b) for a, b in zip(sh.weights, same.weights))
    other = prune.shuffle_weights(net, masks, seed=3)
    assert not torch.equal(sh.weights[0], other.weights[0])
    one = prune.shuffle_weights(net, tuple(torch.ones_like(m) for m in masks), seed=2)
    for w, w0 in zip(one.weights, net.weights):               # dense: a permutation of all values
        assert torch.equal(torch.sort(w.reshape(4, -1)).values, torch.sort(w0.reshape(4, -1)).values)


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("bad", [-0.1, 1.0, 1.5, float("nan"), "0.2", True])
def test_bad_fraction(bad):
    net = net_for((3, 4, 2))
    with pytest.raises(ValueError, match=r"^fraction\b"):
        prune.magnitude_prune(net, bad)
    with pytest.raises(ValueError, match=r"^output_fraction\b"):
        prune.magnitude_prune(net, 0.2, output_fraction=bad)
    with pytest.raises(ValueError, match=r"^fraction\b"):
        prune.imp(net, lambda n, m: (n, None), rounds=1, fraction=bad)


def test_bad_scope_masks_and_arguments():
    net = net_for((3, 4, 2))
    with pytest.raises(ValueError, match=r"^scope\b"):
        prune.magnitude_prune(net, 0.2, scope="even")
    with pytest.raises(ValueError, match=r"^scope\b"):
        prune.imp(net, lambda n, m: (n, None), rounds=1, fraction=0.2, scope="Global")
    good = prune.dense_masks(net)
    wrong_shape = (good[0], torch.ones(3, 2, 5, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"^masks\[1\]"):
        prune.magnitude_prune(net, 0.2, masks=wrong_shape)
    with pytest.raises(ValueError, match=r"^masks\[1\]"):
        prune.apply_masks(net, wrong_shape)
    with pytest.raises(ValueError, match=r"^masks\[1\]"):
        prune.reinit(net, wrong_shape, seed=0)
    with pytest.raises(ValueError, match=r"^masks\[1\]"):
        prune.shuffle_weights(net, wrong_shape, seed=0)
    with pytest.raises(ValueError, match=r"^masks\b"):
        prune.apply_masks(net, good[:1])
    with pytest.raises(ValueError, match=r"^masks\[0\].*0 \(pruned\) and 1"):
        prune.apply_masks(net, (good[0] * 0.5, good[1]))
    with pytest.raises(ValueError, match=r"^masks\[1\]"):
        prune.random_masks((good[0], torch.ones(2, 2, 4)), seed=0)
    with pytest.raises(ValueError, match=r"^seed\b"):
        prune.random_masks(good, seed=-1)
    with pytest.raises(ValueError, match=r"^rounds\b"):
        prune.imp(net, lambda n, m: (n, None), rounds=-1, fraction=0.2)
    with pytest.raises(ValueError, match=r"^rewind_step\b"):
        prune.imp(net, lambda n, m: (n, None), rounds=1, fraction=0.2, rewind_step=-2)
    with pytest.raises(ValueError, match=r"^train_fn must return the step-3 network\b"):
        prune.imp(net, lambda n, m: (n, None), rounds=1, fraction=0.2, rewind_step=3)
    with pytest.raises(ValueError, match=r"^train_fn\b"):
        prune.imp(net, lambda n, m: n, rounds=1, fraction=0.2)
    nan_net = MLP((net.weights[0] * float("nan"), net.weights[1]), net.biases, "relu")
    with pytest.raises(ValueError, match=r"^net\.weights must be finite\b"):
        prune.magnitude_prune(nan_net, 0.2)


def test_one_mask_check_for_pruning_and_training():
    from overparam import train

    net = net_for((3, 4, 2))
    assert "check_masks" not in prune.__all__          # one mask check: mlp.check_masks
    half = (torch.full_like(net.weights[0], 0.5), torch.ones_like(net.weights[1]))
    for call in (lambda m: prune.apply_masks(net, m),
                 lambda m: train.train(net, torch.zeros(2, 3, dtype=torch.float64),
                                       torch.zeros(2, 2, dtype=torch.float64), optimizer=train.GD(0.1),
                                       n_steps=1, masks=m)):
        with pytest.raises(ValueError, match=r"^masks\[0\] must hold only 0 \(pruned\) and 1"):
            call(half)
