"""Model validation: holdout comparison, tracking plots' numbers and goodness of fit.

The checks of Fader, Hardie and Lee (2005), "'Counting your customers' the easy way:
an alternative to the Pareto/NBD model", Marketing Science 24(2), 275-284 (FHL 2005
below), section 4:

- :func:`goodness_of_fit`: how many customers made 0, 1, ..., 7+ repeat purchases in
  the calibration period, observed against the model (FHL 2005 Figure 1), with a
  chi-square test;
- :func:`tracking`: repeat transactions per period over calibration and holdout,
  actual against expected, cumulative and incremental (FHL 2005 Figures 2 and 3);
- :func:`holdout_comparison`, :func:`holdout_metrics`, :func:`holdout_by_frequency`:
  each customer's purchases in the holdout period against the model's conditional
  expectation given the calibration history (FHL 2005 eq. 10 and Figure 4), and the
  same for spend and value when a spend model is given.

Every function needs only the public prediction methods of a fitted transaction
model -- ``expected_purchases(data, t)``, ``probability_alive(data)``,
``probability_of_purchases(n, t)`` (array ``t``) and
``expected_purchases_new_customer(t)`` (array ``t``) -- and ``params_``, so any model
with those methods can be validated the same way; :func:`compare_models` puts several
side by side, and :func:`verdict` grades the checks pass / warn / fail.
Times are in the model's time unit (``time_unit_``, e.g. weeks).
"""

import numpy as np
import pandas as pd
from scipy import special

from ._units import DAYS_PER_UNIT, check_time_unit
from ._validation import (
    Problems,
    check_positive_number,
    check_rfm,
    check_sample_weight,
    datetime_column,
    numeric_column,
    parse_date,
    require_columns,
    require_dataframe,
)
from .exceptions import NotFittedError

__all__ = [
    "holdout_comparison",
    "holdout_metrics",
    "holdout_by_frequency",
    "tracking",
    "goodness_of_fit",
    "compare_models",
    "interval_coverage",
    "survival_comparison",
    "observed_survival",
    "survival_holdout",
    "compare_survival_models",
    "holdout_by_pattern",
    "spend_frequency_correlation",
    "verdict",
    "covariate_table",
    "without_covariates",
]

# Evaluate E[X(t)] on at most this many (period, first-purchase day) pairs at a time.
_TRACKING_CHUNK = 4_000_000


# ------------------------------------------------------------------ helpers


def _require_fitted(model, role="transaction_model"):
    """Raise NotFittedError unless ``model`` carries fitted parameters."""
    check = getattr(model, "_check_fitted", None)
    if callable(check):
        check()
    elif getattr(model, "params_", None) is None:
        raise NotFittedError(f"{role} {type(model).__name__} is not fitted yet; call fit(data) first")


def _model_time_unit(model):
    unit = getattr(model, "time_unit_", None)
    return check_time_unit(unit) if unit else None


def _frequency_labels(max_frequency):
    return [str(n) for n in range(max_frequency)] + [f"{max_frequency}+"]


def _check_max_frequency(max_frequency):
    value = check_positive_number(max_frequency, "max_frequency")
    if value != int(value):
        raise ValueError(f"max_frequency must be a whole number >= 1, got {max_frequency!r}")
    return int(value)


def _frequency_bins(frequency, max_frequency):
    """Bin index 0..max_frequency of each whole-number frequency (the last bin is max_frequency+)."""
    return np.minimum(frequency, max_frequency).astype(np.int64)


# ------------------------------------------------------------------ holdout


def holdout_comparison(transaction_model, split, spend_model=None):
    """Each customer's predicted and actual purchases (and spend and value) in the holdout period.

    Parameters
    ----------
    transaction_model : fitted transaction model
        Fitted on the calibration columns of ``split`` (e.g.
        :class:`clvmodels.BetaGeoModel`); used through ``expected_purchases(data, t)``
        and ``probability_alive(data)``.
    split : pandas.DataFrame
        Output of :func:`clvmodels.calibration_holdout_split`: ``frequency``,
        ``recency``, ``T`` over the calibration period, ``frequency_holdout`` and
        ``duration_holdout`` (and ``monetary_value``, ``monetary_value_holdout``
        with amounts), in the model's time unit.
    spend_model : fitted spend model, optional
        E.g. :class:`clvmodels.GammaGammaModel`, used through
        ``expected_spend(data)``. Needs ``monetary_value`` and
        ``monetary_value_holdout`` in ``split``.

    Returns
    -------
    pandas.DataFrame
        On ``split.index``, with columns

        - ``frequency``: repeat purchases in the calibration period;
        - ``probability_alive``: at the end of calibration;
        - ``predicted_purchases``: E[X(T, T + d) | x, t_x, T] with d =
          ``duration_holdout`` (FHL 2005 eq. 10 for BG/NBD);
        - ``actual_purchases``: ``frequency_holdout``;

        and with a spend model

        - ``predicted_spend_per_purchase``: ``spend_model.expected_spend`` (for
          Gamma-Gamma FHL 2005b eq. 5, a customer's expected spend per purchase);
        - ``actual_spend_per_purchase``: ``monetary_value_holdout``, NaN for
          customers with no holdout purchase;
        - ``predicted_value``: ``predicted_purchases * predicted_spend_per_purchase``,
          the expected total holdout spend;
        - ``actual_value``: ``frequency_holdout * monetary_value_holdout``, the
          actual total holdout spend.

        ``attrs`` keeps the split's ``attrs`` (time unit, dates).

    Raises
    ------
    ValueError
        If a column is missing or invalid (the message names the column).
    NotFittedError
        If a model is not fitted.

    Examples
    --------
    >>> import clvmodels as clv
    >>> from clvmodels import evaluation
    >>> tx = clv.datasets.load_cdnow(sample=True)
    >>> split = clv.calibration_holdout_split(tx, amount_col="amount", time_unit="W",
    ...     calibration_end="1997-09-30", observation_end="1998-06-30")
    >>> bg = clv.BetaGeoModel().fit(split)
    >>> comparison = evaluation.holdout_comparison(bg, split)
    >>> round(comparison["predicted_purchases"].sum()), round(comparison["actual_purchases"].sum())
    (1653, 1882)
    """
    _require_fitted(transaction_model)
    if spend_model is not None:
        _require_fitted(spend_model, "spend_model")
    require_dataframe(split, "split")
    problems = Problems("split (calibration/holdout table)")
    history = check_rfm(split, transaction_model.rfm_columns, what="split (calibration/holdout table)")
    actual = numeric_column(split, "frequency_holdout", problems)
    duration = numeric_column(split, "duration_holdout", problems)
    spend_actual = None
    if spend_model is not None:
        numeric_column(split, "monetary_value", problems)
        spend_actual = numeric_column(split, "monetary_value_holdout", problems)
    with np.errstate(invalid="ignore"):
        if actual is not None:
            problems.add_if("frequency_holdout", actual < 0, "are negative")
            problems.add_if(
                "frequency_holdout", np.isfinite(actual) & (actual != np.round(actual)), "are not whole numbers"
            )
        if duration is not None:
            problems.add_if("duration_holdout", duration <= 0, "are not positive")
        if spend_actual is not None:
            problems.add_if("monetary_value_holdout", spend_actual < 0, "are negative")
    problems.raise_if_any()

    # The holdout period usually has one length for everyone; predict once per distinct length.
    predicted = np.empty(len(split))
    durations, which = np.unique(duration, return_inverse=True)
    for k, d in enumerate(durations):
        rows = which == k
        subset = split if rows.all() else split.iloc[np.flatnonzero(rows)]
        predicted[rows] = np.asarray(transaction_model.expected_purchases(subset, t=float(d)), dtype=float)

    table = pd.DataFrame(
        {
            "frequency": history["frequency"],
            "probability_alive": np.asarray(transaction_model.probability_alive(split), dtype=float),
            "predicted_purchases": predicted,
            "actual_purchases": actual,
        },
        index=split.index,
    )
    if spend_model is not None:
        spend = np.asarray(spend_model.expected_spend(split), dtype=float)
        table["predicted_spend_per_purchase"] = spend
        table["actual_spend_per_purchase"] = np.where(actual > 0, spend_actual, np.nan)
        table["predicted_value"] = predicted * spend
        table["actual_value"] = actual * spend_actual
    table.attrs = dict(split.attrs)
    if len(durations) == 1:
        table.attrs["duration_holdout"] = float(durations[0])
    return table


def _error_metrics(predicted, actual, prefix=""):
    predicted = np.asarray(predicted, dtype=float)
    actual = np.asarray(actual, dtype=float)
    error = predicted - actual
    total_predicted, total_actual = float(predicted.sum()), float(actual.sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        if len(actual) > 1 and np.std(predicted) > 0 and np.std(actual) > 0:
            correlation = float(np.corrcoef(predicted, actual)[0, 1])
        else:
            correlation = np.nan
        msle = float(np.mean((np.log1p(np.maximum(predicted, 0)) - np.log1p(np.maximum(actual, 0))) ** 2))
        aggregate = 100.0 * (total_predicted - total_actual) / total_actual if total_actual else np.nan
    return {
        f"{prefix}n_customers": float(len(actual)),
        f"{prefix}total_predicted": total_predicted,
        f"{prefix}total_actual": total_actual,
        f"{prefix}mae": float(np.mean(np.abs(error))),
        f"{prefix}rmse": float(np.sqrt(np.mean(error**2))),
        f"{prefix}msle": msle,
        f"{prefix}bias": float(np.mean(error)),
        f"{prefix}correlation": correlation,
        f"{prefix}aggregate_error_pct": aggregate,
    }


def _check_comparison(comparison, columns):
    require_dataframe(comparison, "comparison")
    problems = Problems("comparison (from holdout_comparison)")
    arrays = {c: numeric_column(comparison, c, problems) for c in columns}
    problems.raise_if_any()
    return arrays


def holdout_metrics(comparison):
    """Error measures of the holdout predictions of :func:`holdout_comparison`.

    Parameters
    ----------
    comparison : pandas.DataFrame
        Output of :func:`holdout_comparison`.

    Returns
    -------
    pandas.Series
        For purchases per customer (predicted - actual):
        ``n_customers``, ``total_predicted``, ``total_actual``, ``mae`` (mean absolute
        error), ``rmse``, ``msle`` (mean squared error of log(1 + purchases)),
        ``bias`` (mean of predicted - actual), ``correlation`` (Pearson, predicted
        vs actual), ``aggregate_error_pct`` (100 (total predicted - total actual) /
        total actual). With value columns, the same with prefix ``value_`` for the
        total holdout spend per customer, and with prefix ``spend_`` for the spend
        per purchase of the customers who bought in the holdout period.

    Examples
    --------
    >>> metrics = evaluation.holdout_metrics(comparison)  # doctest: +SKIP
    >>> metrics[["total_predicted", "total_actual", "mae"]]  # doctest: +SKIP
    """
    arrays = _check_comparison(comparison, ("predicted_purchases", "actual_purchases"))
    metrics = _error_metrics(arrays["predicted_purchases"], arrays["actual_purchases"])
    if {"predicted_value", "actual_value"} <= set(comparison.columns):
        value = _check_comparison(comparison, ("predicted_value", "actual_value"))
        metrics.update(_error_metrics(value["predicted_value"], value["actual_value"], "value_"))
    if {"predicted_spend_per_purchase", "actual_spend_per_purchase"} <= set(comparison.columns):
        predicted = comparison["predicted_spend_per_purchase"].to_numpy(dtype=float)
        actual = comparison["actual_spend_per_purchase"].to_numpy(dtype=float)
        bought = np.isfinite(actual) & (arrays["actual_purchases"] > 0)
        spend = _error_metrics(predicted[bought], actual[bought], "spend_")
        spend.pop("spend_total_predicted")
        spend.pop("spend_total_actual")
        spend.pop("spend_aggregate_error_pct")
        metrics.update(spend)
    series = pd.Series(metrics, name="holdout_metrics", dtype=float)
    series.attrs = dict(comparison.attrs)
    return series


def holdout_by_frequency(comparison, max_frequency=7):
    """Mean actual and predicted holdout purchases by number of calibration purchases.

    FHL 2005 Figure 4 ("conditional expectations"): customers are grouped by their
    repeat purchases in the calibration period, 0, 1, ..., ``max_frequency``+.

    Parameters
    ----------
    comparison : pandas.DataFrame
        Output of :func:`holdout_comparison`.
    max_frequency : int, default 7
        Customers with this many calibration purchases or more form the last group.

    Returns
    -------
    pandas.DataFrame
        Index ``frequency`` with labels "0", "1", ..., "7+" (every group, also empty
        ones, which get NaN means); columns ``n_customers``, ``actual`` and
        ``predicted`` (mean holdout purchases per customer), and with value
        columns ``actual_value`` and ``predicted_value`` (mean total holdout spend).
    """
    max_frequency = _check_max_frequency(max_frequency)
    arrays = _check_comparison(comparison, ("frequency", "predicted_purchases", "actual_purchases"))
    bins = _frequency_bins(arrays["frequency"], max_frequency)
    n_bins = max_frequency + 1
    counts = np.bincount(bins, minlength=n_bins).astype(float)
    columns = {"n_customers": counts.astype(np.int64)}
    pairs = [("actual", "actual_purchases"), ("predicted", "predicted_purchases")]
    if {"predicted_value", "actual_value"} <= set(comparison.columns):
        pairs += [("actual_value", "actual_value"), ("predicted_value", "predicted_value")]
    with np.errstate(invalid="ignore", divide="ignore"):
        for name, source in pairs:
            values = comparison[source].to_numpy(dtype=float)
            columns[name] = np.bincount(bins, weights=values, minlength=n_bins) / counts
    table = pd.DataFrame(columns, index=pd.Index(_frequency_labels(max_frequency), name="frequency"))
    table.attrs = dict(comparison.attrs)
    return table


# ------------------------------------------------------------------ tracking


def tracking(
    transaction_model,
    transactions,
    *,
    customer_col="customer_id",
    date_col="date",
    calibration_end,
    observation_end,
    time_unit="W",
    period=1.0,
    datetime_format=None,
    date_unit=None,
    timezone=None,
):
    """Actual and expected repeat transactions per period, over calibration and holdout.

    The tracking plots of FHL 2005 (Figures 2 and 3). Time s is counted from the
    first purchase day in the data; a purchase on day d happens at time d - start.
    For each period end s the model expects, summed over the customers whose first
    purchase (day f_i) is before s,

        expected_cumulative(s) = sum_i E[X(s - f_i)],

    with E[X(t)] the expected repeat purchases of a new customer by time t
    (``expected_purchases_new_customer``, FHL 2005 eq. 9 for BG/NBD). Customers who
    first bought on the same day share one evaluation, so the cost grows with the
    number of distinct first-purchase days, not customers. The actual count is the
    number of repeat purchases (distinct purchase days after each customer's first)
    before s. This is the computation of ``lifetimes.utils.
    expected_cumulative_transactions`` (with ``freq="D"`` and ``freq_multiplier`` =
    days per unit), vectorised.

    Parameters
    ----------
    transaction_model : fitted transaction model
        Fitted on the calibration period in ``time_unit``.
    transactions : pandas.DataFrame
        The transaction log, one row per purchase record.
    customer_col, date_col : str
        Columns of customer ids and purchase dates.
    calibration_end : str or datetime-like
        Last day of the calibration period (inclusive); marks where the holdout
        period begins (``attrs["calibration_end"]``).
    observation_end : str or datetime-like or None
        Last day of the holdout period (inclusive); later purchases are ignored.
        None: the last purchase in the data.
    time_unit : {"D", "W", "M", "Q", "Y", "H"}, default "W"
        Unit of the model and of the index; must match the model's ``time_unit_``.
    period : float, default 1.0
        Length of one period in ``time_unit`` (1 week by default). The last period
        ends at the end of ``observation_end`` and may be shorter.
    datetime_format, date_unit, timezone : optional
        How dates are read, as in :func:`clvmodels.rfm_summary`.

    Returns
    -------
    pandas.DataFrame
        One row per period, indexed by the period end ``t`` in ``time_unit`` since
        the first purchase day (1, 2, ..., 78 for weekly CDNOW), with columns
        ``actual`` and ``expected`` (repeat transactions in the period) and
        ``actual_cumulative`` and ``expected_cumulative`` (by the period end).
        ``attrs``: ``time_unit``, ``period``, ``start_date``,
        ``calibration_end_date``, ``observation_end_date`` (ISO dates),
        ``calibration_end`` and ``observation_end`` (in ``time_unit`` since the
        start, at the end of those days), ``n_customers``.

    Raises
    ------
    ValueError
        For invalid transactions (as :func:`clvmodels.rfm_summary`), dates out of
        order, a non-positive period or a time unit that differs from the model's.
    NotFittedError
        If the model is not fitted.

    Examples
    --------
    FHL 2005: 4,166 expected and 4,339 actual repeat purchases by week 78.

    >>> import clvmodels as clv
    >>> from clvmodels import evaluation
    >>> tx = clv.datasets.load_cdnow(sample=True)
    >>> split = clv.calibration_holdout_split(tx, time_unit="W",
    ...     calibration_end="1997-09-30", observation_end="1998-06-30")
    >>> bg = clv.BetaGeoModel().fit(split)
    >>> table = evaluation.tracking(bg, tx, calibration_end="1997-09-30",
    ...                             observation_end="1998-06-30", time_unit="W")
    >>> table.loc[78.0, ["actual_cumulative", "expected_cumulative"]].round().to_dict()
    {'actual_cumulative': 4339.0, 'expected_cumulative': 4166.0}
    """
    _require_fitted(transaction_model)
    period = check_positive_number(period, "period")
    unit = check_time_unit(time_unit)
    model_unit = _model_time_unit(transaction_model)
    if model_unit and unit != model_unit:
        raise ValueError(
            f"time unit mismatch: time_unit={time_unit!r} but {type(transaction_model).__name__} "
            f"was fitted in {model_unit!r}"
        )
    # Ticks are days (hours for time_unit "H"), as in clvmodels.rfm_summary.
    resolution, ticks_per_day = ("h", 24) if unit == "H" else ("D", 1)
    ticks_per_unit = DAYS_PER_UNIT[unit] * ticks_per_day

    require_dataframe(transactions, "transactions")
    problems = Problems("transactions")
    require_columns(transactions, (customer_col, date_col), problems)
    dates = None
    if date_col in transactions.columns:
        dates = datetime_column(
            transactions, date_col, problems, datetime_format, date_unit=date_unit, timezone=timezone
        )
    if customer_col in transactions.columns:
        problems.add_if(customer_col, transactions[customer_col].isna().to_numpy(), "are missing customer ids")
    calibration = _date_tick(calibration_end, "calibration_end", resolution, datetime_format, timezone, problems)
    end = None
    if observation_end is not None:
        end = _date_tick(observation_end, "observation_end", resolution, datetime_format, timezone, problems)
    problems.raise_if_any()

    ticks = dates.astype(f"datetime64[{resolution}]").view(np.int64)
    if end is None:
        end = int(ticks.max())
    first_in_data = int(ticks.min())
    if calibration < first_in_data:
        problems.add(date_col, f"are after calibration_end {calibration_end} (the first purchase is on "
                     f"{_iso(first_in_data, resolution)})", len(ticks))
    if calibration > end:
        problems.add(None, f"calibration_end {calibration_end} is after observation_end {_iso(end, resolution)}")
    problems.raise_if_any()

    codes, _ = pd.factorize(transactions[customer_col], sort=False)
    used = ticks <= end
    codes, ticks = codes[used], ticks[used]
    order = np.lexsort((ticks, codes))
    codes, ticks = codes[order], ticks[order]
    distinct = np.ones(len(ticks), dtype=bool)
    distinct[1:] = (codes[1:] != codes[:-1]) | (ticks[1:] != ticks[:-1])
    codes, ticks = codes[distinct], ticks[distinct]
    first = np.ones(len(ticks), dtype=bool)
    first[1:] = codes[1:] != codes[:-1]

    start = int(ticks.min())
    first_ticks = ticks[first] - start
    repeat_ticks = np.sort(ticks[~first] - start)

    # Period ends in ticks since the start; the last one is the end of observation_end.
    horizon = end - start + 1
    step = period * ticks_per_unit
    n_periods = max(int(np.ceil(horizon / step - 1e-9)), 1)
    ends = np.minimum(np.arange(1, n_periods + 1) * step, horizon)

    actual_cumulative = np.searchsorted(repeat_ticks, ends, side="left").astype(float)
    expected_cumulative = _expected_cumulative(transaction_model, first_ticks, ends, ticks_per_unit)

    index = pd.Index(ends / ticks_per_unit, name="t")
    table = pd.DataFrame(
        {
            "actual": np.diff(actual_cumulative, prepend=0.0),
            "expected": np.diff(expected_cumulative, prepend=0.0),
            "actual_cumulative": actual_cumulative,
            "expected_cumulative": expected_cumulative,
        },
        index=index,
    )
    table.attrs.update(
        time_unit=unit,
        period=float(period),
        start_date=_iso(start, resolution),
        calibration_end_date=_iso(calibration, resolution),
        observation_end_date=_iso(end, resolution),
        calibration_end=(calibration - start + 1) / ticks_per_unit,
        observation_end=horizon / ticks_per_unit,
        n_customers=int(np.count_nonzero(first)),
    )
    return table


def _date_tick(value, name, resolution, datetime_format, timezone, problems):
    """The day (or hour) number ``value`` falls in, or None after recording a problem."""
    stamp = parse_date(value, name, problems, datetime_format, timezone)
    if stamp is None:
        return None
    return int(stamp.to_datetime64().astype(f"datetime64[{resolution}]").view(np.int64))


def _iso(tick, resolution):
    stamp = pd.Timestamp(np.datetime64(int(tick), resolution))
    return stamp.date().isoformat() if resolution == "D" else stamp.isoformat()


def _expected_cumulative(model, first_ticks, ends, ticks_per_unit):
    """sum_i E[X(s - f_i)] over customers with f_i < s, for every period end s.

    Customers are grouped by first-purchase tick and E[X] is evaluated once per
    distinct lag s - f within each chunk of period ends.
    """
    days, counts = np.unique(first_ticks, return_counts=True)
    counts = counts.astype(float)
    result = np.empty(len(ends))
    rows_per_chunk = max(1, _TRACKING_CHUNK // max(len(days), 1))
    for lo in range(0, len(ends), rows_per_chunk):
        chunk = ends[lo : lo + rows_per_chunk]
        lags = chunk[:, None] - days[None, :]
        started = lags > 0
        lag_values, inverse = np.unique(np.where(started, lags, 0.0), return_inverse=True)
        expected = np.asarray(model.expected_purchases_new_customer(lag_values / ticks_per_unit), dtype=float)
        expected = np.where(lag_values > 0, expected, 0.0)
        per_pair = expected[inverse.reshape(lags.shape)]
        result[lo : lo + rows_per_chunk] = per_pair @ counts
    return result


# ------------------------------------------------------------------ goodness of fit


def goodness_of_fit(transaction_model, data, max_frequency=7, sample_weight=None):
    """Observed and expected numbers of customers by calibration repeat purchases.

    FHL 2005 Figure 1: for n = 0, 1, ..., ``max_frequency`` - 1 the expected number of
    customers with n repeat purchases is sum_i P(X(T_i) = n), each customer with
    their own observation length T_i (FHL 2005 eq. 8 for BG/NBD); the last group,
    ``max_frequency``+, gets the rest, sum_i (1 - sum_n P(X(T_i) = n)). The
    probabilities are evaluated once per distinct T.

    The Pearson statistic sum (observed - expected)^2 / expected is compared with a
    chi-square distribution with (groups - 1 - number of model parameters) degrees
    of freedom. Customers differ in T, so this is the usual approximate test;
    groups with small expected counts (below 5) make it unreliable, see
    ``attrs["min_expected"]``.

    Parameters
    ----------
    transaction_model : fitted transaction model
        With ``probability_of_purchases(n, t)`` accepting an array ``t``.
    data : pandas.DataFrame
        RFM table with ``frequency`` and ``T`` in the model's time unit (the
        calibration data the model was fitted on).
    max_frequency : int, default 7
        The last group is this many repeat purchases or more.
    sample_weight : array-like or str, optional
        Customers each row stands for (e.g. the ``weight`` column of
        :func:`clvmodels.compress`).

    Returns
    -------
    pandas.DataFrame
        Index ``frequency`` with labels "0", ..., "7+"; columns ``observed``,
        ``expected`` (numbers of customers) and ``chi_square`` (each group's
        contribution). ``attrs``: ``chi_square``, ``degrees_of_freedom``,
        ``p_value``, ``n_customers``, ``min_expected``.

    Examples
    --------
    >>> import clvmodels as clv
    >>> from clvmodels import evaluation
    >>> tx = clv.datasets.load_cdnow(sample=True)
    >>> rfm = clv.rfm_summary(tx, time_unit="W", observation_end="1997-09-30")
    >>> fit = evaluation.goodness_of_fit(clv.BetaGeoModel().fit(rfm), rfm)
    >>> fit["observed"].tolist()[:3]
    [1411, 439, 214]
    """
    _require_fitted(transaction_model)
    max_frequency = _check_max_frequency(max_frequency)
    unit = data.attrs.get("time_unit") if isinstance(data, pd.DataFrame) else None
    model_unit = _model_time_unit(transaction_model)
    if unit and model_unit and check_time_unit(unit) != model_unit:
        raise ValueError(
            f"time unit mismatch: the data is in {unit!r} but {type(transaction_model).__name__} "
            f"was fitted in {model_unit!r}"
        )
    length = getattr(transaction_model, "length_column", "T")  # "n_periods" for discrete-time models
    arrays = check_rfm(data, ("frequency", length), what="data")
    weights = check_sample_weight(sample_weight, data)
    frequency, T = arrays["frequency"], arrays[length]

    n_bins = max_frequency + 1
    observed = np.bincount(_frequency_bins(frequency, max_frequency), weights=weights, minlength=n_bins)
    unique_T, inverse = np.unique(T, return_inverse=True)
    weight_of_T = np.bincount(inverse.reshape(-1), weights=weights, minlength=len(unique_T))
    expected = np.empty(n_bins)
    for n in range(max_frequency):
        probability = np.asarray(transaction_model.probability_of_purchases(n, unique_T), dtype=float)
        expected[n] = float(np.dot(weight_of_T, np.broadcast_to(probability, unique_T.shape)))
    total = float(weights.sum())
    expected[max_frequency] = max(total - expected[:max_frequency].sum(), 0.0)

    with np.errstate(divide="ignore", invalid="ignore"):
        contribution = np.where(expected > 0, (observed - expected) ** 2 / expected, np.where(observed > 0, np.inf, 0.0))
    statistic = float(contribution.sum())
    n_params = len(getattr(transaction_model, "params_", ()))
    dof = n_bins - 1 - n_params
    p_value = float(special.chdtrc(dof, statistic)) if dof > 0 else np.nan

    integral = np.all(weights == np.round(weights))
    table = pd.DataFrame(
        {
            "observed": observed.round().astype(np.int64) if integral else observed,
            "expected": expected,
            "chi_square": contribution,
        },
        index=pd.Index(_frequency_labels(max_frequency), name="frequency"),
    )
    table.attrs.update(
        chi_square=statistic,
        degrees_of_freedom=int(dof),
        p_value=p_value,
        n_customers=total,
        min_expected=float(expected.min()),
        time_unit=model_unit,
    )
    return table


# ------------------------------------------------------------------ choosing a model

# Columns of compare_models and whether a larger value is better (None: not ranked).
_COMPARISON_COLUMNS = {
    "n_params": None,
    "log_likelihood": True,
    "aic": False,
    "bic": False,
    "chi_square": False,
    "degrees_of_freedom": None,
    "p_value": True,
    "mae": False,
    "rmse": False,
    "aggregate_error_pct": False,
}


def _model_label(model, labels):
    label = getattr(model, "title", None) or type(model).__name__
    base, k = label, 2
    while label in labels:
        label, k = f"{base} ({k})", k + 1
    return label


def compare_models(models, split, max_frequency=7):
    """One table to choose between fitted transaction models on the same data.

    For each model: its log-likelihood on the calibration columns of ``split``, the
    number of parameters k, AIC = 2k - 2 LL and BIC = k ln(n) - 2 LL (n customers),
    the chi-square goodness of fit of calibration repeat purchases
    (:func:`goodness_of_fit`) and the holdout errors of each customer's purchases
    (:func:`holdout_comparison`, :func:`holdout_metrics`). All models are scored on
    the same customers, so the columns are comparable; fit each on the calibration
    part of ``split`` (``model.fit(split)``).

    Parameters
    ----------
    models : sequence of fitted transaction models, or dict of label -> model
        Labels default to each model's ``title`` (e.g. "BG/NBD").
    split : pandas.DataFrame
        Output of :func:`clvmodels.calibration_holdout_split`.
    max_frequency : int, default 7
        Last group of the chi-square table.

    Returns
    -------
    pandas.DataFrame
        One row per model (index ``model``); columns ``n_params``,
        ``log_likelihood``, ``aic``, ``bic``, ``chi_square``, ``degrees_of_freedom``,
        ``p_value``, ``mae``, ``rmse``, ``aggregate_error_pct``. ``attrs["best"]``
        maps each ranked column to the label of the best model (largest
        log-likelihood and p-value, smallest of the rest, aggregate error in
        absolute value); ``attrs["n_customers"]`` is n.

    Examples
    --------
    >>> import clvmodels as clv
    >>> tx = clv.datasets.load_cdnow(sample=True)
    >>> split = clv.calibration_holdout_split(tx, time_unit="W", calibration_end="1997-09-30",
    ...                                       observation_end="1998-06-30")
    >>> table = clv.evaluation.compare_models([clv.BetaGeoModel().fit(split)], split)
    >>> round(float(table.loc["BG/NBD", "log_likelihood"]), 2)
    -9582.43
    """
    pairs = list(models.items()) if isinstance(models, dict) else [(None, m) for m in models]
    if not pairs:
        raise ValueError("compare_models needs at least one fitted model")
    rows, labels = {}, []
    for label, model in pairs:
        _require_fitted(model, "model")
        label = label if label is not None else _model_label(model, labels)
        labels.append(label)
        rows[label] = _comparison_row(model, split, max_frequency)
    table = pd.DataFrame.from_dict(rows, orient="index")[list(_COMPARISON_COLUMNS)]
    table.index.name = "model"
    best = {}
    for column, larger in _COMPARISON_COLUMNS.items():
        values = table[column].abs() if column == "aggregate_error_pct" else table[column]
        if larger is None or values.isna().all():
            continue
        best[column] = values.idxmax() if larger else values.idxmin()
    table.attrs.update(best=best, n_customers=float(len(split)))
    return table


def _comparison_row(model, split, max_frequency):
    ll = float(model.log_likelihood(split).sum())
    k = len(model.params_)
    n = len(split)
    fit = goodness_of_fit(model, split, max_frequency=max_frequency)
    metrics = holdout_metrics(holdout_comparison(model, split))
    return {
        "n_params": k,
        "log_likelihood": ll,
        "aic": 2 * k - 2 * ll,
        "bic": k * np.log(n) - 2 * ll,
        "chi_square": fit.attrs["chi_square"],
        "degrees_of_freedom": fit.attrs["degrees_of_freedom"],
        "p_value": fit.attrs["p_value"],
        "mae": metrics["mae"],
        "rmse": metrics["rmse"],
        "aggregate_error_pct": metrics["aggregate_error_pct"],
    }


# ------------------------------------------------------------------ covariates

_COVARIATE_COLUMNS = ["process", "parameter", "covariate", "estimate", "std_error", "lower", "upper", "multiplier",
                      "multiplier_lower", "multiplier_upper", "p_value", "meaning"]


def without_covariates(model):
    """An unfitted copy of ``model`` with its settings but no covariates: the plain
    model that a model with covariates is tested against."""
    import inspect

    names = [n for n in inspect.signature(type(model).__init__).parameters if n != "self"]
    settings = {n: getattr(model, n) for n in names if hasattr(model, n)}
    settings.update({n: [] for n in names if n.endswith("_covariates")})
    return type(model)(**settings)


def covariate_table(model, data=None, *, plain=None, level=0.95):
    """The covariate coefficients of a fitted transaction model, read for people, and
    the likelihood-ratio test of the covariates.

    Each row is one coefficient (from the model's ``covariate_effects(level)``):
    the process and parameter it shifts, its estimate, standard error and interval
    at ``level``; the multiplicative effect of one unit more of the covariate
    (exp(estimate)) with its interval; the Wald p-value; and the sentence saying
    what it means. The likelihood-ratio test compares the model with the same
    model without covariates (``plain``, fitted; else fitted here on ``data``,
    which must be the data ``model`` was fitted on): 2 (LL - LL_plain), chi-square
    with as many degrees of freedom as coefficients (Fader & Hardie 2007, "Incorporating
    time-invariant covariates into the Pareto/NBD and BG/NBD models").

    Parameters
    ----------
    model : fitted transaction model with covariates
    data : pandas.DataFrame, optional
        The data ``model`` was fitted on (to fit the plain model).
    plain : fitted transaction model, optional
        The plain model, fitted on the same data.
    level : float, default 0.95

    Returns
    -------
    pandas.DataFrame
        Indexed by coefficient name, columns ``process``, ``parameter``,
        ``covariate``, ``estimate``, ``std_error``, ``lower``, ``upper``,
        ``multiplier``, ``multiplier_lower``, ``multiplier_upper``, ``p_value``,
        ``meaning``; empty for a model without covariates. ``attrs``: ``level``,
        and ``likelihood_ratio`` (dict: ``statistic``, ``df``, ``p_value``,
        ``log_likelihood``, ``plain_log_likelihood``) or None without a plain model.

    Examples
    --------
    >>> import numpy as np
    >>> import clvmodels as clv
    >>> tx = clv.datasets.load_cdnow(sample=True)
    >>> rfm = clv.rfm_summary(tx, amount_col="amount", time_unit="W", observation_end="1997-09-30")
    >>> rfm["log_first"] = np.log1p(clv.first_purchase_amount(tx, amount_col="amount"))
    >>> bg = clv.BetaGeoModel(purchase_covariates=["log_first"]).fit(rfm)
    >>> table = clv.evaluation.covariate_table(bg, rfm)
    >>> table.attrs["likelihood_ratio"]["df"]
    1.0
    """
    from ._covariates import likelihood_ratio_test

    _require_fitted(model, "model")
    level = check_positive_number(level, "level")
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, got {level!r}")
    effects = model.covariate_effects(level) if hasattr(model, "covariate_effects") else pd.DataFrame()
    table = pd.DataFrame(index=effects.index, columns=_COVARIATE_COLUMNS)
    table.attrs.update(level=level, likelihood_ratio=None)
    if effects.empty:
        return table
    z = special.ndtri(0.5 + level / 2)
    estimate, se = effects["coefficient"].astype(float), effects["std_error"].astype(float)
    table = pd.DataFrame({
        "process": effects["process"], "parameter": effects["parameter"], "covariate": effects["covariate"],
        "estimate": estimate, "std_error": se, "lower": estimate - z * se, "upper": estimate + z * se,
        "multiplier": effects["multiplier"].astype(float), "multiplier_lower": effects["lower"].astype(float),
        "multiplier_upper": effects["upper"].astype(float), "p_value": effects["p_value"].astype(float),
        "meaning": effects["meaning"],
    }, index=effects.index)[_COVARIATE_COLUMNS]
    table.attrs.update(level=level, likelihood_ratio=None)
    if plain is None and data is not None:
        plain = without_covariates(model).fit(data)
    if plain is not None:
        _require_fitted(plain, "plain")
        test = likelihood_ratio_test(plain, model)
        table.attrs["likelihood_ratio"] = {
            "statistic": float(test["statistic"]), "df": float(test["df"]), "p_value": float(test["p_value"]),
            "log_likelihood": float(model.log_likelihood_), "plain_log_likelihood": float(plain.log_likelihood_),
        }
    return table


def format_covariate_table(table):
    """:func:`covariate_table` as text for a console: one line per coefficient with
    its interval, then the likelihood-ratio test."""
    if table.empty:
        return ""
    level = table.attrs.get("level", 0.95)
    shown = pd.DataFrame({
        "estimate": table["estimate"].map("{:.4f}".format),
        "std_error": table["std_error"].map("{:.4f}".format),
        f"{level:.0%} interval": [f"{lo:.4f} to {hi:.4f}" for lo, hi in zip(table["lower"], table["upper"])],
        "effect": table["multiplier"].map("x{:.3g}".format),
        "effect interval": [f"x{lo:.3g} to x{hi:.3g}" for lo, hi in zip(table["multiplier_lower"],
                                                                      table["multiplier_upper"])],
        "p_value": table["p_value"].map("{:.3g}".format),
    }, index=table.index)
    lines = ["covariates:", shown.to_string(), *(f"  {meaning}" for meaning in table["meaning"])]
    test = table.attrs.get("likelihood_ratio")
    if test:
        lines.append(
            f"likelihood-ratio test against the model without covariates: statistic {test['statistic']:.3f}, "
            f"{test['df']:.0f} d.f., p-value {test['p_value']:.3g} (log-likelihood {test['log_likelihood']:.3f} "
            f"vs {test['plain_log_likelihood']:.3f})"
        )
    return "\n".join(lines)


# ------------------------------------------------------------------ interval calibration


def interval_coverage(transaction_model, split, levels=(0.8, 0.9), n_draws=200, random_state=0,
                      interval_method="asymptotic"):
    """How often the holdout purchases fall inside the model's prediction intervals.

    For each level, each customer's interval of holdout purchases given the
    calibration history (:meth:`~clvmodels.TransactionModel.purchases_interval`) is
    compared with what the customer actually bought; a calibrated model has about
    (1 - level) / 2 of the customers below and above (counts are whole numbers, so
    the tails may be smaller). ``attrs["total"]`` holds the interval of the total
    holdout purchases of the base (:meth:`~clvmodels.TransactionModel.total_purchases_interval`
    at the largest level) and the actual total.

    Parameters
    ----------
    transaction_model : fitted transaction model
    split : pandas.DataFrame
        Output of :func:`clvmodels.calibration_holdout_split`, with one holdout
        length (``duration_holdout``) for all customers.
    levels : sequence of float
    n_draws, random_state, interval_method
        Settings of the total's simulation (``interval_method``: "asymptotic" or
        "bootstrap" parameter draws, see :meth:`~clvmodels.TransactionModel.parameter_draws`).

    Returns
    -------
    pandas.DataFrame
        Index ``level``; columns ``below``, ``inside``, ``above`` (shares of
        customers) and ``nominal_tail``.
    """
    _require_fitted(transaction_model)
    arrays = _check_comparison(split, ("frequency_holdout", "duration_holdout"))
    durations = np.unique(arrays["duration_holdout"])
    if len(durations) != 1:
        raise ValueError("invalid split: column 'duration_holdout' must hold one holdout length for every customer")
    t, actual = float(durations[0]), arrays["frequency_holdout"]
    levels = [float(level) for level in levels]
    tails = [(1.0 - level) / 2 for level in levels]
    quantiles = transaction_model.purchase_quantiles(
        split, t=t, probabilities=[*tails, *(1.0 - tail for tail in tails)]
    ).to_numpy()
    rows = {}
    for k, level in enumerate(levels):
        below = float(np.mean(actual < quantiles[:, k]))
        above = float(np.mean(actual > quantiles[:, len(levels) + k]))
        rows[float(level)] = {"below": below, "inside": 1.0 - below - above, "above": above,
                              "nominal_tail": (1.0 - float(level)) / 2}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "level"
    total = transaction_model.total_purchases_interval(
        split, t=t, level=max(levels), n_draws=n_draws, random_state=random_state, interval_method=interval_method
    )
    table.attrs["total"] = {**total.to_dict(), "actual": float(actual.sum()), "level": float(max(levels))}
    return table


# ------------------------------------------------------------------ contractual models


def survival_comparison(model, survivors, *, calibration_periods=None):
    """A cohort's observed survival and retention against a contractual model's.

    The check of Fader & Hardie (2007), "How to project customer retention", Journal
    of Interactive Marketing 21(1), Figures 3-5: fit on the first
    ``calibration_periods`` periods of survivor counts, then compare the projected
    survival S(t) and retention r(t) = S(t) / S(t - 1) with the later periods.

    Parameters
    ----------
    model : fitted contractual model
        Used through ``survival(t)`` and ``retention(t)`` (e.g.
        :class:`clvmodels.ShiftedBetaGeoModel`, :class:`clvmodels.BetaDiscreteWeibullModel`).
    survivors : sequence of numbers
        The cohort's customers still active after 0, 1, 2, ... periods (the first is
        the cohort's size), e.g. 1000, 631, 468, ...
    calibration_periods : int, optional
        How many periods the model was fitted on; the later ones are the holdout.
        Default: all periods are calibration.

    Returns
    -------
    pandas.DataFrame
        Indexed by period t = 0, 1, ... (``period``), columns
        ``observed_survivors``, ``expected_survivors`` (cohort size x S(t)),
        ``observed_survival``, ``expected_survival``, ``observed_retention``,
        ``expected_retention`` (NaN at t = 0) and ``holdout`` (bool). ``attrs``:
        ``calibration_periods``, ``holdout_mape`` (mean absolute percentage error of
        the expected survivors over the holdout periods, NaN without any),
        ``time_unit``.

    Examples
    --------
    Fit on Fader & Hardie's (2007) seven years of the regular segment, then compare
    with five later years (illustrative counts):

    >>> import clvmodels as clv
    >>> from clvmodels import evaluation
    >>> counts = [1000, 631, 468, 382, 326, 289, 262, 241, 223, 207, 194, 183, 173]
    >>> table = clv.tenure_from_survivors(counts[:8])
    >>> sbg = clv.ShiftedBetaGeoModel().fit(table, sample_weight="weight")
    >>> check = evaluation.survival_comparison(sbg, counts, calibration_periods=7)
    >>> check.loc[12, ["observed_survivors", "expected_survivors"]].round(0).tolist()
    [173.0, 170.0]
    """
    _require_fitted(model, "model")
    counts = np.asarray(survivors, dtype=float).reshape(-1)
    problems = Problems("survivors")
    if len(counts) < 2:
        problems.add(None, "needs at least two counts (the cohort's size and a later count)")
    else:
        problems.add_if(None, ~np.isfinite(counts), "are not finite numbers")
        problems.add_if(None, counts < 0, "are negative")
        if counts[0] <= 0:
            problems.add(None, "the first count (the cohort's size) must be > 0")
    problems.raise_if_any()
    last = len(counts) - 1
    if calibration_periods is None:
        calibration_periods = last
    calibration_periods = int(check_positive_number(calibration_periods, "calibration_periods"))
    periods = np.arange(len(counts))
    expected_survival = np.asarray(model.survival(periods), dtype=float)
    expected_retention = np.concatenate([[np.nan], np.asarray(model.retention(periods[1:]), dtype=float)])
    with np.errstate(divide="ignore", invalid="ignore"):
        observed_retention = np.concatenate([[np.nan], counts[1:] / counts[:-1]])
    holdout = periods > calibration_periods
    table = pd.DataFrame(
        {
            "observed_survivors": counts,
            "expected_survivors": counts[0] * expected_survival,
            "observed_survival": counts / counts[0],
            "expected_survival": expected_survival,
            "observed_retention": observed_retention,
            "expected_retention": expected_retention,
            "holdout": holdout,
        },
        index=pd.Index(periods, name="period"),
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        errors = np.abs(table["expected_survivors"] - counts) / counts
    table.attrs.update(
        calibration_periods=calibration_periods,
        holdout_mape=float(100 * errors[holdout].mean()) if holdout.any() else np.nan,
        time_unit=getattr(model, "time_unit_", None),
    )
    return table


def observed_survival(data, sample_weight=None):
    """The share of customers still active after 0, 1, 2, ... periods of tenure, from
    (tenure, churned) records with customers still active observed for different
    lengths (Kaplan-Meier).

    A churned customer of ``tenure`` t left in period t; an active one of tenure t
    has renewed t times and her later periods are not yet seen. Of the n(t)
    customers at risk in period t (tenure >= t), d(t) churned in it, and
    S(t) = prod_{k <= t} (1 - d(k) / n(k)), the same S(t) the contractual models'
    likelihood describes (Fader & Hardie 2007, eq. 5). For a single cohort all
    observed equally long, cohort size x S(t) are the survivor counts.

    Parameters
    ----------
    data : pandas.DataFrame
        ``tenure`` and ``churned``, e.g. from :func:`clvmodels.tenure_summary`.
    sample_weight : array-like or str, optional
        Customers each row stands for.

    Returns
    -------
    pandas.DataFrame
        Indexed by period t = 0 .. the longest tenure (``period``), columns
        ``at_risk``, ``churned`` (customers, 0 at t = 0), ``survival`` and
        ``survivors`` (number of customers x survival, what
        :func:`survival_comparison` takes). ``attrs``: ``n_customers``,
        ``time_unit``.

    Examples
    --------
    >>> import clvmodels as clv
    >>> table = clv.tenure_from_survivors([1000, 631, 468])
    >>> clv.evaluation.observed_survival(table, sample_weight="weight")["survivors"].tolist()
    [1000.0, 631.0, 468.0]
    """
    require_dataframe(data, "data")
    arrays = check_rfm(data, ("tenure", "churned"), what="data")  # whole tenures, churned 0/1, >= 1 if churned
    tenure, churned = arrays["tenure"], arrays["churned"]
    weights = check_sample_weight(sample_weight, data)
    last = int(tenure.max())
    whole = tenure.astype(np.int64)
    # Customers whose tenure is at least t are at risk in period t: a reversed cumulative count.
    reaching = np.bincount(whole, weights=weights, minlength=last + 1)
    at_risk = np.cumsum(reaching[::-1])[::-1]
    left = np.bincount(whole, weights=weights * (churned == 1), minlength=last + 1)
    left[0] = 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        hazard = np.where(at_risk > 0, left / at_risk, 0.0)
    survival = np.cumprod(1.0 - hazard)
    total = float(weights.sum())
    table = pd.DataFrame(
        {"at_risk": at_risk, "churned": left, "survival": survival, "survivors": total * survival},
        index=pd.Index(np.arange(last + 1), name="period"),
    )
    table.attrs.update(n_customers=total, time_unit=data.attrs.get("time_unit"))
    return table


def survival_holdout(model, data, calibration_periods, *, sample_weight=None, min_at_risk=30):
    """A contractual model fitted on each customer's first periods against the observed
    survival of all periods (Fader & Hardie 2007's projection check, on individual
    records with staggered starts).

    Parameters
    ----------
    model : fitted contractual model
        Fitted on ``clvmodels.censor_tenure(data, calibration_periods)``.
    data : pandas.DataFrame
        ``tenure`` and ``churned`` of every customer, as observed to the end.
    calibration_periods : int
        The periods of tenure the model saw.
    sample_weight : array-like or str, optional
    min_at_risk : float, default 30
        The comparison stops at the last period with at least this many customers
        at risk (all customers if fewer), but shows at least one period after the
        calibration (when the data reach it): later survival estimates rest on
        too few customers.

    Returns
    -------
    pandas.DataFrame
        :func:`survival_comparison` of the model and the Kaplan-Meier survivors of
        :func:`observed_survival`, with the column ``at_risk`` added.
    """
    observed = observed_survival(data, sample_weight)
    periods = int(check_positive_number(calibration_periods, "calibration_periods"))
    enough = np.flatnonzero(observed["at_risk"].to_numpy() >= min(min_at_risk, observed.attrs["n_customers"]))
    last = min(max(int(enough[-1]) if len(enough) else 1, periods + 1), len(observed) - 1)
    table = survival_comparison(model, observed["survivors"].to_numpy()[: last + 1], calibration_periods=periods)
    table["at_risk"] = observed["at_risk"].to_numpy()[: last + 1]
    return table


# Columns of compare_survival_models and whether a larger value is better (None: not ranked).
_SURVIVAL_COMPARISON_COLUMNS = {
    "n_params": None, "log_likelihood": True, "aic": False, "bic": False, "holdout_mape": False,
}


def compare_survival_models(models, data, calibration_periods, *, sample_weight=None, min_at_risk=30):
    """One table to choose between contractual models fitted on the same first periods.

    For each model: its log-likelihood on the calibration records
    (:func:`clvmodels.censor_tenure` of ``data``), the number of parameters k,
    AIC = 2k - 2 LL, BIC = k ln(n) - 2 LL (n customers), and the mean absolute
    percentage error of its survivors over the later periods
    (:func:`survival_holdout`).

    Parameters
    ----------
    models : sequence of fitted contractual models, or dict of label -> model
        Each fitted on ``censor_tenure(data, calibration_periods)``.
    data : pandas.DataFrame
        ``tenure`` and ``churned`` as observed to the end.
    calibration_periods : int
    sample_weight, min_at_risk
        As in :func:`survival_holdout`.

    Returns
    -------
    pandas.DataFrame
        One row per model (index ``model``), columns ``n_params``,
        ``log_likelihood``, ``aic``, ``bic``, ``holdout_mape``. ``attrs``:
        ``best`` (ranked column -> label), ``n_customers``,
        ``calibration_periods``, ``last_period`` (of the holdout comparison).

    Examples
    --------
    >>> import clvmodels as clv
    >>> records = clv.datasets.load_subscriptions()
    >>> table = clv.tenure_summary(records, period="M", observation_end=records.attrs["observation_end"])
    >>> first = clv.censor_tenure(table, 12)
    >>> models = [clv.ShiftedBetaGeoModel().fit(first), clv.BetaDiscreteWeibullModel().fit(first)]
    >>> clv.evaluation.compare_survival_models(models, table, 12).attrs["best"]["holdout_mape"]
    'BdW'
    """
    from .discrete import censor_tenure

    pairs = list(models.items()) if isinstance(models, dict) else [(None, m) for m in models]
    if not pairs:
        raise ValueError("compare_survival_models needs at least one fitted model")
    calibration = censor_tenure(data, calibration_periods)
    weights = check_sample_weight(sample_weight, calibration)
    n = float(weights.sum())
    rows, labels, last = {}, [], None
    for label, model in pairs:
        _require_fitted(model, "model")
        label = label if label is not None else _model_label(model, labels)
        labels.append(label)
        ll = float(np.dot(weights, model.log_likelihood(calibration).to_numpy()))
        k = len(model.params_)
        holdout = survival_holdout(model, data, calibration_periods, sample_weight=sample_weight,
                                   min_at_risk=min_at_risk)
        last = int(holdout.index[-1])
        rows[label] = {"n_params": k, "log_likelihood": ll, "aic": 2 * k - 2 * ll, "bic": k * np.log(n) - 2 * ll,
                       "holdout_mape": holdout.attrs["holdout_mape"]}
    table = pd.DataFrame.from_dict(rows, orient="index")[list(_SURVIVAL_COMPARISON_COLUMNS)]
    table.index.name = "model"
    best = {}
    for column, larger in _SURVIVAL_COMPARISON_COLUMNS.items():
        if larger is None or table[column].isna().all():
            continue
        best[column] = table[column].idxmax() if larger else table[column].idxmin()
    table.attrs.update(best=best, n_customers=n, calibration_periods=int(calibration_periods), last_period=last,
                       time_unit=data.attrs.get("time_unit"))
    return table


def holdout_by_pattern(transaction_model, split, comparison=None):
    """Holdout transactions and P(alive) by calibration history, for discrete-time models.

    Customers of the same calibration history (the model's columns, e.g. frequency,
    recency and n_periods for BG/BB) share one prediction; FHS 2010 (Fader, Hardie &
    Shang, Marketing Science 29(6), Table 3 and Figure 6) compare each pattern's
    mean holdout transactions with the model's conditional expectation.

    Parameters
    ----------
    transaction_model : fitted transaction model
    split : pandas.DataFrame
        Output of :func:`clvmodels.discrete_calibration_holdout_split`.
    comparison : pandas.DataFrame, optional
        :func:`holdout_comparison` of the model and split, if already computed.

    Returns
    -------
    pandas.DataFrame
        One row per distinct history (index: the model's columns), sorted by them;
        columns ``n_customers``, ``probability_alive`` (at the end of calibration),
        ``actual`` and ``predicted`` (mean holdout transactions per customer) and
        ``actual_total``, ``predicted_total``. ``attrs``: the split's, and
        ``duration_holdout`` when one length.
    """
    _require_fitted(transaction_model)
    if comparison is None:
        comparison = holdout_comparison(transaction_model, split)
    columns = list(transaction_model.rfm_columns)
    frame = split[columns].copy()
    frame["n_customers"] = 1
    for name, source in (("probability_alive", "probability_alive"), ("actual_total", "actual_purchases"),
                         ("predicted_total", "predicted_purchases")):
        frame[name] = comparison[source].to_numpy(dtype=float)
    grouped = frame.groupby(columns, sort=True)
    table = grouped[["n_customers", "actual_total", "predicted_total"]].sum()
    table["probability_alive"] = grouped["probability_alive"].first()
    table["actual"] = table["actual_total"] / table["n_customers"]
    table["predicted"] = table["predicted_total"] / table["n_customers"]
    table = table[["n_customers", "probability_alive", "actual", "predicted", "actual_total", "predicted_total"]]
    table.attrs = dict(comparison.attrs)
    return table


# ------------------------------------------------------------------ the verdict

# (pass bound, warn bound) of each check of verdict(); see its docstring.
VERDICT_THRESHOLDS = {
    "p_value": (0.05, 0.01),
    "aggregate_error_pct": (10.0, 25.0),
    "frequency_error_pct": (20.0, 40.0),
    "spend_correlation": (0.2, 0.4),
}


def spend_frequency_correlation(data):
    """Pearson correlation of frequency and mean spend among repeat buyers.

    Gamma-Gamma assumes that the spend per purchase does not depend on how often a
    customer buys (Fader, Hardie & Lee 2005, "RFM and CLV", Journal of Marketing
    Research 42(4), section 3; they report 0.11 on CDNOW). Customers with no repeat
    purchase or a zero mean spend are left out, as Gamma-Gamma leaves them out.

    Parameters
    ----------
    data : pandas.DataFrame
        RFM table with ``frequency`` and ``monetary_value``.

    Returns
    -------
    pandas.Series
        ``correlation`` (NaN with fewer than 3 customers or no variation) and
        ``n_customers`` (the repeat buyers with positive spend).
    """
    arrays = check_rfm(data, ("frequency", "monetary_value"), what="data")
    used = (arrays["frequency"] > 0) & (arrays["monetary_value"] > 0)
    x, m = arrays["frequency"][used], arrays["monetary_value"][used]
    correlation = np.nan
    if len(x) >= 3 and np.std(x) > 0 and np.std(m) > 0:
        correlation = float(np.corrcoef(x, m)[0, 1])
    return pd.Series({"correlation": correlation, "n_customers": float(len(x))}, name="spend_frequency_correlation")


def _grade(value, bounds, larger_is_better):
    """"pass", "warn" or "fail" of ``value`` against (pass bound, warn bound)."""
    good, tolerable = bounds
    if value is None or not np.isfinite(value):
        return "warn"
    if larger_is_better:
        return "pass" if value >= good else "warn" if value >= tolerable else "fail"
    return "pass" if value <= good else "warn" if value <= tolerable else "fail"


def _check_bounds(thresholds):
    merged = dict(VERDICT_THRESHOLDS)
    for name, bounds in (thresholds or {}).items():
        if name not in VERDICT_THRESHOLDS:
            raise ValueError(f"thresholds: unknown check {name!r}; known: {', '.join(VERDICT_THRESHOLDS)}")
        good, tolerable = (float(b) for b in bounds)
        if not (np.isfinite(good) and np.isfinite(tolerable)):
            raise ValueError(f"thresholds[{name!r}] must be two finite numbers")
        if (name == "p_value") != (good >= tolerable):
            raise ValueError(f"thresholds[{name!r}]: the pass bound must be on the good side of the warn bound")
        merged[name] = (good, tolerable)
    return merged


def _fit_row(fit, bounds):
    attrs = fit.attrs
    p, statistic, dof = attrs.get("p_value"), attrs.get("chi_square"), attrs.get("degrees_of_freedom")
    status = _grade(p, bounds, larger_is_better=True)
    test = f"chi-square = {statistic:.1f} on {dof} degrees of freedom, p = {p:.3g}"
    finding = {
        "pass": f"Yes: the numbers of customers with 0, 1, 2, ... repeat purchases agree with the model ({test}).",
        "warn": f"Roughly: the repeat-purchase distribution departs somewhat from the model ({test}).",
        "fail": f"No: the repeat-purchase distribution departs clearly from the model ({test}).",
    }[status]
    if p is None or not np.isfinite(p):
        finding = "Not tested: too few frequency groups for the number of parameters."
    if status != "pass" and attrs.get("n_customers", 0) >= 10_000:
        finding += " With this many customers even small departures are significant; compare the table."
    if attrs.get("min_expected", np.inf) < 5:
        finding += " Some expected counts are below 5, so the test is only indicative."
    return {
        "question": "Does the model fit the calibration data?",
        "statistic": "chi-square p-value",
        "value": p,
        "pass_if": f"p >= {bounds[0]:g}",
        "warn_if": f"{bounds[1]:g} <= p < {bounds[0]:g}",
        "status": status,
        "finding": finding,
    }


def _aggregate_row(metrics, bounds):
    error = float(metrics["aggregate_error_pct"])
    status = _grade(abs(error), bounds, larger_is_better=False)
    predicted, actual = float(metrics["total_predicted"]), float(metrics["total_actual"])
    what = f"{predicted:,.0f} holdout purchases expected against {actual:,.0f} actual ({error:+.1f}%)"
    finding = {"pass": f"Yes: {what}.", "warn": f"Roughly: {what}.", "fail": f"No: {what}."}[status]
    return {
        "question": "Does it track the holdout in total?",
        "statistic": "aggregate holdout error, % of actual",
        "value": error,
        "pass_if": f"|error| <= {bounds[0]:g}%",
        "warn_if": f"|error| <= {bounds[1]:g}%",
        "status": status,
        "finding": finding,
    }


def _frequency_row(by_frequency, bounds, min_group):
    counts = by_frequency["n_customers"].to_numpy(dtype=float)
    actual = by_frequency["actual"].to_numpy(dtype=float)
    predicted = by_frequency["predicted"].to_numpy(dtype=float)
    usable = (counts >= min_group) & (actual > 0) & np.isfinite(predicted)
    row = {
        "question": "Does it track the holdout by calibration frequency?",
        "statistic": "largest error of a group's mean holdout purchases, % of actual",
        "pass_if": f"|error| <= {bounds[0]:g}%",
        "warn_if": f"|error| <= {bounds[1]:g}%",
    }
    if not usable.any():
        return {**row, "value": np.nan, "status": "warn",
                "finding": f"Not tested: no frequency group has {min_group} customers with holdout purchases."}
    errors = np.where(usable, 100.0 * (predicted - actual) / np.where(actual > 0, actual, 1.0), 0.0)
    worst = int(np.argmax(np.abs(errors)))
    error = float(errors[worst])
    status = _grade(abs(error), bounds, larger_is_better=False)
    label = by_frequency.index[worst]
    what = (f"across the {int(usable.sum())} groups of at least {min_group} customers the worst is the group "
            f"of calibration frequency {label}: {predicted[worst]:.3g} expected per customer against "
            f"{actual[worst]:.3g} actual ({error:+.1f}%)")
    finding = {"pass": f"Yes: {what}.", "warn": f"Roughly: {what}.", "fail": f"No: {what}."}[status]
    return {**row, "value": error, "status": status, "finding": finding}


def _spend_row(spend, bounds):
    correlation, n = float(spend["correlation"]), int(spend["n_customers"])
    status = _grade(abs(correlation), bounds, larger_is_better=False)
    what = f"the correlation of frequency and mean spend among {n:,} repeat buyers is {correlation:.3f}"
    if not np.isfinite(correlation):
        finding = f"Not tested: {n} repeat buyers with spend are too few, or they do not vary."
    else:
        finding = {
            "pass": f"Yes: {what}, weak enough to treat spend and frequency as independent.",
            "warn": f"Doubtful: {what}; spend forecasts may be biased for frequent buyers.",
            "fail": f"No: {what}; Gamma-Gamma's spend forecasts are not reliable for these data.",
        }[status]
    return {
        "question": "Is Gamma-Gamma's independence assumption plausible?",
        "statistic": "Pearson correlation of frequency and mean spend",
        "value": correlation,
        "pass_if": f"|r| <= {bounds[0]:g}",
        "warn_if": f"|r| <= {bounds[1]:g}",
        "status": status,
        "finding": finding,
    }


def verdict(fit=None, metrics=None, by_frequency=None, spend_correlation=None, *, thresholds=None, min_group=30):
    """Grade the validation checks pass / warn / fail, with the thresholds used.

    Each argument given adds one check (row):

    ``calibration fit``
        The chi-square p-value of :func:`goodness_of_fit` (FHL 2005 Figure 1):
        pass if p >= 0.05, warn if p >= 0.01, else fail.
    ``holdout total``
        The aggregate holdout error of :func:`holdout_metrics`, 100 (expected -
        actual) / actual: pass if its absolute value is at most 10%, warn up to 25%.
    ``holdout by frequency``
        The largest absolute relative error of the mean holdout purchases of a
        calibration-frequency group of :func:`holdout_by_frequency` (FHL 2005
        Figure 4), over the groups with at least ``min_group`` customers and some
        holdout purchases: pass up to 20%, warn up to 40%.
    ``spend independence``
        The correlation of :func:`spend_frequency_correlation`: pass if its
        absolute value is at most 0.2, warn up to 0.4.

    A check that cannot be computed (e.g. no degrees of freedom) is a warning.

    Parameters
    ----------
    fit : pandas.DataFrame, optional
        Output of :func:`goodness_of_fit`.
    metrics : pandas.Series, optional
        Output of :func:`holdout_metrics`.
    by_frequency : pandas.DataFrame, optional
        Output of :func:`holdout_by_frequency`.
    spend_correlation : pandas.Series, optional
        Output of :func:`spend_frequency_correlation`.
    thresholds : dict, optional
        Replaces bounds of :data:`VERDICT_THRESHOLDS`, keys ``p_value``,
        ``aggregate_error_pct``, ``frequency_error_pct``, ``spend_correlation``,
        each a (pass bound, warn bound) pair.
    min_group : int, default 30
        Smallest frequency group the per-frequency check looks at.

    Returns
    -------
    pandas.DataFrame
        Index ``check``; columns ``question``, ``statistic``, ``value``,
        ``pass_if``, ``warn_if`` (the thresholds as text), ``status`` ("pass",
        "warn" or "fail") and ``finding`` (the answer in plain words).
        ``attrs["thresholds"]`` holds the bounds used.

    Examples
    --------
    >>> import clvmodels as clv
    >>> tx = clv.datasets.load_cdnow(sample=True)
    >>> split = clv.calibration_holdout_split(tx, time_unit="W", calibration_end="1997-09-30",
    ...                                       observation_end="1998-06-30")
    >>> bg = clv.BetaGeoModel().fit(split)
    >>> comparison = clv.evaluation.holdout_comparison(bg, split)
    >>> table = clv.evaluation.verdict(clv.evaluation.goodness_of_fit(bg, split),
    ...                                clv.evaluation.holdout_metrics(comparison))
    >>> table["status"].to_dict()
    {'calibration fit': 'pass', 'holdout total': 'warn'}
    """
    bounds = _check_bounds(thresholds)
    min_group = int(check_positive_number(min_group, "min_group"))
    rows = {}
    if fit is not None:
        rows["calibration fit"] = _fit_row(fit, bounds["p_value"])
    if metrics is not None:
        rows["holdout total"] = _aggregate_row(metrics, bounds["aggregate_error_pct"])
    if by_frequency is not None:
        rows["holdout by frequency"] = _frequency_row(by_frequency, bounds["frequency_error_pct"], min_group)
    if spend_correlation is not None:
        rows["spend independence"] = _spend_row(spend_correlation, bounds["spend_correlation"])
    columns = ["question", "statistic", "value", "pass_if", "warn_if", "status", "finding"]
    table = pd.DataFrame.from_dict(rows, orient="index", columns=columns) if rows else pd.DataFrame(columns=columns)
    table.index.name = "check"
    table["value"] = table["value"].astype(float)
    table.attrs["thresholds"] = bounds
    return table
