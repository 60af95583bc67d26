"""The customer value report (HTML for marketing) and its plots.

Written once on the CDNOW sample (models fitted on everything to 1998-06-30, an
invented cost table and invented channels); its numbers are checked against
clvmodels.business, its self-containment like the validation report's, and headless
Chromium opens it over --remote-debugging-pipe (the DevTools client of
tests/test_report.py): the page loads, every image decodes, nothing leaves file:
and data: URLs, nothing scrolls sideways.
"""

import base64
import json
import tempfile

import numpy as np
import pandas as pd
import pytest

matplotlib = pytest.importorskip("matplotlib")

import clvmodels as clv  # noqa: E402
from clvmodels import business, plotting  # noqa: E402
from clvmodels.report import _fixed  # noqa: E402
from clvmodels.value_report import SECTIONS, value_report  # noqa: E402
from test_report import _chromium, _DevTools, _parse  # noqa: E402

MARGIN = 0.3
N_FIGURES = 6


@pytest.fixture(scope="module")
def setup(cdnow_sample):
    rfm = clv.rfm_summary(cdnow_sample, amount_col="amount", time_unit="W")
    bg, gg = clv.BetaGeoModel().fit(rfm), clv.GammaGammaModel().fit(rfm)
    channels = pd.Series(np.where(rfm.index.to_numpy() % 4 == 0, "affiliate", "search"), index=rfm.index)
    months = ["1997-01", "1997-02", "1997-03"]
    costs = pd.DataFrame({"channel": ["search"] * 3 + ["affiliate"] * 3, "month": months * 2,
                          "spend": [18000.0, 19000.0, 16000.0, 3000.0, 3200.0, 2800.0]})
    return {"tx": cdnow_sample, "rfm": rfm, "models": (bg, gg), "channels": channels, "costs": costs}


@pytest.fixture(scope="module")
def report(setup, tmp_path_factory):
    path = tmp_path_factory.mktemp("value") / "customer value.html"
    written = value_report(setup["tx"], path, *setup["models"], margin=MARGIN, currency="EUR",
                           acquisition_costs=setup["costs"], channels=setup["channels"], title="CDNOW & friends")
    text = path.read_text(encoding="utf-8")
    return {"path": written, "text": text, "page": _parse(text)}


def test_report_sections_and_figures(report):
    page = report["page"]
    assert [attrs.get("id") for attrs in page.all("section")] == [*SECTIONS, "settings"]
    assert len(page.all("img")) == N_FIGURES
    assert "figure-error" not in report["text"]
    assert all(attrs.get("alt") for attrs in page.all("img"))
    assert "CDNOW &amp; friends" in report["text"]
    # Plain words for marketing: no likelihoods, no parameter tables.
    assert "likelihood" not in page.plain.lower() and "alpha" not in page.plain


def test_report_numbers_come_from_business(report, setup):
    text = report["page"].plain
    tx, (bg, gg) = setup["tx"], setup["models"]
    values = business.customer_value(bg, gg, tx, margin=MARGIN, currency="EUR", channels=setup["channels"])
    totals = business.segment_value(values).loc["all"]
    for column in ("realised_margin", "expected_value", "customer_value"):
        assert f"{_fixed(totals[column], 0)} EUR" in text
    top20 = business.value_concentration(values["expected_value"]).loc["top 20%", "share_of_value"]
    assert f"{100 * top20:.1f}%" in text
    ltv = business.ltv_cac(values, tx, setup["costs"], bg, gg)
    assert _fixed(ltv.loc[("1997-02", "affiliate"), "ltv_cac"], 1) in text
    assert _fixed(ltv.loc[("1997-01", "all"), "cac"], 2) in text
    simple = business.simple_formula_comparison(values, tx)
    assert simple.attrs["sentence"] in text
    what_if = business.retention_what_if(bg, gg, setup["rfm"], points=5, margin=MARGIN,
                                         segments=values["segment"].to_numpy())
    assert f"{_fixed(what_if.loc['all', 'change'], 0)} EUR" in text
    assert f"{100 * what_if.attrs['retention_before']:.1f}%" in text


def test_report_is_self_contained(report):
    page, text = report["page"], report["text"]
    for tag in ("script", "link", "iframe", "object", "embed", "base"):
        assert not page.all(tag), tag
    for tag, attrs in page.tags:
        for name, value in attrs.items():
            assert name.lower()[:2] != "on", (tag, name)
            if name in ("src", "href", "action", "srcset", "poster"):
                assert value.startswith(("data:", "#")), (tag, name, value[:60])
    for attrs in page.all("img"):
        png = base64.b64decode(attrs["src"].split(",", 1)[1], validate=True)
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert "http://" not in text and "https://" not in text


def test_report_without_costs_says_so(setup, tmp_path):
    path = value_report(setup["tx"], tmp_path / "plain.html", *setup["models"], period="W", horizon=26)
    page = _parse(path.read_text(encoding="utf-8"))
    assert "No acquisition cost table was given" in page.plain
    assert "The simple formula counts calendar months or quarters" in page.plain
    assert len(page.all("img")) == N_FIGURES - 1


def test_bad_cost_table_fails_before_writing(setup, tmp_path):
    costs = setup["costs"].assign(spend=[18000.0, -1.0, 16000.0, 3000.0, 3200.0, 2800.0])
    with pytest.raises(ValueError, match=r"row 2 \(channel 'search', month '1997-02'\): spend is negative"):
        value_report(setup["tx"], tmp_path / "r.html", *setup["models"], acquisition_costs=costs,
                     channels=setup["channels"])
    assert not (tmp_path / "r.html").exists()


def test_value_plots_draw_on_the_given_axes(setup):
    from matplotlib.figure import Figure

    tx, (bg, gg) = setup["tx"], setup["models"]
    values = business.customer_value(bg, gg, tx, margin=MARGIN, channels=setup["channels"])
    kpis = business.cohort_kpis(tx, bg, gg)
    tables = {
        "plot_value_by_segment": business.segment_value(values),
        "plot_cohort_retention": kpis,
        "plot_cohort_repeat_orders": kpis,
        "plot_ltv_cac": business.ltv_cac(values, tx, setup["costs"], bg, gg),
        "plot_retention_what_if": business.retention_what_if(bg, gg, setup["rfm"], points=5),
    }
    assert set(tables) == set(plotting.VALUE_PLOTS)
    for name, table in tables.items():
        ax = Figure().add_subplot()
        assert getattr(plotting, name)(table, ax=ax) is ax
        assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel(), name
    pooled = Figure().add_subplot()
    plotting.plot_cohort_repeat_orders(kpis, ax=pooled)
    observed = pooled.get_lines()[0].get_ydata()
    per_period = kpis.groupby(level=1)[["repeat_orders", "cohort_size"]].sum()
    np.testing.assert_allclose(observed, per_period["repeat_orders"] / per_period["cohort_size"])
    with pytest.raises(ValueError, match="no expected figures"):
        plotting.plot_cohort_repeat_orders(business.cohort_kpis(tx), ax=Figure().add_subplot())


def test_report_renders_in_headless_chromium(report, tmp_path):
    binary = _chromium()
    browser = _DevTools(binary, tempfile.mkdtemp(prefix="chromium-profile-", dir=tmp_path))
    try:
        target = browser.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = browser.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Network", "Runtime", "Log"):
            browser.call(f"{domain}.enable", session=session)
        browser.call("Emulation.setDeviceMetricsOverride",
                     {"width": 1200, "height": 900, "deviceScaleFactor": 1, "mobile": False}, session=session)
        navigation = browser.call("Page.navigate", {"url": report["path"].resolve().as_uri()}, session=session)
        assert "errorText" not in navigation, navigation
        assert browser.wait_for(lambda e: e.get("method") == "Page.loadEventFired", 60), "page did not load"
        state = browser.call("Runtime.evaluate", {
            "expression": """
                Promise.all(Array.from(document.images).map(img => img.decode().then(() => true, () => false)))
                  .then(decoded => JSON.stringify({
                      title: document.title,
                      ready: document.readyState,
                      sections: Array.from(document.querySelectorAll('section')).map(s => s.id),
                      images: Array.from(document.images).map((img, i) => ({
                          decoded: decoded[i], complete: img.complete,
                          width: img.naturalWidth, height: img.naturalHeight,
                          shown: img.getBoundingClientRect().width})),
                      height: document.documentElement.scrollHeight,
                      overflowX: document.documentElement.scrollWidth > window.innerWidth}))""",
            "awaitPromise": True, "returnByValue": True,
        }, session=session)
        page = json.loads(state["result"]["value"])
        screenshot = browser.call("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": 1200, "height": min(page["height"], 16000), "scale": 1},
        }, session=session)
        (tmp_path / "value report.png").write_bytes(base64.b64decode(screenshot["data"]))
    finally:
        browser.close()

    assert page["ready"] == "complete"
    assert page["title"] == "CDNOW & friends"
    assert page["sections"] == [*SECTIONS, "settings"]
    assert len(page["images"]) == N_FIGURES
    for image in page["images"]:
        assert image["decoded"] and image["complete"] and image["width"] > 0 and image["height"] > 0, image
        assert 300 < image["shown"] <= image["width"]
    assert not page["overflowX"], "the page scrolls sideways at 1200 px"
    requests = [e["params"]["request"]["url"] for e in browser.events
                if e.get("method") == "Network.requestWillBeSent"]
    assert requests and not [u for u in requests if not u.startswith(("file:", "data:"))]
    errors = [e["params"] for e in browser.events
              if e.get("method") == "Runtime.exceptionThrown"
              or (e.get("method") == "Log.entryAdded" and e["params"]["entry"]["level"] == "error")]
    assert not errors, errors


def test_report_shows_the_ltv_range_when_asked(setup, tmp_path):
    costs = pd.DataFrame({"month": ["1997-01", "1997-02", "1997-03"], "spend": [20000.0, 21000.0, 19000.0]})
    tx, models = setup["tx"], setup["models"]
    path = value_report(tx, tmp_path / "ranged.html", *models, margin=MARGIN, acquisition_costs=costs,
                        interval=0.8)
    text = _parse(path.read_text(encoding="utf-8")).plain
    values = business.customer_value(*models, tx, margin=MARGIN)
    row = business.ltv_cac(values, tx, costs, *models, interval=0.8).loc[("1997-02", "all")]
    assert "LTV range (USD)" in text and "with 80% probability" in text
    assert f"{_fixed(row['ltv_lower'], 2)} – {_fixed(row['ltv_upper'], 2)}" in text
