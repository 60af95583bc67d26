"""From transaction logs to the RFM tables the models fit.

Definitions (Fader, Hardie and Lee 2005, "'Counting your customers' the easy way:
an alternative to the Pareto/NBD model", Marketing Science 24(2), section 2; the
same as the ``lifetimes`` package and R's BTYD):

- purchases on the same calendar day are one purchase (their amounts summed);
- ``frequency`` (x): the number of purchase days after the first;
- ``recency`` (t_x): time from the first to the last purchase day;
- ``T``: time from the first purchase day to the end of observation;
- ``monetary_value``: mean amount of the repeat purchase days (0 if there are none).

Times are counted in whole days (hours for ``time_unit="H"``) and expressed in
``time_unit``: "W" is days / 7 as in the papers, "M" days / 30.4375, and so on
(see ``clvmodels._units.DAYS_PER_UNIT``).

How it stays fast: every date becomes an integer tick (day or hour number) and
every customer an integer code in sorted-id order. Code, tick and row number
packed into one int64 key need one plain sort to give the distinct purchase
days in customer order with their summed amounts; every per-customer figure is
then a reduction over those days. No Python loop runs over rows or customers.
"""

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import _engines
from ._arrays import compress_rows
from ._units import DAYS_PER_UNIT, check_time_unit, ticks_per_unit
from .exceptions import DataWarning
from ._validation import (
    Problems,
    check_sample_weight,
    datetime_column,
    far_future_rows,
    numeric_column,
    parse_date,
    require_columns,
    require_dataframe,
)

__all__ = ["rfm_summary", "calibration_holdout_split", "compress", "first_purchase_amount", "customer_columns"]

_TICKS_PER_DAY = {"D": 1, "h": 24}

# Keys packed from customer code, tick (and row number) stay below this; when they
# would not, a slower argsort or lexsort takes over.
_MAX_COMBINED_KEY = 2**62

# Integer values spanning fewer than 2 per row plus this many are coded by their
# offset from the smallest, which is several times faster than hashing them.
_DENSE_ID_SLACK = 1_000_000


# --------------------------------------------------------------------------- public


def rfm_summary(
    transactions,
    customer_col="customer_id",
    date_col="date",
    amount_col=None,
    *,
    time_unit="D",
    observation_end=None,
    datetime_format=None,
    date_unit=None,
    timezone=None,
    engine=None,
):
    """Summarise a transaction log into one RFM row per customer.

    Parameters
    ----------
    transactions : pandas.DataFrame, dask.dataframe.DataFrame or path
        One row per purchase record. Several records of a customer on the same
        day count as one purchase, their amounts summed. A Dask DataFrame (or,
        with ``engine="dask"``, a Parquet path) gives a Dask DataFrame; a Parquet
        file, directory or glob with ``engine="duckdb"`` is summarised out of core.
    customer_col : str, default "customer_id"
        Column of customer ids (any hashable, sortable type; no missing values).
    date_col : str, default "date"
        Column of purchase dates: datetimes, or text parsed with
        ``datetime_format``; without it ISO 8601 is read, and other text with the
        format pandas guesses, unless day and month could be swapped (every day
        <= 12, e.g. 01/02/2020), which raises asking for ``datetime_format``.
        Numbers are read as epoch times with ``date_unit``, or as text such as
        19970101 with a ``datetime_format``.
    amount_col : str, optional
        Column of purchase amounts (finite, >= 0). Adds ``monetary_value``.
    time_unit : {"D", "W", "M", "Q", "Y", "H"}, default "D"
        Unit of ``recency`` and ``T``. Times are counted in whole days and
        divided by the unit's length in days ("W" = 7, "M" = 30.4375, "Q" =
        91.3125, "Y" = 365.25). "H" is for sub-daily data: purchases are
        distinct per clock hour instead of per day, and times are in hours.
    observation_end : str or datetime-like, optional
        End of the observation period (inclusive, the day or hour it falls in).
        Defaults to the last purchase (with a ``DataWarning`` naming a handful of
        rows dated far past the rest, e.g. one row in 2030 among 1997 data). Later
        purchases are ignored, and customers whose first purchase is after it are
        not in the result.
    datetime_format : str, optional
        ``strftime`` format of the dates, e.g. "%Y%m%d" or "%d/%m/%Y".
    date_unit : {"s", "ms"}, optional
        The dates are numbers (or text of digits): seconds or milliseconds since
        1970-01-01 UTC, converted to ``timezone`` (UTC if None).
    timezone : str, optional
        Time zone (e.g. "Europe/Paris") in which calendar days are counted for
        time-zone aware dates. None: each date's own wall-clock time, except that
        text with different UTC offsets, and epoch times, are converted to UTC.
    engine : {None, "pandas", "duckdb", "dask"}, optional
        Who does the work: pandas in memory (the default for a DataFrame), DuckDB
        out of core on one machine (``pip install 'clvmodels[duckdb]'``), or Dask
        on a cluster (the default for a Dask DataFrame; ``clvmodels[dask]``). All
        give the same table (``monetary_value`` to the last bits: sums in another
        order); see docs/scaling.md.

    Returns
    -------
    pandas.DataFrame
        Indexed by customer id (index name ``customer_col``, sorted), with float
        columns ``frequency``, ``recency``, ``T`` and, with ``amount_col``,
        ``monetary_value``. ``attrs["time_unit"]`` holds the time unit and
        ``attrs["observation_end"]`` the end date (ISO format).

    Raises
    ------
    ValueError
        Listing every problem of the input at once: missing columns, no rows,
        missing customer ids, missing or unparseable dates, missing, infinite or
        negative amounts, an unknown time unit, an ``observation_end`` before the
        first purchase.

    Notes
    -----
    Fader, Hardie and Lee (2005), section 2: a customer's history is
    (x, t_x, T): x = ``frequency`` repeat purchases, the last at t_x =
    ``recency`` after the first purchase, observed for T after the first
    purchase. ``monetary_value`` is the Gamma-Gamma model's average spend per
    repeat purchase (Fader, Hardie and Lee 2005b, "RFM and CLV"). The results
    equal ``lifetimes.utils.summary_data_from_transaction_data`` with
    ``freq="D"`` and ``freq_multiplier`` = days per unit.

    Examples
    --------
    >>> import clvmodels as clv
    >>> tx = clv.datasets.load_cdnow(sample=True)
    >>> rfm = clv.rfm_summary(tx, "customer_id", "date", "amount",
    ...                       time_unit="W", observation_end="1997-09-30")
    >>> rfm.head(3).round(2)  # doctest: +NORMALIZE_WHITESPACE
                 frequency  recency      T  monetary_value
    customer_id
    1                  2.0    30.43  38.86           22.34
    2                  1.0     1.71  38.86           11.77
    3                  0.0     0.00  38.86            0.00
    >>> rfm.attrs["time_unit"], len(rfm), int((rfm["frequency"] == 0).sum())
    ('W', 2357, 1411)
    """
    engine = _engines.engine_for(transactions, engine)
    if engine != "pandas":
        return _engines.rfm_summary(
            rfm_summary, transactions, engine, customer_col, date_col, amount_col,
            time_unit=time_unit, observation_end=observation_end, datetime_format=datetime_format,
            date_unit=date_unit, timezone=timezone,
        )
    problems = Problems("transactions")
    clock = _Clock.for_unit(time_unit, problems)
    reading = _DateReading(datetime_format, date_unit, timezone)
    log = _read_transactions(transactions, customer_col, date_col, amount_col, clock, reading, problems)
    end = _observation_end_tick(observation_end, log, clock, reading, problems)
    if log is not None and end is not None:
        _require_purchases_by(end, "observation_end", log, date_col, clock, problems)
    problems.raise_if_any()

    days, customer_ids = _purchase_days(log), log.customer_ids
    del log  # free the per-row arrays before the per-customer work
    _check_spend_sums(days, amount_col)
    bought, columns = _summarise(days, end, clock)
    frame = _rfm_frame(customer_ids, days, bought, columns)
    frame.attrs.update(time_unit=clock.time_unit, observation_end=clock.iso(end))
    return frame


def calibration_holdout_split(
    transactions,
    customer_col="customer_id",
    date_col="date",
    amount_col=None,
    *,
    calibration_end,
    observation_end=None,
    time_unit="D",
    datetime_format=None,
    date_unit=None,
    timezone=None,
    engine=None,
):
    """Summarise a transaction log over a calibration and a holdout period.

    The calibration period runs from each customer's first purchase to
    ``calibration_end``, the holdout period from the day after
    ``calibration_end`` to ``observation_end`` (both inclusive).

    Parameters
    ----------
    transactions, customer_col, date_col, amount_col, time_unit, datetime_format, date_unit, timezone, engine
        As in :func:`rfm_summary` (a Dask DataFrame in, a Dask DataFrame out).
    calibration_end : str or datetime-like
        Last day of the calibration period.
    observation_end : str or datetime-like, optional
        Last day of the holdout period; defaults to the last purchase. Must be
        after ``calibration_end``.

    Returns
    -------
    pandas.DataFrame
        Indexed by customer id (sorted), one row per customer whose first
        purchase is on or before ``calibration_end`` (later customers are not
        part of the calibration cohort and are left out). Float columns:

        - ``frequency``, ``recency``, ``T`` (and ``monetary_value``) over the
          calibration period, as :func:`rfm_summary` with
          ``observation_end=calibration_end`` gives them, so a model can fit the
          table directly;
        - ``frequency_holdout``: the number of purchase days in the holdout period;
        - ``monetary_value_holdout`` (with ``amount_col``): mean amount per
          holdout purchase day (same-day records summed), 0 if there are none;
        - ``duration_holdout``: the length of the holdout period.

        ``attrs`` holds ``time_unit``, ``calibration_end`` and
        ``observation_end`` (ISO format).

    Raises
    ------
    ValueError
        For the problems :func:`rfm_summary` reports, and for a
        ``calibration_end`` before the first purchase or not before
        ``observation_end``.

    Notes
    -----
    The frequency, recency, T and holdout frequency equal the ``_cal`` and
    ``_holdout`` columns of ``lifetimes.utils.calibration_and_holdout_data``
    with ``freq="D"`` and ``freq_multiplier`` = days per unit. Its
    ``monetary_value_holdout`` differs where a customer has several records on
    one holdout day: lifetimes averages the records, we average the purchase
    days, as the calibration ``monetary_value`` does. And lifetimes cuts the
    calibration period at the ``calibration_end`` timestamp, so a purchase
    later that day lands in its holdout; here, as in its day arithmetic, the
    whole day is calibration.

    Examples
    --------
    The split of Fader, Hardie and Lee (2005): 39 weeks of calibration, 39 of
    holdout, in which the 2,357 sample customers made 1,882 repeat purchases.

    >>> import clvmodels as clv
    >>> tx = clv.datasets.load_cdnow(sample=True)
    >>> split = clv.calibration_holdout_split(
    ...     tx, "customer_id", "date", "amount", time_unit="W",
    ...     calibration_end="1997-09-30", observation_end="1998-06-30")
    >>> split.loc[1].round(2).to_dict()  # doctest: +NORMALIZE_WHITESPACE
    {'frequency': 2.0, 'recency': 30.43, 'T': 38.86, 'monetary_value': 22.34,
     'frequency_holdout': 1.0, 'monetary_value_holdout': 26.48, 'duration_holdout': 39.0}
    >>> len(split), int(split["frequency_holdout"].sum())
    (2357, 1882)
    """
    engine = _engines.engine_for(transactions, engine)
    if engine != "pandas":
        return _engines.calibration_holdout_split(
            calibration_holdout_split, transactions, engine, customer_col, date_col, amount_col,
            calibration_end=calibration_end, observation_end=observation_end, time_unit=time_unit,
            datetime_format=datetime_format, date_unit=date_unit, timezone=timezone,
        )
    problems = Problems("transactions")
    clock = _Clock.for_unit(time_unit, problems)
    reading = _DateReading(datetime_format, date_unit, timezone)
    log = _read_transactions(transactions, customer_col, date_col, amount_col, clock, reading, problems)
    calibration = _end_tick(calibration_end, "calibration_end", clock, reading, problems)
    end = _observation_end_tick(observation_end, log, clock, reading, problems)
    if log is not None and calibration is not None:
        _require_purchases_by(calibration, "calibration_end", log, date_col, clock, problems)
    if calibration is not None and end is not None and calibration >= end:
        problems.add(
            date_col,
            f"calibration_end {clock.iso(calibration)} is not before observation_end "
            f"{clock.iso(end)}, so there is no holdout period",
        )
    problems.raise_if_any()

    days, customer_ids = _purchase_days(log), log.customer_ids
    del log  # free the per-row arrays before the per-customer work
    _check_spend_sums(days, amount_col)
    bought, columns = _summarise(days, calibration, clock)
    columns.update(_holdout_columns(days, calibration, end))
    columns["duration_holdout"] = np.full(len(bought), (end - calibration) / clock.ticks_per_unit)
    frame = _rfm_frame(customer_ids, days, bought, columns)
    frame.attrs.update(
        time_unit=clock.time_unit,
        calibration_end=clock.iso(calibration),
        observation_end=clock.iso(end),
    )
    return frame


def compress(data, columns=("frequency", "recency", "T"), sample_weight=None):
    """Reduce a table to its distinct rows, each with a weight.

    The BG/NBD likelihood depends on a customer only through (frequency,
    recency, T), and Gamma-Gamma's through (frequency, monetary_value), so a
    fit on the distinct rows weighted by their counts equals the fit on all
    customers, and is much faster when customers share histories.

    Parameters
    ----------
    data : pandas.DataFrame
        Typically an RFM table from :func:`rfm_summary`.
    columns : sequence of str, default ("frequency", "recency", "T")
        Numeric columns whose distinct value combinations are kept.
    sample_weight : array-like or str, optional
        One weight per row of ``data`` (or the name of its column); the output
        weight of a distinct row is the sum of its rows' weights. By default each
        row weighs 1, so the weight is the number of rows.

    Returns
    -------
    pandas.DataFrame
        The distinct rows of ``data[columns]``, sorted by ``columns``, with a
        ``weight`` column (int64 counts, or float64 sums of ``sample_weight``)
        and a fresh ``RangeIndex``. ``data.attrs`` (e.g. the time unit) is kept.

    Examples
    --------
    >>> import clvmodels as clv
    >>> tx = clv.datasets.load_cdnow(sample=True)
    >>> rfm = clv.rfm_summary(tx, time_unit="W", observation_end="1997-09-30")
    >>> small = clv.compress(rfm)
    >>> len(rfm), len(small), int(small["weight"].sum())
    (2357, 1016, 2357)
    >>> small.attrs["time_unit"]
    'W'
    """
    require_dataframe(data, "data")
    columns = [columns] if isinstance(columns, str) else list(columns)
    problems = Problems("data")
    values = [numeric_column(data, column, problems) for column in columns]
    if "weight" in columns:
        problems.add("weight", "is one of the columns to compress, but the output adds its own 'weight'")
    problems.raise_if_any()
    weights = None if sample_weight is None else check_sample_weight(sample_weight, data)

    unique, counts = compress_rows(dict(zip(columns, values)), weights, _ticks_per_unit(columns, data.attrs))
    table = pd.DataFrame(unique).astype(data[columns].dtypes.to_dict())
    table["weight"] = counts
    table = table.sort_values(columns, ignore_index=True, kind="stable")
    table.attrs = dict(data.attrs)
    return table


def _ticks_per_unit(columns, attrs):
    """Resolution of the RFM columns among ``columns``, so they are coded by arithmetic."""
    ticks = {"frequency": 1.0}
    per_unit = ticks_per_unit(attrs.get("time_unit"))
    if per_unit is not None:
        ticks.update(recency=per_unit, T=per_unit)
    return {name: value for name, value in ticks.items() if name in columns}


# ------------------------------------------------------------------ reading input


@dataclass(frozen=True)
class _Clock:
    """How dates become integer ticks, and ticks become times in ``time_unit``."""

    time_unit: str
    resolution: str  # numpy datetime64 unit of one tick: "D", or "h" for time_unit "H"
    ticks_per_unit: float

    @classmethod
    def for_unit(cls, time_unit, problems):
        try:
            unit = check_time_unit(time_unit)
        except ValueError as error:
            problems.add(None, str(error))
            unit = "D"  # carry on, so that the other problems are reported too
        resolution = "h" if unit == "H" else "D"
        return cls(unit, resolution, DAYS_PER_UNIT[unit] * _TICKS_PER_DAY[resolution])

    def ticks(self, dates):
        return dates.astype(f"datetime64[{self.resolution}]").view(np.int64)

    def iso(self, tick):
        stamp = pd.Timestamp(np.datetime64(int(tick), self.resolution))
        return stamp.date().isoformat() if self.resolution == "D" else stamp.isoformat()


class _CustomerIds:
    """The way from customer codes back to customer ids.

    Compact integer ids are their own codes (less the smallest id), which needs
    no hashing; other ids are factorised in sorted order. Either way, sorting by
    code sorts by id.
    """

    def __init__(self, name, dtype, n_codes, low=None, distinct=None):
        self.name = name
        self.dtype = dtype
        self.n_codes = n_codes
        self.low = low
        self.distinct = distinct

    @classmethod
    def encode(cls, ids):
        """Return the int64 code of each of ``ids`` (-1 where missing) and the way back."""
        id_range = _compact_integer_range(ids)
        if id_range is None:
            codes, distinct = pd.factorize(ids, sort=True)
            return codes.astype(np.int64, copy=False), cls(ids.name, ids.dtype, len(distinct), distinct=distinct)
        low, high = id_range
        array = np.asarray(ids)
        if array.dtype.itemsize < 8:  # int8 ids -100 and 100 differ by 200: subtract in 64 bits
            array = array.astype(np.int64)
        codes = (array - array.dtype.type(low)).astype(np.int64, copy=False)
        return codes, cls(ids.name, ids.dtype, high - low + 1, low=low)

    def index(self, codes):
        """The customer ids of ``codes``, as an Index named after the id column."""
        if self.distinct is None:
            wide = np.uint64 if self.dtype.kind == "u" else np.int64
            ids = (codes.astype(wide) + wide(self.low)).astype(self.dtype)
        else:
            ids = self.distinct.take(codes)
        return pd.Index(ids, name=self.name)


def first_purchase_amount(transactions, customer_col="customer_id", date_col="date", amount_col="amount", *,
                          datetime_format=None, date_unit=None, timezone=None):
    """The amount of each customer's first purchase, e.g. as a covariate.

    The first purchase is the customer's first purchase day, its records' amounts
    summed, as :func:`rfm_summary` counts purchases. It is known from the day a
    customer is acquired, so it can serve as a time-invariant covariate (Fader &
    Hardie 2007, "Incorporating time-invariant covariates into the Pareto/NBD and
    BG/NBD models", use its logarithm for CDNOW); map it onto the transactions to
    use it in :func:`clvmodels.report.validation_report` or the command line.

    Parameters
    ----------
    transactions : pandas.DataFrame
    customer_col, date_col, amount_col, datetime_format, date_unit, timezone
        As in :func:`rfm_summary` (``amount_col`` is required).

    Returns
    -------
    pandas.Series
        Indexed by customer id (sorted), named ``first_purchase_amount``.

    Examples
    --------
    >>> import numpy as np
    >>> import clvmodels as clv
    >>> tx = clv.datasets.load_cdnow(sample=True)
    >>> first = clv.first_purchase_amount(tx, amount_col="amount")
    >>> tx["log_first_amount"] = np.log1p(tx["customer_id"].map(first))
    >>> round(float(first.iloc[0]), 2)
    29.33
    """
    if amount_col is None:
        raise ValueError("first_purchase_amount needs amount_col, the column of purchase amounts")
    problems = Problems("transactions")
    clock = _Clock.for_unit("D", problems)
    log = _read_transactions(transactions, customer_col, date_col, amount_col, clock,
                             _DateReading(datetime_format, date_unit, timezone), problems)
    problems.raise_if_any()
    days = _purchase_days(log)
    _check_spend_sums(days, amount_col)
    first = days.spend[days.starts]
    index = log.customer_ids.index(days.customer[days.starts])
    return pd.Series(first, index=index, name="first_purchase_amount")


def customer_columns(transactions, customer_col, columns):
    """Columns of a transaction log that describe the customer (the same value in all
    of a customer's records, e.g. acquisition channel or first order's amount), one
    row per customer: how covariates of a model come from a transaction file.

    Returns
    -------
    pandas.DataFrame
        Indexed by customer id (name ``customer_col``), with ``columns``.

    Raises
    ------
    ValueError
        Naming each column that varies within a customer and in how many customers.
    """
    require_dataframe(transactions, "transactions")
    columns = list(dict.fromkeys(columns))
    problems = Problems("transactions")
    require_columns(transactions, [customer_col, *columns], problems)
    problems.raise_if_any()
    grouped = transactions.groupby(customer_col, sort=True)[columns]
    varying = (grouped.nunique(dropna=False) > 1).sum()
    found = [f"column {column!r} varies within {count:,} customers" for column, count in varying.items() if count]
    if found:
        raise ValueError(f"invalid transactions: {'; '.join(found)}; a covariate must be constant per customer "
                         "(e.g. the acquisition channel or the first order's value)")
    return grouped.first()


def _compact_integer_range(values):
    """(smallest, largest) if ``values`` are integers spanning few enough values to serve as codes, else None."""
    dtype = values.dtype
    if not (isinstance(dtype, np.dtype) and dtype.kind in "iu"):
        return None
    array = np.asarray(values)
    low, high = int(array.min()), int(array.max())
    return (low, high) if high - low < 2 * len(array) + _DENSE_ID_SLACK else None


@dataclass(frozen=True)
class _TransactionLog:
    """The validated input, one entry per row."""

    customer_ids: _CustomerIds
    codes: np.ndarray  # int64 customer code of each row
    ticks: np.ndarray  # int64 day (or hour) number of each row
    amounts: np.ndarray  # float amount of each row, or None
    first_tick: int
    last_tick: int

    @property
    def n_rows(self):
        return len(self.ticks)


@dataclass(frozen=True)
class _DateReading:
    """How the caller asked dates to be read (see ``_validation.datetime_column``)."""

    datetime_format: object = None
    date_unit: object = None
    timezone: object = None


def _read_transactions(transactions, customer_col, date_col, amount_col, clock, reading, problems):
    """Check the transactions, recording every problem; return the log, or None if there were problems."""
    require_dataframe(transactions, "transactions")
    require_columns(transactions, (customer_col, date_col), problems)
    present = _unique_columns(transactions, (customer_col, date_col, amount_col), problems)
    if customer_col in present and _one_type_of_ids(transactions[customer_col], customer_col, problems):
        codes, customer_ids = _CustomerIds.encode(transactions[customer_col])
        problems.add_if(customer_col, codes < 0, "are missing customer ids")
    if date_col in present:
        dates = datetime_column(
            transactions, date_col, problems, reading.datetime_format,
            date_unit=reading.date_unit, timezone=reading.timezone,
        )
    amounts = None
    if amount_col is not None and (amount_col in present or amount_col not in transactions.columns):
        amounts = numeric_column(transactions, amount_col, problems)
        if amounts is not None:
            problems.add_if(amount_col, amounts < 0, "are negative")
    if problems.messages:
        return None
    ticks = clock.ticks(dates)
    return _TransactionLog(customer_ids, codes, ticks, amounts, int(ticks.min()), int(ticks.max()))


def _unique_columns(transactions, columns, problems):
    """The ``columns`` present exactly once; a name that appears several times is a problem."""
    names = transactions.columns
    present = set()
    for column in dict.fromkeys(c for c in columns if c is not None):
        count = int(np.count_nonzero(names == column))
        if count > 1:
            problems.add(column, f"appears {count} times: column names must be unique")
        elif count == 1:
            present.add(column)
    return present


def _one_type_of_ids(ids, column, problems):
    """False (recording it) if the ids mix types that would split one customer in two, such
    as the number 1 and the text "1"; numbers of different types (1 and 1.0) are one id."""
    if ids.dtype != object:
        return True
    kind = pd.api.types.infer_dtype(ids, skipna=True)
    if kind not in ("mixed", "mixed-integer"):
        return True
    types = pd.Series(ids.dropna().map(lambda v: type(v).__name__))
    counts = types.value_counts()
    shown = ", ".join(f"{name} in {count:,}" for name, count in counts.items())
    problems.add(
        column,
        f"are of another type than the other ids (ids of mixed types: {shown} rows); the number 1 and the "
        "text '1' would be two customers: convert the column to one type (e.g. .astype(str))",
        int(counts.iloc[1:].sum()),
    )
    return False


def _check_spend_sums(days, amount_col):
    """Amounts summed per purchase day (and per customer) must stay finite floats."""
    if days.spend is None:
        return
    with np.errstate(over="ignore"):
        totals = np.add.reduceat(days.spend, days.starts) if len(days.spend) else days.spend
    overflow = np.count_nonzero(~np.isfinite(days.spend)) + np.count_nonzero(~np.isfinite(totals))
    if overflow:
        problems = Problems("transactions")
        problems.add(
            amount_col,
            f"amounts sum to more than the largest float ({np.finfo(float).max:.3g}): {overflow:,} daily or "
            "per-customer totals overflow; rescale the amounts (e.g. to thousands)",
        )
        problems.raise_if_any()


def _observation_end_tick(value, log, clock, reading, problems):
    """The tick of ``observation_end``; the last purchase's if it is None; None if unknown."""
    if value is None:
        if log is None:
            return None
        _warn_far_future(log, clock)
        return log.last_tick
    return _end_tick(value, "observation_end", clock, reading, problems)


def _warn_far_future(log, clock):
    """Warn when the default observation end is set by a handful of rows far past the rest."""
    rows = far_future_rows(log.ticks, 24 if clock.resolution == "h" else 1, bounds=(log.first_tick, log.last_tick))
    if len(rows) == 0:
        return
    shown = ", ".join(
        f"customer {customer!r} on {clock.iso(tick)}"
        for customer, tick in zip(log.customer_ids.index(log.codes[rows[:5]]), log.ticks[rows[:5]])
    )
    more = f" and {len(rows) - 5:,} more" if len(rows) > 5 else ""
    rest = np.delete(log.ticks, rows).max()
    word = "row is" if len(rows) == 1 else "rows are"
    warnings.warn(
        f"{len(rows):,} {word} dated far past the rest of the data (which ends on {clock.iso(rest)}): "
        f"{shown}{more}; observation_end defaults to the last purchase, {clock.iso(log.last_tick)}: "
        "check these dates, or pass observation_end",
        DataWarning,
        stacklevel=4,
    )


def _end_tick(value, name, clock, reading, problems):
    """The tick (day or hour) ``value`` falls in, or None (recorded) if it is not a date."""
    stamp = parse_date(value, name, problems, reading.datetime_format, reading.timezone)
    if stamp is None:
        return None
    return int(clock.ticks(stamp.to_datetime64()))


def _require_purchases_by(end, name, log, date_col, clock, problems):
    if end < log.first_tick:
        problems.add(
            date_col,
            f"are after {name} {clock.iso(end)} (the first purchase is on {clock.iso(log.first_tick)})",
            log.n_rows,
        )


# ------------------------------------------------------------------ computing


class _PurchaseDays:
    """The distinct (customer code, tick) pairs, sorted by customer, then tick, with their summed amounts.

    Days ``starts[i]:stops[i]`` are the i-th customer's, in time order, so the
    days up to any date are a prefix of that run.
    """

    def __init__(self, customer, tick, spend):
        self.customer = customer
        self.tick = tick
        self.spend = spend  # None without amounts
        self.starts = np.flatnonzero(_starts_of_runs(customer))
        self.stops = np.append(self.starts[1:], len(customer))

    def count_per_customer(self, mask=None):
        """How many of each customer's days ``mask`` selects (all if None)."""
        if mask is None:
            return self.stops - self.starts
        running = np.zeros(len(mask) + 1, dtype=np.int64)
        np.cumsum(mask, out=running[1:])  # integer running sums: exact
        return running[self.stops] - running[self.starts]

    def spend_per_customer(self, mask=None, skip_first=False):
        """Each customer's spend on the days ``mask`` selects (all if None), without the first day if asked."""
        spend = self.spend.copy() if mask is None else np.where(mask, self.spend, 0.0)
        if skip_first:
            spend[self.starts] = 0.0
        return np.add.reduceat(spend, self.starts)


def _purchase_days(log):
    """Sort the rows by (customer, tick) once and collapse each run of equal pairs into a purchase day."""
    origin = log.first_tick
    tick_bits = (log.last_tick - origin).bit_length()
    if log.customer_ids.n_codes << tick_bits >= _MAX_COMBINED_KEY:
        return _purchase_days_by_lexsort(log)
    key = log.codes << tick_bits
    key += log.ticks
    key -= origin
    if log.amounts is None:
        key.sort()
        order = None
    else:
        order = _sort_keeping_order(key, log.customer_ids.n_codes << tick_bits)
    starts = np.flatnonzero(_starts_of_runs(key))
    key = key[starts]
    customer = key >> tick_bits
    tick = (key & ((1 << tick_bits) - 1)) + origin
    return _PurchaseDays(customer, tick, _spend_per_day(log, order, starts))


def _sort_keeping_order(key, key_bound):
    """Sort ``key`` (values below ``key_bound``) in place; return the row order that sorts it.

    When the row number fits in the bits the keys leave free, one plain sort of
    ``key << bits | row`` does it, much faster than ``argsort``.
    """
    row_bits = max(len(key) - 1, 1).bit_length()
    if key_bound << row_bits >= _MAX_COMBINED_KEY:
        order = np.argsort(key, kind="stable")
        key[:] = key[order]
        return order
    key <<= row_bits
    key |= np.arange(len(key))
    key.sort()
    order = key & ((1 << row_bits) - 1)
    key >>= row_bits
    return order


def _purchase_days_by_lexsort(log):
    order = np.lexsort((log.ticks, log.codes))
    customer, tick = log.codes[order], log.ticks[order]
    starts = np.flatnonzero(_starts_of_runs(customer, tick))
    return _PurchaseDays(customer[starts], tick[starts], _spend_per_day(log, order, starts))


def _spend_per_day(log, order, starts):
    if log.amounts is None:
        return None
    with np.errstate(over="ignore"):  # an overflow to inf is reported by _check_spend_sums
        return np.add.reduceat(log.amounts[order], starts)


def _starts_of_runs(*sorted_arrays):
    """Mask of the elements that differ from their predecessor in any of the (equally long) arrays."""
    starts = np.empty(len(sorted_arrays[0]), dtype=bool)
    starts[:1] = True
    starts[1:] = False
    for values in sorted_arrays:
        starts[1:] |= values[1:] != values[:-1]
    return starts


def _summarise(days, end, clock):
    """RFM columns of every customer up to ``end``, and which customers had bought by then."""
    in_period = None if end >= days.tick.max() else days.tick <= end
    n_days = days.count_per_customer(in_period)
    bought = n_days > 0
    first = days.tick[days.starts]
    last = days.tick[days.starts + np.maximum(n_days, 1) - 1]
    frequency = (n_days - 1).astype(float)
    columns = {
        "frequency": frequency,
        "recency": (last - first) / clock.ticks_per_unit,
        "T": (end - first) / clock.ticks_per_unit,
    }
    if days.spend is not None:
        repeat_spend = days.spend_per_customer(in_period, skip_first=True)
        columns["monetary_value"] = _mean_or_zero(repeat_spend, frequency)
    return bought, columns


def _holdout_columns(days, calibration_end, end):
    in_holdout = (days.tick > calibration_end) & (days.tick <= end)
    n_days = days.count_per_customer(in_holdout)
    columns = {"frequency_holdout": n_days.astype(float)}
    if days.spend is not None:
        columns["monetary_value_holdout"] = _mean_or_zero(days.spend_per_customer(in_holdout), n_days)
    return columns


def _rfm_frame(customer_ids, days, bought, columns):
    """The columns as a DataFrame indexed by customer id, keeping the customers who had ``bought``."""
    keep = np.flatnonzero(bought)
    customers = days.customer[days.starts[keep]]
    # One float block filled in place: pandas takes it as it is, without consolidating copies.
    block = np.empty((len(columns), len(keep)))
    for row, values in zip(block, columns.values()):
        np.take(values, keep, out=row, mode="clip")  # "clip": the default mode would buffer ``out``
    return pd.DataFrame(block.T, index=customer_ids.index(customers), columns=list(columns), copy=False)


def _mean_or_zero(total, count):
    return np.divide(total, count, out=np.zeros(len(total)), where=count > 0)
