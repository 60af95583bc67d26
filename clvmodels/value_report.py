"""A self-contained HTML "customer value" report for marketing and finance.

Where the validation report (:mod:`clvmodels.report`) asks whether the model fits,
this one says what the fitted models mean for the business, in plain words: what
customers are worth (margin earned plus margin to come), which segments hold the
value and what to do with each, how acquisition cohorts behave next to what the
model expects, whether acquisition pays (LTV:CAC, payback), how the spreadsheet
formula compares, and what better retention is worth. Every number comes from
:mod:`clvmodels.business`; this module only formats. One HTML file with embedded
PNG figures, an inline style sheet, no scripts and no network resources (the
HTML helpers and style of the validation report are reused).
"""

import datetime as _dt
import time
import warnings
from pathlib import Path

import numpy as np

from . import business
from .report import _CSS, _Figures, _cards, _esc, _fixed, _fmt, _p, _section, _table, _unique_warnings
from .segments import SEGMENTS

__all__ = ["value_report"]

SECTIONS = ("summary", "segments", "concentration", "cohorts", "acquisition", "simple", "whatif", "definitions")
_TITLES = {
    "summary": "At a glance", "segments": "Who holds the value", "concentration": "How concentrated value is",
    "cohorts": "Acquisition cohorts", "acquisition": "Does acquisition pay?", "simple": "The simple formula",
    "whatif": "What better retention is worth", "definitions": "How the numbers are made",
}
_PLAYS = {
    "new": "First bought recently. Welcome them and aim for the second purchase: it is the step most "
           "customers never take.",
    "active": "Likely still buying. Keep them happy; cross-sell and loyalty perks, no discounts needed.",
    "at risk": "Bought before but quiet for longer than their habit. A timely, personal win-back offer.",
    "inactive": "Probably gone. Low-cost reactivation at most; do not spend acquisition-level money here.",
}
_MAX_PERIOD_COLUMNS = 18
_EXTRA_CSS = "tbody th { white-space: nowrap; }\n"
_UNIT_WORDS = {"H": "hour", "D": "day", "W": "week", "M": "month", "Q": "quarter", "Y": "year"}


def _money(value, currency, decimals=0):
    if value is None or not np.isfinite(value):
        return _fmt(value)
    return f"{_fixed(value, decimals)} {currency}"


def _pct(value, decimals=1):
    return "–" if value is None or not np.isfinite(value) else f"{100 * value:.{decimals}f}%"


def _period_words(period):
    if isinstance(period, str):
        return _UNIT_WORDS.get(period.upper(), period)
    return f"{period:g} model time units"


def value_report(
    transactions,
    path,
    transaction_model,
    spend_model,
    *,
    customer_col="customer_id",
    date_col="date",
    amount_col="amount",
    observation_end=None,
    horizon=12,
    period="M",
    discount_rate=0.01,
    margin=1.0,
    currency="USD",
    cost_to_serve=0.0,
    cohort="M",
    acquisition_costs=None,
    channels=None,
    retention_points=5.0,
    retention_period="Y",
    interval=None,
    datetime_format=None,
    title=None,
):
    """Write the customer value report for fitted models and their transaction log.

    Sections: at a glance (totals, top-20% share, the value of better retention);
    value by segment with a suggested play for each; concentration of expected
    value; cohort KPIs observed next to the model; LTV:CAC and payback (with
    ``acquisition_costs``); the simple spreadsheet formula next to the model; the
    retention what-if; and how every number is made.

    Parameters
    ----------
    transactions : pandas.DataFrame
        The transaction log the models were fitted on (summarised to
        ``observation_end``).
    path : str or pathlib.Path
        HTML file to write (its directory must exist).
    transaction_model, spend_model : fitted models
        Any purchase model (with ``with_dropout_scaled`` for the what-if; without it
        the section says so) and a spend model.
    customer_col, date_col, amount_col, observation_end, datetime_format
        As in :func:`clvmodels.rfm_summary`.
    horizon, period, discount_rate, margin
        As in :func:`clvmodels.customer_lifetime_value`.
    currency : str, default "USD"
    cost_to_serve : float, default 0
        Cost per period of serving a customer (see
        :func:`clvmodels.business.customer_value`).
    cohort : {"M", "Q"}, default "M"
    acquisition_costs : pandas.DataFrame, optional
        Cost table for :func:`clvmodels.business.ltv_cac`.
    channels : pandas.Series, optional
        Acquisition channel per customer id.
    retention_points : float, default 5
        Retention rise of the what-if, in points of ``retention_period`` retention.
    retention_period : str, default "Y"
    interval : float, optional
        With e.g. 0.9, the LTV:CAC table shows a 90% range of LTV per cohort and
        channel (:func:`clvmodels.business.ltv_cac` with ``interval``; slower).
    title : str, optional

    Returns
    -------
    pathlib.Path

    Raises
    ------
    ValueError
        For invalid input or settings (a bad cost table names the row), before
        anything is written.
    ImportError
        If matplotlib is not installed.
    """
    started = time.perf_counter()
    generated = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0)
    path = Path(path)
    try:
        import matplotlib  # noqa: F401
    except ImportError as error:
        raise ImportError("value_report needs matplotlib: pip install 'clvmodels[plot]'") from error
    from . import __version__, plotting

    if not path.parent.exists():
        raise ValueError(f"path {str(path)!r}: the directory {str(path.parent)!r} does not exist")
    retention_points = float(retention_points)
    if not np.isfinite(retention_points) or retention_points == 0:
        raise ValueError(f"retention_points must be a non-zero number of points, got {retention_points!r}")
    columns = dict(customer_col=customer_col, date_col=date_col, amount_col=amount_col,
                   datetime_format=datetime_format)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        values = business.customer_value(
            transaction_model, spend_model, transactions, observation_end=observation_end, horizon=horizon,
            period=period, discount_rate=discount_rate, margin=margin, currency=currency,
            cost_to_serve=cost_to_serve, cohort=cohort, channels=channels, **columns,
        )
        facts = {
            "values": values,
            "segments": business.segment_value(values),
            "concentration": business.value_concentration(values["expected_value"]),
            "kpis": business.cohort_kpis(transactions, transaction_model, spend_model, cohort=cohort,
                                         observation_end=values.attrs["observation_end"], **columns),
            "ltv": (business.ltv_cac(values, transactions, acquisition_costs, transaction_model, spend_model,
                                     interval=interval, **columns) if acquisition_costs is not None else None),
            "simple": (business.simple_formula_comparison(values, transactions, **columns)
                       if isinstance(period, str) and period.upper() in business.COHORT_UNITS else None),
            "what_if": _what_if(transaction_model, spend_model, transactions, values, retention_points,
                                retention_period, columns),
        }
        figures = _Figures()
        body = _body(facts, figures, plotting)
    messages = _unique_warnings(caught)

    heading = title or "Customer value report"
    attrs = values.attrs
    settings = [
        ("as of (observation end)", attrs["observation_end"]), ("purchase model", type(transaction_model).__name__),
        ("spend model", type(spend_model).__name__), ("model time unit", attrs["time_unit"]),
        ("margin", f"{attrs['margin']:g}"), ("currency", attrs["currency"]),
        ("horizon", f"{attrs['horizon']} × {_period_words(attrs['period'])}"),
        ("discount rate per period", f"{attrs['discount_rate']:g}"),
        ("cost to serve per period", f"{attrs['cost_to_serve']:g}"), ("cohorts", _period_words(cohort) + "ly"),
        ("acquisition costs", "given" if acquisition_costs is not None else "not given"),
        ("retention what-if", f"{retention_points:+g} points of {_period_words(retention_period)}ly retention"),
        ("clvmodels version", __version__), ("generated (UTC)", generated.isoformat()),
        ("generation time", f"{time.perf_counter() - started:.1f} s"),
    ]
    document = _document(heading, generated, __version__, body, settings, messages, figures)
    path.write_text(document, encoding="utf-8")
    for category, text in messages:
        warnings.warn(text, category, stacklevel=2)
    return path


def _what_if(transaction_model, spend_model, transactions, values, points, retention_period, columns):
    if not hasattr(transaction_model, "with_dropout_scaled"):
        return None
    attrs = values.attrs
    rfm = business._rfm_for(transaction_model, transactions, columns["customer_col"], columns["date_col"],
                            columns["amount_col"], attrs["observation_end"], columns["datetime_format"])
    table = business.retention_what_if(
        transaction_model, spend_model, rfm, points=points, retention_period=retention_period,
        horizon=attrs["horizon"], period=attrs["period"], discount_rate=attrs["discount_rate"],
        margin=attrs["margin"], segments=values["segment"].to_numpy(),
    )
    table.attrs["currency"] = attrs["currency"]
    return table


def _document(heading, generated, version, body, settings, messages, figures):
    nav = "<nav><strong>Contents</strong><ol>" + "".join(
        f'<li><a href="#{a}">{_esc(_TITLES[a])}</a></li>' for a in SECTIONS
    ) + "</ol></nav>"
    warning_html = ""
    if messages:
        warning_html = '<div class="warning"><strong>Warnings raised while producing this report</strong><ul>' + "".join(
            f"<li>{_esc(text)}</li>" for _, text in messages) + "</ul></div>"
    failed = f", {len(figures.failures)} failed" if figures.failures else ""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="generator" content="clvmodels {_esc(version)}">'
        f"<title>{_esc(heading)}</title><style>{_CSS}{_EXTRA_CSS}</style></head><body><main>"
        f"<header><h1>{_esc(heading)}</h1>"
        f'<div class="meta">Generated {_esc(generated.strftime("%Y-%m-%d %H:%M UTC"))} by clvmodels {_esc(version)} '
        f"· {figures.count} figures{_esc(failed)}</div></header>"
        f"{nav}{warning_html}{body}"
        + _section("settings", "Settings", _table(settings, ["setting", "value"], formats={}))
        + "<footer>Figures from clvmodels.business and the fitted models named under Settings. "
        "This file is self-contained: no scripts, no network resources.</footer>"
        "</main></body></html>\n"
    )


def _body(facts, figures, plotting):
    values = facts["values"]
    attrs = values.attrs
    currency = attrs["currency"]
    horizon_words = f"the next {attrs['horizon']} {_period_words(attrs['period'])}s"
    parts = [
        _summary(facts, currency, horizon_words),
        _segments(facts, figures, plotting, currency, horizon_words),
        _concentration(facts, figures, plotting, currency),
        _cohorts(facts, figures, plotting, currency),
        _acquisition(facts, figures, plotting, currency),
        _simple(facts, currency),
        _whatif(facts, figures, plotting, currency, horizon_words),
        _definitions(attrs, currency),
    ]
    return "".join(parts)


def _summary(facts, currency, horizon_words):
    values, segments = facts["values"], facts["segments"]
    total = segments.loc[business.ALL]
    top20 = facts["concentration"].loc["top 20%", "share_of_value"]
    cards = [
        ("customers", _fmt(float(len(values)))),
        ("margin already earned", _money(total["realised_margin"], currency)),
        (f"expected margin, {horizon_words}", _money(total["expected_value"], currency)),
        ("customer value (both)", _money(total["customer_value"], currency)),
        ("value per customer", _money(total["value_per_customer"], currency, 2)),
        ("share of expected value held by the top 20%", _pct(top20)),
    ]
    what_if = facts["what_if"]
    if what_if is not None:
        cards.append((f"worth of {what_if.attrs['points']:+g} points of retention",
                      _money(what_if.loc[business.ALL, "change"], currency)))
    text = (
        f"As of {values.attrs['observation_end']}, the {len(values):,} customers have brought "
        f"{_money(total['realised_margin'], currency)} of margin and are expected to bring "
        f"{_money(total['expected_value'], currency)} more over {horizon_words}. "
        f"The most valuable 20% of customers hold {_pct(top20, 0)} of what is still to come."
    )
    return _section("summary", _TITLES["summary"], _cards(cards) + _p(text))


def _segments(facts, figures, plotting, currency, horizon_words):
    table = facts["segments"]
    rows, plays = [], []
    for name in [*SEGMENTS, business.ALL]:
        row = table.loc[name]
        if name != business.ALL and row["customers"] == 0:
            continue
        rows.append([name, row["customers"], row["share_of_customers"], row["mean_probability_alive"],
                     row["realised_margin"], row["expected_value"], row["share_of_expected_value"],
                     row["value_per_customer"]])
        if name in _PLAYS:
            plays.append([name, _PLAYS[name]])
    body = _p(
        "Customers are grouped by what the model says about them today: how likely they are to still be "
        "customers, and how long they have been customers. The suggested play is a starting point for each group."
    )
    body += _table(
        rows, ["segment", "customers", "share", "chance still a customer", f"margin earned ({currency})",
               f"expected margin ({currency})", "share of expected", f"value per customer ({currency})"],
        f"Customers and value by segment (expected margin over {horizon_words})",
        {1: _fmt, 2: _pct, 3: lambda v: _pct(v, 0), 4: lambda v: _fixed(v, 0), 5: lambda v: _fixed(v, 0),
         6: _pct, 7: lambda v: _fixed(v, 2)},
    )
    body += _table(plays, ["segment", "suggested play"], "What to do with each segment", formats={})
    body += figures.draw(plotting.plot_value_by_segment, table,
                         caption="Margin already earned and margin still expected, per segment.",
                         alt="Stacked bars of earned and expected margin per segment")
    return _section("segments", _TITLES["segments"], body)


def _concentration(facts, figures, plotting, currency):
    table = facts["concentration"]
    rows = [[name, row["customers"], row["value"], row["share_of_value"]] for name, row in table.iterrows()]
    body = _p("Customers ranked by the margin they are expected to bring; how much of the total the best of them hold.")
    body += _table(rows, ["customers", "number", f"expected margin ({currency})", "share of total"],
                   "Share of expected value held by the most valuable customers",
                   {1: _fmt, 2: lambda v: _fixed(v, 0), 3: _pct})
    body += figures.draw(plotting.plot_value_concentration, facts["values"]["expected_value"],
                         caption="Share of total expected value by share of customers, most valuable first.",
                         alt="Concentration curve of expected customer value")
    return _section("concentration", _TITLES["concentration"], body)


def _cohorts(facts, figures, plotting, currency):
    kpis = facts["kpis"]
    unit = _period_words(kpis.attrs["cohort"])
    retention = kpis["retention_rate"].unstack("period")
    shown = [k for k in retention.columns if 0 < k <= _MAX_PERIOD_COLUMNS]
    wide = [[name, *[retention.loc[name, k] for k in shown]] for name in retention.index]
    summary = []
    for name, rows in kpis.groupby(level=0, sort=False):
        last = rows.iloc[-1]
        orders = rows["orders"].sum()
        revenue = rows["revenue"].sum() if "revenue" in rows else np.nan
        expected = rows["expected_repeat_orders"].sum() if "expected_repeat_orders" in rows else np.nan
        summary.append([name, last["cohort_size"], last["repeat_purchase_rate"], orders / last["cohort_size"],
                        revenue / orders if orders else np.nan, revenue, rows["repeat_orders"].sum(), expected])
    body = _p(
        f"Customers are grouped by the {unit} of their first purchase (their cohort). The first table shows, for "
        f"each {unit} after that, the share of the cohort that bought (retention). The second sums each cohort up "
        f"to {kpis.attrs['observation_end']}: the share who came back at least once (repeat-purchase rate), orders "
        "per customer, average order value, revenue, and the repeat orders next to what the model expects for a "
        "cohort of that size and timing, knowing only when each customer first bought."
    )
    body += _table(wide, ["cohort", *[str(k) for k in shown]],
                   f"Retention: share of the cohort buying, by {unit}s after the first purchase",
                   {j: lambda v: _pct(v, 0) for j in range(1, len(shown) + 1)})
    body += _table(
        summary, ["cohort", "customers", "repeat-purchase rate", "orders per customer",
                  f"average order ({currency})", f"revenue ({currency})", "repeat orders", "model: repeat orders"],
        "Cohorts up to the end of the data, observed and expected",
        {1: _fmt, 2: _pct, 3: lambda v: _fixed(v, 2), 4: lambda v: _fixed(v, 2), 5: lambda v: _fixed(v, 0),
         6: _fmt, 7: lambda v: _fixed(v, 0)},
    )
    body += figures.draw(plotting.plot_cohort_retention, kpis,
                         caption=f"Share of each cohort buying in each {unit} after acquisition.",
                         alt="Retention curves by acquisition cohort")
    body += figures.draw(plotting.plot_cohort_repeat_orders, kpis,
                         caption=f"Repeat orders per customer by {unit}s since acquisition, all cohorts pooled: "
                                 "what happened and what the model expects.",
                         alt="Observed and expected repeat orders per customer")
    return _section("cohorts", _TITLES["cohorts"], body)


def _acquisition(facts, figures, plotting, currency):
    table = facts["ltv"]
    if table is None:
        return _section("acquisition", _TITLES["acquisition"], _p(
            "No acquisition cost table was given, so LTV:CAC and payback are not shown. Give one with "
            "columns channel, month, spend, new_customers (or customer, cost).", "note"))
    unit = _period_words(table.attrs["cohort"])
    ranged = "ltv_lower" in table.columns
    rows = []
    for (c, ch), r in table.iterrows():
        row = [f"{c} · {ch}", r["customers"], r["spend"], r["cac"], r["ltv"]]
        if ranged:
            row.append(f"{_fixed(r['ltv_lower'], 2)} – {_fixed(r['ltv_upper'], 2)}")
        rows += [row + [r["ltv_cac"], r["payback_periods"]]]
    body = _p(
        f"For each cohort and channel: the acquisition cost per new customer (CAC), the value per customer "
        f"(margin earned plus margin expected), their ratio (a common rule of thumb asks for about 3), and how many "
        f"{unit}s after acquisition the margin earned and then expected per customer first covers the CAC."
        + (f" The LTV range holds the value per customer with {table.attrs['interval']:.0%} probability, given "
           "the uncertainty of the models and of each customer's future." if ranged else "")
    )
    header = ["cohort · channel", "customers", f"spend ({currency})", f"CAC ({currency})", f"LTV ({currency})"]
    formats = {1: _fmt, 2: lambda v: _fixed(v, 0), 3: lambda v: _fixed(v, 2), 4: lambda v: _fixed(v, 2)}
    if ranged:
        header.append(f"LTV range ({currency})")
        formats[5] = str
    last = len(header)
    header += ["LTV : CAC", f"payback ({unit}s)"]
    formats[last] = lambda v: _fixed(v, 1)
    formats[last + 1] = lambda v: _fixed(v, 1) if np.isfinite(v) else "not within horizon"
    body += _table(rows, header, "LTV, CAC and payback", formats)
    body += figures.draw(plotting.plot_ltv_cac, table, caption="LTV:CAC per cohort and channel; dashed: 3 : 1.",
                         alt="Bars of LTV to CAC ratio per cohort and channel")
    return _section("acquisition", _TITLES["acquisition"], body)


def _simple(facts, currency):
    table = facts["simple"]
    if table is None:
        return _section("simple", _TITLES["simple"], _p(
            "The simple formula counts calendar months or quarters; with this period it is not shown.", "note"))
    rows = [[name, r["customers"], r["average_order_value"], r["purchase_frequency"], r["expected_lifetime"],
             r["simple_clv"], r["model_clv"], r["ratio"]] for name, r in table.iterrows()]
    unit = _period_words(table.attrs["period"])
    body = _p(
        f"The spreadsheet formula: average order value × orders per {unit} × expected lifetime × margin (− cost "
        f"to serve), with one retention rate for everybody ({_pct(table['retention_rate'].iloc[0])} of those who "
        f"buy in a {unit} buy again the next {unit}). The model instead follows each customer's own history."
    )
    body += _table(rows, ["segment", "customers", f"average order ({currency})", f"orders per {unit}",
                          f"lifetime ({unit}s)", f"simple formula ({currency})", f"model ({currency})",
                          "model ÷ simple"],
                   "Value per customer over the horizon: spreadsheet formula and model",
                   {1: _fmt, 2: lambda v: _fixed(v, 2), 3: lambda v: _fixed(v, 3), 4: lambda v: _fixed(v, 2),
                    5: lambda v: _fixed(v, 2), 6: lambda v: _fixed(v, 2), 7: lambda v: _fixed(v, 2)})
    body += _p(table.attrs["sentence"])
    return _section("simple", _TITLES["simple"], body)


def _whatif(facts, figures, plotting, currency, horizon_words):
    table = facts["what_if"]
    if table is None:
        return _section("whatif", _TITLES["whatif"], _p(
            "This purchase model has no dropout to change, so there is no retention what-if.", "note"))
    attrs = table.attrs
    period = _period_words(attrs["retention_period"])
    rows = [[name, r["customers"], r["expected_value"], r["expected_value_after"], r["change"], r["change_percent"]]
            for name, r in table.iterrows()]
    total = table.loc[business.ALL]
    body = _p(
        f"If {period}ly retention rose by {attrs['points']:g} points, from {_pct(attrs['retention_before'])} to "
        f"{_pct(attrs['retention_after'])}, the expected margin over {horizon_words} would grow by "
        f"{_money(total['change'], currency)} ({total['change_percent']:+.1f}%). That needs customers to leave "
        f"{_pct(1 - attrs['factor'], 0)} less often than today. Today's customers are taken as they are; only "
        "their future leaving changes."
    )
    body += _table(rows, ["segment", "customers", f"expected margin now ({currency})",
                          f"with better retention ({currency})", f"change ({currency})", "change %"],
                   "Expected margin with and without the retention rise",
                   {1: _fmt, 2: lambda v: _fixed(v, 0), 3: lambda v: _fixed(v, 0), 4: lambda v: _fixed(v, 0),
                    5: lambda v: f"{v:+.1f}" if np.isfinite(v) else "–"})
    body += figures.draw(plotting.plot_retention_what_if, table,
                         caption="Change in expected margin per segment.", alt="Bars of value change per segment")
    return _section("whatif", _TITLES["whatif"], body)


def _definitions(attrs, currency):
    period = _period_words(attrs["period"])
    items = [
        ("Margin already earned", f"margin ({attrs['margin']:g}) × everything the customer spent up to "
                                  f"{attrs['observation_end']}, in {currency}."),
        ("Expected margin", f"margin × expected spend per order × the orders the model expects over the next "
                            f"{attrs['horizon']} {period}s, each {period} discounted by {attrs['discount_rate']:g}; "
                            "customers who have probably left count for little."),
        ("Customer value", "margin already earned + expected margin − cost to serve."),
        ("Chance still a customer", "the model's probability that the customer has not left, given when and "
                                    "how often they bought."),
        ("Retention (cohorts)", "share of a cohort that bought in the period."),
        ("Retention (what-if)", "the share of today's customers still buying a period later, each weighted by "
                                "how much they buy, as the model expects it."),
        ("Repeat-purchase rate", "share of a cohort that has bought at least twice (on different days) so far."),
        ("CAC", "acquisition spend ÷ new customers of the cohort and channel."),
        ("Payback", "the first period in which the margin earned and then expected per customer exceeds CAC "
                    "(not discounted)."),
        ("Orders", "purchase days: several purchases by one customer on one day are one order."),
    ]
    rows = [[name, text] for name, text in items]
    return _section("definitions", _TITLES["definitions"], _table(rows, ["term", "meaning"], formats={}))
