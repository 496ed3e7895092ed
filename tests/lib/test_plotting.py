"""overparam.plotting.mean_band: the numbers it draws (mean over seeds, z standard errors, NaN ignored)."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from overparam.plotting import mean_band  # noqa: E402


def _edges(ax, x):
    """(lower, upper) edges of the band fill_between drew: its polygon's smallest and largest y at each x."""
    verts = ax.collections[-1].get_paths()[0].vertices
    lo, hi = [], []
    for xi in x:
        ys = verts[np.isclose(verts[:, 0], xi), 1]
        lo.append(ys.min())
        hi.append(ys.max())
    return np.array(lo), np.array(hi)


def test_mean_and_band_are_the_mean_and_z_standard_errors_ignoring_nan():
    x = [0.0, 1.0, 2.0]
    y = np.array([[1.0, 2.0, 5.0], [3.0, np.nan, 7.0], [2.0, 4.0, np.nan], [6.0, 6.0, 9.0]])
    fig, ax = plt.subplots()
    line = mean_band(ax, x, y, z=2.0)
    mean = np.array([np.mean([1, 3, 2, 6]), np.mean([2, 4, 6]), np.mean([5, 7, 9])])
    sem = np.array([np.std([1, 3, 2, 6], ddof=1) / 2, np.std([2, 4, 6], ddof=1) / np.sqrt(3),
                    np.std([5, 7, 9], ddof=1) / np.sqrt(3)])
    np.testing.assert_allclose(line.get_ydata(), mean, rtol=1e-12)
    lo, hi = _edges(ax, x)
    np.testing.assert_allclose(lo, mean - 2 * sem, rtol=1e-12)
    np.testing.assert_allclose(hi, mean + 2 * sem, rtol=1e-12)
    plt.close(fig)


def test_one_seed_has_no_band_and_log_mode_averages_log10():
    x = [0.0, 1.0]
    fig, ax = plt.subplots()
    y = np.array([[1.0, 100.0], [10.0, np.nan]])
    line = mean_band(ax, x, y, log=True)
    np.testing.assert_allclose(line.get_ydata(), [10 ** 0.5, 100.0], rtol=1e-12)   # geometric mean; one seed
    lo, hi = _edges(ax, x)
    assert lo[1] == hi[1] == pytest.approx(100.0), "a single finite seed: no band"
    assert lo[0] < 10 ** 0.5 < hi[0] and ax.get_yscale() == "log"
    with pytest.raises(ValueError, match=r"^y must have shape \(n_seeds, 2\)"):
        mean_band(ax, x, np.zeros((3, 3)))
    plt.close(fig)
