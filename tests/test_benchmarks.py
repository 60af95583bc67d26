"""Smoke test of the benchmark suite (benchmarks/, issue 5) at a tiny size, so it never rots.

The full suite (``benchmarks/run.py``) is run by hand; here every step runs once with
lifetimes and clvmodels on a few hundred customers, and both must give the same answer.
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("lifetimes")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import generate  # noqa: E402

STEPS = {"summary", "calibration", "fit_continuous", "fit_day", "fit_day_noattrs", "fit_mbg", "gamma_gamma", "pnbd_fit", "clv",
         "clv_continuous", "predictions", "fit_covariates", "clv_covariates"}
# issue 12: timed beside the plain model on the same table
WITHOUT_LIFETIMES = {"fit_covariates", "clv_covariates"}


def test_suite_runs_every_step_and_the_libraries_agree(tmp_path):
    record_path = tmp_path / "bench.json"
    completed = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--scale", "0.001", "--targets-only",
         "--runs", "1", "--json", str(record_path)],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    record = json.loads(record_path.read_text())
    assert {case["step"] for case in record["cases"]} == STEPS
    compared = 0
    for case in record["cases"]:
        ours = case["results"]["clvmodels"]
        assert ours["ok"], case
        assert ours["seconds"] > 0 and ours["cpu_user_seconds"] >= 0 and ours["cpu_system_seconds"] >= 0
        if sys.platform.startswith("linux"):
            assert ours["peak_mb"] is not None and ours["peak_mb"] >= 0
        if "lifetimes" in case["results"]:
            assert case["results"]["lifetimes"]["ok"], case
            assert case["parity"]["ok"], case["parity"]
            compared += 1
    assert compared == len(STEPS - WITHOUT_LIFETIMES)  # every step once
    covariates = next(case for case in record["cases"] if case["step"] == "fit_covariates")
    assert covariates["results"]["plain"]["ok"] and "x the plain fit" in covariates["note"]
    value = next(case for case in record["cases"] if case["step"] == "clv_covariates")
    assert value["results"]["plain"]["ok"] and "x the plain model's CLV" in value["note"]
    assert "| rfm_summary with amounts |" in completed.stdout
    assert record["table_markdown"] in completed.stdout


def test_transaction_log_has_the_requested_size_and_shape():
    log = generate.transactions(40_000, 20_000, window_days=365, seed=1)
    assert abs(len(log) / 40_000 - 1) < 0.05  # met in expectation
    assert list(log.columns) == ["customer_id", "date", "amount"]
    assert np.array_equal(np.unique(log["customer_id"]), np.arange(1, 20_001))  # everyone bought once
    assert log["date"].is_monotonic_increasing
    assert log["date"].min() >= generate.ORIGIN and str(log["date"].max().date()) <= log.attrs["observation_end"]
    assert (log["amount"] >= 0).all()
    # the first purchase days are uniform over the window
    first = log.groupby("customer_id")["date"].min()
    assert abs((first - np.datetime64(generate.ORIGIN, "ns")).dt.days.mean() - 182) < 5


def test_rfm_tables_are_valid_histories():
    for resolution in ("continuous", "day"):
        table = generate.rfm_table(5_000, resolution=resolution, seed=2)
        assert (table["recency"] <= table["T"]).all() and (table["T"] > 0).all()
        assert ((table["frequency"] == 0) == (table["recency"] == 0)).all() or resolution == "day"
        assert ((table["frequency"] > 0) == (table["monetary_value"] > 0)).all()
        if resolution == "day":
            np.testing.assert_allclose(table["T"] * 7, np.round(table["T"] * 7), atol=1e-9)
            np.testing.assert_allclose(table["recency"] * 7, np.round(table["recency"] * 7), atol=1e-9)
    buyers = generate.repeat_buyers(3_000, seed=3)
    assert len(buyers) == 3_000 and (buyers["frequency"] > 0).all()


def test_interval_benchmark_runs(tmp_path):
    record_path = tmp_path / "intervals.json"
    completed = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "intervals.py"), "--scale", "0.002", "--json", str(record_path)],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    rows = json.loads(record_path.read_text())["rows"]
    assert [row["step"] for row in rows] == ["purchases", "purchases_with_parameters", "clv_200_draws"]
    assert all(row["seconds"] > 0 and row["customers"] == 2000 for row in rows)
