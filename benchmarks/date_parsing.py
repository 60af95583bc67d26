"""Time of reading N text dates with clvmodels' date parser (issue 14).

    .venv/bin/python benchmarks/date_parsing.py 10000000            # this checkout
    PYTHONPATH=/path/to/other/checkout .venv/bin/python benchmarks/date_parsing.py 10000000

Dates are ISO text (YYYY-MM-DD) spread over the 546 days of the CDNOW period, held
in the string column ``read_csv`` gives the date column; the call is
``clvmodels._validation.datetime_column``, the step every date goes through. Best of
three runs, wall time.
"""

import sys
import time

import numpy as np
import pandas as pd

import clvmodels
from clvmodels._validation import Problems, datetime_column


def main(n):
    rng = np.random.default_rng(0)
    days = np.datetime64("1997-01-01") + rng.integers(0, 546, n)
    frame = pd.DataFrame({"date": pd.Series(days.astype(str)).astype(str)})
    times = []
    for _ in range(3):
        start = time.perf_counter()
        dates = datetime_column(frame, "date", Problems("transactions"))
        times.append(time.perf_counter() - start)
    assert (dates.astype("datetime64[D]") == days).all()
    print(f"{clvmodels.__file__}: {n:,} ISO text dates parsed in {min(times):.3f} s (best of 3)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000_000)
