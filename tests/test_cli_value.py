"""The ``clvmodels value`` and ``clvmodels value-report`` subcommands, run as the installed script.

Expected values come from clvmodels.business on the bundled CDNOW master data
(23,570 customers, weeks, observed to the last purchase 1998-06-30) with the same
fits the command makes.
"""

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import clvmodels as clv
from clvmodels import business

SCRIPT = Path(sys.executable).with_name("clvmodels")
COSTS = "month,spend,new_customers\n1997-01,150000,7846\n1997-02,180000,8476\n1997-03,165000,7248\n"


def run(*args, cwd):
    assert SCRIPT.exists(), f"{SCRIPT} is missing: install the package (pip install -e .)"
    return subprocess.run([str(SCRIPT), *map(str, args)], cwd=cwd, env=dict(os.environ), capture_output=True,
                          text=True, timeout=300)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("value-cli")
    (folder / "costs.csv").write_text(COSTS)
    (folder / "negative.csv").write_text(COSTS.replace("180000", "-180000"))
    (folder / "channels.csv").write_text("month,channel,spend\n1997-01,tv,1\n")
    ids = np.arange(1, 23_571)
    pd.DataFrame({"customer_id": ids, "channel": np.where(ids % 2, "odd", "even")}).to_csv(
        folder / "map.csv", index=False)
    pd.DataFrame({"customer_id": ids[1:], "channel": "odd"}).to_csv(folder / "short-map.csv", index=False)
    months = ["1997-01", "1997-02", "1997-03"]
    pd.DataFrame({"channel": ["odd"] * 3 + ["even"] * 3, "month": months * 2,
                  "spend": [1000.0, 2000.0, 3000.0, 4000.0, 5000.0, 6000.0]}).to_csv(
        folder / "channel-costs.csv", index=False)
    (folder / "tx.csv").write_text("customer_id,date,amount\n1,1997-01-01,10\n1,1997-02-01,5\n2,1997-01-03,7\n")
    commands = {
        "value": ["value", "--dataset", "cdnow", "--margin", "0.3", "--currency", "EUR",
                  "--acquisition-costs", "costs.csv", "--out", "value.csv", "-q"],
        "report": ["value-report", "--dataset", "cdnow", "--margin", "0.3", "--acquisition-costs", "costs.csv",
                   "--out", "value.html", "-q"],
        "negative": ["value", "--dataset", "cdnow", "--acquisition-costs", "negative.csv", "--out", "bad.csv"],
        "unknown_channel": ["value-report", "--dataset", "cdnow", "--acquisition-costs", "channels.csv",
                            "--out", "bad.html"],
        "no_amounts": ["value", "tx.csv", "--out", "tx-value.csv"],
        "channels": ["value", "--dataset", "cdnow", "--channels", "map.csv", "--acquisition-costs",
                     "channel-costs.csv", "--cohort", "Q", "--out", "channels.parquet", "-q"],
        "short_channels": ["value", "--dataset", "cdnow", "--channels", "short-map.csv", "--out", "short.csv"],
        "missing_costs": ["value", "--dataset", "cdnow", "--acquisition-costs", "nowhere.csv", "--out", "x.csv"],
    }
    with ThreadPoolExecutor(max_workers=3) as pool:
        done = dict(zip(commands, pool.map(lambda args: run(*args, cwd=folder), commands.values())))
    return folder, done


def test_value_table_equals_the_api(runs):
    folder, done = runs
    result = done["value"]
    assert result.returncode == 0, result.stderr
    table = pd.read_csv(folder / "value.csv")
    assert list(table.columns) == [
        "customer_id", "cohort", "first_purchase", "orders", "revenue", "realised_margin", "probability_alive",
        "expected_purchases", "expected_spend", "expected_value", "customer_value", "segment",
    ]
    tx = clv.datasets.load_cdnow()
    rfm = clv.rfm_summary(tx, amount_col="amount", time_unit="W")
    models = clv.BetaGeoModel().fit(rfm), clv.GammaGammaModel().fit(rfm)
    values = business.customer_value(*models, tx, margin=0.3, currency="EUR")
    assert len(table) == 23_570
    np.testing.assert_allclose(table["customer_value"], values["customer_value"], rtol=1e-9)
    np.testing.assert_allclose(table["realised_margin"], values["realised_margin"], rtol=1e-12)
    # The printed summary: segments, concentration and LTV:CAC per cohort.
    out = result.stdout
    assert "Customer value as of 1998-06-30 (EUR; margin 0.3" in out
    assert "top 20%" in out and "ltv_cac" in out
    ltv = business.ltv_cac(values, tx, pd.DataFrame({"month": ["1997-01", "1997-02", "1997-03"],
                                                     "spend": [150000.0, 180000.0, 165000.0],
                                                     "new_customers": [7846, 8476, 7248]}), *models)
    assert f"{ltv.loc[('1997-02', 'all'), 'ltv_cac']:,.2f}" in out


def test_value_report_is_written(runs):
    folder, done = runs
    assert done["report"].returncode == 0, done["report"].stderr
    text = (folder / "value.html").read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and 'id="acquisition"' in text and "LTV : CAC" in text


def test_bad_cost_tables_are_usage_errors_naming_the_row(runs):
    folder, done = runs
    negative, unknown = done["negative"], done["unknown_channel"]
    assert negative.returncode == 2
    assert "--acquisition-costs negative.csv" in negative.stderr
    assert "row 2 (month '1997-02'): spend is negative" in negative.stderr
    assert unknown.returncode == 2
    assert "row 1 (channel 'tv', month '1997-01'): channel 'tv' is unknown" in unknown.stderr
    assert not (folder / "bad.csv").exists() and not (folder / "bad.html").exists()
    for result in (negative, unknown):
        assert len(result.stderr.strip().splitlines()[-1]) > 0 and "Traceback" not in result.stderr


def test_value_needs_amounts_and_a_readable_cost_file(runs):
    _, done = runs
    assert done["no_amounts"].returncode == 2
    assert "customer value needs amounts: give --amount-col" in done["no_amounts"].stderr
    assert done["missing_costs"].returncode == 2
    assert "--acquisition-costs nowhere.csv: cannot read" in done["missing_costs"].stderr


def test_channels_from_a_file(runs):
    folder, done = runs
    result = done["channels"]
    assert result.returncode == 0, result.stderr
    table = pd.read_parquet(folder / "channels.parquet")
    assert (table["channel"] == np.where(table["customer_id"] % 2, "odd", "even")).all()
    assert set(table["cohort"]) == {"1997Q1"}
    # One quarterly cohort: CAC = the quarter's spend per channel over its customers.
    odd = int((table["customer_id"] % 2 == 1).sum())
    assert f"{6000.0 / odd:,.2f}" in result.stdout
    short = done["short_channels"]
    assert short.returncode == 2
    assert "--channels short-map.csv: invalid channels: 1 customer has no channel (the first is 1)" in short.stderr
