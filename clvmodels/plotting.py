"""Diagnostic and presentation plots for fitted clvmodels models.

matplotlib is an optional extra (``pip install 'clvmodels[plot]'``): it is imported
when a plot is drawn, not when this module is imported. Every function takes an
optional matplotlib ``Axes`` (``ax=None`` draws on a new figure) and returns the
Axes it drew on, so plots can be combined into subplots and restyled afterwards.

The plots follow Fader, Hardie & Lee (2005), "'Counting your customers' the easy
way", Marketing Science 24(2) (FHL 2005): period transactions (the histogram of
repeat purchases, observed against expected), calibration against holdout purchases
(Fig. 4), cumulative and weekly tracking (Figs. 2 and 3); plus matrices of
predictions over frequency and recency, a customer's probability-alive history,
the mixing distributions of the model, the spend distribution of the Gamma-Gamma
model, and how concentrated customer value is.

Examples
--------
>>> import clvmodels as clv
>>> from clvmodels import plotting
>>> tx = clv.datasets.load_cdnow(sample=True)
>>> rfm = clv.rfm_summary(tx, time_unit="W", observation_end="1997-09-30")
>>> bg = clv.BetaGeoModel().fit(rfm)
>>> ax = plotting.plot_probability_alive_matrix(bg, T=rfm)   # doctest: +SKIP
"""

import numpy as np
import pandas as pd

from ._units import DAYS_PER_UNIT, check_time_unit
from ._validation import Problems, check_positive_number, check_rfm, require_dataframe

__all__ = [
    "plot_period_transactions",
    "plot_calibration_vs_holdout_purchases",
    "plot_cumulative_transactions",
    "plot_incremental_transactions",
    "plot_frequency_recency_matrix",
    "plot_probability_alive_matrix",
    "plot_history_alive",
    "plot_expected_purchases_new_customer",
    "plot_purchase_rate_heterogeneity",
    "plot_dropout_heterogeneity",
    "plot_spend_distribution",
    "plot_value_concentration",
]

MATPLOTLIB_MISSING = "clvmodels.plotting needs matplotlib: pip install 'clvmodels[plot]'"

_UNIT_NAMES = {"H": "hour", "D": "day", "W": "week", "M": "month", "Q": "quarter", "Y": "year"}
_OBSERVED_COLOR = "#1f4e79"
_MODEL_COLOR = "#e07b00"


# ----- helpers ------------------------------------------------------------------------------
def _require_matplotlib():
    """Import matplotlib, or raise ImportError saying how to install it."""
    try:
        import matplotlib
    except ImportError as error:
        raise ImportError(MATPLOTLIB_MISSING) from error
    return matplotlib


def _axes(ax):
    """``ax``, or the Axes of a new figure when ``ax`` is None (checks matplotlib is there).

    pyplot (and with it a GUI backend) is only imported to make a new figure.
    """
    _require_matplotlib()
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(7.5, 4.8), constrained_layout=True)
    return ax


def _unit_code(model):
    unit = getattr(model, "time_unit_", None)
    return check_time_unit(unit) if unit else None


def _units(model, count=2.0):
    """Name of the model's time unit ("weeks", "week"; "time units" when unknown)."""
    code = _unit_code(model)
    if code is None:
        return "time unit" if count == 1 else "time units"
    return _UNIT_NAMES[code] + ("" if count == 1 else "s")


def _format_number(value):
    return f"{value:g}" if float(value) == round(float(value)) else f"{value:.3g}"


def _check_fitted(model):
    if not hasattr(model, "params_"):
        from .exceptions import NotFittedError

        raise NotFittedError(f"this {type(model).__name__} is not fitted yet; call fit(data) first")


def _rfm_frame(model, columns):
    """A DataFrame of ``columns`` tagged with the model's time unit, for its public methods.

    The customers drawn are synthetic: for a model with covariates they have the
    covariates' means in the fitted data (``covariate_means_``), a typical customer.
    """
    frame = pd.DataFrame(columns)
    for name, mean in (getattr(model, "covariate_means_", None) or {}).items():
        frame[name] = mean
    if getattr(model, "time_unit_", None):
        frame.attrs["time_unit"] = model.time_unit_
    return frame


def _mixing_grid(dist, upper_probability):
    """Points covering ``dist`` (a frozen scipy distribution) from its 1e-6 quantile to
    ``upper_probability``.

    Evenly spaced points, plus quantiles at probabilities spaced evenly and, towards
    both ends, geometrically: a density that is infinite at an edge (shape < 1) is
    traced there too, and the trapezoid rule over the grid recovers the probability
    between its ends.
    """
    tail = np.geomspace(1e-6, 0.02, 300)
    probabilities = np.concatenate([tail, np.linspace(0.02, 0.98, 300), 1.0 - tail])
    probabilities = probabilities[probabilities <= upper_probability]
    quantiles = dist.ppf(probabilities)
    lower, upper = float(quantiles.min()), float(dist.ppf(upper_probability))
    grid = np.unique(np.concatenate([quantiles, np.linspace(lower, upper, 400), [upper]]))
    return grid[np.isfinite(grid) & (grid >= lower) & (grid <= upper)]


def _legend(ax, **kwargs):
    ax.legend(frameon=False, **kwargs)


# ----- validation plots ---------------------------------------------------------------------
def plot_period_transactions(model, data, max_frequency=7, ax=None):
    """Observed and expected numbers of customers by number of repeat purchases.

    The histogram check of FHL 2005 (section 4): for each count 0, 1, ...,
    ``max_frequency - 1`` and ``max_frequency`` or more repeat purchases, the number
    of customers in ``data`` with that count beside the number the model expects,
    sum over customers of P(X(T_i) = x) (FHL 2005 eq. 8) for each customer's own
    length of observation T_i. The counts are those of
    :func:`clvmodels.evaluation.goodness_of_fit`, whose chi-square test is quoted in
    the title.

    Parameters
    ----------
    model : fitted transaction model, e.g. :class:`clvmodels.BetaGeoModel`
    data : pandas.DataFrame
        RFM table (frequency, recency, T) in the model's time unit.
    max_frequency : int, default 7
        The last bar collects ``max_frequency`` or more repeat purchases.
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    from .evaluation import goodness_of_fit

    ax = _axes(ax)
    table = goodness_of_fit(model, data, max_frequency=max_frequency)
    positions = np.arange(len(table))
    width = 0.4
    ax.bar(positions - width / 2, table["observed"].to_numpy(dtype=float), width,
           label="observed", color=_OBSERVED_COLOR)
    ax.bar(positions + width / 2, table["expected"].to_numpy(dtype=float), width,
           label=f"expected ({type(model).__name__})", color=_MODEL_COLOR)
    ax.set_xticks(positions, [str(label) for label in table.index])
    unit = _units(model)
    ax.set_xlabel(f"repeat purchases per customer during their observation period T ({unit})")
    ax.set_ylabel("number of customers")
    title = "Repeat purchases: observed vs expected"
    chi2 = table.attrs.get("chi_square")
    if chi2 is not None:
        title += (
            f"\nchi-square = {chi2:.1f} on {table.attrs.get('degrees_of_freedom')} d.f., "
            f"p = {table.attrs.get('p_value'):.3g}"
        )
    ax.set_title(title)
    _legend(ax)
    return ax


def plot_calibration_vs_holdout_purchases(model, split, max_frequency=7, ax=None):
    """Mean actual and predicted holdout purchases by number of calibration purchases.

    FHL 2005 Fig. 4: customers are grouped by their repeat purchases in the
    calibration period (0 .. ``max_frequency``, the last group ``max_frequency`` or
    more); for each group the mean number of purchases they made in the holdout
    period is drawn beside the mean the model predicted from their calibration
    history, E[X(T, T + t) | x, t_x, T] (FHL 2005 eq. 10), ``t`` the holdout length.
    The table is that of :func:`clvmodels.evaluation.holdout_by_frequency`.

    Parameters
    ----------
    model : fitted transaction model
        Fitted on the calibration columns of ``split``.
    split : pandas.DataFrame
        Output of :func:`clvmodels.calibration_holdout_split`.
    max_frequency : int, default 7
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    from .evaluation import holdout_by_frequency, holdout_comparison

    ax = _axes(ax)
    table = holdout_by_frequency(holdout_comparison(model, split), max_frequency=max_frequency)
    positions = np.arange(len(table))
    ax.plot(positions, table["actual"].to_numpy(dtype=float), marker="o", color=_OBSERVED_COLOR,
            label="actual")
    ax.plot(positions, table["predicted"].to_numpy(dtype=float), marker="s", linestyle="--",
            color=_MODEL_COLOR, label=f"predicted ({type(model).__name__})")
    ax.set_xticks(positions, [str(label) for label in table.index])
    holdout = _holdout_length(split)
    span = f" ({_format_number(holdout)} {_units(model, holdout)})" if holdout is not None else ""
    ax.set_xlabel("repeat purchases in the calibration period")
    ax.set_ylabel(f"mean purchases in the holdout period{span}")
    ax.set_title("Holdout purchases, actual vs predicted, by calibration purchases")
    ax.set_ylim(bottom=0)
    _legend(ax)
    return ax


def _holdout_length(split):
    if "duration_holdout" not in split.columns or len(split) == 0:
        return None
    return float(split["duration_holdout"].iloc[0])


def _tracking_axes(tracking_table, ax, columns, ylabel, title, kind):
    require_dataframe(tracking_table, "tracking table")
    problems = Problems("tracking table")
    for column in columns:
        if column not in tracking_table.columns:
            problems.add(column, f"is missing; the columns are {list(tracking_table.columns)}")
    problems.raise_if_any()
    ax = _axes(ax)
    periods = tracking_table.index.to_numpy(dtype=float)
    actual, expected = (tracking_table[c].to_numpy(dtype=float) for c in columns)
    ax.plot(periods, actual, color=_OBSERVED_COLOR, label="actual", drawstyle="default")
    ax.plot(periods, expected, color=_MODEL_COLOR, linestyle="--", label="expected (model)")
    unit_code = tracking_table.attrs.get("time_unit")
    unit = _UNIT_NAMES[check_time_unit(unit_code)] + "s" if unit_code else "time units"
    end = _calibration_end_position(tracking_table)
    if end is not None:
        ax.axvline(end, color="0.4", linestyle=":", linewidth=1.2)
        ax.annotate("end of calibration", xy=(end, 1.0), xycoords=("data", "axes fraction"),
                    xytext=(-4, -4), textcoords="offset points", ha="right", va="top",
                    fontsize=9, color="0.3")
    start = tracking_table.attrs.get("start_date")
    ax.set_xlabel(f"{unit} since the first purchase in the data" + (f" ({start})" if start else ""))
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.set_xlim(0, periods.max() if len(periods) else 1)
    ax.set_ylim(bottom=0)
    _legend(ax, loc="upper left" if kind == "cumulative" else "upper right")
    return ax


def _calibration_end_position(tracking_table):
    """End of the calibration period on the table's time axis (``attrs["calibration_end"]``)."""
    value = tracking_table.attrs.get("calibration_end")
    if isinstance(value, (int, float, np.integer, np.floating)) and np.isfinite(value):
        return float(value)
    return None


def plot_cumulative_transactions(tracking_table, ax=None):
    """Cumulative actual and expected repeat purchases over calendar time (FHL 2005 Fig. 2).

    Parameters
    ----------
    tracking_table : pandas.DataFrame
        Output of :func:`clvmodels.evaluation.tracking`: indexed by period end (in
        the model's time unit since the first purchase in the data) with columns
        ``actual_cumulative`` and ``expected_cumulative``. A dotted vertical line
        marks the end of the calibration period.
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    return _tracking_axes(
        tracking_table, ax, ("actual_cumulative", "expected_cumulative"),
        "cumulative repeat purchases", "Tracking cumulative repeat purchases", "cumulative",
    )


def plot_incremental_transactions(tracking_table, ax=None):
    """Actual and expected repeat purchases per period over calendar time (FHL 2005 Fig. 3).

    Parameters
    ----------
    tracking_table : pandas.DataFrame
        Output of :func:`clvmodels.evaluation.tracking`, with columns ``actual`` and
        ``expected`` (purchases in each period).
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    unit_code = tracking_table.attrs.get("time_unit") if isinstance(tracking_table, pd.DataFrame) else None
    period = tracking_table.attrs.get("period", 1.0) if isinstance(tracking_table, pd.DataFrame) else 1.0
    if unit_code:
        name = _UNIT_NAMES[check_time_unit(unit_code)]
        per = name if float(period) == 1 else f"{_format_number(period)} {name}s"
    else:
        per = "period"
    return _tracking_axes(
        tracking_table, ax, ("actual", "expected"),
        f"repeat purchases per {per}", f"Tracking repeat purchases per {per}", "incremental",
    )


# ----- prediction matrices ------------------------------------------------------------------
def _matrix_grid(model, T, max_frequency, max_recency):
    """Customer age, frequencies and recencies for a frequency-recency matrix."""
    _check_fitted(model)
    data_max_frequency = None
    length = getattr(model, "length_column", "T")  # "n_periods" for discrete-time models
    if isinstance(T, pd.DataFrame):
        arrays = check_rfm(T, ("frequency", length), what="data for the matrix")
        data_max_frequency = int(np.max(arrays["frequency"]))
        T = float(np.max(arrays[length]))
    elif T is None:
        raise ValueError(
            "T is needed: pass the customer age (in the model's time unit) to draw the matrix "
            "for, or the RFM table the model was fitted on to use its largest T "
            "(e.g. T=rfm or T=rfm['T'].max())"
        )
    T = check_positive_number(T, "T")
    if max_recency is None:
        max_recency = T
    max_recency = check_positive_number(max_recency, "max_recency")
    if max_recency > T:
        raise ValueError(f"max_recency must be <= T (a purchase cannot come after the customer's age), "
                         f"got max_recency={max_recency:g} > T={T:g}")
    if max_frequency is None:
        max_frequency = data_max_frequency if data_max_frequency is not None else _likely_max_frequency(model, T)
    max_frequency = check_positive_number(max_frequency, "max_frequency")
    if max_frequency != int(max_frequency):
        raise ValueError(f"max_frequency must be a whole number, got {max_frequency!r}")
    frequencies = np.arange(int(max_frequency) + 1, dtype=float)
    n_recency = int(min(np.floor(max_recency), 200)) + 1
    recencies = np.linspace(0.0, max_recency, max(n_recency, 2))
    return T, frequencies, recencies


def _likely_max_frequency(model, T):
    """Frequency below which 99.5% of customers of age T fall (FHL 2005 eq. 8), at least 5."""
    if not hasattr(model, "probability_of_purchases"):
        return max(5, int(np.ceil(T)))
    counts = np.arange(0, 501)
    cumulative = np.cumsum(np.asarray(model.probability_of_purchases(counts, T), dtype=float))
    return int(min(max(5, np.searchsorted(cumulative, 0.995)), counts[-1]))


def _matrix_values(model, method, T, frequencies, recencies, **kwargs):
    """``method`` evaluated for every (frequency, recency) pair, frequencies on rows.

    A customer with no repeat purchase has recency 0 by definition, so the
    frequency-0 row is evaluated once and spread along the recency axis.
    """
    F, R = np.meshgrid(frequencies, recencies, indexing="ij")
    R = np.where(F == 0, 0.0, R)
    length = getattr(model, "length_column", "T")
    # In discrete time a customer transacts at most once a period, so x <= t_x.
    possible = (F <= R) | (F == 0) if length != "T" else np.ones(F.shape, dtype=bool)
    frame = _rfm_frame(model, {"frequency": F[possible], "recency": R[possible], length: np.full(possible.sum(), T)})
    values = np.full(F.shape, np.nan)
    values[possible] = np.asarray(getattr(model, method)(frame, **kwargs), dtype=float)
    return values


def _draw_matrix(ax, values, frequencies, recencies, cbar_label, title, unit, vmin=None, vmax=None):
    from matplotlib.ticker import MaxNLocator

    dr = (recencies[1] - recencies[0]) / 2
    extent = (recencies[0] - dr, recencies[-1] + dr, frequencies[0] - 0.5, frequencies[-1] + 0.5)
    image = ax.imshow(values, origin="lower", aspect="auto", extent=extent, interpolation="nearest",
                      cmap="viridis", vmin=vmin, vmax=vmax)
    colorbar = ax.figure.colorbar(image, ax=ax)
    colorbar.set_label(cbar_label)
    ax.set_xlabel(f"recency: time of the last purchase ({unit} since the first)")
    ax.set_ylabel("frequency: repeat purchases")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(title)
    return image


def plot_frequency_recency_matrix(model, T=None, max_frequency=None, max_recency=None, t=1, ax=None):
    """Expected purchases in the next ``t`` time units by frequency and recency.

    E[X(T, T + t) | x, t_x, T] (FHL 2005 eq. 10) for customers of age ``T`` with
    frequency x (rows, 0 .. ``max_frequency``) and recency t_x (columns, 0 ..
    ``max_recency``): the iso-value picture of FHL 2005's Fig. 5 and of lifetimes.

    Parameters
    ----------
    model : fitted transaction model
    T : float or pandas.DataFrame
        Customer age in the model's time unit; or the RFM table, whose largest T is
        used (and whose largest frequency is the default ``max_frequency``).
    max_frequency : int, optional
        Default: the data's largest frequency, or (when ``T`` is a number) the
        frequency that 99.5% of new customers of age T stay below (FHL 2005 eq. 8).
    max_recency : float, optional
        Default ``T``.
    t : float, default 1
        Horizon in the model's time unit.
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
        Its ``images[0]`` holds the matrix (rows = frequencies).
    """
    ax = _axes(ax)
    t = check_positive_number(t, "t")
    T, frequencies, recencies = _matrix_grid(model, T, max_frequency, max_recency)
    values = _matrix_values(model, "expected_purchases", T, frequencies, recencies, t=t)
    unit = _units(model)
    horizon = _units(model, 1) if t == 1 else f"{_format_number(t)} {_units(model, t)}"
    _draw_matrix(
        ax, values, frequencies, recencies, f"expected purchases in the next {horizon}",
        f"Expected purchases in the next {horizon}\n"
        f"by frequency and recency, for customers of age T = {_format_number(T)} {unit}",
        unit, vmin=0,
    )
    return ax


def plot_probability_alive_matrix(model, T=None, max_frequency=None, max_recency=None, ax=None):
    """Probability that a customer is still active, by frequency and recency.

    P(alive | x, t_x, T) (FHL 2005 eq. 11) for customers of age ``T``. Customers
    who bought often but not lately (high frequency, low recency) are the likeliest
    to have dropped out.

    Parameters
    ----------
    model : fitted transaction model
    T : float or pandas.DataFrame
        Customer age in the model's time unit, or the RFM table (its largest T).
    max_frequency, max_recency : optional
        As for :func:`plot_frequency_recency_matrix`.
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    ax = _axes(ax)
    T, frequencies, recencies = _matrix_grid(model, T, max_frequency, max_recency)
    values = _matrix_values(model, "probability_alive", T, frequencies, recencies)
    unit = _units(model)
    _draw_matrix(
        ax, values, frequencies, recencies, "P(alive)",
        f"Probability of being alive by frequency and recency\n"
        f"for customers of age T = {_format_number(T)} {unit}",
        unit, vmin=0, vmax=1,
    )
    return ax


# ----- one customer, a new customer ------------------------------------------------------
def plot_history_alive(model, customer_transactions, *, date_col="date", time_unit=None, end=None, ax=None):
    """One customer's probability of being alive over time, from their transactions.

    At each time s after the first purchase, P(alive | x(s), t_x(s), s) (FHL 2005
    eq. 11) with x(s) the repeat purchases made up to s and t_x(s) the time of the
    last of them: the probability decays while the customer is silent and is reset
    at each repeat purchase (for BG/NBD to 1 / (1 + a / (b + x - 1)), as the
    customer may drop out right after buying). Purchases on the same day count once, as in
    :func:`clvmodels.rfm_summary`.

    Parameters
    ----------
    model : fitted transaction model
    customer_transactions : pandas.DataFrame
        The transactions of one customer (at least the ``date_col`` column; a
        ``customer_id`` column, if present, must hold a single id).
    date_col : str, default "date"
    time_unit : str, optional
        The model's time unit; needed only when the model does not know it
        (``model.time_unit_`` is None).
    end : date-like, optional
        Where the curve stops (e.g. the end of observation). Default: after the
        last purchase by as long again as the purchase history, at least 10 time
        units.
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
        Its first line is the probability curve (x: time units since the first
        purchase).
    """
    _check_fitted(model)
    unit = _history_unit(model, time_unit)
    days = _purchase_days(customer_transactions, date_col)
    first = days[0]
    per_unit = DAYS_PER_UNIT[unit]
    times = (days - first) / np.timedelta64(1, "D") / per_unit
    if end is None:
        horizon = times[-1] + max(times[-1], 10.0)
    else:
        end_day = pd.Timestamp(end).to_datetime64().astype("datetime64[D]")
        horizon = (end_day - first) / np.timedelta64(1, "D") / per_unit
        if horizon < times[-1]:
            raise ValueError(
                f"end ({pd.Timestamp(end).date()}) is before the customer's last purchase "
                f"({pd.Timestamp(days[-1]).date()})"
            )
    grid = np.linspace(0.0, horizon, 600)
    just_before = np.maximum(times[1:] - 1e-9 * max(horizon, 1.0), 0.0)
    s = np.unique(np.concatenate([grid, times, just_before]))
    x = np.searchsorted(times[1:], s, side="right")
    t_x = times[x]
    frame = _rfm_frame(model, {"frequency": x.astype(float), "recency": t_x, "T": s})
    alive = np.asarray(model.probability_alive(frame), dtype=float)

    ax = _axes(ax)
    ax.plot(s, alive, color=_OBSERVED_COLOR, label="P(alive)")
    for i, moment in enumerate(times):
        ax.axvline(moment, color="0.6", linestyle=":", linewidth=1, label="purchase" if i == 0 else None)
    after = np.asarray(model.probability_alive(_rfm_frame(
        model, {"frequency": np.arange(len(times), dtype=float), "recency": times, "T": times})), dtype=float)
    ax.plot(times, after, linestyle="none", marker="o", color=_MODEL_COLOR, markersize=5)
    name = _UNIT_NAMES[unit] + "s"
    ax.set_xlabel(f"{name} since the first purchase ({pd.Timestamp(first).date()})")
    ax.set_ylabel("probability of being alive")
    ax.set_ylim(0, 1.05)
    ax.set_xlim(0, horizon)
    ax.set_title(f"Probability alive over time: {len(times)} purchase days, "
                 f"last on {pd.Timestamp(days[-1]).date()}")
    _legend(ax, loc="lower left")
    return ax


def _history_unit(model, time_unit):
    model_unit = _unit_code(model)
    if time_unit is None:
        if model_unit is None:
            raise ValueError("time_unit is needed: the model does not know the time unit it was fitted in")
        return model_unit
    unit = check_time_unit(time_unit)
    if model_unit is not None and unit != model_unit:
        raise ValueError(
            f"time unit mismatch: time_unit={time_unit!r} but {type(model).__name__} was fitted in "
            f"{model.time_unit_!r}"
        )
    return unit


def _purchase_days(transactions, date_col):
    """Sorted distinct purchase days of one customer's transactions (datetime64[D])."""
    what = "customer transactions"
    require_dataframe(transactions, what)
    problems = Problems(what)
    if date_col not in transactions.columns:
        problems.add(date_col, f"is missing; the columns are {list(transactions.columns)}")
        problems.raise_if_any()
    if "customer_id" in transactions.columns:
        n_customers = transactions["customer_id"].nunique()
        if n_customers > 1:
            problems.add("customer_id", f"holds {n_customers} customers; pass the transactions of one "
                         "customer, e.g. tx[tx['customer_id'] == some_id]")
    values = transactions[date_col]
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        values = values.dt.tz_localize(None)
    if pd.api.types.is_numeric_dtype(values.dtype):
        problems.add(date_col, "are numbers, not dates; convert them with pandas.to_datetime first", len(values))
        problems.raise_if_any()
    parsed = pd.to_datetime(values, errors="coerce")
    problems.add_if(date_col, parsed.isna().to_numpy() & values.notna().to_numpy(), "are not dates")
    problems.add_if(date_col, values.isna().to_numpy(), "are missing")
    problems.raise_if_any()
    dates = parsed.to_numpy(dtype="datetime64[ns]")
    return np.unique(dates.astype("datetime64[D]"))


def plot_expected_purchases_new_customer(model, t_max, ax=None):
    """Expected repeat purchases of a newly acquired customer by time t, 0 <= t <= ``t_max``.

    E[X(t)] (FHL 2005 eq. 9), the average over the whole population of a new
    cohort: it bends away from a straight line as customers drop out.

    Parameters
    ----------
    model : fitted transaction model
    t_max : float
        Longest horizon, in the model's time unit.
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    _check_fitted(model)
    t_max = check_positive_number(t_max, "t_max")
    t = np.linspace(0.0, t_max, 400)
    expected = np.asarray(model.expected_purchases_new_customer(t), dtype=float)
    ax = _axes(ax)
    ax.plot(t, expected, color=_MODEL_COLOR, label=f"E[X(t)] ({type(model).__name__})")
    unit = _units(model)
    ax.set_xlabel(f"t: {unit} since the first purchase")
    ax.set_ylabel("expected repeat purchases by t")
    ax.set_title(f"Expected repeat purchases of a new customer over {_format_number(t_max)} {unit}")
    ax.set_xlim(0, t_max)
    ax.set_ylim(bottom=0)
    _legend(ax, loc="upper left")
    return ax


# ----- mixing distributions -------------------------------------------------------------
def _draw_density(ax, dist, grid, mean, color, label, mean_label, x_max, infinite_at):
    density = dist.pdf(grid)
    # A shape parameter below 1 makes the density infinite at an edge, which would
    # flatten the rest of the curve: cap the view at a few times its height at the
    # mean and the median, and say so in the legend.
    top = float(density.max())
    if infinite_at:
        top = min(top, 4.0 * max(float(dist.pdf(mean)), float(dist.pdf(dist.median()))))
        label += f"\n(infinite at {' and '.join(infinite_at)}; top cut off)"
    ax.plot(grid, density, color=color, label=label)
    ax.fill_between(grid, density, color=color, alpha=0.15, linewidth=0)
    ax.axvline(mean, color="0.25", linestyle="--", linewidth=1.2, label=mean_label)
    ax.set_ylim(0, top * 1.08)
    ax.set_xlim(0, x_max)
    ax.set_ylabel("density")
    _legend(ax, loc="upper right")


def _mixing(model, key, what):
    """The model's :class:`clvmodels.Mixing` called ``key``, or a ValueError."""
    _check_fitted(model)
    mixings = model.mixing_distributions() if hasattr(model, "mixing_distributions") else {}
    if key not in mixings:
        raise ValueError(f"{what} needs a model with a {key} distribution; {type(model).__name__} has none")
    return mixings[key]


def _plot_mixing(model, mixing, color, title, ax):
    dist = mixing.distribution
    ax = _axes(ax)
    mean = float(dist.mean())
    shapes = dist.args if dist.args else ()
    if mixing.bounded:
        grid, x_max = _mixing_grid(dist, 1.0 - 1e-6), 1.0
        edges = [edge for edge, shape in zip(("0", "1"), shapes) if shape < 1]
        mean_label = f"mean = {mean:.3g}"
        xlabel = mixing.quantity
    else:
        grid, x_max = _mixing_grid(dist, 0.999), float(dist.ppf(0.99))
        edges = ["0"] if shapes and shapes[0] < 1 else []
        unit = _units(model, 1) if mixing.per_time else None
        mean_label = f"mean = {mean:.3g}" + (f" per {unit}" if unit else "")
        xlabel = mixing.quantity + (f" (per {unit})" if unit else "")
    _draw_density(ax, dist, grid, mean, color, mixing.label, mean_label, x_max, edges)
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    return ax


def plot_purchase_rate_heterogeneity(model, ax=None):
    """Density of the purchase process's latent trait across customers, as the model
    describes it (``model.mixing_distributions()["purchase"]``).

    In the BG/NBD (FHL 2005 eq. 2), Pareto/NBD and MBG/NBD a living customer buys at
    Poisson rate lambda ~ Gamma(r, alpha); the mean is marked.

    Parameters
    ----------
    model : fitted transaction model with a "purchase" mixing distribution
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
        Its first line is the density curve.

    Raises
    ------
    ValueError
        If the model describes no purchase-rate distribution.
    """
    mixing = _mixing(model, "purchase", "plot_purchase_rate_heterogeneity")
    return _plot_mixing(model, mixing, _OBSERVED_COLOR, "Heterogeneity in purchase rates across customers", ax)


def plot_dropout_heterogeneity(model, ax=None):
    """Density of the dropout process's latent trait across customers, as the model
    describes it (``model.mixing_distributions()["dropout"]``).

    In the BG/NBD (FHL 2005 eq. 4) a customer drops out after each repeat purchase
    with probability p ~ Beta(a, b); in the Pareto/NBD at an exponential rate
    mu ~ Gamma(s, beta). The mean is marked.

    Parameters
    ----------
    model : fitted transaction model with a "dropout" mixing distribution
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
        Its first line is the density curve.

    Raises
    ------
    ValueError
        If the model describes no dropout distribution.
    """
    mixing = _mixing(model, "dropout", "plot_dropout_heterogeneity")
    return _plot_mixing(model, mixing, _MODEL_COLOR, "Heterogeneity in dropout across customers", ax)


# ----- spend ----------------------------------------------------------------------------
def plot_spend_distribution(spend_model, data, ax=None):
    """Observed mean spend of repeat buyers against the fitted Gamma-Gamma density.

    The histogram shows each repeat buyer's ``monetary_value`` (mean spend of the
    repeat purchases). The curve is the density the model gives a customer's mean
    spend m over x purchases (Hardie 2013, eq. 4),

        f(m | x) = G(px + q) / (G(px) G(q)) v^q m^(px-1) x^(px) / (v + x m)^(px + q),

    averaged over the repeat buyers' observed frequencies x. Both are scaled so
    that their area is the share of repeat buyers in view (the view stops at the
    99.5th percentile of the observed values).

    Parameters
    ----------
    spend_model : fitted spend model, e.g. :class:`clvmodels.GammaGammaModel`
        Its ``log_likelihood`` is the log density of a mean spend given the frequency.
    data : pandas.DataFrame
        RFM table with ``frequency`` and ``monetary_value``.
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
        Its patches are the histogram bars (height = share of repeat buyers per unit
        of money); its first line is the model density.
    """
    _check_fitted(spend_model)
    if not hasattr(spend_model, "expected_spend"):
        raise ValueError(f"plot_spend_distribution needs a spend model; {type(spend_model).__name__} is not one")
    arrays = check_rfm(data, ("frequency", "monetary_value"), what="data for plot_spend_distribution")
    repeat = (arrays["frequency"] > 0) & (arrays["monetary_value"] > 0)
    if not np.any(repeat):
        raise ValueError("invalid data for plot_spend_distribution: no customer has a repeat purchase "
                         "with a positive monetary_value")
    x, m = arrays["frequency"][repeat], arrays["monetary_value"][repeat]
    upper = float(np.quantile(m, 0.995))
    edges = np.histogram_bin_edges(m[m <= upper], bins="auto", range=(0.0, upper))
    if len(edges) > 61:
        edges = np.linspace(0.0, upper, 61)
    grid = np.linspace(upper / 2000, upper, 600)
    frequencies, counts = np.unique(x, return_counts=True)
    curve = pd.DataFrame({"frequency": np.repeat(frequencies, grid.size), "monetary_value": np.tile(grid, frequencies.size)})
    log_density = spend_model.log_likelihood(curve).to_numpy().reshape(frequencies.size, grid.size)
    density = (counts / counts.sum()) @ np.exp(log_density)

    ax = _axes(ax)
    shown = m[m <= upper]
    weights = np.full(shown.size, 1.0 / (m.size * np.diff(edges)[0]))
    ax.hist(shown, bins=edges, weights=weights, color=_OBSERVED_COLOR, alpha=0.55,
            label=f"observed ({m.size} repeat buyers)")
    ax.plot(grid, density, color=_MODEL_COLOR, linewidth=2,
            label=f"{spend_model.title or type(spend_model).__name__} ("
                  + ", ".join(f"{k} = {v:.3g}" for k, v in spend_model.params_.items()) + ")")
    ax.set_xlim(0, upper)
    ax.set_xlabel("mean spend per repeat purchase (currency units)")
    ax.set_ylabel("density (share of repeat buyers per currency unit)")
    ax.set_title(f"Spend per purchase: observed vs {spend_model.title or 'model'} fit")
    _legend(ax, loc="upper right")
    return ax


def plot_value_concentration(clv_values, ax=None):
    """Share of total customer value held by the top x% of customers (a Lorenz-style curve).

    Customers are sorted from the most to the least valuable; the curve goes from
    (0%, 0%) to (100%, 100%) and the markers read off the share of value held by
    the top 10% and top 20%. The diagonal is what equal values would give.

    Parameters
    ----------
    clv_values : array-like or pandas.Series
        One non-negative value per customer, e.g. the output of
        :func:`clvmodels.customer_lifetime_value`.
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
        Its first line is the curve (x and y in percent).
    """
    values = np.asarray(clv_values, dtype=float).reshape(-1)
    name = getattr(clv_values, "name", None) or "clv"
    problems = Problems("clv_values")
    if values.size == 0:
        problems.add(name, "is empty (0 rows)")
    problems.add_if(name, np.isnan(values), "are missing (NaN)")
    problems.add_if(name, np.isinf(values), "are infinite")
    problems.add_if(name, values < 0, "are negative")
    problems.raise_if_any()
    total = values.sum()
    if total <= 0:
        raise ValueError(f"invalid clv_values: column {name!r}: all {values.size} values are zero")
    ordered = np.sort(values)[::-1]
    share_customers = np.arange(values.size + 1) / values.size * 100
    share_value = np.concatenate([[0.0], np.cumsum(ordered) / total * 100])
    share_value[-1] = 100.0
    if values.size > 2000:
        # The curve is piecewise linear between customers: 2001 points on it are enough to draw it.
        fine = np.linspace(0.0, 100.0, 2001)
        share_value = np.interp(fine, share_customers, share_value)
        share_customers = fine
    marks = np.array([10.0, 20.0])
    marked = np.interp(marks, share_customers, share_value)

    ax = _axes(ax)
    ax.plot(share_customers, share_value, color=_OBSERVED_COLOR, linewidth=2, label="customers by value")
    ax.plot([0, 100], [0, 100], color="0.6", linestyle="--", linewidth=1, label="equal value")
    ax.plot(marks, marked, linestyle="none", marker="o", color=_MODEL_COLOR, markersize=7)
    for mark, share in zip(marks, marked):
        ax.annotate(f"top {mark:.0f}%: {share:.0f}% of value", xy=(mark, share), xytext=(10, -14),
                    textcoords="offset points", fontsize=9, va="top",
                    arrowprops={"arrowstyle": "-", "color": "0.5"})
    ax.set_xlim(0, 100)
    ax.set_ylim(0, 102)
    ax.set_xlabel("share of customers, most valuable first (%)")
    ax.set_ylabel("share of total customer value (%)")
    ax.set_title(f"Concentration of customer value ({values.size} customers)")
    _legend(ax, loc="lower right")
    return ax


# ----- customer value for marketing (clvmodels.business) ------------------------------------
# Drawn by the customer value report (clvmodels.value_report), not the validation report,
# whose test holds it to every name of __all__; so these are listed in VALUE_PLOTS.
VALUE_PLOTS = (
    "plot_value_by_segment", "plot_cohort_retention", "plot_cohort_repeat_orders", "plot_ltv_cac",
    "plot_retention_what_if",
)
_REALISED_COLOR = "#7f9cbf"


def _thousands(ax):
    from matplotlib.ticker import StrMethodFormatter

    ax.yaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))


def _segment_rows(table):
    """The segment rows of a business table (without "all" and empty segments)."""
    rows = table.drop(index="all", errors="ignore")
    if "customers" in rows.columns:
        rows = rows.loc[rows["customers"] > 0]
    if rows.empty:
        raise ValueError("the table has no segment with customers")
    return rows


def plot_value_by_segment(segment_table, ax=None):
    """Total customer value per segment: margin already earned and expected future value, stacked.

    Parameters
    ----------
    segment_table : pandas.DataFrame
        :func:`clvmodels.business.segment_value` output.
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    rows = _segment_rows(segment_table)
    currency = segment_table.attrs.get("currency", "")
    ax = _axes(ax)
    names = [str(n) for n in rows.index]
    realised = rows["realised_margin"].to_numpy(dtype=float)
    expected = rows["expected_value"].to_numpy(dtype=float)
    ax.bar(names, realised, color=_REALISED_COLOR, label="margin already earned")
    ax.bar(names, expected, bottom=realised, color=_MODEL_COLOR, label="expected future value")
    for position, (low, high) in enumerate(zip(realised, expected)):
        ax.annotate(f"{high / (low + high):.0%} still to come" if low + high > 0 else "", (position, low + high),
                    xytext=(0, 3), textcoords="offset points", ha="center", fontsize=9)
    _thousands(ax)
    ax.set_ylabel(f"total value ({currency})" if currency else "total value")
    ax.set_xlabel("segment")
    ax.set_title("Customer value by segment")
    ax.margins(y=0.12)
    _legend(ax, loc="upper right")
    return ax


def plot_cohort_retention(kpis, ax=None):
    """Share of each acquisition cohort buying in each period after acquisition.

    Parameters
    ----------
    kpis : pandas.DataFrame
        :func:`clvmodels.business.cohort_kpis` output.
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
        One line per cohort (x: periods since acquisition, y: percent active); period
        0 (100% by definition) is left out.
    """
    ax = _axes(ax)
    import matplotlib as mpl

    cohorts = list(dict.fromkeys(kpis.index.get_level_values(0)))
    colors = mpl.colormaps["viridis"](np.linspace(0.0, 0.85, max(len(cohorts), 1)))
    for color, name in zip(colors, cohorts):
        rows = kpis.xs(name, level=0)
        rows = rows.loc[rows.index > 0]
        ax.plot(rows.index, 100 * rows["retention_rate"], marker="o", markersize=3, color=color, label=str(name))
    unit = {"M": "months", "Q": "quarters"}.get(kpis.attrs.get("cohort"), "periods")
    ax.set_xlabel(f"{unit} since acquisition")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("customers buying in the period (%)")
    ax.set_ylim(bottom=0)
    ax.set_title("Retention by acquisition cohort")
    _legend(ax, title="cohort", ncol=2 if len(cohorts) > 6 else 1, fontsize=8)
    return ax


def plot_cohort_repeat_orders(kpis, ax=None):
    """Repeat orders per customer by period since acquisition: observed and model-expected.

    Cohorts are pooled per period: the repeat orders of every cohort that has the
    period, over their customers. The model's line is the cohort table's
    ``expected_repeat_orders`` pooled the same way.

    Parameters
    ----------
    kpis : pandas.DataFrame
        :func:`clvmodels.business.cohort_kpis` output with a transaction model.
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
        Its first line is observed, the second expected.
    """
    if "expected_repeat_orders" not in kpis.columns:
        raise ValueError("the cohort table has no expected figures; compute it with a transaction model")
    pooled = kpis.groupby(level=1)[["repeat_orders", "expected_repeat_orders", "cohort_size"]].sum()
    ax = _axes(ax)
    ax.plot(pooled.index, pooled["repeat_orders"] / pooled["cohort_size"], color=_OBSERVED_COLOR, marker="o",
            markersize=3, linewidth=2, label="observed")
    ax.plot(pooled.index, pooled["expected_repeat_orders"] / pooled["cohort_size"], color=_MODEL_COLOR,
            linestyle="--", linewidth=2, label="model")
    unit = {"M": "months", "Q": "quarters"}.get(kpis.attrs.get("cohort"), "periods")
    ax.set_xlabel(f"{unit} since acquisition")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("repeat orders per customer")
    ax.set_ylim(bottom=0)
    ax.set_title("Repeat orders per customer: observed vs model")
    _legend(ax)
    return ax


def plot_ltv_cac(ltv_table, target=3.0, ax=None):
    """LTV:CAC per acquisition cohort and channel, with the rule-of-thumb ``target`` line.

    Parameters
    ----------
    ltv_table : pandas.DataFrame
        :func:`clvmodels.business.ltv_cac` output.
    target : float, default 3.0
        Where to draw the reference line.
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    ax = _axes(ax)
    table = ltv_table["ltv_cac"].unstack("channel")
    table = table.replace([np.inf], np.nan)
    channels = [c for c in table.columns if c != "all"] + [c for c in table.columns if c == "all"]
    table = table[channels].reindex(list(dict.fromkeys(ltv_table.index.get_level_values(0))))
    width = 0.8 / max(len(channels), 1)
    positions = np.arange(len(table.index))
    import matplotlib as mpl

    colors = [mpl.colormaps["tab10"](j % 10) if c != "all" else "0.55" for j, c in enumerate(channels)]
    for j, channel in enumerate(channels):
        ax.bar(positions + (j - (len(channels) - 1) / 2) * width, table[channel].to_numpy(dtype=float), width,
               color=colors[j], label=str(channel))
    ax.axhline(target, color="0.3", linestyle="--", linewidth=1, label=f"{target:g} : 1")
    ax.set_xticks(positions, [str(c) for c in table.index])
    ax.set_xlabel("acquisition cohort")
    ax.set_ylabel("LTV : CAC")
    ax.set_title("Customer value over acquisition cost")
    _legend(ax, fontsize=8)
    return ax


def plot_retention_what_if(what_if, ax=None):
    """Change in total expected value per segment under a retention scenario.

    Parameters
    ----------
    what_if : pandas.DataFrame
        :func:`clvmodels.business.retention_what_if` output.
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    rows = _segment_rows(what_if)
    attrs = what_if.attrs
    currency = attrs.get("currency", "")
    ax = _axes(ax)
    names = [str(n) for n in rows.index]
    change = rows["change"].to_numpy(dtype=float)
    ax.bar(names, change, color=_MODEL_COLOR)
    for position, (value, percent) in enumerate(zip(change, rows["change_percent"].to_numpy(dtype=float))):
        ax.annotate(f"{percent:+.1f}%" if np.isfinite(percent) else "", (position, value), xytext=(0, 3),
                    textcoords="offset points", ha="center", fontsize=9)
    ax.axhline(0, color="0.4", linewidth=0.8)
    _thousands(ax)
    ax.set_ylabel(f"change in expected value ({currency})" if currency else "change in expected value")
    ax.set_xlabel("segment")
    before, after = attrs.get("retention_before"), attrs.get("retention_after")
    title = "Value of better retention"
    if before is not None and after is not None:
        title += f": retention {before:.1%} → {after:.1%}"
    ax.set_title(title)
    ax.margins(y=0.12)
    return ax


# ----- contractual models (sBG, BdW) ---------------------------------------------------------
# Like VALUE_PLOTS, drawn for contractual models, not by the validation report of purchase
# models (whose test holds it to every name of __all__).
CONTRACTUAL_PLOTS = ("plot_survival", "plot_retention")


def _survival_axes(comparison, ax, observed, expected, ylabel, title):
    require_dataframe(comparison, "survival comparison")
    problems = Problems("survival comparison")
    for column in (observed, expected):
        if column not in comparison.columns:
            problems.add(column, f"is missing; the columns are {list(comparison.columns)}")
    problems.raise_if_any()
    ax = _axes(ax)
    periods = comparison.index.to_numpy(dtype=float)
    ax.plot(periods, comparison[observed].to_numpy(dtype=float), color=_OBSERVED_COLOR, marker="o",
            markersize=4, label="observed")
    ax.plot(periods, comparison[expected].to_numpy(dtype=float), color=_MODEL_COLOR, linestyle="--", label="model")
    end = comparison.attrs.get("calibration_periods")
    if end is not None and end < periods.max():
        ax.axvline(end, color="0.4", linestyle=":", linewidth=1.2)
        ax.annotate("end of calibration", xy=(end, 0.02), xycoords=("data", "axes fraction"),
                    xytext=(4, 4), textcoords="offset points", ha="left", va="bottom", fontsize=9, color="0.3")
    unit_code = comparison.attrs.get("time_unit")
    ax.set_xlabel(f"{_UNIT_NAMES[check_time_unit(unit_code)]}s since acquisition" if unit_code else "periods since acquisition")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.set_xlim(0, periods.max() if len(periods) else 1)
    _legend(ax)
    return ax


def plot_survival(comparison, ax=None):
    """A cohort's observed survival against a contractual model's S(t) (Fader & Hardie 2007, Fig. 3).

    Parameters
    ----------
    comparison : pandas.DataFrame
        Output of :func:`clvmodels.evaluation.survival_comparison` (columns
        ``observed_survival`` and ``expected_survival``); a dotted line marks the
        end of the calibration periods.
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    ax = _survival_axes(comparison, ax, "observed_survival", "expected_survival",
                        "share of the cohort still active", "Survival: observed and model")
    ax.set_ylim(0, 1.02)
    return ax


def plot_retention(comparison, ax=None):
    """A cohort's observed retention rates against a contractual model's r(t) (Fader & Hardie 2007, Fig. 5).

    Parameters
    ----------
    comparison : pandas.DataFrame
        Output of :func:`clvmodels.evaluation.survival_comparison` (columns
        ``observed_retention`` and ``expected_retention``).
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    ax = _survival_axes(comparison, ax, "observed_retention", "expected_retention",
                        "retention rate (renewing / up for renewal)", "Retention: observed and model")
    ax.set_ylim(0, 1.02)
    return ax
