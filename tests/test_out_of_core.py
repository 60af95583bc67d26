"""Out-of-core summaries of Parquet datasets with DuckDB (issue 13): the pandas tables exactly."""

import sys

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("duckdb")
pytest.importorskip("pyarrow")

import clvmodels as clv  # noqa: E402
from clvmodels import _duckdb, cli  # noqa: E402

CALIBRATION_END, OBSERVATION_END = "1997-09-30", "1998-06-30"
RTOL = 1e-12


def write_dataset(log, directory, n_files=5):
    directory.mkdir(parents=True)
    for i, rows in enumerate(np.array_split(np.arange(len(log)), n_files)):
        log.iloc[rows].to_parquet(directory / f"part-{i}.parquet", index=False)
    return directory


@pytest.fixture(scope="module")
def shuffled_log(cdnow_sample):
    return cdnow_sample.sample(frac=1.0, random_state=11).reset_index(drop=True)


@pytest.fixture(scope="module")
def lake(tmp_path_factory, shuffled_log):
    """The shuffled CDNOW sample in 5 Parquet files: customers spread over the files."""
    return write_dataset(shuffled_log, tmp_path_factory.mktemp("lake") / "tx")


def assert_tables_equal(got, expected):
    assert got.attrs == expected.attrs
    pd.testing.assert_index_equal(got.index, expected.index, exact=False)
    assert list(got.columns) == list(expected.columns)
    for column in expected.columns:
        if column.startswith("monetary"):
            np.testing.assert_allclose(got[column].to_numpy(), expected[column].to_numpy(), rtol=RTOL, atol=0)
        else:
            np.testing.assert_array_equal(got[column].to_numpy(), expected[column].to_numpy())


@pytest.mark.parametrize("amount_col", ["amount", None])
@pytest.mark.parametrize("form", ["directory", "glob"])
def test_rfm_summary_equals_pandas(shuffled_log, lake, amount_col, form):
    source = lake if form == "directory" else f"{lake}/*.parquet"
    expected = clv.rfm_summary(shuffled_log, amount_col=amount_col, time_unit="W", observation_end=CALIBRATION_END)
    result = clv.rfm_summary(source, amount_col=amount_col, time_unit="W", observation_end=CALIBRATION_END,
                             engine="duckdb")
    assert isinstance(result, pd.DataFrame)
    assert_tables_equal(result, expected)


@pytest.mark.parametrize("amount_col", ["amount", None])
def test_calibration_holdout_split_equals_pandas(shuffled_log, lake, amount_col):
    options = dict(amount_col=amount_col, time_unit="W", calibration_end=CALIBRATION_END,
                   observation_end=OBSERVATION_END)
    expected = clv.calibration_holdout_split(shuffled_log, **options)
    result = clv.calibration_holdout_split(lake, engine="duckdb", **options)
    assert_tables_equal(result, expected)


def test_text_ids_text_dates_and_hours_equal_pandas(tmp_path):
    rng = np.random.default_rng(4)
    n = 4_000
    stamps = np.datetime64("2021-03-01T00:00") + rng.integers(0, 60 * 24 * 60, n).astype("timedelta64[m]")
    log = pd.DataFrame({
        "who": np.char.add("c", rng.integers(0, 500, n).astype(str)).astype(object),
        "when": pd.Series(stamps).dt.strftime("%d/%m/%Y %H:%M"),
        "paid": rng.gamma(2.0, 10.0, n).round(2),
    })
    source = write_dataset(log, tmp_path / "tx", n_files=3)
    for unit in ("H", "D", "M"):
        expected = clv.rfm_summary(log, "who", "when", "paid", time_unit=unit, datetime_format="%d/%m/%Y %H:%M")
        result = clv.rfm_summary(source, "who", "when", "paid", time_unit=unit, datetime_format="%d/%m/%Y %H:%M",
                                 engine="duckdb")
        assert_tables_equal(result, expected)


def test_fits_and_scores_from_the_out_of_core_table_equal_pandas(shuffled_log, lake):
    expected = clv.rfm_summary(shuffled_log, amount_col="amount", time_unit="W", observation_end=CALIBRATION_END)
    result = clv.rfm_summary(lake, amount_col="amount", time_unit="W", observation_end=CALIBRATION_END,
                             engine="duckdb")
    for model in (clv.BetaGeoModel, clv.GammaGammaModel):
        np.testing.assert_allclose(model().fit(result).params_, model().fit(expected).params_, rtol=1e-9)
    bg, gg = clv.BetaGeoModel().fit(expected), clv.GammaGammaModel().fit(expected)
    value = clv.customer_lifetime_value(bg, gg, result, horizon=12, period="M", discount_rate=0.01)
    np.testing.assert_allclose(
        value, clv.customer_lifetime_value(bg, gg, expected, horizon=12, period="M", discount_rate=0.01), rtol=RTOL)


@pytest.fixture(scope="module")
def busy_log():
    """160,000 purchases of 20,000 customers (BG/NBD-like: rates and lifetimes vary), often
    several a day, with unrounded amounts: sums whose last bits depend on their order."""
    rng = np.random.default_rng(13)
    n, customers = 160_000, 20_000
    rate = rng.gamma(0.7, 1.0, customers)
    who = rng.choice(customers, n, p=rate / rate.sum())
    start, life = rng.integers(0, 150, customers), rng.exponential(rng.gamma(0.6, 150.0, customers))
    days = np.minimum(start[who] + (rng.random(n) * life[who]).astype(int), 200)
    log = pd.DataFrame({
        "customer_id": who,
        "date": np.datetime64("2022-01-01") + days.astype("timedelta64[D]"),
        "amount": rng.gamma(3.0, 7.0, n) * rng.gamma(1.5, 1 / 1.5, customers)[who],  # spend heterogeneity: q ~ 1.5
    })
    return log.iloc[rng.permutation(n)].reset_index(drop=True)


def test_fits_on_a_log_in_many_files_equal_pandas_to_1e12(busy_log, tmp_path):
    source = write_dataset(busy_log, tmp_path / "tx", n_files=40)
    expected = clv.rfm_summary(busy_log, amount_col="amount", time_unit="W")
    result = clv.rfm_summary(source, amount_col="amount", time_unit="W", engine="duckdb")
    assert_tables_equal(result, expected)
    for model in (clv.BetaGeoModel, clv.GammaGammaModel):
        np.testing.assert_allclose(model().fit(result).params_, model().fit(expected).params_, rtol=1e-12, atol=0)


def test_a_converged_fit_does_not_move_with_the_last_bits_of_the_data(busy_log):
    """Monetary values one ulp away (another summation order) give the same fit to 1e-12:
    the optimiser polishes to rounding level instead of stopping at a gradient tolerance."""
    rfm = clv.rfm_summary(busy_log, amount_col="amount", time_unit="W")
    nudged = rfm.copy()
    rng = np.random.default_rng(5)
    chosen = rng.random(len(rfm)) < 0.4
    direction = np.where(rng.random(len(rfm)) < 0.5, np.inf, -np.inf)
    values = nudged["monetary_value"].to_numpy()
    nudged["monetary_value"] = np.where(chosen & (values > 0), np.nextafter(values, direction), values)
    assert (nudged["monetary_value"] != rfm["monetary_value"]).sum() > 1000
    fits = [clv.GammaGammaModel().fit(table) for table in (rfm, nudged)]
    np.testing.assert_allclose(fits[1].params_, fits[0].params_, rtol=1e-12, atol=0)
    assert fits[0].gradient_norm_ < 1e-12


def test_bad_input_is_one_error_with_counts_over_all_files(shuffled_log, lake, tmp_path):
    log = shuffled_log.copy()
    log.loc[[1, 2_000, 6_000], "amount"] = -5.0
    log.loc[[7], "customer_id"] = None
    log["customer_id"] = log["customer_id"].astype("Int64")
    source = write_dataset(log, tmp_path / "tx")
    with pytest.raises(ValueError) as error:
        clv.rfm_summary(source, amount_col="amount", engine="duckdb")
    message = str(error.value)
    assert "column 'amount': 3 rows are negative" in message
    assert "column 'customer_id': 1 row is missing customer ids" in message
    with pytest.raises(ValueError, match="column 'spend'.*missing"):
        clv.rfm_summary(source, amount_col="spend", engine="duckdb")
    with pytest.raises(ValueError, match="no Parquet files"):
        clv.rfm_summary(tmp_path / "nothing-here", engine="duckdb")
    with pytest.raises(ValueError, match="not before observation_end"):
        clv.calibration_holdout_split(lake, calibration_end="1998-06-30", observation_end="1998-01-01",
                                      engine="duckdb")


def test_unparseable_text_dates_are_counted(tmp_path):
    log = pd.DataFrame({"customer_id": [1, 1, 2], "date": ["2020-01-01", "yesterday", "2020-01-05"]})
    source = write_dataset(log, tmp_path / "tx", n_files=1)
    with pytest.raises(ValueError, match=r"column 'date': 1 row is not dates that can be parsed \(ISO 8601"):
        clv.rfm_summary(source, engine="duckdb")


def test_missing_duckdb_names_the_extra(monkeypatch, lake):
    monkeypatch.setitem(sys.modules, "duckdb", None)
    with pytest.raises(ImportError, match=r"pip install 'clvmodels\[duckdb\]'"):
        clv.rfm_summary(lake, engine="duckdb")


def test_cli_duckdb_engine_equals_pandas_engine(lake, tmp_path):
    common = ["forecast", str(lake), "--amount-col", "amount", "--time-unit", "W", "--quiet"]
    assert cli.main([*common, "--out", str(tmp_path / "pandas.parquet")]) == 0
    assert cli.main([*common, "--engine", "duckdb", "--out", str(tmp_path / "duck.parquet")]) == 0
    assert cli.main([*common, "--engine", "duckdb", "--out", str(tmp_path / "duck") + "/"]) == 0
    expected = pd.read_parquet(tmp_path / "pandas.parquet")
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "duck.parquet"), expected, check_exact=False, rtol=RTOL)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "duck"), expected, check_exact=False, rtol=RTOL)


def nan_for_one_time_buyers(self, data, t):
    """expected_purchases made NaN wherever frequency is 0, as broken parameters would."""
    return pd.Series(np.where(data["frequency"].to_numpy() == 0, np.nan, 1.0), index=data.index)


def test_cli_duckdb_dataset_with_non_finite_predictions_writes_nothing(shuffled_log, lake, tmp_path, monkeypatch,
                                                                      capsys):
    from clvmodels import _cli_engines

    monkeypatch.setattr(_cli_engines, "SCORE_CHUNK_ROWS", 500)  # several chunks, the counts summed over them
    monkeypatch.setattr(clv.BetaGeoModel, "expected_purchases", nan_for_one_time_buyers)
    rfm = clv.rfm_summary(shuffled_log, amount_col="amount", time_unit="W")
    out = tmp_path / "forecast"
    status = cli.main(["forecast", str(lake), "--amount-col", "amount", "--time-unit", "W", "--engine", "duckdb",
                       "--out", str(out) + "/", "--quiet"])
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert status == 1
    n_bad = int((rfm["frequency"] == 0).sum())
    assert f"column 'expected_purchases': {n_bad:,} of {len(rfm):,} rows are NaN or infinite" in error
    assert "nothing written" in error
    assert list(tmp_path.iterdir()) == []  # no dataset, no temporary directory


def test_parquet_files_are_found_in_every_form(lake):
    files = _duckdb.parquet_files(lake)
    assert len(files) == 5
    assert _duckdb.parquet_files(f"{lake}/part-*.parquet") == files
    assert _duckdb.parquet_files(files[0]) == files[:1]
