"""MBG/NBD: published values and checks against the model's definition (no lifetimes).

Parity with lifetimes' ModifiedBetaGeoFitter is in test_mbgnbd_parity.py; the
properties every model shares (weighted fit, time rescaling, ranges, JSON, bad
input, ...) are in test_models_generic.py.
"""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import clvmodels as clv
from clvmodels import mbgnbd

# REFERENCE.md: Batislam, Denizel & Filiztekin (2007) model fitted to the CDNOW sample as
# in R BTYDplus (and lifetimes). The log-likelihood -9582.1327 is that of the published
# CDNOW summary, whose times are rounded to 2 decimals of a week; at the day-resolution
# times of rfm_summary the maximum is -9582.1357 (the same 0.003 gap as for BG/NBD).
BDF_PARAMS = {"r": 0.525, "alpha": 6.183, "a": 0.891, "b": 1.614}
LOG_LIKELIHOOD_ROUNDED_TIMES = -9582.1327
LOG_LIKELIHOOD_DAY_TIMES = -9582.1357


@pytest.fixture(scope="module")
def mbg(rfm):
    return clv.ModifiedBetaGeoModel().fit(rfm)


def test_cdnow_fit_reproduces_published_estimates(mbg):
    for name, value in BDF_PARAMS.items():
        assert mbg.params_[name] == pytest.approx(value, rel=1e-3)
    assert mbg.log_likelihood_ == pytest.approx(LOG_LIKELIHOOD_DAY_TIMES, abs=1e-3)
    assert mbg.n_customers_ == 2357 and mbg.time_unit_ == "W"
    assert np.all(np.isfinite(mbg.standard_errors_))


def test_cdnow_summary_with_published_rounding_reaches_reference_log_likelihood(rfm):
    rounded = rfm.round({"recency": 2, "T": 2})
    model = clv.ModifiedBetaGeoModel().fit(rounded)
    assert model.log_likelihood_ == pytest.approx(LOG_LIKELIHOOD_ROUNDED_TIMES, abs=5e-4)
    for name, value in BDF_PARAMS.items():
        assert model.params_[name] == pytest.approx(value, rel=1e-3)


def test_registered_under_its_key():
    assert clv.registered_models("transaction")["mbgnbd"] is clv.ModifiedBetaGeoModel
    assert clv.ModifiedBetaGeoModel.title == "MBG/NBD"


def test_customers_without_repeat_purchases_may_have_dropped_out(mbg):
    # The difference from BG/NBD: dropout right after the first purchase.
    quiet = pd.DataFrame({"frequency": [0.0, 0.0], "recency": [0.0, 0.0], "T": [1.0, 39.0]})
    alive = mbg.probability_alive(quiet)
    assert alive.iloc[0] < 1 and alive.iloc[1] < alive.iloc[0]
    r, alpha, a, b = (mbg.params_[k] for k in ("r", "alpha", "a", "b"))
    assert alive.iloc[1] == pytest.approx(1 / (1 + a / b * ((alpha + 39) / alpha) ** r), rel=1e-12)
    # A customer just acquired is alive with probability b / (a + b).
    assert mbgnbd.probability_alive(mbg.params_, 0.0, 0.0, 0.0) == pytest.approx(b / (a + b), rel=1e-12)


def test_log_likelihood_is_the_sum_of_both_ways_to_produce_a_history():
    # L = B(a, b+x+1)/B(a,b) * NB-kernel(T) + B(a+1, b+x)/B(a,b) * NB-kernel(t_x): survived all
    # x + 1 dropout opportunities, or dropped out right after the last purchase.
    params = {"r": 0.7, "alpha": 3.0, "a": 1.3, "b": 2.2}
    x, t_x, T = np.array([0.0, 1, 4, 30]), np.array([0.0, 2.5, 7.0, 9.9]), np.array([3.0, 8.0, 20.0, 10.0])
    r, alpha, a, b = params.values()
    from scipy.special import betaln, gammaln

    kernel = lambda time: gammaln(r + x) - gammaln(r) + r * np.log(alpha) - (r + x) * np.log(alpha + time)  # noqa: E731
    survived = betaln(a, b + x + 1) - betaln(a, b) + kernel(T)
    dropped = betaln(a + 1, b + x) - betaln(a, b) + kernel(t_x)
    np.testing.assert_allclose(mbgnbd.log_likelihood(params, x, t_x, T), np.logaddexp(survived, dropped), rtol=1e-12)


def test_new_customer_predictions_match_simulation():
    params = {"r": 0.8, "alpha": 5.0, "a": 1.4, "b": 2.0}
    t = 30.0
    draws = mbgnbd.sample(params, np.full(200_000, t), random_state=3)["frequency"].to_numpy()
    expected = mbgnbd.expected_purchases_new_customer(params, t)
    assert abs(draws.mean() - expected) < 4 * draws.std() / np.sqrt(len(draws))
    for n in (0, 1, 3):
        share = np.mean(draws == n)
        p = mbgnbd.probability_of_purchases(params, n, t)
        assert abs(share - p) < 4 * np.sqrt(p * (1 - p) / len(draws))


@pytest.mark.parametrize("history", [(0.0, 0.0, 39.0), (2.0, 30.0, 39.0), (6.0, 12.0, 39.0)])
def test_conditional_pmf_matches_integration_over_the_latent_traits(history):
    """P(X(T, T+t) = n | history) against its definition: lambda, p drawn from the prior,
    weighted by the likelihood of the history, with P(alive | lambda, p, history) and the
    distribution of min(N, J) (N ~ Poisson(lambda t), dropout after the J-th purchase)."""
    params = {"r": 0.9, "alpha": 6.0, "a": 1.1, "b": 2.5}
    x, t_x, T = history
    t = 26.0
    rng = np.random.default_rng(11)
    lam = rng.gamma(params["r"], 1 / params["alpha"], 200_000)
    p = rng.beta(params["a"], params["b"], 200_000)
    survived = (1 - p) ** (x + 1) * np.exp(-lam * T)
    dropped = p * (1 - p) ** x * np.exp(-lam * t_x)
    weight = lam**x * (survived + dropped)
    alive = survived / (survived + dropped)
    n = np.arange(6)[:, None]
    future = np.where(
        n == 0,
        stats.poisson.pmf(0, lam * t),
        stats.poisson.pmf(n, lam * t) * (1 - p) ** n + stats.poisson.sf(n - 1, lam * t) * (1 - p) ** (n - 1) * p,
    )
    integrand = alive * future + (1 - alive) * (n == 0)
    estimate = integrand @ weight / weight.sum()
    standard_error = np.sqrt(((integrand - estimate[:, None]) ** 2 * weight**2).sum(axis=1)) / weight.sum()
    closed_form = mbgnbd.conditional_probability_of_purchases(params, n[:, 0], t, x, t_x, T)
    assert np.all(np.abs(closed_form - estimate) < 5 * standard_error + 1e-6)


def test_heavy_and_silent_histories_stay_finite(mbg):
    extreme = pd.DataFrame({
        "frequency": [10000.0, 10000.0, 0.0, 0.0, 3.0],
        "recency": [14285.0, 10.0, 0.0, 0.0, 1e-9],
        "T": [14285.0, 14285.0, 14285.0, 1e-12, 2e-9],
    })
    expected = mbg.expected_purchases(extreme, t=39)
    alive = mbg.probability_alive(extreme)
    assert np.all(np.isfinite(expected)) and np.all(expected >= 0)
    assert alive.iloc[0] > 0.99 and alive.iloc[1] < 1e-12 and alive.iloc[2] < 0.1
    # A heavy buyer seen today buys at about her observed rate.
    assert expected.iloc[0] == pytest.approx(39 * 10000 / 14285, rel=0.01)
