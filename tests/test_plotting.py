"""Plots: each one drawn off-screen (Agg) and the data it shows checked.

Checks are against the library's own tables (goodness_of_fit, holdout_by_frequency,
tracking), against independent computations (scipy densities, numerical integration
of the Gamma-Gamma mixture) and against lifetimes 0.11.3 at the same parameters.
"""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, stats

matplotlib = pytest.importorskip("matplotlib")
import matplotlib.pyplot as plt  # noqa: E402

import clvmodels as clv  # noqa: E402
from clvmodels import bgnbd, evaluation, plotting  # noqa: E402
from clvmodels.data import calibration_holdout_split, rfm_summary  # noqa: E402

lifetimes = pytest.importorskip("lifetimes")

CALIBRATION_END, OBSERVATION_END = "1997-09-30", "1998-06-30"


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def clv_values(bg, gg, rfm):
    return clv.customer_lifetime_value(bg, gg, rfm, horizon=12, period="M", discount_rate=0.01)


@pytest.fixture
def tracking_table():
    """A small tracking table in the shape evaluation.tracking returns."""
    t = np.arange(1.0, 11.0)
    actual = np.array([0, 3, 5, 4, 6, 5, 4, 6, 5, 3], dtype=float)
    expected = np.linspace(1.0, 5.5, 10)
    table = pd.DataFrame(
        {"actual": actual, "expected": expected,
         "actual_cumulative": actual.cumsum(), "expected_cumulative": expected.cumsum()},
        index=pd.Index(t, name="t"),
    )
    table.attrs.update(time_unit="W", period=1.0, start_date="1997-01-01", calibration_end=6.0)
    return table


def lifetimes_bg(params):
    fitter = lifetimes.BetaGeoFitter()
    fitter.params_ = pd.Series(params, index=["r", "alpha", "a", "b"], dtype=float)
    return fitter


# ----- validation plots ---------------------------------------------------------------------
def test_period_transactions_bars_are_goodness_of_fit_counts(bg, rfm):
    ax = plotting.plot_period_transactions(bg, rfm, max_frequency=7)
    table = evaluation.goodness_of_fit(bg, rfm, max_frequency=7)
    heights = np.array([patch.get_height() for patch in ax.patches])
    observed, expected = heights[:8], heights[8:]
    np.testing.assert_array_equal(observed, table["observed"].to_numpy(dtype=float))
    np.testing.assert_allclose(expected, table["expected"].to_numpy(), rtol=1e-12)
    # FHL 2005 Figure 1 / the goodness_of_fit docstring: 1411 customers made no repeat purchase.
    assert observed[0] == 1411
    assert [tick.get_text() for tick in ax.get_xticklabels()] == ["0", "1", "2", "3", "4", "5", "6", "7+"]
    assert "weeks" in ax.get_xlabel()
    assert "chi-square" in ax.get_title()
    assert {t.get_text() for t in ax.get_legend().get_texts()} == {"observed", "expected (BetaGeoModel)"}


def test_calibration_vs_holdout_lines_are_holdout_by_frequency_means(bg, split):
    ax = plotting.plot_calibration_vs_holdout_purchases(bg, split, max_frequency=5)
    table = evaluation.holdout_by_frequency(evaluation.holdout_comparison(bg, split), max_frequency=5)
    actual, predicted = ax.get_lines()[:2]
    np.testing.assert_allclose(actual.get_ydata(), table["actual"].to_numpy())
    np.testing.assert_allclose(predicted.get_ydata(), table["predicted"].to_numpy())
    assert [tick.get_text() for tick in ax.get_xticklabels()][-1] == "5+"
    assert "39 weeks" in ax.get_ylabel()


@pytest.mark.parametrize(
    "plot, columns",
    [
        (plotting.plot_cumulative_transactions, ("actual_cumulative", "expected_cumulative")),
        (plotting.plot_incremental_transactions, ("actual", "expected")),
    ],
)
def test_tracking_lines_are_the_tracking_table(tracking_table, plot, columns):
    ax = plot(tracking_table)
    lines = ax.get_lines()
    for line, column in zip(lines[:2], columns):
        np.testing.assert_array_equal(line.get_xdata(), tracking_table.index.to_numpy())
        np.testing.assert_array_equal(line.get_ydata(), tracking_table[column].to_numpy())
    # The calibration end is marked by a vertical line at attrs["calibration_end"].
    vertical = [line for line in lines[2:] if np.ptp(np.asarray(line.get_xdata(), dtype=float)) == 0]
    assert len(vertical) == 1 and vertical[0].get_xdata()[0] == 6.0
    assert "weeks since the first purchase" in ax.get_xlabel()
    assert ax.get_legend() is not None


def test_incremental_label_states_the_period(tracking_table):
    assert "per week" in plotting.plot_incremental_transactions(tracking_table).get_ylabel()
    tracking_table.attrs["period"] = 4.0
    assert "per 4 weeks" in plotting.plot_incremental_transactions(tracking_table).get_ylabel()


def test_tracking_plots_on_evaluation_tracking(bg, cdnow_sample):
    table = evaluation.tracking(
        bg, cdnow_sample, calibration_end=CALIBRATION_END, observation_end=OBSERVATION_END,
        time_unit="W",
    )
    ax = plotting.plot_cumulative_transactions(table)
    np.testing.assert_array_equal(ax.get_lines()[1].get_ydata(), table["expected_cumulative"].to_numpy())
    vertical = ax.get_lines()[2].get_xdata()
    assert vertical[0] == pytest.approx(table.attrs["calibration_end"])
    assert 38 < vertical[0] < 40  # 1997-01-01 .. 1997-09-30 is 273 days = 39 weeks


def test_tracking_table_missing_column_names_it(tracking_table):
    with pytest.raises(ValueError, match="column 'expected_cumulative': is missing"):
        plotting.plot_cumulative_transactions(tracking_table.drop(columns="expected_cumulative"))


# ----- matrices -----------------------------------------------------------------------------
def test_frequency_recency_matrix_is_expected_purchases(bg, rfm):
    ax = plotting.plot_frequency_recency_matrix(bg, T=rfm, t=2)
    image = np.asarray(ax.images[0].get_array())
    T = rfm["T"].max()
    max_frequency = int(rfm["frequency"].max())
    n_recency = int(np.floor(T)) + 1
    assert image.shape == (max_frequency + 1, n_recency)
    recency = np.linspace(0, T, n_recency)
    frequency = np.arange(max_frequency + 1.0)
    F, R = np.meshgrid(frequency, recency, indexing="ij")
    R = np.where(F == 0, 0.0, R)
    np.testing.assert_allclose(image, bgnbd.expected_purchases(bg.params_, 2.0, F, R, T), rtol=1e-12)
    # lifetimes at the same parameters (frequency > 0 rows; its own formula, FHL 2005 eq. 10).
    oracle = lifetimes_bg(bg.params_).conditional_expected_number_of_purchases_up_to_time(
        2.0, F[1:].ravel(), R[1:].ravel(), T)
    np.testing.assert_allclose(image[1:].ravel(), oracle, rtol=1e-6)
    # Frequency on y (rows, origin at the bottom), recency on x.
    assert ax.images[0].origin == "lower"
    assert "recency" in ax.get_xlabel() and "weeks" in ax.get_xlabel()
    assert "frequency" in ax.get_ylabel()
    assert "next 2 weeks" in ax.get_title()
    assert len(ax.figure.axes) == 2  # the colorbar


def test_probability_alive_matrix(bg):
    ax = plotting.plot_probability_alive_matrix(bg, T=30.0, max_frequency=10, max_recency=20)
    image = np.asarray(ax.images[0].get_array())
    assert image.shape == (11, 21)
    recency = np.linspace(0, 20, 21)
    oracle = lifetimes_bg(bg.params_).conditional_probability_alive(
        np.repeat(np.arange(1.0, 11.0), 21), np.tile(recency, 10), 30.0)
    np.testing.assert_allclose(image[1:].ravel(), oracle, rtol=1e-6)
    np.testing.assert_array_equal(image[0], 1.0)  # no repeat purchase: alive with certainty
    assert np.all(np.diff(image[1:], axis=1) >= 0)  # more recent, more likely alive
    assert ax.images[0].get_clim() == (0, 1)


def test_matrix_default_frequency_without_data(bg):
    ax = plotting.plot_probability_alive_matrix(bg, T=38.86)
    n_rows = ax.images[0].get_array().shape[0]
    cumulative = np.cumsum(bg.probability_of_purchases(np.arange(n_rows), 38.86))
    # The rows cover at least 99.5% of new customers of that age (FHL 2005 eq. 8).
    assert cumulative[-1] >= 0.995 and cumulative[-2] < 0.995


def test_matrix_bad_arguments(bg):
    with pytest.raises(ValueError, match="T is needed"):
        plotting.plot_frequency_recency_matrix(bg)
    with pytest.raises(ValueError, match="max_recency must be <= T"):
        plotting.plot_probability_alive_matrix(bg, T=10, max_recency=12)
    with pytest.raises(ValueError, match="max_frequency must be a whole number"):
        plotting.plot_probability_alive_matrix(bg, T=10, max_frequency=2.5)
    with pytest.raises(ValueError, match="t must be a finite number > 0"):
        plotting.plot_frequency_recency_matrix(bg, T=10, t=-1)


# ----- one customer, a new customer --------------------------------------------------------
def test_history_alive_follows_the_customer(bg, cdnow_sample):
    customer = cdnow_sample[cdnow_sample["customer_id"] == 1]
    ax = plotting.plot_history_alive(bg, customer, end=OBSERVATION_END)
    curve = ax.get_lines()[0]
    s = np.asarray(curve.get_xdata(), dtype=float)
    alive = np.asarray(curve.get_ydata(), dtype=float)
    days = np.unique(customer["date"].to_numpy().astype("datetime64[D]"))
    purchases = (days - days[0]).astype(float) / 7.0
    # Repeat purchases so far and the time of the last one, at every grid time (a few purchases: a loop is fine).
    x = np.array([np.sum(purchases[1:] <= time) for time in s], dtype=float)
    t_x = np.array([purchases[purchases <= time].max() for time in s])
    oracle = lifetimes_bg(bg.params_).conditional_probability_alive(x, t_x, s)
    np.testing.assert_allclose(alive, oracle, rtol=1e-6)
    assert s[0] == 0 and s[-1] == pytest.approx((np.datetime64(OBSERVATION_END) - days[0]).astype(float) / 7)
    # Decays while silent; right at the k-th repeat purchase it is 1 / (1 + a / (b + k - 1)) (FHL 2005 eq. 11).
    between = (s[1:] > s[:-1]) & (x[1:] == x[:-1])
    assert np.all(np.diff(alive)[between] <= 1e-12)
    a, b = bg.params_["a"], bg.params_["b"]
    for k, moment in enumerate(purchases[1:], start=1):
        assert alive[s >= moment][0] == pytest.approx(1 / (1 + a / (b + k - 1)), rel=1e-12)
        if k == 1:
            assert alive[s < moment][-1] == 1.0  # no repeat purchase yet: alive for sure
    markers = ax.get_lines()[len(ax.get_lines()) - 1]
    np.testing.assert_allclose(markers.get_xdata(), purchases)
    assert "weeks since the first purchase (1997-01-01)" in ax.get_xlabel()


def test_history_alive_merges_same_day_purchases_and_checks_input(bg):
    tx = pd.DataFrame({"date": pd.to_datetime(["1997-01-01", "1997-01-01", "1997-02-01"])})
    ax = plotting.plot_history_alive(bg, tx)
    markers = ax.get_lines()[-1]
    assert len(markers.get_xdata()) == 2  # two purchase days
    with pytest.raises(ValueError, match="before the customer's last purchase"):
        plotting.plot_history_alive(bg, tx, end="1997-01-15")
    with pytest.raises(ValueError, match="column 'day': is missing"):
        plotting.plot_history_alive(bg, tx, date_col="day")
    with pytest.raises(ValueError, match=r"column 'date': 1 row (is|are) not dates"):
        plotting.plot_history_alive(bg, pd.DataFrame({"date": ["1997-01-01", "not a date"]}))
    with pytest.raises(ValueError, match="time unit mismatch"):
        plotting.plot_history_alive(bg, tx, time_unit="D")
    with pytest.raises(ValueError, match="column 'customer_id': holds 2 customers"):
        plotting.plot_history_alive(bg, tx.assign(customer_id=[1, 1, 2]))


def test_expected_purchases_new_customer_curve(bg):
    ax = plotting.plot_expected_purchases_new_customer(bg, t_max=78)
    line = ax.get_lines()[0]
    t, y = np.asarray(line.get_xdata()), np.asarray(line.get_ydata())
    assert t[0] == 0 and t[-1] == 78 and y[0] == 0
    oracle = lifetimes_bg(bg.params_).expected_number_of_purchases_up_to_time(t[1:])
    np.testing.assert_allclose(y[1:], oracle, rtol=1e-6)
    assert "weeks" in ax.get_xlabel()


# ----- mixing distributions -----------------------------------------------------------------
def test_purchase_rate_density_integrates_to_one(bg):
    ax = plotting.plot_purchase_rate_heterogeneity(bg)
    line = ax.get_lines()[0]
    grid, density = np.asarray(line.get_xdata()), np.asarray(line.get_ydata())
    r, alpha = bg.params_["r"], bg.params_["alpha"]
    dist = stats.gamma(r, scale=1 / alpha)
    np.testing.assert_allclose(density, dist.pdf(grid), rtol=1e-12)
    covered = dist.cdf(grid[-1]) - dist.cdf(grid[0])
    assert integrate.trapezoid(density, grid) == pytest.approx(covered, abs=2e-3)
    assert covered > 0.998
    mean_line = ax.get_lines()[1]
    assert mean_line.get_xdata()[0] == pytest.approx(r / alpha)
    assert "per week" in ax.get_xlabel()


def test_dropout_density_integrates_to_one(bg):
    ax = plotting.plot_dropout_heterogeneity(bg)
    grid, density = (np.asarray(v) for v in ax.get_lines()[0].get_data())
    a, b = bg.params_["a"], bg.params_["b"]
    assert integrate.trapezoid(density, grid) == pytest.approx(1.0, abs=3e-3)
    np.testing.assert_allclose(density, stats.beta(a, b).pdf(grid), rtol=1e-12)
    assert ax.get_lines()[1].get_xdata()[0] == pytest.approx(a / (a + b))
    assert ax.get_xlim() == (0, 1)


def test_heterogeneity_with_finite_densities():
    model = clv.BetaGeoModel()
    model.params_ = pd.Series({"r": 3.0, "alpha": 10.0, "a": 2.0, "b": 5.0})
    model.time_unit_ = "D"
    ax = plotting.plot_purchase_rate_heterogeneity(model)
    grid, density = (np.asarray(v) for v in ax.get_lines()[0].get_data())
    assert integrate.trapezoid(density, grid) == pytest.approx(0.999, abs=2e-3)
    assert ax.get_ylim()[1] >= density.max()  # nothing cut off
    assert "per day" in ax.get_xlabel()
    grid, density = (np.asarray(v) for v in plotting.plot_dropout_heterogeneity(model).get_lines()[0].get_data())
    assert integrate.trapezoid(density, grid) == pytest.approx(1.0, abs=2e-3)


def test_heterogeneity_needs_a_mixing_distribution(gg):
    with pytest.raises(ValueError, match=r"needs a model with a purchase distribution; GammaGammaModel has none"):
        plotting.plot_purchase_rate_heterogeneity(gg)
    with pytest.raises(ValueError, match=r"with a dropout distribution"):
        plotting.plot_dropout_heterogeneity(gg)
    with pytest.raises(clv.NotFittedError):
        plotting.plot_dropout_heterogeneity(clv.BetaGeoModel())


# ----- spend and value ----------------------------------------------------------------------
def test_spend_distribution(gg, rfm):
    ax = plotting.plot_spend_distribution(gg, rfm)
    repeat = rfm[rfm["frequency"] > 0]
    m = repeat["monetary_value"].to_numpy()
    upper = np.quantile(m, 0.995)
    heights = np.array([patch.get_height() for patch in ax.patches])
    edges = np.array([patch.get_x() for patch in ax.patches] + [ax.patches[-1].get_x() + ax.patches[-1].get_width()])
    counts, _ = np.histogram(m[m <= upper], bins=edges)
    np.testing.assert_allclose(heights, counts / (len(m) * np.diff(edges)), rtol=1e-9)
    assert heights @ np.diff(edges) == pytest.approx(np.mean(m <= upper))

    grid, density = (np.asarray(v) for v in ax.get_lines()[0].get_data())
    # The model's share of repeat buyers in view is close to the observed one.
    assert integrate.trapezoid(density, grid) == pytest.approx(np.mean(m <= upper), abs=0.01)
    # Independent check of the curve: the mean spend m of x purchases is Gamma(p x, rate nu x)
    # given the customer's nu ~ Gamma(q, rate v) (Hardie 2013); integrate nu out numerically.
    p, q, v = gg.params_[["p", "q", "v"]]
    frequencies, shares = np.unique(repeat["frequency"], return_counts=True)
    shares = shares / shares.sum()

    def mixture(value):
        return sum(
            share * integrate.quad(
                lambda nu: stats.gamma.pdf(value, p * x, scale=1 / (nu * x)) * stats.gamma.pdf(nu, q, scale=1 / v),
                0, np.inf)[0]
            for x, share in zip(frequencies, shares)
        )

    for i in (100, 400):
        assert density[i] == pytest.approx(mixture(grid[i]), rel=1e-6)
    assert "spend" in ax.get_xlabel()


def test_spend_distribution_bad_input(gg, bg, rfm):
    with pytest.raises(ValueError, match="no customer has a repeat purchase"):
        plotting.plot_spend_distribution(gg, rfm[rfm["frequency"] == 0])
    with pytest.raises(ValueError, match="column 'monetary_value': is missing"):
        plotting.plot_spend_distribution(gg, rfm.drop(columns="monetary_value"))
    with pytest.raises(ValueError, match="needs a spend model; BetaGeoModel is not one"):
        plotting.plot_spend_distribution(bg, rfm)


def test_value_concentration_small_example():
    values = pd.Series(np.arange(1.0, 11.0), name="clv")  # total 55
    ax = plotting.plot_value_concentration(values)
    x, y = (np.asarray(v) for v in ax.get_lines()[0].get_data())
    np.testing.assert_allclose(x, np.arange(0, 101, 10))
    np.testing.assert_allclose(y, 100 * np.concatenate([[0], np.cumsum(np.arange(10.0, 0, -1))]) / 55)
    markers = ax.get_lines()[2]
    np.testing.assert_allclose(markers.get_xdata(), [10, 20])
    np.testing.assert_allclose(markers.get_ydata(), [100 * 10 / 55, 100 * 19 / 55])
    assert "top 10%: 18% of value" in [t.get_text() for t in ax.texts]


def test_value_concentration_on_cdnow(clv_values):
    ax = plotting.plot_value_concentration(clv_values)
    x, y = (np.asarray(v) for v in ax.get_lines()[0].get_data())
    assert (x[0], y[0]) == (0, 0) and (x[-1], y[-1]) == (100, 100)
    assert np.all(np.diff(y) >= -1e-12) and np.all(np.diff(y, 2) <= 1e-9)  # rising and concave
    top10 = np.sort(clv_values.to_numpy())[::-1][: int(0.1 * len(clv_values))].sum() / clv_values.sum() * 100
    assert ax.get_lines()[2].get_ydata()[0] == pytest.approx(top10, abs=0.1)


def test_value_concentration_many_customers_is_thinned():
    values = np.random.default_rng(1).gamma(0.5, 100.0, size=50_000)
    x, y = (np.asarray(v) for v in plotting.plot_value_concentration(values).get_lines()[0].get_data())
    assert len(x) == 2001 and (x[-1], y[-1]) == (100, 100)
    top20 = np.sort(values)[::-1][:10_000].sum() / values.sum() * 100
    assert np.interp(20, x, y) == pytest.approx(top20, rel=1e-9)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(0, 1e6), min_size=1, max_size=60).filter(lambda v: sum(v) > 0))
def test_value_concentration_properties(values):
    fig, ax = plt.subplots()
    try:
        plotting.plot_value_concentration(values, ax=ax)
        x, y = (np.asarray(v) for v in ax.get_lines()[0].get_data())
        assert (x[0], y[0], x[-1], y[-1]) == (0, 0, 100, 100)
        assert np.all(np.diff(y) >= -1e-9)  # rising
        assert np.all(np.diff(y, 2) <= 1e-9)  # concave: most valuable first
        assert np.all(y >= x - 1e-9)  # on or above the line of equal values
        marked = ax.get_lines()[2].get_ydata()
        np.testing.assert_allclose(marked, np.interp([10, 20], x, y))
    finally:
        plt.close(fig)


def test_value_concentration_bad_values():
    with pytest.raises(ValueError, match=r"column 'clv': 2 rows are negative"):
        plotting.plot_value_concentration(pd.Series([1.0, -1.0, -2.0], name="clv"))
    with pytest.raises(ValueError, match=r"column 'clv': 1 row (is|are) missing \(NaN\)"):
        plotting.plot_value_concentration([1.0, np.nan])
    with pytest.raises(ValueError, match="all 2 values are zero"):
        plotting.plot_value_concentration([0.0, 0.0])


# ----- common behaviour -------------------------------------------------------------------
@pytest.fixture
def every_plot(bg, gg, rfm, split, tracking_table, clv_values, cdnow_sample):
    customer = cdnow_sample[cdnow_sample["customer_id"] == 2]
    return {
        "period_transactions": lambda ax: plotting.plot_period_transactions(bg, rfm, ax=ax),
        "calibration_vs_holdout": lambda ax: plotting.plot_calibration_vs_holdout_purchases(
            bg, split, ax=ax),
        "cumulative": lambda ax: plotting.plot_cumulative_transactions(tracking_table, ax=ax),
        "incremental": lambda ax: plotting.plot_incremental_transactions(tracking_table, ax=ax),
        "frequency_recency": lambda ax: plotting.plot_frequency_recency_matrix(bg, T=rfm, ax=ax),
        "probability_alive": lambda ax: plotting.plot_probability_alive_matrix(bg, T=rfm, ax=ax),
        "history_alive": lambda ax: plotting.plot_history_alive(bg, customer, ax=ax),
        "new_customer": lambda ax: plotting.plot_expected_purchases_new_customer(bg, 52, ax=ax),
        "purchase_rate": lambda ax: plotting.plot_purchase_rate_heterogeneity(bg, ax=ax),
        "dropout": lambda ax: plotting.plot_dropout_heterogeneity(bg, ax=ax),
        "spend": lambda ax: plotting.plot_spend_distribution(gg, rfm, ax=ax),
        "concentration": lambda ax: plotting.plot_value_concentration(clv_values, ax=ax),
    }


def test_every_plot_draws_on_the_given_axes_and_labels_it(every_plot):
    assert len(every_plot) == len(plotting.__all__)
    fig, axes = plt.subplots(3, 4, figsize=(20, 12))
    for ax, (name, draw) in zip(axes.ravel(), every_plot.items()):
        assert draw(ax) is ax, name
        assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel(), name
        assert ax.has_data(), name
    fig.canvas.draw()  # renders without error under Agg
    assert len(plt.get_fignums()) == 1  # nothing opened a figure of its own


def test_every_plot_makes_its_own_figure_without_ax(every_plot):
    for name, draw in every_plot.items():
        ax = draw(None)
        assert ax.figure.number in plt.get_fignums(), name
        assert ax.get_legend() is not None or ax.images, name
        plt.close(ax.figure)


def test_missing_matplotlib_message(monkeypatch, bg):
    _, ax = plt.subplots()
    # An import of matplotlib (or of any of its submodules) now fails, as if it were not installed.
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    expected = r"^clvmodels.plotting needs matplotlib: pip install 'clvmodels\[plot\]'$"
    with pytest.raises(ImportError, match=expected):
        plotting.plot_expected_purchases_new_customer(bg, 10)
    with pytest.raises(ImportError, match=expected):
        plotting.plot_value_concentration([1.0, 2.0], ax=ax)


def test_plotting_imports_without_matplotlib():
    code = (
        "import sys; sys.modules['matplotlib'] = None; import clvmodels.plotting; "
        "assert 'matplotlib.pyplot' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
