"""Model validation: holdout comparison, tracking and goodness of fit.

Reference values: Fader, Hardie & Lee (2005), "Counting your customers the easy way",
Marketing Science 24(2) (FHL 2005): with BG/NBD fitted on the 39 calibration weeks of
the CDNOW sample, 4,166 repeat transactions are expected by week 78 against 4,339
actual (Figure 2), and the conditional expectations over the 39 holdout weeks sum to
1,653 against 1,882 actual (Figure 4). Parity: lifetimes 0.11.3 at the same
parameters.
"""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

import clvmodels as clv
from clvmodels import bgnbd, evaluation
from clvmodels.exceptions import NotFittedError

CALIBRATION_END, OBSERVATION_END = "1997-09-30", "1998-06-30"


@pytest.fixture(scope="module")
def track(bg, cdnow_sample):
    return evaluation.tracking(
        bg, cdnow_sample, calibration_end=CALIBRATION_END, observation_end=OBSERVATION_END, time_unit="W"
    )


@pytest.fixture(scope="module")
def comparison(bg, gg, split):
    return evaluation.holdout_comparison(bg, split, gg)


def _lifetimes_bg(params):
    from lifetimes import BetaGeoFitter

    model = BetaGeoFitter()
    model.params_ = pd.Series({k: float(params[k]) for k in ("r", "alpha", "a", "b")})
    return model


class LinearModel:
    """A stand-in transaction model: E[X(t)] = rate * t; only what tracking needs."""

    time_unit_ = "D"

    def __init__(self, rate=1.0):
        self.params_ = pd.Series({"rate": rate})

    def expected_purchases_new_customer(self, t):
        return self.params_["rate"] * np.asarray(t, dtype=float)


class PoissonModel:
    """Another stand-in: X(t) ~ Poisson(rate t), one parameter."""

    time_unit_ = "W"

    def __init__(self, rate):
        self.params_ = pd.Series({"rate": rate})

    def probability_of_purchases(self, n, t):
        return stats.poisson.pmf(n, self.params_["rate"] * np.asarray(t, dtype=float))


# ------------------------------------------------------------------ acceptance figures


def test_tracking_week_78_matches_fhl_2005(track):
    row = track.loc[78.0]
    assert row["actual_cumulative"] == 4339
    assert abs(row["expected_cumulative"] - 4166) <= 1
    assert len(track) == 78
    assert track.index[0] == 1.0 and track.index[-1] == 78.0
    assert track.attrs["calibration_end"] == 39.0
    assert track.attrs["observation_end"] == 78.0
    assert track.attrs["start_date"] == "1997-01-01"
    assert track.attrs["n_customers"] == 2357
    # The calibration part of the actual count is the calibration repeat purchases.
    assert track.loc[39.0, "actual_cumulative"] == 2457


def test_holdout_conditional_expectations_match_fhl_2005(comparison):
    assert abs(comparison["predicted_purchases"].sum() - 1653) <= 1
    assert comparison["actual_purchases"].sum() == 1882


# ------------------------------------------------------------------ parity with lifetimes


def test_tracking_equals_lifetimes_expected_cumulative_transactions(bg, cdnow_sample, track):
    from lifetimes.utils import expected_cumulative_transactions

    # lifetimes' "W" is calendar weeks; days with freq_multiplier=7 give days / 7.
    theirs = expected_cumulative_transactions(
        _lifetimes_bg(bg.params_), cdnow_sample, "date", "customer_id", t=78 * 7, freq="D", freq_multiplier=7
    )
    np.testing.assert_array_equal(track["actual_cumulative"].to_numpy(), theirs["actual"].to_numpy())
    np.testing.assert_allclose(track["expected_cumulative"].to_numpy(), theirs["predicted"].to_numpy(), rtol=1e-6)


def test_holdout_comparison_equals_lifetimes(bg, cdnow_sample, comparison):
    from lifetimes.utils import calibration_and_holdout_data

    theirs = calibration_and_holdout_data(
        cdnow_sample, "customer_id", "date", calibration_period_end=CALIBRATION_END,
        observation_period_end=OBSERVATION_END, freq="D", freq_multiplier=7,
        monetary_value_col="amount",  # without it lifetimes 0.11.3 fails on pandas 3
    )
    theirs = theirs.loc[comparison.index]
    np.testing.assert_array_equal(comparison["actual_purchases"], theirs["frequency_holdout"])
    np.testing.assert_array_equal(comparison["frequency"], theirs["frequency_cal"])
    predicted = _lifetimes_bg(bg.params_).conditional_expected_number_of_purchases_up_to_time(
        39.0, theirs["frequency_cal"], theirs["recency_cal"], theirs["T_cal"]
    )
    np.testing.assert_allclose(comparison["predicted_purchases"], predicted, rtol=1e-6)


# ------------------------------------------------------------------ tracking


def test_tracking_incremental_and_cumulative_agree(track):
    np.testing.assert_allclose(track["actual"].cumsum(), track["actual_cumulative"])
    np.testing.assert_allclose(track["expected"].cumsum(), track["expected_cumulative"], rtol=1e-12)
    assert (track["actual"] >= 0).all() and (track["expected"] >= 0).all()


def test_tracking_longer_periods_sample_the_weekly_curve(bg, cdnow_sample, track):
    five = evaluation.tracking(
        bg, cdnow_sample, calibration_end=CALIBRATION_END, observation_end=OBSERVATION_END, period=5
    )
    # 78 weeks in periods of 5: 16 periods, the last one 3 weeks long ending at week 78.
    assert list(five.index) == [5.0 * k for k in range(1, 16)] + [78.0]
    weekly = track.loc[five.index]
    np.testing.assert_allclose(five["expected_cumulative"], weekly["expected_cumulative"], rtol=1e-12)
    np.testing.assert_array_equal(five["actual_cumulative"], weekly["actual_cumulative"])


def test_tracking_does_not_depend_on_the_time_unit(bg, cdnow_sample, track):
    """The same model in days (alpha x 7) tracked in 7-day periods gives the weekly table."""
    record = bg.to_dict()
    record["params"] = {**record["params"], "alpha": record["params"]["alpha"] * 7}
    record["time_unit"] = "D"
    in_days = clv.BetaGeoModel.from_dict(record)
    daily = evaluation.tracking(
        in_days, cdnow_sample, calibration_end=CALIBRATION_END, observation_end=OBSERVATION_END,
        time_unit="D", period=7,
    )
    np.testing.assert_allclose(daily.index.to_numpy() / 7, track.index.to_numpy())
    np.testing.assert_allclose(daily["expected_cumulative"], track["expected_cumulative"], rtol=1e-9)
    np.testing.assert_array_equal(daily["actual_cumulative"], track["actual_cumulative"])
    assert daily.attrs["calibration_end"] == 273.0


def test_tracking_reads_text_dates(bg, cdnow_sample, track):
    text = cdnow_sample.assign(date=cdnow_sample["date"].dt.strftime("%Y%m%d"))
    for ends in (("19970930", "19980630"), (CALIBRATION_END, OBSERVATION_END)):
        table = evaluation.tracking(
            bg, text, calibration_end=ends[0], observation_end=ends[1], datetime_format="%Y%m%d"
        )
        pd.testing.assert_frame_equal(table, track)
    # observation_end=None: up to the last purchase (1998-06-30 in CDNOW).
    pd.testing.assert_frame_equal(
        evaluation.tracking(bg, cdnow_sample, calibration_end=CALIBRATION_END, observation_end=None), track
    )


def test_tracking_by_hand_with_any_model():
    """Two customers; same-day records are one purchase; E[X(t)] = t (in days)."""
    tx = pd.DataFrame(
        {
            "customer_id": ["a", "a", "a", "a", "b", "b", "c"],
            "date": pd.to_datetime(
                ["2020-01-01", "2020-01-01", "2020-01-04", "2020-01-11", "2020-01-03", "2020-01-03", "2020-01-20"]
            ),
        }
    )
    table = evaluation.tracking(
        LinearModel(), tx, calibration_end="2020-01-05", observation_end="2020-01-11", time_unit="D"
    )
    s = np.arange(1.0, 12.0)  # period ends, days since 2020-01-01; c's purchase is after the end
    assert list(table.index) == list(s)
    # a's repeats on days 3 and 10 (counted before s > day); b has none.
    np.testing.assert_array_equal(table["actual_cumulative"], (s > 3).astype(float) + (s > 10))
    np.testing.assert_allclose(table["expected_cumulative"], s + np.maximum(s - 2, 0))
    assert table.attrs["calibration_end"] == 5.0
    assert table.attrs["n_customers"] == 2


def test_tracking_is_vectorised_over_first_purchase_days(bg):
    """200,000 customers over two years: evaluated on distinct first-purchase days, fast."""
    rng = np.random.default_rng(7)
    n = 200_000
    first = rng.integers(0, 365, n)
    second = first + rng.integers(1, 300, n)
    tx = pd.DataFrame(
        {
            "customer_id": np.concatenate([np.arange(n), np.arange(n)]),
            "date": pd.Timestamp("2020-01-01") + pd.to_timedelta(np.concatenate([first, second]), unit="D"),
        }
    )
    table = evaluation.tracking(bg, tx, calibration_end="2020-12-31", observation_end="2021-12-31")
    assert table["actual_cumulative"].iloc[-1] == n
    assert table.attrs["n_customers"] == n
    # By the end each customer is expected to make E[X(730 - first)] repeat purchases.
    direct = bgnbd.expected_purchases_new_customer(bg.params_, (731 - first) / 7).sum()
    np.testing.assert_allclose(table["expected_cumulative"].iloc[-1], direct, rtol=1e-9)


def test_tracking_rejects_bad_inputs(bg, cdnow_sample):
    common = dict(calibration_end=CALIBRATION_END, observation_end=OBSERVATION_END)
    with pytest.raises(ValueError, match="'date'"):
        evaluation.tracking(bg, cdnow_sample.drop(columns="date"), **common)
    with pytest.raises(ValueError, match="'client'"):
        evaluation.tracking(bg, cdnow_sample, customer_col="client", **common)
    with pytest.raises(ValueError, match="time unit mismatch"):
        evaluation.tracking(bg, cdnow_sample, time_unit="D", **common)
    with pytest.raises(ValueError, match="calibration_end 'soon' is not a date"):
        evaluation.tracking(bg, cdnow_sample, calibration_end="soon", observation_end=OBSERVATION_END)
    with pytest.raises(ValueError, match="is after observation_end"):
        evaluation.tracking(bg, cdnow_sample, calibration_end="1998-09-30", observation_end=OBSERVATION_END)
    with pytest.raises(ValueError, match="period"):
        evaluation.tracking(bg, cdnow_sample, period=0, **common)
    broken = cdnow_sample.copy()
    broken["date"] = broken["date"].astype(object)
    broken.loc[[3, 5], "date"] = None
    with pytest.raises(ValueError, match=r"column 'date': 2 rows are missing"):
        evaluation.tracking(bg, broken, **common)
    with pytest.raises(NotFittedError):
        evaluation.tracking(clv.BetaGeoModel(), cdnow_sample, **common)


# ------------------------------------------------------------------ holdout


def test_holdout_comparison_columns(comparison, split, bg, gg):
    assert comparison.index.equals(split.index)
    np.testing.assert_allclose(comparison["probability_alive"], bg.probability_alive(split))
    spend = gg.expected_spend(split)
    np.testing.assert_allclose(comparison["predicted_spend_per_purchase"], spend)
    np.testing.assert_allclose(comparison["predicted_value"], comparison["predicted_purchases"] * spend)
    np.testing.assert_allclose(
        comparison["actual_value"], split["frequency_holdout"] * split["monetary_value_holdout"]
    )
    bought = split["frequency_holdout"] > 0
    assert comparison.loc[~bought, "actual_spend_per_purchase"].isna().all()
    np.testing.assert_allclose(
        comparison.loc[bought, "actual_spend_per_purchase"], split.loc[bought, "monetary_value_holdout"]
    )
    assert comparison.attrs["duration_holdout"] == 39.0
    assert comparison.attrs["time_unit"] == "W"


def test_holdout_comparison_without_spend_model(bg, split):
    table = evaluation.holdout_comparison(bg, split)
    assert list(table.columns) == ["frequency", "probability_alive", "predicted_purchases", "actual_purchases"]


def test_holdout_comparison_with_different_holdout_lengths(bg, split):
    varied = split.copy()
    varied.loc[varied.index[:100], "duration_holdout"] = 10.0
    table = evaluation.holdout_comparison(bg, varied)
    np.testing.assert_allclose(table["predicted_purchases"].iloc[:100], bg.expected_purchases(split.iloc[:100], t=10))
    np.testing.assert_allclose(table["predicted_purchases"].iloc[100:], bg.expected_purchases(split.iloc[100:], t=39))


def test_holdout_metrics_by_hand():
    comparison = pd.DataFrame({"predicted_purchases": [1.0, 2.0, 3.0], "actual_purchases": [1.0, 1.0, 5.0]})
    metrics = evaluation.holdout_metrics(comparison)
    assert metrics["n_customers"] == 3
    assert metrics["total_predicted"] == 6 and metrics["total_actual"] == 7
    assert metrics["mae"] == pytest.approx(1.0)
    assert metrics["rmse"] == pytest.approx(np.sqrt(5 / 3))
    assert metrics["bias"] == pytest.approx(-1 / 3)
    assert metrics["aggregate_error_pct"] == pytest.approx(100 * (6 - 7) / 7)
    assert metrics["msle"] == pytest.approx(np.mean((np.log([2, 3, 4]) - np.log([2, 2, 6])) ** 2))
    assert metrics["correlation"] == pytest.approx(stats.pearsonr([1, 2, 3], [1, 1, 5])[0])
    assert "value_mae" not in metrics.index


def test_holdout_metrics_on_cdnow(comparison):
    metrics = evaluation.holdout_metrics(comparison)
    assert metrics["total_actual"] == 1882
    assert metrics["aggregate_error_pct"] == pytest.approx(100 * (metrics["total_predicted"] - 1882) / 1882)
    assert metrics["bias"] == pytest.approx((metrics["total_predicted"] - 1882) / 2357)
    assert 0.5 < metrics["correlation"] < 0.8
    assert metrics["value_total_actual"] == pytest.approx(comparison["actual_value"].sum())
    assert metrics["spend_n_customers"] == (comparison["actual_purchases"] > 0).sum() == 684


def test_holdout_by_frequency(comparison):
    table = evaluation.holdout_by_frequency(comparison)
    assert list(table.index) == ["0", "1", "2", "3", "4", "5", "6", "7+"]
    assert table["n_customers"].tolist() == [1411, 439, 214, 100, 62, 38, 29, 64]
    # Weighted by group size the means give back the totals.
    assert (table["n_customers"] * table["actual"]).sum() == pytest.approx(1882)
    assert (table["n_customers"] * table["predicted"]).sum() == pytest.approx(comparison["predicted_purchases"].sum())
    zero = comparison["frequency"] == 0
    assert table.loc["0", "actual"] == pytest.approx(comparison.loc[zero, "actual_purchases"].mean())
    # FHL 2005 Figure 4: the model tracks the rising means.
    assert table["predicted"].is_monotonic_increasing
    three = evaluation.holdout_by_frequency(comparison, max_frequency=3)
    assert three["n_customers"].tolist() == [1411, 439, 214, 293]


def test_holdout_inputs_are_checked(bg, gg, split, comparison):
    with pytest.raises(ValueError, match="'frequency_holdout': is missing"):
        evaluation.holdout_comparison(bg, split.drop(columns="frequency_holdout"))
    with pytest.raises(ValueError, match="'duration_holdout': is missing"):
        evaluation.holdout_comparison(bg, split.drop(columns="duration_holdout"))
    with pytest.raises(ValueError, match="'monetary_value_holdout': is missing"):
        evaluation.holdout_comparison(bg, split.drop(columns="monetary_value_holdout"), gg)
    with pytest.raises(ValueError, match="'T': is missing"):
        evaluation.holdout_comparison(bg, split.drop(columns="T"))
    bad = split.copy()
    bad.iloc[:2, bad.columns.get_loc("frequency_holdout")] = -1.0
    with pytest.raises(ValueError, match="'frequency_holdout': 2 rows are negative"):
        evaluation.holdout_comparison(bg, bad)
    with pytest.raises(NotFittedError):
        evaluation.holdout_comparison(clv.BetaGeoModel(), split)
    with pytest.raises(NotFittedError):
        evaluation.holdout_comparison(bg, split, clv.GammaGammaModel())
    with pytest.raises(ValueError, match="'actual_purchases': is missing"):
        evaluation.holdout_metrics(comparison.drop(columns="actual_purchases"))
    with pytest.raises(ValueError, match="'frequency': is missing"):
        evaluation.holdout_by_frequency(comparison.drop(columns="frequency"))
    with pytest.raises(ValueError, match="max_frequency"):
        evaluation.holdout_by_frequency(comparison, max_frequency=2.5)


# ------------------------------------------------------------------ goodness of fit


def test_goodness_of_fit_on_cdnow(bg, split):
    table = evaluation.goodness_of_fit(bg, split)
    assert list(table.index) == ["0", "1", "2", "3", "4", "5", "6", "7+"]
    # FHL 2005 Figure 1: 1,411 customers made no repeat purchase in calibration.
    assert table["observed"].tolist() == [1411, 439, 214, 100, 62, 38, 29, 64]
    assert table["expected"].sum() == pytest.approx(2357, rel=1e-12)
    # Each customer with their own T: the direct (per-customer) sum gives the same.
    T = split["T"].to_numpy()
    for n in range(7):
        direct = bgnbd.probability_of_purchases(bg.params_, n, T).sum()
        assert table["expected"].iloc[n] == pytest.approx(direct, rel=1e-10)
    attrs = table.attrs
    assert attrs["degrees_of_freedom"] == 8 - 1 - 4
    assert attrs["chi_square"] == pytest.approx(((table["observed"] - table["expected"]) ** 2 / table["expected"]).sum())
    assert attrs["p_value"] == pytest.approx(stats.chi2.sf(attrs["chi_square"], 3))
    assert attrs["p_value"] > 0.05  # FHL 2005: the BG/NBD fits the calibration histogram well


def test_goodness_of_fit_on_compressed_rows_equals_full(bg, split):
    full = evaluation.goodness_of_fit(bg, split)
    small = clv.compress(split)
    weighted = evaluation.goodness_of_fit(bg, small, sample_weight="weight")
    np.testing.assert_array_equal(weighted["observed"], full["observed"])
    np.testing.assert_allclose(weighted["expected"], full["expected"], rtol=1e-10)
    assert weighted.attrs["chi_square"] == pytest.approx(full.attrs["chi_square"])


def test_goodness_of_fit_works_with_any_model():
    T = np.array([1.0, 2.0, 2.0, 5.0])
    data = pd.DataFrame({"frequency": [0.0, 1.0, 3.0, 0.0], "recency": [0.0, 0.5, 1.9, 0.0], "T": T})
    table = evaluation.goodness_of_fit(PoissonModel(0.8), data, max_frequency=2)
    expected = [stats.poisson.pmf(0, 0.8 * T).sum(), stats.poisson.pmf(1, 0.8 * T).sum()]
    expected.append(4 - sum(expected))
    np.testing.assert_allclose(table["expected"], expected)
    assert table["observed"].tolist() == [2, 1, 1]
    assert table.attrs["degrees_of_freedom"] == 3 - 1 - 1


@settings(max_examples=40, deadline=None)
@given(
    T=st.lists(st.floats(0.0, 200.0), min_size=1, max_size=40),
    max_frequency=st.integers(1, 12),
)
def test_goodness_of_fit_expected_counts_sum_to_customers(bg, T, max_frequency):
    data = pd.DataFrame({"frequency": np.zeros(len(T)), "recency": np.zeros(len(T)), "T": T})
    data.attrs["time_unit"] = "W"
    table = evaluation.goodness_of_fit(bg, data, max_frequency=max_frequency)
    assert len(table) == max_frequency + 1
    assert table["expected"].sum() == pytest.approx(len(T), rel=1e-9)
    assert (table["expected"] >= 0).all()
    assert table["observed"].sum() == len(T)


def test_goodness_of_fit_inputs_are_checked(bg, split):
    with pytest.raises(ValueError, match="'T': is missing"):
        evaluation.goodness_of_fit(bg, split.drop(columns="T"))
    bad = split.copy()
    bad.iloc[0, bad.columns.get_loc("frequency")] = 1.5
    with pytest.raises(ValueError, match="'frequency': 1 row is not whole numbers"):
        evaluation.goodness_of_fit(bg, bad)
    days = split.copy()
    days.attrs["time_unit"] = "D"
    with pytest.raises(ValueError, match="time unit mismatch"):
        evaluation.goodness_of_fit(bg, days)
    with pytest.raises(ValueError, match="max_frequency"):
        evaluation.goodness_of_fit(bg, split, max_frequency=0)
    with pytest.raises(NotFittedError):
        evaluation.goodness_of_fit(clv.BetaGeoModel(), split)


def test_evaluation_is_exported():
    assert clv.evaluation is evaluation
    assert "evaluation" in clv.__all__
    assert set(evaluation.__all__) == {
        "holdout_comparison", "holdout_metrics", "holdout_by_frequency", "tracking", "goodness_of_fit",
        "compare_models", "interval_coverage", "survival_comparison", "spend_frequency_correlation", "verdict",
        "observed_survival", "holdout_by_pattern", "survival_holdout", "compare_survival_models",
        "covariate_table", "without_covariates",
    }


def test_compare_models_scores_every_model_on_the_same_customers(split):
    bg = clv.BetaGeoModel().fit(split)
    penalised = clv.BetaGeoModel(penalizer=0.1).fit(split)
    table = evaluation.compare_models({"mle": bg, "penalised": penalised}, split)
    assert list(table.index) == ["mle", "penalised"]
    assert table.loc["mle", "log_likelihood"] == pytest.approx(-9582.43, abs=0.01)  # FHL 2005
    # The maximum-likelihood fit has the larger likelihood, so the smaller AIC and BIC.
    assert table.attrs["best"]["log_likelihood"] == "mle"
    assert table.attrs["best"]["aic"] == "mle"
    n = len(split)
    row = table.loc["penalised"]
    assert row["aic"] == pytest.approx(8 - 2 * row["log_likelihood"])
    assert row["bic"] == pytest.approx(4 * np.log(n) - 2 * row["log_likelihood"])
    fit = evaluation.goodness_of_fit(penalised, split)
    metrics = evaluation.holdout_metrics(evaluation.holdout_comparison(penalised, split))
    assert row["chi_square"] == pytest.approx(fit.attrs["chi_square"])
    assert row["mae"] == pytest.approx(metrics["mae"])
    assert row["aggregate_error_pct"] == pytest.approx(metrics["aggregate_error_pct"])


def test_compare_models_labels_and_bad_input(split):
    bg = clv.BetaGeoModel().fit(split)
    table = evaluation.compare_models([bg, bg], split)
    assert list(table.index) == ["BG/NBD", "BG/NBD (2)"]
    with pytest.raises(ValueError, match="at least one"):
        evaluation.compare_models([], split)
    with pytest.raises(clv.NotFittedError):
        evaluation.compare_models([clv.BetaGeoModel()], split)


def test_interval_coverage_on_cdnow(split):
    bg = clv.BetaGeoModel().fit(split)
    table = evaluation.interval_coverage(bg, split, levels=(0.8, 0.9))
    actual = split["frequency_holdout"].to_numpy()
    interval = bg.purchases_interval(split, t=39.0, level=0.9)
    assert table.loc[0.9, "above"] == pytest.approx(np.mean(actual > interval["upper"].to_numpy()))
    assert table.loc[0.9, "below"] + table.loc[0.9, "inside"] + table.loc[0.9, "above"] == pytest.approx(1.0)
    assert table.loc[0.8, "inside"] <= table.loc[0.9, "inside"]
    total = table.attrs["total"]
    assert total["actual"] == actual.sum() == 1882  # FHL 2005: 1,882 holdout purchases
    assert total["lower"] < total["estimate"] < total["upper"]
