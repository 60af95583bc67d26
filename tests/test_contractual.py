"""Contractual models (sBG, BdW): published values, the c = 1 reduction, simulation,
properties every contractual model must have, and bad input."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special

import clvmodels as clv
from clvmodels import bdw, sbg

# Fader & Hardie (2007), "How to project customer retention", JIM 21(1) (REFERENCE.md).
REGULAR = [1000, 631, 468, 382, 326, 289, 262, 241]
HIGH_END = [1000, 869, 743, 653, 593, 551, 517, 491]
CONTRACTUAL = sorted(clv.registered_models("contractual").items())


def fitted(model_class, counts):
    return model_class().fit(clv.tenure_from_survivors(counts), sample_weight="weight")


def records(params_class, n, T, seed):
    return params_class.formulas.sample(params_class.example_params, np.full(n, float(T)), seed)


def loaded(model_class, params, time_unit=None):
    return model_class.from_dict({"params": params, "time_unit": time_unit})


# ----- published values ---------------------------------------------------------------------
@pytest.mark.parametrize("counts, alpha, beta", [(REGULAR, 0.704, 1.182), (HIGH_END, 0.668, 3.806)])
def test_sbg_reproduces_fader_hardie_2007(counts, alpha, beta):
    model = fitted(clv.ShiftedBetaGeoModel, counts)
    assert model.params_["alpha"] == pytest.approx(alpha, rel=1e-3)
    assert model.params_["beta"] == pytest.approx(beta, rel=1e-3)
    assert model.n_customers_ == 1000


def test_sbg_survival_and_retention_formulas():
    model = loaded(clv.ShiftedBetaGeoModel, {"alpha": 0.704, "beta": 1.182})
    # FH 2007: r(t) = (beta + t - 1) / (alpha + beta + t - 1), S(t) = prod r.
    t = np.arange(1, 13)
    retention = (1.182 + t - 1) / (0.704 + 1.182 + t - 1)
    np.testing.assert_allclose(model.retention(t), retention, rtol=1e-12)
    np.testing.assert_allclose(model.survival(t), np.cumprod(retention), rtol=1e-12)
    assert model.survival(0) == 1.0
    np.testing.assert_allclose(sbg.retention(model.params_, t), retention, rtol=1e-12)


def test_sbg_derl_equals_fader_hardie_2010_closed_form():
    params = {"alpha": 0.704, "beta": 1.182}
    model = loaded(clv.ShiftedBetaGeoModel, params)
    tenure = np.array([0.0, 1, 4, 7, 30])
    data = pd.DataFrame({"tenure": tenure, "churned": False})
    # FH 2010 eq. 6, n - 1 = tenure renewals made.
    n = tenure + 1
    closed_form = (1.182 + n - 1) / (0.704 + 1.182 + n - 1) * special.hyp2f1(1, 1.182 + n, 1.886 + n, 1 / 1.1)
    np.testing.assert_allclose(model.expected_residual_lifetime(data, 0.1), closed_form, rtol=1e-10)
    # FH 2010: DEL = 2F1(1, beta; alpha + beta; 1 / (1 + d)) for a customer just acquired.
    assert model.discounted_expected_lifetime(0.1) == pytest.approx(special.hyp2f1(1, 1.182, 1.886, 1 / 1.1), rel=1e-12)


def test_contractual_clv_is_margin_times_derl():
    model = fitted(clv.ShiftedBetaGeoModel, REGULAR)
    table = clv.tenure_from_survivors(REGULAR)
    value = clv.contractual_lifetime_value(model, table, margin=100.0, discount_rate=0.1)
    derl = model.expected_residual_lifetime(table, 0.1)
    np.testing.assert_allclose(value, 100.0 * derl)
    assert (value[table["churned"]] == 0).all()
    assert value.iloc[-1] > 0
    per_customer = clv.contractual_lifetime_value(model, table, margin=np.arange(len(table), dtype=float), discount_rate=0.1)
    np.testing.assert_allclose(per_customer, np.arange(len(table)) * derl)
    with pytest.raises(ValueError, match="margin"):
        clv.contractual_lifetime_value(model, table, margin=[1.0, 2.0], discount_rate=0.1)
    with pytest.raises(ValueError, match="margin"):
        clv.contractual_lifetime_value(model, table, margin=-1.0, discount_rate=0.1)


# ----- BdW -------------------------------------------------------------------------------
def test_bdw_at_c_equal_1_is_the_sbg():
    for counts in (REGULAR, HIGH_END):
        reference = fitted(clv.ShiftedBetaGeoModel, counts)
        same = loaded(clv.BetaDiscreteWeibullModel, {**reference.params_.to_dict(), "c": 1.0})
        table = clv.tenure_from_survivors(counts)
        t = np.arange(0, 40)
        np.testing.assert_allclose(same.survival(t), reference.survival(t), rtol=1e-9, atol=0)
        np.testing.assert_allclose(same.retention(t + 1), reference.retention(t + 1), rtol=1e-9)
        np.testing.assert_allclose(same.log_likelihood(table), reference.log_likelihood(table), rtol=1e-9)
        np.testing.assert_allclose(same.expected_residual_lifetime(table, 0.1),
                                   reference.expected_residual_lifetime(table, 0.1), rtol=1e-9)
        np.testing.assert_allclose(same.probability_alive(table, t=3), reference.probability_alive(table, t=3), rtol=1e-9)


def test_bdw_fits_at_least_as_well_as_the_sbg():
    for counts in (REGULAR, HIGH_END):
        assert fitted(clv.BetaDiscreteWeibullModel, counts).log_likelihood_ >= fitted(clv.ShiftedBetaGeoModel, counts).log_likelihood_ - 1e-6


def test_bdw_recovers_its_parameters_from_50000_customers():
    truth = clv.BetaDiscreteWeibullModel.example_params
    data = bdw.sample(truth, np.full(50_000, 12.0), random_state=2018)
    model = clv.BetaDiscreteWeibullModel().fit(data)
    se = model.standard_errors_
    for name, value in truth.items():
        assert abs(model.params_[name] - value) < 2 * se[name], (name, model.params_[name], se[name])


def test_bdw_sample_follows_its_survival_curve():
    truth = {"alpha": 1.2, "beta": 2.5, "c": 1.6}
    data = bdw.sample(truth, np.full(100_000, 10.0), random_state=5)
    model = loaded(clv.BetaDiscreteWeibullModel, truth)
    for t in (1, 3, 6, 10):
        observed = ((data["tenure"] >= t) & ~(data["churned"] & (data["tenure"] <= t))).mean()
        assert observed == pytest.approx(model.survival(t), abs=0.005)


# ----- properties every contractual model has --------------------------------------------
@pytest.mark.parametrize("key, model_class", CONTRACTUAL)
def test_weighted_fit_equals_full_fit(key, model_class):
    data = records(model_class, 3000, 8, 1)
    compressed = clv.compress(data, columns=["tenure", "churned"])
    full = model_class().fit(data)
    weighted = model_class().fit(compressed, sample_weight="weight")
    np.testing.assert_allclose(weighted.params_, full.params_, rtol=1e-6)
    assert weighted.log_likelihood_ == pytest.approx(full.log_likelihood_, rel=1e-10)


@pytest.mark.parametrize("key, model_class", CONTRACTUAL)
def test_sample_then_fit_recovers_example_params(key, model_class):
    data = records(model_class, 5000, 10, 7)
    model = model_class().fit(data)
    for name, value in model_class.example_params.items():
        assert abs(model.params_[name] - value) < 3 * model.standard_errors_[name], name


@pytest.mark.parametrize("key, model_class", CONTRACTUAL)
def test_json_round_trip(key, model_class, tmp_path):
    data = records(model_class, 2000, 8, 3)
    model = model_class().fit(data)
    again = clv.load_model(model.save(tmp_path / f"{key}.json"))
    assert type(again) is model_class
    pd.testing.assert_series_equal(again.expected_residual_lifetime(data, 0.05), model.expected_residual_lifetime(data, 0.05))
    pd.testing.assert_frame_equal(again.summary(), model.summary())


@pytest.mark.parametrize("key, model_class", CONTRACTUAL)
def test_model_metadata(key, model_class):
    assert model_class.key == key
    assert model_class.title and model_class.reference
    assert set(model_class.param_descriptions) == set(model_class.param_names)
    model = loaded(model_class, model_class.example_params)
    mixing = model.mixing_distributions()["dropout"]
    assert mixing.bounded
    assert model.describe_params is not None and "meaning" in model.fit(records(model_class, 3000, 10, 0)).describe_params()


@pytest.mark.parametrize("key, model_class", CONTRACTUAL)
@settings(max_examples=30, deadline=None)
@given(alpha=st.floats(0.05, 50), beta=st.floats(0.05, 50), c=st.floats(0.2, 4.0),
       tenure=st.integers(0, 500), t=st.integers(1, 100), d=st.floats(1e-4, 2.0))
def test_probabilities_in_range_and_finite(key, model_class, alpha, beta, c, tenure, t, d):
    params = {"alpha": alpha, "beta": beta, "c": c}
    model = loaded(model_class, {name: params[name] for name in model_class.param_names})
    data = pd.DataFrame({"tenure": [float(tenure), float(max(tenure, 1))], "churned": [False, True]})
    survival = model.survival(np.array([t - 1, t]))
    assert 0 <= survival[1] <= survival[0] <= 1
    assert 0 <= model.retention(t) <= 1
    alive = model.probability_alive(data, t=t)
    assert 0 <= alive.iloc[0] <= 1 and alive.iloc[1] == 0
    derl = model.expected_residual_lifetime(data, d)
    assert np.isfinite(derl.iloc[0]) and 0 <= derl.iloc[0] <= (1 + d) / d * (1 + 1e-9) and derl.iloc[1] == 0
    assert np.all(np.isfinite(model.log_likelihood(data))) and np.all(model.log_likelihood(data) <= 1e-12)


@pytest.mark.parametrize("key, model_class", CONTRACTUAL)
def test_likelihood_is_a_distribution_over_tenures(key, model_class):
    model = loaded(model_class, model_class.example_params)
    horizon = 12.0
    churned = pd.DataFrame({"tenure": np.arange(1, horizon + 1), "churned": True})
    survivors = pd.DataFrame({"tenure": [horizon], "churned": [False]})
    total = np.exp(model.log_likelihood(churned)).sum() + np.exp(model.log_likelihood(survivors)).sum()
    assert total == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("key, model_class", CONTRACTUAL)
@pytest.mark.parametrize("column, values, message", [
    ("tenure", [3.0, -1.0], "column 'tenure': 1 row is negative"),
    ("tenure", [3.0, 1.5], "column 'tenure': 1 row is not whole numbers"),
    ("churned", [1.0, 2.0], "column 'churned': 1 row is not 0/1"),
    ("tenure", [3.0, 0.0], "column 'tenure': 1 row is 0 for churned customers"),
    ("tenure", [3.0, np.nan], "column 'tenure': 1 row is missing"),
])
def test_bad_input_is_refused(key, model_class, column, values, message):
    data = pd.DataFrame({"tenure": [3.0, 2.0], "churned": [False, True]})
    data[column] = values
    with pytest.raises(ValueError, match=message):
        model_class().fit(data)


@pytest.mark.parametrize("key, model_class", CONTRACTUAL)
def test_bad_arguments_are_refused(key, model_class):
    model = loaded(model_class, model_class.example_params)
    data = pd.DataFrame({"tenure": [3.0], "churned": [False]})
    with pytest.raises(ValueError, match="discount_rate"):
        model.expected_residual_lifetime(data, 0.0)
    with pytest.raises(ValueError, match=">= 1"):
        model.retention(0)
    with pytest.raises(ValueError, match="whole"):
        model.sample([2.5])
    with pytest.raises(ValueError, match="'churned': is missing"):
        model.probability_alive(data.drop(columns="churned"))
    with pytest.raises(clv.NotFittedError):
        model_class().survival(3)


def test_contractual_family_is_registered_apart():
    from clvmodels._families import model_class

    assert set(clv.registered_models("contractual")) == {"sbg", "bdw"}
    assert not {"sbg", "bdw"} & set(clv.registered_models("transaction"))
    assert model_class("bdw", family="contractual") is clv.BetaDiscreteWeibullModel
    assert issubclass(clv.ShiftedBetaGeoModel, clv.ContractualModel)


@pytest.mark.parametrize("params", [{"alpha": 0.3, "beta": 1.0, "c": 0.5}, {"alpha": 2.0, "beta": 5.0, "c": 1.7}])
def test_bdw_derl_equals_its_series_at_every_tenure(params):
    model = loaded(clv.BetaDiscreteWeibullModel, params)
    tenure = np.array([0.0, 3, 17, 60])
    k = np.arange(0, 20_000)[None, :]
    direct = np.exp(bdw.log_survival(params, tenure[:, None] + 1 + k) - bdw.log_survival(params, tenure[:, None])
                    - k * np.log(1.01)).sum(axis=1)
    data = pd.DataFrame({"tenure": tenure, "churned": False})
    np.testing.assert_allclose(model.expected_residual_lifetime(data, 0.01), direct, rtol=1e-12)


def test_tiny_discount_rates_are_refused():
    model = loaded(clv.ShiftedBetaGeoModel, {"alpha": 0.7, "beta": 1.2})
    with pytest.raises(ValueError, match="discount_rate must be >= 0.0001"):
        model.expected_residual_lifetime(pd.DataFrame({"tenure": [2.0], "churned": [False]}), 1e-6)
