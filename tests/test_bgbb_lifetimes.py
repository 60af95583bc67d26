"""BG/BB parity with lifetimes' BetaGeoBetaBinomFitter at the same parameters."""

import numpy as np
import pandas as pd
import pytest

import clvmodels as clv
from clvmodels import bgbb

lifetimes = pytest.importorskip("lifetimes")

OPTIMUM = {"alpha": 1.20352, "beta": 0.74972, "gamma": 0.65672, "delta": 2.78344}
PARAM_SETS = [OPTIMUM, {"alpha": 0.3, "beta": 4.0, "gamma": 2.5, "delta": 0.7}, {"alpha": 8.0, "beta": 1.5, "gamma": 0.2, "delta": 9.0}]


def fitter(params):
    model = lifetimes.BetaGeoBetaBinomFitter()
    model.params_ = pd.Series(params, dtype=float)
    return model


def histories(n_rows=400, max_n=14, seed=0):
    rng = np.random.default_rng(seed)
    n = rng.integers(0, max_n + 1, n_rows).astype(float)
    t_x = np.floor(rng.uniform(0, 1, n_rows) * (n + 1))
    x = np.where(t_x > 0, np.maximum(1, np.floor(rng.uniform(0, 1, n_rows) * (t_x + 1))), 0.0)
    return x, t_x, n


@pytest.mark.parametrize("params", PARAM_SETS)
def test_log_likelihood(params):
    x, t_x, n = histories()
    ours = bgbb.log_likelihood(params, x, t_x, n)
    theirs = lifetimes.BetaGeoBetaBinomFitter._loglikelihood(tuple(params.values()), x, t_x, n)
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("params", PARAM_SETS)
@pytest.mark.parametrize("m", [1, 3, 10])
def test_conditional_expected_purchases(params, m):
    x, t_x, n = histories()
    ours = bgbb.expected_purchases(params, m, x, t_x, n)
    theirs = fitter(params).conditional_expected_number_of_purchases_up_to_time(m, x, t_x, n)
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize("params", PARAM_SETS)
def test_probability_alive_next_period(params):
    x, t_x, n = histories()
    ours = bgbb.probability_alive(params, x, t_x, n)
    theirs = fitter(params).conditional_probability_alive(1, x, t_x, n)
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize("params", PARAM_SETS)
@pytest.mark.parametrize("n", [1, 6, 11])
def test_probability_of_purchases_of_new_customer(params, n):
    model = fitter(params)
    # lifetimes evaluates P(X(n) = x) at the frequencies present in its data, scaled by the total weight.
    model.data = pd.DataFrame({"frequency": np.arange(n + 1.0), "weights": np.full(n + 1, 1.0 / (n + 1))})
    theirs = model.expected_number_of_transactions_in_first_n_periods(n)["model"].to_numpy()
    ours = bgbb.probability_of_purchases(params, np.arange(n + 1), n)
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-12)


def test_fitted_model_methods_agree_on_donations():
    donations = clv.datasets.load_donations()
    ours = clv.BetaGeoBetaBinomModel().fit(donations, sample_weight="weight")
    theirs = fitter(ours.params_.to_dict())
    args = [donations[c].to_numpy() for c in ("frequency", "recency", "n_periods")]
    np.testing.assert_allclose(ours.expected_purchases(donations, 5), theirs.conditional_expected_number_of_purchases_up_to_time(5, *args), rtol=1e-6)
    np.testing.assert_allclose(ours.probability_alive(donations), theirs.conditional_probability_alive(1, *args), rtol=1e-6)
