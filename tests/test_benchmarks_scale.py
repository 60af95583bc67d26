"""Smoke test of the scale benchmark (benchmarks/scale.py, issue 13) at a tiny size, so it never rots.

The three end-to-end paths (pandas, DuckDB out of core, Dask on a 2-worker
LocalCluster) run once on 20k transactions in 4 Parquet files and must give the same
customers, parameters and forecast totals.
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("duckdb")
pytest.importorskip("distributed")
pytest.importorskip("pyarrow")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import generate  # noqa: E402


def test_every_path_runs_and_they_agree(tmp_path):
    record_path = tmp_path / "scale.json"
    completed = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "scale.py"), "--rows", "20000", "--partitions", "4",
         "--data", str(tmp_path / "data"), "--steps", "pandas", "duckdb", "dask", "duckdb_summary",
         "--json", str(record_path)],
        capture_output=True, text=True, timeout=600, check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    record = json.loads(record_path.read_text())
    steps = {r["step"]: r for r in record["records"]}
    assert set(steps) == {"pandas", "duckdb", "dask", "duckdb_summary"}
    assert all(r["ok"] and r["seconds"] > 0 and r["peak_mb"] > 0 and r["cpu_s"] > 0 for r in steps.values())
    assert len(steps["dask"]["worker_peak_mb"]) == 2
    assert record["parity"]["ok"], record["parity"]
    assert steps["duckdb_summary"]["customers"] == steps["pandas"]["customers"] == record["dataset"]["customers"]
    assert record["table_markdown"] in completed.stdout and "| dask |" in record["table_markdown"]
    assert not (tmp_path / "data-out").exists()  # forecasts are removed


def test_dataset_spreads_customers_over_files(tmp_path):
    meta = generate.write_parquet_dataset(tmp_path, 30_000, 6_000, n_partitions=5, n_chunks=2, seed=4)
    files = sorted(tmp_path.glob("part-*.parquet"))
    assert len(files) == 5 and meta["files"] == 5
    parts = [pd.read_parquet(f) for f in files]
    log = pd.concat(parts, ignore_index=True)
    assert len(log) == meta["rows"] and abs(meta["rows"] / 30_000 - 1) < 0.05
    assert log["customer_id"].nunique() == meta["customers"] == 6_000
    files_per_customer = pd.concat(
        [pd.Series(p["customer_id"].unique()) for p in parts]).value_counts()
    assert (files_per_customer > 1).mean() > 0.2  # repeat buyers' purchases land in several files
    assert np.all(np.diff(parts[0]["date"].to_numpy()[: len(parts[0]) // 2]) >= np.timedelta64(0))
