"""The HTML validation report: its content, self-containment, and how a browser renders it.

The CDNOW report is generated once; its structure and numbers are checked against
the models fitted here (FHL 2005 values: BG/NBD log-likelihood -9,582.43, 4,339
repeat transactions by week 78 of which 4,166 expected, 1,882 holdout purchases of
which 1,653 expected). Then headless Chromium opens it through the DevTools
protocol over a pipe (no extra Python package, no network port): the page must
load, every image must decode, and no request may leave file:// and data: URLs.
Chromium is required in CI (env CI set); elsewhere the browser test is skipped if it
is not installed.
"""

import base64
import fcntl
import html.parser
import json
import os
import re
import select
import shutil
import subprocess
import tempfile
import time

import numpy as np
import pandas as pd
import pytest

matplotlib = pytest.importorskip("matplotlib")

import clvmodels as clv  # noqa: E402
from clvmodels import evaluation  # noqa: E402
from clvmodels.report import validation_report  # noqa: E402

CALIBRATION_END, OBSERVATION_END = "1997-09-30", "1998-06-30"
SECTIONS = ["summary", "data", "models", "fit", "holdout", "tracking", "diagnostics", "segments", "settings"]


class _Page(html.parser.HTMLParser):
    """Collects tags with their attributes, the visible text, section ids and table captions."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags = []
        self.text = []
        self.styles = []
        self._in = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in.append(tag)

    def handle_endtag(self, tag):
        if tag in self._in:
            while self._in and self._in.pop() != tag:
                pass

    def handle_data(self, data):
        if self._in and self._in[-1] == "style":
            self.styles.append(data)
        else:
            self.text.append(data)

    def all(self, tag):
        return [attrs for name, attrs in self.tags if name == tag]


def _parse(text):
    page = _Page()
    page.feed(text)
    page.close()
    page.plain = " ".join(" ".join(page.text).split())
    return page


@pytest.fixture(scope="module")
def report(cdnow_sample, tmp_path_factory):
    import matplotlib.pyplot as plt

    backend, figures = matplotlib.get_backend(), plt.get_fignums()
    path = tmp_path_factory.mktemp("report") / "cdnow report.html"
    started = time.perf_counter()
    written = validation_report(
        cdnow_sample, str(path), amount_col="amount", calibration_end=CALIBRATION_END,
        observation_end=OBSERVATION_END, time_unit="W", horizon=12, period="M", discount_rate=0.01,
        currency="USD", data_source="CDNOW sample <FHL 2005>",
    )
    seconds = time.perf_counter() - started
    text = path.read_text(encoding="utf-8")
    print(f"\nCDNOW report: {path.stat().st_size / 1024:.0f} KiB in {seconds:.1f} s")
    return {
        "path": written, "text": text, "page": _parse(text), "seconds": seconds,
        "backend_before": backend, "backend_after": matplotlib.get_backend(),
        "figures_before": figures, "figures_after": plt.get_fignums(),
    }


# ------------------------------------------------------------------ content


def test_report_is_written_where_asked(report):
    assert report["path"].name == "cdnow report.html"
    assert report["path"].is_file()
    assert report["text"].startswith("<!DOCTYPE html>")
    assert report["seconds"] < 60


def test_report_sections_and_figures(report):
    page = report["page"]
    ids = [attrs.get("id") for attrs in page.all("section")]
    assert ids == SECTIONS
    # Every plot of clvmodels.plotting that applies to BG/NBD is in the report, none failed.
    assert len(page.all("img")) == 12
    assert "figure-error" not in report["text"]
    assert len(page.all("figcaption")) == 12
    assert all(attrs.get("alt") for attrs in page.all("img"))
    assert len(page.all("table")) >= 12


def test_report_numbers(report, split):
    text = report["page"].plain
    bg = clv.BetaGeoModel().fit(split)
    gg = clv.GammaGammaModel().fit(split)
    # Fitted parameters with standard errors, and the log-likelihoods (FHL 2005: -9,582.43).
    assert "-9,582.43" in text and f"{bg.log_likelihood_:,.2f}" == "-9,582.43"
    assert f"{gg.log_likelihood_:,.2f}" in text
    summary = bg.summary()
    for name in ("r", "alpha", "a", "b"):
        assert f"{summary.loc[name, 'estimate']:.4f}" in text
        assert f"{summary.loc[name, 'std_error']:.4f}" in text
    for name in ("p", "q", "v"):
        assert f"{gg.params_[name]:.4f}" in text
    # Data summary.
    for phrase in ("2,357", "6,919", "946 (40.1%)", "2,457", "1,882", "1997-01-01", "1998-06-30"):
        assert phrase in text
    # Goodness of fit: 1,411 customers without repeat purchases.
    assert "1,411" in text and "degrees of freedom" in text
    # Tracking (FHL 2005 Figure 2) and holdout (Figure 4).
    assert "4,339" in text and "4,165.7" in text
    assert "1,653.4" in text
    # Segments and value concentration.
    for phrase in ("active", "at risk", "inactive", "top 1%", "top 5%", "top 10%", "top 20%", "share of total CLV"):
        assert phrase in text
    # Settings: every argument, the version and the date.
    for name in ("customer_col", "date_col", "amount_col", "calibration_end", "observation_end", "time_unit",
                 "horizon", "period", "discount_rate", "margin", "datetime_format", "title"):
        assert name in text
    assert f"clvmodels version {clv.__version__}" in text
    assert re.search(r"generated \(UTC\) \d{4}-\d{2}-\d{2}T", text)


def test_report_concentration_matches_clv(report, split):
    bg = clv.BetaGeoModel().fit(split)
    gg = clv.GammaGammaModel().fit(split)
    value = np.sort(clv.customer_lifetime_value(bg, gg, split, horizon=12, period="M", discount_rate=0.01))[::-1]
    top_tenth = value[: int(np.ceil(len(value) * 0.10))].sum() / value.sum() * 100
    assert f"{top_tenth:.1f}" in report["page"].plain


def test_report_is_self_contained(report):
    page, text = report["page"], report["text"]
    for tag in ("script", "link", "iframe", "object", "embed", "base", "video", "audio", "source"):
        assert not page.all(tag), tag
    for tag, attrs in page.tags:
        for name, value in attrs.items():
            assert name.lower()[:2] != "on", (tag, name)  # no inline event handlers
            if name in ("src", "href", "action", "srcset", "poster"):
                assert value.startswith(("data:", "#")), (tag, name, value[:60])
    style = "".join(page.styles)
    assert "url(" not in style and "@import" not in style
    assert "@media print" in style and "page-break-inside: avoid" in style
    for attrs in page.all("img"):
        src = attrs["src"]
        assert src.startswith("data:image/png;base64,")
        png = base64.b64decode(src.split(",", 1)[1], validate=True)
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert "http://" not in text and "https://" not in text


def test_report_leaves_matplotlib_alone(report):
    assert report["backend_after"] == report["backend_before"]
    assert report["figures_after"] == report["figures_before"]


def test_report_without_amounts_escapes_text(cdnow_sample, tmp_path):
    title = '<script>alert("x")</script> Tom & Jerry\'s'
    path = validation_report(
        cdnow_sample, tmp_path / "plain.html", calibration_end=CALIBRATION_END,
        observation_end=OBSERVATION_END, title=title,
    )
    text = path.read_text(encoding="utf-8")
    page = _parse(text)
    assert "<script" not in text.lower()
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; Tom &amp; Jerry&#x27;s" in text
    assert title in page.plain
    # Without amounts: no Gamma-Gamma, no CLV, no spend or concentration figures.
    assert "Gamma-Gamma parameters" not in page.plain
    assert "No amounts were given" in page.plain
    assert len(page.all("img")) == 10
    assert "figure-error" not in text


def test_report_rejects_bad_settings_before_fitting(cdnow_sample, tmp_path):
    common = dict(calibration_end=CALIBRATION_END, observation_end=OBSERVATION_END)
    with pytest.raises(ValueError, match="'price'"):
        validation_report(cdnow_sample, tmp_path / "r.html", amount_col="price", **common)
    with pytest.raises(ValueError, match="does not exist"):
        validation_report(cdnow_sample, tmp_path / "missing" / "r.html", **common)
    with pytest.raises(ValueError, match="horizon"):
        validation_report(cdnow_sample, tmp_path / "r.html", horizon=1.5, **common)
    with pytest.raises(ValueError, match="discount_rate"):
        validation_report(cdnow_sample, tmp_path / "r.html", discount_rate=-0.1, **common)
    with pytest.raises(ValueError, match="time_unit"):
        validation_report(cdnow_sample, tmp_path / "r.html", time_unit="fortnight", **common)
    with pytest.raises(ValueError, match="calibration_end"):
        validation_report(cdnow_sample, tmp_path / "r.html", calibration_end="1999-01-01",
                          observation_end=OBSERVATION_END)
    assert not (tmp_path / "r.html").exists()


def _section_text(report, anchor):
    text = report["text"]
    start = text.index(f'<section id="{anchor}">')
    return _parse(text[start:text.index("</section>", start)]).plain


def test_report_opens_with_its_verdict(report, split):
    """The first section grades the four checks with the thresholds used (evaluation.verdict)."""
    bg = clv.BetaGeoModel().fit(split)
    gg = clv.GammaGammaModel().fit(split)
    comparison = evaluation.holdout_comparison(bg, split, gg)
    want = evaluation.verdict(evaluation.goodness_of_fit(bg, split), evaluation.holdout_metrics(comparison),
                              evaluation.holdout_by_frequency(comparison),
                              evaluation.spend_frequency_correlation(split))
    text = _section_text(report, "summary")
    assert text.startswith("Verdict BG/NBD passes 2 of 4 checks")
    for check, row in want.iterrows():
        assert f"{row['status'].upper()} {row['question']} {row['finding']}" in text, check
        assert row["pass_if"] in text and row["warn_if"] in text
    assert "p >= 0.05" in text and "|error| <= 10%" in text and "|r| <= 0.2" in text
    page = report["page"]
    items = [attrs["class"] for attrs in page.all("li") if "check" in attrs.get("class", "")]
    assert items == [f"check {status}" for status in want["status"]]


def test_report_names_source_currency_and_who_is_left_out(report, cdnow_sample, split):
    text = _section_text(report, "data")
    assert "data source CDNOW sample <FHL 2005> (6,919 transaction records)" in text
    assert "currency USD" in text and "total amount (USD)" in text
    one_time = int((split["frequency"] == 0).sum())
    assert f"From the spend model only: {one_time:,} customers without a repeat purchase" in text
    assert "CLV (USD)" in report["page"].plain and "spend in USD" in report["page"].plain


def test_report_left_out_late_customers_and_zero_spend(cdnow_sample, tmp_path):
    """Customers first buying after calibration, records after observation, repeat buyers with zero spend."""
    tx = cdnow_sample.copy()
    zero = tx.loc[tx["customer_id"] == tx["customer_id"].value_counts().index[0]].index
    tx.loc[zero, "amount"] = 0.0
    late = tx.iloc[:3].assign(customer_id=-1, date=pd.Timestamp("1997-12-01"))
    later = tx.iloc[:1].assign(customer_id=-2, date=pd.Timestamp("1998-08-01"))
    tx = pd.concat([tx, late, later], ignore_index=True)
    path = validation_report(tx, tmp_path / "r.html", amount_col="amount", calibration_end=CALIBRATION_END,
                             observation_end=OBSERVATION_END)
    text = _section_text({"text": path.read_text(encoding="utf-8")}, "data")
    assert "1 customer whose first purchase is after the end of calibration (1997-09-30)" in text
    assert "1 transaction record after the end of observation (1998-06-30)" in text
    assert "1 repeat buyer whose repeat purchases sum to zero" in text


def test_report_matrices_stop_at_the_99th_percentile_and_history_is_typical(report, split):
    frequency = split["frequency"].to_numpy()
    cap = int(np.ceil(np.quantile(frequency, 0.99)))
    assert cap < frequency.max()
    captions = [c for c in report["page"].plain.split("Frequencies up to")[1:]]
    assert len(captions) == 2
    above = int((frequency > cap).sum())
    for caption in captions:
        assert caption.startswith(f" {cap}, the 99th percentile") and f"({above:,} customers buy more" in caption
    # The history is of a repeat buyer with the median repeat frequency.
    median = int(np.median(frequency[frequency > 0]))
    found = re.search(r"of customer (\d+), a typical repeat buyer: (\d+) repeat purchases", report["page"].plain)
    assert found and int(found.group(2)) == median
    assert split.loc[int(found.group(1)), "frequency"] == median


# The purchase models of continuous-time RFM data (discrete-time ones such as BG/BB take n_periods).
PURCHASE_MODELS = sorted(key for key, cls in clv.registered_models("transaction").items()
                         if set(cls.rfm_columns) <= {"frequency", "recency", "T"})
CONTINUOUS = {key: clv.registered_models("transaction")[key] for key in PURCHASE_MODELS}


@pytest.mark.parametrize("key", PURCHASE_MODELS)
def test_report_for_each_registered_model(key, cdnow_sample, split, tmp_path):
    """model=KEY: the report's fit, names, parameters and heterogeneity plots are that model's;
    compare= adds the comparison table of every registered model, best per column in bold."""
    cls = CONTINUOUS[key]
    path = validation_report(cdnow_sample, tmp_path / f"{key}.html", amount_col="amount",
                             calibration_end=CALIBRATION_END, observation_end=OBSERVATION_END, model=key,
                             compare=PURCHASE_MODELS)
    text = path.read_text(encoding="utf-8")
    page = _parse(text)
    fitted = cls().fit(split)
    assert page.all("title") and f"Model validation report: {fitted.title} and Gamma-Gamma" in page.plain
    assert [a.get("id") for a in page.all("section")] == SECTIONS[:6] + ["comparison"] + SECTIONS[6:]
    assert f"{fitted.title} parameters" in page.plain and fitted.reference in page.plain
    described = fitted.describe_params()
    for name, row in described.iterrows():
        assert f"{name} {row['estimate']:.4f} {row['std_error']:.4f}" in page.plain
        assert row["meaning"] in page.plain
    assert f"{fitted.log_likelihood_:,.2f}" in page.plain
    mixings = fitted.mixing_distributions()
    assert len(page.all("img")) == 10 + len(mixings) and "figure-error" not in text
    for mixing in mixings.values():
        assert f"{mixing.quantity} ~ {mixing.label}" in page.plain
    # The comparison: one row per model, the best of each ranked column marked.
    table = evaluation.compare_models([m().fit(split) for m in CONTINUOUS.values()], split)
    comparison = _section_text({"text": text}, "comparison")
    for label, row in table.iterrows():
        assert f"{label} {int(row['n_params'])} {row['log_likelihood']:,.1f}" in comparison
    best = [attrs for attrs in page.all("td") if "best" in attrs.get("class", "")]
    assert len(best) == len(table.attrs["best"])


@pytest.mark.parametrize("key", PURCHASE_MODELS)
def test_report_names_only_its_own_model(key, cdnow_sample, tmp_path):
    cls = CONTINUOUS[key]
    others = [c.title for k, c in CONTINUOUS.items() if c.title not in cls.title]
    path = validation_report(cdnow_sample, tmp_path / "r.html", calibration_end=CALIBRATION_END,
                             observation_end=OBSERVATION_END, model=cls)
    plain = _parse(path.read_text(encoding="utf-8")).plain
    assert cls.title in plain and "Gamma-Gamma" not in plain
    for title in others:
        assert title not in plain, title


def test_report_model_as_instance_keeps_settings_and_leaves_it_unfitted(cdnow_sample, tmp_path):
    model = clv.BetaGeoModel(penalizer=0.01)
    path = validation_report(cdnow_sample, tmp_path / "r.html", calibration_end=CALIBRATION_END,
                             observation_end=OBSERVATION_END, model=model)
    assert not hasattr(model, "params_")
    penalised = clv.BetaGeoModel(penalizer=0.01).fit(
        clv.calibration_holdout_split(cdnow_sample, calibration_end=CALIBRATION_END, observation_end=OBSERVATION_END,
                                      time_unit="W"))
    assert f"{penalised.params_['r']:.4f}" in _parse(path.read_text(encoding="utf-8")).plain


def test_report_rejects_unknown_models_before_fitting(cdnow_sample, tmp_path):
    common = dict(calibration_end=CALIBRATION_END, observation_end=OBSERVATION_END)
    with pytest.raises(ValueError, match="unknown transaction model 'nope'; choose one of .*bgnbd"):
        validation_report(cdnow_sample, tmp_path / "r.html", model="nope", **common)
    with pytest.raises(ValueError, match="model must be a purchase model key"):
        validation_report(cdnow_sample, tmp_path / "r.html", model=clv.GammaGammaModel, **common)
    discrete = [c for c in clv.registered_models("transaction").values() if "T" not in c.rfm_columns]
    for cls in discrete:  # e.g. BG/BB has its own report (tests/test_report_periods.py), never in compare
        with pytest.raises(ValueError, match="continuous time"):
            validation_report(cdnow_sample, tmp_path / "r.html", compare=["bgnbd", cls], **common)
    with pytest.raises(ValueError, match="calibration_end is required"):
        validation_report(cdnow_sample, tmp_path / "r.html", observation_end=OBSERVATION_END)
    with pytest.raises(ValueError, match="start_col is for the contractual"):
        validation_report(cdnow_sample, tmp_path / "r.html", start_col="begin", **common)
    with pytest.raises(ValueError, match="compare must be a list"):
        validation_report(cdnow_sample, tmp_path / "r.html", compare="bgnbd", **common)
    with pytest.raises(ValueError, match="compare"):
        validation_report(cdnow_sample, tmp_path / "r.html", compare=["bgnbd", 3], **common)
    with pytest.raises(ValueError, match="currency"):
        validation_report(cdnow_sample, tmp_path / "r.html", currency=1, **common)
    assert not (tmp_path / "r.html").exists()


# ------------------------------------------------------------------ in a browser


def _chromium():
    """Path of the chromium binary; fail in CI, skip elsewhere, if it is missing."""
    path = shutil.which("chromium") or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)
    if path is None:
        message = "chromium is not installed (Debian package 'chromium'; `make system-deps` installs it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


class _DevTools:
    """Minimal Chrome DevTools Protocol client over --remote-debugging-pipe (fd 3 in, fd 4 out)."""

    def __init__(self, binary, profile, timeout=60.0):
        self.timeout = timeout
        to_chrome_r, to_chrome_w = os.pipe()
        from_chrome_r, from_chrome_w = os.pipe()

        def wire_pipes():  # runs in the child: put the pipe ends at fds 3 and 4
            read_end = fcntl.fcntl(to_chrome_r, fcntl.F_DUPFD, 10)
            write_end = fcntl.fcntl(from_chrome_w, fcntl.F_DUPFD, 10)
            os.dup2(read_end, 3)
            os.dup2(write_end, 4)

        args = [
            binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--no-default-browser-check", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--disable-extensions", "--disable-default-apps", "--mute-audio",
            "--hide-scrollbars", "--host-resolver-rules=MAP * ~NOTFOUND", f"--user-data-dir={profile}",
            "--remote-debugging-pipe", "about:blank",
        ]
        self.process = subprocess.Popen(
            args, pass_fds=(3, 4), preexec_fn=wire_pipes, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._out, self._in = to_chrome_w, from_chrome_r
        self._buffer = b""
        self._next_id = 0
        self.events = []

    def _message(self, deadline):
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("chromium did not answer in time")
            ready, _, _ = select.select([self._in], [], [], left)
            if ready:
                chunk = os.read(self._in, 1 << 20)
                if not chunk:
                    raise RuntimeError("chromium closed the DevTools pipe")
                self._buffer += chunk
        message, _, self._buffer = self._buffer.partition(b"\0")
        return json.loads(message)

    def call(self, method, params=None, session=None):
        self._next_id += 1
        request = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            request["sessionId"] = session
        os.write(self._out, json.dumps(request).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            message = self._message(deadline)
            if message.get("id") == self._next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]
            self.events.append(message)

    def wait_for(self, predicate, seconds):
        deadline = time.monotonic() + seconds
        if any(predicate(e) for e in self.events):
            return True
        while True:
            try:
                message = self._message(deadline)
            except TimeoutError:
                return False
            self.events.append(message)
            if predicate(message):
                return True

    def close(self):
        try:
            self.call("Browser.close")
        except (RuntimeError, TimeoutError, OSError):
            pass
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._out)
        os.close(self._in)


def test_report_renders_in_headless_chromium(report, tmp_path):
    binary = _chromium()
    profile = tempfile.mkdtemp(prefix="chromium-profile-", dir=tmp_path)
    browser = _DevTools(binary, profile)
    try:
        target = browser.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = browser.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Network", "Runtime", "Log"):
            browser.call(f"{domain}.enable", session=session)
        browser.call("Page.setLifecycleEventsEnabled", {"enabled": True}, session=session)
        browser.call("Emulation.setDeviceMetricsOverride",
                     {"width": 1200, "height": 900, "deviceScaleFactor": 1, "mobile": False}, session=session)
        url = report["path"].resolve().as_uri()
        navigation = browser.call("Page.navigate", {"url": url}, session=session)
        assert "errorText" not in navigation, navigation
        assert browser.wait_for(lambda e: e.get("method") == "Page.loadEventFired", 60), "page did not load"
        browser.wait_for(lambda e: e.get("method") == "Page.lifecycleEvent"
                         and e["params"].get("name") == "networkIdle", 10)

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
                      stylesheets: document.styleSheets.length,
                      height: document.documentElement.scrollHeight,
                      overflowX: document.documentElement.scrollWidth > window.innerWidth}))""",
            "awaitPromise": True, "returnByValue": True,
        }, session=session)
        page = json.loads(state["result"]["value"])

        screenshot = browser.call("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": 1200, "height": min(page["height"], 16000), "scale": 1},
        }, session=session)
        (tmp_path / "report.png").write_bytes(base64.b64decode(screenshot["data"]))
        browser.call("Emulation.setEmulatedMedia", {"media": "print"}, session=session)
        pdf = base64.b64decode(browser.call("Page.printToPDF", {"preferCSSPageSize": True},
                                            session=session)["data"])
    finally:
        browser.close()

    assert page["ready"] == "complete"
    assert page["title"].startswith("Model validation report")
    assert page["sections"] == SECTIONS
    assert len(page["images"]) == 12
    for image in page["images"]:
        assert image["decoded"] and image["complete"] and image["width"] > 0 and image["height"] > 0, image
        assert 300 < image["shown"] <= image["width"]  # never upscaled, never tiny
    assert page["stylesheets"] == 1
    assert not page["overflowX"], "the page scrolls sideways at 1200 px"

    requests = [e["params"]["request"]["url"] for e in browser.events
                if e.get("method") == "Network.requestWillBeSent"]
    assert requests, "no request recorded: the network log is not working"
    outside = [u[:80] for u in requests if not u.startswith(("file:", "data:"))]
    assert not outside, f"the report reached for the network: {outside}"
    failed = [e["params"] for e in browser.events if e.get("method") == "Network.loadingFailed"]
    assert not failed, failed
    errors = [e["params"] for e in browser.events
              if e.get("method") == "Runtime.exceptionThrown"
              or (e.get("method") == "Log.entryAdded" and e["params"]["entry"]["level"] == "error")]
    assert not errors, errors

    assert pdf[:5] == b"%PDF-"
    pages = len(re.findall(rb"/Type\s*/Page[^s]", pdf))
    assert pages >= 5, f"printed to {pages} pages"


def test_missing_chromium_fails_in_ci_and_skips_elsewhere(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setattr(os.path, "exists", lambda path: False)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="chromium is not installed"):
        _chromium()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception):
        _chromium()


def test_report_shows_the_holdout_coverage_of_the_intervals(report, split):
    """The holdout section gives the shares below, inside and above each customer's 80% and
    90% purchase interval and the base's total against its interval (evaluation.interval_coverage)."""
    want = evaluation.interval_coverage(clv.BetaGeoModel().fit(split), split, levels=(0.8, 0.9))
    text = _section_text(report, "holdout")
    for level, row in want.iterrows():
        cells = f"{100 * level:.0f}% {100 * row['below']:.1f} {100 * row['inside']:.1f} {100 * row['above']:.1f}"
        assert cells in text
    total = want.attrs["total"]
    assert f"{total['estimate']:,.0f} expected" in text and f"against {total['actual']:,.0f} actual" in text
