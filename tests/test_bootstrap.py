"""The bootstrap of parameter_draws: its spread agrees with the asymptotic standard
errors, it does not depend on the number of workers, and it refuses bad settings."""

import pickle

import numpy as np
import pandas as pd
import pytest
from story_simulators import REGIMES, SIMULATORS

import clvmodels as clv
from clvmodels import _bootstrap, _intervals


@pytest.fixture(scope="module")
def simulated_fit():
    data, _ = SIMULATORS["bgnbd"](REGIMES["bgnbd"]["cdnow"], 4_000, T=39.0, t=39.0, seed=11)
    return clv.BetaGeoModel().fit(data), data


def test_bootstrap_spread_agrees_with_the_asymptotic_standard_errors(simulated_fit):
    model, _ = simulated_fit
    draws = model.parameter_draws(150, random_state=5, method="bootstrap")
    assert list(draws.columns) == list(model.param_names) and len(draws) == 150
    assert (draws.to_numpy() > 0).all()
    spread = draws.std(ddof=1) / model.standard_errors_
    # Both estimate the sampling distribution; 150 draws give the sd to about 6%.
    np.testing.assert_allclose(spread.to_numpy(), 1.0, atol=0.2)
    # Centred on the estimate (a bootstrap refits, it does not shift the fit).
    bias = (draws.mean() - model.params_) / model.standard_errors_
    assert (bias.abs() < 0.5).all()


def test_same_draws_whatever_the_number_of_workers(simulated_fit):
    model, _ = simulated_fit
    one = model.parameter_draws(6, random_state=3, method="bootstrap", n_jobs=1)
    two = model.parameter_draws(6, random_state=3, method="bootstrap", n_jobs=2)
    pd.testing.assert_frame_equal(one, two)
    other_seed = model.parameter_draws(6, random_state=4, method="bootstrap", n_jobs=2)
    assert not np.allclose(one.to_numpy(), other_seed.to_numpy())
    seeds = np.random.default_rng(3).integers(0, 2**63 - 1, size=6)
    in_processes = _bootstrap.run(model._bootstrap_job(), seeds, n_jobs=2, backend="processes")
    np.testing.assert_array_equal(one.to_numpy(), np.exp(in_processes))  # worker processes: the same refits


def test_intervals_take_the_bootstrap(simulated_fit):
    model, data = simulated_fit
    rows = data.iloc[:300]
    expected = model.expected_purchases(rows, t=39.0, interval=0.9, n_draws=8, interval_method="bootstrap")
    assert (expected["lower"] <= expected["estimate"] + 1e-12).all()
    assert (expected["estimate"] <= expected["upper"] + 1e-12).all()
    assert (expected["upper"] > expected["lower"]).any()
    alive = model.probability_alive(rows, interval=0.8, n_draws=8, interval_method="bootstrap")
    assert ((alive["lower"] >= 0) & (alive["upper"] <= 1)).all()
    quantiles = model.purchases_interval(rows, t=39.0, n_draws=8, interval_method="bootstrap")
    assert (quantiles["lower"] <= quantiles["upper"]).all()
    total = model.total_purchases_interval(rows, t=39.0, n_draws=20, interval_method="bootstrap")
    assert total["lower"] < total["estimate"] < total["upper"]


def test_predictive_bounds_cover_a_further_draw():
    # k-th smallest and largest of n: coverage (n + 1 - 2k) / (n + 1) >= level.
    assert _intervals.predictive_bounds(np.arange(100.0), 0.9) == (4.0, 95.0)  # k = 5: 91/101
    assert _intervals.predictive_bounds(np.arange(200.0), 0.9) == (9.0, 190.0)  # k = 10: 181/201
    assert _intervals.predictive_bounds(np.arange(5.0), 0.9) == (0.0, 4.0)  # too few: the extremes
    rng = np.random.default_rng(0)
    samples = rng.normal(size=(4000, 101))
    covered = [lo <= s[-1] <= hi for s in samples for lo, hi in [_intervals.predictive_bounds(s[:-1], 0.9)]]
    assert abs(np.mean(covered) - 91 / 101) < 0.015


def test_column_predictive_bounds_are_the_predictive_bounds_of_each_column():
    draws = np.random.default_rng(1).gamma(0.5, 10.0, size=(200, 20_000))  # several thread parts
    lower, upper = _intervals.column_predictive_bounds(draws, 0.9)
    for column in (0, 9_999, 19_999):
        assert (lower[column], upper[column]) == _intervals.predictive_bounds(draws[:, column], 0.9)
    ordered = np.sort(draws, axis=0)
    np.testing.assert_array_equal(lower, ordered[9])  # k = 10 of 200 draws: 181/201 >= 0.9
    np.testing.assert_array_equal(upper, ordered[190])


def test_bad_bootstrap_settings(simulated_fit):
    model, data = simulated_fit
    with pytest.raises(ValueError, match="interval method must be one of 'asymptotic', 'bootstrap'"):
        model.parameter_draws(10, method="jackknife")
    with pytest.raises(ValueError, match="interval method must be one of"):
        model.expected_purchases(data, t=1.0, interval=0.9, interval_method="Bootstrap")
    for bad in (1, 0, 2.5, "many"):
        with pytest.raises(ValueError, match="n_draws must be a whole number >= 2"):
            model.parameter_draws(bad, method="bootstrap")
        with pytest.raises(ValueError, match="n_draws must be a whole number >= 2"):
            model.parameter_draws(bad)
    for bad in (0, -2, 1.5, "all"):
        with pytest.raises(ValueError, match="n_jobs must be a whole number"):
            model.parameter_draws(4, method="bootstrap", n_jobs=bad)
    loaded = clv.model_from_dict(model.to_dict())
    with pytest.raises(ValueError, match="resamples the data it was fitted on"):
        loaded.parameter_draws(4, method="bootstrap")
    assert len(loaded.parameter_draws(4)) == 4  # the asymptotic draws need no data


def test_a_pickled_model_carries_no_fitting_data(simulated_fit):
    model, data = simulated_fit
    restored = pickle.loads(pickle.dumps(model))
    assert len(pickle.dumps(model)) < 20_000  # parameters and Hessian, not len(data) rows
    pd.testing.assert_series_equal(restored.params_, model.params_)
    pd.testing.assert_series_equal(restored.probability_alive(data), model.probability_alive(data))
    with pytest.raises(ValueError, match="read from a file or unpickled"):
        restored.parameter_draws(4, method="bootstrap")


def test_no_bootstrap_with_covariates():
    data, _ = SIMULATORS["bgnbd"](REGIMES["bgnbd"]["cdnow"], 1_500, T=39.0, t=39.0, seed=2)
    data["segment"] = np.random.default_rng(0).integers(0, 2, len(data)).astype(float)
    model = clv.BetaGeoModel(purchase_covariates=["segment"]).fit(data)
    with pytest.raises(ValueError, match="not available for BetaGeoModel with covariates"):
        model.parameter_draws(4, method="bootstrap")
    assert len(model.parameter_draws(4)) == 4


def test_holdout_coverage_takes_the_bootstrap(split):
    model = clv.BetaGeoModel().fit(split)
    table = clv.evaluation.interval_coverage(model, split, n_draws=20, interval_method="bootstrap")
    total = table.attrs["total"]
    assert total["lower"] < total["estimate"] < total["upper"]
    with pytest.raises(ValueError, match="interval method must be one of"):
        clv.evaluation.interval_coverage(model, split, n_draws=20, interval_method="jackknife")
