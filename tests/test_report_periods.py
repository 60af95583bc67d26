"""The validation report of the models counted in periods: BG/BB on a transaction log
(discrete calibration/holdout split) and sBG/BdW on a subscription table (fit on the
first periods of tenure, later survival compared).

Inputs are drawn from the models with fixed seeds (tests/periods_data.py). The numbers
the HTML shows must be those of the tables computed apart from it
(report.discrete_validation, report.contractual_validation), recomputed here from the
public API; headless Chromium must load both pages, decode every image, reach no
network and print them to PDF (as tests/test_report.py does for the purchase-model report).
"""

import base64
import re
import tempfile

import numpy as np
import pytest
from periods_data import bgbb_log, subscriptions

matplotlib = pytest.importorskip("matplotlib")

import clvmodels as clv  # noqa: E402
from clvmodels import evaluation, report  # noqa: E402
from clvmodels.report import validation_report  # noqa: E402
from test_report import _chromium, _DevTools, _parse  # noqa: E402

CALIBRATION_END, OBSERVATION_END = "2015-12-31", "2019-12-31"


@pytest.fixture(scope="module")
def log():
    return bgbb_log(n_customers=1200, seed=0, amounts=False)


@pytest.fixture(scope="module")
def records():
    return subscriptions(n_customers=1500, seed=1)


@pytest.fixture(scope="module")
def bgbb_report(log, tmp_path_factory):
    path = tmp_path_factory.mktemp("bgbb") / "bgbb.html"
    validation_report(log, path, model="bgbb", calibration_end=CALIBRATION_END, observation_end=OBSERVATION_END,
                      period="Y", horizon=4, discount_rate=0.1, margin=25.0, data_source="simulated <log>")
    text = path.read_text(encoding="utf-8")
    return {"path": path, "text": text, "page": _parse(text)}


@pytest.fixture(scope="module")
def sbg_report(records, tmp_path_factory):
    table, end = records
    path = tmp_path_factory.mktemp("sbg") / "sbg.html"
    validation_report(table.replace("", None), path, model="sbg", observation_end=end, period="M",
                      calibration_periods=12, discount_rate=0.01, margin=9.5, currency="EUR")
    text = path.read_text(encoding="utf-8")
    return {"path": path, "text": text, "page": _parse(text)}


def _section(page_text, anchor):
    found = re.search(rf'<section id="{anchor}">(.*?)</section>', page_text, flags=re.DOTALL)
    assert found, anchor
    return _parse(found.group(1)).plain


# ----- BG/BB --------------------------------------------------------------------------------
def test_bgbb_report_shows_the_computed_tables(bgbb_report, log):
    page = bgbb_report["page"]
    assert [a.get("id") for a in page.all("section")] == ["summary", "data", "models", "fit", "holdout", "value",
                                                          "settings"]
    assert "Model validation report: BG/BB" in page.plain and "figure-error" not in bgbb_report["text"]
    assert len(page.all("img")) == 5  # calibration fit, holdout by frequency, P(alive) matrix, two mixings
    split = clv.discrete_calibration_holdout_split(log, period="Y", calibration_end=CALIBRATION_END,
                                                   observation_end=OBSERVATION_END)
    model = clv.BetaGeoBetaBinomModel().fit(split)
    numbers = report.discrete_validation(model, split, horizon=4, discount_rate=0.1)
    for name, row in model.describe_params().iterrows():
        assert f"{name} {row['estimate']:.4f} {row['std_error']:.4f}" in page.plain
    # The holdout totals, from evaluation.holdout_metrics, and the verdict.
    metrics = numbers["metrics"]
    holdout = _section(bgbb_report["text"], "holdout")
    assert f"total actual {metrics['total_actual']:,.0f}" in holdout
    assert f"total predicted {metrics['total_predicted']:,.1f}" in holdout
    assert f"mean absolute error {metrics['mae']:.4f}" in holdout
    verdict = _section(bgbb_report["text"], "summary")
    for _, row in numbers["verdict"].iterrows():
        assert row["finding"] in verdict
    # Every pattern's row: customers, P(alive), actual and predicted means.
    patterns = numbers["patterns"]
    assert len(patterns) > 10
    for (x, t_x, n), row in patterns.iterrows():
        cells = (f"{int(x)} {int(t_x)} {int(n)} {int(row['n_customers']):,} {row['probability_alive']:.3f} "
                 f"{row['actual']:.3f} {row['predicted']:.3f}")
        assert cells in holdout, cells
    # The forecast by pattern: next 4 years and DERT at 10%, value = 25 x DERT.
    value = _section(bgbb_report["text"], "value")
    forecast = numbers["forecast"]
    for (x, t_x, n), row in forecast.iterrows():
        history = split.loc[(split["frequency"] == x) & (split["recency"] == t_x) & (split["n_periods"] == n)]
        dert = model.discounted_expected_residual_transactions(history.iloc[:1], 0.1).iloc[0]
        expected = model.expected_purchases(history.iloc[:1], t=4).iloc[0]
        assert row["dert"] == pytest.approx(dert) and row["expected_transactions"] == pytest.approx(expected)
        cells = f"{row['expected_transactions']:.3f} {row['dert']:.3f} {25 * row['dert']:,.2f}"
        assert cells in value, cells
    total = float((forecast["dert"] * forecast["n_customers"]).sum())
    assert f"{total:,.1f} discounted transactions, worth {25 * total:,.2f}" in value


def test_bgbb_holdout_agrees_with_the_simulating_model(bgbb_report, log):
    """Simulation check: data drawn from BG/BB, so the holdout total is tracked within 10%."""
    split = clv.discrete_calibration_holdout_split(log, period="Y", calibration_end=CALIBRATION_END,
                                                   observation_end=OBSERVATION_END)
    metrics = evaluation.holdout_metrics(evaluation.holdout_comparison(clv.BetaGeoBetaBinomModel().fit(split), split))
    assert abs(metrics["aggregate_error_pct"]) < 10
    assert "PASS Does it track the holdout in total?" in bgbb_report["page"].plain


# ----- sBG ----------------------------------------------------------------------------------
def test_sbg_report_shows_the_computed_tables(sbg_report, records):
    table, end = records
    page = sbg_report["page"]
    assert [a.get("id") for a in page.all("section")] == ["summary", "data", "models", "survival", "value",
                                                          "settings"]
    assert len(page.all("img")) == 2 and "figure-error" not in sbg_report["text"]
    tenure = clv.tenure_summary(table.replace("", None), period="M", observation_end=end)
    model = clv.ShiftedBetaGeoModel()
    numbers = report.contractual_validation(model, tenure, calibration_periods=12, discount_rate=0.01, margin=9.5)
    # The same fit by hand: sBG on the first 12 months of each tenure.
    by_hand = clv.ShiftedBetaGeoModel().fit(clv.censor_tenure(tenure, 12))
    np.testing.assert_allclose(model.params_, by_hand.params_, rtol=1e-10)
    for name, row in by_hand.describe_params().iterrows():
        assert f"{name} {row['estimate']:.4f} {row['std_error']:.4f}" in page.plain
    observed = evaluation.observed_survival(tenure)
    comparison = numbers["comparison"]
    assert comparison.attrs["calibration_periods"] == 12
    last = int(np.flatnonzero(observed["at_risk"].to_numpy() >= 30)[-1])
    assert len(comparison) == last + 1  # up to the last month with 30 subscribers at risk
    survival = _section(sbg_report["text"], "survival")
    for t, row in comparison.iterrows():
        assert row["observed_survival"] == pytest.approx(observed.loc[t, "survival"])
        assert row["expected_survival"] == pytest.approx(by_hand.survival(t))
        part = "holdout" if t > 12 else "calibration"
        cells = f"{t} {int(row['at_risk']):,} {row['observed_survival']:.3f} {row['expected_survival']:.3f}"
        assert cells in survival and part in survival, cells
    assert f"holdout months: {comparison.attrs['holdout_mape']:.2f}%" in survival
    assert f"mean absolute error of {comparison.attrs['holdout_mape']:.1f}%" in _section(sbg_report["text"], "summary")
    # DERL and CLV = 9.5 EUR a month x DERL, per tenure of the active subscribers.
    value = _section(sbg_report["text"], "value")
    active = tenure.loc[~tenure["churned"]]
    for t, row in numbers["value"].iterrows():
        derl = by_hand.expected_residual_lifetime(active.loc[active["tenure"] == t].iloc[:1], 0.01).iloc[0]
        assert row["derl"] == pytest.approx(derl) and row["subscribers"] == (active["tenure"] == t).sum()
        cells = f"{int(t)} {int(row['subscribers']):,} {row['probability_alive_next_period']:.3f} {derl:.3f} " \
                f"{9.5 * derl:,.2f} {9.5 * derl * row['subscribers']:,.2f}"
        assert cells in value, cells
    total = 9.5 * float(by_hand.expected_residual_lifetime(active, 0.01).sum())
    assert f"{total:,.2f} EUR" in value


@pytest.mark.parametrize("key", ["sbg", "bdw"])
def test_contractual_report_tracks_later_survival_of_simulated_subscribers(key, records, tmp_path):
    """Simulation check: subscriptions drawn from the sBG; either model, fitted on 12 months,
    projects the observed survival of the later months within 8% on average."""
    table, end = records
    path = validation_report(table.replace("", None), tmp_path / "r.html", model=key, observation_end=end,
                             calibration_periods=12)
    found = re.search(r"mean absolute error of ([0-9.]+)% of the observed survivors", path.read_text())
    assert found and float(found.group(1)) < 8


def test_period_reports_reject_bad_settings_before_any_work(log, records, tmp_path):
    table, end = records
    table = table.replace("", None)
    path = tmp_path / "r.html"
    discrete = dict(model="bgbb", calibration_end=CALIBRATION_END, observation_end=OBSERVATION_END)
    contractual = dict(model="sbg", observation_end=end)
    bad = [
        (log, dict(discrete, period="H"), "period 'H'"),
        (log, dict(discrete, period=2.0), "period 2.0"),
        (log, dict(discrete, time_unit="W"), "time_unit 'W'"),
        (log, dict(discrete, compare=["bgbb"]), "compare"),
        (log, dict(discrete, amount_col="amount"), "amount_col"),
        (log, dict(discrete, calibration_end=None), "calibration_end is required"),
        (log, dict(discrete, calibration_periods=3), "calibration_periods is for the contractual"),
        (log, dict(discrete, discount_rate=0.0), "discount_rate"),
        (log, dict(discrete, horizon=2.5), "horizon"),
        (log, dict(discrete, currency=3), "currency"),
        (log, dict(discrete, calibration_end="2019-12-31"), "no complete Y period"),
        (table, dict(contractual, calibration_end="2021-01-01"), "calibration_end"),
        (table, dict(contractual, calibration_periods=36), "leaves no later period"),
        (table, dict(contractual, calibration_periods=2.5), "calibration_periods must be a whole number"),
        (table, dict(contractual, end_col="stop"), "'stop'"),
        (table.assign(end="2019-01-01"), contractual, r"'end'.*before the start"),
        (table, dict(contractual, period="fortnight"), "period 'fortnight'"),
        (log, dict(model="gg", calibration_end=CALIBRATION_END), "unknown transaction model 'gg'"),
        (log, dict(model=clv.GammaGammaModel, calibration_end=CALIBRATION_END), "model must be a purchase model"),
    ]
    for data, options, message in bad:
        with pytest.raises(ValueError, match=message):
            validation_report(data, path, **options)
    with pytest.raises(ValueError, match="does not exist"):
        validation_report(log, tmp_path / "missing" / "r.html", **discrete)
    assert not path.exists()


# ----- in a browser ---------------------------------------------------------------------------
def test_period_reports_render_and_print_in_headless_chromium(bgbb_report, sbg_report, tmp_path):
    binary = _chromium()
    browser = _DevTools(binary, tempfile.mkdtemp(prefix="chromium-profile-", dir=tmp_path))
    pages = {}
    try:
        for name, built in (("bgbb", bgbb_report), ("sbg", sbg_report)):
            target = browser.call("Target.createTarget", {"url": "about:blank"})["targetId"]
            session = browser.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
            for domain in ("Page", "Network", "Runtime", "Log"):
                browser.call(f"{domain}.enable", session=session)
            browser.call("Emulation.setDeviceMetricsOverride",
                         {"width": 1200, "height": 900, "deviceScaleFactor": 1, "mobile": False}, session=session)
            browser.events.clear()
            navigation = browser.call("Page.navigate", {"url": built["path"].resolve().as_uri()}, session=session)
            assert "errorText" not in navigation, navigation
            assert browser.wait_for(lambda e: e.get("method") == "Page.loadEventFired", 60), "page did not load"
            state = browser.call("Runtime.evaluate", {
                "expression": """
                    Promise.all(Array.from(document.images).map(img => img.decode().then(() => true, () => false)))
                      .then(decoded => JSON.stringify({
                          sections: Array.from(document.querySelectorAll('section')).map(s => s.id),
                          decoded: decoded, widths: Array.from(document.images).map(img => img.naturalWidth),
                          overflowX: document.documentElement.scrollWidth > window.innerWidth}))""",
                "awaitPromise": True, "returnByValue": True,
            }, session=session)
            browser.call("Emulation.setEmulatedMedia", {"media": "print"}, session=session)
            pdf = base64.b64decode(browser.call("Page.printToPDF", {"preferCSSPageSize": True},
                                                session=session)["data"])
            requests = [e["params"]["request"]["url"] for e in browser.events
                        if e.get("method") == "Network.requestWillBeSent"]
            errors = [e["params"] for e in browser.events if e.get("method") == "Runtime.exceptionThrown"]
            pages[name] = (__import__("json").loads(state["result"]["value"]), pdf, requests, errors)
    finally:
        browser.close()
    for name, built in (("bgbb", bgbb_report), ("sbg", sbg_report)):
        state, pdf, requests, errors = pages[name]
        assert state["sections"] == [a.get("id") for a in built["page"].all("section")]
        assert len(state["decoded"]) == len(built["page"].all("img")) and all(state["decoded"])
        assert all(width > 0 for width in state["widths"])
        assert not state["overflowX"], f"{name}: the page scrolls sideways at 1200 px"
        assert requests and all(url.startswith(("file:", "data:")) for url in requests), requests
        assert not errors, errors
        assert pdf[:5] == b"%PDF-" and len(re.findall(rb"/Type\s*/Page[^s]", pdf)) >= 2


def test_contractual_report_of_a_small_or_wholly_churned_base(tmp_path):
    """No active subscriber: an empty value table; few subscribers: at least one holdout period."""
    import pandas as pd

    # Churn that slows with tenure (heterogeneous customers), everyone gone by November.
    months = np.repeat([1, 2, 3, 4, 5, 6, 8, 10], [16, 8, 5, 3, 3, 2, 2, 1])  # tenure: the month of leaving
    gone = pd.DataFrame({"customer_id": range(1, 41), "start": "2020-01-01",
                         "end": [f"2020-{m:02d}-20" for m in months]})
    text = validation_report(gone, tmp_path / "gone.html", model="sbg", calibration_periods=4).read_text()
    assert "Total over the 0 active subscribers: 0.00" in _parse(text).plain
    few = pd.DataFrame({"customer_id": range(1, 21), "start": "2020-01-01",
                        "end": [None] * 10 + [f"2020-0{m}-10" for m in np.repeat(np.arange(2, 7), 2)]})
    text = validation_report(few, tmp_path / "few.html", model="bdw", observation_end="2021-01-01").read_text()
    found = re.search(r"mean absolute error of ([0-9.]+)% of the observed survivors", text)
    assert found and np.isfinite(float(found.group(1)))


def test_contractual_report_compares_models_on_the_same_periods(records, tmp_path):
    table, end = records
    table = table.replace("", None)
    path = validation_report(table, tmp_path / "c.html", model="bdw", observation_end=end, calibration_periods=12,
                             compare=["sbg", "bdw"])
    text = path.read_text(encoding="utf-8")
    page = _parse(text)
    assert [a.get("id") for a in page.all("section")] == ["summary", "data", "models", "survival", "comparison",
                                                          "value", "settings"]
    tenure = clv.tenure_summary(table, period="M", observation_end=end)
    first = clv.censor_tenure(tenure, 12)
    want = evaluation.compare_survival_models([clv.ShiftedBetaGeoModel().fit(first),
                                               clv.BetaDiscreteWeibullModel().fit(first)], tenure, 12)
    section = _section(text, "comparison")
    for label, row in want.iterrows():
        assert f"{label} {int(row['n_params'])} {row['log_likelihood']:,.1f} {row['aic']:,.1f}" in section
    best = [attrs for attrs in page.all("td") if "best" in attrs.get("class", "")]
    assert len(best) == len(want.attrs["best"])
    with pytest.raises(ValueError, match="contractual models only"):
        validation_report(table, tmp_path / "x.html", model="sbg", observation_end=end, compare=["bgnbd"])
