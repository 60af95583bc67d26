"""The ``clvmodels`` command: customer-lifetime-value forecasts as a batch job.

Subcommands::

    clvmodels forecast TRANSACTIONS --out forecast.csv        # fit and score in one go
    clvmodels fit TRANSACTIONS --model-out model.json         # fit, save a forecast bundle
    clvmodels predict TRANSACTIONS --model model.json --out forecast.parquet
    clvmodels report TRANSACTIONS --calibration-end 1997-09-30 --out report.html

Each takes a transaction file (CSV, optionally gzip/bz2/xz-compressed, or Parquet;
one row per purchase) or ``--dataset cdnow``, the bundled CDNOW master data
(:func:`clvmodels.datasets.load_cdnow`), for which the defaults are its columns
``customer_id``, ``date`` and ``amount``, weeks as the time unit and, for
``report``, the calibration split of the papers (1997-09-30 / 1998-06-30).

For files the defaults are those of :func:`clvmodels.rfm_summary`: columns
``customer_id`` and ``date``, no amount column, time unit ``D`` (days), observation
end at the last purchase. Without ``--amount-col`` only the purchase model (BG/NBD)
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

Progress goes to stderr: one line per step with elapsed times (a live bar only on a
terminal), then a one-line summary; ``--quiet`` silences them (warnings and errors
still show). Results (parameter tables, forecast summary) go to stdout.

Exit status: 0 on success; 2 for a problem with the command line or the input
(missing or unreadable file, unknown format, missing column, unparseable dates,
negative amounts, invalid model file), reported as one line on stderr that names
the file, column and number of rows; 1 for an internal failure (e.g. the fit does
not converge), with the message on one line, and the traceback with ``--debug``.

The parser is the standard library's :mod:`argparse`, so the command adds no
dependency to numpy, scipy and pandas (pyarrow, the ``parquet`` extra, is needed
only for Parquet files and speeds up reading CSV).
"""

import argparse
import json
import math
import signal
import sys
import threading
import traceback
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

from . import _base, _io
from ._progress import Progress, format_seconds
from ._units import DAYS_PER_UNIT, check_time_unit
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
        "calibration_end": "1997-09-30",
        "report_observation_end": "1998-06-30",
    },
}
FORECAST_DEFAULTS = {"horizon": 12, "period": "M", "discount_rate": 0.01, "margin": 1.0}
DATA_SETTINGS = ("customer_col", "date_col", "amount_col", "date_format", "sep", "time_unit", "observation_end")
SETTINGS = (*DATA_SETTINGS, *FORECAST_DEFAULTS, "penalizer")
OUTPUT_COLUMNS = (
    "frequency", "recency", "T", "monetary_value", "probability_alive", "expected_purchases",
    "expected_spend", "clv", "segment",
)


OUTPUT_HELP = """\
output: one row per customer, sorted by customer id, with the columns
  <customer id column>, frequency, recency, T (in the time unit),
  monetary_value, probability_alive, expected_purchases (over the whole
  horizon), expected_spend (per purchase), clv, segment;
  without --amount-col: no monetary_value, expected_spend and clv.
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
    """argparse with one-line usage errors (exit status 2)."""

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


def _add_input_options(parser):
    source = parser.add_argument_group("input")
    source.add_argument(
        "transactions", nargs="?", metavar="TRANSACTIONS",
        help="transaction file: .csv, .tsv or .txt (optionally .gz/.bz2/.xz) or .parquet",
    )
    source.add_argument("--dataset", choices=sorted(DATASETS), help="use a bundled data set instead of a file")
    source.add_argument("--customer-col", metavar="COLUMN", help="customer id column (default customer_id)")
    source.add_argument("--date-col", metavar="COLUMN", help="purchase date column (default date)")
    source.add_argument(
        "--amount-col", metavar="COLUMN",
        help="purchase amount column; needed for monetary_value, expected_spend and clv "
        "(default: none for files, amount for --dataset cdnow)",
    )
    source.add_argument("--date-format", metavar="FORMAT", help="strftime format of the dates, e.g. %%Y%%m%%d (default: inferred)")
    source.add_argument(
        "--sep", metavar="SEP", help="CSV field separator (default ',' or tab for .tsv; 'whitespace' for runs of blanks)"
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
        help="length of one period: a unit (D, W, M, Q, Y) or a number of time units (default M)",
    )
    group.add_argument(
        "--discount-rate", type=_non_negative, metavar="RATE", help="discount rate per period for the CLV (default 0.01)"
    )
    group.add_argument("--margin", type=_non_negative, metavar="FRACTION", help="profit margin applied to spend (default 1.0)")


def _add_fit_options(parser):
    parser.add_argument(
        "--penalizer", type=_non_negative, metavar="PENALTY",
        help="L2 penalty on the parameters; try 0.001 if a fit does not converge (default 0)",
    )


def _add_common_options(parser):
    group = parser.add_argument_group("messages")
    group.add_argument("--quiet", "-q", action="store_true", help="no progress lines on stderr")
    group.add_argument("--debug", action="store_true", help="show the traceback of internal errors")


def build_parser():
    """The argument parser of the ``clvmodels`` command."""
    parser = _Parser(
        prog=PROG,
        description="Probabilistic customer lifetime value (BG/NBD + Gamma-Gamma) as a batch job.",
        epilog="Exit status: 0 success, 2 bad command line or input, 1 internal failure.",
    )
    from . import __version__

    parser.add_argument("--version", action="version", version=f"clvmodels {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=_Parser)

    forecast = commands.add_parser(
        "forecast", help="fit the models and write a per-customer forecast",
        description="Fit BG/NBD (and Gamma-Gamma with --amount-col) and write a per-customer forecast.",
        epilog=OUTPUT_HELP, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    forecast.add_argument("--out", required=True, metavar="PATH", help="forecast file: .csv, .csv.gz or .parquet")
    forecast.add_argument("--model-out", metavar="PATH", help="also save the fitted models and settings (JSON)")

    fit = commands.add_parser(
        "fit", help="fit the models and save them with their settings",
        description="Fit BG/NBD (and Gamma-Gamma with --amount-col); save a forecast bundle (JSON).",
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
    report.add_argument("--title", metavar="TEXT", help="report title")

    for sub in (forecast, fit, predict, report):
        _add_input_options(sub)
        _add_forecast_options(sub)  # for 'fit': stored in the model file for 'predict'
        if sub in (forecast, fit):
            _add_fit_options(sub)
        _add_common_options(sub)
    return parser


# ----- settings -------------------------------------------------------------------------
def resolve_settings(args, base=None):
    """Defaults (data set or file), then ``base`` (a model file's settings), then the command line."""
    defaults = dict(DATASETS[args.dataset]) if args.dataset else dict(FILE_DEFAULTS)
    settings = {**defaults, **FORECAST_DEFAULTS, "penalizer": 0.0}
    settings.update(base or {})
    for key in SETTINGS:
        value = getattr(args, key, None)
        if value is not None:
            settings[key] = value
    if settings.get("amount_col") == "":
        settings["amount_col"] = None
    if settings["customer_col"] in OUTPUT_COLUMNS:
        raise UsageError(
            f"--customer-col {settings['customer_col']!r} has the name of an output column; rename the column"
        )
    if settings["observation_end"] is not None:
        settings["observation_end"] = _check_date(settings["observation_end"], "--observation-end", settings)
    return settings


def _check_date(value, option, settings):
    text = str(value)
    stamp = None
    if settings.get("date_format"):
        stamp = pd.to_datetime(text, format=settings["date_format"], errors="coerce")
    if stamp is None or stamp is pd.NaT:
        try:
            stamp = pd.Timestamp(text)
        except (TypeError, ValueError, OverflowError):
            stamp = pd.NaT
    if stamp is pd.NaT:
        raise UsageError(f"{option}: {text!r} is not a date")
    return text


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

    def read(self, settings, progress):
        needed = [settings["customer_col"], settings["date_col"]]
        if settings["amount_col"]:
            needed.append(settings["amount_col"])
        with progress.step(f"read {self.name}") as step:
            if self.dataset:
                from .datasets import load_cdnow

                data = load_cdnow()
                _io.check_columns(self.name, list(data.columns), needed)
                data = data[list(dict.fromkeys(needed))]
            else:
                data = _io.read_transactions(
                    self.path, needed, id_col=settings["customer_col"], text_cols=[settings["date_col"]],
                    sep=settings["sep"], step=step,
                )
            step.detail = f"{len(data):,} rows"
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


def summarise(source, transactions, settings, progress):
    """The RFM table of ``transactions`` (rfm_summary with the settings)."""
    from .data import rfm_summary

    with progress.step("summarise") as step:
        with source.user_errors():
            rfm = rfm_summary(
                transactions, settings["customer_col"], settings["date_col"], settings["amount_col"],
                time_unit=settings["time_unit"], observation_end=settings["observation_end"],
                datetime_format=settings["date_format"],
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
    return rfm


def _sort_by_id(table):
    try:
        return table.sort_index(kind="stable")
    except TypeError:
        order = np.argsort(table.index.astype(str).to_numpy(), kind="stable")
        return table.iloc[order]


# ----- models -------------------------------------------------------------------------------
def fit_models(rfm, settings, progress):
    """Fit BG/NBD and, with an amount column, Gamma-Gamma."""
    from .bgnbd import BetaGeoModel
    from .gamma_gamma import GammaGammaModel

    penalizer = float(settings.get("penalizer") or 0.0)
    with progress.step("fit") as step:
        transaction_model = BetaGeoModel(penalizer=penalizer).fit(rfm)
        spend_model = None
        if settings["amount_col"]:
            spend_model = GammaGammaModel(penalizer=penalizer).fit(rfm)
        step.detail = ", ".join(type(m).__name__ for m in (transaction_model, spend_model) if m is not None)
    return transaction_model, spend_model


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
    table["probability_alive"] = transaction_model.probability_alive(rfm)
    table["expected_purchases"] = transaction_model.expected_purchases(rfm, t=horizon * step)
    if spend_model is not None:
        table["expected_spend"] = spend_model.expected_spend(rfm)
        table["clv"] = customer_lifetime_value(
            transaction_model, spend_model, rfm, horizon=horizon, period=period,
            discount_rate=settings["discount_rate"], margin=settings["margin"],
        )
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
    from . import __version__

    stored = {key: settings.get(key) for key in SETTINGS}
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
            "n_rows": int(n_rows),
            "n_customers": int(len(rfm)),
            "observation_end": rfm.attrs.get("observation_end"),
            "time_unit": rfm.attrs.get("time_unit"),
        },
    }


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
    except ValueError as error:
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
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise UsageError(_io._describe_os_error(path, error)) from None
    except UnicodeDecodeError:
        raise _bundle_error(path, "not a JSON text file") from None
    try:
        record = json.loads(text)
    except json.JSONDecodeError as error:
        raise _bundle_error(path, f"not valid JSON ({error.msg} at line {error.lineno})") from None
    if isinstance(record, dict) and record.get("format") == _base.FORMAT_NAME:
        raise _bundle_error(
            path, "it holds a single model (Model.save); predict needs the file written by "
            "'clvmodels fit --model-out', which also records the settings",
        )
    if not isinstance(record, dict) or record.get("format") != BUNDLE_FORMAT:
        raise _bundle_error(path, f"no '\"format\": \"{BUNDLE_FORMAT}\"' entry")
    version = record.get("format_version")
    if not isinstance(version, int) or version < 1:
        raise _bundle_error(path, "'format_version' is missing")
    if version > BUNDLE_VERSION:
        raise _bundle_error(path, f"written by a newer clvmodels (format version {version}); upgrade clvmodels")
    transaction_model = _model_part(record, "transaction_model", path, ("expected_purchases", "probability_alive"))
    spend_model = None
    if record.get("spend_model") is not None:
        spend_model = _model_part(record, "spend_model", path, ("expected_spend",))
    settings = _check_bundle_settings(record.get("settings"), path, transaction_model, spend_model)
    return transaction_model, spend_model, settings


def _check_bundle_settings(settings, path, transaction_model, spend_model):
    if not isinstance(settings, dict):
        raise _bundle_error(path, "'settings' is missing")
    missing = [key for key in SETTINGS if key not in settings]
    if missing:
        raise _bundle_error(path, f"'settings' lacks {', '.join(repr(k) for k in missing)}")
    checked = {}
    for key in ("customer_col", "date_col"):
        if not isinstance(settings[key], str) or not settings[key]:
            raise _bundle_error(path, f"settings {key!r} must be a column name")
    for key in ("amount_col", "date_format", "sep", "observation_end"):
        if settings[key] is not None and not isinstance(settings[key], str):
            raise _bundle_error(path, f"settings {key!r} must be text or null")
    try:
        checked["time_unit"] = check_time_unit(settings["time_unit"])
        checked["horizon"] = _positive_int(str(settings["horizon"]))
        checked["period"] = parse_period(settings["period"])
        for key in ("discount_rate", "margin", "penalizer"):
            checked[key] = _non_negative(str(settings[key]))
    except (ValueError, argparse.ArgumentTypeError) as error:
        raise _bundle_error(path, f"settings: {error}") from None
    model_unit = transaction_model.time_unit_
    if model_unit is None or check_time_unit(model_unit) != checked["time_unit"]:
        raise _bundle_error(
            path, f"settings time_unit {checked['time_unit']!r} differs from the model's {model_unit!r}"
        )
    if (settings["amount_col"] is None) != (spend_model is None):
        raise _bundle_error(path, "settings 'amount_col' and 'spend_model' must be both given or both null")
    return {**{key: settings[key] for key in SETTINGS}, **checked}


# ----- printing -----------------------------------------------------------------------------
def format_model(model):
    """A model's summary (header: model, customers, log-likelihood, AIC, BIC, optimiser,
    convergence or boundary status, time unit; then the parameter table), the same one
    ``model.summary()`` prints and the report shows."""
    return model.summary().as_text()


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
        order = np.argsort(-forecast["clv"].to_numpy(), kind="stable")[:top]
        best = forecast.iloc[order].copy()
        best.index.name = customer_col
        lines.append(f"Top {len(best)} customers by CLV:")
        lines.append(best.to_string(float_format=lambda v: f"{v:,.2f}"))
    return "\n".join(lines)


def _print(text):
    try:
        print(text, flush=True)
    except BrokenPipeError:
        pass


# ----- the subcommands ----------------------------------------------------------------------
def _outputs(args):
    with _user_file_errors():
        if getattr(args, "out", None) and args.command != "report":
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
    rfm, n_rows = _read_rfm(source, settings, progress)
    transaction_model, spend_model = fit_models(rfm, settings, progress)
    forecast = _score_and_write(rfm, transaction_model, spend_model, settings, args.out, progress)
    if args.model_out:
        _write_model_file(bundle_record(transaction_model, spend_model, settings, rfm, source, n_rows), args.model_out, progress)
    _print_results(transaction_model, spend_model, forecast, settings)
    return f"{len(forecast):,} customers -> {args.out}"


def _read_rfm(source, settings, progress):
    """Read the transactions and summarise them; returns the RFM table and the number
    of transaction rows. The log itself is freed on return, before any fitting."""
    with source.user_errors():
        transactions = source.read(settings, progress)
    return summarise(source, transactions, settings, progress), len(transactions)


def _score_and_write(rfm, transaction_model, spend_model, settings, out, progress):
    with progress.step("score") as step:
        forecast = score(rfm, transaction_model, spend_model, settings)
        step.detail = f"{len(forecast):,} customers"
    _write_forecast(forecast, settings, out, progress)
    return forecast


def _write_model_file(record, path, progress):
    with progress.step(f"write {path}"), _user_file_errors():
        write_bundle(record, path)


def run_fit(args, progress):
    settings = resolve_settings(args)
    source = Source(args)
    _outputs(args)
    rfm, n_rows = _read_rfm(source, settings, progress)
    transaction_model, spend_model = fit_models(rfm, settings, progress)
    _write_model_file(bundle_record(transaction_model, spend_model, settings, rfm, source, n_rows), args.model_out, progress)
    _print("\n\n".join(format_model(m) for m in (transaction_model, spend_model) if m is not None))
    return f"{len(rfm):,} customers -> {args.model_out}"


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
    _outputs(args)
    rfm, _ = _read_rfm(source, settings, progress)
    forecast = _score_and_write(rfm, transaction_model, spend_model, settings, args.out, progress)
    _print_results(transaction_model, spend_model, forecast, settings)
    return f"{len(forecast):,} customers -> {args.out}"


def run_report(args, progress):
    settings = resolve_settings(args)
    source = Source(args)
    dataset = DATASETS.get(args.dataset, {})
    calibration_end = args.calibration_end or dataset.get("calibration_end")
    if calibration_end is None:
        raise UsageError("--calibration-end is required for a transaction file")
    calibration_end = _check_date(calibration_end, "--calibration-end", settings)
    observation_end = settings["observation_end"] or dataset.get("report_observation_end")
    _outputs(args)
    with source.user_errors():
        transactions = source.read(settings, progress)
    from .report import validation_report

    with progress.step(f"report {args.out}"), _io.atomic_path(args.out) as temporary:
        with source.user_errors():
            _check_report_input(source, transactions, settings, calibration_end, observation_end)
        validation_report(
            transactions, temporary, customer_col=settings["customer_col"], date_col=settings["date_col"],
            amount_col=settings["amount_col"], calibration_end=calibration_end, observation_end=observation_end,
            time_unit=settings["time_unit"], horizon=settings["horizon"], period=settings["period"],
            discount_rate=settings["discount_rate"], margin=settings["margin"],
            datetime_format=settings["date_format"], title=args.title,
        )
    return f"report -> {args.out}"


def _check_report_input(source, transactions, settings, calibration_end, observation_end):
    """Input problems of the report (exit 2) before the report's own work starts."""
    from .data import calibration_holdout_split

    calibration_holdout_split(
        transactions, settings["customer_col"], settings["date_col"], settings["amount_col"],
        calibration_end=calibration_end, observation_end=observation_end, time_unit=settings["time_unit"],
        datetime_format=settings["date_format"],
    )


def _print_results(transaction_model, spend_model, forecast, settings):
    models = "\n\n".join(format_model(m) for m in (transaction_model, spend_model) if m is not None)
    summary = format_forecast(forecast, settings, settings["customer_col"], transaction_model.time_unit_)
    _print(f"{models}\n\n{summary}")


COMMANDS = {"forecast": run_forecast, "fit": run_fit, "predict": run_predict, "report": run_report}


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
        hint = "" if debug else " (run with --debug for the traceback)"
        text = one_line(error) or "no message"
        if type(error).__name__ == "ConvergenceError":
            text += " On the command line: --penalizer 0.001."
        sys.stderr.write(f"{command}: internal error: {type(error).__name__}: {text}{hint}\n")
        return 1
    finally:
        if in_main_thread and previous_handler is not None:
            signal.signal(signal.SIGTERM, previous_handler)


if __name__ == "__main__":
    sys.exit(main())
