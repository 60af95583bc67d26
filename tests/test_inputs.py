"""Transaction tables a hostile user (or a careless export) gives rfm_summary (issue 14):
each is handled exactly or refused with one ValueError naming the column."""

import numpy as np
import pandas as pd
import pytest

import clvmodels as clv

DATES = ["2020-01-01", "2020-02-01", "2020-01-05", "2020-03-01"]


@pytest.mark.parametrize("dtype, ids", [
    (np.int8, [-100, -100, 100, 100]),
    (np.int16, [-30000, -30000, 30000, 30000]),
    (np.uint8, [250, 250, 3, 3]),
    (np.uint64, [2**64 - 1, 2**64 - 1, 2**64 - 5, 2**64 - 5]),
])
def test_small_integer_ids_do_not_overflow(dtype, ids):
    frame = pd.DataFrame({"customer_id": np.array(ids, dtype=dtype), "date": DATES})
    rfm = clv.rfm_summary(frame)
    assert rfm.index.dtype == dtype
    assert sorted(rfm.index.tolist()) == sorted(set(ids))
    first = rfm.loc[ids[0]]
    assert first["frequency"] == 1.0 and first["recency"] == 31.0
    expected = clv.rfm_summary(frame.assign(customer_id=frame["customer_id"].astype(str)))
    assert sorted(rfm["recency"]) == sorted(expected["recency"])


def test_ids_of_mixed_types_are_refused():
    frame = pd.DataFrame({"customer_id": [1, "1", 2, 2], "date": DATES})
    with pytest.raises(ValueError, match=r"column 'customer_id': 1 row is of another type.*int in 3, str in 1"):
        clv.rfm_summary(frame)
    with pytest.raises(ValueError, match="mixed types"):
        clv.calibration_holdout_split(frame, calibration_end="2020-01-20")
    # Numbers of two types are one id: 1 and 1.0 are the same customer.
    same = clv.rfm_summary(pd.DataFrame({"customer_id": [1, 1.0, 2, 2], "date": DATES}))
    assert len(same) == 2 and same["frequency"].tolist() == [1.0, 1.0]


def test_amounts_whose_daily_sum_overflows_are_an_error():
    frame = pd.DataFrame({"customer_id": [1, 1, 2, 2], "date": ["2020-01-01", "2020-01-01", "2020-01-05", "2020-03-01"],
                          "amount": [1e308, 1e308, 1.0, 2.0]})
    with pytest.raises(ValueError, match="column 'amount'.*sum to more than the largest float"):
        clv.rfm_summary(frame, amount_col="amount")
    with pytest.raises(ValueError, match="largest float"):
        clv.calibration_holdout_split(frame, amount_col="amount", calibration_end="2020-01-10")
    fine = clv.rfm_summary(frame.assign(amount=[1e307, 1e307, 1.0, 2.0]), amount_col="amount")
    assert np.isfinite(fine.to_numpy()).all()


@pytest.mark.parametrize("columns, repeated", [
    (["customer_id", "customer_id", "date", "amount"], "customer_id"),
    (["customer_id", "date", "date", "amount"], "date"),
    (["customer_id", "date", "amount", "amount"], "amount"),
])
def test_duplicate_column_names_are_refused(columns, repeated):
    frame = pd.DataFrame([[1, "2020-01-01", "2020-01-02", 3.0], [2, "2020-01-03", "2020-01-04", 4.0]], columns=columns)
    with pytest.raises(ValueError, match=f"column '{repeated}': appears 2 times"):
        clv.rfm_summary(frame, amount_col="amount")
