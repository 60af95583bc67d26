"""Transaction logs on a Dask cluster: summaries, fitting tables and exact order statistics.

The pandas functions stay the definition; this module only moves data so that they
can run where it is:

1. **Check** (one pass, no shuffle): each partition's ids, dates and amounts are
   checked as the pandas path checks them; the client receives a few numbers per
   partition (problem counts, first and last purchase tick) and raises one
   ``ValueError`` with the summed row counts.
2. **Purchase days** (map): each partition turns dates into integer day (or hour)
   ticks, drops purchases after the end of observation and sums the amounts of
   each (customer, tick) pair it holds: at most one row per purchase day.
3. **Shuffle by customer** (``set_index``): every purchase day of a customer lands
   in one partition, the partitions sorted by customer id with known divisions,
   one per ``ROWS_PER_PARTITION`` transactions of the log (whatever its input
   partitions), cut at quantiles of a sample of customer ids.
4. **Summary** (map): the pandas :func:`clvmodels.rfm_summary` (or
   :func:`clvmodels.calibration_holdout_split`) runs on each partition's purchase
   days with the global observation end, so every figure is computed by the same
   code as on one machine.

Fitting needs only the distinct rows of the model's columns with their counts
(:func:`distinct_rows_with_weights`, a group-by whose result is small); the model's
``fit`` does the rest locally. Dask is imported only when a Dask collection or
``engine="dask"`` is used.
"""

import re

import numpy as np
import pandas as pd

from ._units import check_time_unit
from ._validation import Problems, datetime_column, numeric_column, parse_date, require_columns

INSTALL_HINT = "pip install 'clvmodels[dask]'"

# Names of the columns handed to the pandas functions per partition; they cannot
# clash with the customer column, which is the index by then.
_DATE = "__clvmodels_date"
_AMOUNT = "__clvmodels_amount"
_TICK = "__clvmodels_tick"


def is_dask_collection(data):
    """Whether ``data`` is a Dask DataFrame or Series (without importing Dask)."""
    return type(data).__module__.split(".")[0] == "dask"


def require_dask(what="this"):
    """Import and return ``dask.dataframe``, or raise ImportError naming the extra."""
    try:
        import dask.dataframe as dd
    except ImportError:
        raise ImportError(f"{what} needs Dask and distributed: {INSTALL_HINT}") from None
    return dd


def read_parquet(path, columns):
    """A Dask DataFrame of the Parquet dataset at ``path`` (a directory, a file or a glob)."""
    dd = require_dask("engine='dask'")
    return dd.read_parquet(str(path), columns=list(dict.fromkeys(columns)))


def attrs_of(data):
    """The ``attrs`` a Dask DataFrame carries on its meta (time unit, ends), else {}."""
    meta = getattr(data, "_meta", None)
    return dict(getattr(meta, "attrs", {}) or {})


# ----------------------------------------------------------------------------- checks
class _CountedProblems(Problems):
    """Problems kept as (column, problem, rows) so that partitions' counts can be summed."""

    def __init__(self):
        super().__init__("transactions")
        self.found = []

    def add(self, column, problem, n_rows=None):
        self.found.append((column, problem, None if n_rows is None else int(n_rows)))
        super().add(column, problem, n_rows)


def _resolution(time_unit):
    return "h" if time_unit == "H" else "D"


def _ticks(dates, resolution):
    return dates.astype(f"datetime64[{resolution}]").view(np.int64)


def _iso(tick, resolution):
    stamp = pd.Timestamp(np.datetime64(int(tick), resolution))
    return stamp.date().isoformat() if resolution == "D" else stamp.isoformat()


def _read_partition(frame, customer_col, date_col, amount_col, resolution, reading, problems):
    """Ticks (int64) and amounts (float or None) of a partition, recording its problems."""
    problems.add_if(customer_col, frame[customer_col].isna().to_numpy(), "are missing customer ids")
    dates = datetime_column(frame, date_col, problems, **reading) if len(frame) else None
    amounts = None
    if amount_col is not None:
        amounts = numeric_column(frame, amount_col, problems)
        if amounts is not None:
            problems.add_if(amount_col, amounts < 0, "are negative")
    ticks = None
    if dates is not None:
        ticks = np.where(np.isnat(dates), np.iinfo(np.int64).max, _ticks(dates, resolution))
    return ticks, amounts


# Customer ids the partitions contribute, in all, to the sample the shuffle's boundaries
# come from (at least 16 and at most 256 per partition).
_ID_SAMPLE = 2_000_000


def _id_sample_size(npartitions):
    return max(16, min(256, _ID_SAMPLE // max(npartitions, 1)))


def _check_partition(frame, customer_col, date_col, amount_col, resolution, reading, id_sample=256):
    problems = _CountedProblems()
    ticks, _ = _read_partition(frame, customer_col, date_col, amount_col, resolution, reading, problems)
    valid = ticks[ticks != np.iinfo(np.int64).max] if ticks is not None else np.zeros(0, np.int64)
    ids = frame[customer_col].dropna().to_numpy()
    sample = ids[np.linspace(0, len(ids) - 1, min(len(ids), id_sample)).astype(int)] if len(ids) else ids
    return {
        "rows": len(frame),
        "problems": problems.found,
        "first": int(valid.min()) if len(valid) else None,
        "last": int(valid.max()) if len(valid) else None,
        "ids": [sample] + ([ids.min(), ids.max()] if len(ids) else []),
    }


def _merge_checks(a, b):
    ends = [v for v in (a["first"], b["first"]) if v is not None]
    lasts = [v for v in (a["last"], b["last"]) if v is not None]
    return {
        "rows": a["rows"] + b["rows"],
        "problems": a["problems"] + b["problems"],
        "first": min(ends) if ends else None,
        "last": max(lasts) if lasts else None,
        "ids": a["ids"] + b["ids"],
    }


def _divisions(pieces, npartitions):
    """Boundaries of ``npartitions`` customer ranges from the partitions' id samples, the
    smallest and largest id included, so the shuffle needs no pass of its own to find them."""
    ids = np.concatenate([np.asarray(piece, dtype=object).ravel() for piece in pieces])
    if not len(ids):
        return None
    ids = np.sort(pd.unique(ids))
    return tuple(pd.unique(ids[np.linspace(0, len(ids) - 1, npartitions + 1).astype(int)]))


def _tree_reduce(tasks, combine):
    import dask

    merge = dask.delayed(combine, pure=True)
    while len(tasks) > 1:
        tasks = [merge(*tasks[i:i + 2]) if i + 1 < len(tasks) else tasks[i] for i in range(0, len(tasks), 2)]
    return tasks[0]


def _summed_problems(found):
    """One Problems with the row counts of equal problems summed over partitions."""
    totals = {}
    for column, problem, n_rows in found:
        key = (column, re.sub(r" \(the first is .*\)$", "", problem))
        text, total = totals.get(key, (problem, 0 if n_rows is not None else None))
        totals[key] = (text, None if total is None or n_rows is None else total + n_rows)
    problems = Problems("transactions")
    for (column, _), (text, total) in totals.items():
        problems.add(column, text, total)
    return problems


def check_log(data, customer_col, date_col, amount_col, time_unit, reading):
    """Check a Dask transaction log in one pass; return (rows, first tick, last tick, divisions),
    the divisions being boundaries of customer-id ranges for the shuffle.

    Raises
    ------
    ValueError
        Listing every problem with its row count summed over the partitions.
    """
    import dask

    needed = [customer_col, date_col] + ([amount_col] if amount_col is not None else [])
    problems = Problems("transactions")
    require_columns(data._meta, list(dict.fromkeys(needed)), problems)
    problems.raise_if_any()
    resolution = _resolution(time_unit)
    check = dask.delayed(_check_partition, pure=True)
    tasks = [
        check(part, customer_col, date_col, amount_col, resolution, reading, _id_sample_size(data.npartitions))
        for part in data[list(dict.fromkeys(needed))].to_delayed()
    ]
    (summary,) = dask.compute(_tree_reduce(tasks, _merge_checks))
    if summary["rows"] == 0:
        raise ValueError("invalid transactions: the table is empty (0 rows)")
    _summed_problems(summary["problems"]).raise_if_any()
    divisions = _divisions(summary["ids"], output_partitions(summary["rows"]))
    return summary["rows"], summary["first"], summary["last"], divisions


# Transactions per partition of the summary: its partitions are cut by size, not by
# the input's layout. Scoring a partition costs a fixed part per distinct history
# (the BG/NBD expectation of each distinct frequency and age, about 2 s) besides the
# part per customer, so many small partitions would pay it many times; 2M transactions
# (at most 2M purchase days, ~400k customers) keep a partition's summary under ~300 MB.
ROWS_PER_PARTITION = 2_000_000


def output_partitions(rows):
    """Partitions of the summary of a log of ``rows`` transactions."""
    return max(1, -(-int(rows) // ROWS_PER_PARTITION))


# ------------------------------------------------------------------ purchase days
def _days_partition(frame, customer_col, date_col, amount_col, resolution, reading, end):
    """The partition's distinct (customer, tick) pairs up to ``end``, amounts summed."""
    problems = _CountedProblems()
    ticks, amounts = _read_partition(frame, customer_col, date_col, amount_col, resolution, reading, problems)
    keep = ticks <= end
    days = pd.DataFrame({customer_col: frame[customer_col].to_numpy()[keep], _TICK: ticks[keep]})
    if amounts is None:
        return days.drop_duplicates(ignore_index=True)
    days[_AMOUNT] = amounts[keep]
    return days.groupby([customer_col, _TICK], sort=False, as_index=False)[_AMOUNT].sum()


def _purchase_days(data, customer_col, date_col, amount_col, resolution, reading, end, divisions):
    """Purchase days of every customer, one partition per range of customer ids (sorted)."""
    columns = list(dict.fromkeys([customer_col, date_col] + ([amount_col] if amount_col else [])))
    meta = pd.DataFrame({customer_col: data._meta[customer_col], _TICK: pd.Series(dtype=np.int64)})
    if amount_col is not None:
        meta[_AMOUNT] = pd.Series(dtype=float)
    days = data[columns].map_partitions(
        _days_partition, customer_col, date_col, amount_col, resolution, reading, end, meta=meta,
    )
    return days.set_index(customer_col, divisions=divisions)


def _as_transactions(days, customer_col, resolution, keep_first_by=None):
    """A partition of purchase days as a log the pandas functions take."""
    frame = pd.DataFrame({
        customer_col: days.index.to_numpy(),
        _DATE: days[_TICK].to_numpy().astype(f"datetime64[{resolution}]").astype("datetime64[ns]"),
    })
    if _AMOUNT in days.columns:
        frame[_AMOUNT] = days[_AMOUNT].to_numpy()
    if keep_first_by is not None:
        first = frame.groupby(customer_col, sort=False)[_DATE].transform("min")
        frame = frame[(first <= keep_first_by).to_numpy()]
    return frame


def _empty_like(meta):
    empty = meta.iloc[:0].copy()
    empty.attrs = dict(meta.attrs)
    return empty


def _summary_partition(days, summarise, customer_col, resolution, has_amounts, options, meta):
    frame = _as_transactions(days, customer_col, resolution)
    if frame.empty:
        return _empty_like(meta)
    return summarise(frame, customer_col, _DATE, _AMOUNT if has_amounts else None, **options)


def _split_partition(days, split, customer_col, resolution, has_amounts, options, calibration, meta):
    frame = _as_transactions(days, customer_col, resolution, keep_first_by=calibration)
    if frame.empty:
        return _empty_like(meta)
    return split(frame, customer_col, _DATE, _AMOUNT if has_amounts else None, **options)


def _meta_frame(index_meta, columns, attrs):
    meta = pd.DataFrame({c: pd.Series(dtype=float) for c in columns})
    meta.index = index_meta
    meta.attrs.update(attrs)
    return meta


def _end_tick(value, name, resolution, datetime_format, timezone=None):
    """The tick of a date given by the user, read by the pandas path's parser."""
    problems = Problems("transactions")
    stamp = parse_date(value, name, problems, datetime_format, timezone)
    problems.raise_if_any()
    return int(_ticks(np.array([stamp.to_datetime64()]), resolution)[0])


def rfm_summary(summarise, data, customer_col, date_col, amount_col, *, time_unit, observation_end, datetime_format,
                date_unit=None, timezone=None):
    """:func:`clvmodels.rfm_summary` of a Dask DataFrame, as a Dask DataFrame.

    ``summarise`` is the pandas ``rfm_summary``, run on each partition of purchase days.
    """
    unit = check_time_unit(time_unit)
    resolution = _resolution(unit)
    reading = {"datetime_format": datetime_format, "date_unit": date_unit, "timezone": timezone}
    _, first, last, divisions = check_log(data, customer_col, date_col, amount_col, unit, reading)
    end = last if observation_end is None else _end_tick(observation_end, "observation_end", resolution, datetime_format, timezone)
    _require_purchases_by(end, "observation_end", first, date_col, resolution)
    days = _purchase_days(data, customer_col, date_col, amount_col, resolution, reading, end, divisions)
    columns = ["frequency", "recency", "T"] + (["monetary_value"] if amount_col else [])
    meta = _meta_frame(days._meta.index, columns, {"time_unit": unit, "observation_end": _iso(end, resolution)})
    options = {"time_unit": unit, "observation_end": _iso(end, resolution)}
    return days.map_partitions(
        _summary_partition, summarise, customer_col, resolution, amount_col is not None, options, meta,
        meta=meta, clear_divisions=False, align_dataframes=False,
    )


def calibration_holdout_split(split, data, customer_col, date_col, amount_col, *, calibration_end,
                              observation_end, time_unit, datetime_format, date_unit=None, timezone=None):
    """:func:`clvmodels.calibration_holdout_split` of a Dask DataFrame, as a Dask DataFrame."""
    unit = check_time_unit(time_unit)
    resolution = _resolution(unit)
    reading = {"datetime_format": datetime_format, "date_unit": date_unit, "timezone": timezone}
    _, first, last, divisions = check_log(data, customer_col, date_col, amount_col, unit, reading)
    calibration = _end_tick(calibration_end, "calibration_end", resolution, datetime_format, timezone)
    end = last if observation_end is None else _end_tick(observation_end, "observation_end", resolution, datetime_format, timezone)
    _require_purchases_by(calibration, "calibration_end", first, date_col, resolution)
    if calibration >= end:
        raise ValueError(
            f"invalid transactions: column {date_col!r}: calibration_end {_iso(calibration, resolution)} is not "
            f"before observation_end {_iso(end, resolution)}, so there is no holdout period"
        )
    days = _purchase_days(data, customer_col, date_col, amount_col, resolution, reading, end, divisions)
    columns = ["frequency", "recency", "T"] + (["monetary_value"] if amount_col else []) + ["frequency_holdout"]
    columns += (["monetary_value_holdout"] if amount_col else []) + ["duration_holdout"]
    attrs = {"time_unit": unit, "calibration_end": _iso(calibration, resolution),
             "observation_end": _iso(end, resolution)}
    meta = _meta_frame(days._meta.index, columns, attrs)
    options = {"time_unit": unit, "calibration_end": attrs["calibration_end"], "observation_end": attrs["observation_end"]}
    calibration_date = np.datetime64(calibration, resolution).astype("datetime64[ns]")
    return days.map_partitions(
        _split_partition, split, customer_col, resolution, amount_col is not None, options, calibration_date, meta,
        meta=meta, clear_divisions=False, align_dataframes=False,
    )


def _require_purchases_by(end, name, first, date_col, resolution):
    if end < first:
        raise ValueError(
            f"invalid transactions: column {date_col!r}: every row is after {name} {_iso(end, resolution)} "
            f"(the first purchase is on {_iso(first, resolution)})"
        )


# ----------------------------------------------------------------------------- fitting
def distinct_rows_with_weights(data, columns, sample_weight=None):
    """For a Dask DataFrame: its distinct rows of ``columns`` with a ``weight`` column.

    Each worker counts the distinct rows of its partitions, and the counts are
    summed in a tree; only the distinct rows reach the client. Rows with missing
    values are kept, so that the model's input check reports them. Anything else is
    returned as it is.

    Returns
    -------
    (data, sample_weight)
        A pandas DataFrame with ``columns`` and ``weight``, sorted by ``columns``,
        carrying the Dask DataFrame's ``attrs``, and "weight"; or the inputs unchanged.
    """
    if not is_dask_collection(data):
        return data, sample_weight
    require_dask("fitting a Dask DataFrame")
    columns = list(columns)
    missing = [c for c in columns if c not in data.columns]
    if missing:
        raise ValueError(f"invalid data: column {missing[0]!r} is missing; the columns are {list(data.columns)}")
    if sample_weight is not None and not isinstance(sample_weight, str):
        raise TypeError("sample_weight of a Dask DataFrame must be the name of one of its columns")
    if sample_weight is None:
        grouped = data[columns].groupby(columns, dropna=False, sort=False).size()
    else:
        grouped = data[columns + [sample_weight]].groupby(columns, dropna=False, sort=False)[sample_weight].sum()
    table = grouped.compute().rename("weight").reset_index()
    table = table.sort_values(columns, ignore_index=True, kind="stable")
    table.attrs = attrs_of(data)
    return table, "weight"


# ------------------------------------------------------------ exact order statistics
_BINS = 4096
_GATHER_AT_MOST = 200_000


def _bin_counts(frame, targets):
    counts = []
    for column, low, high in targets:
        values = frame[column].to_numpy(dtype=float)
        inside = values[(values >= low) & (values < high)]
        edges = np.linspace(low, high, _BINS + 1)
        bins = np.clip(np.searchsorted(edges, inside, side="right") - 1, 0, _BINS - 1)
        counts.append(np.bincount(bins, minlength=_BINS))
    return np.array(counts).reshape(len(targets), _BINS)


def _values_inside(frame, targets):
    return [np.sort(frame[c].to_numpy(dtype=float)[(frame[c] >= lo).to_numpy() & (frame[c] < hi).to_numpy()])
            for c, lo, hi in targets]


def order_statistics(data, positions):
    """Exact order statistics of each column of a Dask DataFrame.

    ``positions`` maps a column to 0-based positions in its sorted values. Each
    pass counts the values in 4,096 bins of the interval known to hold a wanted
    value, summed over partitions (a few kB per partition reach the client), and
    narrows the interval to one bin; once an interval holds at most 200,000 values
    they are gathered and the value picked. Two or three passes usually suffice.

    Returns
    -------
    dict of column -> numpy.ndarray
        The values at ``positions``, in that order.
    """
    import dask

    lows = data[list(positions)].min().compute()
    highs = data[list(positions)].max().compute()
    pending = {}
    for column, wanted in positions.items():
        for position in wanted:
            high = np.nextafter(float(highs[column]), np.inf)
            pending[(column, int(position))] = [float(lows[column]), high, 0]  # low, high, count below low
    found = {}
    parts = data[list(positions)].to_delayed()
    while pending:
        keys = list(pending)
        targets = [(c, pending[k][0], pending[k][1]) for k in keys for c in [k[0]]]
        counted = dask.delayed(_bin_counts, pure=True)
        counts = dask.compute(_tree_reduce([counted(p, targets) for p in parts], np.add))[0]
        gather = []
        for key, row in zip(keys, counts):
            low, high, below = pending[key]
            cumulative = below + np.cumsum(row)
            j = int(np.searchsorted(cumulative, key[1], side="right"))
            edges = np.linspace(low, high, _BINS + 1)
            new_low, new_high = edges[j], (edges[j + 1] if j + 1 < _BINS else high)
            pending[key] = [new_low, new_high, int(cumulative[j - 1]) if j > 0 else below]
            if np.nextafter(new_low, np.inf) >= new_high:
                found[key] = new_low
                del pending[key]
            elif row[j] <= _GATHER_AT_MOST:
                gather.append(key)
        if gather:
            targets = [(k[0], pending[k][0], pending[k][1]) for k in gather]
            inside = dask.compute([dask.delayed(_values_inside, pure=True)(p, targets) for p in parts])[0]
            for i, key in enumerate(gather):
                values = np.sort(np.concatenate([part[i] for part in inside]))
                found[key] = float(values[key[1] - pending[key][2]])
                del pending[key]
    return {column: np.array([found[(column, int(p))] for p in wanted]) for column, wanted in positions.items()}
