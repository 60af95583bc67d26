"""CLV of models with covariates: the tabulated evaluation (one table per r + x,
bgnbd._discounted_per_customer) equals the customer-by-customer one it replaced."""

import numpy as np
import pandas as pd
import pytest

import clvmodels as clv
from clvmodels import bgnbd, mbgnbd

PERIODS = np.arange(1, 13) * 4.345
DISCOUNTS = 1.01 ** -np.arange(1, 13.0)


def _one_by_one(monkeypatch, function, *args):
    """``function(*args)`` with every customer evaluated on its own (no tables)."""
    with monkeypatch.context() as patch:
        patch.setattr(bgnbd, "_MIN_TABULATED", 10**12)
        return function(*args)


def _customers(n, seed, a_range, b_range, alpha_range=(0.5, 20.0), max_x=30, T_range=(0.1, 80.0)):
    rng = np.random.default_rng(seed)
    x = np.minimum(rng.geometric(0.3, n) - 1, max_x).astype(float)
    x[: n // 3] = 0.0  # large groups too
    T = rng.uniform(*T_range, n)
    t_x = np.where(x > 0, T * rng.uniform(0, 1, n), 0.0)
    params = {"r": 0.243, "alpha": np.exp(rng.uniform(*np.log(alpha_range), n)),
              "a": np.exp(rng.uniform(*np.log(a_range), n)), "b": np.exp(rng.uniform(*np.log(b_range), n))}
    return params, x, t_x, T


@pytest.mark.parametrize("a_range, b_range", [
    ((0.05, 1.0), (0.5, 5.0)),     # a < 1 (raised), some b < 1
    ((1.0, 2.0), (1.0, 50.0)),     # raised, long right tails cut short by b
    ((2.0, 60.0), (0.3, 400.0)),   # not raised; narrow densities
])
def test_tabulated_equals_one_by_one(monkeypatch, a_range, b_range):
    params, x, t_x, T = _customers(1500, 1, a_range, b_range)
    covered = []

    def recording(*args, **kwargs):
        values, ok = tabulated(*args, **kwargs)
        covered.extend(ok)
        return values, ok

    tabulated = bgnbd.beta_expectation_tabulated
    for formulas in (bgnbd, mbgnbd):
        with monkeypatch.context() as patch:
            patch.setattr(bgnbd, "beta_expectation_tabulated", recording)
            fast = formulas.discounted_expected_purchases(params, PERIODS, DISCOUNTS, x, t_x, T)
        slow = _one_by_one(monkeypatch, formulas.discounted_expected_purchases, params, PERIODS, DISCOUNTS, x, t_x, T)
        assert np.all(np.isfinite(fast))
        np.testing.assert_allclose(fast, slow, rtol=1e-10, atol=0)
    assert len(covered) > 2000 and np.mean(covered) > 0.9  # the tables, not the fallback, were compared


def test_tabulated_extremes(monkeypatch):
    """Young customers with a small alpha (s up to ~500), no discount, one period."""
    params, x, t_x, T = _customers(1000, 2, (0.1, 3.0), (0.5, 10.0), alpha_range=(0.05, 1.0), T_range=(0.0, 2.0))
    for times, discounts in ((PERIODS, np.ones(12)), (np.array([52.0]), np.array([1.0]))):
        fast = bgnbd.discounted_expected_purchases(params, times, discounts, x, t_x, T)
        slow = _one_by_one(monkeypatch, bgnbd.discounted_expected_purchases, params, times, discounts, x, t_x, T)
        np.testing.assert_allclose(fast, slow, rtol=1e-10, atol=0)


def test_covariate_clv_equals_one_by_one(monkeypatch):
    """customer_lifetime_value with a fitted-style covariate model, continuous covariates."""
    rng = np.random.default_rng(5)
    n = 2000
    covariates = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.binomial(1, 0.4, n).astype(float)})
    model = clv.BetaGeoModel.from_dict({
        "params": {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426, "purchase[x1]": 0.3, "purchase[x2]": -0.2,
                   "dropout_a[x1]": 0.2, "dropout_a[x2]": 0.0, "dropout_b[x1]": -0.1, "dropout_b[x2]": 0.3},
        "time_unit": "W", "settings": {"purchase_covariates": ["x1", "x2"], "dropout_covariates": ["x1", "x2"]},
    })
    table = model.sample(rng.uniform(0.2, 52, n), rng, covariates=covariates)
    table[["x1", "x2"]] = covariates.to_numpy()
    table["monetary_value"] = np.where(table["frequency"] > 0, rng.gamma(5, 8, n), 0.0)
    table.attrs["time_unit"] = "W"
    spend = clv.GammaGammaModel.from_dict({"params": {"p": 6.25, "q": 3.74, "v": 15.44}, "time_unit": "W"})
    settings = dict(horizon=12, period="M", discount_rate=0.01)
    fast = clv.customer_lifetime_value(model, spend, table, **settings)
    with monkeypatch.context() as patch:
        patch.setattr(bgnbd, "_MIN_TABULATED", 10**12)
        slow = clv.customer_lifetime_value(model, spend, table, **settings)
    np.testing.assert_allclose(fast.to_numpy(), slow.to_numpy(), rtol=1e-10, atol=0)
    assert (fast > 0).all()


def test_expected_purchases_per_customer_equals_one_by_one(monkeypatch):
    """One horizon with per-customer parameters takes the same tables (also t = 0)."""
    params, x, t_x, T = _customers(1500, 3, (0.2, 5.0), (0.5, 20.0))
    for t in (0.0, 1.0, 39.0, 520.0):
        fast = bgnbd.expected_purchases(params, t, x, t_x, T)
        slow = _one_by_one(monkeypatch, bgnbd.expected_purchases, params, t, x, t_x, T)
        np.testing.assert_allclose(fast, slow, rtol=1e-10, atol=0)
