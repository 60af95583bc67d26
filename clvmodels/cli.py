"""The ``clvmodels`` command: customer-lifetime-value forecasts as a batch job.

Subcommands::

    clvmodels forecast TRANSACTIONS --out forecast.csv        # fit and score in one go
    clvmodels fit TRANSACTIONS --model-out model.json         # fit, save a forecast bundle
    clvmodels predict TRANSACTIONS --model model.json --out forecast.parquet
    clvmodels report TRANSACTIONS --calibration-end 1997-09-30 --out report.html
    clvmodels compare TRANSACTIONS --calibration-end 1997-09-30 --models bgnbd,pnbd

``--model KEY`` chooses the purchase model of ``forecast``, ``fit`` and ``report``:
a key of :func:`clvmodels.registered_models` ``("transaction")`` (default
``bgnbd``); ``compare`` fits several on a calibration period and prints
:func:`clvmodels.evaluation.compare_models`, the best value per column marked.

Models counted in periods (:mod:`clvmodels._cli_periods`; ``compare --models sbg,bdw``
compares the contractual ones with :func:`clvmodels.evaluation.compare_survival_models`):
``--model bgbb`` summarises the transaction log with
:func:`clvmodels.discrete_rfm_summary` in calendar periods of ``--period`` (one
transaction opportunity each; the model's time unit) and writes P(alive), the
expected transactions of the next ``--horizon`` periods, DERT and, with
``--amount-col``, Gamma-Gamma's spend, the CLV over the horizon and the residual
value. ``--model sbg|bdw`` reads a subscription table (``--customer-col``,
``--start-col``, ``--end-col``, the end empty while active), summarised by
:func:`clvmodels.tenure_summary` with renewal period ``--period``, and writes the
probability of being a subscriber after the next renewal, DERL and the CLV =
``--margin`` (profit per period) x DERL; ``report`` fits it on the first
``--calibration-periods`` of tenure and compares the later survival. Options that
do not apply to the chosen model are refused, not ignored.

Each takes a transaction file (CSV, optionally gzip/bz2/xz-compressed, or Parquet;
one row per purchase) or ``--dataset cdnow``, the bundled CDNOW master data
(:func:`clvmodels.datasets.load_cdnow`), for which the defaults are its columns
``customer_id``, ``date`` and ``amount``, weeks as the time unit and, for
``report``, the calibration split of the papers (1997-09-30 / 1998-06-30).

For files the defaults are those of :func:`clvmodels.rfm_summary`: columns
``customer_id`` and ``date``, no amount column, time unit ``D`` (days), observation
end at the last purchase. Without ``--amount-col`` only the purchase model (``--model``)
is fitted and the output has no ``monetary_value``, ``expected_spend`` and ``clv``
columns.

The forecast table has one row per customer of the input (customers whose first
purchase is after an explicit ``--observation-end`` cannot be scored and are
left out, with a warning), sorted by customer id, with the columns: the customer
id (named as in the input), ``frequency``, ``recency``, ``T``, ``monetary_value``,
``probability_alive``, ``expected_purchases`` (over the whole horizon, ``horizon``
periods), ``expected_spend`` (per future purchase, Gamma-Gamma), ``clv``
(:func:`clvmodels.customer_lifetime_value`: margin, discounting per period) and
``segment``. Outputs are written atomically (see :mod:`clvmodels._io`) and the same
input always gives byte-identical output.

TRANSACTIONS may also be a Parquet dataset (a directory or a quoted glob), and
``--engine`` chooses who summarises it: pandas in memory (default), DuckDB out of
core, or Dask (``--scheduler ADDRESS`` for a running cluster, else a local one); an
``--out`` directory (always, with Dask) is written as a Parquet dataset, atomically
(:mod:`clvmodels._cli_engines`, docs/scaling.md).

Progress goes to stderr: one line per step with elapsed times (a live bar only on a
terminal), then a one-line summary; ``--quiet`` silences them (warnings and errors
still show). Results (parameter tables, forecast summary) go to stdout.

Exit status: 0 on success; 2 for a problem with the command line or the input
(missing or unreadable file, unknown format, missing column, unparseable or
day/month-ambiguous dates, negative amounts, invalid model file, an output that is
an input or another output, a missing optional extra, an absurd horizon), reported
as one line on stderr that names the file, column and number of rows, before any
output is written; 1 for an internal failure (e.g. the fit does not converge, or a
prediction is NaN or infinite, in which case nothing is written), with the message
on one line, and the traceback with ``--debug``. Options are never abbreviated.

The parser is the standard library's :mod:`argparse`, so the command adds no
dependency to numpy, scipy and pandas (pyarrow, the ``parquet`` extra, is needed
only for Parquet files and speeds up reading CSV).
"""

import argparse
import importlib
import json
import math
import os
import re
import signal
import sys
import threading
import traceback
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

from . import _base, _cli_engines, _cli_periods, _io
from ._progress import Progress, format_seconds
from ._units import DAYS_PER_UNIT, check_time_unit
from ._validation import (
    DATE_UNITS,
    Problems,
    check_date_unit,
    check_format_version,
    check_timezone,
    datetime_column,
    parse_date,
)
from .exceptions import DataWarning

BUNDLE_FORMAT = "clvmodels-forecast-bundle"
BUNDLE_VERSION = 1
PROG = "clvmodels"

# Defaults for transaction files: those of rfm_summary.
FILE_DEFAULTS = {
    "customer_col": "customer_id",
    "date_col": "date",
    "amount_col": None,
    "date_format": None,
    "sep": None,
    "time_unit": "D",
    "observation_end": None,
    "date_unit": None,
    "timezone": None,
    "decimal": None,
}
DATASETS = {
    "cdnow": {
        "customer_col": "customer_id",
        "date_col": "date",
        "amount_col": "amount",
        "date_format": None,
        "sep": None,
        "time_unit": "W",
        "observation_end": None,
        "date_unit": None,
        "timezone": None,
        "decimal": None,
        "calibration_end": "1997-09-30",
        "report_observation_end": "1998-06-30",
    },
    # Simulated subscriptions (datasets.load_subscriptions), for --model sbg|bdw.
    "subscriptions": {
        "kind": "contractual",
        "customer_col": "customer_id",
        "date_col": "date",
        "start_col": "start",
        "end_col": "end",
        "amount_col": None,
        "date_format": None,
        "sep": None,
        "time_unit": "M",
        "observation_end": "2023-12-31",
        "date_unit": None,
        "timezone": None,
        "decimal": None,
    },
}
DEFAULT_MODEL = "bgnbd"
RFM_COLUMNS = {"frequency", "recency", "T"}
FORECAST_DEFAULTS = {"horizon": 12, "period": "M", "discount_rate": 0.01, "margin": 1.0}
DATA_SETTINGS = ("customer_col", "date_col", "amount_col", "date_format", "sep", "time_unit", "observation_end")
# Settings added after format version 1 of the model file: absent from older files (None).
LATER_SETTINGS = ("date_unit", "timezone", "decimal", "start_col", "end_col")
SETTINGS = (*DATA_SETTINGS, *FORECAST_DEFAULTS, "penalizer", *LATER_SETTINGS)
OUTPUT_COLUMNS = (
    "frequency", "recency", "T", "monetary_value", "probability_alive", "expected_purchases",
    "expected_spend", "clv", "segment",
)


OUTPUT_HELP = """\
output: one row per customer, sorted by customer id, with the columns
  <customer id column>, frequency, recency, T (in the time unit),
  monetary_value, probability_alive, expected_purchases (over the whole
  horizon), expected_spend (per purchase), clv, segment;
  without --amount-col: no monetary_value, expected_spend and clv;
  with --interval: purchases_lower, purchases_median, purchases_upper and,
  with amounts, clv_lower, clv_upper.
--model bgbb (one opportunity per --period): frequency, recency, n_periods
  (in periods), [monetary_value], probability_alive, expected_transactions
  (in the next --horizon periods), dert (discounted expected residual
  transactions, no horizon), [expected_spend, clv (over the horizon),
  residual_value = margin x expected_spend x dert] with --amount-col.
--model sbg|bdw (renewal every --period): tenure, churned,
  probability_alive_next_period (still a subscriber after the next renewal),
  derl (discounted expected residual lifetime in periods, at the next
  renewal), clv = --margin (profit per period) x derl.
The file is replaced only by a complete new one; the same input gives the
same bytes.
exit status: 0 success, 2 bad command line or input, 1 internal failure."""


class UsageError(Exception):
    """A problem with the command line or the input: exit status 2, one line.

    ``prog`` is set for argparse's own errors (the (sub)command whose usage failed).
    """

    def __init__(self, message, prog=None):
        super().__init__(message)
        self.prog = prog


class Terminated(BaseException):
    """SIGTERM arrived: unwind (removing temporary files) and exit 143."""


def one_line(message):
    """A possibly multi-line error message as one line ("- " list items joined by "; ")."""
    lines = [line.strip() for line in str(message).splitlines() if line.strip()]
    if not lines:
        return ""
    items = [line[2:] if line.startswith("- ") else line for line in lines[1:]]
    return " ".join([lines[0], "; ".join(items)]).strip()


# ----- the parser ---------------------------------------------------------------------------
class _Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors (exit status 2) and no abbreviated options:
    ``--model`` must never be taken for ``--model-out``."""

    def __init__(self, *args, **kwargs):
        kwargs["allow_abbrev"] = False
        super().__init__(*args, **kwargs)

    def error(self, message):
        raise UsageError(one_line(message), prog=self.prog)


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def _non_negative(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a finite number >= 0")
    return value


def _level(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number between 0 and 1, got {text!r}") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1 (e.g. 0.9), got {text!r}")
    return value


def _time_unit(text):
    try:
        return check_time_unit(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def parse_period(text):
    """A period: a unit code (D, W, M, Q, Y, H) or a positive number of model time units."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        value = float(text)
    else:
        try:
            value = float(text)
        except ValueError:
            try:
                return check_time_unit(text)
            except ValueError:
                raise argparse.ArgumentTypeError(
                    f"{text!r} is neither a time unit ({', '.join(DAYS_PER_UNIT)}) nor a number"
                ) from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a time unit or a number > 0")
    return value


def _purchase_models():
    """The registered purchase models of continuous-time RFM data (frequency, recency,
    T), which ``compare`` and the engines summarise; the models counted in periods
    (BG/BB, sBG, BdW) are in :mod:`clvmodels._cli_periods`."""
    return _cli_periods.models_by_kind()["continuous"]


def _model_keys(text):
    """A comma-separated list of model keys to compare, each registered, none twice, all
    of one kind: purchase models of continuous time, or contractual models."""
    kinds = _cli_periods.models_by_kind()
    known = {**kinds["continuous"], **kinds["contractual"]}
    keys = [key.strip() for key in str(text).split(",") if key.strip()]
    unknown = [key for key in keys if key not in known]
    if not keys or unknown:
        name = (unknown or [text])[0]
        why = (f" ({name} is the only model of its kind: see 'clvmodels report --model {name}')"
               if _cli_periods.kind_of(name) == "discrete" else "")
        raise argparse.ArgumentTypeError(
            f"{name!r} is not a purchase model or contractual model to compare{why}; choose purchase models of "
            f"continuous time ({', '.join(sorted(kinds['continuous']))}) or contractual models "
            f"({', '.join(sorted(kinds['contractual']))})"
        )
    if len(set(keys)) != len(keys):
        raise argparse.ArgumentTypeError(f"{text!r} names a model twice")
    if len({_cli_periods.kind_of(key) for key in keys}) > 1:
        raise argparse.ArgumentTypeError(f"{text!r} mixes purchase and contractual models, which fit different data")
    return keys


def _add_model_option(parser):
    kinds = _cli_periods.models_by_kind()
    parser.add_argument(
        "--model", dest="model_key", choices=sorted(_cli_periods.all_models()), metavar="KEY",
        help=f"purchase model: {', '.join(sorted(kinds['continuous']))} (default {DEFAULT_MODEL}); "
        f"discrete-time: {', '.join(sorted(kinds['discrete']))} (a transaction log summarised in calendar "
        f"periods, see --period); contractual: {', '.join(sorted(kinds['contractual']))} (TRANSACTIONS is a "
        "subscription table: customer, start, end (empty while active), see --start-col, --end-col)",
    )


def _add_input_options(parser):
    source = parser.add_argument_group("input")
    source.add_argument(
        "transactions", nargs="?", metavar="TRANSACTIONS",
        help="transaction file: .csv, .tsv or .txt (optionally .gz/.bz2/.xz) or .parquet; "
        "or a Parquet dataset: a directory or a glob such as 'lake/tx/*.parquet' (quoted)",
    )
    source.add_argument(
        "--dataset", choices=sorted(DATASETS),
        help="use a bundled data set instead of a file: cdnow (transactions) or subscriptions (simulated "
        "subscription table, for --model sbg|bdw)",
    )
    source.add_argument("--customer-col", metavar="COLUMN", help="customer id column (default customer_id)")
    source.add_argument("--date-col", metavar="COLUMN", help="purchase date column (default date)")
    source.add_argument(
        "--start-col", metavar="COLUMN", help="with --model sbg|bdw: subscription start date column (default start)"
    )
    source.add_argument(
        "--end-col", metavar="COLUMN",
        help="with --model sbg|bdw: subscription end date column, empty while active (default end)",
    )
    source.add_argument(
        "--amount-col", metavar="COLUMN",
        help="purchase amount column; needed for monetary_value, expected_spend and clv "
        "(default: none for files, amount for --dataset cdnow)",
    )
    source.add_argument("--date-format", metavar="FORMAT", help="strftime format of the dates, e.g. %%Y%%m%%d (default: inferred)")
    source.add_argument(
        "--date-unit", choices=DATE_UNITS, help="the dates are epoch seconds (s) or milliseconds (ms) since 1970-01-01 UTC"
    )
    source.add_argument(
        "--timezone", metavar="ZONE", help="time zone in which calendar days are counted for dates with a UTC "
        "offset and epoch dates, e.g. Europe/Paris (default: UTC for mixed offsets and epoch dates, else each "
        "date's own wall-clock time)",
    )
    source.add_argument(
        "--sep", metavar="SEP", help="CSV field separator: a character, 'tab' (or '\\t'), 'whitespace' for runs of "
        "blanks (default ',' or tab for .tsv)"
    )
    source.add_argument(
        "--decimal", metavar="CHAR", help="decimal mark of the amounts, e.g. ',' for European exports (default '.')"
    )
    source.add_argument(
        "--time-unit", type=_time_unit, metavar="UNIT",
        help="time unit of recency, T and the model: D, W, M, Q, Y or H "
        "(default D as in rfm_summary; W for --dataset cdnow)",
    )
    source.add_argument(
        "--observation-end", metavar="DATE", help="end of the observation period, a date (default: the last purchase)"
    )


def _add_forecast_options(parser):
    group = parser.add_argument_group("forecast")
    group.add_argument("--horizon", type=_positive_int, metavar="N", help="number of periods to forecast (default 12)")
    group.add_argument(
        "--period", type=parse_period, metavar="PERIOD",
        help="length of one period: a unit (D, W, M, Q, Y) or a number of time units (default M). "
        "With --model bgbb: the calendar period of one transaction opportunity (D, W, M, Q or Y; default Y, "
        "weeks start on Monday): several transactions in one period count as one, and the horizon, the "
        "discounting and the model's time unit are in these periods. With --model sbg|bdw: the renewal "
        "period (D, W, M, Q or Y counted from each start date; default M)",
    )
    group.add_argument(
        "--discount-rate", type=_non_negative, metavar="RATE", help="discount rate per period for the CLV (default 0.01)"
    )
    group.add_argument(
        "--margin", type=_non_negative, metavar="FRACTION",
        help="profit margin applied to spend (default 1.0); with --model sbg|bdw: the profit per subscriber "
        "per period, so clv = margin x derl (default 1.0: clv in periods of margin)",
    )
    group.add_argument(
        "--interval", type=_level, metavar="LEVEL",
        help="also write LEVEL prediction intervals (e.g. 0.9): purchases_lower/_median/_upper "
        "(quantiles of the purchases over the horizon) and, with amounts, clv_lower/clv_upper "
        "(simulated, with parameter uncertainty)",
    )


def _add_fit_options(parser):
    parser.add_argument(
        "--penalizer", type=_non_negative, metavar="PENALTY",
        help="L2 penalty on the parameters; try 0.001 if a fit does not converge (default 0)",
    )
    _add_covariate_options(parser)


def _add_covariate_options(parser):
    for process, effect in (("purchase", "scale each customer's purchase rate"),
                            ("dropout", "shift each customer's dropout")):
        models = sorted(key for key, cls in _cli_periods.all_models().items()
                        if process in (getattr(cls, "covariate_links", None) or {}))
        parser.add_argument(
            f"--{process}-covariates", nargs="+", metavar="COLUMN",
            help=f"numeric columns, constant within each customer, that {effect} (--model {', '.join(models)}; "
            "'predict' takes them from the model file)",
        )


def _add_common_options(parser):
    group = parser.add_argument_group("messages")
    group.add_argument("--quiet", "-q", action="store_true", help="no progress lines on stderr")
    group.add_argument("--debug", action="store_true", help="show the traceback of internal errors")


def build_parser():
    """The argument parser of the ``clvmodels`` command."""
    parser = _Parser(
        prog=PROG,
        description="Probabilistic customer lifetime value (a purchase model + Gamma-Gamma) as a batch job.",
        epilog="Exit status: 0 success, 2 bad command line or input, 1 internal failure.",
    )
    from ._version import __version__

    parser.add_argument("--version", action="version", version=f"clvmodels {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=_Parser)

    forecast = commands.add_parser(
        "forecast", help="fit the models and write a per-customer forecast",
        description="Fit the purchase model (--model; Gamma-Gamma too with --amount-col) and write a "
        "per-customer forecast.",
        epilog=OUTPUT_HELP, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    forecast.add_argument("--out", required=True, metavar="PATH", help="forecast file: .csv, .csv.gz or .parquet")
    forecast.add_argument("--model-out", metavar="PATH", help="also save the fitted models and settings (JSON)")

    fit = commands.add_parser(
        "fit", help="fit the models and save them with their settings",
        description="Fit the purchase model (--model; Gamma-Gamma too with --amount-col); save a forecast "
        "bundle (JSON).",
    )
    fit.add_argument("--model-out", required=True, metavar="PATH", help="model file to write (JSON)")

    predict = commands.add_parser(
        "predict", help="score customers with a saved model",
        description="Score every customer with a model file written by 'clvmodels fit'. The file's "
        "settings (columns, time unit, horizon, ...) are the defaults; options given here override "
        "them, except the time unit, in which the model's parameters are measured.",
        epilog=OUTPUT_HELP, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    predict.add_argument("--model", required=True, metavar="PATH", help="model file written by 'clvmodels fit'")
    predict.add_argument("--out", required=True, metavar="PATH", help="forecast file: .csv, .csv.gz or .parquet")

    report = commands.add_parser(
        "report", help="write an HTML validation report",
        description="Fit on a calibration period, compare with the holdout period, write an HTML report.",
    )
    report.add_argument("--out", required=True, metavar="PATH", help="HTML file to write")
    report.add_argument(
        "--calibration-end", metavar="DATE", help="last day of the calibration period (default 1997-09-30 for cdnow)"
    )
    report.add_argument(
        "--calibration-periods", type=_positive_int, metavar="N",
        help="with --model sbg|bdw: fit on the first N periods of each subscriber's tenure and compare the "
        "later survival (default: half the longest tenure)",
    )
    report.add_argument("--title", metavar="TEXT", help="report title")
    report.add_argument(
        "--compare", type=_model_keys, metavar="KEYS",
        help="also compare these purchase models in the report, e.g. bgnbd,pnbd",
    )
    report.add_argument("--currency", metavar="NAME", help="currency of the amounts, e.g. USD, named in the report")

    compare = commands.add_parser(
        "compare", help="compare purchase models on a calibration/holdout split",
        description="Fit each purchase model on a calibration period and print one table: log-likelihood, "
        "parameters, AIC, BIC, chi-square goodness of fit and holdout errors, the best value per column "
        "marked with *.",
    )
    compare.add_argument(
        "--calibration-end", metavar="DATE", help="last day of the calibration period (default 1997-09-30 for cdnow)"
    )
    compare.add_argument(
        "--models", type=_model_keys, metavar="KEYS",
        help=f"comma-separated purchase models (default all: {','.join(sorted(_purchase_models()))}), or "
        f"contractual models ({','.join(sorted(_cli_periods.models_by_kind()['contractual']))}) on a subscription "
        "table (with --calibration-periods and --period)",
    )
    compare.add_argument(
        "--calibration-periods", type=_positive_int, metavar="N",
        help="contractual models: fit on the first N periods of each subscriber's tenure and compare the later "
        "survival (default: half the longest tenure)",
    )
    compare.add_argument(
        "--period", type=parse_period, metavar="PERIOD",
        help="contractual models: the renewal period (D, W, M, Q or Y counted from each start date; default M)",
    )
    compare.add_argument("--out", metavar="PATH", help="also write the table: .csv, .csv.gz or .parquet")

    for sub in (forecast, fit, predict, report, compare):
        _add_input_options(sub)
        if sub not in (report, compare):
            _cli_engines.add_engine_options(sub)
        if sub is not compare:
            _add_forecast_options(sub)  # for 'fit': stored in the model file for 'predict'
        if sub in (forecast, fit, report):
            _add_model_option(sub)
        if sub in (forecast, fit, compare):
            _add_fit_options(sub)
        if sub is report:
            _add_covariate_options(sub)
        _add_common_options(sub)
    _add_value_commands(commands)
    return parser


# ----- settings -------------------------------------------------------------------------
def resolve_settings(args, base=None, model=None):
    """Defaults (data set or file), then ``base`` (a model file's settings), then the command line;
    ``model``: the key of the model (default ``--model``, the model file's or bgnbd)."""
    defaults = dict(DATASETS[args.dataset]) if args.dataset else dict(FILE_DEFAULTS)
    settings = {**defaults, **FORECAST_DEFAULTS, "penalizer": 0.0}
    settings.update(base or {})
    for key in SETTINGS:
        value = getattr(args, key, None)
        if value is not None:
            settings[key] = value
    settings["model"] = model or getattr(args, "model_key", None) or settings.get("model") or DEFAULT_MODEL
    settings["kind"] = _cli_periods.kind_of(settings["model"]) or "continuous"
    if settings.get("amount_col") == "":
        settings["amount_col"] = None
    dataset = getattr(args, "dataset", None)
    data_kind = DATASETS[dataset].get("kind", "transactions") if dataset else None
    if data_kind is not None and (data_kind == "contractual") != (settings["kind"] == "contractual"):
        contractual = "|".join(sorted(_cli_periods.models_by_kind()["contractual"]))
        if data_kind == "contractual":
            raise UsageError(f"--dataset {dataset} is a subscription table: use --model {contractual}")
        raise UsageError(f"--dataset {dataset} is a transaction log; --model {settings['model']} needs a "
                         "subscription table")
    if settings["kind"] != "continuous":
        _period_settings(args, settings, base)
    else:
        for option in ("start_col", "end_col"):
            if getattr(args, option, None):
                raise UsageError(f"--{option.replace('_', '-')} is for subscription tables (--model "
                                 f"{'|'.join(sorted(_cli_periods.models_by_kind()['contractual']))})")
    outputs = OUTPUT_COLUMNS if settings["kind"] == "continuous" else _cli_periods.output_columns(settings["kind"])
    if settings["customer_col"] in outputs:
        raise UsageError(
            f"--customer-col {settings['customer_col']!r} has the name of an output column; rename the column"
        )
    try:
        settings["sep"] = _io.csv_separator(settings["sep"])
        settings["decimal"] = _io.decimal_mark(settings["decimal"], settings["sep"])
        check_timezone(settings["timezone"])
    except ValueError as error:
        raise UsageError(f"--{one_line(error)}") from None
    if settings["observation_end"] is not None:
        settings["observation_end"] = _check_date(settings["observation_end"], "--observation-end", settings)
    settings["interval"] = getattr(args, "interval", None)
    _check_horizon(settings)
    for key in COVARIATE_SETTINGS:  # kept by the transaction model itself, not the bundle's settings
        settings[key] = list(getattr(args, key, None) or [])
    return settings


def _period_settings(args, settings, base):
    """Settings of the models counted in periods (BG/BB; sBG, BdW): the period is the
    model's time unit; options that do not apply are refused rather than ignored."""
    key, kind = settings["model"], settings["kind"]
    given = {option: getattr(args, attribute, None) for option, attribute in (
        ("--engine", "engine"), ("--interval", "interval"))}
    links = getattr(_cli_periods.all_models()[key], "covariate_links", None) or {}
    for process in ("purchase", "dropout"):
        if process not in links:  # e.g. BG/BB has no covariates, the contractual models dropout ones only
            given[f"--{process}-covariates"] = getattr(args, f"{process}_covariates", None)
    if given["--engine"] == "pandas":
        given["--engine"] = None
    if kind == "contractual":
        given["--amount-col"] = args.amount_col
        given["--date-col"] = args.date_col
        given["--horizon"] = getattr(args, "horizon", None) if base is None else None
        settings["start_col"] = settings.get("start_col") or "start"
        settings["end_col"] = settings.get("end_col") or "end"
        settings["amount_col"] = None
    else:
        given["--start-col"], given["--end-col"] = args.start_col, args.end_col
    if base is None:
        given["--time-unit"] = args.time_unit
    for option, value in given.items():
        if value:
            advice = (" (give the profit per period with --margin)" if option == "--amount-col" else
                      ": DERL and the CLV sum every future period, discounted" if option == "--horizon" else
                      "; the model's time unit is --period" if option == "--time-unit" else "")
            raise UsageError(f"{option} does not apply to --model {key}{advice}")
    given_period = getattr(args, "period", None)
    period = given_period if given_period is not None else (base or {}).get("period")
    if base is not None and given_period is not None and given_period != base.get("period"):
        raise UsageError(
            f"--period {given_period} differs from the period of the model file ({base.get('period')}), in which "
            "the model's parameters are counted"
        )
    try:
        period = _cli_periods.check_period(period or _cli_periods.DEFAULT_PERIOD[kind], key)
        settings["discount_rate"] = _cli_periods.check_discount_rate(settings["discount_rate"], key)
    except ValueError as error:
        raise UsageError(str(error)) from None
    settings["period"] = settings["time_unit"] = period


MAX_HORIZON_PERIODS = 100_000
MAX_HORIZON_YEARS = 1000


def _check_horizon(settings):
    """Refuse, before any work, a forecast horizon no business means (and no memory holds)."""
    horizon, period = int(settings["horizon"]), settings["period"]
    try:
        unit = check_time_unit(settings["time_unit"])
    except ValueError as error:
        raise UsageError(str(error)) from None
    days = DAYS_PER_UNIT[period] if isinstance(period, str) else float(period) * DAYS_PER_UNIT[unit]
    years = days / DAYS_PER_UNIT["Y"]
    if years > MAX_HORIZON_YEARS:
        raise UsageError(
            f"--period {period}: one period is {years:,.4g} years, more than {MAX_HORIZON_YEARS:,}; "
            f"is it in the time unit {unit}?"
        )
    if horizon > MAX_HORIZON_PERIODS:
        raise UsageError(f"--horizon {horizon:,}: more than {MAX_HORIZON_PERIODS:,} periods; use a longer --period")
    if horizon * years > MAX_HORIZON_YEARS:
        raise UsageError(
            f"--horizon {horizon:,} periods of {period}: {horizon * years:,.4g} years, more than {MAX_HORIZON_YEARS:,}"
        )


COVARIATE_SETTINGS = ("purchase_covariates", "dropout_covariates")


def _covariate_columns(settings):
    return list(dict.fromkeys(name for key in COVARIATE_SETTINGS for name in settings.get(key) or []))


def attach_covariates(rfm, transactions, settings):
    """``rfm`` with each customer's covariate columns (constant within a customer) from
    ``transactions`` (:func:`clvmodels.customer_columns`); a usage error names a column
    that varies within a customer."""
    from .data import customer_columns

    columns = _covariate_columns(settings)
    if not columns:
        return rfm
    try:
        values = customer_columns(transactions, settings["customer_col"], columns).reindex(rfm.index)
    except ValueError as error:
        raise UsageError(one_line(error)) from None
    table = rfm.copy()
    for column in columns:
        table[column] = values[column].to_numpy()
    return table


def _check_date(value, option, settings):
    """The date of an option, read as the transaction dates are, in ISO form."""
    problems = Problems(option)
    stamp = parse_date(str(value), option, problems, settings.get("date_format"), settings.get("timezone"))
    if stamp is None:
        raise UsageError(problems.messages[0].replace(f"{option} ", f"{option}: ", 1))
    return stamp.date().isoformat() if stamp == stamp.normalize() else stamp.isoformat()


# ----- reading ------------------------------------------------------------------------------
class Source:
    """Where the transactions come from: a file or a bundled data set."""

    def __init__(self, args):
        if args.dataset and args.transactions:
            raise UsageError("give either a TRANSACTIONS file or --dataset, not both")
        if not args.dataset and not args.transactions:
            raise UsageError("a TRANSACTIONS file (or --dataset cdnow) is required")
        self.dataset = args.dataset
        self.path = args.transactions
        self.name = f"--dataset {self.dataset}" if self.dataset else str(self.path)
        self.args = args
        self.engine = getattr(args, "engine", "pandas")
        problem = _cli_engines.check_options(args) if hasattr(args, "engine") else None
        if problem:
            raise UsageError(problem)

    def read(self, settings, progress):
        kind = settings.get("kind", "continuous")
        if kind == "continuous":
            needed = [settings["customer_col"], settings["date_col"]]
            if settings["amount_col"]:
                needed.append(settings["amount_col"])
            needed += _covariate_columns(settings)
            text_cols = [settings["date_col"]]
        else:
            needed = _cli_periods.needed_columns(settings, kind) + _covariate_columns(settings)
            text_cols = _cli_periods.date_columns(settings, kind)
        with progress.step(f"read {self.name}") as step:
            if self.dataset:
                from . import datasets

                data = datasets.load_subscriptions() if self.dataset == "subscriptions" else datasets.load_cdnow()
                _io.check_columns(self.name, list(data.columns), needed)
                data = data[list(dict.fromkeys(needed))]
            elif _cli_engines.is_dataset(self.path):
                data = _cli_engines.read_parquet_pandas(self.path, needed)
            else:
                data = _io.read_transactions(
                    self.path, needed, id_col=settings["customer_col"], text_cols=text_cols,
                    sep=settings["sep"], decimal=settings.get("decimal"), step=step,
                )
            step.detail = f"{len(data):,} rows"
        _check_decimal_mark(self.name, data, settings)
        return data

    @contextmanager
    def user_errors(self):
        """Turn input problems the library reports (ValueError) into one-line usage errors."""
        try:
            yield
        except _io.DataFileError as error:
            raise UsageError(one_line(error)) from error
        except (ValueError, TypeError) as error:
            raise UsageError(f"{self.name}: {one_line(error)}") from error


_DECIMAL_COMMA = re.compile(r"[-+]?(\d{1,3}(\.\d{3})+|\d*),\d+")


def _check_decimal_mark(name, transactions, settings):
    """Amounts written with a decimal comma (12,50) and read without --decimal: say so."""
    column = settings["amount_col"]
    if not column or column not in transactions or settings.get("decimal"):
        return
    values = transactions[column]
    if isinstance(values, pd.DataFrame) or pd.api.types.is_numeric_dtype(values.dtype):
        return
    text = values.dropna().astype(str)
    not_numbers = text[pd.to_numeric(text, errors="coerce").isna()]
    if len(not_numbers) and _DECIMAL_COMMA.fullmatch(not_numbers.iloc[0].strip()):
        raise UsageError(
            f"{name}: column {column!r}: {len(not_numbers):,} amounts such as {not_numbers.iloc[0]!r} are written "
            "with a decimal comma: pass --decimal ',' (and --sep ';' or --sep tab if that separates the fields)"
        )


def read_dates(transactions, settings):
    """The transactions with their date column parsed by the package's one date reader
    (format, epoch unit, time zone as set), for steps that take no epoch unit or time zone."""
    column = settings["date_col"]
    problems = Problems("transactions")
    dates = datetime_column(
        transactions, column, problems, settings["date_format"],
        date_unit=settings.get("date_unit"), timezone=settings.get("timezone"),
    )
    problems.raise_if_any()
    transactions = transactions.copy(deep=False)
    transactions[column] = dates
    return transactions


def summarise(source, transactions, settings, progress):
    """The RFM table of ``transactions`` (rfm_summary with the settings)."""
    from .data import rfm_summary

    with progress.step("summarise") as step:
        with source.user_errors():
            rfm = rfm_summary(
                transactions, settings["customer_col"], settings["date_col"], settings["amount_col"],
                time_unit=settings["time_unit"], observation_end=settings["observation_end"],
                datetime_format=settings["date_format"], date_unit=settings["date_unit"],
                timezone=settings["timezone"],
            )
        if not rfm.index.is_monotonic_increasing:
            rfm = _sort_by_id(rfm)
        step.detail = (
            f"{len(rfm):,} customers, observation end {rfm.attrs.get('observation_end')}, "
            f"time unit {rfm.attrs.get('time_unit')}"
        )
    if settings["observation_end"] is not None:
        left_out = transactions[settings["customer_col"]].nunique() - len(rfm)
        if left_out > 0:
            who = "1 customer" if left_out == 1 else f"{left_out:,} customers"
            warnings.warn(
                f"{who} of {source.name} first bought after the observation end "
                f"{rfm.attrs.get('observation_end')}: not scored, not in the output",
                DataWarning,
                stacklevel=2,
            )
    return attach_covariates(rfm, transactions, settings)


def _sort_by_id(table):
    try:
        return table.sort_index(kind="stable")
    except TypeError:
        order = np.argsort(table.index.astype(str).to_numpy(), kind="stable")
        return table.iloc[order]


# ----- models -------------------------------------------------------------------------------
def fit_models(rfm, settings, progress):
    """Fit the purchase model ``settings["model"]`` and, with an amount column, Gamma-Gamma."""
    from .gamma_gamma import GammaGammaModel

    penalizer = float(settings.get("penalizer") or 0.0)
    with progress.step("fit") as step:
        covariates = {key: settings.get(key) or [] for key in COVARIATE_SETTINGS}
        chosen = _purchase_models()[settings.get("model") or DEFAULT_MODEL]
        with _covariate_errors():
            options = covariates if any(covariates.values()) else {}
            transaction_model = chosen(penalizer=penalizer, **options).fit(rfm)
        spend_model = None
        if settings["amount_col"]:
            spend_model = GammaGammaModel(penalizer=penalizer).fit(rfm)
        step.detail = ", ".join(type(m).__name__ for m in (transaction_model, spend_model) if m is not None)
    return transaction_model, spend_model


@contextmanager
def _covariate_errors():
    """Problems with the covariate columns (ValueError naming the column) as usage errors."""
    try:
        yield
    except ValueError as error:
        if "covariate" not in str(error):
            raise
        raise UsageError(one_line(error)) from error


def score(rfm, transaction_model, spend_model, settings):
    """The forecast table: one row per customer (on ``rfm.index``).

    ``expected_purchases`` covers the whole horizon (``horizon`` periods); ``clv`` is
    :func:`clvmodels.customer_lifetime_value` with the settings' horizon, period,
    discount rate and margin.
    """
    from .clv import customer_lifetime_value, period_length
    from .segments import customer_segments

    horizon = int(settings["horizon"])
    period = settings["period"]
    step = period_length(period, transaction_model.time_unit_)
    table = pd.DataFrame(index=rfm.index)
    for column in ("frequency", "recency", "T", "monetary_value"):
        if column in rfm.columns and (column != "monetary_value" or spend_model is not None):
            table[column] = rfm[column]
    interval = settings.get("interval")
    table["probability_alive"] = transaction_model.probability_alive(rfm)
    table["expected_purchases"] = transaction_model.expected_purchases(rfm, t=horizon * step)
    if interval:
        quantiles = transaction_model.purchases_interval(rfm, t=horizon * step, level=interval)
        for column in ("lower", "median", "upper"):
            table[f"purchases_{column}"] = quantiles[column]
    if spend_model is not None:
        table["expected_spend"] = spend_model.expected_spend(rfm)
        value = customer_lifetime_value(
            transaction_model, spend_model, rfm, horizon=horizon, period=period,
            discount_rate=settings["discount_rate"], margin=settings["margin"], interval=interval,
        )
        if interval:
            table["clv"], table["clv_lower"], table["clv_upper"] = value["clv"], value["lower"], value["upper"]
        else:
            table["clv"] = value
    table["segment"] = customer_segments(transaction_model, rfm, spend_model=spend_model)["segment"]
    return table


def output_table(forecast, customer_col):
    """The forecast with the customer id as its first column."""
    table = forecast.copy()
    table.index.name = customer_col
    return table.reset_index()


# ----- the forecast bundle ------------------------------------------------------------------
def bundle_record(transaction_model, spend_model, settings, rfm, source, n_rows):
    """The JSON-able model file: both models, the settings used and where the data came from."""
    from ._version import __version__

    stored = {key: settings.get(key) for key in SETTINGS}
    stored["model"] = transaction_model.key
    stored["horizon"] = int(stored["horizon"])
    stored["period"] = stored["period"] if isinstance(stored["period"], str) else float(stored["period"])
    for key in ("discount_rate", "margin", "penalizer"):
        stored[key] = float(stored[key])
    return {
        "format": BUNDLE_FORMAT,
        "format_version": BUNDLE_VERSION,
        "clvmodels_version": __version__,
        "transaction_model": transaction_model.to_dict(),
        "spend_model": spend_model.to_dict() if spend_model is not None else None,
        "settings": stored,
        "data": {
            "source": source.name,
            "n_rows": None if n_rows is None else int(n_rows),
            "n_customers": int(len(rfm)),
            "observation_end": _table_attrs(rfm).get("observation_end"),
            "time_unit": _table_attrs(rfm).get("time_unit"),
        },
    }


def _table_attrs(table):
    """``table.attrs``; a Dask DataFrame keeps them on its meta."""
    return table.attrs if hasattr(table, "attrs") else _cli_engines._dask.attrs_of(table)


def write_bundle(record, path):
    text = json.dumps(record, indent=2, allow_nan=False) + "\n"
    with _io.atomic_path(path) as temporary:
        Path(temporary).write_text(text, encoding="utf-8")


def _bundle_error(path, problem):
    return UsageError(f"{path}: invalid model file: {problem}")


def _model_part(record, key, path, needs):
    """Rebuild one model of a bundle with :func:`clvmodels.model_from_dict`."""
    part = record.get(key)
    try:
        model = _base.model_from_dict(part)
    except (ValueError, TypeError) as error:
        raise _bundle_error(path, f"{key!r}: {one_line(error)}") from error
    if not all(hasattr(model, method) for method in needs):
        raise _bundle_error(path, f"{key!r}: {type(model).__name__} cannot serve as {key.replace('_', ' ')}")
    return model


def load_bundle(path):
    """Read and check a model file written by ``clvmodels fit``.

    Returns
    -------
    (transaction_model, spend_model or None, settings dict)
    """
    try:
        record = _io.read_json_file(path, "model file")
    except _io.DataFileError as error:
        raise UsageError(one_line(error)) from None
    if isinstance(record, dict) and record.get("format") == _base.FORMAT_NAME:
        raise _bundle_error(
            path, "it holds a single model (Model.save); predict needs the file written by "
            "'clvmodels fit --model-out', which also records the settings",
        )
    if not isinstance(record, dict) or record.get("format") != BUNDLE_FORMAT:
        raise _bundle_error(path, f"no '\"format\": \"{BUNDLE_FORMAT}\"' entry")
    try:
        check_format_version(record.get("format_version"), BUNDLE_VERSION)
    except ValueError as error:
        raise _bundle_error(path, str(error)) from None
    transaction_model = _model_part(record, "transaction_model", path, ("probability_alive",))
    kind = _cli_periods.kind_of(getattr(transaction_model, "key", None))
    needs = {"continuous": ("expected_purchases",),
             "discrete": ("expected_purchases", "discounted_expected_residual_transactions"),
             "contractual": ("expected_residual_lifetime",)}.get(kind)
    if needs is None or not all(hasattr(transaction_model, method) for method in needs):
        raise _bundle_error(path, f"'transaction_model': {type(transaction_model).__name__} cannot serve as "
                                  "transaction model")
    spend_model = None
    if record.get("spend_model") is not None:
        spend_model = _model_part(record, "spend_model", path, ("expected_spend",))
    settings = _check_bundle_settings(record.get("settings"), path, transaction_model, spend_model)
    return transaction_model, spend_model, settings


def _check_bundle_settings(settings, path, transaction_model, spend_model):
    if not isinstance(settings, dict):
        raise _bundle_error(path, "'settings' is missing")
    settings = {**dict.fromkeys(LATER_SETTINGS), **settings}
    missing = [key for key in SETTINGS if key not in settings]
    if missing:
        raise _bundle_error(path, f"'settings' lacks {', '.join(repr(k) for k in missing)}")
    checked = {}
    for key in ("horizon", "period", "discount_rate", "margin", "penalizer"):
        value = settings[key]
        if isinstance(value, bool) or not isinstance(value, (int, float, str)) or (key != "period" and isinstance(value, str)):
            raise _bundle_error(path, f"settings {key!r} must be a number, got {value!r}")
    for key in ("customer_col", "date_col"):
        if not isinstance(settings[key], str) or not settings[key]:
            raise _bundle_error(path, f"settings {key!r} must be a column name")
    for key in ("amount_col", "date_format", "sep", "observation_end", *LATER_SETTINGS):
        if settings[key] is not None and not isinstance(settings[key], str):
            raise _bundle_error(path, f"settings {key!r} must be text or null")
    try:
        checked["date_unit"] = check_date_unit(settings["date_unit"])
        checked["timezone"] = check_timezone(settings["timezone"])
        checked["sep"] = _io.csv_separator(settings["sep"])
        checked["decimal"] = _io.decimal_mark(settings["decimal"], checked["sep"])
        checked["time_unit"] = check_time_unit(settings["time_unit"])
        checked["horizon"] = _positive_int(str(settings["horizon"]))
        checked["period"] = parse_period(settings["period"])
        for key in ("discount_rate", "margin", "penalizer"):
            checked[key] = _non_negative(str(settings[key]))
    except (ValueError, argparse.ArgumentTypeError) as error:
        raise _bundle_error(path, f"settings: {error}") from None
    try:
        _check_horizon(checked)
    except UsageError as error:
        raise _bundle_error(path, f"settings: {error}") from None
    model_unit = transaction_model.time_unit_
    if model_unit is None or check_time_unit(model_unit) != checked["time_unit"]:
        raise _bundle_error(
            path, f"settings time_unit {checked['time_unit']!r} differs from the model's {model_unit!r}"
        )
    if (settings["amount_col"] is None) != (spend_model is None):
        raise _bundle_error(path, "settings 'amount_col' and 'spend_model' must be both given or both null")
    # Files written before --model record the model only as transaction_model's class.
    model = settings.get("model", transaction_model.key)
    if model != transaction_model.key:
        raise _bundle_error(
            path, f"settings model {model!r} differs from the transaction model's {transaction_model.key!r}"
        )
    return {**{key: settings[key] for key in SETTINGS}, **checked, "model": model}


# ----- printing -----------------------------------------------------------------------------
def format_model(model, covariates=None):
    """A model's summary (header: model, customers, log-likelihood, AIC, BIC, optimiser,
    convergence or boundary status, time unit; then the parameter table), the same one
    ``model.summary()`` prints and the report shows; a model with covariates adds the
    coefficient table of :func:`clvmodels.evaluation.covariate_table` (``covariates``,
    with its likelihood-ratio test, else computed without it) as the report shows it."""
    from .evaluation import covariate_table, format_covariate_table

    text = model.summary().as_text()
    if getattr(model, "coefficient_names", ()):
        table = covariates if covariates is not None else covariate_table(model)
        text = f"{text}\n{format_covariate_table(table)}"
    return text


def format_forecast(forecast, settings, customer_col, time_unit, top=5):
    """Totals, quantiles, segments and the top customers of a forecast table."""
    from .clv import period_length

    n = len(forecast)
    period = settings["period"]
    step = period_length(period, time_unit)
    period_text = f"{period}" if isinstance(period, str) else f"{period:g} {time_unit}"
    lines = [
        f"Forecast: {n:,} customers; horizon {int(settings['horizon'])} periods of {period_text} "
        f"({int(settings['horizon']) * step:.4g} {time_unit}); discount rate {settings['discount_rate']:g} "
        f"per period; margin {settings['margin']:g}",
    ]
    columns = [c for c in ("probability_alive", "expected_purchases", "expected_spend", "clv") if c in forecast]
    if n:
        quantiles = forecast[columns].quantile([0.1, 0.5, 0.9])
        stats = pd.DataFrame(
            {
                "total": forecast[columns].sum(),
                "mean": forecast[columns].mean(),
                "p10": quantiles.loc[0.1],
                "median": quantiles.loc[0.5],
                "p90": quantiles.loc[0.9],
                "max": forecast[columns].max(),
            }
        )
        if "expected_spend" in stats.index:
            stats.loc["expected_spend", "total"] = np.nan
        text = stats.to_string(float_format=lambda v: f"{v:,.2f}", na_rep="")
        lines.append(text)
    if "segment" in forecast and n:
        counts = forecast["segment"].value_counts()
        parts = [f"{name} {count:,} ({count / n:.1%})" for name, count in counts.items()]
        lines.append("Segments: " + ", ".join(parts))
    if "clv" in forecast and n:
        lines.append(_cli_periods.top_by_clv(forecast, customer_col, top, decimals=2))
    return "\n".join(lines)


def _print(text):
    try:
        print(text, flush=True)
    except BrokenPipeError:
        pass


# ----- the subcommands ----------------------------------------------------------------------
# Options naming files: read (command-line name -> attribute) and written.
INPUT_FILE_OPTIONS = {"TRANSACTIONS": "transactions", "--model": "model"}
OUTPUT_FILE_OPTIONS = {"--out": "out", "--model-out": "model_out"}


def _file_options(args, options, existing_only=False):
    paths = {}
    for name, attribute in options.items():
        value = getattr(args, attribute, None)
        if isinstance(value, (str, Path)) and str(value) and (not existing_only or os.path.exists(value)):
            paths[name] = value
    return paths


def _outputs(args):
    """Check, before any work, that every output can be written and destroys no input."""
    with _user_file_errors():
        _io.check_not_overwriting(
            _file_options(args, OUTPUT_FILE_OPTIONS), _file_options(args, INPUT_FILE_OPTIONS, existing_only=True)
        )
        if hasattr(args, "engine") and _cli_engines.writes_dataset(args):
            _cli_engines.check_dataset_output(args.out)
        elif getattr(args, "out", None) and args.command != "report":
            _io.check_writable(args.out)
        if args.command == "report":
            _io.check_writable(args.out, table=False)
        if getattr(args, "model_out", None):
            _io.check_writable(args.model_out, table=False)


@contextmanager
def _user_file_errors():
    try:
        yield
    except _io.DataFileError as error:
        raise UsageError(one_line(error)) from error


def _write_forecast(forecast, settings, path, progress):
    table = output_table(forecast, settings["customer_col"])
    with progress.step(f"write {path}"):
        try:
            _io.write_table(table, path)
        except _io.DataFileError as error:
            raise UsageError(one_line(error)) from error
        except OSError as error:
            raise UsageError(f"{path}: cannot write ({error.strerror or error})") from error
    return table


def run_forecast(args, progress):
    settings = resolve_settings(args)
    source = Source(args)
    _outputs(args)
    if settings["kind"] != "continuous":
        return _run_periods(args, settings, source, progress, out=args.out, model_out=args.model_out)
    with _cli_engines.dask_client(args, progress):
        rfm, n_rows = _read_rfm(source, settings, progress)
        transaction_model, spend_model = fit_models(rfm, settings, progress)
        forecast = _score_and_write(rfm, transaction_model, spend_model, settings, args.out, progress,
                                    dataset=_cli_engines.writes_dataset(args))
        if args.model_out:
            _write_model_file(bundle_record(transaction_model, spend_model, settings, rfm, source, n_rows), args.model_out, progress)
        n_customers = len(rfm)
    _print_results(transaction_model, spend_model, forecast, settings)
    return f"{n_customers:,} customers -> {args.out}"


def _read_rfm(source, settings, progress):
    """Read the transactions and summarise them; returns the RFM table and the number
    of transaction rows (None when an engine other than pandas summarised them). The
    log itself is freed on return, before any fitting."""
    if source.engine != "pandas":
        with source.user_errors():
            return _cli_engines.read_rfm(source.args, settings, progress), None
    with source.user_errors():
        transactions = source.read(settings, progress)
    return summarise(source, transactions, settings, progress), len(transactions)


ForecastError = _cli_engines.ForecastError


def check_forecast(forecast):
    """Refuse to write an empty forecast (exit 2) or one with a non-finite number (exit 1).

    The message names each column with such values and how many rows have them.
    """
    if len(forecast) == 0:
        raise UsageError("no customer could be scored: the forecast would be empty; nothing written")
    _cli_engines.raise_if_not_finite(_cli_engines.non_finite_counts(forecast), len(forecast))


def _score_and_write(rfm, transaction_model, spend_model, settings, out, progress, dataset=False):
    """Score and write the forecast; returns it, or None when it was written as a Parquet
    dataset part by part (a Dask table, or a pandas one in chunks)."""
    if dataset and _cli_engines._dask.is_dask_collection(rfm):
        with progress.step("score") as step:
            forecast = _cli_engines.score_dask(rfm, transaction_model, spend_model, settings)
            step.detail = f"{forecast.npartitions} partitions"
        _cli_engines.write_dataset(forecast, settings["customer_col"], out, progress)
        return None
    if dataset:
        _cli_engines.write_forecast_in_chunks(rfm, transaction_model, spend_model, settings, out, progress)
        return None
    with progress.step("score") as step, _covariate_errors():
        forecast = score(rfm, transaction_model, spend_model, settings)
        step.detail = f"{len(forecast):,} customers"
    check_forecast(forecast)
    _write_forecast(forecast, settings, out, progress)
    return forecast


def _write_model_file(record, path, progress):
    with progress.step(f"write {path}"), _user_file_errors():
        write_bundle(record, path)


def run_fit(args, progress):
    settings = resolve_settings(args)
    source = Source(args)
    _outputs(args)
    if settings["kind"] != "continuous":
        return _run_periods(args, settings, source, progress, model_out=args.model_out)
    with _cli_engines.dask_client(args, progress):
        rfm, n_rows = _read_rfm(source, settings, progress)
        transaction_model, spend_model = fit_models(rfm, settings, progress)
        covariates = None
        if getattr(transaction_model, "coefficient_names", ()):
            from . import evaluation

            with progress.step("fit without covariates (likelihood-ratio test)"):
                covariates = evaluation.covariate_table(transaction_model, rfm)
        _write_model_file(bundle_record(transaction_model, spend_model, settings, rfm, source, n_rows), args.model_out, progress)
        n_customers = len(rfm)
    _print("\n\n".join([format_model(transaction_model, covariates)]
                        + ([format_model(spend_model)] if spend_model is not None else [])))
    return f"{n_customers:,} customers -> {args.model_out}"


def run_predict(args, progress):
    source = Source(args)
    transaction_model, spend_model, stored = load_bundle(args.model)
    if args.time_unit is not None and args.time_unit != stored["time_unit"]:
        raise UsageError(
            f"--time-unit {args.time_unit} differs from the time unit of {args.model} "
            f"({stored['time_unit']}); the model's parameters are in {stored['time_unit']}"
        )
    settings = resolve_settings(args, base=stored)
    if settings["amount_col"] and spend_model is None:
        raise UsageError(
            f"{args.model} has no spend model (it was fitted without --amount-col), so "
            "--amount-col cannot be used; refit with --amount-col"
        )
    if not settings["amount_col"] and spend_model is not None:
        spend_model = None
    for key in COVARIATE_SETTINGS:
        settings[key] = list(getattr(transaction_model, key, None) or [])
    _outputs(args)
    if settings["kind"] != "continuous":
        return _run_periods(args, settings, source, progress, out=args.out, models=(transaction_model, spend_model))
    with _cli_engines.dask_client(args, progress):
        rfm, _ = _read_rfm(source, settings, progress)
        forecast = _score_and_write(rfm, transaction_model, spend_model, settings, args.out, progress,
                                    dataset=_cli_engines.writes_dataset(args))
        n_customers = len(rfm)
    _print_results(transaction_model, spend_model, forecast, settings)
    return f"{n_customers:,} customers -> {args.out}"


# ----- models counted in periods: BG/BB (discrete time), sBG and BdW (contractual) ----------
def _run_periods(args, settings, source, progress, *, out=None, model_out=None, models=None):
    """forecast, fit and predict for the models of :mod:`clvmodels._cli_periods`: read,
    summarise, fit (unless ``models`` come from a model file), score, write."""
    if _cli_engines.writes_dataset(args):
        raise UsageError(f"--model {settings['model']}: --out must be a file (.csv, .csv.gz or .parquet)")
    kind = settings["kind"]
    with source.user_errors():
        data = source.read(settings, progress)
    with progress.step("summarise") as step, source.user_errors():
        table = _cli_periods.summarise(_cli_periods.blank_dates_missing(data, settings, kind), settings, kind)
        step.detail = (f"{len(table):,} customers, observation end {table.attrs.get('observation_end')}, "
                       f"period {table.attrs.get('time_unit')}")
    if not table.index.is_monotonic_increasing:
        table = _sort_by_id(table)
    table = attach_covariates(table, data, settings)
    covariates = None
    if models is None:
        models = _fit_period_models(table, settings, progress)
        if out is None and getattr(models[0], "coefficient_names", ()):  # 'fit', as run_fit does
            from . import evaluation

            with progress.step("fit without covariates (likelihood-ratio test)"):
                covariates = evaluation.covariate_table(models[0], table)
    model, spend_model = models
    forecast = None
    if out:
        with progress.step("score") as step:
            forecast = _cli_periods.score(table, model, spend_model, settings, kind)
            step.detail = f"{len(forecast):,} customers"
        check_forecast(forecast)
        _write_forecast(forecast, settings, out, progress)
    if model_out:
        _write_model_file(bundle_record(model, spend_model, settings, table, source, len(data)), model_out, progress)
    text = "\n\n".join([format_model(model, covariates)] + ([format_model(spend_model)] if spend_model is not None else []))
    if forecast is not None:
        text += "\n\n" + _cli_periods.format_forecast(forecast, settings, kind, settings["customer_col"])
    _print(text)
    return f"{len(table):,} customers -> {out or model_out}"


def _fit_period_models(table, settings, progress):
    """The chosen model of periods and, for BG/BB with amounts, Gamma-Gamma on the
    repeat periods' mean amounts."""
    from .gamma_gamma import GammaGammaModel

    penalizer = float(settings.get("penalizer") or 0.0)
    with progress.step("fit") as step:
        covariates = {key: settings[key] for key in COVARIATE_SETTINGS if settings.get(key)}
        model = _cli_periods.all_models()[settings["model"]](penalizer=penalizer, **covariates).fit(table)
        spend_model = None
        if settings["kind"] == "discrete" and settings.get("amount_col"):
            spend_model = GammaGammaModel(penalizer=penalizer).fit(table)
        step.detail = ", ".join(type(m).__name__ for m in (model, spend_model) if m is not None)
    return model, spend_model


def _holdout_dates(args, settings):
    """The calibration end (required for a file; the data set's by default) and the
    observation end (the option, else the data set's) of report and compare."""
    dataset = DATASETS.get(args.dataset, {})
    calibration_end = args.calibration_end or dataset.get("calibration_end")
    if calibration_end is None:
        raise UsageError("--calibration-end is required for a transaction file")
    calibration_end = _check_date(calibration_end, "--calibration-end", settings)
    return calibration_end, settings["observation_end"] or dataset.get("report_observation_end")


def run_report(args, progress):
    settings = resolve_settings(args)
    source = Source(args)
    if settings["kind"] == "contractual":
        return _run_contractual_report(args, settings, source, progress)
    if args.calibration_periods is not None:
        raise UsageError(f"--calibration-periods is for subscription tables (--model "
                         f"{'|'.join(sorted(_cli_periods.models_by_kind()['contractual']))}); use --calibration-end")
    calibration_end, observation_end = _holdout_dates(args, settings)
    if settings["kind"] == "discrete":
        return _run_discrete_report(args, settings, source, calibration_end, observation_end, progress)
    transactions = _read_for_report(args, settings, source, progress)
    from .report import validation_report

    with progress.step(f"report {args.out}"), _io.atomic_path(args.out) as temporary:
        with source.user_errors():
            _check_report_input(source, transactions, settings, calibration_end, observation_end)
            transactions = read_dates(transactions, settings)
        validation_report(
            transactions, temporary, customer_col=settings["customer_col"], date_col=settings["date_col"],
            amount_col=settings["amount_col"], calibration_end=calibration_end, observation_end=observation_end,
            time_unit=settings["time_unit"], horizon=settings["horizon"], period=settings["period"],
            discount_rate=settings["discount_rate"], margin=settings["margin"],
            datetime_format=settings["date_format"], title=args.title, model=settings["model"],
            compare=args.compare, currency=args.currency, data_source=source.name,
            **{key: settings[key] or None for key in COVARIATE_SETTINGS},
        )
    return f"report -> {args.out}"


def _read_for_report(args, settings, source, progress):
    """The input of a report, once the figures' extra and the output path are checked."""
    _require_extra("matplotlib", "plot", "the report's figures")
    _outputs(args)
    with source.user_errors():
        return source.read(settings, progress)


def _report_common(args, settings, source):
    return dict(
        customer_col=settings["customer_col"], horizon=settings["horizon"], period=settings["period"],
        discount_rate=settings["discount_rate"], datetime_format=settings["date_format"], title=args.title,
        model=settings["model"], currency=args.currency, data_source=source.name,
    )


def _run_discrete_report(args, settings, source, calibration_end, observation_end, progress):
    """report --model bgbb: the discrete calibration/holdout split of the transaction log."""
    from .discrete import discrete_calibration_holdout_split

    for option, value in (("--amount-col", args.amount_col), ("--compare", args.compare)):
        if value:
            raise UsageError(f"{option} does not apply to the report of --model {settings['model']}, which "
                             "validates the transactions per period")
    settings["amount_col"] = None  # a data set's amounts are not used
    transactions = _read_for_report(args, settings, source, progress)
    from .report import validation_report

    with progress.step(f"report {args.out}"), _io.atomic_path(args.out) as temporary:
        with source.user_errors():
            discrete_calibration_holdout_split(
                transactions, settings["customer_col"], settings["date_col"], period=settings["period"],
                calibration_end=calibration_end, observation_end=observation_end,
                datetime_format=settings["date_format"], date_unit=settings["date_unit"],
                timezone=settings["timezone"],
            )
            transactions = read_dates(transactions, settings)
        validation_report(
            transactions, temporary, date_col=settings["date_col"], calibration_end=calibration_end,
            observation_end=observation_end, margin=settings["margin"], **_report_common(args, settings, source),
        )
    return f"report -> {args.out}"


def _run_contractual_report(args, settings, source, progress):
    """report --model sbg|bdw: fit on the first --calibration-periods of tenure, compare later survival."""
    from .discrete import tenure_summary

    if args.calibration_end:
        raise UsageError(f"--calibration-end does not apply to the report of --model {settings['model']}; use "
                         "--calibration-periods")
    if args.compare and any(_cli_periods.kind_of(key) != "contractual" for key in args.compare):
        raise UsageError(f"--compare: --model {settings['model']} can be compared with contractual models only "
                         f"({','.join(sorted(_cli_periods.models_by_kind()['contractual']))})")
    data = _cli_periods.blank_dates_missing(_read_for_report(args, settings, source, progress), settings, "contractual")
    from .report import validation_report

    with progress.step(f"report {args.out}"), _io.atomic_path(args.out) as temporary:
        with source.user_errors():
            table = tenure_summary(data, settings["customer_col"], settings["start_col"], settings["end_col"],
                                   period=settings["period"], observation_end=settings["observation_end"],
                                   datetime_format=settings["date_format"], date_unit=settings["date_unit"],
                                   timezone=settings["timezone"])
            data = _cli_periods.read_subscription_dates(data, settings)
        longest = int(table["tenure"].max())
        periods = args.calibration_periods or max(1, longest // 2)
        if periods >= longest:
            raise UsageError(f"{source.name}: --calibration-periods {periods} leaves no later period to compare: "
                             f"the longest tenure is {longest} periods")
        validation_report(
            data, temporary, start_col=settings["start_col"], end_col=settings["end_col"],
            calibration_periods=args.calibration_periods, observation_end=settings["observation_end"],
            margin=settings["margin"], compare=args.compare, **_report_common(args, settings, source),
        )
    return f"report -> {args.out}"


def _require_extra(module, extra, what):
    """Exit 2 up front, with the install command, when an optional dependency is missing."""
    try:
        importlib.import_module(module)
    except ImportError:
        raise UsageError(f"{what} need {module}, which is not installed: pip install 'clvmodels[{extra}]'") from None


def run_compare(args, progress):
    from . import evaluation
    from .data import calibration_holdout_split

    keys = args.models or sorted(_purchase_models())
    settings = resolve_settings(args, model=keys[0])
    source = Source(args)
    if settings["kind"] == "contractual":
        return _run_contractual_compare(args, settings, source, keys, progress)
    for option in ("calibration_periods", "period"):
        if getattr(args, option) is not None:
            raise UsageError(f"--{option.replace('_', '-')} is for contractual models (--models "
                             f"{','.join(sorted(_cli_periods.models_by_kind()['contractual']))})")
    calibration_end, observation_end = _holdout_dates(args, settings)
    _outputs(args)
    with source.user_errors():
        transactions = source.read(settings, progress)
    with progress.step("split") as step, source.user_errors():
        split = calibration_holdout_split(
            transactions, settings["customer_col"], settings["date_col"], None, calibration_end=calibration_end,
            observation_end=observation_end, time_unit=settings["time_unit"], datetime_format=settings["date_format"],
            date_unit=settings["date_unit"], timezone=settings["timezone"],
        )
        step.detail = f"{len(split):,} customers, calibration to {split.attrs['calibration_end']}"
    del transactions
    penalizer = float(settings.get("penalizer") or 0.0)
    models = []
    for key in keys:
        with progress.step(f"fit {key}"):
            models.append(_purchase_models()[key](penalizer=penalizer).fit(split))
    with progress.step("compare"):
        table = evaluation.compare_models(models, split)
    if args.out:
        with progress.step(f"write {args.out}"), _user_file_errors():
            _io.write_table(comparison_output(table), args.out)
    _print(format_comparison(table, split))
    return f"{len(keys)} model{'' if len(keys) == 1 else 's'} compared" + (f" -> {args.out}" if args.out else "")


def _run_contractual_compare(args, settings, source, keys, progress):
    """compare --models sbg,bdw: fit each on the first --calibration-periods of tenure;
    :func:`clvmodels.evaluation.compare_survival_models`."""
    from . import evaluation
    from .discrete import censor_tenure

    if args.calibration_end:
        raise UsageError("--calibration-end does not apply to contractual models; use --calibration-periods")
    _outputs(args)
    with source.user_errors():
        data = _cli_periods.blank_dates_missing(source.read(settings, progress), settings, "contractual")
    with progress.step("summarise") as step, source.user_errors():
        table = _cli_periods.summarise(data, settings, "contractual")
        step.detail = f"{len(table):,} subscribers, as of {table.attrs.get('observation_end')}"
    longest = int(table["tenure"].max())
    periods = args.calibration_periods or max(1, longest // 2)
    if periods >= longest:
        raise UsageError(f"{source.name}: --calibration-periods {periods} leaves no later period to compare: "
                         f"the longest tenure is {longest} periods")
    calibration = censor_tenure(table, periods)
    penalizer = float(settings.get("penalizer") or 0.0)
    models = []
    for key in keys:
        with progress.step(f"fit {key}"):
            models.append(_cli_periods.all_models()[key](penalizer=penalizer).fit(calibration))
    with progress.step("compare"):
        comparison = evaluation.compare_survival_models(models, table, periods)
    if args.out:
        with progress.step(f"write {args.out}"), _user_file_errors():
            _io.write_table(comparison_output(comparison), args.out)
    head = (f"Model comparison: {len(table):,} subscribers as of {table.attrs['observation_end']}, fitted on the "
            f"first {periods} periods ({settings['period']}) of tenure, survival compared to period "
            f"{comparison.attrs['last_period']}")
    note = ("* best: largest log_likelihood; smallest aic, bic and holdout_mape (mean absolute % error of the "
            "survivors after the calibration periods)")
    _print(f"{head}\n{_marked_table(comparison)}\n{note}")
    return f"{len(keys)} model{'' if len(keys) == 1 else 's'} compared" + (f" -> {args.out}" if args.out else "")


def comparison_output(table):
    """The comparison table as a file: a ``model`` column, the numbers, and ``best``
    (the columns in which the model is best, separated by spaces)."""
    best = table.attrs.get("best", {})
    output = table.reset_index()
    output["best"] = [" ".join(c for c in table.columns if best.get(c) == label) for label in table.index]
    return output


def format_comparison(table, split):
    """The comparison table for the console, the best value per column marked with *."""
    head = (
        f"Model comparison: {len(split):,} customers, calibration to {split.attrs.get('calibration_end')}, "
        f"holdout to {split.attrs.get('observation_end')} (time unit {split.attrs.get('time_unit')})"
    )
    note = ("* best: largest log_likelihood and p_value; smallest aic, bic, chi_square, mae, rmse and "
            "|aggregate_error_pct|")
    return f"{head}\n{_marked_table(table)}\n{note}"


def _marked_table(table):
    """A comparison table as text, the best value per column (``attrs["best"]``) marked with *."""
    best = table.attrs.get("best", {})
    text = pd.DataFrame(index=table.index)
    for column in table.columns:
        values = table[column]
        whole = column in ("n_params", "degrees_of_freedom")
        cells = [("{:,.0f}" if whole else "{:,.6g}" if column == "p_value" else "{:,.4f}").format(v)
                 for v in values]
        text[column] = [c + ("*" if best.get(column) == label else " ") for c, label in zip(cells, table.index)]
    return text.to_string()


def _check_report_input(source, transactions, settings, calibration_end, observation_end):
    """Input problems of the report (exit 2) before the report's own work starts."""
    from .data import calibration_holdout_split

    calibration_holdout_split(
        transactions, settings["customer_col"], settings["date_col"], settings["amount_col"],
        calibration_end=calibration_end, observation_end=observation_end, time_unit=settings["time_unit"],
        datetime_format=settings["date_format"], date_unit=settings["date_unit"], timezone=settings["timezone"],
    )
    covariates = _covariate_columns(settings)
    if covariates:
        from .data import customer_columns

        customer_columns(transactions, settings["customer_col"], covariates)


def _print_results(transaction_model, spend_model, forecast, settings):
    models = "\n\n".join(format_model(m) for m in (transaction_model, spend_model) if m is not None)
    if forecast is None:
        _print(models)  # written part by part: a summary would need the whole forecast here
        return
    summary = format_forecast(forecast, settings, settings["customer_col"], transaction_model.time_unit_)
    _print(f"{models}\n\n{summary}")


COMMANDS = {
    "forecast": run_forecast, "fit": run_fit, "predict": run_predict, "report": run_report, "compare": run_compare,
}


# ----- customer value for marketing: 'value' and 'value-report' -----------------------------
VALUE_HELP = """\
output: one row per customer, sorted by customer id: <customer id column>,
  cohort, [channel], first_purchase, orders, revenue, realised_margin
  (margin x amounts so far), probability_alive, expected_purchases,
  expected_spend, expected_value (the model CLV), [realised_cost,
  expected_cost], customer_value (realised + expected - costs), segment.
acquisition costs: a CSV with month, spend and optionally channel and
  new_customers (one row per channel and month), or customer and cost;
  with --interval, LTV:CAC also gets an interval of LTV per cohort and channel.
exit status: 0 success, 2 bad command line or input, 1 internal failure."""


def _add_value_commands(commands):
    """The subcommands 'value' (per-customer value table) and 'value-report' (HTML)."""
    value = commands.add_parser(
        "value", help="write each customer's value: margin earned + expected (and LTV:CAC)",
        description="Fit the models and write each customer's value: margin already earned plus the "
        "expected future margin; print value by segment, its concentration and, with "
        "--acquisition-costs, LTV:CAC and payback per cohort and channel.",
        epilog=VALUE_HELP, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    value.add_argument("--out", required=True, metavar="PATH", help="value table: .csv, .csv.gz or .parquet")
    report = commands.add_parser(
        "value-report", help="write an HTML customer value report for marketing",
        description="Fit the models and write a customer value report (HTML) for marketing: value by "
        "segment, cohorts, LTV:CAC, the simple formula, the worth of better retention.",
    )
    report.add_argument("--out", required=True, metavar="PATH", help="HTML file to write")
    report.add_argument("--title", metavar="TEXT", help="report title")
    report.add_argument(
        "--retention-points", type=float, default=5.0, metavar="POINTS",
        help="retention rise of the what-if, in points of annual retention (default 5)",
    )
    for sub in (value, report):
        _add_input_options(sub)
        _add_forecast_options(sub)
        _add_fit_options(sub)
        group = sub.add_argument_group("customer value")
        group.add_argument("--currency", default="USD", metavar="CODE", help="currency of the amounts (default USD)")
        group.add_argument(
            "--acquisition-costs", metavar="FILE",
            help="CSV of acquisition costs: channel, month, spend, new_customers (or customer, cost)",
        )
        group.add_argument(
            "--channels", metavar="FILE", help="CSV of each customer's acquisition channel: <customer id column>, channel"
        )
        group.add_argument("--cohort", choices=("M", "Q"), default="M", help="cohorts by month or quarter (default M)")
        group.add_argument(
            "--cost-to-serve", type=_non_negative, default=0.0, metavar="AMOUNT",
            help="cost per period of serving a customer (default 0)",
        )
        _add_common_options(sub)


def _read_side_table(path, option):
    """A small CSV given on the command line (cost table, channels), or a usage error naming it."""
    from .business import read_acquisition_costs

    try:
        return read_acquisition_costs(path)
    except OSError as error:
        raise UsageError(f"{option} {path}: cannot read ({error.strerror or error})") from error
    except ValueError as error:
        raise UsageError(f"{option} {one_line(error)}") from error


def _channels(args, settings):
    if not args.channels:
        return None
    table = _read_side_table(args.channels, "--channels")
    customer_col = settings["customer_col"]
    missing = [c for c in (customer_col, "channel") if c not in table.columns]
    if missing:
        raise UsageError(f"--channels {args.channels}: column {missing[0]!r} is missing")
    ids = pd.read_csv(args.channels, usecols=[customer_col])[customer_col]
    return pd.Series(table["channel"].astype(str).to_numpy(), index=ids.to_numpy(), name="channel")


def _customer_value_inputs(args, progress):
    """Settings, transactions, fitted models, cost table and channels of 'value' and 'value-report'."""
    settings = resolve_settings(args)
    if not settings["amount_col"]:
        raise UsageError("customer value needs amounts: give --amount-col")
    source = Source(args)
    costs = _read_side_table(args.acquisition_costs, "--acquisition-costs") if args.acquisition_costs else None
    channels = _channels(args, settings)
    with source.user_errors():
        transactions = source.read(settings, progress)
    rfm = summarise(source, transactions, settings, progress)
    transaction_model, spend_model = fit_models(rfm, settings, progress)
    settings["observation_end"] = rfm.attrs.get("observation_end")
    return settings, source, transactions, (transaction_model, spend_model), costs, channels


@contextmanager
def _value_errors(source, args):
    """Problems of the cost table or channels (ValueError naming the row) as usage errors."""
    try:
        yield
    except ValueError as error:
        text = one_line(error)
        if "acquisition costs" in text and args.acquisition_costs:
            raise UsageError(f"--acquisition-costs {args.acquisition_costs}: {text}") from error
        if "channels" in text and args.channels:
            raise UsageError(f"--channels {args.channels}: {text}") from error
        raise UsageError(f"{source.name}: {text}") from error


def _value_columns(settings):
    return {"customer_col": settings["customer_col"], "date_col": settings["date_col"],
            "amount_col": settings["amount_col"], "datetime_format": settings["date_format"]}


def run_value(args, progress):
    from . import business

    with _user_file_errors():
        _io.check_writable(args.out)
    settings, source, transactions, models, costs, channels = _customer_value_inputs(args, progress)
    columns = _value_columns(settings)
    with progress.step("value") as step, _value_errors(source, args):
        values = business.customer_value(
            *models, transactions, observation_end=settings["observation_end"], horizon=settings["horizon"],
            period=settings["period"], discount_rate=settings["discount_rate"], margin=settings["margin"],
            currency=args.currency, cost_to_serve=args.cost_to_serve, cohort=args.cohort, channels=channels,
            **columns,
        )
        ltv = (business.ltv_cac(values, transactions, costs, *models, interval=args.interval, **columns)
               if costs is not None else None)
        step.detail = f"{len(values):,} customers"
    table = values.copy()
    table["cohort"] = table["cohort"].astype(str)
    _write_forecast(table, settings, args.out, progress)
    _print(format_value(values, ltv))
    return f"{len(values):,} customers -> {args.out}"


def format_value(values, ltv=None):
    """Value by segment, its concentration and LTV:CAC, as text."""
    from . import business

    currency = values.attrs["currency"]
    segments = business.segment_value(values)
    segments = segments.loc[segments["customers"] > 0]
    columns = ["customers", "realised_margin", "expected_value", "customer_value", "value_per_customer",
               "mean_probability_alive"]
    lines = [
        f"Customer value as of {values.attrs['observation_end']} ({currency}; margin {values.attrs['margin']:g}; "
        f"expected over {values.attrs['horizon']} x {values.attrs['period']})",
        segments[columns].to_string(float_format=lambda v: f"{v:,.2f}"),
        "",
        "Share of expected value held by the top customers:",
        business.value_concentration(values["expected_value"]).to_string(
            formatters={"share_of_value": "{:.1%}".format, "value": "{:,.2f}".format}),
    ]
    if ltv is not None:
        lines += ["", f"LTV, CAC ({currency} per customer) and payback (periods of the cohort) per cohort and channel:",
                  ltv[[c for c in ("customers", "spend", "cac", "ltv", "ltv_lower", "ltv_upper", "ltv_cac",
                                   "payback_periods") if c in ltv.columns]].to_string(
                      float_format=lambda v: f"{v:,.2f}", na_rep="not within horizon")]
    return "\n".join(lines)


def run_value_report(args, progress):
    from .value_report import value_report

    with _user_file_errors():
        _io.check_writable(args.out, table=False)
    settings, source, transactions, models, costs, channels = _customer_value_inputs(args, progress)
    with progress.step(f"value report {args.out}"), _io.atomic_path(args.out) as temporary, \
            _value_errors(source, args):
        value_report(
            transactions, temporary, *models, observation_end=settings["observation_end"],
            horizon=settings["horizon"], period=settings["period"], discount_rate=settings["discount_rate"],
            margin=settings["margin"], currency=args.currency, cost_to_serve=args.cost_to_serve,
            cohort=args.cohort, acquisition_costs=costs, channels=channels,
            retention_points=args.retention_points, interval=args.interval, title=args.title,
            **_value_columns(settings),
        )
    return f"value report -> {args.out}"


COMMANDS.update({"value": run_value, "value-report": run_value_report})


# ----- main ---------------------------------------------------------------------------------
def _show_warning(message, category, filename, lineno, file=None, line=None):
    stream = file if file is not None else sys.stderr
    try:
        stream.write(f"{PROG}: warning: {one_line(message)}\n")
    except (OSError, ValueError):
        pass


def _on_sigterm(signum, frame):
    raise Terminated()


def main(argv=None):
    """Run the ``clvmodels`` command; returns the exit status.

    Parameters
    ----------
    argv : list of str, optional
        Arguments without the program name; default ``sys.argv[1:]``.
    """
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in argv
    previous_handler = None
    in_main_thread = threading.current_thread() is threading.main_thread()
    if in_main_thread:
        previous_handler = signal.signal(signal.SIGTERM, _on_sigterm)
    command = PROG
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            args = parser.parse_args(argv)
            command = f"{PROG} {args.command}"
            debug = args.debug
            progress = Progress(enabled=not args.quiet)
            done = COMMANDS[args.command](args, progress)
            progress.message(f"{command}: {done} in {format_seconds(progress.elapsed())}")
        return 0
    except UsageError as error:
        if debug:
            traceback.print_exc()
        if error.prog:
            sys.stderr.write(f"{error.prog}: error: {one_line(error)} (see '{error.prog} --help')\n")
        else:
            sys.stderr.write(f"{command}: error: {one_line(error)}\n")
        return 2
    except SystemExit as exit_:  # --help and --version
        return exit_.code if isinstance(exit_.code, int) else 0
    except KeyboardInterrupt:
        sys.stderr.write(f"{command}: interrupted\n")
        return 130
    except Terminated:
        sys.stderr.write(f"{command}: terminated\n")
        return 143
    except Exception as error:  # noqa: BLE001 - every other failure is an internal one
        if debug:
            traceback.print_exc()
        if isinstance(error, ImportError) and "pip install" in str(error):  # a missing optional extra
            sys.stderr.write(f"{command}: error: {one_line(error)}\n")
            return 2
        hint = "" if debug else " (run with --debug for the traceback)"
        text = one_line(error) or "no message"
        if type(error).__name__ == "ConvergenceError":
            text += " On the command line: --penalizer 0.001."
        sys.stderr.write(f"{command}: internal error: {type(error).__name__}: {text}{hint}\n")
        return 1
    finally:
        if in_main_thread and previous_handler is not None:
            signal.signal(signal.SIGTERM, previous_handler)


def run():
    """The console script: :func:`main`, then leave without tearing the interpreter down.

    Every output is complete and closed when ``main`` returns; skipping interpreter
    finalisation avoids a rare abort ("terminate called without an active exception")
    in the destructors of C++ thread pools (pyarrow's CSV reader) seen under load.
    """
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    run()
