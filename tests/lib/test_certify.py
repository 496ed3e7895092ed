"""certify: constructed cases land in the right class, with the numbers behind the verdict."""
import math

import pytest
import torch

from overparam import safran_shamir as ss
from overparam.certify import VERDICTS, Certificate, certify_hessian, classify, count_verdicts

DT = torch.float64


def test_constructed_cases():
    cases = [  # loss, grad_norm, lambda_min, verdict
        (0.0, 1e-13, 0.2, "global_minimum"),
        (5e-7, 1e-12, 0.0, "global_minimum"),          # flat family of global minima (extra width)
        (0.02, 1e-12, 0.016, "strict_local_minimum"),
        (0.02, 1e-12, -0.3, "saddle"),
        (0.02, 1e-12, 1e-9, "degenerate"),
        (0.02, 1e-12, -1e-9, "degenerate"),
        (0.02, 1e-5, 0.1, "not_converged"),
        (0.0, 1e-9, 0.1, "not_converged"),              # the gradient bound is strict
        (float("nan"), 1e-12, 0.1, "not_converged"),
        (0.02, 1e-12, float("-inf"), "not_converged"),
    ]
    L, G, E, want = zip(*cases)
    certs = classify(torch.tensor(L, dtype=DT), list(G), torch.tensor(E, dtype=DT))
    assert [c.verdict for c in certs] == list(want)
    c = certs[2]
    assert isinstance(c, Certificate) and c.is_minimum and not certs[3].is_minimum
    assert (c.loss, c.grad_norm, c.lambda_min) == (0.02, 1e-12, 0.016)
    assert (c.grad_tol, c.loss_tol, c.eig_tol) == (1e-9, 1e-6, 1e-6)
    assert "strict_local_minimum" in str(c)
    counts = count_verdicts(certs)
    assert set(counts) == set(VERDICTS) and sum(counts.values()) == len(cases)
    assert counts["not_converged"] == 4 and counts["degenerate"] == 2


def test_thresholds_are_parameters():
    assert classify(0.02, 1e-8, 0.01)[0].verdict == "not_converged"
    assert classify(0.02, 1e-8, 0.01, grad_tol=1e-7)[0].verdict == "strict_local_minimum"
    assert classify(0.02, 1e-12, 1e-4, eig_tol=1e-3)[0].verdict == "degenerate"
    assert classify(1e-4, 1e-12, 0.1, loss_tol=1e-3)[0].verdict == "global_minimum"


def test_certify_hessian_on_safran_shamir_points():
    k = 3
    W = torch.eye(k, dtype=DT)[None]
    L, g = ss.loss_and_gradient(W)
    assert certify_hessian(L, g.reshape(1, -1), ss.hessian(W))[0].verdict == "global_minimum"
    # a strict local minimum of a symmetric quadratic, and a saddle, from explicit Hessians
    H = torch.stack([torch.diag(torch.tensor([0.5, 2.0], dtype=DT)), torch.diag(torch.tensor([-0.5, 2.0], dtype=DT))])
    R = torch.tensor([[math.cos(0.3), -math.sin(0.3)], [math.sin(0.3), math.cos(0.3)]], dtype=DT)
    H = R @ H @ R.T
    certs = certify_hessian(torch.tensor([0.1, 0.1]), torch.zeros(2, 2, dtype=DT), H)
    assert [c.verdict for c in certs] == ["strict_local_minimum", "saddle"]
    assert certs[0].lambda_min == pytest.approx(0.5, abs=1e-14)
    assert certs[1].lambda_min == pytest.approx(-0.5, abs=1e-14)


@pytest.mark.parametrize("call,name", [
    (lambda: classify([0.1, 0.2], [1e-12], [0.1, 0.1]), "loss"),
    (lambda: classify(0.1, 1e-12, 0.1, grad_tol=0.0), "grad_tol"),
    (lambda: classify(0.1, 1e-12, 0.1, eig_tol=-1.0), "eig_tol"),
    (lambda: classify(0.1, 1e-12, 0.1, loss_tol=float("nan")), "loss_tol"),
    (lambda: classify(torch.zeros(2, 2), torch.zeros(2, 2), torch.zeros(2, 2)), "loss"),
    (lambda: certify_hessian(torch.zeros(1), torch.zeros(1, 2), torch.zeros(1, 3, 3)), "grad"),
])
def test_bad_input_names_the_parameter(call, name):
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        call()
