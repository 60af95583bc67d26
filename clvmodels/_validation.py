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


def check_whole_number(value, name, *, unit=""):
    """Return ``value`` as a float after checking it is a positive whole number;
    ``unit`` ends the message (" of periods", " >= 1")."""
    number = check_positive_number(value, name)
    if number != int(number):
        raise ValueError(f"{name} must be a whole number{unit}, got {value!r}")
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


# ----- dates: the one parser of the package -------------------------------------------------
# Every date clvmodels reads (transaction columns, observation_end, calibration_end, the
# command line's options) goes through datetime_column or parse_date below, so a date
# means the same everywhere.

DATE_UNITS = ("s", "ms")
# Epoch numbers read as dates outside these years are almost surely in the other unit.
_EPOCH_PLAUSIBLE_YEARS = (1971, 2200)
# Formats tried to name the format of a date that did not parse, after pandas' guesses.
_KNOWN_FORMATS = (
    "%Y-%m-%d", "%Y/%m/%d", "%Y%m%d", "%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y", "%d-%m-%Y", "%m-%d-%Y",
    "%d/%m/%y", "%m/%d/%y", "%d.%m.%y", "%Y-%m-%d %H:%M:%S", "%d/%m/%Y %H:%M", "%m/%d/%Y %H:%M",
    "%d/%m/%Y %H:%M:%S", "%m/%d/%Y %H:%M:%S", "%d %b %Y", "%b %d %Y", "%d-%b-%Y", "%Y%m%d%H%M%S",
)
_AMBIGUOUS_HINT = (
    "pass datetime_format (--date-format on the command line), e.g. '%d/%m/%Y' or '%m/%d/%Y'"
)


def check_date_unit(date_unit):
    """``date_unit`` if it is None or an epoch unit ("s", "ms"), else ``ValueError``."""
    if date_unit is None or date_unit in DATE_UNITS:
        return date_unit
    raise ValueError(
        f"date_unit {date_unit!r} is not supported; use 's' (epoch seconds) or 'ms' (epoch milliseconds)"
    )


def check_timezone(timezone):
    """``timezone`` (an IANA name such as "UTC" or "Europe/Paris") if pandas knows it, else ``ValueError``."""
    if timezone is None:
        return None
    try:
        pd.Timestamp("2000-01-01", tz=timezone)
    except Exception:  # noqa: BLE001 - pytz/zoneinfo raise several types for unknown zones
        raise ValueError(f"timezone {timezone!r} is not a known time zone (e.g. 'UTC', 'Europe/Paris')") from None
    return timezone


def datetime_column(data, column, problems, datetime_format=None, *, date_unit=None, timezone=None):
    """Return ``data[column]`` as a numpy datetime64 array of wall-clock times.

    The one date reader of clvmodels:

    - datetime columns are used as they are; time-zone aware ones at their local
      time, or converted to ``timezone`` if it is given;
    - numbers are epoch seconds or milliseconds with ``date_unit`` ("s", "ms"; the
      epoch is UTC, converted to ``timezone`` if given), or text such as 19970101
      with a ``datetime_format``; otherwise they are refused;
    - text is read as ISO 8601 first (fast); otherwise with ``datetime_format``, or
      with the format pandas guesses from the first value, provided the day and
      month cannot be swapped: if every value reads both day-first and month-first
      (e.g. 01/02/2020), the reading is ambiguous and refused, asking for
      ``datetime_format``. Dates with different UTC offsets are converted to
      ``timezone`` (UTC if None) before the wall-clock time is taken.

    Missing and unparseable dates are recorded in ``problems`` (the message names a
    format that reads the first bad value). Returns None if the column cannot be
    read at all.
    """
    values = data[column]
    if isinstance(values, pd.DataFrame):
        problems.add(column, f"appears {values.shape[1]} times: column names must be unique")
        return None
    try:
        check_date_unit(date_unit)
        check_timezone(timezone)
    except ValueError as error:
        problems.add(None, str(error))
        return None
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        values = _wall_clock(values, timezone)
    if pd.api.types.is_datetime64_dtype(values.dtype):
        dates = values.to_numpy()
        problems.add_if(column, np.isnat(dates), "are missing (NaT)")
        return dates
    if pd.api.types.is_bool_dtype(values.dtype):
        problems.add(column, "are true/false values, not dates", len(values))
        return None
    if date_unit is not None:
        return _epoch_dates(values, column, problems, date_unit, timezone)
    if pd.api.types.is_numeric_dtype(values.dtype):
        if datetime_format is None or not pd.api.types.is_integer_dtype(values.dtype):
            problems.add(column, f"are numbers, not dates; {_number_hint(values)}", len(values))
            return None
        values = values.astype(str)
    elif datetime_format is None and _epoch_like_text(values):
        problems.add(column, f"are numbers, not dates; {_number_hint(values)}", len(values))
        return None
    return _text_dates(values, column, problems, datetime_format, timezone)


def _epoch_like_text(values):
    """True if text dates are all whole numbers of epoch size (not yyyymmdd), as a CSV
    reader gives epoch seconds or milliseconds."""
    first = values.iloc[int(values.notna().to_numpy().argmax())] if len(values) else None
    if not isinstance(first, str) or not first.strip().isdigit() or not 9 <= len(first.strip()) <= 13:
        return False
    numbers = pd.to_numeric(values, errors="coerce")
    return bool(numbers.notna().all()) and "look like epoch" in _number_hint(numbers)


def parse_date(value, name, problems, datetime_format=None, timezone=None):
    """One date given as an argument (``observation_end``, ``calibration_end``, a
    command-line option) as a time-zone naive Timestamp, read as :func:`datetime_column`
    reads a column; None after recording a problem naming ``name``."""
    if isinstance(value, (bool, np.bool_)) or value is None:
        problems.add(None, f"{name} {value!r} is not a date")
        return None
    if isinstance(value, (int, np.integer)) and datetime_format is not None:
        value = str(value)
    if isinstance(value, str):
        local = Problems(name)
        dates = _text_dates(pd.Series([value]), name, local, datetime_format, timezone)
        if datetime_format is not None and (local.messages or np.isnat(dates[0])):
            local = Problems(name)  # an argument in ISO form is read as such whatever the column's format
            dates = _text_dates(pd.Series([value]), name, local, None, timezone)
        if local.messages or dates is None or np.isnat(dates[0]):
            detail = local.messages[0].split(": ", 1)[-1] if local.messages else ""
            if "ambiguous" in detail:
                problems.add(None, f"{name} {value!r} is ambiguous: {_AMBIGUOUS_HINT}")
            else:
                problems.add(None, f"{name} {value!r} is not a date{_suggestion(value)}")
            return None
        return pd.Timestamp(dates[0])
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError, OverflowError):
        stamp = pd.NaT
    if stamp is pd.NaT or isinstance(value, (int, float, np.number)):
        problems.add(None, f"{name} {value!r} is not a date")
        return None
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert(timezone).tz_localize(None) if timezone else stamp.tz_localize(None)
    return stamp


def _wall_clock(values, timezone):
    """Time-zone aware values as naive wall-clock times (in ``timezone`` if given)."""
    if timezone is not None:
        values = values.dt.tz_convert(timezone)
    return values.dt.tz_localize(None)


def _number_hint(values):
    """How numbers in a date column are probably meant to be read."""
    numbers = pd.to_numeric(values, errors="coerce")
    typical = float(np.nanmedian(numbers.to_numpy(dtype=float))) if numbers.notna().any() else np.nan
    if 1e11 <= typical < 1e14:
        guess = "they look like epoch milliseconds: pass date_unit='ms' (--date-unit ms)"
    elif 1e8 <= typical < 1e11 and not 19_000_101 <= typical <= 21_001_231:
        guess = "they look like epoch seconds: pass date_unit='s' (--date-unit s)"
    else:
        guess = "pass datetime_format (e.g. '%Y%m%d') to read them as text dates"
    return f"{guess}; or date_unit 's' / 'ms' for epoch seconds / milliseconds"


def _epoch_dates(values, column, problems, date_unit, timezone):
    numbers = pd.to_numeric(values, errors="coerce")
    bad = numbers.isna().to_numpy() & values.notna().to_numpy()
    problems.add_if(column, values.isna().to_numpy(), "are missing")
    if bad.any():
        first_bad = values.to_numpy()[np.argmax(bad)]
        problems.add(column, f"are not epoch {_EPOCH_WORDS[date_unit]} (the first is {first_bad!r})", bad.sum())
    finite = numbers.to_numpy(dtype=float)
    finite = finite[np.isfinite(finite)]
    if len(finite):
        low, high = (pd.Timestamp(f"{year}-01-01").timestamp() * _EPOCH_SCALE[date_unit] for year in _EPOCH_PLAUSIBLE_YEARS)
        outside = (finite < low) | (finite >= high)
        if outside.any():
            other = "ms" if date_unit == "s" else "s"
            problems.add(
                column,
                f"are outside the years {_EPOCH_PLAUSIBLE_YEARS[0]}-{_EPOCH_PLAUSIBLE_YEARS[1]} when read as "
                f"epoch {_EPOCH_WORDS[date_unit]} (the first is {finite[np.argmax(outside)]:.0f}); "
                f"are they in {_EPOCH_WORDS[other]} (date_unit={other!r})?",
                outside.sum(),
            )
    if problems.messages:
        return None
    dates = pd.to_datetime(numbers, unit=date_unit, utc=True)
    return _wall_clock(dates, timezone or "UTC").to_numpy()


_EPOCH_WORDS = {"s": "seconds", "ms": "milliseconds"}
_EPOCH_SCALE = {"s": 1.0, "ms": 1000.0}


def _text_dates(values, column, problems, datetime_format, timezone):
    """Text (or date-like objects) parsed as dates; see :func:`datetime_column`."""
    if datetime_format is None:
        fast = _iso_dates_by_arrow(values)
        if fast is not None:
            return fast
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    uniques = pd.Index(uniques)
    if uniques.inferred_type == "string":
        uniques = uniques.str.strip()  # " 1997-01-01" as exports pad it
    if len(uniques) == 0:
        problems.add_if(column, np.ones(len(values), dtype=bool), "are missing")
        return None
    parsed, note = _parse_distinct(uniques, datetime_format, timezone)
    if parsed is None:
        problems.add(column, note, len(values))
        return None
    dates = np.asarray(parsed)[np.maximum(codes, 0)]
    missing = codes < 0
    dates[missing] = np.datetime64("NaT")
    problems.add_if(column, missing, "are missing")
    unparseable = np.isnat(dates) & ~missing
    if unparseable.any():
        first_bad = values.to_numpy()[np.argmax(unparseable)]
        how = f" with format {datetime_format!r}" if datetime_format else f" {note}" if note else ""
        problems.add(
            column,
            f"are not dates that can be parsed{how} (the first is {first_bad!r}{_suggestion(first_bad)})",
            np.count_nonzero(unparseable),
        )
    return dates


def _iso_dates_by_arrow(values):
    """Plain ISO 8601 text without offsets (1997-01-01, 1997-01-01 10:00:00), all of
    it, parsed by Arrow's vectorised parser; None if pyarrow is missing or any value
    is something else (the caller then parses the distinct values with pandas)."""
    try:
        import pyarrow as pa
        import pyarrow.compute as pc
    except ImportError:
        return None
    if values.dtype != object and not pd.api.types.is_string_dtype(values.dtype):
        return None
    try:
        array = pa.array(values, from_pandas=True)
        if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)) or array.null_count:
            return None
        return pc.cast(array, pa.timestamp("us")).to_numpy(zero_copy_only=False)
    except (pa.ArrowException, TypeError, ValueError, OverflowError):
        return None


def _parse_distinct(uniques, datetime_format, timezone):
    """Parse distinct values; returns (datetime64 array with NaT where unparseable, note),
    or (None, problem) when the column cannot be read (ambiguous day and month)."""
    if datetime_format is not None:
        return _with_format(uniques, datetime_format, timezone), ""
    texts = [v for v in uniques if isinstance(v, str)]
    if len(texts) < len(uniques):  # date objects and the like: pandas reads them
        return _with_format(uniques, None, timezone), ""
    iso = _with_format(uniques, "ISO8601", timezone)
    if not np.isnat(iso).any():
        return iso, ""
    candidates = _candidate_formats(texts[0])
    results = {fmt: _with_format(uniques, fmt, timezone) for fmt in candidates}
    complete = [fmt for fmt, dates in results.items() if not np.isnat(dates).any()]
    if len(complete) > 1 and any(not np.array_equal(results[complete[0]], results[f]) for f in complete[1:]):
        both = " or ".join(repr(f) for f in complete)
        example = next(t for t in texts if not np.array_equal(*(_with_format(pd.Index([t]), f, None) for f in complete[:2])))
        return None, (
            f"are ambiguous dates: day and month can be read either way (e.g. {example!r} with {both}); "
            f"{_AMBIGUOUS_HINT}"
        )
    if complete:
        return results[complete[0]], ""
    if results:  # the format that reads the most values
        best = min(results, key=lambda fmt: np.count_nonzero(np.isnat(results[fmt])))
        if np.count_nonzero(~np.isnat(results[best])) > np.count_nonzero(~np.isnat(iso)):
            return results[best], f"with the format {best!r} of the first value"
    return iso, ""


def _candidate_formats(text):
    """The formats pandas guesses for ``text`` month-first and day-first (one if they agree
    or the text starts with the year, which nobody follows with the day)."""
    from pandas.tseries.api import guess_datetime_format

    import warnings

    formats = []
    for dayfirst in (False, True):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            fmt = guess_datetime_format(text, dayfirst=dayfirst)
        if fmt is not None and fmt not in formats and not (dayfirst and fmt.startswith("%Y")):
            formats.append(fmt)
    return formats


def _with_format(uniques, datetime_format, timezone):
    """``pd.to_datetime`` of distinct values (NaT where unparseable) as naive wall-clock
    datetime64; different UTC offsets are converted to ``timezone`` (or UTC)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "could not infer format": we say it ourselves
        try:
            parsed = pd.to_datetime(uniques, format=datetime_format, errors="coerce")
        except (TypeError, ValueError, OverflowError) as error:
            if "timezone" not in str(error).lower() and "utc=true" not in str(error).lower():
                return np.full(len(uniques), np.datetime64("NaT"), dtype="datetime64[us]")
            parsed = pd.to_datetime(uniques, format=datetime_format, errors="coerce", utc=True)
            timezone = timezone or "UTC"
    if isinstance(parsed.dtype, pd.DatetimeTZDtype):
        if timezone is not None:
            parsed = parsed.tz_convert(timezone)
        parsed = parsed.tz_localize(None)
    if not pd.api.types.is_datetime64_dtype(parsed.dtype):
        return np.full(len(uniques), np.datetime64("NaT"), dtype="datetime64[us]")
    return parsed.to_numpy()


def suggest_format(text):
    """The formats that read ``text`` as a date (pandas' guesses, then common ones), or []."""
    if not isinstance(text, str):
        return []
    found = []
    for fmt in (*_candidate_formats(text), *_KNOWN_FORMATS):
        if fmt in found:
            continue
        if not np.isnat(_with_format(pd.Index([text]), fmt, None)).any():
            found.append(fmt)
    return found[:2]


def _suggestion(text):
    formats = suggest_format(text)
    if not formats:
        return ""
    return f", which the format {' or '.join(repr(f) for f in formats)} would read"


def far_future_rows(ticks, ticks_per_day, *, share=0.001, min_gap_days=365, sample_size=200_000, bounds=None):
    """Rows dated far past the rest: a handful (about ``share`` of the rows at most, at
    least one) later than the rest's last date by more than the rest's span and by more
    than ``min_gap_days``.

    The rest's last date is the ``1 - share`` quantile of the dates, taken from an even
    sample of at most ``sample_size`` rows (10M rows cost one comparison each).
    ``bounds``: (smallest, largest) tick if the caller knows them. Returns the row
    numbers (empty if none), the latest first.
    """
    none = np.empty(0, dtype=np.int64)
    n = len(ticks)
    if n < 2:
        return none
    low, high = bounds if bounds is not None else (int(ticks.min()), int(ticks.max()))
    if high - low <= min_gap_days * ticks_per_day:
        return none
    sample = ticks[:: max(1, n // sample_size)]
    top = len(sample) - 1 - max(1, int(len(sample) * share))
    if top < 0:
        return none
    bulk_end = int(np.partition(sample, top)[top])
    threshold = bulk_end + max(bulk_end - low, min_gap_days * ticks_per_day)
    if high <= threshold:
        return none
    rows = np.flatnonzero(ticks > threshold)
    if len(rows) > 2 * share * n + 1:  # not a handful: the data do run that far
        return none
    return rows[np.argsort(-ticks[rows], kind="stable")]


# ----- model files ----------------------------------------------------------------------------
def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _finite(value):
    """A JSON number that is finite as a float (a 400-digit integer is not)."""
    try:
        return bool(np.isfinite(float(value)))
    except OverflowError:
        return False


def check_format_version(version, newest, key="format_version"):
    """A file's format version: a whole number (1, not 1.0 or "1") from 1 to ``newest``."""
    if version is None:
        raise ValueError(f"{key!r} is missing")
    if not isinstance(version, int) or isinstance(version, bool):
        kind = "text" if isinstance(version, str) else type(version).__name__
        raise ValueError(f"{key!r} must be a whole number such as {newest}, got {version!r} ({kind})")
    if version < 1:
        raise ValueError(f"{key!r} {version} is not a format version")
    if version > newest:
        raise ValueError(f"written by a newer clvmodels (format version {version}); upgrade clvmodels")
    return version


def _setting_defaults(constructor):
    """Keyword defaults of a model class's constructor (its settings and their types)."""
    import inspect

    if constructor is None:
        return None
    return {
        name: parameter.default
        for name, parameter in inspect.signature(constructor).parameters.items()
        if parameter.default is not inspect.Parameter.empty
    }


def check_model_record(record, param_names, constructor=None, unbounded=()):
    """Check the types of a model record (``to_dict`` output) before it is rebuilt.

    Every entry has the type ``to_dict`` writes: parameters are JSON numbers (not
    text), finite and > 0; counts and the log-likelihood are finite numbers or null;
    the time unit is a known code or null; the covariance is a square table of
    numbers or nulls, one row per parameter; settings are those of ``constructor``
    (the model class), numbers >= 0 where its defaults are numbers. Parameters in
    ``unbounded`` (covariate coefficients) may be any finite number.

    Raises
    ------
    ValueError
        Naming the first entry that is wrong.
    """
    from ._units import check_time_unit

    params = record.get("params")
    if not isinstance(params, dict):
        raise ValueError(f"'params' must be a mapping of parameter names to numbers, got {_kind(params)}")
    names = sorted(str(name) for name in params)
    if names != sorted(param_names):
        raise ValueError(f"{record.get('model')} needs parameters {list(param_names)}, the file has {names}")
    for name in param_names:
        value = params[name]
        if not _is_number(value):
            raise ValueError(f"parameter {name!r} must be a number, got {_kind(value)}")
        if not (_finite(value) and (value > 0 or name in unbounded)):
            raise ValueError(f"parameter {name!r} must be a finite number > 0, got {value!r}")
    settings = record.get("settings", {})
    if not isinstance(settings, dict):
        raise ValueError(f"'settings' must be a mapping, got {_kind(settings)}")
    defaults = _setting_defaults(constructor)
    for key, value in settings.items():
        if defaults is not None and key not in defaults:
            raise ValueError(f"unknown setting {key!r}; the model's settings are {sorted(defaults)}")
        default = defaults.get(key) if defaults is not None else 0.0
        if not _is_number(default):
            continue  # a setting that is not a number (text, a flag): the constructor checks it
        if not _is_number(value) or not _finite(value) or value < 0:
            raise ValueError(f"setting {key!r} must be a finite number >= 0, got {_kind(value)}")
    unit = record.get("time_unit")
    if unit is not None:
        if not isinstance(unit, str):
            raise ValueError(f"'time_unit' must be a unit code such as 'W', got {_kind(unit)}")
        check_time_unit(unit)
    for key in ("log_likelihood", "n_customers", "n_unique_rows"):
        value = record.get(key)
        if value is not None and (not _is_number(value) or not _finite(value)):
            raise ValueError(f"{key!r} must be a finite number or null, got {_kind(value)}")
        if key != "log_likelihood" and value is not None and value < 0:
            raise ValueError(f"{key!r} must be >= 0, got {value!r}")
    if record.get("optimizer") is not None and not isinstance(record["optimizer"], str):
        raise ValueError(f"'optimizer' must be text or null, got {_kind(record['optimizer'])}")
    if record.get("metadata") is not None and not isinstance(record["metadata"], dict):
        raise ValueError(f"'metadata' must be a mapping or null, got {_kind(record['metadata'])}")
    _check_covariance(record.get("covariance_log_params"), len(param_names))


def _check_covariance(rows, size):
    if rows is None:
        return
    shape_ok = isinstance(rows, list) and len(rows) == size and all(isinstance(r, list) and len(r) == size for r in rows)
    if not shape_ok:
        raise ValueError(f"'covariance_log_params' must be a {size} x {size} table of numbers or nulls")
    for row in rows:
        for value in row:
            if value is not None and (not _is_number(value) or not _finite(value)):
                raise ValueError(f"'covariance_log_params' holds {_kind(value)}, not a finite number or null")


def _kind(value):
    """A short description of a JSON value for messages: its text (cut) and type."""
    text = repr(value)
    if len(text) > 40:
        text = text[:37] + "..."
    kind = {str: "text", bool: "true/false", type(None): "null", list: "a list", dict: "a mapping"}.get(
        type(value), type(value).__name__
    )
    return f"{text} ({kind})"
