"""The command line past one machine's memory: Parquet datasets, DuckDB and Dask.

``--engine pandas`` (the default) reads the whole log into memory: fine up to some
10^7 rows on a laptop. ``--engine duckdb`` summarises a Parquet dataset out of core
and fits and scores the (much smaller) per-customer table in memory. ``--engine
dask`` does every step in a Dask cluster: ``--scheduler ADDRESS`` names a running
one, otherwise a local cluster with one worker per core is started for the job.

Outputs given as a directory (``--out forecast/``, a path without a file extension,
and always with ``--engine dask``) are Parquet datasets, one file per partition,
written into a temporary directory beside the target and renamed into place only
when every part is complete; a failed job removes it and leaves the target as it was.
"""

import logging
import os
import shutil
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

from . import _dask, _io, partitioned
from .data import rfm_summary
from .segments import _default_new_customer_T

ENGINE_HELP = (
    "who does the work: pandas reads the whole log into memory (default; logs up to ~10^7 rows), "
    "duckdb summarises a Parquet dataset out of core on this machine (clvmodels[duckdb]), "
    "dask runs every step on a Dask cluster (clvmodels[dask]); see docs/scaling.md"
)


def add_engine_options(parser):
    group = parser.add_argument_group("engine")
    group.add_argument("--engine", choices=("pandas", "duckdb", "dask"), default="pandas", help=ENGINE_HELP)
    group.add_argument(
        "--scheduler", metavar="ADDRESS",
        help="with --engine dask: address of a running Dask scheduler, e.g. tcp://10.0.0.5:8786 "
        "(default: a local cluster, one worker per core)",
    )


def is_dataset(path):
    """Whether ``path`` names a Parquet dataset: a glob, or a directory holding Parquet files
    (other directories are left to the file reader, which reports them)."""
    if path is None:
        return False
    text = str(path)
    if any(ch in text for ch in "*?["):
        return True
    directory = Path(text)
    return directory.is_dir() and any(p.suffix.lower() in (".parquet", ".pq") for p in directory.rglob("*"))


def writes_dataset(args):
    """Whether ``--out`` is written as a Parquet dataset (a directory)."""
    out = getattr(args, "out", None)
    if out is None or args.command == "report":
        return False
    text = str(out)
    return args.engine == "dask" or text.endswith(("/", os.sep)) or Path(text).is_dir() or not Path(text).suffix


def check_options(args):
    """Usage problems of the engine options (a message), or None."""
    if args.command == "report" and args.engine != "pandas":
        return "report runs with --engine pandas only (its plots need the whole log)"
    if args.scheduler and args.engine != "dask":
        return "--scheduler is for --engine dask"
    if args.engine != "pandas" and getattr(args, "dataset", None):
        return f"--engine {args.engine} reads Parquet files, not --dataset"
    if args.engine != "pandas" and args.transactions and not _is_parquet_source(args.transactions):
        return f"--engine {args.engine} reads Parquet: give a .parquet file, a directory of them or a glob"
    return None


def _is_parquet_source(path):
    return is_dataset(path) or str(path).lower().endswith((".parquet", ".pq"))


def check_dataset_output(path):
    """Fail early if the dataset directory ``path`` cannot be written."""
    target = Path(str(path).rstrip("/" + os.sep) or ".")
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir():
        raise _io.DataFileError(f"{path}: cannot write: directory {str(parent)!r} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise _io.DataFileError(f"{path}: cannot write: no permission to write in directory {str(parent)!r}")
    if target.exists() and not target.is_dir():
        raise _io.DataFileError(f"{path}: cannot write a Parquet dataset: it is a file")
    if not _io._have_pyarrow():
        raise _io.DataFileError(f"{path}: writing Parquet needs pyarrow: {_io.PARQUET_HINT}")


def read_parquet_pandas(path, columns):
    """A Parquet dataset (directory or glob) read whole with pandas."""
    from ._duckdb import parquet_files

    files = parquet_files(path)
    frames = [pd.read_parquet(f, columns=list(dict.fromkeys(columns))) for f in files]
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


# ----------------------------------------------------------------------------- checks
class ForecastError(RuntimeError):
    """The scored table cannot be written: a prediction is NaN or infinite (exit status 1)."""


def non_finite_counts(frame):
    """Rows holding NaN or an infinity, per numeric column of ``frame`` (columns with none left out)."""
    counts = {}
    for column in frame.columns:
        if frame[column].dtype.kind in "fiu":
            bad = int(np.count_nonzero(~np.isfinite(frame[column].to_numpy(dtype=float))))
            if bad:
                counts[column] = bad
    return counts


def _add_counts(total, counts):
    for column, bad in counts.items():
        total[column] = total.get(column, 0) + bad
    return total


def raise_if_not_finite(counts, rows, columns=None):
    """One ForecastError naming each column with non-finite values and their rows, if any."""
    if not counts:
        return
    order = [c for c in (columns if columns is not None else counts) if c in counts]
    problems = "; ".join(f"column {column!r}: {counts[column]:,} of {rows:,} rows are NaN or infinite" for column in order)
    raise ForecastError(
        f"the forecast is not finite ({problems}); nothing written. The model's parameters "
        "give no finite prediction for these customers: refit (e.g. --penalizer 0.001) or check the model file"
    )


# ----------------------------------------------------------------------------- Dask
@contextmanager
def dask_client(args, progress):
    """A ``distributed.Client`` for ``--engine dask`` (nothing otherwise), closed at the end."""
    if args.engine != "dask":
        yield None
        return
    _dask.require_dask("--engine dask")
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ImportError(f"--engine dask needs distributed: {_dask.INSTALL_HINT}") from None
    if args.scheduler:
        with progress.step(f"connect to {args.scheduler}") as step:
            client = Client(args.scheduler, timeout="30s")
            step.detail = f"{len(client.scheduler_info().get('workers', {}))} workers"
        with client:
            yield client
        return
    with progress.step("start a local Dask cluster") as step:
        cluster = LocalCluster(processes=True, dashboard_address=":0", silence_logs=logging.CRITICAL)
        client = Client(cluster)
        step.detail = f"{len(cluster.workers)} workers"
    try:
        yield client
    finally:
        client.close()
        cluster.close()


def read_rfm(args, settings, progress):
    """The RFM table of ``args.transactions`` by ``--engine`` duckdb (pandas) or dask
    (a Dask DataFrame, persisted in the cluster)."""
    columns = (settings["customer_col"], settings["date_col"], settings["amount_col"])
    options = {"time_unit": settings["time_unit"], "observation_end": settings["observation_end"],
               "datetime_format": settings["date_format"]}
    with progress.step(f"summarise {args.transactions} with {args.engine}") as step:
        if args.engine == "duckdb":
            rfm = rfm_summary(args.transactions, *columns, engine="duckdb", **options)
            step.detail = f"{len(rfm):,} customers"
            return rfm
        data = _dask.read_parquet(args.transactions, [c for c in columns if c])
        rfm = rfm_summary(data, *columns, **options).persist()
        step.detail = f"{int(rfm.shape[0].compute()):,} customers in {rfm.npartitions} partitions"
    return rfm


def _forecast_settings(settings):
    return {key: settings[key] for key in ("horizon", "period", "discount_rate", "margin")}


def score_dask(rfm, transaction_model, spend_model, settings):
    """The forecast of a Dask RFM table, partition by partition (a Dask DataFrame)."""
    return partitioned.forecast(transaction_model, spend_model, rfm, **_forecast_settings(settings))


# Customers scored at once when a pandas RFM table is written as a dataset: bounds the
# memory of scoring (about 1 kB per customer at its peak) whatever the table's size.
SCORE_CHUNK_ROWS = 1_000_000


def write_forecast_in_chunks(rfm, transaction_model, spend_model, settings, path, progress):
    """Score a pandas RFM table ``SCORE_CHUNK_ROWS`` customers at a time, writing one Parquet
    file per chunk into a dataset at ``path`` (atomically); returns the number of rows."""
    records = [m.to_dict() if m is not None else None for m in (transaction_model, spend_model)]
    unit = rfm.attrs.get("time_unit") or transaction_model.time_unit_
    segment_options = {"new_customer_T": _default_new_customer_T(np.array([rfm["T"].max()]), unit)}
    width = max(5, len(str(len(rfm) // SCORE_CHUNK_ROWS)))
    rows, bad, columns = 0, {}, None
    with progress.step(f"score and write {path}") as step, atomic_directory(path) as temporary:
        for i, start in enumerate(range(0, len(rfm), SCORE_CHUNK_ROWS)):
            chunk = rfm.iloc[start:start + SCORE_CHUNK_ROWS]
            table = partitioned._forecast_partition(chunk, records, _forecast_settings(settings), segment_options,
                                                    dict(rfm.attrs))
            columns = list(table.columns)
            _add_counts(bad, non_finite_counts(table))
            if not bad:  # once a chunk is not finite, the rest are only scored to count their rows
                _write_part(table, settings["customer_col"], temporary / f"part.{i:0{width}d}.parquet")
            rows += len(table)
            step.update(rows / len(rfm))
        raise_if_not_finite(bad, rows, columns)
        step.detail = f"{rows:,} customers"
    return rows


# ----------------------------------------------------------------------------- writing
def _write_part(frame, customer_col, path):
    table = frame.copy()
    table.index.name = customer_col
    table.reset_index().to_parquet(path, index=False)
    return len(table)


@contextmanager
def atomic_directory(path):
    """Yield a temporary directory beside ``path``; when the body succeeds, it becomes ``path``.

    An existing dataset at ``path`` is moved aside first and removed after the
    rename, so readers see the old dataset or the new one; on failure (or an
    interruption) the temporary directory is removed and ``path`` is untouched.
    """
    target = Path(str(path).rstrip("/" + os.sep) or ".")
    parent = target.parent if str(target.parent) else Path(".")
    temporary = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=parent))
    try:
        yield temporary
        old = None
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=parent))
            os.replace(target, old / "dataset")
        os.replace(temporary, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise


def write_dataset(forecast, customer_col, path, progress):
    """Write a forecast (pandas or Dask) as a Parquet dataset at ``path``, atomically.

    Dask partitions are written by the workers, one file each; the step shows the
    fraction of parts done. Returns the number of rows written.
    """
    with progress.step(f"write {path}") as step, atomic_directory(path) as temporary:
        if not _dask.is_dask_collection(forecast):
            rows = _write_part(forecast, customer_col, temporary / "part.00000.parquet")
        else:
            rows = _write_dask_parts(forecast, customer_col, temporary, step)
        step.detail = f"{rows:,} rows"
    return rows


def _write_dask_parts(forecast, customer_col, directory, step):
    import dask
    from distributed import get_client

    width = max(5, len(str(forecast.npartitions)))
    writes = [
        dask.delayed(_write_finite_part, pure=False)(part, customer_col, str(directory / f"part.{i:0{width}d}.parquet"))
        for i, part in enumerate(forecast.to_delayed())
    ]
    client = get_client()
    futures = client.compute(writes)
    try:
        while not all(future.done() for future in futures):
            step.update(sum(future.done() for future in futures) / len(futures))
            time.sleep(0.2)
        written = client.gather(futures)
    finally:
        client.cancel(futures)
    rows, bad = 0, {}
    for part_rows, part_bad in written:
        rows += part_rows
        _add_counts(bad, part_bad)
    raise_if_not_finite(bad, rows, list(forecast.columns))
    return rows


def _write_finite_part(frame, customer_col, path):
    """Write a partition if every number in it is finite; return its rows and non-finite counts."""
    bad = non_finite_counts(frame)
    if not bad:
        _write_part(frame, customer_col, path)
    return len(frame), bad


__all__ = ["add_engine_options", "is_dataset", "writes_dataset", "read_rfm", "write_dataset", "dask_client"]
