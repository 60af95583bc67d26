"""The shared engine: summaries, persistence, not-fitted and bad-input errors."""

import json

import numpy as np
import pandas as pd
import pytest

import clvmodels as clv
from clvmodels._arrays import compress_rows


@pytest.fixture(scope="module")
def models(bg, gg):
    return bg, gg


def test_summary_intervals_on_log_scale(models):
    for model in models:
        table = model.summary()
        se_log = table["std_error"] / table["estimate"]
        np.testing.assert_allclose(table["upper_95"] / table["estimate"], np.exp(1.959963984540054 * se_log))
        assert (table["lower_95"] > 0).all()
        assert table.attrs["log_likelihood"] == model.log_likelihood_


@pytest.mark.parametrize("index", [0, 1])
def test_save_and_load_round_trip(models, rfm, tmp_path, index):
    model = models[index]
    path = model.save(tmp_path / "model.json", metadata={"job": "nightly"})
    record = json.loads(path.read_text())
    assert record["format"] == "clvmodels-model" and record["model"] == type(model).__name__
    assert "frequency" not in path.read_text()  # parameters only, no customer data
    loaded = clv.load_model(path)
    assert type(loaded) is type(model)
    pd.testing.assert_series_equal(loaded.params_, model.params_)
    pd.testing.assert_frame_equal(loaded.summary(), model.summary())
    assert loaded.time_unit_ == model.time_unit_ and loaded.metadata_ == {"job": "nightly"}
    if index == 0:
        pd.testing.assert_series_equal(loaded.probability_alive(rfm), model.probability_alive(rfm))


@pytest.mark.parametrize(
    "content, message",
    [
        ("not json at all", "not valid JSON"),
        ('{"r": 1}', "not a clvmodels model file"),
        ("[1, 2]", "not a clvmodels model file"),
        ('{"format": "clvmodels-model", "format_version": 1, "model": "Nope", "params": {}}', "unknown model 'Nope'"),
        ('{"format": "clvmodels-model", "format_version": 99, "model": "BetaGeoModel"}', "newer clvmodels"),
        ('{"format": "clvmodels-model", "format_version": 1, "model": "BetaGeoModel", "params": {"r": 1}}', "needs parameters"),
        ('{"format": "clvmodels-model", "format_version": 1, "model": "BetaGeoModel",'
         ' "params": {"r": 1, "alpha": -2, "a": 1, "b": 1}}', "parameter 'alpha' must be a finite number > 0"),
    ],
)
def test_load_refuses_foreign_files(tmp_path, content, message):
    path = tmp_path / "model.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=message):
        clv.load_model(path)


def test_methods_before_fit_raise_not_fitted(rfm):
    for call in (
        lambda: clv.BetaGeoModel().expected_purchases(rfm, t=1),
        lambda: clv.BetaGeoModel().summary(),
        lambda: clv.BetaGeoModel().expected_purchases_new_customer(1),
        lambda: clv.GammaGammaModel().expected_spend(rfm),
        lambda: clv.BetaGeoModel().save("x.json"),
    ):
        with pytest.raises(clv.NotFittedError, match="not fitted yet"):
            call()


def rfm_table(**columns):
    base = {"frequency": [0.0, 1.0, 2.0, 3.0], "recency": [0.0, 1.0, 2.0, 3.0], "T": [5.0, 5.0, 5.0, 5.0],
            "monetary_value": [0.0, 10.0, 20.0, 30.0]}
    base.update(columns)
    return pd.DataFrame(base)


BAD_RFM = [
    (rfm_table().drop(columns="recency"), "column 'recency': is missing"),
    (rfm_table(frequency=[0.0, np.nan, 2.0, 3.0]), "column 'frequency': 1 row is missing"),
    (rfm_table(T=[5.0, np.inf, 5.0, np.inf]), "column 'T': 2 rows are infinite"),
    (rfm_table(frequency=[0.0, -1.0, 2.0, 3.0]), "column 'frequency': 1 row is negative"),
    (rfm_table(frequency=[0.0, 1.5, 2.0, 3.5]), "column 'frequency': 2 rows are not whole numbers"),
    (rfm_table(recency=[0.0, 1.0, 6.0, 3.0]), "column 'recency': 1 row is greater than T"),
    (rfm_table(recency=[1.0, 1.0, 2.0, 3.0]), "column 'recency': 1 row is non-zero where frequency is 0"),
    (rfm_table(recency=["a", 1.0, 2.0, 3.0]), "column 'recency': 1 row is not numbers"),
    (rfm_table().iloc[:0], "empty"),
]


@pytest.mark.parametrize("data, message", BAD_RFM)
def test_bad_rfm_input_names_column_problem_and_rows(data, message, models):
    bg, gg = models
    for call in (lambda: clv.BetaGeoModel().fit(data), lambda: bg.probability_alive(data), lambda: bg.expected_purchases(data, 1)):
        with pytest.raises(ValueError, match=message.replace("(", r"\(")):
            call()


def test_all_problems_reported_together():
    data = rfm_table(frequency=[0.0, -1.0, 2.0, 3.0], T=[5.0, 5.0, 1.0, np.nan])
    with pytest.raises(ValueError, match=r"3 problems") as error:
        clv.BetaGeoModel().fit(data)
    assert "frequency" in str(error.value) and "'T'" in str(error.value) and "recency" in str(error.value)


def test_negative_monetary_value_rejected():
    with pytest.raises(ValueError, match="column 'monetary_value': 1 row is negative"):
        clv.GammaGammaModel().fit(rfm_table(monetary_value=[0.0, -10.0, 20.0, 30.0]))


@pytest.mark.parametrize(
    "weights, message",
    [([1, 2, 3], "3 weights for 4 rows"), ([1, -1, 1, 1], "1 row is negative"), ([0, 0, 0, 0], "all 4 weights are zero"),
     ("missing", "column 'missing' is missing"), ([1, np.nan, 1, 1], "1 row is missing")],
)
def test_bad_sample_weight(weights, message):
    with pytest.raises(ValueError, match=message):
        clv.BetaGeoModel().fit(rfm_table(), sample_weight=weights)


@pytest.mark.parametrize("kwargs", [{"penalizer": -1.0}, {"penalizer": float("nan")}, {"max_iter": 0}])
def test_bad_settings(kwargs):
    with pytest.raises(ValueError):
        clv.BetaGeoModel(**kwargs).fit(rfm_table())


def test_bad_prediction_arguments(models, rfm):
    bg = models[0]
    with pytest.raises(ValueError, match="t must be"):
        bg.expected_purchases(rfm, t=-1)
    with pytest.raises(ValueError, match="whole number"):
        bg.probability_of_purchases(1.5, 10)
    with pytest.raises(ValueError, match="negative"):
        bg.expected_purchases_new_customer([1.0, -2.0])


def test_compress_rows_keeps_first_rows_and_sums_weights():
    columns = {"a": np.array([1.0, 2.0, 1.0, 1.0, 3.0]), "b": np.array([0.0, 0.0, 0.0, 1.0, 0.0])}
    unique, counts = compress_rows(columns, np.array([1.0, 2.0, 3.0, 4.0, 5.0]))
    np.testing.assert_array_equal(unique["a"], [1.0, 2.0, 1.0, 3.0])
    np.testing.assert_array_equal(unique["b"], [0.0, 0.0, 1.0, 0.0])
    np.testing.assert_array_equal(counts, [4.0, 2.0, 4.0, 5.0])


def test_repr(models):
    assert "BetaGeoModel" in repr(models[0]) and "log-likelihood=-9582.43" in repr(models[0])
    assert repr(clv.BetaGeoModel()) == "BetaGeoModel(penalizer=0.0)"


def test_numeric_derivatives_give_the_analytic_fit(rfm, bg):
    """A model that declares only its log-likelihood is fitted by finite differences to
    the same estimate and standard errors as the analytic derivatives give."""
    import types

    from clvmodels import bgnbd

    class LikelihoodOnlyBetaGeo(clv.BetaGeoModel):
        key = None  # not registered for the CLI
        formulas = types.SimpleNamespace(
            **{name: getattr(bgnbd, name) for name in dir(bgnbd) if not name.startswith("_")
               and name not in ("prepare", "derivatives")}
        )

    numeric = LikelihoodOnlyBetaGeo().fit(rfm)
    np.testing.assert_allclose(numeric.params_, bg.params_, rtol=1e-6)
    np.testing.assert_allclose(numeric.log_likelihood_, bg.log_likelihood_, rtol=1e-10)
    np.testing.assert_allclose(numeric.standard_errors_, bg.standard_errors_, rtol=1e-4)
