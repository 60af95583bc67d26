import re
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import clvmodels as clv
from clvmodels import data as data_module
from clvmodels._units import DAYS_PER_UNIT

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from lifetimes.utils import calibration_and_holdout_data, summary_data_from_transaction_data

RFM = ["frequency", "recency", "T"]
HYPOTHESIS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def sample():
    return clv.datasets.load_cdnow(sample=True)


@pytest.fixture(scope="module")
def master():
    return clv.datasets.load_cdnow()


def lifetimes_summary(tx, end=None, days=1.0, amount="amount"):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return summary_data_from_transaction_data(
            tx, "customer_id", "date", amount, observation_period_end=end, freq="D", freq_multiplier=days
        )


def lifetimes_split(tx, calibration_end, end, days=1.0):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        split = calibration_and_holdout_data(
            tx, "customer_id", "date", calibration_period_end=calibration_end,
            observation_period_end=end, freq="D", freq_multiplier=days, monetary_value_col="amount",
        )
    return split.rename(columns=lambda c: c.removesuffix("_cal"))


def holdout_spend_per_day(tx, calibration_end, end):
    """Mean holdout amount per purchase day, by plain pandas grouping."""
    days = tx["date"].dt.normalize()
    holdout = tx[(days > calibration_end) & (days <= end)]
    per_day = holdout.groupby(["customer_id", holdout["date"].dt.normalize()])["amount"].sum()
    return per_day.groupby(level="customer_id").mean()


# ------------------------------------------------------------ CDNOW references


class TestCdnowSummary:
    def test_sample_weekly_matches_the_paper(self, sample):
        rfm = clv.rfm_summary(sample, "customer_id", "date", "amount",
                              time_unit="W", observation_end="1997-09-30")
        assert len(rfm) == 2357
        assert (rfm["frequency"] == 0).sum() == 1411
        assert rfm.loc[1, RFM].tolist() == pytest.approx([2, 30.43, 38.86], abs=0.01)
        assert rfm.index.name == "customer_id"
        assert rfm.attrs == {"time_unit": "W", "observation_end": "1997-09-30"}
        assert all(rfm.dtypes == np.float64)

    def test_sample_weekly_equals_lifetimes(self, sample):
        rfm = clv.rfm_summary(sample, "customer_id", "date", "amount",
                              time_unit="W", observation_end="1997-09-30")
        reference = lifetimes_summary(sample, "1997-09-30", days=7)
        pd.testing.assert_frame_equal(rfm, reference, check_exact=False, rtol=0, atol=1e-9,
                                      check_index_type=True)

    def test_master_daily_equals_lifetimes(self, master):
        rfm = clv.rfm_summary(master, "customer_id", "date", "amount", observation_end="1998-06-30")
        reference = lifetimes_summary(master, "1998-06-30")
        assert rfm.index.equals(reference.index)
        assert rfm.index.dtype == reference.index.dtype
        for column in RFM:
            np.testing.assert_array_equal(rfm[column], reference[column], err_msg=column)
        # same sums, added in another order
        np.testing.assert_allclose(rfm["monetary_value"], reference["monetary_value"], rtol=1e-12)

    @pytest.mark.parametrize("unit", ["D", "W", "M", "Q", "Y"])
    def test_every_unit_equals_lifetimes_with_the_same_day_count(self, sample, unit):
        rfm = clv.rfm_summary(sample, amount_col="amount", time_unit=unit, observation_end="1997-12-31")
        reference = lifetimes_summary(sample, "1997-12-31", days=DAYS_PER_UNIT[unit])
        pd.testing.assert_frame_equal(rfm, reference, check_exact=False, rtol=1e-12, atol=1e-12)

    def test_default_observation_end_is_the_last_purchase(self, sample):
        rfm = clv.rfm_summary(sample, time_unit="D")
        assert rfm.attrs["observation_end"] == "1998-06-30"
        pd.testing.assert_frame_equal(rfm, lifetimes_summary(sample, amount=None))
        assert list(rfm.columns) == RFM


@pytest.fixture(scope="module")
def split(sample):
    return clv.calibration_holdout_split(
        sample, "customer_id", "date", "amount",
        calibration_end="1997-09-30", observation_end="1998-06-30", time_unit="W",
    )


class TestCdnowSplit:
    def test_layout(self, split):
        assert list(split.columns) == RFM + [
            "monetary_value", "frequency_holdout", "monetary_value_holdout", "duration_holdout",
        ]
        assert len(split) == 2357
        assert split.attrs == {
            "time_unit": "W", "calibration_end": "1997-09-30", "observation_end": "1998-06-30",
        }
        assert (split["duration_holdout"] == 39).all()

    def test_holdout_purchases_total_matches_fhl_2005(self, split):
        assert split["frequency_holdout"].sum() == 1882

    def test_equals_lifetimes(self, sample, split):
        reference = lifetimes_split(sample, "1997-09-30", "1998-06-30", days=7)
        assert list(split.columns) == list(reference.columns)
        same = split.columns.drop("monetary_value_holdout")
        pd.testing.assert_frame_equal(split[same], reference[same], check_exact=False, rtol=0, atol=1e-9)

    def test_holdout_spend_is_a_mean_per_purchase_day(self, sample, split):
        # lifetimes averages the records instead; the two agree where no holdout day has two records
        expected = holdout_spend_per_day(sample, "1997-09-30", "1998-06-30")
        expected = expected.reindex(split.index, fill_value=0.0)
        np.testing.assert_allclose(split["monetary_value_holdout"], expected, rtol=1e-12)

    def test_calibration_part_equals_rfm_summary(self, sample, split):
        rfm = clv.rfm_summary(sample, amount_col="amount", time_unit="W", observation_end="1997-09-30")
        pd.testing.assert_frame_equal(split[rfm.columns], rfm, check_exact=True)

    def test_master_equals_lifetimes(self, master):
        split = clv.calibration_holdout_split(master, amount_col="amount", calibration_end="1997-12-31")
        reference = lifetimes_split(master, "1997-12-31", None)
        same = split.columns.drop("monetary_value_holdout")
        pd.testing.assert_frame_equal(split[same], reference[same], check_exact=False, rtol=1e-12)
        assert split.attrs["observation_end"] == "1998-06-30"

    def test_customers_first_buying_after_calibration_are_left_out(self):
        tx = transactions([(1, "2020-01-01"), (1, "2020-01-05"), (2, "2020-01-03"), (2, "2020-01-20"),
                           (3, "2020-01-15")])
        split = clv.calibration_holdout_split(tx, calibration_end="2020-01-10", observation_end="2020-01-31")
        assert split.index.tolist() == [1, 2]
        assert split["frequency_holdout"].tolist() == [0, 1]
        assert split["duration_holdout"].tolist() == [21, 21]


# ------------------------------------------------------------ small hand-made logs


def transactions(rows, amounts=None):
    customer, date = zip(*rows)
    tx = pd.DataFrame({"customer_id": list(customer), "date": pd.to_datetime(list(date), format="mixed")})
    if amounts is not None:
        tx["amount"] = np.asarray(amounts, dtype=float)
    return tx


class TestDefinitions:
    def test_same_day_purchases_are_one_and_their_amounts_add_up(self):
        tx = transactions(
            [(7, "2020-01-01 09:00"), (7, "2020-01-01 18:00"), (7, "2020-01-03"), (7, "2020-01-03 12:00"),
             (7, "2020-01-08")],
            amounts=[1, 2, 10, 20, 6],
        )
        rfm = clv.rfm_summary(tx, amount_col="amount")
        assert rfm.loc[7].tolist() == [2, 7, 7, 18]  # repeat days: 30 and 6 -> mean 18

    def test_observation_end_ignores_later_purchases_and_customers(self):
        tx = transactions([(1, "2020-01-01"), (1, "2020-02-01"), (2, "2020-03-01")], amounts=[5, 7, 9])
        rfm = clv.rfm_summary(tx, amount_col="amount", observation_end="2020-01-11")
        assert rfm.index.tolist() == [1]
        assert rfm.loc[1].tolist() == [0, 0, 10, 0]

    def test_observation_end_may_be_after_the_last_purchase(self):
        tx = transactions([(1, "2020-01-01"), (1, "2020-01-02")])
        rfm = clv.rfm_summary(tx, observation_end=pd.Timestamp("2020-01-31 23:59"))
        assert rfm.loc[1].tolist() == [1, 1, 30]

    def test_rows_are_sorted_by_customer_id(self):
        tx = transactions([(30, "2020-01-01"), (10, "2020-01-02"), (20, "2020-01-03"), (10, "2020-01-01")])
        assert clv.rfm_summary(tx).index.tolist() == [10, 20, 30]

    def test_string_ids_sort_like_lifetimes(self):
        tx = transactions([("b", "2020-01-01"), ("a10", "2020-01-02"), ("a9", "2020-01-03"), ("b", "2020-01-05")],
                          amounts=[1, 2, 3, 4])
        rfm = clv.rfm_summary(tx, amount_col="amount")
        assert rfm.index.tolist() == ["a10", "a9", "b"]
        pd.testing.assert_frame_equal(rfm, lifetimes_summary(tx), check_index_type=False)

    @pytest.mark.parametrize("ids", [
        [10**15, 3, 10**15, -7],              # too sparse for the lookup table
        [-5, -3, -5, -4],                      # negative
        np.array([4, 2, 4, 3], dtype=np.uint32),
        np.array([2**63 + 5, 2**63 + 1, 2**63 + 5, 2**63 + 2], dtype=np.uint64),
    ])
    def test_integer_ids_of_any_spread(self, ids):
        tx = pd.DataFrame({"customer_id": ids,
                           "date": pd.to_datetime(["2020-01-01", "2020-01-02", "2020-01-05", "2020-01-03"])})
        rfm = clv.rfm_summary(tx)
        expected = np.sort(np.unique(ids))
        np.testing.assert_array_equal(rfm.index.to_numpy(), expected)
        assert rfm.index.dtype == np.asarray(ids).dtype
        pd.testing.assert_frame_equal(rfm, lifetimes_summary(tx, amount=None), check_index_type=False)

    def test_text_dates_with_and_without_a_format(self):
        tx = pd.DataFrame({"customer_id": [1, 1, 2], "date": ["2020-01-01", "2020-01-08", "2020-01-03"]})
        inferred = clv.rfm_summary(tx, time_unit="W")
        assert inferred.loc[1].tolist() == [1, 1, 1]
        tx["date"] = ["01/01/2020", "08/01/2020", "03/01/2020"]
        pd.testing.assert_frame_equal(clv.rfm_summary(tx, time_unit="W", datetime_format="%d/%m/%Y"), inferred)

    def test_integer_dates_need_a_format(self):
        tx = pd.DataFrame({"customer_id": [1, 1], "date": [20200101, 20200108]})
        rfm = clv.rfm_summary(tx, datetime_format="%Y%m%d", observation_end=20200110)
        assert rfm.loc[1].tolist() == [1, 7, 9]
        with pytest.raises(ValueError, match=r"column 'date': 2 rows are numbers, not dates"):
            clv.rfm_summary(tx)

    def test_time_zone_aware_dates_count_local_days(self):
        tx = transactions([(1, "2020-01-01 23:30"), (1, "2020-01-02 00:30")])
        tx["date"] = tx["date"].dt.tz_localize("America/New_York")
        assert clv.rfm_summary(tx).loc[1].tolist() == [1, 1, 1]

    def test_hours_for_sub_daily_data(self):
        tx = transactions([(1, "2020-01-01 09:10"), (1, "2020-01-01 09:50"), (1, "2020-01-01 13:05"),
                           (2, "2020-01-01 10:00")], amounts=[1, 2, 4, 8])
        rfm = clv.rfm_summary(tx, amount_col="amount", time_unit="H", observation_end="2020-01-01 15:30")
        assert rfm.attrs["time_unit"] == "H"
        assert rfm.attrs["observation_end"] == "2020-01-01T15:00:00"
        assert rfm.loc[1].tolist() == [1, 4, 6, 4]
        assert rfm.loc[2].tolist() == [0, 0, 5, 0]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reference = summary_data_from_transaction_data(
                tx, "customer_id", "date", "amount", observation_period_end="2020-01-01 15:30", freq="h")
        pd.testing.assert_frame_equal(rfm, reference)

    def test_hours_split(self):
        tx = transactions([(1, "2020-01-01 09:10"), (1, "2020-01-01 12:00"), (1, "2020-01-01 12:40")],
                          amounts=[1, 2, 4])
        split = clv.calibration_holdout_split(tx, amount_col="amount", time_unit="H",
                                              calibration_end="2020-01-01 11:59")
        assert split.loc[1].tolist() == [0, 0, 2, 0, 1, 6, 1]

    def test_the_whole_calibration_end_day_is_calibration(self):
        # lifetimes would put the 15:00 purchase in the holdout, yet count the holdout from the next day
        tx = transactions([(1, "2020-01-01"), (1, "2020-01-05 15:00"), (1, "2020-01-08")], amounts=[1, 2, 3])
        split = clv.calibration_holdout_split(tx, amount_col="amount", calibration_end="2020-01-05",
                                              observation_end="2020-01-10")
        assert split.loc[1].tolist() == [1, 4, 4, 2, 1, 3, 5]

    @pytest.mark.parametrize("max_key", [0, 2**30])  # lexsort; argsort of the pair key
    def test_overflow_safe_fallbacks_give_the_same_result(self, sample, monkeypatch, max_key):
        expected = clv.calibration_holdout_split(sample, amount_col="amount", calibration_end="1997-09-30")
        monkeypatch.setattr(data_module, "_MAX_COMBINED_KEY", max_key)
        fallback = clv.calibration_holdout_split(sample, amount_col="amount", calibration_end="1997-09-30")
        pd.testing.assert_frame_equal(fallback, expected, check_exact=True)

    def test_input_is_not_modified(self, sample):
        before = sample.copy()
        clv.calibration_holdout_split(sample, amount_col="amount", calibration_end="1997-09-30")
        pd.testing.assert_frame_equal(sample, before)


# ------------------------------------------------------------ properties

DAY0 = np.datetime64("2020-01-01T00", "h")


@st.composite
def transaction_logs(draw, max_rows=30, sub_daily=False):
    n = draw(st.integers(1, max_rows))
    customers = draw(st.lists(st.integers(0, 8), min_size=n, max_size=n))
    max_tick = 24 * 120 if sub_daily else 120
    ticks = draw(st.lists(st.integers(0, max_tick), min_size=n, max_size=n))
    amounts = draw(st.lists(st.integers(0, 10_000), min_size=n, max_size=n))
    unit = "h" if sub_daily else "D"
    dates = np.datetime64("2020-01-01", unit) + np.asarray(ticks).astype(f"timedelta64[{unit}]")
    return pd.DataFrame({
        "customer_id": customers,
        "date": pd.to_datetime(dates).astype("datetime64[ns]"),
        "amount": np.asarray(amounts) / 100,
    })


@HYPOTHESIS
@given(tx=transaction_logs(), unit=st.sampled_from(["W", "M", "Q", "Y"]))
def test_time_units_only_rescale_times(tx, unit):
    daily = clv.rfm_summary(tx, amount_col="amount", time_unit="D")
    scaled = clv.rfm_summary(tx, amount_col="amount", time_unit=unit)
    assert scaled.index.equals(daily.index)
    np.testing.assert_array_equal(scaled["frequency"], daily["frequency"])
    np.testing.assert_array_equal(scaled["monetary_value"], daily["monetary_value"])
    for column in ["recency", "T"]:
        np.testing.assert_allclose(scaled[column] * DAYS_PER_UNIT[unit], daily[column], rtol=1e-12)


@HYPOTHESIS
@given(tx=transaction_logs(sub_daily=True), unit=st.sampled_from(["H", "D", "W", "M"]))
def test_rfm_tables_are_valid(tx, unit):
    rfm = clv.rfm_summary(tx, amount_col="amount", time_unit=unit)
    frequency = rfm["frequency"].to_numpy()
    assert (frequency >= 0).all() and (frequency == np.round(frequency)).all()
    assert (rfm["recency"] >= 0).all() and (rfm["recency"] <= rfm["T"]).all()
    assert ((frequency > 0) | (rfm["recency"] == 0)).all()
    assert ((frequency > 0) | (rfm["monetary_value"] == 0)).all()
    assert rfm.index.is_monotonic_increasing
    assert set(rfm.index) == set(tx["customer_id"])


@HYPOTHESIS
@given(tx=transaction_logs(sub_daily=True), end=st.integers(0, 130 * 24), unit=st.sampled_from(["H", "D", "W"]))
def test_rfm_summary_equals_lifetimes(tx, end, unit):
    end_date = pd.Timestamp("2020-01-01") + pd.Timedelta(hours=end)
    resolution = "h" if unit == "H" else "D"
    assume(end_date.floor(resolution) >= tx["date"].min().floor(resolution))
    rfm = clv.rfm_summary(tx, amount_col="amount", time_unit=unit, observation_end=end_date)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = summary_data_from_transaction_data(
            tx, "customer_id", "date", "amount", observation_period_end=end_date,
            freq="h" if unit == "H" else "D", freq_multiplier=1 if unit == "H" else DAYS_PER_UNIT[unit])
    pd.testing.assert_frame_equal(rfm, reference, check_exact=False, rtol=1e-12, atol=1e-12)


@HYPOTHESIS
@given(tx=transaction_logs(max_rows=40), calibration=st.integers(0, 100), holdout=st.integers(1, 40))
def test_split_equals_lifetimes(tx, calibration, holdout):
    calibration_end = pd.Timestamp("2020-01-01") + pd.Timedelta(days=calibration)
    end = calibration_end + pd.Timedelta(days=holdout)
    in_holdout = (tx["date"] > calibration_end) & (tx["date"] <= end)
    assume(calibration_end >= tx["date"].min() and in_holdout.any())  # lifetimes refuses an empty holdout
    split = clv.calibration_holdout_split(tx, amount_col="amount", calibration_end=calibration_end,
                                          observation_end=end, time_unit="D")
    reference = lifetimes_split(tx, calibration_end, end)
    same = split.columns.drop("monetary_value_holdout")
    pd.testing.assert_frame_equal(split[same], reference[same], check_exact=False, rtol=1e-12, atol=1e-12,
                                  check_dtype=False)  # lifetimes' holdout frequency is int when nobody lacks one
    expected = holdout_spend_per_day(tx, calibration_end, end).reindex(split.index, fill_value=0.0)
    np.testing.assert_allclose(split["monetary_value_holdout"], expected, rtol=1e-12)


# ------------------------------------------------------------ compress


rfm_like_tables = st.lists(
    st.tuples(st.integers(0, 3), st.integers(0, 4), st.sampled_from([10.0, 38.86, 39.0])), min_size=1, max_size=60
).map(lambda rows: pd.DataFrame(rows, columns=RFM).astype(float))


@HYPOTHESIS
@given(table=rfm_like_tables)
def test_compress_keeps_the_multiset_of_rows(table):
    small = clv.compress(table)
    assert small["weight"].sum() == len(table)
    assert not small[RFM].duplicated().any()
    expanded = small.loc[small.index.repeat(small["weight"]), RFM]
    pd.testing.assert_frame_equal(
        expanded.sort_values(RFM).reset_index(drop=True), table.sort_values(RFM).reset_index(drop=True)
    )
    assert small[RFM].equals(small[RFM].sort_values(RFM))


@HYPOTHESIS
@given(table=rfm_like_tables, data=st.data())
def test_compress_sums_sample_weights(table, data):
    weights = data.draw(st.lists(st.floats(0.5, 3.0), min_size=len(table), max_size=len(table)))
    small = clv.compress(table, sample_weight=weights)
    totals = table.assign(w=weights).groupby(RFM)["w"].sum().reset_index(drop=True)
    np.testing.assert_allclose(small["weight"], totals)


def test_compress_cdnow_keeps_attrs_and_columns(sample):
    rfm = clv.rfm_summary(sample, amount_col="amount", time_unit="W", observation_end="1997-09-30")
    small = clv.compress(rfm, columns=["frequency", "monetary_value"])
    assert list(small.columns) == ["frequency", "monetary_value", "weight"]
    assert small.attrs == rfm.attrs
    assert small["weight"].dtype == np.int64 and small["weight"].sum() == len(rfm)
    assert small.loc[small["frequency"] == 0, "weight"].tolist() == [1411]
    by_weight = clv.compress(rfm.assign(w=2.0), sample_weight="w")
    np.testing.assert_array_equal(by_weight["weight"], 2 * clv.compress(rfm)["weight"])


def test_compress_rejects_bad_input():
    with pytest.raises(ValueError, match=r"column 'recency': is missing"):
        clv.compress(pd.DataFrame({"frequency": [1.0], "T": [2.0]}))
    with pytest.raises(ValueError, match=r"column 'T': 1 row is missing \(NaN\)"):
        clv.compress(pd.DataFrame({"frequency": [1.0, 2.0], "recency": [0.0, 1.0], "T": [2.0, np.nan]}))
    with pytest.raises(ValueError, match=r"0 rows"):
        clv.compress(pd.DataFrame({"frequency": [], "recency": [], "T": []}))
    with pytest.raises(ValueError, match=r"sample_weight"):
        clv.compress(pd.DataFrame({"frequency": [1.0], "recency": [1.0], "T": [2.0]}), sample_weight=[1, 2])


# ------------------------------------------------------------ bad input


def good_log():
    return transactions([(1, "2020-01-01"), (1, "2020-01-05"), (2, "2020-01-02"), (3, "2020-01-03")],
                        amounts=[1.0, 2.0, 3.0, 4.0])


def problem(message):
    return pytest.raises(ValueError, match=re.escape(message))


class TestBadInput:
    @pytest.mark.parametrize("function", ["rfm", "split"])
    def test_one_error_lists_every_problem(self, function):
        tx = good_log()
        tx["customer_id"] = tx["customer_id"].astype(float)
        tx.loc[0, "customer_id"] = np.nan
        tx.loc[1, "date"] = pd.NaT
        tx.loc[2:3, "amount"] = [-1.0, np.inf]
        with pytest.raises(ValueError) as raised:
            if function == "rfm":
                clv.rfm_summary(tx, amount_col="amount", time_unit="fortnight")
            else:
                clv.calibration_holdout_split(tx, amount_col="amount", time_unit="fortnight",
                                              calibration_end="2020-01-02")
        message = str(raised.value)
        assert "invalid transactions (5 problems)" in message
        for expected in ["time_unit 'fortnight' is not supported",
                         "column 'customer_id': 1 row is missing customer ids",
                         "column 'date': 1 row is missing (NaT)",
                         "column 'amount': 1 row is infinite",
                         "column 'amount': 1 row is negative"]:
            assert expected in message

    def test_missing_columns(self):
        tx = good_log().drop(columns=["date"])
        with pytest.raises(ValueError) as raised:
            clv.rfm_summary(tx, amount_col="spend")
        message = str(raised.value)
        assert "column 'date': is missing; the columns are ['customer_id', 'amount']" in message
        assert "column 'spend': is missing" in message

    def test_customer_column_in_the_index(self):
        with problem("column 'customer_id': is missing: it is the index; call reset_index() first"):
            clv.rfm_summary(good_log().set_index("customer_id"))

    def test_empty_input(self):
        with problem("the table is empty (0 rows)"):
            clv.rfm_summary(good_log().iloc[:0])
        with problem("the table is empty (0 rows)"):
            clv.calibration_holdout_split(good_log().iloc[:0], calibration_end="2020-01-02")

    def test_not_a_dataframe(self):
        with pytest.raises(TypeError, match="transactions must be a pandas DataFrame"):
            clv.rfm_summary(good_log().to_dict())

    def test_missing_customer_ids(self):
        tx = good_log().astype({"customer_id": object})
        tx.loc[[0, 2], "customer_id"] = None
        with problem("column 'customer_id': 2 rows are missing customer ids"):
            clv.rfm_summary(tx)

    def test_unparseable_dates(self):
        tx = good_log()
        tx["date"] = ["2020-01-01", "2020-01-05", "soon", "2020-13-45"]
        with problem("column 'date': 2 rows are not dates that can be parsed with format '%Y-%m-%d' "
                     "(the first is 'soon')"):
            clv.rfm_summary(tx, datetime_format="%Y-%m-%d")
        with problem("column 'date': 2 rows are not dates that can be parsed (the first is 'soon')"):
            clv.calibration_holdout_split(tx, calibration_end="2020-01-02")

    def test_missing_text_dates(self):
        tx = good_log()
        tx["date"] = ["2020-01-01", None, "2020-01-02", "2020-01-03"]
        with problem("column 'date': 1 row is missing"):
            clv.rfm_summary(tx)

    @pytest.mark.parametrize("bad, message", [
        (np.nan, "1 row is missing (NaN)"),
        (np.inf, "1 row is infinite"),
        (-3.0, "1 row is negative"),
        ("ten", "1 row is not numbers"),
    ])
    def test_bad_amounts(self, bad, message):
        tx = good_log().astype({"amount": object})
        tx.loc[2, "amount"] = bad
        with problem(f"column 'amount': {message}"):
            clv.rfm_summary(tx, amount_col="amount")
        with problem(f"column 'amount': {message}"):
            clv.calibration_holdout_split(tx, amount_col="amount", calibration_end="2020-01-02")

    def test_unknown_time_unit(self):
        with problem("time_unit 'weeks' is not supported; use one of H, D, W, M, Q, Y"):
            clv.rfm_summary(good_log(), time_unit="weeks")

    def test_lower_case_time_unit_is_accepted(self):
        assert clv.rfm_summary(good_log(), time_unit="w").attrs["time_unit"] == "W"

    def test_observation_end_before_the_first_purchase(self):
        with problem("column 'date': 4 rows are after observation_end 2019-12-31 "
                     "(the first purchase is on 2020-01-01)"):
            clv.rfm_summary(good_log(), observation_end="2019-12-31")
        with problem("column 'date': 4 rows are after calibration_end 2019-12-30"):
            clv.calibration_holdout_split(good_log(), calibration_end="2019-12-30", observation_end="2019-12-31")

    def test_end_dates_that_are_not_dates(self):
        with problem("observation_end 'someday' is not a date"):
            clv.rfm_summary(good_log(), observation_end="someday")
        with problem("calibration_end None is not a date"):
            clv.calibration_holdout_split(good_log(), calibration_end=None)

    def test_calibration_end_before_the_first_purchase(self):
        with problem("column 'date': 4 rows are after calibration_end 2019-12-31"):
            clv.calibration_holdout_split(good_log(), calibration_end="2019-12-31")

    @pytest.mark.parametrize("calibration_end", ["2020-01-05", "2020-01-06"])
    def test_calibration_end_not_before_observation_end(self, calibration_end):
        with problem(f"column 'date': calibration_end {calibration_end} is not before observation_end "
                     "2020-01-05, so there is no holdout period"):
            clv.calibration_holdout_split(good_log(), calibration_end=calibration_end)
