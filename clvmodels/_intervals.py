"""Prediction intervals: quantiles of a discrete predictive distribution, parameter
uncertainty carried into predictions, and customer value by simulation.

Everything here works through a model's public methods and its ``formulas``
namespace, so it serves every model that provides the formulas it needs.
"""

import copy
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd

# Customers handled at once by the simulations and the per-draw predictions: bounds
# memory to a few arrays of chunk x draws (or chunk x periods) floats.
DEFAULT_CHUNK = 65_536
_LARGEST_COUNT = 10**7
_CDF_SLACK = 1e-12


def worker_threads():
    """Threads for the simulations and their quantiles: the cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def column_quantiles(draws, probabilities):
    """``np.quantile(draws, probabilities, axis=0)``, the columns split over threads
    (NumPy releases the GIL while it partitions); each column's quantiles are its own,
    so the split changes nothing."""
    n_columns = draws.shape[1]
    parts = min(worker_threads(), max(1, n_columns // 8192))
    if parts == 1:
        return np.quantile(draws, probabilities, axis=0)
    edges = np.linspace(0, n_columns, parts + 1).astype(int)
    with ThreadPoolExecutor(max_workers=parts) as pool:
        pieces = pool.map(lambda i: np.quantile(draws[:, edges[i]:edges[i + 1]], probabilities, axis=0), range(parts))
        return np.concatenate(list(pieces), axis=1)


def check_level(level):
    """``level`` as a float in (0, 1), or a ValueError."""
    try:
        value = float(level)
    except (TypeError, ValueError):
        raise ValueError(f"level must be a number between 0 and 1, got {level!r}") from None
    if not 0 < value < 1:
        raise ValueError(f"level must be between 0 and 1 (e.g. 0.9 for a 90% interval), got {level!r}")
    return value


def check_draws(n_draws):
    try:
        value = int(n_draws)
    except (TypeError, ValueError):
        raise ValueError(f"n_draws must be a whole number >= 2, got {n_draws!r}") from None
    if value != n_draws or value < 2:
        raise ValueError(f"n_draws must be a whole number >= 2, got {n_draws!r}")
    return value


DRAWS_METHODS = ("asymptotic", "bootstrap")


def check_draws_method(method):
    """``method`` of :meth:`clvmodels.TransactionModel.parameter_draws`, or a ValueError."""
    if not isinstance(method, str) or method not in DRAWS_METHODS:
        raise ValueError(f"interval method must be one of {', '.join(map(repr, DRAWS_METHODS))}, got {method!r}")
    return method


def tail_probabilities(level):
    """The lower tail, the median and the upper tail's complement of a central interval."""
    tail = (1.0 - level) / 2.0
    return np.array([tail, 0.5, 1.0 - tail])


def predictive_bounds(draws, level):
    """Bounds from ``n`` simulated draws that cover one more draw of the same quantity
    with probability at least ``level``.

    The k-th smallest and k-th largest of n exchangeable draws enclose a further draw
    with probability (n + 1 - 2k) / (n + 1), whatever the distribution; k is the
    largest with that at least ``level``. The plain sample quantiles cover less:
    about 88% for a 90% interval from 100 draws. With too few draws for any k (fewer
    than 2 / (1 - level) - 1), the smallest and largest draw.

    Returns
    -------
    (float, float)
    """
    ordered = np.sort(np.asarray(draws, dtype=float))
    n = ordered.size
    k = max(1, int(np.floor((n + 1) * (1.0 - level) / 2.0 + 1e-9)))
    return float(ordered[k - 1]), float(ordered[n - k])


def quantiles_from_pmf(pmf, n_rows, probabilities, first_block=8):
    """Smallest n with P(X <= n) >= p for each row and each p in ``probabilities``.

    ``pmf(n, rows)`` returns P(X = n) for a column vector of counts ``n`` (shape
    (B, 1)) and the row indices ``rows`` (shape (B, len(rows))). Counts are scanned in
    blocks that double in length, and only rows whose quantiles are still open are
    evaluated, so light buyers cost a few evaluations and heavy buyers a few blocks.
    With these quantiles P(X < lower) < p_low and P(X > upper) <= 1 - p_high: a
    discrete interval's tails are never larger than nominal.

    Returns
    -------
    ndarray of int64, shape (n_rows, len(probabilities))
    """
    probabilities = np.asarray(probabilities, dtype=float)
    result = np.full((n_rows, len(probabilities)), -1, dtype=np.int64)
    cdf = np.zeros(n_rows)
    open_rows = np.arange(n_rows)
    start, block = 0, first_block
    while open_rows.size:
        if start > _LARGEST_COUNT:
            raise FloatingPointError(
                f"the predictive distribution of {open_rows.size} customers does not reach its "
                f"quantiles by {_LARGEST_COUNT} purchases; this is a bug, please report it"
            )
        counts = np.arange(start, start + block, dtype=float)[:, None]
        cumulative = cdf[open_rows] + np.cumsum(pmf(counts, open_rows), axis=0)
        for j, p in enumerate(probabilities):
            reached = cumulative >= p - _CDF_SLACK
            found = reached.any(axis=0) & (result[open_rows, j] < 0)
            result[open_rows[found], j] = start + np.argmax(reached[:, found], axis=0)
        cdf[open_rows] = cumulative[-1]
        open_rows = open_rows[(result[open_rows] < 0).any(axis=1)]
        start, block = start + block, 2 * block
    return result


def survival_table(recurrence, floor):
    """Ragged table of S(k) = P(X > k) for k = 0, 1, ... per group, each row ending at
    the first k where S(k) <= ``floor`` under every parameter draw.

    Parameters
    ----------
    recurrence : object
        ``survival()`` gives S(0) as an array (draws, groups); ``advance(keep)`` keeps
        the groups (columns) where the boolean ``keep`` is true, steps k by one and
        gives S(k) for them. Groups that are done leave the recurrence, so a heavy
        buyer's long tail costs only its own steps.
    floor : float

    Returns
    -------
    values : ndarray, shape (draws, total length)
        Row g of the table is ``values[:, offsets[g]:offsets[g + 1]]`` (k = 0, 1, ...).
    offsets : ndarray of int64, shape (groups + 1,)
    """
    current = recurrence.survival()
    n_groups = current.shape[1]
    active = np.arange(n_groups)
    lengths = np.zeros(n_groups, dtype=np.int64)
    steps, k = [], 0
    while True:
        steps.append((active, current))
        keep = ~np.all(current <= floor, axis=0)
        lengths[active[~keep]] = k + 1
        active = active[keep]
        if not active.size:
            break
        if k >= _LARGEST_COUNT:
            raise FloatingPointError(
                f"the predictive distribution of {active.size} groups of customers does not reach its "
                f"quantiles by {_LARGEST_COUNT} purchases; this is a bug, please report it"
            )
        current = recurrence.advance(keep)
        k += 1
    offsets = np.concatenate(([0], np.cumsum(lengths)))
    values = np.empty((current.shape[0], offsets[-1]))
    for k, (groups, block) in enumerate(steps):
        values[:, offsets[groups] + k] = block
    return values, offsets


def mixture_quantiles(alive, group, table, offsets, probabilities):
    """Quantiles of X where X = 0 if the customer has dropped out and, if alive, has the
    survival function of her group, averaged over parameter draws.

    With D draws, P(X > k) = (1/D) sum_d alive[d] S_d(group, k), so for each row and
    each p the quantile is the smallest k with that sum <= 1 - p (up to the slack of
    :func:`quantiles_from_pmf`). The scan goes up k one step at a time over the rows
    still open; the last entry of each group's row of ``table`` (see
    :func:`survival_table`) is at or past every quantile.

    Parameters
    ----------
    alive : ndarray, shape (draws, rows)
        P(alive | history) under each draw.
    group : ndarray of int, shape (rows,)
        Each row's group (its row of ``table``).
    table, offsets
        From :func:`survival_table`, computed with a floor of at most
        ``1 - max(probabilities) + slack``.
    probabilities : array-like

    Returns
    -------
    ndarray of int64, shape (rows, len(probabilities))
    """
    thresholds = 1.0 - np.asarray(probabilities, dtype=float) + _CDF_SLACK
    n_draws, n_rows = alive.shape
    result = np.full((n_rows, len(thresholds)), -1, dtype=np.int64)
    start, last = offsets[group], offsets[group + 1] - 1
    rows, k = np.arange(n_rows), 0
    while rows.size:
        position = start[rows] + k
        tail = np.add.reduce(alive[:, rows] * table[:, position], axis=0) / n_draws
        at_end = position == last[rows]
        for j, threshold in enumerate(thresholds):
            found = (result[rows, j] < 0) & ((tail <= threshold) | at_end)
            result[rows[found], j] = k
        rows = rows[(result[rows] < 0).any(axis=1)]
        k += 1
    return result


def with_params(model, params):
    """A shallow copy of a fitted ``model`` with other parameter values."""
    twin = copy.copy(model)
    twin.params_ = pd.Series(np.asarray(params, dtype=float), index=model.params_.index, dtype=float)
    return twin


def chunks(n_rows, chunk_size):
    for start in range(0, n_rows, chunk_size):
        yield slice(start, min(start + chunk_size, n_rows))


def interval_table(estimate, draws_by_chunk, level, index, name):
    """Per-row estimate and interval from per-chunk arrays of draws (draws x rows), and
    the interval of the total over rows in ``attrs["total"]``."""
    low, high = tail_probabilities(level)[[0, 2]]
    lower, upper, totals = [], [], None
    for draws in draws_by_chunk:
        bounds = column_quantiles(draws, [low, high])
        lower.append(bounds[0])
        upper.append(bounds[1])
        chunk_total = draws.sum(axis=1)
        totals = chunk_total if totals is None else totals + chunk_total
    table = pd.DataFrame(
        {name: np.asarray(estimate, dtype=float), "lower": np.concatenate(lower), "upper": np.concatenate(upper)},
        index=index,
    )
    table.attrs["level"] = level
    table.attrs["total"] = {
        name: float(np.sum(estimate)),
        "lower": float(np.quantile(totals, low)),
        "upper": float(np.quantile(totals, high)),
    }
    return table


def parameter_interval(model, predict, data, level, n_draws, random_state, chunk_size=DEFAULT_CHUNK,
                       method="asymptotic"):
    """Interval of ``predict(model, rows)`` from the parameters' sampling uncertainty.

    The parameters are drawn from the fitted model's asymptotic normal distribution of
    the log-parameters, or by a bootstrap over customers with ``method="bootstrap"``
    (:meth:`clvmodels.TransactionModel.parameter_draws`), the
    prediction is evaluated at each draw, and the per-customer quantiles and the
    quantiles of the total over customers form the interval.
    """
    level, n_draws = check_level(level), check_draws(n_draws)
    draws = model.parameter_draws(n_draws, random_state, method=method).to_numpy()
    twins = [with_params(model, d) for d in draws]
    estimate = np.asarray(predict(model, data), dtype=float)

    def draws_by_chunk():
        for rows in chunks(len(data), chunk_size):
            part = data.iloc[rows]
            yield np.stack([np.asarray(predict(twin, part), dtype=float) for twin in twins])

    return interval_table(estimate, draws_by_chunk(), level, data.index, "estimate")


def spread_over_periods(totals, spans, period_ends, rng):
    """Place each customer's ``totals`` Poisson arrivals uniformly over (0, ``spans``]
    (as Poisson arrivals are, given their number) and count them per period.

    Parameters
    ----------
    totals : ndarray of int
        Arrivals per customer.
    spans : ndarray or float
        Length of time over which each customer's arrivals fall (at most the horizon).
    period_ends : ndarray
        Increasing ends of the periods.
    rng : numpy.random.Generator

    Returns
    -------
    ndarray of int64, shape (customers, periods)
    """
    n_periods = len(period_ends)
    if totals.size and totals.min() > 0:  # every row buys (the buyers-only draws): no selection
        buyers = np.arange(totals.size)
    else:
        buyers = np.flatnonzero(totals)
    owners = np.repeat(buyers, totals[buyers])
    times = rng.random(owners.size)
    times *= spans if np.ndim(spans) == 0 else np.broadcast_to(spans, totals.shape)[owners]
    periods = np.minimum(np.searchsorted(period_ends, times), n_periods - 1)
    periods += owners * n_periods
    return np.bincount(periods, minlength=len(totals) * n_periods).reshape(len(totals), n_periods)
