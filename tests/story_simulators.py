"""Calibration histories and holdout purchases drawn straight from each continuous
model's story, written here independently of the package's own samplers, for the
calibration checks of the prediction intervals (tests and ``benchmarks/coverage.py``).

Every simulator returns ``(data, holdout)``: ``data`` has columns frequency, recency
and T (weeks, ``attrs["time_unit"] = "W"``) for a calibration period of length ``T``;
``holdout`` is each customer's number of purchases in the following ``t`` weeks.
Purchase times are continuous, and recency is then rounded to the day as
:func:`clvmodels.rfm_summary` reports it (at least one day for a repeat buyer), so
the fits compress the table to its distinct rows as they do on real data.
"""

import numpy as np
import pandas as pd

# Parameter sets (weeks) per model key: a CDNOW-like base, heavy buyers and fast churn.
REGIMES = {
    "bgnbd": {
        "cdnow": {"r": 0.24, "alpha": 4.4, "a": 0.79, "b": 2.4},
        "heavy buyers": {"r": 4.0, "alpha": 2.0, "a": 0.5, "b": 8.0},
        "fast churn": {"r": 1.0, "alpha": 5.0, "a": 3.0, "b": 1.5},
    },
    "mbgnbd": {
        "cdnow": {"r": 0.25, "alpha": 4.0, "a": 0.8, "b": 2.5},
        "heavy buyers": {"r": 4.0, "alpha": 2.0, "a": 0.5, "b": 8.0},
        "fast churn": {"r": 1.0, "alpha": 5.0, "a": 3.0, "b": 1.5},
    },
    "pnbd": {
        "cdnow": {"r": 0.55, "alpha": 10.6, "s": 0.61, "beta": 11.7},
        "heavy buyers": {"r": 4.0, "alpha": 4.0, "s": 0.5, "beta": 20.0},
        "fast churn": {"r": 1.0, "alpha": 5.0, "s": 2.0, "beta": 10.0},
    },
}


DAYS_PER_WEEK = 7.0


def _table(x, t_x, T):
    days = np.clip(np.round(t_x * DAYS_PER_WEEK), 1.0, np.round(T * DAYS_PER_WEEK))
    t_x = np.where(x > 0, days / DAYS_PER_WEEK, 0.0)
    table = pd.DataFrame({"frequency": x.astype(float), "recency": t_x, "T": np.full(len(x), float(T))})
    table.attrs["time_unit"] = "W"
    return table


def _beta_geometric(params, n, T, t, seed, dropout_at_start):
    """BG/NBD (FHL 2005): Poisson purchases at rate lambda ~ Gamma(r, alpha) while
    alive; the customer drops out right after the J-th repeat purchase,
    J ~ Geometric(p) on {1, 2, ...}, p ~ Beta(a, b). MBG/NBD (Batislam et al. 2007)
    adds a dropout opportunity at time 0: J on {0, 1, ...}."""
    rng = np.random.default_rng(seed)
    rate = rng.gamma(params["r"], 1 / params["alpha"], n)
    last = rng.geometric(rng.beta(params["a"], params["b"], n)) - int(dropout_at_start)
    in_calibration = rng.poisson(rate * T)
    in_holdout = rng.poisson(rate * t)
    x = np.minimum(in_calibration, last)
    holdout = np.minimum(in_calibration + in_holdout, last) - x
    # The x-th of n arrivals in (0, T] is T times the x-th of n sorted uniforms.
    t_x = np.where(x > 0, T * rng.beta(np.maximum(x, 1), np.maximum(in_calibration - x + 1, 1)), 0.0)
    return _table(x, t_x, T), holdout


def simulate_bgnbd(params, n, T, t, seed):
    return _beta_geometric(params, n, T, t, seed, dropout_at_start=False)


def simulate_mbgnbd(params, n, T, t, seed):
    return _beta_geometric(params, n, T, t, seed, dropout_at_start=True)


def simulate_pareto_nbd(params, n, T, t, seed):
    """Pareto/NBD (Schmittlein, Morrison & Colombo 1987): Poisson purchases at rate
    lambda ~ Gamma(r, alpha) during an Exponential(mu) lifetime, mu ~ Gamma(s, beta)."""
    rng = np.random.default_rng(seed)
    rate = rng.gamma(params["r"], 1 / params["alpha"], n)
    lifetime = rng.exponential(1.0, n) / rng.gamma(params["s"], 1 / params["beta"], n)
    active_calibration = np.minimum(lifetime, T)
    active_holdout = np.clip(lifetime - T, 0.0, t)
    x = rng.poisson(rate * active_calibration)
    holdout = rng.poisson(rate * active_holdout)
    t_x = np.where(x > 0, active_calibration * rng.beta(np.maximum(x, 1), 1.0), 0.0)
    return _table(x, t_x, T), holdout


SIMULATORS = {"bgnbd": simulate_bgnbd, "mbgnbd": simulate_mbgnbd, "pnbd": simulate_pareto_nbd}
