"""Tests of overparam.experiments.bad_minima_rare: the chapter's numbers from hand-built censuses (where
the answer is known) and from small real ones (end to end)."""
import json

import numpy as np
import pandas as pd
import pytest
import torch

from overparam import census
from overparam.book import to_json_value
from overparam.experiments import bad_minima_rare as bm
from overparam import census_runs


def end_points(k, n, verdicts, family="safran_shamir", hits=(), newton=1e-9):
    runs = len(verdicts)
    strict = np.array([v == "strict_min" for v in verdicts])
    return census.EndPoints(
        family=family, k=k, n=n, verdict=tuple(verdicts), loss=np.where(strict, 0.1, 0.0),
        grad_norm=np.zeros(runs), lambda_min=np.ones(runs), newton_step=np.where(strict, newton, np.nan),
        minimum=np.full(runs, -1), minima_loss=np.full(len(hits), 0.1), minima_hits=np.array(hits, dtype=int),
        minima_theta=torch.zeros(len(hits), 1))


def fake_ss(bad_k, bad_k1, runs=200, other=0, k=4, hits_k=(3, 1), hits_k1=(1,)):
    def verdicts(bad):
        return ["strict_min"] * bad + ["unresolved"] * other + ["global"] * (runs - bad - other)
    return census.Census("safran_shamir", (end_points(k, k, verdicts(bad_k), hits=hits_k),
                                           end_points(k, k + 1, verdicts(bad_k1), hits=hits_k1)))


def test_a_clear_drop_is_separated_and_supported():
    ss = bm.analyse_safran_shamir(fake_ss(60, 5), [4])
    assert ss.strong == [4] and ss.separated == [4]
    assert ss.verdict == "supported"
    assert ss.glue["bm-ss-top0-bad_share"] == pytest.approx(30.0)
    assert ss.glue["bm-ss-top1-bad_share"] == pytest.approx(2.5)
    assert ss.glue["bm-ss-runs"] == 400 and ss.glue["bm-ss-seeds"] == 200
    assert ss.max_newton_step == pytest.approx(1e-9)


def test_overlapping_shares_are_not_separated():
    ss = bm.analyse_safran_shamir(fake_ss(60, 55), [4])
    assert ss.strong == [4] and ss.separated == []
    assert ss.verdict != "supported"


def test_rare_bad_minima_at_n_equal_k_are_not_strong():
    ss = bm.analyse_safran_shamir(fake_ss(5, 0), [4])  # 2.5% < 5%
    assert ss.strong == [] and ss.separated == []


def test_uncertified_runs_are_counted_over_resolved_shares():
    ss = bm.analyse_safran_shamir(fake_ss(60, 5, other=3), [4])
    assert ss.other == 6 and ss.glue["bm-ss-other"] == 6 and ss.glue["bm-ss-unresolved"] == 6
    # the bad share is over resolved runs: 60 of 197
    assert ss.glue["bm-ss-top0-bad_share"] == pytest.approx(100 * 60 / 197)


def test_saturation_text_counts_singletons():
    table = fake_ss(60, 5).table()
    text = bm.saturation_text(table)
    assert text == ("at *n* = *k*, 2 distinct bad minima, 1 of them reached by a single run; "
                    "at *n* > *k*, 1 distinct bad minima, 1 of them reached by a single run")
    assert bm.saturation_text(fake_ss(0, 0, hits_k=(), hits_k1=()).table()) == "no run ended at a bad minimum"


def test_analyse_smooth_compares_the_narrowest_and_widest():
    c = census.Census("smooth", (end_points(2, 2, ["global"] * 5 + ["strict_min"] * 15, family="smooth"),
                                 end_points(2, 4, ["global"] * 19 + ["unresolved"], family="smooth")))
    sm = bm.analyse_smooth(c, 20)
    assert sm.narrow.n == 2 and sm.wide.n == 4 and sm.separated
    assert sm.glue["bm-sm-narrow-global_share"] == pytest.approx(25.0)
    assert sm.glue["bm-sm-wide-global_share"] == pytest.approx(100.0)
    assert sm.glue["bm-sm-unresolved"] == 1 and sm.glue["bm-sm-wide-m"] == 4
    assert sm.glue["bm-sm-verdict"].startswith("lies above")


def test_counting_crosses_over():
    counts, glue = bm.counting(3)
    assert list(counts.m) == list(range(3, 10))
    assert counts.G.iloc[0] > counts["T"].iloc[0] and counts["T"].iloc[-1] > counts.G.iloc[-1]
    first = int(counts[counts["T"] > counts.G].m.iloc[0])
    assert glue["bm-count-cross"] == first and (counts[counts.m < first]["T"] <= counts[counts.m < first].G).all()
    assert glue["bm-count-ratio"] == pytest.approx(counts["T"].iloc[-1] / counts.G.iloc[-1])


def test_end_to_end_on_small_censuses():
    ss_census = census_runs.safran_shamir_census([3], 20, 0, extra=(0, 1), n_steps=300)
    sm_census = census_runs.smooth_census(2, 2, [2, 3], 4, 0, n_samples=50, n_steps=100, finish_iter=20)
    ss = bm.analyse_safran_shamir(ss_census, [3])
    counts, _ = bm.counting(2)
    s = bm.summary(ss, ss_census, sm_census, counts, profile="quick")
    assert s["census"] == ss_census.records() + sm_census.records()
    assert s["findings"][0]["verdict"] == ss.verdict
    json.dumps(to_json_value(s))
    t = bm.tables(ss_census, sm_census, counts)
    assert set(t) == {"rarefaction_table", "minima", "end_points", "safran_shamir_census", "smooth_census",
                      "counting"}
    assert len(t["end_points"]) == 2 * 20 + 2 * 4
    pd.testing.assert_frame_equal(t["safran_shamir_census"], ss.table)


@pytest.mark.parametrize("name, kw", [
    ("extra", dict(extra=[0, 2])),
    ("double_ks", dict(double_ks=[5])),
    ("widths", dict(widths=[2, 3])),
])
def test_check_widths_names_the_parameter(name, kw):
    ok = dict(ks=[4], extra=[0, 1, 2], double_ks=[4], widths=[3, 4], r_star=3)
    bm.check_widths(**ok)
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        bm.check_widths(**{**ok, **kw})


def test_bad_arguments_name_the_parameter():
    with pytest.raises(ValueError, match=r"^ks\b"):
        bm.analyse_safran_shamir(fake_ss(60, 5), [])
    with pytest.raises(ValueError, match=r"^n_runs\b"):
        bm.analyse_smooth(fake_ss(60, 5), 0)
