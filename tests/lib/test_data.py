"""Data sets: shapes, determinism, independent streams, cache hits, the global RNG left alone."""
import random

import numpy as np
import pytest
import torch

from overparam.data import Dataset, digits, mnist1d, teacher_student, validation_split
from overparam.mlp import ACTIVATIONS, forward


@pytest.mark.parametrize("act", [a for a in ACTIVATIONS if a != "linear"])
@pytest.mark.parametrize("bias", [False, True])
def test_teacher_student_shapes_and_outputs(act, bias):
    ts = teacher_student(5, 3, 37, 1, activation=act, bias=bias, n_test=11)
    assert ts.x.shape == (37, 5) and ts.y.shape == (37, 1) and ts.x_test.shape == (11, 5)
    assert ts.y_test.shape == (11, 1) and ts.d == 5 and ts.k == 3 and ts.x.dtype == torch.float64
    assert ts.teacher.sizes == (5, 3, 1) and ts.teacher.has_bias == bias and ts.teacher.activation == act
    assert torch.allclose(forward(ts.teacher, ts.x)[0], ts.y, rtol=0, atol=1e-14)
    # the reference formula: sum_i a_i sigma(w_i . x + b_i) + c with a_i = 1
    pre = ts.x @ ts.teacher.weights[0][0].T + (0 if not bias else ts.teacher.biases[0][0])
    from overparam.mlp import activate
    ref = activate(act, pre).sum(1, keepdim=True) + (0 if not bias else ts.teacher.biases[1][0])
    assert torch.allclose(ref, ts.y, rtol=1e-12, atol=1e-12)


def test_teacher_student_determinism_and_streams():
    a = teacher_student(4, 2, 50, 3, n_test=5)
    b = teacher_student(4, 2, 50, 3, n_test=5)
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y) and torch.equal(a.x_test, b.x_test)
    c = teacher_student(4, 2, 50, 4)
    assert not torch.equal(a.x, c.x) and not torch.equal(a.teacher.weights[0], c.teacher.weights[0])
    # same teacher, new data: teacher and data are seeded apart
    e = teacher_student(4, 2, 50, 4, teacher_seed=3)
    assert torch.equal(e.teacher.weights[0], a.teacher.weights[0]) and not torch.equal(e.x, a.x)
    # training rows do not depend on n_test
    assert torch.equal(teacher_student(4, 2, 50, 3, n_test=0).x, a.x)
    # inputs look like N(0, I): a loose check on a large draw
    big = teacher_student(3, 2, 20000, 0)
    assert abs(float(big.x.mean())) < 0.03 and abs(float(big.x.std()) - 1) < 0.03


def test_teacher_student_bad_input():
    for kwargs, name in [(dict(d=0), "d"), (dict(k=0), "k"), (dict(n=0), "n"), (dict(activation="gelu"), "activation"),
                         (dict(output="x"), "output"), (dict(n_test=-1), "n_test")]:
        args = dict(d=3, k=2, n=10, seed=0)
        args.update(kwargs)
        with pytest.raises(ValueError, match=rf"^{name}\b"):
            teacher_student(**args)


@pytest.fixture(scope="module")
def mnist_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


def test_mnist1d_standard_split_and_cache(mnist_cache):
    np_state, py_state = np.random.get_state(), random.getstate()
    a = mnist1d(cache=mnist_cache)
    assert np.random.get_state()[1].tolist() == np_state[1].tolist() and random.getstate() == py_state
    assert isinstance(a, Dataset) and a.n_classes == 10 and a.n_features == 40
    assert a.x_train.shape == (4000, 40) and a.x_test.shape == (1000, 40)
    assert a.y_train.shape == (4000,) and a.y_test.shape == (1000,) and a.y_train.dtype == torch.long
    assert set(a.y_train.tolist()) == set(range(10)) and a.x_train.dtype == torch.float32
    files = list(mnist_cache.iterdir())
    assert len(files) == 1 and files[0].suffix == ".npz"
    b = mnist1d(cache=mnist_cache, dtype=torch.float64)              # a cache hit: identical arrays
    assert torch.equal(b.x_train.float(), a.x_train) and torch.equal(b.y_test, a.y_test)
    assert len(list(mnist_cache.iterdir())) == 1


def test_mnist1d_cache_is_keyed_by_arguments(mnist_cache):
    a = mnist1d(cache=mnist_cache, num_samples=200, seed=1)
    b = mnist1d(cache=mnist_cache, num_samples=200, seed=2)
    assert a.x_train.shape == (160, 40) and a.x_test.shape == (40, 40)
    assert not torch.equal(a.x_train, b.x_train)
    assert torch.equal(mnist1d(cache=mnist_cache, num_samples=200, seed=1).x_train, a.x_train)
    with pytest.raises(ValueError, match=r"^num_sample\b"):
        mnist1d(cache=mnist_cache, num_sample=10)


def test_digits_split_and_validation_split():
    a, b, c = digits(0), digits(0), digits(1)
    assert a.x_train.shape[0] + a.x_test.shape[0] == 1797 and a.n_features == 64
    assert abs(a.x_test.shape[0] - 0.25 * 1797) <= 1 and float(a.x_train.max()) <= 1.0
    assert torch.equal(a.x_train, b.x_train) and not torch.equal(a.y_train, c.y_train)
    v = validation_split(a, 0.2, seed=5)
    assert v.x_val.shape[0] + v.x_train.shape[0] == a.x_train.shape[0] and torch.equal(v.x_test, a.x_test)
    assert torch.equal(validation_split(a, 0.2, seed=5).y_val, v.y_val)
    assert not torch.equal(validation_split(a, 0.2, seed=6).y_val, v.y_val)
    # train and validation partition the original training rows
    rows = sorted(map(tuple, torch.cat([v.x_train, v.x_val]).tolist()))
    assert rows == sorted(map(tuple, a.x_train.tolist()))
    with pytest.raises(ValueError, match=r"^fraction\b"):
        validation_split(a, 1.0, seed=0)
    with pytest.raises(ValueError, match=r"^test_fraction\b"):
        digits(0, test_fraction=-0.1)
