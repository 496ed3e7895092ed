"""overparam.experiments.escape_*: the chapter *Escape dimensions*, at small sizes.

The shared fixture runs gradient descent at k = n = 8 from runs 31..38 of seed 0, two of which
(31 and 38) end at certified strict local minima (found once with 100 runs; the test checks it).
"""
import dataclasses
import json
import math

import numpy as np
import pandas as pd
import pytest
import torch

from overparam import safran_shamir as ss
from overparam import ss_dynamics as ssd
from overparam.book import to_json_value
from overparam.experiments import escape_dimensions as ed
from overparam.experiments import escape_report, escape_runs, escape_slice, escape_split
from overparam.rng import generator
from overparam.stats import wilson_interval

MUS = [0.1, 0.3, 0.5]


@pytest.fixture(scope="module")
def data():
    runs = {(8, n): ed.run_rates(8, n, 8, 0, 3000, first_run=31) for n in (8, 9)}
    rates = ed.rate_table(runs)
    certified, cert_table = ed.certify_minima(runs, [8])
    splits = escape_split.split_analysis(certified, [8], MUS, max_minima=2, seed=0)
    return dict(runs=runs, rates=rates, certified=certified, cert_table=cert_table, splits=splits)


@pytest.fixture(scope="module")
def escapes(data):
    return escape_runs.run_escapes(data["certified"], [8], max_minima=1, n_steps=2000, eps=1e-3, seed=0)


# --------------------------------------------------------------------------- rates
def test_run_rates_blocks_of_runs_equal_one_call():
    whole = ed.run_rates(3, 4, 6, 5, 300)
    parts = [ed.run_rates(3, 4, 3, 5, 300, first_run=f) for f in (0, 3)]
    torch.testing.assert_close(torch.cat([p.W for p in parts]), whole.W, rtol=0, atol=1e-12)
    assert sum((p.stop_reason for p in parts), ()) == whole.stop_reason


def test_run_rates_is_gradient_descent_from_xavier_with_the_chapter_step():
    res = ed.run_rates(3, 5, 4, 1, 200)
    ref = ssd.gradient_descent(ss.init_students(3, 5, 4, 1), lr=5 / 3, n_steps=200, grad_tol=ed.GRAD_TOL,
                               loss_tol=ed.GOOD)
    torch.testing.assert_close(res.W, ref.W)
    assert ed.step_size(8, 10) == 5 / 8 and ed.step_size(8, 16) == 5 / 16


def test_run_rate_sweep_runs_every_pair():
    pairs = ed.rate_pairs([3], [3], ["k+2"])
    runs = ed.run_rate_sweep(pairs, n_seeds=2, seed=0, n_steps=50)
    assert list(runs) == [(3, 3), (3, 4), (3, 5)]
    torch.testing.assert_close(runs[(3, 5)].W, ed.run_rates(3, 5, 2, 0, 50).W, rtol=0, atol=0)
    assert ed.rate_table(runs)[["k", "n"]].values.tolist() == [[3, 3], [3, 4], [3, 5]]
    for (k, n), res in runs.items():          # bit for bit the plain call, stop reasons included
        plain = ed.run_rates(k, n, 2, 0, 50)
        assert torch.equal(res.W, plain.W) and res.stop_reason == plain.stop_reason
    with pytest.raises(ValueError, match=r"^workers\b"):
        ed.run_rate_sweep(pairs, n_seeds=2, seed=0, n_steps=50, workers=0)


@pytest.mark.parametrize("kw, name", [(dict(k=0), "k"), (dict(n=1.5), "n"), (dict(n_seeds=0), "n_seeds"),
                                      (dict(first_run=-1), "first_run"), (dict(n_steps=-1), "n_steps")])
def test_run_rates_rejects_bad_arguments(kw, name):
    args = dict(k=3, n=3, n_seeds=2, seed=0, n_steps=10) | kw
    first = args.pop("first_run", 0)
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        ed.run_rates(**args, first_run=first)


def _fake(losses, reasons):
    S = len(losses)
    return ssd.GDResult(torch.zeros(S, 2, 2, dtype=torch.float64), torch.tensor(losses, dtype=torch.float64),
                        torch.zeros(S, dtype=torch.float64), torch.zeros(S, dtype=torch.int64),
                        tuple(reasons), np.zeros((S, 1)), 1)


def test_rate_record_counts_bad_runs_and_sets_unresolved_apart():
    res = _fake([0.5, 1e-7, 0.2, 0.3, 0.01],
                ["grad_tol", "loss_tol", "step_limit", "diverged", "grad_tol"])
    r = ed.rate_record(8, 9, res)
    ci = wilson_interval(2, 3)
    assert (r["runs"], r["bad"], r["unresolved"]) == (3, 2, 2)
    assert (r["bad_fraction"], r["ci_low"], r["ci_high"]) == (ci.fraction, ci.low, ci.high)
    with pytest.raises(ValueError, match=r"^bad\b"):
        ed.rate_record(8, 9, res, bad=-1.0)


def test_rate_pairs_and_chapter_parameters():
    assert ed.rate_pairs([8, 10], [8], ["k+2", "2k"]) == [(8, 8), (8, 9), (8, 10), (8, 16), (10, 10),
                                                          (10, 11)]
    with pytest.raises(ValueError, match=r"^wide_ns\b"):
        ed.rate_pairs([8], [8], ["3k"])
    good = dict(ks=[8, 10], wide_ns=["k+2"], mu_values=[0.1, 0.5], slice_k=8)
    ed.check_chapter_parameters(**good)
    for name, bad in (("wide_ns", "k+2"), ("wide_ns", ["k+3"]), ("mu_values", [0.1, 0.3]), ("slice_k", 9)):
        with pytest.raises(ValueError, match=rf"^{name}\b"):
            ed.check_chapter_parameters(**(good | {name: bad}))


def test_published_comparison_and_separation():
    rates = pd.DataFrame(dict(k=[8, 8, 10, 10], n=[8, 9, 10, 11], bad=[50, 10, 4, 3],
                              bad_fraction=[0.25, 0.05, 0.02, 0.015], ci_low=[0.2, 0.02, 0.01, 0.005],
                              ci_high=[0.3, 0.09, 0.05, 0.04]))
    published = pd.DataFrame(dict(k=[8, 8], n=[8, 9], source=["ss2018", "sys2021"],
                                  bad_fraction=[0.27, 0.12]))
    cmp = ed.compare_published(rates, published)
    assert cmp.inside.tolist() == [True, False]
    sep = ed.separation(rates, [8, 10])
    assert sep == {8: (True, 0.25), 10: (False, 0.02)}
    v = ed.rate_values(cmp, sep)
    assert (v["ed-pub-total"], v["ed-pub-inside"], v["ed-sep-count"], v["ed-sep-total"]) == (2, 1, 1, 2)
    assert "*k* = 8, *n* = 9 (Safran et al. 2021 0.120" in v["ed-pub-outside"]
    assert v["ed-not-sep"] == "*k* = 10 (2.0% bad at *n* = *k*)"


# --------------------------------------------------------------------------- certification
def test_certified_minima_are_the_bad_runs_polished(data):
    cert, table, rates = data["certified"][8], data["cert_table"], data["rates"]
    assert cert.count == 2 == int(rates[rates.n == 8].bad.iloc[0])
    assert (table.verdict == "strict_local_minimum").all() and len(table) == 2
    assert bool((cert.lambda_min > 1e-6).all()) and bool((cert.loss > ed.BAD).all())
    assert float(ss.gradient(cert.W).flatten(1).norm(dim=1).max()) < 1e-9
    v = ed.certification_values(rates, data["certified"], table, [8])
    assert (v["ed-n-bad"], v["ed-n-certified"]) == (2, 2)
    assert v["ed-lam-before-min"] == float(cert.lambda_min.min()) and 0 < v["ed-max-moved"] < 1e-3
    assert ed.certification_summary(table)["count"].tolist() == [2]


def test_certify_minima_without_bad_runs_is_empty():
    runs = {(3, 3): ed.run_rates(3, 3, 2, 0, 2000)}
    cert, table = ed.certify_minima(runs, [3])
    assert cert[3].count == 0 and cert[3].W.shape == (0, 3, 3) and len(table) == 0
    assert list(table.columns) == ["k", "verdict", "loss", "grad_norm", "lambda_min", "distance_moved"]
    with pytest.raises(ValueError, match=r"^runs\b"):
        ed.certify_minima(runs, [4])


# --------------------------------------------------------------------------- split and zero neuron
def test_split_spectrum_equals_the_recomputed_hessian(data):
    W = data["certified"][8].W[:1]
    lam = escape_split.split_spectrum(W, MUS)
    for i in (0, 5):
        for j, mu in enumerate(MUS):
            ref = torch.linalg.eigvalsh(ss.hessian(ssd.split_student_neuron(W, i, mu)))[:, 0]
            torch.testing.assert_close(lam[:, i, j], ref, rtol=0, atol=1e-9)
    with pytest.raises(ValueError, match=r"^mus\b"):
        escape_split.split_spectrum(W, [0.0])


def test_split_analysis_and_theory_on_certified_minima(data):
    a = data["splits"][8]
    cert = data["certified"][8]
    assert a.split_lam.shape == (2, 8, 3) and a.curv_lam.shape == (2, 8)
    torch.testing.assert_close(a.curv_lam, torch.linalg.eigvalsh(ssd.neuron_curvature(cert.W[:2]))[..., 0])
    assert bool((a.slope < 0).all())
    # the zero-neuron theorem: the teacher-direction slopes sum to -2L at a critical point
    torch.testing.assert_close(a.teacher_sum, -2 * cert.loss[:2], rtol=0, atol=1e-8)
    th = escape_split.split_theory(data["splits"], MUS)
    assert th["inertia_mismatches"] == 0 and th["bound_excess"] < 1e-8 and th["half_deviation"] < 1e-8
    v = escape_split.split_values(data["splits"], th)
    assert (v["ed-n-spectrum"], v["ed-minima-saddle"]) == (2, 2) and v["ed-thm-dev"] < 1e-8
    assert v["ed-max-slope"] == float(a.slope.max()) and v["ed-max-lam-split"] < 0
    table = escape_split.split_table(data["splits"], MUS)
    assert len(table) == 2 * 8 * 3 and table.lambda_min.max() == v["ed-max-lam-split"]


def test_split_theory_counts_a_disagreement():
    a = escape_split.SplitAnalysis(loss=torch.ones(1, dtype=torch.float64),
                                   split_lam=torch.tensor([[[-1.0, -0.5], [0.2, 0.3]]], dtype=torch.float64),
                                   curv_lam=torch.tensor([[0.1, -0.2]], dtype=torch.float64),
                                   slope=torch.zeros(1), teacher_sum=torch.zeros(1))
    th = escape_split.split_theory({8: a}, [0.1, 0.5])
    assert th["inertia_mismatches"] == 4 and th["bound_excess"] > 0.1 and th["half_deviation"] > 0.1
    with pytest.raises(ValueError, match=r"^mus\b"):
        escape_split.split_theory({8: a}, [0.1, 0.3])


# --------------------------------------------------------------------------- escape runs
@pytest.mark.parametrize("how", list(escape_runs.EMBEDDINGS))
@pytest.mark.parametrize("extra", [1, 2])
def test_escape_starts_keep_the_function_and_step_eps(data, how, extra):
    W = data["certified"][8].W
    at0 = escape_runs.escape_starts(W, how, extra, eps=0.0, seed=0)
    assert at0.shape == (2, 8 + extra, 8)
    torch.testing.assert_close(ss.loss(at0), ss.loss(W), rtol=0, atol=1e-12)
    wide = escape_runs.escape_starts(W, how, extra, eps=1e-3, seed=0)
    moved = (wide - at0).flatten(1).norm(dim=1)
    if how == "zero":  # the new neurons have length eps
        torch.testing.assert_close(wide[:, 8:].norm(dim=-1), torch.full((2, extra), 1e-3, dtype=torch.float64))
    else:
        torch.testing.assert_close(moved, 1e-3 * W.flatten(1).norm(dim=1))
    assert bool((ss.loss(wide) < ss.loss(W)).all())  # off a saddle along an escape direction: downhill


def _reference_random_split(W, extra, eps, seed):
    """The chapter's former per-minimum loop (split_student_neuron one minimum at a time)."""
    S, n, d = W.shape
    lam, Y = torch.linalg.eigh(ssd.neuron_curvature(W))
    g = generator(seed, f"escape-split-{n}-{extra}")
    order = torch.stack([torch.randperm(n, generator=g) for _ in range(S)])
    wide = W
    for e in range(extra):
        wide = torch.cat([ssd.split_student_neuron(wide[s:s + 1], int(order[s, e]), 0.5) for s in range(S)])
    step = (eps * W.norm(dim=(1, 2)) / math.sqrt(2 * extra)).unsqueeze(-1)
    rows = torch.arange(S)
    for e in range(extra):
        y = Y[rows, order[:, e], :, 0]
        wide[rows, order[:, e]] += step * y
        wide[:, n + e] -= step * y
    return wide


@pytest.mark.parametrize("extra", [1, 2])
def test_escape_starts_batched_equals_the_per_minimum_loop(data, extra):
    W = data["certified"][8].W
    assert torch.equal(escape_runs.escape_starts(W, "split-random", extra, eps=1e-3, seed=4),
                       _reference_random_split(W, extra, 1e-3, 4))


def test_escape_starts_rejects_bad_arguments(data):
    W = data["certified"][8].W
    for kw, name in ((dict(how="split"), "how"), (dict(extra=0), "extra"), (dict(eps=-1.0), "eps")):
        args = dict(how="zero", extra=1, eps=1e-3) | kw
        with pytest.raises(ValueError, match=rf"^{name}\b"):
            escape_runs.escape_starts(W, args["how"], args["extra"], eps=args["eps"], seed=0)


def test_run_escapes_rows(data, escapes):
    assert len(escapes) == 3 * 2 and set(escapes.embedding) == set(escape_runs.EMBEDDINGS)
    assert (escapes.loss_before == data["certified"][8].loss[0].item()).all()
    assert (escapes.lowered == (escapes.loss_after < 0.99 * escapes.loss_before)).all()
    assert (escapes.escaped == (escapes.loss_after <= escapes.loss_before / 10)).all()
    assert escapes.lowered.all()  # every embedding is a saddle: gradient descent goes down
    assert set(escapes.stop_reason) <= {"grad_tol", "loss_tol", "step_limit"}


def _table(k, how, extra, before, after, reasons):
    return pd.DataFrame(dict(k=k, embedding=how, extra=extra, loss_before=before, loss_after=after,
                             steps=1, stop_reason=reasons)).assign(
        lowered=lambda d: d.loss_after < 0.99 * d.loss_before,
        escaped=lambda d: d.loss_after <= d.loss_before / 10, **{"global": lambda d: d.loss_after < 1e-6})


def test_escape_fractions_and_texts():
    rows = [_table(k, how, e, [1.0] * 4, [1e-7, 1e-7, 0.5, 0.5] if how == "zero" and e == 1 else [1e-7] * 4,
                   ["loss_tol"] * 2 + ["grad_tol"] * 2) for k in (8, 10) for how in escape_runs.EMBEDDINGS
            for e in (1, 2)]
    esc = pd.concat(rows, ignore_index=True)
    esc_k = escape_runs.escape_by_k(esc, [8, 10])
    zero1 = esc_k[(esc_k.embedding == "zero") & (esc_k.extra == 1)]
    assert zero1.escaped.tolist() == [2, 2] and zero1.fraction.tolist() == [0.5, 0.5]
    v = escape_runs.escape_values(esc, esc_k, [8, 10])
    assert v["ed-escape-zero-1"] == 50.0 and v["ed-escape-zero-2"] == 100.0 and v["ed-stuck-zero-1"] == 50.0
    assert v["ed-n-escape-runs"] == 8 and v["ed-n-runs-all"] == 48
    assert "median 0.50" in v["ed-stuck"] and "no *k*" in v["ed-escape1-by-k"]
    assert v["ed-steepest-note"].startswith("splitting the steepest neuron never")


# --------------------------------------------------------------------------- the slice
def test_recorded_descent_follows_gradient_descent(data):
    W0 = ssd.split_student_neuron(data["certified"][8].W[:1], 0, 0.5) + 1e-3
    its, losses = escape_slice.recorded_descent(W0, lr=0.5, n_steps=51, record_every=10)
    assert its.shape == (6, 1, 9, 8) and losses.shape == (6, 1)
    ref = ssd.gradient_descent(W0, lr=0.5, n_steps=50, grad_tol=0.0, loss_tol=0.0)
    torch.testing.assert_close(its[-1], ref.W)
    torch.testing.assert_close(losses[:, 0], ss.loss(its[:, 0]))
    with pytest.raises(ValueError, match=r"^lr\b"):
        escape_slice.recorded_descent(W0, lr=0.0, n_steps=5)


def test_escape_slice_plane_and_path(data):
    W = data["certified"][8].W[:1]
    s = escape_slice.escape_slice(W, 0, 0.5, eps=1e-3, lr=5 / 8, n_path=200, m=11)
    A, e1, e2, lam_n, lam_w = escape_slice.slice_plane(W, 0, 0.5)
    assert abs(float((e1 * e2).sum())) < 1e-12 and abs(float(e1.norm()) - 1) < 1e-12
    assert s.lambda_min_narrow > 1e-6 and s.lambda_min_split < -1e-6
    assert s.path.shape == (20, 2) and s.grid.shape == (11,) and s.loss_grid.shape == (11, 11)
    np.testing.assert_allclose(s.path[0], [0.0, 1e-3 * float(A.norm())], atol=1e-12)
    assert s.loss_grid[5, 5] == pytest.approx(float(ss.loss(A)), rel=1e-12)  # A at the centre
    assert s.loss_grid[5, 5] < s.loss_grid[5, [0, -1]].min()  # a minimum along e1 ...
    with pytest.raises(ValueError, match=r"^W\b"):
        escape_slice.slice_plane(data["certified"][8].W, 0, 0.5)


# --------------------------------------------------------------------------- claims, findings, summary
def test_claim_measures_follow_the_data_and_fail_on_broken_data(data, escapes):
    args = (data["rates"], data["certified"], data["splits"], escapes, [8], MUS)
    c = escape_report.claim_measures(*args)
    row = c.per_k.iloc[0]
    assert (row.n_bad, row.n_certified) == (2, 2) and row.neg_split == 1.0 and row.max_slope < 0
    assert row.min_mu_step > 0 and c.minima_saddle == c.n_spectrum == 2 and c.thm_dev < 1e-8
    assert c.lowered.low > 0.5 and c.stuck_not_lowered == 0
    broken = {8: dataclasses.replace(data["splits"][8], split_lam=data["splits"][8].split_lam.abs(),
                                     slope=data["splits"][8].slope.abs())}
    b = escape_report.claim_measures(*args[:2], broken, *args[3:])
    assert b.minima_saddle == 0 and b.per_k.max_slope.iloc[0] > 0 and b.theory["inertia_mismatches"] > 0


def test_findings_and_summary(data, escapes):
    f, v = escape_report.findings(escapes, data["splits"])
    assert v in ("supported", "not separable at this scale") and f[0]["verdict"] == v
    assert f[0]["result"].startswith("2 of 2 minima become saddles")
    s = escape_report.summary("quick", f, data["rates"], data["certified"], data["splits"], escapes,
                              ks=[8], mu_values=MUS)
    json.dumps(to_json_value(s))
    assert s["certified"]["8"]["count"] == 2 and len(s["lambda_min_after"]["split"]["8"]) == 3
    assert s["split_theory_check"]["inertia_mismatches"] == 0
    assert s["escape_fraction"]["zero_extra1"] == float(escapes[(escapes.embedding == "zero")
                                                                 & (escapes.extra == 1)].escaped.mean())
