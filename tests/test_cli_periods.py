"""The ``clvmodels`` command with the models counted in periods: ``--model bgbb`` on a
transaction log summarised in calendar periods, ``--model sbg|bdw`` on a subscription
table. The inputs are drawn from the models with fixed seeds (tests/periods_data.py);
every number written must equal the Python API's on the same input.
"""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from periods_data import bgbb_log, subscriptions
from test_cli import check_one_line_error, run_all

import clvmodels as clv
from clvmodels import cli

CONTRACTUAL = sorted(clv.registered_models("contractual"))


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("periods")
    bgbb_log(n_customers=1200, seed=0).to_csv(folder / "log.csv", index=False)
    records, end = subscriptions(n_customers=1500, seed=1)
    records.to_csv(folder / "subs.csv", index=False)
    return {"folder": folder, "subscriptions_end": end}


def _api_discrete(folder, period="Y", observation_end=None):
    log = pd.read_csv(folder / "log.csv")
    table = clv.discrete_rfm_summary(log, amount_col="amount", period=period, observation_end=observation_end)
    return table, clv.BetaGeoBetaBinomModel().fit(table), clv.GammaGammaModel().fit(table)


def _api_contractual(folder, key, end, period="M"):
    records = pd.read_csv(folder / "subs.csv")  # blank ends are read as missing
    table = clv.tenure_summary(records, period=period, observation_end=end)
    return table, clv.registered_models("contractual")[key]().fit(table)


# ----- end to end, through the installed script ----------------------------------------------
def test_end_to_end_bgbb_sbg_bdw(inputs):
    """One run of the console script per model: exit 0, the documented columns, the API's numbers."""
    folder, end = inputs["folder"], inputs["subscriptions_end"]
    commands = [
        ["forecast", "log.csv", "--model", "bgbb", "--period", "Y", "--amount-col", "amount", "--horizon", "5",
         "--margin", "0.3", "--discount-rate", "0.1", "--observation-end", "2019-12-31", "--out", "bgbb.csv"],
        *[["forecast", "subs.csv", "--model", key, "--period", "M", "--observation-end", end, "--margin", "12.5",
           "--discount-rate", "0.02", "--out", f"{key}.parquet", "-q"] for key in CONTRACTUAL],
    ]
    results = run_all(commands, cwd=folder)
    for result in results:
        assert result.returncode == 0, result.stderr

    # BG/BB: yearly opportunities, Gamma-Gamma on the repeat years' mean amounts.
    table, bgbb, gg = _api_discrete(folder, observation_end="2019-12-31")
    written = pd.read_csv(folder / "bgbb.csv").set_index("customer_id")
    assert list(written.columns) == ["frequency", "recency", "n_periods", "monetary_value", "probability_alive",
                                     "expected_transactions", "dert", "expected_spend", "clv", "residual_value"]
    assert written.index.tolist() == table.index.tolist()
    np.testing.assert_allclose(written["probability_alive"], bgbb.probability_alive(table), rtol=1e-6)
    np.testing.assert_allclose(written["expected_transactions"], bgbb.expected_purchases(table, t=5), rtol=1e-6)
    dert = bgbb.discounted_expected_residual_transactions(table, 0.1)
    np.testing.assert_allclose(written["dert"], dert, rtol=1e-6)
    spend = gg.expected_spend(table)
    value = clv.customer_lifetime_value(bgbb, gg, table, horizon=5, period="Y", discount_rate=0.1, margin=0.3)
    np.testing.assert_allclose(written["clv"], value, rtol=1e-6)
    np.testing.assert_allclose(written["residual_value"], 0.3 * spend * dert, rtol=1e-6)
    out = results[0].stdout
    assert "BG/BB (BetaGeoBetaBinomModel) — summary" in out and "Gamma-Gamma" in out
    assert "expected_transactions over the next 5 years" in out and "discount rate 0.1 per period" in out

    # sBG, BdW: monthly renewals; clv = margin per month x DERL.
    for key, result in zip(CONTRACTUAL, results[1:]):
        table, model = _api_contractual(folder, key, end)
        written = pd.read_parquet(folder / f"{key}.parquet").set_index("customer_id")
        assert list(written.columns) == ["tenure", "churned", "probability_alive_next_period", "derl", "clv"]
        assert written["churned"].dtype == bool and written["churned"].tolist() == table["churned"].tolist()
        np.testing.assert_array_equal(written["tenure"], table["tenure"])
        np.testing.assert_allclose(written["probability_alive_next_period"], model.probability_alive(table, t=1),
                                   rtol=1e-6)
        derl = model.expected_residual_lifetime(table, 0.02)
        np.testing.assert_allclose(written["derl"], derl, rtol=1e-6)
        np.testing.assert_allclose(written["clv"], 12.5 * derl, rtol=1e-6)
        assert (written.loc[written["churned"], ["probability_alive_next_period", "derl", "clv"]] == 0).all().all()
        assert f"({type(model).__name__}) — summary" in result.stdout
        assert "margin 12.5 per period" in result.stdout


# ----- in-process: fit, predict, report ------------------------------------------------------
@pytest.mark.parametrize("key", ["bgbb", *CONTRACTUAL])
def test_fit_then_predict_scores_as_forecast(key, inputs, tmp_path, monkeypatch):
    folder, end = inputs["folder"], inputs["subscriptions_end"]
    monkeypatch.chdir(tmp_path)
    source = str(folder / ("log.csv" if key == "bgbb" else "subs.csv"))
    options = ["--period", "Y"] if key == "bgbb" else ["--observation-end", end]
    assert cli.main(["fit", source, "--model", key, *options, "--model-out", "m.json", "-q"]) == 0
    bundle = json.loads(Path("m.json").read_text())
    assert bundle["settings"]["model"] == key
    assert bundle["settings"]["period"] == bundle["settings"]["time_unit"] == ("Y" if key == "bgbb" else "M")
    assert cli.main(["predict", source, "--model", "m.json", "--out", "p.csv", "-q"]) == 0
    assert cli.main(["forecast", source, "--model", key, *options, "--out", "f.csv", "-q"]) == 0
    pd.testing.assert_frame_equal(pd.read_csv("p.csv"), pd.read_csv("f.csv"))
    # The model's parameters are per period: predict refuses another period.
    assert cli.main(["predict", source, "--model", "m.json", "--period", "W", "--out", "w.csv", "-q"]) == 2
    assert not Path("w.csv").exists()


def test_report_reaches_the_report_of_each_kind(inputs, tmp_path, monkeypatch):
    import clvmodels.report

    calls = []

    def fake_report(data, path, **options):
        calls.append((data, options))
        Path(path).write_text("<html>report</html>")
        return Path(path)

    monkeypatch.setattr(clvmodels.report, "validation_report", fake_report)
    monkeypatch.chdir(tmp_path)
    folder, end = inputs["folder"], inputs["subscriptions_end"]
    assert cli.main(["report", str(folder / "log.csv"), "--model", "bgbb", "--calibration-end", "2015-12-31",
                     "--observation-end", "2019-12-31", "--horizon", "3", "--out", "b.html", "-q"]) == 0
    assert cli.main(["report", str(folder / "subs.csv"), "--model", "sbg", "--observation-end", end,
                     "--calibration-periods", "9", "--margin", "20", "--out", "s.html", "-q"]) == 0
    (log, discrete), (records, contractual) = calls
    assert (discrete["model"], discrete["period"], discrete["calibration_end"], discrete["horizon"]) == \
        ("bgbb", "Y", "2015-12-31", 3)
    assert "amount_col" not in discrete and log["date"].dtype.kind == "M"
    assert (contractual["model"], contractual["period"], contractual["calibration_periods"]) == ("sbg", "M", 9)
    assert (contractual["start_col"], contractual["end_col"], contractual["margin"]) == ("start", "end", 20.0)
    # Dates parsed once, by the package's reader; active subscriptions have no end.
    assert records["start"].dtype.kind == "M" and records["end"].isna().sum() == (
        pd.read_csv(folder / "subs.csv")["end"].isna().sum())


def test_bundled_subscriptions(tmp_path, monkeypatch):
    """--dataset subscriptions: the simulated table of datasets.load_subscriptions, as of its date."""
    monkeypatch.chdir(tmp_path)
    assert cli.main(["forecast", "--dataset", "subscriptions", "--model", "sbg", "--margin", "9.5",
                     "--out", "f.csv", "-q"]) == 0
    records = clv.datasets.load_subscriptions()
    table = clv.tenure_summary(records, period="M", observation_end="2023-12-31")
    model = clv.ShiftedBetaGeoModel().fit(table)
    written = pd.read_csv("f.csv").set_index("customer_id")
    np.testing.assert_allclose(written["clv"], 9.5 * model.expected_residual_lifetime(table, 0.01), rtol=1e-6)


def test_compare_contractual_models(inputs, tmp_path, monkeypatch, capsys):
    """compare --models sbg,bdw: each fitted on the first months, the table of
    evaluation.compare_survival_models printed (best marked) and written."""
    folder, end = inputs["folder"], inputs["subscriptions_end"]
    monkeypatch.chdir(tmp_path)
    assert cli.main(["compare", str(folder / "subs.csv"), "--models", ",".join(CONTRACTUAL), "--observation-end",
                     end, "--calibration-periods", "10", "--out", "c.csv", "-q"]) == 0
    out = capsys.readouterr().out
    table, _ = _api_contractual(folder, "sbg", end)
    first = clv.censor_tenure(table, 10)
    models = [clv.registered_models("contractual")[key]().fit(first) for key in CONTRACTUAL]
    want = clv.evaluation.compare_survival_models(models, table, 10)
    assert out.startswith(f"Model comparison: {len(table):,} subscribers as of {end}, fitted on the first 10 "
                          "periods (M)")
    for label, row in want.iterrows():
        line = next(line for line in out.splitlines() if line.startswith(label + " "))
        assert f"{row['log_likelihood']:,.4f}" in line and f"{row['holdout_mape']:,.4f}" in line
        assert line.count("*") == sum(best == label for best in want.attrs["best"].values())
    written = pd.read_csv("c.csv")
    assert written["model"].tolist() == want.index.tolist()
    np.testing.assert_allclose(written["aic"], want["aic"], rtol=1e-12)


def test_report_end_to_end(inputs, tmp_path, monkeypatch):
    """The report command writes the contractual report (the reports themselves, BG/BB's
    too, are checked in tests/test_report_periods.py)."""
    pytest.importorskip("matplotlib")
    monkeypatch.chdir(tmp_path)
    folder, end = inputs["folder"], inputs["subscriptions_end"]
    assert cli.main(["report", str(folder / "subs.csv"), "--model", "bdw", "--observation-end", end,
                     "--out", "w.html", "-q"]) == 0
    text = Path("w.html").read_text(encoding="utf-8")
    table, _ = _api_contractual(folder, "bdw", end)
    half = int(table["tenure"].max()) // 2  # the default calibration: half the longest tenure
    assert "Model validation report: BdW" in text and f"fitted on the first {half} months" in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.html"]  # no temporary left


# ----- bad input: one line, exit 2, nothing written ---------------------------------------------
def _bad_inputs(folder):
    records = pd.read_csv(folder / "subs.csv", dtype=str, keep_default_na=False)
    backwards = records.copy()
    backwards.loc[:2, "end"] = "2019-01-01"
    backwards.to_csv(folder / "backwards.csv", index=False)
    records.rename(columns={"end": "stop"}).to_csv(folder / "renamed.csv", index=False)
    pd.read_csv(folder / "log.csv").drop(columns="amount").to_csv(folder / "no_amount.csv", index=False)


BAD = {
    "missing end column": (["forecast", "renamed.csv", "--model", "sbg"], ["renamed.csv", "'end'"]),
    "missing column named": (["forecast", "renamed.csv", "--model", "bdw", "--end-col", "finish"], ["'finish'"]),
    "missing amount column": (["forecast", "no_amount.csv", "--model", "bgbb", "--amount-col", "amount"],
                              ["no_amount.csv", "'amount'"]),
    "end before start": (["forecast", "backwards.csv", "--model", "sbg"], ["backwards.csv", "'end'", "3 rows",
                                                                          "before the start"]),
    "unknown period": (["forecast", "log.csv", "--model", "bgbb", "--period", "fortnight"], ["--period"]),
    "period as a number": (["forecast", "log.csv", "--model", "bgbb", "--period", "2"], ["--period", "D, W, M, Q, Y"]),
    "hours": (["forecast", "subs.csv", "--model", "sbg", "--period", "H"], ["--period", "calendar periods"]),
    "time unit": (["forecast", "log.csv", "--model", "bgbb", "--time-unit", "W"], ["--time-unit", "--period"]),
    "amounts of subscriptions": (["forecast", "subs.csv", "--model", "sbg", "--amount-col", "price"],
                                 ["--amount-col", "--margin"]),
    "date column of subscriptions": (["forecast", "subs.csv", "--model", "bdw", "--date-col", "start"],
                                     ["--date-col"]),
    "start column of a log": (["forecast", "log.csv", "--model", "bgbb", "--start-col", "date"], ["--start-col"]),
    "start column of bgnbd": (["forecast", "log.csv", "--start-col", "date"], ["--start-col", "sbg"]),
    "data set": (["forecast", "--dataset", "cdnow", "--model", "sbg"], ["--dataset cdnow", "subscription table"]),
    "subscriptions for bgnbd": (["forecast", "--dataset", "subscriptions"], ["--dataset subscriptions", "sbg"]),
    "no discounting": (["forecast", "log.csv", "--model", "bgbb", "--discount-rate", "0"],
                       ["--discount-rate", "0.0001"]),
    "engine": (["forecast", "log.csv", "--model", "bgbb", "--engine", "duckdb"], ["--engine", "bgbb"]),
    "interval": (["forecast", "subs.csv", "--model", "sbg", "--interval", "0.9"], ["--interval"]),
    "horizon of subscriptions": (["forecast", "subs.csv", "--model", "sbg", "--horizon", "5"], ["--horizon"]),
    "covariates": (["forecast", "log.csv", "--model", "bgbb", "--purchase-covariates", "amount"],
                   ["--purchase-covariates"]),
    "unknown model": (["forecast", "log.csv", "--model", "bgbbb"], ["--model", "'bgbbb'"]),
    "output is the input": (["forecast", "subs.csv", "--model", "sbg", "--out", "subs.csv"], ["subs.csv"]),
    "calibration end of subscriptions": (["report", "subs.csv", "--model", "sbg", "--calibration-end", "2021-01-01"],
                                         ["--calibration-end", "--calibration-periods"]),
    "calibration periods too many": (["report", "subs.csv", "--model", "bdw", "--calibration-periods", "400"],
                                     ["--calibration-periods 400", "longest tenure"]),
    "calibration periods of a log": (["report", "log.csv", "--model", "bgbb", "--calibration-periods", "3"],
                                     ["--calibration-periods", "--calibration-end"]),
    "no holdout period": (["report", "log.csv", "--model", "bgbb", "--calibration-end", "2019-12-31"],
                          ["log.csv", "no complete Y period"]),
    "compare: calibration end of subscriptions": (
        ["compare", "subs.csv", "--models", "sbg,bdw", "--calibration-end", "2021-01-01"], ["--calibration-end"]),
    "compare: period of purchase models": (["compare", "log.csv", "--calibration-end", "2015-12-31", "--period", "Y"],
                                           ["--period", "contractual"]),
    "compare: calibration periods too many": (["compare", "subs.csv", "--models", "sbg", "--calibration-periods",
                                               "99"], ["--calibration-periods 99"]),
    "report: compare with purchase models": (["report", "subs.csv", "--model", "sbg", "--compare", "bgnbd"],
                                             ["--compare", "contractual models only"]),
    "report amounts": (["report", "log.csv", "--model", "bgbb", "--calibration-end", "2015-12-31",
                        "--amount-col", "amount"], ["--amount-col"]),
}


def test_bad_input_is_one_line_exit_2_and_nothing_written(inputs, monkeypatch, capsys):
    folder = inputs["folder"]
    _bad_inputs(folder)
    monkeypatch.chdir(folder)
    before = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    for name, (args, must_contain) in BAD.items():
        out = [] if "--out" in args else ["--out", "report.html" if args[0] == "report" else "out.csv"]
        status = cli.main([*args, *out, "-q"])
        check_one_line_error(status, capsys.readouterr().err, must_contain, quiet=True)
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == before, "a file was written or changed"


def test_help_says_what_the_period_means(capsys):
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["forecast", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "With --model bgbb: the calendar period of one transaction opportunity (D, W, M, Q or Y; default Y" in text
    assert "With --model sbg|bdw: the renewal period" in text
    assert "--start-col" in text and "--end-col" in text
    assert "probability_alive_next_period" in text and "dert" in text
