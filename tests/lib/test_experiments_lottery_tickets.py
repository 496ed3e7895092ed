"""Tests of overparam.experiments.lottery_tickets: the chapter's experiment runs end to end on a small data
set, and every number it reports follows the rule the prose states (checked on hand-built runs where the
answer is known)."""
import json

import numpy as np
import pandas as pd
import pytest
import torch

from overparam import data, lottery, shard, sweeps, train
from overparam.book import VERDICTS, to_json_value
from overparam.data import Dataset
from overparam.experiments import lottery_tickets as lt


def toy_dataset(seed=0, n_features=6, n_classes=3):
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(n_classes, n_features, generator=g) * 1.5

    def draw(n):
        y = torch.randint(0, n_classes, (n,), generator=g)
        return centres[y] + torch.randn(n, n_features, generator=g), y

    (xt, yt), (xs, ys) = draw(96), draw(30)
    return Dataset("toy", xt, yt, xs, ys, n_classes)


KW = dict(seed=1, n_seeds=3, n_rewind_seeds=2, rounds=3, fraction=0.4, output_fraction=0.2, rewind_step=2,
          n_steps=12, eval_every=3, lr=0.02, batch_size=16, val_fraction=0.25, hidden=(9, 7))


@pytest.fixture(autouse=True)
def _no_outer_scheduler(monkeypatch):
    monkeypatch.delenv(shard.ADDRESS_ENV, raising=False)


@pytest.fixture(scope="module")
def result():
    return lt.run(dataset=toy_dataset(), **KW)


def test_run_is_run_lottery_on_the_split(result):
    assert set(result.runs.condition) == {"dense", *lottery.CONDITIONS}
    assert result.config["sizes"] == (6, 9, 7, 3)
    assert result.config["n_steps"] == 12 and result.config["rounds"] == 3
    assert len(result.runs[result.runs.condition == "rewind"].seed.unique()) == 2
    # the same as run_lottery on the validation split with minibatch Adam
    args = {k: v for k, v in KW.items() if k not in ("lr", "batch_size", "val_fraction")}
    direct = lottery.run_lottery(data.validation_split(toy_dataset(), 0.25, 1),
                                 optimizer=train.Adam(0.02, batch_size=16), **args)
    pd.testing.assert_frame_equal(result.runs, direct.runs)


def test_analyse_matches_the_library_summaries(result):
    a = lt.analyse(result)
    stats = lottery.summarize(result)
    assert a.stats == stats
    np.testing.assert_allclose(a.densities, stats["ticket"]["density"])
    assert a.pd_reinit == lottery.paired_difference(result, "ticket", "reinit", n_lowest=3)
    assert a.pd_rewind == lottery.paired_difference(result, "rewind", "ticket", n_lowest=3)
    diffs = lottery.seed_differences(result, "ticket", "reinit", n_lowest=3)
    assert a.seed_wins == int((diffs > 0).sum())
    assert a.verdict in VERDICTS
    values = lt.glue_values(a)
    for name in ("lt-diff-reinit-low", "lt-cens-rewind", "lt-match-text", "lt-stop-diff", "lt-seed-wins"):
        assert name in values
    s = lt.summary(result, a, profile="quick")
    assert s["paired_ticket_minus_reinit_lowest3"]["mean"] == a.pd_reinit.mean
    json.dumps(to_json_value(s))  # summary.json can be written
    assert s["findings"][0]["verdict"] == a.verdict


def fake_result(ticket_acc, dense_acc=(0.80, 0.81, 0.82), reinit_acc=None, stop=None, censored=None):
    """A LotteryResult with chosen accuracies: ``ticket_acc[r][s]`` for pruned rounds r = 1..R."""
    R, S = len(ticket_acc), len(dense_acc)
    reinit_acc = reinit_acc or [[a - 0.1 for a in row] for row in ticket_acc]
    stop = stop or {c: [[100] * S] * R for c in lottery.CONDITIONS}
    censored = censored or [[False] * S] * R
    rows = [dict(condition="dense", round=0, seed=s, density=1.0, test_acc=a, final_test_acc=a, stop_step=50,
                 censored=False) for s, a in enumerate(dense_acc)]
    accs = {"ticket": ticket_acc, "reinit": reinit_acc, "random_mask": reinit_acc, "rewind": ticket_acc}
    for cond in lottery.CONDITIONS:
        for r in range(R):
            for s in range(S):
                rows.append(dict(condition=cond, round=r + 1, seed=s, density=0.6 ** (r + 1),
                                 test_acc=accs[cond][r][s], final_test_acc=accs[cond][r][s],
                                 stop_step=stop[cond][r][s], censored=bool(censored[r][s])))
    return lottery.LotteryResult(runs=pd.DataFrame(rows), curves=pd.DataFrame(), layer_densities=np.ones((R + 1, 3)),
                                 config={"rounds": R, "conditions": lottery.CONDITIONS, "n_seeds": S},
                                 net0=None, rewind_net=None, masks={}, trained={})


def test_lowest_match_is_the_unbroken_run_from_the_top():
    # dense mean 0.81, half-width about 0.025: 0.80 matches, 0.70 does not; round 4 matches again but
    # comes after a miss, so the run stops at round 2
    t = [[0.81] * 3, [0.80] * 3, [0.70, 0.71, 0.72], [0.81] * 3]
    a = lt.analyse(fake_result(t))
    assert a.lowest_match == pytest.approx(0.6 ** 2)
    assert "36.0%" in lt.glue_values(a)["lt-match-text"].data
    a = lt.analyse(fake_result([[0.5, 0.51, 0.52]] + t[1:]))
    assert a.lowest_match is None


def test_seed_wins_counts_each_ticket_against_its_own_twin():
    t = [[0.8, 0.8, 0.8]] * 3
    reinit = [[0.7, 0.9, 0.75]] * 3     # the ticket wins at seeds 0 and 2, loses at seed 1
    a = lt.analyse(fake_result(t, reinit_acc=reinit))
    assert a.seed_wins == 2
    assert a.pd_reinit.mean == pytest.approx(np.mean([0.1, -0.1, 0.05]))


def test_speed_uses_the_lowest_rounds_without_a_censored_ticket():
    S, R = 3, 5
    stop = {c: [[100 + 10 * r] * S for r in range(R)] for c in lottery.CONDITIONS}
    stop["reinit"] = [[300 + 10 * r + s for s in range(S)] for r in range(R)]
    cens = [[False] * S] * 3 + [[True, False, False]] + [[False] * S]
    a = lt.analyse(fake_result([[0.8] * S] * R, stop=stop, censored=cens))
    assert a.speed_rounds == [2, 3, 5]    # round 4 has a censored ticket run
    assert a.speed_densities == pytest.approx([0.6 ** 2, 0.6 ** 3, 0.6 ** 5])
    assert a.stop_diff.mean == pytest.approx(201.0)
    assert a.stop_ticket == pytest.approx(np.mean([110, 120, 140]))


@pytest.mark.parametrize("name, value", [("eval_every", 5), ("n_rewind_seeds", 4), ("rewind_step", 13),
                                         ("val_fraction", 1.5)])
def test_run_rejects_bad_parameters(name, value):
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        lt.run(dataset=toy_dataset(), **{**KW, name: value})


def test_analyse_rejects_bad_n_lowest(result):
    with pytest.raises(ValueError, match=r"^n_lowest\b"):
        lt.analyse(result, n_lowest=0)


def test_workers_shard_the_seeds_bit_for_bit(result):
    """workers > 1: one seed per task on a loopback Dask cluster; the joined result is the plain run's."""
    sharded = lt.run(dataset=toy_dataset(), workers=2, **KW)
    pd.testing.assert_frame_equal(result.runs, sharded.runs, check_exact=True)
    pd.testing.assert_frame_equal(result.curves, sharded.curves, check_exact=True)
    with pytest.raises(ValueError, match=r"^workers\b"):
        lt.run(dataset=toy_dataset(), workers=0, **KW)


def test_mnist1d_seed_blocks_train_and_evaluate_as_the_full_batch():
    """The chapter's own shapes (MNIST-1D, 300-100 hidden, float32, minibatch Adam): seeds run one per
    block give the full run's numbers bit for bit (a few steps)."""
    kw = dict(seed=0, n_seeds=3, n_rewind_seeds=2, rounds=1, fraction=0.5, output_fraction=0.2,
              rewind_step=2, n_steps=20, eval_every=10, lr=1.2e-3, batch_size=100, val_fraction=0.125)
    full = lt.run(**kw)
    ds = data.validation_split(data.mnist1d(), 0.125, 0)
    args = {k: v for k, v in kw.items() if k not in ("lr", "batch_size", "val_fraction")}
    blocks = sweeps.lottery_sweep(ds, block=1, optimizer=train.Adam(1.2e-3, batch_size=100), **args)
    pd.testing.assert_frame_equal(full.runs, blocks.runs, check_exact=True)
    pd.testing.assert_frame_equal(full.curves, blocks.curves, check_exact=True)
    for c in full.trained:
        for a, b in zip(full.trained[c], blocks.trained[c]):
            assert all(torch.equal(p, q) for p, q in zip(a.weights, b.weights))
