"""``device=``: the library runs where it is told and follows its inputs' device.

Every test here runs on the ``device`` fixture (``tests/lib/conftest.py``: the CPU unless
``pytest --device cuda`` / ``OVERPARAM_TEST_DEVICE=cuda``) and compares with the same call on the CPU.

Tolerances. On the CPU the two calls must agree bit for bit (the ``device`` path may not change a
default result). On CUDA, in float64: random draws are made on CPU generators and moved, so initial
weights, data, probes and masks are *equal*; one closed-form evaluation (loss, gradient, Hessian,
forward pass) agrees to ``rtol=1e-9, atol=1e-12``; a short descent or Newton finish (rounding grows over
the steps) to ``rtol=1e-6, atol=1e-9``, with the same stop reasons and verdicts. Every output tensor
must be on ``device``.

Also here: ``validate.resolve_device``, the conftest's refusal of an absent CUDA, a static scan of the
library for tensor creation without ``device=`` (against a short allowlist), and the ``meta`` device
flowing through pure-tensor functions (which catches a CPU creation on a CPU-only machine).
"""
from __future__ import annotations

import ast
import dataclasses
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from overparam import census_counting, census_runs, data, finisher, hessian, landscape, mlp, prune
from overparam import safran_shamir as ss
from overparam import spectra
from overparam import ss_dynamics as ssd
from overparam import tickets, tickets_control
from overparam.experiments import counting_control as CC
from overparam.experiments import counting_tickets as C
from overparam.experiments import escape_dimensions as ed
from overparam.experiments import escape_runs, escape_split
from overparam.experiments import lottery_tickets as lt
from overparam.experiments import tickets_in_context as tic
from overparam.experiments.escape_slice import escape_slice
from overparam.validate import resolve_device

from conftest import ENV, resolve_test_device
from test_experiments_lottery_tickets import KW as LT_KW
from test_experiments_lottery_tickets import toy_dataset
from test_experiments_tickets_in_context import KW as TIC_KW

CPU = torch.device("cpu")
EXACT = dict(rtol=0.0, atol=0.0)
ONE_SHOT = dict(rtol=1e-9, atol=1e-12)      # accepted on CUDA for one closed-form evaluation
RUN = dict(rtol=1e-6, atol=1e-9)            # accepted on CUDA for a short descent / Newton finish


# ----------------------------------------------------------------------------- helpers
def _walk(obj, seen=None):
    """Every tensor in ``obj`` (tuples, lists, dicts, dataclasses such as MLP or GDResult)."""
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return
    seen.add(id(obj))
    if torch.is_tensor(obj):
        yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from _walk(v, seen)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            yield from _walk(v, seen)
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        for f in dataclasses.fields(obj):
            yield from _walk(getattr(obj, f.name), seen)


def assert_on(device: torch.device, obj) -> None:
    """Every tensor of ``obj`` lives on ``device``."""
    found = list(_walk(obj))
    for t in found:
        assert t.device == device, f"a tensor {tuple(t.shape)} is on {t.device}, not {device}"


def assert_same(cpu, dev, device: torch.device, tol: dict, path: str = "result") -> None:
    """``dev`` (computed on ``device``) equals ``cpu``: bit for bit on the CPU, within ``tol`` elsewhere."""
    tol = EXACT if device.type == "cpu" else tol
    if torch.is_tensor(cpu):
        assert torch.is_tensor(dev), path
        assert dev.dtype == cpu.dtype and dev.shape == cpu.shape, path
        if cpu.is_floating_point():
            torch.testing.assert_close(dev.cpu(), cpu, equal_nan=True, msg=path, **tol)
        else:
            assert torch.equal(dev.cpu(), cpu), path
    elif isinstance(cpu, np.ndarray):
        if cpu.dtype.kind == "f":
            np.testing.assert_allclose(dev, cpu, err_msg=path, equal_nan=True, **tol)
        else:
            np.testing.assert_array_equal(dev, cpu, err_msg=path)
    elif isinstance(cpu, pd.DataFrame):
        pd.testing.assert_frame_equal(dev, cpu, check_exact=device.type == "cpu", rtol=tol["rtol"] or 1e-5,
                                      atol=tol["atol"] or 1e-8)
    elif isinstance(cpu, dict):
        assert cpu.keys() == dev.keys(), path
        for k in cpu:
            assert_same(cpu[k], dev[k], device, tol, f"{path}[{k!r}]")
    elif isinstance(cpu, (list, tuple)) and not isinstance(cpu, str):
        assert len(cpu) == len(dev), path
        for i, (a, b) in enumerate(zip(cpu, dev)):
            assert_same(a, b, device, tol, f"{path}[{i}]")
    elif dataclasses.is_dataclass(cpu) and not isinstance(cpu, type):
        for f in dataclasses.fields(cpu):
            assert_same(getattr(cpu, f.name), getattr(dev, f.name), device, tol, f"{path}.{f.name}")
    elif isinstance(cpu, float) and device.type != "cpu":
        assert math.isclose(dev, cpu, rel_tol=tol["rtol"], abs_tol=tol["atol"]) or (cpu != cpu and dev != dev), path
    else:
        assert (dev == cpu) or (cpu != cpu and dev != dev), f"{path}: {dev!r} != {cpu!r}"


def check(cpu, dev, device, tol):
    """Both checks: same values, and every tensor of the device result on ``device``."""
    assert_on(device, dev)
    assert_same(cpu, dev, device, tol)


# ----------------------------------------------------------------------------- models
def test_mlp_init_forward_loss(device):
    kw = dict(activation="tanh", init="xavier_normal")
    net_c = mlp.init_mlp((3, 5, 2), 3, 7, **kw)
    net_d = mlp.init_mlp((3, 5, 2), 3, 7, device=device, **kw)
    check(net_c, net_d, device, EXACT)                 # CPU draws, moved: equal on every device
    x = torch.randn(11, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    y = torch.randn(11, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    check(mlp.forward(net_c, x), mlp.forward(net_d, x.to(device)), device, ONE_SHOT)
    check(mlp.loss(net_c, x, y), mlp.loss(net_d, x.to(device), y.to(device)), device, ONE_SHOT)
    check(mlp.flatten(net_c), mlp.flatten(net_d), device, EXACT)
    check(mlp.select(net_c, [2, 0]), mlp.select(net_d, [2, 0]), device, EXACT)
    check(landscape.split_mlp_neuron(net_c, 0, 1, 0.3), landscape.split_mlp_neuron(net_d, 0, 1, 0.3), device,
          ONE_SHOT)


def test_data_teacher_student_and_datasets(device):
    c = data.teacher_student(3, 2, 10, 4, n_test=5)
    d = data.teacher_student(3, 2, 10, 4, n_test=5, device=device)
    assert_on(device, d)
    for name in ("x", "x_test"):
        assert torch.equal(getattr(d, name).cpu(), getattr(c, name)), name        # the same draws
    assert_same(c, d, device, ONE_SHOT)
    ds = toy_dataset()
    moved = data.to_device(ds, device)
    assert_on(device, moved)
    check(data.validation_split(ds, 0.25, 3), data.validation_split(moved, 0.25, 3), device, EXACT)


# ----------------------------------------------------------------------------- Safran-Shamir
def test_safran_shamir_closed_form(device):
    Wc = ss.init_students(3, 4, 5, 2)
    Wd = ss.init_students(3, 4, 5, 2, device=device)
    check(Wc, Wd, device, EXACT)
    check(ss.teacher(3), ss.teacher(3, device=device), device, EXACT)
    check(ss.sample_inputs(7, 3, 1), ss.sample_inputs(7, 3, 1, device=device), device, EXACT)
    for fn in (ss.loss, ss.gradient, ss.hessian, ssd.neuron_curvature):
        check(fn(Wc), fn(Wd), device, ONE_SHOT)
    check(ss.loss_and_gradient(Wc), ss.loss_and_gradient(Wd), device, ONE_SHOT)
    check(ssd.add_zero_neuron(Wc), ssd.add_zero_neuron(Wd), device, EXACT)
    u = torch.nn.functional.normalize(torch.randn(5, 3, generator=torch.Generator().manual_seed(3),
                                                  dtype=torch.float64), dim=-1)
    check(ssd.add_zero_neuron(Wc, u, 0.1), ssd.add_zero_neuron(Wd, u.to(device), 0.1), device, EXACT)
    check(ssd.split_student_neuron(Wc, 1, 0.3), ssd.split_student_neuron(Wd, 1, 0.3), device, EXACT)
    check(ssd.split_hessian(Wc, 1, 0.3), ssd.split_hessian(Wd, 1, 0.3), device, ONE_SHOT)
    check(ssd.neuron_slope(Wc, u[:, None]), ssd.neuron_slope(Wd, u[:, None].to(device)), device, ONE_SHOT)
    nc = ssd.new_neuron_direction(Wc, n_starts=14, n_iter=20, seed=1)
    nd = ssd.new_neuron_direction(Wd, n_starts=14, n_iter=20, seed=1)
    check(nc, nd, device, RUN)


def test_gradient_descent(device):
    W0c = ss.init_students(2, 3, 4, 0)
    kw = dict(lr=1.0, n_steps=40, record_every=10)
    rc = ssd.gradient_descent(W0c, **kw)
    rd = ssd.gradient_descent(W0c.to(device), **kw)
    check(rc, rd, device, RUN)
    check(rc.reason_mask("step_limit"), rd.reason_mask("step_limit"), device, EXACT)


def test_newton_finish(device):
    W0 = ss.init_students(2, 2, 3, 5)
    fn = ss.objective(2, 2)
    rc = finisher.newton_finish(W0.reshape(3, -1), fn, max_iter=6)
    rd = finisher.newton_finish(W0.reshape(3, -1).to(device), fn, max_iter=6)
    check(rc, rd, device, RUN)


def test_fingerprint(device):
    rows = torch.randn(4, 3, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    for permute in (False, True):
        check(census_counting.fingerprint(rows, permute_columns=permute),
              census_counting.fingerprint(rows.to(device), permute_columns=permute), device, ONE_SHOT)


# ----------------------------------------------------------------------------- Hessians, spectra, pruning
def test_hessian_and_spectra(device):
    ts_c = data.teacher_student(3, 2, 12, 1)
    ts_d = data.teacher_student(3, 2, 12, 1, device=device)
    net_c = mlp.init_mlp((3, 4, 1), 2, 0)
    net_d = mlp.init_mlp((3, 4, 1), 2, 0, device=device)
    Hc = hessian.hessian(net_c, ts_c.x, ts_c.y)
    Hd = hessian.hessian(net_d, ts_d.x, ts_d.y)
    check(Hc, Hd, device, ONE_SHOT)
    check(hessian.gradient(net_c, ts_c.x, ts_c.y), hessian.gradient(net_d, ts_d.x, ts_d.y), device, ONE_SHOT)
    P = net_c.n_params
    check(spectra.rademacher_probes(2, 3, P, 4), spectra.rademacher_probes(2, 3, P, 4, device=device), device,
          EXACT)
    v = spectra.rademacher_probes(2, 3, P, 5)
    check(spectra.hvp(net_c, ts_c.x, ts_c.y, v), spectra.hvp(net_d, ts_d.x, ts_d.y, v.to(device)), device,
          ONE_SHOT)
    check(spectra.lanczos(Hc, 6, seed=1, return_vectors=True),
          spectra.lanczos(Hd, 6, seed=1, return_vectors=True), device, RUN)
    check(spectra.slq(Hc, 5, 3, seed=2), spectra.slq(Hd, 5, 3, seed=2), device, RUN)
    check(spectra.hutchinson_trace(Hc, 4, seed=3), spectra.hutchinson_trace(Hd, 4, seed=3), device, ONE_SHOT)
    check(landscape.negative_curvature(Hc), landscape.negative_curvature(Hd), device, RUN)


def test_prune_masks_and_controls(device):
    net_c = mlp.init_mlp((4, 6, 2), 2, 3)
    net_d = mlp.init_mlp((4, 6, 2), 2, 3, device=device)
    mc = prune.magnitude_prune(net_c, 0.5)
    md = prune.magnitude_prune(net_d, 0.5)
    check(mc, md, device, EXACT)
    check(prune.random_masks(mc, 9), prune.random_masks(md, 9), device, EXACT)
    check(prune.shuffle_weights(net_c, mc, 9), prune.shuffle_weights(net_d, md, 9), device, EXACT)
    check(prune.reinit(net_c, mc, 9), prune.reinit(net_d, md, 9), device, EXACT)
    check(prune.apply_masks(net_c, mc), prune.apply_masks(net_d, md), device, EXACT)
    np.testing.assert_array_equal(prune.densities(md), prune.densities(mc))


# ----------------------------------------------------------------------------- tickets
def test_subnetworks_and_training(device):
    check(tickets.subnetworks(4, 2), tickets.subnetworks(4, 2, device=device), device, EXACT)
    check(tickets.sample_subnetworks(5, 2, 4, 1), tickets.sample_subnetworks(5, 2, 4, 1, device=device), device,
          EXACT)
    W0 = ss.init_students(2, 3, 3, 1)
    idx = tickets.subnetworks(3, 2)
    check(tickets.restrict(W0, idx), tickets.restrict(W0.to(device), idx), device, EXACT)
    kw = dict(lr=2.5, n_steps=300, finisher_iter=5)
    check(tickets.train_subnetworks(W0, idx, **kw), tickets.train_subnetworks(W0.to(device), idx, **kw), device,
          RUN)


def test_tickets_control(device):
    check(tickets_control.control_inputs(20), tickets_control.control_inputs(20, device=device), device, EXACT)
    wc, bc = tickets_control.control_init(3, 2, 4)
    wd, bd = tickets_control.control_init(3, 2, 4, device=device)
    check((wc, bc), (wd, bd), device, EXACT)
    x = tickets_control.control_inputs(20)
    check(tickets_control.control_gradient_descent(wc, bc, x, lr=0.5, n_steps=60),
          tickets_control.control_gradient_descent(wd, bd, x.to(device), lr=0.5, n_steps=60), device, RUN)


# ----------------------------------------------------------------------------- the chapters' entry points
def test_escape_dimensions_entry_points(device):
    pairs = [(2, 2), (2, 3)]
    check(ed.run_rate_sweep(pairs, n_seeds=3, seed=0, n_steps=50),
          ed.run_rate_sweep(pairs, n_seeds=3, seed=0, n_steps=50, device=device), device, RUN)
    # run 31 of seed 0 at k = n = 8 ends at a certified strict local minimum (test_experiments_escape_dimensions)
    runs_c = {(8, 8): ed.run_rates(8, 8, 1, 0, 3000, first_run=31)}
    runs_d = {(8, 8): ed.run_rates(8, 8, 1, 0, 3000, first_run=31, device=device)}
    check(runs_c, runs_d, device, RUN)
    cert_c, table_c = ed.certify_minima(runs_c, [8])
    cert_d, table_d = ed.certify_minima(runs_c, [8], device=device)     # moved there by the argument
    assert cert_c[8].count == cert_d[8].count == 1
    check(cert_c, cert_d, device, RUN)
    assert_same(table_c, table_d, device, RUN)
    split_c = escape_split.split_analysis(cert_c, [8], [0.5], max_minima=1, seed=0)
    check(split_c, escape_split.split_analysis(cert_d, [8], [0.5], max_minima=1, seed=0), device, RUN)
    check(split_c, escape_split.split_analysis(cert_c, [8], [0.5], max_minima=1, seed=0, device=device), device,
          RUN)
    kw = dict(max_minima=1, n_steps=30, eps=1e-3, seed=0)
    assert_same(escape_runs.run_escapes(cert_c, [8], **kw), escape_runs.run_escapes(cert_d, [8], **kw), device,
                RUN)
    sl = dict(eps=1e-3, lr=5 / 8, n_path=20, record_every=5, m=5)
    assert_same(escape_slice(cert_c[8].W, 0, 0.5, **sl), escape_slice(cert_c[8].W, 0, 0.5, device=device, **sl),
                device, RUN)


def test_counting_tickets_entry_points(device):
    kw = dict(n_seeds=2, seed=0, n_steps=200)
    ec = C.run_experiments([2], [], **kw)
    edv = C.run_experiments([2], [], device=device, **kw)
    assert_on(device, edv[2].W0)
    assert_on(device, edv[2].sub.W)
    assert_same(ec, edv, device, RUN)
    cc = CC.run_control([1, 2], 3, 20, 0, n_steps=60)
    cd = CC.run_control([1, 2], 3, 20, 0, n_steps=60, device=device)
    check(cc, cd, device, RUN)


def test_bad_minima_rare_entry_points(device):
    kw = dict(extra=(0, 1), n_steps=200, finish_iter=5)
    check(census_runs.safran_shamir_census([2], 3, 0, **kw),
          census_runs.safran_shamir_census([2], 3, 0, device=device, **kw), device, RUN)
    kw = dict(n_samples=20, n_steps=10, finish_iter=3)
    check(census_runs.smooth_census(2, 2, [2], 2, 0, **kw),
          census_runs.smooth_census(2, 2, [2], 2, 0, device=device, **kw), device, RUN)


def test_tickets_in_context_entry_points(device):
    sc = tic.run_students([2], 3, 0, [0.0, 1.0], n_steps=300)
    sd = tic.run_students([2], 3, 0, [0.0, 1.0], n_steps=300, device=device)
    assert_on(device, [s.W0 for s in sd])
    assert_same(sc, sd, device, RUN)
    mc = tic.run_mnist1d(dataset=toy_dataset(), **TIC_KW)
    md = tic.run_mnist1d(dataset=toy_dataset(), device=device, **TIC_KW)
    assert_same(mc.table if hasattr(mc, "table") else mc, md.table if hasattr(md, "table") else md, device, RUN)


def test_lottery_tickets_entry_point(device):
    rc = lt.run(dataset=toy_dataset(), **LT_KW)
    rd = lt.run(dataset=toy_dataset(), device=device, **LT_KW)
    assert_same(rc.runs, rd.runs, device, RUN)


@pytest.mark.parametrize("call", [
    lambda: ed.run_rate_sweep([(2, 2)], n_seeds=1, seed=0, n_steps=1, device="gpu"),
    lambda: C.run_experiments([2], [], 1, 0, n_steps=1, device="gpu"),
    lambda: CC.run_control([1], 1, 4, 0, n_steps=1, device="gpu"),
    lambda: census_runs.safran_shamir_census([2], 1, 0, device="gpu"),
    lambda: census_runs.smooth_census(2, 2, [2], 1, 0, device="gpu"),
    lambda: tic.run_students([2], 1, 0, [0.0], n_steps=1, device="gpu"),
    lambda: lt.run(dataset=toy_dataset(), device="gpu", **LT_KW),
    lambda: tic.run_mnist1d(dataset=toy_dataset(), device="gpu", **TIC_KW),
])
def test_entry_points_check_device(call):
    with pytest.raises(ValueError, match=r"^device must be 'cpu', 'cuda', 'cuda:N', 'auto' or a torch\.device\b"):
        call()


# ----------------------------------------------------------------------------- resolve_device and the fixture
def test_resolve_device_accepts_auto_and_names_the_parameter(monkeypatch):
    assert resolve_device(None) == CPU
    assert resolve_device("cpu") == resolve_device(CPU) == CPU
    want = torch.device("cuda") if torch.cuda.is_available() else CPU
    assert resolve_device("auto") == want
    with pytest.raises(ValueError, match=r"^device must be 'cpu', 'cuda', 'cuda:N', 'auto' or a torch.device, "
                                         r"got 'gpu'$"):
        resolve_device("gpu")
    for bad in (3, "mps", "", object()):
        with pytest.raises(ValueError, match=r"^device must be\b"):
            resolve_device(bad)
    with pytest.raises(ValueError, match=r"^eval_device must be .* got 'gpu'$"):
        resolve_device("gpu", name="eval_device")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == CPU
    for asked in ("cuda", "cuda:1", torch.device("cuda")):
        with pytest.raises(ValueError, match=r"^device=.*CUDA is not available here; use device='cpu'$"):
            resolve_device(asked)
    with pytest.raises(ValueError, match=r"^eval_device=.*CUDA is not available"):
        resolve_device("cuda", name="eval_device")


def test_the_fixture_refuses_an_absent_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(pytest.UsageError, match=rf"^--device/{ENV}='cuda' asked for CUDA, but torch\.cuda\.is_available\(\) is False\b"):
        resolve_test_device("cuda")
    with pytest.raises(pytest.UsageError, match=rf"^--device/{ENV} must be 'cpu', 'cuda', 'cuda:N' or 'auto', got 'gpu'$"):
        resolve_test_device("gpu")
    assert resolve_test_device("auto") == CPU
    assert resolve_test_device("cpu") == CPU


# ----------------------------------------------------------------------------- meta: no CPU creation
META = torch.device("meta")


def test_meta_device_flows_through_creators_and_pure_tensor_functions():
    """On ``meta`` nothing is computed, so these run on a CPU-only machine; a tensor created on the CPU
    inside would show up as a CPU output or a device-mismatch error."""
    assert_on(META, mlp.init_mlp((3, 4, 2), 2, 0, device="meta"))
    assert_on(META, ss.init_students(2, 3, 2, 0, device="meta"))
    assert_on(META, ss.teacher(3, device="meta"))
    assert_on(META, ss.sample_inputs(4, 3, 0, device="meta"))
    assert_on(META, tickets.subnetworks(4, 2, device="meta"))
    assert_on(META, tickets.sample_subnetworks(6, 2, 3, 0, device="meta"))
    assert_on(META, spectra.rademacher_probes(2, 3, 5, 0, device="meta"))
    assert_on(META, tickets_control.control_inputs(10, device="meta"))
    assert_on(META, tickets_control.control_init(2, 3, 0, device="meta"))
    W = torch.empty(2, 3, 4, dtype=torch.float64, device=META)
    assert_on(META, ss._all_neurons(W))
    assert_on(META, census_counting.fingerprint(W, permute_columns=False))
    order = torch.zeros(2, 3, dtype=torch.int64)                     # on the CPU: moved by _split_pairs
    Y = torch.empty(2, 3, 4, 4, dtype=torch.float64, device=META)
    assert_on(META, escape_runs._split_pairs(W, Y, order, 1, 1e-3))
    net = mlp.init_mlp((3, 4, 2), 2, 0, device="meta")
    assert_on(META, mlp.forward(net, torch.empty(5, 3, dtype=torch.float64, device=META)))


# ----------------------------------------------------------------------------- static scan
LIB = Path(mlp.__file__).parent
CREATORS = {"zeros", "ones", "empty", "full", "tensor", "arange", "eye", "randn", "rand", "linspace",
            "randperm", "randint", "as_tensor"}

#: ``(module, function)``: why a creation there may lack ``device=`` and not be moved right away.
ALLOWED = {
    ("mlp.py", "init_mlp"): "CPU generator draws into CPU buffers, moved with .to(device) at the end",
    ("data.py", "teacher_student"): "CPU generator draws of the teacher, moved with .to(**to) below",
    ("data.py", "digits"): "split permutation converted to numpy right away",
    ("prune.py", "prune_counts"): "as_tensor of a count: keeps a tensor's own device",
    ("prune.py", "random_masks"): "CPU generator draws into a CPU buffer, moved to each mask's device at the end",
    ("prune.py", "shuffle_weights"): "CPU generator permutation of CPU indices, moved with .to(w.device)",
    ("spectra.py", "rademacher_probes"): "CPU generator draws into a CPU buffer, moved to device at the end",
    ("tickets.py", "sample_subnetworks"): "CPU generator draws converted to Python tuples right away",
    ("tickets.py", "run_experiment"): "empty index set of no sampled subnetwork: CPU bookkeeping like idx",
    ("tickets_control.py", "control_inputs"): "quadrature nodes computed on the CPU, moved to device below",
    ("tickets_control.py", "control_init"): "CPU generator draws, stacked and moved with .to(device)",
    ("safran_shamir.py", "init_students"): "CPU generator draws, moved with .to(device) at the end",
    ("certify.py", "_as_1d"): "verdict bookkeeping: moved to the CPU explicitly (.cpu())",
    ("certify.py", "certify_hessian"): "as_tensor of the caller's tensors: keeps their device",
    ("landscape.py", "_vector"): "as_tensor of a list, moved to like.device right after",
    ("escape_split.py", "split_theory"): "mus as a tensor, moved to each analysis' device in the loop",
    ("escape_runs.py", "escape_starts"): "CPU generator permutations, stacked and moved with .to(W.device)",
    ("train.py", "__call__"): "eval_fn's values (any device) to numpy through .cpu(): bookkeeping",
}


def _unplaced_creations(path: Path):
    """``(function, line)`` of every ``torch.<creator>(...)`` call without ``device=`` whose value is not
    the receiver of an immediate ``.to(...)``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    parents = {}
    for node in ast.walk(tree):
        for child in ast.iter_child_nodes(node):
            parents[child] = node
    out = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr in CREATORS and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "torch"):
            continue
        if any(k.arg == "device" or k.arg is None for k in node.keywords):   # device= or **to
            continue
        up = parents.get(node)
        if isinstance(up, ast.Attribute) and up.attr == "to" and isinstance(parents.get(up), ast.Call):
            continue
        fn, p = "<module>", up
        while p is not None:
            if isinstance(p, (ast.FunctionDef, ast.AsyncFunctionDef)):
                fn = p.name
                break
            p = parents.get(p)
        out.append((fn, node.lineno))
    return out


def test_no_tensor_is_created_off_device_outside_the_allowlist():
    bad, used = [], set()
    for path in sorted(LIB.rglob("*.py")):
        for fn, line in _unplaced_creations(path):
            key = (path.name, fn)
            if key not in ALLOWED:
                bad.append(f"{path.relative_to(LIB.parent)}:{line} in {fn}()")
            else:
                used.add(key)
    assert not bad, ("tensors created without device= (and not moved with .to right away); pass the input's "
                     "device or a device argument, or add an allowlist entry with its reason:\n" + "\n".join(bad))
    stale = set(ALLOWED) - used
    assert not stale, f"allowlist entries that match nothing (remove them): {sorted(stale)}"


def test_the_static_scan_can_fail(tmp_path):
    f = tmp_path / "m.py"
    f.write_text("import torch\n"
                 "def a(W):\n    return torch.zeros(3)\n"
                 "def b(W):\n    return torch.zeros(3, device=W.device)\n"
                 "def c(W):\n    return torch.randn(3).to(W.device)\n"
                 "def d(W):\n    x = torch.ones(2) * 2\n    return x.to(W.device)\n")
    assert _unplaced_creations(f) == [("a", 3), ("d", 9)]
