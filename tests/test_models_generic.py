"""Properties every registered model must have (in the manner of scipy.stats' suite over
its distributions): a model gets all of these tests by being registered.

The tests know a model only through the seam of clvmodels._families (SEAM.md): its
``rfm_columns``, ``time_params``, ``time_columns``, ``example_params``, ``formulas``
and the public methods; never its parameter names. Data are drawn with the model's own
``sample`` at ``example_params``; the hypothesis test of extreme histories builds them
directly for models on (frequency, recency, T), and with ``sample`` for the others.
"""

import functools

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import clvmodels as clv
from clvmodels import SpendModel, TransactionModel
from clvmodels._optimize import finite_difference_derivatives

TRANSACTION = clv.registered_models("transaction")
SPEND = clv.registered_models("spend")
MODELS = {**TRANSACTION, **SPEND}
CONTINUOUS = ("frequency", "recency", "T")  # columns of the continuous-time purchase models
HORIZON = 10.0  # whole, so it suits discrete-time models too
MOST_PARAMS = max(len(cls.param_names) for cls in MODELS.values())


def longest_horizon(cls):
    """100,000 time units for continuous-time models, 2,000 periods for the others."""
    return 100_000 if tuple(cls.rfm_columns) == CONTINUOUS else 2000


def keys(models, where=lambda cls: True):
    return [key for key, cls in models.items() if where(cls)]


def model_at(cls, params, time_unit=None):
    """A fitted-looking model at ``params`` (no data), as load_model makes one."""
    return cls.from_dict({"params": dict(params), "time_unit": time_unit})


def histories(cls, n, seed, params=None):
    """``n`` customers drawn from the model itself at ``params`` (default example_params)."""
    model = model_at(cls, params or cls.example_params)
    rng = np.random.default_rng(seed)
    if issubclass(cls, SpendModel):
        counts = rng.integers(1, 15, n).astype(float)  # purchases behind each mean spend
        return pd.DataFrame(dict(zip(cls.rfm_columns, (counts, model.sample(counts, rng)))))
    return model.sample(rng.integers(10, 61, n).astype(float), rng)


@functools.lru_cache(maxsize=None)
def fitted_on_sample(key, n=4000, seed=20240501):
    """The model fitted to ``n`` customers drawn at its example parameters."""
    return MODELS[key]().fit(histories(MODELS[key], n, seed))


def column_arrays(cls, data):
    return {c: data[c].to_numpy(dtype=float) for c in cls.rfm_columns}


def used_rows(cls, columns):
    fit_rows = getattr(cls.formulas, "fit_rows", None)
    return fit_rows(columns) if fit_rows is not None else np.ones(len(next(iter(columns.values()))), dtype=bool)


# ----- the likelihood ----------------------------------------------------------------------
ANALYTIC = keys(MODELS, lambda cls: hasattr(cls.formulas, "derivatives") and hasattr(cls.formulas, "prepare"))


@pytest.mark.parametrize("key", ANALYTIC)
@pytest.mark.parametrize("shift", [0.0, 0.3])
def test_analytic_derivatives_equal_finite_differences(key, shift):
    """formulas.derivatives against central differences of formulas.log_likelihood, with
    non-integer weights, at the example parameters and away from them."""
    cls = MODELS[key]
    rng = np.random.default_rng(1)
    columns = column_arrays(cls, histories(cls, 600, seed=2))
    keep = used_rows(cls, columns)
    columns = {c: v[keep] for c, v in columns.items()}
    weights = rng.uniform(0.5, 3.0, int(keep.sum()))
    names = cls.param_names
    params = np.array([cls.example_params[k] for k in names]) * np.exp(shift * np.linspace(-1, 1, len(names)))

    def total(values):
        return float(weights @ cls.formulas.log_likelihood(dict(zip(names, values)), *columns.values()))

    prepared = cls.formulas.prepare(columns, weights)
    ll, grad, hess = cls.formulas.derivatives(params, prepared, 2)
    ll_numeric, grad_numeric, _ = finite_difference_derivatives(total, params, 1, step=1e-5)
    assert ll == pytest.approx(ll_numeric, rel=1e-10)
    np.testing.assert_allclose(grad, grad_numeric, rtol=1e-5, atol=1e-6 * np.max(np.abs(grad_numeric)))
    if hess is None:
        return
    # The Hessian against central differences of the (checked) analytic gradient.
    columns_of_hess = []
    for i, value in enumerate(params):
        step = np.zeros_like(params)
        step[i] = 1e-6 * value
        up, down = (cls.formulas.derivatives(params + sign * step, prepared, 1)[1] for sign in (1, -1))
        columns_of_hess.append((up - down) / (2 * step[i]))
    numeric = np.array(columns_of_hess).T
    np.testing.assert_allclose(hess, numeric, rtol=1e-5, atol=1e-6 * np.max(np.abs(numeric)))


@pytest.mark.parametrize("key", list(MODELS))
def test_weighted_distinct_rows_give_the_full_fit(key):
    cls = MODELS[key]
    distinct = histories(cls, 1500, seed=3)
    counts = np.random.default_rng(4).integers(1, 4, len(distinct))
    full = distinct.loc[np.repeat(distinct.index, counts)].reset_index(drop=True)
    on_full = cls().fit(full)
    weighted = cls().fit(distinct, sample_weight=counts)
    np.testing.assert_allclose(weighted.params_, on_full.params_, rtol=1e-6)
    assert weighted.log_likelihood_ == pytest.approx(on_full.log_likelihood_, rel=1e-10)
    np.testing.assert_allclose(weighted.standard_errors_, on_full.standard_errors_, rtol=1e-4)
    assert weighted.n_customers_ == on_full.n_customers_ == counts.sum()


@pytest.mark.parametrize("key", list(MODELS))
def test_sample_then_fit_recovers_example_params(key):
    cls = MODELS[key]
    model = fitted_on_sample(key)
    summary = model.summary()
    se_log = (summary["std_error"] / summary["estimate"]).to_numpy()
    truth = np.array([cls.example_params[k] for k in cls.param_names])
    assert np.all(np.isfinite(se_log)) and np.all(se_log > 0)
    z = np.abs(np.log(model.params_.to_numpy()) - np.log(truth)) / se_log
    assert np.all(z < 3.5), dict(zip(cls.param_names, z.round(2)))


# ----- time units --------------------------------------------------------------------------
TIMED = keys(TRANSACTION, lambda cls: bool(cls.time_columns))


@pytest.mark.parametrize("key", TIMED)
def test_days_and_weeks_give_the_same_predictions(key):
    """Time columns x 7 (weeks -> days): time parameters x 7 (they are measured in time
    units, like a Gamma rate's scale), the others unchanged, the same forecasts."""
    cls = MODELS[key]
    weeks = histories(cls, 2000, seed=5)
    days = weeks.copy()
    for column in cls.time_columns:
        days[column] = 7 * weeks[column]
    weeks.attrs["time_unit"], days.attrs["time_unit"] = "W", "D"
    in_weeks, in_days = cls().fit(weeks), cls().fit(days)
    factors = np.array([7.0 if name in cls.time_params else 1.0 for name in cls.param_names])
    np.testing.assert_allclose(in_days.params_.to_numpy(), factors * in_weeks.params_.to_numpy(), rtol=1e-5)
    np.testing.assert_allclose(in_days.standard_errors_ / in_days.params_, in_weeks.standard_errors_ / in_weeks.params_,
                               rtol=1e-3)
    # Predictions at the same parameters, so the comparison is not blurred by the fits.
    in_days = model_at(cls, dict(zip(cls.param_names, factors * in_weeks.params_.to_numpy())), "D")
    pairs = [
        (in_days.probability_alive(days), in_weeks.probability_alive(weeks)),
        (in_days.expected_purchases(days, t=7 * 39), in_weeks.expected_purchases(weeks, t=39)),
        (in_days.conditional_probability_of_purchases(days, [0, 1, 4], t=7 * 39),
         in_weeks.conditional_probability_of_purchases(weeks, [0, 1, 4], t=39)),
        (in_days.expected_purchases_new_customer([7.0, 7 * 39]), in_weeks.expected_purchases_new_customer([1.0, 39.0])),
        (in_days.probability_of_purchases([0, 2], 7 * 39), in_weeks.probability_of_purchases([0, 2], 39)),
    ]
    for ours_in_days, ours_in_weeks in pairs:
        np.testing.assert_allclose(np.asarray(ours_in_days), np.asarray(ours_in_weeks), rtol=1e-9, atol=1e-300)


# ----- ranges on extreme histories (hypothesis) --------------------------------------------
def _scaled_params(cls, factors):
    return {name: value * factor for (name, value), factor in zip(cls.example_params.items(), factors)}


@st.composite
def extreme_histories(draw, cls):
    """One customer: frequency up to 10,000, recency = T often, T from 1e-9 to
    100,000 days (in weeks) for (frequency, recency, T) models; drawn with the model's
    own ``sample`` over up to 2,000 periods otherwise."""
    params = _scaled_params(cls, draw(st.lists(st.floats(0.1, 10.0), min_size=MOST_PARAMS, max_size=MOST_PARAMS)))
    if tuple(cls.rfm_columns) == CONTINUOUS:
        T = draw(st.one_of(st.floats(1e-9, 1e-3), st.floats(1e-3, 100_000.0))) / 7
        x = draw(st.integers(0, 10_000))
        share = draw(st.one_of(st.just(1.0), st.floats(0.0, 1.0)))
        data = pd.DataFrame({"frequency": [float(x)], "recency": [share * T if x else 0.0], "T": [T]})
    else:
        T = draw(st.integers(1, 2000))
        data = model_at(cls, params).sample(np.array([float(T)]), draw(st.integers(0, 2**32 - 1)))
    return params, data


@pytest.mark.parametrize("key", list(TRANSACTION))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_predictions_in_range_on_extreme_histories(key, data):
    cls = MODELS[key]
    params, history = data.draw(extreme_histories(cls))
    model = model_at(cls, params)
    alive = model.probability_alive(history).to_numpy()
    assert np.all((alive >= 0) & (alive <= 1))
    for t in (0.0, 1.0, 39.0, float(longest_horizon(cls))):
        expected = model.expected_purchases(history, t=t).to_numpy()
        assert np.all(np.isfinite(expected) & (expected >= 0))
    pmf = model.conditional_probability_of_purchases(history, [0, 1, 5, 50], t=39.0).to_numpy()
    assert np.all((pmf >= 0) & (pmf <= 1)) and np.all(pmf.sum(axis=1) <= 1 + 1e-9)
    assert np.all(np.isfinite(model.log_likelihood(history)))


@pytest.mark.parametrize("key", list(TRANSACTION))
@settings(max_examples=40, deadline=None)
@given(factors=st.lists(st.floats(0.1, 10.0), min_size=MOST_PARAMS, max_size=MOST_PARAMS), share=st.floats(0.0, 1.0))
def test_new_customer_predictions_in_range(key, factors, share):
    cls = MODELS[key]
    model = model_at(cls, _scaled_params(cls, factors))
    t = round(share * longest_horizon(cls))
    expected = model.expected_purchases_new_customer(float(t))
    assert np.isfinite(expected) and expected >= 0
    probabilities = model.probability_of_purchases([0, 1, 10, 1000], float(t))
    assert np.all((probabilities >= 0) & (probabilities <= 1)) and probabilities.sum() <= 1 + 1e-9


# ----- the predictive distribution ---------------------------------------------------------
@pytest.mark.parametrize("key", list(TRANSACTION))
def test_conditional_pmf_sums_to_one_with_mean_expected_purchases(key):
    cls = MODELS[key]
    model = model_at(cls, cls.example_params)
    data = histories(cls, 300, seed=6)
    counts = np.arange(0, 400)
    pmf = model.conditional_probability_of_purchases(data, counts, t=HORIZON).to_numpy()
    np.testing.assert_allclose(pmf.sum(axis=1), 1.0, atol=1e-9)
    np.testing.assert_allclose(pmf @ counts, model.expected_purchases(data, t=HORIZON).to_numpy(), rtol=1e-7, atol=1e-12)
    new = model.probability_of_purchases(counts, HORIZON)
    assert new.sum() == pytest.approx(1.0, abs=1e-9)
    assert new @ counts == pytest.approx(model.expected_purchases_new_customer(HORIZON), rel=1e-7)


SIMULATES = keys(TRANSACTION, lambda cls: hasattr(cls.formulas, "sample_future_purchases"))


@pytest.mark.parametrize("key", SIMULATES)
def test_future_purchases_drawn_given_the_history_follow_the_conditional_pmf(key):
    """sample_future_purchases (behind the value intervals) against the closed form, per
    customer and for the cumulative count at the end of each of two periods."""
    cls = MODELS[key]
    model = model_at(cls, cls.example_params)
    # Six histories from the busier half, where dropout after future purchases matters.
    data = histories(cls, 300, seed=10).sort_values(cls.rfm_columns[0], kind="stable")
    data = data.iloc[np.linspace(150, 299, 6).astype(int)]
    copies, counts, ends = 40_000, np.arange(100), [HORIZON, 4 * HORIZON]
    repeated = data.loc[np.repeat(data.index, copies)].reset_index(drop=True)
    draws = model.sample_future_purchases(repeated, ends, random_state=12)
    for period, t in enumerate(ends):
        cumulative = draws[:, : period + 1].sum(axis=1).reshape(len(data), copies)
        simulated = np.array([np.bincount(row, minlength=len(counts))[: len(counts)] for row in cumulative]) / copies
        pmf = model.conditional_probability_of_purchases(data, counts, t=t).to_numpy()
        assert np.all(np.abs(simulated - pmf) <= 5 * np.sqrt(pmf * (1 - pmf) / copies) + 1e-3)
    interval = model.purchases_interval(data, t=4 * HORIZON, level=0.8)
    cdf = np.cumsum(pmf, axis=1)
    np.testing.assert_array_equal(interval["upper"].to_numpy(), np.argmax(cdf >= 0.9 - 1e-12, axis=1))
    assert np.all(interval["lower"] <= interval["median"]) and np.all(interval["median"] <= interval["upper"])


# ----- persistence -------------------------------------------------------------------------
def predictions(model, data):
    if isinstance(model, SpendModel):
        return [model.expected_spend(data), model.population_mean_spend()]
    return [
        model.probability_alive(data), model.expected_purchases(data, t=HORIZON),
        model.conditional_probability_of_purchases(data, [0, 2], t=HORIZON),
        model.expected_purchases_new_customer(HORIZON), model.probability_of_purchases(1, HORIZON),
        model.log_likelihood(data),
    ]


@pytest.mark.parametrize("key", list(MODELS))
def test_json_round_trip_gives_identical_predictions(key, tmp_path):
    model = fitted_on_sample(key)
    data = histories(MODELS[key], 200, seed=7)
    loaded = clv.load_model(model.save(tmp_path / "model.json"))
    assert type(loaded) is type(model)
    pd.testing.assert_series_equal(loaded.params_, model.params_)
    pd.testing.assert_frame_equal(loaded.summary(), model.summary())
    for before, after in zip(predictions(model, data), predictions(loaded, data)):
        np.testing.assert_array_equal(np.asarray(after), np.asarray(before))


# ----- bad input ---------------------------------------------------------------------------
def _bad_tables(cls):
    """(column, how it is broken, words the error must contain, table)."""
    good = histories(cls, 50, seed=8)
    repeat = int(np.flatnonzero(good[cls.rfm_columns[0]].to_numpy() > 0)[0])
    tables = []
    for column in cls.rfm_columns:
        tables.append((column, "missing", "missing", good.drop(columns=[column])))
        for problem, value, words in (("NaN", np.nan, "NaN"), ("negative", -1.0, "negative")):
            broken = good.copy()
            broken.loc[broken.index[repeat], column] = value
            tables.append((column, problem, words, broken))
    age = cls.rfm_columns[-1]
    if "recency" in cls.rfm_columns and age != "recency":
        broken = good.copy()
        broken.loc[broken.index[repeat], "recency"] = broken[age].iloc[repeat] + 1
        tables.append(("recency", f"greater than {age}", "greater than", broken))
    return tables


BAD_INPUT = [(key, *case[:3]) for key, cls in MODELS.items() for case in _bad_tables(cls)]


@pytest.mark.parametrize("key, column, problem, words", BAD_INPUT)
def test_bad_input_raises_value_error_naming_the_column(key, column, problem, words):
    cls = MODELS[key]
    table = next(t for c, p, _, t in _bad_tables(cls) if (c, p) == (column, problem))
    model = model_at(cls, cls.example_params)
    predict = model.expected_spend if isinstance(model, SpendModel) else model.probability_alive
    for call in (cls().fit, predict):
        with pytest.raises(ValueError, match=words) as error:
            call(table)
        assert f"'{column}'" in str(error.value)


# ----- what-if -----------------------------------------------------------------------------
@pytest.mark.parametrize("key", list(TRANSACTION))
def test_scaling_dropout(key):
    cls = MODELS[key]
    model = model_at(cls, cls.example_params)
    data = histories(cls, 500, seed=9)
    same = model.with_dropout_scaled(1.0)
    np.testing.assert_allclose(same.params_, model.params_, rtol=1e-12)
    np.testing.assert_allclose(same.probability_alive(data), model.probability_alive(data), rtol=1e-12)
    less_churn = model.with_dropout_scaled(0.5)
    before, after = model.probability_alive(data).to_numpy(), less_churn.probability_alive(data).to_numpy()
    assert np.all(after >= before - 1e-12) and np.mean(after) > np.mean(before)
    assert less_churn.expected_purchases_new_customer(39.0) > model.expected_purchases_new_customer(39.0)


def test_every_registered_model_declares_the_seam():
    assert {"bgnbd", "mbgnbd"} <= set(TRANSACTION) and "gg" in SPEND
    for key, cls in MODELS.items():
        assert issubclass(cls, (TransactionModel, SpendModel))
        assert cls.key == key and cls.title and cls.reference
        assert set(cls.example_params) == set(cls.param_names)
        assert set(cls.param_descriptions) == set(cls.param_names)
        assert set(cls.time_params) <= set(cls.param_names) and set(cls.time_columns) <= set(cls.rfm_columns)
        assert callable(cls.formulas.log_likelihood)
