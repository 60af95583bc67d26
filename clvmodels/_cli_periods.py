"""The command line for models counted in periods: what ``--model bgbb`` and
``--model sbg|bdw`` read, summarise, score and print.

Which model is of which kind follows from the columns it fits, read from the
registry (:func:`clvmodels.registered_models`), never from its class:

- ``continuous``: purchase models of (frequency, recency, T) in a time unit
  (BG/NBD, Pareto/NBD, ...), handled by :mod:`clvmodels.cli` itself;
- ``discrete``: purchase models of (frequency, recency, n_periods), one
  transaction opportunity per calendar period (BG/BB): a transaction log is
  summarised by :func:`clvmodels.discrete_rfm_summary` with ``--period``;
- ``contractual``: renewal models of (tenure, churned) (sBG, BdW): a
  subscription table (customer, start, end or empty while active) is summarised
  by :func:`clvmodels.tenure_summary` with ``--period`` the renewal period.

Functions here raise ``ValueError`` for bad input; the CLI turns them into
one-line errors (exit status 2).
"""

import numpy as np
import pandas as pd

from ._families import _MIN_DISCOUNT_RATE as MIN_DISCOUNT_RATE  # DERT and DERL sum periods without end
from ._families import model_kind, registered_models
from .discrete import _PERIODS as PERIOD_CODES  # calendar periods of one opportunity or one renewal
from .discrete import DEFAULT_PERIOD

KINDS = ("continuous", "discrete", "contractual")

DISCRETE_OUTPUT = ("frequency", "recency", "n_periods", "monetary_value", "probability_alive",
                   "expected_transactions", "dert", "expected_spend", "clv", "residual_value")
CONTRACT_OUTPUT = ("tenure", "churned", "probability_alive_next_period", "derl", "clv")


def models_by_kind():
    """``{kind: {key: class}}`` of every registered model the command line can fit
    (:func:`clvmodels._families.model_kind`)."""
    models = {**registered_models("transaction"), **registered_models("contractual")}
    return {kind: {k: c for k, c in models.items() if model_kind(c) == kind} for kind in KINDS}


def all_models():
    """``{key: class}`` of every model of :func:`models_by_kind`."""
    return {key: cls for models in models_by_kind().values() for key, cls in models.items()}


def kind_of(key):
    """"continuous", "discrete" or "contractual" for a model key (None if unknown)."""
    for kind, models in models_by_kind().items():
        if key in models:
            return kind
    return None


def output_columns(kind):
    return DISCRETE_OUTPUT if kind == "discrete" else CONTRACT_OUTPUT


def check_period(period, key):
    """The period of a discrete or contractual model: a calendar period code."""
    if not isinstance(period, str) or period.upper() not in PERIOD_CODES:
        raise ValueError(
            f"--period {period!r}: --model {key} counts whole calendar periods; use one of "
            f"{', '.join(PERIOD_CODES)}"
        )
    return period.upper()


def check_discount_rate(rate, key):
    if float(rate) < MIN_DISCOUNT_RATE:
        raise ValueError(
            f"--discount-rate {rate:g}: --model {key} sums discounted periods without end (DERT, DERL), "
            f"which needs a rate of at least {MIN_DISCOUNT_RATE:g} per period"
        )
    return float(rate)


def needed_columns(settings, kind):
    """The input columns a kind reads: customer and date (and amount), or customer,
    start and end."""
    if kind == "contractual":
        return [settings["customer_col"], settings["start_col"], settings["end_col"]]
    columns = [settings["customer_col"], settings["date_col"]]
    if settings.get("amount_col"):
        columns.append(settings["amount_col"])
    return columns


def date_columns(settings, kind):
    return [settings["start_col"], settings["end_col"]] if kind == "contractual" else [settings["date_col"]]


def blank_dates_missing(data, settings, kind):
    """A subscription table with blank end dates (empty text, as CSV exports write
    active subscriptions) as missing; other tables unchanged."""
    if kind != "contractual":
        return data
    column = settings["end_col"]
    values = data[column]
    if values.dtype.kind != "O" and not pd.api.types.is_string_dtype(values.dtype):
        return data
    blank = values.notna().to_numpy() & (values.astype(str).str.strip() == "").to_numpy()
    if not blank.any():
        return data
    data = data.copy(deep=False)
    data[column] = values.where(~blank, None)
    return data


def read_subscription_dates(data, settings):
    """The subscription table with its start and end columns parsed by the package's
    one date reader (format, epoch unit, time zone as set); missing ends stay missing."""
    from ._validation import Problems, datetime_column

    problems = Problems("subscriptions")
    data = data.copy(deep=False)
    for column in (settings["start_col"], settings["end_col"]):
        present = data[column].notna().to_numpy()
        parsed = np.full(len(data), np.datetime64("NaT"), dtype="datetime64[ns]")
        if present.any():
            dates = datetime_column(data.loc[present, [column]], column, problems, settings["date_format"],
                                    date_unit=settings.get("date_unit"), timezone=settings.get("timezone"))
            if dates is not None:
                parsed[present] = dates.astype("datetime64[ns]")
        data[column] = parsed
    problems.raise_if_any()
    return data


def summarise(data, settings, kind):
    """The table the model fits: :func:`clvmodels.discrete_rfm_summary` of a transaction
    log, or :func:`clvmodels.tenure_summary` of a subscription table, with the settings."""
    from .discrete import discrete_rfm_summary, tenure_summary

    reading = {"datetime_format": settings["date_format"], "date_unit": settings.get("date_unit"),
               "timezone": settings.get("timezone")}
    if kind == "contractual":
        return tenure_summary(data, settings["customer_col"], settings["start_col"], settings["end_col"],
                              period=settings["period"], observation_end=settings["observation_end"], **reading)
    return discrete_rfm_summary(data, settings["customer_col"], settings["date_col"], settings.get("amount_col"),
                                period=settings["period"], observation_end=settings["observation_end"], **reading)


def score(table, model, spend_model, settings, kind):
    """The forecast of each customer (on ``table.index``), in explicit units.

    Discrete (BG/BB), periods = ``settings["period"]``: ``probability_alive`` (at the
    end of the last complete period), ``expected_transactions`` (in the next
    ``horizon`` periods), ``dert`` (discounted expected residual transactions,
    unlimited horizon); with a spend model, ``expected_spend`` (per transaction),
    ``clv`` (margin x spend x discounted expected transactions of the ``horizon``
    periods, :func:`clvmodels.customer_lifetime_value`) and ``residual_value``
    (margin x spend x DERT).

    Contractual (sBG, BdW): ``probability_alive_next_period`` (still a customer
    after the next renewal), ``derl`` (discounted expected residual lifetime, in
    periods, at the next renewal date) and ``clv`` (margin per period x DERL,
    :func:`clvmodels.contractual_lifetime_value`).
    """
    from .clv import contractual_lifetime_value, customer_lifetime_value

    rate = settings["discount_rate"]
    forecast = pd.DataFrame(index=table.index)
    if kind == "contractual":
        forecast["tenure"] = table["tenure"]
        forecast["churned"] = table["churned"].astype(bool)
        forecast["probability_alive_next_period"] = model.probability_alive(table, t=1)
        forecast["derl"] = model.expected_residual_lifetime(table, rate)
        forecast["clv"] = contractual_lifetime_value(model, table, margin=settings["margin"], discount_rate=rate)
        return forecast
    for column in ("frequency", "recency", "n_periods"):
        forecast[column] = table[column]
    if spend_model is not None:
        forecast["monetary_value"] = table["monetary_value"]
    forecast["probability_alive"] = model.probability_alive(table)
    forecast["expected_transactions"] = model.expected_purchases(table, t=float(settings["horizon"]))
    forecast["dert"] = model.discounted_expected_residual_transactions(table, rate)
    if spend_model is not None:
        spend = spend_model.expected_spend(table)
        forecast["expected_spend"] = spend
        forecast["clv"] = customer_lifetime_value(
            model, spend_model, table, horizon=int(settings["horizon"]), period=1.0, discount_rate=rate,
            margin=settings["margin"],
        )
        forecast["residual_value"] = settings["margin"] * spend * forecast["dert"]
    return forecast


_PERIOD_NAMES = {"D": "days", "W": "weeks", "M": "months", "Q": "quarters", "Y": "years"}


def format_forecast(forecast, settings, kind, customer_col, top=5):
    """Totals and quantiles of a forecast, then the most valuable customers, as text."""
    n = len(forecast)
    period = settings["period"]
    unit = _PERIOD_NAMES[period]
    if kind == "contractual":
        churned = int(forecast["churned"].sum())
        head = (f"Forecast: {n:,} subscribers ({n - churned:,} active, {churned:,} churned); renewal period "
                f"{period} ({unit}); discount rate {settings['discount_rate']:g} per period; margin "
                f"{settings['margin']:g} per period. derl: discounted expected residual lifetime in {unit}, "
                "stated at the next renewal; clv = margin x derl.")
        columns = ["probability_alive_next_period", "derl", "clv"]
        rows = forecast.loc[~forecast["churned"]]
    else:
        head = (f"Forecast: {n:,} customers; one transaction opportunity per {period} ({unit[:-1]}); "
                f"expected_transactions over the next {int(settings['horizon'])} {unit}; dert: discounted "
                f"expected residual transactions, discount rate {settings['discount_rate']:g} per period"
                + (f"; margin {settings['margin']:g}" if "clv" in forecast else ""))
        columns = [c for c in ("probability_alive", "expected_transactions", "dert", "expected_spend", "clv",
                               "residual_value") if c in forecast]
        rows = forecast
    lines = [head]
    if len(rows):
        quantiles = rows[columns].quantile([0.1, 0.5, 0.9])
        stats = pd.DataFrame({
            "total": rows[columns].sum(), "mean": rows[columns].mean(), "p10": quantiles.loc[0.1],
            "median": quantiles.loc[0.5], "p90": quantiles.loc[0.9], "max": rows[columns].max(),
        })
        for column in ("probability_alive", "probability_alive_next_period", "expected_spend"):
            if column in stats.index:
                stats.loc[column, "total"] = np.nan
        lines.append(("Active subscribers:\n" if kind == "contractual" else "")
                     + stats.to_string(float_format=lambda v: f"{v:,.3f}", na_rep=""))
    if "clv" in forecast and n:
        lines.append(top_by_clv(forecast, customer_col, top, decimals=3))
    return "\n".join(lines)


def top_by_clv(forecast, customer_col, top, decimals):
    """The ``top`` rows of the forecast by CLV (ties in input order), as console text."""
    order = np.argsort(-forecast["clv"].to_numpy(), kind="stable")[:top]
    best = forecast.iloc[order].copy()
    best.index.name = customer_col
    return f"Top {len(best)} customers by CLV:\n" + best.to_string(float_format=lambda v: f"{v:,.{decimals}f}")
