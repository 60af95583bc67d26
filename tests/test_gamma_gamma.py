"""Gamma-Gamma: published values, parity with lifetimes and the q <= 1 guard."""

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import clvmodels as clv
from clvmodels import gamma_gamma

lifetimes = pytest.importorskip("lifetimes")

# Fader, Hardie & Lee (2005), "RFM and CLV"; Hardie's note 025 (946 repeat buyers).
FHL_PARAMS = {"p": 6.25, "q": 3.74, "v": 15.44}
FHL_LOG_LIKELIHOOD = -4055.92
# Hardie's spreadsheet: expected average spend of the first ten CDNOW customers.
HARDIE_SPEND = [24.65, 18.91, 35.17, 35.17, 35.17, 71.46, 18.91, 35.17, 27.28, 35.17]


def test_cdnow_fit_reproduces_fhl_2005(gg):
    # The paper gives two decimals: match them to the published digit.
    for name, value in FHL_PARAMS.items():
        assert round(gg.params_[name], 2) == value
    assert gg.log_likelihood_ == pytest.approx(FHL_LOG_LIKELIHOOD, abs=0.01)
    assert gg.n_customers_ == 946


def test_expected_spend_matches_hardie_spreadsheet(gg, rfm):
    # The spreadsheet evaluates at the unrounded estimates (at the rounded ones,
    # customer 3's population mean would be 35.22, not 35.17).
    spend = gg.expected_spend(rfm)
    np.testing.assert_allclose(np.round(spend.to_numpy()[:10], 2), HARDIE_SPEND, atol=1e-9)


def test_parity_with_lifetimes(gg, rfm):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        repeat = rfm[rfm["frequency"] > 0]
        fitter = lifetimes.GammaGammaFitter().fit(repeat["frequency"], repeat["monetary_value"])
    np.testing.assert_allclose(gg.params_, fitter.params_, rtol=1e-4)
    fitter.params_ = gg.params_.copy()
    theirs = fitter.conditional_expected_average_profit(rfm["frequency"], rfm["monetary_value"])
    np.testing.assert_allclose(gg.expected_spend(rfm), theirs, rtol=1e-10)
    log_params = np.log(gg.params_.to_numpy())
    mean_negative = lifetimes.GammaGammaFitter._negative_log_likelihood(
        log_params, repeat["frequency"].to_numpy(), repeat["monetary_value"].to_numpy(), np.ones(len(repeat)), 0.0
    )
    assert gg.log_likelihood_ == pytest.approx(-mean_negative * len(repeat), rel=1e-9)
    np.testing.assert_allclose(gg.standard_errors_, fitter.standard_errors_, rtol=1e-2)


def test_customers_without_repeat_purchase_get_population_mean(gg, rfm):
    spend = gg.expected_spend(rfm)
    no_repeat = rfm["frequency"] == 0
    np.testing.assert_allclose(spend[no_repeat], gg.population_mean_spend())
    p, q, v = gg.params_
    assert gg.population_mean_spend() == pytest.approx(p * v / (q - 1))


def test_q_at_most_one_warns_at_fit_and_refuses_spend():
    rng = np.random.default_rng(3)
    x = rng.integers(1, 6, 4000).astype(float)
    m = gamma_gamma.sample({"p": 2.0, "q": 0.6, "v": 5.0}, x, rng)
    data = pd.DataFrame({"frequency": x, "monetary_value": m})
    with pytest.warns(clv.ModelWarning, match="q = .* <= 1"):
        model = clv.GammaGammaModel().fit(data)
    with pytest.raises(ValueError, match="q = .* <= 1"):
        model.expected_spend(data)


def test_weighted_unique_rows_equal_full_fit(rfm, gg):
    unique = clv.compress(rfm, ["frequency", "monetary_value"])
    weighted = clv.GammaGammaModel().fit(unique, sample_weight="weight")
    np.testing.assert_allclose(weighted.params_, gg.params_, rtol=1e-8)
    assert weighted.log_likelihood_ == pytest.approx(gg.log_likelihood_, rel=1e-10)


def test_fit_recovers_generating_parameters():
    rng = np.random.default_rng(5)
    params = {"p": 4.0, "q": 3.0, "v": 20.0}
    x = rng.integers(1, 10, 30000).astype(float)
    data = pd.DataFrame({"frequency": x, "monetary_value": gamma_gamma.sample(params, x, rng)})
    fitted = clv.GammaGammaModel().fit(data).params_
    for name, value in params.items():
        assert fitted[name] == pytest.approx(value, rel=0.15)


@settings(max_examples=100, deadline=None)
@given(
    p=st.floats(0.1, 50), q=st.floats(1.01, 50), v=st.floats(0.1, 1000),
    x=st.integers(0, 10000), m=st.floats(0.0, 1e6),
)
def test_expected_spend_between_population_and_own_mean(p, q, v, x, m):
    params = {"p": p, "q": q, "v": v}
    spend = gamma_gamma.expected_spend(params, x, m if x else 0.0)
    population = p * v / (q - 1)
    assert np.isfinite(spend) and spend > 0
    if x:
        own = p * m * x / (p * x)  # = m: the customer's own mean, weighted towards by x
        low, high = sorted([population, own])
        assert low * (1 - 1e-9) <= spend <= high * (1 + 1e-9) or spend == pytest.approx(population)
