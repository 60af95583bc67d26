"""Transaction logs on Dask (issue 13): the same tables, fits and scores as the pandas path.

Runs on one session-scoped ``distributed.LocalCluster`` of 2 workers x 1 thread. The
workers are threads of this process (``processes=False``): it starts in about a
second on a loaded CI machine and lets a test make one worker task fail; that no
model object travels in a task graph is checked on the graph itself.
"""

import sys

import numpy as np
import pandas as pd
import pytest

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")

import clvmodels as clv  # noqa: E402
from clvmodels import _base, _cli_engines, _dask, cli, partitioned  # noqa: E402

CALIBRATION_END, OBSERVATION_END = "1997-09-30", "1998-06-30"
RTOL = 1e-12


@pytest.fixture(scope="session")
def client():
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0", silence_logs=50,
    )
    with distributed.Client(cluster) as session:
        yield session
    cluster.close()


@pytest.fixture(scope="module", autouse=True)
def summaries_in_several_partitions():
    """Summaries of these small logs cut into several partitions, as a large log's are."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_dask, "ROWS_PER_PARTITION", 700)
        yield


@pytest.fixture(scope="session")
def shuffled_log(cdnow_sample):
    """The CDNOW sample in random row order: every customer's purchases in several partitions."""
    return cdnow_sample.sample(frac=1.0, random_state=7).reset_index(drop=True)


def spread(log, npartitions=9):
    return dd.from_pandas(log, npartitions=npartitions, sort=False)


def assert_tables_equal(got, expected):
    """Same customers, order, columns and attrs; counts and times identical; money to 1e-12."""
    assert got.attrs == expected.attrs
    pd.testing.assert_index_equal(got.index, expected.index, exact=False)
    assert list(got.columns) == list(expected.columns)
    for column in expected.columns:
        if column.startswith("monetary"):
            np.testing.assert_allclose(got[column].to_numpy(), expected[column].to_numpy(), rtol=RTOL, atol=0)
        else:
            np.testing.assert_array_equal(got[column].to_numpy(), expected[column].to_numpy())


def test_customers_are_spread_over_partitions(shuffled_log):
    parts = spread(shuffled_log).to_delayed()
    owners = [set(part.compute()["customer_id"]) for part in parts]
    assert sum(1 for ids in owners if 1 in ids) >= 2 or sum(len(ids) for ids in owners) > 2 * 2357


@pytest.mark.parametrize("amount_col", ["amount", None])
def test_rfm_summary_equals_pandas(client, shuffled_log, amount_col):
    expected = clv.rfm_summary(shuffled_log, amount_col=amount_col, time_unit="W", observation_end=CALIBRATION_END)
    result = clv.rfm_summary(spread(shuffled_log), amount_col=amount_col, time_unit="W",
                             observation_end=CALIBRATION_END)
    assert _dask.is_dask_collection(result) and result.known_divisions
    assert result.npartitions == _dask.output_partitions(len(shuffled_log)) > 5
    assert_tables_equal(result.compute(), expected)


@pytest.mark.parametrize("amount_col", ["amount", None])
def test_calibration_holdout_split_equals_pandas(client, shuffled_log, amount_col):
    options = dict(amount_col=amount_col, time_unit="W", calibration_end=CALIBRATION_END,
                   observation_end=OBSERVATION_END)
    expected = clv.calibration_holdout_split(shuffled_log, **options)
    result = clv.calibration_holdout_split(spread(shuffled_log, 11), **options).compute()
    assert_tables_equal(result, expected)


def test_text_ids_hours_and_default_end_equal_pandas(client):
    rng = np.random.default_rng(3)
    n = 3_000
    log = pd.DataFrame({
        "who": np.char.add("c", rng.integers(0, 400, n).astype(str)).astype(object),
        "when": (np.datetime64("2021-01-01T00:00") + rng.integers(0, 90 * 24 * 60, n).astype("timedelta64[m]")),
        "paid": rng.gamma(2.0, 10.0, n).round(2),
    })
    for unit in ("H", "D"):
        expected = clv.rfm_summary(log, "who", "when", "paid", time_unit=unit)
        result = clv.rfm_summary(spread(log, 6), "who", "when", "paid", time_unit=unit).compute()
        assert_tables_equal(result, expected)


def test_text_dates_with_a_format_equal_pandas(client, shuffled_log):
    log = shuffled_log.assign(date=shuffled_log["date"].dt.strftime("%Y%m%d"))
    expected = clv.rfm_summary(log, amount_col="amount", time_unit="D", datetime_format="%Y%m%d",
                               observation_end="19970930")
    result = clv.rfm_summary(spread(log), amount_col="amount", time_unit="D", datetime_format="%Y%m%d",
                             observation_end="19970930").compute()
    assert_tables_equal(result, expected)


@pytest.fixture(scope="module")
def tables(client, shuffled_log):
    pandas_rfm = clv.rfm_summary(shuffled_log, amount_col="amount", time_unit="W", observation_end=CALIBRATION_END)
    dask_rfm = clv.rfm_summary(spread(shuffled_log), amount_col="amount", time_unit="W",
                               observation_end=CALIBRATION_END).persist()
    return pandas_rfm, dask_rfm


def test_fits_equal_pandas(tables):
    pandas_rfm, dask_rfm = tables
    for model in (clv.BetaGeoModel, clv.GammaGammaModel):
        expected, result = model().fit(pandas_rfm), model().fit(dask_rfm)
        np.testing.assert_allclose(result.params_, expected.params_, rtol=1e-9)
        assert result.log_likelihood_ == pytest.approx(expected.log_likelihood_, rel=1e-12)
        assert result.n_customers_ == expected.n_customers_
        assert result.time_unit_ == "W"
    # the published CDNOW estimates (FHL 2005) come out of the cluster too
    assert clv.BetaGeoModel().fit(dask_rfm).params_.round(4).to_dict() == {
        "r": 0.2426, "alpha": 4.4136, "a": 0.7929, "b": 2.4259}


def test_fit_takes_a_weight_column(tables):
    pandas_rfm, dask_rfm = tables
    small = clv.compress(pandas_rfm, ["frequency", "recency", "T"])
    weighted = clv.BetaGeoModel().fit(dd.from_pandas(small, npartitions=3), sample_weight="weight")
    np.testing.assert_allclose(weighted.params_, clv.BetaGeoModel().fit(pandas_rfm).params_, rtol=1e-9)
    with pytest.raises(TypeError, match="name of one of its columns"):
        clv.BetaGeoModel().fit(dask_rfm, sample_weight=np.ones(3))


def test_predictions_equal_pandas(tables, bg, gg):
    pandas_rfm, dask_rfm = tables
    for model, method, kwargs in ((bg, "expected_purchases", {"t": 39}), (bg, "probability_alive", {}),
                                  (gg, "expected_spend", {})):
        result = partitioned.predict(model, dask_rfm, method, **kwargs).compute()
        expected = getattr(model, method)(pandas_rfm, **kwargs)
        np.testing.assert_allclose(result.to_numpy(), expected.to_numpy(), rtol=RTOL, atol=0)
        pd.testing.assert_index_equal(result.index, expected.index, exact=False)
    value = partitioned.customer_lifetime_value(bg, gg, dask_rfm, horizon=12, period="M", discount_rate=0.01)
    expected = clv.customer_lifetime_value(bg, gg, pandas_rfm, horizon=12, period="M", discount_rate=0.01)
    np.testing.assert_allclose(value.compute().to_numpy(), expected.to_numpy(), rtol=RTOL, atol=0)


@pytest.mark.parametrize("with_spend_model", [True, False])
def test_segments_equal_pandas_with_global_quintiles(tables, bg, gg, with_spend_model):
    pandas_rfm, dask_rfm = tables
    spend_model = gg if with_spend_model else None
    result = partitioned.customer_segments(bg, dask_rfm, spend_model=spend_model).compute()
    expected = clv.customer_segments(bg, pandas_rfm, spend_model=spend_model)
    pd.testing.assert_frame_equal(result, expected, check_exact=False, rtol=RTOL, check_index_type=False)


def test_forecast_equals_the_command_line_table(tables, bg, gg):
    pandas_rfm, dask_rfm = tables
    settings = {"horizon": 12, "period": "M", "discount_rate": 0.01, "margin": 0.3}
    result = partitioned.forecast(bg, gg, dask_rfm, **settings).compute()
    expected = cli.score(pandas_rfm, bg, gg, settings)
    pd.testing.assert_frame_equal(result, expected, check_exact=False, rtol=RTOL, check_index_type=False)


def test_order_statistics_are_exact(client):
    rng = np.random.default_rng(5)
    values = np.concatenate([rng.lognormal(3, 2, 30_000), np.full(5_000, 7.25), rng.integers(0, 5, 20_000)])
    frame = pd.DataFrame({"v": rng.permutation(values), "w": -rng.permutation(values)})
    positions = [0, 1, 17_000, 30_001, len(values) - 1]
    result = _dask.order_statistics(dd.from_pandas(frame, npartitions=7), {"v": positions, "w": positions})
    np.testing.assert_array_equal(result["v"], np.sort(frame["v"].to_numpy())[positions])
    np.testing.assert_array_equal(result["w"], np.sort(frame["w"].to_numpy())[positions])


def _objects_in(value):
    """Every object in a task graph's values, containers included."""
    yield value
    if isinstance(value, (list, tuple, set)):
        for item in value:
            yield from _objects_in(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _objects_in(item)
    else:
        for item in getattr(value, "args", ()) or ():
            yield from _objects_in(item)
        yield from _objects_in(getattr(value, "kwargs", {}) or {})


def test_task_graphs_carry_parameters_not_models(tables, bg, gg):
    _, dask_rfm = tables
    graph = dict(partitioned.customer_lifetime_value(
        bg, gg, dask_rfm, horizon=12, period="M", discount_rate=0.01).__dask_graph__())
    objects = list(_objects_in(list(graph.values())))
    assert not any(isinstance(o, _base.BaseModel) for o in objects)
    records = [o for o in objects if isinstance(o, dict) and o.get("format") == "clvmodels-model"]
    assert {r["model"] for r in records} == {"BetaGeoModel", "GammaGammaModel"}


def test_invalid_rows_in_several_partitions_are_one_error_with_summed_counts(client, shuffled_log):
    log = shuffled_log.copy()
    log.loc[[3, 1_000, 5_000], "amount"] = -1.0
    log.loc[[10, 4_000], "date"] = pd.NaT
    with pytest.raises(ValueError) as error:
        clv.rfm_summary(spread(log), amount_col="amount", time_unit="W")
    message = str(error.value)
    assert "column 'amount': 3 rows are negative" in message
    assert "column 'date': 2 rows are missing (NaT)" in message
    with pytest.raises(ValueError, match="column 'spend'.* missing"):
        clv.rfm_summary(spread(log), amount_col="spend")
    with pytest.raises(ValueError, match="not before observation_end"):
        clv.calibration_holdout_split(spread(shuffled_log), calibration_end="1998-06-30", observation_end="1998-01-01")
    with pytest.raises(ValueError, match="after observation_end 1990-01-01"):
        clv.rfm_summary(spread(shuffled_log), observation_end="1990-01-01")


def test_a_failing_worker_task_is_one_clear_error(tables, bg):
    _, dask_rfm = tables

    def corrupt(frame):
        frame = frame.copy()
        if len(frame) and frame.index[0] > 1000:  # some partitions only
            frame.iloc[:2, frame.columns.get_loc("recency")] = 1e6
        return frame

    broken = dask_rfm.map_partitions(corrupt, meta=dask_rfm._meta)
    with pytest.raises(ValueError, match="column 'recency': 2 rows are greater than T"):
        partitioned.predict(bg, broken, "probability_alive").compute()
    with pytest.raises(ValueError, match="recency"):
        clv.BetaGeoModel().fit(broken)


def test_engine_choice_is_checked(shuffled_log, tmp_path):
    with pytest.raises(ValueError, match="engine must be one of"):
        clv.rfm_summary(shuffled_log, engine="spark")
    with pytest.raises(TypeError, match="engine='duckdb'"):
        clv.rfm_summary(str(tmp_path))
    with pytest.raises(ValueError, match="is summarised by engine='dask'"):
        clv.rfm_summary(spread(shuffled_log), engine="pandas")
    with pytest.raises(TypeError, match="dask.dataframe.DataFrame"):
        partitioned.predict(clv.BetaGeoModel(), shuffled_log, "probability_alive")


def test_missing_dask_names_the_extra(monkeypatch, shuffled_log):
    monkeypatch.setitem(sys.modules, "dask.dataframe", None)
    with pytest.raises(ImportError, match=r"pip install 'clvmodels\[dask\]'"):
        _dask.require_dask("engine='dask'")


# ----------------------------------------------------------------------------- command line
@pytest.fixture(scope="module")
def dataset(tmp_path_factory, shuffled_log):
    """The shuffled CDNOW sample as a Parquet dataset of 6 files."""
    directory = tmp_path_factory.mktemp("lake") / "transactions"
    directory.mkdir()
    for i, rows in enumerate(np.array_split(np.arange(len(shuffled_log)), 6)):
        shuffled_log.iloc[rows].to_parquet(directory / f"part-{i}.parquet", index=False)
    return directory


def run_cli(*args):
    return cli.main([str(a) for a in args])


def test_cli_dask_forecast_equals_pandas_engine(client, dataset, tmp_path, capsys):
    common = ["forecast", dataset, "--amount-col", "amount", "--time-unit", "W", "--quiet"]
    assert run_cli(*common, "--out", tmp_path / "pandas.parquet") == 0
    assert run_cli(*common, "--engine", "dask", "--scheduler", client.scheduler.address,
                   "--out", tmp_path / "forecast", "--model-out", tmp_path / "model.json") == 0
    expected = pd.read_parquet(tmp_path / "pandas.parquet")
    result = pd.read_parquet(tmp_path / "forecast")
    assert len(list((tmp_path / "forecast").glob("part.*.parquet"))) > 1
    pd.testing.assert_frame_equal(result, expected, check_exact=False, rtol=RTOL)
    assert "BG/NBD (BetaGeoModel)" in capsys.readouterr().out  # the model summary printed


def test_cli_failure_leaves_no_partial_dataset(client, dataset, tmp_path, monkeypatch, capsys):
    out = tmp_path / "forecast"
    out.mkdir()
    (out / "part.0.parquet").write_bytes(b"the previous dataset")
    written = []

    def fail_on_third_part(frame, customer_col, path):
        written.append(path)
        if len(written) == 3:
            raise OSError("disk full")
        return original(frame, customer_col, path)

    original = _cli_engines._write_part
    monkeypatch.setattr(_cli_engines, "_write_part", fail_on_third_part)
    status = run_cli("forecast", dataset, "--amount-col", "amount", "--time-unit", "W", "--engine", "dask",
                     "--scheduler", client.scheduler.address, "--out", out)
    assert status == 1
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert "disk full" in error and error.startswith("clvmodels forecast: internal error")
    assert [p.name for p in out.iterdir()] == ["part.0.parquet"]  # the old dataset, untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["forecast"]  # no temporary directory left


def test_cli_non_finite_predictions_in_some_partitions_write_nothing(client, dataset, shuffled_log, tmp_path,
                                                                    monkeypatch, capsys):
    def nan_for_one_time_buyers(self, data, t):
        return pd.Series(np.where(data["frequency"].to_numpy() == 0, np.nan, 1.0), index=data.index)

    monkeypatch.setattr(clv.BetaGeoModel, "expected_purchases", nan_for_one_time_buyers)  # workers are threads here
    rfm = clv.rfm_summary(shuffled_log, amount_col="amount", time_unit="W")
    out = tmp_path / "forecast"
    status = run_cli("forecast", dataset, "--amount-col", "amount", "--time-unit", "W", "--engine", "dask",
                     "--scheduler", client.scheduler.address, "--out", out, "--quiet")
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert status == 1
    n_bad = int((rfm["frequency"] == 0).sum())
    assert f"column 'expected_purchases': {n_bad:,} of {len(rfm):,} rows are NaN or infinite" in error
    assert "nothing written" in error
    assert list(tmp_path.iterdir()) == []  # no dataset, no temporary directory


def test_cli_engine_options_are_checked(dataset, tmp_path, capsys):
    assert run_cli("forecast", "--dataset", "cdnow", "--engine", "dask", "--out", tmp_path / "x") == 2
    assert "reads Parquet files, not --dataset" in capsys.readouterr().err
    assert run_cli("forecast", dataset, "--scheduler", "tcp://127.0.0.1:1", "--out", tmp_path / "x.csv") == 2
    assert "--scheduler is for --engine dask" in capsys.readouterr().err
    csv = tmp_path / "tx.csv"
    csv.write_text("customer_id,date\n1,2020-01-01\n")
    assert run_cli("forecast", csv, "--engine", "duckdb", "--out", tmp_path / "x.csv") == 2
    assert "reads Parquet" in capsys.readouterr().err
