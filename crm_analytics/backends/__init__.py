"""Layer 1: the engines that run SQL (DuckDB out of core, Spark distributed).

They know no analysis: each analysis writes its reduction as SQL beside its pandas path
and hands it to a runner from :func:`runner_for`. A runner takes the orders as a
**DuckDB relation, a Parquet path / glob / list of paths** (run embedded in DuckDB,
out-of-core with ``memory_limit``) or a **PySpark DataFrame** (run distributed).
"""

from __future__ import annotations

import os

import pandas as pd

from crm_analytics._core.errors import CrmDataError
from crm_analytics.backends.sql import Runner

__all__ = ["ENGINE_OPTIONS", "Runner", "is_engine_source", "runner_for"]

#: Keyword arguments every engine-capable analysis passes on to :func:`runner_for`.
ENGINE_OPTIONS = ("connection", "memory_limit", "temp_directory", "threads")


def _is_spark(obj: object) -> bool:
    return type(obj).__module__.startswith("pyspark.sql")


def _is_duckdb(obj: object) -> bool:
    if type(obj).__module__.startswith("duckdb") or isinstance(obj, str | os.PathLike):
        return True
    return isinstance(obj, list | tuple) and len(obj) > 0 and all(
        isinstance(p, str | os.PathLike) for p in obj)


def is_engine_source(obj: object) -> bool:
    """True when ``obj`` is orders for an engine (not a pandas DataFrame).

    A DuckDB relation, a Parquet path / glob / list of paths, or a PySpark DataFrame.

    >>> is_engine_source("orders/*.parquet"), is_engine_source(pd.DataFrame())
    (True, False)
    """
    return not isinstance(obj, pd.DataFrame) and (_is_spark(obj) or _is_duckdb(obj))


def runner_for(orders: object, **options: object) -> Runner:
    """The runner for an engine source: Spark for a Spark DataFrame, else DuckDB.

    ``options`` are DuckDB settings (``connection``, ``memory_limit``,
    ``temp_directory``, ``threads``); ``None`` values are ignored.
    """
    unknown = sorted(set(options) - set(ENGINE_OPTIONS))
    if unknown:
        raise CrmDataError(f"Unknown engine option(s) {unknown}; use {list(ENGINE_OPTIONS)}.")
    if _is_spark(orders):
        from crm_analytics.backends import spark

        return spark.SparkRunner(orders)
    if isinstance(orders, pd.DataFrame) or _is_duckdb(orders):
        from crm_analytics.backends import duckdb as engine

        return engine.DuckDBRunner(orders, **{k: v for k, v in options.items() if v is not None})
    raise CrmDataError(
        "orders must be a pandas DataFrame, a DuckDB relation, a Parquet path / glob / list "
        f"of paths, or a PySpark DataFrame. Got {type(orders).__name__}."
    )
