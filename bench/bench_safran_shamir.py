"""The Safran–Shamir family's two fast paths, each against its plain reference, in this process.

1. One gradient-descent step's loss and gradient (``safran_shamir._loss_grad``) against the all-pairs
   reference (``_loss_grad_reference``): k = n = 20, 300 students (the escape-dimensions chapter's largest
   rate runs), one torch thread as gradient descent uses. Also their largest difference.
2. The Hessian at a split point assembled from the narrow Hessian (``split_hessian``) against computing it
   anew (``hessian(split_student_neuron(...))``): 100 students, k = n = 20, each of the 20 neurons split at one mu,
   the two computed alternately; the narrow Hessian, computed once, is charged to the fast path.
"""
import os

import torch

from _device import DEVICE, clock
from overparam import safran_shamir as ss
from overparam import ss_dynamics as ssd


def _best(fn, repeats):
    best, out = float("inf"), None
    for _ in range(repeats):
        t0 = clock()
        out = fn()
        best = min(best, clock() - t0)
    return best, out


def main():
    torch.set_num_threads(1)
    W = ss.init_students(20, 20, 300, seed=0).to(DEVICE)
    steps = 50

    def run(f):
        for _ in range(steps):
            out = f(W)
        return out

    run(ss._loss_grad), run(ss._loss_grad_reference)                      # warm-up
    t_fast, (L, g) = _best(lambda: run(ss._loss_grad), 5)
    t_ref, (L_ref, g_ref) = _best(lambda: run(ss._loss_grad_reference), 5)
    diff = max(float((L - L_ref).abs().max()), float((g - g_ref).abs().max()))
    print(f"ss_load_avg_1min: {os.getloadavg()[0]:.2f}")
    print(f"ss_step_fast_ms: {1e3 * t_fast / steps:.3f}")
    print(f"ss_step_reference_ms: {1e3 * t_ref / steps:.3f}")
    print(f"ss_step_fast_vs_reference_speedup: {t_ref / t_fast:.2f}")
    print(f"ss_step_max_abs_difference: {diff:.2e}")
    assert diff < 1e-12, f"fast and reference loss/gradient differ by {diff:.1e} (bar 1e-12)"

    Wm = ss.init_students(20, 20, 100, seed=1).to(DEVICE)
    mu = 0.3
    ss.hessian(Wm[:2]), ssd.split_hessian(Wm[:2], 0, mu)                   # warm-up
    t0 = clock()
    H = ss.hessian(Wm)                      # the narrow Hessian, once: charged to the fast path
    t_fast, t_ref, diff = clock() - t0, 0.0, 0.0
    for i in range(Wm.shape[1]):            # one split at a time: 20 of them held at once would be 2.8 GB
        t0 = clock()
        A = ssd.split_hessian(Wm, i, mu, H)
        t1 = clock()
        B = ss.hessian(ssd.split_student_neuron(Wm, i, mu))
        t2 = clock()
        t_fast, t_ref = t_fast + (t1 - t0), t_ref + (t2 - t1)
        diff = max(diff, float((A - B).abs().max()))
        del A, B
    print(f"split_hessian_assembled_s: {t_fast:.2f}")
    print(f"split_hessian_anew_s: {t_ref:.2f}")
    print(f"split_hessian_assembled_vs_anew_speedup: {t_ref / t_fast:.2f}")
    print(f"split_hessian_max_abs_difference: {diff:.2e}")
    assert diff < 1e-10, f"assembled and recomputed split Hessians differ by {diff:.1e} (bar 1e-10)"


if __name__ == "__main__":
    main()
