"""A self-contained HTML validation report for a purchase model (and Gamma-Gamma) on a transaction log.

One file, readable offline and printable: figures are embedded as base64 PNG data
URIs, the style sheet is inline, and there are no scripts and no links to the
network. The report follows the validation of Fader, Hardie and Lee (2005),
"'Counting your customers' the easy way", Marketing Science 24(2), section 4: the
models are fitted on a calibration period and checked against it (goodness of fit)
and against a holdout period (conditional expectations, tracking); then it shows
what the fitted models say about the customer base (CLV, segments, concentration).
Any registered purchase model can be validated (``model="pnbd"``, ...) and several
compared side by side; the report opens with its verdict, each check graded pass /
warn / fail (:func:`clvmodels.evaluation.verdict`).

Figures are drawn with :mod:`clvmodels.plotting` on ``matplotlib.figure.Figure``
objects rendered by the Agg canvas, so no GUI backend is needed and the user's
pyplot backend and state are left alone.
"""

import base64
import copy
import datetime as _dt
import html
import io
import platform
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from . import evaluation
from ._families import _MIN_DISCOUNT_RATE, model_kind  # DERT and DERL sum periods without end
from .discrete import _PERIODS as _PERIOD_CODES
from .discrete import DEFAULT_PERIOD as _DEFAULT_PERIOD
from ._units import DAYS_PER_UNIT, check_time_unit
from ._validation import Problems, check_positive_number, check_whole_number, datetime_column, require_columns, require_dataframe

__all__ = ["validation_report"]

# The frequency-recency matrices stop at this quantile of the customers' frequency.
_MATRIX_FREQUENCY_QUANTILE = 0.99
# The calibration columns of calibration_holdout_split, which the report's models take.
_RFM_COLUMNS = {"frequency", "recency", "T"}

_UNIT_NAMES = {"H": "hours", "D": "days", "W": "weeks", "M": "months", "Q": "quarters", "Y": "years"}
_TOP_SHARES = (1, 5, 10, 20)
_FIGSIZE = (7.2, 4.4)
_DPI = 110
# zlib level of the PNGs: 3 encodes in 2/3 of the time of the default 6, files 4% larger.
_PNG_COMPRESSION = 3

_CSS = """
:root { --ink: #1d2733; --muted: #5b6673; --line: #d5dbe1; --band: #f3f5f8; --accent: #1f4e79; }
* { box-sizing: border-box; }
body { font-family: -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
       color: var(--ink); margin: 0; background: #fff; line-height: 1.45; font-size: 15px; }
main { max-width: 64rem; margin: 0 auto; padding: 1.5rem 1.5rem 3rem; }
header { border-bottom: 3px solid var(--accent); margin-bottom: 1.2rem; padding-bottom: .6rem; }
h1 { font-size: 1.7rem; margin: 0 0 .3rem; color: var(--accent); }
h2 { font-size: 1.3rem; margin: 2rem 0 .6rem; padding-bottom: .2rem; border-bottom: 1px solid var(--line);
     color: var(--accent); page-break-after: avoid; break-after: avoid; }
h3 { font-size: 1.05rem; margin: 1.2rem 0 .4rem; page-break-after: avoid; break-after: avoid; }
p { margin: .4rem 0 .7rem; }
.meta, .note, figcaption { color: var(--muted); font-size: .88rem; }
nav ol { columns: 2; margin: .3rem 0 0; padding-left: 1.4rem; }
nav a { color: var(--accent); text-decoration: none; }
table { border-collapse: collapse; margin: .4rem 0 1rem; font-size: .88rem;
        page-break-inside: avoid; break-inside: avoid; }
caption { text-align: left; font-weight: 600; padding: .2rem 0 .35rem; color: var(--ink); }
th, td { border-bottom: 1px solid var(--line); padding: .28rem .7rem; vertical-align: top; }
thead th { border-bottom: 2px solid var(--ink); background: var(--band); vertical-align: bottom; }
th.num { text-align: right; }
th.text, tbody th { text-align: left; }
tbody th { font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.text { text-align: left; }
tbody tr:nth-child(even) { background: #fafbfc; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(11rem, 1fr)); gap: .6rem; margin: .6rem 0 1rem; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: .55rem .75rem; background: var(--band);
        page-break-inside: avoid; break-inside: avoid; }
.card .value { font-size: 1.25rem; font-weight: 650; color: var(--accent); }
.card .label { font-size: .8rem; color: var(--muted); }
figure { margin: .6rem 0 1.4rem; page-break-inside: avoid; break-inside: avoid; }
figure img { display: block; max-width: 100%; height: auto; border: 1px solid var(--line); border-radius: 4px; }
figcaption { margin-top: .3rem; }
.error { border: 1px solid #c0392b; background: #fdecea; color: #7b1d12; padding: .6rem .8rem; border-radius: 4px; }
.warning { border: 1px solid #c98a00; background: #fff6e0; padding: .5rem .8rem; border-radius: 4px; }
td.best { background: #e4f1e4; }
ul.verdict { list-style: none; padding-left: 0; margin: .4rem 0 1rem; }
ul.verdict li { margin: .3rem 0; padding: .4rem .7rem; border-left: 5px solid var(--line); background: var(--band);
                page-break-inside: avoid; break-inside: avoid; }
ul.verdict li.pass { border-left-color: #2e7d32; }
ul.verdict li.warn { border-left-color: #c98a00; }
ul.verdict li.fail { border-left-color: #c0392b; }
.status { display: inline-block; min-width: 3.2rem; font-weight: 700; font-size: .8rem; }
li.pass .status { color: #2e7d32; } li.warn .status { color: #8a5f00; } li.fail .status { color: #c0392b; }
p.lead { font-size: 1.05rem; font-weight: 600; }
.tables { display: flex; flex-wrap: wrap; gap: 0 2rem; align-items: flex-start; }
code { font-family: "SFMono-Regular", Consolas, "Liberation Mono", monospace; font-size: .85em; }
footer { margin-top: 2.5rem; color: var(--muted); font-size: .8rem; border-top: 1px solid var(--line); padding-top: .5rem; }
@media print {
  @page { size: A4; margin: 14mm 12mm; }
  body { font-size: 10.5pt; }
  main { max-width: none; padding: 0; }
  nav { display: none; }
  h2 { page-break-before: auto; }
  figure img { max-width: 100%; border: none; }
  tbody tr:nth-child(even) { background: none; }
  a { color: inherit; text-decoration: none; }
}
"""


# ------------------------------------------------------------------ HTML helpers


def _esc(value):
    return html.escape(str(value), quote=True)


def _is_number(value):
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def _fmt(value, digits=4):
    """A number as text: whole numbers with thousands separators, others with ``digits`` significant digits."""
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return "–"
    if not _is_number(value):
        return str(value)
    value = float(value)
    if np.isinf(value):
        return "∞" if value > 0 else "−∞"
    if value == round(value) and abs(value) < 1e15:
        return f"{int(round(value)):,}"
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.1f}"
    if magnitude >= 1:
        return f"{value:,.{max(digits - len(str(int(magnitude))), 1)}f}"
    return f"{value:.{digits}g}"


def _fixed(value, decimals):
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return _fmt(value)
    return f"{float(value):,.{decimals}f}"


def _table(rows, header, caption=None, formats=None, row_header=True, marked=()):
    """HTML table from a list of row lists; every cell is escaped.

    ``header`` is a list of column titles, or None for a key-value table without a
    header row. ``formats`` maps a column position to a function value -> text;
    other numbers are formatted with :func:`_fmt`. Numeric columns are right-aligned.
    Cells at the (row, column) positions in ``marked`` are shown as the best.
    """
    formats = formats or {}
    width = max((len(r) for r in rows), default=len(header or ()))
    numeric = [
        j in formats or (bool(rows) and all(_is_number(r[j]) or r[j] is None for r in rows if j < len(r)))
        for j in range(width)
    ]
    parts = ["<table>"]
    if caption:
        parts.append(f"<caption>{_esc(caption)}</caption>")
    if header is not None:
        parts.append("<thead><tr>" + "".join(
            f'<th scope="col" class="{"num" if numeric[j] and j > 0 else "text"}">{_esc(h)}</th>'
            for j, h in enumerate(header)
        ) + "</tr></thead>")
    parts.append("<tbody>")
    for i, row in enumerate(rows):
        cells = []
        for j, value in enumerate(row):
            if j in formats:
                text = formats[j](value)
            elif _is_number(value) or value is None:
                text = _fmt(value)
            else:
                text = str(value)
            if j == 0 and row_header:
                cells.append(f'<th scope="row">{_esc(text)}</th>')
            elif (i, j) in marked:
                cells.append(f'<td class="{"num" if numeric[j] else "text"} best"><strong>{_esc(text)}</strong></td>')
            else:
                cells.append(f'<td class="{"num" if numeric[j] else "text"}">{_esc(text)}</td>')
        parts.append("<tr>" + "".join(cells) + "</tr>")
    parts.append("</tbody></table>")
    return "".join(parts)


def _cards(items):
    return '<div class="cards">' + "".join(
        f'<div class="card"><div class="value">{_esc(value)}</div><div class="label">{_esc(label)}</div></div>'
        for label, value in items
    ) + "</div>"


def _section(anchor, title, body):
    return f'<section id="{_esc(anchor)}"><h2>{_esc(title)}</h2>{body}</section>'


def _p(text, cls=None):
    attr = f' class="{cls}"' if cls else ""
    return f"<p{attr}>{_esc(text)}</p>"


# ------------------------------------------------------------------ figures


class _Figures:
    """Draws plotting functions on Agg-rendered figures and records failures."""

    def __init__(self):
        self.failures = []
        self.count = 0

    def draw(self, function, *args, caption, alt, figsize=_FIGSIZE, **kwargs):
        from matplotlib.figure import Figure

        self.count += 1
        try:
            figure = Figure(figsize=figsize, dpi=_DPI)
            ax = figure.add_subplot()
            function(*args, ax=ax, **kwargs)
            _fit_margins(figure, ax)
            buffer = io.BytesIO()
            figure.savefig(buffer, format="png", dpi=_DPI, facecolor="white", metadata={"Software": None},
                           pil_kwargs={"compress_level": _PNG_COMPRESSION})
        except Exception as error:  # one failed figure must not lose the whole report
            name = getattr(function, "__name__", str(function))
            message = f"{name} failed: {type(error).__name__}: {error}"
            self.failures.append(message)
            warnings.warn(f"validation_report: figure not drawn, {message}", _report_warning(), stacklevel=3)
            return f'<figure><div class="error figure-error">{_esc(message)}</div><figcaption>{_esc(caption)}</figcaption></figure>'
        encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
        width, height = (int(round(v * _DPI)) for v in figsize)
        return (
            f'<figure><img src="data:image/png;base64,{encoded}" alt="{_esc(alt)}" '
            f'width="{width}" height="{height}"><figcaption>{_esc(caption)}</figcaption></figure>'
        )


# Margins around the text of a figure, in inches; text widths are estimated at this
# many ems per character (DejaVu Sans, matplotlib's default font: digits are 0.636 em).
_MARGIN_PAD = 0.1
_EM_PER_CHARACTER = 0.64


def _points(size):
    from matplotlib.font_manager import FontProperties

    return FontProperties(size=size).get_size_in_points()


def _tick_labels(axis):
    """The major tick labels ``axis`` will show, formatted without drawing."""
    low, high = sorted(axis.get_view_interval())
    slack = 1e-9 * max(abs(high - low), 1e-300)
    locations = [v for v in axis.get_majorticklocs() if low - slack <= v <= high + slack]
    formatter = axis.get_major_formatter()
    labels = formatter.format_ticks(locations) if locations else []
    offset = formatter.get_offset() if hasattr(formatter, "get_offset") else ""
    return labels, offset


def _axis_room(axis, name):
    """Inches needed beside an axes for ``axis``'s tick labels (across: widths for a y
    axis, one line for an x axis) and its label."""
    import matplotlib as mpl

    size = _points(mpl.rcParams[f"{name}tick.labelsize"])
    labels, offset = _tick_labels(axis)
    tick = (mpl.rcParams[f"{name}tick.major.size"] + mpl.rcParams[f"{name}tick.major.pad"]) / 72
    if name == "y":
        across = max((len(t) for t in labels), default=0) * _EM_PER_CHARACTER * size / 72
    else:
        across = 1.25 * size / 72 if labels else 0.0
    text = axis.label.get_text()
    label = (1.25 * axis.label.get_size() * (text.count("\n") + 1) + mpl.rcParams["axes.labelpad"]) / 72 if text else 0
    return tick + across + label, bool(offset)


def _fit_margins(figure, ax):
    """Place the axes so their titles, labels and tick labels fit the figure.

    A one-pass estimate from the text's font sizes and lengths, in place of
    matplotlib's constrained layout, which draws every figure twice and was 40% of
    the report's run time on CDNOW.
    """
    import matplotlib as mpl

    width, height = figure.get_size_inches()
    left, y_offset = _axis_room(ax.yaxis, "y")
    bottom, _ = _axis_room(ax.xaxis, "x")
    title = ax.get_title()
    top = (1.25 * ax.title.get_size() * (title.count("\n") + 1) + mpl.rcParams["axes.titlepad"]) / 72 if title else 0
    if y_offset:
        top = max(top, 1.4 * _points(mpl.rcParams["ytick.labelsize"]) / 72)
    x_labels, _ = _tick_labels(ax.xaxis)
    size = _points(mpl.rcParams["xtick.labelsize"])
    right = len(x_labels[-1]) * _EM_PER_CHARACTER * size / 72 / 2 if x_labels else 0.0
    for other in figure.axes:  # a colorbar: tick labels and label on its right
        if other is not ax:
            needed, _ = _axis_room(other.yaxis, "y")
            right = max(right, needed)
    figure.subplots_adjust(
        left=(left + _MARGIN_PAD) / width, right=1 - (right + _MARGIN_PAD) / width,
        bottom=(bottom + _MARGIN_PAD) / height, top=1 - (top + _MARGIN_PAD) / height,
    )


def _report_warning():
    from .exceptions import CLVWarning

    return CLVWarning


# ------------------------------------------------------------------ numbers


def _value_concentration(values):
    """Share of the total held by the top 1/5/10/20% of customers (at least one customer each)."""
    ordered = np.sort(np.asarray(values, dtype=float))[::-1]
    total = ordered.sum()
    rows = []
    for share in _TOP_SHARES:
        k = max(int(np.ceil(len(ordered) * share / 100.0)), 1)
        held = ordered[:k].sum()
        rows.append((f"top {share}%", k, held, 100.0 * held / total if total > 0 else np.nan))
    return rows


def _data_summary(transactions, customer_col, date_col, amount_col, split, datetime_format, observation_end):
    problems = Problems("transactions")
    dates = datetime_column(transactions, date_col, problems, datetime_format)
    problems.raise_if_any()
    days = dates.astype("datetime64[D]")
    end = np.datetime64(observation_end, "D")
    used = days <= end
    summary = {
        "records": int(np.count_nonzero(used)),
        "records_after_end": int(len(days) - np.count_nonzero(used)),
        "customers_in_data": int(pd.unique(transactions[customer_col].to_numpy()[used]).size),
        "first_date": str(days[used].min()),
        "last_date": str(days[used].max()),
    }
    if amount_col is not None:
        summary["amount"] = float(pd.to_numeric(transactions[amount_col]).to_numpy(dtype=float)[used].sum())
    summary["customers"] = len(split)
    summary["repeat_buyers"] = int(np.count_nonzero(split["frequency"] > 0))
    summary["calibration_repeats"] = float(split["frequency"].sum())
    summary["holdout_purchases"] = float(split["frequency_holdout"].sum())
    summary["holdout_buyers"] = int(np.count_nonzero(split["frequency_holdout"] > 0))
    if "monetary_value" in split.columns:
        repeat = split["frequency"].to_numpy() > 0
        summary["zero_spend_repeat_buyers"] = int(np.count_nonzero(repeat & (split["monetary_value"].to_numpy() <= 0)))
    return summary


def _settings_rows(settings, extra):
    rows = [(name, repr(value)) for name, value in settings.items()]
    rows += [(name, str(value)) for name, value in extra.items()]
    return rows


# ------------------------------------------------------------------ the report


def validation_report(
    transactions,
    path,
    *,
    customer_col="customer_id",
    date_col="date",
    amount_col=None,
    calibration_end=None,
    observation_end=None,
    time_unit=None,
    horizon=12,
    period=None,
    discount_rate=0.01,
    margin=1.0,
    datetime_format=None,
    title=None,
    model="bgnbd",
    compare=None,
    currency=None,
    data_source=None,
    start_col="start",
    end_col="end",
    calibration_periods=None,
    purchase_covariates=None,
    dropout_covariates=None,
):
    """Fit a purchase model (and Gamma-Gamma) on a calibration period and write an HTML validation report.

    The transactions are split with :func:`clvmodels.calibration_holdout_split`; the
    purchase model ``model`` (default ``"bgnbd"``) and, with ``amount_col``, a
    :class:`clvmodels.GammaGammaModel` are fitted on the calibration part. The report
    holds:

    - the verdict (:func:`clvmodels.evaluation.verdict`): does the model fit the
      calibration data, does it track the holdout in total and by frequency, is
      Gamma-Gamma's independence assumption plausible; each check graded pass /
      warn / fail against the thresholds it states;
    - a data summary (source, currency, customers, transaction records, dates,
      repeat buyers, and who is left out of which model);
    - parameter tables with standard errors and 95% intervals, log-likelihoods;
    - for a model with covariates, the coefficient table of
      :func:`clvmodels.evaluation.covariate_table`: each coefficient's estimate,
      standard error and 95% interval, its multiplicative effect with its interval
      and what it means in words, and the likelihood-ratio test against the same
      model without covariates (fitted too);
    - goodness of fit in the calibration period (observed vs expected customers by
      repeat purchases, chi-square test; FHL 2005 Figure 1);
    - holdout metrics per customer (MAE, RMSE, MSLE, bias, correlation, aggregate
      error) and by calibration frequency (FHL 2005 Figure 4);
    - tracking of repeat transactions over calibration and holdout (FHL 2005
      Figures 2 and 3), per time unit but at least per week;
    - with ``compare``, the table of :func:`clvmodels.evaluation.compare_models`
      for those models on the same split, the best value per column marked;
    - the plots of :mod:`clvmodels.plotting` that apply to the model (a
      heterogeneity plot for each of its ``mixing_distributions()``), the
      frequency-recency matrices capped at the 99th percentile of frequency, and
      the P(alive) history of a typical repeat buyer;
    - segments (:func:`clvmodels.customer_segments`) and, with amounts, CLV by
      segment and the share of total CLV held by the top 1/5/10/20% of customers;
    - the settings that produced it (every argument but ``transactions``, which is
      described by its shape, and ``path``; clvmodels version, date).

    CLV, probabilities alive and segments are as of ``calibration_end``, from the
    calibration fits, over ``horizon`` periods.

    Models counted in periods have their own report (same layout, their own checks):

    - ``model="bgbb"`` (discrete time): ``transactions`` is a log summarised by
      :func:`clvmodels.discrete_calibration_holdout_split` in calendar periods of
      ``period`` (default "Y"; one transaction opportunity each, the model's time
      unit, so ``time_unit`` is not used); the report holds the verdict, goodness
      of fit, holdout transactions by calibration frequency and by pattern
      (frequency, recency, n_periods) with P(alive)
      (:func:`clvmodels.evaluation.holdout_by_pattern`), and per pattern the
      expected transactions of the next ``horizon`` periods and DERT at
      ``discount_rate``, times ``margin`` as value per transaction.
    - ``model="sbg"`` or ``"bdw"`` (contractual): ``transactions`` is a
      subscription table (``customer_col``, ``start_col``, ``end_col``, the end
      missing while active) summarised by :func:`clvmodels.tenure_summary` with
      renewal period ``period`` (default "M") as of ``observation_end``; the
      model is fitted on each subscriber's first ``calibration_periods`` periods
      (:func:`clvmodels.censor_tenure`; default half the longest tenure), and
      the observed survival and retention of all periods
      (:func:`clvmodels.evaluation.observed_survival`) are compared with the
      model's (:func:`clvmodels.evaluation.survival_comparison`); then DERL and
      CLV = ``margin`` (profit per period) x DERL of the active subscribers by
      tenure. ``compare`` (contractual models only) adds the table of
      :func:`clvmodels.evaluation.compare_survival_models` on the same periods.

    Parameters
    ----------
    transactions : pandas.DataFrame
        One row per purchase record.
    path : str or pathlib.Path
        Where to write the HTML file (its directory must exist; an existing file
        is replaced).
    customer_col, date_col, amount_col, datetime_format
        As in :func:`clvmodels.calibration_holdout_split`. Without ``amount_col``
        the report covers purchases only (no spend model, no CLV).
    calibration_end : str or datetime-like
        Last day of the calibration period (not for contractual models).
    observation_end : str or datetime-like, optional
        Last day of the holdout period; default the last purchase.
    time_unit : {"D", "W", "M", "Q", "Y", "H"}, default "W"
        Time unit of the models (weeks as in FHL 2005); not for models counted in
        periods.
    horizon, period, discount_rate, margin
        As in :func:`clvmodels.customer_lifetime_value`: ``horizon`` periods of
        length ``period`` (a unit code or a number of ``time_unit``, default "M"),
        discounted at ``discount_rate`` per period, times ``margin``. For models
        counted in periods, ``period`` is their period (see above).
    title : str, optional
        Heading of the report.
    model : str, model class or model instance, default "bgnbd"
        The purchase model: a key of
        :func:`clvmodels.registered_models` ``("transaction")`` (e.g. "bgnbd",
        "pnbd"), a transaction model class, or an instance (a copy is fitted, so
        its settings such as ``penalizer`` are kept).
    compare : sequence of str, classes or instances, optional
        Models to compare in a "Model comparison" section, each given as ``model``.
    currency : str, optional
        Name of the currency of ``amount_col`` (e.g. "USD"), shown with amounts.
    data_source : str, optional
        Where the transactions come from (a file name, a query), named in the
        report; default "a DataFrame".
    start_col, end_col : str
        Subscription start and end columns (contractual models only).
    calibration_periods : int, optional
        Periods of tenure the contractual model is fitted on.
    purchase_covariates, dropout_covariates : list of str, optional
        Covariates of the purchase model (as its settings of the same names, which
        a model instance may also carry): columns of ``transactions`` constant
        within each customer (:func:`clvmodels.customer_columns`), e.g. the log of
        :func:`clvmodels.first_purchase_amount` mapped onto the transactions.

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    ValueError
        For invalid transactions or settings (before any fitting).
    ImportError
        If matplotlib is not installed.

    Examples
    --------
    >>> import clvmodels as clv
    >>> from clvmodels.report import validation_report
    >>> tx = clv.datasets.load_cdnow(sample=True)
    >>> validation_report(tx, "cdnow.html", amount_col="amount", calibration_end="1997-09-30",
    ...                   observation_end="1998-06-30", time_unit="W")  # doctest: +SKIP
    PosixPath('cdnow.html')
    """
    started = time.perf_counter()
    generated = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0)
    chosen = _report_model(model)
    kind = model_kind(chosen)
    if kind != "continuous":
        if purchase_covariates is not None or dropout_covariates is not None:
            raise ValueError(f"the report of {chosen.title} takes no covariates (only continuous-time purchase models)")
        return _periods_report(
            kind, chosen, transactions, path, started=started, generated=generated, customer_col=customer_col,
            date_col=date_col, amount_col=amount_col, calibration_end=calibration_end,
            observation_end=observation_end, time_unit=time_unit, horizon=horizon, period=period,
            discount_rate=discount_rate, margin=margin, datetime_format=datetime_format, title=title,
            compare=compare, currency=currency, data_source=data_source, start_col=start_col, end_col=end_col,
            calibration_periods=calibration_periods,
        )
    contract_settings = {"start_col": (start_col, "start"), "end_col": (end_col, "end"),
                         "calibration_periods": (calibration_periods, None)}
    for name, (value, default) in contract_settings.items():
        if value != default:
            raise ValueError(f"{name} is for the contractual models' subscription tables, not {chosen.title}")
    if calibration_end is None:
        raise ValueError("calibration_end is required: the last day of the calibration period")
    time_unit = "W" if time_unit is None else time_unit
    period = "M" if period is None else period
    settings = {
        "customer_col": customer_col,
        "date_col": date_col,
        "amount_col": amount_col,
        "calibration_end": calibration_end,
        "observation_end": observation_end,
        "time_unit": time_unit,
        "horizon": horizon,
        "period": period,
        "discount_rate": discount_rate,
        "margin": margin,
        "datetime_format": datetime_format,
        "title": title,
        "model": model if isinstance(model, str) else _model_name(model),
        "compare": None if compare is None else [m if isinstance(m, str) else _model_name(m) for m in compare],
        "currency": currency,
        "data_source": data_source,
        "purchase_covariates": purchase_covariates,
        "dropout_covariates": dropout_covariates,
    }
    path = Path(path)

    # Cheap checks first, so a bad argument fails before any fitting.
    try:
        import matplotlib  # noqa: F401
    except ImportError as error:
        raise ImportError("validation_report needs matplotlib: pip install 'clvmodels[plot]'") from error
    from . import plotting
    from ._version import __version__
    from .clv import customer_lifetime_value, period_length
    from .data import calibration_holdout_split, customer_columns
    from .gamma_gamma import GammaGammaModel
    from .segments import SEGMENTS, customer_segments

    unit = check_time_unit(time_unit)
    purchase_model = _with_covariates(chosen, purchase_covariates, dropout_covariates)
    covariates = _covariate_columns(purchase_model)
    compared = None if compare is None else _compared_models(compare, purchase_model)
    _check_texts(currency=currency, data_source=data_source)
    horizon_value = check_whole_number(horizon, "horizon", unit=" of periods")
    check_positive_number(discount_rate, "discount_rate", allow_zero=True)
    check_positive_number(margin, "margin", allow_zero=True)
    step = period_length(period, unit)
    if not path.parent.exists():
        raise ValueError(f"path {str(path)!r}: the directory {str(path.parent)!r} does not exist")
    require_dataframe(transactions, "transactions")
    problems = Problems("transactions")
    require_columns(transactions, (customer_col, date_col, amount_col, *covariates), problems)
    problems.raise_if_any()

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        split = calibration_holdout_split(
            transactions, customer_col, date_col, amount_col, calibration_end=calibration_end,
            observation_end=observation_end, time_unit=unit, datetime_format=datetime_format,
        )
        if covariates:
            split = _with_columns(split, customer_columns(transactions, customer_col, covariates))
        fit_started = time.perf_counter()
        fitted = purchase_model.fit(split)
        covariate_table = evaluation.covariate_table(fitted, split) if covariates else None
        gg = GammaGammaModel().fit(split) if amount_col is not None else None
        fit_seconds = time.perf_counter() - fit_started
        summary = _data_summary(
            transactions, customer_col, date_col, amount_col, split, datetime_format, split.attrs["observation_end"]
        )

        gof = evaluation.goodness_of_fit(fitted, split)
        comparison = evaluation.holdout_comparison(fitted, split, gg)
        metrics = evaluation.holdout_metrics(comparison)
        by_frequency = evaluation.holdout_by_frequency(comparison)
        coverage = _interval_coverage(fitted, split)
        spend_correlation = evaluation.spend_frequency_correlation(split) if gg is not None else None
        verdict = evaluation.verdict(gof, metrics, by_frequency, spend_correlation)
        model_table = None
        if compared is not None:
            model_table = evaluation.compare_models(
                [fitted if candidate is purchase_model else candidate.fit(split) for candidate in compared], split
            )
        track = evaluation.tracking(
            fitted, transactions, customer_col=customer_col, date_col=date_col,
            calibration_end=split.attrs["calibration_end"], observation_end=split.attrs["observation_end"],
            time_unit=unit, period=_tracking_period(unit), datetime_format=datetime_format,
        )
        segments = customer_segments(fitted, split, spend_model=gg)
        forecast = pd.DataFrame(
            {"expected_purchases": fitted.expected_purchases(split, t=horizon_value * step)}, index=split.index
        )
        if gg is not None:
            forecast["clv"] = customer_lifetime_value(
                fitted, gg, split, horizon=horizon, period=period, discount_rate=discount_rate, margin=margin
            )

        figures = _Figures()
        body = _build_body(
            split=split, transactions=transactions, customer_col=customer_col, date_col=date_col,
            datetime_format=datetime_format, unit=unit, model=fitted, gg=gg, gof=gof, comparison=comparison,
            metrics=metrics, by_frequency=by_frequency, track=track, segments=segments, forecast=forecast,
            summary=summary, figures=figures, plotting=plotting, horizon=horizon, period=period,
            step=step, segment_names=SEGMENTS, settings=settings, fit_seconds=fit_seconds,
            verdict=verdict, model_table=model_table, currency=currency, coverage=coverage,
            covariate_table=covariate_table,
        )
    messages = _unique_warnings(caught)

    extra = _run_details(started, generated, f"model fitting {fit_seconds:.1f} s", "transactions table", transactions)
    heading = title or (
        f"Model validation report: {fitted.title or type(fitted).__name__}" + (f" and {gg.title}" if gg is not None else "")
    )
    references = [m for m in (fitted, gg) if m is not None]
    document = _document(heading, generated, __version__, body, settings, extra, messages, figures, references,
                         model_table is not None)
    path.write_text(document, encoding="utf-8")
    for category, text in messages:
        warnings.warn(text, category, stacklevel=2)
    return path


def _model_name(model):
    cls = model if isinstance(model, type) else type(model)
    return getattr(cls, "key", None) or cls.__name__


def _purchase_model(spec, what):
    """An unfitted purchase model of continuous-time RFM data from a registry key, a
    class or an instance (copied)."""
    from ._families import TransactionModel, model_class, registered_models

    if isinstance(spec, str):
        model = model_class(spec, "transaction")()
    elif isinstance(spec, type) and issubclass(spec, TransactionModel):
        model = spec()
    elif isinstance(spec, TransactionModel):
        model = copy.deepcopy(spec)
    else:
        keys = ", ".join(sorted(registered_models("transaction")))
        raise ValueError(f"{what} must be a purchase model key ({keys}), class or instance, got {spec!r}")
    if not set(model.rfm_columns) <= _RFM_COLUMNS:
        raise ValueError(
            f"{what}: {model.title or type(model).__name__} needs the columns {', '.join(model.rfm_columns)}; "
            f"the report validates models of {', '.join(sorted(_RFM_COLUMNS))} (continuous time)"
        )
    return model


def _with_covariates(model, purchase, dropout):
    """``model`` with the covariate settings given (None: as it is), checked by its constructor."""
    import inspect

    given = {"purchase_covariates": purchase, "dropout_covariates": dropout}
    given = {k: v for k, v in given.items() if v is not None}
    if not given:
        return model
    names = [n for n in inspect.signature(type(model).__init__).parameters if n != "self"]
    missing = [k for k in given if k not in names]
    if missing:
        raise ValueError(f"{model.title or type(model).__name__} takes no {missing[0]}")
    for key, value in given.items():
        if isinstance(value, str):
            raise ValueError(f"{key} must be a list of column names, got {value!r}")
    settings = {n: getattr(model, n) for n in names if hasattr(model, n)}
    return type(model)(**{**settings, **{k: list(v) for k, v in given.items()}})


def _covariate_columns(model):
    """The data columns the model's covariate settings name (settings ending in _covariates)."""
    import inspect

    names = [n for n in inspect.signature(type(model).__init__).parameters if n.endswith("_covariates")]
    return list(dict.fromkeys(c for n in names for c in (getattr(model, n, None) or [])))


def _with_columns(split, columns):
    """``split`` with per-customer ``columns`` (indexed by customer) joined on, attrs kept."""
    table = split.copy()
    values = columns.reindex(split.index)
    for name in columns.columns:
        table[name] = values[name].to_numpy()
    table.attrs = dict(split.attrs)
    return table


def _compared_models(specs, chosen):
    """The models of ``compare``, unfitted; the report's own model stands for its key."""
    if isinstance(specs, str) or not hasattr(specs, "__iter__"):
        raise ValueError(f"compare must be a list of models, got {specs!r}")
    models = []
    for spec in specs:
        same = isinstance(spec, str) and spec == getattr(chosen, "key", None)
        models.append(chosen if same else _purchase_model(spec, "compare"))
    if not models:
        raise ValueError("compare must name at least one model")
    return models


def _tracking_period(unit):
    """Tracking period in ``unit``: one unit, but at least a week (daily counts are mostly noise)."""
    return max(1.0, 7.0 / DAYS_PER_UNIT[unit])


def _unique_warnings(caught):
    seen, messages = set(), []
    for item in caught:
        key = (item.category, str(item.message))
        if key not in seen:
            seen.add(key)
            messages.append(key)
    return messages


def _versions():
    import matplotlib
    import scipy

    return " / ".join([platform.python_version(), np.__version__, pd.__version__, scipy.__version__, matplotlib.__version__])


_FHL_METHOD = "Validation after Fader, Hardie &amp; Lee (2005), Marketing Science 24(2), section 4. "


def _document(heading, generated, version, body, settings, extra, messages, figures, models, compared,
              nav_items=None, method=_FHL_METHOD):
    if nav_items is None:
        nav_items = [
            ("summary", "Verdict"), ("data", "Data"), ("models", "Fitted models"), ("fit", "Goodness of fit"),
            ("holdout", "Holdout"), ("tracking", "Tracking"),
        ]
        if compared:
            nav_items.append(("comparison", "Model comparison"))
        nav_items += [("diagnostics", "Model diagnostics"), ("segments", "Segments and value"),
                      ("settings", "Settings")]
    references = "; ".join(f"{m.title}: {m.reference}" for m in models if m.title and m.reference)
    nav = "<nav><strong>Contents</strong><ol>" + "".join(
        f'<li><a href="#{a}">{_esc(t)}</a></li>' for a, t in nav_items
    ) + "</ol></nav>"
    warning_html = ""
    if messages:
        warning_html = '<div class="warning"><strong>Warnings raised while producing this report</strong><ul>' + "".join(
            f"<li>{_esc(category.__name__)}: {_esc(text)}</li>" for category, text in messages
        ) + "</ul></div>"
    settings_html = _section(
        "settings", "Settings",
        _p("Every argument of validation_report that produced this file, and the software that ran it.")
        + _table(_settings_rows(settings, extra), ["setting", "value"], formats={}),
    )
    figure_note = f"{figures.count} figures" + (f", {len(figures.failures)} failed" if figures.failures else "")
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="generator" content="clvmodels {_esc(version)}">'
        f"<title>{_esc(heading)}</title><style>{_CSS}</style></head><body><main>"
        f"<header><h1>{_esc(heading)}</h1>"
        f'<div class="meta">Generated {_esc(generated.strftime("%Y-%m-%d %H:%M UTC"))} by clvmodels {_esc(version)} '
        f"· {_esc(figure_note)}</div></header>"
        f"{nav}{warning_html}{body}{settings_html}"
        f"<footer>clvmodels {_esc(version)} · {_esc(references)}{'. ' if references else ''}"
        f"{method}"
        "This file is self-contained: no scripts, no network resources.</footer>"
        "</main></body></html>\n"
    )


def _parameter_table(model, caption):
    table = model.describe_params()
    rows = [
        [name, row["estimate"], row["std_error"], row["lower_95"], row["upper_95"], row["meaning"]]
        for name, row in table.iterrows()
    ]
    four = {j: (lambda v: _fixed(v, 4)) for j in range(1, 5)}
    return _table(rows, ["parameter", "estimate", "std. error", "lower 95%", "upper 95%", "meaning"], caption, four)


_STATUS_TEXT = {"pass": "PASS", "warn": "WARN", "fail": "FAIL"}


def _verdict_section(verdict, model_title):
    """The verdict table of :func:`clvmodels.evaluation.verdict` in plain words."""
    counts = verdict["status"].value_counts()
    overall = "fail" if counts.get("fail", 0) else "warn" if counts.get("warn", 0) else "pass"
    lead = {
        "pass": f"{model_title} passes every check below.",
        "warn": f"{model_title} passes {counts.get('pass', 0)} of {len(verdict)} checks; "
                "read the warnings before relying on its forecasts.",
        "fail": f"{model_title} fails {counts.get('fail', 0)} of {len(verdict)} checks; "
                "read the findings before relying on its forecasts.",
    }[overall]
    items = "".join(
        f'<li class="check {_esc(row["status"])}"><span class="status">{_STATUS_TEXT[row["status"]]}</span> '
        f'<strong>{_esc(row["question"])}</strong> {_esc(row["finding"])}</li>'
        for _, row in verdict.iterrows()
    )
    rows = [
        [row["question"], row["statistic"], row["value"], row["pass_if"], row["warn_if"], _STATUS_TEXT[row["status"]]]
        for _, row in verdict.iterrows()
    ]
    table = _table(rows, ["check", "measure", "value", "pass if", "warn if (else fail)", "verdict"],
                   "Checks and the thresholds used", {2: lambda v: _fmt(v, 3)})
    return _section(
        "summary", "Verdict",
        f'<p class="lead {overall}">{_esc(lead)}</p><ul class="verdict">{items}</ul>' + table
        + _p("Thresholds are rules of thumb (clvmodels.evaluation.VERDICT_THRESHOLDS), not laws: a chi-square "
             "test on many customers rejects small departures, and a holdout error also reflects changes "
             "in the business after calibration.", "note"),
    )


def _interval_coverage(model, split):
    """:func:`clvmodels.evaluation.interval_coverage`, or None where the model cannot
    give intervals (no closed-form distribution, or no standard errors for the total)."""
    try:
        return evaluation.interval_coverage(model, split, levels=(0.8, 0.9), n_draws=100)
    except (AttributeError, NotImplementedError, ValueError):
        return None


def _coverage_html(coverage, units):
    """The holdout coverage of the per-customer purchase intervals and the base's total."""
    rows = [
        [f"{100 * level:.0f}%", 100 * row["below"], 100 * row["inside"], 100 * row["above"], 100 * row["nominal_tail"]]
        for level, row in coverage.iterrows()
    ]
    percent = {j: (lambda v: f"{v:.1f}") for j in range(1, 5)}
    html = _table(
        rows, ["interval", "below lower %", "inside %", "above upper %", "nominal tail %"],
        "Holdout purchases against each customer's prediction interval (closed-form distribution given the "
        "calibration history)", percent,
    )
    total = coverage.attrs["total"]
    inside = total["lower"] <= total["actual"] <= total["upper"]
    html += _p(
        f"Total holdout purchases of the base: {_fixed(total['estimate'], 0)} expected, "
        f"{100 * total['level']:.0f}% interval {_fixed(total['lower'], 0)}–{_fixed(total['upper'], 0)} "
        f"(parameter uncertainty and who buys, simulated), against {_fixed(total['actual'], 0)} actual: "
        + ("inside the interval." if inside else "outside the interval.")
        + " A calibrated model has at most the nominal share of customers in each tail (counts are whole "
        "numbers, so the tails may be smaller)."
    )
    return html


def _comparison_section(table):
    """The table of :func:`clvmodels.evaluation.compare_models`, best value per column in bold."""
    columns = [
        ("n_params", "parameters"), ("log_likelihood", "log-likelihood"), ("aic", "AIC"), ("bic", "BIC"),
        ("chi_square", "chi-square"), ("degrees_of_freedom", "d.f."), ("p_value", "p-value"),
        ("mae", "holdout MAE"), ("rmse", "holdout RMSE"), ("aggregate_error_pct", "aggregate error %"),
    ]
    best = table.attrs.get("best", {})
    rows, marked = [], set()
    for i, (label, row) in enumerate(table.iterrows()):
        rows.append([label] + [row[c] for c, _ in columns])
        marked.update((i, j + 1) for j, (c, _) in enumerate(columns) if best.get(c) == label)
    formats = {j + 1: (lambda v: _fmt(v, 4)) for j in range(len(columns))}
    body = _p(
        f"All models fitted on the same calibration period and scored on the same {_fmt(table.attrs.get('n_customers'))} "
        "customers: log-likelihood, AIC = 2k − 2 LL and BIC = k ln n − 2 LL of the calibration data, the "
        "chi-square goodness of fit of repeat purchases in calibration, and the errors of each customer's "
        "expected holdout purchases."
    )
    body += _table(rows, ["model"] + [t for _, t in columns], "Model comparison (best value per column in bold)",
                   formats, marked=marked)
    body += _p("Best: largest log-likelihood and p-value; smallest AIC, BIC, chi-square and holdout errors "
               "(aggregate error in absolute value). Differences in AIC or BIC below about 2 are not meaningful.",
               "note")
    return _section("comparison", "Model comparison", body)


_COVARIATE_HEADER = ["coefficient", "covariate", "estimate", "std. error", "lower", "upper", "effect (×)",
                     "effect lower", "effect upper", "p-value", "meaning"]


def _covariate_html(table, title):
    """The table of :func:`clvmodels.evaluation.covariate_table` and its likelihood-ratio test."""
    level = table.attrs.get("level", 0.95)
    rows = [
        [name, row["covariate"], row["estimate"], row["std_error"], row["lower"], row["upper"], row["multiplier"],
         row["multiplier_lower"], row["multiplier_upper"], row["p_value"], row["meaning"]]
        for name, row in table.iterrows()
    ]
    formats = {j: (lambda v: _fixed(v, 4)) for j in range(2, 9)}
    formats[9] = lambda v: _fmt(v, 3)
    header = list(_COVARIATE_HEADER)
    header[4:6] = [f"lower {level:.0%}", f"upper {level:.0%}"]
    html_table = _table(rows, header, f"{title} covariates: coefficients and their effects", formats)
    test = table.attrs.get("likelihood_ratio")
    text = (
        "Each coefficient multiplies its quantity by exp(estimate) per unit of the covariate (the effect, with "
        f"its {level:.0%} interval); the p-value is the Wald test of no effect."
    )
    if test:
        text += (
            f" Likelihood-ratio test of the covariates against {title} without them, fitted on the same customers: "
            f"statistic {_fixed(test['statistic'], 4)} on {test['df']:.0f} degrees of freedom, p-value "
            f"{_fmt(test['p_value'], 3)} (log-likelihood {_fixed(test['log_likelihood'], 4)} against "
            f"{_fixed(test['plain_log_likelihood'], 4)})."
        )
    return f'<div id="covariates">{html_table}</div>' + _p(text, "note")


def _model_facts(model, label):
    # The header of model.summary(), the same facts the CLI and print(model.summary()) show.
    facts = [("model", label)] + [(name.lower(), text) for name, text in model.summary().header()[1:]]
    facts.append(("gradient norm at the optimum", _fmt(getattr(model, "gradient_norm_", None), 3)))
    return _table(facts, None, f"{label}: fit")


_METRIC_ROWS = [
    ("n_customers", "customers compared"),
    ("total_actual", "total actual"),
    ("total_predicted", "total predicted"),
    ("aggregate_error_pct", "aggregate error (% of actual total)"),
    ("mae", "mean absolute error"),
    ("rmse", "root mean squared error"),
    ("msle", "mean squared log error, log(1 + y)"),
    ("bias", "bias: mean(predicted − actual)"),
    ("correlation", "Pearson correlation"),
]


def _metrics_table(metrics):
    groups = [("", "purchases per customer")]
    if "value_mae" in metrics.index:
        groups.append(("value_", "holdout spend per customer"))
    if "spend_mae" in metrics.index:
        groups.append(("spend_", "spend per purchase (buyers only)"))
    rows = []
    for key, label in _METRIC_ROWS:
        row = [label]
        for prefix, _ in groups:
            value = metrics.get(prefix + key, None)
            row.append(None if value is None else float(value))
        rows.append(row)
    formats = {j: (lambda v: _fmt(v, 4)) for j in range(1, len(groups) + 1)}
    return _table(rows, ["measure"] + [g[1] for g in groups], "Holdout accuracy", formats)


def _tracking_rows(track, days_per_unit):
    n = len(track)
    stride = max(1, int(np.ceil(n / 12)))
    positions = set(range(stride - 1, n, stride)) | {n - 1}
    calibration_end = track.attrs.get("calibration_end")
    t = track.index.to_numpy(dtype=float)
    if calibration_end is not None:
        positions.add(int(np.argmin(np.abs(t - calibration_end))))
    start = np.datetime64(track.attrs["start_date"], "D")
    rows = []
    for i in sorted(positions):
        end_day = start + np.timedelta64(int(np.ceil(t[i] * days_per_unit - 1e-9)) - 1, "D")
        actual = float(track["actual_cumulative"].iloc[i])
        expected = float(track["expected_cumulative"].iloc[i])
        phase = "calibration" if calibration_end is None or t[i] <= calibration_end + 1e-9 else "holdout"
        rows.append([_fmt(t[i]), str(end_day), phase, actual, expected,
                     100.0 * (expected - actual) / actual if actual else np.nan])
    return rows


def _build_body(*, split, transactions, customer_col, date_col, datetime_format, unit, model, gg, gof, comparison,
                metrics, by_frequency, track, segments, forecast, summary, figures, plotting, horizon, period,
                step, segment_names, settings, fit_seconds, verdict, model_table, currency, coverage,
                covariate_table=None):
    units = _UNIT_NAMES[unit]
    per_unit_days = DAYS_PER_UNIT[unit]
    calibration_length = float(split["T"].max())
    holdout_length = float(split["duration_holdout"].iloc[0])
    title = model.title or type(model).__name__
    money = currency or "money units"
    parts = [_verdict_section(verdict, title)]

    # ----- data
    n = summary["customers"]
    cards = [
        ("customers (first purchase in calibration)", _fmt(n)),
        ("transaction records", _fmt(summary["records"])),
        ("repeat buyers in calibration", f"{_fmt(summary['repeat_buyers'])} ({100 * summary['repeat_buyers'] / n:.1f}%)"),
        ("repeat purchases, calibration", _fmt(summary["calibration_repeats"])),
        ("purchases, holdout", _fmt(summary["holdout_purchases"])),
    ]
    if "amount" in summary:
        cards.append((f"total amount ({money})", _fixed(summary["amount"], 2)))
    source = settings.get("data_source") or "a DataFrame"
    rows = [
        ["data source", f"{source} ({_fmt(summary['records'] + summary['records_after_end'])} transaction records)"],
        ["currency", (currency or "not stated (currency=...)") if "amount" in summary else "no amounts"],
        ["first purchase in the data", summary["first_date"]],
        ["end of calibration", split.attrs["calibration_end"]],
        ["end of observation (holdout)", split.attrs["observation_end"]],
        ["last purchase used", summary["last_date"]],
        [f"calibration period ({units})", _fmt(calibration_length + 1 / per_unit_days)],
        [f"holdout period ({units})", _fmt(holdout_length)],
        ["customers buying in the holdout period", f"{_fmt(summary['holdout_buyers'])} ({100 * summary['holdout_buyers'] / n:.1f}%)"],
        ["time unit", f"{unit} ({units}; times at day resolution, {_fmt(per_unit_days)} days per unit)"],
    ]
    parts.append(_section(
        "data", "Data",
        _cards(cards)
        + _table(rows, None, "Source and periods")
        + _left_out(summary, split, gg)
        + _p("Purchases on the same day count as one purchase. Frequency is the number of repeat purchases "
             "(purchase days after the first).", "note"),
    ))

    # ----- models
    time_note = f" (rates per {units[:-1]})" if model.time_params else ""
    body = ('<div class="tables">' + _parameter_table(model, f"{title} parameters{time_note}")
            + _model_facts(model, title) + "</div>")
    body += _p(f"{title}: {model.reference}." if model.reference else f"{title}.", "note")
    if covariate_table is not None:
        body += _covariate_html(covariate_table, title)
    if gg is not None:
        body += ('<div class="tables">' + _parameter_table(gg, f"{gg.title} parameters (spend in {money})")
                 + _model_facts(gg, gg.title) + "</div>")
        body += _p(f"Mean spend per purchase implied by {gg.title}: {_fixed(gg.population_mean_spend(), 2)} {money}. "
                   f"{gg.title} ({gg.reference}) is fitted on the customers with at least one repeat purchase "
                   "and a positive spend, using the mean of their repeat purchases.", "note")
    body += _p("Standard errors from the inverse Hessian of the log-likelihood (delta method); 95% intervals "
               "on the log scale. Fitted on the calibration period only "
               f"({fit_seconds:.2f} s).", "note")
    parts.append(_section("models", "Fitted models", body))

    # ----- goodness of fit
    attrs = gof.attrs
    gof_rows = [[label, row["observed"], row["expected"], row["chi_square"]] for label, row in gof.iterrows()]
    gof_rows.append(["total", float(gof["observed"].sum()), float(gof["expected"].sum()), attrs["chi_square"]])
    body = _table(gof_rows, ["repeat purchases", "observed customers", "expected customers", "(O − E)² / E"],
                  "Customers by number of repeat purchases in the calibration period",
                  {1: _fmt, 2: lambda v: _fixed(v, 1), 3: lambda v: _fixed(v, 2)})
    body += _p(
        f"Chi-square = {attrs['chi_square']:.2f} on {attrs['degrees_of_freedom']} degrees of freedom "
        f"(groups − 1 − {len(model.params_)} parameters), p = {attrs['p_value']:.3g}. Expected counts are "
        f"the sum over customers of {title}'s P(X(T) = n) for each customer's own observation length T."
        + (" Some expected counts are below 5, so the test is only indicative." if attrs["min_expected"] < 5 else "")
    )
    body += '<div class="figures">' + figures.draw(
        plotting.plot_period_transactions, model, split,
        caption="Observed and expected numbers of customers by repeat purchases in calibration (FHL 2005 Figure 1).",
        alt="Bar chart: observed vs expected customers by number of repeat purchases",
    ) + "</div>"
    parts.append(_section("fit", "Goodness of fit (calibration period)", body))

    # ----- holdout
    body = _p(
        f"Each customer's purchases in the {_fmt(holdout_length)} {units} of holdout against {title}'s conditional "
        "expectation given their calibration history, E[X(T, T + t) | x, tₓ, T]"
        + (f", and their holdout spend against predicted purchases × expected spend per purchase ({gg.title})."
           if gg is not None else ".")
    )
    body += _metrics_table(metrics)
    bf_header = ["calibration repeat purchases", "customers", "actual mean purchases", "predicted mean purchases"]
    bf_rows = [[label, row["n_customers"], row["actual"], row["predicted"]] for label, row in by_frequency.iterrows()]
    formats = {1: _fmt, 2: lambda v: _fixed(v, 3), 3: lambda v: _fixed(v, 3)}
    if "actual_value" in by_frequency.columns:
        bf_header += [f"actual mean spend ({money})", f"predicted mean spend ({money})"]
        for row, (_, source_row) in zip(bf_rows, by_frequency.iterrows()):
            row += [source_row["actual_value"], source_row["predicted_value"]]
        formats.update({4: lambda v: _fixed(v, 2), 5: lambda v: _fixed(v, 2)})
    body += _table(bf_rows, bf_header, "Holdout purchases by calibration frequency (FHL 2005 Figure 4)", formats)
    body += '<div class="figures">' + figures.draw(
        plotting.plot_calibration_vs_holdout_purchases, model, split,
        caption="Mean holdout purchases, actual and predicted, by calibration repeat purchases (FHL 2005 Figure 4).",
        alt="Line chart: actual vs predicted mean holdout purchases by calibration frequency",
    ) + "</div>"
    if coverage is not None:
        body += _coverage_html(coverage, units)
    parts.append(_section("holdout", "Holdout period: conditional expectations", body))

    # ----- tracking
    last = track.iloc[-1]
    at_calibration = track.loc[track.index <= track.attrs["calibration_end"] + 1e-9]
    cal_row = at_calibration.iloc[-1] if len(at_calibration) else None
    per = units[:-1] if track.attrs["period"] == 1 else f"{_fmt(track.attrs['period'])} {units}"
    text = (
        f"Repeat transactions of all {_fmt(track.attrs['n_customers'])} customers per "
        f"{per}, from {track.attrs['start_date']} to "
        f"{track.attrs['observation_end_date']}. Expected: sum over customers of E[X(s − first purchase)] for a new "
        f"customer. By the end ({_fmt(float(track.index[-1]))} {units}) the model expects "
        f"{_fixed(last['expected_cumulative'], 0)} repeat transactions against {_fixed(last['actual_cumulative'], 0)} actual "
        f"({100 * (last['expected_cumulative'] - last['actual_cumulative']) / max(last['actual_cumulative'], 1):+.1f}%)."
    )
    if cal_row is not None:
        text += (f" At the end of calibration: {_fixed(cal_row['expected_cumulative'], 0)} expected, "
                 f"{_fixed(cal_row['actual_cumulative'], 0)} actual.")
    body = _p(text)
    body += _table(
        _tracking_rows(track, per_unit_days),
        [f"{units} since start", "period ends on", "period", "actual cumulative", "expected cumulative", "difference %"],
        "Cumulative repeat transactions (FHL 2005 Figure 2)",
        {3: lambda v: _fixed(v, 0), 4: lambda v: _fixed(v, 1), 5: lambda v: f"{v:+.1f}" if np.isfinite(v) else "–"},
    )
    body += '<div class="figures">' + figures.draw(
        plotting.plot_cumulative_transactions, track,
        caption="Cumulative repeat transactions, actual and expected (FHL 2005 Figure 2).",
        alt="Line chart: cumulative actual vs expected repeat transactions",
    ) + figures.draw(
        plotting.plot_incremental_transactions, track,
        caption=f"Repeat transactions per {per}, actual and expected (FHL 2005 Figure 3).",
        alt="Line chart: actual vs expected repeat transactions per period",
    ) + "</div>"
    parts.append(_section("tracking", "Tracking over calibration and holdout", body))

    if model_table is not None:
        parts.append(_comparison_section(model_table))

    # ----- diagnostics
    history_html = _history_figure(figures, plotting, model, split, transactions, customer_col, date_col,
                                   datetime_format, comparison["probability_alive"])
    cap, above = _matrix_frequency_cap(split)
    cap_text = (f"Frequencies up to {cap}, the {100 * _MATRIX_FREQUENCY_QUANTILE:g}th percentile of the customers' "
                f"calibration frequency ({_fmt(above)} customers buy more often and are off the chart)")
    diag = [
        figures.draw(plotting.plot_frequency_recency_matrix, model, T=split, max_frequency=cap,
                     caption=f"Expected purchases in the next {units[:-1]} by frequency and recency, for customers "
                             f"observed as long as the oldest. {cap_text}.",
                     alt="Heat map of expected purchases by frequency and recency"),
        figures.draw(plotting.plot_probability_alive_matrix, model, T=split, max_frequency=cap,
                     caption=f"Probability alive by frequency and recency. {cap_text}.",
                     alt="Heat map of probability alive by frequency and recency"),
        history_html,
        figures.draw(plotting.plot_expected_purchases_new_customer, model, calibration_length + holdout_length,
                     caption="Expected repeat purchases of a new customer, E[X(t)].",
                     alt="Curve of expected repeat purchases of a new customer over time"),
    ]
    mixings = model.mixing_distributions()
    for key, function, what in (("purchase", plotting.plot_purchase_rate_heterogeneity, "purchase rates"),
                                ("dropout", plotting.plot_dropout_heterogeneity, "dropout")):
        if key in mixings:
            mixing = mixings[key]
            diag.append(figures.draw(function, model,
                                     caption=f"Heterogeneity of {what} across customers: {mixing.quantity} ~ "
                                             f"{mixing.label}.",
                                     alt=f"Density of {mixing.quantity}"))
    if gg is not None:
        diag.append(figures.draw(plotting.plot_spend_distribution, gg, split,
                                 caption=f"Mean spend per repeat purchase ({money}): observed and {gg.title}.",
                                 alt=f"Histogram of mean spend with the {gg.title} density"))
    note = "The matrices and curves below are predictions of the fitted models; they show what the parameters imply."
    body = _p(note, "note") + '<div class="figures">' + "".join(diag) + "</div>"
    parts.append(_section("diagnostics", "Model diagnostics", body))

    # ----- segments and value
    parts.append(_segments_section(segments, forecast, figures, plotting, horizon, period, step, units, segment_names,
                                   split.attrs["calibration_end"], split, title, money))
    return "".join(parts)


def _count(n, singular, plural):
    return f"{_fmt(n)} {singular if n == 1 else plural}"


def _left_out(summary, split, gg):
    """Who is not in the analysis, or not in one of the models, and why."""
    items = []
    later = summary["customers_in_data"] - summary["customers"]
    if later:
        items.append(f"{_count(later, 'customer', 'customers')} whose first purchase is after the end of calibration "
                     f"({split.attrs['calibration_end']}): no calibration history to fit or validate.")
    if summary["records_after_end"]:
        items.append(f"{_count(summary['records_after_end'], 'transaction record', 'transaction records')} after "
                     f"the end of observation ({split.attrs['observation_end']}).")
    if gg is not None:
        one_time = summary["customers"] - summary["repeat_buyers"]
        items.append(f"From the spend model only: {_count(one_time, 'customer', 'customers')} without a repeat "
                     "purchase in calibration (their spend forecast is the population mean).")
        zero = summary.get("zero_spend_repeat_buyers", 0)
        if zero:
            items.append(f"From the spend model only: {_count(zero, 'repeat buyer', 'repeat buyers')} whose repeat "
                         f"purchases sum to zero ({gg.title} is fitted on positive spend; their forecast still uses it).")
    if not items:
        return _p("Every customer of the data is in the analysis.", "note")
    return "<h3>Left out</h3><ul>" + "".join(f"<li>{_esc(item)}</li>" for item in items) + "</ul>"


def _matrix_frequency_cap(split):
    """The matrices' largest frequency (a high quantile of the customers', at least 1) and
    how many customers are above it."""
    frequency = split["frequency"].to_numpy()
    cap = max(int(np.ceil(np.quantile(frequency, _MATRIX_FREQUENCY_QUANTILE))), 1)
    return cap, int(np.count_nonzero(frequency > cap))


def _typical_customer(split, probability_alive):
    """A repeat buyer typical of the data: median frequency among repeat buyers, and
    among those the one whose P(alive) is nearest the group's median (first id on ties).
    The first customer if nobody repeats."""
    frequency = split["frequency"].to_numpy()
    repeat = frequency > 0
    if not repeat.any():
        return 0
    typical = np.median(frequency[repeat])
    candidates = np.flatnonzero(frequency == frequency[repeat][np.argmin(np.abs(frequency[repeat] - typical))])
    alive = np.asarray(probability_alive, dtype=float)[candidates]
    return int(candidates[np.argmin(np.abs(alive - np.median(alive)))])


def _history_figure(figures, plotting, model, split, transactions, customer_col, date_col, datetime_format,
                    probability_alive):
    """P(alive) history of a typical repeat buyer (see :func:`_typical_customer`)."""
    position = _typical_customer(split, probability_alive)
    customer = split.index[position]
    rows = transactions.loc[transactions[customer_col] == customer, [date_col]]
    problems = Problems("transactions")
    days = datetime_column(rows, date_col, problems, datetime_format).astype("datetime64[D]")
    end = pd.Timestamp(split.attrs["observation_end"])
    rows = pd.DataFrame({date_col: days[days <= end.to_datetime64().astype("datetime64[D]")]})
    frequency = int(split["frequency"].iloc[position])
    caption = (
        f"Probability alive over calibration and holdout of customer {customer}, a typical repeat buyer: "
        f"{frequency} repeat purchases in calibration (the median of the repeat buyers) and a P(alive) at the "
        f"end of calibration of {float(np.asarray(probability_alive)[position]):.2f} (the median of those "
        "customers); the model is the calibration fit."
    )
    return figures.draw(
        plotting.plot_history_alive, model, rows, date_col=date_col, end=end,
        caption=caption, alt=f"Probability alive over time for customer {customer}",
    )


def _segments_section(segments, forecast, figures, plotting, horizon, period, step, units, segment_names, as_of,
                      split, title, money):
    n = len(segments)
    has_clv = "clv" in forecast.columns
    frame = segments.join(forecast)
    grouped = frame.groupby("segment", observed=False)
    counts = grouped.size()
    horizon_text = f"{_fmt(horizon)} × {period} ({_fixed(float(horizon) * step, 1)} {units})"
    rows = []
    header = ["segment", "customers", "share %", "mean P(alive)", f"expected purchases, next {horizon_text}"]
    if has_clv:
        header += [f"total CLV ({money})", "share of CLV %", f"mean CLV ({money})"]
        total_clv = float(frame["clv"].sum())
    for name in segment_names:
        count = int(counts.get(name, 0))
        subset = frame.loc[frame["segment"] == name]
        row = [name, count, 100.0 * count / n if n else np.nan,
               float(subset["probability_alive"].mean()) if count else np.nan,
               float(subset["expected_purchases"].sum())]
        if has_clv:
            value = float(subset["clv"].sum())
            row += [value, 100.0 * value / total_clv if total_clv else np.nan, value / count if count else np.nan]
        rows.append(row)
    total = ["all", n, 100.0, float(frame["probability_alive"].mean()), float(frame["expected_purchases"].sum())]
    if has_clv:
        total += [total_clv, 100.0, total_clv / n if n else np.nan]
    rows.append(total)
    formats = {1: _fmt, 2: lambda v: _fixed(v, 1), 3: lambda v: _fixed(v, 3), 4: lambda v: _fixed(v, 1)}
    if has_clv:
        formats.update({5: lambda v: _fixed(v, 2), 6: lambda v: _fixed(v, 1), 7: lambda v: _fixed(v, 2)})
    attrs = segments.attrs
    rule = (
        f"new: observed less than {_fmt(attrs['new_customer_T'])} {units} (T); inactive: P(alive) < "
        f"{attrs['inactive_below']}; at risk: P(alive) < {attrs['at_risk_below']}; active: the rest."
    )
    one_time = split["frequency"].to_numpy() == 0
    if one_time.any() and np.all(frame["probability_alive"].to_numpy()[one_time] >= 1 - 1e-12):
        rule += (f" Under {title} a customer with no repeat purchase is certainly alive (P(alive) = 1), so "
                 "these customers count as active (or new).")
    body = _p(f"As of {as_of}, from the calibration fits. " + rule)
    body += _table(rows, header, "Customers and value by segment", formats)

    rfm = segments["rfm_score"].value_counts()
    top = rfm.head(10)
    rfm_rows = [[score, int(count), 100.0 * count / n] for score, count in top.items()]
    basis = attrs.get("monetary_basis")
    digits = "recency, frequency" + (", monetary" if basis else "")
    body += '<div class="tables">' + _table(
        rfm_rows, ["RFM score", "customers", "share %"],
        f"Most common RFM scores ({digits}; 5 = best quintile)", {1: _fmt, 2: lambda v: _fixed(v, 1)},
    )
    score_rows = []
    for score in range(1, 6):
        row = [str(score)]
        for column in ("recency_score", "frequency_score", "monetary_score"):
            values = segments[column]
            row.append(int((values == score).sum()) if values.notna().any() else None)
        score_rows.append(row)
    body += _table(score_rows, ["score", "recency", "frequency", "monetary"], "Customers per quintile score",
                   {1: _fmt, 2: _fmt, 3: _fmt}) + "</div>"
    body += _p("Scores are quintiles of the position among all customers; tied customers share the score of "
               "the lowest position of the tie, so a dominant value (e.g. no repeat purchase) fills one score "
               "and leaves others empty. Monetary scores rank "
               + ("expected spend per purchase (Gamma-Gamma)." if basis == "expected_spend" else
                  "observed mean repeat spend." if basis == "monetary_value" else "nothing (no amounts)."), "note")

    if has_clv:
        concentration = _value_concentration(frame["clv"].to_numpy())
        body += "<h3>Value concentration</h3>"
        body += _p(f"Customer lifetime value over the next {horizon_text}: margin × expected spend × discounted "
                   "expected purchases per period, conditional on each customer's history.")
        body += '<div class="tables">' + _table(
            concentration, ["customers", "number", f"CLV held ({money})", "share of total CLV %"],
            "Share of total CLV held by the most valuable customers",
            {1: _fmt, 2: lambda v: _fixed(v, 2), 3: lambda v: _fixed(v, 1)},
        ) + _table(
            [["total", float(frame["clv"].sum())], ["mean", float(frame["clv"].mean())],
             ["median", float(frame["clv"].median())], ["max", float(frame["clv"].max())]],
            ["CLV", f"value ({money})"], "CLV distribution", {1: lambda v: _fixed(v, 2)},
        ) + "</div>"
        body += '<div class="figures">' + figures.draw(
            plotting.plot_value_concentration, frame["clv"],
            caption="Share of total CLV by share of customers, most valuable first.",
            alt="Concentration curve of customer lifetime value",
        ) + "</div>"
    else:
        body += _p("No amounts were given (amount_col=None), so there is no spend model, CLV or value concentration.",
                   "note")
    return _section("segments", "Segments and value", body)


# ------------------------------------------------------------------ models counted in periods


def _run_details(started, generated, fitting, table_name, table):
    """The report's run details: versions, when and how long it took, the input's size."""
    from ._version import __version__

    return {
        "clvmodels version": __version__,
        "generated (UTC)": generated.isoformat(),
        "generation time": f"{time.perf_counter() - started:.1f} s ({fitting})",
        "python / numpy / pandas / scipy / matplotlib": _versions(),
        table_name: f"{len(table):,} rows x {table.shape[1]} columns",
    }


def _report_model(spec):
    """An unfitted model to validate from a registry key, a class or an instance
    (copied): a purchase model of any kind, or a contractual model."""
    from ._families import ContractualModel, TransactionModel, registered_models

    models = {**registered_models("transaction"), **registered_models("contractual")}
    families = (TransactionModel, ContractualModel)
    if isinstance(spec, str):
        if spec not in models:
            raise ValueError(f"unknown transaction model {spec!r}; choose one of {', '.join(sorted(models))}")
        model = models[spec]()
    elif isinstance(spec, type) and issubclass(spec, families):
        model = spec()
    elif isinstance(spec, families):
        model = copy.deepcopy(spec)
    else:
        raise ValueError(f"model must be a purchase model key ({', '.join(sorted(models))}), class or instance, "
                         f"got {spec!r}")
    if model_kind(model) is None:
        raise ValueError(f"model: {model.title or type(model).__name__} fits the columns "
                         f"{', '.join(model.rfm_columns)}, which no report knows")
    return model


# The survival comparison stops at the last period with at least this many subscribers at risk.
_MIN_AT_RISK = 30
_UNIT_SINGULAR = {"D": "day", "W": "week", "M": "month", "Q": "quarter", "Y": "year"}


def _check_texts(**settings):
    """Each of ``settings`` is None or text (a report's currency, its data source)."""
    for name, value in settings.items():
        if value is not None and not isinstance(value, str):
            raise ValueError(f"{name} must be text, got {value!r}")


def _check_periods_settings(kind, model, *, path, period, time_unit, horizon, discount_rate, margin, compare,
                            currency, data_source, amount_col, calibration_end, calibration_periods):
    """The settings of a report of a model counted in periods, checked before any work; returns the period code."""
    title = model.title or type(model).__name__
    code = _DEFAULT_PERIOD[kind] if period is None else period
    if not isinstance(code, str) or code.upper() not in _PERIOD_CODES:
        raise ValueError(f"period {period!r}: {title} counts whole calendar periods; use one of "
                         f"{', '.join(_PERIOD_CODES)}")
    code = code.upper()
    if time_unit is not None and check_time_unit(time_unit) != code:
        raise ValueError(f"time_unit {time_unit!r}: the time unit of {title} is its period ({code}); leave "
                         "time_unit out")
    compared = None
    if compare is not None and kind == "discrete":
        raise ValueError(f"compare: the report of {title} compares no other models")
    if compare is not None:
        if isinstance(compare, str) or not hasattr(compare, "__iter__"):
            raise ValueError(f"compare must be a list of models, got {compare!r}")
        compared = [_report_model(spec) for spec in compare]
        if not compared or any(model_kind(other) != "contractual" for other in compared):
            raise ValueError(f"compare: {title} can be compared with contractual models only, got {compare!r}")
    if kind == "discrete" and amount_col is not None:
        raise ValueError(f"amount_col: the report of {title} validates the transactions per period; "
                         "margin is the value of one transaction")
    if kind == "contractual" and calibration_end is not None:
        raise ValueError(f"calibration_end: {title} is fitted on the first calibration_periods of tenure")
    if kind == "discrete" and calibration_end is None:
        raise ValueError("calibration_end is required: the last day of the calibration periods")
    if kind == "discrete" and calibration_periods is not None:
        raise ValueError(f"calibration_periods is for the contractual models, not {title}; give calibration_end")
    if calibration_periods is not None:
        check_whole_number(calibration_periods, "calibration_periods")
    _check_texts(currency=currency, data_source=data_source)
    check_whole_number(horizon, "horizon", unit=" of periods")
    if check_positive_number(discount_rate, "discount_rate") < _MIN_DISCOUNT_RATE:
        raise ValueError(f"discount_rate must be at least {_MIN_DISCOUNT_RATE:g} per period: DERT and DERL sum "
                         f"discounted periods without end, got {discount_rate!r}")
    check_positive_number(margin, "margin", allow_zero=True)
    path = Path(path)
    if not path.parent.exists():
        raise ValueError(f"path {str(path)!r}: the directory {str(path.parent)!r} does not exist")
    return code, compared


def discrete_validation(model, split, *, horizon, discount_rate):
    """The numbers of the discrete-time report: ``model`` fitted on the calibration
    columns of ``split`` (:func:`clvmodels.discrete_calibration_holdout_split`) and
    checked against its holdout periods.

    Returns
    -------
    dict of tables
        ``gof`` (:func:`clvmodels.evaluation.goodness_of_fit`, groups up to the
        longest calibration), ``comparison``, ``metrics``, ``by_frequency``,
        ``patterns`` (:func:`clvmodels.evaluation.holdout_by_pattern`), ``verdict``
        and ``forecast``: per calibration pattern, P(alive), the expected
        transactions of the next ``horizon`` periods and DERT at ``discount_rate``
        as of the end of calibration.
    """
    groups = int(min(7, max(1, split["n_periods"].max())))
    gof = evaluation.goodness_of_fit(model, split, max_frequency=groups)
    comparison = evaluation.holdout_comparison(model, split)
    metrics = evaluation.holdout_metrics(comparison)
    by_frequency = evaluation.holdout_by_frequency(comparison, max_frequency=groups)
    patterns = evaluation.holdout_by_pattern(model, split, comparison)
    history = patterns.index.to_frame(index=False)
    forecast = pd.DataFrame({
        "n_customers": patterns["n_customers"].to_numpy(),
        "probability_alive": patterns["probability_alive"].to_numpy(),
        "expected_transactions": model.expected_purchases(history, t=float(horizon)).to_numpy(),
        "dert": model.discounted_expected_residual_transactions(history, discount_rate).to_numpy(),
    }, index=patterns.index)
    return {"gof": gof, "comparison": comparison, "metrics": metrics, "by_frequency": by_frequency,
            "patterns": patterns, "verdict": evaluation.verdict(gof, metrics, by_frequency), "forecast": forecast}


def contractual_validation(model, table, *, calibration_periods, discount_rate, margin, compare=None):
    """The numbers of the contractual report: ``model`` fitted on each subscriber's
    first ``calibration_periods`` periods of ``table`` (tenure, churned), then the
    observed survival of all periods against the model's.

    Returns
    -------
    dict of tables
        ``calibration`` (:func:`clvmodels.censor_tenure`), ``observed``
        (:func:`clvmodels.evaluation.observed_survival` of the whole table),
        ``comparison`` (:func:`clvmodels.evaluation.survival_comparison` up to the
        last period with at least 30 subscribers at risk) and ``value``: per
        tenure of the active subscribers, their number, the probability of being
        a subscriber after the next renewal, DERL (periods, at the next renewal)
        and CLV = ``margin`` x DERL, per subscriber and in total; with ``compare``
        (unfitted contractual models, fitted here on the same periods; ``model``
        stands for itself), ``models``:
        :func:`clvmodels.evaluation.compare_survival_models`.
    """
    from .discrete import censor_tenure

    calibration = censor_tenure(table, calibration_periods)
    model.fit(calibration)
    observed = evaluation.observed_survival(table)
    comparison = evaluation.survival_holdout(model, table, calibration_periods, min_at_risk=_MIN_AT_RISK)
    active = table.loc[~table["churned"].to_numpy().astype(bool)]
    tenures = np.unique(active["tenure"].to_numpy(dtype=float))
    grid = pd.DataFrame({"tenure": tenures, "churned": np.zeros(len(tenures), dtype=bool)})
    counts = active["tenure"].value_counts().reindex(tenures).to_numpy(dtype=float)
    derl = model.expected_residual_lifetime(grid, discount_rate).to_numpy() if len(grid) else np.zeros(0)
    value = pd.DataFrame({
        "subscribers": counts,
        "probability_alive_next_period": model.probability_alive(grid, t=1).to_numpy() if len(grid) else derl,
        "derl": derl,
        "clv": margin * derl,
        "total_clv": margin * derl * counts,
    }, index=pd.Index(tenures, name="tenure"))
    numbers = {"calibration": calibration, "observed": observed, "comparison": comparison, "value": value}
    if compare is not None:
        fitted = [model if other.key == model.key else other.fit(calibration) for other in compare]
        numbers["models"] = evaluation.compare_survival_models(fitted, table, calibration_periods,
                                                               min_at_risk=_MIN_AT_RISK)
    return numbers


def _periods_report(kind, model, transactions, path, *, started, generated, customer_col, date_col, amount_col,
                    calibration_end, observation_end, time_unit, horizon, period, discount_rate, margin,
                    datetime_format, title, compare, currency, data_source, start_col, end_col,
                    calibration_periods):
    """validation_report for the models counted in periods (see its docstring)."""
    code, compared = _check_periods_settings(
        kind, model, path=path, period=period, time_unit=time_unit, horizon=horizon, discount_rate=discount_rate,
        margin=margin, compare=compare, currency=currency, data_source=data_source, amount_col=amount_col,
        calibration_end=calibration_end, calibration_periods=calibration_periods,
    )
    settings = {"customer_col": customer_col}
    if kind == "discrete":
        settings.update(date_col=date_col, calibration_end=calibration_end)
    else:
        settings.update(start_col=start_col, end_col=end_col, calibration_periods=calibration_periods,
                        compare=None if compare is None else [_model_name(m) for m in compared])
    settings.update(observation_end=observation_end, period=code)
    if kind == "discrete":
        settings["horizon"] = horizon
    settings.update(discount_rate=discount_rate, margin=margin, datetime_format=datetime_format, title=title,
                    model=_model_name(model), currency=currency, data_source=data_source)
    try:
        import matplotlib  # noqa: F401
    except ImportError as error:
        raise ImportError("validation_report needs matplotlib: pip install 'clvmodels[plot]'") from error
    from . import plotting
    from ._version import __version__
    from .discrete import discrete_calibration_holdout_split, tenure_summary

    require_dataframe(transactions, "transactions")
    path = Path(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        figures = _Figures()
        fit_started = time.perf_counter()
        if kind == "discrete":
            split = discrete_calibration_holdout_split(
                transactions, customer_col, date_col, period=code, calibration_end=calibration_end,
                observation_end=observation_end, datetime_format=datetime_format,
            )
            model.fit(split)
            fit_seconds = time.perf_counter() - fit_started
            numbers = discrete_validation(model, split, horizon=horizon, discount_rate=discount_rate)
            body, nav = _discrete_body(model, split, numbers, figures, plotting, settings, fit_seconds,
                                       len(transactions))
        else:
            table = tenure_summary(transactions, customer_col, start_col, end_col, period=code,
                                   observation_end=observation_end, datetime_format=datetime_format)
            longest = int(table["tenure"].max())
            periods = int(calibration_periods) if calibration_periods is not None else max(1, longest // 2)
            if periods >= longest:
                raise ValueError(f"calibration_periods {periods} leaves no later period to compare: the longest "
                                 f"tenure is {longest} periods")
            settings["calibration_periods"] = periods
            numbers = contractual_validation(model, table, calibration_periods=periods, discount_rate=discount_rate,
                                             margin=margin, compare=compared)
            fit_seconds = time.perf_counter() - fit_started
            body, nav = _contractual_body(model, table, numbers, figures, plotting, settings, fit_seconds)
    messages = _unique_warnings(caught)
    extra = _run_details(started, generated, f"model fitting and checks {fit_seconds:.1f} s", "input table",
                         transactions)
    heading = title or f"Model validation report: {model.title or type(model).__name__}"
    method = ("Validation after Fader, Hardie &amp; Shang (2010), Marketing Science 29(6). " if kind == "discrete"
              else "Validation after Fader &amp; Hardie (2007), Journal of Interactive Marketing 21(1). ")
    document = _document(heading, generated, __version__, body, settings, extra, messages, figures, [model], False,
                         nav_items=nav + [("settings", "Settings")], method=method)
    path.write_text(document, encoding="utf-8")
    for category, text in messages:
        warnings.warn(text, category, stacklevel=3)
    return path


def _models_section(model, fit_seconds, what):
    title = model.title or type(model).__name__
    body = ('<div class="tables">' + _parameter_table(model, f"{title} parameters")
            + _model_facts(model, title) + "</div>")
    body += _p(f"{title}: {model.reference}." if model.reference else f"{title}.", "note")
    body += _p("Standard errors from the inverse Hessian of the log-likelihood (delta method); 95% intervals "
               f"on the log scale. Fitted on {what} only ({fit_seconds:.2f} s).", "note")
    return _section("models", "Fitted model", body)


def _discrete_body(model, split, numbers, figures, plotting, settings, fit_seconds, n_records):
    """The sections of the discrete-time report, from the tables of :func:`discrete_validation`."""
    code = split.attrs["time_unit"]
    unit = _UNIT_SINGULAR[code]
    title = model.title or type(model).__name__
    metrics, patterns, forecast = numbers["metrics"], numbers["patterns"], numbers["forecast"]
    holdout = int(split["duration_holdout"].iloc[0])
    parts = [_verdict_section(numbers["verdict"], title)]

    n = len(split)
    cards = [
        ("customers (acquired in calibration)", _fmt(n)),
        ("transaction records", _fmt(n_records)),
        (f"holdout {unit}s", _fmt(holdout)),
        ("transactions in the holdout", _fmt(metrics["total_actual"])),
        ("expected in the holdout", _fixed(metrics["total_predicted"], 1)),
    ]
    rows = [
        ["data source", settings.get("data_source") or "a DataFrame"],
        ["period (one transaction opportunity)", f"{code} (calendar {unit}s)"],
        ["end of calibration", split.attrs["calibration_end"]],
        ["end of observation (holdout)", split.attrs["observation_end"]],
        [f"longest calibration history ({unit}s after the first)", _fmt(float(split["n_periods"].max()))],
        [f"holdout ({unit}s)", _fmt(holdout)],
        ["distinct calibration patterns (frequency, recency, n_periods)", _fmt(len(patterns))],
        ["customers transacting in the holdout", _fmt(int((split["frequency_holdout"] > 0).sum()))],
    ]
    parts.append(_section("data", "Data", _cards(cards) + _table(rows, None, "Source and periods") + _p(
        f"Each customer's first {unit} with a transaction is her period 0; every later {unit} is one opportunity. "
        f"Several transactions in one {unit} count as one; {unit}s still running at the end of calibration or "
        "observation are left out.", "note")))
    parts.append(_models_section(model, fit_seconds, "the calibration periods"))

    gof = numbers["gof"]
    attrs = gof.attrs
    gof_rows = [[label, row["observed"], row["expected"], row["chi_square"]] for label, row in gof.iterrows()]
    body = _table(gof_rows, [f"{unit}s with a repeat transaction", "observed customers", "expected customers",
                             "(O − E)² / E"], "Customers by repeat transactions in the calibration periods",
                  {1: _fmt, 2: lambda v: _fixed(v, 1), 3: lambda v: _fixed(v, 2)})
    p_text = f"p = {attrs['p_value']:.3g}" if np.isfinite(attrs["p_value"]) else "no degrees of freedom left"
    body += _p(f"Chi-square = {attrs['chi_square']:.2f} on {attrs['degrees_of_freedom']} degrees of freedom, "
               f"{p_text}. Expected counts sum each customer's P(X(n) = x) for her own number of opportunities n.")
    groups = len(gof) - 1
    body += figures.draw(plotting.plot_period_transactions, model, split, max_frequency=groups,
                         caption="Observed and expected customers by repeat transactions in calibration.",
                         alt="Bar chart: observed vs expected customers by repeat transactions")
    parts.append(_section("fit", "Goodness of fit (calibration periods)", body))

    body = _p(f"Each customer's transactions in the {holdout} holdout {unit}s against {title}'s conditional "
              "expectation given her calibration pattern (x, tₓ, n).")
    body += _metrics_table(metrics)
    bf_rows = [[label, row["n_customers"], row["actual"], row["predicted"]]
               for label, row in numbers["by_frequency"].iterrows()]
    body += _table(bf_rows, [f"calibration repeat {unit}s", "customers", "actual mean", "predicted mean"],
                   "Holdout transactions per customer by calibration frequency",
                   {1: _fmt, 2: lambda v: _fixed(v, 3), 3: lambda v: _fixed(v, 3)})
    body += figures.draw(plotting.plot_calibration_vs_holdout_purchases, model, split, max_frequency=groups,
                         caption="Mean holdout transactions, actual and predicted, by calibration frequency.",
                         alt="Line chart: actual vs predicted holdout transactions by calibration frequency")
    pattern_rows = [[int(x), int(t_x), int(n_), row["n_customers"], row["probability_alive"], row["actual"],
                     row["predicted"]] for (x, t_x, n_), row in patterns.iterrows()]
    body += _table(pattern_rows, ["frequency x", "recency tₓ", "opportunities n", "customers", "P(alive)",
                                  "actual mean", "predicted mean"],
                   "Holdout transactions per customer and P(alive) at the end of calibration, by pattern",
                   {3: _fmt, 4: lambda v: _fixed(v, 3), 5: lambda v: _fixed(v, 3), 6: lambda v: _fixed(v, 3)},
                   row_header=False)
    body += figures.draw(plotting.plot_probability_alive_matrix, model, T=split,
                         caption="P(alive) at the end of calibration by frequency and recency, for customers "
                                 "with the longest calibration history.",
                         alt="Heat map of P(alive) by frequency and recency")
    parts.append(_section("holdout", "Holdout periods", body))

    rate = settings["discount_rate"]
    horizon = int(settings["horizon"])
    margin = settings["margin"]
    value_rows = [[int(x), int(t_x), int(n_), row["n_customers"], row["probability_alive"],
                   row["expected_transactions"], row["dert"], margin * row["dert"]]
                  for (x, t_x, n_), row in forecast.iterrows()]
    total = float((forecast["dert"] * forecast["n_customers"]).sum())
    body = _p(f"As of the end of calibration ({split.attrs['calibration_end']}), from the calibration fit: expected "
              f"transactions in the next {horizon} {unit}s and DERT, the discounted expected residual "
              f"transactions over an unlimited horizon at {rate:g} per {unit} (FHS 2010); value = margin "
              f"{margin:g} per transaction x DERT. All customers together: {_fixed(total, 1)} discounted "
              f"transactions, worth {_fixed(margin * total, 2)}.")
    body += _table(value_rows, ["frequency x", "recency tₓ", "opportunities n", "customers", "P(alive)",
                                f"expected transactions, next {horizon} {unit}s", "DERT", "value per customer"],
                   "Forecast and residual value by calibration pattern",
                   {3: _fmt, 4: lambda v: _fixed(v, 3), 5: lambda v: _fixed(v, 3), 6: lambda v: _fixed(v, 3),
                    7: lambda v: _fixed(v, 2)}, row_header=False)
    mixings = model.mixing_distributions()
    for key, function, what in (("purchase", plotting.plot_purchase_rate_heterogeneity, "transaction probability"),
                                ("dropout", plotting.plot_dropout_heterogeneity, "dropout")):
        if key in mixings:
            body += figures.draw(function, model, caption=f"Heterogeneity of {what} across customers: "
                                 f"{mixings[key].quantity} ~ {mixings[key].label}.",
                                 alt=f"Density of {mixings[key].quantity}")
    parts.append(_section("value", "Forecast and value", body))
    nav = [("summary", "Verdict"), ("data", "Data"), ("models", "Fitted model"), ("fit", "Goodness of fit"),
           ("holdout", "Holdout"), ("value", "Forecast and value")]
    return "".join(parts), nav


def _contractual_body(model, table, numbers, figures, plotting, settings, fit_seconds):
    """The sections of the contractual report, from the tables of :func:`contractual_validation`."""
    code = table.attrs["time_unit"]
    unit = _UNIT_SINGULAR[code]
    title = model.title or type(model).__name__
    comparison, value = numbers["comparison"], numbers["value"]
    periods = comparison.attrs["calibration_periods"]
    mape = comparison.attrs["holdout_mape"]
    n, churned = len(table), int(table["churned"].sum())
    money = settings.get("currency") or "money units"
    shown = len(comparison) - 1
    holdout = comparison.loc[comparison["holdout"]]
    last = comparison.iloc[-1]
    lead = (f"{title} fitted on the first {periods} {unit}s of tenure projects the survival of {unit}s "
            f"{periods + 1}–{shown} with a mean absolute error of {mape:.1f}% of the observed survivors; after "
            f"{shown} {unit}s it expects {100 * last['expected_survival']:.1f}% of subscribers still active against "
            f"{100 * last['observed_survival']:.1f}% observed.")
    cards = [
        ("subscribers", _fmt(n)), ("active", _fmt(n - churned)), ("churned", _fmt(churned)),
        (f"calibration {unit}s", _fmt(periods)), ("holdout survival error (MAPE %)", _fixed(mape, 1)),
    ]
    parts = [_section("summary", "Summary", f'<p class="lead">{_esc(lead)}</p>' + _cards(cards))]
    rows = [
        ["data source", settings.get("data_source") or "a DataFrame"],
        ["renewal period", f"{code} ({unit}s, counted from each start date)"],
        ["records as of", table.attrs["observation_end"]],
        [f"longest tenure ({unit}s)", _fmt(float(table["tenure"].max()))],
        [f"calibration: first {unit}s of each tenure", _fmt(periods)],
        [f"survival compared up to {unit}", f"{_fmt(shown)} (the last with at least {_MIN_AT_RISK} at risk)"],
    ]
    parts.append(_section("data", "Data", _table(rows, None, "Source and periods") + _p(
        f"Tenure: {unit}s completed by an active subscriber (renewals made), or the {unit} in which a churned "
        "one left. Observed survival is the Kaplan–Meier estimate, so subscribers who started late count "
        "for the periods they have been seen.", "note")))
    parts.append(_models_section(model, fit_seconds, f"the first {periods} {unit}s of each tenure"))

    rows = [[int(t), row["at_risk"], row["observed_survival"], row["expected_survival"], row["observed_retention"],
             row["expected_retention"], "holdout" if row["holdout"] else "calibration"]
            for t, row in comparison.iterrows()]
    body = _p(f"Survival S(t): share of subscribers still active after t {unit}s; retention r(t) = S(t) / S(t − 1). "
              f"Mean absolute error of the expected survivors over the holdout {unit}s: {mape:.2f}%.")
    three = {j: (lambda v: _fixed(v, 3)) for j in range(2, 6)}
    body += _table(rows, [unit, "at risk", "observed survival", "expected survival", "observed retention",
                          "expected retention", "part"], "Observed and expected survival and retention",
                   {1: _fmt, **three})
    body += figures.draw(plotting.plot_survival, comparison, caption="Observed (Kaplan–Meier) and expected survival; "
                         "the dotted line ends the calibration periods.", alt="Survival curves, observed and model")
    body += figures.draw(plotting.plot_retention, comparison, caption="Observed and expected retention rates.",
                         alt="Retention curves, observed and model")
    parts.append(_section("survival", "Survival and retention", body))
    if "models" in numbers:
        parts.append(_survival_models_section(numbers["models"], unit))

    margin, rate = settings["margin"], settings["discount_rate"]
    total = float(value["total_clv"].sum())
    rows = [[int(t), row["subscribers"], row["probability_alive_next_period"], row["derl"], row["clv"],
             row["total_clv"]] for t, row in value.iterrows()]
    body = _p(f"Active subscribers by tenure, from the calibration fit: the probability of still being a subscriber "
              f"after the next renewal, DERL (discounted expected residual lifetime in {unit}s at {rate:g} per "
              f"{unit}, stated at the next renewal; Fader & Hardie 2010) and CLV = margin {margin:g} ({money} per "
              f"{unit}) x DERL. Total over the {_fmt(n - churned)} active subscribers: {_fixed(total, 2)} {money}.")
    body += _table(rows, [f"tenure ({unit}s)", "subscribers", "P(still a subscriber after the next renewal)", "DERL",
                          f"CLV per subscriber ({money})", f"total CLV ({money})"], "Residual value by tenure",
                   {1: _fmt, 2: lambda v: _fixed(v, 3), 3: lambda v: _fixed(v, 3), 4: lambda v: _fixed(v, 2),
                    5: lambda v: _fixed(v, 2)})
    parts.append(_section("value", "Residual value", body))
    nav = [("summary", "Summary"), ("data", "Data"), ("models", "Fitted model"), ("survival", "Survival")]
    if "models" in numbers:
        nav.append(("comparison", "Model comparison"))
    return "".join(parts), nav + [("value", "Residual value")]


def _survival_models_section(table, unit):
    """The table of :func:`clvmodels.evaluation.compare_survival_models`, best value per column in bold."""
    columns = [("n_params", "parameters"), ("log_likelihood", "log-likelihood"), ("aic", "AIC"), ("bic", "BIC"),
               ("holdout_mape", "holdout survival error %")]
    best = table.attrs.get("best", {})
    rows, marked = [], set()
    for i, (label, row) in enumerate(table.iterrows()):
        rows.append([label] + [row[c] for c, _ in columns])
        marked.update((i, j + 1) for j, (c, _) in enumerate(columns) if best.get(c) == label)
    body = _p(f"Every model fitted on the same first {table.attrs['calibration_periods']} {unit}s of tenure: "
              "log-likelihood, AIC = 2k − 2 LL and BIC = k ln n − 2 LL of those records, and the mean absolute "
              f"error of the expected survivors of {unit}s {table.attrs['calibration_periods'] + 1}–"
              f"{table.attrs['last_period']}, in % of the observed.")
    body += _table(rows, ["model"] + [t for _, t in columns], "Model comparison (best value per column in bold)",
                   {j + 1: (lambda v: _fmt(v, 4)) for j in range(len(columns))}, marked=marked)
    return _section("comparison", "Model comparison", body)
