"""Pareto/NBD: parity with lifetimes' ParetoNBDFitter at the same parameters.

Wherever lifetimes returns a finite value ours equals it to 1e-6 relative; where it
returns NaN or inf (heavy buyers, recency = T) ours is finite (its agreement with
mpmath there is in tests/test_pareto_nbd.py).
"""

import warnings

import numpy as np
import pandas as pd
import pytest

from clvmodels import pareto_nbd

lifetimes = pytest.importorskip("lifetimes")

RTOL = 1e-6


def lifetimes_fitter(params):
    fitter = lifetimes.ParetoNBDFitter()
    fitter.params_ = pd.Series(params, index=["r", "alpha", "s", "beta"], dtype=float)
    return fitter


def columns(data):
    return [data[c].to_numpy(float) for c in ("frequency", "recency", "T")]


def assert_equal_where_finite(ours, theirs, what):
    ours, theirs = np.asarray(ours, dtype=float), np.asarray(theirs, dtype=float)
    assert np.all(np.isfinite(ours)), what
    finite = np.isfinite(theirs)
    assert finite.mean() > 0.5, f"{what}: lifetimes finite on too few rows to compare"
    error = np.abs(ours[finite] - theirs[finite]) / np.maximum(np.abs(theirs[finite]), 1e-300)
    assert error.max() < RTOL, f"{what}: max relative difference {error.max():.3g}"
    return error.max()


@pytest.fixture(scope="module")
def cdnow_case(rfm):
    from clvmodels import ParetoNBDModel

    model = ParetoNBDModel().fit(rfm)
    return model.params_.to_dict(), rfm


@pytest.fixture(scope="module")
def sampled_case():
    params = {"r": 0.55, "alpha": 10.0, "s": 0.6, "beta": 12.0}
    rng = np.random.default_rng(7)
    return params, pareto_nbd.sample(params, rng.uniform(1, 60, 3000), rng)


@pytest.fixture(params=["cdnow", "sampled"])
def case(request, cdnow_case, sampled_case):
    return cdnow_case if request.param == "cdnow" else sampled_case


def test_log_likelihood_equals_lifetimes(case):
    params, data = case
    x, t_x, T = columns(data)
    theirs = lifetimes.ParetoNBDFitter._conditional_log_likelihood(
        tuple(params[k] for k in ("r", "alpha", "s", "beta")), x, t_x, T
    )
    assert_equal_where_finite(pareto_nbd.log_likelihood(params, x, t_x, T), theirs, "log_likelihood")


def test_probability_alive_equals_lifetimes(case):
    params, data = case
    x, t_x, T = columns(data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = lifetimes_fitter(params).conditional_probability_alive(x, t_x, T)
    assert_equal_where_finite(pareto_nbd.probability_alive(params, x, t_x, T), theirs, "probability_alive")


@pytest.mark.parametrize("t", [1.0, 10.0, 39.0])
def test_expected_purchases_equal_lifetimes(case, t):
    params, data = case
    x, t_x, T = columns(data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = lifetimes_fitter(params).conditional_expected_number_of_purchases_up_to_time(t, x, t_x, T)
    assert_equal_where_finite(pareto_nbd.expected_purchases(params, t, x, t_x, T), theirs, "expected_purchases")


def test_expected_purchases_of_new_customer_equal_lifetimes(case):
    params, _ = case
    times = np.array([0.5, 1.0, 13.0, 39.0, 78.0, 520.0])
    theirs = lifetimes_fitter(params).expected_number_of_purchases_up_to_time(times)
    assert_equal_where_finite(pareto_nbd.expected_purchases_new_customer(params, times), theirs, "new customer")


@pytest.mark.parametrize("n", [0, 1, 2, 5])
def test_conditional_pmf_equals_lifetimes(case, n):
    params, data = case
    data = data.iloc[:150]  # lifetimes' conditional PMF loops in Python
    x, t_x, T = columns(data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = lifetimes_fitter(params).conditional_probability_of_n_purchases_up_to_time(n, 39.0, x, t_x, T)
    ours = pareto_nbd.conditional_probability_of_purchases(params, n, 39.0, x, t_x, T)
    assert_equal_where_finite(ours, theirs, f"P(X = {n} | history)")


def test_finite_where_lifetimes_is_not(cdnow_case):
    # lifetimes returns NaN from frequency 132 on and at recency = T.
    params, _ = cdnow_case
    x = np.array([0.0, 5.0, 131.0, 132.0, 500.0, 10_000.0])
    T = np.full(x.shape, 39.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = lifetimes_fitter(params).conditional_expected_number_of_purchases_up_to_time(39.0, x, T, T)
    assert not np.all(np.isfinite(theirs))
    for values in (
        pareto_nbd.log_likelihood(params, x, T, T),
        pareto_nbd.probability_alive(params, x, T, T),
        pareto_nbd.expected_purchases(params, 39.0, x, T, T),
    ):
        assert np.all(np.isfinite(values))
