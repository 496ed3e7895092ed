"""The census of end points: classification, dedup up to permutation, rarefaction,
subspace counts."""

import itertools
import math

import numpy as np
import pytest
import torch

from overparam import census
from overparam import hessian as hs
from overparam import mlp
from overparam import safran_shamir as ss
from overparam.rng import generator
from overparam import ss_dynamics as ssd
from overparam import census_runs
from overparam import census_counting

DT = torch.float64


@pytest.fixture(scope="module")
def ss_census():
    """k = n = 8, 60 runs from seed 0: measured, 5 end at one certified bad minimum
    (loss 0.0215)."""
    return census_runs.safran_shamir_census([8], 60, 0, extra=(0,), n_steps=20000)


# ----------------------------------------------------------------------- classification
def test_classes_from_numbers():
    loss = [1e-12, 0.3, 0.3, 0.3, 0.3, 1e-12, 0.3]
    grad = [1e-12, 1e-12, 1e-12, 1e-12, 1e-3, 1e-3, float("nan")]
    lam = [0.0, 1e-3, -1e-3, 1e-9, 1e-3, 0.0, 1.0]
    got = census.classify_end_points(
        loss, grad, lam, loss_tol=1e-10, grad_tol=1e-9, eig_tol=1e-6
    )
    assert got == (
        "global",
        "strict_min",
        "saddle",
        "degenerate",
        "unresolved",
        "global",
        "unresolved",
    )


def test_constructed_points_minimum_saddle_global(ss_census):
    """A certified bad minimum, the saddle made from it by splitting a neuron at mu =
    1/2 along a negative direction of its curvature term, and the teacher: each
    classified from its exact Hessian.
    """
    p = ss_census[(8, 8)]
    assert p.count("strict_min") >= 1 and len(p.minima_hits) == 1
    W = p.minima_theta[:1].reshape(1, 8, 8)
    lam_D = torch.linalg.eigvalsh(ssd.neuron_curvature(W))[0, :, 0]
    i = int(lam_D.argmin())
    assert lam_D[i] < -1e-3  # this neuron's split point is a saddle
    saddle = ssd.split_student_neuron(W, i, 0.5)
    teacher = torch.eye(8, dtype=DT)[None]
    kw = dict(loss_tol=1e-10, grad_tol=1e-9, eig_tol=1e-6)
    cls, loss, gn, lam, step = census_runs.certify_points(
        W.reshape(1, -1), ss.objective(8, 8), **kw
    )
    assert cls == ("strict_min",) and lam[0] > 1e-6 and step[0] < 1e-9
    cls, loss, gn, lam, step = census_runs.certify_points(
        saddle.reshape(1, -1), ss.objective(9, 8), **kw
    )
    assert cls == ("saddle",) and gn[0] < 1e-9 and lam[0] < -1e-3
    cls, *_ = census_runs.certify_points(teacher.reshape(1, -1), ss.objective(8, 8), **kw)
    assert cls == ("global",)


def test_newton_step_is_solve():
    g = generator(1, "test")
    M = torch.randn(3, 5, 5, generator=g, dtype=DT)
    H = M @ M.transpose(1, 2) + 0.1 * torch.eye(5, dtype=DT)
    v = torch.randn(3, 5, generator=g, dtype=DT)
    want = torch.linalg.vector_norm(torch.linalg.solve(H, v), dim=-1)
    torch.testing.assert_close(census.newton_step_length(v, H), want)
    with pytest.raises(ValueError, match=r"^grad\b"):
        census.newton_step_length(v[0], H)


def test_census_counts_add_up(ss_census):
    rec = ss_census.records()[0]
    assert sum(rec[c] for c in census.CLASSES) == rec["runs"] == 60
    assert (
        rec["distinct_bad_minima"] == 1
        and rec["bad_ci_low"] <= rec["bad_share"] <= rec["bad_ci_high"]
    )
    assert rec["max_newton_step"] < 1e-8
    assert (
        len(ss_census.end_points()) == 60
        and ss_census.minima().hits.sum() == rec["strict_min"]
    )
    r = ss_census.rarefaction_table()
    assert len(r) == 60 and r.distinct.iloc[-1] == pytest.approx(1.0)
    row = ss_census.table().iloc[0]
    g = ss_census[(8, 8)].share("global")
    assert row.global_share == g.fraction == rec["global"] / 60
    assert row.singletons == int(rec["strict_min"] == 1)
    assert set(rec) == {"family", "k", "n", "runs", *census.CLASSES,
                        "distinct_bad_minima", "bad_share", "bad_ci_low", "bad_ci_high",
                        "max_newton_step"}


# ---------------------------------------------------------------------- distinct minima
def test_permuted_copies_are_one_minimum_and_different_minima_two():
    g = generator(2, "test")
    A, B = torch.randn(2, 6, 4, generator=g, dtype=DT)
    copies = []
    for _ in range(5):
        copies.append(
            A[torch.randperm(6, generator=g)][:, torch.randperm(4, generator=g)]
        )
    pts = torch.stack(copies + [B, A + 1e-7])
    labels = census_counting.distinct_minima(census_counting.fingerprint(pts, permute_columns=True))
    assert labels.tolist() == [0, 0, 0, 0, 0, 1, 0]
    # neurons only: a row permutation is the same point, a column permutation is not
    rows = torch.stack([A, A[torch.randperm(6, generator=g)], A[:, [1, 0, 2, 3]], B])
    assert census_counting.distinct_minima(census_counting.fingerprint(rows)).tolist() == [0, 0, 1, 2]


def test_smooth_network_permuted_is_one_minimum():
    net = mlp.init_mlp(
        (3, 5, 1), 1, 4, activation="g", bias=False, init="xavier_normal"
    )
    perm = torch.tensor([3, 0, 4, 1, 2])
    W1, W2 = net.weights
    rows = torch.cat(
        [
            torch.cat([W1, W2.transpose(1, 2)], 2),
            torch.cat([W1[:, perm], W2[:, :, perm].transpose(1, 2)], 2),
        ]
    )
    x = torch.randn(40, 3, generator=generator(0, "test"), dtype=DT)
    permuted = mlp.MLP((W1[:, perm], W2[:, :, perm]), (None, None), "g")
    torch.testing.assert_close(mlp.forward(permuted, x), mlp.forward(net, x))
    assert census_counting.distinct_minima(census_counting.fingerprint(rows)).tolist() == [0, 0]


def test_rarefaction_matches_exhaustive_subsets():
    counts, N = [3, 1, 2], 8  # runs 0-2 at minimum 0, 3 at 1, 4-5 at 2, 6-7 elsewhere
    label = [0, 0, 0, 1, 2, 2, -1, -1]
    got = census_counting.rarefaction(counts, N)
    for t in range(1, N + 1):
        subsets = list(itertools.combinations(range(N), t))
        want = np.mean([len({label[i] for i in s} - {-1}) for s in subsets])
        assert got[t - 1] == pytest.approx(want, abs=1e-12)
    with pytest.raises(ValueError, match=r"^counts\b"):
        census_counting.rarefaction([5, 5], 8)
    with pytest.raises(ValueError, match=r"^n_runs\b"):
        census_counting.rarefaction([], 0)


# -------------------------------------------------------------------- the smooth family
def test_g_network_hessian_against_autograd():
    net = mlp.init_mlp(
        (3, 4, 1), 2, 5, activation="g", bias=False, init="xavier_normal"
    )
    g = generator(3, "test")
    x = torch.randn(25, 3, generator=g, dtype=DT)
    y = torch.randn(25, 1, generator=g, dtype=DT)
    H = hs.hessian(net, x, y)
    theta = mlp.flatten(net)
    for s in range(2):

        def f(t, s=s):
            return mlp.loss(mlp.unflatten(t[None], mlp.select(net, [s])), x, y)[0]

        torch.testing.assert_close(
            H[s], torch.autograd.functional.hessian(f, theta[s]), rtol=1e-10, atol=1e-12
        )


def test_smooth_census_small_run():
    c = census_runs.smooth_census(
        2, 2, [2, 3], 4, 0, n_samples=60, n_steps=300, lr=0.02, finish_iter=60
    )
    t = c.table()
    assert t.n.tolist() == [2, 3] and (t[list(census.CLASSES)].sum(axis=1) == 4).all()
    assert set(c.end_points().verdict) <= set(census.CLASSES)


# ------------------------------------------------------------------ counting the pieces
def test_subspace_counts_enumeration_and_known_values():
    rows = census_counting.subspace_counts(3, [3, 4, 5, 9], enumerate_up_to=5)
    assert [r["source"] for r in rows] == ["enumeration"] * 3 + ["closed form"]
    # by hand: T(3, 3) = 3! bijections; G(2, 3) = 2! S(3, 2) + 3 * 2! S(2, 2) = 6 + 6
    assert rows[0]["T"] == math.factorial(3) and rows[0]["G"] == 12
    # inclusion-exclusion: maps m -> {0..r} onto {1..r}
    for r in rows:
        m = r["m"]
        for key, rr in (("T", 3), ("G", 2)):
            want = sum(
                (-1) ** j * math.comb(rr, j) * (rr + 1 - j) ** m for j in range(rr + 1)
            )
            assert r[key] == want
    with pytest.raises(ValueError, match=r"^r_star\b"):
        census_counting.subspace_counts(1, [3])
    with pytest.raises(ValueError, match=r"^ms\b"):
        census_counting.subspace_counts(4, [3])


# ---------------------------------------------------------------------- argument errors
@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(ks=[1]), "ks"),
        (dict(n_seeds=0), "n_seeds"),
        (dict(extra="k"), "extra"),
        (dict(loss_tol=0.0), "loss_tol"),
        (dict(double_ks=[1]), "double_ks"),
    ],
)
def test_safran_shamir_census_errors(kwargs, name):
    args = dict(ks=[4], n_seeds=2, seed=0) | kwargs
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        census_runs.safran_shamir_census(**args)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(widths=[]), "widths"),
        (dict(r_star=0), "r_star"),
        (dict(lr=-1.0), "lr"),
        (dict(eig_tol=0.0), "eig_tol"),
        (dict(n_samples=0), "n_samples"),
    ],
)
def test_smooth_census_errors(kwargs, name):
    args = dict(r_star=2, d=2, widths=[2], n_seeds=2, seed=0) | kwargs
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        census_runs.smooth_census(**args)


def test_other_errors(ss_census):
    with pytest.raises(ValueError, match=r"^rows\b"):
        census_counting.fingerprint(torch.zeros(3, 4))
    with pytest.raises(ValueError, match=r"^tol\b"):
        census_counting.distinct_minima(torch.zeros(3, 4), tol=0.0)
    with pytest.raises(ValueError, match=r"^cls\b"):
        ss_census.points[0].count("bad")
    with pytest.raises(ValueError, match=r"^grad_tol\b"):
        census.classify_end_points(
            [0.1], [0.1], [0.1], loss_tol=1e-10, grad_tol=0.0, eig_tol=1e-6
        )
    with pytest.raises(KeyError):
        ss_census[(8, 9)]


def test_split_modules_and_shared_validators():
    from overparam import census_counting, census_runs
    from overparam.validate import check_int_list, check_positive

    # the census's names resolve to the one definition in its two helper modules
    # each name has one home: census keeps the classes and results only
    assert callable(census_counting.fingerprint) and callable(census_runs.smooth_census)
    assert not any(hasattr(census, n) for n in ("fingerprint", "smooth_census", "certify_points"))
    assert check_int_list("ks", (2, 3), min=2) == [2, 3]
    assert check_int_list("extra", [], min=0, allow_empty=True) == []
    with pytest.raises(ValueError, match=r"^ks\b"):
        check_int_list("ks", [], min=2)
    with pytest.raises(ValueError, match=r"^ks\[\]"):
        check_int_list("ks", [2, 1], min=2)
    with pytest.raises(ValueError, match=r"^ks\b"):
        check_int_list("ks", "23", min=2)
    assert check_positive(loss_tol=1e-3, eig_tol=2) == {"loss_tol": 1e-3, "eig_tol": 2.0}
    with pytest.raises(ValueError, match=r"^eig_tol\b"):
        check_positive(loss_tol=1e-3, eig_tol=0.0)


def test_check_range_is_a_half_open_index_range():
    from overparam.validate import check_range

    assert check_range("seeds", (0, 3), 3) == (0, 3) and check_range("seeds", [2, 3], 3) == (2, 3)
    for bad, name in [((2, 2), r"^seeds\[1\]"), ((0, 4), r"^seeds\[1\]"), ((-1, 1), r"^seeds\[0\]"),
                      (3, r"^seeds\b"), ((0, 1, 2), r"^seeds\b")]:
        with pytest.raises(ValueError, match=name):
            check_range("seeds", bad, 3)
