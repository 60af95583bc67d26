"""Out-of-core summaries of Parquet datasets with DuckDB (``engine="duckdb"``).

DuckDB streams the Parquet files through two hash aggregations that spill to disk
when they outgrow the memory limit: purchase days (distinct customer and day, amounts
summed), then one row per customer (count, first and last day, spend). Only that
per-customer table, a few integers and sums per customer, comes back; the RFM
columns are then computed from its integers with the pandas path's arithmetic, so
``frequency``, ``recency`` and ``T`` are identical and ``monetary_value`` agrees to
the last bits (its sums are added in another order).

Chosen over Polars' streaming engine after measuring both on the same two group-bys
(``benchmarks/scale.py --steps duckdb_summary polars_summary``; figures in
docs/scaling.md): of the same speed and memory on 10M rows, but DuckDB has an explicit
memory limit with spilling to disk for its aggregations, which bounded memory needs.

Dates: Parquet timestamp and date columns are used directly (time-zone aware ones in
UTC); text dates are parsed with ``datetime_format`` (``strptime`` codes) or, without
it, must be ISO 8601 (``1997-01-01`` or ``1997-01-01 10:30:00``).
"""

import glob
import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from ._dask import _end_tick, _iso, _require_purchases_by  # shared date handling; imports no Dask
from ._units import check_time_unit, ticks_per_unit
from ._validation import Problems

INSTALL_HINT = "pip install 'clvmodels[duckdb]'"
# DuckDB's memory limit; above it, aggregations spill to a temporary directory.
MEMORY_LIMIT = os.environ.get("CLVMODELS_DUCKDB_MEMORY", "2GB")


def require_duckdb():
    try:
        import duckdb
    except ImportError:
        raise ImportError(f"engine='duckdb' needs DuckDB: {INSTALL_HINT}") from None
    return duckdb


def parquet_files(source):
    """The Parquet files of ``source``: a file, a directory (searched recursively) or a glob."""
    text = str(source)
    path = Path(text)
    if path.is_dir():
        files = sorted(str(p) for p in path.rglob("*") if p.suffix.lower() in (".parquet", ".pq") and p.is_file())
    elif any(ch in text for ch in "*?["):
        files = sorted(glob.glob(text, recursive=True))
    else:
        files = [text] if path.is_file() else []
    if not files:
        raise ValueError(f"{text}: no Parquet files found (give a .parquet file, a directory of them or a glob)")
    return files


def _quote(name):
    return '"' + str(name).replace('"', '""') + '"'


def _connect(duckdb):
    connection = duckdb.connect(":memory:")
    spill = tempfile.mkdtemp(prefix="clvmodels-duckdb-")
    connection.execute(f"SET memory_limit='{MEMORY_LIMIT}'")
    connection.execute(f"SET temp_directory='{spill}'")
    connection.execute("SET preserve_insertion_order=false")
    connection.execute("SET TimeZone='UTC'")
    return connection, spill


def _tick_expression(column, column_type, resolution, datetime_format):
    """SQL for the integer day (or hour) number of ``column``; NULL where it cannot be read."""
    name = _quote(column)
    kind = column_type.upper()
    if kind.startswith("VARCHAR"):
        if datetime_format is not None:
            value = f"try_strptime({name}, '{datetime_format.replace(chr(39), chr(39) * 2)}')"
        else:
            value = f"TRY_CAST({name} AS TIMESTAMP)"
    elif kind.startswith("TIMESTAMP") or kind == "DATE":
        value = f"CAST({name} AS TIMESTAMP)"
    else:
        return None
    if resolution == "D":
        return f"date_diff('day', DATE '1970-01-01', CAST({value} AS DATE))"
    return f"date_diff('hour', TIMESTAMP '1970-01-01', date_trunc('hour', {value}))"


class _Log:
    """A Parquet dataset read through DuckDB as (customer, tick, amount)."""

    def __init__(self, source, customer_col, date_col, amount_col, time_unit, datetime_format):
        self.duckdb = require_duckdb()
        self.files = parquet_files(source)
        self.customer_col, self.date_col, self.amount_col = customer_col, date_col, amount_col
        self.resolution = "h" if time_unit == "H" else "D"
        self.connection, self.spill = _connect(self.duckdb)
        files = ", ".join("'" + f.replace("'", "''") + "'" for f in self.files)
        self.relation = f"read_parquet([{files}], union_by_name=true)"
        self.types = {row[0]: row[1] for row in self.connection.execute(f"DESCRIBE SELECT * FROM {self.relation}").fetchall()}
        self.datetime_format = datetime_format

    def close(self):
        self.connection.close()
        import shutil

        shutil.rmtree(self.spill, ignore_errors=True)

    def check(self):
        """Row count, first and last tick; one ValueError listing every problem."""
        problems = Problems("transactions")
        needed = [self.customer_col, self.date_col] + ([self.amount_col] if self.amount_col else [])
        for column in dict.fromkeys(needed):
            if column not in self.types:
                problems.add(column, f"is missing; the columns are {list(self.types)}")
        problems.raise_if_any()
        self.tick = _tick_expression(self.date_col, self.types[self.date_col], self.resolution, self.datetime_format)
        if self.tick is None:
            problems.add(self.date_col, f"are {self.types[self.date_col]}, not dates or text")
            problems.raise_if_any()
        if self.amount_col and not any(k in self.types[self.amount_col].upper()
                                       for k in ("INT", "DOUBLE", "FLOAT", "DECIMAL", "REAL")):
            problems.add(self.amount_col, f"is not numeric ({self.types[self.amount_col]})")
            problems.raise_if_any()
        date, customer = _quote(self.date_col), _quote(self.customer_col)
        amount = f"CAST({_quote(self.amount_col)} AS DOUBLE)" if self.amount_col else "0.0"
        row = self.connection.execute(f"""
            SELECT count(*),
                   count(*) FILTER (WHERE {customer} IS NULL),
                   count(*) FILTER (WHERE {date} IS NULL),
                   count(*) FILTER (WHERE {date} IS NOT NULL AND tick IS NULL),
                   count(*) FILTER (WHERE amount IS NULL),
                   count(*) FILTER (WHERE isnan(amount) OR isinf(amount)),
                   count(*) FILTER (WHERE amount < 0),
                   min(tick), max(tick)
            FROM (SELECT {customer}, {date}, {self.tick} AS tick, {amount} AS amount FROM {self.relation})
        """).fetchone()
        rows, no_id, no_date, bad_date, no_amount, not_finite, negative, first, last = row
        if rows == 0:
            raise ValueError("invalid transactions: the table is empty (0 rows)")
        for column, count, problem in (
            (self.customer_col, no_id, "are missing customer ids"),
            (self.date_col, no_date, "are missing"),
            (self.date_col, bad_date, "are not dates that can be parsed"
             + (f" with format {self.datetime_format!r}" if self.datetime_format else " (ISO 8601 expected)")),
            (self.amount_col, no_amount, "are missing"),
            (self.amount_col, not_finite, "are not finite"),
            (self.amount_col, negative, "are negative"),
        ):
            if count:
                problems.add(column, problem, count)
        problems.raise_if_any()
        return rows, first, last

    def per_customer(self, end, calibration=None):
        """One row per customer: purchase days and spend up to ``calibration`` (or ``end``),
        and with a calibration tick, the holdout days and spend up to ``end``."""
        customer = _quote(self.customer_col)
        cut = end if calibration is None else calibration
        spend = f"sum(CAST({_quote(self.amount_col)} AS DOUBLE))" if self.amount_col else "0.0"
        days = f"""
            SELECT {customer} AS customer, {self.tick} AS tick, {spend} AS spend
            FROM {self.relation} WHERE {self.tick} <= {int(end)} GROUP BY ALL"""
        holdout = ""
        if calibration is not None:
            holdout = f""",
                   count(*) FILTER (WHERE tick > {int(cut)}) AS n_holdout,
                   coalesce(sum(spend) FILTER (WHERE tick > {int(cut)}), 0.0) AS spend_holdout"""
        query = f"""
            SELECT customer,
                   count(*) FILTER (WHERE tick <= {int(cut)}) AS n_days,
                   min(tick) AS first_tick,
                   max(tick) FILTER (WHERE tick <= {int(cut)}) AS last_tick,
                   coalesce(sum(spend) FILTER (WHERE tick <= {int(cut)}), 0.0) - arg_min(spend, tick) AS repeat_spend
                   {holdout}
            FROM ({days}) GROUP BY customer HAVING min(tick) <= {int(cut)} ORDER BY customer"""
        return self.connection.execute(query).fetchdf()


def _mean_or_zero(total, count):
    return np.divide(total, count, out=np.zeros(len(total)), where=count > 0)


def _index(table, customer_col):
    ids = table["customer"]
    return pd.Index(ids.to_numpy() if ids.dtype.kind in "iuf" else ids, name=customer_col)


def _rfm_columns(table, cut, unit, has_amounts):
    per_unit = ticks_per_unit(unit)
    n_days = table["n_days"].to_numpy(dtype=np.int64)
    first = table["first_tick"].to_numpy(dtype=np.int64)
    last = table["last_tick"].to_numpy(dtype=np.int64)
    frequency = (n_days - 1).astype(float)
    columns = {"frequency": frequency, "recency": (last - first) / per_unit, "T": (cut - first) / per_unit}
    if has_amounts:
        columns["monetary_value"] = _mean_or_zero(table["repeat_spend"].to_numpy(dtype=float), frequency)
    return columns


def _refuse_date_options(date_unit, timezone):
    for name, value in (("date_unit", date_unit), ("timezone", timezone)):
        if value is not None:
            raise ValueError(f"engine='duckdb' does not take {name}; store the dates as Parquet timestamps, "
                             "or use engine='dask'")


def rfm_summary(source, customer_col, date_col, amount_col, *, time_unit, observation_end, datetime_format,
                date_unit=None, timezone=None):
    """:func:`clvmodels.rfm_summary` of a Parquet dataset, out of core; a pandas DataFrame."""
    _refuse_date_options(date_unit, timezone)
    unit = check_time_unit(time_unit)
    log = _Log(source, customer_col, date_col, amount_col, unit, datetime_format)
    try:
        _, first, last = log.check()
        end = last if observation_end is None else _end_tick(observation_end, "observation_end", log.resolution, datetime_format)
        _require_purchases_by(end, "observation_end", first, date_col, log.resolution)
        table = log.per_customer(end)
    finally:
        log.close()
    frame = pd.DataFrame(_rfm_columns(table, end, unit, amount_col is not None), index=_index(table, customer_col))
    frame.attrs.update(time_unit=unit, observation_end=_iso(end, log.resolution))
    return frame


def calibration_holdout_split(source, customer_col, date_col, amount_col, *, calibration_end, observation_end,
                              time_unit, datetime_format, date_unit=None, timezone=None):
    """:func:`clvmodels.calibration_holdout_split` of a Parquet dataset, out of core."""
    _refuse_date_options(date_unit, timezone)
    unit = check_time_unit(time_unit)
    log = _Log(source, customer_col, date_col, amount_col, unit, datetime_format)
    try:
        _, first, last = log.check()
        calibration = _end_tick(calibration_end, "calibration_end", log.resolution, datetime_format)
        end = last if observation_end is None else _end_tick(observation_end, "observation_end", log.resolution, datetime_format)
        _require_purchases_by(calibration, "calibration_end", first, date_col, log.resolution)
        if calibration >= end:
            raise ValueError(
                f"invalid transactions: column {date_col!r}: calibration_end {_iso(calibration, log.resolution)} "
                f"is not before observation_end {_iso(end, log.resolution)}, so there is no holdout period"
            )
        table = log.per_customer(end, calibration)
    finally:
        log.close()
    columns = _rfm_columns(table, calibration, unit, amount_col is not None)
    n_holdout = table["n_holdout"].to_numpy(dtype=np.int64)
    columns["frequency_holdout"] = n_holdout.astype(float)
    if amount_col is not None:
        columns["monetary_value_holdout"] = _mean_or_zero(table["spend_holdout"].to_numpy(dtype=float), n_holdout)
    columns["duration_holdout"] = np.full(len(n_holdout), (end - calibration) / ticks_per_unit(unit))
    frame = pd.DataFrame(columns, index=_index(table, customer_col))
    frame.attrs.update(time_unit=unit, calibration_end=_iso(calibration, log.resolution),
                       observation_end=_iso(end, log.resolution))
    return frame
