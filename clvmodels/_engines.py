"""Which engine summarises a transaction log: pandas, DuckDB (out of core) or Dask.

:func:`clvmodels.rfm_summary` and :func:`clvmodels.calibration_holdout_split` ask
:func:`engine_for` first; for pandas they go on as before, otherwise the engine's
module does the work with the pandas function as its definition (Dask runs it per
partition). Neither engine is imported before it is used.
"""

from os import PathLike

from . import _dask, _duckdb

ENGINES = ("pandas", "duckdb", "dask")


def engine_for(transactions, engine):
    """The engine for ``transactions``: "pandas", "duckdb" or "dask".

    A Dask DataFrame goes to Dask; a path, directory or glob of Parquet files to the
    engine named (DuckDB or Dask); a pandas DataFrame to pandas.
    """
    is_dask = _dask.is_dask_collection(transactions)
    if engine is None:
        engine = "dask" if is_dask else "pandas"
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(map(repr, ENGINES))}, got {engine!r}")
    is_path = isinstance(transactions, (str, PathLike))
    if is_dask and engine != "dask":
        raise ValueError(f"a Dask DataFrame is summarised by engine='dask', not {engine!r}")
    if engine == "duckdb" and not is_path:
        raise TypeError(
            "engine='duckdb' reads a Parquet dataset: give its path (a file, a directory or a glob "
            f"such as 'lake/tx/*.parquet'), not a {type(transactions).__name__}"
        )
    if engine == "dask" and not (is_dask or is_path):
        raise TypeError(
            f"engine='dask' takes a dask.dataframe.DataFrame or a Parquet path, not a {type(transactions).__name__}"
        )
    if engine == "pandas" and is_path:
        raise TypeError(
            "transactions must be a pandas DataFrame; to summarise a Parquet dataset without loading it, "
            "pass engine='duckdb' (one machine, out of core) or engine='dask' (a cluster)"
        )
    return engine


def _dask_frame(transactions, columns):
    if _dask.is_dask_collection(transactions):
        return transactions
    _duckdb.parquet_files(transactions)  # a clear error when there are none
    return _dask.read_parquet(transactions, [c for c in columns if c is not None])


def rfm_summary(local, transactions, engine, customer_col, date_col, amount_col, **options):
    """``local`` (the pandas rfm_summary) by ``engine``, with the same arguments."""
    if engine == "duckdb":
        return _duckdb.rfm_summary(transactions, customer_col, date_col, amount_col, **options)
    data = _dask_frame(transactions, [customer_col, date_col, amount_col])
    return _dask.rfm_summary(local, data, customer_col, date_col, amount_col, **options)


def calibration_holdout_split(local, transactions, engine, customer_col, date_col, amount_col, **options):
    """``local`` (the pandas calibration_holdout_split) by ``engine``, with the same arguments."""
    if engine == "duckdb":
        return _duckdb.calibration_holdout_split(transactions, customer_col, date_col, amount_col, **options)
    data = _dask_frame(transactions, [customer_col, date_col, amount_col])
    return _dask.calibration_holdout_split(local, data, customer_col, date_col, amount_col, **options)
