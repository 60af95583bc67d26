"""BG/BB: published values (donations), internal consistency, simulation and bad input."""

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special

import clvmodels as clv
from clvmodels import bgbb

# Fader, Hardie & Shang (2010), Marketing Science 29(6), donations data (REFERENCE.md).
FHS_PARAMS = {"alpha": 1.204, "beta": 0.750, "gamma": 0.657, "delta": 2.783}
FHS_LOG_LIKELIHOOD = -33225.58
OPTIMUM = {"alpha": 1.20352, "beta": 0.74972, "gamma": 0.65672, "delta": 2.78344}


@pytest.fixture(scope="module")
def donations():
    return clv.datasets.load_donations()


@pytest.fixture(scope="module")
def model(donations):
    return clv.BetaGeoBetaBinomModel().fit(donations, sample_weight="weight")


def history(x, t_x, n):
    return pd.DataFrame({"frequency": np.atleast_1d(x).astype(float), "recency": np.atleast_1d(t_x).astype(float),
                         "n_periods": np.atleast_1d(n).astype(float)})


def random_histories(n_rows, max_n, seed):
    rng = np.random.default_rng(seed)
    n = rng.integers(0, max_n + 1, n_rows).astype(float)
    t_x = np.floor(rng.uniform(0, 1, n_rows) * (n + 1))
    x = np.where(t_x > 0, np.maximum(1, np.floor(rng.uniform(0, 1, n_rows) * (t_x + 1))), 0.0)
    return x, t_x, n


# ----- published values -----------------------------------------------------------------
def test_donations_dataset(donations):
    assert len(donations) == 22
    assert int(donations["weight"].sum()) == 11_104
    assert donations.attrs["time_unit"] == "Y"
    assert (donations["n_periods"] == 6).all()
    assert list(donations.columns) == ["frequency", "recency", "n_periods", "weight"]


def test_donations_fit_reproduces_fhs_2010(model):
    for name, value in FHS_PARAMS.items():
        assert model.params_[name] == pytest.approx(value, rel=1e-3)
    assert model.log_likelihood_ == pytest.approx(FHS_LOG_LIKELIHOOD, abs=0.01)
    assert model.n_customers_ == 11_104
    assert model.time_unit_ == "Y"
    assert np.all(np.isfinite(model.standard_errors_))


@pytest.mark.parametrize("x, t_x, expected", [(0, 0, 0.108), (2, 4, 0.590), (6, 6, 0.930)])
def test_probability_alive_in_2001(model, x, t_x, expected):
    # REFERENCE.md: alive at the start of opportunity n + 1, n = 6; 0.11, 0.59, 0.93 in the paper.
    assert model.probability_alive(history(x, t_x, 6)).iloc[0] == pytest.approx(expected, abs=5e-4)


def test_fit_on_patterns_equals_fit_on_every_donor(donations, model):
    every = donations.loc[donations.index.repeat(donations["weight"])].drop(columns="weight")
    full = clv.BetaGeoBetaBinomModel().fit(every)
    np.testing.assert_allclose(full.params_, model.params_, rtol=1e-5)
    assert full.log_likelihood_ == pytest.approx(model.log_likelihood_, rel=1e-9)


# ----- consistency of the formulas ----------------------------------------------------------
def test_analytic_gradient_matches_finite_differences():
    x, t_x, n = random_histories(200, 9, 3)
    columns = {"frequency": x, "recency": t_x, "n_periods": n}
    weights = np.random.default_rng(4).uniform(0.5, 2.0, 200)
    params = np.array(list(OPTIMUM.values()))
    prepared = bgbb.prepare(columns, weights)
    ll, grad, _ = bgbb.derivatives(params, prepared, 1)
    assert ll == pytest.approx(np.dot(weights, bgbb.log_likelihood(OPTIMUM, x, t_x, n)), rel=1e-12)
    step = 1e-6
    numeric = [
        (bgbb.derivatives(params + step * np.eye(4)[i], prepared, 0)[0]
         - bgbb.derivatives(params - step * np.eye(4)[i], prepared, 0)[0]) / (2 * step)
        for i in range(4)
    ]
    np.testing.assert_allclose(grad, numeric, rtol=1e-6)


def test_likelihood_sums_to_one_over_all_histories():
    n = 5
    patterns = [(0, 0)] + [(x, t) for t in range(1, n + 1) for x in range(1, t + 1)]
    # Each (x, t_x) stands for C(t_x - 1, x - 1) sequences of transactions.
    total = sum(
        special.comb(t - 1, x - 1) * np.exp(bgbb.log_likelihood(OPTIMUM, x, t, n)) if x else np.exp(bgbb.log_likelihood(OPTIMUM, 0, 0, n))
        for x, t in patterns
    )
    assert total == pytest.approx(1.0, abs=1e-12)


def test_alive_sum_closed_form_equals_direct_sum():
    for gamma in (0.3, 0.65672, 1.0, 1 + 3e-6, 1 - 3e-6, 1 + 2e-5, 2.5):
        for start, m in ((0.0, 1.0), (6.0, 4.0), (10.0, 30.0)):
            direct = sum(special.beta(gamma, 2.78 + start + k) for k in range(1, int(m) + 1)) / special.beta(gamma, 2.78)
            assert bgbb._alive_sum(gamma, 2.78, start, m) == pytest.approx(direct, rel=1e-9)


def test_conditional_pmf_sums_to_one_and_has_the_expected_mean():
    x, t_x, n = random_histories(300, 10, 5)
    k = np.arange(0, 9)[:, None]
    pmf = bgbb.conditional_probability_of_purchases(OPTIMUM, k, 8, x[None, :], t_x[None, :], n[None, :])
    np.testing.assert_allclose(pmf.sum(axis=0), 1.0, atol=1e-12)
    np.testing.assert_allclose((k * pmf).sum(axis=0), bgbb.expected_purchases(OPTIMUM, 8, x, t_x, n), rtol=1e-10)


def test_new_customer_is_the_conditional_case_without_history():
    counts = np.arange(0, 7)
    pmf = bgbb.probability_of_purchases(OPTIMUM, counts, 6)
    assert pmf.sum() == pytest.approx(1.0, abs=1e-13)
    assert np.dot(counts, pmf) == pytest.approx(bgbb.expected_purchases_new_customer(OPTIMUM, 6), rel=1e-12)
    assert bgbb.expected_purchases_new_customer(OPTIMUM, 6) == pytest.approx(
        bgbb.expected_purchases(OPTIMUM, 6, 0, 0, 0), rel=1e-12)


def test_pmf_of_new_customer_matches_eq_7_by_brute_force():
    alpha, beta, gamma, delta = OPTIMUM.values()
    n, x = 4, 2

    def b(a1, b1, g1, d1):
        return special.beta(a1, b1) / special.beta(alpha, beta) * special.beta(g1, d1) / special.beta(gamma, delta)

    expected = special.comb(n, x) * b(alpha + x, beta + n - x, gamma, delta + n) + sum(
        special.comb(i, x) * b(alpha + x, beta + i - x, gamma + 1, delta + i) for i in range(x, n))
    assert bgbb.probability_of_purchases(OPTIMUM, x, n) == pytest.approx(expected, rel=1e-12)


def test_dert_equals_long_discounted_sum_of_increments():
    x, t_x, n = np.array([0.0, 2, 6]), np.array([0.0, 4, 6]), np.array([6.0, 6, 6])
    horizons = np.arange(1, 600)
    cumulative = np.array([bgbb.expected_purchases(OPTIMUM, h, x, t_x, n) for h in horizons])
    increments = np.diff(np.vstack([np.zeros(3), cumulative]), axis=0)
    direct = (increments / 1.1 ** horizons[:, None]).sum(axis=0)
    dert = bgbb.discounted_expected_residual_transactions(OPTIMUM, 0.1, x, t_x, n)
    np.testing.assert_allclose(dert, direct, rtol=1e-10)


def test_dert_method_and_discounted_expected_purchases(model, donations):
    dert = model.discounted_expected_residual_transactions(donations, 0.1)
    assert (dert > 0).all()
    # Among the donors of 2001, more years with a donation means more to come.
    last_year = dert[donations["recency"] == 6]
    assert last_year.is_monotonic_increasing
    finite = model.discounted_expected_purchases(donations, times=np.arange(1, 400), discounts=1.1 ** -np.arange(1.0, 400))
    np.testing.assert_allclose(finite, dert, rtol=1e-9)
    with pytest.raises(ValueError, match="discount_rate"):
        model.discounted_expected_residual_transactions(donations, 0.0)


def test_predictions_are_probabilities_and_monotone(model, donations):
    alive = model.probability_alive(donations)
    assert ((alive >= 0) & (alive <= 1)).all()
    e1, e5 = model.expected_purchases(donations, 1), model.expected_purchases(donations, 5)
    assert (e1 <= e5).all() and (e1 >= 0).all()
    # At most one transaction a period.
    assert (e5 <= 5).all()
    table = model.conditional_probability_of_purchases(donations, [0, 1, 2, 3], 3)
    np.testing.assert_allclose(table.sum(axis=1), 1.0, atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(
    params=st.tuples(*[st.floats(0.05, 30.0) for _ in range(4)]),
    n=st.integers(0, 60),
    data=st.data(),
)
def test_predictions_are_finite_and_in_range(params, n, data):
    p = dict(zip(("alpha", "beta", "gamma", "delta"), params))
    t_x = data.draw(st.integers(0, n))
    x = data.draw(st.integers(1, t_x)) if t_x > 0 else 0
    alive = bgbb.probability_alive(p, x, t_x, n)
    assert 0.0 <= alive <= 1.0 + 1e-12
    expected = bgbb.expected_purchases(p, 10, x, t_x, n)
    assert np.isfinite(expected) and -1e-12 <= expected <= 10 * alive + 1e-9
    assert np.isfinite(bgbb.log_likelihood(p, x, t_x, n)) and bgbb.log_likelihood(p, x, t_x, n) <= 1e-12
    assert np.isfinite(bgbb.discounted_expected_residual_transactions(p, 0.1, x, t_x, n))


def test_long_histories_stay_finite():
    x, t_x, n = np.array([0.0, 500, 3]), np.array([0.0, 900, 1000]), np.array([1000.0, 1000, 1000])
    ll = bgbb.log_likelihood(OPTIMUM, x, t_x, n)
    assert np.all(np.isfinite(ll))
    assert np.all(np.isfinite(bgbb.expected_purchases(OPTIMUM, 50, x, t_x, n)))


# ----- simulation -------------------------------------------------------------------------
def test_sample_then_fit_recovers_parameters():
    truth = clv.BetaGeoBetaBinomModel.example_params
    sample = bgbb.sample(truth, np.full(20_000, 8.0), random_state=11)
    fitted = clv.BetaGeoBetaBinomModel().fit(sample)
    se = fitted.standard_errors_
    for name, value in truth.items():
        assert abs(fitted.params_[name] - value) < 3 * se[name], (name, fitted.params_[name], se[name])


def test_sample_matches_the_expected_transactions():
    truth = OPTIMUM
    sample = bgbb.sample(truth, np.full(40_000, 6.0), random_state=2)
    assert sample["frequency"].mean() == pytest.approx(bgbb.expected_purchases_new_customer(truth, 6), rel=0.02)
    assert ((sample["frequency"] <= sample["recency"]) & (sample["recency"] <= sample["n_periods"])).all()


def test_future_purchases_drawn_given_history_have_the_expected_mean(model, donations):
    draws = np.stack([model.sample_future_purchases(donations, [1, 3, 5], random_state=seed) for seed in range(40)])
    assert draws.shape == (40, 22, 3) and (draws >= 0).all()
    # At most one transaction per opportunity: 1, 2 and 2 opportunities in the three periods.
    assert (draws <= np.array([1, 2, 2])).all()
    weights = donations["weight"].to_numpy()
    simulated = np.einsum("dcp,c->", draws, weights) / 40
    expected = float(np.dot(model.expected_purchases(donations, 5), weights))
    assert simulated == pytest.approx(expected, rel=0.02)


def test_purchases_interval(model, donations):
    table = model.purchases_interval(donations, 3, level=0.8)
    assert list(table.columns) == ["lower", "median", "upper"]
    assert ((table["lower"] <= table["median"]) & (table["median"] <= table["upper"]) & (table["upper"] <= 3)).all()


def test_model_sample_and_mixing(model):
    sample = model.sample(np.full(100, 6.0), random_state=1)
    assert sample.attrs["time_unit"] == "Y"
    assert list(sample.columns) == ["frequency", "recency", "n_periods"]
    mixing = model.mixing_distributions()
    assert mixing["purchase"].bounded and mixing["dropout"].bounded
    assert mixing["purchase"].distribution.mean() == pytest.approx(model.params_["alpha"] / (model.params_["alpha"] + model.params_["beta"]))
    with pytest.raises(ValueError, match="whole"):
        model.sample([2.5])


def test_dropout_scaled(model):
    scaled = model.with_dropout_scaled(0.5)
    g, d = scaled.params_["gamma"], scaled.params_["delta"]
    assert g / (g + d) == pytest.approx(0.5 * model.params_["gamma"] / (model.params_["gamma"] + model.params_["delta"]))
    assert scaled.params_["alpha"] == model.params_["alpha"]
    with pytest.raises(ValueError, match=">= 1"):
        model.with_dropout_scaled(10.0)


def test_json_round_trip(model, tmp_path, donations):
    path = model.save(tmp_path / "bgbb.json")
    loaded = clv.load_model(path)
    assert isinstance(loaded, clv.BetaGeoBetaBinomModel)
    pd.testing.assert_series_equal(loaded.expected_purchases(donations, 5), model.expected_purchases(donations, 5))
    assert json.loads(path.read_text())["model"] == "BetaGeoBetaBinomModel"


def test_registered_as_transaction_model():
    assert clv.registered_models("transaction")["bgbb"] is clv.BetaGeoBetaBinomModel


# ----- bad input ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "column, values, message",
    [
        ("n_periods", [6, -1], "column 'n_periods': 1 row is negative"),
        ("n_periods", [6, 5.5], "column 'n_periods': 1 row is not whole numbers of periods"),
        ("recency", [0, 2.5], "column 'recency': 1 row is not whole numbers of periods"),
        ("recency", [0, 7], "column 'recency': 1 row is greater than n_periods"),
        ("frequency", [0, 4], "column 'frequency': 1 row is greater than recency"),
    ],
)
def test_bad_discrete_tables_are_refused(column, values, message):
    table = history([0, 2], [0, 3], [6, 6])
    table[column] = np.asarray(values, dtype=float)
    with pytest.raises(ValueError, match=message):
        clv.BetaGeoBetaBinomModel().fit(table)


def test_missing_column_is_named():
    with pytest.raises(ValueError, match="'n_periods': is missing"):
        clv.BetaGeoBetaBinomModel().fit(pd.DataFrame({"frequency": [0.0], "recency": [0.0], "T": [6.0]}))


def test_fractional_horizon_refused_for_pmf(model, donations):
    with pytest.raises(ValueError, match="whole"):
        model.conditional_probability_of_purchases(donations, 0, 2.5)
    with pytest.raises(ValueError, match="whole"):
        model.probability_of_purchases(1, 2.5)


def test_chunked_likelihood_equals_one_pass(monkeypatch):
    x, t_x, n = random_histories(500, 30, 8)
    one_pass = bgbb.log_likelihood(OPTIMUM, x, t_x, n)
    monkeypatch.setattr(bgbb, "_TERMS_PER_CHUNK", 7)
    np.testing.assert_array_equal(bgbb.log_likelihood(OPTIMUM, x, t_x, n), one_pass)
    monkeypatch.setattr(bgbb, "_TERMS_PER_CHUNK", 1)
    np.testing.assert_array_equal(bgbb.log_likelihood(OPTIMUM, x, t_x, n), one_pass)
