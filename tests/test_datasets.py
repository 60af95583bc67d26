import numpy as np
import pandas as pd
import pytest

from clvmodels import datasets

COLUMNS = ["customer_id", "date", "quantity", "amount"]


@pytest.fixture(scope="module")
def master():
    return datasets.load_cdnow()


@pytest.fixture(scope="module")
def sample():
    return datasets.load_cdnow(sample=True)


def test_master_has_every_purchase_of_the_cohort(master):
    assert list(master.columns) == COLUMNS
    assert len(master) == 69_659
    assert master["customer_id"].nunique() == 23_570
    assert master["date"].min() == pd.Timestamp("1997-01-01")
    assert master["date"].max() == pd.Timestamp("1998-06-30")


def test_sample_uses_the_papers_customer_ids(sample):
    assert list(sample.columns) == COLUMNS
    assert len(sample) == 6_919
    ids = np.sort(sample["customer_id"].unique())
    np.testing.assert_array_equal(ids, np.arange(1, 2358))


@pytest.mark.parametrize("sample_flag", [False, True])
def test_column_types(sample_flag):
    table = datasets.load_cdnow(sample=sample_flag)
    assert table["customer_id"].dtype == np.int64
    assert table["date"].dtype == "datetime64[ns]"
    assert table["quantity"].dtype == np.int64
    assert table["amount"].dtype == np.float64
    assert table.notna().all().all()
    assert (table["date"] == table["date"].dt.normalize()).all()


def test_first_records_match_the_files(master, sample):
    assert master.iloc[0].tolist() == [1, pd.Timestamp("1997-01-01"), 1, 11.77]
    # sample customer 1 is master customer 4
    assert sample.iloc[0].tolist() == [1, pd.Timestamp("1997-01-01"), 2, 29.33]
    master_4 = master.loc[master["customer_id"] == 4, COLUMNS[1:]].reset_index(drop=True)
    sample_1 = sample.loc[sample["customer_id"] == 1, COLUMNS[1:]].reset_index(drop=True)
    pd.testing.assert_frame_equal(master_4, sample_1)


def test_each_call_returns_a_fresh_table():
    first = datasets.load_cdnow(sample=True)
    first.loc[0, "amount"] = -1.0
    assert datasets.load_cdnow(sample=True).loc[0, "amount"] == 29.33
