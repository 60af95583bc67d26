"""Customer segments: a status from the model and classic RFM quintile scores.

The status uses the transaction model's probability that a customer is still active
(FHL 2005 eq. 11 for BG/NBD: "Counting your customers the easy way", Marketing
Science 24(2)); the RFM scores rank customers on the three observed quantities the
models are built on (recency, frequency, monetary value).
"""

import itertools

import numpy as np
import pandas as pd

from ._units import DAYS_PER_UNIT, check_time_unit
from ._validation import check_positive_number, check_rfm
from .exceptions import NotFittedError

__all__ = ["customer_segments", "SEGMENTS", "quintile_scores", "quintile_positions", "ranked_values"]

#: Segment labels, in the order the report lists them.
SEGMENTS = ("new", "active", "at risk", "inactive")

# Default cap of the "new customer" age: 90 days, in the model's time unit.
_NEW_CUSTOMER_DAYS = 90.0


def quintile_positions(n):
    """The 0-based positions, in n sorted values, of the four quintile thresholds."""
    return [-(-s * n // 5) - 1 for s in range(1, 5)]


def quintile_scores(values, thresholds=None):
    """Score values 1..5 by quintile of their position: 5 for the largest fifth.

    score = 1 + floor(5 k / n), where k is the number of values strictly smaller
    than the value and n the number of values. Without ties every score holds n/5
    values (rounded); tied values share one score, the one of the lowest position
    of the tie, so the result does not depend on row order. The smallest value
    always scores 1. With heavy ties (e.g. most customers with frequency 0) some
    scores stay empty.

    Parameters
    ----------
    values : array-like of float
        Finite values.
    thresholds : array-like of 4 floats, optional
        The values at :func:`quintile_positions` of all the values scored together,
        when ``values`` are only part of them (a partition of a Dask DataFrame).

    Returns
    -------
    numpy.ndarray of int64
    """
    values = np.asarray(values, dtype=float)
    n = len(values)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    # k >= K exactly when the K-th smallest value is below the value, and
    # floor(5 k / n) counts the s in 1..4 with k >= ceil(s n / 5): four order
    # statistics (a partition, not a sort) decide every score.
    if thresholds is None:
        positions = quintile_positions(n)
        thresholds = np.partition(values, positions)[positions]
    scores = np.ones(n, dtype=np.int64)
    for threshold in thresholds:
        scores += values > threshold
    return scores


def _default_new_customer_T(T, time_unit):
    """min(1/4 of the longest observation, 90 days), in the data's time unit."""
    window = float(np.max(T)) if len(T) else 0.0
    quarter = window / 4.0
    if time_unit is None:
        return quarter
    return min(quarter, _NEW_CUSTOMER_DAYS / DAYS_PER_UNIT[check_time_unit(time_unit)])


def _threshold(value, name):
    number = check_positive_number(value, name, allow_zero=True)
    if number > 1:
        raise ValueError(f"{name} must be a probability between 0 and 1, got {value!r}")
    return number


def customer_segments(
    transaction_model,
    data,
    *,
    at_risk_below=0.5,
    inactive_below=0.2,
    new_customer_T=None,
    spend_model=None,
    score_thresholds=None,
):
    """Label each customer new, active, at risk or inactive, and score them on RFM.

    Status rule, applied in this order (thresholds are parameters):

    1. ``"new"``: ``T < new_customer_T`` -- observed too briefly to judge;
    2. ``"inactive"``: probability alive < ``inactive_below``;
    3. ``"at risk"``: probability alive < ``at_risk_below``;
    4. ``"active"``: everyone else.

    RFM scores are quintile scores 1..5 from :func:`quintile_scores`, 5 best:
    ``recency_score`` for the shortest time since the last purchase (T - recency),
    ``frequency_score`` for the most repeat purchases, ``monetary_score`` for the
    highest spend per purchase. Tied customers share a score, so the scores do not
    depend on row order.

    Parameters
    ----------
    transaction_model : fitted transaction model
        With ``probability_alive(data)`` (e.g. :class:`clvmodels.BetaGeoModel`).
    data : pandas.DataFrame
        RFM table (``frequency``, ``recency``, ``T``, optionally
        ``monetary_value``) in the model's time unit.
    at_risk_below : float, default 0.5
        Customers below this probability alive are at risk.
    inactive_below : float, default 0.2
        Customers below this probability alive are inactive. Must not exceed
        ``at_risk_below``.
    new_customer_T : float, optional
        Customers observed for less than this (in the data's time unit) are new.
        Default: a quarter of the longest observation (max T) but at most 90 days
        (12.86 weeks, 2.96 months), so a long history does not make a customer
        of several months "new". 0 turns the new segment off.
    spend_model : fitted spend model, optional
        If given, ``monetary_score`` ranks its ``expected_spend(data)``, which gives
        customers without repeat purchases the population mean rather than 0;
        otherwise the ``monetary_value`` column is ranked; without either,
        ``monetary_score`` is missing (``<NA>``) and ``rfm_score`` has two digits.
    score_thresholds : dict, optional
        ``{"recency": ..., "frequency": ..., "monetary": ...}``, four thresholds
        each (see :func:`quintile_scores`) of the :func:`ranked_values` of all
        customers, for scoring part of them (one partition) as the whole.

    Returns
    -------
    pandas.DataFrame
        On ``data.index``: ``probability_alive`` (float), ``segment`` (ordered
        categorical with categories ``SEGMENTS``), ``recency_score``,
        ``frequency_score``, ``monetary_score`` (1..5) and ``rfm_score`` (categorical of strings
        such as "545", recency, frequency, monetary). ``attrs`` records the
        thresholds used, including the resolved ``new_customer_T``.

    Raises
    ------
    ValueError
        For thresholds outside [0, 1], ``inactive_below > at_risk_below``, a
        negative ``new_customer_T`` or invalid RFM data (naming the column).
    NotFittedError
        If a model is not fitted.

    Examples
    --------
    >>> import clvmodels as clv
    >>> tx = clv.datasets.load_cdnow(sample=True)
    >>> rfm = clv.rfm_summary(tx, amount_col="amount", time_unit="W", observation_end="1997-09-30")
    >>> segments = clv.customer_segments(clv.BetaGeoModel().fit(rfm), rfm)
    >>> segments["segment"].value_counts().sort_index().to_dict()  # doctest: +SKIP
    """
    at_risk_below = _threshold(at_risk_below, "at_risk_below")
    inactive_below = _threshold(inactive_below, "inactive_below")
    if inactive_below > at_risk_below:
        raise ValueError(
            f"inactive_below ({inactive_below}) must not be greater than at_risk_below ({at_risk_below})"
        )
    if new_customer_T is not None:
        new_customer_T = check_positive_number(new_customer_T, "new_customer_T", allow_zero=True)
    if not hasattr(transaction_model, "params_"):
        raise NotFittedError(
            f"transaction_model {type(transaction_model).__name__} is not fitted yet; call fit(data) first"
        )

    ranked = ranked_values(data, spend_model)
    T = check_rfm(data, ("T",), what="data")["T"]

    alive = np.asarray(transaction_model.probability_alive(data), dtype=float)
    unit = data.attrs.get("time_unit") or getattr(transaction_model, "time_unit_", None)
    if new_customer_T is None:
        new_customer_T = _default_new_customer_T(T, unit)

    codes = np.select(
        [T < new_customer_T, alive < inactive_below, alive < at_risk_below],
        [SEGMENTS.index("new"), SEGMENTS.index("inactive"), SEGMENTS.index("at risk")],
        default=SEGMENTS.index("active"),
    )
    segment = pd.Categorical.from_codes(codes, categories=list(SEGMENTS), ordered=True)

    thresholds = score_thresholds or {}
    recency_score = quintile_scores(ranked["recency"], thresholds.get("recency"))
    frequency_score = quintile_scores(ranked["frequency"], thresholds.get("frequency"))
    monetary = ranked.get("monetary")
    if monetary is not None:
        scores = quintile_scores(monetary, thresholds.get("monetary"))
        monetary_score = pd.array(scores, dtype="Int64")
        rfm = _score_labels(recency_score, frequency_score, scores)
    else:
        monetary_score = pd.array([pd.NA] * len(T), dtype="Int64")
        rfm = _score_labels(recency_score, frequency_score)

    table = pd.DataFrame(
        {
            "probability_alive": alive,
            "segment": segment,
            "recency_score": recency_score,
            "frequency_score": frequency_score,
            "monetary_score": monetary_score,
            "rfm_score": rfm,
        },
        index=data.index,
    )
    table.attrs.update(
        at_risk_below=at_risk_below,
        inactive_below=inactive_below,
        new_customer_T=float(new_customer_T),
        time_unit=unit,
        monetary_basis="expected_spend" if spend_model is not None else ("monetary_value" if monetary is not None else None),
    )
    return table


def ranked_values(data, spend_model=None):
    """The values the RFM scores rank, per customer: ``recency`` (-(T - recency), so
    recent buyers rank high), ``frequency`` and, where there is one, ``monetary``
    (``spend_model.expected_spend(data)``, else the ``monetary_value`` column).

    Returns
    -------
    dict of str -> numpy.ndarray
    """
    use_monetary = spend_model is None and isinstance(data, pd.DataFrame) and "monetary_value" in data.columns
    columns = ("frequency", "recency", "T", "monetary_value") if use_monetary else ("frequency", "recency", "T")
    arrays = check_rfm(data, columns, what="data")
    ranked = {"recency": -(arrays["T"] - arrays["recency"]), "frequency": arrays["frequency"]}
    if spend_model is not None:
        ranked["monetary"] = np.asarray(spend_model.expected_spend(data), dtype=float)
    elif use_monetary:
        ranked["monetary"] = arrays["monetary_value"]
    return ranked


def _score_labels(*scores):
    """Labels such as "545" (one digit per score, 1..5), as a categorical built from
    the scores' codes, so no string is made per customer."""
    code = np.zeros(len(scores[0]), dtype=np.int64)
    for score in scores:
        code = code * 5 + (np.asarray(score, dtype=np.int64) - 1)
    labels = ["".join(digits) for digits in itertools.product("12345", repeat=len(scores))]
    return pd.Categorical.from_codes(code, categories=labels)
