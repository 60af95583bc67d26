"""Fits whose likelihood rises towards a limit of the model say so (issue 14, item 3):
the limiting model's finite predictions, a BoundaryWarning, ``at_boundary_`` (saved),
a summary naming the diverging parameters; and too little data is a ValueError."""

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import special

import clvmodels as clv
from clvmodels import bgnbd


@pytest.fixture(scope="module")
def low_churn():
    """Customers who almost never drop out (b = 300): the likelihood rises as a and b
    grow together, towards BG/NBD with one dropout probability for everyone."""
    rng = np.random.default_rng(0)
    table = bgnbd.sample({"r": 0.25, "alpha": 4.0, "a": 0.8, "b": 300.0}, rng.uniform(20, 52, 5000), 0).round(3)
    table.attrs["time_unit"] = "W"
    return table


@pytest.fixture(scope="module")
def boundary_fit(low_churn):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = clv.BetaGeoModel().fit(low_churn)
    return model, caught


def test_low_churn_fit_is_the_limiting_model_with_a_warning(boundary_fit, low_churn):
    model, caught = boundary_fit
    assert any(issubclass(w.category, clv.BoundaryWarning) for w in caught)
    assert issubclass(clv.BoundaryWarning, clv.ModelWarning)
    assert model.at_boundary_ == ["a", "b"]
    assert model.params_["a"] > 1e8 and model.params_["b"] > 1e8
    assert np.isnan(model.standard_errors_["a"]) and np.isfinite(model.standard_errors_["r"])
    for values in (model.expected_purchases(low_churn, 26), model.probability_alive(low_churn),
                   model.discounted_expected_purchases(low_churn, [4.0, 8.0], [1.0, 0.99])):
        assert np.all(np.isfinite(values)) and np.all(values >= 0)
    assert np.isfinite(model.expected_purchases_new_customer(52))


def test_boundary_fit_equals_the_analytic_limit_with_p_fixed(boundary_fit, low_churn):
    """At a, b -> infinity with p = a / (a + b) fixed, BG/NBD's likelihood is that of a
    model with one dropout probability p: its maximum over (r, alpha, p) is the
    boundary fit's likelihood, and its expectation is (1 - (1 + p s)^-(r+x)) / p."""
    model, _ = boundary_fit
    x, t_x, T = (low_churn[c].to_numpy() for c in ("frequency", "recency", "T"))

    def fixed_p_log_likelihood(r, alpha, p):
        # the eq. 6 likelihood with B(a, b+x)/B(a, b) -> (1-p)^x and a/(b+x-1) -> p/(1-p)
        odds = np.where(x > 0, p / (1 - p) * ((alpha + T) / (alpha + t_x)) ** (r + x), 0.0)
        return np.sum(special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha) + x * np.log1p(-p)
                      - (r + x) * np.log(alpha + T) + np.log1p(odds))

    r, alpha, a, b = model.params_
    p = a / (a + b)
    assert fixed_p_log_likelihood(r, alpha, p) == pytest.approx(model.log_likelihood_, abs=1e-4)
    for dr, dalpha, dp in ((1.01, 1, 1), (1, 1.01, 1), (1, 1, 1.01), (0.99, 1, 0.99)):
        assert fixed_p_log_likelihood(r * dr, alpha * dalpha, p * dp) < model.log_likelihood_
    s = 26 / (alpha + T)
    odds = np.where(x > 0, p / (1 - p) * ((alpha + T) / (alpha + t_x)) ** (r + x), 0.0)
    limit = (1 - (1 + p * s) ** -(r + x)) / p / (1 + odds)
    np.testing.assert_allclose(model.expected_purchases(low_churn, 26), limit, rtol=1e-6)


def test_boundary_is_saved_and_summarised(boundary_fit, tmp_path):
    model, _ = boundary_fit
    record = json.loads(model.save(tmp_path / "m.json").read_text())
    assert record["at_boundary"] == ["a", "b"]
    loaded = clv.load_model(tmp_path / "m.json")
    assert loaded.at_boundary_ == ["a", "b"]
    text = str(loaded.summary())
    assert "boundary" in text and "a and b grow without bound together" in text
    assert loaded.summary().attrs["at_boundary"] == ["a", "b"]


def test_interior_fit_is_not_flagged(bg):
    assert bg.at_boundary_ == [] and "converged" in str(bg.summary())


def test_one_customer_is_too_little_data():
    one = pd.DataFrame({"frequency": [3.0], "recency": [20.0], "T": [40.0]})
    with pytest.raises(ValueError, match="at least 5 customers"):
        clv.BetaGeoModel().fit(one)


def test_two_repeat_buyers_are_too_little_for_gamma_gamma():
    data = pd.DataFrame({"frequency": [0.0, 2.0, 5.0], "monetary_value": [0.0, 20.0, 30.0]})
    with pytest.raises(ValueError, match="at least 4 repeat buyers with a positive monetary_value.*has 2"):
        clv.GammaGammaModel().fit(data)
