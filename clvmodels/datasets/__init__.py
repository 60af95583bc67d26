"""Data sets shipped with clvmodels.

The CDNOW data (Fader, Hardie and Lee 2005, "Counting your customers the easy
way", Marketing Science 24(2)) is every purchase, from January 1997 to June 1998,
of the 23,570 customers who first bought at the online CD store CDNOW in the
first quarter of 1997.

The donations data (Fader, Hardie and Shang 2010, "Customer-base analysis in a
discrete-time noncontractual setting", Marketing Science 29(6)) summarises the
repeat donations, 1996-2001, of the 11,104 people who first donated to a US
nonprofit in 1995, as 22 (frequency, recency) patterns with their counts.

The subscriptions data are simulated, not observed: 3,000 monthly subscriptions
whose lengths were drawn from a beta-discrete-Weibull model, to try the
contractual models (sBG, BdW) and their command line on a raw subscription table.
"""

from importlib import resources

import numpy as np
import pandas as pd

__all__ = ["load_cdnow", "load_donations", "load_subscriptions"]

_COLUMNS = ["customer_id", "date", "quantity", "amount"]
_DTYPES = {"customer_id": np.int64, "date": str, "quantity": np.int64, "amount": np.float64}

# CDNOW_sample.txt leads with the master id; the second column is the papers' id.
_FILES = {
    False: ("CDNOW_master.txt", {"names": _COLUMNS, "skiprows": 1}),
    True: ("CDNOW_sample.txt", {"names": ["master_id", *_COLUMNS], "usecols": _COLUMNS}),
}


def load_cdnow(sample=False):
    """Load the CDNOW transaction log.

    Parameters
    ----------
    sample : bool, default False
        False: all 69,659 purchases of the 23,570 customers of the cohort.
        True: the 1/10 sample used in Fader, Hardie and Lee (2005) and in the
        BTYD literature: 6,919 purchases of 2,357 customers, with the papers'
        customer ids 1..2357.

    Returns
    -------
    pandas.DataFrame
        One row per purchase record, with columns ``customer_id`` (int64),
        ``date`` (datetime64[ns], day resolution), ``quantity`` (int64, the number
        of CDs) and ``amount`` (float64, US dollars). A customer may have several
        records on the same day; :func:`clvmodels.rfm_summary` counts them as one
        purchase.

    Notes
    -----
    Read from the package itself; no network access. The files are Bruce Hardie's
    public CDNOW data as distributed with the ``lifetimes`` package.

    Examples
    --------
    >>> import clvmodels as clv
    >>> tx = clv.datasets.load_cdnow(sample=True)
    >>> tx.shape, tx["customer_id"].nunique()
    ((6919, 4), 2357)
    >>> tx.head(3)
       customer_id       date  quantity  amount
    0            1 1997-01-01         2   29.33
    1            1 1997-01-18         2   29.73
    2            1 1997-08-02         1   14.96
    """
    filename, layout = _FILES[bool(sample)]
    with resources.files(__name__).joinpath(filename).open("rb") as handle:
        table = pd.read_csv(handle, sep=r"\s+", header=None, dtype=_DTYPES, engine="c", **layout)
    table["date"] = pd.to_datetime(table["date"], format="%Y%m%d").astype("datetime64[ns]")
    return table[_COLUMNS]


def load_donations():
    """Load the donations data of Fader, Hardie and Shang (2010): one row per pattern.

    Returns
    -------
    pandas.DataFrame
        22 rows, one per distinct history of the 11,104 first-time donors of 1995
        over the six yearly opportunities 1996-2001, with float columns
        ``frequency`` (years with a repeat donation), ``recency`` (the last such
        year, 1 = 1996; 0 without one), ``n_periods`` (6) and ``weight`` (int64,
        the number of donors with that history). ``attrs["time_unit"]`` is "Y":
        the period is a year. Fit with ``sample_weight="weight"``.

    Notes
    -----
    Read from the package itself (``donations.csv``, Bruce Hardie's published
    pattern counts); no network access.

    Examples
    --------
    >>> import clvmodels as clv
    >>> donations = clv.datasets.load_donations()
    >>> len(donations), int(donations["weight"].sum())
    (22, 11104)
    >>> donations.head(2)
       frequency  recency  n_periods  weight
    0        0.0      0.0        6.0    3464
    1        1.0      1.0        6.0    1091
    """
    with resources.files(__name__).joinpath("donations.csv").open("rb") as handle:
        table = pd.read_csv(handle, dtype=np.int64)
    table = table.rename(columns={"periods": "n_periods", "weights": "weight"})
    columns = ["frequency", "recency", "n_periods"]
    table[columns] = table[columns].astype(np.float64)
    table.attrs["time_unit"] = "Y"
    return table[[*columns, "weight"]]


SUBSCRIPTIONS_OBSERVATION_END = "2023-12-31"


def load_subscriptions():
    """Load a simulated table of 3,000 monthly subscriptions (one row per subscriber).

    The subscriptions started on a day of 2021-01-01 .. 2022-12-28; each lasted a
    number of months drawn from :class:`clvmodels.BetaDiscreteWeibullModel` with
    alpha 1.2, beta 2.5 and c 0.7 (churn that falls with tenure, beyond what
    heterogeneity explains) and ended up to a week before its last renewal date;
    subscriptions still running on 2023-12-31, the day the table was taken, have
    no end. Simulated with a fixed seed (the generator is in the package's tests,
    ``tests/periods_data.py``), so the fitted parameters should be near the
    drawn ones; no real customer is in it.

    Returns
    -------
    pandas.DataFrame
        Columns ``customer_id`` (int64), ``start`` and ``end`` (datetime64[ns],
        ``end`` NaT while active). ``attrs["observation_end"]`` is "2023-12-31":
        pass it to :func:`clvmodels.tenure_summary`.

    Examples
    --------
    >>> import clvmodels as clv
    >>> records = clv.datasets.load_subscriptions()
    >>> len(records), int(records["end"].isna().sum())
    (3000, 527)
    >>> table = clv.tenure_summary(records, period="M", observation_end=records.attrs["observation_end"])
    >>> bdw = clv.BetaDiscreteWeibullModel().fit(table)
    >>> bdw.params_.round(2).to_dict()
    {'alpha': 1.26, 'beta': 2.7, 'c': 0.69}

    On the command line: ``clvmodels forecast --dataset subscriptions --model bdw``.
    """
    with resources.files(__name__).joinpath("subscriptions.csv").open("rb") as handle:
        table = pd.read_csv(handle, dtype={"customer_id": np.int64, "start": str, "end": str})
    for column in ("start", "end"):
        table[column] = pd.to_datetime(table[column], format="%Y-%m-%d").astype("datetime64[ns]")
    table.attrs["observation_end"] = SUBSCRIPTIONS_OBSERVATION_END
    return table
