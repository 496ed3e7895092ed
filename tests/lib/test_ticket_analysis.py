"""overparam.ticket_analysis: the lottery reading's two halves, step-size changes, inside the winner,
failure margins; and overparam.tickets' matched step and Newton step length."""
from __future__ import annotations


import numpy as np
import pytest
import torch

from overparam import safran_shamir as ss
from overparam import ticket_analysis as A
from overparam import tickets as T

F64 = torch.float64


@pytest.fixture(scope="module")
def ex():
    return T.run_experiment(6, 8, seed=4, widths=[6, 7], max_extra=1, matched_step=True)


def test_relation_on_hand_cases_and_bad_input():
    assert A.relation(0.8, 0.9, 0.4, 0.6) == "above"
    assert A.relation(0.1, 0.2, 0.4, 0.6) == "below"
    assert A.relation(0.5, 0.9, 0.4, 0.6) == "inside"
    assert A.relation(0.6, 0.7, 0.4, 0.6) == "inside", "touching intervals overlap"
    with pytest.raises(ValueError, match=r"^interval ends must be finite"):
        A.relation(float("nan"), 0.2, 0.1, 0.3)
    with pytest.raises(ValueError, match=r"^each interval must have low <= high"):
        A.relation(0.3, 0.2, 0.1, 0.4)


def test_matched_step_trains_the_subnetworks_again_at_the_wide_step(ex):
    assert sorted(ex.matched) == [7]
    again = T.train_subnetworks(ex.W0, ex.idx[ex.columns_within(7)], lr=5 / 7)
    np.testing.assert_array_equal(again.outcome, ex.subnetworks_of(7, matched=True))
    assert ex.subnetworks_of(7).shape == ex.subnetworks_of(7, matched=True).shape == (8, 7)
    plain = T.run_experiment(3, 2, seed=4, widths=[3, 4], max_extra=1, n_steps=200)
    with pytest.raises(ValueError, match=r"^matched: no subnetworks trained at the width-4 step"):
        plain.subnetworks_of(4, matched=True)


def test_lottery_halves_counts_match_the_seed_table(ex):
    h = A.lottery_halves(ex, 7)
    tab = T.seed_table(ex.wide[7].outcome, ex.subnetworks_of(7, matched=True))
    det = (tab.wide != "unresolved") & tab.ticket.notna()
    w = (tab.wide[det] == "win").to_numpy()
    tk = tab.ticket[det].astype(bool).to_numpy()
    assert h["seeds"] == det.sum() > 0 and h["matched_step"] and h["subnetworks"] == 7
    assert h["wide_success"] == pytest.approx(w.mean())
    assert h["some_subnetwork_rate"] == pytest.approx(tk.mean())
    if tk.any():
        assert h["wide_given_ticket"] == pytest.approx((w & tk).sum() / tk.sum())
    pk = T.width_k_rate(ex.sub.outcome)
    assert h["p_k"] == pk["p"]
    assert h["power_set_prediction"] == pytest.approx(float(T.predict_independent_tickets(pk["p"], 7, 6)))
    assert h["power_set_prediction_low"] <= h["power_set_prediction"] <= h["power_set_prediction_high"]
    for key in ("finds_winner", "independence", "power_set_vs_wide"):
        assert h[key] in A.RELATIONS + (None,)


def test_step_size_changes_count_moved_outcomes(ex):
    c = A.step_size_changes(ex, 7)
    own, same = ex.subnetworks_of(7), ex.subnetworks_of(7, matched=True)
    both = (own != T.UNRESOLVED) & (same != T.UNRESOLVED)
    assert c["compared"] == both.sum() and c["moved"] == (both & (own != same)).sum()
    assert c["compared"] > 0 and 0 <= c["ticket_flag_moved"] <= c["seeds"] <= 8


def _teacher_experiment(wide_W, sub_W, sub_outcome):
    """A hand-made k = 2, n = 3 experiment with one seed."""
    k = 2
    idx = T.subnetworks(3, k)                      # (0, 1), (0, 2), (1, 2)
    one = lambda o, W: T.Outcomes(np.array(o), np.array(["x"] * np.size(o), dtype=object),
                                  np.zeros(np.shape(o)), np.full(np.shape(o), np.nan),
                                  np.zeros(np.shape(o), dtype=np.int64), W)
    wide = {3: one([T.WIN], wide_W[None])}
    sub = one([sub_outcome], sub_W[None])
    return T.TicketExperiment(k, wide_W[None], idx, sub, wide, torch.zeros(0, k, dtype=torch.int64),
                              None, 5.0, {3: sub})


def test_inside_winner_recognises_a_zero_neuron_a_split_and_a_different_assignment():
    e = torch.eye(2, dtype=F64)
    teacher = e.clone()
    solved = torch.stack([teacher, teacher, teacher])             # every ticket ends at the teacher
    wins = [T.WIN, T.WIN, T.WIN]
    zero = torch.stack([e[0], torch.zeros(2, dtype=F64), e[1]])   # neuron 1 is zero: ticket (0, 2)
    r = A.inside_winner_seeds(_teacher_experiment(zero, solved, wins), 3)
    assert r.inside.tolist() == [True] and r.inert.tolist() == ["zero"] and r.subnetwork.tolist() == [1]
    split = torch.stack([0.3 * e[0], e[1], 0.7 * e[0]])          # teacher neuron 0 split over 0 and 2
    r = A.inside_winner_seeds(_teacher_experiment(split, solved, wins), 3)
    assert r.inside.tolist() == [True] and r.inert.tolist() == ["split"]
    swapped = torch.stack([teacher.flip(0)] * 3)                  # tickets end at the other assignment
    r = A.inside_winner_seeds(_teacher_experiment(zero, swapped, wins), 3)
    assert r.inside.tolist() == [False] and r.relative_distance.iloc[0] > 0.5
    lost = A.inside_winner_seeds(_teacher_experiment(zero, solved, [T.FAIL, T.FAIL, T.WIN]), 3)
    assert lost.inside.tolist() == [False], "the complement of the zero neuron did not win alone"
    with pytest.raises(ValueError, match=r"^n must be k \+ 1"):
        A.inside_winner_seeds(_teacher_experiment(zero, solved, wins), 4)


def test_newton_step_length_is_the_distance_to_a_strict_minimum(ex):
    """At the global minimum of a width-k student (the teacher, a strict minimum) the step is 0; a small
    step off it is undone by one Newton step of the same length."""
    W = torch.eye(4, dtype=F64)[None]
    assert float(torch.linalg.eigvalsh(ss.hessian(W))[0, 0]) > 1e-3
    assert float(T.newton_step_length(W)[0]) < 1e-12
    delta = 1e-5 * torch.randn(W.shape, generator=torch.Generator().manual_seed(0), dtype=F64)
    step = float(T.newton_step_length(W + delta)[0])
    assert step == pytest.approx(float(delta.norm()), rel=1e-2)
    f = ex.sub.outcome == T.FAIL
    assert np.isfinite(ex.sub.newton_step[f]).all() and np.isnan(ex.sub.newton_step[~f]).all()


def test_failure_margins_report_every_group(ex):
    m = A.failure_margins(ex)
    assert len(m) == 3                              # subnetworks, the width-7 student, matched subnetworks
    assert m.fails.iloc[0] == (ex.sub.outcome == T.FAIL).sum() > 0
    assert m.unresolved.iloc[0] == (ex.sub.outcome == T.UNRESOLVED).sum()
    for _, row in m[m.fails > 0].iterrows():
        assert row.min_lambda_min > 1e-6 and row.max_newton_step < 1e-6
