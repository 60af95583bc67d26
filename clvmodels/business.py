"""From forecast to decision: customer value, LTV:CAC, cohort KPIs and a what-if.

The terms of marketing and finance, computed from a transaction log and fitted
models through their public prediction API only (``expected_purchases``,
``probability_alive``, ``expected_purchases_new_customer``, ``expected_spend``,
``with_dropout_scaled``; for the contractual models ``retention``,
``expected_residual_lifetime`` and ``discounted_expected_lifetime``), so every
purchase, spend and contractual model works. Pandas in,
pandas out; nothing here draws or writes files.

Definitions used throughout (money in ``currency``, times in whole days of the log):

- **Realised margin**: ``margin`` x the sum of the customer's amounts in the log up
  to the observation end (first purchase included).
- **Expected future value**: the model CLV,
  :func:`clvmodels.customer_lifetime_value` (margin x expected spend x discounted
  expected purchases over ``horizon`` periods, conditional on the history).
- **Customer value**: realised margin + expected future value (minus the cost to
  serve, when one is given).
- **Cohort**: the calendar month ("M") or quarter ("Q") of a customer's first
  purchase; **period k** of a cohort is the k-th calendar month (quarter) after it,
  period 0 the acquisition month itself.
- **Retention rate (model)**, :func:`retention_rate`: the expected purchases of the
  customer base in the second period from now divided by those in the first, i.e.
  the share of currently alive customers still alive one period later, each
  weighted by their purchase rate (see there for why it is weighted).

Sources: Fader, Hardie & Lee (2005), "'Counting your customers' the easy way" and
"RFM and CLV"; Gupta & Lehmann (2003), "Customers as assets" (margin x a geometric
retention series, the root of the spreadsheet formula); Fader & Hardie (2010), "Customer-base valuation in a
contractual setting: the perils of ignoring heterogeneity" (retention elasticity).
"""

import numpy as np
import pandas as pd

from ._units import DAYS_PER_UNIT, check_time_unit
from ._validation import Problems, check_positive_number, datetime_column, require_columns, require_dataframe
from .clv import customer_lifetime_value, period_length
from .data import rfm_summary
from .segments import SEGMENTS, customer_segments

__all__ = [
    "customer_value",
    "cohort_kpis",
    "read_acquisition_costs",
    "customer_channels",
    "ltv_cac",
    "simple_formula_comparison",
    "retention_rate",
    "retention_what_if",
    "contractual_what_if",
    "value_concentration",
    "segment_value",
]

COHORT_UNITS = ("M", "Q")
ALL = "all"
_TOP_SHARES = (1, 5, 10, 20, 50)


# ------------------------------------------------------------------ the log, once


class _Log:
    """Purchase days of a transaction log, as the models count them.

    One entry per customer and purchase day (amounts of the day summed), up to the
    observation end. ``customers`` is the sorted index of customer ids (the index
    of :func:`clvmodels.rfm_summary`), ``code`` points into it; days are integer
    day numbers since 1970-01-01.
    """

    def __init__(self, transactions, customer_col, date_col, amount_col, observation_end, datetime_format):
        require_dataframe(transactions, "transactions")
        problems = Problems("transactions")
        require_columns(transactions, [c for c in (customer_col, date_col, amount_col) if c], problems)
        problems.raise_if_any()
        dates = datetime_column(transactions, date_col, problems, datetime_format)
        problems.raise_if_any()
        days = dates.astype("datetime64[D]").view(np.int64)
        end = _day(observation_end, datetime_format) if observation_end is not None else int(days.max())
        used = days <= end
        amounts = (
            pd.to_numeric(transactions[amount_col]).to_numpy(dtype=float)[used]
            if amount_col else np.zeros(int(used.sum()))
        )
        frame = pd.DataFrame({"customer": transactions[customer_col].to_numpy()[used], "day": days[used],
                              "amount": amounts})
        daily = frame.groupby(["customer", "day"], sort=True)["amount"].sum().reset_index()
        codes, customers = pd.factorize(daily["customer"], sort=True)
        self.customers = pd.Index(customers, name=customer_col)
        self.code = codes.astype(np.int64)
        self.day = daily["day"].to_numpy(dtype=np.int64)
        self.amount = daily["amount"].to_numpy(dtype=float)
        self.has_amounts = amount_col is not None
        self.end = int(end)
        starts = np.r_[True, self.code[1:] != self.code[:-1]]
        self.is_first = starts
        self.first_day = self.day[starts]
        self.n_customers = len(self.customers)

    def revenue(self):
        """Sum of amounts per customer, on ``customers``."""
        return np.bincount(self.code, weights=self.amount, minlength=self.n_customers)

    def orders(self):
        return np.bincount(self.code, minlength=self.n_customers).astype(float)


def _day(value, datetime_format=None):
    stamp = pd.NaT
    if datetime_format is not None and isinstance(value, str):
        stamp = pd.to_datetime(value, format=datetime_format, errors="coerce")
    if stamp is pd.NaT:
        try:
            stamp = pd.Timestamp(value)
        except (TypeError, ValueError, OverflowError):
            stamp = pd.NaT
    if stamp is pd.NaT:
        raise ValueError(f"observation_end {value!r} is not a date")
    return int(np.datetime64(stamp.tz_localize(None) if stamp.tzinfo else stamp, "D").view(np.int64))


def _iso(day):
    return str(np.datetime64(int(day), "D"))


def _check_cohort_unit(unit, name="cohort"):
    code = check_time_unit(unit) if isinstance(unit, str) else None
    if code not in COHORT_UNITS:
        raise ValueError(f"{name} must be 'M' (calendar months) or 'Q' (quarters), got {unit!r}")
    return code


def _period_number(days, unit):
    """Calendar month (or quarter) number of day numbers: months since 1970-01."""
    months = np.asarray(days, dtype=np.int64).astype("datetime64[D]").astype("datetime64[M]").view(np.int64)
    return months // 3 if unit == "Q" else months


def _period_start_day(number, unit):
    months = np.asarray(number, dtype=np.int64) * (3 if unit == "Q" else 1)
    return months.astype("datetime64[M]").astype("datetime64[D]").view(np.int64)


def _period_label(number, unit):
    return str(pd.Period(np.datetime64(int(number) * (3 if unit == "Q" else 1), "M"), freq=unit))


def _model_unit(transaction_model):
    unit = getattr(transaction_model, "time_unit_", None)
    if not unit:
        raise ValueError(
            f"{type(transaction_model).__name__} does not know its time unit; fit it on data from "
            "clvmodels.rfm_summary so days can be converted to model time"
        )
    return check_time_unit(unit)


def _rfm_for(transaction_model, transactions, customer_col, date_col, amount_col, observation_end, datetime_format):
    return rfm_summary(
        transactions, customer_col, date_col, amount_col, time_unit=_model_unit(transaction_model),
        observation_end=observation_end, datetime_format=datetime_format,
    )


# ------------------------------------------------------------------ customer value


def customer_value(
    transaction_model,
    spend_model,
    transactions,
    *,
    customer_col="customer_id",
    date_col="date",
    amount_col="amount",
    observation_end=None,
    horizon=12,
    period="M",
    discount_rate=0.01,
    margin=1.0,
    currency="USD",
    cost_to_serve=0.0,
    cohort="M",
    channels=None,
    datetime_format=None,
):
    """Per customer: the margin already earned, the expected future value, and their sum.

    - ``realised_margin`` = ``margin`` x the sum of the customer's amounts in the log
      up to ``observation_end`` (the first purchase included);
    - ``expected_value`` = :func:`clvmodels.customer_lifetime_value` over ``horizon``
      periods of length ``period``, discounted at ``discount_rate`` per period, times
      ``margin`` (conditional on each customer's history, as of ``observation_end``);
    - ``customer_value`` = realised margin + expected value - cost to serve.

    With ``cost_to_serve`` c > 0 (money per period of being a customer):
    ``realised_cost`` = c x the periods from the first to the last purchase (the span
    the log shows the customer as a customer; later silence may be churn), and
    ``expected_cost`` = c x sum_k (1 + discount_rate)^-k a_k with a_k = P(alive now)
    x [E[X(kp)] - E[X((k-1)p)]] / E[X(p)], the customer's expected purchases in
    period k relative to the first future period: the expected share of the
    periods ahead the customer is still a customer, read off the model's purchase
    curve (exact when an alive customer's purchase rate does not change with age,
    as in BG/NBD and Pareto/NBD given the rate).

    Parameters
    ----------
    transaction_model, spend_model : fitted models
        A purchase model (``expected_purchases``, ``probability_alive``) fitted in a
        known time unit, and a spend model (``expected_spend``).
    transactions : pandas.DataFrame
        The transaction log (one row per purchase record).
    customer_col, date_col, amount_col, datetime_format
        As in :func:`clvmodels.rfm_summary`.
    observation_end : str or datetime-like, optional
        As-of date (default: the last purchase).
    horizon, period, discount_rate, margin
        As in :func:`clvmodels.customer_lifetime_value`.
    currency : str, default "USD"
        Label of the money columns (stored in ``attrs``).
    cost_to_serve : float, default 0
        Cost per period (``period``) of serving a customer.
    cohort : {"M", "Q"}, default "M"
        Cohort column: calendar month or quarter of the first purchase.
    channels : pandas.Series, optional
        Acquisition channel per customer id (see :func:`customer_channels`); adds a
        ``channel`` column (customers without one are an error).

    Returns
    -------
    pandas.DataFrame
        On the customer ids (sorted): ``cohort`` (label such as "1997-01"),
        [``channel``], ``first_purchase`` (ISO date), ``orders`` (purchase days),
        ``revenue``, ``realised_margin``, ``probability_alive``,
        ``expected_purchases`` (over the horizon), ``expected_spend``,
        ``expected_value``, [``realised_cost``, ``expected_cost``],
        ``customer_value``, ``segment`` (:func:`clvmodels.customer_segments`).
        ``attrs``: currency, margin, horizon, period, discount_rate, cost_to_serve,
        observation_end, time_unit, cohort.

    Examples
    --------
    >>> import clvmodels as clv
    >>> from clvmodels import business
    >>> tx = clv.datasets.load_cdnow(sample=True)
    >>> rfm = clv.rfm_summary(tx, amount_col="amount", time_unit="W")
    >>> bg, gg = clv.BetaGeoModel().fit(rfm), clv.GammaGammaModel().fit(rfm)
    >>> values = business.customer_value(bg, gg, tx, margin=0.3)
    >>> values[["realised_margin", "expected_value", "customer_value"]].sum().round(0)  # doctest: +SKIP
    """
    margin = check_positive_number(margin, "margin", allow_zero=True)
    cost_to_serve = check_positive_number(cost_to_serve, "cost_to_serve", allow_zero=True)
    cohort = _check_cohort_unit(cohort)
    if amount_col is None:
        raise ValueError("customer_value needs amount_col: value is margin on amounts")
    rfm = _rfm_for(transaction_model, transactions, customer_col, date_col, amount_col, observation_end,
                   datetime_format)
    log = _Log(transactions, customer_col, date_col, amount_col, rfm.attrs["observation_end"], datetime_format)
    step = period_length(period, transaction_model.time_unit_)

    table = pd.DataFrame(index=rfm.index)
    if not log.customers.equals(rfm.index):
        raise ValueError("the transaction log and its RFM summary disagree on the customers")
    table["cohort"] = _cohort_labels(log.first_day, cohort)
    if channels is not None:
        table["channel"] = _align_channels(channels, rfm.index)
    table["first_purchase"] = log.first_day.astype("datetime64[D]").astype(str)
    table["orders"] = log.orders()
    table["revenue"] = log.revenue()
    table["realised_margin"] = margin * table["revenue"]
    table["probability_alive"] = transaction_model.probability_alive(rfm).to_numpy()
    table["expected_purchases"] = transaction_model.expected_purchases(rfm, t=int(horizon) * step).to_numpy()
    table["expected_spend"] = spend_model.expected_spend(rfm).to_numpy()
    table["expected_value"] = customer_lifetime_value(
        transaction_model, spend_model, rfm, horizon=horizon, period=period, discount_rate=discount_rate,
        margin=margin,
    ).to_numpy()
    value = table["realised_margin"] + table["expected_value"]
    if cost_to_serve > 0:
        table["realised_cost"] = cost_to_serve * rfm["recency"].to_numpy() / step
        table["expected_cost"] = cost_to_serve * _expected_periods_alive(
            transaction_model, rfm, step, int(horizon), discount_rate)
        value = value - table["realised_cost"] - table["expected_cost"]
    table["customer_value"] = value
    table["segment"] = customer_segments(transaction_model, rfm, spend_model=spend_model)["segment"]
    table.attrs.update(
        currency=str(currency), margin=margin, horizon=int(horizon), period=period,
        discount_rate=float(discount_rate), cost_to_serve=cost_to_serve,
        observation_end=rfm.attrs["observation_end"], time_unit=transaction_model.time_unit_, cohort=cohort,
    )
    return table


def _cohort_labels(first_days, unit):
    numbers = _period_number(first_days, unit)
    distinct, inverse = np.unique(numbers, return_inverse=True)
    labels = [_period_label(n, unit) for n in distinct]
    return pd.Categorical.from_codes(inverse.reshape(-1), categories=labels)


def _plain(value):
    """A numpy scalar as the Python value it holds (so messages show 1, not np.int64(1))."""
    return value.item() if isinstance(value, np.generic) else value


def _customers(n):
    return "1 customer has" if n == 1 else f"{n:,} customers have"


def _align_channels(channels, index):
    if not isinstance(channels, pd.Series):
        raise TypeError(f"channels must be a pandas Series (customer id -> channel), got {type(channels).__name__}")
    aligned = channels.reindex(index)
    missing = aligned.isna()
    if missing.any():
        raise ValueError(
            f"invalid channels: {_customers(int(missing.sum()))} no channel (the first is "
            f"{_plain(index[np.argmax(missing.to_numpy())])!r})"
        )
    return aligned.astype(str).to_numpy()


def _expected_periods_alive(transaction_model, rfm, step, horizon, discount_rate):
    """sum_k (1 + d)^-k P(alive now) [E[X(kp)] - E[X((k-1)p)]] / E[X(p)] per customer."""
    alive = transaction_model.probability_alive(rfm).to_numpy()
    previous = np.zeros(len(rfm))
    first = None
    total = np.zeros(len(rfm))
    for k in range(1, horizon + 1):
        cumulative = transaction_model.expected_purchases(rfm, t=k * step).to_numpy()
        increment = cumulative - previous
        if first is None:
            first = increment
        share = np.divide(increment, first, out=np.zeros_like(increment), where=first > 0)
        total += alive * share / (1.0 + discount_rate) ** k
        previous = cumulative
    return total


def segment_value(values):
    """Customers and value by segment (and in all), from :func:`customer_value` output.

    Returns
    -------
    pandas.DataFrame
        Indexed by segment (``SEGMENTS`` order, then "all"): ``customers``,
        ``share_of_customers``, ``realised_margin``, ``expected_value``,
        ``customer_value`` (totals), ``value_per_customer``,
        ``share_of_expected_value``, ``mean_probability_alive``.
    """
    grouped = values.groupby("segment", observed=False)
    table = pd.DataFrame({
        "customers": grouped.size().astype(float),
        "realised_margin": grouped["realised_margin"].sum(),
        "expected_value": grouped["expected_value"].sum(),
        "customer_value": grouped["customer_value"].sum(),
        "mean_probability_alive": grouped["probability_alive"].mean(),
    }).reindex(list(SEGMENTS))
    table.loc[ALL] = [float(len(values)), values["realised_margin"].sum(), values["expected_value"].sum(),
                      values["customer_value"].sum(), values["probability_alive"].mean()]
    table["customers"] = table["customers"].fillna(0.0)
    for column in ("realised_margin", "expected_value", "customer_value"):
        table[column] = table[column].fillna(0.0)
    table["share_of_customers"] = table["customers"] / max(len(values), 1)
    table["value_per_customer"] = table["customer_value"] / table["customers"].where(table["customers"] > 0)
    total = float(values["expected_value"].sum())
    table["share_of_expected_value"] = table["expected_value"] / total if total > 0 else np.nan
    table.index.name = "segment"
    table.attrs.update(values.attrs)
    return table


def value_concentration(values, shares=_TOP_SHARES):
    """Share of the total held by the top x% of customers (at least one customer each).

    Parameters
    ----------
    values : array-like or pandas.Series
        One value per customer (e.g. ``expected_value``).
    shares : sequence of float
        Percentages of customers, most valuable first.

    Returns
    -------
    pandas.DataFrame
        Indexed by "top x%": ``customers``, ``value`` (sum held), ``share_of_value``
        (fraction of the total; NaN when the total is 0).
    """
    ordered = np.sort(np.asarray(values, dtype=float))[::-1]
    total = ordered.sum()
    cumulative = np.cumsum(ordered)
    rows = {}
    for share in shares:
        k = max(int(np.ceil(len(ordered) * share / 100.0 - 1e-9)), 1)
        held = float(cumulative[k - 1]) if len(ordered) else 0.0
        rows[f"top {share:g}%"] = (k, held, held / total if total > 0 else np.nan)
    return pd.DataFrame.from_dict(rows, orient="index", columns=["customers", "value", "share_of_value"])


# ------------------------------------------------------------------ cohort KPIs


def cohort_kpis(
    transactions,
    transaction_model=None,
    spend_model=None,
    *,
    customer_col="customer_id",
    date_col="date",
    amount_col="amount",
    cohort="M",
    observation_end=None,
    datetime_format=None,
):
    """Observed cohort KPIs per acquisition cohort and period, next to the model's.

    A customer's cohort is the calendar month (quarter) of their first purchase;
    period k is the k-th calendar month (quarter) after it (0: the acquisition
    period). Purchases are purchase days, as the models count them. Per cohort and
    period, observed:

    - ``active_customers``: cohort customers with a purchase in the period;
    - ``retention_rate`` = active customers / cohort size (1 in period 0);
    - ``repeat_purchase_rate``: share of the cohort with at least one repeat purchase
      (a purchase day after their first) by the end of the period;
    - ``orders`` (purchase days, first purchases included), ``orders_per_customer``
      (per cohort customer), ``repeat_orders`` (orders that are not first purchases);
    - ``revenue``, ``average_order_value`` = revenue / orders (NaN without orders),
      ``repeat_revenue`` (amounts of repeat orders).

    With a ``transaction_model``, expected:

    - ``expected_repeat_orders`` = sum over the cohort's customers i of
      E[X(e_i)] - E[X(s_i)], with E[X(t)] the model's
      ``expected_purchases_new_customer`` and s_i, e_i customer i's age (time since
      the first purchase day, in the model's time unit) at the start of the period
      and at the end of its last observed day (0 before the first purchase); this is
      what the model, knowing only when each customer was acquired, expects for
      ``repeat_orders`` (the unconditional forecast of the FHL 2005 tracking plots,
      cut by cohort);
    - ``expected_repeat_orders_per_customer`` (per cohort customer);
    - with a ``spend_model``, ``expected_repeat_revenue`` = expected repeat orders x
      the spend model's expected spend of a customer without history (the
      population mean), to compare with ``repeat_revenue``.

    Parameters
    ----------
    transactions : pandas.DataFrame
    transaction_model, spend_model : fitted models, optional
    customer_col, date_col, amount_col, datetime_format
        As in :func:`clvmodels.rfm_summary` (``amount_col`` None: no revenue columns).
    cohort : {"M", "Q"}, default "M"
    observation_end : str or datetime-like, optional
        Later purchases are ignored; the last period ends here (``complete`` False
        if it ends early). Default: the last purchase.

    Returns
    -------
    pandas.DataFrame
        Indexed by (``cohort`` label, ``period`` k); also ``period_start``,
        ``period_end`` (ISO dates, the end cut at the observation end),
        ``complete`` and ``cohort_size``.
    """
    cohort = _check_cohort_unit(cohort)
    log = _Log(transactions, customer_col, date_col, amount_col, observation_end, datetime_format)
    first_period = _period_number(log.first_day, cohort)  # per customer
    customer_cohort = first_period[log.code]
    k = _period_number(log.day, cohort) - customer_cohort
    last_period = int(_period_number([log.end], cohort)[0])
    cohorts, sizes = np.unique(first_period, return_counts=True)

    keys = [(c, j) for c in cohorts for j in range(last_period - c + 1)]
    index = pd.MultiIndex.from_tuples(keys, names=["cohort_number", "period"])
    table = pd.DataFrame(index=index)
    cohort_of_row = index.get_level_values(0).to_numpy()
    period_of_row = index.get_level_values(1).to_numpy()
    size = pd.Series(sizes, index=cohorts).reindex(cohort_of_row).to_numpy().astype(float)
    starts = _period_start_day(cohort_of_row + period_of_row, cohort)
    ends = np.minimum(_period_start_day(cohort_of_row + period_of_row + 1, cohort) - 1, log.end)
    table["period_start"] = starts.astype("datetime64[D]").astype(str)
    table["period_end"] = ends.astype("datetime64[D]").astype(str)
    table["complete"] = _period_start_day(cohort_of_row + period_of_row + 1, cohort) - 1 <= log.end
    table["cohort_size"] = size

    by_row = pd.MultiIndex.from_arrays([customer_cohort, k])
    purchases = pd.DataFrame({"code": log.code, "amount": log.amount, "first": log.is_first}, index=by_row)
    grouped = purchases.groupby(level=[0, 1])
    orders = grouped.size().reindex(index, fill_value=0).to_numpy().astype(float)
    active = grouped["code"].nunique().reindex(index, fill_value=0).to_numpy().astype(float)
    first_orders = grouped["first"].sum().reindex(index, fill_value=0).to_numpy().astype(float)

    # Period of each customer's first repeat purchase (their second purchase day).
    second = np.r_[False, (log.code[1:] == log.code[:-1]) & log.is_first[:-1]]
    repeaters = pd.Series(1.0, index=pd.MultiIndex.from_arrays([customer_cohort[second], k[second]]))
    new_repeaters = repeaters.groupby(level=[0, 1]).sum().reindex(index, fill_value=0.0)

    table["active_customers"] = active
    table["retention_rate"] = active / size
    table["repeat_purchase_rate"] = new_repeaters.groupby(level=0).cumsum().to_numpy() / size
    table["orders"] = orders
    table["orders_per_customer"] = orders / size
    table["repeat_orders"] = orders - first_orders
    if log.has_amounts:
        revenue = grouped["amount"].sum().reindex(index, fill_value=0.0).to_numpy()
        first_amount = purchases.loc[purchases["first"]].groupby(level=[0, 1])["amount"].sum()
        first_revenue = first_amount.reindex(index, fill_value=0.0).to_numpy()
        table["revenue"] = revenue
        table["average_order_value"] = np.divide(revenue, orders, out=np.full_like(revenue, np.nan), where=orders > 0)
        table["repeat_revenue"] = revenue - first_revenue

    if transaction_model is not None:
        expected = _expected_repeat_orders(transaction_model, log.first_day, first_period, cohort_of_row,
                                           starts, ends)
        table["expected_repeat_orders"] = expected
        table["expected_repeat_orders_per_customer"] = expected / size
        if spend_model is not None:
            table["expected_repeat_revenue"] = expected * _new_customer_spend(spend_model, transaction_model)

    labels = {c: _period_label(c, cohort) for c in cohorts}
    table.index = pd.MultiIndex.from_arrays(
        [[labels[c] for c in cohort_of_row], period_of_row], names=["cohort", "period"])
    table.attrs.update(cohort=cohort, observation_end=_iso(log.end), n_customers=log.n_customers,
                       time_unit=getattr(transaction_model, "time_unit_", None))
    return table


def _expected_repeat_orders(model, first_days, first_period, cohort_of_row, starts, ends):
    """sum over a row's cohort of E[X(end + 1 - f)] - E[X(max(start - f, 0))], by first-purchase day f."""
    days_per_unit = DAYS_PER_UNIT[_model_unit(model)]
    result = np.zeros(len(starts))
    for c in np.unique(cohort_of_row):
        rows = np.flatnonzero(cohort_of_row == c)
        days, counts = np.unique(first_days[first_period == c], return_counts=True)
        upper = np.maximum(ends[rows, None] + 1 - days[None, :], 0)
        lower = np.maximum(starts[rows, None] - days[None, :], 0)
        ages, inverse = np.unique(np.concatenate([upper.ravel(), lower.ravel()]), return_inverse=True)
        values = np.asarray(model.expected_purchases_new_customer(ages / days_per_unit), dtype=float)
        values = np.where(ages > 0, values, 0.0)
        at = values[inverse]
        difference = (at[: upper.size] - at[upper.size:]).reshape(upper.shape)
        result[rows] = difference @ counts.astype(float)
    return result


def _new_customer_spend(spend_model, transaction_model):
    """Expected spend per purchase of a customer without repeat purchases (the population mean)."""
    row = pd.DataFrame({"frequency": [0.0], "recency": [0.0], "T": [1.0], "monetary_value": [0.0]})
    row.attrs["time_unit"] = getattr(transaction_model, "time_unit_", None)
    return float(spend_model.expected_spend(row).iloc[0])


# ------------------------------------------------------------------ acquisition costs


def read_acquisition_costs(path):
    """Read an acquisition-cost CSV: ``channel`` (optional), ``month``, ``spend``,
    ``new_customers`` (optional); or per-customer costs: ``customer``, ``cost``.

    Channel, month and customer are read as text; checks happen in :func:`ltv_cac`.
    """
    try:
        return pd.read_csv(path, dtype={"channel": str, "month": str, "customer": str}, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: not a readable cost table (CSV): {error}") from None


def customer_channels(transactions, channel_col, *, customer_col="customer_id", date_col="date",
                      datetime_format=None):
    """The acquisition channel of each customer: ``channel_col`` on their first purchase record.

    Returns
    -------
    pandas.Series
        Channel (text) per customer id, sorted by id.
    """
    require_dataframe(transactions, "transactions")
    problems = Problems("transactions")
    require_columns(transactions, (customer_col, date_col, channel_col), problems)
    problems.raise_if_any()
    dates = datetime_column(transactions, date_col, problems, datetime_format)
    problems.add_if(channel_col, transactions[channel_col].isna().to_numpy(), "are missing")
    problems.raise_if_any()
    frame = pd.DataFrame({"customer": transactions[customer_col].to_numpy(), "date": dates,
                          "channel": transactions[channel_col].astype(str).to_numpy()})
    first = frame.sort_values(["customer", "date"], kind="stable").groupby("customer", sort=True)["channel"].first()
    first.index.name = customer_col
    return first.rename("channel")


def _row_name(i, row, keys):
    described = ", ".join(f"{key} {row[key]!r}" for key in keys if key in row.index)
    return f"row {i + 1} ({described})" if described else f"row {i + 1}"


def _month_day(value):
    """First day (day number) of a month written 1997-01 (or a date 1997-01-15), else None."""
    text = str(value).strip()
    for pattern in ("%Y-%m", "%Y-%m-%d"):
        stamp = pd.to_datetime(text, format=pattern, errors="coerce")
        if stamp is not pd.NaT:
            return int(np.datetime64(stamp, "M").astype("datetime64[D]").view(np.int64))
    return None


def _cohort_costs(costs, present, unit):
    """Check a cohort cost table against the (channel, cohort) groups of the log.

    ``present`` maps (channel, cohort number) -> customers acquired. Returns a dict
    (channel, cohort number) -> (spend, new customers), months of a quarter summed.
    """
    problems = Problems("acquisition costs")
    for column in ("month", "spend"):
        if column not in costs.columns:
            problems.add(column, "is missing (the cost table needs month and spend, and optionally channel "
                                 "and new_customers; or customer and cost)")
    problems.raise_if_any()
    table = costs.reset_index(drop=True)
    has_channel = "channel" in table.columns
    known_channels = sorted({channel for channel, _ in present})
    keys = ("channel", "month")
    seen = {}
    rows = {}
    for i, row in table.iterrows():  # the cost table is small (channels x months)
        name = _row_name(i, row, keys)
        channel = str(row["channel"]).strip() if has_channel and pd.notna(row["channel"]) else ALL
        day = _month_day(row["month"])
        if day is None:
            problems.add(None, f"{name}: month {row['month']!r} is not a month such as 1997-01")
            continue
        number = int(_period_number([day], unit)[0])
        spend = pd.to_numeric(pd.Series([row["spend"]]), errors="coerce").iloc[0]
        if not np.isfinite(spend):
            problems.add(None, f"{name}: spend {row['spend']!r} is not a number")
        elif spend < 0:
            problems.add(None, f"{name}: spend is negative ({spend:g})")
        new = np.nan
        if "new_customers" in table.columns:
            new = pd.to_numeric(pd.Series([row["new_customers"]]), errors="coerce").iloc[0]
            if not np.isfinite(new) or new < 0 or new != round(new):
                problems.add(None, f"{name}: new_customers {row['new_customers']!r} is not a whole number >= 0")
            elif new == 0:
                problems.add(None, f"{name}: new_customers is 0, a cohort without new customers has no "
                                   "acquisition cost per customer")
        if channel not in known_channels:
            problems.add(None, f"{name}: channel {channel!r} is unknown (customers' channels: "
                               f"{', '.join(known_channels)})")
            continue
        if (channel, day) in seen:
            problems.add(None, f"{name}: repeats {_row_name(seen[channel, day], table.loc[seen[channel, day]], keys)}")
            continue
        seen[channel, day] = i
        key = (channel, number)
        if key not in present:
            problems.add(None, f"{name}: no customer of the log was acquired in {_period_label(number, unit)} via "
                               f"channel {channel!r} (a cohort with zero new customers)")
            continue
        total_spend, total_new = rows.get(key, (0.0, 0.0))
        rows[key] = (total_spend + float(spend), total_new + (float(new) if np.isfinite(new) else np.nan))
    for key in present:
        if key not in rows:
            channel, number = key
            problems.add(None, f"missing month: no row for channel {channel!r}, month {_period_label(number, unit)} "
                               f"({present[key]:,} customers acquired)")
    problems.raise_if_any()
    # Without a new_customers column, the customers the log shows acquired.
    return {key: (spend, new if np.isfinite(new) else float(present[key])) for key, (spend, new) in rows.items()}


def _customer_costs(costs, values, customer_col):
    problems = Problems("acquisition costs")
    id_col = customer_col if customer_col in costs.columns else "customer"
    if id_col not in costs.columns:
        problems.add("customer", "is missing (per-customer costs need columns customer and cost)")
    problems.raise_if_any()
    ids = costs[id_col].astype(str).str.strip()
    position = pd.Index(values.index.astype(str)).get_indexer(ids)
    cost = pd.to_numeric(costs["cost"], errors="coerce").to_numpy(dtype=float)
    for mask, problem in (
        (position < 0, "customer is unknown (not in the transaction log)"),
        (~np.isfinite(cost), "cost is not a number"),
        (cost < 0, "cost is negative"),
    ):
        if mask.any():
            i = int(np.argmax(mask))
            more = f" (and {int(mask.sum()) - 1:,} more rows)" if mask.sum() > 1 else ""
            problems.add(None, f"row {i + 1} (customer {ids.iloc[i]!r}, cost {costs['cost'].iloc[i]!r}): "
                               f"{problem}{more}")
    problems.raise_if_any()
    series = pd.Series(cost, index=values.index[position]).groupby(level=0).sum()
    missing = values.index.difference(series.index)
    if len(missing):
        problems.add(None, f"{_customers(len(missing))} no cost (the first is {_plain(missing[0])!r})")
    problems.raise_if_any()
    return series.reindex(values.index)


def ltv_cac(
    values,
    transactions,
    costs,
    transaction_model,
    spend_model,
    *,
    customer_col="customer_id",
    date_col="date",
    amount_col="amount",
    datetime_format=None,
    interval=None,
    n_draws=200,
    random_state=0,
):
    """LTV, CAC, LTV:CAC and payback per acquisition cohort and channel.

    - **CAC** (acquisition cost per customer): for a cohort cost table, ``spend`` /
      ``new_customers`` of the (channel, month) row (``new_customers`` defaults to
      the customers of the log acquired then); for per-customer costs, their mean.
      With quarterly cohorts the months of a quarter are added up.
    - **LTV** per customer of the cohort = mean ``customer_value`` (realised margin
      + expected future value - cost to serve) of its customers in the log.
    - **LTV:CAC** = LTV / CAC (inf when CAC is 0).
    - **payback_periods**: the first time, in cohort periods (months or quarters)
      since the start of the acquisition period, at which the cumulative margin per
      customer of the cohort exceeds CAC: the realised margin period by period up
      to the observation end, then the model's expected margin (margin x expected
      spend x expected purchases per future period of length ``period``, not
      discounted) up to the horizon. NaN if not paid back by then.

    Parameters
    ----------
    values : pandas.DataFrame
        :func:`customer_value` output (with ``channel`` if the costs have channels).
    transactions : pandas.DataFrame
        The log ``values`` was computed from.
    costs : pandas.DataFrame
        Cohort costs (``month``, ``spend``, optional ``channel``, ``new_customers``;
        see :func:`read_acquisition_costs`) or per-customer costs (``customer`` or
        ``customer_col``, ``cost``).
    transaction_model, spend_model : fitted models
        Those ``values`` came from.
    interval : float, optional
        With e.g. 0.9, also a 90% interval of LTV and LTV:CAC per row: the interval
        of the group's total expected value from
        :func:`clvmodels.customer_lifetime_value` (``interval=``, simulated over
        ``n_draws`` parameter draws and each customer's future, ``random_state``),
        plus the realised margin (known) minus the cost to serve (taken as fixed),
        per customer. Costly: one simulation per row.

    Returns
    -------
    pandas.DataFrame
        Indexed by (``cohort``, ``channel``); with several channels, rows with
        channel "all" sum each cohort. Columns: ``customers``, ``new_customers``,
        ``spend``, ``cac``, ``realised_margin``, ``expected_value``, ``ltv`` (per
        customer), ``ltv_cac``, ``payback_periods``; with ``interval``,
        ``ltv_lower``, ``ltv_upper``, ``ltv_cac_lower``, ``ltv_cac_upper``.

    Raises
    ------
    ValueError
        For a bad cost table, naming the row: unknown channel, negative spend,
        missing month, a cohort with zero new customers, repeated rows, bad numbers.
    """
    unit = values.attrs["cohort"]
    channel = values["channel"].to_numpy() if "channel" in values.columns else np.full(len(values), ALL)
    log = _Log(transactions, customer_col, date_col, amount_col, values.attrs["observation_end"], datetime_format)
    if not log.customers.equals(values.index):
        raise ValueError("values and transactions do not hold the same customers; compute values from this log")
    first_period = _period_number(log.first_day, unit)
    require_dataframe(costs, "acquisition costs")
    if "cost" in costs.columns and "spend" not in costs.columns:
        per_customer = _customer_costs(costs, values, customer_col).to_numpy()
        groups = pd.DataFrame({"channel": channel, "number": first_period, "cost": per_customer})
        summed = groups.groupby(["channel", "number"])["cost"].agg(["sum", "size"])
        spend = {key: (row["sum"], float(row["size"])) for key, row in summed.iterrows()}
    else:
        present = pd.Series(1, index=pd.MultiIndex.from_arrays([channel, first_period])).groupby(level=[0, 1]).size()
        spend = _cohort_costs(costs, {key: int(n) for key, n in present.items()}, unit)

    rfm = _rfm_for(transaction_model, transactions, customer_col, date_col, amount_col,
                   values.attrs["observation_end"], datetime_format)
    curves = _margin_curves(values, log, rfm, transaction_model, spend_model, first_period, unit)
    records = []
    channels = sorted(set(channel))
    for number in np.unique(first_period):
        keys = [(c, number) for c in channels if (c, number) in spend]
        if len(keys) > 1:
            keys.append((ALL, number))
        for key in keys:
            in_group = (first_period == number) & ((channel == key[0]) if key[0] != ALL else True)
            if key[0] == ALL:
                group_spend = sum(spend[(c, number)][0] for c in channels if (c, number) in spend)
                new = sum(spend[(c, number)][1] for c in channels if (c, number) in spend)
            else:
                group_spend, new = spend[key]
            customers = int(np.count_nonzero(in_group))
            cac = group_spend / new
            ltv = float(values["customer_value"].to_numpy()[in_group].mean())
            times, cumulative = curves(in_group, number)
            above = np.flatnonzero(cumulative > cac)
            records.append({
                "cohort": _period_label(number, unit), "channel": key[0], "customers": customers,
                "new_customers": new, "spend": group_spend, "cac": cac,
                "realised_margin": float(values["realised_margin"].to_numpy()[in_group].mean()),
                "expected_value": float(values["expected_value"].to_numpy()[in_group].mean()),
                "ltv": ltv, "ltv_cac": ltv / cac if cac > 0 else np.inf,
                "payback_periods": float(times[above[0]]) if len(above) else np.nan,
            })
            if interval is not None:
                records[-1].update(_ltv_interval(values, rfm, in_group, cac, transaction_model, spend_model,
                                                 interval, n_draws, random_state))
    table = pd.DataFrame.from_records(records).set_index(["cohort", "channel"])
    table.attrs.update(values.attrs)
    table.attrs["interval"] = interval
    return table


def _ltv_interval(values, rfm, in_group, cac, transaction_model, spend_model, level, n_draws, random_state):
    """Interval of a group's LTV per customer from the simulated interval of its total CLV."""
    attrs = values.attrs
    simulated = customer_lifetime_value(
        transaction_model, spend_model, rfm.loc[in_group], horizon=attrs["horizon"], period=attrs["period"],
        discount_rate=attrs["discount_rate"], margin=attrs["margin"], interval=level, n_draws=n_draws,
        random_state=random_state,
    ).attrs["total"]
    group = values.loc[in_group]
    known = float((group["customer_value"] - group["expected_value"]).sum())  # realised margin - costs
    n = len(group)
    lower, upper = (known + simulated["lower"]) / n, (known + simulated["upper"]) / n
    ratio = (lambda v: v / cac) if cac > 0 else (lambda v: np.inf)
    return {"ltv_lower": lower, "ltv_upper": upper, "ltv_cac_lower": ratio(lower), "ltv_cac_upper": ratio(upper)}


def _margin_curves(values, log, rfm, transaction_model, spend_model, first_period, unit):
    """A function (customers mask, cohort number) -> (times, cumulative margin per customer).

    Times in cohort periods since the start of the acquisition period: the end of
    each calendar period up to the observation end, then the end of each future
    period of length ``period`` up to the horizon.
    """
    attrs = values.attrs
    margin = attrs["margin"]
    step = period_length(attrs["period"], transaction_model.time_unit_)
    days_per_step = step * DAYS_PER_UNIT[_model_unit(transaction_model)]
    days_per_cohort_period = DAYS_PER_UNIT[unit]
    spend = spend_model.expected_spend(rfm).to_numpy()
    horizon = int(attrs["horizon"])
    cumulative = np.column_stack([
        transaction_model.expected_purchases(rfm, t=k * step).to_numpy() for k in range(horizon + 1)
    ])
    future = margin * spend[:, None] * np.diff(cumulative, axis=1)  # customers x horizon
    purchase_period = _period_number(log.day, unit) - first_period[log.code]
    last_period = int(_period_number([log.end], unit)[0])
    # Realised margin per customer and cohort period, as a sparse sum.
    realised = pd.Series(margin * log.amount, index=pd.MultiIndex.from_arrays([log.code, purchase_period]))

    def curve(mask, number):
        n = int(np.count_nonzero(mask))
        periods = last_period - number + 1
        codes = np.flatnonzero(mask)
        selected = realised[np.isin(realised.index.get_level_values(0), codes)]
        per_period = selected.groupby(level=1).sum().reindex(range(periods), fill_value=0.0).to_numpy() / n
        start_day = int(_period_start_day([number], unit)[0])
        observed_until = (log.end + 1 - start_day) / days_per_cohort_period
        times_realised = np.minimum(np.arange(1, periods + 1, dtype=float), observed_until)
        times_future = observed_until + np.arange(1, horizon + 1) * days_per_step / days_per_cohort_period
        margin_future = future[mask].sum(axis=0) / n
        times = np.concatenate([times_realised, times_future])
        return times, np.cumsum(np.concatenate([per_period, margin_future]))

    return curve


# ------------------------------------------------------------------ the simple formula


def _observed_retention(log, unit):
    """Share of customers buying in a calendar period who buy again in the next one,
    over the pairs of consecutive complete periods (pooled)."""
    numbers = _period_number(log.day, unit)
    last_complete = int(_period_number([log.end + 1], unit)[0]) - 1
    offset = int(numbers.min())
    width = int(numbers.max()) - offset + 2
    active = np.unique(log.code * width + (numbers - offset))  # one key per customer and period
    eligible = active[active % width + offset + 1 <= last_complete]
    if len(eligible) == 0:
        return np.nan
    return float(np.isin(eligible + 1, active).mean())


def simple_formula_comparison(
    values,
    transactions,
    *,
    customer_col="customer_id",
    date_col="date",
    amount_col="amount",
    datetime_format=None,
):
    """The textbook CLV next to the model's, per segment, with a sentence on the gap.

    Textbook (spreadsheet) CLV per customer over the same horizon of H periods:

        AOV x purchase frequency x expected lifetime x margin - cost to serve x lifetime,

    with, for the segment's customers, AOV = revenue / orders in the log and
    purchase frequency = orders / periods observed (from each customer's first
    purchase to the observation end); expected lifetime = sum_{k=1..H} r^(k-1) =
    (1 - r^H) / (1 - r) periods (-> 1/(1 - r), the classic "1 / churn", for long
    horizons) with one retention rate r for the whole base, as a spreadsheet has
    it: the share of customers buying in a calendar period who buy again in the
    next one, pooled over consecutive complete periods. Not discounted.

    The model's figure is the mean ``expected_value`` (discounted model CLV over the
    same horizon) minus the expected cost to serve.

    Parameters
    ----------
    values : pandas.DataFrame
        :func:`customer_value` output; its ``period`` must be "M" or "Q".
    transactions : pandas.DataFrame
        The log ``values`` came from.

    Returns
    -------
    pandas.DataFrame
        Indexed by segment (and "all"): ``customers``, ``average_order_value``,
        ``purchase_frequency`` (orders per period), ``retention_rate``,
        ``expected_lifetime`` (periods), ``simple_clv``, ``model_clv`` (per customer),
        ``difference`` (model - simple), ``ratio`` (model / simple).
        ``attrs["sentence"]`` says where and why they differ most.
    """
    attrs = values.attrs
    period = attrs["period"]
    if not isinstance(period, str) or check_time_unit(period) not in COHORT_UNITS:
        raise ValueError(f"the simple formula counts calendar periods: period must be 'M' or 'Q', got {period!r}")
    unit = check_time_unit(period)
    log = _Log(transactions, customer_col, date_col, amount_col, attrs["observation_end"], datetime_format)
    horizon = int(attrs["horizon"])
    retention = _observed_retention(log, unit)
    lifetime = horizon if retention >= 1 else (1 - retention ** horizon) / (1 - retention)
    observed_periods = (log.end + 1 - log.first_day) / DAYS_PER_UNIT[unit]
    frame = pd.DataFrame({
        "segment": values["segment"].to_numpy(), "orders": log.orders(), "revenue": log.revenue(),
        "periods": observed_periods,
        "model": values["expected_value"].to_numpy() - (values["expected_cost"].to_numpy()
                                                         if "expected_cost" in values.columns else 0.0),
        "alive": values["probability_alive"].to_numpy(),
    })
    cost = attrs.get("cost_to_serve", 0.0)
    rows = {}
    groups = [(name, frame.loc[frame["segment"] == name]) for name in SEGMENTS] + [(ALL, frame)]
    for name, part in groups:
        if len(part) == 0:
            continue
        orders = part["orders"].sum()
        aov = part["revenue"].sum() / orders
        frequency = orders / part["periods"].sum()
        simple = aov * frequency * lifetime * attrs["margin"] - cost * lifetime
        model = part["model"].mean()
        rows[name] = {
            "customers": float(len(part)), "average_order_value": aov, "purchase_frequency": frequency,
            "retention_rate": retention, "expected_lifetime": lifetime, "simple_clv": simple, "model_clv": model,
            "difference": model - simple, "ratio": model / simple if simple != 0 else np.nan,
            "mean_probability_alive": part["alive"].mean(),
        }
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "segment"
    table.attrs.update(attrs)
    table.attrs["sentence"] = _gap_sentence(table, attrs, unit)
    return table


_UNIT_WORDS = {"M": "month", "Q": "quarter", "Y": "year", "W": "week", "D": "day", "H": "hour"}


def _money(value, currency):
    return f"{value:,.2f} {currency}"


def _gap_sentence(table, attrs, unit):
    """Where the two figures differ most (per customer, among the segments) and why; and
    the largest gap the other way round, if there is one."""
    currency = attrs.get("currency", "")
    segments = table.drop(index=ALL, errors="ignore")
    if segments.empty:
        return ""
    name = segments["difference"].abs().idxmax()
    row = segments.loc[name]
    overall = table.loc[ALL] if ALL in table.index else row
    below = row["model_clv"] < row["simple_clv"]
    text = (
        f"Over {int(attrs['horizon'])} {_UNIT_WORDS[unit]}s the simple formula gives "
        f"{_money(overall['simple_clv'], currency)} per customer and the model {_money(overall['model_clv'], currency)}; "
        f"they differ most for {name} customers ({_money(row['simple_clv'], currency)} against "
        f"{_money(row['model_clv'], currency)}, the model {'below' if below else 'above'}). "
    )
    reason = _gap_reason(row, attrs, unit, below)
    text += reason[0].upper() + reason[1:]
    others = segments.loc[(segments["difference"] > 0) if below else (segments["difference"] < 0)]
    if not others.empty:
        other = others["difference"].abs().idxmax()
        row = segments.loc[other]
        text += (
            f" For {other} customers it is the other way round ({_money(row['simple_clv'], currency)} against "
            f"{_money(row['model_clv'], currency)}): " + _gap_reason(row, attrs, unit, not below)
        )
    return text


def _gap_reason(row, attrs, unit, below):
    """Why the model's figure for a segment is below (or above) the simple formula's."""
    if below and row["mean_probability_alive"] < 0.5:
        return (
            "the formula assumes they keep buying at their past rate for the average lifetime, but they have not "
            "bought for a long time and the model puts their chance of still being customers at "
            f"{row['mean_probability_alive']:.0%} on average."
        )
    if below:
        return (
            "the formula carries their past rate forward at one retention rate for everybody; the model lets "
            "each customer leave at their own pace, pulls heavy past buyers back towards the average, and "
            f"discounts future margin at {attrs['discount_rate']:g} per period."
        )
    return (
        f"they are likely still customers (mean P(alive) {row['mean_probability_alive']:.0%}), and the formula's "
        f"single retention rate ({row['retention_rate']:.0%} a {_UNIT_WORDS[unit]}, measured as buying again in "
        "the very next period) treats a customer who pauses for a period as lost; the model knows that "
        "customers who buy rarely are not necessarily gone."
    )


# ------------------------------------------------------------------ retention and the what-if


def retention_rate(transaction_model, data, *, period="Y", alive_as=None):
    """Per-period retention of the customer base, as the fitted model sees it.

    R = sum_i [E[X_i(2p)] - E[X_i(p)]] / sum_i E[X_i(p)]: the expected purchases of
    the base in the second period of length p from now over those in the first,
    conditional on each customer's history. While alive a customer buys at their
    own rate, so this is the share of currently alive customers still alive one
    period later, each weighted by their purchase rate: the retention of purchasing
    (and, at constant spend, of revenue) rather than of heads. The unweighted share
    needs each customer's rate, which the public prediction API does not expose;
    the weighted one is what the margin depends on. Customers who have probably
    left weigh little, since their expected purchases are small.

    Parameters
    ----------
    transaction_model : fitted purchase model
    data : pandas.DataFrame
        RFM table in the model's time unit.
    period : str or float, default "Y"
        The period p: a unit code or a number of model time units ("Y": annual
        retention, the figure marketers usually quote).
    alive_as : fitted purchase model, optional
        Weigh each customer as alive with ``alive_as``'s probability instead of the
        model's own: customer i's terms are multiplied by
        P_alive_as(i) / P_model(i). Used by :func:`retention_what_if` to keep today's
        customer base fixed while the future dropout changes.

    Returns
    -------
    float
    """
    step = period_length(period, transaction_model.time_unit_)
    first = transaction_model.expected_purchases(data, t=step).to_numpy()
    second = transaction_model.expected_purchases(data, t=2 * step).to_numpy() - first
    if alive_as is not None:
        weights = _alive_weights(transaction_model, alive_as, data)
        first, second = first * weights, second * weights
    total = first.sum()
    if not total > 0:
        raise ValueError("retention_rate: the model expects no purchases from these customers")
    return float(second.sum() / total)


def _alive_weights(model, baseline, data):
    own = model.probability_alive(data).to_numpy()
    base = baseline.probability_alive(data).to_numpy()
    return np.divide(base, own, out=np.ones_like(own), where=own > 0)


def retention_what_if(
    transaction_model,
    spend_model,
    data,
    *,
    points=None,
    dropout_reduction=None,
    retention_period="Y",
    horizon=12,
    period="M",
    discount_rate=0.01,
    margin=1.0,
    segments=None,
):
    """The change in total expected value if retention rises by ``points`` (or dropout falls).

    The scenario model is ``transaction_model.with_dropout_scaled(f)``: the mean
    dropout rate times f, the spread across customers kept. With
    ``dropout_reduction`` x (percent), f = 1 - x/100. With ``points`` k, f is found
    (a scalar root find on log f) so that :func:`retention_rate` over
    ``retention_period`` rises from R to R + k/100.

    Today's customers stay who they are: the scenario model would also re-read the
    past (a silent customer looks less likely gone when dropout is rarer), which no
    retention programme changes. So each customer's scenario value is scaled by
    P_alive(today, fitted) / P_alive(today, scenario), i.e. the customers the
    fitted model believes alive today, behaving under the lower dropout from now
    on; the retention rate of the scenario is weighted the same way.

    For contractual data (each customer's renewals observed), the retention
    elasticity of Fader & Hardie (2010) is the analogue; the change here is in total
    expected value over the horizon, not a perpetuity.

    Parameters
    ----------
    transaction_model, spend_model : fitted models
        The purchase model must have ``with_dropout_scaled(factor)``.
    data : pandas.DataFrame
        RFM table as of today, in the model's time unit.
    points : float, optional
        Retention rise in percentage points (5 for 80% -> 85%); may be negative.
    dropout_reduction : float, optional
        Instead of ``points``: percent by which the mean dropout rate falls.
    retention_period : str or float, default "Y"
        Period of the retention rate.
    horizon, period, discount_rate, margin
        As in :func:`clvmodels.customer_lifetime_value`.
    segments : array-like, optional
        Segment per customer (default :func:`clvmodels.customer_segments`).

    Returns
    -------
    pandas.DataFrame
        Indexed by segment (and "all"): ``customers``, ``expected_value``,
        ``expected_value_after``, ``change``, ``change_percent``.
        ``attrs``: ``factor``, ``retention_before``, ``retention_after``,
        ``retention_period``, ``points``, ``dropout_reduction``.
    """
    if (points is None) == (dropout_reduction is None):
        raise ValueError("give exactly one of points (retention rise) and dropout_reduction (percent)")
    scale = getattr(transaction_model, "with_dropout_scaled", None)
    if scale is None:
        raise TypeError(f"{type(transaction_model).__name__} has no with_dropout_scaled(factor); "
                        "the what-if needs a purchase model with a dropout process")
    before = retention_rate(transaction_model, data, period=retention_period)
    if dropout_reduction is not None:
        reduction = float(dropout_reduction)
        if not np.isfinite(reduction) or not -1000 < reduction < 100:
            raise ValueError(f"dropout_reduction must be a percentage below 100, got {dropout_reduction!r}")
        factor = 1.0 - reduction / 100.0
    else:
        factor = _factor_for_points(transaction_model, data, before, float(points), retention_period)
    scenario = scale(factor)
    after = retention_rate(scenario, data, period=retention_period, alive_as=transaction_model)

    common = dict(horizon=horizon, period=period, discount_rate=discount_rate, margin=margin)
    value = customer_lifetime_value(transaction_model, spend_model, data, **common).to_numpy()
    value_after = customer_lifetime_value(scenario, spend_model, data, **common).to_numpy()
    value_after = value_after * _alive_weights(scenario, transaction_model, data)
    if segments is None:
        segments = customer_segments(transaction_model, data, spend_model=spend_model)["segment"]
    frame = pd.DataFrame({"segment": np.asarray(segments), "before": value, "after": value_after})
    rows = {}
    for name, part in [(s, frame.loc[frame["segment"] == s]) for s in SEGMENTS] + [(ALL, frame)]:
        if len(part) == 0 and name != ALL:
            continue
        total, total_after = part["before"].sum(), part["after"].sum()
        rows[name] = {"customers": float(len(part)), "expected_value": total, "expected_value_after": total_after,
                      "change": total_after - total,
                      "change_percent": 100.0 * (total_after - total) / total if total > 0 else np.nan}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "segment"
    table.attrs.update(factor=factor, retention_before=before, retention_after=after,
                       retention_period=retention_period, points=points, dropout_reduction=dropout_reduction,
                       horizon=int(horizon), period=period, discount_rate=float(discount_rate), margin=float(margin))
    return table


def _factor_for_points(model, data, before, points, retention_period):
    target = before + points / 100.0
    if points == 0:
        return 1.0
    if not 0 < target < 1:
        raise ValueError(f"retention of {before:.1%} cannot change by {points:g} points (it must stay between 0 and 1)")

    def gap(log_factor):
        scenario = model.with_dropout_scaled(float(np.exp(log_factor)))
        return retention_rate(scenario, data, period=retention_period, alive_as=model) - target

    # Walk log f away from 0 (f = 1) until retention passes the target or the model
    # refuses the factor (e.g. a mean dropout probability reaching 1).
    direction = -1.0 if points > 0 else 1.0
    inside, reached = 0.0, gap(0.0) + target
    for step in np.log(2.0) * 2.0 ** np.arange(0, 6):
        candidate = direction * step
        try:
            value = gap(candidate)
        except ValueError:
            break
        reached = value + target
        if (value >= 0) == (points > 0):
            from scipy import optimize  # slow to import, and only this what-if needs it

            low, high = sorted((inside, candidate))
            return float(np.exp(optimize.brentq(gap, low, high, xtol=1e-10, rtol=1e-10)))
        inside = candidate
    raise ValueError(
        f"retention of {before:.1%} cannot {'rise' if points > 0 else 'fall'} by {abs(points):g} points under "
        f"this model: scaling the dropout rate reaches {reached:.1%}"
    )


# ----- contractual models: retention elasticity (Fader & Hardie 2010) ----------------------
NEW = "new"


def contractual_what_if(model, customers, *, margin, discount_rate, retention_increase=None,
                        retention_points=None, sample_weight=None, new_customers=0.0):
    """Value of the customer base of a contractual model before and after a retention rise.

    The residual value of each active subscriber is ``margin`` x DERL (Fader & Hardie
    2010, "Customer-base valuation in a contractual setting: the perils of ignoring
    heterogeneity", Marketing Science 29(1), eq. 6; stated at her next renewal date,
    the next renewal undiscounted; :func:`clvmodels.contractual_lifetime_value`),
    summed per tenure cohort; churned customers are worth 0.

    **What "retention rises by x%" means.** Every customer's own probability of
    renewing, each future period, is multiplied by ``f = 1 + x / 100`` (the
    proportional lift behind Fader & Hardie's retention elasticity; with
    heterogeneity, not one aggregate rate). Who the customers are today is unchanged:
    the lift acts on their future renewals only. For an active customer of tenure t
    her probability of renewing k + 1 more times is multiplied by f^(k + 1) whatever
    her own churn probability, so averaging over what her record says about it,

        DERL_f(d | t) = sum_k f^(k+1) S(t + 1 + k) / S(t) (1 + d)^-k = f DERL(d' | t),

    with 1 + d' = (1 + d) / f: the scenario is the fitted model valued at a lower
    discount rate. This holds for every contractual model (sBG, BdW, ...) through its
    public ``expected_residual_lifetime``, with no change to its parameters (a
    Beta distribution of churn cannot express a proportional lift of 1 - theta, so no
    re-parameterisation is exact). The lift must stay below 1 + d (d' >= 1e-4):
    beyond it the customers least likely to leave would be worth an infinite amount.
    As in the proportional definition, the few customers whose renewal probability
    is above 1 / f are formally lifted past 1.

    **k points.** ``retention_points`` k is turned into that lift: the base's retention
    R (the share of today's customers expected to renew at their next renewal: the
    sum over cohorts of customers x r(t + 1), new customers at r(1), over all of
    them) becomes R + k / 100, so f = (R + k / 100) / R. Each cohort's next
    retention rate rises by the same factor.

    **Elasticity** (Fader & Hardie 2010; Pfeifer & Farris 2004): the % increase in
    value for a 1% increase in retention, d ln value / d ln f at f = 1 (a central
    difference), per cohort and in total, whatever the scenario asked for.
    ``elasticity_1pct`` is the same for a finite 1% lift (f = 1.01); it is larger (the
    value is convex in f) and infinite when the discount rate is at most about 1% per
    period (a 1% lift then makes the most loyal customers worth an unbounded amount).
    For one homogeneous retention rate r the elasticity is (1 + d) / (1 + d - r), the
    textbook figure (``attrs["aggregate_elasticity"]`` with r = R, and
    ``aggregate_elasticity_1pct``). With heterogeneity it is larger, because the
    customers who stay longest gain most from a lift compounded over their long future
    (Fader & Hardie 2010's point: the aggregate shortcut understates it).

    Parameters
    ----------
    model : fitted contractual model
        :class:`clvmodels.ShiftedBetaGeoModel`, :class:`clvmodels.BetaDiscreteWeibullModel`
        or any model with ``expected_residual_lifetime``, ``discounted_expected_lifetime``
        and ``retention``.
    customers : pandas.DataFrame
        ``tenure`` (renewals made) and ``churned`` per customer (or per group, with
        ``sample_weight``), in the model's period: :func:`clvmodels.tenure_summary`,
        :func:`clvmodels.tenure_from_survivors`.
    margin : float
        Profit per customer per period, >= 0.
    discount_rate : float
        Per period, > 1e-4.
    retention_increase : float, optional
        Percent by which every customer's renewal probability rises (default 1; may
        be negative, above -100).
    retention_points : float, optional
        Instead: points by which the base's next-period retention R rises.
    sample_weight : str or array-like, optional
        Customers per row: a column of ``customers`` or one number per row.
    new_customers : float, default 0
        Customers acquired at the valuation date, each worth ``margin`` x DEL (the
        first period paid at acquisition; :meth:`discounted_expected_lifetime`); a
        row "new" when > 0.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``tenure`` of the active cohorts (float), then "new" and "all":
        ``customers``, ``retention`` (next-period retention before the change: r(t + 1),
        r(1) for the new customers, R for "all"),
        ``value``, ``value_after``, ``change``, ``change_percent``, ``elasticity``,
        ``elasticity_1pct``; values in the currency of ``margin``, at the valuation
        date. ``attrs``: ``factor`` f, ``retention_before`` R, ``retention_after`` f R,
        ``equivalent_discount_rate`` d', ``aggregate_elasticity``,
        ``aggregate_elasticity_1pct``, ``discount_rate``,
        ``margin``, ``retention_increase``, ``retention_points``.

    Examples
    --------
    >>> import clvmodels as clv
    >>> table = clv.tenure_from_survivors([1000, 631, 468, 382, 326, 289, 262, 241])
    >>> sbg = clv.ShiftedBetaGeoModel().fit(table, sample_weight="weight")
    >>> what_if = clv.business.contractual_what_if(sbg, table, margin=1.0, discount_rate=0.1,
    ...                                            sample_weight="weight")
    >>> round(float(what_if.loc["all", "elasticity"]), 2)
    8.23
    """
    if retention_increase is not None and retention_points is not None:
        raise ValueError("give at most one of retention_increase (percent) and retention_points")
    margin = check_positive_number(margin, "margin", allow_zero=True)
    discount_rate = check_positive_number(discount_rate, "discount_rate")
    new_customers = check_positive_number(new_customers, "new_customers", allow_zero=True)
    tenure, counts = _active_cohorts(customers, sample_weight)
    if counts.sum() <= 0 and new_customers == 0:
        raise ValueError("contractual_what_if: no active customers (churned is 0 for none) and no new_customers")
    labels = list(tenure) + ([NEW] if new_customers > 0 else [])
    sizes = np.append(counts, [new_customers] if new_customers > 0 else [])
    # Next-period retention of each row: r(t + 1) for tenure t, r(1) for new customers.
    next_tenure = np.append(tenure, [0.0] if new_customers > 0 else []) + 1.0
    retention = np.atleast_1d(np.asarray(model.retention(next_tenure), dtype=float))
    base_retention = float(np.dot(sizes, retention) / sizes.sum())
    factor = _retention_factor(retention_increase, retention_points, base_retention)
    step = _elasticity_step(discount_rate)

    value = _cohort_values(model, tenure, counts, new_customers, discount_rate, 1.0)
    value_after = _cohort_values(model, tenure, counts, new_customers, discount_rate, factor)
    value_up = _cohort_values(model, tenure, counts, new_customers, discount_rate, 1.0 + step)
    value_down = _cohort_values(model, tenure, counts, new_customers, discount_rate, 1.0 - step)
    one_percent_possible = _lift_possible(discount_rate, 1.01)
    value_one_percent = (_cohort_values(model, tenure, counts, new_customers, discount_rate, 1.01)
                         if one_percent_possible else np.full(len(value), np.inf))
    rows = pd.DataFrame({"customers": sizes, "retention": retention,
                         "value": margin * value, "value_after": margin * value_after,
                         "value_one_percent": margin * value_one_percent, "value_up": margin * value_up,
                         "value_down": margin * value_down}, index=pd.Index(labels, dtype=object))
    rows.loc[ALL] = [rows["customers"].sum(), base_retention] + list(rows.iloc[:, 2:].sum())
    rows["change"] = rows["value_after"] - rows["value"]
    positive = rows["value"] > 0
    denominator = rows["value"].where(positive, 1.0)
    rows["change_percent"] = np.where(positive, 100.0 * rows["change"] / denominator, 0.0)
    rows["elasticity"] = np.where(positive, (rows["value_up"] - rows["value_down"]) / (2 * step * denominator), 0.0)
    with np.errstate(invalid="ignore"):
        rows["elasticity_1pct"] = np.where(positive, (rows["value_one_percent"] / denominator - 1.0) / 0.01, 0.0)
    table = rows.drop(columns=["value_one_percent", "value_up", "value_down"])
    table.index.name = "tenure"
    table.attrs.update(
        factor=factor, retention_before=base_retention, retention_after=factor * base_retention,
        equivalent_discount_rate=(1.0 + discount_rate) / factor - 1.0,
        aggregate_elasticity=(1.0 + discount_rate) / (1.0 + discount_rate - base_retention),
        aggregate_elasticity_1pct=_homogeneous_elasticity(base_retention, discount_rate, 1.01),
        discount_rate=discount_rate, margin=margin, retention_increase=100.0 * (factor - 1.0),
        retention_points=retention_points,
    )
    return table


_MIN_RATE = 1e-4  # the smallest discount rate DERL accepts (ContractualModel)


def _lift_possible(discount_rate, factor):
    return (1.0 + discount_rate) / factor - 1.0 >= _MIN_RATE


def _elasticity_step(discount_rate):
    """Relative lift for the central difference of the elasticity: 1e-4, smaller when
    the discount rate leaves less room (the value is singular where the lift reaches
    the discount rate, and its error grows as (step / room)^2)."""
    room = (1.0 + discount_rate) / (1.0 + _MIN_RATE) - 1.0
    step = min(1e-4, room * 1e-3)
    if step < 1e-9:
        raise ValueError(f"discount_rate must be above {_MIN_RATE * 1.01:g} per period for the retention elasticity, "
                         f"got {discount_rate:g}")
    return step


def _homogeneous_elasticity(retention, discount_rate, factor):
    """% value change per 1% of retention when every customer renews with the same
    probability r, lifted to f r: value r / (1 - r z), z = 1 / (1 + d), so the
    elasticity is (f (1 + d - r) / (1 + d - f r) - 1) / (f - 1) in %, and
    (1 + d) / (1 + d - r) as f -> 1 (the textbook figure)."""
    d = discount_rate
    if not np.isfinite(retention):
        return np.nan
    if factor * retention >= 1.0 + d:
        return np.inf
    return (factor * (1.0 + d - retention) / (1.0 + d - factor * retention) - 1.0) / (factor - 1.0)


def _active_cohorts(customers, sample_weight):
    """Distinct tenures of the active customers and the customers at each."""
    require_dataframe(customers, "customers")
    problems = Problems("customers")
    weight_column = sample_weight if isinstance(sample_weight, str) else None
    if not require_columns(customers, ("tenure", "churned", weight_column), problems):
        problems.raise_if_any()
    if sample_weight is None:
        weights = np.ones(len(customers))
    elif weight_column is not None:
        weights = pd.to_numeric(customers[weight_column], errors="coerce").to_numpy(dtype=float)
    else:
        weights = np.asarray(sample_weight, dtype=float).reshape(-1)
        if len(weights) != len(customers):
            raise ValueError(f"sample_weight must have one number per row of customers ({len(customers)} rows)")
    tenure = pd.to_numeric(customers["tenure"], errors="coerce").to_numpy(dtype=float)
    churned = pd.to_numeric(customers["churned"], errors="coerce").to_numpy(dtype=float)
    problems.add_if(weight_column or "sample_weight", ~np.isfinite(weights) | (weights < 0),
                    "are not finite numbers >= 0")
    problems.add_if("tenure", ~np.isfinite(tenure) | (tenure < 0) | (tenure != np.round(tenure)),
                    "are not whole numbers >= 0")
    problems.add_if("churned", ~np.isin(churned, (0.0, 1.0)), "are not 0/1")
    problems.raise_if_any()
    active = (churned == 0) & (weights > 0)
    distinct, index = np.unique(tenure[active], return_inverse=True)
    return distinct, np.bincount(index.reshape(-1), weights=weights[active], minlength=len(distinct))


def _retention_factor(retention_increase, retention_points, base_retention):
    """The lift f of every customer's renewal probability."""
    if retention_points is None:
        increase = 1.0 if retention_increase is None else float(retention_increase)
        if not np.isfinite(increase) or increase <= -100:
            raise ValueError(f"retention_increase must be a percentage above -100, got {retention_increase!r}")
        return 1.0 + increase / 100.0
    points = float(retention_points)
    if not np.isfinite(base_retention) or base_retention <= 0:
        raise ValueError("retention_points needs active customers with a retention rate above 0")
    target = base_retention + points / 100.0
    if not (np.isfinite(points) and 0 < target < 1):
        raise ValueError(f"retention of {base_retention:.1%} cannot change by {points:g} points "
                         "(it must stay between 0 and 1)")
    return target / base_retention


def _cohort_values(model, tenure, counts, new_customers, discount_rate, factor):
    """Discounted expected periods paid, summed per cohort (then the new customers),
    when every renewal probability is multiplied by ``factor``: f DERL(d') and DEL(d'),
    1 + d' = (1 + d) / f (see :func:`contractual_what_if`)."""
    rate = discount_rate if factor == 1.0 else (1.0 + discount_rate) / factor - 1.0
    if factor != 1.0 and not _lift_possible(discount_rate, factor):
        raise ValueError(
            f"a retention lift of {100 * (factor - 1):.3g}% is too large at a discount rate of {discount_rate:g}: "
            "the lift must stay below the discount rate (beyond it the most loyal customers are worth infinitely "
            "much under this model)"
        )
    values = []
    if len(tenure):
        cohorts = pd.DataFrame({"tenure": tenure, "churned": np.zeros(len(tenure))})
        values = list(counts * factor * model.expected_residual_lifetime(cohorts, rate).to_numpy())
    if new_customers > 0:
        # DEL with the lift: 1 + sum_k f^(k+1) S(k+1) (1+d)^-(k+1) = 1 + z' DERL(d' | 0) = DEL(d').
        values.append(new_customers * model.discounted_expected_lifetime(rate))
    return np.asarray(values, dtype=float)
