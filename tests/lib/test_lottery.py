"""Tests of overparam.lottery: the batched experiment equals prune.imp chain by chain, the controls keep
the ticket's densities, early stopping and the summaries are computed as stated."""
import numpy as np
import pytest
import torch

from overparam import lottery, prune, train
from overparam.data import Dataset
from overparam.mlp import select
from overparam.stats import t_interval

OPT = train.Adam(0.02)


def toy_data(seed=0, n_features=6, n_classes=3):
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(n_classes, n_features, generator=g, dtype=torch.float64) * 1.5

    def draw(n):
        y = torch.randint(0, n_classes, (n,), generator=g)
        return centres[y] + torch.randn(n, n_features, generator=g, dtype=torch.float64), y

    (xt, yt), (xv, yv), (xs, ys) = draw(60), draw(21), draw(23)
    return Dataset("toy", xt, yt, xs, ys, n_classes, x_val=xv, y_val=yv)


KW = dict(hidden=(9, 7), n_seeds=3, seed=1, rounds=3, fraction=0.4, output_fraction=0.2, rewind_step=2,
          n_rewind_seeds=2, optimizer=OPT, n_steps=12, eval_every=3, dtype=torch.float64)


@pytest.fixture(scope="module")
def result():
    return lottery.run_lottery(toy_data(), **KW)


def imp_train_fn(data, snapshot=None):
    def fn(net, masks):
        out = train.train(net, data.x_train, data.y_train, loss="cross_entropy", optimizer=OPT, n_steps=12,
                          masks=masks, seed=1, snapshot_steps=() if snapshot is None else (snapshot,))
        return out.net, None if snapshot is None else out.snapshots[snapshot]
    return fn


def test_ticket_chain_equals_prune_imp(result):
    data = toy_data()
    ref = prune.imp(result.net0, imp_train_fn(data), rounds=3, fraction=0.4, output_fraction=0.2)
    for r in range(4):
        assert all(torch.equal(a, b) for a, b in zip(result.masks["ticket"][r], ref.masks[r]))
        for a, b in zip(result.trained["ticket"][r].weights, ref.trained[r].weights):
            torch.testing.assert_close(a, b, rtol=0, atol=1e-10)


def test_rewind_chain_equals_prune_imp_with_rewinding(result):
    data = toy_data()
    net0 = select(result.net0, slice(0, 2))
    ref = prune.imp(net0, imp_train_fn(data, snapshot=2), rounds=3, fraction=0.4, output_fraction=0.2,
                    rewind_step=2)
    for a, b in zip(result.rewind_net.weights, ref.rewind_net.weights):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-10)
    for r in range(4):
        assert all(torch.equal(a, b) for a, b in zip(result.masks["rewind"][r], ref.masks[r]))
    assert not torch.equal(result.rewind_net.weights[0], net0.weights[0])


def test_controls_keep_ticket_densities_and_pruned_weights_zero(result):
    for r in range(1, 4):
        dt = prune.densities(result.masks["ticket"][r])
        for c in ("reinit", "random_mask"):
            np.testing.assert_array_equal(prune.densities(result.masks[c][r]), dt)
        assert all(torch.equal(a, b) for a, b in zip(result.masks["reinit"][r], result.masks["ticket"][r]))
        assert not torch.equal(result.masks["random_mask"][r][0], result.masks["ticket"][r][0])
        for c in lottery.CONDITIONS:
            for w, m in zip(result.trained[c][r].weights, result.masks[c][r]):
                assert bool((w[m == 0] == 0).all())
    runs = result.runs
    for r in range(1, 4):
        d = runs[runs["round"] == r].groupby("condition").density.unique()
        assert all(len(v) == 1 for v in d)
        assert d["ticket"][0] == d["reinit"][0] == d["random_mask"][0]
    np.testing.assert_allclose(result.densities[0], 1.0)
    assert np.all(np.diff(result.densities) < 0)


def test_runs_table_consistent_with_curves(result):
    runs, curves = result.runs, result.curves
    assert len(runs) == 3 + 3 * (3 + 3 + 3 + 2)
    assert set(runs.condition) == {"dense", *lottery.CONDITIONS}
    for _, row in runs.sample(8, random_state=0).iterrows():
        c = curves[(curves.condition == row.condition) & (curves["round"] == row["round"])
                   & (curves.seed == row.seed)]
        assert list(c.step) == [0, 3, 6, 9, 12]
        i = int(np.argmin(c.val_loss.to_numpy()))
        assert row.stop_step == c.step.iloc[i]
        assert row.test_acc == c.test_acc.iloc[i]
        assert row.censored == (i == 4)
        assert row.final_test_acc == c.test_acc.iloc[-1]


def test_same_seed_bit_identical(result):
    again = lottery.run_lottery(toy_data(), **{**KW, "rounds": 1})
    a = result.runs[result.runs["round"] <= 1].reset_index(drop=True)
    b = again.runs.reset_index(drop=True)
    assert a.equals(b)


def test_early_stop_rule():
    steps = np.array([0, 10, 20, 30])
    v = np.array([[3.0, 2.0, 2.0, 2.5],        # tie: the first minimum
                  [3.0, 2.0, 1.0, 0.5],        # still falling: censored
                  [np.nan, 1.0, np.inf, 2.0]])  # NaN/inf never chosen
    i, cens = lottery.early_stop(steps, v)
    assert i.tolist() == [1, 3, 1]
    assert cens.tolist() == [False, True, False]


def test_summarize_and_paired_difference(result):
    s = lottery.summarize(result)
    runs = result.runs
    assert set(s) == {"dense", *lottery.CONDITIONS}
    assert isinstance(s["dense"]["acc_mean"], float)
    t = runs[runs.condition == "ticket"]
    for j, r in enumerate(range(1, 4)):
        ci = t_interval(t[t["round"] == r].test_acc)
        assert s["ticket"]["acc_mean"][j] == pytest.approx(ci.mean)
        assert s["ticket"]["acc_ci_low"][j] == pytest.approx(ci.low)
        assert s["ticket"]["stop_iter_censored_fraction"][j] == pytest.approx(t[t["round"] == r].censored.mean())
    assert len(s["rewind"]["acc_mean"]) == 3 and s["rewind"]["n_seeds"] == [2, 2, 2]
    # paired difference by hand: per seed, mean over the 2 lowest densities, then a t interval
    d = lottery.paired_difference(result, "ticket", "reinit", n_lowest=2)
    acc = {c: runs[runs.condition == c].set_index(["seed", "round"]).test_acc for c in ("ticket", "reinit")}
    per_seed = [np.mean([acc["ticket"][(k, r)] - acc["reinit"][(k, r)] for r in (2, 3)]) for k in range(3)]
    want = t_interval(per_seed)
    assert (d.mean, d.low, d.high, d.n) == pytest.approx((want.mean, want.low, want.high, want.n))
    per = lottery.seed_differences(result, "ticket", "reinit", n_lowest=2)
    assert list(per.index) == [0, 1, 2] and per.to_numpy() == pytest.approx(per_seed, abs=1e-15)
    assert lottery.paired_difference(result, "ticket", "rewind").n == 2


def test_bad_input():
    data = toy_data()
    no_val = Dataset("toy", data.x_train, data.y_train, data.x_test, data.y_test, 3)
    with pytest.raises(ValueError, match=r"^data must be .* with a validation split\b"):
        lottery.run_lottery(no_val, **KW)
    with pytest.raises(ValueError, match=r"^conditions\b"):
        lottery.run_lottery(data, **{**KW, "conditions": ("ticket", "reinit_typo")})
    with pytest.raises(ValueError, match=r"^eval_every\b"):
        lottery.run_lottery(data, **{**KW, "eval_every": 5})
    with pytest.raises(ValueError, match=r"^n_rewind_seeds\b"):
        lottery.run_lottery(data, **{**KW, "n_rewind_seeds": 4})
    with pytest.raises(ValueError, match=r"^fraction\b"):
        lottery.run_lottery(data, **{**KW, "fraction": 1.0})
    with pytest.raises(ValueError, match=r"^optimizer\b"):
        lottery.run_lottery(data, **{**KW, "optimizer": "adam"})
    with pytest.raises(ValueError, match=r"^n_lowest\b"):
        lottery.paired_difference(lottery.run_lottery(data, **{**KW, "rounds": 1}), n_lowest=2)
