"""Simulated inputs of the models counted in periods, for the CLI and report tests.

The donations data of FHS 2010 are patterns, not a log, and no subscription table is
bundled, so the tests draw raw records from the models themselves with fixed seeds:
a yearly transaction log from BG/BB and a subscription table (customer, start, end or
blank while active) from the shifted-beta-geometric model.
"""

import numpy as np
import pandas as pd

BGBB_TRUTH = {"alpha": 1.2, "beta": 0.75, "gamma": 0.66, "delta": 2.8}
SBG_TRUTH = {"alpha": 0.7, "beta": 1.2}


def bgbb_log(n_customers=1500, years=10, first_year=2010, seed=0, amounts=True):
    """Yearly transactions of customers acquired in ``first_year`` .. ``first_year + 2``,
    drawn from BG/BB: one row per transaction on a random day of its year, 10% of them
    repeated on another day of the same year (which counts once); with amounts."""
    rng = np.random.default_rng(seed)
    p = rng.beta(BGBB_TRUTH["alpha"], BGBB_TRUTH["beta"], n_customers)
    theta = rng.beta(BGBB_TRUTH["gamma"], BGBB_TRUTH["delta"], n_customers)
    born = rng.integers(0, 3, n_customers)
    alive_through = rng.geometric(theta) - 1
    opportunity = np.arange(1, years)
    buys = ((alive_through[:, None] >= opportunity) & (rng.random((n_customers, years - 1)) < p[:, None])
            & (born[:, None] + opportunity < years))
    rows, offsets = np.nonzero(buys)
    customer = np.concatenate([np.arange(n_customers), rows])
    year = np.concatenate([born, born[rows] + opportunity[offsets]])
    again = rng.random(len(customer)) < 0.1
    customer, year = np.concatenate([customer, customer[again]]), np.concatenate([year, year[again]])
    days = (np.datetime64(f"{first_year}-01-01") + np.zeros(len(year), dtype="timedelta64[D]")).astype("datetime64[Y]")
    starts = (days + year.astype("timedelta64[Y]")).astype("datetime64[D]")
    dates = starts + rng.integers(0, 365, len(year)).astype("timedelta64[D]")
    log = pd.DataFrame({"customer_id": customer + 1, "date": dates.astype(str)})
    if amounts:
        log["amount"] = np.round(rng.gamma(4.0, 12.0, len(log)) * rng.gamma(6.0, 1 / 6.0, n_customers)[customer], 2)
    return log.sample(frac=1.0, random_state=seed).reset_index(drop=True)


def subscriptions(n_customers=2000, months=36, start="2020-01", seed=1):
    """Monthly subscriptions started over the first year from ``start``, each lasting a
    number of months drawn from the sBG; the table as of ``months`` months after
    ``start`` (returned as the second value), ends after it blank (still active)."""
    rng = np.random.default_rng(seed)
    theta = rng.beta(SBG_TRUTH["alpha"], SBG_TRUTH["beta"], n_customers)
    lasts = rng.geometric(np.clip(theta, 1e-12, 1.0))  # the month in which each one leaves
    first_month = np.datetime64(start, "M") + rng.integers(0, 12, n_customers).astype("timedelta64[M]")
    day = rng.integers(0, 28, n_customers).astype("timedelta64[D]")
    started = first_month.astype("datetime64[D]") + day
    ended = (first_month + lasts.astype("timedelta64[M]")).astype("datetime64[D]") + day - np.timedelta64(3, "D")
    observed = (np.datetime64(start, "M") + np.timedelta64(months, "M")).astype("datetime64[D]")
    end_text = np.where(ended <= observed, ended.astype(str), "")
    table = pd.DataFrame({"customer_id": np.arange(1, n_customers + 1), "start": started.astype(str), "end": end_text})
    return table, str(observed)


# The simulated subscription table shipped as clvmodels/datasets/subscriptions.csv
# (clv.datasets.load_subscriptions): drawn from the beta-discrete-Weibull at these
# parameters, churn falling with tenure (c < 1), with this seed.
SHIPPED_BDW = {"alpha": 1.2, "beta": 2.5, "c": 0.7}
SHIPPED_OBSERVATION_END = "2023-12-31"


def shipped_subscriptions(n_customers=3000, seed=2023):
    """3,000 monthly subscriptions started on a random day of 2021-01-01 .. 2022-12-28,
    each lasting a number of months drawn from the BdW (``SHIPPED_BDW``): it ends 0-6
    days before that many months have passed, blank if after ``SHIPPED_OBSERVATION_END``."""
    from clvmodels import bdw

    rng = np.random.default_rng(seed)
    lasts = bdw.sample(SHIPPED_BDW, np.full(n_customers, 100_000.0), rng)["tenure"].to_numpy().astype(np.int64)
    first_month = np.datetime64("2021-01", "M") + rng.integers(0, 24, n_customers).astype("timedelta64[M]")
    day = rng.integers(0, 28, n_customers).astype("timedelta64[D]")
    started = first_month.astype("datetime64[D]") + day
    ended = ((first_month + lasts.astype("timedelta64[M]")).astype("datetime64[D]") + day
             - rng.integers(0, 7, n_customers).astype("timedelta64[D]"))
    end_text = np.where(ended <= np.datetime64(SHIPPED_OBSERVATION_END), ended.astype(str), "")
    return pd.DataFrame({"customer_id": np.arange(1, n_customers + 1), "start": started.astype(str),
                         "end": end_text})
