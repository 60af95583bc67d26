"""Tables for discrete-time and contractual customers, from raw records.

- :func:`discrete_rfm_summary`: a transaction log -> the BG/BB table (frequency,
  recency, n_periods in whole calendar periods; Fader, Hardie & Shang 2010).
- :func:`discrete_calibration_holdout_split`: the same over a calibration period,
  with each customer's transactions in the holdout periods.
- :func:`tenure_summary`: subscription records (start, end or still active) -> the
  table the contractual models fit (tenure in whole periods, churned).
- :func:`tenure_from_survivors`: cohort survivor counts (1000, 631, 468, ...) -> the
  same table with weights (Fader & Hardie 2007).

Dates are read and checked by the same code as :func:`clvmodels.rfm_summary`.
Periods are calendar periods: days, weeks starting on Monday, calendar months,
quarters and years.
"""

from collections.abc import Mapping

import numpy as np
import pandas as pd

from ._validation import Problems, datetime_column, require_columns, require_dataframe
from .data import (
    _check_spend_sums,
    _Clock,
    _end_tick,
    _mean_or_zero,
    _PurchaseDays,
    _purchase_days,
    _DateReading,
    _read_transactions,
    _require_purchases_by,
    _rfm_frame,
    _starts_of_runs,
)

__all__ = [
    "discrete_rfm_summary", "discrete_calibration_holdout_split", "tenure_summary", "tenure_from_survivors",
    "censor_tenure",
]

_PERIODS = ("D", "W", "M", "Q", "Y")
# The default period of each kind of table: discrete_rfm_summary's and tenure_summary's.
DEFAULT_PERIOD = {"discrete": "Y", "contractual": "M"}
# 1970-01-01, day 0, was a Thursday: shifting by 3 days makes weeks start on Monday.
_MONDAY_SHIFT = 3


def _check_period(period, problems):
    code = str(period).upper()
    if code not in _PERIODS:
        problems.add(None, f"period {period!r} is not supported; use one of {', '.join(_PERIODS)}")
        return None
    return code


def _period_number(day_ticks, period):
    """The calendar period (counted from 1970) of each day number."""
    days = np.asarray(day_ticks, dtype=np.int64)
    if period == "D":
        return days
    if period == "W":
        return (days + _MONDAY_SHIFT) // 7
    months = days.astype("datetime64[D]").astype("datetime64[M]").view(np.int64)
    return {"M": months, "Q": months // 3, "Y": months // 12}[period]


def _period_start(number, period):
    """The first day of calendar period ``number`` (ISO date)."""
    if period == "D":
        day = number
    elif period == "W":
        day = number * 7 - _MONDAY_SHIFT
    else:
        months = number * {"M": 1, "Q": 3, "Y": 12}[period]
        day = np.datetime64(int(months), "M").astype("datetime64[D]").view(np.int64)
    return str(np.datetime64(int(day), "D"))


def discrete_rfm_summary(
    transactions,
    customer_col="customer_id",
    date_col="date",
    amount_col=None,
    *,
    period="Y",
    observation_end=None,
    datetime_format=None,
    date_unit=None,
    timezone=None,
):
    """Summarise a transaction log into one discrete-time history per customer.

    Each customer's first calendar period with a transaction is her period 0 (the
    acquisition); every later period is one transaction opportunity.

    Parameters
    ----------
    transactions : pandas.DataFrame
        One row per transaction record; several in one period count as one.
    customer_col, date_col : str
        Customer id and date columns, read as by :func:`clvmodels.rfm_summary`.
    amount_col : str, optional
        Transaction amounts (>= 0). The amounts of one period are summed, and
        ``monetary_value`` is the mean of a customer's repeat periods (those after
        the first), as :func:`clvmodels.rfm_summary` does with days, so that
        :class:`clvmodels.GammaGammaModel` can be fitted on the table.
    period : {"D", "W", "M", "Q", "Y"}, default "Y"
        The calendar period of one opportunity (weeks start on Monday).
    observation_end : str or datetime-like, optional
        Last day observed. Only periods that end on or before it count (a period
        still running at ``observation_end`` is left out, since its opportunity is
        not over); later transactions are ignored. By default the period of the
        last transaction is taken as complete.
    datetime_format, date_unit, timezone : optional
        How dates are read, as in :func:`clvmodels.rfm_summary`.

    Returns
    -------
    pandas.DataFrame
        Indexed by customer id (sorted), float columns ``frequency`` (periods after
        the first with a transaction), ``recency`` (the last such period, counted
        from the first; 0 if none) and ``n_periods`` (opportunities observed);
        with ``amount_col`` also ``monetary_value`` (0 without a repeat period).
        ``attrs``: ``time_unit`` (the period code: the models' time unit),
        ``observation_end`` (the last day of the last period counted) and
        ``first_period`` (first day of the earliest acquisition period). Customers
        acquired in or after the last complete period have ``n_periods`` 0 where
        acquired in it, and are left out if acquired later. Fit with
        :class:`clvmodels.BetaGeoBetaBinomModel`; :func:`clvmodels.compress` with
        ``columns=("frequency", "recency", "n_periods")`` gives the distinct
        histories with weights.

    Raises
    ------
    ValueError
        Listing every problem at once, as :func:`clvmodels.rfm_summary`, and for an
        unknown ``period``.

    Notes
    -----
    Fader, Hardie & Shang (2010), "Customer-base analysis in a discrete-time
    noncontractual setting", Marketing Science 29(6), section 2: (x, t_x, n).

    Examples
    --------
    >>> import pandas as pd
    >>> import clvmodels as clv
    >>> log = pd.DataFrame({"customer_id": [1, 1, 1, 2],
    ...                     "date": ["1995-03-01", "1996-05-01", "1998-01-09", "1997-07-01"]})
    >>> clv.discrete_rfm_summary(log, period="Y", observation_end="2001-12-31")
    ... # doctest: +NORMALIZE_WHITESPACE
                 frequency  recency  n_periods
    customer_id
    1                  2.0      3.0        6.0
    2                  0.0      0.0        4.0
    """
    problems = Problems("transactions")
    code = _check_period(period, problems)
    clock = _Clock.for_unit("D", problems)
    reading = _DateReading(datetime_format, date_unit, timezone)
    log = _read_transactions(transactions, customer_col, date_col, amount_col, clock, reading, problems)
    end = None
    if observation_end is not None:
        end = _end_tick(observation_end, "observation_end", clock, reading, problems)
        if log is not None and end is not None:
            _require_purchases_by(end, "observation_end", log, date_col, clock, problems)
    problems.raise_if_any()
    last = _last_complete_period(end, log, code)
    by_period, customer_ids = _periods_with_transactions(log, code, last, date_col)
    _check_spend_sums(by_period, amount_col)
    columns, keep = _discrete_columns(by_period, last)
    if by_period.spend is not None:
        columns["monetary_value"] = _mean_or_zero(by_period.spend_per_customer(skip_first=True), columns["frequency"])
    frame = _rfm_frame(customer_ids, by_period, keep, columns)
    frame.attrs.update(time_unit=code, observation_end=_period_last_day(last, code),
                       first_period=_period_start(int(by_period.tick.min()), code))
    return frame


def discrete_calibration_holdout_split(
    transactions,
    customer_col="customer_id",
    date_col="date",
    *,
    period="Y",
    calibration_end,
    observation_end=None,
    datetime_format=None,
    date_unit=None,
    timezone=None,
):
    """Summarise a transaction log over calibration periods and the holdout periods after them.

    Parameters
    ----------
    transactions, customer_col, date_col, period, datetime_format, date_unit, timezone
        As in :func:`discrete_rfm_summary`.
    calibration_end : str or datetime-like
        Last day of the calibration periods (periods ending by it count).
    observation_end : str or datetime-like, optional
        Last day of the holdout periods (default: the last transaction's period is
        taken as complete).

    Returns
    -------
    pandas.DataFrame
        One row per customer acquired by the last calibration period:
        ``frequency``, ``recency``, ``n_periods`` over the calibration periods (as
        :func:`discrete_rfm_summary` with ``observation_end=calibration_end``),
        ``frequency_holdout`` (holdout periods with a transaction) and
        ``duration_holdout`` (the number of holdout periods), so that
        :func:`clvmodels.evaluation.holdout_comparison` can compare them with
        ``expected_purchases(data, duration_holdout)``.

    Raises
    ------
    ValueError
        As :func:`discrete_rfm_summary`, and when no complete period follows the
        calibration periods.

    Examples
    --------
    >>> import pandas as pd
    >>> import clvmodels as clv
    >>> log = pd.DataFrame({"customer_id": [1, 1, 1, 2],
    ...                     "date": ["1995-03-01", "1996-05-01", "1999-01-09", "1997-07-01"]})
    >>> clv.discrete_calibration_holdout_split(log, period="Y", calibration_end="1997-12-31",
    ...                                        observation_end="1999-12-31")
    ... # doctest: +NORMALIZE_WHITESPACE
                 frequency  recency  n_periods  frequency_holdout  duration_holdout
    customer_id
    1                  1.0      1.0        2.0                1.0               2.0
    2                  0.0      0.0        0.0                0.0               2.0
    """
    problems = Problems("transactions")
    code = _check_period(period, problems)
    clock = _Clock.for_unit("D", problems)
    reading = _DateReading(datetime_format, date_unit, timezone)
    log = _read_transactions(transactions, customer_col, date_col, None, clock, reading, problems)
    calibration = _end_tick(calibration_end, "calibration_end", clock, reading, problems)
    end = None
    if observation_end is not None:
        end = _end_tick(observation_end, "observation_end", clock, reading, problems)
    if log is not None and calibration is not None:
        _require_purchases_by(calibration, "calibration_end", log, date_col, clock, problems)
    problems.raise_if_any()
    last = _last_complete_period(end, log, code)
    calibration_last = _last_complete_period(calibration, log, code)
    if calibration_last >= last:
        problems.add(date_col, f"no complete {code} period lies between calibration_end "
                               f"{clock.iso(calibration)} and the end of observation {_period_last_day(last, code)}")
    problems.raise_if_any()

    by_period, customer_ids = _periods_with_transactions(log, code, last, date_col)
    in_calibration = by_period.tick <= calibration_last
    calibration_days = _PurchaseDays(by_period.customer[in_calibration], by_period.tick[in_calibration], None)
    if len(calibration_days.customer) == 0:
        raise ValueError(f"invalid transactions: column {date_col!r}: no transaction falls in a complete "
                         f"period ({code}) by calibration_end")
    columns, keep = _discrete_columns(calibration_days, calibration_last)
    # Customers with calibration transactions, in the same (sorted) order, and their holdout counts.
    holdout = by_period.count_per_customer(~in_calibration)
    acquired = by_period.tick[by_period.starts] <= calibration_last
    columns["frequency_holdout"] = holdout[acquired].astype(float)
    columns["duration_holdout"] = np.full(len(columns["frequency"]), float(last - calibration_last))
    frame = _rfm_frame(customer_ids, calibration_days, keep, columns)
    frame.attrs.update(time_unit=code, calibration_end=_period_last_day(calibration_last, code),
                       observation_end=_period_last_day(last, code))
    return frame


def _last_complete_period(end, log, period):
    """The last calendar period that ends on or before day ``end`` (by default the
    last transaction's period, taken as complete)."""
    if end is None:
        return int(_period_number(log.last_tick, period))
    return int(_period_number(end + 1, period)) - 1


def _period_last_day(number, period):
    return str(np.datetime64(_period_start(number + 1, period)) - np.timedelta64(1, "D"))


def _periods_with_transactions(log, period, last, date_col):
    """The distinct (customer, period) pairs up to period ``last``, sorted, as a
    :class:`_PurchaseDays` whose ticks are period numbers; and the customer ids."""
    days, customer_ids = _purchase_days(log), log.customer_ids
    periods = _period_number(days.tick, period)
    keep = periods <= last
    customer, periods = days.customer[keep], periods[keep]
    first_of_run = _starts_of_runs(customer, periods)  # sorted by customer, then day
    if not first_of_run.any():
        raise ValueError(
            f"invalid transactions: column {date_col!r}: no transaction falls in a complete "
            f"period ({period}) by observation_end"
        )
    spend = None
    if days.spend is not None:  # the amounts of each (customer, period), summed
        with np.errstate(over="ignore"):  # an overflow to inf is reported by _check_spend_sums
            spend = np.add.reduceat(days.spend[keep], np.flatnonzero(first_of_run))
    return _PurchaseDays(customer[first_of_run], periods[first_of_run], spend), customer_ids


def _discrete_columns(by_period, last):
    """(x, t_x, n) of every customer of ``by_period`` observed to period ``last``."""
    n_seen = by_period.count_per_customer()
    born = by_period.tick[by_period.starts]
    latest = by_period.tick[by_period.stops - 1]
    columns = {
        "frequency": (n_seen - 1).astype(float),
        "recency": (latest - born).astype(float),
        "n_periods": (last - born).astype(float),
    }
    return columns, np.ones(len(born), dtype=bool)


# ------------------------------------------------------------------ contractual


def _elapsed_periods(start_days, end_days, period):
    """Whole calendar periods completed between two day numbers, and whether the end
    falls exactly on a period boundary (an anniversary of the start)."""
    if period in ("D", "W"):
        length = 1 if period == "D" else 7
        gap = end_days - start_days
        return gap // length, gap % length == 0
    start = start_days.astype("datetime64[D]")
    end = end_days.astype("datetime64[D]")
    start_month, end_month = start.astype("datetime64[M]"), end.astype("datetime64[M]")
    start_day = (start - start_month.astype("datetime64[D]")).view(np.int64)
    end_day = (end - end_month.astype("datetime64[D]")).view(np.int64)
    months = (end_month.view(np.int64) - start_month.view(np.int64)) - (end_day < start_day)
    per = {"M": 1, "Q": 3, "Y": 12}[period]
    return months // per, (end_day == start_day) & (months % per == 0)


def tenure_summary(
    subscriptions,
    customer_col="customer_id",
    start_col="start",
    end_col="end",
    *,
    period="M",
    observation_end=None,
    datetime_format=None,
    date_unit=None,
    timezone=None,
):
    """Turn subscription records into one (tenure, churned) row per customer.

    Parameters
    ----------
    subscriptions : pandas.DataFrame
        One row per customer: when the subscription started and when it ended
        (missing while it is still active).
    customer_col, start_col, end_col : str
        Column names. Dates are read as by :func:`clvmodels.rfm_summary`.
    period : {"D", "W", "M", "Q", "Y"}, default "M"
        The renewal period. Months, quarters and years are calendar periods
        counted from each start date (anniversaries): a month is complete when the
        start's day of the month comes round again, or, for a start on the 29th to
        31st in a shorter month, on the first day of the month after (weeks are 7
        days).
    observation_end : str or datetime-like, optional
        The day the records were taken (default: the latest start or end date).
        Subscriptions ending after it count as active; those starting after it are
        left out.
    datetime_format, date_unit, timezone : optional
        How dates are read, as in :func:`clvmodels.rfm_summary`.

    Returns
    -------
    pandas.DataFrame
        Indexed by customer id (sorted), columns ``tenure`` (float: for an active
        customer the whole periods completed by ``observation_end``, i.e. renewals
        made; for a churned one the periods begun, at least 1, i.e. the period in
        which she left) and ``churned`` (bool). ``attrs``: ``time_unit`` (the
        period) and ``observation_end``.

    Raises
    ------
    ValueError
        Listing every problem: missing columns, missing customer ids or start
        dates, repeated customer ids, unparseable dates, ends before starts, an
        unknown period, no subscription started by ``observation_end``.

    Notes
    -----
    The shifted-beta-geometric likelihood (Fader & Hardie 2007) needs, per
    customer, whether she churned and in which period (churned), or how many
    renewals she has made so far (active).

    Examples
    --------
    >>> import pandas as pd
    >>> import clvmodels as clv
    >>> records = pd.DataFrame({"customer_id": [1, 2, 3],
    ...                         "start": ["2024-01-15", "2024-01-20", "2024-03-01"],
    ...                         "end": ["2024-04-15", None, "2024-03-10"]})
    >>> clv.tenure_summary(records, period="M", observation_end="2024-12-31")
    ... # doctest: +NORMALIZE_WHITESPACE
                 tenure  churned
    customer_id
    1               3.0     True
    2              11.0    False
    3               1.0     True
    """
    problems = Problems("subscriptions")
    code = _check_period(period, problems)
    require_dataframe(subscriptions, "subscriptions")
    present = require_columns(subscriptions, (customer_col, start_col, end_col), problems)
    if not present:
        problems.raise_if_any()
    ids = subscriptions[customer_col]
    problems.add_if(customer_col, ids.isna().to_numpy(), "are missing customer ids")
    problems.add_if(customer_col, (ids.duplicated(keep="first") & ids.notna()).to_numpy(),
                    "repeat an earlier customer id (one subscription per customer)")
    reading = _DateReading(datetime_format, date_unit, timezone)
    start = datetime_column(subscriptions, start_col, problems, datetime_format, date_unit=date_unit, timezone=timezone)
    has_end = subscriptions[end_col].notna().to_numpy()
    end = np.full(len(subscriptions), np.datetime64("NaT"), dtype="datetime64[ns]")
    if has_end.any():
        parsed = datetime_column(subscriptions.loc[has_end, [end_col]], end_col, problems, datetime_format,
                                 date_unit=date_unit, timezone=timezone)
        if parsed is not None:
            end[has_end] = parsed.astype("datetime64[ns]")
    clock = _Clock.for_unit("D", problems)
    obs = None
    if observation_end is not None:
        obs = _end_tick(observation_end, "observation_end", clock, reading, problems)
    if problems.messages:
        problems.raise_if_any()

    start_day = clock.ticks(start)
    end_day = np.where(has_end, clock.ticks(np.where(has_end, end, start)), start_day)
    problems.add_if(end_col, has_end & (end_day < start_day), "are before the start date")
    if obs is None:
        obs = int(max(start_day.max(), end_day.max()))
    started = start_day <= obs
    if not started.any():
        problems.add(start_col, f"are after observation_end {clock.iso(obs)}", len(start_day))
    problems.raise_if_any()

    churned = has_end & (end_day <= obs)
    stop_day = np.where(churned, end_day, obs)
    completed, on_boundary = _elapsed_periods(start_day, stop_day, code)
    begun = np.maximum(completed + ~on_boundary, 1)
    tenure = np.where(churned, begun, completed).astype(float)
    frame = pd.DataFrame(
        {"tenure": tenure[started], "churned": churned[started]},
        index=pd.Index(ids.to_numpy()[started], name=customer_col),
    ).sort_index()
    frame.attrs.update(time_unit=code, observation_end=clock.iso(obs))
    return frame


def _survivor_rows(counts, name, problems):
    values = np.asarray(counts, dtype=float).reshape(-1)
    if len(values) < 2:
        problems.add(name, "needs at least two counts (the cohort's size and its survivors after one period)")
        return None
    problems.add_if(name, ~np.isfinite(values), "are not finite numbers")
    problems.add_if(name, values < 0, "are negative")
    with np.errstate(invalid="ignore"):
        problems.add_if(name, values[1:] > values[:-1], "are greater than the count a period earlier")
    if np.isfinite(values[0]) and values[0] <= 0:
        problems.add(name, "starts with a cohort size of 0")
    return values


def tenure_from_survivors(counts, *, period=None):
    """Turn cohort survivor counts into a (tenure, churned, weight) table.

    Parameters
    ----------
    counts : sequence of numbers, or mapping of cohort -> sequence
        Customers still active at period 0 (the cohort's size), 1, 2, ... (the
        counts may be scaled, e.g. percentages). A mapping gives several cohorts,
        which may have been observed for different numbers of periods.
    period : str, optional
        Time unit of the periods ("M", "Y", ...), stored in ``attrs["time_unit"]``.

    Returns
    -------
    pandas.DataFrame
        Columns ``cohort`` (with a mapping only), ``tenure`` (float), ``churned``
        (bool) and ``weight``: for t = 1 .. k, the customers lost between periods
        t - 1 and t (churned at tenure t), then the survivors of the last period k
        (active, tenure k). Rows of weight 0 are left out. Fit with
        ``model.fit(table, sample_weight="weight")``.

    Raises
    ------
    ValueError
        For fewer than two counts, negative or non-finite counts, counts that
        rise, or an empty cohort.

    Examples
    --------
    Fader & Hardie (2007), the "regular" customers:

    >>> import clvmodels as clv
    >>> table = clv.tenure_from_survivors([1000, 631, 468, 382, 326, 289, 262, 241])
    >>> table.head(3)
       tenure  churned  weight
    0     1.0     True   369.0
    1     2.0     True   163.0
    2     3.0     True    86.0
    >>> table.iloc[-1].to_dict()
    {'tenure': 7.0, 'churned': False, 'weight': 241.0}
    """
    problems = Problems("survivor counts")
    several = isinstance(counts, Mapping)
    cohorts = dict(counts) if several else {None: counts}
    tables = []
    for cohort, values in cohorts.items():
        name = "counts" if cohort is None else f"counts of cohort {cohort!r}"
        values = _survivor_rows(values, name, problems)
        if values is None or problems.messages:
            continue
        k = len(values) - 1
        table = pd.DataFrame({
            "tenure": np.append(np.arange(1, k + 1), k).astype(float),
            "churned": np.append(np.ones(k, dtype=bool), False),
            "weight": np.append(values[:-1] - values[1:], values[-1]),
        })
        if several:
            table.insert(0, "cohort", cohort)
        tables.append(table)
    problems.raise_if_any()
    table = pd.concat(tables, ignore_index=True)
    table = table[table["weight"] > 0].reset_index(drop=True)
    if period is not None:
        table.attrs["time_unit"] = _check_period_or_raise(period)
    return table


def _check_period_or_raise(period):
    problems = Problems("period")
    code = _check_period(period, problems)
    problems.raise_if_any()
    return code



def censor_tenure(data, periods):
    """The (tenure, churned) table as it stood after each customer's first ``periods``
    periods: the calibration part of a contractual holdout check.

    A customer who churned in period ``periods`` or earlier is unchanged; anyone
    else is active with tenure min(tenure, ``periods``). Fit a contractual model on
    the result, then compare its survival beyond ``periods`` with the observed one
    (:func:`clvmodels.evaluation.observed_survival`,
    :func:`clvmodels.evaluation.survival_comparison`), as Fader & Hardie (2007)
    fit seven years and project the next five.

    Parameters
    ----------
    data : pandas.DataFrame
        ``tenure`` and ``churned``, e.g. from :func:`tenure_summary`; other columns
        (such as weights) are kept.
    periods : int
        Whole periods of tenure to keep, >= 1.

    Returns
    -------
    pandas.DataFrame
        A copy of ``data`` with ``tenure`` and ``churned`` censored; ``attrs``
        adds ``calibration_periods``.

    Examples
    --------
    >>> import pandas as pd
    >>> import clvmodels as clv
    >>> table = pd.DataFrame({"tenure": [2.0, 5.0, 6.0], "churned": [True, True, False]})
    >>> clv.censor_tenure(table, 3)
       tenure  churned
    0     2.0     True
    1     3.0    False
    2     3.0    False
    """
    require_dataframe(data, "data")
    problems = Problems("data")
    require_columns(data, ("tenure", "churned"), problems)
    whole = isinstance(periods, (int, np.integer, float, np.floating)) and not isinstance(periods, bool)
    if not whole or not np.isfinite(periods) or periods < 1 or periods != int(periods):
        problems.add(None, f"periods must be a whole number >= 1, got {periods!r}")
    problems.raise_if_any()
    tenure = pd.to_numeric(data["tenure"]).to_numpy(dtype=float)
    churned = data["churned"].to_numpy().astype(bool)
    kept = churned & (tenure <= periods)
    table = data.copy()
    table["tenure"] = np.minimum(tenure, float(periods))
    table["churned"] = kept
    table.attrs = {**data.attrs, "calibration_periods": int(periods)}
    return table
