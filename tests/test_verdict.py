"""evaluation.verdict: each check graded pass / warn / fail at its thresholds, on constructed inputs.

The inputs are the tables the validation functions return (goodness_of_fit's attrs,
holdout_metrics, holdout_by_frequency, spend_frequency_correlation), built by hand
so each threshold is crossed on purpose; one test runs the real chain on CDNOW.
"""

import numpy as np
import pandas as pd
import pytest

import clvmodels as clv
from clvmodels import evaluation
from clvmodels.evaluation import VERDICT_THRESHOLDS, spend_frequency_correlation, verdict


def fit_table(p_value, n_customers=2_000, min_expected=20.0):
    table = pd.DataFrame({"observed": [1, 2], "expected": [1.0, 2.0], "chi_square": [0.0, 0.0]})
    table.attrs.update(chi_square=7.5, degrees_of_freedom=3, p_value=p_value, n_customers=n_customers,
                       min_expected=min_expected)
    return table


def metrics(error_pct):
    actual = 1_000.0
    return pd.Series({"aggregate_error_pct": error_pct, "total_actual": actual,
                      "total_predicted": actual * (1 + error_pct / 100)})


def by_frequency(predicted, actual, counts=None):
    counts = counts or [100] * len(actual)
    labels = [str(n) for n in range(len(actual) - 1)] + [f"{len(actual) - 1}+"]
    return pd.DataFrame({"n_customers": counts, "actual": actual, "predicted": predicted},
                        index=pd.Index(labels, name="frequency"))


def correlation(r, n=500):
    return pd.Series({"correlation": r, "n_customers": float(n)})


@pytest.mark.parametrize("p_value, status", [
    (0.5, "pass"), (0.05, "pass"), (0.049, "warn"), (0.01, "warn"), (0.0099, "fail"), (1e-12, "fail"),
])
def test_calibration_fit_thresholds(p_value, status):
    table = verdict(fit=fit_table(p_value))
    assert table.index.tolist() == ["calibration fit"]
    row = table.loc["calibration fit"]
    assert row["status"] == status and row["value"] == p_value
    assert row["pass_if"] == "p >= 0.05" and row["warn_if"] == "0.01 <= p < 0.05"
    assert f"p = {p_value:.3g}" in row["finding"]
    assert row["finding"].startswith({"pass": "Yes", "warn": "Roughly", "fail": "No"}[status])


def test_calibration_fit_notes_large_samples_small_counts_and_no_test():
    row = verdict(fit=fit_table(1e-6, n_customers=20_000, min_expected=2.0)).loc["calibration fit"]
    assert "even small departures are significant" in row["finding"] and "below 5" in row["finding"]
    row = verdict(fit=fit_table(np.nan)).loc["calibration fit"]
    assert row["status"] == "warn" and row["finding"].startswith("Not tested")


@pytest.mark.parametrize("error, status", [
    (0.0, "pass"), (-10.0, "pass"), (10.0, "pass"), (12.0, "warn"), (-25.0, "warn"), (-25.1, "fail"), (60.0, "fail"),
])
def test_holdout_total_thresholds(error, status):
    row = verdict(metrics=metrics(error)).loc["holdout total"]
    assert row["status"] == status and row["value"] == error
    assert f"({error:+.1f}%)" in row["finding"]


@pytest.mark.parametrize("worst, status", [(0.9, "pass"), (1.2, "pass"), (0.7, "warn"), (1.4, "warn"),
                                           (0.59, "fail"), (2.0, "fail")])
def test_holdout_by_frequency_thresholds(worst, status):
    # Group "2" is off by the factor `worst`; the others are exact.
    table = by_frequency(predicted=[0.2, 0.8, 1.5 * worst, 3.0], actual=[0.2, 0.8, 1.5, 3.0])
    row = verdict(by_frequency=table).loc["holdout by frequency"]
    assert row["status"] == status
    assert row["value"] == pytest.approx(100 * (worst - 1))
    assert "calibration frequency 2:" in row["finding"]


def test_holdout_by_frequency_ignores_small_groups_and_groups_without_purchases():
    table = by_frequency(predicted=[0.0, 0.5, 5.0, 3.0], actual=[0.0, 0.5, 1.0, 3.0], counts=[200, 100, 29, 50])
    row = verdict(by_frequency=table).loc["holdout by frequency"]
    assert row["status"] == "pass" and row["value"] == 0.0  # the 29-customer group is off by 400%, but small
    row = verdict(by_frequency=table, min_group=20).loc["holdout by frequency"]
    assert row["status"] == "fail" and row["value"] == pytest.approx(400.0)
    empty = by_frequency(predicted=[0.1, 0.5], actual=[0.0, 0.5], counts=[100, 10])
    row = verdict(by_frequency=empty).loc["holdout by frequency"]
    assert row["status"] == "warn" and row["finding"].startswith("Not tested")


@pytest.mark.parametrize("r, status", [(0.0, "pass"), (-0.2, "pass"), (0.25, "warn"), (-0.4, "warn"),
                                       (0.41, "fail"), (-0.9, "fail")])
def test_spend_independence_thresholds(r, status):
    row = verdict(spend_correlation=correlation(r)).loc["spend independence"]
    assert row["status"] == status and row["value"] == r
    assert row["pass_if"] == "|r| <= 0.2" and row["warn_if"] == "|r| <= 0.4"


def test_spend_correlation_uses_repeat_buyers_with_spend():
    data = pd.DataFrame({"frequency": [0, 0, 1, 2, 3, 4, 5], "monetary_value": [0, 0, 10, 20, 30, 40, 0.0]})
    result = spend_frequency_correlation(data)
    assert result["n_customers"] == 4 and result["correlation"] == pytest.approx(1.0)
    too_few = spend_frequency_correlation(data.iloc[:4])
    assert too_few["n_customers"] == 2 and np.isnan(too_few["correlation"])
    row = verdict(spend_correlation=too_few).loc["spend independence"]
    assert row["status"] == "warn" and row["finding"].startswith("Not tested")
    with pytest.raises(ValueError, match="monetary_value"):
        spend_frequency_correlation(data[["frequency"]])


def test_custom_thresholds_and_bad_ones():
    assert verdict(metrics=metrics(12.0), thresholds={"aggregate_error_pct": (15, 30)}).iloc[0]["status"] == "pass"
    table = verdict(fit=fit_table(0.02), thresholds={"p_value": (0.01, 0.001)})
    assert table.iloc[0]["status"] == "pass" and table.attrs["thresholds"]["p_value"] == (0.01, 0.001)
    assert table.attrs["thresholds"]["spend_correlation"] == VERDICT_THRESHOLDS["spend_correlation"]
    with pytest.raises(ValueError, match="unknown check 'rmse'"):
        verdict(thresholds={"rmse": (1, 2)})
    with pytest.raises(ValueError, match="good side"):
        verdict(thresholds={"aggregate_error_pct": (30, 10)})
    with pytest.raises(ValueError, match="good side"):
        verdict(thresholds={"p_value": (0.01, 0.05)})
    with pytest.raises(ValueError, match="min_group"):
        verdict(min_group=0)


def test_no_inputs_no_checks():
    table = verdict()
    assert table.empty and list(table.columns) == ["question", "statistic", "value", "pass_if", "warn_if",
                                                    "status", "finding"]


def test_verdict_on_the_cdnow_sample(split):
    """The real chain: FHL 2005's BG/NBD on the sample fits calibration (p = 0.185), under-forecasts the
    holdout by 12% (warn), and spend is nearly independent of frequency (FHL 2005b report r = 0.11)."""
    bg = clv.BetaGeoModel().fit(split)
    comparison = evaluation.holdout_comparison(bg, split)
    table = verdict(evaluation.goodness_of_fit(bg, split), evaluation.holdout_metrics(comparison),
                    evaluation.holdout_by_frequency(comparison), spend_frequency_correlation(split))
    assert table["status"].to_dict() == {"calibration fit": "pass", "holdout total": "warn",
                                         "holdout by frequency": "warn", "spend independence": "pass"}
    assert table.loc["calibration fit", "value"] == pytest.approx(0.1854, abs=1e-3)
    assert table.loc["holdout total", "value"] == pytest.approx(100 * (1653.4 / 1882 - 1), abs=0.05)
    assert table.loc["spend independence", "value"] == pytest.approx(0.11, abs=0.01)
