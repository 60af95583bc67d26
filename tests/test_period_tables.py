"""The tables behind the CLI and report of the models counted in periods:
discrete_rfm_summary's amounts, censor_tenure, evaluation.observed_survival (Kaplan-Meier),
evaluation.holdout_by_pattern and the kind of each registered model."""

import numpy as np
import pandas as pd
import pytest
from periods_data import bgbb_log, subscriptions

import clvmodels as clv
from clvmodels import evaluation
from clvmodels._families import model_kind

# Fader & Hardie (2007), the "regular" segment: survivors of 1,000 after 0..7 years.
REGULAR = [1000, 631, 468, 382, 326, 289, 262, 241]


# ----- discrete_rfm_summary with amounts ---------------------------------------------------
def test_discrete_summary_amounts_are_the_mean_of_the_repeat_periods():
    log = pd.DataFrame({
        "customer_id": [1, 1, 1, 1, 2, 3, 3],
        "date": ["2001-03-01", "2002-05-01", "2002-07-01", "2004-01-09", "2002-07-01", "2003-02-01", "2005-02-01"],
        "amount": [10.0, 20.0, 5.0, 40.0, 7.0, 3.0, 9.0],
    })
    table = clv.discrete_rfm_summary(log, amount_col="amount", period="Y", observation_end="2004-12-31")
    # Customer 1: repeat years 2002 (20 + 5, one period) and 2004 (40): mean 32.5; 2: none;
    # 3: its 2005 transaction is after the observation end.
    assert table["monetary_value"].tolist() == [32.5, 0.0, 0.0]
    assert table["frequency"].tolist() == [2.0, 0.0, 0.0]
    without = clv.discrete_rfm_summary(log, period="Y", observation_end="2004-12-31")
    pd.testing.assert_frame_equal(table.drop(columns="monetary_value"), without)
    gg = clv.GammaGammaModel()  # the table is what Gamma-Gamma fits
    assert set(gg.rfm_columns) <= set(table.columns)


def test_discrete_summary_amounts_bad_input():
    log = pd.DataFrame({"customer_id": [1, 1], "date": ["2001-03-01", "2002-03-01"], "amount": [1.0, -2.0]})
    with pytest.raises(ValueError, match=r"'amount'.*negative"):
        clv.discrete_rfm_summary(log, amount_col="amount", period="Y")
    with pytest.raises(ValueError, match="'price'"):
        clv.discrete_rfm_summary(log, amount_col="price", period="Y")
    log["amount"] = [1e308, 1e308]
    with pytest.raises(ValueError, match="largest float"):
        clv.discrete_rfm_summary(log.assign(date=["2001-03-01", "2001-04-01"]), amount_col="amount", period="Y")


# ----- censor_tenure ------------------------------------------------------------------------
def test_censor_tenure_keeps_what_was_known_after_the_first_periods():
    table = pd.DataFrame({"tenure": [1.0, 3.0, 4.0, 4.0, 9.0], "churned": [True, True, True, False, False],
                          "weight": [5, 4, 3, 2, 1]})
    table.attrs["time_unit"] = "M"
    censored = clv.censor_tenure(table, 3)
    assert censored["tenure"].tolist() == [1.0, 3.0, 3.0, 3.0, 3.0]
    assert censored["churned"].tolist() == [True, True, False, False, False]
    assert censored["weight"].tolist() == [5, 4, 3, 2, 1]
    assert censored.attrs == {"time_unit": "M", "calibration_periods": 3}
    assert table["tenure"].tolist() == [1.0, 3.0, 4.0, 4.0, 9.0]  # the input is left alone
    # Censoring the survivor counts after k periods gives the counts cut at k.
    full = clv.tenure_from_survivors(REGULAR)
    cut = clv.censor_tenure(full, 4)
    short = evaluation.observed_survival(cut, sample_weight="weight")
    np.testing.assert_allclose(short["survivors"], REGULAR[:5], rtol=1e-12)


@pytest.mark.parametrize("periods", [0, -1, 2.5, "3", None, True, np.nan])
def test_censor_tenure_rejects_bad_periods(periods):
    with pytest.raises(ValueError, match="periods must be a whole number"):
        clv.censor_tenure(pd.DataFrame({"tenure": [1.0], "churned": [True]}), periods)


def test_censor_tenure_names_a_missing_column():
    with pytest.raises(ValueError, match="'churned'"):
        clv.censor_tenure(pd.DataFrame({"tenure": [1.0]}), 2)


# ----- observed_survival ------------------------------------------------------------------
def test_observed_survival_of_one_cohort_is_its_survivor_counts():
    table = clv.tenure_from_survivors(REGULAR, period="Y")
    observed = evaluation.observed_survival(table, sample_weight="weight")
    np.testing.assert_allclose(observed["survivors"], REGULAR, rtol=1e-12)
    assert observed["at_risk"].tolist() == [1000.0, 1000.0, *map(float, REGULAR[1:-1])]
    assert observed["churned"].tolist() == [0.0, *(float(a - b) for a, b in zip(REGULAR, REGULAR[1:]))]
    assert observed.attrs == {"n_customers": 1000.0, "time_unit": "Y"}
    # survival_comparison takes them as they are (Fader & Hardie 2007 fit).
    sbg = clv.ShiftedBetaGeoModel().fit(table, sample_weight="weight")
    check = evaluation.survival_comparison(sbg, observed["survivors"])
    np.testing.assert_allclose(check["observed_survivors"], REGULAR)


def test_observed_survival_counts_late_starters_only_while_seen():
    """Kaplan-Meier by hand: 4 customers; A churned in period 1, B active after 1 renewal,
    C churned in period 2, D active after 3 renewals."""
    table = pd.DataFrame({"tenure": [1.0, 1.0, 2.0, 3.0], "churned": [True, False, True, False]})
    observed = evaluation.observed_survival(table)
    assert observed["at_risk"].tolist() == [4.0, 4.0, 2.0, 1.0]
    np.testing.assert_allclose(observed["survival"], [1.0, 0.75, 0.75 * 0.5, 0.75 * 0.5])
    np.testing.assert_allclose(observed["survivors"], 4 * observed["survival"])
    # Unweighted rows equal rows with weights.
    compressed = pd.DataFrame({"tenure": [1.0, 2.0, 3.0, 1.0], "churned": [True, True, False, False],
                               "w": [1, 1, 1, 1]})
    pd.testing.assert_frame_equal(evaluation.observed_survival(compressed, sample_weight="w"), observed)


def test_observed_survival_approaches_the_simulating_model():
    """Simulation: the Kaplan-Meier curve of sBG draws with staggered starts is close to
    the true S(t) = B(alpha, beta + t) / B(alpha, beta)."""
    from scipy.special import betaln

    records, end = subscriptions(n_customers=20_000, seed=5)
    table = clv.tenure_summary(records.replace("", None), period="M", observation_end=end)
    observed = evaluation.observed_survival(table)
    t = np.arange(0, 25)
    truth = np.exp(betaln(0.7, 1.2 + t) - betaln(0.7, 1.2))
    np.testing.assert_allclose(observed["survival"].to_numpy()[:25], truth, atol=0.012)


def test_observed_survival_bad_input():
    with pytest.raises(ValueError, match="'tenure'"):
        evaluation.observed_survival(pd.DataFrame({"churned": [True]}))
    with pytest.raises(ValueError, match=r"'tenure'.*whole numbers"):
        evaluation.observed_survival(pd.DataFrame({"tenure": [1.5], "churned": [True]}))
    with pytest.raises(ValueError, match=r"'tenure'.*0 for churned"):
        evaluation.observed_survival(pd.DataFrame({"tenure": [0.0], "churned": [True]}))
    with pytest.raises(ValueError, match="'churned'"):
        evaluation.observed_survival(pd.DataFrame({"tenure": [1.0], "churned": [2]}))


# ----- holdout_by_pattern -------------------------------------------------------------------
def test_holdout_by_pattern_groups_the_holdout_comparison():
    log = bgbb_log(n_customers=800, seed=3, amounts=False)
    split = clv.discrete_calibration_holdout_split(log, period="Y", calibration_end="2015-12-31",
                                                   observation_end="2019-12-31")
    model = clv.BetaGeoBetaBinomModel().fit(split)
    comparison = evaluation.holdout_comparison(model, split)
    patterns = evaluation.holdout_by_pattern(model, split)
    assert patterns.index.names == ["frequency", "recency", "n_periods"]
    assert patterns["n_customers"].sum() == len(split)
    assert patterns["actual_total"].sum() == comparison["actual_purchases"].sum()
    assert patterns["predicted_total"].sum() == pytest.approx(comparison["predicted_purchases"].sum(), rel=1e-12)
    assert len(patterns) == len(split[["frequency", "recency", "n_periods"]].drop_duplicates())
    # One pattern by hand: its customers' mean holdout transactions and their shared P(alive).
    x, t_x, n = patterns.index[len(patterns) // 2]
    rows = (split["frequency"] == x) & (split["recency"] == t_x) & (split["n_periods"] == n)
    row = patterns.loc[(x, t_x, n)]
    assert row["actual"] == pytest.approx(split.loc[rows, "frequency_holdout"].mean())
    assert row["probability_alive"] == pytest.approx(comparison.loc[rows, "probability_alive"].iloc[0])
    assert row["predicted"] == pytest.approx(comparison.loc[rows, "predicted_purchases"].mean())


def test_models_are_sorted_into_kinds_by_their_columns():
    kinds = {key: model_kind(cls) for key, cls in {**clv.registered_models("transaction"),
                                                    **clv.registered_models("contractual")}.items()}
    assert kinds["bgnbd"] == kinds["pnbd"] == "continuous"
    assert kinds["bgbb"] == "discrete"
    assert kinds["sbg"] == kinds["bdw"] == "contractual"
    assert model_kind(clv.GammaGammaModel) is None


# ----- the bundled simulated subscriptions ---------------------------------------------------
def test_shipped_subscriptions_are_the_documented_simulation():
    """datasets.load_subscriptions() is tests/periods_data.shipped_subscriptions() (BdW draws,
    fixed seed), and a BdW fit recovers the parameters it was drawn from within 2 standard errors."""
    from periods_data import SHIPPED_BDW, SHIPPED_OBSERVATION_END, shipped_subscriptions

    records = clv.datasets.load_subscriptions()
    assert records.attrs == {"observation_end": SHIPPED_OBSERVATION_END}
    assert list(records.columns) == ["customer_id", "start", "end"]
    assert records["start"].dtype == "datetime64[ns]" and records["end"].dtype == "datetime64[ns]"
    drawn = shipped_subscriptions()
    np.testing.assert_array_equal(records["customer_id"], drawn["customer_id"])
    assert (records["start"].dt.strftime("%Y-%m-%d") == drawn["start"]).all()
    assert (records["end"].dt.strftime("%Y-%m-%d").fillna("") == drawn["end"]).all()
    table = clv.tenure_summary(records, period="M", observation_end=records.attrs["observation_end"])
    bdw = clv.BetaDiscreteWeibullModel().fit(table)
    summary = bdw.summary()
    for name, value in SHIPPED_BDW.items():
        assert abs(summary.loc[name, "estimate"] - value) < 2 * summary.loc[name, "std_error"], name
    assert clv.datasets.load_subscriptions() is not records  # a fresh table each call


# ----- survival_holdout and compare_survival_models ----------------------------------------
def test_survival_holdout_cuts_where_too_few_are_at_risk():
    records, end = subscriptions(n_customers=1500, seed=1)
    table = clv.tenure_summary(records.replace("", None), period="M", observation_end=end)
    sbg = clv.ShiftedBetaGeoModel().fit(clv.censor_tenure(table, 10))
    holdout = evaluation.survival_holdout(sbg, table, 10)
    observed = evaluation.observed_survival(table)
    last = int(np.flatnonzero(observed["at_risk"] >= 30)[-1])
    assert holdout.index[-1] == last and holdout.attrs["calibration_periods"] == 10
    np.testing.assert_allclose(holdout["observed_survivors"], observed["survivors"][: last + 1])
    np.testing.assert_array_equal(holdout["at_risk"], observed["at_risk"][: last + 1])
    np.testing.assert_allclose(holdout["expected_survival"], sbg.survival(np.arange(last + 1)))
    errors = np.abs(holdout["expected_survivors"] - holdout["observed_survivors"]) / holdout["observed_survivors"]
    assert holdout.attrs["holdout_mape"] == pytest.approx(100 * errors[holdout["holdout"]].mean())
    # With a higher bar, still at least one period after the calibration.
    assert evaluation.survival_holdout(sbg, table, 10, min_at_risk=10**6).index[-1] == 11


def test_compare_survival_models_prefers_the_model_that_drew_the_data():
    """Simulation: on the BdW-drawn bundled subscriptions, BdW (3 parameters) beats the sBG on
    AIC, BIC and the later survival; the columns are the documented formulas."""
    records = clv.datasets.load_subscriptions()
    table = clv.tenure_summary(records, period="M", observation_end=records.attrs["observation_end"])
    first = clv.censor_tenure(table, 12)
    sbg, bdw = clv.ShiftedBetaGeoModel().fit(first), clv.BetaDiscreteWeibullModel().fit(first)
    comparison = evaluation.compare_survival_models({"sBG": sbg, "BdW": bdw}, table, 12)
    assert comparison.attrs["best"] == {"log_likelihood": "BdW", "aic": "BdW", "bic": "BdW", "holdout_mape": "BdW"}
    row = comparison.loc["sBG"]
    assert row["log_likelihood"] == pytest.approx(sbg.log_likelihood_)
    assert row["aic"] == pytest.approx(4 - 2 * sbg.log_likelihood_)
    assert row["bic"] == pytest.approx(2 * np.log(len(table)) - 2 * sbg.log_likelihood_)
    assert row["holdout_mape"] == pytest.approx(evaluation.survival_holdout(sbg, table, 12).attrs["holdout_mape"])
    with pytest.raises(ValueError, match="at least one fitted model"):
        evaluation.compare_survival_models([], table, 12)
