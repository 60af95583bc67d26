"""Dates read as the user meant (issue 14): one parser for every entry point.

Day/month-ambiguous text is refused instead of guessed month-first; an error names
the format that reads the first bad value; epoch seconds and milliseconds need an
explicit unit; different UTC offsets are brought to one time zone; a handful of rows
far in the future are named when they would set the default observation end.
"""

import warnings

import numpy as np
import pandas as pd
import pytest

import clvmodels as clv
from clvmodels import evaluation
from clvmodels._validation import Problems, datetime_column, far_future_rows, parse_date, suggest_format
from clvmodels.exceptions import DataWarning


def log(dates, customers=(1, 1, 2, 2, 3)):
    return pd.DataFrame({"customer_id": list(customers)[: len(dates)], "date": list(dates)})


AMBIGUOUS = ["01/02/2020", "03/04/2020", "05/06/2020", "07/08/2020", "09/10/2020"]


@pytest.mark.parametrize("entry", ["rfm_summary", "calibration_holdout_split", "tracking"])
def test_day_month_ambiguous_text_is_refused_everywhere(entry):
    tx = log(AMBIGUOUS)
    with pytest.raises(ValueError, match="ambiguous.*datetime_format.*--date-format") as error:
        if entry == "rfm_summary":
            clv.rfm_summary(tx)
        elif entry == "calibration_holdout_split":
            clv.calibration_holdout_split(tx, calibration_end="2020-06-01")
        else:
            model = clv.BetaGeoModel.from_dict(_bg_record())
            evaluation.tracking(model, tx, calibration_end="2020-06-01", observation_end="2020-12-01", time_unit="W")
    assert "column 'date'" in str(error.value) and "'%d/%m/%Y'" in str(error.value)


def _bg_record():
    model = clv.BetaGeoModel().fit(clv.rfm_summary(clv.datasets.load_cdnow(sample=True), time_unit="W"))
    return model.to_dict()


def test_with_a_format_ambiguous_text_is_read_as_told():
    day_first = clv.rfm_summary(log(AMBIGUOUS), datetime_format="%d/%m/%Y")
    month_first = clv.rfm_summary(log(AMBIGUOUS), datetime_format="%m/%d/%Y")
    # Customer 1: 1 Feb -> 3 Apr (62 days) day-first; 2 Jan -> 4 Mar (62 days) month-first.
    assert day_first.attrs["observation_end"] == "2020-10-09"
    assert month_first.attrs["observation_end"] == "2020-09-10"
    assert day_first.loc[2, "recency"] == (pd.Timestamp("2020-08-07") - pd.Timestamp("2020-06-05")).days


def test_a_day_above_12_settles_the_order():
    rfm = clv.rfm_summary(log(["01/02/2020", "13/04/2020", "05/06/2020"]))
    assert rfm.attrs["observation_end"] == "2020-06-05"
    assert rfm.loc[1, "recency"] == (pd.Timestamp("2020-04-13") - pd.Timestamp("2020-02-01")).days


def test_error_names_the_format_that_reads_the_first_bad_value():
    with pytest.raises(ValueError) as error:
        clv.rfm_summary(log(["2020-01-02", "31/01/2020", "2020-02-01"]), datetime_format="%Y-%m-%d")
    text = str(error.value)
    assert "'31/01/2020'" in text and "'%d/%m/%Y'" in text and "1 row" in text
    with pytest.raises(ValueError, match=r"'2020\.13\.01'"):
        clv.rfm_summary(log(["2020-01-02", "2020.13.01", "2020-02-01"]))
    assert suggest_format("31.01.2020") == ["%d.%m.%Y"]
    assert suggest_format("12/31/2020") == ["%m/%d/%Y"]
    assert suggest_format("not a date") == []


def test_epoch_seconds_and_milliseconds_need_a_unit():
    seconds = [1577836800, 1580515200, 1583020800, 1585699200]  # 2020-01-01, 02-01, 03-01, 04-01 UTC
    with pytest.raises(ValueError, match="epoch seconds.*date_unit='s'"):
        clv.rfm_summary(log(seconds))
    with pytest.raises(ValueError, match="epoch milliseconds.*date_unit='ms'"):
        clv.rfm_summary(log([s * 1000 for s in seconds]))
    by_s = clv.rfm_summary(log(seconds), date_unit="s")
    by_ms = clv.rfm_summary(log([s * 1000 for s in seconds]), date_unit="ms")
    by_text = clv.rfm_summary(log([str(s) for s in seconds]), date_unit="s")  # as a CSV reader gives them
    pd.testing.assert_frame_equal(by_s, by_ms)
    pd.testing.assert_frame_equal(by_s, by_text)
    assert by_s.attrs["observation_end"] == "2020-04-01" and by_s.loc[1, "recency"] == 31.0


def test_epoch_in_the_wrong_unit_is_caught():
    seconds = [1577836800, 1580515200]
    with pytest.raises(ValueError, match="outside the years.*milliseconds"):
        clv.rfm_summary(log([s * 1000 for s in seconds]), date_unit="s")
    with pytest.raises(ValueError, match="outside the years.*seconds"):
        clv.rfm_summary(log(seconds), date_unit="ms")
    with pytest.raises(ValueError, match="date_unit 'us' is not supported"):
        clv.rfm_summary(log(seconds), date_unit="us")


def test_epoch_days_are_counted_in_the_time_zone_given():
    # 2020-01-01 23:30 UTC is already 2 January in Tokyo.
    stamps = [pd.Timestamp("2020-01-01 23:30", tz="UTC").timestamp(), pd.Timestamp("2020-01-03 12:00", tz="UTC").timestamp()]
    utc = clv.rfm_summary(log([int(s) for s in stamps]), date_unit="s")
    tokyo = clv.rfm_summary(log([int(s) for s in stamps]), date_unit="s", timezone="Asia/Tokyo")
    assert utc.loc[1, "recency"] == 2.0 and tokyo.loc[1, "recency"] == 1.0


def test_mixed_utc_offsets_are_converted_before_taking_days():
    # The same instant written with two offsets is one purchase day, whichever zone counts.
    dates = ["2020-01-01T23:30:00+00:00", "2020-01-02T04:30:00+05:00", "2020-01-03T10:00:00-08:00"]
    rfm = clv.rfm_summary(log(dates, customers=(1, 1, 2)))
    assert rfm.loc[1, "frequency"] == 0.0  # one instant, one day
    assert rfm.attrs["observation_end"] == "2020-01-03"
    tokyo = clv.rfm_summary(log(dates, customers=(1, 1, 2)), timezone="Asia/Tokyo")
    assert tokyo.attrs["observation_end"] == "2020-01-04" and tokyo.loc[1, "T"] == 2.0
    with pytest.raises(ValueError, match="timezone 'Mars/Olympus' is not a known time zone"):
        clv.rfm_summary(log(dates, customers=(1, 1, 2)), timezone="Mars/Olympus")


def test_aware_datetime_column_is_converted_to_the_zone_given():
    dates = pd.Series(pd.to_datetime(["2020-01-01 23:30", "2020-01-03 12:00"]).tz_localize("UTC"))
    local = clv.rfm_summary(pd.DataFrame({"customer_id": [1, 1], "date": dates}))
    tokyo = clv.rfm_summary(pd.DataFrame({"customer_id": [1, 1], "date": dates}), timezone="Asia/Tokyo")
    assert local.loc[1, "recency"] == 2.0 and tokyo.loc[1, "recency"] == 1.0


def test_rows_far_in_the_future_are_named_when_observation_end_defaults():
    tx = clv.datasets.load_cdnow(sample=True)
    tx.loc[5, "date"] = pd.Timestamp("2030-01-01")
    customer = tx.loc[5, "customer_id"]
    with pytest.warns(DataWarning, match=rf"1 row is dated far past.*1998-06-30.*customer {customer} on 2030-01-01"):
        rfm = clv.rfm_summary(tx, time_unit="W")
    assert rfm.attrs["observation_end"] == "2030-01-01"  # warned, not changed
    with pytest.warns(DataWarning, match="far past"):
        clv.calibration_holdout_split(tx, time_unit="W", calibration_end="1997-09-30")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clv.rfm_summary(tx, time_unit="W", observation_end="1998-06-30")  # an explicit end: no warning
        clv.rfm_summary(clv.datasets.load_cdnow(sample=True), time_unit="W")  # clean data: no warning


def test_far_future_rows_rule():
    days = np.arange(0, 500)
    assert len(far_future_rows(days, 1)) == 0
    assert far_future_rows(np.append(days, 500 + 2000), 1).tolist() == [500]
    assert len(far_future_rows(np.append(days, 500 + 300), 1)) == 0  # within a year: growth, not an error
    hours = np.arange(0, 24 * 500, 24)
    assert far_future_rows(np.append(hours, 24 * 5000), 24).tolist() == [500]


def test_parse_date_is_the_one_scalar_reader():
    problems = Problems("x")
    assert parse_date("1997-09-30", "observation_end", problems) == pd.Timestamp("1997-09-30")
    assert parse_date("30/09/1997", "observation_end", problems) == pd.Timestamp("1997-09-30")
    assert parse_date("19970930", "observation_end", problems, "%Y%m%d") == pd.Timestamp("1997-09-30")
    assert parse_date("1997-09-30", "observation_end", problems, "%Y%m%d") == pd.Timestamp("1997-09-30")
    assert parse_date(pd.Timestamp("1997-09-30 23:00", tz="UTC"), "e", problems, None, "Asia/Tokyo") == pd.Timestamp(
        "1997-10-01 08:00"
    )
    assert not problems.messages
    assert parse_date("01/02/2020", "observation_end", problems) is None
    assert parse_date(True, "calibration_end", problems) is None
    assert "ambiguous" in problems.messages[0] and "calibration_end True" in problems.messages[1]


def test_iso_text_fast_path_equals_pandas():
    rng = np.random.default_rng(1)
    days = np.datetime64("1997-01-01") + rng.integers(0, 546, 1000)
    seconds = rng.integers(0, 86400, 1000).astype("timedelta64[s]")
    for values in (days.astype(str), (days + seconds).astype(str), np.char.replace((days + seconds).astype(str), "T", " ")):
        frame = pd.DataFrame({"date": pd.Series(values).astype(str)})
        parsed = datetime_column(frame, "date", Problems("t"))
        np.testing.assert_array_equal(parsed, pd.to_datetime(frame["date"], format="ISO8601").to_numpy())
    with_missing = pd.DataFrame({"date": ["1997-01-01", None, "1997-01-03"]})
    problems = Problems("t")
    parsed = datetime_column(with_missing, "date", problems)
    assert problems.messages == ["column 'date': 1 row is missing"] and np.isnat(parsed[1])


def test_numbers_without_format_or_unit_suggest_both():
    with pytest.raises(ValueError, match="pass datetime_format.*'%Y%m%d'.*date_unit"):
        clv.rfm_summary(log([19970101, 19970102, 19970105]))
    rfm = clv.rfm_summary(log([19970101, 19970102, 19970105]), datetime_format="%Y%m%d")
    assert rfm.attrs["observation_end"] == "1997-01-05"


def test_boolean_dates_are_refused():
    with pytest.raises(ValueError, match="true/false"):
        clv.rfm_summary(log([True, False, True]))
