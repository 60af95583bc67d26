"""BG/NBD: published values, parity with lifetimes, hard data and invariants."""

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import clvmodels as clv
from clvmodels import bgnbd

lifetimes = pytest.importorskip("lifetimes")

# Fader, Hardie & Lee (2005), "Counting your customers the easy way", CDNOW sample.
FHL_PARAMS = {"r": 0.2426, "alpha": 4.4135, "a": 0.7929, "b": 2.4258}
FHL_LOG_LIKELIHOOD = -9582.43
# R BTYD's rounded parameters for the P(X(t) = n) reference values (REFERENCE.md).
BTYD_PARAMS = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}


def lifetimes_fitter(params):
    fitter = lifetimes.BetaGeoFitter()
    fitter.params_ = pd.Series(params, index=["r", "alpha", "a", "b"], dtype=float)
    return fitter


def synthetic(params, n, T_range, seed, day_resolution=False):
    rng = np.random.default_rng(seed)
    data = bgnbd.sample(params, rng.uniform(*T_range, n), rng)
    if day_resolution:
        data["T"] = np.floor(data["T"])
        data["recency"] = np.minimum(np.floor(data["recency"]), data["T"])
    return data


# ----- published values ---------------------------------------------------------------------
def test_cdnow_fit_reproduces_fhl_2005(bg):
    for name, value in FHL_PARAMS.items():
        assert bg.params_[name] == pytest.approx(value, rel=1e-3)
    assert bg.log_likelihood_ == pytest.approx(FHL_LOG_LIKELIHOOD, abs=0.01)
    assert bg.time_unit_ == "W"
    assert bg.n_customers_ == 2357


def test_worked_example_expects_1_226_purchases(bg):
    # FHL 2005, section 5: x = 2, t_x = 30.43, T = 38.86, next 39 weeks.
    customer = pd.DataFrame({"frequency": [2.0], "recency": [30.43], "T": [38.86]})
    assert bg.expected_purchases(customer, t=39).iloc[0] == pytest.approx(1.226, abs=5e-4)


@pytest.mark.parametrize("t, expected", [(1, 0.0532), (3, 0.1506), (32, 1.0437), (78, 1.858)])
def test_expected_purchases_of_new_customer(bg, t, expected):
    assert bg.expected_purchases_new_customer(t) == pytest.approx(expected, abs=5e-4)


def test_probability_of_purchases_matches_r_btyd():
    assert bgnbd.probability_of_purchases(BTYD_PARAMS, 0, 39) == pytest.approx(0.5737864, rel=1e-6)
    assert bgnbd.probability_of_purchases(BTYD_PARAMS, 10, 2) == pytest.approx(1.07869e-07, rel=1e-5)


def test_standard_errors_match_lifetimes(bg, rfm):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitter = lifetimes.BetaGeoFitter().fit(rfm["frequency"], rfm["recency"], rfm["T"])
    np.testing.assert_allclose(bg.standard_errors_, fitter.standard_errors_, rtol=1e-3)
    summary = bg.summary()
    assert list(summary.columns) == ["estimate", "std_error", "lower_95", "upper_95"]
    assert (summary["lower_95"] > 0).all()
    assert (summary["lower_95"] < summary["estimate"]).all() and (summary["estimate"] < summary["upper_95"]).all()


# ----- parity with lifetimes at the same parameters --------------------------------------
PARITY_CASES = [
    ("cdnow", None),
    ("typical", {"r": 0.5, "alpha": 5.0, "a": 0.8, "b": 2.5}),
    ("heavy", {"r": 20.0, "alpha": 10.0, "a": 0.4, "b": 8.0}),
    ("quick churn", {"r": 1.0, "alpha": 2.0, "a": 10.0, "b": 1.5}),
]


@pytest.fixture(params=PARITY_CASES, ids=[c[0] for c in PARITY_CASES])
def parity_case(request, rfm, bg):
    name, params = request.param
    if params is None:
        return bg.params_.to_dict(), rfm
    return params, synthetic(params, 2000, (5, 60), seed=len(name))


def assert_close(ours, theirs, rtol=1e-6):
    np.testing.assert_allclose(np.asarray(ours, dtype=float), np.asarray(theirs, dtype=float), rtol=rtol, atol=1e-300)


def test_predictions_equal_lifetimes(parity_case):
    params, data = parity_case
    fitter = lifetimes_fitter(params)
    x, t_x, T = data["frequency"], data["recency"], data["T"]
    for t in (0.5, 1.0, 10.0, 39.0, 104.0):
        assert_close(
            bgnbd.expected_purchases(params, t, x, t_x, T),
            fitter.conditional_expected_number_of_purchases_up_to_time(t, x, t_x, T),
        )
    assert_close(bgnbd.probability_alive(params, x, t_x, T), fitter.conditional_probability_alive(x, t_x, T))
    times = np.array([0.5, 1, 3, 32, 78, 500])
    assert_close(bgnbd.expected_purchases_new_customer(params, times), fitter.expected_number_of_purchases_up_to_time(times))
    for n in (0, 1, 2, 5, 10):
        for t in (1.0, 39.0, 78.0):
            assert_close(bgnbd.probability_of_purchases(params, n, t), fitter.probability_of_n_purchases_up_to_time(t, n))


def test_log_likelihood_equals_lifetimes(parity_case):
    params, data = parity_case
    log_params = np.log([params[k] for k in ("r", "alpha", "a", "b")])
    weights = np.ones(len(data))
    mean_negative = lifetimes.BetaGeoFitter._negative_log_likelihood(
        log_params, data["frequency"].to_numpy(), data["recency"].to_numpy(), data["T"].to_numpy(), weights, 0.0
    )
    ours = bgnbd.log_likelihood(params, data["frequency"], data["recency"], data["T"])
    assert ours.sum() == pytest.approx(-mean_negative * len(data), rel=1e-9)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_fit_reaches_at_least_lifetimes_likelihood(seed):
    params = {"r": 0.6, "alpha": 4.0, "a": 0.7, "b": 3.0}
    data = synthetic(params, 3000, (10, 50), seed)
    ours = clv.BetaGeoModel().fit(data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitter = lifetimes.BetaGeoFitter().fit(data["frequency"], data["recency"], data["T"])
    theirs = bgnbd.log_likelihood(fitter.params_, data["frequency"], data["recency"], data["T"]).sum()
    assert ours.log_likelihood_ >= theirs - 1e-7
    np.testing.assert_allclose(ours.params_, fitter.params_, rtol=1e-3)


# ----- hard data: the fit converges to the maximum ---------------------------------------
HARD_CASES = {
    # lifetimes issue 405: heavy buyers in daily units, hundreds of purchases each.
    "heavy buyers, days": ({"r": 40.0, "alpha": 100.0, "a": 0.3, "b": 30.0}, 20000, (300, 500), True),
    "almost no repeat buyers": ({"r": 0.03, "alpha": 10.0, "a": 0.8, "b": 2.5}, 20000, (20, 40), False),
    "almost no churn": ({"r": 1.0, "alpha": 5.0, "a": 0.05, "b": 50.0}, 5000, (25, 50), False),
    "almost immediate churn": ({"r": 1.0, "alpha": 2.0, "a": 20.0, "b": 1.0}, 5000, (25, 50), False),
    "300 customers": ({"r": 0.5, "alpha": 5.0, "a": 0.8, "b": 2.5}, 300, (20, 40), False),
}


@pytest.mark.parametrize("name", list(HARD_CASES))
def test_fit_converges_on_hard_data(name):
    params, n, T_range, days = HARD_CASES[name]
    data = synthetic(params, n, T_range, seed=7, day_resolution=days)
    model = clv.BetaGeoModel().fit(data)
    assert model.converged_ and model.gradient_norm_ < 1e-5
    # At the maximum no coordinate step increases the likelihood.
    for i in range(4):
        for factor in (0.999, 1.001):
            moved = model.params_.copy()
            moved.iloc[i] *= factor
            assert bgnbd.log_likelihood(moved, data["frequency"], data["recency"], data["T"]).sum() <= model.log_likelihood_ + 1e-6
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            fitter = lifetimes.BetaGeoFitter().fit(data["frequency"], data["recency"], data["T"])
        except Exception:  # lifetimes fails on some of these; we must not
            return
    theirs = bgnbd.log_likelihood(fitter.params_, data["frequency"], data["recency"], data["T"]).sum()
    assert model.log_likelihood_ >= theirs - 1e-6
    if name.startswith("heavy"):
        assert data["frequency"].mean() > 100


def test_lifetimes_issue_405_heavy_daily_buyers_converge():
    # lifetimes issue 405: ~60 purchases per customer over ~500 days, 50,000 customers,
    # daily units. lifetimes 0.11.3 stops with BFGS "precision loss" and raises.
    rng = np.random.default_rng(405)
    data = bgnbd.sample({"r": 16.0, "alpha": 100.0, "a": 0.6, "b": 40.0}, np.floor(rng.uniform(450, 500, 50000)), rng)
    data["recency"] = np.minimum(np.floor(data["recency"]), data["T"])
    data.attrs["time_unit"] = "D"
    assert 50 < data["frequency"].mean() < 70
    model = clv.BetaGeoModel().fit(data)
    assert model.gradient_norm_ < 1e-8
    assert np.all(np.isfinite(model.standard_errors_))
    for name, value in {"r": 16.0, "alpha": 100.0, "a": 0.6, "b": 40.0}.items():
        assert model.params_[name] == pytest.approx(value, rel=0.2)


def test_unidentified_fit_raises_instead_of_returning_start_point():
    data = pd.DataFrame({"frequency": np.zeros(100), "recency": np.zeros(100), "T": np.linspace(1, 40, 100)})
    with pytest.raises(clv.ConvergenceError, match="did not converge.*penalizer"):
        clv.BetaGeoModel().fit(data)


# ----- extreme inputs stay finite and in range -------------------------------------------
def test_predictions_finite_for_extreme_histories(bg):
    extreme = pd.DataFrame(
        {
            "frequency": [10000.0, 10000.0, 0.0, 5.0, 1.0, 3.0, 10000.0],
            "recency": [100000.0, 10.0, 0.0, 1e-9, 1e-9, 0.5, 99999.0],
            "T": [100000.0, 100000.0, 1e-12, 1e-9, 2e-9, 0.5, 100000.0],
        }
    )
    for t in (0.0, 1e-6, 39.0, 1e5):
        expected = bg.expected_purchases(extreme, t=t)
        assert np.all(np.isfinite(expected)) and np.all(expected >= 0)
    alive = bg.probability_alive(extreme)
    assert np.all((alive >= 0) & (alive <= 1))
    assert np.all(np.isfinite(bg.log_likelihood(extreme)))
    # The heavy buyer seen yesterday is alive; the one silent for 99,990 weeks is not.
    assert alive.iloc[0] > 0.99 and alive.iloc[1] < 1e-6


# ----- invariants (hypothesis) ------------------------------------------------------------
positive = st.floats(0.01, 50.0)
history = st.tuples(st.integers(0, 500), st.floats(0.0, 1.0), st.floats(1e-3, 2000.0))


@settings(max_examples=200, deadline=None)
@given(r=positive, alpha=positive, a=positive, b=positive, h=history, t=st.floats(0.0, 1000.0))
def test_predictions_in_range(r, alpha, a, b, h, t):
    params = {"r": r, "alpha": alpha, "a": a, "b": b}
    x, share, T = h
    t_x = share * T if x > 0 else 0.0
    alive = bgnbd.probability_alive(params, x, t_x, T)
    assert 0.0 <= alive <= 1.0
    expected = bgnbd.expected_purchases(params, np.array([t, t + 1.0]), x, t_x, T)
    assert np.all(np.isfinite(expected)) and expected[0] >= -1e-12
    assert expected[1] >= expected[0] - 1e-9 * max(1.0, expected[1])


@settings(max_examples=100, deadline=None)
@given(r=positive, alpha=positive, a=st.floats(0.05, 20.0), b=st.floats(1.05, 20.0), t=st.floats(0.01, 50.0))
def test_purchase_probabilities_form_a_distribution(r, alpha, a, b, t):
    params = {"r": r, "alpha": alpha, "a": a, "b": b}
    probabilities = bgnbd.probability_of_purchases(params, np.arange(0, 4000), t)
    assert np.all((probabilities >= 0) & (probabilities <= 1))
    assert probabilities.sum() == pytest.approx(1.0, abs=1e-6) or probabilities.sum() < 1.0


def test_weighted_unique_rows_equal_full_fit(rfm):
    full = clv.BetaGeoModel().fit(rfm)
    unique = clv.compress(rfm, ["frequency", "recency", "T"])
    weighted = clv.BetaGeoModel().fit(unique, sample_weight=unique["weight"])
    np.testing.assert_allclose(weighted.params_, full.params_, rtol=1e-8)
    assert weighted.log_likelihood_ == pytest.approx(full.log_likelihood_, rel=1e-10)
    np.testing.assert_allclose(weighted.standard_errors_, full.standard_errors_, rtol=1e-5)


def test_time_unit_rescaling(cdnow_sample):
    weeks = clv.rfm_summary(cdnow_sample, time_unit="W", observation_end="1997-09-30")
    days = clv.rfm_summary(cdnow_sample, time_unit="D", observation_end="1997-09-30")
    in_weeks, in_days = clv.BetaGeoModel().fit(weeks), clv.BetaGeoModel().fit(days)
    assert in_days.params_["alpha"] == pytest.approx(7 * in_weeks.params_["alpha"], rel=1e-6)
    for name in ("r", "a", "b"):
        assert in_days.params_[name] == pytest.approx(in_weeks.params_[name], rel=1e-6)
    # Densities of times in days are 1/7 of those in weeks, once per repeat purchase.
    shift = weeks["frequency"].sum() * np.log(7)
    assert in_days.log_likelihood_ == pytest.approx(in_weeks.log_likelihood_ - shift, rel=1e-9)
    np.testing.assert_allclose(
        in_days.expected_purchases(days, t=7 * 39).to_numpy(), in_weeks.expected_purchases(weeks, t=39).to_numpy(), rtol=1e-6
    )


def test_time_unit_mismatch_raises(bg, cdnow_sample):
    days = clv.rfm_summary(cdnow_sample, time_unit="D", observation_end="1997-09-30")
    with pytest.raises(ValueError, match="time unit mismatch"):
        bg.expected_purchases(days, t=1)


def test_sample_reproduces_parameters():
    params = {"r": 0.5, "alpha": 6.0, "a": 0.7, "b": 2.0}
    data = synthetic(params, 40000, (30, 60), seed=11)
    fitted = clv.BetaGeoModel().fit(data).params_
    for name, value in params.items():
        assert fitted[name] == pytest.approx(value, rel=0.25)


def test_expectation_finite_where_scipy_hyp2f1_returns_inf():
    # scipy's hyp2f1(1, 1; 101; 0.95) is inf (c - a - b an integer, z near 1); the
    # prediction must be finite and continuous in the parameters there.
    params = {"r": 1.0, "alpha": 1.0, "a": 2.0, "b": 1.0}
    nearby = {**params, "a": 2.0 + 1e-7}
    for history in [(99, 0.5, 1.0), (99, 1.0, 1.0), (5, 0.2, 1.0)]:
        exact = bgnbd.expected_purchases(params, 19.0, *history)
        assert np.isfinite(exact)
        assert exact == pytest.approx(bgnbd.expected_purchases(nearby, 19.0, *history), rel=1e-5)
    assert bgnbd.expected_purchases_new_customer({**params, "a": 1.0}, 10.0) == pytest.approx(
        bgnbd.expected_purchases_new_customer({**params, "a": 1.0 + 1e-3}, 10.0), rel=1e-2
    )
