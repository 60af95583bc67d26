"""Input checks shared by every public entry point.

Every check collects all the problems it finds and raises one ``ValueError``
listing them, each naming the column, the problem and how many rows have it::

    ValueError: invalid RFM data (2 problems):
      - column 'recency': 3 rows are greater than T
      - column 'frequency': 1 row is negative
"""

import numpy as np
import pandas as pd


def _rows(n):
    return f"{n} row" if n == 1 else f"{n} rows"


class Problems:
    """Collects input problems and raises them together."""

    def __init__(self, what):
        self.what = what
        self.messages = []

    def add(self, column, problem, n_rows=None):
        """Record ``problem`` for ``column``; with ``n_rows`` it reads '<n> rows <problem>'."""
        where = f"column {column!r}: " if column is not None else ""
        count = f"{_rows(int(n_rows))} " if n_rows is not None else ""
        if n_rows == 1 and problem.startswith("are "):
            problem = "is " + problem[len("are "):]
        self.messages.append(f"{where}{count}{problem}")

    def add_if(self, column, mask, problem):
        """Record ``problem`` if any element of the boolean ``mask`` is true."""
        n = int(np.count_nonzero(mask))
        if n:
            self.add(column, problem, n)
        return n

    def raise_if_any(self):
        if not self.messages:
            return
        if len(self.messages) == 1:
            raise ValueError(f"invalid {self.what}: {self.messages[0]}")
        lines = "\n".join(f"  - {m}" for m in self.messages)
        raise ValueError(f"invalid {self.what} ({len(self.messages)} problems):\n{lines}")


def require_dataframe(data, what):
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"{what} must be a pandas DataFrame, got {type(data).__name__}")
    if len(data) == 0:
        raise ValueError(f"invalid {what}: the table is empty (0 rows)")


def numeric_column(data, column, problems):
    """Return ``data[column]`` as a float array, recording missing or non-numeric columns."""
    if column not in data.columns:
        problems.add(column, "is missing")
        return None
    series = data[column]
    if series.dtype.kind in "fiub":  # already numeric (or bool): no parsing, and no copy for float64
        values = series.to_numpy(dtype=float)
        if np.isfinite(values).all():
            return values
    else:
        values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float)
    bad_type = pd.isna(values) & ~pd.isna(series.to_numpy())
    problems.add_if(column, bad_type, "are not numbers")
    problems.add_if(column, np.isnan(values) & ~bad_type, "are missing (NaN)")
    problems.add_if(column, np.isinf(values), "are infinite")
    return values


def check_rfm(data, columns, *, what="RFM data"):
    """Validate an RFM table and return its ``columns`` as float arrays.

    ``columns`` names which of frequency, recency, T and monetary_value the caller
    needs; each is checked for presence, NaN and infinity, and the relations between
    them (integer non-negative frequency, 0 <= recency <= T, recency 0 when frequency
    is 0, non-negative monetary value) are checked where both sides are present.

    Discrete-time tables (``n_periods``, the BG/BB's number of opportunities) also
    need whole numbers of periods with frequency <= recency <= n_periods; contractual
    tables (``tenure``, ``churned``) need whole tenures >= 0, churned 0/1 (or bool)
    and a tenure >= 1 for every churned customer.
    """
    require_dataframe(data, what)
    problems = Problems(what)
    arrays = {c: numeric_column(data, c, problems) for c in columns}
    if not problems.messages and _rfm_relations_hold(arrays):
        return arrays
    x = arrays.get("frequency")
    t_x = arrays.get("recency")
    T = arrays.get("T")
    m = arrays.get("monetary_value")
    with np.errstate(invalid="ignore"):
        if x is not None:
            problems.add_if("frequency", x < 0, "are negative")
            problems.add_if("frequency", np.isfinite(x) & (x != np.round(x)), "are not whole numbers")
        if t_x is not None:
            problems.add_if("recency", t_x < 0, "are negative")
        if T is not None:
            problems.add_if("T", T < 0, "are negative")
        if t_x is not None and T is not None:
            problems.add_if("recency", t_x > T * (1 + 1e-12), "are greater than T")
        if x is not None and t_x is not None:
            problems.add_if("recency", (x == 0) & (t_x != 0), "are non-zero where frequency is 0")
        if m is not None:
            problems.add_if("monetary_value", m < 0, "are negative")
        _discrete_problems(arrays, problems)
    problems.raise_if_any()
    return arrays


def _not_whole(values):
    return np.isfinite(values) & (values != np.round(values))


def _discrete_problems(arrays, problems):
    """Record the problems of the discrete-time (n_periods) and contractual (tenure,
    churned) columns among ``arrays``."""
    x, t_x, n = (arrays.get(c) for c in ("frequency", "recency", "n_periods"))
    tenure, churned = arrays.get("tenure"), arrays.get("churned")
    if n is not None:
        problems.add_if("n_periods", n < 0, "are negative")
        problems.add_if("n_periods", _not_whole(n), "are not whole numbers of periods")
        if t_x is not None:
            problems.add_if("recency", _not_whole(t_x), "are not whole numbers of periods")
            problems.add_if("recency", t_x > n, "are greater than n_periods")
        if x is not None:
            problems.add_if("frequency", x > n, "are greater than n_periods")
            if t_x is not None:
                problems.add_if("frequency", (x > t_x) & (t_x <= n), "are greater than recency (one transaction a period)")
    if tenure is not None:
        problems.add_if("tenure", tenure < 0, "are negative")
        problems.add_if("tenure", _not_whole(tenure), "are not whole numbers of periods")
    if churned is not None:
        problems.add_if("churned", np.isfinite(churned) & (churned != 0) & (churned != 1), "are not 0/1 (or True/False)")
        if tenure is not None:
            problems.add_if("tenure", (churned == 1) & (tenure == 0), "are 0 for churned customers (a customer who churns completes at least one period)")


def _rfm_relations_hold(arrays):
    """Fast test, by reductions only, that the RFM relations hold for every row of
    finite columns; when it fails, :func:`check_rfm` counts the rows per problem."""
    x, t_x, T, m = (arrays.get(c) for c in ("frequency", "recency", "T", "monetary_value"))
    with np.errstate(invalid="ignore"):
        if x is not None and (x.min() < 0 or (np.floor(x) != x).any()):
            return False
        if t_x is not None and t_x.min() < 0:
            return False
        if T is not None and T.min() < 0:
            return False
        if t_x is not None and T is not None and np.any(t_x > T * (1 + 1e-12)):
            return False
        if x is not None and t_x is not None and np.any((x == 0) & (t_x != 0)):
            return False
        if m is not None and m.min() < 0:
            return False
        if not _discrete_relations_hold(arrays):
            return False
    return True


def _discrete_relations_hold(arrays):
    x, t_x, n = (arrays.get(c) for c in ("frequency", "recency", "n_periods"))
    tenure, churned = arrays.get("tenure"), arrays.get("churned")
    if n is not None:
        if n.min() < 0 or (np.floor(n) != n).any():
            return False
        if t_x is not None and ((np.floor(t_x) != t_x).any() or np.any(t_x > n)):
            return False
        if x is not None and (np.any(x > n) or (t_x is not None and np.any(x > t_x))):
            return False
    if tenure is not None and (tenure.min() < 0 or (np.floor(tenure) != tenure).any()):
        return False
    if churned is not None:
        if np.any((churned != 0) & (churned != 1)):
            return False
        if tenure is not None and np.any((churned == 1) & (tenure == 0)):
            return False
    return True


def check_sample_weight(sample_weight, data):
    """Return sample weights as a float array aligned with ``data`` (ones if None).

    ``sample_weight`` may be an array-like of one weight per row or the name of a
    column of ``data``.
    """
    n = len(data)
    if sample_weight is None:
        return np.ones(n)
    column = "sample_weight"
    if isinstance(sample_weight, str):
        column = sample_weight
        if sample_weight not in data.columns:
            raise ValueError(f"invalid sample_weight: column {sample_weight!r} is missing")
        sample_weight = data[sample_weight]
    weights = np.asarray(sample_weight, dtype=float).reshape(-1)
    if weights.shape[0] != n:
        raise ValueError(
            f"invalid sample_weight: {weights.shape[0]} weights for {n} rows of data"
        )
    problems = Problems("sample_weight")
    problems.add_if(column, np.isnan(weights), "are missing (NaN)")
    problems.add_if(column, np.isinf(weights), "are infinite")
    problems.add_if(column, weights < 0, "are negative")
    problems.raise_if_any()
    if not np.any(weights > 0):
        raise ValueError(f"invalid sample_weight: column {column!r}: all {n} weights are zero")
    return weights


def check_positive_number(value, name, *, allow_zero=False):
    """Return ``value`` as a float after checking it is finite and positive."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not np.isfinite(number) or number < 0 or (number == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be a finite number {bound}, got {value!r}")
    return number


def check_times(t, name="t"):
    """Return prediction horizons as a float array, all finite and >= 0."""
    times = np.asarray(t, dtype=float)
    problems = Problems(name)
    problems.add_if(name, ~np.isfinite(times), "are not finite")
    problems.add_if(name, times < 0, "are negative")
    problems.raise_if_any()
    return times


def require_columns(data, columns, problems):
    """Record each of ``columns`` (None entries skipped) that ``data`` lacks; return True if all are there."""
    all_present = True
    for column in columns:
        if column is None or column in data.columns:
            continue
        all_present = False
        if column in (data.index.names or []):
            problems.add(column, "is missing: it is the index; call reset_index() first")
        else:
            problems.add(column, f"is missing; the columns are {list(data.columns)}")
    return all_present


def datetime_column(data, column, problems, datetime_format=None):
    """Return ``data[column]`` as a numpy datetime64 array of local wall-clock times.

    Datetime columns are used as they are (time-zone aware ones at their local
    time); text, ``datetime.date`` objects and the like are parsed with
    ``datetime_format`` (or pandas' inference). Missing and unparseable dates
    are recorded in ``problems``, as are numbers, which are refused unless
    ``datetime_format`` says how to read them (e.g. 19970101 with "%Y%m%d").
    Returns None if the column cannot be read at all.
    """
    values = data[column]
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        values = values.dt.tz_localize(None)
    if pd.api.types.is_datetime64_dtype(values.dtype):
        dates = values.to_numpy()
        problems.add_if(column, np.isnat(dates), "are missing (NaT)")
        return dates
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        if datetime_format is None or not pd.api.types.is_integer_dtype(values.dtype):
            problems.add(
                column,
                "are numbers, not dates; pass datetime_format (e.g. '%Y%m%d') to read them as dates",
                len(values),
            )
            return None
        values = values.astype(str)
    return _parse_dates(values, column, problems, datetime_format)


def _parse_dates(values, column, problems, datetime_format):
    how = f" with format {datetime_format!r}" if datetime_format else ""
    try:
        parsed = pd.to_datetime(values, format=datetime_format, errors="coerce")
        if isinstance(parsed.dtype, pd.DatetimeTZDtype):
            parsed = parsed.dt.tz_localize(None)
        dates = parsed.to_numpy()
    except (TypeError, ValueError, OverflowError) as error:
        problems.add(column, f"could not be parsed as dates{how} ({error})", len(values))
        return None
    missing = pd.isna(values).to_numpy()
    unparseable = np.isnat(dates) & ~missing
    problems.add_if(column, missing, "are missing")
    if unparseable.any():
        first_bad = values.to_numpy()[np.argmax(unparseable)]
        problems.add(
            column,
            f"are not dates that can be parsed{how} (the first is {first_bad!r})",
            np.count_nonzero(unparseable),
        )
    return dates
