"""MBG/NBD against lifetimes' ModifiedBetaGeoFitter (the oracle) and, where lifetimes
is not finite, against high-precision evaluation with mpmath."""

import warnings

import numpy as np
import pandas as pd
import pytest

import clvmodels as clv
from clvmodels import mbgnbd

lifetimes = pytest.importorskip("lifetimes")
mpmath = pytest.importorskip("mpmath")

NAMES = ("r", "alpha", "a", "b")
PARITY_CASES = [
    ("cdnow", None),
    ("typical", {"r": 0.5, "alpha": 6.0, "a": 0.9, "b": 1.6}),
    ("heavy", {"r": 20.0, "alpha": 10.0, "a": 0.4, "b": 8.0}),
    ("quick churn", {"r": 1.0, "alpha": 2.0, "a": 10.0, "b": 1.5}),
]


def lifetimes_fitter(params):
    fitter = lifetimes.ModifiedBetaGeoFitter()
    fitter.params_ = pd.Series([float(params[k]) for k in NAMES], index=list(NAMES))
    return fitter


@pytest.fixture(scope="module")
def cdnow_mbg(rfm):
    return clv.ModifiedBetaGeoModel().fit(rfm)


@pytest.fixture(params=PARITY_CASES, ids=[c[0] for c in PARITY_CASES])
def parity_case(request, rfm, cdnow_mbg):
    name, params = request.param
    if params is None:
        return cdnow_mbg.params_.to_dict(), rfm
    rng = np.random.default_rng(len(name))
    return params, mbgnbd.sample(params, rng.uniform(5, 60, 2000), rng)


def assert_close(ours, theirs, rtol=1e-6):
    np.testing.assert_allclose(np.asarray(ours, dtype=float), np.asarray(theirs, dtype=float), rtol=rtol, atol=1e-300)


def test_predictions_equal_lifetimes(parity_case):
    params, data = parity_case
    fitter = lifetimes_fitter(params)
    x, t_x, T = data["frequency"], data["recency"], data["T"]
    assert_close(mbgnbd.probability_alive(params, x, t_x, T), fitter.conditional_probability_alive(x, t_x, T))
    for t in (0.5, 1.0, 10.0, 39.0, 104.0):
        assert_close(
            mbgnbd.expected_purchases(params, t, x, t_x, T),
            fitter.conditional_expected_number_of_purchases_up_to_time(t, x, t_x, T),
        )
    times = np.array([0.5, 1, 3, 32, 78, 500])
    assert_close(mbgnbd.expected_purchases_new_customer(params, times), fitter.expected_number_of_purchases_up_to_time(times))
    for n in (0, 1, 2, 5, 10):
        for t in (1.0, 39.0, 78.0):
            assert_close(mbgnbd.probability_of_purchases(params, n, t), fitter.probability_of_n_purchases_up_to_time(t, n))


def test_log_likelihood_equals_lifetimes(parity_case):
    params, data = parity_case
    columns = [data[c].to_numpy() for c in ("frequency", "recency", "T")]
    mean_negative = lifetimes.ModifiedBetaGeoFitter._negative_log_likelihood(
        np.log([params[k] for k in NAMES]), *columns, np.ones(len(data)), 0.0
    )
    assert mbgnbd.log_likelihood(params, *columns).sum() == pytest.approx(-mean_negative * len(data), rel=1e-9)


def fit_lifetimes(data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return lifetimes.ModifiedBetaGeoFitter().fit(data["frequency"], data["recency"], data["T"])


def test_cdnow_fit_and_standard_errors_equal_lifetimes(rfm, cdnow_mbg):
    fitter = fit_lifetimes(rfm)
    np.testing.assert_allclose(cdnow_mbg.params_, fitter.params_[list(NAMES)], rtol=1e-5)
    np.testing.assert_allclose(cdnow_mbg.standard_errors_, fitter.standard_errors_[list(NAMES)], rtol=1e-3)


@pytest.mark.parametrize("seed", [1, 2])
def test_fit_reaches_at_least_lifetimes_likelihood(seed):
    params = {"r": 0.6, "alpha": 4.0, "a": 0.7, "b": 3.0}
    rng = np.random.default_rng(seed)
    data = mbgnbd.sample(params, rng.uniform(10, 50, 3000), rng)
    ours = clv.ModifiedBetaGeoModel().fit(data)
    fitter = fit_lifetimes(data)
    theirs = mbgnbd.log_likelihood(fitter.params_, data["frequency"], data["recency"], data["T"]).sum()
    assert ours.log_likelihood_ >= theirs - 1e-7
    np.testing.assert_allclose(ours.params_, fitter.params_[list(NAMES)], rtol=1e-3)


# ----- where lifetimes is not finite: mpmath at 60 digits --------------------------------
def mp_expected(params, t, x, t_x, T):
    """E[X(T, T+t) | x, t_x, T] as lifetimes writes it (BDF 2007), in 60-digit arithmetic."""
    with mpmath.workdps(60):
        r, alpha, a, b = (mpmath.mpf(params[k]) for k in NAMES)
        x, t_x, T, t = (mpmath.mpf(v) for v in (x, t_x, T, t))
        hyp = mpmath.hyp2f1(r + x, b + x + 1, a + b + x, t / (alpha + T + t))
        unconditional = (a + b + x) / (a - 1) * (1 - hyp * ((alpha + T) / (alpha + T + t)) ** (r + x))
        return float(unconditional / (1 + a / (b + x) * ((alpha + T) / (alpha + t_x)) ** (r + x)))


def mp_new_customer_pmf(params, n, t):
    """P(X(t) = n) for a customer just acquired (BDF 2007), in 60-digit arithmetic."""
    with mpmath.workdps(60):
        r, alpha, a, b = (mpmath.mpf(params[k]) for k in NAMES)
        t = mpmath.mpf(t)
        keep, buy = alpha / (alpha + t), t / (alpha + t)
        nb = lambda j: mpmath.gamma(r + j) / (mpmath.gamma(r) * mpmath.factorial(j)) * keep**r * buy**j  # noqa: E731
        at_least_n = 1 - mpmath.fsum(nb(j) for j in range(n))
        return float(mpmath.beta(a, b + n + 1) / mpmath.beta(a, b) * nb(n)
                     + mpmath.beta(a + 1, b + n) / mpmath.beta(a, b) * at_least_n)


EXTREME_PARAMS = {"r": 0.5248, "alpha": 6.183, "a": 0.8914, "b": 1.614}
EXTREME_HISTORIES = [  # weeks; T = 100,000 days is 14,286 weeks
    (10000.0, 100.0, 100.0, 39.0),
    (10000.0, 14286.0, 14286.0, 39.0),
    (5000.0, 50.0, 60.0, 200.0),
    (2000.0, 10.0, 10.0, 39.0),
    (300.0, 2.0, 3.0, 52.0),
    (0.0, 0.0, 14286.0, 39.0),
]


def test_extreme_histories_finite_where_lifetimes_is_not_and_equal_to_mpmath():
    fitter = lifetimes_fitter(EXTREME_PARAMS)
    non_finite_in_lifetimes = 0
    for x, t_x, T, t in EXTREME_HISTORIES:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs = fitter.conditional_expected_number_of_purchases_up_to_time(t, x, t_x, T)
        non_finite_in_lifetimes += not np.isfinite(theirs)
        ours = mbgnbd.expected_purchases(EXTREME_PARAMS, t, x, t_x, T)
        assert np.isfinite(ours)
        assert ours == pytest.approx(mp_expected(EXTREME_PARAMS, t, x, t_x, T), rel=1e-8)
    assert non_finite_in_lifetimes >= 3


@pytest.mark.parametrize("n, t", [(200, 500.0), (400, 2000.0), (1000, 20000.0)])
def test_new_customer_pmf_for_many_purchases_equals_mpmath(n, t):
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = lifetimes_fitter(EXTREME_PARAMS).probability_of_n_purchases_up_to_time(t, n)
    assert not np.isfinite(theirs)  # Gamma(r + n) overflows beyond n = 171
    ours = mbgnbd.probability_of_purchases(EXTREME_PARAMS, n, t)
    assert ours == pytest.approx(mp_new_customer_pmf(EXTREME_PARAMS, n, t), rel=1e-8)
