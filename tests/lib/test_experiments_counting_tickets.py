"""overparam.experiments.counting_tickets, counting_analysis and counting_control: the
counting-tickets chapter's experiment, tables, glued numbers and summary.

Most tests run on hand-made experiments with random outcomes (fast, and every outcome class
occurs), checked against slow per-seed loops; one small real run checks the wiring to
overparam.tickets."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from overparam import ticket_analysis as A
from overparam import tickets as T
from overparam.book import to_json_value
from overparam.experiments import counting_analysis as CA
from overparam.experiments import counting_control as CC
from overparam.experiments import counting_tickets as C
from overparam.stats import wilson_interval

CODES = np.array([T.WIN, T.FAIL, T.UNRESOLVED])


def _outcomes(rng, shape, n_rows, d, p=(0.5, 0.35, 0.15)):
    o = rng.choice(CODES, size=shape, p=p)
    W = torch.tensor(rng.normal(size=(*shape, n_rows, d)))
    lam = np.where(o == T.FAIL, rng.uniform(1e-5, 1e-2, size=shape), np.nan)
    return T.Outcomes(o, np.full(shape, "x", dtype=object), rng.uniform(0, 1, size=shape), lam,
                      np.zeros(shape, dtype=np.int64), W,
                      np.where(o == T.FAIL, rng.uniform(1e-12, 1e-9, size=shape), np.nan))


def fake_experiment(k=2, seeds=30, seed=0, sampled=True, max_extra=1):
    """A width-k experiment with students k, k+1, k+2, 2k (k >= 3 makes them distinct), every
    subnetwork of the first k+max_extra neurons, matched at k+1 .. k+max_extra, random outcomes."""
    rng = np.random.default_rng(seed)
    idx = T.subnetworks(k + max_extra, k)
    widths = sorted({k, k + 1, k + 2, 2 * k})
    sub = _outcomes(rng, (seeds, len(idx)), k, k)
    wide = {n: sub.select(0) if n == k else _outcomes(rng, (seeds,), n, k) for n in widths}
    sidx = T.sample_subnetworks(max(widths), k, 2, seed) if sampled else torch.zeros(0, k, dtype=torch.int64)
    smp = _outcomes(rng, (seeds, 2), k, k) if sampled else None
    matched = {n: _outcomes(rng, (seeds, math.comb(n, k)), k, k)
               for n in range(k + 1, k + max_extra + 1)}
    W0 = torch.tensor(rng.normal(size=(seeds, max(widths), k)))
    return T.TicketExperiment(k, W0, idx, sub, wide, sidx, smp, 5.0, matched)


@pytest.fixture(scope="module")
def fake():
    return {3: fake_experiment(3, seed=1), 4: fake_experiment(4, seed=2, sampled=False)}


@pytest.fixture(scope="module")
def real():
    torch.set_default_dtype(torch.float64)
    return C.run_experiments([4, 5], [4], 5, 3, max_extra=1, n_sampled=2, n_steps=3000)


def test_check_ks_wide_and_parameters():
    C.check_ks_wide([12, 14], [14])
    with pytest.raises(ValueError, match=r"^ks_wide\b"):
        C.check_ks_wide([12, 14], [16])
    assert set(C.PARAMETERS) >= {"ks", "ks_wide", "n_seeds", "n_steps", "control_seeds"}


def test_run_experiments_is_tickets_run_experiment_per_width(real):
    assert sorted(real) == [4, 5]
    assert sorted(real[4].wide) == [4, 5, 6, 8] and sorted(real[5].wide) == [5, 6]
    assert real[4].sampled is not None and real[5].sampled is None
    assert sorted(real[4].matched) == [5] and sorted(real[5].matched) == [6]
    ref = T.run_experiment(5, 5, 3, widths=[5, 6], max_extra=1, n_steps=3000, matched_step=True)
    np.testing.assert_array_equal(ref.sub.outcome, real[5].sub.outcome)
    np.testing.assert_array_equal(ref.wide[6].outcome, real[5].wide[6].outcome)
    assert torch.equal(ref.W0, real[5].W0) and torch.equal(ref.wide[6].W, real[5].wide[6].W)
    with pytest.raises(ValueError, match=r"^workers\b"):
        C.run_experiments([4], [4], 4, 0, workers=0)
    with pytest.raises(ValueError, match=r"^n_steps\b"):
        C.run_experiments([4], [4], 4, 0, n_steps=0)
    with pytest.raises(ValueError, match=r"^ks_wide\b"):
        C.run_experiments([4], [5], 4, 0)


def test_rate_is_the_wilson_interval():
    ci = wilson_interval(7, 20)
    assert C.rate(7, 20) == (ci.fraction, ci.low, ci.high)


def _slow_tally(wide, sub):
    """Per seed, by hand: (determined, wide win, some subnetwork wins)."""
    rows = []
    for s in range(len(wide)):
        ticket = True if (sub[s] == T.WIN).any() else (False if (sub[s] == T.FAIL).all() else None)
        rows.append((wide[s] != T.UNRESOLVED and ticket is not None, wide[s] == T.WIN, ticket))
    return rows


def test_predictions_table_against_a_per_seed_loop(fake):
    table, seed_tables = C.predictions_table(fake)
    assert [(r.k, r.n) for r in table.itertuples()] == [(3, 3), (3, 4), (3, 5), (3, 6), (4, 4), (4, 5),
                                                         (4, 6), (4, 8)]
    assert sorted(seed_tables) == [(3, 3), (3, 4), (3, 6), (4, 4), (4, 5)]
    for r in table.itertuples():
        ex = fake[r.k]
        wide = ex.wide[r.n].outcome
        assert r.seeds == (wide != T.UNRESOLVED).sum() and r.unresolved == (wide == T.UNRESOLVED).sum()
        assert r.wide_success == pytest.approx((wide == T.WIN).sum() / r.seeds)
        assert r.subnetworks == math.comb(r.n, r.k)
        assert r.pred_tickets == pytest.approx(1 - (1 - r.p_k) ** math.comb(r.n, r.k))
        assert math.isnan(r.pred_restarts) == (r.n != 2 * r.k)
        if (r.k, r.n) not in seed_tables:
            assert math.isnan(r.tally_seeds) and not isinstance(r.ticket_measure, str)
            continue
        sub = (ex.subnetworks_of(r.n, matched=True) if r.n <= r.k + 1 else ex.sampled.outcome)
        rows = _slow_tally(wide, sub)
        det = [(w, t) for d, w, t in rows if d]
        assert r.tally_seeds == len(det) and r.undetermined == len(rows) - len(det)
        assert r.both == sum(w and t for w, t in det)
        assert r.ticket_without_wide_win == sum(t and not w for w, t in det)
        assert r.wide_wins_without_ticket == sum(w and not t for w, t in det)
        assert r.neither == sum(not w and not t for w, t in det)
        assert r.some_subnetwork == pytest.approx(sum(t for _, t in det) / len(det))
        assert r.ticket_measure == ("all" if r.n <= r.k + 1 else "2 sampled (lower bound)")
    assert list(table[C.PREDICTION_COLUMNS].columns) == C.PREDICTION_COLUMNS


def test_predictions_table_with_two_extra_neurons_as_in_the_paper_profile():
    ex = fake_experiment(3, seed=5, max_extra=2)
    table, seed_tables = C.predictions_table({3: ex})
    assert sorted(seed_tables) == [(3, 3), (3, 4), (3, 5), (3, 6)]
    r = table[table.n == 5].iloc[0]
    assert r.ticket_measure == "all" and r.tally_seeds + r.undetermined == 30
    assert seed_tables[(3, 5)].subnetworks.iloc[0] == 10
    halves, steps = CA.halves_tables({3: ex})
    assert list(halves.n) == [4] and list(steps.n) == [4]


def test_prediction_and_seed_by_seed_glue_read_the_table(fake):
    table, _ = C.predictions_table(fake)
    g = C.prediction_glue(table, 3, 3)
    row = table[(table.k == 3) & (table.n == 4)].iloc[0]
    two_k = table[(table.k == 3) & (table.n == 6)].iloc[0]
    assert g["ct-k"] == g["ct-kw"] == 3 and g["ct-subnets-k1"] == 4
    assert g["ct-wide-k1-low"] == row.wide_low and g["ct-some-k1-high"] == row.some_high
    assert g["ct-restarts-2k"] == two_k.pred_restarts and g["ct-wide-2k"] == two_k.wide_success
    assert g["ct-pk-low"] == row.p_k_low and isinstance(g["ct-seeds"], int)
    s = C.seed_by_seed(table, 3)
    assert s.holders == row.some_subnetwork_wins
    assert s.disagree == row.wide_wins_without_ticket + row.ticket_without_wide_win
    assert s.fail_given_ticket == wilson_interval(int(row.ticket_without_wide_win), s.holders)
    assert list(s.view.n) == [4, 6, 5] and s.view.tally_seeds.dtype.kind == "i"
    sg = C.seed_by_seed_glue(s)
    assert sg["ct-both"] == row.both and sg["ct-fgt-high"] == s.fail_given_ticket.high
    with pytest.raises(ValueError, match=r"^k\b"):
        C.seed_by_seed(table, 7)


def test_findings_verdict_follows_the_failures_among_ticket_holders(fake):
    table, _ = C.predictions_table(fake)
    s = C.seed_by_seed(table, 3)
    rows, v = C.findings(s, 3)
    expected = "supported" if s.row.ticket_without_wide_win > 0 else "not separable at this scale"
    assert v == expected and rows[0]["verdict"] == v and rows[0]["claim"] == "1"
    assert f"{int(s.row.ticket_without_wide_win)} of {s.holders} seeds" in rows[0]["result"]
    none = table.copy()
    none["ticket_without_wide_win"] = 0.0
    assert C.findings(C.seed_by_seed(none, 3), 3)[1] == "not separable at this scale"


def test_summary_holds_the_issue_12_quantities(fake):
    table, seed_tables = C.predictions_table(fake)
    halves, steps = CA.halves_tables(fake)
    margins = CA.margins_table(fake)
    inside, seed_inside = CA.inside_table(fake), CA.inside_seeds_table(fake)
    stats = CA.inside_stats(inside, seed_inside, 3)
    params = dict(profile="quick", ks=[3, 4], n_seeds=30, seed=0, ks_wide=[3])
    control = {"p_1": 0.5, "p_1_low": 0.4, "p_1_high": 0.6, "by_width": []}
    summary = C.build_summary(params, [], table, halves, steps, margins, control,
                              CA.inside_summary(seed_inside, stats))
    to_json_value(summary)  # plain JSON data
    assert len(summary["per_k_n"]) == len(table)
    for rec, (k, n) in zip(summary["lottery_halves"], [(3, 4), (4, 5)]):
        assert (rec["k"], rec["n"]) == (k, n)
        for key in ("power_set_prediction", "some_subnetwork_rate", "wide_given_ticket",
                    "ticket_given_wide"):
            assert rec[f"{key}_low"] <= rec[key] <= rec[f"{key}_high"]
    assert set(summary["inside_winner_seed_fraction"]) == {"3", "4"}
    rec = summary["per_k_n"][2]  # (3, 5): no seed-by-seed tally
    assert rec["both"] is None and rec["seed_by_seed_seeds"] is None
    assert summary["per_k_n"][1]["wide_wins"] == (fake[3].wide[4].outcome == T.WIN).sum()
    with pytest.raises(ValueError, match=r"^params\b"):
        C.build_summary({}, [], table, halves, steps, margins, control, {})
    rows = C.seed_rows(seed_tables)
    assert len(rows) == 30 * len(seed_tables) and {"k", "n"} <= set(rows.columns)
    with pytest.raises(ValueError, match=r"^seed_tables\b"):
        C.seed_rows({})


def test_halves_steps_and_words(fake):
    halves, steps = CA.halves_tables(fake)
    assert halves.to_dict("records")[0] == A.lottery_halves(fake[3], 4)
    assert steps.to_dict("records")[1] == A.step_size_changes(fake[4], 5)
    g = CA.steps_glue(steps)
    assert g["ct-moved"] == steps.moved.sum() and g["ct-flag-seeds"] == steps.seeds.sum()
    h = halves.copy()
    h["finds_winner"], h["independence"] = [None, "above"], ["inside", "inside"]
    words = CA.halves_words(h)
    assert words["ct-independence"] == (
        "within the intervals of the measured some-subnetwork rate at every *k* (3 and 4)")
    assert words["ct-finds_winner"] == (
        "above the wide student's success at *k* = 4, and not measurable at *k* = 3")
    assert set(CA.HALVES_COLUMNS) <= set(halves.columns)


def test_relation_clause_groups_the_widths_by_relation():
    obj = "the wide student's success"
    rel = {12: "above", 14: "inside", 16: "inside", 18: "inside", 20: "below"}
    assert CA.relation_clause(rel, obj) == (
        "within the intervals of the wide student's success at *k* = 14, 16 and 18, "
        "above it at *k* = 12, and below it at *k* = 20")
    assert CA.relation_clause({16: "above"}, obj) == "above the wide student's success at *k* = 16"
    assert CA.relation_clause({3: float("nan"), 4: "inside"}, obj).count("not measurable") == 1
    with pytest.raises(ValueError, match=r"^relations\[12\] must be"):
        CA.relation_clause({12: "beside"}, obj)
    with pytest.raises(ValueError, match=r"^relations must name"):
        CA.relation_clause({}, obj)


def test_margins_table_and_glue(fake):
    m = CA.margins_table(fake)
    assert list(m.k.unique()) == [3, 4]
    g = CA.margins_glue(m)
    fails = [o.lambda_min[o.outcome == T.FAIL] for ex in fake.values()
             for o in [ex.sub, *[w for n, w in ex.wide.items() if n != ex.k], *ex.matched.values()]]
    assert g["ct-min-lambda"] == min(f.min() for f in fails if f.size)
    assert g["ct-total-runs"] == m.total.sum() and g["ct-unresolved"] == m.unresolved.sum()


def test_inside_table_pairs_and_stats(fake):
    inside = CA.inside_table(fake)
    for k, ex in fake.items():
        sub = ex.subnetworks_of(k + 1, matched=True)
        wide = ex.wide[k + 1].outcome
        pairs = [(s, c) for s in range(30) for c in range(k + 1) if wide[s] == T.WIN and sub[s, c] == T.WIN]
        got = inside[inside.k == k]
        assert list(zip(got.seed, got.subnetwork)) == pairs and (got.n == k + 1).all()
    seed_inside = CA.inside_seeds_table(fake)
    s = CA.inside_stats(inside, seed_inside, 3)
    ins = inside[inside.k == 3]
    assert s.restr_fail.successes == (ins.restriction_loss >= 1e-6).sum() and s.restr_fail.n == len(ins)
    assert s.same_assign.successes == ins.same_assignment.sum()
    assert s.inside_seeds.n == len(seed_inside[seed_inside.k == 3])
    g = CA.inside_glue(s)
    assert g["ct-pairs"] == len(ins) and g["ct-reldist-med"] == ins.relative_distance.median()
    summ = CA.inside_summary(seed_inside, s)
    assert summ["inside_the_winner"]["pairs"] == len(ins)
    empty = CA.inside_stats(inside.iloc[:0], seed_inside.iloc[:0], 3)
    assert math.isnan(CA.inside_glue(empty)["ct-reldist-med"])
    assert CA.inside_summary(seed_inside, empty)["inside_the_winner"]["median_restriction_loss"] is None


def test_control_runs_table_and_checks():
    torch.set_default_dtype(torch.float64)
    runs = CC.run_control([1, 2, 3], 25, 30, 0, n_steps=3000)
    assert runs.n_seeds == 25 and runs.width == 3 and list(runs.by_width) == [1, 2, 3]
    single = runs.single.wins.reshape(25, 3)
    # the width-1 student is its first neuron alone, at the same step
    np.testing.assert_array_equal(runs.by_width[1].wins, single[:, 0])
    control, p1 = CC.control_table(runs)
    assert p1["p"] == pytest.approx(single.mean())
    for r in control.itertuples():
        wide = runs.by_width[r.n].wins
        some = single[:, : r.n].any(1)
        assert r.success == pytest.approx(wide.mean())  # every run resolved at this size
        assert r.ticket_without_wide_win == (some & ~wide).sum()
        assert r.wide_wins_without_ticket == (wide & ~some).sum()
        assert r.pred_restarts == pytest.approx(1 - (1 - p1["p"]) ** r.n)
    checks = CC.control_checks(control)
    assert checks["total"] == 75
    assert checks["disagree"] == (control.ticket_without_wide_win + control.wide_wins_without_ticket).sum()
    g = CC.control_glue(checks, p1, 25)
    assert g["ct-ctrl-seeds"] == 25 and g["ct-p1"] == p1["p"]
    assert CC.control_summary(control, p1)["by_width"] == control.to_dict("records")
    with pytest.raises(ValueError, match=r"^widths\b"):
        CC.run_control([0, 2], 10, 20, 0)


def test_control_checks_on_hand_tables():
    t = pd.DataFrame(dict(n=[1, 2], seeds=[10, 10], low=[0.2, 0.5], high=[0.4, 0.7],
                          pred_low=[0.3, 0.8], pred_high=[0.5, 0.9],
                          wide_wins_without_ticket=[1, 0], ticket_without_wide_win=[0, 2]))
    assert CC.control_checks(t) == {"disagree": 3, "total": 20, "within": False}
    t["pred_low"] = [0.3, 0.6]
    assert CC.control_checks(t)["within"]
