"""Discrete-time and contractual models in the validation faces: holdout periods for
BG/BB, later survival for sBG/BdW, and the survival/retention plots."""

import numpy as np
import pandas as pd
import pytest

import clvmodels as clv
from clvmodels import evaluation

TRUTH = {"alpha": 1.2, "beta": 0.75, "gamma": 0.66, "delta": 2.8}


def simulated_log(n_customers=6000, years=10, seed=0):
    """Yearly transactions of a BG/BB cohort acquired in 2000: one row per transaction,
    on a random day of its year (sometimes two rows in one year, which count once)."""
    rng = np.random.default_rng(seed)
    p = rng.beta(TRUTH["alpha"], TRUTH["beta"], n_customers)
    theta = rng.beta(TRUTH["gamma"], TRUTH["delta"], n_customers)
    alive_through = rng.geometric(theta) - 1
    customers, years_bought = [np.arange(n_customers)], [np.zeros(n_customers, dtype=int)]
    for year in range(1, years + 1):
        buys = (alive_through >= year) & (rng.random(n_customers) < p)
        customers.append(np.flatnonzero(buys))
        years_bought.append(np.full(buys.sum(), year))
    customer, year = np.concatenate(customers), np.concatenate(years_bought)
    extra = rng.random(len(customer)) < 0.1
    customer, year = np.concatenate([customer, customer[extra]]), np.concatenate([year, year[extra]])
    dates = pd.to_datetime((2000 + year).astype(str) + "-01-01") + pd.to_timedelta(rng.integers(0, 365, len(year)), unit="D")
    return pd.DataFrame({"customer_id": customer, "date": dates})


@pytest.fixture(scope="module")
def split():
    return clv.discrete_calibration_holdout_split(
        simulated_log(), period="Y", calibration_end="2005-12-31", observation_end="2010-12-31")


def test_discrete_split_columns(split):
    assert len(split) == 6000
    assert (split["n_periods"] == 5).all() and (split["duration_holdout"] == 5).all()
    assert split["frequency_holdout"].between(0, 5).all()
    assert split.attrs == {"time_unit": "Y", "calibration_end": "2005-12-31", "observation_end": "2010-12-31"}
    full = clv.discrete_rfm_summary(simulated_log(), period="Y", observation_end="2010-12-31")
    calibration = clv.discrete_rfm_summary(simulated_log(), period="Y", observation_end="2005-12-31")
    pd.testing.assert_frame_equal(split[["frequency", "recency", "n_periods"]], calibration, check_like=True)
    # Holdout transactions are the full history's minus the calibration's.
    np.testing.assert_array_equal(split["frequency_holdout"], full["frequency"] - calibration["frequency"])


def test_bgbb_holdout_comparison(split):
    model = clv.BetaGeoBetaBinomModel().fit(split)
    comparison = evaluation.holdout_comparison(model, split)
    predicted, actual = comparison["predicted_purchases"].sum(), comparison["actual_purchases"].sum()
    assert predicted == pytest.approx(actual, rel=0.05)
    metrics = evaluation.holdout_metrics(comparison)
    assert metrics["mae"] < 1.5
    fit = evaluation.goodness_of_fit(model, split, max_frequency=5)
    assert fit["observed"].sum() == 6000
    assert fit["expected"].sum() == pytest.approx(6000)
    assert fit.attrs["p_value"] > 1e-4  # the model is the truth here
    table = evaluation.compare_models([model], split, max_frequency=5)
    assert table.loc[table.index[0], "log_likelihood"] == pytest.approx(model.log_likelihood_, rel=1e-9)


def test_bgbb_holdout_needs_its_columns(split):
    model = clv.BetaGeoBetaBinomModel().fit(split)
    with pytest.raises(ValueError, match="'n_periods'"):
        evaluation.holdout_comparison(model, split.drop(columns="n_periods"))


def test_discrete_split_bad_input():
    log = simulated_log(100)
    with pytest.raises(ValueError, match="no complete Y period lies between"):
        clv.discrete_calibration_holdout_split(log, period="Y", calibration_end="2010-12-31", observation_end="2010-12-31")
    with pytest.raises(ValueError, match="calibration_end 'soon' is not a date"):
        clv.discrete_calibration_holdout_split(log, period="Y", calibration_end="soon")


# ----- contractual: later survival ---------------------------------------------------------
REGULAR_12 = [1000, 631, 468, 382, 326, 289, 262, 241, 223, 207, 194, 183, 173]


@pytest.mark.parametrize("model_class", [clv.ShiftedBetaGeoModel, clv.BetaDiscreteWeibullModel])
def test_survival_comparison(model_class):
    model = model_class().fit(clv.tenure_from_survivors(REGULAR_12[:8]), sample_weight="weight")
    table = evaluation.survival_comparison(model, REGULAR_12, calibration_periods=7)
    assert table["holdout"].sum() == 5
    np.testing.assert_allclose(table["expected_survival"], model.survival(np.arange(13)))
    np.testing.assert_allclose(table["expected_retention"].iloc[1:], model.retention(np.arange(1, 13)))
    assert np.isnan(table["observed_retention"].iloc[0])
    assert table.attrs["holdout_mape"] < 10
    # The calibration years are fitted closely.
    assert np.abs(table["expected_survivors"] - table["observed_survivors"])[:8].max() < 15


def test_survival_comparison_bad_input():
    model = clv.ShiftedBetaGeoModel().fit(clv.tenure_from_survivors(REGULAR_12[:8]), sample_weight="weight")
    with pytest.raises(ValueError, match="at least two counts"):
        evaluation.survival_comparison(model, [1000])
    with pytest.raises(ValueError, match="1 row is negative"):
        evaluation.survival_comparison(model, [1000, -3])
    with pytest.raises(clv.NotFittedError):
        evaluation.survival_comparison(clv.ShiftedBetaGeoModel(), REGULAR_12)


def test_survival_and_retention_plots():
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    from clvmodels import plotting

    model = clv.ShiftedBetaGeoModel().fit(clv.tenure_from_survivors(REGULAR_12[:8], period="Y"), sample_weight="weight")
    table = evaluation.survival_comparison(model, REGULAR_12, calibration_periods=7)
    fig, (left, right) = plt.subplots(1, 2)
    assert plotting.plot_survival(table, ax=left) is left
    assert plotting.plot_retention(table, ax=right) is right
    observed, fitted = left.get_lines()[:2]
    np.testing.assert_allclose(observed.get_ydata(), table["observed_survival"])
    np.testing.assert_allclose(fitted.get_ydata(), table["expected_survival"])
    assert left.get_xlabel() == "years since acquisition"
    assert len(left.get_lines()) == 3  # observed, model, end of calibration
    plt.close(fig)
    assert set(plotting.CONTRACTUAL_PLOTS) == {"plot_survival", "plot_retention"}
    assert not set(plotting.CONTRACTUAL_PLOTS) & set(plotting.__all__)  # not in the purchase-model report
    with pytest.raises(ValueError, match="'expected_survival': is missing"):
        plotting.plot_survival(table.drop(columns="expected_survival"))


def test_probability_alive_matrix_of_bgbb():
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    from clvmodels import plotting

    donations = clv.datasets.load_donations()
    model = clv.BetaGeoBetaBinomModel().fit(donations, sample_weight="weight")
    ax = plotting.plot_probability_alive_matrix(model, T=donations)
    matrix = ax.images[0].get_array()
    assert matrix.shape == (7, 7)  # frequency 0..6 by recency 0..6
    assert matrix[2, 4] == pytest.approx(model.probability_alive(
        pd.DataFrame({"frequency": [2.0], "recency": [4.0], "n_periods": [6.0]})).iloc[0])
    assert np.ma.is_masked(matrix[3, 2]) or np.isnan(matrix[3, 2])  # 3 transactions by period 2: impossible
    plt.close(ax.figure)
