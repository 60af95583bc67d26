"""Scoring RFM tables that live in a Dask cluster, partition by partition.

Every function here sends the workers the fitted models' JSON parameters
(:meth:`to_dict`), never a model object, and rebuilds the models on each partition
with :func:`clvmodels.model_from_dict`; the partition is then scored by the models'
public prediction methods, so any model works and the scores are those of the
pandas path, bit for bit. Quantities that depend on all customers (the quintile
thresholds of the RFM scores, the default "new customer" age of the segments) are
computed over the whole table first and handed to every partition.

Install with ``pip install 'clvmodels[dask]'``.

Examples
--------
>>> import dask.dataframe as dd                       # doctest: +SKIP
>>> import clvmodels as clv
>>> from clvmodels import partitioned
>>> tx = dd.read_parquet("lake/transactions/")        # doctest: +SKIP
>>> rfm = clv.rfm_summary(tx, amount_col="amount", time_unit="W").persist()   # doctest: +SKIP
>>> bg = clv.BetaGeoModel().fit(rfm)                  # doctest: +SKIP
>>> alive = partitioned.predict(bg, rfm, "probability_alive")   # a Dask Series   # doctest: +SKIP
"""

import numpy as np
import pandas as pd

from ._base import model_from_dict
from ._dask import attrs_of, is_dask_collection, order_statistics, require_dask
from .clv import customer_lifetime_value as _customer_lifetime_value
from .clv import period_length
from .segments import SEGMENTS, _default_new_customer_T, customer_segments as _customer_segments
from .segments import quintile_positions, ranked_values

__all__ = ["predict", "customer_lifetime_value", "customer_segments", "forecast"]


def _records(*models):
    return [None if model is None else model.to_dict() for model in models]


def _rebuild(records):
    return [None if record is None else model_from_dict(record) for record in records]


def _require_frame(data):
    if not is_dask_collection(data):
        raise TypeError(f"data must be a dask.dataframe.DataFrame, got {type(data).__name__}")
    require_dask("clvmodels.partitioned")


def _with_attrs(frame, attrs):
    """A partition with the table's attrs (time unit), which partitions read from files lack."""
    if attrs and not frame.attrs:
        frame = frame.copy(deep=False)
        frame.attrs.update(attrs)
    return frame


def _predict_partition(frame, records, method, kwargs, attrs):
    (model,) = _rebuild(records)
    return getattr(model, method)(_with_attrs(frame, attrs), **kwargs).astype(float)


def predict(model, data, method, **kwargs):
    """``getattr(model, method)(partition, **kwargs)`` on every partition of ``data``.

    Parameters
    ----------
    model : fitted model
        Any clvmodels model; only its :meth:`to_dict` record is sent to the workers.
    data : dask.dataframe.DataFrame
        RFM table, e.g. from :func:`clvmodels.rfm_summary` of a Dask DataFrame.
    method : str
        A per-customer prediction method, e.g. ``"expected_purchases"`` (with
        ``t=``), ``"probability_alive"``, ``"expected_spend"``.

    Returns
    -------
    dask.dataframe.Series
        Named ``method``, on ``data``'s index and partitions.
    """
    _require_frame(data)
    if not callable(getattr(model, method, None)) or method.startswith("_"):
        raise ValueError(f"{type(model).__name__} has no prediction method {method!r}")
    return data.map_partitions(
        _predict_partition, _records(model), method, kwargs, attrs_of(data),
        meta=pd.Series(dtype=float, name=method), align_dataframes=False,
    )


def _clv_partition(frame, records, options, attrs):
    transaction_model, spend_model = _rebuild(records)
    return _customer_lifetime_value(transaction_model, spend_model, _with_attrs(frame, attrs), **options)


def customer_lifetime_value(transaction_model, spend_model, data, *, horizon, period, discount_rate, margin=1.0):
    """:func:`clvmodels.customer_lifetime_value` of every partition of ``data``: a Dask Series ``clv``."""
    _require_frame(data)
    options = {"horizon": horizon, "period": period, "discount_rate": discount_rate, "margin": margin}
    return data.map_partitions(
        _clv_partition, _records(transaction_model, spend_model), options, attrs_of(data),
        meta=pd.Series(dtype=float, name="clv"), align_dataframes=False,
    )


def _ranked_partition(frame, records, attrs):
    (spend_model,) = _rebuild(records)
    return pd.DataFrame(ranked_values(_with_attrs(frame, attrs), spend_model), index=frame.index)


def _segments_partition(frame, records, options, attrs):
    transaction_model, spend_model = _rebuild(records)
    return _customer_segments(transaction_model, _with_attrs(frame, attrs), spend_model=spend_model, **options)


def _segments_meta(index, has_monetary):
    labels = [a + b + c for a in "12345" for b in "12345" for c in ("12345" if has_monetary else [""])]
    return pd.DataFrame({
        "probability_alive": pd.Series(dtype=float),
        "segment": pd.Categorical([], categories=list(SEGMENTS), ordered=True),
        "recency_score": pd.Series(dtype=np.int64),
        "frequency_score": pd.Series(dtype=np.int64),
        "monetary_score": pd.array([], dtype="Int64"),
        "rfm_score": pd.Categorical([], categories=labels),
    }, index=index)


def segment_settings(transaction_model, data, *, spend_model=None, new_customer_T=None, scores=True):
    """What :func:`clvmodels.customer_segments` takes from all customers at once: the
    default ``new_customer_T`` (from the longest T) and the quintile thresholds.

    Returns
    -------
    dict
        ``new_customer_T`` and (with ``scores``) ``score_thresholds``, keyword
        arguments of :func:`clvmodels.customer_segments` for each partition.
    """
    _require_frame(data)
    attrs = attrs_of(data)
    if new_customer_T is None:
        unit = attrs.get("time_unit") or getattr(transaction_model, "time_unit_", None)
        new_customer_T = _default_new_customer_T(np.array([float(data["T"].max().compute())]), unit)
    if not scores:
        return {"new_customer_T": float(new_customer_T)}
    ranked = data.map_partitions(
        _ranked_partition, _records(spend_model), attrs,
        meta=pd.DataFrame({c: pd.Series(dtype=float) for c in ("recency", "frequency", "monetary")}),
        align_dataframes=False,
    )
    has_monetary = spend_model is not None or "monetary_value" in data.columns
    if not has_monetary:
        ranked = ranked[["recency", "frequency"]]
    n = int(ranked.shape[0].compute())
    if n == 0:
        raise ValueError("invalid data: the table is empty (0 rows)")
    thresholds = order_statistics(ranked, {c: quintile_positions(n) for c in ranked.columns})
    return {"new_customer_T": float(new_customer_T), "score_thresholds": thresholds}


def customer_segments(transaction_model, data, *, at_risk_below=0.5, inactive_below=0.2, new_customer_T=None,
                      spend_model=None):
    """:func:`clvmodels.customer_segments` of a Dask RFM table, equal to it on the whole table.

    The quintile thresholds of the RFM scores and the default ``new_customer_T`` are
    computed over all partitions first (exact order statistics: a few passes that
    send the client bin counts, not the values); then each partition is labelled.

    Returns
    -------
    dask.dataframe.DataFrame
        The columns of :func:`clvmodels.customer_segments`, on ``data``'s index.
    """
    settings = segment_settings(transaction_model, data, spend_model=spend_model, new_customer_T=new_customer_T)
    options = {"at_risk_below": at_risk_below, "inactive_below": inactive_below, **settings}
    has_monetary = "monetary" in settings["score_thresholds"]
    return data.map_partitions(
        _segments_partition, _records(transaction_model, spend_model), options, attrs_of(data),
        meta=_segments_meta(data._meta.index, has_monetary), align_dataframes=False,
    )


def _forecast_partition(frame, records, settings, segment_options, attrs):
    transaction_model, spend_model = _rebuild(records)
    frame = _with_attrs(frame, attrs)
    horizon = int(settings["horizon"])
    step = period_length(settings["period"], transaction_model.time_unit_)
    table = pd.DataFrame(index=frame.index)
    for column in ("frequency", "recency", "T", "monetary_value"):
        if column in frame.columns and (column != "monetary_value" or spend_model is not None):
            table[column] = frame[column]
    table["probability_alive"] = transaction_model.probability_alive(frame)
    table["expected_purchases"] = transaction_model.expected_purchases(frame, t=horizon * step)
    if spend_model is not None:
        table["expected_spend"] = spend_model.expected_spend(frame)
        table["clv"] = _customer_lifetime_value(
            transaction_model, spend_model, frame, horizon=horizon, period=settings["period"],
            discount_rate=settings["discount_rate"], margin=settings["margin"],
        )
    segments = _customer_segments(transaction_model, frame, spend_model=spend_model, **segment_options)
    table["segment"] = segments["segment"]
    return table


def forecast(transaction_model, spend_model, data, *, horizon, period, discount_rate, margin=1.0):
    """The per-customer forecast table of ``clvmodels forecast`` for a Dask RFM table.

    Columns: the RFM columns, ``probability_alive``, ``expected_purchases`` (over
    ``horizon`` periods), and with a spend model ``expected_spend`` and ``clv``;
    then ``segment`` (:func:`clvmodels.customer_segments` over all customers).

    Returns
    -------
    dask.dataframe.DataFrame
    """
    _require_frame(data)
    settings = {"horizon": horizon, "period": period, "discount_rate": discount_rate, "margin": margin}
    segment_options = segment_settings(transaction_model, data, spend_model=spend_model, scores=False)
    columns = [c for c in ("frequency", "recency", "T") if c in data.columns]
    if spend_model is not None and "monetary_value" in data.columns:
        columns.append("monetary_value")
    columns += ["probability_alive", "expected_purchases"]
    if spend_model is not None:
        columns += ["expected_spend", "clv"]
    meta = pd.DataFrame({c: pd.Series(dtype=float) for c in columns}, index=data._meta.index)
    meta["segment"] = pd.Categorical([], categories=list(SEGMENTS), ordered=True)
    return data.map_partitions(
        _forecast_partition, _records(transaction_model, spend_model), settings, segment_options,
        attrs_of(data), meta=meta, align_dataframes=False,
    )
