"""Prediction intervals: calibration on data simulated from the model, agreement of the
closed form with simulation, and independence from the chunk size."""

import numpy as np
import pandas as pd
import pytest

import clvmodels as clv
from clvmodels import bgnbd

# Parameter sets (weeks): CDNOW-like, heavy buyers, fast churn.
REGIMES = {
    "cdnow": {"r": 0.24, "alpha": 4.4, "a": 0.79, "b": 2.4},
    "heavy buyers": {"r": 4.0, "alpha": 2.0, "a": 0.5, "b": 8.0},
    "fast churn": {"r": 1.0, "alpha": 5.0, "a": 3.0, "b": 1.5},
}


def simulate_bgnbd(params, n, T, t, seed):
    """Calibration histories and holdout purchases straight from the BG/NBD story
    (written here independently of the package): Poisson purchases at rate lambda,
    dropout after the J-th repeat purchase, J ~ Geometric(p)."""
    rng = np.random.default_rng(seed)
    rate = rng.gamma(params["r"], 1 / params["alpha"], n)
    last = rng.geometric(rng.beta(params["a"], params["b"], n))
    in_calibration = rng.poisson(rate * T)
    in_holdout = rng.poisson(rate * t)
    x = np.minimum(in_calibration, last)
    holdout = np.minimum(in_calibration + in_holdout, last) - x
    t_x = np.where(x > 0, T * rng.beta(np.maximum(x, 1), np.maximum(in_calibration - x + 1, 1)), 0.0)
    table = pd.DataFrame({"frequency": x.astype(float), "recency": t_x, "T": np.full(n, float(T))})
    table.attrs["time_unit"] = "W"
    return table, holdout


def fitted_model(params):
    model = clv.BetaGeoModel()
    model.params_ = pd.Series(params, dtype=float)
    model.time_unit_ = "W"
    return model


@pytest.mark.parametrize("regime", sorted(REGIMES))
@pytest.mark.parametrize("level", [0.8, 0.9])
def test_per_customer_intervals_cover_what_they_say(regime, level):
    params = REGIMES[regime]
    data, holdout = simulate_bgnbd(params, 50_000, T=39.0, t=39.0, seed=7)
    interval = fitted_model(params).purchases_interval(data, t=39.0, level=level)
    tail = (1 - level) / 2
    below = np.mean(holdout < interval["lower"].to_numpy())
    above = np.mean(holdout > interval["upper"].to_numpy())
    # Discrete counts may make a tail smaller than nominal, never larger.
    assert below <= tail + 0.02
    assert above <= tail + 0.02
    assert np.all(interval["lower"] <= interval["median"]) and np.all(interval["median"] <= interval["upper"])


def test_closed_form_distribution_agrees_with_simulation_from_the_posterior():
    params = REGIMES["cdnow"]
    model = fitted_model(params)
    histories = pd.DataFrame({"frequency": [0.0, 2.0, 7.0, 30.0], "recency": [0.0, 30.4, 12.0, 38.0],
                              "T": [38.9, 38.9, 38.9, 39.0]})
    pmf = model.conditional_probability_of_purchases(histories, np.arange(200), t=39.0).to_numpy()
    copies = 40_000
    repeated = [np.repeat(column, copies) for column in model.history(histories)]
    draws = bgnbd.sample_future_purchases(params, [39.0], *repeated, 11)[:, 0].reshape(len(histories), copies)
    for customer in range(len(histories)):
        simulated = np.bincount(draws[customer], minlength=200)[:200] / copies
        np.testing.assert_allclose(simulated, pmf[customer], atol=0.01)
    np.testing.assert_allclose(pmf.sum(axis=1), 1.0, atol=1e-9)


def test_interval_is_the_quantiles_of_the_distribution(rfm, bg):
    interval = bg.purchases_interval(rfm, t=39.0, level=0.9)
    pmf = bg.conditional_probability_of_purchases(rfm, np.arange(200), t=39.0).to_numpy()
    cdf = np.cumsum(pmf, axis=1)
    expected_upper = np.argmax(cdf >= 0.95 - 1e-12, axis=1)
    expected_median = np.argmax(cdf >= 0.5 - 1e-12, axis=1)
    np.testing.assert_array_equal(interval["upper"].to_numpy(), expected_upper)
    np.testing.assert_array_equal(interval["median"].to_numpy(), expected_median)


def test_parameter_uncertainty_widens_but_does_not_shift(rfm, bg):
    plain = bg.purchases_interval(rfm, t=39.0, level=0.9)
    uncertain = bg.purchases_interval(rfm, t=39.0, level=0.9, n_draws=30)
    assert (uncertain["upper"] >= plain["upper"] - 1).all()
    assert (uncertain["median"] - plain["median"]).abs().max() <= 1
    expected = bg.expected_purchases(rfm, t=39.0, interval=0.9)
    assert (expected["lower"] <= expected["estimate"]).all() and (expected["estimate"] <= expected["upper"]).all()
    total = expected.attrs["total"]
    assert total["lower"] < total["estimate"] < total["upper"]


def test_cdnow_holdout_coverage(split):
    model = clv.BetaGeoModel().fit(split)
    interval = model.purchases_interval(split, t=39.0, level=0.9)
    actual = split["frequency_holdout"].to_numpy()
    inside = np.mean((actual >= interval["lower"]) & (actual <= interval["upper"]))
    assert inside >= 0.9 - 0.02


def test_total_interval_covers_the_actual_total():
    params = REGIMES["cdnow"]
    covered = 0
    for seed in range(40):
        data, holdout = simulate_bgnbd(params, 4_000, T=39.0, t=39.0, seed=1000 + seed)
        model = clv.BetaGeoModel().fit(data)
        total = model.total_purchases_interval(data, t=39.0, level=0.9, n_draws=100, random_state=seed)
        covered += total["lower"] <= holdout.sum() <= total["upper"]
    # 90% intervals: 36 of 40 expected; below 31 has probability < 2% if calibrated.
    assert covered >= 31


def test_value_interval_does_not_depend_on_the_chunk_size(rfm, bg, gg):
    settings = dict(horizon=12, period="M", discount_rate=0.01, interval=0.9, n_draws=50, random_state=3)
    whole = clv.customer_lifetime_value(bg, gg, rfm, **settings)
    pieces = clv.customer_lifetime_value(bg, gg, rfm, chunk_size=100, **settings)
    pd.testing.assert_frame_equal(whole, pieces)
    assert whole.attrs["total"] == pieces.attrs["total"]
    assert (whole["lower"] <= whole["upper"]).all()
    point = clv.customer_lifetime_value(bg, gg, rfm, horizon=12, period="M", discount_rate=0.01)
    np.testing.assert_allclose(whole["clv"], point)
    assert whole.attrs["total"]["lower"] < point.sum() < whole.attrs["total"]["upper"]


def test_simulated_value_averages_to_the_closed_form(rfm, bg, gg):
    """The value simulation at the fitted parameters agrees with the closed-form CLV."""
    from clvmodels import gamma_gamma

    ends = np.arange(1, 13) * 4.348
    weights = 1.01 ** -np.arange(1, 13.0)
    history, spend_history = bg.history(rfm), gg.history(rfm)
    totals = [
        gamma_gamma.sample_future_spend(gg.params_, bgnbd.sample_future_purchases(bg.params_, ends, *history, s),
                                        *spend_history, s + 10_000) @ weights
        for s in range(300)
    ]
    closed = clv.customer_lifetime_value(bg, gg, rfm, horizon=12, period=4.348, discount_rate=0.01)
    simulated = np.mean(totals, axis=0)
    assert simulated.sum() == pytest.approx(closed.sum(), rel=0.01)
    assert np.corrcoef(simulated, closed)[0, 1] > 0.99


def test_bad_interval_settings(rfm, bg):
    with pytest.raises(ValueError, match="level must be between 0 and 1"):
        bg.purchases_interval(rfm, t=39.0, level=1.5)
    with pytest.raises(ValueError, match="n_draws must be a whole number"):
        bg.expected_purchases(rfm, t=39.0, interval=0.9, n_draws=1)
    with pytest.raises(ValueError, match="level must be"):
        bg.probability_alive(rfm, interval="wide")
    unfitted_errors = clv.BetaGeoModel()
    with pytest.raises(clv.NotFittedError):
        unfitted_errors.purchases_interval(rfm, t=1.0)
    no_errors = fitted_model(REGIMES["cdnow"])
    no_errors._cov_log = np.full((4, 4), np.nan)
    with pytest.raises(ValueError, match="no standard errors"):
        no_errors.purchases_interval(rfm, t=1.0, n_draws=5)
