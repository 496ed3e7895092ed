"""Tests of overparam.context: the ticket-in-context start is built as stated (checked
against a per-seed loop), at s = 1 with the fresh draw equal to θ0 it reproduces plain
dense training bit for bit, the ticket-part accuracy and movement equal a direct
computation, the IMP densities are known before training, and bad parameters are refused
by name."""

import math

import numpy as np
import pytest
import torch

from overparam import context, prune, train
from overparam import tickets as T
from overparam.mlp import MLP, init_mlp, select
from overparam.rng import derive_seed
from overparam.stats import t_interval, wilson_interval
from overparam import ss_dynamics as ssd
from overparam import context_mnist1d
from overparam import context_students

from test_lottery import toy_data

OPT = train.Adam(0.02, batch_size=20)
KW = dict(
    hidden=(9, 7),
    n_seeds=3,
    seed=1,
    rounds=3,
    fraction=0.4,
    output_fraction=0.2,
    optimizer=OPT,
    n_steps=12,
    eval_every=3,
    dtype=torch.float64,
)


@pytest.fixture(scope="module")
def data():
    return toy_data()


@pytest.fixture(scope="module")
def result(data):
    return context_mnist1d.run_mnist1d(
        data, densities=[0.6, 0.22], scales=[0.0, 1.0, 3.0], finetune_steps=4, **KW
    )


# ---------------------------------------------------------------------------- densities
def test_chain_densities_are_the_lottery_runs_densities(result):
    chain = context.chain_densities((6, 9, 7, 3), 3, 0.4, 0.2)
    np.testing.assert_allclose(chain, result.lottery.densities, rtol=0, atol=1e-12)
    for r, m in enumerate(result.lottery.masks["ticket"]):
        np.testing.assert_allclose(
            prune.overall_density(m), chain[r], rtol=0, atol=1e-12
        )


def test_pick_rounds_nearest_on_log_scale_and_refusals():
    chain = np.array([1.0, 0.5, 0.25, 0.125])
    assert context.pick_rounds([0.5, 0.26, 0.1], chain) == (1, 2, 3)
    assert context.pick_rounds([0.125 * 0.71], chain) == (
        3,
    )  # within half a round past the last
    with pytest.raises(ValueError, match=r"^densities\[1\] must.*reaches"):
        context.pick_rounds([0.5, 0.08], chain)  # beyond half a round
    with pytest.raises(ValueError, match=r"^densities\[0\] must.*reaches"):
        context.pick_rounds([0.9], chain)  # nearer dense than round 1
    with pytest.raises(ValueError, match=r"^densities\[1\] = 0.26 picks IMP round 2"):
        context.pick_rounds([0.25, 0.26], chain)
    with pytest.raises(ValueError, match=r"^densities\[0\] must"):
        context.pick_rounds([-0.1], chain)
    with pytest.raises(ValueError, match=r"^rounds\b"):
        context.pick_rounds([0.5], np.array([1.0]))


# ---------------------------------------------------------------------------- the start
def _net_and_masks(S=3, seed=2):
    net0 = init_mlp((5, 8, 6, 3), S, seed, dtype=torch.float64)
    masks = prune.magnitude_prune(net0, 0.6, output_fraction=0.3)
    return net0, masks


def test_context_init_against_a_per_seed_loop():
    net0, masks = _net_and_masks()
    fresh = context.fresh_draw(net0, 7)
    before = [w.clone() for w in net0.weights]
    got = context.context_init(net0, masks, 2.5, fresh)
    for l, (w0, m, f) in enumerate(zip(net0.weights, masks, fresh.weights)):
        for s in range(net0.n_seeds):
            ref = w0[s].clone()
            for i in range(ref.shape[0]):
                for j in range(ref.shape[1]):
                    if m[s, i, j] == 0:
                        ref[i, j] = 2.5 * f[s, i, j]
            assert torch.equal(got.weights[l][s], ref)
        assert torch.equal(got.biases[l], net0.biases[l])
        assert torch.equal(net0.weights[l], before[l])  # input untouched


def test_context_init_limits_s1_is_net0_bit_for_bit_and_s0_is_the_ticket():
    net0, masks = _net_and_masks()
    same = context.context_init(net0, masks, 1.0, net0)
    assert all(torch.equal(a, b) for a, b in zip(same.weights, net0.weights))
    zero = context.context_init(net0, masks, 0.0, context.fresh_draw(net0, 0))
    ticket = prune.rewind(net0, masks)
    assert all(torch.equal(a, b) for a, b in zip(zero.weights, ticket.weights))


def test_fresh_draw_is_the_initialisation_under_its_own_stream():
    net0, _ = _net_and_masks()
    fresh = context.fresh_draw(net0, 4)
    ref = init_mlp(net0.sizes, 3, derive_seed(4, "context"), dtype=torch.float64)
    assert all(torch.equal(a, b) for a, b in zip(fresh.weights, ref.weights))
    assert not torch.equal(fresh.weights[0], net0.weights[0])
    for w, fan_in in zip(
        fresh.weights, net0.sizes[:-1]
    ):  # kaiming-uniform bound, as θ0
        assert float(w.abs().max()) <= 1 / math.sqrt(fan_in)


def test_bad_scale_and_fresh_are_refused_by_name():
    net0, masks = _net_and_masks()
    with pytest.raises(ValueError, match=r"^scale\b"):
        context.context_init(net0, masks, -1.0, net0)
    with pytest.raises(ValueError, match=r"^fresh\b"):
        context.context_init(net0, masks, 1.0, select(net0, slice(0, 2)))


# ------------------------------------------------------------------ training in context
def test_s1_with_fresh_equal_theta0_reproduces_dense_training_bit_for_bit(data, result):
    lot = result.lottery
    masks = lot.masks["ticket"][2]
    out = context_mnist1d.train_context(
        lot.net0,
        [masks],
        [1.0],
        lot.net0,
        data,
        optimizer=OPT,
        n_steps=12,
        eval_every=3,
        seed=1,
    )
    plain = train.train(
        lot.net0,
        data.x_train,
        data.y_train,
        loss="cross_entropy",
        optimizer=OPT,
        n_steps=12,
        seed=1,
    )
    dense = lot.trained["ticket"][0]  # the lottery run's round 0
    for a, b, c in zip(out.net.weights, plain.net.weights, dense.weights):
        assert torch.equal(a, b) and torch.equal(a, c)
    for a, b in zip(out.net.biases, dense.biases):
        assert torch.equal(a, b)
    d = lot.runs[lot.runs.condition == "dense"].sort_values("seed")
    np.testing.assert_array_equal(
        out.history["test_acc"][:, -1], d.final_test_acc.to_numpy()
    )


def test_batched_blocks_equal_training_each_block_alone(data, result):
    lot = result.lottery
    ms = [lot.masks["ticket"][1], lot.masks["ticket"][3]]
    scales = [0.0, 2.0]
    out = context_mnist1d.train_context(
        lot.net0,
        ms,
        scales,
        result.fresh,
        data,
        optimizer=OPT,
        n_steps=12,
        eval_every=3,
        seed=1,
    )
    for i, m in enumerate(ms):
        for j, s in enumerate(scales):
            one = context_mnist1d.train_context(
                lot.net0,
                [m],
                [s],
                result.fresh,
                data,
                optimizer=OPT,
                n_steps=12,
                eval_every=3,
                seed=1,
            )
            lo = (i * len(scales) + j) * 3
            for a, b in zip(
                select(out.net, slice(lo, lo + 3)).weights, one.net.weights
            ):
                torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


def test_ticket_part_accuracy_and_movement_against_direct_computation(data):
    net0 = init_mlp((6, 8, 6, 3), 3, 2, dtype=torch.float64)
    masks = prune.magnitude_prune(net0, 0.5)
    moved = MLP(
        tuple(w + 0.1 * (l + 1) for l, w in enumerate(net0.weights)),
        net0.biases,
        "relu",
    )
    acc = context.ticket_part_accuracy(moved, masks, data.x_test, data.y_test)
    mv = context.ticket_movement(moved, net0, masks)
    for s in range(3):
        h = data.x_test
        for l, (w, b, m) in enumerate(zip(moved.weights, moved.biases, masks)):
            h = h @ (w[s] * m[s]).T + b[s]
            if l < 2:
                h = torch.relu(h)
        assert acc[s] == pytest.approx(
            float((h.argmax(1) == data.y_test).double().mean())
        )
        # every kept weight of layer l moved by 0.1 (l + 1); pruned ones do not count
        sq = sum(0.01 * (l + 1) ** 2 * float(m[s].sum()) for l, m in enumerate(masks))
        assert mv[s] == pytest.approx(math.sqrt(sq))


# ----------------------------------------------------------------------- the experiment
def test_run_mnist1d_tables_agree_with_the_lottery_run(result):
    runs, lot = result.runs, result.lottery
    assert result.rounds == (1, 3) and len(runs) == 2 * 3 * (4 + 3)
    for r in result.rounds:
        t = runs[(runs.condition == "ticket_alone") & (runs["round"] == r)].sort_values(
            "seed"
        )
        ref = lot.runs[
            (lot.runs.condition == "ticket") & (lot.runs["round"] == r)
        ].sort_values("seed")
        np.testing.assert_array_equal(t.test_acc.to_numpy(), ref.test_acc.to_numpy())
        np.testing.assert_array_equal(t.ticket_move_ratio.to_numpy(), 1.0)
        dense = runs[(runs.condition == "dense") & (runs["round"] == r)].sort_values(
            "seed"
        )
        ext = runs[(runs.condition == "extracted") & (runs["round"] == r)].sort_values(
            "seed"
        )
        np.testing.assert_allclose(
            dense.ticket_part_acc.to_numpy(), ext.test_acc.to_numpy()
        )
        part = context.ticket_part_accuracy(
            lot.trained["ticket"][0],
            lot.masks["ticket"][r],
            toy_data().x_test,
            toy_data().y_test,
        )
        np.testing.assert_allclose(ext.test_acc.to_numpy(), part)
    ctx = runs[runs.condition == "context"]
    assert sorted(ctx.scale.unique()) == [0.0, 1.0, 3.0]
    assert ctx.test_acc.between(0, 1).all() and ctx.ticket_move.ge(0).all()
    assert runs.condition.value_counts().to_dict() == {
        "context": 18,
        "ticket_alone": 6,
        "dense": 6,
        "extracted": 6,
        "finetuned": 6,
    }


def test_summary_and_paired_difference(result):
    summ = context_mnist1d.summarize_mnist1d(result)
    assert len(summ["mnist1d"]) == 6 and len(summ["extracted"]) == 2
    runs = result.runs
    rec = summ["mnist1d"][5]  # the second density, the third scale
    g = runs[(runs.condition == "context") & (runs["round"] == 3) & (runs.scale == 3.0)]
    ci = t_interval(g.test_acc.to_numpy())
    assert (rec["scale"], rec["acc_mean"], rec["acc_ci_low"]) == (3.0, ci.mean, ci.low)
    assert rec["ticket_part_acc_mean"] == pytest.approx(g.ticket_part_acc.mean())
    f = runs[(runs.condition == "finetuned") & (runs["round"] == 1)]
    assert summ["extracted"][0]["finetuned_acc_mean"] == pytest.approx(
        f.test_acc.mean()
    )
    d = context_mnist1d.paired_difference(result, -1, ("context", 3.0))
    a = g.sort_values("seed").test_acc.to_numpy()
    t = runs[(runs.condition == "ticket_alone") & (runs["round"] == 3)].sort_values(
        "seed"
    )
    assert d.mean == pytest.approx(float(np.mean(a - t.test_acc.to_numpy())))
    gap = context_mnist1d.paired_difference(
        result, 0, ("ticket_alone",), ("context", 1.0), field="ticket_part_acc"
    )
    at = runs[runs["round"] == 1]
    alone = at[at.condition == "ticket_alone"].sort_values("seed").ticket_part_acc
    ctx = at[(at.condition == "context") & (at.scale == 1.0)].sort_values("seed")
    ref = t_interval(alone.to_numpy() - ctx.ticket_part_acc.to_numpy())
    assert (gap.mean, gap.low, gap.high) == pytest.approx((ref.mean, ref.low, ref.high))
    with pytest.raises(ValueError, match=r"^condition\b"):
        context_mnist1d.paired_difference(result, 0, ("context", 2.0))


def test_bad_mnist1d_parameters_fail_before_training(data):
    kw = dict(KW, n_steps=10**9)  # would take forever if anything trained
    with pytest.raises(ValueError, match=r"^scales\[1\]"):
        context_mnist1d.run_mnist1d(
            data, densities=[0.5], scales=[0.0, -1.0], finetune_steps=1, **kw
        )
    with pytest.raises(ValueError, match=r"^densities\[1\] must.*reaches"):
        context_mnist1d.run_mnist1d(
            data, densities=[0.5, 0.01], scales=[1.0], finetune_steps=1, **kw
        )


# ---------------------------------------------------------------------- teacher-student
@pytest.fixture(scope="module")
def students():
    return context_students.run_students(4, 10, 3, [0.0, 1.0, 2.0])


def test_students_holders_and_scales_against_a_per_seed_reference(students):
    st = students
    k = st.k
    assert np.array_equal(st.holders, np.flatnonzero((st.sub.outcome == T.WIN).any(1)))
    assert st.holders.size >= 3
    lr = 5.0 / (k + 1)
    for j, h in enumerate(st.holders):
        c = st.ticket[j]
        assert st.sub.outcome[h, c] == T.WIN and (st.sub.outcome[h, :c] != T.WIN).all()
        assert st.extra[j] not in st.idx[c].tolist()
    ref1 = T.train_students(
        st.W0[torch.as_tensor(st.holders)], lr=lr
    )  # the plain wide student
    np.testing.assert_array_equal(st.wide[1.0].outcome, ref1.outcome)
    torch.testing.assert_close(st.wide[1.0].W, ref1.W, rtol=0, atol=1e-12)
    W2 = torch.stack([st.W0[h].clone() for h in st.holders])
    for j in range(st.holders.size):
        W2[j, st.extra[j]] *= 2.0
    ref2 = T.train_students(W2, lr=lr)
    np.testing.assert_array_equal(st.wide[2.0].outcome, ref2.outcome)
    alone = torch.stack([st.W0[h, st.idx[c]] for h, c in zip(st.holders, st.ticket)])
    ref0 = T.train_students(alone, lr=lr)
    np.testing.assert_array_equal(st.wide[0.0].outcome, ref0.outcome)
    assert list(st.wide) == [0.0, 1.0, 2.0]


def test_zero_extra_neuron_never_moves_so_s0_is_the_ticket_alone(students):
    st = students
    j = 0
    W = st.W0[st.holders[j]].clone()[None]
    W[0, st.extra[j]] = 0.0
    res = ssd.gradient_descent(
        W, lr=5.0 / (st.k + 1), n_steps=200, loss_tol=0.0, grad_tol=0.0
    )
    assert float(res.W[0, st.extra[j]].abs().max()) == 0.0
    keep = [i for i in range(st.k + 1) if i != st.extra[j]]
    alone = ssd.gradient_descent(
        W[:, keep].contiguous(),
        lr=5.0 / (st.k + 1),
        n_steps=200,
        loss_tol=0.0,
        grad_tol=0.0,
    )
    torch.testing.assert_close(res.W[:, keep], alone.W, rtol=0, atol=1e-12)


def test_summarize_students_counts_and_wilson(students):
    recs = context_students.summarize_students([students])
    assert [r["scale"] for r in recs] == [0.0, 1.0, 2.0]
    for r in recs:
        o = students.wide[r["scale"]]
        assert r["holders"] == students.holders.size and r["wide_fails"] == int(
            o.fails.sum()
        )
        ci = wilson_interval(r["wide_fails"], r["holders"] - r["unresolved"])
        assert (r["ci_low"], r["ci_high"]) == (ci.low, ci.high)


def test_bad_student_parameters_are_refused_by_name():
    with pytest.raises(ValueError, match=r"^scales\[0\]"):
        context_students.run_students(4, 2, 0, [-0.5])
    with pytest.raises(ValueError, match=r"^k\b"):
        context_students.run_students(1, 2, 0, [1.0])
    with pytest.raises(ValueError, match=r"^lr_scale\b"):
        context_students.run_students(4, 2, 0, [1.0], lr_scale=0.0)


def test_student_table_has_one_row_per_holder_and_scale(students):
    tab = students.table()
    H = students.holders.size
    assert len(tab) == 3 * H and list(tab.scale.unique()) == [0.0, 1.0, 2.0]
    names = {T.WIN: "win", T.FAIL: "fail", T.UNRESOLVED: "unresolved"}
    for s, o in students.wide.items():
        rows = tab[tab.scale == s]
        assert rows.seed.tolist() == students.holders.tolist()
        assert rows.outcome.tolist() == [names[int(c)] for c in o.outcome]


def test_check_scales_and_split_modules():
    from overparam import context_mnist1d, context_students

    assert context.check_scales([0, 0.5]) == (0.0, 0.5)
    with pytest.raises(ValueError, match=r"^scales\b"):
        context.check_scales([])
    with pytest.raises(ValueError, match=r"^scales\[1\]"):
        context.check_scales([0.5, -1.0])
    # each name has one home: the split-off tests are no longer reachable from context
    assert callable(context_mnist1d.run_mnist1d) and callable(context_students.run_students)
    assert not hasattr(context, "run_mnist1d") and not hasattr(context, "run_students")
