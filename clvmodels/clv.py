"""Customer lifetime value: churn-adjusted, discounted expected spend.

For each customer,

    CLV = margin * E[spend per purchase]
          * sum_{k=1..horizon} (E[X(k p)] - E[X((k-1) p)]) / (1 + discount_rate)^k,

with p one period in the transaction model's time unit and E[X(t)] the expected
purchases in the next t time units given the customer's history (Fader, Hardie & Lee
2005, "RFM and CLV", section on CLV; the same sum as lifetimes'
``customer_lifetime_value``). Customers who have probably churned have small E[X]
and so contribute little.
"""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd

from . import _intervals
from ._units import unit_ratio
from ._validation import check_positive_number, check_whole_number


# Customers that share one random stream in the value simulation (see _simulated_interval).
_SIMULATION_BLOCK = 32_768


def period_length(period, model_time_unit):
    """One period expressed in the model's time unit.

    Parameters
    ----------
    period : str or float
        A unit code ("D", "W", "M", "Q", "Y", "H") or a number of model time units.
    model_time_unit : str or None
        The unit the transaction model was fitted in.
    """
    if isinstance(period, str):
        if model_time_unit is None:
            raise ValueError(
                f"period={period!r} is a time unit, but the transaction model does not know its "
                "own time unit (fit it on data from rfm_summary, or give period as a number of "
                "model time units)"
            )
        return unit_ratio(period, model_time_unit)
    return check_positive_number(period, "period")


def customer_lifetime_value(
    transaction_model, spend_model, data, *, horizon, period, discount_rate, margin=1.0,
    interval=None, n_draws=200, random_state=0, chunk_size=_intervals.DEFAULT_CHUNK, interval_method="asymptotic",
):
    """Churn-adjusted, discounted customer lifetime value over ``horizon`` periods.

    Parameters
    ----------
    transaction_model : fitted model with ``expected_purchases(data, t)``
        E.g. :class:`clvmodels.BetaGeoModel`.
    spend_model : fitted model with ``expected_spend(data)``
        E.g. :class:`clvmodels.GammaGammaModel`.
    data : pandas.DataFrame
        RFM table with frequency, recency, T, monetary_value, in the transaction
        model's time unit.
    horizon : int
        Number of periods to sum over.
    period : str or float
        Length of one period: a unit code ("D", "W", "M", "Q", "Y") converted with the
        model's ``time_unit_``, or a number of model time units (e.g. 4.345 weeks).
    discount_rate : float
        Discount rate per period (0.01 = 1% a period); cash flows in period k are
        divided by (1 + discount_rate)^k.
    margin : float, default 1.0
        Profit margin applied to spend.
    interval : float, optional
        With e.g. 0.9, a 90% interval of each customer's value (and of the total) by
        simulation: for each of ``n_draws`` draws of both models' parameters
        (:meth:`~clvmodels.TransactionModel.parameter_draws`), each customer's
        survival, purchases per period and spend are drawn given the history, and
        the discounted value is summed. The bounds are the k-th smallest and largest
        of the ``n_draws`` values, k chosen so that they enclose the value the
        customer will realise with probability at least ``interval`` (plain sample
        quantiles of 200 draws would cover about 89%). Customers are simulated
        ``chunk_size`` at a time, so memory stays bounded; the same ``random_state``
        gives the same interval whatever the chunk size.
    n_draws, random_state, chunk_size
        Settings of the simulation.
    interval_method : {"asymptotic", "bootstrap"}, default "asymptotic"
        How both models' parameters are drawn (``method`` of
        :meth:`~clvmodels.TransactionModel.parameter_draws`).

    Returns
    -------
    pandas.Series or pandas.DataFrame
        CLV per customer, on ``data.index``, named ``clv``. With ``interval``, a
        DataFrame with columns ``clv`` (the closed-form value), ``lower`` and
        ``upper``, and ``attrs["total"]`` giving the total and its interval.

    Examples
    --------
    >>> import clvmodels as clv
    >>> tx = clv.datasets.load_cdnow(sample=True)
    >>> rfm = clv.rfm_summary(tx, amount_col="amount", time_unit="W", observation_end="1997-09-30")
    >>> bg, gg = clv.BetaGeoModel().fit(rfm), clv.GammaGammaModel().fit(rfm)
    >>> value = clv.customer_lifetime_value(bg, gg, rfm, horizon=12, period="M", discount_rate=0.01)
    """
    horizon = check_whole_number(horizon, "horizon", unit=" of periods")
    discount_rate = check_positive_number(discount_rate, "discount_rate", allow_zero=True)
    margin = check_positive_number(margin, "margin", allow_zero=True)
    step = period_length(period, transaction_model.time_unit_)

    spend = spend_model.expected_spend(data).to_numpy()
    periods = np.arange(1, int(horizon) + 1)
    discounts = (1 + discount_rate) ** -periods.astype(float)
    purchases = transaction_model.discounted_expected_purchases(data, times=periods * step, discounts=discounts).to_numpy()
    value = pd.Series(margin * spend * purchases, index=data.index, name="clv")
    if interval is None:
        return value
    return _simulated_interval(
        transaction_model, spend_model, data, value, periods * step, discounts * margin,
        _intervals.check_level(interval), _intervals.check_draws(n_draws), random_state, chunk_size,
        _intervals.check_draws_method(interval_method),
    )


def _simulated_interval(transaction_model, spend_model, data, value, period_ends, weights, level, n_draws,
                        random_state, chunk_size, method="asymptotic"):
    """Per-customer and total intervals of discounted value by simulation (see
    :func:`customer_lifetime_value`).

    Random streams belong to fixed blocks of customers (seeded from ``random_state``,
    the draw and the block), and a chunk is a whole number of blocks, so the chunk
    size changes memory use, never the draws.
    """
    chunk_size = int(check_positive_number(chunk_size, "chunk_size"))
    rng = np.random.default_rng(random_state)
    purchase_draws = transaction_model.parameter_draws(n_draws, rng, method=method).to_numpy()
    spend_draws = spend_model.parameter_draws(n_draws, rng, method=method).to_numpy()
    seeds = rng.integers(0, 2**63 - 1, size=n_draws)
    purchase_formula = transaction_model.formulas.sample_future_purchases
    buyers_formula = getattr(transaction_model.formulas, "sample_future_buyers", None)
    spend_formula = spend_model.formulas.sample_future_spend
    spend_names = list(spend_model.param_names)
    block = _SIMULATION_BLOCK
    chunk_size = max(block, chunk_size // block * block)

    def simulate(history, spend_history, start, rows, values):

        def one_draw(k):
            stream = np.random.default_rng([int(seeds[k]), start // block])
            params = transaction_model.formula_params(rows, purchase_draws[k])  # per customer with covariates
            spend_params = dict(zip(spend_names, spend_draws[k]))
            if buyers_formula is None:
                counts = purchase_formula(params, period_ends, *history, stream)
                values[k] = spend_formula(spend_params, counts, *spend_history, stream) @ weights
                return
            # Most customers buy nothing in a draw: only the buyers get spend.
            buyers, counts = buyers_formula(params, period_ends, *history, stream)
            spend = spend_formula(spend_params, counts, *(column[buyers] for column in spend_history), stream)
            values[k] = 0.0
            values[k, buyers] = spend @ weights

        # NumPy releases the GIL while it draws and computes on whole arrays, so the
        # draws run in parallel on threads; each has its own stream, so the result
        # does not depend on the number of threads.
        with ThreadPoolExecutor(max_workers=_intervals.worker_threads()) as pool:
            list(pool.map(one_draw, range(n_draws)))

    def draws_by_chunk():
        for rows in _intervals.chunks(len(data), chunk_size):
            part = data.iloc[rows]
            history, spend_history = transaction_model.history(part), spend_model.history(part)
            values = np.empty((n_draws, len(part)))
            for b in _intervals.chunks(len(part), block):
                simulate([c[b] for c in history], [c[b] for c in spend_history], rows.start + b.start, part.iloc[b],
                         values[:, b])
            yield values

    table = _intervals.interval_table(value.to_numpy(), draws_by_chunk(), level, data.index, "clv", predictive=True)
    table.attrs.update(n_draws=n_draws)
    return table


def contractual_lifetime_value(model, data, *, margin, discount_rate):
    """Residual lifetime value of each subscriber: margin per period x DERL.

    Fader & Hardie (2010), "Customer-base valuation in a contractual setting: the
    perils of ignoring heterogeneity", Marketing Science 29(1), eq. 6:
    E[RLV] = margin x DERL(discount_rate | tenure), the discounted value of the
    customer's future renewals, stated at her next renewal date (the next renewal
    payment undiscounted); churned customers are worth 0.

    Parameters
    ----------
    model : fitted contractual model
        E.g. :class:`clvmodels.ShiftedBetaGeoModel` or
        :class:`clvmodels.BetaDiscreteWeibullModel` (anything with
        ``expected_residual_lifetime(data, discount_rate)``).
    data : pandas.DataFrame
        ``tenure`` and ``churned`` per customer, in the model's period.
    margin : float or array-like
        Profit per customer per period (one value, or one per row of ``data``).
    discount_rate : float
        Per period, >= 1e-4.

    Returns
    -------
    pandas.Series
        Value per customer, on ``data.index``, named ``clv``, in the currency of
        ``margin``.

    Examples
    --------
    >>> import clvmodels as clv
    >>> table = clv.tenure_from_survivors([1000, 631, 468, 382, 326, 289, 262, 241])
    >>> sbg = clv.ShiftedBetaGeoModel().fit(table, sample_weight="weight")
    >>> value = clv.contractual_lifetime_value(sbg, table, margin=100.0, discount_rate=0.1)
    >>> round(float(value.iloc[-1]), 2)  # an active customer after 7 renewals
    684.23
    """
    margin = np.asarray(margin, dtype=float)
    if margin.ndim > 1 or (margin.ndim == 1 and len(margin) != len(data)):
        raise ValueError(f"margin must be one number or one per row of data ({len(data)} rows)")
    if np.any(~np.isfinite(margin) | (margin < 0)):
        raise ValueError("margin must hold finite numbers >= 0")
    derl = model.expected_residual_lifetime(data, discount_rate).to_numpy()
    return pd.Series(margin * derl, index=data.index, name="clv")
