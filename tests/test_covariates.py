"""Time-invariant covariates (issue 12): equality with the plain model at zero
coefficients, analytic derivatives, recovery of known coefficients, CDNOW with the
first purchase amount, predictions per customer, persistence and bad input.

The 20-seed coverage study on 100,000 customers is benchmarks/covariate_recovery.py;
here one smaller draw checks recovery.
"""

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import clvmodels as clv
from clvmodels import bgnbd
from clvmodels._covariates import Design, _Objective

TRUTH = {
    "r": 0.25, "alpha": 4.0, "a": 0.8, "b": 2.5,
    "purchase[x1]": 0.3, "purchase[x2]": -0.2,
    "dropout_a[x1]": 0.2, "dropout_a[x2]": 0.0,
    "dropout_b[x1]": -0.1, "dropout_b[x2]": 0.3,
}
BOTH = {"purchase_covariates": ["x1", "x2"], "dropout_covariates": ["x1", "x2"]}


def truth_model(params=TRUTH, **settings):
    record = {"params": params, "time_unit": "W", "settings": settings or BOTH}
    return clv.BetaGeoModel.from_dict(record)


def draw(n, seed, params=TRUTH, day_resolution=False):
    """Histories from BG/NBD with covariates x1 ~ N(0, 1) and x2 ~ Bernoulli(0.4)."""
    rng = np.random.default_rng(seed)
    covariates = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.binomial(1, 0.4, n).astype(float)})
    T = rng.uniform(20, 40, n)
    if day_resolution:
        covariates["x1"] = np.round(covariates["x1"])
        T = np.floor(T)
    data = truth_model(params).sample(T, rng, covariates=covariates)
    if day_resolution:
        data["recency"] = np.minimum(np.floor(data["recency"]), data["T"])
    data[["x1", "x2"]] = covariates.to_numpy()
    data.attrs["time_unit"] = "W"
    return data


@pytest.fixture(scope="module")
def data():
    return draw(20_000, seed=3)


@pytest.fixture(scope="module")
def fitted(data):
    return clv.BetaGeoModel(**BOTH).fit(data)


# ----- zero coefficients: exactly the plain model ------------------------------------------------
def zero_coefficient_twin(plain, **settings):
    settings = settings or BOTH
    twin = clv.BetaGeoModel(**settings)
    params = {**plain.params_.to_dict(), **{name: 0.0 for name in twin.coefficient_names}}
    return clv.BetaGeoModel.from_dict({"params": params, "time_unit": plain.time_unit_, "settings": settings})


def test_zero_coefficients_give_the_plain_predictions(data):
    plain = clv.BetaGeoModel().fit(data)
    twin = zero_coefficient_twin(plain)
    rows = data.iloc[:3000]
    for method, args in (
        ("expected_purchases", (10.0,)), ("probability_alive", ()), ("log_likelihood", ()),
        ("conditional_probability_of_purchases", (2, 10.0)),
        ("discounted_expected_purchases", ([4.0, 8.0, 12.0], [0.99, 0.98, 0.97])),
    ):
        np.testing.assert_allclose(getattr(twin, method)(rows, *args), getattr(plain, method)(rows, *args),
                                   rtol=1e-13, atol=0, err_msg=method)
    table = twin.conditional_probability_of_purchases(rows, [0, 1, 3], 10.0)
    np.testing.assert_allclose(table, plain.conditional_probability_of_purchases(rows, [0, 1, 3], 10.0), rtol=1e-13)
    pd.testing.assert_frame_equal(twin.purchases_interval(rows, 10.0), plain.purchases_interval(rows, 10.0))
    np.testing.assert_array_equal(twin.sample_future_purchases(rows, [5.0, 10.0], 7),
                                  plain.sample_future_purchases(rows, [5.0, 10.0], 7))
    assert twin.expected_purchases_new_customer(10.0) == plain.expected_purchases_new_customer(10.0)


def test_zero_coefficients_give_the_plain_log_likelihood_and_gradient(data):
    """The fitting objective at the plain estimate with zero coefficients is the plain
    log-likelihood, and its gradient in the shared parameters vanishes there."""
    plain = clv.BetaGeoModel().fit(data)
    design = Design(("r", "alpha", "a", "b"), clv.BetaGeoModel.covariate_links, ["x1", "x2"], ["x1"])
    columns = {c: data[c].to_numpy() for c in ("frequency", "recency", "T")}
    standard = data[["x1", "x2"]].to_numpy()
    standard = (standard - standard.mean(axis=0)) / standard.std(axis=0)
    objective = _Objective(bgnbd, design, columns, standard, np.ones(len(data)), np.zeros(4), 0.0,
                           clv.BetaGeoModel.rfm_columns)
    point = np.concatenate([np.log(plain.params_.to_numpy()), np.zeros(len(design.coefficient_names))])
    value, gradient, _ = objective.evaluate(point)
    assert objective.last_log_likelihood == pytest.approx(plain.log_likelihood_, rel=1e-12)
    assert np.max(np.abs(gradient[:4])) < 1e-6


def test_covariate_fit_never_has_a_lower_likelihood_than_the_plain_fit(data, fitted):
    plain = clv.BetaGeoModel().fit(data)
    assert fitted.log_likelihood_ >= plain.log_likelihood_
    test = clv.likelihood_ratio_test(plain, fitted)
    assert test["df"] == 6 and test["p_value"] < 1e-6  # the data were drawn with strong effects


# ----- derivatives ----------------------------------------------------------------------------
def per_row_params(n, seed):
    rng = np.random.default_rng(seed)
    return {"r": 0.3 * np.exp(rng.normal(0, 0.2, n)), "alpha": 4.0 * np.exp(rng.normal(0, 0.5, n)),
            "a": 0.8 * np.exp(rng.normal(0, 0.5, n)), "b": 2.5 * np.exp(rng.normal(0, 0.5, n))}


@pytest.mark.parametrize("sort", [True, False])
def test_row_derivatives_equal_finite_differences(sort):
    data = draw(400, seed=5)
    data.loc[data.index[:5], "frequency"] = [40, 31, 25, 60, 0]  # beyond the term-by-term sums
    data.loc[data.index[:4], "recency"] = data["T"].iloc[:4] * 0.9
    if sort:
        data = data.sort_values("frequency", ascending=False, kind="stable")
    columns = {c: data[c].to_numpy() for c in ("frequency", "recency", "T")}
    prepared = bgnbd.prepare_rows(columns)
    assert isinstance(prepared["repeat"], slice) == sort
    params = per_row_params(len(data), 1)
    ll, grad, hess = bgnbd.row_derivatives(params, prepared, 2)
    np.testing.assert_allclose(ll, bgnbd.log_likelihood(params, *columns.values()), rtol=1e-12)
    names = ("r", "alpha", "a", "b")
    step = 1e-6
    for i, name in enumerate(names):
        up = {**params, name: params[name] * (1 + step)}
        down = {**params, name: params[name] * (1 - step)}
        _, grad_up, _ = bgnbd.row_derivatives(up, prepared, 1)
        _, grad_down, _ = bgnbd.row_derivatives(down, prepared, 1)
        numeric = (bgnbd.log_likelihood(up, *columns.values()) - bgnbd.log_likelihood(down, *columns.values()))
        np.testing.assert_allclose(grad[i], numeric / (2 * step * params[name]), rtol=1e-5, atol=1e-7)
        for j in range(i, 4):
            second = (grad_up[j] - grad_down[j]) / (2 * step * params[name])
            np.testing.assert_allclose(hess[i, j], second, rtol=1e-5, atol=1e-7, err_msg=f"{name}, {names[j]}")


def test_objective_derivatives_equal_finite_differences(data):
    design = Design(("r", "alpha", "a", "b"), clv.BetaGeoModel.covariate_links, ["x1"], ["x1", "x2"])
    rows = data.iloc[:2000]
    columns = {c: rows[c].to_numpy() for c in ("frequency", "recency", "T")}
    standard = rows[["x1", "x2"]].to_numpy()
    objective = _Objective(bgnbd, design, columns, standard, np.linspace(0.5, 2, len(rows)),
                           np.array([0.0, 0.01, 0.0, 0.0]), 0.05, clv.BetaGeoModel.rfm_columns)
    point = np.array([np.log(0.3), np.log(4.0), np.log(0.7), np.log(2.0), 0.2, -0.1, 0.3, 0.1, -0.2])
    _, gradient, hessian = objective.evaluate(point)
    step = 1e-6
    for i in range(len(point)):
        shift = np.zeros(len(point))
        shift[i] = step
        up, down = objective.evaluate(point + shift, 1), objective.evaluate(point - shift, 1)
        assert (up[0] - down[0]) / (2 * step) == pytest.approx(gradient[i], rel=1e-5, abs=1e-9)
        np.testing.assert_allclose((up[1] - down[1]) / (2 * step), hessian[i], rtol=1e-5, atol=1e-8)


# ----- recovery and standard errors --------------------------------------------------------------
def test_fit_recovers_known_coefficients_within_4_standard_errors(fitted):
    table = fitted.summary()
    z = (table["estimate"] - pd.Series(TRUTH)) / table["std_error"]
    assert list(table.index) == list(TRUTH)
    assert np.all(np.abs(z) < 4), z
    assert np.all(table["std_error"] > 0)
    coefficients = list(fitted.coefficient_names)
    # coefficient intervals are symmetric (estimate +- 1.96 se), the others on the log scale
    np.testing.assert_allclose(table.loc[coefficients, "upper_95"] - table.loc[coefficients, "estimate"],
                               1.959963984540054 * table.loc[coefficients, "std_error"])


def test_covariates_as_given_or_shifted_and_scaled_give_the_same_fit(data, fitted):
    """Centring and scaling happen inside the fit: a covariate shifted and scaled by the
    user gives the same likelihood and correspondingly scaled coefficients."""
    moved = data.copy()
    moved["x1"] = 10 * data["x1"] + 100
    other = clv.BetaGeoModel(**BOTH).fit(moved)
    assert other.log_likelihood_ == pytest.approx(fitted.log_likelihood_, rel=1e-9)
    assert other.params_["purchase[x1]"] == pytest.approx(fitted.params_["purchase[x1]"] / 10, rel=1e-5)
    assert other.standard_errors_["purchase[x1]"] == pytest.approx(fitted.standard_errors_["purchase[x1]"] / 10,
                                                                    rel=1e-4)
    np.testing.assert_allclose(other.expected_purchases(moved, 10.0), fitted.expected_purchases(data, 10.0),
                               rtol=1e-5)


def test_penalizer_shrinks_the_coefficients(data, fitted):
    shrunk = clv.BetaGeoModel(**BOTH, covariate_penalizer=0.1).fit(data)
    names = list(fitted.coefficient_names)
    assert np.sum(shrunk.params_[names] ** 2) < 0.5 * np.sum(fitted.params_[names] ** 2)
    assert shrunk.log_likelihood_ < fitted.log_likelihood_


def test_only_some_processes_and_one_process(data):
    purchase_only = clv.BetaGeoModel(purchase_covariates=["x1"]).fit(data)
    assert list(purchase_only.params_.index) == ["r", "alpha", "a", "b", "purchase[x1]"]
    assert purchase_only.params_["purchase[x1]"] == pytest.approx(0.3, abs=4 * purchase_only.standard_errors_["purchase[x1]"])
    dropout_only = clv.BetaGeoModel(dropout_covariates=["x2"]).fit(data)
    assert list(dropout_only.params_.index)[4:] == ["dropout_a[x2]", "dropout_b[x2]"]


def test_compression_on_distinct_history_and_covariates_gives_the_uncompressed_fit(monkeypatch):
    from clvmodels import _covariates

    data = draw(6000, seed=11, day_resolution=True)
    compressed = clv.BetaGeoModel(**BOTH).fit(data)
    assert compressed.n_unique_rows_ < len(data) / 2
    monkeypatch.setattr(_covariates, "_compressed", lambda model, arrays, matrix, weights, unit: (
        arrays, matrix, np.ones(len(matrix)) if weights is None else weights))
    full = clv.BetaGeoModel(**BOTH).fit(data)
    assert full.n_unique_rows_ == len(data)
    np.testing.assert_allclose(compressed.params_, full.params_, rtol=1e-6, atol=1e-8)
    assert compressed.log_likelihood_ == pytest.approx(full.log_likelihood_, rel=1e-10)


def test_large_fit_uses_the_warm_start_and_agrees_with_the_cascade():
    """Above 40,000 rows the fit starts from subsample fits and polishes by Newton; a
    fit with the full cascade from the plain estimate lands on the same point."""
    from clvmodels import _covariates

    data = draw(45_000, seed=2)
    warm = clv.BetaGeoModel(**BOTH).fit(data)
    saved = _covariates._WARM_START_ROWS
    _covariates._WARM_START_ROWS = ()
    try:
        cold = clv.BetaGeoModel(**BOTH).fit(data)
    finally:
        _covariates._WARM_START_ROWS = saved
    assert np.max(np.abs(warm.params_ - cold.params_) / cold.standard_errors_) < 2e-3
    # the warm start's SEs come from the Hessian one (unevaluated) Newton step before the estimate
    np.testing.assert_allclose(warm.standard_errors_, cold.standard_errors_, rtol=1e-2)


# ----- predictions use each customer's covariates -----------------------------------------------
def test_predictions_follow_the_covariates():
    fitted = truth_model({**TRUTH, "dropout_a[x1]": 0.0, "dropout_b[x1]": 0.0})
    same_history = pd.DataFrame({"frequency": [3.0] * 3, "recency": [20.0] * 3, "T": [30.0] * 3,
                                 "x1": [-1.0, 0.0, 1.0], "x2": [0.0] * 3})
    expected = fitted.expected_purchases(same_history, 10.0)
    assert expected.is_monotonic_increasing  # purchase[x1] > 0
    new_customers = same_history.assign(frequency=0.0, recency=0.0, T=0.0)
    fresh = fitted.expected_purchases(new_customers, 10.0)
    assert fresh.is_monotonic_increasing
    assert np.all(np.isfinite(fitted.probability_alive(same_history)))


def test_new_customers_need_only_their_covariates_and_history(fitted):
    scoring = pd.DataFrame({"frequency": [0.0, 2.0], "recency": [0.0, 5.0], "T": [0.0, 8.0],
                            "x1": [0.5, 0.5], "x2": [1.0, 1.0]})
    assert np.all(fitted.expected_purchases(scoring, 52.0) > 0)
    with pytest.raises(ValueError, match="'x2'.*missing"):
        fitted.expected_purchases(scoring.drop(columns="x2"), 52.0)


def test_intervals_and_clv_with_covariates(data, fitted, gg):
    rows = data.iloc[:300].assign(monetary_value=np.where(data["frequency"].iloc[:300] > 0, 30.0, 0.0))
    ranges = fitted.expected_purchases(rows, 10.0, interval=0.9, n_draws=20)
    assert np.all(ranges["lower"] <= ranges["estimate"] + 1e-12) and np.all(ranges["estimate"] <= ranges["upper"] + 1e-12)
    quantiles = fitted.purchases_interval(rows, 10.0, n_draws=5)
    assert np.all(quantiles["lower"] <= quantiles["upper"])
    total = fitted.total_purchases_interval(rows, 10.0, n_draws=10)
    assert total["lower"] <= total["upper"]
    value = clv.customer_lifetime_value(fitted, gg, rows, horizon=3, period=4.0, discount_rate=0.01,
                                        interval=0.8, n_draws=10)
    assert np.all(np.isfinite(value.to_numpy()))
    draws = fitted.parameter_draws(500, random_state=1)
    assert draws["purchase[x2]"].lt(0).mean() > 0.9  # coefficients are drawn as they are, negative ones too
    np.testing.assert_allclose(draws.std(), fitted.standard_errors_, rtol=0.15)


def test_describe_params_and_effects_in_words(fitted):
    effects = fitted.covariate_effects()
    assert list(effects.index) == list(fitted.coefficient_names)
    row = effects.loc["purchase[x1]"]
    assert row["multiplier"] == pytest.approx(np.exp(fitted.params_["purchase[x1]"]))
    assert row["lower"] < row["multiplier"] < row["upper"]
    assert row["meaning"].startswith(f"one unit more of x1 multiplies the purchase rate by {row['multiplier']:.3g}")
    described = fitted.describe_params()
    assert described.loc["dropout_b[x2]", "meaning"].startswith("one unit more of x2 multiplies the dropout shape b")
    assert clv.BetaGeoModel().fit(draw(500, 1)).covariate_effects().empty


def test_sampling_needs_covariates_for_each_customer(fitted):
    covariates = pd.DataFrame({"x1": [2.0] * 4000, "x2": [1.0] * 4000})
    high = fitted.sample(np.full(4000, 30.0), 1, covariates=covariates)
    low = fitted.sample(np.full(4000, 30.0), 1, covariates=covariates.assign(x1=-2.0))
    assert high["frequency"].mean() > low["frequency"].mean()
    typical = fitted.sample(np.full(10, 30.0), 1)  # at the covariates' means
    assert len(typical) == 10


# ----- persistence ---------------------------------------------------------------------------------
def test_json_round_trip_keeps_the_covariates(fitted, data, tmp_path):
    path = fitted.save(tmp_path / "model.json")
    record = json.loads(path.read_text())
    assert record["settings"]["purchase_covariates"] == ["x1", "x2"]
    loaded = clv.load_model(path)
    assert loaded.coefficient_names == fitted.coefficient_names
    pd.testing.assert_frame_equal(loaded.summary(), fitted.summary())
    np.testing.assert_array_equal(loaded.expected_purchases(data, 5.0), fitted.expected_purchases(data, 5.0))
    assert loaded.expected_purchases_new_customer(5.0) == fitted.expected_purchases_new_customer(5.0)


# ----- CDNOW: the first purchase amount -----------------------------------------------------------
@pytest.fixture(scope="module")
def cdnow_with_first_amount(cdnow_sample, rfm):
    """The calibration RFM table with log(1 + amount of the first day's purchases); 8
    customers' first purchase is recorded at 0."""
    first_day = cdnow_sample.groupby("customer_id")["date"].transform("min") == cdnow_sample["date"]
    first_amount = cdnow_sample[first_day].groupby("customer_id")["amount"].sum()
    table = rfm.copy()
    table["log_first_amount"] = np.log1p(first_amount.reindex(table.index).to_numpy())
    return table


def test_cdnow_first_purchase_amount(cdnow_with_first_amount, bg):
    model = clv.BetaGeoModel(purchase_covariates=["log_first_amount"],
                             dropout_covariates=["log_first_amount"]).fit(cdnow_with_first_amount)
    table = model.summary()
    # Our fit (Newton, gradient < 1e-6); no published fit with this covariate is known to us.
    expected = {"purchase[log_first_amount]": (0.467557, 0.072785), "dropout_a[log_first_amount]": (0.631230, 0.433255),
                "dropout_b[log_first_amount]": (0.840710, 0.521825), "r": (0.253880, 0.013338),
                "alpha": (22.255358, 5.656364), "a": (0.095833, 0.134643), "b": (0.146875, 0.249524)}
    for name, (estimate, se) in expected.items():
        assert table.loc[name, "estimate"] == pytest.approx(estimate, rel=2e-3), name
        assert table.loc[name, "std_error"] == pytest.approx(se, rel=2e-3), name
    assert model.log_likelihood_ == pytest.approx(-9558.560, abs=1e-2)
    test = clv.likelihood_ratio_test(bg, model)
    assert test["statistic"] == pytest.approx(47.74, abs=0.01)
    assert test["df"] == 3 and test["p_value"] < 1e-9


# ----- bad input -----------------------------------------------------------------------------------
@pytest.mark.parametrize("change, words", [
    (lambda d: d.assign(x1=np.where(np.arange(len(d)) < 3, np.nan, d["x1"])), "'x1': 3 rows are missing"),
    (lambda d: d.assign(x2=np.where(np.arange(len(d)) < 2, np.inf, d["x2"])), "'x2': 2 rows are infinite"),
    (lambda d: d.assign(x2=1.0), "'x2': is constant"),
    (lambda d: d.assign(x2=3 * d["x1"] - 2), "'x2': is collinear with 'x1'"),
    (lambda d: d.assign(x1=np.where(d["x1"] > 0, "high", "low")), "'x1': is categorical.*encode_categorical"),
    (lambda d: d.drop(columns="x2"), "'x2': is missing"),
])
def test_bad_covariates_raise_value_error_naming_the_column(data, change, words):
    with pytest.raises(ValueError, match=words):
        clv.BetaGeoModel(**BOTH).fit(change(data.iloc[:500].copy()))


def test_bad_settings_and_models_without_links():
    with pytest.raises(ValueError, match="ModifiedBetaGeoModel does not support purchase covariates"):
        clv.ModifiedBetaGeoModel(purchase_covariates=["x1"])
    with pytest.raises(ValueError, match="list of column names"):
        clv.BetaGeoModel(purchase_covariates="x1")
    with pytest.raises(ValueError, match="twice"):
        clv.BetaGeoModel(dropout_covariates=["x1", "x1"])
    with pytest.raises(ValueError, match="covariate_penalizer"):
        clv.BetaGeoModel(purchase_covariates=["x1"], covariate_penalizer=-1)


def test_encode_categorical_makes_usable_indicators(data):
    rows = data.iloc[:3000].copy()
    rows["channel"] = np.where(rows["x1"] > 0.5, "web", np.where(rows["x1"] < -0.5, "store", "phone"))
    encoded = clv.encode_categorical(rows, ["channel"])
    names = encoded.attrs["covariate_columns"]
    assert names == ["channel_store", "channel_web"] and encoded.attrs["time_unit"] == "W"
    model = clv.BetaGeoModel(purchase_covariates=names).fit(encoded)
    assert model.params_["purchase[channel_web]"] > model.params_["purchase[channel_store]"]
    with pytest.raises(ValueError, match="collinear"):
        clv.BetaGeoModel(purchase_covariates=names + ["channel_phone"]).fit(
            clv.encode_categorical(rows, ["channel"], drop_first=False))


def test_recovery_study_script_runs(tmp_path):
    """Smoke test of benchmarks/covariate_recovery.py (the 20-seed study runs by hand)."""
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "covariate_recovery.py"
    out = tmp_path / "recovery.json"
    completed = subprocess.run([sys.executable, str(script), "--seeds", "2", "--customers", "3000", "--json", str(out)],
                               capture_output=True, text=True, timeout=300, check=False)
    assert completed.returncode == 0, completed.stderr[-2000:]
    table = json.loads(out.read_text())["table"]
    assert set(table) == set(TRUTH) and all(row["seeds"] == 2 for row in table.values())
    assert "| purchase[x1] |" in completed.stdout


# ----- the formulas broadcast per-customer parameters -----------------------------------------------
@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31), near_one=st.booleans())
def test_formulas_with_one_parameter_set_per_customer_equal_row_by_row(seed, near_one):
    rng = np.random.default_rng(seed)
    n = 12
    params = per_row_params(n, seed)
    if near_one:
        params["a"][:4] = 1 + rng.uniform(-5e-5, 5e-5, 4)  # the removable singularity at a = 1
    x = rng.integers(0, 30, n).astype(float)
    T = rng.uniform(1, 60, n)
    t_x = np.where(x > 0, T * rng.uniform(0, 1, n), 0.0)
    columns = (x, t_x, T)
    vectorised = {
        "expected_purchases": bgnbd.expected_purchases(params, 7.0, *columns),
        "probability_alive": bgnbd.probability_alive(params, *columns),
        "log_likelihood": bgnbd.log_likelihood(params, *columns),
        "pmf": bgnbd.conditional_probability_of_purchases(params, 2.0, 7.0, *columns),
        "discounted": bgnbd.discounted_expected_purchases(params, [4.0, 8.0], [0.9, 0.8], *columns),
    }
    for i in range(n):
        one = {k: float(v[i]) for k, v in params.items()}
        row = tuple(c[i:i + 1] for c in columns)
        single = {
            "expected_purchases": bgnbd.expected_purchases(one, 7.0, *row),
            "probability_alive": bgnbd.probability_alive(one, *row),
            "log_likelihood": bgnbd.log_likelihood(one, *row),
            "pmf": bgnbd.conditional_probability_of_purchases(one, 2.0, 7.0, *row),
            "discounted": bgnbd.discounted_expected_purchases(one, [4.0, 8.0], [0.9, 0.8], *row),
        }
        for name, values in single.items():
            np.testing.assert_allclose(vectorised[name][i], np.ravel(values)[0], rtol=1e-12, err_msg=name)


def test_models_without_row_derivatives_are_fitted_by_finite_differences(data, fitted, monkeypatch):
    """The generic path for models that declare covariate links but no
    ``row_derivatives``: per-row central differences of ``log_likelihood``."""
    import types

    numeric = types.SimpleNamespace(**{name: getattr(bgnbd, name) for name in dir(bgnbd)
                                       if not name.startswith("__") and name not in ("row_derivatives", "prepare_rows")})
    monkeypatch.setattr(clv.BetaGeoModel, "formulas", numeric)
    by_differences = clv.BetaGeoModel(**BOTH).fit(data)
    assert by_differences.log_likelihood_ == pytest.approx(fitted.log_likelihood_, rel=1e-9)
    assert np.max(np.abs(by_differences.params_ - fitted.params_) / fitted.standard_errors_) < 1e-3
    np.testing.assert_allclose(by_differences.standard_errors_, fitted.standard_errors_, rtol=1e-3)


@pytest.mark.parametrize("model_class", [c for c in clv.registered_models("transaction").values() if c.covariate_links],
                         ids=lambda c: c.key)
def test_every_model_with_links_equals_its_plain_model_at_zero_coefficients(model_class):
    rng = np.random.default_rng(4)
    plain = model_class.from_dict({"params": model_class.example_params, "time_unit": "W"})
    rows = plain.sample(rng.uniform(5, 40, 2000), rng)
    rows["x1"], rows["x2"] = rng.normal(size=len(rows)), rng.binomial(1, 0.5, len(rows)).astype(float)
    settings = {process: ["x1", "x2"] for process in ("purchase_covariates", "dropout_covariates")
                if process.split("_")[0] in model_class.covariate_links}
    twin_names = model_class(**settings).coefficient_names
    twin = model_class.from_dict({"params": {**model_class.example_params, **dict.fromkeys(twin_names, 0.0)},
                                  "time_unit": "W", "settings": settings})
    for method, args in (("expected_purchases", (10.0,)), ("probability_alive", ()), ("log_likelihood", ()),
                         ("conditional_probability_of_purchases", (1, 10.0))):
        np.testing.assert_allclose(getattr(twin, method)(rows, *args), getattr(plain, method)(rows, *args),
                                   rtol=1e-13, err_msg=method)


# ----- command line ------------------------------------------------------------------------------------
def test_command_line_fits_and_scores_with_covariates(cdnow_sample, tmp_path, capsys):
    from clvmodels import cli

    tx = cdnow_sample.copy()
    first_day = tx.groupby("customer_id")["date"].transform("min") == tx["date"]
    first_amount = tx[first_day].groupby("customer_id")["amount"].sum()
    tx["log_first_amount"] = np.log1p(tx["customer_id"].map(first_amount))
    tx["varies"] = np.arange(len(tx), dtype=float)
    path = tmp_path / "tx.csv"
    tx.to_csv(path, index=False)
    common = ["--time-unit", "W", "--amount-col", "amount", "--observation-end", "1997-09-30", "-q"]
    status = cli.main(["fit", str(path), "--model-out", str(tmp_path / "model.json"), *common,
                       "--purchase-covariates", "log_first_amount", "--dropout-covariates", "log_first_amount"])
    assert status == 0
    printed = capsys.readouterr().out
    assert "purchase[log_first_amount]" in printed
    assert "one unit more of log_first_amount multiplies the purchase rate by 1.6" in printed
    status = cli.main(["predict", str(path), "--model", str(tmp_path / "model.json"), "--out", str(tmp_path / "o.csv"),
                       *common])
    assert status == 0
    scored = pd.read_csv(tmp_path / "o.csv").set_index("customer_id")
    rfm = clv.rfm_summary(cdnow_sample, amount_col="amount", time_unit="W", observation_end="1997-09-30")
    rfm["log_first_amount"] = np.log1p(first_amount.reindex(rfm.index).to_numpy())
    bundle = json.loads((tmp_path / "model.json").read_text())
    fitted = clv.model_from_dict(bundle["transaction_model"])
    np.testing.assert_allclose(scored["probability_alive"], fitted.probability_alive(rfm).to_numpy(), rtol=1e-9)
    status = cli.main(["forecast", str(path), "--out", str(tmp_path / "bad.csv"), *common,
                       "--purchase-covariates", "varies"])
    assert status == 2
    assert "'varies' varies within" in capsys.readouterr().err


def test_model_records_with_covariates_are_checked(fitted):
    record = fitted.to_dict()
    assert record["params"]["purchase[x2]"] < 0
    assert clv.model_from_dict(record).coefficient_names == fitted.coefficient_names  # negative coefficients pass
    for change, words in (
        (lambda r: r["params"].pop("dropout_b[x2]"), "needs parameters"),
        (lambda r: r["params"].update(a=-1.0), "parameter 'a' must be a finite number > 0"),
        (lambda r: r["params"].update({"purchase[x1]": float("nan")}), "purchase\\[x1\\]"),
        (lambda r: r["settings"].update(purchase_covariates=["x1"]), "needs parameters"),
    ):
        broken = json.loads(json.dumps(record))
        change(broken)
        with pytest.raises(ValueError, match=words):
            clv.model_from_dict(broken)
