"""Tests of overparam.experiments.tickets_in_context: the experiments are the library's runs on the
stated split and settings, and every number the chapter reports follows its rule (checked on hand-built
runs and outcomes where the answer is known)."""
import json

import numpy as np
import pandas as pd
import pytest

from overparam import data, train
from overparam import tickets as T
from overparam.book import to_json_value
from overparam.context_mnist1d import MNIST1DContext
from overparam.context_students import StudentContext
from overparam.experiments import tickets_in_context as tic
from overparam.tickets import Outcomes
from overparam import context_mnist1d

from test_experiments_lottery_tickets import toy_dataset

KW = dict(seed=1, n_seeds=3, densities=[0.6, 0.22], scales=[0.0, 1.0, 3.0], rounds=3, fraction=0.4,
          output_fraction=0.2, n_steps=12, eval_every=3, finetune_fraction=0.25, lr=0.02, batch_size=16,
          val_fraction=0.25, hidden=(9, 7))


@pytest.fixture(scope="module")
def mn():
    return tic.run_mnist1d(dataset=toy_dataset(), **KW)


def test_run_mnist1d_is_the_library_run_on_the_split(mn):
    direct = context_mnist1d.run_mnist1d(
        data.validation_split(toy_dataset(), 0.25, 1), hidden=(9, 7), optimizer=train.Adam(0.02, batch_size=16),
        n_seeds=3, seed=1, densities=[0.6, 0.22], scales=[0.0, 1.0, 3.0], rounds=3, fraction=0.4,
        output_fraction=0.2, n_steps=12, eval_every=3, finetune_steps=3)
    pd.testing.assert_frame_equal(mn.runs, direct.runs)


def test_finetune_steps_rounds_and_keeps_one():
    assert tic.finetune_steps(0.1, 800) == 80
    assert tic.finetune_steps(0.01, 20) == 1


def mnist_runs(part=0.5, alone_part=0.8, top_acc=(0.5, 0.75), extracted=0.6):
    """A hand-built MNIST1DContext: 2 densities, scales 0, 1, 4, 3 seeds; context at s = 4 has accuracy
    ``top_acc[i]`` at density i, everything else 0.75 (ticket alone 0.8), with a small spread by seed."""
    rows, dens = [], (0.5, 0.25)
    for r, d in zip((1, 2), dens):
        for s in range(3):
            eps = 0.002 * s

            def row(cond, acc, tpart, scale=float("nan"), move=0.5):
                rows.append(dict(condition=cond, round=r, density=d, scale=scale, seed=s, test_acc=acc + eps,
                                 ticket_part_acc=tpart + eps, ticket_move_ratio=move, censored=False))
            row("ticket_alone", 0.8, alone_part, move=1.0)
            row("dense", 0.75, part)
            row("extracted", extracted, part)
            row("finetuned", 0.78, part)
            for sc in (0.0, 1.0, 4.0):
                row("context", top_acc[r - 1] if sc == 4.0 else 0.75, part, scale=sc)
    return MNIST1DContext(runs=pd.DataFrame(rows), rounds=(1, 2), densities=dens, scales=(0.0, 1.0, 4.0),
                          config={}, lottery=None, fresh=None)


def test_analyse_mnist1d_on_known_runs():
    a = tic.analyse_mnist1d(mnist_runs())
    assert a.top == 4.0
    assert a.below == [0]                # s = 4 below s = 1 only at the first density
    assert a.pd_top.mean == pytest.approx(0.75 - 0.8)
    assert a.pd_one.mean == pytest.approx(0.0)
    assert a.gap.mean == pytest.approx(0.8 - 0.5)
    assert a.ft_gap == pytest.approx([0.02, 0.02])
    assert a.rec(0, 4.0)["acc_mean"] == pytest.approx(0.502)
    assert a.glue["tic-below_text"].data == "at 50.0% of the weights"
    assert a.glue["tic-low_verdict"].data == "is below the ticket alone beyond both intervals"
    assert a.glue["tic-low_density"].data == "25.0%"
    assert a.glue["tic-pd-top-n"] == 3 and a.glue["tic-top"] == 4.0
    assert tic.acc_below(a.extracted[0], a.ticket_alone[0])
    none = tic.analyse_mnist1d(mnist_runs(top_acc=(0.75, 0.75)))
    assert none.below == [] and none.glue["tic-below_text"].data == "at no density"


def outcomes(codes):
    n = len(codes)
    return Outcomes(np.array(codes), np.array(["x"] * n), np.zeros(n), np.zeros(n), np.zeros(n, dtype=int), None)


def students(k=4, alone=(1, 1, 1, 1, 0), one=(1, 0, 1, 0, 0), top=(0, 0, 1, -1, 0)):
    W, F, U = T.WIN, T.FAIL, T.UNRESOLVED
    code = {1: W, 0: F, -1: U}
    wide = {s: outcomes([code[c] for c in o]) for s, o in ((0.0, alone), (1.0, one), (4.0, top))}
    h = np.arange(len(alone))
    return StudentContext(k, 20, None, None, None, h, h, h, wide, 5.0)


def test_analyse_students_counts_seed_by_seed():
    a = tic.analyse_students([students(k=3), students()], 4.0)
    assert a.K == 4
    assert a.n1 == 2                     # seeds 1 and 3: alone wins, wide fails at s = 1
    assert a.nt == 2                     # seeds 0 and 1 (seed 3 is unresolved at s = 4)
    assert a.step_changes == {"3": 1, "4": 1}
    assert a.tt.wide_fails == 3 and a.tt.unresolved == 1
    assert a.glue["tic-step_changes"] == 2 and a.glue["tic-step_holders"] == 10
    assert a.glue["tic-step_text"].data.startswith("the smaller step alone changes 2")
    assert not a.separated


def test_glue_names_prefix_and_numpy_scalars():
    g = tic.glue_names("p-", {"a": np.float64(0.5)}, b=np.int64(3), c="x")
    assert g == {"tic-p-a": 0.5, "tic-p-b": 3, "tic-p-c": "x"}
    assert tic.percent(0.125) == "12.5%"
    assert type(g["tic-p-a"]) is float and type(g["tic-p-b"]) is int


def test_findings_summary_and_tables_end_to_end(mn):
    studs = tic.run_students([4], 10, 3, [0.0, 1.0, 3.0], n_steps=30_000)
    mna = tic.analyse_mnist1d(mn)
    sta = tic.analyse_students(studs, mna.top)
    s = tic.summary(mn, mna, sta, profile="quick", n_seeds=3, seed=1, ks=[4], ts_seeds=10)
    json.dumps(to_json_value(s))
    assert [f["verdict"] for f in s["findings"]] == [f["verdict"] for f in tic.findings(mna, sta, 3)]
    assert s["paired_top_minus_alone"]["mean"] == mna.pd_top.mean
    t = tic.tables(mn, sta, studs)
    assert set(t) == {"mnist1d_runs", "teacher_student", "teacher_student_runs"}
    assert len(t["teacher_student_runs"]) == 3 * len(studs[0].holders)


@pytest.mark.parametrize("name, value", [("scales", [0.5, 1.0]), ("eval_every", 5)])
def test_run_mnist1d_rejects_bad_parameters(name, value):
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        tic.run_mnist1d(dataset=toy_dataset(), **{**KW, name: value})


def test_finetune_steps_rejects_bad_values():
    with pytest.raises(ValueError, match=r"^finetune_fraction\b"):
        tic.finetune_steps(0.0, 10)
    with pytest.raises(ValueError, match=r"^n_steps\b"):
        tic.finetune_steps(0.1, 0)
