"""Layer 1: the engines that run SQL (DuckDB out of core, Spark distributed).

They know no analysis: each analysis writes its reduction as SQL beside its pandas path
and hands it to a runner from :func:`runner_for`. A runner takes the orders as a
**DuckDB relation, a Parquet path / glob / list of paths** (run embedded in DuckDB,
out-of-core with ``memory_limit``) or a **PySpark DataFrame** (run distributed).
"""

from __future__ import annotations

import os
import sys

import pandas as pd

from crm_analytics._core.errors import CrmDataError
from crm_analytics.backends.spark import SparkRunner
from crm_analytics.backends.sql import Runner

__all__ = ["ENGINE_OPTIONS", "Runner", "engine_source", "is_engine_source", "runner_for"]

#: Keyword arguments every engine-capable analysis passes on to :func:`runner_for`.
ENGINE_OPTIONS = ("connection", "memory_limit", "temp_directory", "threads")


def _is_spark(obj: object) -> bool:
    return type(obj).__module__.startswith("pyspark.sql")


def _is_duckdb(obj: object) -> bool:
    if type(obj).__module__.startswith("duckdb") or isinstance(obj, str | os.PathLike):
        return True
    return isinstance(obj, list | tuple) and len(obj) > 0 and all(
        isinstance(p, str | os.PathLike) for p in obj)


def _is_runner(obj: object) -> bool:
    """A runner made by :func:`engine_source` (or :func:`runner_for`)."""
    if isinstance(obj, SparkRunner):
        return True
    # a DuckDBRunner exists only once its module is loaded: no need to import duckdb here
    duckdb_module = sys.modules.get("crm_analytics.backends.duckdb")
    return duckdb_module is not None and isinstance(obj, duckdb_module.DuckDBRunner)


def is_engine_source(obj: object) -> bool:
    """True when ``obj`` is orders for an engine (not a pandas DataFrame).

    A DuckDB relation, a Parquet path / glob / list of paths, a PySpark DataFrame, or a
    runner made by :func:`engine_source`.

    >>> is_engine_source("orders/*.parquet"), is_engine_source(pd.DataFrame())
    (True, False)
    """
    if isinstance(obj, pd.DataFrame):
        return False
    return _is_runner(obj) or _is_spark(obj) or _is_duckdb(obj)


def runner_for(orders: object, **options: object) -> Runner:
    """The runner for an engine source: Spark for a Spark DataFrame, else DuckDB.

    ``options`` are DuckDB settings (``connection``, ``memory_limit``,
    ``temp_directory``, ``threads``); ``None`` values are ignored, an invalid
    ``memory_limit`` is refused at once (whatever the source), and a Spark DataFrame
    takes none. A runner (from
    :func:`engine_source`) is returned unchanged; its settings were fixed when it was made.
    """
    unknown = sorted(set(options) - set(ENGINE_OPTIONS))
    if unknown:
        raise CrmDataError(f"Unknown engine option(s) {unknown}; use {list(ENGINE_OPTIONS)}.")
    if _is_runner(orders):
        given = sorted(k for k, v in options.items() if v is not None)
        if given:
            raise CrmDataError(
                f"Engine option(s) {given} cannot change a runner made by engine_source(); "
                "pass them to engine_source(orders, ...) instead."
            )
        return orders
    if _is_spark(orders):
        from crm_analytics.backends import spark

        given = sorted(k for k, v in options.items() if v is not None)
        if given:
            raise CrmDataError(
                f"Engine option(s) {given} are DuckDB settings; a Spark DataFrame runs with "
                "its Spark session's settings (spark.driver.memory ...). Leave them out."
            )
        return spark.SparkRunner(orders)
    if isinstance(orders, pd.DataFrame) or _is_duckdb(orders):
        from crm_analytics.backends import duckdb as engine

        return engine.DuckDBRunner(orders, **{k: v for k, v in options.items() if v is not None})
    raise CrmDataError(
        "orders must be a pandas DataFrame, a DuckDB relation, a Parquet path / glob / list "
        f"of paths, or a PySpark DataFrame. Got {type(orders).__name__}."
    )


def engine_source(
    orders: object,
    *,
    connection: object = None,
    memory_limit: str | None = None,
    temp_directory: str | os.PathLike | None = None,
    threads: int | None = None,
) -> Runner:
    """Orders on an engine, with its settings, to pass to every analysis instead of orders.

    A pipeline that runs several analyses on the same Parquet files (or DuckDB relation,
    or Spark DataFrame) makes the source once: the engine settings are given once, and
    the checks of the orders (duplicate order ids, missing values ...) run once for all
    the analyses that receive the same object.

    Parameters
    ----------
    orders : str, path-like, list of them, DuckDB relation or PySpark DataFrame
        A Parquet path, glob or list of paths; a DuckDB relation; a table or view name
        together with ``connection``; or a PySpark DataFrame (run on Spark).
    connection : duckdb.DuckDBPyConnection, optional
        The DuckDB connection to run in (its own settings apply).
    memory_limit : str, optional
        DuckDB memory limit such as ``"2GB"``: larger work spills to ``temp_directory``.
    temp_directory : str or path-like, optional
        Folder DuckDB spills to.
    threads : int, optional
        DuckDB threads.

    Returns
    -------
    DuckDBRunner or SparkRunner
        Accepted wherever an analysis accepts an engine source;
        :func:`is_engine_source` is True for it.

    Raises
    ------
    CrmDataError
        An unsupported ``orders`` type, or a missing Parquet file.

    Examples
    --------
    >>> import duckdb
    >>> source = engine_source(duckdb.sql("SELECT 'a' AS customer_id"), threads=None)
    >>> is_engine_source(source), runner_for(source) is source
    (True, True)
    """
    if _is_runner(orders):
        return runner_for(orders, connection=connection, memory_limit=memory_limit,
                          temp_directory=temp_directory, threads=threads)
    if not is_engine_source(orders):
        raise CrmDataError(
            "engine_source takes a Parquet path / glob / list of paths, a DuckDB relation, a "
            "table name with connection=, or a PySpark DataFrame. Got "
            f"{type(orders).__name__}; pandas orders need no engine (use prepare_orders)."
        )
    return runner_for(orders, connection=connection, memory_limit=memory_limit,
                      temp_directory=temp_directory, threads=threads)
