"""Synthetic benchmark data drawn from the models' own generative processes.

Two kinds of input, both reproducible from a seed:

- RFM tables (frequency, recency, T, monetary_value) drawn with
  :func:`clvmodels.bgnbd.sample` (BG/NBD, Fader, Hardie & Lee 2005) and
  :func:`clvmodels.gamma_gamma.sample` (Gamma-Gamma), with continuous times or
  times rounded down to whole days; time unit weeks.
- Raw transaction logs (customer_id, date, amount) drawn from the same BG/NBD
  process in calendar time, vectorised over all customers at once (no Python
  loop over customers or transactions).

The default parameters are the published CDNOW estimates (FHL 2005, Table 1:
r = 0.243, alpha = 4.414 weeks, a = 0.793, b = 2.426; Gamma-Gamma p = 6.25,
q = 3.74, v = 15.44 from FHL 2005 "RFM and CLV").
"""

import numpy as np
import pandas as pd
from scipy import optimize

from clvmodels import bgnbd, gamma_gamma, mbgnbd, pareto_nbd

BG_PARAMS = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}  # alpha in weeks
# MBG/NBD on the same CDNOW sample (Batislam, Denizel & Filiztekin 2007 model; REFERENCE.md).
MBG_PARAMS = {"r": 0.525, "alpha": 6.183, "a": 0.891, "b": 1.614}
SAMPLERS = {"bgnbd": bgnbd.sample, "mbgnbd": mbgnbd.sample}
GG_PARAMS = {"p": 6.25, "q": 3.74, "v": 15.44}
# Pareto/NBD CDNOW estimates (FHL 2005 / REFERENCE.md), alpha and beta in weeks.
PNBD_PARAMS = {"r": 0.5533, "alpha": 10.578, "s": 0.6062, "beta": 11.669}
ORIGIN = np.datetime64("2020-01-01", "D")
DAYS_PER_WEEK = 7.0


def rfm_table(n_customers, *, resolution="continuous", window_weeks=52.0, seed=0,
              bg_params=BG_PARAMS, gg_params=GG_PARAMS, model="bgnbd"):
    """An RFM table of ``n_customers`` drawn from BG/NBD (or ``model="mbgnbd"``: MBG/NBD,
    with ``bg_params`` its parameters) + Gamma-Gamma, in weeks.

    Each customer's age ``T`` is uniform over (1 day, ``window_weeks``] (first
    purchases spread evenly over the window). With ``resolution="day"`` the
    process runs in days and ``T`` and ``recency`` are whole days (recency rounded
    down), then divided by 7, as :func:`clvmodels.rfm_summary` produces them for
    daily data and ``time_unit="W"``; such tables have many repeated rows.

    Returns
    -------
    pandas.DataFrame
        Columns frequency, recency, T, monetary_value (0 where frequency is 0);
        ``attrs["time_unit"] = "W"``.
    """
    if resolution not in ("continuous", "day"):
        raise ValueError(f"resolution must be 'continuous' or 'day', got {resolution!r}")
    rng = np.random.default_rng(seed)
    sample = SAMPLERS[model]
    window_days = int(round(window_weeks * DAYS_PER_WEEK))
    if resolution == "continuous":
        T = rng.uniform(1 / DAYS_PER_WEEK, window_weeks, n_customers)
        table = sample(bg_params, T, rng)
    else:
        params_in_days = {**bg_params, "alpha": bg_params["alpha"] * DAYS_PER_WEEK}
        T_days = rng.integers(1, window_days + 1, n_customers).astype(float)
        table = sample(params_in_days, T_days, rng)
        table["recency"] = np.floor(table["recency"]) / DAYS_PER_WEEK
        table["T"] = T_days / DAYS_PER_WEEK
    table["monetary_value"] = gamma_gamma.sample(gg_params, table["frequency"].to_numpy(), rng)
    table.attrs["time_unit"] = "W"
    return table


# Issue 12: coefficients of x1 ~ N(0, 1) and x2 ~ Bernoulli(0.4) in both processes.
COVARIATE_EFFECTS = {"purchase[x1]": 0.3, "purchase[x2]": -0.2, "dropout_a[x1]": 0.2, "dropout_a[x2]": 0.0,
                     "dropout_b[x1]": -0.1, "dropout_b[x2]": 0.3}


def rfm_with_covariates(n_customers, *, window_weeks=52.0, seed=0, bg_params=BG_PARAMS,
                        effects=COVARIATE_EFFECTS):
    """An RFM table drawn from BG/NBD with two covariates in both processes (continuous
    times, weeks): columns frequency, recency, T, x1, x2."""
    from clvmodels import BetaGeoModel  # noqa: PLC0415 (only this table needs the model class)

    rng = np.random.default_rng(seed)
    covariates = pd.DataFrame({"x1": rng.normal(size=n_customers),
                               "x2": rng.binomial(1, 0.4, n_customers).astype(float)})
    model = BetaGeoModel.from_dict({
        "params": {**bg_params, **effects}, "time_unit": "W",
        "settings": {"purchase_covariates": ["x1", "x2"], "dropout_covariates": ["x1", "x2"]},
    })
    table = model.sample(rng.uniform(1 / DAYS_PER_WEEK, window_weeks, n_customers), rng, covariates=covariates)
    table[["x1", "x2"]] = covariates.to_numpy()
    table.attrs["time_unit"] = "W"
    return table


def pnbd_rfm_table(n_customers, *, window_weeks=52.0, seed=0, params=PNBD_PARAMS):
    """An RFM table of ``n_customers`` drawn from the Pareto/NBD model
    (:func:`clvmodels.pareto_nbd.sample`) at day resolution, in weeks, like
    :func:`rfm_table` with ``resolution="day"``.

    Returns
    -------
    pandas.DataFrame
        Columns frequency, recency, T; ``attrs["time_unit"] = "W"``.
    """
    rng = np.random.default_rng(seed)
    window_days = int(round(window_weeks * DAYS_PER_WEEK))
    in_days = {**params, "alpha": params["alpha"] * DAYS_PER_WEEK, "beta": params["beta"] * DAYS_PER_WEEK}
    T_days = rng.integers(1, window_days + 1, n_customers).astype(float)
    table = pareto_nbd.sample(in_days, T_days, rng)
    table["recency"] = np.floor(table["recency"]) / DAYS_PER_WEEK
    table["T"] = T_days / DAYS_PER_WEEK
    table.attrs["time_unit"] = "W"
    return table


def repeat_buyers(n_customers, *, seed=0, **kwargs):
    """``n_customers`` rows with frequency > 0 (the Gamma-Gamma fitting population).

    Draws RFM tables in chunks with :func:`rfm_table` and keeps the repeat buyers.
    """
    chunks, have, chunk_seed = [], 0, seed
    while have < n_customers:
        size = max(1000, int(1.3 * (n_customers - have) / 0.35))  # ~35-45% buy again (CDNOW values)
        table = rfm_table(size, seed=chunk_seed, **kwargs)
        table = table[table["frequency"] > 0]
        chunks.append(table)
        have += len(table)
        chunk_seed += 1_000_003
    table = pd.concat(chunks, ignore_index=True).iloc[:n_customers].reset_index(drop=True)
    table.attrs["time_unit"] = "W"
    return table


def _rate_scale(bg_params, window_days, repeats_per_customer):
    """Factor on the purchase rate (alpha / scale) giving on average ``repeats_per_customer``
    repeat purchases for ages uniform over the window (FHL 2005 eq. 9, averaged over T)."""
    ages = (np.arange(200) + 0.5) / 200 * window_days

    def mean_repeats(log_scale):
        params = {**bg_params, "alpha": bg_params["alpha"] * DAYS_PER_WEEK / np.exp(log_scale)}
        return float(np.mean(bgnbd.expected_purchases_new_customer(params, ages))) - repeats_per_customer

    return float(np.exp(optimize.brentq(mean_repeats, -20.0, 20.0, xtol=1e-10)))


def transactions(n_transactions, n_customers, *, window_days=365, seed=0,
                 bg_params=BG_PARAMS, gg_params=GG_PARAMS, time_of_day=True):
    """A raw transaction log drawn from the BG/NBD and Gamma-Gamma processes.

    Per customer: purchase rate lambda ~ Gamma(r, alpha) and dropout probability
    p ~ Beta(a, b); the first purchase day is uniform over the window, then
    purchases follow a Poisson process of rate lambda, and after each repeat
    purchase the customer drops out with probability p (FHL 2005, section 3).
    The purchase rate is scaled (alpha divided by a constant) so that the log has
    about ``n_transactions`` rows. Each amount is Gamma(p, nu) with
    nu ~ Gamma(q, v) per customer.

    Vectorised construction: with N ~ Poisson(lambda T) arrivals in the customer's
    remaining window T and J ~ Geometric(p) the repeat purchase after which she
    drops out, she makes X = min(N, J) repeat purchases; they are the first X of N
    sorted uniform times on (0, T), i.e. T * (E_1 + ... + E_k) / (E_1 + ... + E_X + G)
    for k = 1..X, with E_i standard exponential and G ~ Gamma(N - X + 1) (sorted
    uniforms as normalised exponential spacings). One ``np.repeat`` and one
    ``np.cumsum`` over all repeat purchases build every time.

    Parameters
    ----------
    n_transactions, n_customers : int
        Target number of rows (met in expectation) and number of customers.
    window_days : int
        Length of the observation window; ``observation_end`` is its last day.
    time_of_day : bool
        Keep the time of day in ``date`` (as a real log would); else dates at midnight.

    Returns
    -------
    pandas.DataFrame
        Columns customer_id (int64, 1..n_customers), date (datetime64[ns]) and
        amount (float64), in chronological order; ``attrs["observation_end"]`` and
        ``attrs["calibration_end"]`` (two thirds into the window) are ISO dates.
    """
    if n_transactions < n_customers:
        raise ValueError("every customer has a first purchase: n_transactions >= n_customers")
    rng = np.random.default_rng(seed)
    r, alpha, a, b = (bg_params[k] for k in ("r", "alpha", "a", "b"))
    alpha_days = alpha * DAYS_PER_WEEK
    repeats = n_transactions / n_customers - 1
    if repeats > 0:
        alpha_days /= _rate_scale(bg_params, window_days, repeats)
    rate = rng.gamma(r, 1 / alpha_days, n_customers)
    dropout = rng.beta(a, b, n_customers)
    first = rng.uniform(0.0, window_days, n_customers)
    remaining = window_days - first
    arrivals = rng.poisson(rate * remaining) if repeats > 0 else np.zeros(n_customers, dtype=np.int64)
    last = rng.geometric(np.clip(dropout, 1e-300, 1.0))
    x = np.minimum(arrivals, last)

    owner = np.repeat(np.arange(n_customers), x)
    running = np.cumsum(rng.standard_exponential(len(owner)))
    ends = np.cumsum(x)
    before = np.concatenate(([0.0], running))[ends - x]  # running sum before each customer's block
    within = running - before[owner]  # E_1 + ... + E_k within the customer
    block_total = np.concatenate(([0.0], running))[ends] - before  # E_1 + ... + E_X
    tail = rng.standard_gamma(np.maximum(arrivals - x + 1, 1).astype(float))
    repeat_times = first[owner] + remaining[owner] * within / (block_total + tail)[owner]

    customer = np.concatenate([np.arange(n_customers), owner])
    times = np.concatenate([first, repeat_times])
    del owner, running, within, repeat_times
    spend_rate = rng.gamma(gg_params["q"], 1 / gg_params["v"], n_customers)
    amount = rng.gamma(gg_params["p"], 1.0, len(customer)) / spend_rate[customer]
    amount = np.round(amount, 2)

    order = np.argsort(times, kind="stable")
    customer, times, amount = customer[order] + 1, times[order], amount[order]
    seconds = 86_400 if time_of_day else 1
    ticks = np.floor(times * seconds).astype(np.int64) if time_of_day else np.floor(times).astype(np.int64)
    unit = "s" if time_of_day else "D"
    dates = (ORIGIN.astype(f"datetime64[{unit}]") + ticks.astype(f"timedelta64[{unit}]")).astype("datetime64[ns]")
    log = pd.DataFrame({"customer_id": customer, "date": dates, "amount": amount})
    log.attrs["observation_end"] = str(ORIGIN + np.timedelta64(window_days - 1, "D"))
    log.attrs["calibration_end"] = str(ORIGIN + np.timedelta64(window_days * 2 // 3 - 1, "D"))
    return log


def write_parquet_dataset(directory, n_transactions, n_customers, *, n_partitions=50, n_chunks=None,
                          window_days=365, seed=0, time_of_day=True):
    """Write a transaction log of about ``n_transactions`` rows as a Parquet dataset.

    The customers are drawn in chunks (at most 5M transactions each, so memory stays
    bounded whatever the size) with :func:`transactions`; chunk k's customer ids are
    offset so they are distinct. Each chunk's rows (in date order) are dealt out to
    ``n_partitions`` files in equal consecutive slices, so every file holds a slice of
    every chunk's dates and a customer's purchases are spread over many files, as in a
    lake partitioned by arrival time. Each file gets one row group per chunk.

    Returns
    -------
    dict
        ``rows``, ``customers``, ``files`` and the ISO ``observation_end`` and
        ``calibration_end`` of the log.
    """
    import os

    import pyarrow as pa
    import pyarrow.parquet as pq

    n_chunks = n_chunks or max(1, -(-n_transactions // 5_000_000))
    os.makedirs(directory, exist_ok=True)
    schema = pa.schema([("customer_id", pa.int64()), ("date", pa.timestamp("ns")), ("amount", pa.float64())])
    writers = [pq.ParquetWriter(os.path.join(directory, f"part-{i:05d}.parquet"), schema) for i in range(n_partitions)]
    rows = customers = 0
    attrs = {}
    try:
        for chunk in range(n_chunks):
            chunk_customers = n_customers // n_chunks + (1 if chunk < n_customers % n_chunks else 0)
            chunk_rows = n_transactions // n_chunks + (1 if chunk < n_transactions % n_chunks else 0)
            log = transactions(chunk_rows, chunk_customers, window_days=window_days, seed=seed + 7919 * chunk,
                               time_of_day=time_of_day)
            log["customer_id"] += customers
            attrs = dict(log.attrs)
            table = pa.Table.from_pandas(log, schema=schema, preserve_index=False)
            bounds = np.linspace(0, len(log), n_partitions + 1).astype(int)
            for writer, start, stop in zip(writers, bounds[:-1], bounds[1:]):
                writer.write_table(table.slice(start, stop - start))
            rows += len(log)
            customers += chunk_customers
            del log, table
    finally:
        for writer in writers:
            writer.close()
    return {"rows": rows, "customers": customers, "files": n_partitions, **attrs}
