"""discrete_rfm_summary, tenure_summary and tenure_from_survivors."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import clvmodels as clv


def period_of(day, period):
    """A plain-Python calendar period number, the oracle for the vectorised one."""
    if period == "D":
        return day.toordinal()
    if period == "W":
        return (day.toordinal() - 1) // 7  # 0001-01-01 was a Monday: weeks start on Monday
    if period == "M":
        return day.year * 12 + day.month - 1
    if period == "Q":
        return day.year * 4 + (day.month - 1) // 3
    return day.year


def reference_summary(log, period, observation_end):
    end = pd.Timestamp(observation_end).date()
    last = period_of(end + dt.timedelta(days=1), period) - 1
    rows = {}
    for customer, group in log.groupby("customer_id"):
        periods = sorted({period_of(d.date(), period) for d in group["date"]})
        periods = [p for p in periods if p <= last]
        if not periods:
            continue
        born = periods[0]
        rows[customer] = (len(periods) - 1.0, float(periods[-1] - born), float(last - born))
    table = pd.DataFrame.from_dict(rows, orient="index", columns=["frequency", "recency", "n_periods"])
    table.index.name = "customer_id"
    return table.sort_index()


def random_log(seed, n_rows=300):
    rng = np.random.default_rng(seed)
    days = pd.Timestamp("1995-01-01") + pd.to_timedelta(rng.integers(0, 7 * 365, n_rows), unit="D")
    return pd.DataFrame({"customer_id": rng.integers(0, 60, n_rows), "date": days})


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), period=st.sampled_from(["D", "W", "M", "Q", "Y"]),
       end=st.dates(dt.date(1996, 1, 1), dt.date(2003, 6, 30)))
def test_discrete_rfm_summary_matches_a_plain_python_count(seed, period, end):
    log = random_log(seed)
    if period_of(end + dt.timedelta(days=1), period) - 1 < min(period_of(d.date(), period) for d in log["date"]):
        return  # nothing complete by then: covered by the error test
    ours = clv.discrete_rfm_summary(log, period=period, observation_end=end.isoformat())
    expected = reference_summary(log, period, end.isoformat())
    pd.testing.assert_frame_equal(ours, expected, check_names=False, check_index_type=False)
    assert ours.attrs["time_unit"] == period


def test_donations_like_log_gives_the_papers_history():
    # A 1995 donor who gave again in 1996, 1998 and 1999 has x = 3, t_x = 4, n = 6 by 2001.
    log = pd.DataFrame({"customer_id": ["a"] * 5 + ["b"],
                        "date": ["1995-06-01", "1996-02-01", "1996-12-01", "1998-03-03", "1999-07-07", "1995-11-11"]})
    table = clv.discrete_rfm_summary(log, period="Y", observation_end="2001-12-31")
    assert table.loc["a"].to_dict() == {"frequency": 3.0, "recency": 4.0, "n_periods": 6.0}
    assert table.loc["b"].to_dict() == {"frequency": 0.0, "recency": 0.0, "n_periods": 6.0}
    assert table.attrs["observation_end"] == "2001-12-31"
    assert table.attrs["first_period"] == "1995-01-01"
    model = clv.BetaGeoBetaBinomModel.from_dict({
        "format": "clvmodels-model", "params": {"alpha": 1.2, "beta": 0.75, "gamma": 0.66, "delta": 2.8},
        "time_unit": "Y"})
    assert model.probability_alive(table).between(0, 1).all()


def test_a_period_still_running_is_not_counted():
    log = pd.DataFrame({"customer_id": [1, 1], "date": ["2000-05-01", "2001-05-01"]})
    table = clv.discrete_rfm_summary(log, period="Y", observation_end="2001-06-30")
    assert table.loc[1].to_dict() == {"frequency": 0.0, "recency": 0.0, "n_periods": 0.0}
    default = clv.discrete_rfm_summary(log, period="Y")  # the last period is taken as complete
    assert default.loc[1].to_dict() == {"frequency": 1.0, "recency": 1.0, "n_periods": 1.0}


def test_discrete_rfm_summary_bad_input():
    log = pd.DataFrame({"customer_id": [1, None], "date": ["2000-01-01", "not a date"]})
    with pytest.raises(ValueError) as error:
        clv.discrete_rfm_summary(log, period="fortnight")
    message = str(error.value)
    assert "period 'fortnight' is not supported" in message
    assert "column 'customer_id': 1 row is missing customer ids" in message
    assert "column 'date': 1 row is not dates" in message
    with pytest.raises(ValueError, match="after observation_end"):
        clv.discrete_rfm_summary(pd.DataFrame({"customer_id": [1], "date": ["2000-01-01"]}), observation_end="1999-01-01")
    with pytest.raises(ValueError, match="'date': is missing"):
        clv.discrete_rfm_summary(pd.DataFrame({"customer_id": [1], "day": ["2000-01-01"]}))
    with pytest.raises(ValueError, match="no transaction falls in a complete period"):
        clv.discrete_rfm_summary(pd.DataFrame({"customer_id": [1], "date": ["2000-03-01"]}), observation_end="2000-06-01")


# ----- tenure_summary ----------------------------------------------------------------------
def test_tenure_summary_counts_calendar_periods():
    records = pd.DataFrame({
        "customer_id": ["a", "b", "c", "d", "e", "f"],
        "start": ["2024-01-15", "2024-01-15", "2024-02-10", "2024-01-31", "2024-05-01", "2025-02-01"],
        "end": ["2024-04-15", "2024-04-20", None, "2024-01-31", "2026-01-01", None],
    })
    table = clv.tenure_summary(records, period="M", observation_end="2024-12-31")
    assert table["churned"].to_dict() == {"a": True, "b": True, "c": False, "d": True, "e": False}
    # a: ended on its 3rd anniversary (3 periods); b: left during its 4th period; c: 10 renewals
    # (Mar 10 .. Dec 10); d: left on its first day (1 period begun); e: ends after observation.
    assert table["tenure"].to_dict() == {"a": 3.0, "b": 4.0, "c": 10.0, "d": 1.0, "e": 7.0}
    assert table.attrs == {"time_unit": "M", "observation_end": "2024-12-31"}
    yearly = clv.tenure_summary(records, period="Y", observation_end="2026-06-30")
    assert yearly.loc["e"].to_dict() == {"tenure": 2.0, "churned": True}
    assert yearly.loc["c"].to_dict() == {"tenure": 2.0, "churned": False}
    weekly = clv.tenure_summary(records, period="W", observation_end="2024-12-31")
    assert weekly.loc["a", "tenure"] == 13.0  # 91 days


def test_tenure_summary_default_observation_end_and_fit():
    rng = np.random.default_rng(0)
    start = pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 365, 500), unit="D")
    # Churn probabilities vary between customers (mean 0.1): the sBG's interior case.
    months = rng.geometric(rng.beta(2.0, 18.0, 500))
    end = pd.Series([s + pd.DateOffset(months=int(m)) for s, m in zip(start, months)])
    end[end > pd.Timestamp("2022-12-31")] = pd.NaT
    records = pd.DataFrame({"customer_id": np.arange(500), "start": start, "end": end})
    table = clv.tenure_summary(records, period="M", observation_end="2022-12-31")
    churned = table[table["churned"]]
    np.testing.assert_array_equal(churned["tenure"].to_numpy(), months[table["churned"].to_numpy()])
    model = clv.ShiftedBetaGeoModel().fit(table)
    assert model.time_unit_ == "M"
    assert model.survival(1) == pytest.approx(0.9, abs=0.04)


def test_tenure_summary_bad_input():
    records = pd.DataFrame({"customer_id": [1, 1, None], "start": ["2024-01-01", "2024-02-01", "bad"],
                            "end": ["2023-01-01", None, None]})
    with pytest.raises(ValueError) as error:
        clv.tenure_summary(records, period="M")
    message = str(error.value)
    assert "column 'customer_id': 1 row repeat" in message
    assert "column 'customer_id': 1 row is missing" in message
    assert "column 'start': 1 row is not dates" in message
    with pytest.raises(ValueError, match="'end': 1 row is before the start date"):
        clv.tenure_summary(records.iloc[:1], period="M")
    with pytest.raises(ValueError, match="'end': is missing"):
        clv.tenure_summary(records.drop(columns="end"))
    with pytest.raises(ValueError, match="period 'H' is not supported"):
        clv.tenure_summary(records.iloc[1:2], period="H")
    with pytest.raises(ValueError, match="after observation_end"):
        clv.tenure_summary(records.iloc[1:2], period="M", observation_end="2020-01-01")


# ----- tenure_from_survivors ---------------------------------------------------------------
def test_tenure_from_survivors_one_cohort():
    table = clv.tenure_from_survivors([1000, 631, 468, 382, 326, 289, 262, 241], period="Y")
    assert table["weight"].sum() == 1000
    assert table["tenure"].tolist() == [1, 2, 3, 4, 5, 6, 7, 7]
    assert table["churned"].tolist() == [True] * 7 + [False]
    assert table["weight"].tolist() == [369, 163, 86, 56, 37, 27, 21, 241]
    assert table.attrs["time_unit"] == "Y"


def test_tenure_from_survivors_several_cohorts_drops_empty_rows():
    table = clv.tenure_from_survivors({"2019": [100, 80, 80, 70], "2020": [50, 40]})
    assert list(table.columns) == ["cohort", "tenure", "churned", "weight"]
    assert table.groupby("cohort")["weight"].sum().to_dict() == {"2019": 100, "2020": 50}
    assert (table["weight"] > 0).all()
    assert len(table) == 3 + 2


@pytest.mark.parametrize("counts, message", [
    ([1000], "at least two counts"),
    ([1000, 1100], "greater than the count a period earlier"),
    ([1000, -5], "negative"),
    ([0, 0], "cohort size of 0"),
    ([1000, np.nan], "not finite"),
    ({"a": [10, 5], "b": [3]}, "cohort 'b'"),
])
def test_tenure_from_survivors_bad_input(counts, message):
    with pytest.raises(ValueError, match=message):
        clv.tenure_from_survivors(counts)
